/* teams_api.c - a site's teams over REST: list (with each team's queue and agents online),
 * save, remove. Stored in the site's slot (teams:{site}), where lua/routing.lua reads them. */
#include "http/teams_api.h"

#include "base/ids.h"
#include "base/keys.h"
#include "http/reply.h"
#include "http/request.h"
#include "store/redis_reply.h"
#include "store/redis_shapes.h"
#include "lua/embedded.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MEMBERS_MAX 200
#define TAGS_MAX    32   /* skills, languages: each at most this many, of at most 64 bytes */

enum { SCRIPT_GET, SCRIPT_SAVE, SCRIPT_DELETE, SCRIPT_COUNT };

struct bk_teams_api {
    bk_server *server;
    int scripts[SCRIPT_COUNT];
};

static const char *strings_check(json_t *list, const char *what, char *why, size_t why_size)
{
    if (!list)
        return NULL;
    if (!json_is_array(list) || json_array_size(list) > TAGS_MAX) {
        snprintf(why, why_size, "%s: a list of at most %d strings", what, TAGS_MAX);
        return why;
    }
    size_t i;
    json_t *item;
    json_array_foreach(list, i, item) {
        if (!json_is_string(item) || json_string_length(item) == 0 || json_string_length(item) > 64) {
            snprintf(why, why_size, "%s[%zu]: a string of 1 to 64 bytes", what, i);
            return why;
        }
    }
    return NULL;
}

static const char *seconds_check(json_t *body, const char *field, long min, long max, json_int_t *out,
                                 char *why, size_t why_size)
{
    json_t *value = json_object_get(body, field);
    *out = 0;
    if (!value || json_is_null(value))
        return NULL;
    if (!json_is_integer(value) || json_integer_value(value) < min || json_integer_value(value) > max) {
        snprintf(why, why_size, "%s: a whole number of seconds from %ld to %ld, or null", field, min, max);
        return why;
    }
    *out = json_integer_value(value);
    return NULL;
}

const char *bk_team_check(json_t *body, const char *name, json_t **stored, char *why, size_t why_size)
{
    static const char *const known[] = { "name", "mode", "offer_seconds", "fallback", "default", "members",
                                         "wait_seconds", "first_response_seconds", NULL };
    const char *key;
    json_t *value;
    *stored = NULL;
    json_object_foreach(body, key, value) {
        int ok = 0;
        for (const char *const *k = known; *k; k++)
            ok |= strcmp(*k, key) == 0;
        if (!ok) {
            snprintf(why, why_size, "%s: no such field (name, mode, offer_seconds, fallback, default, members, "
                     "wait_seconds, first_response_seconds)", key);
            return why;
        }
    }
    json_t *mode = json_object_get(body, "mode"), *fallback = json_object_get(body, "fallback"),
           *members = json_object_get(body, "members"), *given = json_object_get(body, "name");
    json_int_t offer, wait, first;
    if (given && (!json_is_string(given) || strcmp(json_string_value(given), name) != 0)) {
        snprintf(why, why_size, "name: the team's name is the path's (%s)", name);
        return why;
    }
    if (mode && (!json_is_string(mode) || (strcmp(json_string_value(mode), "pick") != 0 &&
                                           strcmp(json_string_value(mode), "offer") != 0))) {
        snprintf(why, why_size, "mode: pick (agents pick from the team's queue) or offer");
        return why;
    }
    if (seconds_check(body, "offer_seconds", 5, 600, &offer, why, why_size) ||
        seconds_check(body, "wait_seconds", 10, 86400, &wait, why, why_size) ||
        seconds_check(body, "first_response_seconds", 10, 86400, &first, why, why_size))
        return why;
    if (fallback && !json_is_null(fallback) &&
        (!json_is_string(fallback) || !bk_id_valid(json_string_value(fallback)) ||
         strcmp(json_string_value(fallback), name) == 0)) {
        snprintf(why, why_size, "fallback: another team's name, or null");
        return why;
    }
    if (json_object_get(body, "default") && !json_is_boolean(json_object_get(body, "default"))) {
        snprintf(why, why_size, "default: true or false");
        return why;
    }
    if (members && (!json_is_array(members) || json_array_size(members) > MEMBERS_MAX)) {
        snprintf(why, why_size, "members: a list of at most %d agents", MEMBERS_MAX);
        return why;
    }
    json_t *kept = json_array();
    size_t i;
    json_t *member;
    json_array_foreach(members, i, member) {
        json_t *agent = json_object_get(member, "agent");
        char what[48];
        if (!json_is_object(member) || !json_is_string(agent) || !bk_id_valid(json_string_value(agent))) {
            snprintf(why, why_size, "members[%zu].agent: an agent's name", i);
            json_decref(kept);
            return why;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(json_string_value(json_object_get(json_array_get(members, j), "agent")),
                       json_string_value(agent)) == 0) {
                snprintf(why, why_size, "members[%zu].agent: %s is a member already", i, json_string_value(agent));
                json_decref(kept);
                return why;
            }
        }
        snprintf(what, sizeof what, "members[%zu].skills", i);
        if (strings_check(json_object_get(member, "skills"), what, why, why_size)) {
            json_decref(kept);
            return why;
        }
        snprintf(what, sizeof what, "members[%zu].languages", i);
        if (strings_check(json_object_get(member, "languages"), what, why, why_size)) {
            json_decref(kept);
            return why;
        }
        json_t *skills = json_object_get(member, "skills"), *languages = json_object_get(member, "languages");
        json_array_append_new(kept, json_pack("{s:O, s:o, s:o}", "agent", agent,
                                              "skills", skills ? json_incref(skills) : json_array(),
                                              "languages", languages ? json_incref(languages) : json_array()));
    }
    json_t *out = json_pack("{s:s, s:I, s:o}", "mode", mode ? json_string_value(mode) : "pick",
                            "offer_seconds", offer ? offer : (json_int_t)20, "members", kept);
    if (fallback && json_is_string(fallback))
        json_object_set(out, "fallback", fallback);
    if (wait)
        json_object_set_new(out, "wait_seconds", json_integer(wait));
    if (first)
        json_object_set_new(out, "first_response_seconds", json_integer(first));
    *stored = out;
    return NULL;
}

