/* beckon/rules.h - the proactive-trigger rule engine, as a library.
 *
 * Marketers write rules as JSON ("when the visitor has spent 30 s on a
 * pricing page and no conversation is open, invite them"). This library
 * validates and compiles those rules into a rule set, and evaluates the set
 * against one visitor's context: which rule, if any, fires now, and when the
 * caller should look again because a rule may become true purely by time
 * passing. docs/rules.md describes the rule format itself.
 *
 * Properties the caller can rely on:
 *
 *   - No network, no Redis, no threads, no global state. The only I/O is
 *     reading a TZif file from the zoneinfo directory while compiling a rule
 *     that names a time zone; evaluation never touches the file system.
 *   - A set is mutated only through bk_rule_set_add_json, _load_json and
 *     _remove. Evaluation takes a const set and keeps nothing between calls
 *     (it allocates nothing itself; the C library's regexec may, inside), so
 *     one set may be evaluated from several threads at once as long as
 *     nobody mutates it meanwhile. To change rules under load, build a new
 *     set and swap the pointer; free the old set once no evaluation uses it
 *     any more.
 *   - Errors are values: functions return a bk_rules_status and, where given
 *     a bk_rules_error, fill it with the JSON path of the offending field and
 *     a human-readable reason, e.g. "when.all[2].page.seconds.>=" and
 *     "expected a number".
 *   - Strings are UTF-8 and NUL-terminated. Every string handed in by the
 *     caller is only read during the call; nothing keeps a pointer to it.
 */
#ifndef BECKON_RULES_H
#define BECKON_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Status codes and errors                                            */
/* ------------------------------------------------------------------ */

typedef enum bk_rules_status {
    BK_RULES_OK = 0,
    BK_RULES_ERR_INVALID = -1,   /* the JSON or a rule in it is invalid; see the error's path */
    BK_RULES_ERR_DUPLICATE = -2, /* a rule with this id is already in the set */
    BK_RULES_ERR_NOT_FOUND = -3, /* no rule with this id in the set */
    BK_RULES_ERR_NO_MEMORY = -4,
    BK_RULES_ERR_ARGUMENT = -5   /* a NULL pointer or otherwise unusable argument */
} bk_rules_status;

#define BK_RULES_PATH_MAX 256
#define BK_RULES_MESSAGE_MAX 256

/* Where and why. `path` is the JSON path of the offending value, written as
 * object keys joined by '.' and array positions in brackets:
 * "when.any[0].page.url.regex". An empty path means the document as a whole
 * (e.g. it is not JSON at all). When a whole array of rules is loaded, paths
 * start with the rule's position: "[3].then.invite.text". */
typedef struct bk_rules_error {
    char path[BK_RULES_PATH_MAX];
    char message[BK_RULES_MESSAGE_MAX];
} bk_rules_error;

/* A static English name for a status code ("invalid rule", ...). */
const char *bk_rules_status_name(int status);

/* ------------------------------------------------------------------ */
/* The rule set                                                       */
/* ------------------------------------------------------------------ */

typedef struct bk_rule_set bk_rule_set;

/* An empty set, or NULL when out of memory. Free with bk_rule_set_free. */
bk_rule_set *bk_rule_set_new(void);

/* Frees the set, every rule in it and the time zones it loaded. Pointers
 * into the set (bk_rules_result strings) become invalid. NULL is a no-op. */
void bk_rule_set_free(bk_rule_set *set);

/* Compiles one rule object (UTF-8 JSON text of `len` bytes, no NUL needed)
 * and adds it. Returns BK_RULES_OK; BK_RULES_ERR_INVALID with `err` filled
 * when the rule is invalid; BK_RULES_ERR_DUPLICATE (err->path "id") when the
 * id is taken; BK_RULES_ERR_NO_MEMORY. On error the set is unchanged. `err`
 * may be NULL when the caller does not want details. */
int bk_rule_set_add_json(bk_rule_set *set, const char *json, size_t len, bk_rules_error *err);

/* Compiles a JSON array of rule objects and adds all of them, or none: on any
 * error (invalid rule, id repeated within the array or already in the set)
 * the set is unchanged and err->path starts with the rule's position, e.g.
 * "[2].when.all[0].page.path.glob". */
int bk_rule_set_load_json(bk_rule_set *set, const char *json, size_t len, bk_rules_error *err);

/* Removes the rule with this id. BK_RULES_OK or BK_RULES_ERR_NOT_FOUND.
 * Result pointers that referred to that rule become invalid. */
int bk_rule_set_remove(bk_rule_set *set, const char *id);

/* The number of rules in the set (enabled or not). */
size_t bk_rule_set_count(const bk_rule_set *set);

/* Validates one rule object without keeping it: the same checks, and the
 * same errors, as bk_rule_set_add_json (except for duplicate ids). A rule
 * naming a time zone reads its TZif file. For the editor's "save" button. */
int bk_rule_validate_json(const char *json, size_t len, bk_rules_error *err);

/* ------------------------------------------------------------------ */
/* Opening hours on their own                                         */
/* ------------------------------------------------------------------ */

