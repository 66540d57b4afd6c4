/* metrics.h - counters and gauges for GET /metrics (Prometheus text format 0.0.4).
 *
 * One process-wide set, updated on the loop thread only, so plain integers suffice. */
#ifndef BK_METRICS_H
#define BK_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct bk_metrics {
    int64_t visitors_connected;     /* gauges */
    int64_t agents_connected;
    int64_t http_connections;       /* connections serving plain HTTP (counted per client address) */
    int64_t messages_stored;        /* counters */
    int64_t frames_received;
    int64_t http_requests;
    int64_t invitations_sent;
    int64_t rate_limited;
    int64_t connections_refused;    /* per-IP limit, shutdown */
    int64_t http_connections_refused;  /* max-http-connections-per-ip, or too many sockets at all */
    int64_t http_body_timeouts;     /* request bodies not whole within body-timeout-seconds */
    int64_t slow_consumers_dropped;
    int64_t hello_timeouts;
    int64_t webhooks_delivered;     /* events a receiver answered with 2xx */
    int64_t webhooks_failed;        /* events given up after webhook-max-attempts */
    int64_t webhooks_retries;       /* attempts that failed and were scheduled again */
    int64_t bus_messages_received;  /* messages the bus brought this node (store.c) */
} bk_metrics;

extern bk_metrics bk_metrics_now;

/* Counters with a label: errors by code, invitations by rule. Labels are copied. */
void bk_metrics_error(const char *code);
void bk_metrics_invitation(const char *rule);
/* A Redis reply of an unexpected shape, by the reader that got it (reply.h). */
void bk_metrics_odd_reply(const char *reader);

/* Writes the exposition into a malloc'd string; the caller adds the Redis gauges it read. */
char *bk_metrics_render(int redis_up, double redis_latency_ms, long long queue_length);

void bk_metrics_free(void);

#endif
