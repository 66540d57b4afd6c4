/* help_api.c - help articles over REST, like the rules (rules_api.c): every change a version
 * (help_version.lua), announced to every node, which rebuilds its index (help/help.h). The
 * figures are help_stats_api.c. */
#include "http/help_api.h"
#include "http/help_api_internal.h"

#include "http/reply.h"
#include "http/request.h"
#include "base/ids.h"
#include "help/help_article.h"
#include "help/help_markdown.h"
#include "store/redis_reply.h"
#include "store/redis_shapes.h"
#include "lua/embedded.h"

#include <beckon/protocol.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IMPORT_MAX 200   /* articles in one import (its body is at most 64 KiB anyway) */

typedef struct pending {
    bk_help_api *api;
    bk_http *request;
    char site[BK_ID_MAX + 1];
    char id[BK_ID_MAX + 1];
    int export;              /* a list with the bodies, as an import takes them */
    json_t *articles;        /* what was saved: for the answer's `removed` */
} pending;

static pending *pending_new(bk_help_api *api, bk_http *request, const char *site, const char *id)
{
    pending *p = calloc(1, sizeof *p);
    if (!p) {
        bk_api_reply_error(request, 500, BK_ERR_INTERNAL, "out of memory");
        return NULL;
    }
    p->api = api;
    p->request = request;
    snprintf(p->site, sizeof p->site, "%s", site);
    snprintf(p->id, sizeof p->id, "%s", id ? id : "");
    return p;
}

static void pending_free(pending *p)
{
    json_decref(p->articles);
    free(p);
}

#define HELP_REFUSALS BK_REFUSALS(BK_ERR_NOT_FOUND, BK_ERR_WRONG_STATE)

static void run_script(pending *p, int script, bk_store_reply_fn fn, int argc, const char **argv,
                       bk_storage_effect effect)
{
    if (bk_store_script(p->api->server->store, p->api->scripts[script], fn, p, 0, argc, argv, NULL) == 0)
        return;
    bk_api_reply_store_error(p->request, NULL, NULL, effect);
    pending_free(p);
}

static void refused(bk_http *request, const bk_help_refusal *r)
{
    bk_api_reply_error_at(request, r->status, r->code, r->path, r->message);
}

/* The site's origins (JSON, from Redis) as a NULL-terminated list; free with origins_free. */
static char **origins_of(const char *json_text)
{
    json_t *list = json_loads(json_text, 0, NULL);
    size_t n = json_is_array(list) ? json_array_size(list) : 0;
    char **out = calloc(n + 1, sizeof *out);
    for (size_t i = 0, k = 0; out && i < n; i++)
        if (json_is_string(json_array_get(list, i)))
            out[k++] = strdup(json_string_value(json_array_get(list, i)));
    json_decref(list);
    return out;
}

static void origins_free(char **origins)
{
    for (size_t i = 0; origins && origins[i]; i++)
        free(origins[i]);
    free(origins);
}

/* The article's blocks as visitors will see them, and what was left out of its Markdown. */
static void parsed_add(json_t *entry, const char *body, char **origins, int with_blocks)
{
    bk_help_parsed parsed;
    if (body && bk_help_markdown_parse(body, strlen(body), (const char *const *)origins, &parsed) == 0) {
        if (with_blocks)
            json_object_set(entry, "blocks", parsed.blocks);
        json_object_set(entry, "removed", parsed.removed);
    }
    bk_help_parsed_free(&parsed);
}

/* ---- save, delete, revert, import ------------------------------------------------------------ */

static void on_saved(redisReply *reply, void *data)
{
    pending *p = data;
    const redisReply *versions;
    size_t at;
    const char *origins_json;
    long long version;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_HELP_VERSIONS, &origins_json, &versions, &at) != 0) {
        bk_api_reply_store_error(p->request, reply, HELP_REFUSALS, BK_STORAGE_WRITE);
        pending_free(p);
        return;
    }
    char **origins = origins_of(origins_json);
    json_t *saved = json_array();
    size_t i = 0;
    while (bk_redis_reply_unpack_next(versions, &at, BK_SHAPE_HELP_VERSION, &version) == 0) {
        json_t *article = json_array_get(p->articles, i++);
        json_t *entry = json_pack("{s:O, s:I}", "id", json_object_get(article, "id"), "version", (json_int_t)version);
        parsed_add(entry, json_string_value(json_object_get(article, "body")), origins, 0);
        json_array_append_new(saved, entry);
    }
    origins_free(origins);
    if (p->id[0])
        bk_api_reply_json(p->request, 200, json_incref(json_array_get(saved, 0)));
    else
        bk_api_reply_json(p->request, 200, json_pack("{s:s, s:I, s:O}", "site", p->site, "imported",
                                                     (json_int_t)json_array_size(saved), "articles", saved));
    json_decref(saved);
    pending_free(p);
}

