/* rules_dry_run.c - POST /api/rules/test: which rule would fire, and why each would or would
 * not, for a stored visitor now or for a simulated visit walked through in time. */
#include "http/rules_dry_run.h"

#include "http/reply.h"
#include "http/request.h"
#include "base/ids.h"
#include "base/keys.h"
#include "store/redis_reply.h"
#include "store/redis_shapes.h"
#include "lua/embedded.h"
#include "triggers/triggers.h"

#include <beckon/protocol.h>
#include <beckon/rules.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIMULATION_STEPS 1000   /* timer firings walked through in one simulated visit */

struct bk_rules_dry_run {
    bk_server *server;
    int profile_script;
};

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

/* A dry run for a stored visitor, waiting for its profile. */
typedef struct stored_dry_run {
    bk_rules_dry_run *dry_run;
    bk_http *request;
    json_t *body;
    bk_rule_set *draft;     /* owned, or NULL for the live set */
    int agents;
} stored_dry_run;

static void on_profile(redisReply *reply, void *data)
{
    stored_dry_run *d = data;
    bk_server *server = d->dry_run->server;
    const char *text;
    size_t len;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_TEXT, &text, &len) != 0) {
        bk_api_reply_store_error(d->request, reply, BK_REFUSALS(BK_ERR_NOT_FOUND), BK_STORAGE_READ);
    } else {
        json_t *profile = json_loadb(text, len, 0, NULL);
        const bk_rule_set *set = d->draft ? d->draft : bk_triggers_rules(server->triggers);
        bk_rules_result result;
        int64_t now = bk_now_ms();
        json_t *list = set ? explain_at(set, bk_triggers_settings(server->triggers), profile,
                                        d->agents, now, 0, &result) : json_array();
        json_t *fires = set && result.rule_id ? json_pack("{s:s, s:i}", "rule", result.rule_id, "at", 0)
                                              : json_null();
        json_decref(profile);
        bk_api_reply_json(d->request, 200, json_pack("{s:o, s:o}", "fires", fires, "rules", list));
    }
    bk_rule_set_free(d->draft);
    json_decref(d->body);
    free(d);
}

void bk_rules_dry_run_handle(bk_rules_dry_run *dry_run, bk_http *request)
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
                char path[BK_RULES_PATH_MAX + 32];
                snprintf(path, sizeof path, "rules[%zu].%s", i, err.path);
                bk_api_reply_error_at(request, 400, "invalid_rule", path, err.message);
                goto fail;
            }
        }
    }
    const bk_rule_set *set = draft ? draft : bk_triggers_rules(dry_run->server->triggers);
    bk_rule_set *empty = NULL;
    if (!set)
        set = empty = bk_rule_set_new();
    json_t *visitor = json_object_get(body, "visitor");
    json_t *visit = json_object_get(body, "visit");
    if (json_is_object(visit)) {
        simulate(request, set, bk_triggers_settings(dry_run->server->triggers), visit);
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
    d->dry_run = dry_run;
    d->request = request;
    d->body = body;
    d->draft = draft;
    json_t *agents = json_object_get(body, "agents_available");
    d->agents = agents ? json_is_true(agents) : 1;
    char prefix[BK_KEYS_PREFIX_SIZE];
    bk_keys_prefix_of_id(dry_run->server->config->prefix, json_string_value(visitor), prefix);
    const char *argv[] = { prefix, json_string_value(visitor) };
    if (bk_store_script(dry_run->server->store, dry_run->profile_script, on_profile, d, 0, 2, argv, NULL) != 0) {
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

bk_rules_dry_run *bk_rules_dry_run_new(bk_server *server)
{
    bk_rules_dry_run *dry_run = calloc(1, sizeof *dry_run);
    if (!dry_run)
        return NULL;
    dry_run->server = server;
    dry_run->profile_script = bk_store_script_add(server->store, bk_lua_profile);
    return dry_run;
}

void bk_rules_dry_run_free(bk_rules_dry_run *dry_run)
{
    free(dry_run);
}
