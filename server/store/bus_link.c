/* bus_link.c - a connection for sharded pub/sub: hiredis's plain context, non-blocking, on a
 * uv_poll (see bus_link.h). */
#include "store/bus_link.h"

#include "base/log.h"
#include "store/backoff.h"
#include "store/redis_reply.h"
#include "store/redis_shapes.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

typedef enum { LINK_DOWN, LINK_CONNECTING, LINK_UP } link_state;

/* What a command sent waits for, and since when (the deadline). */
/* WAIT_PONG: the handshake's PING, after which the link is up; WAIT_ALIVE: a PING asked by the
 * owner (bk_bus_link_ping), which only has to be answered in time. */
typedef enum { WAIT_ANSWER, WAIT_PONG, WAIT_ALIVE, WAIT_SUBSCRIBED, WAIT_UNSUBSCRIBED } wait_kind;

typedef struct waiting {
    uint64_t sent;
    wait_kind kind;
    /* WAIT_SUBSCRIBED, WAIT_UNSUBSCRIBED: the channel asked (ours), to tell its confirmation
     * from a `sunsubscribe` Redis sends unasked, and to name it when it is refused. */
    char *channel;
    size_t channel_len;
} waiting;

/* One connection. Its own allocation because its poll handle closes after the link has let
 * go of it (uv_close is not at once), and the context, whose socket the poll watches, is freed
 * only then. */
typedef struct connection {
    uv_poll_t poll;
    redisContext *context;
    int polled;          /* the events the poll watches now */
    int connected;       /* the socket's connect has finished */
    int write_blocked;   /* the socket was full: wait until it is writable */
} connection;

struct bk_bus_link {
    uv_loop_t *loop;
    char name[BK_BUS_LINK_NAME_MAX];
    bk_redis_address address;
    bk_bus_link_handlers handlers;
    void *data;
    connection *connection;       /* NULL while down */
    link_state state;
    uint64_t backoff_ms;
    uv_timer_t reconnect_timer;
    uv_prepare_t flush;           /* writes what the iteration asked, before the loop waits */
    waiting *waits;               /* a ring of the replies awaited, oldest first */
    size_t waits_head, waits_count, waits_size;
    int handshake_failed;         /* said once per connection, not once per pipelined step */
    int closing;
    int handles_open;
    void (*closed_fn)(void *data);
    void *closed_data;
};

/* ---- reading a reply ------------------------------------------------------------------ */

bk_bus_reply_kind bk_bus_reply_read(const redisReply *reply, bk_bus_reply *out)
{
    memset(out, 0, sizeof *out);
    out->kind = BK_BUS_REPLY_ODD;
    if (!reply)
        return out->kind;
    if (reply->type == REDIS_REPLY_ERROR) {
        out->text = bk_redis_reply_error(reply);
        return out->kind = BK_BUS_REPLY_ERROR;
    }
    if (reply->type == REDIS_REPLY_STATUS)
        return out->kind = BK_BUS_REPLY_ANSWER;
    const char *kind, *channel, *payload;
    const redisReply *rest;
    size_t at, channel_len, payload_len;
    long long count;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_BUS_REPLY, &kind, &rest, &at) != 0)
        return out->kind;
    if (strcmp(kind, "smessage") == 0) {
        if (bk_redis_reply_unpack(reply, BK_SHAPE_BUS_SMESSAGE, &channel, &channel_len, &payload, &payload_len) != 0)
            return out->kind;
        out->payload = payload;
        out->payload_len = payload_len;
        out->kind = BK_BUS_REPLY_MESSAGE;
    } else if (strcmp(kind, "ssubscribe") == 0 || strcmp(kind, "sunsubscribe") == 0) {
        if (bk_redis_reply_unpack(reply, BK_SHAPE_BUS_CONFIRMATION, &channel, &channel_len, &count) != 0)
            return out->kind;
        out->kind = kind[1] == 's' ? BK_BUS_REPLY_SUBSCRIBED : BK_BUS_REPLY_UNSUBSCRIBED;
    } else {
        if (strcmp(kind, "pong") == 0)
            out->kind = BK_BUS_REPLY_PONG;
        return out->kind;
    }
    out->channel = channel;
    out->channel_len = channel_len;
    return out->kind;
}

