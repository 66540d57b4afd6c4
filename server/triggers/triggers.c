/* triggers.c - trackers, rule evaluation, invitations, and the node's rule set. */
#include "triggers/triggers.h"

#include "base/ids.h"
#include "base/list.h"
#include "base/log.h"
#include "base/metrics.h"
#include "triggers/profile.h"
#include "store/redis_reply.h"
#include "store/redis_shapes.h"
#include "lua/scripts.h"

#include <beckon/protocol.h>
#include <beckon/rules.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define AGENTS_REFRESH_MS 2000
#define MAX_EVENTS        1000   /* per visitor stream, trimmed approximately */
#define MAX_CAPS          BK_PROFILE_CAPS_MAX  /* rules with cap state per visitor, as evaluated */

enum {
    SCRIPT_TRACK,
    SCRIPT_INVITE,
    SCRIPT_INVITE_REPLY,
    SCRIPT_AGENTS_AVAILABLE,
    SCRIPT_STATS_ADD,
    SCRIPT_COUNT
};

/* How often a rule was judged and found to match, since the last flush. Kept per node in
 * memory (a Redis write per evaluation would cost more than the evaluation) and added to
 * the day's stats every few seconds. Keyed by the id pointer, which the set hands out. */
typedef struct rule_counter {
    const char *id;
    uint32_t evaluated;
    uint32_t matched;
} rule_counter;

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
    rule_counter *counters;         /* open addressing, a power of two >= 2 * rules */
    size_t counter_slots;
    /* Filled afresh for every evaluation: one loop, one evaluation at a time, so one context
     * (its cap and prop arrays are some 20 KB) serves them all instead of a malloc each. */
    bk_trigger_context *context;
    bk_list trackers;               /* every open tracker (bk_tracker.link) */
    /* One timer for every tracker: a uv_timer_t each would cost every idle visitor socket
     * some 150 bytes. The heap orders the armed trackers by due_ms; the timer is set for
     * the first. */
    uv_timer_t due_timer;
    bk_tracker **heap;
    size_t heap_len, heap_cap;
};

typedef struct call {
    bk_tracker *tracker;
    json_t *req;
    bk_request_type type;
    char rule[BK_ID_MAX + 1];
    char invitation[BK_ID_MAX + 1];
    char *text;                     /* the invitation text, for the invite frame */
    char *agent;
    char *event_name;               /* a custom event, evaluated once Redis has stored it */
    json_t *props;
} call;

static void tracker_evaluate(bk_tracker *t, const char *event_name, json_t *event_props);

/* ---- small helpers ------------------------------------------------------------------- */

void bk_day_string(int64_t ms, char out[9])
{
    time_t seconds = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&seconds, &tm);
    strftime(out, 9, "%Y%m%d", &tm);
}

static int64_t next_midnight_ms(int64_t ms)
{
    const int64_t day = 86400000;
    return (ms / day + 1) * day;
}

/* Copies the value of utm_name from the query of url into out (percent-decoded), or "". */
void bk_url_query_value(const char *url, const char *name, char *out, size_t size)
{
    out[0] = '\0';
    const char *query = strchr(url, '?');
    if (!query)
        return;
    size_t name_len = strlen(name);
    for (const char *p = query + 1; *p && *p != '#';) {
        const char *end = p + strcspn(p, "&#");
        if ((size_t)(end - p) > name_len && strncmp(p, name, name_len) == 0 && p[name_len] == '=') {
            size_t o = 0;
            for (const char *v = p + name_len + 1; v < end && o + 1 < size; v++) {
                if (*v == '+') {
                    out[o++] = ' ';
                } else if (*v == '%' && v + 2 < end) {
                    char hex[3] = { v[1], v[2], 0 };
                    char *stop;
                    long c = strtol(hex, &stop, 16);
                    if (*stop == '\0' && c > 0) {
                        out[o++] = (char)c;
                        v += 2;
                    } else {
                        out[o++] = *v;
                    }
                } else {
                    out[o++] = *v;
                }
            }
            out[o] = '\0';
            return;
        }
        p = *end == '&' ? end + 1 : end;
    }
}

/* ---- trackers --------------------------------------------------------------------------- */

static void tracker_unref(bk_tracker *t)
{
    if (--t->refs > 0)
        return;
    bk_profile_free(t->profile);
    bk_conn_unref(t->conn);
    free(t);
}

/* ---- the trackers' timer heap ------------------------------------------------------- */

static void heap_put(bk_triggers *triggers, size_t i, bk_tracker *t)
{
    triggers->heap[i] = t;
    t->heap_at = i + 1;
}

