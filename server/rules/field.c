/* field.c - the fields a rule can read, its operators, and one comparison.
 *
 * Missing values: every comparison with a missing field is false, except
 * `exists: false` and `!=`, which is defined as "not =" so that
 * {"visitor.lang": {"!=": "da"}} also covers visitors whose language is
 * unknown. Values of a different type than the operand (an attribute sent
 * as a number, compared with a string) behave like missing ones. */
#include "rules/rule.h"

#include "rules/civil.h"
#include "rules/glob.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const bk_field_info fields[] = {
    {"page.url", BK_FIELD_PAGE_URL, BK_KIND_STRING, BK_TIME_NONE, false},
    {"page.path", BK_FIELD_PAGE_PATH, BK_KIND_STRING, BK_TIME_NONE, false},
    {"page.title", BK_FIELD_PAGE_TITLE, BK_KIND_STRING, BK_TIME_NONE, false},
    {"page.seconds", BK_FIELD_PAGE_SECONDS, BK_KIND_NUMBER, BK_TIME_ELAPSED, false},
    {"visit.seconds", BK_FIELD_VISIT_SECONDS, BK_KIND_NUMBER, BK_TIME_ELAPSED, false},
    {"visit.pages", BK_FIELD_VISIT_PAGES, BK_KIND_NUMBER, BK_TIME_NONE, false},
    {"visit.referrer", BK_FIELD_VISIT_REFERRER, BK_KIND_STRING, BK_TIME_NONE, false},
    {"visit.utm.source", BK_FIELD_UTM_SOURCE, BK_KIND_STRING, BK_TIME_NONE, false},
    {"visit.utm.medium", BK_FIELD_UTM_MEDIUM, BK_KIND_STRING, BK_TIME_NONE, false},
    {"visit.utm.campaign", BK_FIELD_UTM_CAMPAIGN, BK_KIND_STRING, BK_TIME_NONE, false},
    {"visit.utm.term", BK_FIELD_UTM_TERM, BK_KIND_STRING, BK_TIME_NONE, false},
    {"visit.utm.content", BK_FIELD_UTM_CONTENT, BK_KIND_STRING, BK_TIME_NONE, false},
    {"visitor.visits", BK_FIELD_VISITOR_VISITS, BK_KIND_NUMBER, BK_TIME_NONE, false},
    {"visitor.chats", BK_FIELD_VISITOR_CHATS, BK_KIND_NUMBER, BK_TIME_NONE, false},
    {"visitor.days_since_last_chat", BK_FIELD_VISITOR_DAYS_SINCE_LAST_CHAT, BK_KIND_NUMBER, BK_TIME_ELAPSED,
     false},
    {"visitor.lang", BK_FIELD_VISITOR_LANG, BK_KIND_STRING, BK_TIME_NONE, false},
    {"visitor.device", BK_FIELD_VISITOR_DEVICE, BK_KIND_STRING, BK_TIME_NONE, false},
    {"visitor.attrs.", BK_FIELD_VISITOR_ATTR, BK_KIND_DYNAMIC, BK_TIME_NONE, true},
    {"event.name", BK_FIELD_EVENT_NAME, BK_KIND_STRING, BK_TIME_NONE, false},
    {"event.props.", BK_FIELD_EVENT_PROP, BK_KIND_DYNAMIC, BK_TIME_NONE, true},
    {"time.weekday", BK_FIELD_TIME_WEEKDAY, BK_KIND_WEEKDAY, BK_TIME_CLOCK, false},
    {"time.hour", BK_FIELD_TIME_HOUR, BK_KIND_NUMBER, BK_TIME_CLOCK, false},
    {"conversation.open", BK_FIELD_CONVERSATION_OPEN, BK_KIND_BOOL, BK_TIME_NONE, false},
    {"idle.seconds", BK_FIELD_IDLE_SECONDS, BK_KIND_NUMBER, BK_TIME_ELAPSED, false},
};

const bk_field_info *bk_field_lookup(const char *name, size_t *key_offset)
{
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        size_t len = strlen(fields[i].name);
        if (fields[i].prefix ? strncmp(name, fields[i].name, len) == 0 : strcmp(name, fields[i].name) == 0) {
            *key_offset = len;
            return &fields[i];
        }
    }
    return NULL;
}