/* ---- the replies awaited ---------------------------------------------------------------- */

static int waits_push(bk_bus_link *l, wait_kind kind, const char *channel, size_t channel_len)
{
    char *copy = NULL;
    if (channel && !(copy = malloc(channel_len + 1)))
        return -1;
    if (copy) {
        memcpy(copy, channel, channel_len);
        copy[channel_len] = '\0';
    }
    if (l->waits_count == l->waits_size) {
        size_t size = l->waits_size ? l->waits_size * 2 : 16;
        waiting *grown = malloc(size * sizeof *grown);
        if (!grown) {
            free(copy);
            return -1;
        }
        for (size_t i = 0; i < l->waits_count; i++)
            grown[i] = l->waits[(l->waits_head + i) % l->waits_size];
        free(l->waits);
        l->waits = grown;
        l->waits_head = 0;
        l->waits_size = size;
    }
    waiting *w = &l->waits[(l->waits_head + l->waits_count) % l->waits_size];
    w->sent = uv_now(l->loop);
    w->kind = kind;
    w->channel = copy;
    w->channel_len = channel_len;
    l->waits_count++;
    return 0;
}

/* The oldest reply awaited, taken off the ring (its channel is the caller's to free). */
static int waits_pop(bk_bus_link *l, waiting *out)
{
    if (l->waits_count == 0)
        return -1;
    *out = l->waits[l->waits_head];
    l->waits_head = (l->waits_head + 1) % l->waits_size;
    l->waits_count--;
    return 0;
}

static void waits_clear(bk_bus_link *l)
{
    waiting w;
    while (waits_pop(l, &w) == 0)
        free(w.channel);
}

/* A `sunsubscribe` that answers no SUNSUBSCRIBE of ours: the oldest reply awaited is not the
 * confirmation of that very channel. */
static int unasked(const bk_bus_link *l, const bk_bus_reply *r)
{
    if (l->waits_count == 0)
        return 1;
    const waiting *w = &l->waits[l->waits_head];
    return w->kind != WAIT_UNSUBSCRIBED || w->channel_len != r->channel_len ||
           memcmp(w->channel, r->channel, r->channel_len) != 0;
}

/* ---- the connection ------------------------------------------------------------------- */

static void link_connect(bk_bus_link *l);
static void poll_update(bk_bus_link *l);
static void on_flush(uv_prepare_t *handle);

static void on_connection_closed(uv_handle_t *handle)
{
    connection *c = (connection *)(void *)((char *)handle - offsetof(connection, poll));
    redisFree(c->context);  /* closes the socket, now that nothing polls it */
    free(c);
}

static void link_free_when_done(bk_bus_link *l)
{
    if (l->handles_open > 0)
        return;
    void (*closed_fn)(void *) = l->closed_fn;
    void *closed_data = l->closed_data;
    waits_clear(l);
    free(l->waits);
    free(l);
    if (closed_fn)
        closed_fn(closed_data);
}

static void on_handle_closed(uv_handle_t *handle)
{
    bk_bus_link *l = handle->data;
    l->handles_open--;
    link_free_when_done(l);
}

/* Lets go of the connection (freed once its poll has closed) and forgets what it awaited. */
static void connection_release(bk_bus_link *l)
{
    connection *c = l->connection;
    if (!c)
        return;
    l->connection = NULL;
    waits_clear(l);
    uv_prepare_stop(&l->flush);
    uv_close((uv_handle_t *)&c->poll, on_connection_closed);
}

static void on_reconnect_timer(uv_timer_t *timer)
{
    bk_bus_link *l = timer->data;
    if (!l->closing)
        link_connect(l);
}

static void schedule_reconnect(bk_bus_link *l)
{
    if (l->closing)
        return;
    uint64_t delay = bk_store_reconnect_delay(l->backoff_ms);
    l->backoff_ms = bk_store_backoff_next(l->backoff_ms);
    uv_timer_start(&l->reconnect_timer, on_reconnect_timer, delay, 0);
}

/* The connection failed, erred or was dropped: say so and make another. */
static void link_down(bk_bus_link *l, const char *why)
{
    if (!l->connection)
        return;
    int was_up = l->state == LINK_UP;
    char reason[128];
    snprintf(reason, sizeof reason, "%s", why);  /* why may live in the context released now */
    connection_release(l);
    l->state = LINK_DOWN;
    if (was_up)
        bk_warn("redis %s link down: %s", l->name, reason);
    else
        bk_debug("redis %s link: %s", l->name, reason);
    if (l->handlers.down)
        l->handlers.down(reason, l->data);
    schedule_reconnect(l);
}

