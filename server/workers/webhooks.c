/* webhooks.c - delivering each site's webhook events: lease, cursor, one request, backoff. */
#include "workers/webhooks.h"

#include "transport/fetch.h"
#include "base/ids.h"
#include "base/log.h"
#include "base/map.h"
#include "base/metrics.h"
#include "store/redis_reply.h"
#include "store/redis_shapes.h"
#include "lua/embedded.h"

#include <beckon/protocol.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LEASE_MS        30000
#define TICK_MS         1000
#define BACKOFF_MAX_MS  (5 * 60 * 1000)

enum { SCRIPT_CLAIM, SCRIPT_DONE, SCRIPT_RETRY, SCRIPT_RELEASE, SCRIPT_COUNT };

/* What a site's worker is doing; every state but IDLE has one thing in flight. */
typedef enum {
    WORKER_IDLE,
    WORKER_CLAIMING,   /* asking Redis for the next event */
    WORKER_SENDING,    /* the request is out */
    WORKER_REPORTING,  /* telling Redis how it went (the reply brings the next event) */
    WORKER_WAITING,    /* backing off before the next attempt */
} worker_state;

typedef struct worker {
    bk_webhooks *hooks;
    char site[BK_ID_MAX + 1];
    worker_state state;
    int woken;                 /* a new event was announced while busy: look again */
    char id[48];               /* the event being sent, and how often it was tried */
    char event[48];
    int attempts;
    bk_fetch *fetch;
    uv_timer_t retry;
} worker;

struct bk_webhooks {
    bk_server *server;
    int scripts[SCRIPT_COUNT];
    char node[BK_ID_MAX + 1];
    char lease_ms[16];
    uv_timer_t tick;
    bk_map *workers;           /* site -> worker */
    bk_fetcher *fetcher;
    int claiming_all;
    int stopping;
};

static void worker_claim(worker *w);

static void on_worker_closed(uv_handle_t *handle)
{
    free(handle->data);
}

static worker *worker_of(bk_webhooks *hooks, const char *site)
{
    worker *w = bk_map_get(hooks->workers, site);
    if (w || !bk_id_valid(site))
        return w;
    w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->hooks = hooks;
    snprintf(w->site, sizeof w->site, "%s", site);
    uv_timer_init(hooks->server->loop, &w->retry);
    w->retry.data = w;
    if (bk_map_set(hooks->workers, w->site, w) != 0) {
        uv_close((uv_handle_t *)&w->retry, on_worker_closed);
        return NULL;
    }
    return w;
}

/* The worker has nothing in flight; an announcement that came meanwhile is looked at now. */
static void worker_idle(worker *w)
{
    w->state = WORKER_IDLE;
    if (w->woken && !w->hooks->stopping) {
        w->woken = 0;
        worker_claim(w);
    }
}

/* ---- one attempt ------------------------------------------------------------------------ */

static void worker_report(worker *w, const char *outcome, int status, const char *error);

static void on_retry(uv_timer_t *timer)
{
    worker *w = timer->data;
    w->state = WORKER_IDLE;
    worker_claim(w);  /* the same event again, with the site's settings as they are now */
}

