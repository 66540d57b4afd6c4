/* rules_api.c - rules over REST: list, get, save, delete, versions, revert, validate; and the
 * rules file imported at start. The dry run and the stats are rules_dry_run.c and
 * rules_stats.c. */
#include "http/rules_api.h"

#include "http/reply.h"
#include "http/request.h"
#include "base/ids.h"
#include "base/keys.h"
#include "base/log.h"
#include "store/redis_reply.h"
#include "store/redis_shapes.h"
#include "lua/embedded.h"

#include <beckon/protocol.h>
#include <beckon/rules.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IMPORT_RETRY_MS  250

enum { SCRIPT_SAVE, SCRIPT_DELETE, SCRIPT_REVERT, SCRIPT_GET, SCRIPT_COUNT };

struct bk_rules_api {
    bk_server *server;
    int scripts[SCRIPT_COUNT];
    uv_timer_t import_timer;
    int imported;
    char prefix[BK_KEYS_PREFIX_SIZE];  /* rules are global keys (base/keys.h) */
};

/* One request waiting for Redis. */
typedef struct pending {
    bk_rules_api *api;
    bk_http *request;
    char id[BK_ID_MAX + 1];
    json_t *body;           /* the parsed request body, when the reply needs it */
} pending;

static pending *pending_new(bk_rules_api *api, bk_http *request, const char *id)
{
    pending *p = calloc(1, sizeof *p);
    if (!p) {
        bk_api_reply_error(request, 500, BK_ERR_INTERNAL, "out of memory");
        return NULL;
    }
    p->api = api;
    p->request = request;
    snprintf(p->id, sizeof p->id, "%s", id ? id : "");
    return p;
}

static void pending_free(pending *p)
{
    json_decref(p->body);
    free(p);
}

/* The rules' scripts refuse a rule or version that does not exist, and a revert to what is
 * already the rule. */
#define RULE_REFUSALS BK_REFUSALS(BK_ERR_NOT_FOUND, BK_ERR_WRONG_STATE)

static int run_script(pending *p, int script, bk_store_reply_fn fn, int argc, const char **argv,
                      bk_storage_effect effect)
{
    bk_rules_api *api = p->api;
    if (bk_store_script(api->server->store, api->scripts[script], fn, p, 0, argc, argv, NULL) == 0)
        return 0;
    bk_api_reply_store_error(p->request, NULL, NULL, effect);
    pending_free(p);
    return -1;
}

/* {"error": {"code": "invalid_rule", "path", "message"}}: the rule engine names the part. */
static void respond_invalid(bk_http *request, const bk_rules_error *err)
{
    bk_api_reply_error_at(request, 400, "invalid_rule", err->path, err->message);
}

/* ---- save, delete, revert ---------------------------------------------------------------- */

static void on_saved(redisReply *reply, void *data)
{
    pending *p = data;
    long long version;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_INTEGER, &version) != 0)
        bk_api_reply_store_error(p->request, reply, RULE_REFUSALS, BK_STORAGE_WRITE);
    else
        bk_api_reply_json(p->request, 200, json_pack("{s:s, s:I}", "id", p->id, "version",
                                                     (json_int_t)version));
    pending_free(p);
}

/* Validates rule (a JSON object) for id and saves it as a new version. Responds itself. */
static void rule_save(bk_rules_api *api, bk_http *request, const char *id, json_t *rule, const char *who)
{
    json_t *rule_id = json_object_get(rule, "id");
    if (!json_is_object(rule)) {
        bk_api_reply_error(request, 400, "invalid_rule", "the body must be a rule object");
        return;
    }
    if (!rule_id) {
        json_object_set_new(rule, "id", json_string(id));
    } else if (!json_is_string(rule_id) || strcmp(json_string_value(rule_id), id) != 0) {
        bk_api_reply_error_at(request, 400, "invalid_rule", "id", "must match the id in the URL");
        return;
    }
    char *text = json_dumps(rule, JSON_COMPACT);
    if (!text) {
        bk_api_reply_error(request, 500, BK_ERR_INTERNAL, "out of memory");
        return;
    }
    bk_rules_error err;
    if (bk_rule_validate_json(text, strlen(text), &err) != BK_RULES_OK) {
        respond_invalid(request, &err);
        free(text);
        return;
    }
    pending *p = pending_new(api, request, id);
    if (p) {
        char now[24];
        snprintf(now, sizeof now, "%lld", (long long)bk_now_ms());
        const char *argv[] = { api->prefix, id, text, who, now, "0" };
        run_script(p, SCRIPT_SAVE, on_saved, 6, argv, BK_STORAGE_WRITE);
    }
    free(text);
}

static void rule_delete(bk_rules_api *api, bk_http *request, const char *id, const char *who)
{
    pending *p = pending_new(api, request, id);
    if (!p)
        return;
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)bk_now_ms());
    const char *argv[] = { api->prefix, id, who, now };
    run_script(p, SCRIPT_DELETE, on_saved, 4, argv, BK_STORAGE_WRITE);
}

