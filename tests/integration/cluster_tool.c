/* cluster_tool.c - Beckon's Redis Cluster code driven from the integration tests (test_cluster.py).
 *
 *   cluster_tool slots    keys in hex, one a line, on stdin; their slots (bk_cluster_key_slot),
 *                         one a line, on stdout: compared with a real cluster's CLUSTER KEYSLOT.
 *
 *   cluster_tool run URL [--command | --pair | --prefix] [--for MS] KEY...
 *                         a bk_store on URL (redis+cluster://...); once it is up, for each key a
 *                         script declaring that key (SET KEY ROUND, answering the port of the
 *                         node that ran it), with --pair a script declaring KEY and KEY:pair
 *                         (give KEY a hash tag: one slot), with --prefix a script declaring no key
 *                         and given KEY as its first argument, as Beckon gives the prefix of its
 *                         slot ("bk:{TAG}:"; it sets KEY .. "probe"), or with --command the
 *                         command SET KEY ROUND. One
 *                         round, or rounds every 50 ms for MS milliseconds. Prints a line a
 *                         reply: "ROUND KEY_HEX ANSWER" (a port, OK, "unavailable" for no reply
 *                         or -1, "error: TEXT"), then closes the store and exits 0 (1 when the
 *                         store never came up within 10 s).
 *
 *   cluster_tool bus URL CHANNEL...
 *                         a bk_store on URL whose bus subscribes CHANNELs (bk_store_bus_subscribe),
 *                         as a beckon node subscribes its sockets' channels. Prints a line an
 *                         event: "state COMMAND_UP BUS_UP" (0 or 1 each, when either changes),
 *                         "subscribed CHANNEL" (Redis confirmed it), "message CHANNEL PAYLOAD".
 *                         Reads lines on stdin: "+CHANNEL" subscribes one more, "-CHANNEL" ends
 *                         one; at "quit" or the end of stdin it closes the store and exits 0. */
#include "base/config.h"
#include "base/log.h"
#include "store/redis_cluster.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

static int hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int slots(void)
{
    char line[4096];
    unsigned char key[sizeof line / 2];
    while (fgets(line, sizeof line, stdin)) {
        size_t n = strcspn(line, "\r\n");
        if (n % 2 != 0) {
            fprintf(stderr, "cluster_tool: odd hex line\n");
            return 2;
        }
        for (size_t i = 0; i < n / 2; i++) {
            int high = hex_value(line[2 * i]), low = hex_value(line[2 * i + 1]);
            if (high < 0 || low < 0) {
                fprintf(stderr, "cluster_tool: not hex\n");
                return 2;
            }
            key[i] = (unsigned char)(high << 4 | low);
        }
        printf("%d\n", bk_cluster_key_slot(key, n / 2));
    }
    return 0;
}

/* ---- run: the store against a cluster ------------------------------------------------- */

#define ROUND_MS 50
#define UP_WAIT_MS 10000

/* Declares its key, as every script will once keys carry hash tags. */
static const char probe_script[] =
    "redis.call('SET', KEYS[1], ARGV[1])\n"
    "return tonumber(string.match(redis.call('INFO', 'server'), 'tcp_port:(%d+)'))\n";
/* Two keys of one slot: a slot in migration answers TRYAGAIN when one is missing. */
static const char pair_script[] =
    "redis.call('SET', KEYS[1], ARGV[1])\n"
    "redis.call('SET', KEYS[2], ARGV[1])\n"
    "return tonumber(string.match(redis.call('INFO', 'server'), 'tcp_port:(%d+)'))\n";

/* Declares no key and takes its slot's prefix first, as Beckon's scripts do (base/keys.h):
 * routed by that argument. "#!lua" has Redis Cluster check the slot of the key it touches. */
static const char prefix_script[] =
    "#!lua\n"
    "redis.call('SET', ARGV[1] .. 'probe', ARGV[2])\n"
    "return tonumber(string.match(redis.call('INFO', 'server'), 'tcp_port:(%d+)'))\n";

typedef struct run {
    uv_loop_t *loop;
    bk_store *store;
    uv_timer_t timer;
    int script, pair_script, prefix_script;
    int use_command, use_pair, use_prefix;
    int key_count;
    char **keys;
    uint64_t started, up_at, duration_ms;
    int round, waiting, closing, status;
} run;

typedef struct call {
    run *run;
    int round;
    int key;
} call;

static void print_key(const char *key)
{
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        printf("%02x", *p);
}