static const char *const op_names[] = {
    [BK_OP_EQ] = "=",
    [BK_OP_NE] = "!=",
    [BK_OP_LT] = "<",
    [BK_OP_LE] = "<=",
    [BK_OP_GT] = ">",
    [BK_OP_GE] = ">=",
    [BK_OP_CONTAINS] = "contains",
    [BK_OP_STARTS_WITH] = "starts_with",
    [BK_OP_GLOB] = "glob",
    [BK_OP_REGEX] = "regex",
    [BK_OP_IN] = "in",
    [BK_OP_EXISTS] = "exists",
};

int bk_op_lookup(const char *name)
{
    for (size_t i = 0; i < sizeof op_names / sizeof op_names[0]; i++)
        if (strcmp(name, op_names[i]) == 0)
            return (int)i;
    return -1;
}

const char *bk_op_name(bk_op op)
{
    return op_names[op];
}

/* ---- reading the context ------------------------------------------ */

/* The path part of a URL: after "scheme://host", before '?' or '#'. A URL
 * without a scheme is taken to be a path already. */
static void path_from_url(const char *url, const char **path, size_t *length)
{
    const char *start = url;
    const char *scheme_end = strstr(url, "://");
    if (scheme_end && scheme_end == url + strcspn(url, "/?#:") ) {
        start = scheme_end + 3;
        start += strcspn(start, "/?#");
    }
    size_t len = strcspn(start, "?#");
    if (len == 0 && *url) {
        /* "https://shop.dk" and "https://shop.dk?x" are the root page. */
        *path = "/";
        *length = 1;
        return;
    }
    *path = start;
    *length = len;
}

void bk_eval_env_init(bk_eval_env *env, const bk_rules_context *ctx, const bk_rules_settings *settings,
                      int64_t now_ms)
{
    static const bk_rules_settings defaults = {0, 0, false};
    env->ctx = ctx;
    env->settings = settings ? settings : &defaults;
    env->now_ms = now_ms;
    env->path = NULL;
    env->path_length = 0;
    if (ctx->page_path && *ctx->page_path) {
        env->path = ctx->page_path;
        env->path_length = strlen(ctx->page_path);
    } else if (ctx->page_url && *ctx->page_url) {
        path_from_url(ctx->page_url, &env->path, &env->path_length);
    }
    env->event_name = ctx->event_name && *ctx->event_name ? ctx->event_name : NULL;
    env->event_name_length = env->event_name ? strlen(env->event_name) : 0;
    env->cap_filter = 0;
    for (size_t i = 0; i < ctx->cap_count; i++)
        if (ctx->caps[i].rule_id)
            env->cap_filter |= bk_id_bit(ctx->caps[i].rule_id);
}

static bk_value missing(void)
{
    bk_value v = {NULL, 0, 0, BK_RULES_VALUE_MISSING, false};
    return v;
}

static bk_value text(const char *s)
{
    if (!s || !*s)
        return missing();
    bk_value v = {s, strlen(s), 0, BK_RULES_VALUE_STRING, false};
    return v;
}

static bk_value number(double n)
{
    bk_value v = {NULL, 0, n, BK_RULES_VALUE_NUMBER, false};
    return v;
}

static bk_value count(int64_t n)
{
    return n < 0 ? missing() : number((double)n);
}

static bk_value boolean(bool b)
{
    bk_value v = {NULL, 0, 0, BK_RULES_VALUE_BOOL, b};
    return v;
}

/* Whole units elapsed since `since_ms`, never negative; missing when 0. */
static bk_value elapsed(int64_t since_ms, int64_t at_ms, int64_t unit_ms)
{
    if (since_ms == 0)
        return missing();
    int64_t units = bk_floor_div(at_ms - since_ms, unit_ms);
    return number(units < 0 ? 0 : (double)units);
}

static bk_value from_attr(const bk_rules_attr *attrs, size_t count_, const char *key, size_t key_length)
{
    for (size_t i = 0; i < count_; i++) {
        const bk_rules_attr *a = &attrs[i];
        if (!a->key || strncmp(a->key, key, key_length) != 0 || a->key[key_length] != '\0')
            continue;
        switch (a->value.type) {
        case BK_RULES_VALUE_STRING:
            return text(a->value.string);
        case BK_RULES_VALUE_NUMBER:
            return isfinite(a->value.number) ? number(a->value.number) : missing();
        case BK_RULES_VALUE_BOOL:
            return boolean(a->value.boolean);
        case BK_RULES_VALUE_MISSING:
        default:
            return missing();
        }
    }
    return missing();
}

