/* rules_api.c - rules over REST: list, get, save, delete, versions, revert, validate,
 * dry run, and the per-rule daily stats. */
#include "http/rules_api.h"

#include "http/reply.h"
#include "http/request.h"
#include "base/ids.h"
#include "base/log.h"
#include "store/redis_reply.h"
#include "store/redis_shapes.h"
#include "lua/scripts.h"
#include "triggers/triggers.h"

#include <beckon/protocol.h>
#include <beckon/rules.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STATS_DAYS_MAX   92
#define SIMULATION_STEPS 1000   /* timer firings walked through in one simulated visit */
#define IMPORT_RETRY_MS  250

enum { SCRIPT_SAVE, SCRIPT_DELETE, SCRIPT_REVERT, SCRIPT_GET, SCRIPT_STATS, SCRIPT_PROFILE, SCRIPT_COUNT };

struct bk_rules_api {
    bk_server *server;
    int scripts[SCRIPT_COUNT];
    uv_timer_t import_timer;
    int imported;
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

static void respond_invalid(bk_http *request, const char *path_prefix, const bk_rules_error *err)
{
    char path[BK_RULES_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s%s", path_prefix, err->path);
    bk_api_reply_error_at(request, 400, "invalid_rule", path, err->message);
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
        respond_invalid(request, "", &err);
        free(text);
        return;
    }
    pending *p = pending_new(api, request, id);
    if (p) {
        char now[24];
        snprintf(now, sizeof now, "%lld", (long long)bk_now_ms());
        const char *argv[] = { api->server->config->prefix, id, text, who, now, "0" };
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
    const char *argv[] = { api->server->config->prefix, id, who, now };
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
    const char *argv[] = { api->server->config->prefix, id, number, who, now };
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
    const char *argv[] = { api->server->config->prefix, id ? id : "" };
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
    snprintf(key, sizeof key, "%srules:history:%s", api->server->config->prefix, id);
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
        respond_invalid(request, "", &err);
    else
        bk_api_reply_json(request, 200, json_pack("{s:b}", "valid", 1));
}

/* ---- the dry run ------------------------------------------------------------------------- */

typedef struct explanations {
    json_t *list;
    int64_t start;   /* a simulated visit's start: times become seconds into the visit */
} explanations;

static void on_explanation(const bk_rules_explanation *e, void *data)
{
    explanations *x = data;
    json_t *entry = json_pack("{s:s, s:s, s:s, s:s}", "id", e->rule_id, "outcome",
                              bk_rules_outcome_name(e->outcome), "path", e->path, "detail", e->detail);
    if (e->could_fire_ms && x->start)
        json_object_set_new(entry, "could_fire_at", json_real((double)(e->could_fire_ms - x->start) / 1000.0));
    else if (e->could_fire_ms)
        json_object_set_new(entry, "could_fire_at_ms", json_integer(e->could_fire_ms));
    json_array_append_new(x->list, entry);
}

/* Explains every rule for profile at `now`; the result goes into *result. */
static json_t *explain_at(const bk_rule_set *set, const bk_rules_settings *settings, json_t *profile,
                          int agents, int64_t now, int64_t start, bk_rules_result *result)
{
    explanations x = { json_array(), start };
    bk_trigger_context *context = bk_trigger_context_new();
    if (context) {
        const bk_rules_context *ctx = bk_trigger_context_fill(context, profile, agents, NULL, NULL, now);
        bk_rule_set_explain(set, ctx, now, settings, on_explanation, &x, result);
        bk_trigger_context_free(context);
    }
    return x.list;
}

static int evaluate_at(const bk_rule_set *set, const bk_rules_settings *settings, json_t *profile,
                       int agents, const char *event, int64_t now, bk_rules_result *result)
{
    bk_trigger_context *context = bk_trigger_context_new();
    if (!context)
        return -1;
    const bk_rules_context *ctx = bk_trigger_context_fill(context, profile, agents, event, NULL, now);
    int rc = bk_rule_set_evaluate(set, ctx, now, settings, result);
    bk_trigger_context_free(context);
    return rc;
}

static void profile_set_number(json_t *profile, const char *key, long long value)
{
    char text[24];
    snprintf(text, sizeof text, "%lld", value);
    json_object_set_new(profile, key, json_string(text));
}

static void profile_copy_string(json_t *profile, const char *key, json_t *from, const char *from_key)
{
    json_t *value = json_object_get(from, from_key);
    if (json_is_string(value))
        json_object_set_new(profile, key, json_string(json_string_value(value)));
}

/* Walks a simulated visit: each page view is an event; between them the engine's
 * next_check_ms says when time alone may change the answer. Responds itself. */
static void simulate(bk_http *request, const bk_rule_set *set, const bk_rules_settings *settings,
                     json_t *visit)
{
    json_t *pages = json_object_get(visit, "pages");
    if (!json_is_array(pages) || json_array_size(pages) == 0 || json_array_size(pages) > 200) {
        bk_api_reply_error(request, 400, BK_ERR_BAD_REQUEST, "visit.pages: expected 1 to 200 page views");
        return;
    }
    size_t index;
    json_t *page;
    double previous = 0;
    json_array_foreach(pages, index, page) {
        json_t *at = json_object_get(page, "at"), *url = json_object_get(page, "url");
        if (!json_is_number(at) || json_number_value(at) < previous || json_number_value(at) > 86400 ||
            !json_is_string(url)) {
            char message[128];
            snprintf(message, sizeof message, "visit.pages[%zu]: expected {url, at} with at in seconds, "
                     "not decreasing, at most 86400", index);
            bk_api_reply_error(request, 400, BK_ERR_BAD_REQUEST, message);
            return;
        }
        previous = json_number_value(at);
    }
    json_t *until_value = json_object_get(visit, "until");
    double until = json_is_number(until_value) ? json_number_value(until_value) : previous;
    if (until < previous || until > 86400) {
        bk_api_reply_error(request, 400, BK_ERR_BAD_REQUEST, "visit.until: expected seconds after the last page");
        return;
    }
    json_t *agents_value = json_object_get(visit, "agents_available");
    int agents = agents_value ? json_is_true(agents_value) : 1;

    int64_t start = bk_now_ms();
    json_t *profile = json_object();
    profile_set_number(profile, "visit_started", start);
    json_t *visits = json_object_get(visit, "visits"), *chats = json_object_get(visit, "chats");
    profile_set_number(profile, "visits", json_is_integer(visits) ? json_integer_value(visits) : 1);
    profile_set_number(profile, "chats", json_is_integer(chats) ? json_integer_value(chats) : 0);
    profile_copy_string(profile, "lang", visit, "lang");
    profile_copy_string(profile, "device", visit, "device");
    profile_copy_string(profile, "site", visit, "site");
    profile_copy_string(profile, "visit_referrer", visit, "referrer");
    const char *first_url = json_string_value(json_object_get(json_array_get(pages, 0), "url"));
    static const char *const utm[] = { "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content" };
    for (size_t i = 0; i < 5; i++) {
        char value[BK_PROP_VALUE_MAX + 1];
        bk_url_query_value(first_url, utm[i], value, sizeof value);
        if (value[0])
            json_object_set_new(profile, utm[i], json_string(value));
    }

    int64_t fired_at = -1, end = start + (int64_t)(until * 1000), moment = end;
    const char *fired_rule = NULL;
    bk_rules_result result;
    json_array_foreach(pages, index, page) {
        int64_t at = start + (int64_t)(json_number_value(json_object_get(page, "at")) * 1000);
        profile_copy_string(profile, "page_url", page, "url");
        json_object_del(profile, "page_title");
        profile_copy_string(profile, "page_title", page, "title");
        profile_set_number(profile, "page_started", at);
        profile_set_number(profile, "visit_pages", (long long)index + 1);
        profile_set_number(profile, "last_event", at);
        json_t *next = json_array_get(pages, index + 1);
        int64_t limit = next ? start + (int64_t)(json_number_value(json_object_get(next, "at")) * 1000) : end;
        int64_t now = at;
        const char *event = "page_view";
        for (int step = 0; step < SIMULATION_STEPS; step++) {
            if (evaluate_at(set, settings, profile, agents, event, now, &result) != BK_RULES_OK)
                break;
            if (result.rule_id) {
                fired_at = now + result.invite_delay_seconds * 1000;
                fired_rule = result.rule_id;
                break;
            }
            if (!result.next_check_ms || result.next_check_ms > limit)
                break;
            now = result.next_check_ms;
            event = NULL;
        }
        if (fired_rule) {
            moment = now;
            break;
        }
    }
    json_t *fires = fired_rule ? json_pack("{s:s, s:f}", "rule", fired_rule, "at",
                                           (double)(fired_at - start) / 1000.0)
                               : json_null();
    json_t *list = explain_at(set, settings, profile, agents, moment, start, &result);
    json_decref(profile);
    bk_api_reply_json(request, 200, json_pack("{s:o, s:o}", "fires", fires, "rules", list));
}

typedef struct stored_dry_run {
    pending base;
    bk_rule_set *draft;     /* owned, or NULL for the live set */
    int agents;
} stored_dry_run;

static void on_profile(redisReply *reply, void *data)
{
    stored_dry_run *d = data;
    bk_rules_api *api = d->base.api;
    const char *text;
    size_t len;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_TEXT, &text, &len) != 0) {
        bk_api_reply_store_error(d->base.request, reply, RULE_REFUSALS, BK_STORAGE_READ);
    } else {
        json_t *profile = json_loadb(text, len, 0, NULL);
        const bk_rule_set *set = d->draft ? d->draft : bk_triggers_rules(api->server->triggers);
        bk_rules_result result;
        int64_t now = bk_now_ms();
        json_t *list = set ? explain_at(set, bk_triggers_settings(api->server->triggers), profile,
                                        d->agents, now, 0, &result) : json_array();
        json_t *fires = set && result.rule_id ? json_pack("{s:s, s:i}", "rule", result.rule_id, "at", 0)
                                              : json_null();
        json_decref(profile);
        bk_api_reply_json(d->base.request, 200, json_pack("{s:o, s:o}", "fires", fires, "rules", list));
    }
    bk_rule_set_free(d->draft);
    json_decref(d->base.body);
    free(d);
}

