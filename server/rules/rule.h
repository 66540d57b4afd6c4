/* rule.h - a compiled rule, and the pieces that evaluate it.
 *
 * Compiling (compile.c, compile_when.c, compiler.c) turns one JSON rule
 * into a bk_rule: a flat array of condition nodes plus the `only`, `cap`
 * and `then` parts, all owned by the rule's arena. Fields (field.c) read a
 * visitor's values and test one leaf; conditions (condition.c) combine
 * leaves and work out when time alone can change a rule's outcome. */
#ifndef BK_RULES_RULE_H
#define BK_RULES_RULE_H

#include "beckon/rules.h"
#include "rules/arena.h"
#include "rules/hours.h"
#include "rules/tz.h"

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Limits that keep one rule's cost bounded. docs/rules.md lists them. */
#define BK_RULES_MAX_DEPTH 16         /* nested all/any/not */
#define BK_RULES_MAX_CONDITIONS 64    /* comparisons in when + unless */
#define BK_RULES_MAX_NODES 256        /* comparisons plus all/any/not */
#define BK_RULES_MAX_LIST 100         /* values in one `in` */
#define BK_RULES_MAX_STRING 1024      /* bytes in one compared string */
#define BK_RULES_MAX_PATTERN 256      /* bytes in a glob or regex */
#define BK_RULES_MAX_NUMBER 1e15      /* magnitude of any number */
#define BK_RULES_MAX_INVITE_TEXT 500  /* characters in then.invite.text */
#define BK_RULES_MAX_INDEX_KEYS 16    /* index buckets one rule may occupy */

/* ---- fields ------------------------------------------------------- */

typedef enum bk_field {
    BK_FIELD_PAGE_URL,
    BK_FIELD_PAGE_PATH,
    BK_FIELD_PAGE_TITLE,
    BK_FIELD_PAGE_SECONDS,
    BK_FIELD_VISIT_SECONDS,
    BK_FIELD_VISIT_PAGES,
    BK_FIELD_VISIT_REFERRER,
    BK_FIELD_UTM_SOURCE,
    BK_FIELD_UTM_MEDIUM,
    BK_FIELD_UTM_CAMPAIGN,
    BK_FIELD_UTM_TERM,
    BK_FIELD_UTM_CONTENT,
    BK_FIELD_VISITOR_VISITS,
    BK_FIELD_VISITOR_CHATS,
    BK_FIELD_VISITOR_DAYS_SINCE_LAST_CHAT,
    BK_FIELD_VISITOR_LANG,
    BK_FIELD_VISITOR_DEVICE,
    BK_FIELD_VISITOR_ATTR,
    BK_FIELD_EVENT_NAME,
    BK_FIELD_EVENT_PROP,
    BK_FIELD_TIME_WEEKDAY,
    BK_FIELD_TIME_HOUR,
    BK_FIELD_CONVERSATION_OPEN,
    BK_FIELD_IDLE_SECONDS
} bk_field;

/* What values a field holds, which decides the operators it accepts. */
typedef enum bk_field_kind {
    BK_KIND_STRING,
    BK_KIND_NUMBER,
    BK_KIND_BOOL,
    BK_KIND_WEEKDAY, /* written "mon".."sun", held as 0..6 */
    BK_KIND_DYNAMIC  /* attributes and event properties: whatever the site sent */
} bk_field_kind;

/* How a field moves while nothing but time passes. */
typedef enum bk_field_time {
    BK_TIME_NONE,    /* constant */
    BK_TIME_ELAPSED, /* whole units since a timestamp: grows by one per unit */
    BK_TIME_CLOCK    /* hour or weekday of the wall clock in the rule's zone */
} bk_field_time;

typedef struct bk_field_info {
    const char *name;   /* "page.seconds"; for prefixed fields the prefix "visitor.attrs." */
    bk_field field;
    bk_field_kind kind;
    bk_field_time time;
    bool prefix;        /* name is followed by a site-chosen key */
} bk_field_info;

/* The field `name` names, or NULL. For "visitor.attrs.plan" the info of
 * "visitor.attrs." is returned and *key_offset is set to where "plan" starts. */
const bk_field_info *bk_field_lookup(const char *name, size_t *key_offset);

