/* compile.c - validating a JSON rule and compiling it into a bk_rule.
 *
 * Validation and compilation are one pass: every value is checked where it
 * is turned into its compiled form, so the two can never disagree. The
 * compiler keeps the JSON path of the value at hand in a buffer (pushed and
 * popped as it descends), and every error reports that path. */
#include "rules/compile_internal.h"

#include "rules/civil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t utf8_characters(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

/* ---- the parts of a rule ------------------------------------------ */

static bool compile_only(compiler *c, json_t *only, const char **hours_text, const char **tz_name)
{
    static const char *const keys[] = {"agents_available", "hours", "tz", "site", NULL};
    if (!json_is_object(only))
        return compiler_fail(c, "expected an object");
    if (!compiler_check_keys(c, only, keys))
        return false;
    bk_rule *rule = c->rule;
    json_t *v;
    size_t saved;

    if ((v = json_object_get(only, "agents_available"))) {
        bool required = false;
        saved = compiler_push_key(c, "agents_available");
        if (!compiler_get_bool(c, v, &required))
            return false;
        compiler_pop(c, saved);
        rule->screen.agents_required = (int8_t)(required ? 1 : 0);
    }
    if ((v = json_object_get(only, "hours"))) {
        saved = compiler_push_key(c, "hours");
        if (!compiler_get_string(c, v, 512, hours_text, NULL))
            return false;
        compiler_pop(c, saved);
    }
    if ((v = json_object_get(only, "tz"))) {
        saved = compiler_push_key(c, "tz");
        if (!compiler_get_string(c, v, 64, tz_name, NULL))
            return false;
        compiler_pop(c, saved);
    }
    if ((v = json_object_get(only, "site"))) {
        saved = compiler_push_key(c, "site");
        size_t n = json_is_array(v) ? json_array_size(v) : 1;
        if (!json_is_array(v) && !json_is_string(v))
            return compiler_fail(c, "expected a string or an array of strings");
        if (n == 0 || n > BK_RULES_MAX_LIST)
            return compiler_fail(c, "expected 1 to %d sites", BK_RULES_MAX_LIST);
        const char **sites = bk_arena_alloc(&rule->arena, n * sizeof *sites);
        if (!sites)
            return compiler_fail_memory(c);
        for (size_t i = 0; i < n; i++) {
            size_t item_saved = json_is_array(v) ? compiler_push_index(c, i) : c->path_length;
            json_t *item = json_is_array(v) ? json_array_get(v, i) : v;
            size_t len = 0;
            if (!compiler_get_string(c, item, 200, &sites[i], &len))
                return false;
            if (len == 0)
                return compiler_fail(c, "must not be empty");
            compiler_pop(c, item_saved);
        }
        rule->sites = sites;
        rule->site_count = n;
        compiler_pop(c, saved);
    }
    return true;
}

static bool compile_cap(compiler *c, json_t *cap)
{
    static const char *const keys[] = {"per_visit", "cooldown_days", NULL};
    if (!json_is_object(cap))
        return compiler_fail(c, "expected an object");
    if (!compiler_check_keys(c, cap, keys))
        return false;
    json_t *v;
    size_t saved;
    if ((v = json_object_get(cap, "per_visit"))) {
        saved = compiler_push_key(c, "per_visit");
        if (!compiler_get_integer(c, v, 1, 1000, &c->rule->per_visit))
            return false;
        compiler_pop(c, saved);
    }
    if ((v = json_object_get(cap, "cooldown_days"))) {
        double days = 0;
        saved = compiler_push_key(c, "cooldown_days");
        if (!compiler_get_number(c, v, &days))
            return false;
        if (days < 0 || days > 3650)
            return compiler_fail(c, "must be between 0 and 3650");
        compiler_pop(c, saved);
        c->rule->cooldown_ms = (int64_t)llround(days * (double)BK_MS_PER_DAY);
    }
    return true;
}

static bool plain_text(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if ((ch < 0x20 && ch != '\n' && ch != '\t') || ch == 0x7F)
            return false;
    }
    return true;
}

