/* store.c - hiredis async on the libuv loop: links, deadlines, reconnects, scripts (the bus is
 * store_bus.c's). */
#include "store/store.h"

#include "base/ids.h"
#include "base/log.h"
#include "store/redis_loop.h"
#include "store/redis_reply.h"
#include "store/store_internal.h"

#include <hiredis/async.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#define SWEEP_MS         100

static void link_schedule_reconnect(store_link *l);

void store_report_state(bk_store *store)
{
    if (!store->state_fn || store->closing)
        return;
    if (!store->cluster) {
        store->state_fn(store->command.state == LINK_UP, store_bus_up(store), store->state_data);
        return;
    }
    /* Every node's link comes and goes on its own: tell only what changed. */
    int command_up = store_cluster_up(store->cluster), bus_up = store_bus_up(store);
    if (store->reported && command_up == store->reported_command_up && bus_up == store->reported_bus_up)
        return;
    store->reported = 1;
    store->reported_command_up = command_up;
    store->reported_bus_up = bus_up;
    store->state_fn(command_up, bus_up, store->state_data);
}

/* A node's link in a cluster (not the one Redis's command link). */
static int is_node_link(const store_link *l)
{
    return l->store->cluster != NULL;
}

/* Every hiredis reply of ours comes here first. */
static void on_reply(redisAsyncContext *context, void *reply, void *privdata)
{
    (void)context;
    store_request *r = privdata;
    bk_store *store = r->owner->store;
    store_link *l = r->owner;
    bk_list_remove(&r->link);
    /* After a failover this link may still point at the old primary, now a replica: every
     * write would fail for as long as the connection lives. A Redis whose script cache was
     * emptied (SCRIPT FLUSH, a restart or failover the link did not notice) answers every
     * script NOSCRIPT for as long. Drop the link either way; the reconnect goes to whatever
     * the address now leads to and loads the scripts again. */
    const char *error = bk_redis_reply_error(reply);
    int readonly = error && strncmp(error, "READONLY", 8) == 0;
    if ((readonly || (error && strncmp(error, "NOSCRIPT", 8) == 0)) && l->context && !l->dropping) {
        bk_warn("redis %s link: %s; reconnecting", l->name,
                readonly ? "the server is a read-only replica now" : "the server does not have our scripts");
        l->dropping = 1;
        redisAsyncDisconnect(l->context);
    }
    if (!r->answered && r->argv && store_cluster_redirected(r, reply))
        return;  /* sent again, elsewhere or later: answered then */
    if (!r->answered) {
        store->last_latency_ms = (double)(uv_now(store->loop) - r->sent);
        r->answered = 1;
        if (r->fn)
            r->fn(reply, r->data);
    }
    free(r);
}

static int link_send_command(store_link *l, store_request *r, int argc, const char **argv,
                             const size_t *lengths)
{
    if (!l->context)
        return -1;
    r->owner = l;
    r->sent = uv_now(l->store->loop);
    r->deadline = r->sent + l->store->timeout_ms;
    if (redisAsyncCommandArgv(l->context, on_reply, r, argc, argv, lengths) != REDIS_OK)
        return -1;
    bk_list_push_back(&l->pending, &r->link);
    return 0;
}

int store_link_send(store_link *l, bk_store_reply_fn fn, void *data, int argc, const char **argv,
                    const size_t *lengths)
{
    if (!l->context)
        return -1;
    store_request *r = calloc(1, sizeof *r);
    if (!r)
        return -1;
    r->fn = fn;
    r->data = data;
    if (link_send_command(l, r, argc, argv, lengths) != 0) {
        free(r);
        return -1;
    }
    return 0;
}

int store_link_send_request(store_link *l, store_request *r)
{
    return link_send_command(l, r, r->argc, r->argv, r->lengths);
}

static void link_down(store_link *l, const char *why)
{
    int was_up = l->state == LINK_UP;
    l->state = LINK_DOWN;
    l->context = NULL;
    l->dropping = 0;
    if (l->store->closing) {
        store_free_when_done(l->store);
        return;
    }
    if (was_up)
        bk_warn("redis %s link down: %s", l->name, why);
    if (is_node_link(l))
        store_cluster_link_changed(l);
    else
        store_report_state(l->store);
    if (!l->retired)
        link_schedule_reconnect(l);
}

static void on_connect(const redisAsyncContext *context, int status)
{
    store_link *l = context->data;
    if (status != REDIS_OK) {
        /* hiredis frees the context after this returns and calls no disconnect callback. */
        bk_debug("redis %s connect failed: %s", l->name, context->errstr);
        link_down(l, context->errstr);
    }
}