typedef enum bk_op {
    BK_OP_EQ,
    BK_OP_NE,
    BK_OP_LT,
    BK_OP_LE,
    BK_OP_GT,
    BK_OP_GE,
    BK_OP_CONTAINS,
    BK_OP_STARTS_WITH,
    BK_OP_GLOB,
    BK_OP_REGEX,
    BK_OP_IN,
    BK_OP_EXISTS
} bk_op;

/* The operator spelled `name`, or -1. */
int bk_op_lookup(const char *name);
const char *bk_op_name(bk_op op);

/* A constant in a rule or a value read from the context. Strings are
 * byte ranges, not necessarily NUL-terminated (a path cut out of a URL). */
typedef struct bk_value {
    const char *string;
    size_t length;
    double number;
    bk_rules_value_type type;
    bool boolean;
} bk_value;

/* ---- condition nodes ---------------------------------------------- */

typedef enum bk_node_kind {
    BK_NODE_ALL,
    BK_NODE_ANY,
    BK_NODE_NOT,
    BK_NODE_LEAF
} bk_node_kind;

typedef struct bk_node {
    /* The first 64 bytes hold everything that evaluating a comparison reads,
     * so judging a rule touches one cache line per condition. */
    uint8_t kind;               /* bk_node_kind */
    uint8_t op;                 /* bk_op, leaves only */
    uint8_t field_id;           /* bk_field, leaves only */
    uint8_t time;               /* bk_field_time of the leaf's field */
    bool time_dependent;        /* this node or a descendant reads a time field */
    bool screened;              /* a gate: the screen already checked it (see bk_rule_screen) */
    uint16_t child_count;
    uint16_t list_count;        /* values in `in` */
    const uint16_t *eval_order; /* children, cheapest first, for evaluation */
    bk_value value;             /* the operand, except for `in` */
    union {
        regex_t *regex;         /* `regex`, compiled once */
        int64_t boundary;       /* < <= > >= on an elapsed field: the whole number of
                                 * units at which the outcome flips (see bk_elapsed_origin) */
    };

    /* Read less often: lists, attribute keys, and what explanations need. */
    const bk_value *list;       /* `in` */
    const char *key;            /* "plan" for attrs and props, else NULL */
    size_t key_length;
    const uint16_t *children;   /* document order, for explanations */
    unsigned cost;              /* rough relative cost, to order siblings */
    const char *path;           /* "when.all[1]": the condition object in the JSON */
    const bk_field_info *field;
    const char *field_name;     /* as written: "visitor.attrs.plan" */
} bk_node;

/* ---- rules -------------------------------------------------------- */

typedef enum bk_index_key_kind {
    BK_INDEX_EVENT,       /* event.name equals the key */
    BK_INDEX_PATH_PREFIX, /* page.path starts with the key */
    BK_INDEX_URL_PREFIX   /* page.url starts with the key */
} bk_index_key_kind;

typedef struct bk_index_key {
    bk_index_key_kind kind;
    const char *text;
    size_t length;
} bk_index_key;

/* The outcome of a threshold leaf: units >= boundary for > and >=, units
 * < boundary for < and <=. */
static inline bool bk_threshold_holds(const bk_node *leaf, int64_t units)
{
    return leaf->op == BK_OP_GT || leaf->op == BK_OP_GE ? units >= leaf->boundary : units < leaf->boundary;
}

/* A cheap test a rule needs, copied out of its conditions so that most
 * rules that cannot fire are turned away without reading their nodes:
 * "visitor.visits >= 2" in the top `all` of `when`, or
 * "conversation.open = true" directly under `unless`. Only fields that time
 * cannot change qualify, so a failed gate means the rule cannot fire. */
typedef struct bk_gate {
    uint8_t field;  /* bk_field: visit.pages, visitor.visits, visitor.chats or conversation.open */
    uint8_t op;     /* bk_op: = != < <= > >= */
    bool expect;    /* the outcome the rule needs: true in `when`, false in `unless` */
    bool boolean;
    double number;
} bk_gate;

#define BK_RULES_MAX_GATES 4

#define BK_RULES_MAX_SCREEN_THRESHOLDS 2

/* A rising threshold the rule needs ("idle.seconds >= 30" in the top `all`
 * of `when`): the rule cannot fire before origin + boundary units. */
