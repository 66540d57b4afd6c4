/* privacy.c - export and erasure of a visitor's data. */
#include "http/privacy.h"

#include "http/api.h"
#include "base/ids.h"
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

/* Answers a reply that could not be read: the script's not_found, or storage trouble. */
static void store_failed(bk_http *request, const redisReply *reply)
{
    const char *missing = bk_redis_reply_refusal(reply, BK_ERR_NOT_FOUND);
    if (missing)
        bk_api_respond_error(request, 404, BK_ERR_NOT_FOUND, missing);
    else
        bk_api_respond_error(request, 503, BK_ERR_UNAVAILABLE, "storage is unavailable; try again");
}

static void on_exported(redisReply *reply, void *data)
{
    request_of *r = data;
    const char *text;
    size_t len;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_TEXT, &text, &len) != 0) {
        store_failed(r->request, reply);
    } else {
        json_t *body = json_loadb(text, len, 0, NULL);
        if (!body) {
            bk_api_respond_error(r->request, 500, BK_ERR_INTERNAL, "could not read the export");
        } else {
            /* Decode what the hashes keep as JSON text, so the export reads as one document. */
            json_t *profile = json_object_get(body, "visitor");
            const char *attrs = json_string_value(json_object_get(profile, "attrs"));
            if (attrs)
                json_object_set_new(profile, "attrs", json_loads(attrs, 0, NULL));
            json_object_set_new(body, "id", json_string(r->visitor));
            json_object_set_new(body, "exported", json_integer(bk_now_ms()));
            bk_info("visitor %s exported by %s", r->visitor, r->who);
            bk_api_respond_json(r->request, 200, body);
        }
    }
    free(r);
}

static void on_forgotten(redisReply *reply, void *data)
{
    request_of *r = data;
    long long deleted;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_INTEGER, &deleted) != 0) {
        store_failed(r->request, reply);
    } else {
        bk_info("visitor %s erased by %s (%lld keys and entries)", r->visitor, r->who, deleted);
        bk_api_respond_json(r->request, 200, json_pack("{s:s, s:I}", "erased", r->visitor, "deleted",
                                                       (json_int_t)deleted));
    }
    free(r);
}

void bk_privacy_handle(bk_privacy *privacy, bk_http *request, const char *who)
{
    const char *method = bk_http_method(request);
    const char *rest = bk_http_path(request) + strlen("/api/visitors/");
    size_t id_len = strcspn(rest, "/");
    const char *action = rest[id_len] == '/' ? rest + id_len + 1 : NULL;
    request_of *r = calloc(1, sizeof *r);
    if (!r) {
        bk_api_respond_error(request, 500, BK_ERR_INTERNAL, "out of memory");
        return;
    }
    r->request = request;
    snprintf(r->who, sizeof r->who, "%s", who);
    if (id_len == 0 || id_len > BK_ID_MAX) {
        free(r);
        bk_api_respond_error(request, 404, BK_ERR_NOT_FOUND, "no such visitor");
        return;
    }
    memcpy(r->visitor, rest, id_len);
    r->visitor[id_len] = '\0';
    if (!bk_id_valid(r->visitor)) {
        free(r);
        bk_api_respond_error(request, 404, BK_ERR_NOT_FOUND, "no such visitor");
        return;
    }
    const char *argv[] = { privacy->server->config->prefix, r->visitor };
    int script;
    bk_store_reply_fn fn;
    if (action && strcmp(action, "export") == 0 && strcmp(method, "GET") == 0) {
        script = SCRIPT_EXPORT;
        fn = on_exported;
    } else if (!action && strcmp(method, "DELETE") == 0) {
        script = SCRIPT_FORGET;
        fn = on_forgotten;
    } else {
        free(r);
        bk_api_respond_error(request, 404, BK_ERR_NOT_FOUND,
                             "GET /api/visitors/{id}/export or DELETE /api/visitors/{id}");
        return;
    }
    if (bk_store_script(privacy->server->store, privacy->scripts[script], fn, r, 0, 2, argv, NULL) != 0) {
        free(r);
        bk_api_respond_error(request, 503, BK_ERR_UNAVAILABLE, "storage is unavailable; try again");
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
