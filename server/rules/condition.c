/* condition.c - evaluating condition trees and whole rules over time.
 *
 * Two questions are asked of a rule: does it fire now, and if not, when is
 * the first instant it could fire if the visitor does nothing at all. Only
 * time-dependent fields (page.seconds, visit.seconds, idle.seconds,
 * visitor.days_since_last_chat, time.hour, time.weekday), opening hours,
 * cooldowns, the quiet time after a dismissal and the daily budget change
 * while the visitor does nothing, and each of them can say when it next
 * changes.
 *
 * One recursive pass, earliest(), answers both questions at once for a
 * condition: the first instant >= t at which it could have the wanted value.
 * That is t itself when it has the value now, and "never" (INT64_MAX) when
 * it is settled: a false comparison of a field time cannot change, or of a
 * time field moving away from the threshold, and an `all` containing one.
 * Otherwise it is a lower bound: a leaf's next change point, the latest
 * bound of an `all`'s children, the earliest of an `any`'s.
 *
 * A rule fires at t when every part's bound is t. If not, the latest bound
 * is the next instant worth looking at; the rule is judged again there, and
 * so on. This walk is exact for any mix of all/any/not (a bound never skips
 * a moment the rule could fire) and short: most rules need one step. */
#include "rules/rule.h"

#include "rules/civil.h"

#include <string.h>

/* Upper bound on change points visited per rule and evaluation. Reaching it
 * yields the last point visited: an early wake-up, never a missed one. */
#define MAX_TIME_STEPS 128

/* Clock conditions and opening hours repeat weekly; a day more covers an
 * offset change on the way. */
#define WEEK_AND_A_DAY_MS (8 * BK_MS_PER_DAY)

/* A leaf's outcome now, and whether time alone could ever change it. */
typedef enum bk_truth {
    BK_FALSE_FOREVER,
    BK_FALSE,
    BK_TRUE,
    BK_TRUE_FOREVER
} bk_truth;

static bool bk_truth_holds(bk_truth truth)
{
    return truth >= BK_TRUE;
}

/* Outcomes of leaves that time cannot change, remembered while one rule is
 * judged, so that walking forward through time never reruns a regex. */
typedef struct bk_leaf_memo {
    uint64_t known[BK_RULES_MAX_NODES / 64];
    uint64_t holds[BK_RULES_MAX_NODES / 64];
} bk_leaf_memo;

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
    if (bk_leaf_is_threshold(leaf)) {
        /* The common "page.seconds >= 30": integer arithmetic only. A
         * missing field fails every threshold, for good. */
        int64_t origin, unit;
        if (!bk_elapsed_origin(env, (bk_field)leaf->field_id, &origin, &unit))
            return BK_FALSE_FOREVER;
        int64_t units = bk_floor_div(at_ms - origin, unit);
        bool holds = bk_threshold_holds(leaf, units < 0 ? 0 : units);
        bool rising = leaf->op == BK_OP_GT || leaf->op == BK_OP_GE;
        if (holds)
            return rising ? BK_TRUE_FOREVER : BK_TRUE;
        return rising ? BK_FALSE : BK_FALSE_FOREVER;
    }
    bk_value actual = bk_field_value(env, leaf, rule->tz, at_ms);
    bool holds = bk_leaf_test(leaf, &actual);
    if (leaf->time == BK_TIME_CLOCK)
        return holds ? BK_TRUE : BK_FALSE;
    /* A missing elapsed field stays missing. */
    if (actual.type == BK_RULES_VALUE_MISSING)
        return holds ? BK_TRUE_FOREVER : BK_FALSE_FOREVER;
    if (bk_leaf_next_change(env, leaf, rule->tz, at_ms) == INT64_MAX)
        return holds ? BK_TRUE_FOREVER : BK_FALSE_FOREVER;
    return holds ? BK_TRUE : BK_FALSE;
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

/* See the top of the file. `all` wanting true must wait for its slowest
 * child and `any` only for its fastest, which lets the walk leap over
 * change points that cannot matter. */