static void heap_up(bk_triggers *triggers, size_t i)
{
    bk_tracker *t = triggers->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (triggers->heap[parent]->due_ms <= t->due_ms)
            break;
        heap_put(triggers, i, triggers->heap[parent]);
        i = parent;
    }
    heap_put(triggers, i, t);
}

static void heap_down(bk_triggers *triggers, size_t i)
{
    bk_tracker *t = triggers->heap[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= triggers->heap_len)
            break;
        if (child + 1 < triggers->heap_len &&
            triggers->heap[child + 1]->due_ms < triggers->heap[child]->due_ms)
            child++;
        if (t->due_ms <= triggers->heap[child]->due_ms)
            break;
        heap_put(triggers, i, triggers->heap[child]);
        i = child;
    }
    heap_put(triggers, i, t);
}

static void on_due_timer(uv_timer_t *timer);

/* Sets the one timer for the earliest tracker; call when the heap's first entry changed. */
static void due_timer_set(bk_triggers *triggers)
{
    if (triggers->heap_len == 0) {
        uv_timer_stop(&triggers->due_timer);
        return;
    }
    uint64_t now = uv_now(triggers->server->loop), due = triggers->heap[0]->due_ms;
    uv_timer_start(&triggers->due_timer, on_due_timer, due > now ? due - now : 0, 0);
}

static void tracker_disarm(bk_tracker *t)
{
    bk_triggers *triggers = t->triggers;
    if (!t->heap_at)
        return;
    size_t i = t->heap_at - 1;
    t->heap_at = 0;
    bk_tracker *last = triggers->heap[--triggers->heap_len];
    if (last != t) {
        heap_put(triggers, i, last);
        heap_up(triggers, i);
        heap_down(triggers, last->heap_at - 1);
    }
    if (i == 0)
        due_timer_set(triggers);
}

/* Evaluates the tracker again `delay` ms from now (loop time), replacing an earlier arming. */
static void tracker_arm_in(bk_tracker *t, uint64_t delay)
{
    bk_triggers *triggers = t->triggers;
    tracker_disarm(t);
    if (triggers->heap_len == triggers->heap_cap) {
        size_t cap = triggers->heap_cap ? triggers->heap_cap * 2 : 64;
        bk_tracker **grown = realloc(triggers->heap, cap * sizeof *grown);
        if (!grown)
            return;  /* not armed: the next event evaluates it again */
        triggers->heap = grown;
        triggers->heap_cap = cap;
    }
    t->due_ms = uv_now(triggers->server->loop) + delay;
    heap_put(triggers, triggers->heap_len++, t);
    heap_up(triggers, t->heap_at - 1);
    if (t->heap_at == 1)
        due_timer_set(triggers);
}

/* A reply that cannot be read leaves the profile as it was. */
static void tracker_profile_set(bk_tracker *t, const char *json, size_t len)
{
    bk_profile *profile = bk_profile_parse(json, len);
    if (!profile)
        return;
    bk_profile_free(t->profile);
    t->profile = profile;
}

bk_tracker *bk_tracker_new(bk_triggers *triggers, bk_conn *conn, const char *visitor,
                           const char *profile_json)
{
    bk_tracker *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->triggers = triggers;
    t->conn = conn;
    bk_conn_ref(conn);
    t->refs = 1;  /* the session's */
    snprintf(t->visitor, sizeof t->visitor, "%s", visitor);
    tracker_profile_set(t, profile_json, strlen(profile_json));
    if (!t->profile)
        tracker_profile_set(t, "{}", 2);
    bk_list_push_front(&triggers->trackers, &t->link);
    return t;
}

void bk_tracker_close(bk_tracker *t)
{
    if (!t || t->closed)
        return;
    t->closed = 1;
    bk_list_remove(&t->link);
    tracker_disarm(t);
    tracker_unref(t);
}

void bk_tracker_profile_changed(bk_tracker *t, const char *profile_json, size_t len)
{
    if (!t || t->closed)
        return;
    tracker_profile_set(t, profile_json, len);
    tracker_evaluate(t, NULL, NULL);
}

int bk_tracker_consented(const bk_tracker *t)
{
    return t && bk_profile_consented(t->profile);
}

void bk_tracker_conversation_opened(bk_tracker *t, const char *conversation)
{
    (void)conversation;  /* the rules only ask whether one is open */
    if (t && !t->closed)
        bk_profile_set_conversation_open(t->profile);
}

static void tracker_send(bk_tracker *t, json_t *obj)
{
    char *text = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    if (text) {
        bk_conn_send(t->conn, text, strlen(text));
        free(text);
    }
}