static void on_reverted(redisReply *reply, void *data)
{
    pending *p = data;
    long long version;
    const char *rule;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_RULE_REVERT, &version, &rule) != 0)
        bk_api_reply_store_error(p->request, reply, RULE_REFUSALS, BK_STORAGE_WRITE);
    else
        bk_api_reply_json(p->request, 200,
                          json_pack("{s:s, s:I, s:o}", "id", p->id, "version", (json_int_t)version, "rule",
                                    json_loads(rule, 0, NULL)));
    pending_free(p);
}

static void rule_revert(bk_rules_api *api, bk_http *request, const char *id, const char *who)
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
    snprintf(now, sizeof now, "%lld", (long long)bk_now_ms());
    json_decref(body);
    pending *p = pending_new(api, request, id);
    if (!p)
        return;
    const char *argv[] = { api->prefix, id, number, who, now };
    run_script(p, SCRIPT_REVERT, on_reverted, 5, argv, BK_STORAGE_WRITE);
}

/* ---- reading --------------------------------------------------------------------------- */

/* {id, version, by, at, rule} from a rule and its meta ({"version","by","at"}). */
static json_t *rule_entry(const char *id, const char *rule_json, const char *meta_json)
{
    json_t *entry = json_loads(meta_json, 0, NULL);
    if (!json_is_object(entry)) {
        json_decref(entry);
        entry = json_object();
    }
    json_object_set_new(entry, "id", json_string(id));
    json_t *rule = json_loads(rule_json, 0, NULL);
    json_object_set_new(entry, "rule", rule ? rule : json_null());
    return entry;
}

static void on_rules_read(redisReply *reply, void *data)
{
    pending *p = data;
    const redisReply *rules;
    size_t at;
    const char *id, *rule, *meta;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_RULES, &rules, &at) != 0) {
        bk_api_reply_store_error(p->request, reply, RULE_REFUSALS, BK_STORAGE_READ);
    } else if (p->id[0]) {
        if (bk_redis_reply_unpack_next(rules, &at, BK_SHAPE_RULE, &id, &rule, &meta) != 0)
            bk_api_reply_error(p->request, 404, BK_ERR_NOT_FOUND, "no such rule");
        else
            bk_api_reply_json(p->request, 200, rule_entry(p->id, rule, meta));
    } else {
        json_t *list = json_array();
        while (bk_redis_reply_unpack_next(rules, &at, BK_SHAPE_RULE, &id, &rule, &meta) == 0)
            json_array_append_new(list, rule_entry(id, rule, meta));
        bk_api_reply_json(p->request, 200, json_pack("{s:o}", "rules", list));
    }
    pending_free(p);
}

static void rules_read(bk_rules_api *api, bk_http *request, const char *id)
{
    pending *p = pending_new(api, request, id);
    if (!p)
        return;
    const char *argv[] = { api->prefix, id ? id : "" };
    run_script(p, SCRIPT_GET, on_rules_read, 2, argv, BK_STORAGE_READ);
}

static void on_versions(redisReply *reply, void *data)
{
    pending *p = data;
    const redisReply *entries;
    size_t at;
    const char *text;
    size_t len;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_LIST, &entries, &at) != 0) {
        bk_api_reply_store_error(p->request, reply, RULE_REFUSALS, BK_STORAGE_READ);
    } else if (at == entries->elements) {
        bk_api_reply_error(p->request, 404, BK_ERR_NOT_FOUND, "no such rule");
    } else {
        json_t *list = json_array();
        while (bk_redis_reply_unpack_next(entries, &at, BK_SHAPE_LIST_ENTRY, &text, &len) == 0) {
            json_t *entry = json_loadb(text, len, 0, NULL);
            if (entry)
                json_array_append_new(list, entry);
        }
        bk_api_reply_json(p->request, 200, json_pack("{s:s, s:o}", "id", p->id, "versions", list));
    }
    pending_free(p);
}

static void rule_versions(bk_rules_api *api, bk_http *request, const char *id)
{
    pending *p = pending_new(api, request, id);
    if (!p)
        return;
    char key[160];
    snprintf(key, sizeof key, "%srules:history:%s", api->prefix, id);
    const char *argv[] = { "LRANGE", key, "0", "-1" };
    if (bk_store_command(api->server->store, on_versions, p, 4, argv, NULL) != 0) {
        bk_api_reply_store_error(request, NULL, NULL, BK_STORAGE_READ);
        pending_free(p);
    }
}

static void rule_validate(bk_http *request)
{
    size_t len;
    const char *body = bk_http_body(request, &len);
    bk_rules_error err;
    if (bk_rule_validate_json(body, len, &err) != BK_RULES_OK)
        respond_invalid(request, &err);
    else
        bk_api_reply_json(request, 200, json_pack("{s:b}", "valid", 1));
}

/* ---- routing ---------------------------------------------------------------------------- */