static void handshake_fail(bk_bus_link *l, const bk_bus_reply *reply, const char *step)
{
    if (!l->handshake_failed)
        bk_warn("redis %s link: %s failed: %s", l->name, step, reply->text ? reply->text : "an odd reply");
    l->handshake_failed = 1;
    link_down(l, "handshake failed");
}

/* Appends a command to the connection's output, written by the flush. A subscription's
 * command names its channel in argv[1]. */
static int link_send(bk_bus_link *l, wait_kind kind, int argc, const char **argv, const size_t *lengths)
{
    connection *c = l->connection;
    if (!c || redisAppendCommandArgv(c->context, argc, argv, lengths) != REDIS_OK)
        return -1;
    int subscription = kind == WAIT_SUBSCRIBED || kind == WAIT_UNSUBSCRIBED;
    if (waits_push(l, kind, subscription ? argv[1] : NULL, subscription ? lengths[1] : 0) != 0) {
        link_down(l, "out of memory");
        return -1;
    }
    if (c->connected && !c->write_blocked)
        uv_prepare_start(&l->flush, on_flush);
    return 0;
}

static void write_now(bk_bus_link *l)
{
    connection *c = l->connection;
    int done = 0;
    if (redisBufferWrite(c->context, &done) != REDIS_OK) {
        link_down(l, c->context->errstr);
        return;
    }
    c->write_blocked = !done;
    poll_update(l);
}

static void on_flush(uv_prepare_t *handle)
{
    bk_bus_link *l = handle->data;
    uv_prepare_stop(handle);
    connection *c = l->connection;
    if (c && c->connected && !c->write_blocked && sdslen(c->context->obuf) > 0)
        write_now(l);
}

/* The reply r to the command awaited. */
static void answer(bk_bus_link *l, const bk_bus_reply *r, const waiting *awaited)
{
    int subscribing = awaited->kind == WAIT_SUBSCRIBED;
    switch (awaited->kind) {
    case WAIT_ANSWER:
        if (r->kind != BK_BUS_REPLY_ANSWER)
            handshake_fail(l, r, "AUTH/SELECT");
        return;
    case WAIT_PONG:
        if (r->kind != BK_BUS_REPLY_ANSWER && r->kind != BK_BUS_REPLY_PONG) {
            handshake_fail(l, r, "PING");  /* LOADING, for one: try again later */
            return;
        }
        l->state = LINK_UP;
        l->backoff_ms = BK_BACKOFF_FIRST_MS;
        bk_info("redis %s link up", l->name);
        if (l->handlers.up)
            l->handlers.up(l->data);
        return;
    case WAIT_ALIVE:
        if (r->kind != BK_BUS_REPLY_ANSWER && r->kind != BK_BUS_REPLY_PONG)
            link_down(l, "a PING was not answered with PONG");
        return;
    case WAIT_SUBSCRIBED:
    case WAIT_UNSUBSCRIBED:
        if (r->kind == BK_BUS_REPLY_ERROR) {
            /* A cluster's redirection (MOVED), which an owner may follow, or an ACL without
             * the channel. Without an owner who takes it, nothing to do but try again later,
             * and the owner hears of it as a link down. */
            if (l->handlers.refused) {
                l->handlers.refused(awaited->channel, awaited->channel_len, subscribing, r->text, l->data);
                return;
            }
            bk_warn("redis %s link: %s failed: %s", l->name, subscribing ? "SSUBSCRIBE" : "SUNSUBSCRIBE", r->text);
            link_down(l, "a subscription was refused");
            return;
        }
        if (r->kind != (subscribing ? BK_BUS_REPLY_SUBSCRIBED : BK_BUS_REPLY_UNSUBSCRIBED) ||
            r->channel_len != awaited->channel_len || memcmp(r->channel, awaited->channel, r->channel_len) != 0) {
            link_down(l, "a reply out of order");
            return;
        }
        if (l->handlers.confirmed)
            l->handlers.confirmed(r->channel, r->channel_len, subscribing, l->data);
        return;
    }
}

