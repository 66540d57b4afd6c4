/* test_bus_link_order.c - the bus link (server/store/bus_link.h) against a scripted Redis on a
 * unix socket: what it makes of each reply in the order it comes. A confirmation answers the
 * subscription asked first, of that very channel (another channel's is out of order: the link is
 * remade); a `sunsubscribe` nobody asked for (a cluster node that lost the slot) goes to the
 * owner's `dropped`, or remakes the link without one; an error to a subscription goes to
 * `refused`, or remakes the link without one; a PING asked by the owner must be answered before
 * the sweep's deadline. The bytes are Redis 7.0's (captured from redis-server 7.0.15). */
#include "check.h"

#include "base/config.h"
#include "base/log.h"
#include "base/metrics.h"
#include "store/bus_link.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#define CONFIRM(name) "*3\r\n$10\r\nssubscribe\r\n$1\r\n" name "\r\n:1\r\n"
#define UNCONFIRM(name) "*3\r\n$12\r\nsunsubscribe\r\n$1\r\n" name "\r\n:0\r\n"
#define PONG "*2\r\n$4\r\npong\r\n$0\r\n\r\n"

/* One scenario: the channels the owner subscribes when connected (and unsubscribes, "-x"), the
 * bytes the fake Redis answers to each command in turn (NULL: no answer), and the events the
 * owner must see, in order. */
typedef struct scenario {
    const char *name;
    const char *channels[4];
    const char *answers[8];
    int with_owner_handlers;  /* refused and dropped set */
    int ping_when_up;         /* the owner pings once up; a second ping goes unanswered */
    const char *expected;
} scenario;

typedef struct fake {
    uv_loop_t *loop;
    uv_pipe_t server, client;
    int accepted;
    char in[4096];
    size_t in_len;
    int commands;
    const scenario *script;
    bk_bus_link *link;
    char events[1024];
    int closing;
    uv_timer_t deadline;
} fake;

static void event(fake *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void event(fake *f, const char *fmt, ...)
{
    size_t at = strlen(f->events);
    va_list args;
    va_start(args, fmt);
    vsnprintf(f->events + at, sizeof f->events - at, fmt, args);
    va_end(args);
}

static void fake_close(fake *f);

static void on_connected(void *data)
{
    fake *f = data;
    event(f, "connected ");
    for (int i = 0; f->script->channels[i]; i++) {
        const char *ch = f->script->channels[i];
        if (ch[0] == '-')
            bk_bus_link_unsubscribe(f->link, ch + 1, strlen(ch + 1));
        else
            bk_bus_link_subscribe(f->link, ch, strlen(ch));
    }
}

static void on_up(void *data)
{
    fake *f = data;
    event(f, "up ");
    if (f->script->ping_when_up)
        bk_bus_link_ping(f->link);
}

static void on_down(const char *why, void *data)
{
    fake *f = data;
    event(f, "down(%s) ", why);
    fake_close(f);  /* no reconnect: the script is for one connection */
}

static void on_confirmed(const char *channel, size_t len, int subscribed, void *data)
{
    event(data, "%s(%.*s) ", subscribed ? "subscribed" : "unsubscribed", (int)len, channel);
}

static void on_refused(const char *channel, size_t len, int subscribed, const char *error, void *data)
{
    event(data, "refused(%.*s,%d,%s) ", (int)len, channel, subscribed, error);
}

static void on_dropped(const char *channel, size_t len, void *data)
{
    event(data, "dropped(%.*s) ", (int)len, channel);
}

static void on_message(const char *channel, size_t channel_len, const char *payload, size_t len, void *data)
{
    event(data, "message(%.*s,%.*s) ", (int)channel_len, channel, (int)len, payload);
}

/* ---- the fake Redis: reads whole commands, answers each from the script ----------------- */

/* The length of the first whole RESP array of bulk strings in buf, or 0 when it is not all there. */
static size_t command_length(const char *buf, size_t len)
{
    size_t at = 0;
    long count, bytes;
    char *end;
    if (len < 4 || buf[0] != '*' || !memchr(buf, '\n', len))
        return 0;
    count = strtol(buf + 1, &end, 10);
    at = (size_t)(strchr(buf, '\n') - buf) + 1;
    for (long i = 0; i < count; i++) {
        if (at >= len || buf[at] != '$' || !memchr(buf + at, '\n', len - at))
            return 0;
        bytes = strtol(buf + at + 1, &end, 10);
        at = (size_t)((const char *)memchr(buf + at, '\n', len - at) - buf) + 1 + (size_t)bytes + 2;
        if (at > len)
            return 0;
    }
    return at;
}

static void on_written(uv_write_t *req, int status)
{
    (void)status;
    free(req);
}

static void answer(fake *f, const char *bytes)
{
    uv_write_t *req = malloc(sizeof *req);
    uv_buf_t buf = uv_buf_init((char *)bytes, (unsigned)strlen(bytes));
    if (req && uv_write(req, (uv_stream_t *)&f->client, &buf, 1, on_written) != 0)
        free(req);
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    fake *f = handle->data;
    buf->base = f->in + f->in_len;
    buf->len = sizeof f->in - f->in_len;
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    fake *f = stream->data;
    if (nread <= 0)
        return;
    f->in_len += (size_t)nread;
    size_t n;
    while ((n = command_length(f->in, f->in_len)) > 0) {
        memmove(f->in, f->in + n, f->in_len - n);
        f->in_len -= n;
        const char *reply = f->commands < 8 ? f->script->answers[f->commands] : NULL;
        f->commands++;
        if (reply)
            answer(f, reply);
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    fake *f = server->data;
    if (status != 0 || f->accepted)
        return;
    uv_pipe_init(f->loop, &f->client, 0);
    f->client.data = f;
    f->accepted = 1;
    if (uv_accept(server, (uv_stream_t *)&f->client) == 0)
        uv_read_start((uv_stream_t *)&f->client, on_alloc, on_read);
}

static void fake_close(fake *f)
{
    if (f->closing)
        return;
    f->closing = 1;
    bk_bus_link_close(f->link, NULL, NULL);
    uv_close((uv_handle_t *)&f->server, NULL);
    if (f->accepted)
        uv_close((uv_handle_t *)&f->client, NULL);
    uv_close((uv_handle_t *)&f->deadline, NULL);
}

/* The script is played: what the owner saw is final (a second, unanswered PING is swept). */
static void on_deadline(uv_timer_t *timer)
{
    fake *f = timer->data;
    if (f->script->ping_when_up && !f->closing) {
        bk_bus_link_ping(f->link);
        bk_bus_link_sweep(f->link, uv_now(f->loop) + 10000, 3000);
    }
    fake_close(f);
}

static void play(const scenario *s)
{
    static const bk_bus_link_handlers plain = {
        .connected = on_connected, .up = on_up, .down = on_down, .confirmed = on_confirmed, .message = on_message,
    };
    static const bk_bus_link_handlers owner = {
        .connected = on_connected, .up = on_up, .down = on_down, .confirmed = on_confirmed,
        .refused = on_refused, .dropped = on_dropped, .message = on_message,
    };
    uv_loop_t loop;
    uv_loop_init(&loop);
    fake f = { .loop = &loop, .script = s };
    bk_redis_address address;
    memset(&address, 0, sizeof address);
    address.is_unix = 1;
    snprintf(address.path, sizeof address.path, "/tmp/bk-bus-link-order-%ld.sock", (long)getpid());
    unlink(address.path);
    uv_pipe_init(&loop, &f.server, 0);
    f.server.data = &f;
    int listening = uv_pipe_bind(&f.server, address.path) == 0 &&
                    uv_listen((uv_stream_t *)&f.server, 4, on_connection) == 0;
    CHECK(listening, "%s: the fake Redis listens", s->name);
    uv_timer_init(&loop, &f.deadline);
    f.deadline.data = &f;
    uv_timer_start(&f.deadline, on_deadline, 200, 0);
    f.link = bk_bus_link_new(&loop, "bus", &address, s->with_owner_handlers ? &owner : &plain, &f);
    bk_bus_link_start(f.link);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop) == 0, "%s: every handle closed", s->name);
    unlink(address.path);
    CHECK_STR(f.events, s->expected, "%s", s->name);
}