/* Saves p->articles (checked) as one step, a new version each. */
static void articles_save(pending *p, const char *who)
{
    size_t n = json_array_size(p->articles);
    const char **argv = calloc(4 + 3 * n, sizeof *argv);
    char **texts = calloc(n + 1, sizeof *texts);
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)bk_now_ms());
    int ok = argv && texts;
    if (ok) {
        argv[0] = p->api->prefix;
        argv[1] = p->site;
        argv[2] = who;
        argv[3] = now;
        for (size_t i = 0; i < n && ok; i++) {
            json_t *article = json_array_get(p->articles, i);
            texts[i] = json_dumps(article, JSON_COMPACT);
            ok = texts[i] != NULL;
            argv[4 + 3 * i] = json_string_value(json_object_get(article, "id"));
            argv[5 + 3 * i] = texts[i];
            argv[6 + 3 * i] = strcmp(json_string_value(json_object_get(article, "state")), "published") == 0 ? "1" : "0";
        }
    }
    if (ok)
        run_script(p, HELP_API_SCRIPT_SAVE, on_saved, (int)(4 + 3 * n), argv, BK_STORAGE_WRITE);
    else {
        bk_api_reply_error(p->request, 500, BK_ERR_INTERNAL, "out of memory");
        pending_free(p);
    }
    for (size_t i = 0; texts && i < n; i++)
        free(texts[i]);
    free(texts);
    free(argv);
}

static void article_put(bk_help_api *api, bk_http *request, const char *site, const char *id, const char *who)
{
    json_t *body = bk_api_request_json(request);
    if (!body)
        return;
    bk_help_refusal refusal;
    json_t *article = bk_help_article_check(body, id, "", &refusal);
    json_decref(body);
    if (!article) {
        refused(request, &refusal);
        return;
    }
    pending *p = pending_new(api, request, site, id);
    if (!p) {
        json_decref(article);
        return;
    }
    p->articles = json_pack("[o]", article);
    articles_save(p, who);
}

static void articles_import(bk_help_api *api, bk_http *request, const char *site, const char *who)
{
    json_t *body = bk_api_request_json(request);
    if (!body)
        return;
    json_t *list = json_object_get(body, "articles");
    if (!json_is_array(list) || json_array_size(list) == 0 || json_array_size(list) > IMPORT_MAX) {
        json_decref(body);
        bk_api_reply_error_at(request, 400, "invalid_article", "articles",
                              "expected an array of 1 to 200 articles, each with its id");
        return;
    }
    json_t *checked = json_array();
    size_t i;
    json_t *article;
    json_array_foreach(list, i, article) {
        char prefix[32], id[BK_ID_MAX + 1];
        snprintf(prefix, sizeof prefix, "articles[%zu].", i);
        const char *given = json_string_value(json_object_get(article, "id"));
        bk_help_refusal refusal;
        json_t *stored = NULL;
        if (!given || !bk_id_valid(given)) {
            refusal = (bk_help_refusal){ .status = 400, .code = "invalid_article" };
            snprintf(refusal.path, sizeof refusal.path, "%sid", prefix);
            snprintf(refusal.message, sizeof refusal.message, "required: [A-Za-z0-9_-]{1,64}");
        } else {
            snprintf(id, sizeof id, "%s", given);
            stored = bk_help_article_check(article, id, prefix, &refusal);
        }
        if (!stored) {
            json_decref(checked);
            json_decref(body);
            refused(request, &refusal);
            return;
        }
        json_array_append_new(checked, stored);
    }
    json_decref(body);
    pending *p = pending_new(api, request, site, NULL);
    if (!p) {
        json_decref(checked);
        return;
    }
    p->articles = checked;
    articles_save(p, who);
}

static void on_deleted(redisReply *reply, void *data)
{
    pending *p = data;
    long long version;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_INTEGER, &version) != 0)
        bk_api_reply_store_error(p->request, reply, HELP_REFUSALS, BK_STORAGE_WRITE);
    else
        bk_api_reply_json(p->request, 200, json_pack("{s:s, s:I}", "id", p->id, "version", (json_int_t)version));
    pending_free(p);
}

static void article_delete(bk_help_api *api, bk_http *request, const char *site, const char *id, const char *who)
{
    pending *p = pending_new(api, request, site, id);
    if (!p)
        return;
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)bk_now_ms());
    const char *argv[] = { api->prefix, site, id, who, now };
    run_script(p, HELP_API_SCRIPT_DELETE, on_deleted, 5, argv, BK_STORAGE_WRITE);
}

static void on_reverted(redisReply *reply, void *data)
{
    pending *p = data;
    long long version;
    const char *article;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_HELP_REVERT, &version, &article) != 0)
        bk_api_reply_store_error(p->request, reply, HELP_REFUSALS, BK_STORAGE_WRITE);
    else
        bk_api_reply_json(p->request, 200, json_pack("{s:s, s:I, s:o}", "id", p->id, "version", (json_int_t)version,
                                                     "article", json_loads(article, 0, NULL)));
    pending_free(p);
}