bk_value bk_field_value(const bk_eval_env *env, const bk_node *leaf, const bk_tz *tz, int64_t at_ms)
{
    const bk_rules_context *c = env->ctx;
    switch ((bk_field)leaf->field_id) {
    case BK_FIELD_PAGE_URL: return text(c->page_url);
    case BK_FIELD_PAGE_PATH: {
        if (!env->path)
            return missing();
        bk_value v = {env->path, env->path_length, 0, BK_RULES_VALUE_STRING, false};
        return v;
    }
    case BK_FIELD_PAGE_TITLE: return text(c->page_title);
    case BK_FIELD_PAGE_SECONDS: return elapsed(c->page_started_ms, at_ms, BK_MS_PER_SECOND);
    case BK_FIELD_VISIT_SECONDS: return elapsed(c->visit_started_ms, at_ms, BK_MS_PER_SECOND);
    case BK_FIELD_VISIT_PAGES: return count(c->visit_pages);
    case BK_FIELD_VISIT_REFERRER: return text(c->referrer);
    case BK_FIELD_UTM_SOURCE: return text(c->utm_source);
    case BK_FIELD_UTM_MEDIUM: return text(c->utm_medium);
    case BK_FIELD_UTM_CAMPAIGN: return text(c->utm_campaign);
    case BK_FIELD_UTM_TERM: return text(c->utm_term);
    case BK_FIELD_UTM_CONTENT: return text(c->utm_content);
    case BK_FIELD_VISITOR_VISITS: return count(c->visits);
    case BK_FIELD_VISITOR_CHATS: return count(c->chats);
    case BK_FIELD_VISITOR_DAYS_SINCE_LAST_CHAT: return elapsed(c->last_chat_ms, at_ms, BK_MS_PER_DAY);
    case BK_FIELD_VISITOR_LANG: return text(c->lang);
    case BK_FIELD_VISITOR_DEVICE: return text(c->device);
    case BK_FIELD_VISITOR_ATTR: return from_attr(c->attrs, c->attr_count, leaf->key, leaf->key_length);
    case BK_FIELD_EVENT_NAME: {
        if (!env->event_name)
            return missing();
        bk_value v = {env->event_name, env->event_name_length, 0, BK_RULES_VALUE_STRING, false};
        return v;
    }
    case BK_FIELD_EVENT_PROP:
        return from_attr(c->event_props, c->event_prop_count, leaf->key, leaf->key_length);
    case BK_FIELD_TIME_WEEKDAY:
        return number(bk_tz_local_time(tz, bk_floor_div(at_ms, BK_MS_PER_SECOND)).weekday);
    case BK_FIELD_TIME_HOUR:
        return number(bk_tz_local_time(tz, bk_floor_div(at_ms, BK_MS_PER_SECOND)).hour);
    case BK_FIELD_CONVERSATION_OPEN: return boolean(c->conversation_open);
    case BK_FIELD_IDLE_SECONDS: return elapsed(c->last_event_ms, at_ms, BK_MS_PER_SECOND);
    }
    return missing();
}

/* ---- comparing ---------------------------------------------------- */

static bool equal(const bk_value *a, const bk_value *b)
{
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case BK_RULES_VALUE_STRING:
        return a->length == b->length && memcmp(a->string, b->string, a->length) == 0;
    case BK_RULES_VALUE_NUMBER:
        return a->number == b->number;
    case BK_RULES_VALUE_BOOL:
        return a->boolean == b->boolean;
    case BK_RULES_VALUE_MISSING:
    default:
        return false;
    }
}

static bool contains(const bk_value *hay, const bk_value *needle)
{
    if (needle->length == 0)
        return true;
    if (needle->length > hay->length)
        return false;
    /* Byte search is character-correct for UTF-8: a valid needle can only
     * match at character boundaries of a valid haystack. */
    return memmem(hay->string, hay->length, needle->string, needle->length) != NULL;
}

static bool regex_matches(const regex_t *regex, const bk_value *subject)
{
#ifdef REG_STARTEND
    /* Match the byte range in place; the path taken from a URL is not
     * NUL-terminated where it ends. */
    regmatch_t range[1];
    range[0].rm_so = 0;
    range[0].rm_eo = (regoff_t)subject->length;
    return regexec(regex, subject->string, 1, range, REG_STARTEND) == 0;
#else
    char buffer[4096];
    if (subject->length >= sizeof buffer)
        return false;
    memcpy(buffer, subject->string, subject->length);
    buffer[subject->length] = '\0';
    return regexec(regex, buffer, 0, NULL, 0) == 0;
#endif
}

