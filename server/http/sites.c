/* sites.c - site settings over REST: list, save, delete. The checks are site_settings'. */
#include "http/sites.h"

#include "chat/chat.h"

#include "http/reply.h"
#include "http/request.h"
#include "base/ids.h"
#include "base/keys.h"
#include "base/log.h"
#include "store/redis_reply.h"
#include "store/redis_shapes.h"
#include "lua/embedded.h"
#include "sites/site_settings.h"

#include <beckon/protocol.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { SCRIPT_SAVE, SCRIPT_DELETE, SCRIPT_LIST, SCRIPT_COUNT };

struct bk_sites {
    bk_server *server;
    int scripts[SCRIPT_COUNT];
};

static void on_listed(redisReply *reply, void *data)
{
    bk_http *request = data;
    const char *text;
    size_t len;
    json_t *list = bk_redis_reply_unpack(reply, BK_SHAPE_TEXT, &text, &len) == 0 ? json_loadb(text, len, 0, NULL)
                                                                                : NULL;
    if (!list) {
        bk_api_reply_store_error(request, reply, NULL, BK_STORAGE_READ);
        return;
    }
    /* Lua's cjson writes an empty list as {}: give it back as the array it is. */
    size_t i;
    json_t *site;
    json_array_foreach(list, i, site)
        if (!json_is_array(json_object_get(site, "origins")))
            json_object_set_new(site, "origins", json_array());
    bk_api_reply_json(request, 200, json_pack("{s:o}", "sites", list));
}

static void on_changed(redisReply *reply, void *data)
{
    bk_http *request = data;
    long long changed;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_INTEGER, &changed) == 0)
        bk_api_reply_json(request, 200, json_pack("{s:b}", "ok", 1));
    else
        bk_api_reply_store_error(request, reply, BK_REFUSALS(BK_ERR_NOT_FOUND), BK_STORAGE_WRITE);
}

typedef struct webhook_saved {
    bk_http *request;
    char secret[BK_SITE_SECRET_SIZE];
} webhook_saved;

/* The save script answers 2 when the generated secret was stored: it is shown this once. */
static void on_saved_with_secret(redisReply *reply, void *data)
{
    webhook_saved *saved = data;
    long long changed;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_INTEGER, &changed) == 0 && changed == 2)
        bk_api_reply_json(saved->request, 200, json_pack("{s:b, s:s}", "ok", 1, "webhook_secret", saved->secret));
    else
        on_changed(reply, saved->request);
    free(saved);
}

/* A site's settings are in two slots (base/keys.h): its own, which its visitors' scripts read and
 * whose answer is the request's, then the global one (the list of sites and a copy of the
 * settings for what reads every site). Not one atomic step: the second is sent right after the
 * first on the same link and Redis runs them in order, so only Redis failing between the two
 * leaves them apart, and saving again mends it. Then this node reads the sites anew, so that a
 * request after the answer already finds the site's slot (chat.h). */
static int site_script(bk_sites *sites, int script, const char *id, int argc, const char **argv,
                       bk_store_reply_fn fn, void *data)
{
    bk_server *server = sites->server;
    char site_prefix[BK_KEYS_PREFIX_SIZE], global_prefix[BK_KEYS_PREFIX_SIZE];
    bk_keys_prefix_of_site(server->config->prefix, id, site_prefix);
    bk_keys_global_prefix(server->config->prefix, global_prefix);
    argv[0] = site_prefix;
    if (bk_store_script(server->store, sites->scripts[script], fn, data, 0, argc, argv, NULL) != 0)
        return -1;
    argv[0] = global_prefix;
    bk_store_script(server->store, sites->scripts[script], NULL, NULL, 0, argc, argv, NULL);
    bk_chat_sites_changed(server->chat);
    return 0;
}

