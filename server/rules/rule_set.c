/* rule_set.c - the rule set: adding, removing, and evaluating.
 *
 * Evaluation asks the index for candidates and judges each one (see
 * condition.c). The winner is the candidate that fires with the highest
 * priority, ties going to the smaller id; next_check_ms is the earliest
 * instant at which any candidate that does not fire now could. Candidates
 * are judged in whatever order the index yields them, so both answers are
 * defined by comparisons alone and never depend on that order. */
#include "rules/rule_set.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *bk_rules_status_name(int status)
{
    switch (status) {
    case BK_RULES_OK: return "ok";
    case BK_RULES_ERR_INVALID: return "invalid rule";
    case BK_RULES_ERR_DUPLICATE: return "duplicate rule id";
    case BK_RULES_ERR_NOT_FOUND: return "no such rule";
    case BK_RULES_ERR_NO_MEMORY: return "out of memory";
    case BK_RULES_ERR_ARGUMENT: return "invalid argument";
    default: return "unknown status";
    }
}

bool bk_rule_outranks(const bk_rule *a, const bk_rule *b)
{
    if (a->priority != b->priority)
        return a->priority > b->priority;
    return strcmp(a->id, b->id) < 0;
}

bk_rule_set *bk_rule_set_new(void)
{
    bk_rule_set *set = calloc(1, sizeof *set);
    if (set)
        bk_rule_index_init(&set->index);
    return set;
}

void bk_rule_set_free(bk_rule_set *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->count; i++)
        bk_rule_free(set->rules[i]);
    free(set->rules);
    bk_strmap_free(&set->by_id);
    bk_rule_index_free(&set->index);
    bk_tz_cache_free(&set->zones);
    free(set);
}

size_t bk_rule_set_count(const bk_rule_set *set)
{
    return set ? set->count : 0;
}

static bool reserve(bk_rule_set *set, size_t extra)
{
    if (set->count + extra <= set->capacity)
        return true;
    size_t capacity = set->capacity ? set->capacity : 16;
    while (capacity < set->count + extra)
        capacity *= 2;
    bk_rule **rules = realloc(set->rules, capacity * sizeof *rules);
    if (!rules)
        return false;
    set->rules = rules;
    set->capacity = capacity;
    return true;
}

/* Files a compiled rule in the id map, the index and the ordered array.
 * Space in the array must already be reserved. */
static int insert(bk_rule_set *set, bk_rule *rule)
{
    if (!bk_strmap_put(&set->by_id, rule->id, strlen(rule->id), rule))
        return BK_RULES_ERR_NO_MEMORY;
    if (bk_rule_index_add(&set->index, rule) != BK_RULES_OK) {
        bk_strmap_remove(&set->by_id, rule->id, strlen(rule->id));
        return BK_RULES_ERR_NO_MEMORY;
    }
    size_t lo = 0, hi = set->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (bk_rule_outranks(set->rules[mid], rule))
            lo = mid + 1;
        else
            hi = mid;
    }
    memmove(&set->rules[lo + 1], &set->rules[lo], (set->count - lo) * sizeof *set->rules);
    set->rules[lo] = rule;
    set->count++;
    return BK_RULES_OK;
}

int bk_rule_set_add_json(bk_rule_set *set, const char *json, size_t len, bk_rules_error *err)
{
    if (!set || !json) {
        bk_rules_error_set(err, "", "invalid argument");
        return BK_RULES_ERR_ARGUMENT;
    }
    bk_rule *rule;
    int status = bk_rule_compile(json, len, "", &set->zones, &rule, err);
    if (status != BK_RULES_OK)
        return status;
    if (bk_strmap_get(&set->by_id, rule->id, strlen(rule->id))) {
        bk_rules_error_set(err, "id", "a rule with id \"%s\" already exists", rule->id);
        bk_rule_free(rule);
        return BK_RULES_ERR_DUPLICATE;
    }
    if (!reserve(set, 1) || (status = insert(set, rule)) != BK_RULES_OK) {
        bk_rules_error_set(err, "", "out of memory");
        bk_rule_free(rule);
        return BK_RULES_ERR_NO_MEMORY;
    }
    return BK_RULES_OK;
}

int bk_rule_set_load_json(bk_rule_set *set, const char *json, size_t len, bk_rules_error *err)
{
    if (!set || !json) {
        bk_rules_error_set(err, "", "invalid argument");
        return BK_RULES_ERR_ARGUMENT;
    }
    json_error_t parse_error;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &parse_error);
    if (!root) {
        bk_rules_error_set(err, "", "invalid JSON at line %d column %d: %s", parse_error.line,
                           parse_error.column, parse_error.text);
        return BK_RULES_ERR_INVALID;
    }
    if (!json_is_array(root)) {
        json_decref(root);
        bk_rules_error_set(err, "", "expected an array of rules");
        return BK_RULES_ERR_INVALID;
    }

    /* Compile everything first, so that a mistake anywhere leaves the set
     * as it was. Ids are checked against the set and each other. */
    size_t n = json_array_size(root);
    bk_rule **fresh = calloc(n ? n : 1, sizeof *fresh);
    bk_strmap seen = {0};
    int status = fresh ? BK_RULES_OK : BK_RULES_ERR_NO_MEMORY;
    if (!fresh)
        bk_rules_error_set(err, "", "out of memory");
    for (size_t i = 0; i < n && status == BK_RULES_OK; i++) {
        char prefix[32];
        snprintf(prefix, sizeof prefix, "[%zu]", i);
        status = bk_rule_compile_object(json_array_get(root, i), prefix, &set->zones, &fresh[i], err);
        if (status != BK_RULES_OK)
            break;
        const char *id = fresh[i]->id;
        if (bk_strmap_get(&set->by_id, id, strlen(id)) || bk_strmap_get(&seen, id, strlen(id))) {
            char path[48];
            snprintf(path, sizeof path, "%s.id", prefix);
            bk_rules_error_set(err, path, "a rule with id \"%s\" already exists", id);
            status = BK_RULES_ERR_DUPLICATE;
        } else if (!bk_strmap_put(&seen, id, strlen(id), fresh[i])) {
            bk_rules_error_set(err, prefix, "out of memory");
            status = BK_RULES_ERR_NO_MEMORY;
        }
    }
    if (status == BK_RULES_OK && !reserve(set, n)) {
        bk_rules_error_set(err, "", "out of memory");
        status = BK_RULES_ERR_NO_MEMORY;
    }
    size_t inserted = 0;
    while (status == BK_RULES_OK && inserted < n) {
        status = insert(set, fresh[inserted]);
        if (status == BK_RULES_OK)
            inserted++;
        else
            bk_rules_error_set(err, "", "out of memory");
    }
    if (status != BK_RULES_OK) {
        /* Take back what was inserted before running out of memory; the
         * removal frees those rules, the loop below the others. */
        for (size_t i = 0; i < inserted; i++) {
            bk_rule_set_remove(set, fresh[i]->id);
            fresh[i] = NULL;
        }
        for (size_t i = 0; fresh && i < n; i++)
            bk_rule_free(fresh[i]);
    }
    bk_strmap_free(&seen);
    free(fresh);
    json_decref(root);
    return status;
}