bool bk_leaf_test(const bk_node *leaf, const bk_value *actual)
{
    const bk_value *want = &leaf->value;
    switch ((bk_op)leaf->op) {
    case BK_OP_EXISTS:
        return (actual->type != BK_RULES_VALUE_MISSING) == want->boolean;
    case BK_OP_EQ:
        return equal(actual, want);
    case BK_OP_NE:
        return !equal(actual, want);
    case BK_OP_IN:
        for (size_t i = 0; i < leaf->list_count; i++)
            if (equal(actual, &leaf->list[i]))
                return true;
        return false;
    default:
        break;
    }
    if (actual->type != want->type)
        return false;
    switch ((bk_op)leaf->op) {
    case BK_OP_LT: return actual->number < want->number;
    case BK_OP_LE: return actual->number <= want->number;
    case BK_OP_GT: return actual->number > want->number;
    case BK_OP_GE: return actual->number >= want->number;
    case BK_OP_CONTAINS: return contains(actual, want);
    case BK_OP_STARTS_WITH:
        return actual->length >= want->length && memcmp(actual->string, want->string, want->length) == 0;
    case BK_OP_GLOB: return bk_glob_match(want->string, want->length, actual->string, actual->length);
    case BK_OP_REGEX: return regex_matches(leaf->regex, actual);
    default: return false;
    }
}

/* ---- time --------------------------------------------------------- */

/* The smallest integer value above `current` at which the comparison's
 * outcome may flip, for an integer-valued field that only grows. */
static double next_breakpoint(const bk_node *leaf, double current)
{
    double best = INFINITY;
    double candidates[2];
    size_t n = 0;
    const bk_value *values = leaf->op == BK_OP_IN ? leaf->list : &leaf->value;
    size_t value_count = leaf->op == BK_OP_IN ? leaf->list_count : 1;

    for (size_t i = 0; i < value_count; i++) {
        if (values[i].type != BK_RULES_VALUE_NUMBER)
            continue;
        double c = values[i].number;
        n = 0;
        switch ((bk_op)leaf->op) {
        case BK_OP_GE: case BK_OP_LT: candidates[n++] = ceil(c); break;
        case BK_OP_GT: case BK_OP_LE: candidates[n++] = floor(c) + 1; break;
        case BK_OP_EQ: case BK_OP_NE: case BK_OP_IN:
            if (c == floor(c)) {
                candidates[n++] = c;
                candidates[n++] = c + 1;
            }
            break;
        default: break;
        }
        for (size_t k = 0; k < n; k++)
            if (candidates[k] > current && candidates[k] < best)
                best = candidates[k];
    }
    return best;
}

static int64_t elapsed_next_change(const bk_node *leaf, int64_t since_ms, int64_t at_ms, int64_t unit_ms)
{
    if (since_ms == 0)
        return INT64_MAX; /* missing stays missing */
    int64_t units = bk_floor_div(at_ms - since_ms, unit_ms);
    double b = next_breakpoint(leaf, units < 0 ? 0 : (double)units);
    if (isinf(b))
        return INT64_MAX;
    double when = (double)since_ms + b * (double)unit_ms;
    if (when > 4e18)
        return INT64_MAX;
    int64_t out = since_ms + (int64_t)b * unit_ms;
    return out > at_ms ? out : at_ms + 1;
}

/* Steps over wall-clock hours (or days) until the comparison would come out
 * differently; stops early at an offset change of the zone, after which the
 * caller looks again. */
static int64_t clock_next_change(const bk_node *leaf, const bk_tz *tz, int64_t at_ms)
{
    int64_t now = bk_floor_div(at_ms, BK_MS_PER_SECOND);
    bk_local_time local = bk_tz_local_time(tz, now);
    bool weekday = leaf->field_id == BK_FIELD_TIME_WEEKDAY;
    int period = weekday ? 7 : 24;
    int64_t step = weekday ? BK_SECONDS_PER_DAY : 3600;
    int current = weekday ? local.weekday : local.hour;
    int64_t to_boundary = weekday ? BK_SECONDS_PER_DAY - local.second_of_day
                                  : 3600 - local.second_of_day % 3600;
    bk_value v = number(current);
    bool outcome = bk_leaf_test(leaf, &v);
    int64_t change = INT64_MAX;
    for (int k = 1; k <= period; k++) {
        v.number = (current + k) % period;
        if (bk_leaf_test(leaf, &v) != outcome) {
            change = (now + to_boundary + (k - 1) * step) * BK_MS_PER_SECOND;
            break;
        }
    }
    if (change == INT64_MAX)
        return INT64_MAX;
    int64_t transition = bk_tz_next_transition(tz, now);
    if (transition != INT64_MAX && transition * BK_MS_PER_SECOND < change)
        change = transition * BK_MS_PER_SECOND;
    return change;
}

