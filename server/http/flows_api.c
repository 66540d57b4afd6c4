/* flows_api.c - quick-reply flows over REST: list, get, save, delete, versions, revert,
 * validate. The flows are global keys (flows, flows:meta, flows:history:{site},
 * flows:version), read by chat/flow.c when a visitor's flow runs. */
#include "http/flows_api.h"

#include "http/reply.h"
#include "http/request.h"
#include "base/ids.h"
#include "base/keys.h"
#include "flows/flow.h"
#include "store/redis_reply.h"
#include "store/redis_shapes.h"
#include "lua/embedded.h"

#include <beckon/protocol.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { SCRIPT_SAVE, SCRIPT_DELETE, SCRIPT_REVERT, SCRIPT_GET, SCRIPT_COUNT };

struct bk_flows_api {
    bk_server *server;
    int scripts[SCRIPT_COUNT];
    char prefix[BK_KEYS_PREFIX_SIZE];
};

typedef struct pending {
    bk_flows_api *api;
    bk_http *request;
    char site[BK_ID_MAX + 1];
} pending;

static pending *pending_new(bk_flows_api *api, bk_http *request, const char *site)
{
    pending *p = calloc(1, sizeof *p);
    if (!p) {
        bk_api_reply_error(request, 500, BK_ERR_INTERNAL, "out of memory");
        return NULL;
    }
    p->api = api;
    p->request = request;
    snprintf(p->site, sizeof p->site, "%s", site ? site : "");
    return p;
}

#define FLOW_REFUSALS BK_REFUSALS(BK_ERR_NOT_FOUND, BK_ERR_WRONG_STATE)

static void run_script(pending *p, int script, bk_store_reply_fn fn, int argc, const char **argv,
                       bk_storage_effect effect)
{
    if (bk_store_script(p->api->server->store, p->api->scripts[script], fn, p, 0, argc, argv, NULL) != 0) {
        bk_api_reply_store_error(p->request, NULL, NULL, effect);
        free(p);
    }
}

/* {"error": {"code": "invalid_flow", "path", "message"}} */
static void respond_invalid(bk_http *request, const bk_flow_error *err)
{
    bk_api_reply_error_at(request, 400, "invalid_flow", err->path, err->message);
}

static void now_text(char out[24])
{
    snprintf(out, 24, "%lld", (long long)bk_now_ms());
}

static void on_saved(redisReply *reply, void *data)
{
    pending *p = data;
    long long version;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_INTEGER, &version) != 0)
        bk_api_reply_store_error(p->request, reply, FLOW_REFUSALS, BK_STORAGE_WRITE);
    else
        bk_api_reply_json(p->request, 200, json_pack("{s:s, s:I}", "site", p->site, "version", (json_int_t)version));
    free(p);
}

static void flow_save(bk_flows_api *api, bk_http *request, const char *site, const char *who)
{
    size_t len;
    const char *body = bk_http_body(request, &len);
    bk_flow_error err;
    if (bk_flow_validate_json(body, len, &err) != 0) {
        respond_invalid(request, &err);
        return;
    }
    json_t *flow = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    char *text = json_dumps(flow, JSON_COMPACT);
    json_decref(flow);
    pending *p = text ? pending_new(api, request, site) : NULL;
    if (!text)
        bk_api_reply_error(request, 500, BK_ERR_INTERNAL, "out of memory");
    if (p) {
        char now[24];
        now_text(now);
        const char *argv[] = { api->prefix, site, text, who, now };
        run_script(p, SCRIPT_SAVE, on_saved, 5, argv, BK_STORAGE_WRITE);
    }
    free(text);
}

static void flow_delete(bk_flows_api *api, bk_http *request, const char *site, const char *who)
{
    pending *p = pending_new(api, request, site);
    if (!p)
        return;
    char now[24];
    now_text(now);
    const char *argv[] = { api->prefix, site, who, now };
    run_script(p, SCRIPT_DELETE, on_saved, 4, argv, BK_STORAGE_WRITE);
}