static void attempt_failed(worker *w, int status, const char *error)
{
    bk_webhooks *hooks = w->hooks;
    const bk_config *config = hooks->server->config;
    char why[160];
    if (status)
        snprintf(why, sizeof why, "HTTP %d", status);
    else
        snprintf(why, sizeof why, "%s", error && error[0] ? error : "no response");
    if (w->attempts >= config->webhook_max_attempts) {
        bk_metrics_now.webhooks_failed++;
        bk_warn("webhook of site %s: event %s (%s) failed %d times (%s); skipped", w->site, w->id, w->event,
                w->attempts, why);
        worker_report(w, "failed", status, why);
        return;
    }
    bk_metrics_now.webhooks_retries++;
    uint64_t delay = (uint64_t)config->webhook_retry_ms;
    for (int i = 1; i < w->attempts && delay < BACKOFF_MAX_MS; i++)
        delay *= 2;
    if (delay > BACKOFF_MAX_MS)
        delay = BACKOFF_MAX_MS;
    bk_info("webhook of site %s: event %s attempt %d failed (%s); next in %llu ms", w->site, w->id,
            w->attempts, why, (unsigned long long)delay);
    w->state = WORKER_WAITING;
    uv_timer_start(&w->retry, on_retry, delay, 0);
    char attempts[16], code[16], now[24], next[24];
    int64_t now_ms = bk_now_ms();
    snprintf(attempts, sizeof attempts, "%d", w->attempts);
    snprintf(code, sizeof code, "%d", status);
    snprintf(now, sizeof now, "%lld", (long long)now_ms);
    snprintf(next, sizeof next, "%lld", (long long)(now_ms + (int64_t)delay));
    char prefix[BK_KEYS_PREFIX_SIZE];
    bk_keys_prefix_of_site(config->prefix, w->site, prefix);
    const char *argv[] = { prefix, w->site, w->id, w->event, attempts, code, why, now, next };
    bk_store_script(hooks->server->store, hooks->scripts[SCRIPT_RETRY], NULL, NULL, 0, 9, argv, NULL);
}

static void on_sent(int status, const char *error, void *data)
{
    worker *w = data;
    w->fetch = NULL;
    if (status >= 200 && status < 300) {
        bk_metrics_now.webhooks_delivered++;
        bk_debug("webhook of site %s: event %s (%s) delivered, HTTP %d", w->site, w->id, w->event, status);
        worker_report(w, "delivered", status, "");
    } else {
        attempt_failed(w, status, error);
    }
}

/* The net is made after this module (main.c), so the HTTP client is set up at first use. */
static void fetcher_ensure(bk_webhooks *hooks)
{
    if (!hooks->fetcher && hooks->server->net)
        hooks->fetcher = bk_fetcher_new(hooks->server->loop, hooks->server->net);
}

/* Sends one event: the signature covers "timestamp.body", so a receiver can also refuse
 * an old request replayed. */
static void worker_send(worker *w, const char *id, const char *event, const char *body, size_t len,
                        const char *url, const char *secret)
{
    bk_webhooks *hooks = w->hooks;
    if (strcmp(w->id, id) != 0) {
        snprintf(w->id, sizeof w->id, "%s", id);
        w->attempts = 0;
    }
    snprintf(w->event, sizeof w->event, "%s", event);
    w->attempts++;
    char ts[24];
    int ts_len = snprintf(ts, sizeof ts, "%lld.", (long long)bk_now_ms());
    char *signed_text = malloc((size_t)ts_len + len + 1);
    char signature[65] = "";
    if (signed_text) {
        memcpy(signed_text, ts, (size_t)ts_len);
        memcpy(signed_text + ts_len, body, len);
        bk_hmac_sha256_hex(secret, signed_text, (size_t)ts_len + len, signature);
        free(signed_text);
    }
    ts[ts_len - 1] = '\0';  /* the timestamp alone, for its header */
    char headers[1024];
    snprintf(headers, sizeof headers,
             "Content-Type: application/json\r\nContent-Length: %zu\r\nUser-Agent: Beckon/%s\r\n"
             "X-Beckon-Event: %s\r\nX-Beckon-Delivery: %s\r\nX-Beckon-Timestamp: %s\r\n"
             "X-Beckon-Signature: sha256=%s\r\n",
             len, BK_VERSION, event, id, ts, signature);
    char err[128];
    w->state = WORKER_SENDING;
    fetcher_ensure(hooks);
    w->fetch = !hooks->fetcher ? NULL : bk_fetch_post(hooks->fetcher, url, headers, body, len, hooks->server->config->webhook_timeout_ms,
                             on_sent, w, err, sizeof err);
    if (!hooks->fetcher)
        snprintf(err, sizeof err, "the HTTP client is not available");
    if (!w->fetch)
        attempt_failed(w, 0, err);
}

