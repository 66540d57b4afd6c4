/* triggers_internal.h - what the files of the triggers module share, and nothing else includes.
 *
 * triggers.h is the module's one face. Behind it: triggers.c (the node's triggers: scripts,
 * timers, agents available), tracker.c (a visitor's tracker, its evaluation and invitations,
 * the trackers' timer heap), tracking.c (page views, events and invitation answers stored in
 * Redis), track_batch.c (the page views and events of a loop iteration stored by one script
 * call), trigger_context.c (a rules context filled from a profile), rule_counters.c (how
 * often each rule was judged and matched) and rule_set_loader.c (the node's rule set).
 *
 * Names: public ones start with bk_ and are declared in triggers.h; the ones declared here,
 * shared by those files only, start with triggers_; anything else is static to its file. */
#ifndef BK_TRIGGERS_INTERNAL_H
#define BK_TRIGGERS_INTERNAL_H

#include "triggers/triggers.h"

#include "base/list.h"
#include "triggers/profile.h"

#include <beckon/protocol.h>
#include <beckon/rules.h>
#include <jansson.h>
#include <stdint.h>

enum {
    SCRIPT_TRACK,
    SCRIPT_INVITE,
    SCRIPT_INVITE_REPLY,
    SCRIPT_AGENTS_AVAILABLE,
    SCRIPT_AGENTS_BUSY,
    SCRIPT_STATS_ADD,
    SCRIPT_COUNT
};

/* track.lua's values per event, and the events it keeps per visitor (trimmed approximately). */
#define TRACK_ARGS_PER_EVENT 15
#define TRACK_EVENTS_MAX     1000

typedef struct triggers_track_batch triggers_track_batch;

/* How often a rule was judged and found to match, since the last flush. Kept per node in
 * memory (a Redis write per evaluation would cost more than the evaluation) and added to
 * the day's stats every few seconds. Keyed by the id pointer, which the set hands out. */
typedef struct triggers_rule_counter {
    const char *id;
    uint32_t evaluated;
    uint32_t matched;
} triggers_rule_counter;

struct bk_tracker {
    bk_triggers *triggers;
    bk_conn *conn;
    int refs;                       /* the session's, and one per call in flight */
    int closed;
    char visitor[BK_ID_MAX + 1];
    bk_profile *profile;            /* what the rules read of the visitor hash and caps */
    uint64_t due_ms;                /* loop time of the next evaluation, when armed */
    size_t heap_at;                 /* 1 + its place in the node's timer heap; 0: not armed */
    char invitation[BK_ID_MAX + 1]; /* sent and not yet answered: one at a time */
    int inviting;                   /* an INVITE script is in flight */
    char delayed_rule[BK_ID_MAX + 1]; /* a rule waiting out its delay_seconds */
    unsigned batched;               /* its page views and events in the batch not yet sent */
    bk_list link;                   /* in the node's trackers */
};

struct bk_triggers {
    bk_server *server;
    int scripts[SCRIPT_COUNT];
    bk_rule_set *rules;
    int rules_loading;
    int rules_stale;                /* a change came while a load was in flight */
    int rules_loaded;
    bk_rules_settings settings;
    int agents_available;
    uv_timer_t agents_timer;
    uv_timer_t stats_timer;
    triggers_rule_counter *counters; /* open addressing, a power of two >= 2 * rules */
    size_t counter_slots;
    /* Filled afresh for every evaluation: one loop, one evaluation at a time, so one context
     * (its cap and prop arrays are some 20 KB) serves them all instead of a malloc each. */
    bk_trigger_context *context;
    bk_list trackers;               /* every open tracker (bk_tracker.link) */
    triggers_track_batch *track_batch;
    /* One timer for every tracker: a uv_timer_t each would cost every idle visitor socket
     * some 150 bytes. The heap orders the armed trackers by due_ms; the timer is set for
     * the first. */
    uv_timer_t due_timer;
    bk_tracker **heap;
    size_t heap_len, heap_cap;
};

/* One Redis script in flight for a tracker; it holds a reference to the tracker. */
typedef struct triggers_call {
    bk_tracker *tracker;
    json_t *req;
    bk_request_type type;
    char rule[BK_ID_MAX + 1];
    char invitation[BK_ID_MAX + 1];
    char *text;                     /* the invitation text, for the invite frame */
    char *agent;
    char *event_name;               /* a custom event, evaluated once Redis has stored it */
    json_t *props;
    bk_profile_tracked *tracked;    /* a page view or event: what it sent track.lua */
} triggers_call;

/* ---- tracker.c ------------------------------------------------------------------------ */

/* Evaluates the node's rules for this visitor now: invites, or arms the tracker's timer. */
void triggers_tracker_evaluate(bk_tracker *t, const char *event_name, json_t *event_props);
/* Keeps a profile as Redis returned it; one that cannot be read leaves the old one. */
void triggers_tracker_profile_set(bk_tracker *t, const char *json, size_t len);
/* Sends a frame to the visitor's socket (obj is taken). */
void triggers_tracker_send(bk_tracker *t, json_t *obj);
/* Sends the error frame for a request Redis refused or did not answer (reply may be NULL). */
void triggers_tracker_reply_error(bk_tracker *t, json_t *req, const redisReply *reply);

triggers_call *triggers_call_new(bk_tracker *t, const bk_request *request);
void triggers_call_free(triggers_call *c);
int triggers_call_script(triggers_call *c, int script, bk_store_reply_fn fn, int argc,
                         const char **argv);

/* ---- track_batch.c -------------------------------------------------------------------- */

triggers_track_batch *triggers_track_batch_new(bk_triggers *triggers);
/* Adds one event to the batch: values are track.lua's TRACK_ARGS_PER_EVENT for it (copied).
 * fn gets the event's element of the reply, or the reply when it is Redis's error, or NULL
 * when there is none; it may be called before this returns (a batch that could not be sent).
 * 0, or -1 when out of memory (then fn is never called). */
int triggers_track_batch_add(triggers_track_batch *tb, bk_tracker *tracker, const char *const *values,
                             bk_store_reply_fn fn, void *data);
/* Sends what waits now, whatever is in flight. */
void triggers_track_batch_flush(triggers_track_batch *tb);
void triggers_track_batch_close(triggers_track_batch *tb);  /* on the running loop */
void triggers_track_batch_free(triggers_track_batch *tb);

/* ---- trigger_context.c ---------------------------------------------------------------- */

const bk_rules_context *triggers_context_fill(bk_trigger_context *storage,
                                              const bk_profile *profile, int agents_available,
                                              const char *event_name, json_t *event_props,
                                              int64_t now);

/* ---- rule_counters.c ------------------------------------------------------------------ */

/* The rule set's observer: counts one judgement of rule id (data is the bk_triggers). */
void triggers_rule_judged(const char *id, bool matches, void *data);
void triggers_counters_flush(bk_triggers *triggers);
void triggers_counters_rebuild(bk_triggers *triggers, const bk_rule_set *set);

/* ---- rule_set_loader.c ---------------------------------------------------------------- */

void triggers_evaluate_all(bk_triggers *triggers);
/* Loads the rule set from Redis (again, once the load in flight is done). */
void triggers_rules_reload(bk_triggers *triggers);

#endif