static void on_disconnect(const redisAsyncContext *context, int status)
{
    store_link *l = context->data;
    link_down(l, status == REDIS_OK ? "closed" : context->errstr);
}

static void handshake_fail(store_link *l, redisReply *reply, const char *step)
{
    if (l->handshake_failed)
        return;
    l->handshake_failed = 1;
    bk_warn("redis %s link: %s failed: %s", l->name, step,
            bk_redis_reply_error(reply) ? bk_redis_reply_error(reply) : "no reply");
    /* Dropping the link brings us back through on_disconnect and a reconnect. */
    if (l->context && !l->dropping)
        redisAsyncDisconnect(l->context);
}

static void on_handshake_step(redisReply *reply, void *data)
{
    store_link *l = data;
    if (!reply || bk_redis_reply_error(reply))
        handshake_fail(l, reply, "AUTH/SELECT/SCRIPT LOAD");
}

static void on_ready(redisReply *reply, void *data)
{
    store_link *l = data;
    if (!reply || bk_redis_reply_error(reply)) {
        handshake_fail(l, reply, "PING");
        return;
    }
    l->state = LINK_UP;
    l->backoff_ms = BK_BACKOFF_FIRST_MS;
    bk_info("redis %s link up", l->name);
    if (is_node_link(l))
        store_cluster_link_changed(l);
    else
        store_report_state(l->store);
}

/* AUTH and SELECT are pipelined behind the connect; the link counts as up only once Redis
 * has answered (a Redis still loading its AOF answers -LOADING, which keeps us retrying). */
static void link_handshake(store_link *l)
{
    bk_store *store = l->store;
    const bk_redis_address *a = &store->address;
    if (a->password[0]) {
        if (a->username[0]) {
            const char *argv[] = { "AUTH", a->username, a->password };
            store_link_send(l, on_handshake_step, l, 3, argv, NULL);
        } else {
            const char *argv[] = { "AUTH", a->password };
            store_link_send(l, on_handshake_step, l, 2, argv, NULL);
        }
    }
    if (a->db) {
        char db[8];
        snprintf(db, sizeof db, "%d", a->db);
        const char *argv[] = { "SELECT", db };
        store_link_send(l, on_handshake_step, l, 2, argv, NULL);
    }
    for (int i = 0; i < store->script_count; i++) {
        const char *argv[] = { "SCRIPT", "LOAD", store->scripts[i].source };
        store_link_send(l, on_handshake_step, l, 3, argv, NULL);
    }
    const char *argv[] = { "PING" };
    store_link_send(l, on_ready, l, 1, argv, NULL);
}

void store_link_connect(store_link *l)
{
    bk_store *store = l->store;
    const bk_redis_address *a = &store->address;
    /* A cluster's links go to their node; otherwise to the address given. */
    redisAsyncContext *context = l->port ? redisAsyncConnect(l->host, l->port)
                                 : a->is_unix ? redisAsyncConnectUnix(a->path)
                                              : redisAsyncConnect(a->host, a->port);
    if (!context) {
        link_schedule_reconnect(l);
        return;
    }
    if (context->err) {
        bk_debug("redis %s connect failed: %s", l->name, context->errstr);
        redisAsyncFree(context);
        link_schedule_reconnect(l);
        return;
    }
    context->data = l;
    /* A half-open TCP link (the peer's host gone) is noticed by keepalive, not by silence. */
    if (l->port || !a->is_unix)
        redisEnableKeepAlive(&context->c);
    if (bk_redis_loop_attach(context, store->loop) != REDIS_OK) {
        redisAsyncFree(context);
        link_schedule_reconnect(l);
        return;
    }
    redisAsyncSetConnectCallback(context, on_connect);
    redisAsyncSetDisconnectCallback(context, on_disconnect);
    l->context = context;
    l->state = LINK_CONNECTING;
    l->handshake_failed = 0;
    link_handshake(l);
}

static void on_reconnect_timer(uv_timer_t *timer)
{
    store_link *l = timer->data;
    if (!l->store->closing)
        store_link_connect(l);
}

static void link_schedule_reconnect(store_link *l)
{
    if (l->store->closing)
        return;
    uint64_t delay = bk_store_reconnect_delay(l->backoff_ms);
    l->backoff_ms = bk_store_backoff_next(l->backoff_ms);
    uv_timer_start(&l->reconnect_timer, on_reconnect_timer, delay, 0);
}