static void answer_print(const call *c, const char *answer)
{
    printf("%d ", c->round);
    print_key(c->run->keys[c->key]);
    printf(" %s\n", answer);
}

static void run_close(run *r);

static void on_answer(redisReply *reply, void *data)
{
    call *c = data;
    run *r = c->run;
    char text[300];
    if (!reply)
        snprintf(text, sizeof text, "unavailable");
    else if (reply->type == REDIS_REPLY_INTEGER)
        snprintf(text, sizeof text, "%lld", reply->integer);
    else if (reply->type == REDIS_REPLY_ERROR)
        snprintf(text, sizeof text, "error: %s", reply->str);
    else if (reply->type == REDIS_REPLY_STATUS || reply->type == REDIS_REPLY_STRING)
        snprintf(text, sizeof text, "%s", reply->str);
    else
        snprintf(text, sizeof text, "type %d", reply->type);
    answer_print(c, text);
    free(c);
    r->waiting--;
    if (r->waiting == 0 && r->closing)
        run_close(r);
}

static void round_send(run *r)
{
    char value[16];
    snprintf(value, sizeof value, "%d", r->round);
    for (int i = 0; i < r->key_count; i++) {
        call *c = malloc(sizeof *c);
        if (!c)
            continue;
        *c = (call){ r, r->round, i };
        char pair[512];
        snprintf(pair, sizeof pair, "%s:pair", r->keys[i]);
        const char *args[] = { r->use_command ? "SET" : r->keys[i], r->use_command ? r->keys[i] : value, value };
        const char *pair_args[] = { r->keys[i], pair, value };
        int rc = r->use_command ? bk_store_command(r->store, on_answer, c, 3, args, NULL)
                 : r->use_pair  ? bk_store_script(r->store, r->pair_script, on_answer, c, 2, 3, pair_args, NULL)
                 : r->use_prefix ? bk_store_script(r->store, r->prefix_script, on_answer, c, 0, 2, args, NULL)
                                : bk_store_script(r->store, r->script, on_answer, c, 1, 2, args, NULL);
        if (rc != 0) {
            answer_print(c, "unavailable");
            free(c);
            continue;
        }
        r->waiting++;
    }
    r->round++;
}

static void on_closed(void *data)
{
    (void)data;
}

static void on_timer_closed(uv_handle_t *handle)
{
    (void)handle;
}

static void run_close(run *r)
{
    if (uv_is_closing((uv_handle_t *)&r->timer))
        return;
    uv_close((uv_handle_t *)&r->timer, on_timer_closed);
    bk_store_close(r->store, on_closed, NULL);
}

static void on_tick(uv_timer_t *timer)
{
    run *r = timer->data;
    uint64_t now = uv_now(r->loop);
    if (!r->up_at) {
        if (!bk_store_is_up(r->store)) {
            if (now - r->started > UP_WAIT_MS) {
                fprintf(stderr, "cluster_tool: the store did not come up in %d ms\n", UP_WAIT_MS);
                r->status = 1;
                run_close(r);
            }
            return;
        }
        r->up_at = now;
        printf("up after %llu ms\n", (unsigned long long)(now - r->started));
    }
    round_send(r);
    if (now - r->up_at >= r->duration_ms) {
        uv_timer_stop(timer);
        r->closing = 1;
        if (r->waiting == 0)
            run_close(r);
    }
}

static int run_main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    bk_redis_address address;
    char err[512];
    if (bk_redis_address_parse(argv[2], &address, err, sizeof err) != 0) {
        fprintf(stderr, "cluster_tool: %s\n", err);
        return 2;
    }
    bk_log_level level;
    if (bk_log_level_parse(getenv("CLUSTER_TOOL_LOG") ? getenv("CLUSTER_TOOL_LOG") : "warn", &level) == 0)
        bk_log_set_level(level);
    uv_loop_t loop;
    uv_loop_init(&loop);
    run r = { .loop = &loop };
    int i = 3;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (strcmp(argv[i], "--command") == 0)
            r.use_command = 1;
        else if (strcmp(argv[i], "--pair") == 0)
            r.use_pair = 1;
        else if (strcmp(argv[i], "--prefix") == 0)
            r.use_prefix = 1;
        else if (strcmp(argv[i], "--for") == 0 && i + 1 < argc)
            r.duration_ms = strtoull(argv[++i], NULL, 10);
    }
    r.keys = argv + i;
    r.key_count = argc - i;
    r.store = bk_store_new(&loop, &address, 3000);
    if (!r.store)
        return 1;
    bk_store_cluster_key(r.store, "bk:");
    r.script = bk_store_script_add(r.store, probe_script);
    r.pair_script = bk_store_script_add(r.store, pair_script);
    r.prefix_script = bk_store_script_add(r.store, prefix_script);
    bk_store_start(r.store);
    r.started = uv_now(&loop);
    uv_timer_init(&loop, &r.timer);
    r.timer.data = &r;
    uv_timer_start(&r.timer, on_tick, 10, ROUND_MS);
    uv_run(&loop, UV_RUN_DEFAULT);
    fflush(stdout);
    return uv_loop_close(&loop) == 0 ? r.status : 1;
}