/* Runs the save script with prefix, id and the pairs: 0, or -1 having answered. */
static int fields_save(bk_sites *sites, bk_http *request, const char *id, const bk_site_settings *fields,
                       bk_store_reply_fn fn, void *data)
{
    const char *argv[2 + 2 * BK_SITE_FIELDS_MAX];
    int argc = bk_site_settings_argv(fields, sites->server->config->prefix, id, argv);
    if (argc < 0) {
        bk_api_reply_error(request, 500, BK_ERR_INTERNAL, "more settings than a site can hold");
        return -1;
    }
    if (site_script(sites, SCRIPT_SAVE, id, argc, argv, fn, data) != 0) {
        bk_api_reply_store_error(request, NULL, NULL, BK_STORAGE_WRITE);
        return -1;
    }
    bk_info("site %s saved", id);
    return 0;
}

void bk_sites_handle(bk_sites *sites, bk_http *request)
{
    bk_server *server = sites->server;
    const char *method = bk_http_method(request);
    const char *path = bk_http_path(request);
    char prefix[BK_KEYS_PREFIX_SIZE];
    bk_keys_global_prefix(server->config->prefix, prefix);
    if (strcmp(path, "/api/sites") == 0) {
        const char *argv[] = { prefix };
        if (strcmp(method, "GET") != 0)
            bk_api_reply_error(request, 405, BK_ERR_BAD_REQUEST, "use GET, or PUT /api/sites/{id}");
        else if (bk_store_script(server->store, sites->scripts[SCRIPT_LIST], on_listed, request, 0, 1, argv, NULL))
            bk_api_reply_store_error(request, NULL, NULL, BK_STORAGE_READ);
        return;
    }
    char id[BK_ID_MAX + 1];
    const char *rest;
    if (bk_api_request_id(request, strlen("/api/sites/"), id, &rest) != 0 || rest[0]) {
        bk_api_reply_error(request, 404, BK_ERR_NOT_FOUND, "site ids are [A-Za-z0-9_-]{1,64}");
        return;
    }
    if (strcmp(method, "DELETE") == 0) {
        const char *argv[] = { prefix, id };
        if (site_script(sites, SCRIPT_DELETE, id, 2, argv, on_changed, request) != 0)
            bk_api_reply_store_error(request, NULL, NULL, BK_STORAGE_WRITE);
        return;
    }
    if (strcmp(method, "PUT") != 0) {
        bk_api_reply_error(request, 405, BK_ERR_BAD_REQUEST, "use PUT or DELETE");
        return;
    }
    size_t len;
    const char *text = bk_http_body(request, &len);
    json_t *body = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    bk_site_settings fields = { 0 };
    char why[BK_SITE_WHY_MAX];
    const char *problem = json_is_object(body) ? bk_site_settings_check(body, &fields, why, sizeof why)
                                               : "expected a JSON object";
    json_decref(body);
    const char *generated = problem ? NULL : bk_site_settings_generated_secret(&fields);
    webhook_saved *saved = generated ? calloc(1, sizeof *saved) : NULL;
    if (saved) {
        saved->request = request;
        snprintf(saved->secret, sizeof saved->secret, "%s", generated);
    }
    if (problem)
        bk_api_reply_error(request, 400, BK_ERR_BAD_REQUEST, problem);
    else if (fields_save(sites, request, id, &fields, saved ? on_saved_with_secret : on_changed,
                         saved ? (void *)saved : request) != 0)
        free(saved);
    bk_site_settings_close(&fields);
}

bk_sites *bk_sites_new(bk_server *server)
{
    bk_sites *sites = calloc(1, sizeof *sites);
    if (!sites)
        return NULL;
    sites->server = server;
    sites->scripts[SCRIPT_SAVE] = bk_store_script_add(server->store, bk_lua_site_save);
    sites->scripts[SCRIPT_DELETE] = bk_store_script_add(server->store, bk_lua_site_delete);
    sites->scripts[SCRIPT_LIST] = bk_store_script_add(server->store, bk_lua_sites_list);
    return sites;
}

void bk_sites_free(bk_sites *sites)
{
    free(sites);
}
