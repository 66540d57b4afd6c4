/* canned.c - canned responses: one hash, id -> {"shortcut","text"}, shared by every agent. */
#include "http/canned.h"

#include "http/reply.h"
#include "http/request.h"
#include "base/ids.h"
#include "base/keys.h"
#include "store/redis_reply.h"
#include "store/redis_shapes.h"

#include <beckon/protocol.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void on_canned_list(redisReply *reply, void *data)
{
    bk_http *request = data;
    const redisReply *fields;
    size_t at;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_HASH, &fields, &at) != 0) {
        bk_api_reply_store_error(request, reply, NULL, BK_STORAGE_READ);
        return;
    }
    json_t *list = json_array();
    const char *id, *value;
    size_t len;
    while (bk_redis_reply_unpack_next(fields, &at, BK_SHAPE_HASH_FIELD, &id, &value, &len) == 0) {
        json_t *entry = json_loadb(value, len, 0, NULL);
        if (!json_is_object(entry)) {
            json_decref(entry);
            continue;
        }
        json_object_set_new(entry, "id", json_string(id));
        json_array_append_new(list, entry);
    }
    bk_api_reply_json(request, 200, json_pack("{s:o}", "canned", list));
}

static void on_canned_changed(redisReply *reply, void *data)
{
    bk_http *request = data;
    long long changed;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_INTEGER, &changed) != 0)
        bk_api_reply_store_error(request, reply, NULL, BK_STORAGE_WRITE);
    else if (strcmp(bk_http_method(request), "DELETE") == 0 && changed == 0)
        bk_api_reply_error(request, 404, BK_ERR_NOT_FOUND, "no such canned response");
    else
        bk_api_reply_json(request, 200, json_pack("{s:b}", "ok", 1));
}

void bk_canned_handle(bk_server *server, bk_http *request)
{
    const char *method = bk_http_method(request);
    const char *path = bk_http_path(request);
    char key[64], prefix[BK_KEYS_PREFIX_SIZE];
    bk_keys_global_prefix(server->config->prefix, prefix);
    snprintf(key, sizeof key, "%scanned", prefix);
    int rc;
    if (strcmp(path, "/api/canned") == 0) {
        if (strcmp(method, "GET") != 0) {
            bk_api_reply_error(request, 405, BK_ERR_BAD_REQUEST, "use GET, or PUT /api/canned/{id}");
            return;
        }
        const char *argv[] = { "HGETALL", key };
        rc = bk_store_command(server->store, on_canned_list, request, 2, argv, NULL);
    } else {
        char id[BK_ID_MAX + 1];
        const char *rest;
        if (bk_api_request_id(request, strlen("/api/canned/"), id, &rest) != 0 || rest[0]) {
            bk_api_reply_error(request, 404, BK_ERR_NOT_FOUND, "canned response ids are [A-Za-z0-9_-]{1,64}");
            return;
        }
        if (strcmp(method, "DELETE") == 0) {
            const char *argv[] = { "HDEL", key, id };
            rc = bk_store_command(server->store, on_canned_changed, request, 3, argv, NULL);
        } else if (strcmp(method, "PUT") == 0) {
            size_t len;
            const char *body = bk_http_body(request, &len);
            json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
            const char *shortcut = NULL, *text = NULL;
            if (!root || json_unpack(root, "{s:s, s:s}", "shortcut", &shortcut, "text", &text) != 0 ||
                strlen(shortcut) == 0 || strlen(shortcut) > 32 || strlen(text) == 0 || strlen(text) > 4000) {
                json_decref(root);
                bk_api_reply_error(request, 400, BK_ERR_BAD_REQUEST,
                                   "expected {\"shortcut\": 1-32 characters, \"text\": 1-4000 characters}");
                return;
            }
            json_t *entry = json_pack("{s:s, s:s}", "shortcut", shortcut, "text", text);
            char *value = json_dumps(entry, JSON_COMPACT | JSON_SORT_KEYS);
            json_decref(entry);
            json_decref(root);
            const char *argv[] = { "HSET", key, id, value ? value : "{}" };
            rc = bk_store_command(server->store, on_canned_changed, request, 4, argv, NULL);
            free(value);
        } else {
            bk_api_reply_error(request, 405, BK_ERR_BAD_REQUEST, "use PUT or DELETE");
            return;
        }
    }
    if (rc != 0)
        bk_api_reply_store_error(request, NULL, NULL,
                                 strcmp(method, "GET") == 0 ? BK_STORAGE_READ : BK_STORAGE_WRITE);
}
