/* beacon.c - POST /api/events: page views and events sent with navigator.sendBeacon, tracked
 * as the socket's would be. */
#include "http/beacon.h"

#include "http/reply.h"
#include "base/ids.h"
#include "protocol/proto.h"
#include "store/redis_reply.h"
#include "store/redis_shapes.h"
#include "triggers/triggers.h"

#include <beckon/protocol.h>
#include <jansson.h>

static void on_beacon_tracked(redisReply *reply, void *data)
{
    bk_http *request = data;
    const char *profile;  /* "": the beacon keeps no profile (track.lua) */
    size_t len;
    long long rev, visits, visit_started, visit_pages;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_TRACK, &profile, &len, &rev, &visits, &visit_started, &visit_pages) == 0)
        bk_api_reply_json(request, 202, json_pack("{s:b}", "ok", 1));
    else  /* the script refuses what the socket path refuses: no consent (403), or a visitor
           * that is no longer stored, erased (401) */
        bk_api_reply_store_error(request, reply, BK_REFUSALS(BK_ERR_CONSENT_REQUIRED, BK_ERR_INVALID_TOKEN),
                                 BK_STORAGE_WRITE);
}

/* navigator.sendBeacon cannot set headers, so the visitor token travels in the body. */
void bk_beacon_handle(bk_server *server, bk_http *request)
{
    size_t len;
    const char *body = bk_http_body(request, &len);
    bk_request event;
    bk_error err;
    char visitor[BK_ID_MAX + 1];
    if (bk_request_parse(BK_ROLE_VISITOR, body, len, &event, &err) != 0) {
        bk_api_reply_error(request, 400, err.code, err.message);
    } else if (event.type != BK_REQ_PAGE_VIEW && event.type != BK_REQ_EVENT) {
        bk_api_reply_error(request, 400, BK_ERR_UNKNOWN_TYPE, "only page_view and event are accepted here");
    } else if (!json_is_string(json_object_get(event.root, "token")) ||
               bk_token_verify(server->secret, json_string_value(json_object_get(event.root, "token")),
                               visitor, sizeof visitor) != 0) {
        bk_api_reply_error(request, 401, BK_ERR_INVALID_TOKEN, "token: a visitor token from welcome is required");
    } else if (bk_triggers_track(server->triggers, visitor, &event, on_beacon_tracked, request) != 0) {
        bk_api_reply_store_error(request, NULL, NULL, BK_STORAGE_WRITE);
    }
    bk_request_release(&event);
}