static void tracker_reply_error(bk_tracker *t, json_t *req, const redisReply *reply)
{
    const char *code = BK_ERR_UNAVAILABLE;
    const char *message = "storage did not confirm the request; send it again";
    static const char *const codes[] = { BK_ERR_NOT_FOUND, BK_ERR_WRONG_STATE, BK_ERR_CONSENT_REQUIRED,
                                         BK_ERR_INVALID_TOKEN };
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        const char *refusal = bk_redis_reply_refusal(reply, codes[i]);
        if (refusal) {
            code = codes[i];
            message = refusal;
        }
    }
    json_t *obj = json_pack("{s:s, s:s, s:s}", "type", "error", "code", code, "message", message);
    if (req)
        json_object_set(obj, "req", req);
    tracker_send(t, obj);
}

static call *call_new(bk_tracker *t, const bk_request *request)
{
    call *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    t->refs++;
    c->tracker = t;
    if (request) {
        c->type = request->type;
        if (request->req)
            c->req = json_incref(request->req);
    }
    return c;
}

static void call_free(call *c)
{
    json_decref(c->req);
    json_decref(c->props);
    free(c->text);
    free(c->agent);
    free(c->event_name);
    tracker_unref(c->tracker);
    free(c);
}

static int call_script(call *c, int script, bk_store_reply_fn fn, int argc, const char **argv)
{
    bk_triggers *triggers = c->tracker->triggers;
    return bk_store_script(triggers->server->store, triggers->scripts[script], fn, c, 0, argc, argv, NULL);
}

/* ---- evaluation --------------------------------------------------------------------------- */

/* A rules context and what it points into besides the profile. */
struct bk_trigger_context {
    bk_rules_context ctx;
    bk_profile *profile;            /* the dry run's profile, converted from JSON */
    json_t *attrs_json;             /* the profile's "attrs", parsed */
    bk_rules_attr attrs[BK_PROPS_MAX];
    bk_rules_cap_state caps[MAX_CAPS];
    bk_rules_attr props[BK_PROPS_MAX];
};

bk_trigger_context *bk_trigger_context_new(void)
{
    return calloc(1, sizeof(bk_trigger_context));
}

void bk_trigger_context_free(bk_trigger_context *context)
{
    if (context) {
        json_decref(context->attrs_json);
        bk_profile_free(context->profile);
    }
    free(context);
}

/* Fills out[] from a JSON object of scalars; returns how many. */
static size_t attrs_fill(json_t *object, bk_rules_attr *out, size_t max)
{
    const char *key;
    json_t *value;
    size_t n = 0;
    json_object_foreach(object, key, value) {
        if (n == max)
            break;
        out[n].key = key;
        if (json_is_string(value)) {
            out[n].value.type = BK_RULES_VALUE_STRING;
            out[n].value.string = json_string_value(value);
        } else if (json_is_number(value)) {
            out[n].value.type = BK_RULES_VALUE_NUMBER;
            out[n].value.number = json_number_value(value);
        } else if (json_is_boolean(value)) {
            out[n].value.type = BK_RULES_VALUE_BOOL;
            out[n].value.boolean = json_is_true(value);
        } else {
            continue;
        }
        n++;
    }
    return n;
}