/* ---- bus: the store's bus against a cluster ---------------------------------------------- */

typedef struct bus {
    bk_store *store;
    uv_pipe_t input;
    char line[1024];
    size_t line_len;
} bus;

static void bus_on_state(int command_up, int bus_up, void *data)
{
    (void)data;
    printf("state %d %d\n", command_up, bus_up);
}

static void bus_on_message(const char *channel, size_t channel_len, const char *payload, size_t len, void *data)
{
    (void)data;
    printf("message %.*s %.*s\n", (int)channel_len, channel, (int)len, payload);
}

static void bus_on_subscribed(const char *channel, void *data)
{
    (void)data;
    printf("subscribed %s\n", channel);
}

static void bus_close(bus *b)
{
    if (uv_is_closing((uv_handle_t *)&b->input))
        return;
    uv_close((uv_handle_t *)&b->input, NULL);
    bk_store_close(b->store, on_closed, NULL);
}

static void bus_line(bus *b, const char *line)
{
    if (strcmp(line, "quit") == 0)
        bus_close(b);
    else if (line[0] == '+' && line[1] && bk_store_bus_subscribe(b->store, line + 1) < 0)
        printf("error out of memory\n");
    else if (line[0] == '-' && line[1])
        bk_store_bus_unsubscribe(b->store, line + 1);
}

static void bus_on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    (void)handle;
    buf->base = malloc(suggested);
    buf->len = buf->base ? suggested : 0;
}

static void bus_on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    bus *b = stream->data;
    for (ssize_t i = 0; i < nread; i++) {
        char ch = buf->base[i];
        if (ch == '\n' || b->line_len == sizeof b->line - 1) {
            b->line[b->line_len] = '\0';
            b->line_len = 0;
            bus_line(b, b->line);
        } else if (ch != '\r') {
            b->line[b->line_len++] = ch;
        }
    }
    free(buf->base);
    if (nread < 0)
        bus_close(b);
}

static int bus_main(int argc, char **argv)
{
    bk_redis_address address;
    char err[512];
    if (bk_redis_address_parse(argv[2], &address, err, sizeof err) != 0) {
        fprintf(stderr, "cluster_tool: %s\n", err);
        return 2;
    }
    bk_log_level level;
    if (bk_log_level_parse(getenv("CLUSTER_TOOL_LOG") ? getenv("CLUSTER_TOOL_LOG") : "warn", &level) == 0)
        bk_log_set_level(level);
    setvbuf(stdout, NULL, _IOLBF, 0);
    uv_loop_t loop;
    uv_loop_init(&loop);
    bus b = { .store = bk_store_new(&loop, &address, 3000) };
    if (!b.store || bk_store_bus(b.store, bus_on_message, bus_on_subscribed, &b) != 0)
        return 1;
    bk_store_cluster_key(b.store, "bk:");
    bk_store_on_state(b.store, bus_on_state, &b);
    for (int i = 3; i < argc; i++)
        if (bk_store_bus_subscribe(b.store, argv[i]) < 0)
            return 1;
    uv_pipe_init(&loop, &b.input, 0);
    b.input.data = &b;
    if (uv_pipe_open(&b.input, 0) != 0 || uv_read_start((uv_stream_t *)&b.input, bus_on_alloc, bus_on_read) != 0) {
        fprintf(stderr, "cluster_tool: stdin cannot be read on the loop\n");
        return 2;
    }
    bk_store_start(b.store);
    uv_run(&loop, UV_RUN_DEFAULT);
    return uv_loop_close(&loop) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "slots") == 0)
        return slots();
    if (argc >= 3 && strcmp(argv[1], "run") == 0)
        return run_main(argc, argv);
    if (argc >= 3 && strcmp(argv[1], "bus") == 0)
        return bus_main(argc, argv);
    fprintf(stderr, "usage: %s slots | run URL [--command | --pair | --prefix] [--for MS] KEY... | bus URL CHANNEL...\n", argv[0]);
    return 2;
}
