/* monitoring.h - the routes for operators and their monitoring; no login.
 *
 * GET /healthz: {"status", "redis", "redis_latency_ms", "version"}, 503 while Redis is down.
 * GET /metrics: the Prometheus exposition (base/metrics.h), with Redis's queue length. */
#ifndef BK_MONITORING_H
#define BK_MONITORING_H

#include "server.h"

void bk_monitoring_health(bk_server *server, bk_http *request);
void bk_monitoring_metrics(bk_server *server, bk_http *request);

#endif