static void dry_run(bk_rules_api *api, bk_http *request)
{
    json_t *body = bk_api_request_json(request);
    if (!body)
        return;
    /* A draft ("rules": [...]) is tried instead of the saved rules. */
    bk_rule_set *draft = NULL;
    json_t *rules = json_object_get(body, "rules");
    if (rules) {
        draft = bk_rule_set_new();
        size_t i;
        json_t *rule;
        if (!json_is_array(rules)) {
            bk_api_reply_error(request, 400, BK_ERR_BAD_REQUEST, "rules: expected an array of rules");
            goto fail;
        }
        json_array_foreach(rules, i, rule) {
            char *text = json_dumps(rule, JSON_COMPACT);
            bk_rules_error err;
            int rc = text ? bk_rule_set_add_json(draft, text, strlen(text), &err) : BK_RULES_ERR_ARGUMENT;
            free(text);
            if (rc != BK_RULES_OK) {
                char prefix[32];
                snprintf(prefix, sizeof prefix, "rules[%zu].", i);
                respond_invalid(request, prefix, &err);
                goto fail;
            }
        }
    }
    const bk_rule_set *set = draft ? draft : bk_triggers_rules(api->server->triggers);
    bk_rule_set *empty = NULL;
    if (!set)
        set = empty = bk_rule_set_new();
    json_t *visitor = json_object_get(body, "visitor");
    json_t *visit = json_object_get(body, "visit");
    if (json_is_object(visit)) {
        simulate(request, set, bk_triggers_settings(api->server->triggers), visit);
        bk_rule_set_free(empty);
        goto fail;  /* answered: only cleanup is left */
    }
    bk_rule_set_free(empty);
    if (!json_is_string(visitor) || !bk_id_valid(json_string_value(visitor))) {
        bk_api_reply_error(request, 400, BK_ERR_BAD_REQUEST,
                           "expected {\"visitor\": \"v_...\"} or {\"visit\": {\"pages\": [...]}}");
        goto fail;
    }
    stored_dry_run *d = calloc(1, sizeof *d);
    if (!d) {
        bk_api_reply_error(request, 500, BK_ERR_INTERNAL, "out of memory");
        goto fail;
    }
    d->base.api = api;
    d->base.request = request;
    d->base.body = body;
    d->draft = draft;
    json_t *agents = json_object_get(body, "agents_available");
    d->agents = agents ? json_is_true(agents) : 1;
    const char *argv[] = { api->server->config->prefix, json_string_value(visitor) };
    if (bk_store_script(api->server->store, api->scripts[SCRIPT_PROFILE], on_profile, d, 0, 2, argv, NULL) != 0) {
        bk_api_reply_store_error(request, NULL, NULL, BK_STORAGE_READ);
        bk_rule_set_free(draft);
        json_decref(body);
        free(d);
    }
    return;
fail:
    bk_rule_set_free(draft);
    json_decref(body);
}

