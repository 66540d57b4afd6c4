/* condition.c - evaluating condition trees and whole rules over time.
 *
 * Two questions are asked of a rule: does it fire now, and if not, when is
 * the first instant it could fire if the visitor does nothing at all. Only
 * time-dependent fields (page.seconds, visit.seconds, idle.seconds,
 * visitor.days_since_last_chat, time.hour, time.weekday), opening hours,
 * cooldowns, the quiet time after a dismissal and the daily budget change
 * while the visitor does nothing, and each of them can say when it next
 * changes. So the answer is found by walking forward from one such change
 * point to the next and re-evaluating the rule there: exact for any mix of
 * all/any/not, and cheap because most rules have one or two change points.
 *
 * Before walking, and at every step, a cheaper pass prunes: a condition that is false and made
 * only of fields time cannot change (or of time fields that will never flip
 * back) is "false forever", and an `all` containing one is false forever
 * too. Rules whose `when` is false forever cost nothing more. */
#include "rules/rule.h"

#include "rules/civil.h"

#include <string.h>

/* Upper bound on change points visited per rule and evaluation. Reaching it
 * yields the last point visited: an early wake-up, never a missed one. */
#define MAX_TIME_STEPS 128

/* Clock conditions and opening hours repeat weekly; a day more covers an
 * offset change on the way. */
#define WEEK_AND_A_DAY_MS (8 * BK_MS_PER_DAY)

static const bk_node *node_at(const bk_rule *rule, int index)
{
    return &rule->nodes[index];
}

static bk_truth leaf_truth(const bk_rule *rule, int index, const bk_eval_env *env, int64_t at_ms,
                           bk_leaf_memo *memo)
{
    const bk_node *leaf = node_at(rule, index);
    const uint64_t bit = (uint64_t)1 << (index % 64);
    if (leaf->time == BK_TIME_NONE) {
        if (memo && (memo->known[index / 64] & bit))
            return (memo->holds[index / 64] & bit) ? BK_TRUE_FOREVER : BK_FALSE_FOREVER;
        bk_value actual = bk_field_value(env, leaf, rule->tz, at_ms);
        bool holds = bk_leaf_test(leaf, &actual);
        if (memo) {
            memo->known[index / 64] |= bit;
            if (holds)
                memo->holds[index / 64] |= bit;
        }
        return holds ? BK_TRUE_FOREVER : BK_FALSE_FOREVER;
    }
    bk_value actual = bk_field_value(env, leaf, rule->tz, at_ms);
    bool holds = bk_leaf_test(leaf, &actual);
    if (leaf->time == BK_TIME_CLOCK)
        return holds ? BK_TRUE : BK_FALSE;
    /* Elapsed fields only grow, and a missing one stays missing, which
     * settles the common comparisons without computing a change point. */
    if (actual.type == BK_RULES_VALUE_MISSING)
        return holds ? BK_TRUE_FOREVER : BK_FALSE_FOREVER;
    switch ((bk_op)leaf->op) {
    case BK_OP_GE:
    case BK_OP_GT:
        return holds ? BK_TRUE_FOREVER : BK_FALSE;
    case BK_OP_LE:
    case BK_OP_LT:
        return holds ? BK_TRUE : BK_FALSE_FOREVER;
    default:
        break;
    }
    if (bk_leaf_next_change(env, leaf, rule->tz, at_ms) == INT64_MAX)
        return holds ? BK_TRUE_FOREVER : BK_FALSE_FOREVER;
    return holds ? BK_TRUE : BK_FALSE;
}

bk_truth bk_condition_truth(const bk_rule *rule, int index, const bk_eval_env *env, int64_t at_ms,
                            bk_leaf_memo *memo)
{
    const bk_node *node = node_at(rule, index);
    switch ((bk_node_kind)node->kind) {
    case BK_NODE_LEAF:
        return leaf_truth(rule, index, env, at_ms, memo);
    case BK_NODE_NOT:
        return (bk_truth)(BK_TRUE_FOREVER - bk_condition_truth(rule, node->children[0], env, at_ms, memo));
    case BK_NODE_ALL: {
        /* A false child that may still flip does not settle the matter: a
         * later child might be false forever, which is worth knowing. */
        bk_truth result = BK_TRUE_FOREVER;
        for (uint16_t i = 0; i < node->child_count; i++) {
            bk_truth t = bk_condition_truth(rule, node->eval_order[i], env, at_ms, memo);
            if (t == BK_FALSE_FOREVER)
                return BK_FALSE_FOREVER;
            if (t < result)
                result = t;
        }
        return result;
    }
    case BK_NODE_ANY: {
        bk_truth result = BK_FALSE_FOREVER;
        for (uint16_t i = 0; i < node->child_count; i++) {
            bk_truth t = bk_condition_truth(rule, node->eval_order[i], env, at_ms, memo);
            if (t == BK_TRUE_FOREVER)
                return BK_TRUE_FOREVER;
            if (t > result)
                result = t;
        }
        return result;
    }
    }
    return BK_FALSE;
}