static bool compile_then(compiler *c, json_t *then)
{
    static const char *const then_keys[] = {"invite", NULL};
    static const char *const invite_keys[] = {"text", "delay_seconds", "agent", NULL};
    if (!json_is_object(then))
        return compiler_fail(c, "expected an object");
    if (!compiler_check_keys(c, then, then_keys))
        return false;
    json_t *invite = json_object_get(then, "invite");
    size_t saved = compiler_push_key(c, "invite");
    if (!invite)
        return compiler_fail(c, "required");
    if (!json_is_object(invite))
        return compiler_fail(c, "expected an object");
    if (!compiler_check_keys(c, invite, invite_keys))
        return false;

    bk_rule *rule = c->rule;
    json_t *v = json_object_get(invite, "text");
    size_t inner = compiler_push_key(c, "text");
    size_t len;
    if (!v)
        return compiler_fail(c, "required");
    if (!compiler_get_string(c, v, BK_RULES_MAX_INVITE_TEXT * 4, &rule->invite_text, &len))
        return false;
    if (utf8_characters(rule->invite_text, len) > BK_RULES_MAX_INVITE_TEXT)
        return compiler_fail(c, "too long (max %d characters)", BK_RULES_MAX_INVITE_TEXT);
    if (len == 0 || strspn(rule->invite_text, " \t\n") == len)
        return compiler_fail(c, "must not be empty");
    if (!plain_text(rule->invite_text, len))
        return compiler_fail(c, "must be plain text (no control characters)");
    compiler_pop(c, inner);

    if ((v = json_object_get(invite, "delay_seconds"))) {
        inner = compiler_push_key(c, "delay_seconds");
        if (!compiler_get_integer(c, v, 0, 3600, &rule->invite_delay_seconds))
            return false;
        compiler_pop(c, inner);
    }
    if ((v = json_object_get(invite, "agent"))) {
        inner = compiler_push_key(c, "agent");
        if (!compiler_get_string(c, v, 64, &rule->invite_agent, &len))
            return false;
        if (len == 0)
            return compiler_fail(c, "must not be empty");
        compiler_pop(c, inner);
    }
    compiler_pop(c, saved);
    return true;
}

/* Copies what the screen can check without the rule's nodes: plain
 * comparisons of fields time cannot change become gates (and are marked,
 * so that judging skips them), rising thresholds become screen thresholds. */
static void add_to_screen(bk_rule *rule, bk_node *leaf, bool expect)
{
    bk_rule_screen *screen = &rule->screen;
    if (leaf->kind != BK_NODE_LEAF)
        return;
    if (expect && bk_leaf_is_threshold(leaf) && (leaf->op == BK_OP_GE || leaf->op == BK_OP_GT) &&
        screen->threshold_count < BK_RULES_MAX_SCREEN_THRESHOLDS) {
        bk_screen_threshold *threshold = &screen->thresholds[screen->threshold_count++];
        threshold->field = leaf->field_id;
        threshold->boundary = leaf->boundary;
        return;
    }
    bk_field field = (bk_field)leaf->field_id;
    if (screen->gate_count == BK_RULES_MAX_GATES || leaf->op > BK_OP_GE)
        return;
    if (field != BK_FIELD_VISIT_PAGES && field != BK_FIELD_VISITOR_VISITS && field != BK_FIELD_VISITOR_CHATS &&
        field != BK_FIELD_CONVERSATION_OPEN)
        return;
    bk_gate *gate = &screen->gates[screen->gate_count++];
    gate->field = (uint8_t)field;
    gate->op = leaf->op;
    gate->expect = expect;
    gate->boolean = leaf->value.boolean;
    gate->number = leaf->value.number;
    leaf->screened = true;
}

/* Only children every firing needs qualify: those of the top `all` of
 * `when`, and those of a top `any` of `unless`, each of which blocks. */
static void build_screen(bk_rule *rule, bk_node *nodes)
{
    bk_node *when = &nodes[rule->when_root];
    if (when->kind == BK_NODE_ALL) {
        for (uint16_t i = 0; i < when->child_count; i++)
            add_to_screen(rule, &nodes[when->children[i]], true);
    } else {
        add_to_screen(rule, when, true);
    }
    if (rule->unless_root < 0)
        return;
    bk_node *unless = &nodes[rule->unless_root];
    if (unless->kind == BK_NODE_ANY) {
        for (uint16_t i = 0; i < unless->child_count; i++)
            add_to_screen(rule, &nodes[unless->children[i]], false);
    } else {
        add_to_screen(rule, unless, false);
    }
}