/* A threshold flips once, when the count reaches the boundary. */
static int64_t threshold_next_change(const bk_eval_env *env, const bk_node *leaf, int64_t at_ms)
{
    int64_t origin, unit;
    if (!bk_elapsed_origin(env, (bk_field)leaf->field_id, &origin, &unit))
        return INT64_MAX;
    if (leaf->boundary > (INT64_MAX / 4 - (origin > 0 ? origin : 0)) / unit)
        return INT64_MAX;
    int64_t flip = origin + leaf->boundary * unit;
    return flip > at_ms ? flip : INT64_MAX;
}

int64_t bk_leaf_next_change(const bk_eval_env *env, const bk_node *leaf, const bk_tz *tz, int64_t at_ms)
{
    const bk_rules_context *c = env->ctx;
    if (bk_leaf_is_threshold(leaf))
        return threshold_next_change(env, leaf, at_ms);
    switch ((bk_field)leaf->field_id) {
    case BK_FIELD_PAGE_SECONDS: return elapsed_next_change(leaf, c->page_started_ms, at_ms, BK_MS_PER_SECOND);
    case BK_FIELD_VISIT_SECONDS: return elapsed_next_change(leaf, c->visit_started_ms, at_ms, BK_MS_PER_SECOND);
    case BK_FIELD_IDLE_SECONDS: return elapsed_next_change(leaf, c->last_event_ms, at_ms, BK_MS_PER_SECOND);
    case BK_FIELD_VISITOR_DAYS_SINCE_LAST_CHAT:
        return elapsed_next_change(leaf, c->last_chat_ms, at_ms, BK_MS_PER_DAY);
    case BK_FIELD_TIME_WEEKDAY:
    case BK_FIELD_TIME_HOUR:
        return clock_next_change(leaf, tz, at_ms);
    default:
        return INT64_MAX;
    }
}

/* ---- describing --------------------------------------------------- */

static const char *const weekday_names[7] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

/* Appends a value as JSON-ish text, strings shortened to keep lines short. */
static size_t write_value(char *out, size_t size, const bk_node *leaf, const bk_value *v)
{
    int n = 0;
    switch (v->type) {
    case BK_RULES_VALUE_STRING: {
        int shown = v->length > 60 ? 60 : (int)v->length;
        n = snprintf(out, size, "\"%.*s%s\"", shown, v->string, v->length > 60 ? "..." : "");
        break;
    }
    case BK_RULES_VALUE_NUMBER:
        if (leaf->field->kind == BK_KIND_WEEKDAY && v->number >= 0 && v->number < 7)
            n = snprintf(out, size, "%s", weekday_names[(int)v->number]);
        else
            n = snprintf(out, size, "%.15g", v->number);
        break;
    case BK_RULES_VALUE_BOOL:
        n = snprintf(out, size, "%s", v->boolean ? "true" : "false");
        break;
    case BK_RULES_VALUE_MISSING:
    default:
        n = snprintf(out, size, "missing");
        break;
    }
    if (n < 0)
        return 0;
    return (size_t)n < size ? (size_t)n : size - 1;
}

void bk_value_describe(const bk_node *leaf, const bk_value *value, char *out, size_t size)
{
    write_value(out, size, leaf, value);
}

void bk_leaf_describe(const bk_node *leaf, char *out, size_t size)
{
    int n = snprintf(out, size, "%s %s ", leaf->field_name, bk_op_name((bk_op)leaf->op));
    if (n < 0 || (size_t)n >= size)
        return;
    size_t used = (size_t)n;
    if (leaf->op != BK_OP_IN) {
        write_value(out + used, size - used, leaf, &leaf->value);
        return;
    }
    for (size_t i = 0; i < leaf->list_count && used + 2 < size; i++) {
        out[used++] = i == 0 ? '[' : ',';
        out[used] = '\0';
        used += write_value(out + used, size - used, leaf, &leaf->list[i]);
    }
    if (used + 1 < size) {
        out[used++] = ']';
        out[used] = '\0';
    }
}
