/* metrics.c - the counters behind GET /metrics. */
#include "base/metrics.h"

#include "base/map.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bk_metrics bk_metrics_now;

static bk_map *errors;        /* code -> count (the pointer value is the count) */
static bk_map *invitations;   /* rule -> count */
static bk_map *odd_replies;   /* reader -> count */

static void labelled_add(bk_map **map, const char *label)
{
    if (!*map && !(*map = bk_map_new()))
        return;
    uintptr_t count = (uintptr_t)bk_map_get(*map, label);
    bk_map_set(*map, label, (void *)(count + 1));
}

void bk_metrics_error(const char *code)
{
    labelled_add(&errors, code);
}

void bk_metrics_invitation(const char *rule)
{
    labelled_add(&invitations, rule);
}

void bk_metrics_odd_reply(const char *reader)
{
    labelled_add(&odd_replies, reader);
}

typedef struct text {
    char *buf;
    size_t len, cap;
} text;

static void text_add(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void text_add(text *t, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf ? t->buf + t->len : NULL, t->buf ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if (t->buf && t->len + (size_t)n < t->cap) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap ? t->cap * 2 : 4096;
        while (cap < t->len + (size_t)n + 1)
            cap *= 2;
        char *grown = realloc(t->buf, cap);
        if (!grown)
            return;
        t->buf = grown;
        t->cap = cap;
    }
}

static void metric(text *t, const char *name, const char *type, const char *help, long long value)
{
    text_add(t, "# HELP %s %s\n# TYPE %s %s\n%s %lld\n", name, help, name, type, name, value);
}

typedef struct labelled {
    text *t;
    const char *name;
    const char *label;
} labelled;

static void labelled_line(const char *key, void *value, void *data)
{
    labelled *l = data;
    text_add(l->t, "%s{%s=\"%s\"} %llu\n", l->name, l->label, key, (unsigned long long)(uintptr_t)value);
}

static void labelled_metric(text *t, bk_map *map, const char *name, const char *label, const char *help)
{
    text_add(t, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
    if (map) {
        labelled l = { t, name, label };
        bk_map_each(map, labelled_line, &l);
    }
}

char *bk_metrics_render(int redis_up, double redis_latency_ms, long long queue_length)
{
    const bk_metrics *m = &bk_metrics_now;
    text t = { 0 };
    text_add(&t, "# HELP beckon_connections Open WebSocket connections by kind.\n"
                 "# TYPE beckon_connections gauge\n"
                 "beckon_connections{kind=\"visitor\"} %lld\nbeckon_connections{kind=\"agent\"} %lld\n",
             (long long)m->visitors_connected, (long long)m->agents_connected);
    metric(&t, "beckon_messages_stored_total", "counter", "Chat messages acknowledged (stored in Redis).",
           m->messages_stored);
    metric(&t, "beckon_frames_received_total", "counter", "WebSocket messages received.", m->frames_received);
    metric(&t, "beckon_http_requests_total", "counter", "REST requests handled.", m->http_requests);
    metric(&t, "beckon_bus_messages_received_total", "counter",
           "Messages the bus brought this node (only the channels of its own sockets, and the nodes').",
           m->bus_messages_received);
    metric(&t, "beckon_rate_limited_total", "counter", "Requests refused by a rate limit.", m->rate_limited);
    metric(&t, "beckon_connections_refused_total", "counter",
           "WebSocket handshakes refused (per-IP limit, shutting down).", m->connections_refused);
    metric(&t, "beckon_http_connections", "gauge",
           "Open connections serving plain HTTP (WebSockets are beckon_connections).", m->http_connections);
    metric(&t, "beckon_http_connections_refused_total", "counter",
           "HTTP connections refused: per-address limit (429), or too many sockets from one address.",
           m->http_connections_refused);
    metric(&t, "beckon_http_body_timeouts_total", "counter",
           "HTTP requests dropped because their body did not arrive within body-timeout-seconds.",
           m->http_body_timeouts);
    metric(&t, "beckon_slow_consumers_dropped_total", "counter",
           "Connections closed because they did not read (send queue full).", m->slow_consumers_dropped);
    metric(&t, "beckon_hello_timeouts_total", "counter",
           "Connections closed for saying no hello in time.", m->hello_timeouts);
    text_add(&t, "# HELP beckon_webhooks_total Webhook events by outcome (delivered, failed after the last "
                 "attempt), and failed attempts that were retried.\n# TYPE beckon_webhooks_total counter\n"
                 "beckon_webhooks_total{outcome=\"delivered\"} %lld\nbeckon_webhooks_total{outcome=\"failed\"} %lld\n"
                 "beckon_webhooks_total{outcome=\"retried\"} %lld\n",
             (long long)m->webhooks_delivered, (long long)m->webhooks_failed, (long long)m->webhooks_retries);
    labelled_metric(&t, errors, "beckon_errors_total", "code", "Error replies sent, by protocol error code.");
    labelled_metric(&t, invitations, "beckon_invitations_total", "rule", "Invitations sent, by rule.");
    labelled_metric(&t, odd_replies, "beckon_redis_odd_replies_total", "reader",
                    "Redis replies of an unexpected shape, answered as unavailable, by the reader that got them.");
    metric(&t, "beckon_redis_up", "gauge", "1 when the Redis command link is up.", redis_up);
    text_add(&t, "# HELP beckon_redis_latency_seconds Round trip of the last Redis command.\n"
                 "# TYPE beckon_redis_latency_seconds gauge\nbeckon_redis_latency_seconds %.6f\n",
             redis_latency_ms / 1000.0);
    if (queue_length >= 0)
        metric(&t, "beckon_queue_length", "gauge", "Conversations waiting for an agent.", queue_length);
    return t.buf;
}

void bk_metrics_free(void)
{
    bk_map_free(errors);
    bk_map_free(invitations);
    bk_map_free(odd_replies);
    errors = invitations = odd_replies = NULL;
}
