/* webhook_api.c - a site's webhook over REST: its delivery state and a test event. Delivery
 * itself is workers/webhooks.c's. */
#include "http/webhook_api.h"

#include "http/reply.h"
#include "store/redis_reply.h"
#include "store/redis_shapes.h"
#include "lua/embedded.h"

#include <beckon/protocol.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

enum { SCRIPT_PING, SCRIPT_STATUS, SCRIPT_COUNT };

struct bk_webhook_api {
    bk_server *server;
    int scripts[SCRIPT_COUNT];
};

static void on_status(redisReply *reply, void *data)
{
    bk_http *request = data;
    const char *status;
    size_t len;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_TEXT, &status, &len) == 0)
        bk_http_respond(request, 200, "application/json", status, len);  /* the script wrote the JSON */
    else
        bk_api_reply_store_error(request, reply, BK_REFUSALS(BK_ERR_NOT_FOUND), BK_STORAGE_READ);
}

static void on_ping(redisReply *reply, void *data)
{
    bk_http *request = data;
    const char *id;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_STRING, &id) == 0)
        bk_api_reply_json(request, 202, json_pack("{s:b, s:s}", "ok", 1, "id", id));
    else
        bk_api_reply_store_error(request, reply, BK_REFUSALS(BK_ERR_NOT_FOUND), BK_STORAGE_WRITE);
}

void bk_webhook_api_handle(bk_webhook_api *api, bk_http *request, const char *site, const char *action)
{
    const char *method = bk_http_method(request);
    char prefix[BK_KEYS_PREFIX_SIZE];
    bk_keys_prefix_of_site(api->server->config->prefix, site, prefix);
    const char *argv[] = { prefix, site };
    int rc;
    if (strcmp(action, "") == 0) {
        if (strcmp(method, "GET") != 0) {
            bk_api_reply_error(request, 405, BK_ERR_BAD_REQUEST, "use GET (settings: PUT /api/sites/{id})");
            return;
        }
        rc = bk_store_script(api->server->store, api->scripts[SCRIPT_STATUS], on_status, request, 0, 2, argv, NULL);
    } else if (strcmp(action, "/test") == 0) {
        if (strcmp(method, "POST") != 0) {
            bk_api_reply_error(request, 405, BK_ERR_BAD_REQUEST, "use POST");
            return;
        }
        rc = bk_store_script(api->server->store, api->scripts[SCRIPT_PING], on_ping, request, 0, 2, argv, NULL);
    } else {
        bk_api_reply_error(request, 404, BK_ERR_NOT_FOUND, "no such route");
        return;
    }
    if (rc != 0)
        bk_api_reply_store_error(request, NULL, NULL, strcmp(action, "") == 0 ? BK_STORAGE_READ : BK_STORAGE_WRITE);
}

bk_webhook_api *bk_webhook_api_new(bk_server *server)
{
    bk_webhook_api *api = calloc(1, sizeof *api);
    if (!api)
        return NULL;
    api->server = server;
    api->scripts[SCRIPT_PING] = bk_store_script_add(server->store, bk_lua_hooks_ping);
    api->scripts[SCRIPT_STATUS] = bk_store_script_add(server->store, bk_lua_hooks_status);
    return api;
}

void bk_webhook_api_free(bk_webhook_api *api)
{
    free(api);
}