/* Fills the context from a tracker's profile; its strings point into the profile. */
static const bk_rules_context *context_fill(bk_trigger_context *storage, const bk_profile *profile,
                                            int agents_available, const char *event_name,
                                            json_t *event_props, int64_t now)
{
    bk_rules_context *ctx = &storage->ctx;
    bk_rules_cap_state *caps = storage->caps;
    bk_rules_attr *props = storage->props;
    bk_rules_context_init(ctx);
    ctx->site = bk_profile_string(profile, BK_PROFILE_SITE);
    ctx->page_url = bk_profile_string(profile, BK_PROFILE_PAGE_URL);
    ctx->page_title = bk_profile_string(profile, BK_PROFILE_PAGE_TITLE);
    ctx->page_started_ms = bk_profile_number(profile, BK_PROFILE_PAGE_STARTED, 0);
    ctx->visit_started_ms = bk_profile_number(profile, BK_PROFILE_VISIT_STARTED, 0);
    ctx->visit_pages = bk_profile_number(profile, BK_PROFILE_VISIT_PAGES, -1);
    ctx->referrer = bk_profile_string(profile, BK_PROFILE_VISIT_REFERRER);
    ctx->utm_source = bk_profile_string(profile, BK_PROFILE_UTM_SOURCE);
    ctx->utm_medium = bk_profile_string(profile, BK_PROFILE_UTM_MEDIUM);
    ctx->utm_campaign = bk_profile_string(profile, BK_PROFILE_UTM_CAMPAIGN);
    ctx->utm_term = bk_profile_string(profile, BK_PROFILE_UTM_TERM);
    ctx->utm_content = bk_profile_string(profile, BK_PROFILE_UTM_CONTENT);
    ctx->visits = bk_profile_number(profile, BK_PROFILE_VISITS, -1);
    ctx->chats = bk_profile_number(profile, BK_PROFILE_CHATS, 0);
    ctx->last_chat_ms = bk_profile_number(profile, BK_PROFILE_LAST_CHAT, 0);
    ctx->lang = bk_profile_string(profile, BK_PROFILE_LANG);
    ctx->device = bk_profile_string(profile, BK_PROFILE_DEVICE);
    ctx->last_event_ms = bk_profile_number(profile, BK_PROFILE_LAST_EVENT, 0);
    ctx->conversation_open = bk_profile_conversation_open(profile);
    const char *attrs = bk_profile_string(profile, BK_PROFILE_ATTRS);
    json_decref(storage->attrs_json);
    storage->attrs_json = attrs ? json_loads(attrs, 0, NULL) : NULL;
    if (json_is_object(storage->attrs_json)) {
        ctx->attrs = storage->attrs;
        ctx->attr_count = attrs_fill(storage->attrs_json, storage->attrs, BK_PROPS_MAX);
    }
    ctx->agents_available = agents_available != 0;
    char today[9];
    bk_day_string(now, today);
    const char *day = bk_profile_string(profile, BK_PROFILE_INV_DAY);
    ctx->invitations_today = day && strcmp(day, today) == 0
                           ? bk_profile_number(profile, BK_PROFILE_INV_TODAY, 0) : 0;
    ctx->day_ends_ms = next_midnight_ms(now);
    ctx->last_dismissed_ms = bk_profile_number(profile, BK_PROFILE_LAST_DISMISSED, 0);

    /* caps: the count applies only to the visit it was made in */
    const bk_profile_cap *entries;
    size_t n = bk_profile_caps(profile, &entries);
    for (size_t i = 0; i < n; i++) {
        caps[i].rule_id = entries[i].rule;
        caps[i].invitations_this_visit = entries[i].visit == ctx->visits ? entries[i].count : 0;
        caps[i].last_invited_ms = entries[i].last_ms;
    }
    ctx->caps = caps;
    ctx->cap_count = n;

    if (event_name) {
        ctx->event_name = event_name;
        if (event_props) {
            ctx->event_props = props;
            ctx->event_prop_count = attrs_fill(event_props, props, BK_PROPS_MAX);
        }
    }
    return ctx;
}

const bk_rules_context *bk_trigger_context_fill(bk_trigger_context *storage, json_t *profile,
                                                int agents_available, const char *event_name,
                                                json_t *event_props, int64_t now)
{
    /* The dry run's profile is made rarely: through text, so both paths read it alike. */
    char *text = json_dumps(profile, JSON_COMPACT);
    bk_profile_free(storage->profile);
    storage->profile = text ? bk_profile_parse(text, strlen(text)) : NULL;
    free(text);
    return context_fill(storage, storage->profile, agents_available, event_name, event_props, now);
}

static size_t counter_slot(const bk_triggers *triggers, const char *id)
{
    uintptr_t h = (uintptr_t)id;
    h = (h >> 4) * (uintptr_t)11400714819323198485ull;
    return (size_t)h & (triggers->counter_slots - 1);
}

static void on_rule_judged(const char *id, bool matches, void *data)
{
    bk_triggers *triggers = data;
    if (!triggers->counters)
        return;
    for (size_t i = counter_slot(triggers, id);; i = (i + 1) & (triggers->counter_slots - 1)) {
        rule_counter *c = &triggers->counters[i];
        if (c->id == id) {
            c->evaluated++;
            c->matched += matches;
            return;
        }
        if (!c->id)
            return;  /* not a rule of the current set */
    }
}

/* Adds the counts to today's stats and zeroes them. */
static void counters_flush(bk_triggers *triggers)
{
    size_t used = 0;
    for (size_t i = 0; i < triggers->counter_slots; i++)
        if (triggers->counters[i].evaluated)
            used++;
    if (used == 0)
        return;
    const char **argv = malloc((2 + 3 * used) * sizeof *argv);
    char (*numbers)[2][12] = malloc(used * sizeof *numbers);
    char day[9];
    if (!argv || !numbers) {
        free(argv);
        free(numbers);
        return;
    }
    bk_day_string(bk_now_ms(), day);
    argv[0] = triggers->server->config->prefix;
    argv[1] = day;
    size_t n = 0;
    for (size_t i = 0; i < triggers->counter_slots; i++) {
        rule_counter *c = &triggers->counters[i];
        if (!c->evaluated)
            continue;
        snprintf(numbers[n][0], sizeof numbers[n][0], "%u", c->evaluated);
        snprintf(numbers[n][1], sizeof numbers[n][1], "%u", c->matched);
        argv[2 + 3 * n] = c->id;
        argv[3 + 3 * n] = numbers[n][0];
        argv[4 + 3 * n] = numbers[n][1];
        c->evaluated = c->matched = 0;
        n++;
    }
    /* Best effort: counts that cannot be written now are dropped, never retried twice. */
    bk_store_script(triggers->server->store, triggers->scripts[SCRIPT_STATS_ADD], NULL, NULL, 0,
                    (int)(2 + 3 * n), argv, NULL);
    free(argv);
    free(numbers);
}