static void article_revert(bk_help_api *api, bk_http *request, const char *site, const char *id, const char *who)
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
    pending *p = pending_new(api, request, site, id);
    if (!p)
        return;
    const char *argv[] = { api->prefix, site, id, number, who, now };
    run_script(p, HELP_API_SCRIPT_REVERT, on_reverted, 6, argv, BK_STORAGE_WRITE);
}

/* ---- reading ----------------------------------------------------------------------------------- */

static json_t *entry_of(const char *article_json, const char *meta_json, int full)
{
    json_t *entry = json_loads(article_json, 0, NULL);
    if (!json_is_object(entry)) {
        json_decref(entry);
        return NULL;
    }
    if (!full)
        json_object_del(entry, "body");
    json_t *meta = json_loads(meta_json, 0, NULL);
    if (json_is_object(meta))
        json_object_update(entry, meta);
    json_decref(meta);
    return entry;
}

static void on_read(redisReply *reply, void *data)
{
    pending *p = data;
    const redisReply *entries;
    size_t at;
    const char *origins_json, *id, *article, *meta;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_HELP_ENTRIES, &origins_json, &entries, &at) != 0) {
        bk_api_reply_store_error(p->request, reply, HELP_REFUSALS, BK_STORAGE_READ);
    } else if (p->id[0]) {
        json_t *entry = NULL;
        if (bk_redis_reply_unpack_next(entries, &at, BK_SHAPE_HELP_ENTRY, &id, &article, &meta) == 0)
            entry = entry_of(article, meta, 1);
        if (!entry) {
            bk_api_reply_error(p->request, 404, BK_ERR_NOT_FOUND, "no such article");
        } else {
            char **origins = origins_of(origins_json);
            parsed_add(entry, json_string_value(json_object_get(entry, "body")), origins, 1);
            origins_free(origins);
            bk_api_reply_json(p->request, 200, entry);
        }
    } else {
        json_t *list = json_array();
        while (bk_redis_reply_unpack_next(entries, &at, BK_SHAPE_HELP_ENTRY, &id, &article, &meta) == 0) {
            json_t *entry = entry_of(article, meta, p->export);
            if (entry && p->export) {
                json_object_del(entry, "version");  /* what an import takes, no more */
                json_object_del(entry, "by");
                json_object_del(entry, "at");
            }
            if (entry)
                json_array_append_new(list, entry);
        }
        bk_api_reply_json(p->request, 200, json_pack("{s:s, s:o}", "site", p->site, "articles", list));
    }
    pending_free(p);
}

static void articles_read(bk_help_api *api, bk_http *request, const char *site, const char *id, int export)
{
    pending *p = pending_new(api, request, site, id);
    if (!p)
        return;
    p->export = export;
    const char *argv[] = { api->prefix, site, id ? id : "" };
    run_script(p, HELP_API_SCRIPT_GET, on_read, 3, argv, BK_STORAGE_READ);
}

