/* explain.c - the marketer's dry run: why each rule does or does not fire.
 *
 * Explanations follow the rule's own layout (document order, not the
 * cost-sorted evaluation order) so that "the first failing condition" is the
 * first one the marketer sees when reading the rule. They are checked in the
 * order enabled, when, unless, only, cap, budget/quiet time: the first part
 * that stops a rule is the one reported. */
#include "rules/rule_set.h"
#include "base/utf8.h"

#include "rules/civil.h"

#include <stdio.h>
#include <string.h>

typedef struct finding {
    char path[BK_RULES_PATH_MAX];
    char detail[BK_RULES_MESSAGE_MAX];
} finding;

static void describe_leaf(const bk_rule *rule, const bk_node *leaf, const bk_eval_env *env, finding *out)
{
    char wanted[160], actual[96];
    bk_value value = bk_field_value(env, leaf, rule->tz, env->now_ms);
    bk_leaf_describe(leaf, wanted, sizeof wanted);
    bk_value_describe(leaf, &value, actual, sizeof actual);
    bk_format(out->path, sizeof out->path, "%s", leaf->path);
    bk_format(out->detail, sizeof out->detail, "%s: actual %s", wanted, actual);
}

/* Node `index` evaluates to !expected now; say why, pointing at the first
 * condition in document order that is responsible. */
static void explain_node(const bk_rule *rule, int index, const bk_eval_env *env, bool expected, finding *out)
{
    const bk_node *node = &rule->nodes[index];
    const int64_t now = env->now_ms;
    switch ((bk_node_kind)node->kind) {
    case BK_NODE_LEAF:
        describe_leaf(rule, node, env, out);
        return;
    case BK_NODE_NOT:
        explain_node(rule, node->children[0], env, !expected, out);
        return;
    case BK_NODE_ALL:
    case BK_NODE_ANY:
        break;
    }
    bool is_all = node->kind == BK_NODE_ALL;
    /* all wanted true / any wanted false: one child is to blame. */
    if (is_all == expected) {
        for (uint16_t i = 0; i < node->child_count; i++) {
            if (bk_condition_holds(rule, node->children[i], env, now) != expected) {
                explain_node(rule, node->children[i], env, expected, out);
                return;
            }
        }
    }
    /* all wanted false / any wanted true: every child is to blame. */
    if (node->child_count == 1) {
        explain_node(rule, node->children[0], env, expected, out);
        return;
    }
    if (node->child_count == 0) {
        bk_format(out->path, sizeof out->path, "%s", node->path);
        bk_format(out->detail, sizeof out->detail, "an empty all always holds");
        return;
    }
    finding first;
    explain_node(rule, node->children[0], env, expected, &first);
    bk_format(out->path, sizeof out->path, "%s", node->path);
    bk_format(out->detail, sizeof out->detail, "%s of %u %s; first: %s %s",
             is_all ? "all" : "none", (unsigned)node->child_count,
             is_all ? "conditions hold" : "alternatives holds", first.path, first.detail);
}

static void format_instant(int64_t ms, char *out, size_t size)
{
    int64_t seconds = bk_floor_div(ms, BK_MS_PER_SECOND);
    int64_t day = bk_floor_div(seconds, BK_SECONDS_PER_DAY);
    int64_t second_of_day = seconds - day * BK_SECONDS_PER_DAY;
    int64_t year = bk_year_of_day(day);
    int64_t day_of_year = day - bk_days_from_civil(year, 1, 1);
    int month = 1;
    while (month < 12 && day_of_year >= bk_days_in_month(year, month))
        day_of_year -= bk_days_in_month(year, month++);
    bk_format(out, size, "%04lld-%02d-%02lldT%02lld:%02lld:%02lldZ", (long long)year, month,
             (long long)day_of_year + 1, (long long)(second_of_day / 3600), (long long)(second_of_day / 60 % 60),
             (long long)(second_of_day % 60));
}