/* A new rule set: flush what the old one counted (its ids are still alive), then index the
 * new set's id pointers. */
static void counters_rebuild(bk_triggers *triggers, const bk_rule_set *set)
{
    if (triggers->counters)
        counters_flush(triggers);
    free(triggers->counters);
    triggers->counters = NULL;
    triggers->counter_slots = 0;
    size_t count = bk_rule_set_count(set), slots = 16;
    while (slots < 2 * count)
        slots *= 2;
    triggers->counters = calloc(slots, sizeof *triggers->counters);
    if (!triggers->counters)
        return;
    triggers->counter_slots = slots;
    for (size_t r = 0; r < count; r++) {
        const char *id = bk_rule_set_id_at(set, r);
        size_t i = counter_slot(triggers, id);
        while (triggers->counters[i].id)
            i = (i + 1) & (slots - 1);
        triggers->counters[i].id = id;
    }
}

static void on_invited(redisReply *reply, void *data)
{
    call *c = data;
    bk_tracker *t = c->tracker;
    const char *profile;
    size_t len;
    t->inviting = 0;
    if (t->closed)
        goto done;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_TEXT, &profile, &len) != 0) {
        /* wrong_state (the visitor started a chat meanwhile) or Redis away: no invitation. */
        goto done;
    }
    tracker_profile_set(t, profile, len);
    snprintf(t->invitation, sizeof t->invitation, "%s", c->invitation);
    json_t *frame = json_pack("{s:s, s:s, s:s, s:s}", "type", "invite", "invitation", c->invitation,
                              "rule", c->rule, "text", c->text);
    json_object_set_new(frame, "agent", c->agent && c->agent[0] ? json_string(c->agent) : json_null());
    tracker_send(t, frame);
    bk_metrics_invitation(c->rule);
    bk_metrics_now.invitations_sent++;
    bk_info("invitation %s of rule %s sent to visitor %s", c->invitation, c->rule, t->visitor);
done:
    call_free(c);
}

static void tracker_invite(bk_tracker *t, const bk_rules_result *result, int64_t now)
{
    call *c = call_new(t, NULL);
    if (!c)
        return;
    snprintf(c->rule, sizeof c->rule, "%s", result->rule_id);
    c->text = strdup(result->invite_text ? result->invite_text : "");
    c->agent = strdup(result->invite_agent ? result->invite_agent : "");
    if (!c->text || !c->agent || bk_id_generate("i_", c->invitation, sizeof c->invitation) != 0) {
        call_free(c);
        return;
    }
    char now_text[24], day[9];
    snprintf(now_text, sizeof now_text, "%lld", (long long)now);
    bk_day_string(now, day);
    const char *argv[] = { t->triggers->server->config->prefix, t->visitor, c->rule, c->text, c->agent,
                           now_text, day, c->invitation };
    t->inviting = 1;
    if (call_script(c, SCRIPT_INVITE, on_invited, 8, argv) != 0) {
        t->inviting = 0;
        call_free(c);
    }
}

/* Evaluates the trackers that are due. Each is taken off the heap first; an evaluation may
 * arm it again, even for now: the count taken at the start bounds the round, so such a
 * tracker waits for the next turn of the loop instead of spinning this one. */
static void on_due_timer(uv_timer_t *timer)
{
    bk_triggers *triggers = timer->data;
    uint64_t now = uv_now(triggers->server->loop);
    for (size_t budget = triggers->heap_len; budget > 0 && triggers->heap_len > 0; budget--) {
        bk_tracker *t = triggers->heap[0];
        if (t->due_ms > now)
            break;
        tracker_disarm(t);
        t->refs++;
        tracker_evaluate(t, NULL, NULL);
        tracker_unref(t);
    }
    due_timer_set(triggers);
}

static void tracker_arm(bk_tracker *t, int64_t at_ms, int64_t now)
{
    tracker_arm_in(t, at_ms > now ? (uint64_t)(at_ms - now) : 0);
}