static bool compile_rule(compiler *c, json_t *root, bk_tz_cache *zones)
{
    static const char *const keys[] = {"id", "name", "description", "enabled", "priority", "when",
                                       "unless", "only", "cap", "then", NULL};
    bk_rule *rule = c->rule;
    if (!json_is_object(root))
        return compiler_fail(c, "expected a rule object");
    if (!compiler_check_keys(c, root, keys))
        return false;

    json_t *v;
    size_t saved, len = 0;

    saved = compiler_push_key(c, "id");
    if (!(v = json_object_get(root, "id")))
        return compiler_fail(c, "required");
    if (!compiler_get_string(c, v, BK_RULES_MAX_STRING, &rule->id, &len))
        return false;
    if (!compiler_name_valid(rule->id, len, 64, false))
        return compiler_fail(c, "must be 1-64 characters of A-Z a-z 0-9 _ -");
    rule->id_bit = bk_id_bit(rule->id);
    compiler_pop(c, saved);

    rule->name = "";
    if ((v = json_object_get(root, "name"))) {
        saved = compiler_push_key(c, "name");
        if (!compiler_get_string(c, v, 200, &rule->name, NULL))
            return false;
        compiler_pop(c, saved);
    }
    if ((v = json_object_get(root, "description"))) {
        const char *ignored;
        saved = compiler_push_key(c, "description");
        if (!compiler_get_string(c, v, 2000, &ignored, NULL))
            return false;
        compiler_pop(c, saved);
    }
    rule->screen.enabled = true;
    if ((v = json_object_get(root, "enabled"))) {
        saved = compiler_push_key(c, "enabled");
        if (!compiler_get_bool(c, v, &rule->screen.enabled))
            return false;
        compiler_pop(c, saved);
    }
    if ((v = json_object_get(root, "priority"))) {
        saved = compiler_push_key(c, "priority");
        if (!compiler_get_integer(c, v, -1000000, 1000000, &rule->priority))
            return false;
        compiler_pop(c, saved);
    }

    saved = compiler_push_key(c, "when");
    if (!(v = json_object_get(root, "when")))
        return compiler_fail(c, "required");
    if ((rule->when_root = compiler_add_condition(c, v, 0)) < 0)
        return false;
    compiler_pop(c, saved);

    rule->unless_root = -1;
    if ((v = json_object_get(root, "unless"))) {
        saved = compiler_push_key(c, "unless");
        if ((rule->unless_root = compiler_add_condition(c, v, 0)) < 0)
            return false;
        compiler_pop(c, saved);
    }

    rule->screen.agents_required = -1;
    const char *hours_text = NULL, *tz_name = NULL;
    if ((v = json_object_get(root, "only"))) {
        saved = compiler_push_key(c, "only");
        if (!compile_only(c, v, &hours_text, &tz_name))
            return false;
        compiler_pop(c, saved);
    }

    rule->per_visit = 1;
    if ((v = json_object_get(root, "cap"))) {
        saved = compiler_push_key(c, "cap");
        if (!compile_cap(c, v))
            return false;
        compiler_pop(c, saved);
    }

    saved = compiler_push_key(c, "then");
    if (!(v = json_object_get(root, "then")))
        return compiler_fail(c, "required");
    if (!compile_then(c, v))
        return false;
    compiler_pop(c, saved);

    /* Zones last: an unknown zone is reported after structural mistakes,
     * and no file is read for a rule that is wrong anyway. */
    if (hours_text || c->uses_clock) {
        if (!tz_name) {
            saved = compiler_push_key(c, "only");
            compiler_push_key(c, "tz");
            compiler_fail(c, "required when %s (e.g. \"Europe/Copenhagen\" or \"UTC\")",
                 hours_text ? "only.hours is set" : "time.hour or time.weekday is used");
            compiler_pop(c, saved);
            return false;
        }
    }
    if (tz_name) {
        char why[128];
        saved = compiler_push_key(c, "only");
        compiler_push_key(c, "tz");
        rule->tz = bk_tz_cache_get(zones, tz_name, why, sizeof why);
        if (!rule->tz)
            return compiler_fail(c, "%s", why);
        compiler_pop(c, saved);
    }
    if (hours_text) {
        char why[160];
        bk_hours *hours = bk_arena_alloc(&rule->arena, sizeof *hours);
        if (!hours)
            return compiler_fail_memory(c);
        saved = compiler_push_key(c, "only");
        compiler_push_key(c, "hours");
        if (!bk_hours_parse(hours_text, &rule->arena, hours, why, sizeof why))
            return compiler_fail(c, "%s", why);
        compiler_pop(c, saved);
        rule->hours = hours;
    }

    bk_node *nodes = bk_arena_alloc(&rule->arena, c->node_count * sizeof *nodes);
    regex_t **regexes = bk_arena_alloc(&rule->arena, (c->regex_count ? c->regex_count : 1) * sizeof *regexes);
    if (!nodes || !regexes)
        return compiler_fail_memory(c);
    memcpy(nodes, c->nodes, c->node_count * sizeof *nodes);
    memcpy(regexes, c->regexes, c->regex_count * sizeof *regexes);
    rule->nodes = nodes;
    rule->node_count = c->node_count;
    rule->regexes = regexes;
    rule->regex_count = c->regex_count;
    c->regex_count = 0; /* the rule owns them now */
    rule->repeats_weekly = c->uses_clock || rule->hours;
    build_screen(rule, nodes);
    return true;
}