static int64_t earliest(const bk_rule *rule, int index, const bk_eval_env *env, int64_t at_ms, bool want,
                        bk_leaf_memo *memo)
{
    const bk_node *node = node_at(rule, index);
    switch ((bk_node_kind)node->kind) {
    case BK_NODE_LEAF: {
        if (node->screened)
            return at_ms; /* the screen found it as the rule needs it */
        bk_truth truth = leaf_truth(rule, index, env, at_ms, memo);
        if (bk_truth_holds(truth) == want)
            return at_ms;
        if (truth == BK_TRUE_FOREVER || truth == BK_FALSE_FOREVER)
            return INT64_MAX;
        return bk_leaf_next_change(env, node, rule->tz, at_ms);
    }
    case BK_NODE_NOT:
        return earliest(rule, node->children[0], env, at_ms, !want, memo);
    case BK_NODE_ALL:
    case BK_NODE_ANY:
        break;
    }
    /* all wanting true and any wanting false need every child: the latest. */
    bool every = (node->kind == BK_NODE_ALL) == want;
    int64_t bound = every ? at_ms : INT64_MAX;
    for (uint16_t i = 0; i < node->child_count; i++) {
        int64_t t = earliest(rule, node->eval_order[i], env, at_ms, want, memo);
        if (every ? t > bound : t < bound)
            bound = t;
        /* Nothing can beat "never" for every child, or "now" for one. */
        if (every ? bound == INT64_MAX : bound == at_ms)
            break;
    }
    return bound;
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

/* The first instant >= at_ms at which the whole rule could fire, as far as
 * its parts can tell (see the top of the file); at_ms when it fires then. */
static int64_t rule_bound(const bk_rule *rule, const bk_eval_env *env, const waits *w, int64_t at_ms,
                          bk_leaf_memo *memo)
{
    int64_t bound = earliest(rule, rule->when_root, env, at_ms, true, memo);
    if (bound != INT64_MAX && rule->unless_root >= 0) {
        int64_t t = earliest(rule, rule->unless_root, env, at_ms, false, memo);
        if (t > bound)
            bound = t;
    }
    if (bound != INT64_MAX && rule->hours && !bk_hours_open(rule->hours, rule->tz, at_ms)) {
        int64_t t = bk_hours_next_change(rule->hours, rule->tz, at_ms);
        if (t > bound)
            bound = t;
    }
    const int64_t ends[3] = {w->cooldown_ends_ms, w->quiet_ends_ms, w->budget_resets_ms};
    for (int i = 0; i < 3 && bound != INT64_MAX; i++)
        if (ends[i] > bound)
            bound = ends[i];
    return bound;
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
        switch ((bk_op)gate->op) {
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

bool bk_rule_screen_passes(const bk_rule_screen *screen, const bk_eval_env *env, int64_t horizon_ms)
{
    const bk_rules_context *ctx = env->ctx;
    if (!screen->enabled)
        return false;
    if (screen->agents_required >= 0 && ctx->agents_available != (screen->agents_required == 1))
        return false;
    for (size_t i = 0; i < screen->gate_count; i++)
        if (!gate_passes(&screen->gates[i], ctx))
            return false;
    for (size_t i = 0; i < screen->threshold_count; i++) {
        int64_t origin, unit;
        if (!bk_elapsed_origin(env, (bk_field)screen->thresholds[i].field, &origin, &unit))
            return false; /* a missing field fails the threshold for good */
        int64_t boundary = screen->thresholds[i].boundary;
        if (boundary > 0 && boundary <= (INT64_MAX / 4) / unit && origin + boundary * unit >= horizon_ms)
            return false;
    }
    return true;
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

    /* What time does not change, cheapest first; the screen was checked by
     * the caller, usually from the index's copy. */
    if (!site_allowed(rule, ctx))
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
    int64_t t = rule_bound(rule, env, &w, now, &memo);
    if (t == now)
        return BK_VERDICT_FIRES;
    if (t == INT64_MAX)
        return BK_VERDICT_NEVER;

    /* Walk forward from bound to bound. Stop when the rule is blocked for
     * good, past the horizon, and once only weekly-repeating changes are
     * left and a whole week of them has gone by without the rule firing. */
    int64_t only_weekly_since = INT64_MAX;
    for (int step = 0; step < MAX_TIME_STEPS; step++) {
        if (t >= horizon_ms)
            return BK_VERDICT_LATER;
        if (rule->repeats_weekly && only_weekly_since == INT64_MAX &&
            next_change_at(rule, env, &w, t, false) == INT64_MAX)
            only_weekly_since = t;
        if (only_weekly_since != INT64_MAX && t - only_weekly_since > WEEK_AND_A_DAY_MS)
            return BK_VERDICT_LATER;
        int64_t next = rule_bound(rule, env, &w, t, &memo);
        if (next == t) {
            *could_fire_ms = t;
            return BK_VERDICT_LATER;
        }
        if (next == INT64_MAX)
            return BK_VERDICT_LATER;
        t = next;
    }
    *could_fire_ms = t;
    return BK_VERDICT_LATER;
}