void bk_rules_api_handle(bk_rules_api *api, bk_http *request, const char *who)
{
    const char *method = bk_http_method(request);
    const char *path = bk_http_path(request);
    int get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
    if (strcmp(path, "/api/rules") == 0) {
        if (get)
            rules_read(api, request, NULL);
        else
            bk_api_reply_error(request, 405, BK_ERR_BAD_REQUEST, "use GET, or PUT /api/rules/{id}");
        return;
    }
    const char *rest = path + strlen("/api/rules/");
    if (post && strcmp(rest, "validate") == 0) {
        rule_validate(request);
        return;
    }
    char id[BK_ID_MAX + 1];
    const char *action;
    if (bk_api_request_id(request, strlen("/api/rules/"), id, &action) != 0) {
        bk_api_reply_error(request, 404, BK_ERR_NOT_FOUND, "rule ids are [A-Za-z0-9_-]{1,64}");
        return;
    }
    if (!action[0]) {
        if (get) {
            rules_read(api, request, id);
        } else if (strcmp(method, "PUT") == 0) {
            json_t *rule = bk_api_request_json(request);
            if (rule) {
                rule_save(api, request, id, rule, who);
                json_decref(rule);
            }
        } else if (strcmp(method, "DELETE") == 0) {
            rule_delete(api, request, id, who);
        } else {
            bk_api_reply_error(request, 405, BK_ERR_BAD_REQUEST, "use GET, PUT or DELETE");
        }
    } else if (strcmp(action, "/versions") == 0 && get) {
        rule_versions(api, request, id);
    } else if (strcmp(action, "/revert") == 0 && post) {
        rule_revert(api, request, id, who);
    } else {
        bk_api_reply_error(request, 404, BK_ERR_NOT_FOUND, "no such route");
    }
}

/* ---- the rules file ---------------------------------------------------------------------- */

static void on_imported(redisReply *reply, void *data)
{
    char *id = data;
    long long version;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_INTEGER, &version) == 0 && version > 0)
        bk_info("rule %s added from the rules file", id);
    free(id);
}

/* Rules from the file are added only where Redis has no rule of that id: what marketers
 * changed since is never overwritten by a restart. */
static int rules_file_import(bk_rules_api *api)
{
    const char *path = api->server->config->rules_file;
    json_error_t error;
    json_t *rules = json_load_file(path, JSON_REJECT_DUPLICATES, &error);
    if (!json_is_array(rules)) {
        bk_error("rules file %s: %s", path, rules ? "expected an array of rules" : error.text);
        json_decref(rules);
        return 0;
    }
    size_t i;
    json_t *rule;
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)bk_now_ms());
    json_array_foreach(rules, i, rule) {
        char *text = json_dumps(rule, JSON_COMPACT);
        bk_rules_error err;
        const char *id = json_string_value(json_object_get(rule, "id"));
        if (!text || bk_rule_validate_json(text, strlen(text), &err) != BK_RULES_OK || !id) {
            bk_error("rules file %s: rule %zu: %s: %s", path, i, text ? err.path : "", text ? err.message : "");
            free(text);
            continue;
        }
        char *copy = strdup(id);
        const char *argv[] = { api->prefix, id, text, "rules-file", now, "1" };
        if (!copy || bk_store_script(api->server->store, api->scripts[SCRIPT_SAVE], on_imported, copy, 0, 6,
                                     argv, NULL) != 0) {
            free(copy);
            free(text);
            json_decref(rules);
            return -1;  /* Redis went away: try again later */
        }
        free(text);
    }
    json_decref(rules);
    return 0;
}

static void on_import_timer(uv_timer_t *timer)
{
    bk_rules_api *api = timer->data;
    if (api->imported || !bk_store_is_up(api->server->store))
        return;
    if (rules_file_import(api) == 0) {
        api->imported = 1;
        uv_timer_stop(timer);
    }
}

bk_rules_api *bk_rules_api_new(bk_server *server)
{
    bk_rules_api *api = calloc(1, sizeof *api);
    if (!api)
        return NULL;
    bk_keys_global_prefix(server->config->prefix, api->prefix);
    const char *const sources[SCRIPT_COUNT] = {
        [SCRIPT_SAVE] = bk_lua_rule_save,
        [SCRIPT_DELETE] = bk_lua_rule_delete,
        [SCRIPT_REVERT] = bk_lua_rule_revert,
        [SCRIPT_GET] = bk_lua_rules_get,
    };
    api->server = server;
    for (int i = 0; i < SCRIPT_COUNT; i++)
        api->scripts[i] = bk_store_script_add(server->store, sources[i]);
    uv_timer_init(server->loop, &api->import_timer);
    api->import_timer.data = api;
    if (server->config->rules_file[0])
        uv_timer_start(&api->import_timer, on_import_timer, 0, IMPORT_RETRY_MS);
    return api;
}

void bk_rules_api_shutdown(bk_rules_api *api)
{
    uv_close((uv_handle_t *)&api->import_timer, NULL);
}

void bk_rules_api_free(bk_rules_api *api)
{
    free(api);
}