/* The script's JSON, with a team of no members given its [] (Lua's cjson makes {} of it). */
static void on_listed(redisReply *reply, void *data)
{
    bk_http *request = data;
    const char *text;
    size_t len;
    json_t *body = bk_redis_reply_unpack(reply, BK_SHAPE_TEXT, &text, &len) == 0 ? json_loadb(text, len, 0, NULL)
                                                                                : NULL;
    if (!body) {
        bk_api_reply_store_error(request, reply, BK_REFUSALS(BK_ERR_NOT_FOUND), BK_STORAGE_READ);
        return;
    }
    size_t i;
    json_t *team;
    json_array_foreach(json_object_get(body, "teams"), i, team) {
        if (!json_is_array(json_object_get(team, "members")))
            json_object_set_new(team, "members", json_array());
        if (!json_object_get(team, "fallback"))
            json_object_set_new(team, "fallback", json_null());
    }
    bk_api_reply_json(request, 200, body);
}

static void on_changed(redisReply *reply, void *data)
{
    bk_http *request = data;
    long long done;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_INTEGER, &done) == 0)
        bk_api_reply_json(request, 200, json_pack("{s:b}", "ok", 1));
    else
        bk_api_reply_store_error(request, reply, BK_REFUSALS(BK_ERR_NOT_FOUND), BK_STORAGE_WRITE);
}

static void team_save(bk_teams_api *api, bk_http *request, const char *prefix, const char *site, const char *name)
{
    json_t *body = bk_api_request_json(request);
    if (!body)
        return;
    if (!json_is_object(body)) {
        json_decref(body);
        bk_api_reply_error(request, 400, BK_ERR_BAD_JSON, "expected a JSON object");
        return;
    }
    char why[160];
    json_t *stored;
    const char *problem = bk_team_check(body, name, &stored, why, sizeof why);
    int is_default = json_is_true(json_object_get(body, "default"));
    json_decref(body);
    if (problem) {
        bk_api_reply_error(request, 400, BK_ERR_BAD_REQUEST, problem);
        return;
    }
    char *text = json_dumps(stored, JSON_COMPACT);
    json_decref(stored);
    if (!text) {
        bk_api_reply_error(request, 500, BK_ERR_INTERNAL, "out of memory");
        return;
    }
    const char *argv[] = { prefix, site, name, text, is_default ? "1" : "0" };
    if (bk_store_script(api->server->store, api->scripts[SCRIPT_SAVE], on_changed, request, 0, 5, argv, NULL) != 0)
        bk_api_reply_store_error(request, NULL, NULL, BK_STORAGE_WRITE);
    free(text);
}

void bk_teams_api_handle(bk_teams_api *api, bk_http *request, const char *site, const char *rest)
{
    const char *method = bk_http_method(request);
    char prefix[BK_KEYS_PREFIX_SIZE], now[24], name[BK_ID_MAX + 1];
    bk_keys_prefix_of_site(api->server->config->prefix, site, prefix);
    if (strcmp(rest, "") == 0) {
        if (strcmp(method, "GET") != 0) {
            bk_api_reply_error(request, 405, BK_ERR_BAD_REQUEST, "use GET (a team: PUT /api/sites/{id}/teams/{name})");
            return;
        }
        snprintf(now, sizeof now, "%lld", (long long)bk_now_ms());
        const char *argv[] = { prefix, site, now };
        if (bk_store_script(api->server->store, api->scripts[SCRIPT_GET], on_listed, request, 0, 3, argv, NULL) != 0)
            bk_api_reply_store_error(request, NULL, NULL, BK_STORAGE_READ);
        return;
    }
    size_t skip = (size_t)(rest - bk_http_path(request)) + 1;
    const char *after;
    if (rest[0] != '/' || bk_api_request_id(request, skip, name, &after) != 0 || after[0]) {
        bk_api_reply_error(request, 404, BK_ERR_NOT_FOUND, "team names are [A-Za-z0-9_-]{1,64}");
        return;
    }
    if (strcmp(method, "PUT") == 0) {
        team_save(api, request, prefix, site, name);
    } else if (strcmp(method, "DELETE") == 0) {
        const char *argv[] = { prefix, site, name };
        if (bk_store_script(api->server->store, api->scripts[SCRIPT_DELETE], on_changed, request, 0, 3, argv,
                            NULL) != 0)
            bk_api_reply_store_error(request, NULL, NULL, BK_STORAGE_WRITE);
    } else {
        bk_api_reply_error(request, 405, BK_ERR_BAD_REQUEST, "use PUT or DELETE");
    }
}

bk_teams_api *bk_teams_api_new(bk_server *server)
{
    bk_teams_api *api = calloc(1, sizeof *api);
    if (!api)
        return NULL;
    api->server = server;
    api->scripts[SCRIPT_GET] = bk_store_script_add(server->store, bk_lua_teams_get);
    api->scripts[SCRIPT_SAVE] = bk_store_script_add(server->store, bk_lua_team_save);
    api->scripts[SCRIPT_DELETE] = bk_store_script_add(server->store, bk_lua_team_delete);
    return api;
}

void bk_teams_api_free(bk_teams_api *api)
{
    free(api);
}