/* Evaluates the node's rules for this visitor now: invites, or arms the timer for the
 * earliest moment something could change by time alone. */
static void tracker_evaluate(bk_tracker *t, const char *event_name, json_t *event_props)
{
    bk_triggers *triggers = t->triggers;
    if (t->closed || !triggers->rules || t->invitation[0] || t->inviting)
        return;
    tracker_disarm(t);
    int64_t now = bk_now_ms();
    if (!triggers->context)
        return;
    const bk_rules_context *ctx = context_fill(triggers->context, t->profile, triggers->agents_available,
                                               event_name, event_props, now);
    bk_rules_result result;  /* its strings point into the rule set, not the context */
    int rc = bk_rule_set_evaluate_observed(triggers->rules, ctx, now, &triggers->settings, on_rule_judged,
                                           triggers, &result);
    if (rc != BK_RULES_OK)
        return;
    if (result.rule_id) {
        /* delay_seconds: wait, then fire if the rule still holds. */
        if (result.invite_delay_seconds > 0 && strcmp(t->delayed_rule, result.rule_id) != 0) {
            snprintf(t->delayed_rule, sizeof t->delayed_rule, "%s", result.rule_id);
            tracker_arm(t, now + result.invite_delay_seconds * 1000, now);
            return;
        }
        t->delayed_rule[0] = '\0';
        tracker_invite(t, &result, now);
        return;
    }
    t->delayed_rule[0] = '\0';
    if (result.next_check_ms > 0)
        tracker_arm(t, result.next_check_ms, now);
}

/* ---- requests ------------------------------------------------------------------------ */

static void on_tracked(redisReply *reply, void *data)
{
    call *c = data;
    bk_tracker *t = c->tracker;
    const char *profile;
    size_t len;
    if (t->closed)
        goto done;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_TEXT, &profile, &len) != 0) {
        if (c->req)
            tracker_reply_error(t, c->req, reply);
        goto done;
    }
    tracker_profile_set(t, profile, len);
    if (c->req)
        tracker_send(t, json_pack("{s:s, s:O}", "type", "ok", "req", c->req));
    /* What the event changed (page, counts) is in the profile now; rules on the event's
     * name see it through the copy kept in the call. */
    tracker_evaluate(t, c->event_name, c->props);
done:
    call_free(c);
}

/* Stores a page view or custom event and updates the visit; fn gets the new profile. */
static int track_send(bk_triggers *triggers, const char *visitor, const bk_request *request,
                      bk_store_reply_fn fn, void *data)
{
    const bk_config *config = triggers->server->config;
    int is_page = request->type != BK_REQ_EVENT;
    char now[24], gap[24], retention[24], max_events[16];
    char utm[5][BK_PROP_VALUE_MAX + 1];
    static const char *const utm_names[5] = { "utm_source", "utm_medium", "utm_campaign", "utm_term",
                                              "utm_content" };
    const char *url = request->url ? request->url : "";
    for (int i = 0; i < 5; i++)
        bk_url_query_value(url, utm_names[i], utm[i], sizeof utm[i]);
    snprintf(now, sizeof now, "%lld", (long long)bk_now_ms());
    snprintf(gap, sizeof gap, "%lld", (long long)config->visit_gap_minutes * 60000);
    snprintf(retention, sizeof retention, "%lld", (long long)config->event_retention_days * 86400);
    snprintf(max_events, sizeof max_events, "%d", MAX_EVENTS);
    char *props = request->props ? json_dumps(request->props, JSON_COMPACT) : NULL;
    const char *argv[] = { config->prefix, visitor, now, gap, is_page ? "page" : "event", url,
                           request->title ? request->title : "", request->referrer ? request->referrer : "",
                           utm[0], utm[1], utm[2], utm[3], utm[4],
                           request->event_name ? request->event_name : "", props ? props : "{}",
                           retention, max_events };
    int rc = bk_store_script(triggers->server->store, triggers->scripts[SCRIPT_TRACK], fn, data, 0, 17,
                             argv, NULL);
    free(props);
    return rc;
}

int bk_triggers_track(bk_triggers *triggers, const char *visitor, const bk_request *request,
                      bk_store_reply_fn fn, void *data)
{
    return track_send(triggers, visitor, request, fn, data);
}

static void track(bk_tracker *t, const bk_request *request)
{
    call *c = call_new(t, request);
    if (!c)
        return;
    int is_page = request->type != BK_REQ_EVENT;
    c->event_name = strdup(is_page ? "page_view" : request->event_name);
    if (!is_page && request->props)
        c->props = json_incref(request->props);
    if (track_send(t->triggers, t->visitor, request, on_tracked, c) != 0) {
        if (c->req)
            tracker_reply_error(t, c->req, NULL);
        call_free(c);
    }
}