int bk_rule_set_remove(bk_rule_set *set, const char *id)
{
    if (!set || !id)
        return BK_RULES_ERR_ARGUMENT;
    bk_rule *rule = bk_strmap_remove(&set->by_id, id, strlen(id));
    if (!rule)
        return BK_RULES_ERR_NOT_FOUND;
    bk_rule_index_remove(&set->index, rule);
    for (size_t i = 0; i < set->count; i++) {
        if (set->rules[i] == rule) {
            memmove(&set->rules[i], &set->rules[i + 1], (set->count - i - 1) * sizeof *set->rules);
            set->count--;
            break;
        }
    }
    bk_rule_free(rule);
    return BK_RULES_OK;
}

int bk_rule_validate_json(const char *json, size_t len, bk_rules_error *err)
{
    if (!json) {
        bk_rules_error_set(err, "", "invalid argument");
        return BK_RULES_ERR_ARGUMENT;
    }
    bk_tz_cache zones = {0};
    bk_rule *rule;
    int status = bk_rule_compile(json, len, "", &zones, &rule, err);
    bk_rule_free(rule);
    bk_tz_cache_free(&zones);
    return status;
}

const char *bk_rule_set_id_at(const bk_rule_set *set, size_t i)
{
    return set && i < set->count ? set->rules[i]->id : NULL;
}

void bk_rules_context_init(bk_rules_context *ctx)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->visit_pages = -1;
    ctx->visits = -1;
    ctx->chats = -1;
    ctx->invitations_today = 0;
}

/* ---- evaluation --------------------------------------------------- */

typedef struct evaluation {
    const bk_eval_env *env;
    const bk_rule *best;
    int64_t next_check;
    size_t evaluated;
    bk_rules_observe_fn observe;
    void *observe_data;
} evaluation;

static void judge_candidate(const bk_rule *rule, void *userdata)
{
    evaluation *e = userdata;
    int64_t could_fire;
    /* Only instants before the earliest one known so far can matter. */
    bk_rule_verdict verdict = bk_rule_judge(rule, e->env, e->next_check, &could_fire);
    if (e->observe)
        e->observe(rule->id, verdict == BK_VERDICT_FIRES, e->observe_data);
    if (verdict == BK_VERDICT_FIRES) {
        if (!e->best || bk_rule_outranks(rule, e->best))
            e->best = rule;
    } else if (verdict == BK_VERDICT_LATER && could_fire < e->next_check) {
        e->next_check = could_fire;
    }
}

int bk_rule_set_evaluate(const bk_rule_set *set, const bk_rules_context *ctx, int64_t now_ms,
                         const bk_rules_settings *settings, bk_rules_result *out)
{
    return bk_rule_set_evaluate_observed(set, ctx, now_ms, settings, NULL, NULL, out);
}

int bk_rule_set_evaluate_observed(const bk_rule_set *set, const bk_rules_context *ctx, int64_t now_ms,
                                  const bk_rules_settings *settings, bk_rules_observe_fn observe,
                                  void *userdata, bk_rules_result *out)
{
    if (!out)
        return BK_RULES_ERR_ARGUMENT;
    memset(out, 0, sizeof *out);
    if (!set || !ctx)
        return BK_RULES_ERR_ARGUMENT;

    bk_eval_env env;
    bk_eval_env_init(&env, ctx, settings, now_ms);
    evaluation e = {&env, NULL, INT64_MAX, 0, observe, userdata};
    if (env.settings->scan_all) {
        for (size_t i = 0; i < set->count; i++)
            if (bk_rule_screen_passes(&set->rules[i]->screen, &env, e.next_check))
                judge_candidate(set->rules[i], &e);
        e.evaluated = set->count;
    } else {
        e.evaluated = bk_rule_index_visit(&set->index, &env, &e.next_check, judge_candidate, &e);
    }

    if (e.best) {
        out->rule_id = e.best->id;
        out->rule_name = e.best->name;
        out->priority = e.best->priority;
        out->invite_text = e.best->invite_text;
        out->invite_agent = e.best->invite_agent;
        out->invite_delay_seconds = e.best->invite_delay_seconds;
    }
    out->next_check_ms = e.next_check == INT64_MAX ? 0 : e.next_check;
    out->rules_evaluated = e.evaluated;
    return BK_RULES_OK;
}