static bk_rules_outcome explain_rule(const bk_rule *rule, const bk_eval_env *env, const bk_rule *winner,
                                     finding *out)
{
    const bk_rules_context *ctx = env->ctx;
    const bk_rules_settings *settings = env->settings;
    const int64_t now = env->now_ms;
    char when_text[64];

    out->path[0] = out->detail[0] = '\0';
    if (!rule->screen.enabled) {
        bk_format(out->path, sizeof out->path, "enabled");
        bk_format(out->detail, sizeof out->detail, "the rule is disabled");
        return BK_RULES_OUTCOME_DISABLED;
    }
    if (!bk_condition_holds(rule, rule->when_root, env, now)) {
        explain_node(rule, rule->when_root, env, true, out);
        return BK_RULES_OUTCOME_WHEN;
    }
    if (rule->unless_root >= 0 && bk_condition_holds(rule, rule->unless_root, env, now)) {
        explain_node(rule, rule->unless_root, env, false, out);
        return BK_RULES_OUTCOME_UNLESS;
    }
    if (rule->sites) {
        bool listed = false;
        for (size_t i = 0; ctx->site && i < rule->site_count; i++)
            listed = listed || strcmp(rule->sites[i], ctx->site) == 0;
        if (!listed) {
            bk_format(out->path, sizeof out->path, "only.site");
            bk_format(out->detail, sizeof out->detail, "site %s%s%s is not listed", ctx->site ? "\"" : "",
                     ctx->site ? ctx->site : "missing", ctx->site ? "\"" : "");
            return BK_RULES_OUTCOME_ONLY;
        }
    }
    if (rule->screen.agents_required >= 0 && ctx->agents_available != (rule->screen.agents_required == 1)) {
        bk_format(out->path, sizeof out->path, "only.agents_available");
        bk_format(out->detail, sizeof out->detail, "wants %s: actual %s", rule->screen.agents_required ? "true" : "false",
                 ctx->agents_available ? "true" : "false");
        return BK_RULES_OUTCOME_ONLY;
    }
    if (rule->hours && !bk_hours_open(rule->hours, rule->tz, now)) {
        bk_hours_describe_local(rule->tz, now, when_text, sizeof when_text);
        bk_format(out->path, sizeof out->path, "only.hours");
        bk_format(out->detail, sizeof out->detail, "closed: local time %s", when_text);
        return BK_RULES_OUTCOME_ONLY;
    }
    const bk_rules_cap_state *cap = bk_cap_state_find(env, rule);
    if (cap && cap->invitations_this_visit >= rule->per_visit) {
        bk_format(out->path, sizeof out->path, "cap.per_visit");
        bk_format(out->detail, sizeof out->detail, "%lld of %lld invitations this visit used",
                 (long long)cap->invitations_this_visit, (long long)rule->per_visit);
        return BK_RULES_OUTCOME_CAP;
    }
    if (cap && cap->last_invited_ms > 0 && rule->cooldown_ms > 0 && cap->last_invited_ms + rule->cooldown_ms > now) {
        format_instant(cap->last_invited_ms + rule->cooldown_ms, when_text, sizeof when_text);
        bk_format(out->path, sizeof out->path, "cap.cooldown_days");
        bk_format(out->detail, sizeof out->detail, "cooling down until %s", when_text);
        return BK_RULES_OUTCOME_CAP;
    }
    if (settings->daily_budget > 0 && ctx->invitations_today >= settings->daily_budget) {
        bk_format(out->path, sizeof out->path, "settings.daily_budget");
        bk_format(out->detail, sizeof out->detail, "%lld of %lld invitations today used",
                 (long long)ctx->invitations_today, (long long)settings->daily_budget);
        return BK_RULES_OUTCOME_CAP;
    }
    if (settings->dismiss_quiet_seconds > 0 && ctx->last_dismissed_ms > 0 &&
        ctx->last_dismissed_ms + settings->dismiss_quiet_seconds * BK_MS_PER_SECOND > now) {
        format_instant(ctx->last_dismissed_ms + settings->dismiss_quiet_seconds * BK_MS_PER_SECOND, when_text,
                       sizeof when_text);
        bk_format(out->path, sizeof out->path, "settings.dismiss_quiet_seconds");
        bk_format(out->detail, sizeof out->detail, "quiet after a dismissal until %s", when_text);
        return BK_RULES_OUTCOME_CAP;
    }
    if (rule == winner)
        return BK_RULES_OUTCOME_FIRES;
    bk_format(out->detail, sizeof out->detail, "outranked by \"%s\"", winner ? winner->id : "");
    return BK_RULES_OUTCOME_OUTRANKED;
}

int bk_rule_set_explain(const bk_rule_set *set, const bk_rules_context *ctx, int64_t now_ms,
                        const bk_rules_settings *settings, bk_rules_explain_fn fn, void *userdata,
                        bk_rules_result *out)
{
    if (!set || !ctx || !fn)
        return BK_RULES_ERR_ARGUMENT;
    bk_rules_settings scan = settings ? *settings : (bk_rules_settings){0, 0, false};
    scan.scan_all = true;
    bk_rules_result result;
    bk_rule_set_evaluate(set, ctx, now_ms, &scan, &result);
    if (out)
        *out = result;

    bk_eval_env env;
    bk_eval_env_init(&env, ctx, &scan, now_ms);
    const bk_rule *winner = result.rule_id ? bk_strmap_get(&set->by_id, result.rule_id, strlen(result.rule_id))
                                           : NULL;
    for (size_t i = 0; i < set->count; i++) {
        const bk_rule *rule = set->rules[i];
        bk_rules_explanation explanation;
        finding found;
        explanation.rule_id = rule->id;
        explanation.outcome = explain_rule(rule, &env, winner, &found);
        memcpy(explanation.path, found.path, sizeof explanation.path);
        memcpy(explanation.detail, found.detail, sizeof explanation.detail);
        explanation.could_fire_ms = 0;
        if (explanation.outcome != BK_RULES_OUTCOME_FIRES && explanation.outcome != BK_RULES_OUTCOME_OUTRANKED) {
            int64_t could_fire;
            if (bk_rule_screen_passes(&rule->screen, &env, INT64_MAX) &&
                bk_rule_judge(rule, &env, INT64_MAX, &could_fire) == BK_VERDICT_LATER && could_fire != INT64_MAX)
                explanation.could_fire_ms = could_fire;
        }
        bk_utf8_repair(explanation.path);
        bk_utf8_repair(explanation.detail);
        fn(&explanation, userdata);
    }
    return BK_RULES_OK;
}

const char *bk_rules_outcome_name(bk_rules_outcome outcome)
{
    switch (outcome) {
    case BK_RULES_OUTCOME_FIRES: return "fires";
    case BK_RULES_OUTCOME_OUTRANKED: return "outranked";
    case BK_RULES_OUTCOME_DISABLED: return "disabled";
    case BK_RULES_OUTCOME_WHEN: return "when";
    case BK_RULES_OUTCOME_UNLESS: return "unless";
    case BK_RULES_OUTCOME_ONLY: return "only";
    case BK_RULES_OUTCOME_CAP: return "cap";
    }
    return "unknown";
}