int bk_rule_compile_object(json_t *root, const char *path_prefix, bk_tz_cache *zones, bk_rule **out,
                           bk_rules_error *err)
{
    *out = NULL;
    compiler *c = calloc(1, sizeof *c);
    bk_arena arena = {NULL};
    bk_rule *rule = bk_arena_alloc(&arena, sizeof *rule);
    if (rule)
        rule->arena = arena;
    if (!c || !rule) {
        free(c);
        bk_arena_free(&arena);
        bk_rules_error_set(err, path_prefix, "out of memory");
        return BK_RULES_ERR_NO_MEMORY;
    }
    c->rule = rule;
    c->err = err;
    c->status = BK_RULES_OK;
    snprintf(c->path, sizeof c->path, "%s", path_prefix);
    c->path_length = strlen(c->path);
    c->prefix_length = c->path_length;

    if (!compile_rule(c, root, zones)) {
        for (size_t i = 0; i < c->regex_count; i++)
            regfree(c->regexes[i]);
        int status = c->status;
        free(c);
        bk_rule_free(rule);
        return status;
    }
    free(c);
    *out = rule;
    return BK_RULES_OK;
}

int bk_rule_compile(const char *json, size_t len, const char *path_prefix, bk_tz_cache *zones, bk_rule **out,
                    bk_rules_error *err)
{
    json_error_t parse_error;
    *out = NULL;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &parse_error);
    if (!root) {
        bk_rules_error_set(err, path_prefix, "invalid JSON at line %d column %d: %s", parse_error.line,
                           parse_error.column, parse_error.text);
        return BK_RULES_ERR_INVALID;
    }
    int status = bk_rule_compile_object(root, path_prefix, zones, out, err);
    json_decref(root);
    return status;
}

void bk_rule_free(bk_rule *rule)
{
    if (!rule)
        return;
    for (size_t i = 0; i < rule->regex_count; i++)
        regfree(rule->regexes[i]);
    bk_arena arena = rule->arena; /* the rule lives in its own arena */
    bk_arena_free(&arena);
}

/* ---- the zone cache ----------------------------------------------- */

const bk_tz *bk_tz_cache_get(bk_tz_cache *cache, const char *name, char *why, size_t why_size)
{
    for (size_t i = 0; i < cache->count; i++)
        if (strcmp(bk_tz_name(cache->zones[i]), name) == 0)
            return cache->zones[i];
    if (cache->count == cache->capacity) {
        size_t capacity = cache->capacity ? cache->capacity * 2 : 4;
        bk_tz **zones = realloc(cache->zones, capacity * sizeof *zones);
        if (!zones) {
            snprintf(why, why_size, "out of memory");
            return NULL;
        }
        cache->zones = zones;
        cache->capacity = capacity;
    }
    bk_tz *tz = bk_tz_load(BK_RULES_ZONEINFO_DIR, name, why, why_size);
    if (!tz)
        return NULL;
    cache->zones[cache->count++] = tz;
    return tz;
}

void bk_tz_cache_free(bk_tz_cache *cache)
{
    for (size_t i = 0; i < cache->count; i++)
        bk_tz_free(cache->zones[i]);
    free(cache->zones);
    cache->zones = NULL;
    cache->count = cache->capacity = 0;
}