static void on_versions(redisReply *reply, void *data)
{
    pending *p = data;
    const redisReply *entries;
    size_t at;
    const char *text;
    size_t len;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_LIST, &entries, &at) != 0) {
        bk_api_reply_store_error(p->request, reply, HELP_REFUSALS, BK_STORAGE_READ);
    } else if (at == entries->elements) {
        bk_api_reply_error(p->request, 404, BK_ERR_NOT_FOUND, "no such article");
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

static void article_versions(bk_help_api *api, bk_http *request, const char *site, const char *id)
{
    pending *p = pending_new(api, request, site, id);
    if (!p)
        return;
    char key[BK_KEYS_PREFIX_SIZE + 2 * BK_ID_MAX + 32];
    snprintf(key, sizeof key, "%shelp:%s:history:%s", api->prefix, site, id);
    const char *argv[] = { "LRANGE", key, "0", "-1" };
    if (bk_store_command(api->server->store, on_versions, p, 4, argv, NULL) != 0) {
        bk_api_reply_store_error(request, NULL, NULL, BK_STORAGE_READ);
        pending_free(p);
    }
}

/* A draft as visitors would see it, not saved: {blocks, removed}. Images are checked against
 * the site's origins, read first. */
static void on_preview_origins(redisReply *reply, void *data)
{
    pending *p = data;
    const char *origins_json = "[]";
    if (reply && reply->type == REDIS_REPLY_STRING)
        origins_json = reply->str;
    else if (!reply || reply->type != REDIS_REPLY_NIL) {
        bk_api_reply_store_error(p->request, reply, NULL, BK_STORAGE_READ);
        pending_free(p);
        return;
    }
    json_t *article = json_array_get(p->articles, 0);
    char **origins = origins_of(origins_json);
    json_t *answer = json_pack("{s:O}", "title", json_object_get(article, "title"));
    parsed_add(answer, json_string_value(json_object_get(article, "body")), origins, 1);
    origins_free(origins);
    bk_api_reply_json(p->request, 200, answer);
    pending_free(p);
}

static void article_preview(bk_help_api *api, bk_http *request, const char *site)
{
    json_t *body = bk_api_request_json(request);
    if (!body)
        return;
    bk_help_refusal refusal;
    const char *id = json_string_value(json_object_get(body, "id"));
    json_t *article = bk_help_article_check(body, id && bk_id_valid(id) ? id : "preview", "", &refusal);
    json_decref(body);
    if (!article) {
        refused(request, &refusal);
        return;
    }
    pending *p = pending_new(api, request, site, NULL);
    if (!p) {
        json_decref(article);
        return;
    }
    p->articles = json_pack("[o]", article);
    char key[BK_KEYS_PREFIX_SIZE + BK_ID_MAX + 16];
    snprintf(key, sizeof key, "%ssite:%s", api->prefix, site);
    const char *argv[] = { "HGET", key, "origins" };
    if (bk_store_command(api->server->store, on_preview_origins, p, 3, argv, NULL) != 0) {
        bk_api_reply_store_error(request, NULL, NULL, BK_STORAGE_READ);
        pending_free(p);
    }
}

/* ---- routing ----------------------------------------------------------------------------------- */

void bk_help_api_handle(bk_help_api *api, bk_http *request, const char *who)
{
    const char *method = bk_http_method(request);
    int get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
    char site[BK_ID_MAX + 1], id[BK_ID_MAX + 1];
    const char *rest, *action;
    if (bk_api_request_id(request, strlen("/api/help/"), site, &rest) != 0) {
        bk_api_reply_error(request, 404, BK_ERR_NOT_FOUND, "site ids are [A-Za-z0-9_-]{1,64}");
        return;
    }
    if (strcmp(rest, "/articles") == 0) {
        if (get)
            articles_read(api, request, site, NULL, 0);
        else
            bk_api_reply_error(request, 405, BK_ERR_BAD_REQUEST, "use GET, or PUT /api/help/{site}/articles/{id}");
    } else if (strcmp(rest, "/export") == 0 && get) {
        articles_read(api, request, site, NULL, 1);
    } else if (strcmp(rest, "/import") == 0 && post) {
        articles_import(api, request, site, who);
    } else if (strcmp(rest, "/preview") == 0 && post) {
        article_preview(api, request, site);
    } else if (strncmp(rest, "/articles/", 10) != 0) {
        bk_api_reply_error(request, 404, BK_ERR_NOT_FOUND, "no such route");
    } else if (bk_api_request_id(request, (size_t)(rest - bk_http_path(request)) + 10, id, &action) != 0) {
        bk_api_reply_error(request, 404, BK_ERR_NOT_FOUND, "article ids are [A-Za-z0-9_-]{1,64}");
    } else if (!action[0]) {
        if (get)
            articles_read(api, request, site, id, 1);
        else if (strcmp(method, "PUT") == 0)
            article_put(api, request, site, id, who);
        else if (strcmp(method, "DELETE") == 0)
            article_delete(api, request, site, id, who);
        else
            bk_api_reply_error(request, 405, BK_ERR_BAD_REQUEST, "use GET, PUT or DELETE");
    } else if (strcmp(action, "/versions") == 0 && get) {
        article_versions(api, request, site, id);
    } else if (strcmp(action, "/revert") == 0 && post) {
        article_revert(api, request, site, id, who);
    } else {
        bk_api_reply_error(request, 404, BK_ERR_NOT_FOUND, "no such route");
    }
}

bk_help_api *bk_help_api_new(bk_server *server)
{
    bk_help_api *api = calloc(1, sizeof *api);
    if (!api)
        return NULL;
    api->server = server;
    bk_keys_global_prefix(server->config->prefix, api->prefix);
    const char *const sources[HELP_API_SCRIPT_COUNT] = {
        [HELP_API_SCRIPT_SAVE] = bk_lua_help_article_save,
        [HELP_API_SCRIPT_DELETE] = bk_lua_help_article_delete,
        [HELP_API_SCRIPT_REVERT] = bk_lua_help_article_revert,
        [HELP_API_SCRIPT_GET] = bk_lua_help_articles_get,
        [HELP_API_SCRIPT_STATS] = bk_lua_help_stats,
    };
    for (int i = 0; i < HELP_API_SCRIPT_COUNT; i++)
        api->scripts[i] = bk_store_script_add(server->store, sources[i]);
    return api;
}

void bk_help_api_free(bk_help_api *api)
{
    free(api);
}