/* ---- stats ----------------------------------------------------------------------------- */

static int parse_date(const char *text, int64_t *ms)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *end = strptime(text, "%Y-%m-%d", &tm);
    if (!end || *end != '\0' || tm.tm_year < 100 || tm.tm_year > 300)
        return -1;
    *ms = (int64_t)timegm(&tm) * 1000;
    return 0;
}

static void on_stats(redisReply *reply, void *data)
{
    pending *p = data;
    const redisReply *days;
    size_t at;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_STATS, &days, &at) != 0) {
        bk_api_reply_store_error(p->request, reply, RULE_REFUSALS, BK_STORAGE_READ);
        pending_free(p);
        return;
    }
    /* {"day": {"rule:counter": n}} -> {"rule": {"days": {"YYYY-MM-DD": {...}}, "totals": {...}}} */
    json_t *rules = json_object();
    const char *day, *counters_json;
    size_t day_len;
    while (bk_redis_reply_unpack_next(days, &at, BK_SHAPE_STATS_DAY, &day, &day_len, &counters_json) == 0) {
        if (day_len != 8)
            continue;  /* the script echoes the YYYYMMDD it was asked for: anything else is not a day */
        char date[11];
        snprintf(date, sizeof date, "%.4s-%.2s-%.2s", day, day + 4, day + 6);
        json_t *counters = json_loads(counters_json, 0, NULL);
        const char *key;
        json_t *value;
        json_object_foreach(counters, key, value) {
            const char *colon = strrchr(key, ':');
            if (!colon || colon - key > BK_ID_MAX)
                continue;
            char rule[BK_ID_MAX + 1];
            snprintf(rule, sizeof rule, "%.*s", (int)(colon - key), key);
            json_t *entry = json_object_get(rules, rule);
            if (!entry) {
                entry = json_pack("{s:{}, s:{}}", "days", "totals");
                json_object_set_new(rules, rule, entry);
            }
            json_t *days = json_object_get(entry, "days");
            json_t *on_day = json_object_get(days, date);
            if (!on_day) {
                on_day = json_object();
                json_object_set_new(days, date, on_day);
            }
            json_int_t n = (json_int_t)json_number_value(value);
            json_object_set_new(on_day, colon + 1, json_integer(n));
            json_t *totals = json_object_get(entry, "totals");
            json_object_set_new(totals, colon + 1,
                                json_integer(json_integer_value(json_object_get(totals, colon + 1)) + n));
        }
        json_decref(counters);
    }
    json_t *body = p->body;
    p->body = NULL;
    json_object_set_new(body, "rules", rules);
    bk_api_reply_json(p->request, 200, body);
    pending_free(p);
}