/* A site's opening hours ("mon-fri 09:00-17:00, sat 10:00-14:00") in its
 * time zone, in the same syntax as a rule's `only.hours`. The widget says
 * when someone is back; the server needs only "open now?" and "when does
 * that change?". */
typedef struct bk_opening_hours bk_opening_hours;

/* Compiles `hours` in zone `tz` (reads the zone's TZif file once). On
 * failure *out is NULL and err names "hours" or "tz" and says why. */
int bk_opening_hours_new(const char *hours, const char *tz, bk_opening_hours **out, bk_rules_error *err);

void bk_opening_hours_free(bk_opening_hours *hours);

bool bk_opening_hours_open(const bk_opening_hours *hours, int64_t now_ms);

/* The first instant after now_ms at which the hours open (or close), or
 * INT64_MAX when they never do: closed all week, or open all week. */
int64_t bk_opening_hours_next_opening(const bk_opening_hours *hours, int64_t now_ms);
int64_t bk_opening_hours_next_closing(const bk_opening_hours *hours, int64_t now_ms);

/* ------------------------------------------------------------------ */
/* What the caller knows about the visitor                            */
/* ------------------------------------------------------------------ */

typedef enum bk_rules_value_type {
    BK_RULES_VALUE_MISSING = 0,
    BK_RULES_VALUE_STRING,
    BK_RULES_VALUE_NUMBER,
    BK_RULES_VALUE_BOOL
} bk_rules_value_type;

/* A site-set attribute (visitor.attrs.*) or an event property
 * (event.props.*). Only the member named by `type` is read. */
typedef struct bk_rules_value {
    bk_rules_value_type type;
    const char *string;
    double number;
    bool boolean;
} bk_rules_value;

typedef struct bk_rules_attr {
    const char *key;
    bk_rules_value value;
} bk_rules_attr;

/* The visitor's history with one rule, for its `cap`. Rules without an entry
 * have never invited this visitor. */
typedef struct bk_rules_cap_state {
    const char *rule_id;
    int64_t invitations_this_visit; /* invitations of this rule during the current visit */
    int64_t last_invited_ms;        /* when this rule last invited the visitor, any visit; 0 = never */
} bk_rules_cap_state;

/* Everything a rule can look at. Call bk_rules_context_init first: it marks
 * every field as missing (NULL strings, -1 counts, 0 timestamps, no lists),
 * then set what is known. Conventions:
 *   - strings: NULL or "" means missing;
 *   - counts: negative means missing;
 *   - timestamps: milliseconds since the Unix epoch, UTC; 0 means missing.
 * Derived fields: page.seconds = now - page_started_ms, visit.seconds =
 * now - visit_started_ms, idle.seconds = now - last_event_ms (whole seconds,
 * never negative), visitor.days_since_last_chat = whole days since
 * last_chat_ms. When page_path is missing it is taken from page_url (the
 * part after scheme and host, before '?' or '#'). */
typedef struct bk_rules_context {
    const char *site;

    const char *page_url;   /* full URL as the browser reports it */
    const char *page_path;  /* "/pricing/teams" */
    const char *page_title;
    int64_t page_started_ms;

    int64_t visit_started_ms;
    int64_t visit_pages;    /* pages viewed in this visit, the current one included */
    const char *referrer;
    const char *utm_source;
    const char *utm_medium;
    const char *utm_campaign;
    const char *utm_term;
    const char *utm_content;

    int64_t visits;         /* visits so far, the current one included */
    int64_t chats;          /* conversations the visitor has had */
    int64_t last_chat_ms;
    const char *lang;       /* "da", "en-GB" */
    const char *device;     /* "desktop", "mobile", "tablet" */
    const bk_rules_attr *attrs;
    size_t attr_count;

    /* The event being processed: "page_view" for a page view, the custom
     * name for a custom event, NULL when evaluating for another reason (a
     * timer, agents coming online). Events are instants: a rule that needs
     * event.name matches only while that event is being evaluated. */
    const char *event_name;
    const bk_rules_attr *event_props;
    size_t event_prop_count;
    int64_t last_event_ms;

    bool conversation_open;
    bool agents_available;

    /* Cap state. */
    const bk_rules_cap_state *caps;
    size_t cap_count;
    int64_t invitations_today;  /* invitations of any rule on the visitor's current day */
    int64_t day_ends_ms;        /* when invitations_today goes back to 0; 0 = unknown */
    int64_t last_dismissed_ms;  /* when the visitor last dismissed any invitation; 0 = never */
} bk_rules_context;

/* Marks every field missing, as described above. */
void bk_rules_context_init(bk_rules_context *ctx);

/* Engine-wide settings applied at evaluation time. A NULL pointer means all
 * zero: no budget, no quiet time, index on. */
typedef struct bk_rules_settings {
    int64_t daily_budget;          /* max invitations per visitor per day, all rules; 0 = no limit */
    int64_t dismiss_quiet_seconds; /* after any dismissal, invite nobody for this long; 0 = off */
    bool scan_all;                 /* ignore the index and evaluate every rule (tests, diagnostics) */
} bk_rules_settings;