/* Replies come back in order, so only the oldest request of a link can be overdue first.
 * An overdue request means Redis is stuck (stopped, swapping, DEBUG SLEEP): answer everyone
 * waiting on that link with "no reply" and drop the link; reconnecting re-checks Redis. */
void store_link_sweep(store_link *l, uint64_t now)
{
    bk_list *first = bk_list_first(&l->pending);
    store_request *oldest = first ? bk_list_entry(first, store_request, link) : NULL;
    if (!oldest || oldest->deadline > now || !l->context)
        return;
    bk_warn("redis %s link: no reply for %llu ms, reconnecting", l->name,
            (unsigned long long)(now - oldest->sent));
    l->dropping = 1;
    /* The next node is read after each answer (not bk_list_each): a request an answer sends
     * joins the end of the list and is answered here too. */
    for (bk_list *node = l->pending.next; node != &l->pending; node = node->next) {
        store_request *r = bk_list_entry(node, store_request, link);
        if (!r->answered) {
            r->answered = 1;
            if (r->fn)
                r->fn(NULL, r->data);
        }
    }
    /* Safe here (a timer callback, not inside hiredis). Frees the context, calls every
     * pending reply callback with NULL (they are answered already) and then on_disconnect. */
    redisAsyncContext *context = l->context;
    redisAsyncFree(context);
    if (l->context == context) /* never connected: no disconnect callback ran */
        link_down(l, "timeout");
}

static void on_sweep(uv_timer_t *timer)
{
    bk_store *store = timer->data;
    uint64_t now = uv_now(store->loop);
    store_link_sweep(&store->command, now);
    store_bus_sweep(store, now);
    if (store->cluster)
        store_cluster_sweep(store->cluster, now);
}

void store_link_init(bk_store *store, store_link *l, const char *name)
{
    l->store = store;
    l->name = name;
    l->backoff_ms = BK_BACKOFF_FIRST_MS;
    bk_list_init(&l->pending);
    uv_timer_init(store->loop, &l->reconnect_timer);
    l->reconnect_timer.data = l;
}

bk_store *bk_store_new(uv_loop_t *loop, const bk_redis_address *address, int timeout_ms)
{
    bk_store *store = calloc(1, sizeof *store);
    if (!store)
        return NULL;
    store->loop = loop;
    store->address = *address;
    store->timeout_ms = (uint64_t)timeout_ms;
    if (store_bus_init(store) != 0) {
        free(store);
        return NULL;
    }
    store_link_init(store, &store->command, "command");
    uv_timer_init(loop, &store->sweep_timer);
    store->sweep_timer.data = store;
    store->timers_open = 2;
    if (address->is_cluster && !(store->cluster = store_cluster_new(store))) {
        bk_store_close(store, NULL, NULL);
        return NULL;
    }
    return store;
}

int bk_store_script_add(bk_store *store, const char *source)
{
    if (!source)
        return -1;
    store_script *grown = realloc(store->scripts, (size_t)(store->script_count + 1) * sizeof *grown);
    if (!grown)
        return -1;
    store->scripts = grown;
    store_script *s = &store->scripts[store->script_count];
    s->source = source;
    uint8_t digest[SHA_DIGEST_LENGTH];
    SHA1((const uint8_t *)source, strlen(source), digest);
    bk_hex_encode(digest, sizeof digest, s->sha);
    return store->script_count++;
}

void bk_store_on_state(bk_store *store, bk_store_state_fn fn, void *data)
{
    store->state_fn = fn;
    store->state_data = data;
}

void bk_store_cluster_key(bk_store *store, const char *key)
{
    store->default_slot = bk_cluster_key_slot(key, strlen(key));
}

void bk_store_start(bk_store *store)
{
    uv_timer_start(&store->sweep_timer, on_sweep, SWEEP_MS, SWEEP_MS);
    if (store->cluster)
        store_cluster_start(store->cluster);
    else
        store_link_connect(&store->command);
    store_bus_start(store);
}

int bk_store_is_up(const bk_store *store)
{
    return store->cluster ? store_cluster_up(store->cluster) : store->command.state == LINK_UP;
}

double bk_store_last_latency_ms(const bk_store *store)
{
    return store->last_latency_ms;
}

/* slot: where a cluster runs it (one Redis runs everything). */
static int store_send(bk_store *store, int slot, bk_store_reply_fn fn, void *data,
                      int argc, const char **argv, const size_t *lengths)
{
    if (store->closing)
        return -1;
    if (store->cluster)
        return store_cluster_send(store->cluster, slot, fn, data, argc, argv, lengths);
    if (store->command.state != LINK_UP)
        return -1;
    return store_link_send(&store->command, fn, data, argc, argv, lengths);
}