/* The rows from hook_next: each sent, if its site's worker is free for it. */
static void rows_take(bk_webhooks *hooks, redisReply *reply)
{
    const redisReply *rows;
    size_t at;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_HOOK_ROWS, &rows, &at) != 0)
        return;
    const char *site, *id, *event, *body, *url, *secret;
    size_t len;
    while (bk_redis_reply_unpack_next(rows, &at, BK_SHAPE_HOOK_ROW, &site, &id, &event, &body, &len, &url,
                                      &secret) == 0) {
        worker *w = worker_of(hooks, site);
        if (w && w->state == WORKER_IDLE)  /* busy: what it is doing brings the next event when it is done */
            worker_send(w, id, event, body, len, url, secret);
    }
}

static void on_reported(redisReply *reply, void *data)
{
    worker *w = data;
    if (w->hooks->stopping) {
        w->state = WORKER_IDLE;
        return;
    }
    if (!reply || bk_redis_reply_error(reply))
        bk_warn("webhook of site %s: could not record event %s (%s); it will be sent again", w->site, w->id,
                reply ? bk_redis_reply_error(reply) : "Redis unavailable");
    w->state = WORKER_IDLE;
    w->woken = 0;  /* the reply carries the next event, if there is one */
    rows_take(w->hooks, reply);
    if (w->state == WORKER_IDLE)
        worker_idle(w);
}

static void worker_report(worker *w, const char *outcome, int status, const char *error)
{
    bk_webhooks *hooks = w->hooks;
    char code[16], attempts[16], now[24];
    snprintf(code, sizeof code, "%d", status);
    snprintf(attempts, sizeof attempts, "%d", w->attempts);
    snprintf(now, sizeof now, "%lld", (long long)bk_now_ms());
    char prefix[BK_KEYS_PREFIX_SIZE];
    bk_keys_prefix_of_site(hooks->server->config->prefix, w->site, prefix);
    const char *argv[] = { prefix, hooks->node, hooks->lease_ms, w->site, w->id, outcome,
                           code, error, attempts, now, w->event };
    w->state = WORKER_REPORTING;
    if (bk_store_script(hooks->server->store, hooks->scripts[SCRIPT_DONE], on_reported, w, 0, 11, argv, NULL) != 0)
        w->state = WORKER_IDLE;  /* Redis is away: the tick tries again, the event is resent */
}

/* ---- finding work --------------------------------------------------------------------- */

static void on_worker_claimed(redisReply *reply, void *data)
{
    worker *w = data;
    w->state = WORKER_IDLE;
    if (w->hooks->stopping)
        return;
    w->woken = 0;
    rows_take(w->hooks, reply);
    if (w->state == WORKER_IDLE)
        worker_idle(w);
}

static void worker_claim(worker *w)
{
    bk_webhooks *hooks = w->hooks;
    if (w->state != WORKER_IDLE || hooks->stopping)
        return;
    char prefix[BK_KEYS_PREFIX_SIZE];
    bk_keys_prefix_of_site(hooks->server->config->prefix, w->site, prefix);
    const char *argv[] = { prefix, hooks->node, hooks->lease_ms, w->site };
    w->state = WORKER_CLAIMING;
    if (bk_store_script(hooks->server->store, hooks->scripts[SCRIPT_CLAIM], on_worker_claimed, w, 0, 4, argv,
                        NULL) != 0)
        w->state = WORKER_IDLE;
}

void bk_webhooks_wake(bk_webhooks *hooks, const char *site)
{
    if (!hooks || hooks->stopping)
        return;
    worker *w = worker_of(hooks, site);
    if (!w)
        return;
    if (w->state == WORKER_IDLE)
        worker_claim(w);
    else if (w->state != WORKER_WAITING)
        w->woken = 1;  /* a failing event holds the line until its next attempt */
}

static void on_claimed_all(redisReply *reply, void *data)
{
    bk_webhooks *hooks = data;
    hooks->claiming_all--;
    if (!hooks->stopping)
        rows_take(hooks, reply);
}

/* Each second: take over sites whose lease lapsed (a node died), renew ours, and send what a
 * lost bus message would have announced; in each site slot (base/keys.h) this node knows of. */
