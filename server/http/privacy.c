/* privacy.c - export and erasure of a visitor's data. */
#include "http/privacy.h"

#include "http/reply.h"
#include "http/request.h"
#include "base/ids.h"
#include "base/keys.h"
#include "base/log.h"
#include "store/redis_reply.h"
#include "store/redis_shapes.h"
#include "lua/embedded.h"

#include <beckon/protocol.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

enum { SCRIPT_EXPORT, SCRIPT_FORGET, SCRIPT_COUNT };

struct bk_privacy {
    bk_server *server;
    int scripts[SCRIPT_COUNT];
};

typedef struct request_of {
    bk_http *request;
    char visitor[BK_ID_MAX + 1];
    char who[BK_ID_MAX + 1];
} request_of;

static void on_exported(redisReply *reply, void *data)
{
    request_of *r = data;
    const char *text;
    size_t len;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_TEXT, &text, &len) != 0) {
        bk_api_reply_store_error(r->request, reply, BK_REFUSALS(BK_ERR_NOT_FOUND), BK_STORAGE_READ);
    } else {
        json_t *body = json_loadb(text, len, 0, NULL);
        if (!body) {
            bk_api_reply_error(r->request, 500, BK_ERR_INTERNAL, "could not read the export");
        } else {
            /* Decode what the hashes keep as JSON text, so the export reads as one document. */
            json_t *profile = json_object_get(body, "visitor");
            const char *attrs = json_string_value(json_object_get(profile, "attrs"));
            if (attrs)
                json_object_set_new(profile, "attrs", json_loads(attrs, 0, NULL));
            json_object_set_new(body, "id", json_string(r->visitor));
            json_object_set_new(body, "exported", json_integer(bk_now_ms()));
            bk_info("visitor %s exported by %s", r->visitor, r->who);
            bk_api_reply_json(r->request, 200, body);
        }
    }
    free(r);
}

static void on_forgotten(redisReply *reply, void *data)
{
    request_of *r = data;
    long long deleted;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_INTEGER, &deleted) != 0) {
        bk_api_reply_store_error(r->request, reply, BK_REFUSALS(BK_ERR_NOT_FOUND), BK_STORAGE_WRITE);
    } else {
        bk_info("visitor %s erased by %s (%lld keys and entries)", r->visitor, r->who, deleted);
        bk_api_reply_json(r->request, 200, json_pack("{s:s, s:I}", "erased", r->visitor, "deleted",
                                                     (json_int_t)deleted));
    }
    free(r);
}

void bk_privacy_handle(bk_privacy *privacy, bk_http *request, const char *who)
{
    const char *method = bk_http_method(request);
    char visitor[BK_ID_MAX + 1];
    const char *action;
    if (bk_api_request_id(request, strlen("/api/visitors/"), visitor, &action) != 0) {
        bk_api_reply_error(request, 404, BK_ERR_NOT_FOUND, "no such visitor");
        return;
    }
    int script;
    bk_store_reply_fn fn;
    if (strcmp(action, "/export") == 0 && strcmp(method, "GET") == 0) {
        script = SCRIPT_EXPORT;
        fn = on_exported;
    } else if (!action[0] && strcmp(method, "DELETE") == 0) {
        script = SCRIPT_FORGET;
        fn = on_forgotten;
    } else {
        bk_api_reply_error(request, 404, BK_ERR_NOT_FOUND,
                           "GET /api/visitors/{id}/export or DELETE /api/visitors/{id}");
        return;
    }
    request_of *r = calloc(1, sizeof *r);
    if (!r) {
        bk_api_reply_error(request, 500, BK_ERR_INTERNAL, "out of memory");
        return;
    }
    r->request = request;
    snprintf(r->who, sizeof r->who, "%s", who);
    memcpy(r->visitor, visitor, sizeof visitor);
    char prefix[BK_KEYS_PREFIX_SIZE];
    bk_keys_prefix_of_id(privacy->server->config->prefix, r->visitor, prefix);
    const char *argv[] = { prefix, r->visitor };
    if (bk_store_script(privacy->server->store, privacy->scripts[script], fn, r, 0, 2, argv, NULL) != 0) {
        free(r);
        bk_api_reply_store_error(request, NULL, NULL,
                                 script == SCRIPT_EXPORT ? BK_STORAGE_READ : BK_STORAGE_WRITE);
    }
}

bk_privacy *bk_privacy_new(bk_server *server)
{
    bk_privacy *privacy = calloc(1, sizeof *privacy);
    if (!privacy)
        return NULL;
    privacy->server = server;
    privacy->scripts[SCRIPT_EXPORT] = bk_store_script_add(server->store, bk_lua_visitor_export);
    privacy->scripts[SCRIPT_FORGET] = bk_store_script_add(server->store, bk_lua_visitor_forget);
    return privacy;
}

void bk_privacy_free(bk_privacy *privacy)
{
    free(privacy);
}