/* One reply, in the order Redis sent it. */
static void dispatch(bk_bus_link *l, const redisReply *reply)
{
    bk_bus_reply r;
    bk_bus_reply_read(reply, &r);
    if (r.kind == BK_BUS_REPLY_MESSAGE) {
        if (l->handlers.message)
            l->handlers.message(r.channel, r.channel_len, r.payload, r.payload_len, l->data);
        return;
    }
    if (r.kind == BK_BUS_REPLY_UNSUBSCRIBED && unasked(l, &r)) {
        /* Redis ended a subscription by itself: in a cluster, the channel's slot has gone to
         * another node (a failover, a migration). Without an owner who follows that, the link
         * is remade, and with it every subscription. */
        if (l->handlers.dropped)
            l->handlers.dropped(r.channel, r.channel_len, l->data);
        else
            link_down(l, "a subscription ended unasked");
        return;
    }
    waiting awaited;
    if (waits_pop(l, &awaited) != 0 || r.kind == BK_BUS_REPLY_ODD) {
        bk_warn("redis %s link: a reply it did not expect; reconnecting", l->name);
        link_down(l, "an unexpected reply");
        return;
    }
    answer(l, &r, &awaited);
    free(awaited.channel);
}

static void read_now(bk_bus_link *l)
{
    connection *c = l->connection;
    if (redisBufferRead(c->context) != REDIS_OK) {
        link_down(l, c->context->errstr);
        return;
    }
    /* A handler may drop the link: the context then stays readable until the poll's close
     * callback, but what it still holds is for nobody. */
    void *reply;
    while (l->connection == c && redisGetReplyFromReader(c->context, &reply) == REDIS_OK && reply) {
        dispatch(l, reply);
        freeReplyObject(reply);
    }
    if (l->connection == c && c->context->err)
        link_down(l, c->context->errstr);
}

/* The socket's connect finished (it became writable): did it succeed? */
static int connect_finished(bk_bus_link *l)
{
    connection *c = l->connection;
    int error = 0;
    socklen_t size = sizeof error;
    if (getsockopt(c->context->fd, SOL_SOCKET, SO_ERROR, &error, &size) != 0)
        error = errno;
    if (error) {
        link_down(l, strerror(error));
        return -1;
    }
    c->connected = 1;
    return 0;
}

static void on_poll(uv_poll_t *handle, int status, int events)
{
    bk_bus_link *l = handle->data;
    connection *c = l->connection;
    if (!c || &c->poll != handle)
        return;
    if (status < 0) {
        /* libuv has stopped the poll; the socket failed (a reset, a refused connect). */
        c->polled = 0;
        link_down(l, uv_strerror(status));
        return;
    }
    if (!c->connected && (events & UV_WRITABLE) && connect_finished(l) != 0)
        return;
    if (events & UV_READABLE) {
        read_now(l);
        if (l->connection != c)
            return;
    }
    if (events & UV_WRITABLE) {
        c->write_blocked = 0;
        if (sdslen(c->context->obuf) > 0)
            write_now(l);
        else
            poll_update(l);
    }
}

/* Readable always; writable while connecting, and after a short write. */
static void poll_update(bk_bus_link *l)
{
    connection *c = l->connection;
    if (!c)
        return;
    int want = UV_READABLE | (!c->connected || c->write_blocked ? UV_WRITABLE : 0);
    if (want == c->polled)
        return;
    c->polled = want;
    if (uv_poll_start(&c->poll, want, on_poll) != 0)
        link_down(l, "the socket cannot be polled");
}

/* AUTH and SELECT, then the owner's subscriptions, then PING: all on the wire together. */
static void handshake(bk_bus_link *l)
{
    const bk_redis_address *a = &l->address;
    if (a->password[0]) {
        if (a->username[0]) {
            const char *argv[] = { "AUTH", a->username, a->password };
            link_send(l, WAIT_ANSWER, 3, argv, NULL);
        } else {
            const char *argv[] = { "AUTH", a->password };
            link_send(l, WAIT_ANSWER, 2, argv, NULL);
        }
    }
    if (a->db) {
        char db[12];
        snprintf(db, sizeof db, "%d", a->db);
        const char *argv[] = { "SELECT", db };
        link_send(l, WAIT_ANSWER, 2, argv, NULL);
    }
    if (l->connection && l->handlers.connected)
        l->handlers.connected(l->data);
    const char *argv[] = { "PING" };
    if (l->connection)
        link_send(l, WAIT_PONG, 1, argv, NULL);
}