static void on_invite_reply(redisReply *reply, void *data)
{
    call *c = data;
    bk_tracker *t = c->tracker;
    const char *conversation, *profile;
    size_t len;
    if (t->closed)
        goto done;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_INVITE_REPLY, &conversation, &profile, &len) != 0) {
        tracker_reply_error(t, c->req, reply);
        goto done;
    }
    tracker_profile_set(t, profile, len);
    if (c->type != BK_REQ_INVITE_SHOWN && strcmp(t->invitation, c->invitation) == 0)
        t->invitation[0] = '\0';
    json_t *ok = json_pack("{s:s}", "type", "ok");
    if (c->req)
        json_object_set(ok, "req", c->req);
    if (conversation[0])
        json_object_set_new(ok, "conversation", json_string(conversation));
    tracker_send(t, ok);
    if (c->type == BK_REQ_INVITE_DISMISSED)
        tracker_evaluate(t, NULL, NULL);  /* arms the timer for the end of the quiet time */
done:
    call_free(c);
}

static void invite_reply(bk_tracker *t, const bk_request *request)
{
    call *c = call_new(t, request);
    if (!c)
        return;
    snprintf(c->invitation, sizeof c->invitation, "%s", request->invitation);
    const char *kind = request->type == BK_REQ_INVITE_SHOWN ? "shown"
                     : request->type == BK_REQ_INVITE_ACCEPTED ? "accepted" : "dismissed";
    char now[24], day[9], cid[BK_ID_MAX + 1];
    int64_t now_ms = bk_now_ms();
    snprintf(now, sizeof now, "%lld", (long long)now_ms);
    bk_day_string(now_ms, day);
    if (bk_id_generate("c_", cid, sizeof cid) != 0) {
        call_free(c);
        return;
    }
    const char *argv[] = { t->triggers->server->config->prefix, t->visitor, request->invitation, kind, now,
                           day, cid };
    if (call_script(c, SCRIPT_INVITE_REPLY, on_invite_reply, 7, argv) != 0) {
        tracker_reply_error(t, c->req, NULL);
        call_free(c);
    }
}

void bk_triggers_request(bk_triggers *triggers, bk_tracker *t, const bk_request *request)
{
    (void)triggers;
    if (!t)
        return;
    switch (request->type) {
    case BK_REQ_HELLO:
    case BK_REQ_PAGE_VIEW:
    case BK_REQ_EVENT:
        track(t, request);
        break;
    case BK_REQ_INVITE_SHOWN:
    case BK_REQ_INVITE_ACCEPTED:
    case BK_REQ_INVITE_DISMISSED:
        invite_reply(t, request);
        break;
    default:
        break;
    }
}

/* ---- the node's rule set ---------------------------------------------------------------- */

static void evaluate_all(bk_triggers *triggers)
{
    bk_list_each(node, &triggers->trackers)
        tracker_evaluate(bk_list_entry(node, bk_tracker, link), NULL, NULL);
}

static void rules_reload(bk_triggers *triggers);

static void on_rules_loaded(redisReply *reply, void *data)
{
    bk_triggers *triggers = data;
    triggers->rules_loading = 0;
    /* The load that just finished may have read Redis before the latest change: go again. */
    if (triggers->rules_stale) {
        triggers->rules_stale = 0;
        rules_reload(triggers);
    }
    const redisReply *fields;
    size_t at;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_HASH, &fields, &at) != 0) {
        bk_warn("could not load the rules from redis; keeping the %zu rules in use",
                triggers->rules ? bk_rule_set_count(triggers->rules) : (size_t)0);
        return;
    }
    bk_rule_set *set = bk_rule_set_new();
    if (!set)
        return;
    const char *id, *value;
    size_t len;
    while (bk_redis_reply_unpack_next(fields, &at, BK_SHAPE_HASH_FIELD, &id, &value, &len) == 0) {
        /* The hash field is the rule's id, whatever the JSON says (or omits). */
        json_t *rule = json_loadb(value, len, 0, NULL);
        char *text = NULL;
        if (json_is_object(rule) && json_object_set_new(rule, "id", json_string(id)) == 0)
            text = json_dumps(rule, JSON_COMPACT);
        json_decref(rule);
        bk_rules_error err;
        if (!text)
            bk_warn("rule %s in redis is not a JSON object, skipped", id);
        else if (bk_rule_set_add_json(set, text, strlen(text), &err) != BK_RULES_OK)
            bk_warn("rule %s in redis is invalid, skipped: %s: %s", id, err.path, err.message);
        free(text);
    }
    counters_rebuild(triggers, set);
    bk_rule_set_free(triggers->rules);
    triggers->rules = set;
    triggers->rules_loaded = 1;
    bk_info("rules loaded: %zu", bk_rule_set_count(set));
    evaluate_all(triggers);
}