bool bk_condition_holds(const bk_rule *rule, int index, const bk_eval_env *env, int64_t at_ms)
{
    const bk_node *node = node_at(rule, index);
    switch ((bk_node_kind)node->kind) {
    case BK_NODE_LEAF: {
        bk_value actual = bk_field_value(env, node, rule->tz, at_ms);
        return bk_leaf_test(node, &actual);
    }
    case BK_NODE_NOT:
        return !bk_condition_holds(rule, node->children[0], env, at_ms);
    case BK_NODE_ALL:
        for (uint16_t i = 0; i < node->child_count; i++)
            if (!bk_condition_holds(rule, node->eval_order[i], env, at_ms))
                return false;
        return true;
    case BK_NODE_ANY:
        for (uint16_t i = 0; i < node->child_count; i++)
            if (bk_condition_holds(rule, node->eval_order[i], env, at_ms))
                return true;
        return false;
    }
    return false;
}

int64_t bk_condition_next_change(const bk_rule *rule, int index, const bk_eval_env *env, int64_t at_ms,
                                 bool include_clock)
{
    const bk_node *node = node_at(rule, index);
    if (!node->time_dependent)
        return INT64_MAX;
    if (node->kind == BK_NODE_LEAF) {
        if (!include_clock && node->time == BK_TIME_CLOCK)
            return INT64_MAX;
        return bk_leaf_next_change(env, node, rule->tz, at_ms);
    }
    int64_t best = INT64_MAX;
    for (uint16_t i = 0; i < node->child_count; i++) {
        int64_t t = bk_condition_next_change(rule, node->children[i], env, at_ms, include_clock);
        if (t < best)
            best = t;
    }
    return best;
}

const bk_rules_cap_state *bk_cap_state_find(const bk_eval_env *env, const bk_rule *rule)
{
    if (!(env->cap_filter & rule->id_bit))
        return NULL;
    const bk_rules_context *ctx = env->ctx;
    for (size_t i = 0; i < ctx->cap_count; i++)
        if (ctx->caps[i].rule_id && strcmp(ctx->caps[i].rule_id, rule->id) == 0)
            return &ctx->caps[i];
    return NULL;
}

/* The instants at which a "wait until" gate opens: cooldown, quiet time and
 * budget reset. Each is 0 when the gate is not closed. */
typedef struct waits {
    int64_t cooldown_ends_ms;
    int64_t quiet_ends_ms;
    int64_t budget_resets_ms;
} waits;

static bool waits_open(const waits *w, int64_t at_ms)
{
    return at_ms >= w->cooldown_ends_ms && at_ms >= w->quiet_ends_ms && at_ms >= w->budget_resets_ms;
}

static int64_t waits_next_change(const waits *w, int64_t at_ms)
{
    int64_t best = INT64_MAX;
    if (w->cooldown_ends_ms > at_ms && w->cooldown_ends_ms < best)
        best = w->cooldown_ends_ms;
    if (w->quiet_ends_ms > at_ms && w->quiet_ends_ms < best)
        best = w->quiet_ends_ms;
    if (w->budget_resets_ms > at_ms && w->budget_resets_ms < best)
        best = w->budget_resets_ms;
    return best;
}

/* The next instant at which anything in the rule may change. With
 * `include_clock` false, only the changes that happen once (thresholds,
 * cooldown, quiet time, budget reset) count; hour-of-day, weekday and
 * opening hours repeat every week. */
static int64_t next_change_at(const bk_rule *rule, const bk_eval_env *env, const waits *w, int64_t at_ms,
                              bool include_clock)
{
    int64_t best = waits_next_change(w, at_ms);
    int64_t t = bk_condition_next_change(rule, rule->when_root, env, at_ms, include_clock);
    if (t < best)
        best = t;
    if (rule->unless_root >= 0) {
        t = bk_condition_next_change(rule, rule->unless_root, env, at_ms, include_clock);
        if (t < best)
            best = t;
    }
    if (rule->hours && include_clock) {
        t = bk_hours_next_change(rule->hours, rule->tz, at_ms);
        if (t < best)
            best = t;
    }
    return best;
}

static bool gate_passes(const bk_gate *gate, const bk_rules_context *ctx)
{
    bool holds;
    if (gate->field == BK_FIELD_CONVERSATION_OPEN) {
        holds = (ctx->conversation_open == gate->boolean) == (gate->op == BK_OP_EQ);
        return holds == gate->expect;
    }
    int64_t count = gate->field == BK_FIELD_VISIT_PAGES      ? ctx->visit_pages
                    : gate->field == BK_FIELD_VISITOR_VISITS ? ctx->visits
                                                             : ctx->chats;
    if (count < 0) {
        holds = gate->op == BK_OP_NE; /* missing: only != holds */
    } else {
        double v = (double)count;
        switch (gate->op) {
        case BK_OP_EQ: holds = v == gate->number; break;
        case BK_OP_NE: holds = v != gate->number; break;
        case BK_OP_LT: holds = v < gate->number; break;
        case BK_OP_LE: holds = v <= gate->number; break;
        case BK_OP_GT: holds = v > gate->number; break;
        case BK_OP_GE: holds = v >= gate->number; break;
        default: holds = gate->expect; break;
        }
    }
    return holds == gate->expect;
}