typedef struct bk_screen_threshold {
    uint8_t field; /* bk_field, an elapsed one */
    int64_t boundary;
} bk_screen_threshold;

/* What can turn a rule away without reading the rest of it. The rule keeps
 * one, and the index keeps a copy beside each entry, so that a rule that
 * cannot fire for this visitor, or not before a moment already known to
 * matter, costs no trip to its memory. */
typedef struct bk_rule_screen {
    bool enabled;
    int8_t agents_required; /* -1 any, 0 only when none available, 1 only when available */
    uint8_t gate_count;
    uint8_t threshold_count;
    bk_gate gates[BK_RULES_MAX_GATES];
    bk_screen_threshold thresholds[BK_RULES_MAX_SCREEN_THRESHOLDS];
} bk_rule_screen;

typedef struct bk_rule {
    /* What judging reads, first, so that it shares as few cache lines as
     * possible: a set of thousands of rules does not fit in the cache. */
    bk_rule_screen screen;
    bool repeats_weekly;          /* time.hour, time.weekday or only.hours: a weekly pattern */
    int when_root;                /* node index */
    int unless_root;              /* node index, or -1 */
    uint64_t id_bit;              /* bk_id_bit(id) */
    const bk_node *nodes;
    const char *const *sites;     /* only.site, NULL when any site */
    size_t site_count;
    int64_t per_visit;
    int64_t cooldown_ms;
    const bk_hours *hours;        /* only.hours, or NULL */
    const bk_tz *tz;              /* owned by the zone cache; NULL when the rule needs none */

    /* The rule as the result reports it. */
    const char *id;
    const char *name;
    int64_t priority;
    const char *invite_text;
    const char *invite_agent;
    int64_t invite_delay_seconds;

    /* Bookkeeping. */
    size_t node_count;
    regex_t **regexes;            /* every compiled regex, for regfree */
    size_t regex_count;
    const bk_index_key *index_keys; /* index buckets; none means "every trigger" */
    size_t index_key_count;
    bk_arena arena;               /* owns the rule itself and everything it points to,
                                   * except the zone and the regexes' insides */
} bk_rule;

/* Zones are shared between the rules of a set: one load per name. */
typedef struct bk_tz_cache {
    bk_tz **zones;
    size_t count;
    size_t capacity;
} bk_tz_cache;

const bk_tz *bk_tz_cache_get(bk_tz_cache *cache, const char *name, char *why, size_t why_size);
void bk_tz_cache_free(bk_tz_cache *cache);

/* Compiles one rule object. `path_prefix` ("" or "[3]") starts every error
 * path. Returns BK_RULES_OK and *out, or an error status with `err` filled. */
int bk_rule_compile(const char *json, size_t len, const char *path_prefix, bk_tz_cache *zones,
                    bk_rule **out, bk_rules_error *err);

/* Like bk_rule_compile but from an already parsed jansson object. */
struct json_t;
int bk_rule_compile_object(struct json_t *object, const char *path_prefix, bk_tz_cache *zones,
                           bk_rule **out, bk_rules_error *err);

void bk_rule_free(bk_rule *rule);