/* In a cluster, the slot of argument `at` (a key), or the default slot when there is none. */
static int key_slot(const bk_store *store, int argc, const char **argv, const size_t *lengths, int at)
{
    if (!store->cluster || argc <= at)
        return store->default_slot;
    return bk_cluster_key_slot(argv[at], lengths ? lengths[at] : strlen(argv[at]));
}

int bk_store_command(bk_store *store, bk_store_reply_fn fn, void *data,
                     int argc, const char **argv, const size_t *lengths)
{
    return store_send(store, key_slot(store, argc, argv, lengths, 1), fn, data, argc, argv, lengths);
}

int bk_store_script(bk_store *store, int script_index, bk_store_reply_fn fn, void *data,
                    int key_count, int argc, const char **argv, const size_t *lengths)
{
    enum { INLINE_ARGS = 32 };
    if (script_index < 0 || script_index >= store->script_count || argc < 0)
        return -1;
    /* EVALSHA sha numkeys args...: most scripts fit the stack arrays; a long one (a stats
     * range of many days) gets heap arrays. */
    const char *inline_argv[INLINE_ARGS];
    size_t inline_lengths[INLINE_ARGS];
    const char **full = inline_argv;
    size_t *full_lengths = inline_lengths;
    if (argc + 3 > INLINE_ARGS) {
        full = malloc((size_t)(argc + 3) * sizeof *full);
        full_lengths = malloc((size_t)(argc + 3) * sizeof *full_lengths);
        if (!full || !full_lengths) {
            free(full);
            free(full_lengths);
            return -1;
        }
    }
    /* key_count 0: our scripts find their keys in Lua under the prefix of one slot, their first
     * argument ("PREFIX{TAG}:", base/keys.h), which routes them as a key of that slot would. */
    int slot = key_slot(store, argc, argv, lengths, 0);
    char keys[12];
    snprintf(keys, sizeof keys, "%d", key_count);
    full[0] = "EVALSHA";
    full[1] = store->scripts[script_index].sha;
    full[2] = keys;
    for (int i = 0; i < 3; i++)
        full_lengths[i] = strlen(full[i]);
    for (int i = 0; i < argc; i++) {
        full[i + 3] = argv[i];
        full_lengths[i + 3] = lengths ? lengths[i] : strlen(argv[i]);
    }
    int rc = store_send(store, slot, fn, data, argc + 3, full, full_lengths);
    if (full != inline_argv) {
        free(full);
        free(full_lengths);
    }
    return rc;
}

/* The store is freed once both links have said goodbye and its timers are closed. The
 * sweep timer stays on while links close, so a Redis that stopped answering cannot keep
 * shutdown waiting for ever: its link is dropped at the deadline like any other time. */
void store_free_when_done(bk_store *store)
{
    if (store->command.context || !store_bus_closed(store) ||
        (store->cluster && !store_cluster_disconnected(store->cluster)))
        return;
    if (!uv_is_closing((uv_handle_t *)&store->sweep_timer)) {
        uv_close((uv_handle_t *)&store->sweep_timer, store_timer_closed);
        return;
    }
    if (store->timers_open > 0)
        return;
    if (store->cluster)
        store_cluster_free(store->cluster);
    free(store->scripts);
    store_bus_free(store);
    void (*closed_fn)(void *) = store->closed_fn;
    void *closed_data = store->closed_data;
    free(store);
    if (closed_fn)
        closed_fn(closed_data);
}

void store_timer_closed(uv_handle_t *handle)
{
    bk_store *store = handle->data;
    store->timers_open--;
    store_free_when_done(store);
}

void bk_store_close(bk_store *store, void (*closed_fn)(void *data), void *data)
{
    store->closing = 1;
    store->closed_fn = closed_fn;
    store->closed_data = data;
    uv_close((uv_handle_t *)&store->command.reconnect_timer, store_timer_closed);
    store->command.reconnect_timer.data = store;
    if (store->cluster)
        store_cluster_close(store->cluster);
    store_bus_close(store);
    /* redisAsyncDisconnect lets replies already on their way arrive before it closes; when
     * nothing is pending it closes at once and on_disconnect runs inside this call. */
    if (store->command.context)
        redisAsyncDisconnect(store->command.context);
    store_free_when_done(store);
}