int main(void)
{
    bk_log_set_level(BK_LOG_ERROR);
    static const scenario scenarios[] = {
        { "confirmations in order, then a push", { "a", "b" },
          { CONFIRM("a"), CONFIRM("b") "*3\r\n$8\r\nsmessage\r\n$1\r\nb\r\n$3\r\nhey\r\n", PONG }, 1, 0,
          "connected subscribed(a) subscribed(b) message(b,hey) up " },
        { "a sunsubscribe nobody asked (the slot left the node), with an owner who follows slots", { "a", "b" },
          { CONFIRM("a") UNCONFIRM("a"), CONFIRM("b"), PONG }, 1, 0,
          "connected subscribed(a) dropped(a) subscribed(b) up " },
        { "the same without such an owner: the link is remade", { "a", "b" },
          { CONFIRM("a") UNCONFIRM("a"), CONFIRM("b"), PONG }, 0, 0,
          "connected subscribed(a) down(a subscription ended unasked) " },
        { "SUNSUBSCRIBE asked while the node ends the channel too: the first is the confirmation", { "a", "-a" },
          { CONFIRM("a"), UNCONFIRM("a") UNCONFIRM("a"), PONG }, 1, 0,
          "connected subscribed(a) unsubscribed(a) dropped(a) up " },
        { "MOVED to a SSUBSCRIBE, with an owner who follows slots: refused, the link stays", { "a", "b" },
          { "-MOVED 15495 127.0.0.1:7001\r\n", CONFIRM("b"), PONG }, 1, 0,
          "connected refused(a,1,MOVED 15495 127.0.0.1:7001) subscribed(b) up " },
        { "MOVED to a SUNSUBSCRIBE too", { "a", "-a" },
          { CONFIRM("a"), "-MOVED 15495 127.0.0.1:7001\r\n", PONG }, 1, 0,
          "connected subscribed(a) refused(a,0,MOVED 15495 127.0.0.1:7001) up " },
        { "MOVED without such an owner: the link is remade", { "a" },
          { "-MOVED 15495 127.0.0.1:7001\r\n", PONG }, 0, 0,
          "connected down(a subscription was refused) " },
        { "the confirmation of another channel than the one asked: out of order", { "a", "b" },
          { CONFIRM("b"), CONFIRM("a"), PONG }, 1, 0,
          "connected down(a reply out of order) " },
        { "a PING of the owner's answered, the next one not: the sweep remakes the link", { "a" },
          { CONFIRM("a"), PONG, PONG }, 1, 1,
          "connected subscribed(a) up down(no reply for 10000 ms) " },
    };
    for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++)
        play(&scenarios[i]);
    bk_metrics_free();
    return check_done();
}