static void on_reverted(redisReply *reply, void *data)
{
    pending *p = data;
    long long version;
    const char *flow;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_FLOW_REVERT, &version, &flow) != 0)
        bk_api_reply_store_error(p->request, reply, FLOW_REFUSALS, BK_STORAGE_WRITE);
    else
        bk_api_reply_json(p->request, 200, json_pack("{s:s, s:I, s:o}", "site", p->site, "version", (json_int_t)version,
                                                     "flow", json_loads(flow, 0, NULL)));
    free(p);
}

static void flow_revert(bk_flows_api *api, bk_http *request, const char *site, const char *who)
{
    json_t *body = bk_api_request_json(request);
    if (!body)
        return;
    json_t *version = json_object_get(body, "version");
    if (!json_is_integer(version) || json_integer_value(version) < 1) {
        json_decref(body);
        bk_api_reply_error(request, 400, BK_ERR_BAD_REQUEST, "version: expected a version number");
        return;
    }
    char number[24], now[24];
    snprintf(number, sizeof number, "%lld", (long long)json_integer_value(version));
    json_decref(body);
    now_text(now);
    pending *p = pending_new(api, request, site);
    if (!p)
        return;
    const char *argv[] = { api->prefix, site, number, who, now };
    run_script(p, SCRIPT_REVERT, on_reverted, 5, argv, BK_STORAGE_WRITE);
}

/* {site, version, by, at, flow} from a flow and its meta ({"version","by","at"}). */
static json_t *flow_entry(const char *site, const char *flow_json, const char *meta_json)
{
    json_t *entry = json_loads(meta_json, 0, NULL);
    if (!json_is_object(entry)) {
        json_decref(entry);
        entry = json_object();
    }
    json_object_set_new(entry, "site", json_string(site));
    json_t *flow = json_loads(flow_json, 0, NULL);
    json_object_set_new(entry, "flow", flow ? flow : json_null());
    return entry;
}

static void on_flows_read(redisReply *reply, void *data)
{
    pending *p = data;
    const redisReply *flows;
    size_t at;
    const char *site, *flow, *meta;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_FLOWS, &flows, &at) != 0) {
        bk_api_reply_store_error(p->request, reply, FLOW_REFUSALS, BK_STORAGE_READ);
    } else if (p->site[0]) {
        if (bk_redis_reply_unpack_next(flows, &at, BK_SHAPE_FLOW_ENTRY, &site, &flow, &meta) != 0)
            bk_api_reply_error(p->request, 404, BK_ERR_NOT_FOUND, "this site has no flow");
        else
            bk_api_reply_json(p->request, 200, flow_entry(p->site, flow, meta));
    } else {
        json_t *list = json_array();
        while (bk_redis_reply_unpack_next(flows, &at, BK_SHAPE_FLOW_ENTRY, &site, &flow, &meta) == 0)
            json_array_append_new(list, flow_entry(site, flow, meta));
        bk_api_reply_json(p->request, 200, json_pack("{s:o}", "flows", list));
    }
    free(p);
}

static void flows_read(bk_flows_api *api, bk_http *request, const char *site)
{
    pending *p = pending_new(api, request, site);
    if (!p)
        return;
    const char *argv[] = { api->prefix, site ? site : "" };
    run_script(p, SCRIPT_GET, on_flows_read, 2, argv, BK_STORAGE_READ);
}

