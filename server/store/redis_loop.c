/* redis_loop.c - hiredis's async contexts driven by the libuv loop (see redis_loop.h). */
#include "store/redis_loop.h"

#include <hiredis/hiredis.h>
#include <stdlib.h>

typedef struct redis_events {
    redisAsyncContext *context; /* NULL once hiredis has let go of it */
    uv_poll_t poll;
    uv_prepare_t prepare;       /* flushes what timers queued, before the loop waits */
    uv_check_t check;           /* flushes what I/O callbacks queued in this iteration */
    int polled;                 /* the events the poll handle watches now */
    int reading;                /* hiredis wants reads */
    int write_pending;          /* hiredis has output waiting */
    int write_blocked;          /* the socket was full: wait until it is writable */
    int writing;                /* inside redisAsyncHandleWrite */
    int open_handles;           /* freed when the last one has closed */
} redis_events;

static int connected(const redis_events *e)
{
    return e->context && (e->context->c.flags & REDIS_CONNECTED);
}

static void poll_update(redis_events *e);

static void write_now(redis_events *e)
{
    e->writing = 1;
    redisAsyncHandleWrite(e->context);  /* may free the context: e stays until its handles close */
    e->writing = 0;
    if (e->context)
        poll_update(e);
}

static void on_poll(uv_poll_t *handle, int status, int events)
{
    redis_events *e = handle->data;
    if (!e->context)
        return;
    if (status < 0) {
        /* The socket failed (a reset, a refused connect): libuv has stopped the poll already.
         * Let hiredis meet the error, so the link goes down and is remade, rather than sit
         * unwatched (a subscriber sends nothing that would ever notice). */
        e->polled = 0;
        if (connected(e))
            redisAsyncHandleRead(e->context);
        else
            write_now(e);
        return;
    }
    if (events & UV_READABLE)
        redisAsyncHandleRead(e->context);
    if (e->context && (events & UV_WRITABLE)) {
        e->write_blocked = 0;
        write_now(e);
    }
}

/* A connecting socket tells us it is connected by becoming writable; a connected one is
 * written without asking, and polled for writing only after a short write. */
static void poll_update(redis_events *e)
{
    int want = (e->reading ? UV_READABLE : 0) |
               (e->write_pending && (e->write_blocked || !connected(e)) ? UV_WRITABLE : 0);
    if (want == e->polled)
        return;
    e->polled = want;
    if (want)
        uv_poll_start(&e->poll, want, on_poll);
    else
        uv_poll_stop(&e->poll);
}

static void flush(redis_events *e)
{
    if (e->context && e->write_pending && !e->write_blocked && !e->writing && connected(e))
        write_now(e);
}

static void on_prepare(uv_prepare_t *handle) { flush(handle->data); }
static void on_check(uv_check_t *handle) { flush(handle->data); }

static void add_read(void *data)
{
    redis_events *e = data;
    e->reading = 1;
    poll_update(e);
}

static void del_read(void *data)
{
    redis_events *e = data;
    e->reading = 0;
    poll_update(e);
}

static void add_write(void *data)
{
    redis_events *e = data;
    e->write_pending = 1;
    if (e->writing)
        e->write_blocked = 1;  /* hiredis could not write it all */
    poll_update(e);
}

static void del_write(void *data)
{
    redis_events *e = data;
    e->write_pending = e->write_blocked = 0;
    poll_update(e);
}

static void on_closed(uv_handle_t *handle)
{
    redis_events *e = handle->data;
    if (--e->open_handles == 0)
        free(e);
}

static void cleanup(void *data)
{
    redis_events *e = data;
    e->context = NULL;
    uv_close((uv_handle_t *)&e->poll, on_closed);
    uv_close((uv_handle_t *)&e->prepare, on_closed);
    uv_close((uv_handle_t *)&e->check, on_closed);
}

int bk_redis_loop_attach(redisAsyncContext *context, uv_loop_t *loop)
{
    if (context->ev.data)
        return REDIS_ERR;
    redis_events *e = calloc(1, sizeof *e);
    if (!e)
        return REDIS_ERR;
    if (uv_poll_init(loop, &e->poll, context->c.fd) != 0) {
        free(e);
        return REDIS_ERR;
    }
    uv_prepare_init(loop, &e->prepare);
    uv_check_init(loop, &e->check);
    e->poll.data = e->prepare.data = e->check.data = e;
    e->open_handles = 3;
    /* They run every iteration but must not keep the loop alive at shutdown. */
    uv_prepare_start(&e->prepare, on_prepare);
    uv_check_start(&e->check, on_check);
    uv_unref((uv_handle_t *)&e->prepare);
    uv_unref((uv_handle_t *)&e->check);
    e->context = context;
    context->ev.data = e;
    context->ev.addRead = add_read;
    context->ev.delRead = del_read;
    context->ev.addWrite = add_write;
    context->ev.delWrite = del_write;
    context->ev.cleanup = cleanup;
    return REDIS_OK;
}