static void on_tick(uv_timer_t *timer)
{
    bk_webhooks *hooks = timer->data;
    bk_server *server = hooks->server;
    if (hooks->claiming_all || !bk_store_is_up(server->store))
        return;
    for (size_t i = 0; i < server->slot_count; i++) {
        char prefix[BK_KEYS_PREFIX_SIZE];
        bk_keys_site_prefix(server->config->prefix, server->slot_tags[i], prefix);
        const char *argv[] = { prefix, hooks->node, hooks->lease_ms, "" };
        if (bk_store_script(server->store, hooks->scripts[SCRIPT_CLAIM], on_claimed_all, hooks, 0, 4, argv,
                            NULL) == 0)
            hooks->claiming_all++;
    }
}

/* ---- life ------------------------------------------------------------------------------- */

bk_webhooks *bk_webhooks_new(bk_server *server)
{
    bk_webhooks *hooks = calloc(1, sizeof *hooks);
    if (!hooks)
        return NULL;
    hooks->server = server;
    hooks->workers = bk_map_new();
    hooks->scripts[SCRIPT_CLAIM] = bk_store_script_add(server->store, bk_lua_hooks_claim);
    hooks->scripts[SCRIPT_DONE] = bk_store_script_add(server->store, bk_lua_hooks_done);
    hooks->scripts[SCRIPT_RETRY] = bk_store_script_add(server->store, bk_lua_hooks_retry);
    hooks->scripts[SCRIPT_RELEASE] = bk_store_script_add(server->store, bk_lua_hooks_release);
    if (bk_id_generate("n_", hooks->node, sizeof hooks->node) != 0)
        snprintf(hooks->node, sizeof hooks->node, "n_%ld", (long)getpid());
    snprintf(hooks->lease_ms, sizeof hooks->lease_ms, "%d", LEASE_MS);
    uv_timer_init(server->loop, &hooks->tick);
    hooks->tick.data = hooks;
    uv_timer_start(&hooks->tick, on_tick, TICK_MS, TICK_MS);
    return hooks;
}

typedef struct release_args {
    const char **argv;
    int argc;
} release_args;

static void worker_stop(const char *key, void *value, void *data)
{
    (void)key;
    worker *w = value;
    release_args *release = data;
    if (w->fetch) {
        bk_fetch_cancel(w->fetch);  /* the event stays in the stream: sent again at the next start */
        w->fetch = NULL;
    }
    uv_close((uv_handle_t *)&w->retry, NULL);
    if (release->argv)
        release->argv[release->argc++] = w->site;
}

static void count_workers(const char *key, void *value, void *data)
{
    (void)key, (void)value;
    (*(int *)data)++;
}

void bk_webhooks_shutdown(bk_webhooks *hooks)
{
    if (!hooks || hooks->stopping)
        return;
    hooks->stopping = 1;
    uv_close((uv_handle_t *)&hooks->tick, NULL);
    int count = 0;
    bk_map_each(hooks->workers, count_workers, &count);
    release_args release = { malloc((size_t)(count + 2) * sizeof(const char *)), 2 };
    bk_map_each(hooks->workers, worker_stop, &release);
    /* one call per site: each site's keys are in its own slot */
    for (int i = 2; release.argv && i < release.argc; i++) {
        char prefix[BK_KEYS_PREFIX_SIZE];
        bk_keys_prefix_of_site(hooks->server->config->prefix, release.argv[i], prefix);
        const char *argv[] = { prefix, hooks->node, release.argv[i] };
        bk_store_script(hooks->server->store, hooks->scripts[SCRIPT_RELEASE], NULL, NULL, 0, 3, argv, NULL);
    }
    free(release.argv);
}

static void worker_free(const char *key, void *value, void *data)
{
    (void)key, (void)data;
    free(value);
}

void bk_webhooks_free(bk_webhooks *hooks)
{
    if (!hooks)
        return;
    bk_map_each(hooks->workers, worker_free, NULL);
    bk_map_free(hooks->workers);
    bk_fetcher_free(hooks->fetcher);
    free(hooks);
}
