/* monitoring.c - /healthz and /metrics: how this process and its Redis are doing. */
#include "http/monitoring.h"

#include "http/reply.h"
#include "base/metrics.h"
#include "chat/chat.h"
#include "store/redis_reply.h"
#include "store/redis_shapes.h"

#include <beckon/protocol.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void bk_monitoring_health(bk_server *server, bk_http *request)
{
    int up = bk_store_is_up(server->store);
    bk_api_reply_json(request, up ? 200 : 503,
                      json_pack("{s:s, s:s, s:f, s:s}", "status", up ? "ok" : "degraded",
                                "redis", up ? "up" : "down",
                                "redis_latency_ms", bk_store_last_latency_ms(server->store),
                                "version", BK_VERSION));
}

static void metrics_respond(bk_server *server, bk_http *request, long long queue_length)
{
    char *body = bk_metrics_render(bk_store_is_up(server->store), bk_store_last_latency_ms(server->store),
                                   queue_length);
    if (!body) {
        bk_api_reply_error(request, 500, BK_ERR_INTERNAL, "out of memory");
        return;
    }
    bk_http_respond(request, 200, "text/plain; version=0.0.4", body, strlen(body));
    free(body);
}

/* The queue is one per site slot (base/keys.h): its length is the sum of their ZCARDs. */
typedef struct metrics_call {
    bk_server *server;
    bk_http *request;
    long long length;     /* -1 once a slot did not answer */
    size_t waiting;
} metrics_call;

static void metrics_slot_done(metrics_call *m)
{
    if (--m->waiting > 0)
        return;
    metrics_respond(m->server, m->request, m->length);
    free(m);
}

static void on_queue_length(redisReply *reply, void *data)
{
    metrics_call *m = data;
    long long length;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_INTEGER, &length) != 0)
        m->length = -1;
    else if (m->length >= 0)
        m->length += length;
    metrics_slot_done(m);
}

/* The queue length is Redis's; everything else is this process's. Without Redis the
 * exposition still answers, without the queue gauge. */
void bk_monitoring_metrics(bk_server *server, bk_http *request)
{
    metrics_call *m = malloc(sizeof *m);
    if (!m) {
        metrics_respond(server, request, -1);
        return;
    }
    /* one more waiting, dropped below: no slot is done before the last is asked */
    *m = (metrics_call){ server, request, 0, bk_chat_slot_count(server->chat) + 1 };
    for (size_t i = 0; i < bk_chat_slot_count(server->chat); i++) {
        char prefix[BK_KEYS_PREFIX_SIZE], key[BK_KEYS_PREFIX_SIZE + 8];
        bk_chat_slot_prefix(server->chat, i, prefix);
        snprintf(key, sizeof key, "%squeue", prefix);
        const char *argv[] = { "ZCARD", key };
        if (bk_store_command(server->store, on_queue_length, m, 2, argv, NULL) != 0) {
            m->length = -1;
            m->waiting--;
        }
    }
    metrics_slot_done(m);
}