/* Fills an error (ignored when NULL), truncating safely. */
void bk_rules_error_set(bk_rules_error *err, const char *path, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

/* snprintf for messages where cutting a long value short is intended. */
void bk_format(char *out, size_t size, const char *format, ...) __attribute__((format(printf, 3, 4)));

/* ---- evaluation --------------------------------------------------- */

/* One evaluation's view of the context, with derived values worked out once. */
typedef struct bk_eval_env {
    const bk_rules_context *ctx;
    const bk_rules_settings *settings;
    int64_t now_ms;
    const char *path;      /* page.path, taken from page.url when not given */
    size_t path_length;
    const char *event_name;
    size_t event_name_length;
    uint64_t cap_filter;   /* bk_id_bit of every id in ctx->caps: most rules skip the lookup */
} bk_eval_env;

void bk_eval_env_init(bk_eval_env *env, const bk_rules_context *ctx, const bk_rules_settings *settings,
                      int64_t now_ms);

/* For an elapsed field (page.seconds, visit.seconds, idle.seconds,
 * visitor.days_since_last_chat): the instant it counts from and the length
 * of one unit. False when that instant is unknown (the field is missing). */
static inline bool bk_elapsed_origin(const bk_eval_env *env, bk_field field, int64_t *origin_ms, int64_t *unit_ms)
{
    const bk_rules_context *c = env->ctx;
    *unit_ms = 1000;
    switch (field) {
    case BK_FIELD_PAGE_SECONDS: *origin_ms = c->page_started_ms; break;
    case BK_FIELD_VISIT_SECONDS: *origin_ms = c->visit_started_ms; break;
    case BK_FIELD_IDLE_SECONDS: *origin_ms = c->last_event_ms; break;
    case BK_FIELD_VISITOR_DAYS_SINCE_LAST_CHAT:
        *origin_ms = c->last_chat_ms;
        *unit_ms = 86400000;
        break;
    default:
        *origin_ms = 0;
        break;
    }
    return *origin_ms != 0;
}

/* Whether a leaf is a threshold on an elapsed field (< <= > >=), which has a
 * precomputed boundary and flips at most once. */
static inline bool bk_leaf_is_threshold(const bk_node *leaf)
{
    return leaf->time == BK_TIME_ELAPSED && leaf->op >= BK_OP_LT && leaf->op <= BK_OP_GE;
}

/* The value of a leaf's field at instant `at_ms`; type MISSING when unknown. */
bk_value bk_field_value(const bk_eval_env *env, const bk_node *leaf, const bk_tz *tz, int64_t at_ms);

/* Whether the leaf's comparison holds for `actual`. */
bool bk_leaf_test(const bk_node *leaf, const bk_value *actual);

/* For a time-dependent leaf: the first instant after `at_ms` at which its
 * outcome may change, INT64_MAX when it never will. */
int64_t bk_leaf_next_change(const bk_eval_env *env, const bk_node *leaf, const bk_tz *tz, int64_t at_ms);

/* Whether the condition holds at `at_ms`. */
bool bk_condition_holds(const bk_rule *rule, int node, const bk_eval_env *env, int64_t at_ms);

/* The first instant after at_ms at which the condition may change; clock
 * fields (time.hour, time.weekday) count only when `include_clock` is set. */
int64_t bk_condition_next_change(const bk_rule *rule, int node, const bk_eval_env *env, int64_t at_ms,
                                 bool include_clock);

/* Whether the screen lets the rule through for this visitor: when it does
 * not, the rule cannot fire, now or before `horizon_ms` (INT64_MAX: ever),
 * for this context. */
bool bk_rule_screen_passes(const bk_rule_screen *screen, const bk_eval_env *env, int64_t horizon_ms);

/* The visitor's cap state for a rule (NULL when it never invited them). */
const bk_rules_cap_state *bk_cap_state_find(const bk_eval_env *env, const bk_rule *rule);

/* One bit of a 64-bit filter chosen by an id's hash (FNV-1a). */
static inline uint64_t bk_id_bit(const char *id)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *id; id++) {
        h ^= (unsigned char)*id;
        h *= 1099511628211ULL;
    }
    return (uint64_t)1 << (h >> 58);
}

/* How a rule stands at now_ms. */
typedef enum bk_rule_verdict {
    BK_VERDICT_FIRES,     /* every part holds now */
    BK_VERDICT_LATER,     /* not now; *could_fire_ms says when time alone may fix it */
    BK_VERDICT_NEVER      /* not now, and time alone will not change that */
} bk_rule_verdict;

/* Evaluates one rule whose screen passed (bk_rule_screen_passes; a rule
 * that fails it cannot fire). For BK_VERDICT_LATER, *could_fire_ms receives the
 * first instant (< `horizon_ms`) it may fire, or INT64_MAX when there is none
 * before the horizon; pass INT64_MAX to search without one. */
bk_rule_verdict bk_rule_judge(const bk_rule *rule, const bk_eval_env *env, int64_t horizon_ms,
                              int64_t *could_fire_ms);

/* Human text of a value ("12", "\"/home\"", "missing"), for explanations. */
void bk_value_describe(const bk_node *leaf, const bk_value *value, char *out, size_t size);
/* "page.seconds >= 30" */
void bk_leaf_describe(const bk_node *leaf, char *out, size_t size);

#endif