static void link_connect(bk_bus_link *l)
{
    const bk_redis_address *a = &l->address;
    redisContext *context = a->is_unix ? redisConnectUnixNonBlock(a->path) : redisConnectNonBlock(a->host, a->port);
    connection *c = context && !context->err ? calloc(1, sizeof *c) : NULL;
    if (!c || uv_poll_init(l->loop, &c->poll, context->fd) != 0) {
        bk_debug("redis %s connect failed: %s", l->name, context && context->err ? context->errstr : "out of memory");
        free(c);
        redisFree(context);
        schedule_reconnect(l);
        return;
    }
    /* A half-open TCP link (the peer's host gone) is noticed by keepalive, and by the pings. */
    if (!a->is_unix)
        redisEnableKeepAlive(context);
    c->context = context;
    c->poll.data = l;
    l->connection = c;
    l->state = LINK_CONNECTING;
    l->handshake_failed = 0;
    poll_update(l);
    if (l->connection == c)
        handshake(l);
}

/* ---- the link ------------------------------------------------------------------------- */

bk_bus_link *bk_bus_link_new(uv_loop_t *loop, const char *name, const bk_redis_address *address,
                             const bk_bus_link_handlers *handlers, void *data)
{
    bk_bus_link *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->loop = loop;
    snprintf(l->name, sizeof l->name, "%s", name);
    l->address = *address;
    l->handlers = *handlers;
    l->data = data;
    l->backoff_ms = BK_BACKOFF_FIRST_MS;
    uv_timer_init(loop, &l->reconnect_timer);
    uv_prepare_init(loop, &l->flush);
    l->reconnect_timer.data = l->flush.data = l;
    l->handles_open = 2;
    return l;
}

void bk_bus_link_start(bk_bus_link *link)
{
    link_connect(link);
}

int bk_bus_link_is_connected(const bk_bus_link *link)
{
    return link->connection != NULL;
}

int bk_bus_link_is_up(const bk_bus_link *link)
{
    return link->state == LINK_UP;
}

int bk_bus_link_subscribe(bk_bus_link *link, const char *channel, size_t len)
{
    const char *argv[] = { "SSUBSCRIBE", channel };
    size_t lengths[] = { 10, len };
    return link_send(link, WAIT_SUBSCRIBED, 2, argv, lengths);
}

int bk_bus_link_unsubscribe(bk_bus_link *link, const char *channel, size_t len)
{
    const char *argv[] = { "SUNSUBSCRIBE", channel };
    size_t lengths[] = { 12, len };
    return link_send(link, WAIT_UNSUBSCRIBED, 2, argv, lengths);
}

int bk_bus_link_ping(bk_bus_link *link)
{
    if (link->state != LINK_UP || link->waits_count > 0)
        return 0;  /* what is awaited already has its deadline */
    const char *argv[] = { "PING" };
    return link_send(link, WAIT_ALIVE, 1, argv, NULL);
}

void bk_bus_link_drop(bk_bus_link *link, const char *why)
{
    if (!link->connection)
        return;
    bk_warn("redis %s link: %s; reconnecting", link->name, why);
    link_down(link, why);
}

void bk_bus_link_sweep(bk_bus_link *link, uint64_t now, uint64_t timeout_ms)
{
    if (!link->connection || link->waits_count == 0)
        return;
    uint64_t sent = link->waits[link->waits_head].sent;
    if (sent + timeout_ms > now)
        return;
    char why[64];
    snprintf(why, sizeof why, "no reply for %llu ms", (unsigned long long)(now - sent));
    bk_bus_link_drop(link, why);
}

void bk_bus_link_close(bk_bus_link *link, void (*closed_fn)(void *data), void *data)
{
    link->closing = 1;
    link->closed_fn = closed_fn;
    link->closed_data = data;
    connection_release(link);
    link->state = LINK_DOWN;
    uv_close((uv_handle_t *)&link->reconnect_timer, on_handle_closed);
    uv_close((uv_handle_t *)&link->flush, on_handle_closed);
}