static void stats(bk_rules_api *api, bk_http *request)
{
    char from_text[16], to_text[16];
    bk_api_request_query(request, "from", from_text, sizeof from_text);
    bk_api_request_query(request, "to", to_text, sizeof to_text);
    int64_t now = bk_now_ms(), from, to;
    if (!to_text[0])
        to = now - now % 86400000;
    else if (parse_date(to_text, &to) != 0) {
        bk_api_reply_error(request, 400, BK_ERR_BAD_REQUEST, "to: expected YYYY-MM-DD");
        return;
    }
    if (!from_text[0])
        from = to - 6 * 86400000LL;
    else if (parse_date(from_text, &from) != 0) {
        bk_api_reply_error(request, 400, BK_ERR_BAD_REQUEST, "from: expected YYYY-MM-DD");
        return;
    }
    int64_t days = (to - from) / 86400000 + 1;
    if (days < 1 || days > STATS_DAYS_MAX) {
        bk_api_reply_error(request, 400, BK_ERR_BAD_REQUEST, "from..to: 1 to 92 days, from not after to");
        return;
    }
    pending *p = pending_new(api, request, NULL);
    if (!p)
        return;
    char first[9], last[9], from_date[11], to_date[11];
    bk_day_string(from, first);
    bk_day_string(to, last);
    snprintf(from_date, sizeof from_date, "%.4s-%.2s-%.2s", first, first + 4, first + 6);
    snprintf(to_date, sizeof to_date, "%.4s-%.2s-%.2s", last, last + 4, last + 6);
    p->body = json_pack("{s:s, s:s}", "from", from_date, "to", to_date);
    const char *argv[STATS_DAYS_MAX + 1];
    char day_strings[STATS_DAYS_MAX][9];
    argv[0] = api->server->config->prefix;
    for (int64_t i = 0; i < days; i++) {
        bk_day_string(from + i * 86400000, day_strings[i]);
        argv[i + 1] = day_strings[i];
    }
    run_script(p, SCRIPT_STATS, on_stats, (int)days + 1, argv, BK_STORAGE_READ);
}

/* ---- routing ---------------------------------------------------------------------------- */

void bk_rules_api_handle(bk_rules_api *api, bk_http *request, const char *who)
{
    const char *method = bk_http_method(request);
    const char *path = bk_http_path(request);
    int get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
    if (strcmp(path, "/api/stats/rules") == 0) {
        if (get)
            stats(api, request);
        else
            bk_api_reply_error(request, 405, BK_ERR_BAD_REQUEST, "use GET");
        return;
    }
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
    if (post && strcmp(rest, "test") == 0) {
        dry_run(api, request);
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
        const char *argv[] = { api->server->config->prefix, id, text, "rules-file", now, "1" };
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
    const char *const *const sources[SCRIPT_COUNT] = {
        BK_LUA(BK_LUA_RULE_SAVE), BK_LUA(BK_LUA_RULE_DELETE), BK_LUA(BK_LUA_RULE_REVERT), BK_LUA(BK_LUA_RULES_GET), BK_LUA(BK_LUA_STATS),
        BK_LUA(BK_LUA_PROFILE),
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