static void rules_reload(bk_triggers *triggers)
{
    if (triggers->rules_loading) {
        triggers->rules_stale = 1;
        return;
    }
    char key[64];
    snprintf(key, sizeof key, "%srules", triggers->server->config->prefix);
    const char *argv[] = { "HGETALL", key };
    if (bk_store_command(triggers->server->store, on_rules_loaded, triggers, 2, argv, NULL) == 0)
        triggers->rules_loading = 1;
}

const bk_rule_set *bk_triggers_rules(const bk_triggers *triggers)
{
    return triggers->rules;
}

const bk_rules_settings *bk_triggers_settings(const bk_triggers *triggers)
{
    return &triggers->settings;
}

void bk_triggers_control(bk_triggers *triggers, const char *what)
{
    if (strcmp(what, "rules") == 0)
        rules_reload(triggers);
}

static void on_agents_available(redisReply *reply, void *data)
{
    bk_triggers *triggers = data;
    long long available;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_INTEGER, &available) != 0)
        return;
    int before = triggers->agents_available;
    triggers->agents_available = (int)available;
    /* Rules that wait for an agent may fire now. */
    if (before == 0 && triggers->agents_available > 0)
        evaluate_all(triggers);
}

static void on_agents_timer(uv_timer_t *timer)
{
    bk_triggers *triggers = timer->data;
    if (!bk_store_is_up(triggers->server->store))
        return;
    if (!triggers->rules_loaded)
        rules_reload(triggers);
    char now[24], max_chats[12];
    snprintf(now, sizeof now, "%lld", (long long)bk_now_ms());
    snprintf(max_chats, sizeof max_chats, "%d", triggers->server->config->agent_max_chats);
    const char *argv[] = { triggers->server->config->prefix, now, max_chats };
    bk_store_script(triggers->server->store, triggers->scripts[SCRIPT_AGENTS_AVAILABLE],
                    on_agents_available, triggers, 0, 3, argv, NULL);
}

static void on_stats_timer(uv_timer_t *timer)
{
    bk_triggers *triggers = timer->data;
    if (triggers->counters)
        counters_flush(triggers);
}

bk_triggers *bk_triggers_new(bk_server *server)
{
    bk_triggers *triggers = calloc(1, sizeof *triggers);
    if (!triggers)
        return NULL;
    const char *const *const sources[SCRIPT_COUNT] = {
        BK_LUA(BK_LUA_TRACK), BK_LUA(BK_LUA_INVITE), BK_LUA(BK_LUA_INVITE_REPLY), BK_LUA(BK_LUA_AGENTS_AVAILABLE), BK_LUA(BK_LUA_STATS_ADD),
    };
    triggers->server = server;
    for (int i = 0; i < SCRIPT_COUNT; i++)
        triggers->scripts[i] = bk_store_script_add(server->store, sources[i]);
    triggers->settings.daily_budget = server->config->invite_daily_budget;
    triggers->settings.dismiss_quiet_seconds = (int64_t)server->config->invite_quiet_minutes * 60;
    bk_list_init(&triggers->trackers);
    triggers->context = bk_trigger_context_new();
    uv_timer_init(server->loop, &triggers->due_timer);
    triggers->due_timer.data = triggers;
    uv_timer_init(server->loop, &triggers->agents_timer);
    triggers->agents_timer.data = triggers;
    uv_timer_start(&triggers->agents_timer, on_agents_timer, 50, AGENTS_REFRESH_MS);
    uint64_t flush_ms = (uint64_t)server->config->stats_flush_seconds * 1000;
    uv_timer_init(server->loop, &triggers->stats_timer);
    triggers->stats_timer.data = triggers;
    uv_timer_start(&triggers->stats_timer, on_stats_timer, flush_ms, flush_ms);
    return triggers;
}

void bk_triggers_shutdown(bk_triggers *triggers)
{
    if (triggers->counters)
        counters_flush(triggers);  /* Redis closes after this: the last counts still get out */
    uv_close((uv_handle_t *)&triggers->due_timer, NULL);
    uv_close((uv_handle_t *)&triggers->agents_timer, NULL);
    uv_close((uv_handle_t *)&triggers->stats_timer, NULL);
}

void bk_triggers_free(bk_triggers *triggers)
{
    if (!triggers)
        return;
    bk_rule_set_free(triggers->rules);
    free(triggers->counters);
    free(triggers->heap);
    bk_trigger_context_free(triggers->context);
    free(triggers);
}