static void on_versions(redisReply *reply, void *data)
{
    pending *p = data;
    const redisReply *entries;
    size_t at;
    const char *text;
    size_t len;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_LIST, &entries, &at) != 0) {
        bk_api_reply_store_error(p->request, reply, FLOW_REFUSALS, BK_STORAGE_READ);
    } else if (at == entries->elements) {
        bk_api_reply_error(p->request, 404, BK_ERR_NOT_FOUND, "this site never had a flow");
    } else {
        json_t *list = json_array();
        while (bk_redis_reply_unpack_next(entries, &at, BK_SHAPE_LIST_ENTRY, &text, &len) == 0) {
            json_t *entry = json_loadb(text, len, 0, NULL);
            if (entry)
                json_array_append_new(list, entry);
        }
        bk_api_reply_json(p->request, 200, json_pack("{s:s, s:o}", "site", p->site, "versions", list));
    }
    free(p);
}

static void flow_versions(bk_flows_api *api, bk_http *request, const char *site)
{
    pending *p = pending_new(api, request, site);
    if (!p)
        return;
    char key[BK_KEYS_PREFIX_SIZE + BK_ID_MAX + 16];
    snprintf(key, sizeof key, "%sflows:history:%s", api->prefix, site);
    const char *argv[] = { "LRANGE", key, "0", "-1" };
    if (bk_store_command(api->server->store, on_versions, p, 4, argv, NULL) != 0) {
        bk_api_reply_store_error(request, NULL, NULL, BK_STORAGE_READ);
        free(p);
    }
}

static void flow_validate(bk_http *request)
{
    size_t len;
    const char *body = bk_http_body(request, &len);
    bk_flow_error err;
    if (bk_flow_validate_json(body, len, &err) != 0)
        respond_invalid(request, &err);
    else
        bk_api_reply_json(request, 200, json_pack("{s:b}", "valid", 1));
}

void bk_flows_api_handle(bk_flows_api *api, bk_http *request, const char *who)
{
    const char *method = bk_http_method(request);
    const char *path = bk_http_path(request);
    int get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
    if (strcmp(path, "/api/flows") == 0) {
        if (get)
            flows_read(api, request, NULL);
        else
            bk_api_reply_error(request, 405, BK_ERR_BAD_REQUEST, "use GET, or PUT /api/flows/{site}");
        return;
    }
    if (post && strcmp(path, "/api/flows/validate") == 0) {
        flow_validate(request);
        return;
    }
    char site[BK_ID_MAX + 1];
    const char *action;
    if (bk_api_request_id(request, strlen("/api/flows/"), site, &action) != 0) {
        bk_api_reply_error(request, 404, BK_ERR_NOT_FOUND, "site ids are [A-Za-z0-9_-]{1,64}");
        return;
    }
    if (!action[0]) {
        if (get)
            flows_read(api, request, site);
        else if (strcmp(method, "PUT") == 0)
            flow_save(api, request, site, who);
        else if (strcmp(method, "DELETE") == 0)
            flow_delete(api, request, site, who);
        else
            bk_api_reply_error(request, 405, BK_ERR_BAD_REQUEST, "use GET, PUT or DELETE");
    } else if (strcmp(action, "/versions") == 0 && get) {
        flow_versions(api, request, site);
    } else if (strcmp(action, "/revert") == 0 && post) {
        flow_revert(api, request, site, who);
    } else {
        bk_api_reply_error(request, 404, BK_ERR_NOT_FOUND, "no such route");
    }
}

bk_flows_api *bk_flows_api_new(bk_server *server)
{
    bk_flows_api *api = calloc(1, sizeof *api);
    if (!api)
        return NULL;
    bk_keys_global_prefix(server->config->prefix, api->prefix);
    const char *const sources[SCRIPT_COUNT] = {
        [SCRIPT_SAVE] = bk_lua_flow_save,
        [SCRIPT_DELETE] = bk_lua_flow_delete,
        [SCRIPT_REVERT] = bk_lua_flow_revert,
        [SCRIPT_GET] = bk_lua_flows_get,
    };
    api->server = server;
    for (int i = 0; i < SCRIPT_COUNT; i++)
        api->scripts[i] = bk_store_script_add(server->store, sources[i]);
    return api;
}

void bk_flows_api_free(bk_flows_api *api)
{
    free(api);
}