/* ------------------------------------------------------------------ */
/* Evaluation                                                         */
/* ------------------------------------------------------------------ */

/* The outcome of one evaluation. Strings point into the set: valid until the
 * rule is removed or the set freed. */
typedef struct bk_rules_result {
    const char *rule_id;        /* the rule that fires now, or NULL */
    const char *rule_name;      /* its name, "" when it has none */
    int64_t priority;
    const char *invite_text;
    const char *invite_agent;   /* preferred agent, or NULL */
    int64_t invite_delay_seconds;

    /* The earliest moment after now_ms at which a rule that does not fire
     * now may fire with nothing but time passing (a seconds threshold
     * crossed, opening hours beginning, a cooldown or quiet time ending, the
     * daily budget resetting), assuming the context stays the same; 0 when
     * there is none. Arm one timer for it and evaluate again then; evaluate
     * again too whenever the context changes (an event, agents coming online,
     * the invitation being recorded). The value is never later than the true
     * moment; in rare cases (many hour-of-day conditions) it is an earlier
     * moment at which evaluating again is needed to look further. */
    int64_t next_check_ms;

    size_t rules_evaluated;     /* rules the index let through (before screening), for diagnostics */
} bk_rules_result;

/* Evaluates the set for one visitor at `now_ms`. The rule that fires is the
 * matching rule with the highest priority; among equal priorities the
 * smallest id (byte order) wins, so the answer never depends on insertion
 * order. A rule fires when it is enabled, `when` holds, `unless` does not,
 * every `only` condition holds, its `cap` allows it and the settings'
 * budget and quiet time allow it. Returns BK_RULES_OK (also when nothing
 * fires) or BK_RULES_ERR_ARGUMENT. `settings` may be NULL. */
int bk_rule_set_evaluate(const bk_rule_set *set, const bk_rules_context *ctx, int64_t now_ms,
                         const bk_rules_settings *settings, bk_rules_result *out);

/* Called for every rule the evaluation judged (the candidates the index let through):
 * `matches` is true when the rule would fire now, outranked or not. rule_id points into
 * the set, as in the result. For per-rule "evaluated" and "matched" statistics. */
typedef void (*bk_rules_observe_fn)(const char *rule_id, bool matches, void *userdata);

/* bk_rule_set_evaluate, telling `observe` about every rule it judges. */
int bk_rule_set_evaluate_observed(const bk_rule_set *set, const bk_rules_context *ctx, int64_t now_ms,
                                  const bk_rules_settings *settings, bk_rules_observe_fn observe,
                                  void *userdata, bk_rules_result *out);

/* The id of the i-th rule (0 <= i < bk_rule_set_count), highest priority first. The
 * pointer is the same one evaluation hands out for that rule while the set is unchanged. */
const char *bk_rule_set_id_at(const bk_rule_set *set, size_t i);

/* ------------------------------------------------------------------ */
/* Explain (the marketer's dry run)                                   */
/* ------------------------------------------------------------------ */

typedef enum bk_rules_outcome {
    BK_RULES_OUTCOME_FIRES = 0,     /* this rule is the result */
    BK_RULES_OUTCOME_OUTRANKED,     /* it would fire, but another rule wins */
    BK_RULES_OUTCOME_DISABLED,
    BK_RULES_OUTCOME_WHEN,          /* a `when` condition does not hold */
    BK_RULES_OUTCOME_UNLESS,        /* an `unless` condition holds */
    BK_RULES_OUTCOME_ONLY,          /* site, agents or opening hours */
    BK_RULES_OUTCOME_CAP            /* per_visit, cooldown, daily budget or quiet time */
} bk_rules_outcome;

/* Why one rule does or does not fire. For OUTCOME_WHEN, `path` is the first
 * failing condition in document order ("when.all[1]") and `detail` says what
 * it wanted and what the visitor has ("page.seconds >= 30: actual 12"). */
typedef struct bk_rules_explanation {
    const char *rule_id;
    bk_rules_outcome outcome;
    char path[BK_RULES_PATH_MAX];
    char detail[BK_RULES_MESSAGE_MAX];
    int64_t could_fire_ms;  /* for a rule that does not fire: when time alone may make it fire, else 0 */
} bk_rules_explanation;

typedef void (*bk_rules_explain_fn)(const bk_rules_explanation *explanation, void *userdata);

/* Calls `fn` once per rule in the set, highest priority first (ties by id),
 * ignoring the index so that every rule is accounted for. The explanation
 * is only valid during the call. Returns BK_RULES_OK or
 * BK_RULES_ERR_ARGUMENT; `out` (may be NULL) receives the same result
 * bk_rule_set_evaluate gives. */
int bk_rule_set_explain(const bk_rule_set *set, const bk_rules_context *ctx, int64_t now_ms,
                        const bk_rules_settings *settings, bk_rules_explain_fn fn, void *userdata,
                        bk_rules_result *out);

/* A static lowercase name for an outcome: "fires", "outranked", "disabled",
 * "when", "unless", "only", "cap". */
const char *bk_rules_outcome_name(bk_rules_outcome outcome);

#ifdef __cplusplus
}
#endif

#endif