static bool site_allowed(const bk_rule *rule, const bk_rules_context *ctx)
{
    if (!rule->sites)
        return true;
    if (!ctx->site)
        return false;
    for (size_t i = 0; i < rule->site_count; i++)
        if (strcmp(rule->sites[i], ctx->site) == 0)
            return true;
    return false;
}

bk_rule_verdict bk_rule_judge(const bk_rule *rule, const bk_eval_env *env, int64_t horizon_ms,
                              int64_t *could_fire_ms)
{
    const bk_rules_context *ctx = env->ctx;
    const bk_rules_settings *settings = env->settings;
    const int64_t now = env->now_ms;
    *could_fire_ms = INT64_MAX;

    /* Gates that time does not open, cheapest first. */
    if (!rule->enabled || !site_allowed(rule, ctx))
        return BK_VERDICT_NEVER;
    if (rule->agents_required >= 0 && ctx->agents_available != (rule->agents_required == 1))
        return BK_VERDICT_NEVER;
    for (size_t i = 0; i < rule->gate_count; i++)
        if (!gate_passes(&rule->gates[i], ctx))
            return BK_VERDICT_NEVER;
    const bk_rules_cap_state *cap = bk_cap_state_find(env, rule);
    if (cap && cap->invitations_this_visit >= rule->per_visit)
        return BK_VERDICT_NEVER;

    waits w = {0, 0, 0};
    if (settings->daily_budget > 0 && ctx->invitations_today >= settings->daily_budget) {
        if (ctx->day_ends_ms <= now)
            return BK_VERDICT_NEVER; /* no known reset: only the caller can reopen it */
        w.budget_resets_ms = ctx->day_ends_ms;
    }
    if (cap && cap->last_invited_ms > 0 && rule->cooldown_ms > 0 && cap->last_invited_ms + rule->cooldown_ms > now)
        w.cooldown_ends_ms = cap->last_invited_ms + rule->cooldown_ms;
    if (settings->dismiss_quiet_seconds > 0 && ctx->last_dismissed_ms > 0) {
        int64_t quiet_ends = ctx->last_dismissed_ms + settings->dismiss_quiet_seconds * BK_MS_PER_SECOND;
        if (quiet_ends > now)
            w.quiet_ends_ms = quiet_ends;
    }

    bk_leaf_memo memo;
    memset(&memo, 0, sizeof memo);
    bk_truth when = bk_condition_truth(rule, rule->when_root, env, now, &memo);
    if (when == BK_FALSE_FOREVER)
        return BK_VERDICT_NEVER;
    bk_truth unless = rule->unless_root >= 0 ? bk_condition_truth(rule, rule->unless_root, env, now, &memo)
                                             : BK_FALSE_FOREVER;
    if (unless == BK_TRUE_FOREVER)
        return BK_VERDICT_NEVER;
    bool open = !rule->hours || bk_hours_open(rule->hours, rule->tz, now);
    if (bk_truth_holds(when) && !bk_truth_holds(unless) && open && waits_open(&w, now))
        return BK_VERDICT_FIRES;

    /* Something that time can change blocks the rule: walk forward from
     * change point to change point. Stop as soon as the rule is blocked for
     * good, and once only weekly-repeating changes are left and a whole week
     * of them has gone by without the rule firing. */
    int64_t t = now;
    int64_t only_weekly_since = INT64_MAX;
    for (int step = 0; step < MAX_TIME_STEPS; step++) {
        t = next_change_at(rule, env, &w, t, true);
        if (t == INT64_MAX || t >= horizon_ms)
            return BK_VERDICT_LATER;
        if (rule->repeats_weekly && only_weekly_since == INT64_MAX &&
            next_change_at(rule, env, &w, t, false) == INT64_MAX)
            only_weekly_since = t;
        if (only_weekly_since != INT64_MAX && t - only_weekly_since > WEEK_AND_A_DAY_MS)
            return BK_VERDICT_LATER;
        when = bk_condition_truth(rule, rule->when_root, env, t, &memo);
        if (when == BK_FALSE_FOREVER)
            return BK_VERDICT_LATER;
        if (rule->unless_root >= 0) {
            unless = bk_condition_truth(rule, rule->unless_root, env, t, &memo);
            if (unless == BK_TRUE_FOREVER)
                return BK_VERDICT_LATER;
        }
        if (bk_truth_holds(when) && !bk_truth_holds(unless) && waits_open(&w, t) &&
            (!rule->hours || bk_hours_open(rule->hours, rule->tz, t))) {
            *could_fire_ms = t;
            return BK_VERDICT_LATER;
        }
    }
    *could_fire_ms = t;
    return BK_VERDICT_LATER;
}
