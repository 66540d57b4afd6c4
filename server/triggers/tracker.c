/* tracker.c - a visitor's tracker: its profile, its evaluation, invitations, the timer heap. */
#include "triggers/triggers_internal.h"

#include "protocol/errors.h"

#include "base/ids.h"
#include "base/keys.h"
#include "base/log.h"
#include "base/metrics.h"
#include "store/redis_reply.h"
#include "store/redis_shapes.h"

#include <beckon/protocol.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
void triggers_tracker_profile_set(bk_tracker *t, const char *json, size_t len)
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
    triggers_tracker_profile_set(t, profile_json, strlen(profile_json));
    if (!t->profile)
        triggers_tracker_profile_set(t, "{}", 2);
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
    triggers_tracker_profile_set(t, profile_json, len);
    triggers_tracker_evaluate(t, NULL, NULL);
}

int bk_tracker_consented(const bk_tracker *t)
{
    return t && bk_profile_consented(t->profile);
}

void bk_tracker_flush(bk_tracker *t)
{
    if (t && t->batched)
        triggers_track_batch_flush(t->triggers->track_batch);
}

void bk_tracker_conversation_opened(bk_tracker *t, const char *conversation)
{
    (void)conversation;  /* the rules only ask whether one is open */
    if (t && !t->closed)
        bk_profile_set_conversation_open(t->profile);
}

void triggers_tracker_send(bk_tracker *t, json_t *obj)
{
    char *text = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    if (text) {
        bk_conn_send(t->conn, text, strlen(text));
        free(text);
    }
}

void triggers_tracker_reply_error(bk_tracker *t, json_t *req, const redisReply *reply)
{
    bk_error err;
    bk_error_from_store(&err, reply, BK_REFUSALS(BK_ERR_NOT_FOUND, BK_ERR_WRONG_STATE, BK_ERR_CONSENT_REQUIRED,
                                                 BK_ERR_INVALID_TOKEN), BK_STORAGE_WRITE);
    triggers_tracker_send(t, bk_error_frame(req, err.code, err.message));
}

triggers_call *triggers_call_new(bk_tracker *t, const bk_request *request)
{
    triggers_call *c = calloc(1, sizeof *c);
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

void triggers_call_free(triggers_call *c)
{
    json_decref(c->req);
    json_decref(c->props);
    free(c->text);
    free(c->agent);
    free(c->event_name);
    free(c->tracked);
    tracker_unref(c->tracker);
    free(c);
}

int triggers_call_script(triggers_call *c, int script, bk_store_reply_fn fn, int argc,
                         const char **argv)
{
    bk_triggers *triggers = c->tracker->triggers;
    return bk_store_script(triggers->server->store, triggers->scripts[script], fn, c, 0, argc, argv, NULL);
}

static void on_invited(redisReply *reply, void *data)
{
    triggers_call *c = data;
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
    triggers_tracker_profile_set(t, profile, len);
    snprintf(t->invitation, sizeof t->invitation, "%s", c->invitation);
    json_t *frame = json_pack("{s:s, s:s, s:s, s:s}", "type", "invite", "invitation", c->invitation,
                              "rule", c->rule, "text", c->text);
    json_object_set_new(frame, "agent", c->agent && c->agent[0] ? json_string(c->agent) : json_null());
    triggers_tracker_send(t, frame);
    bk_metrics_invitation(c->rule);
    bk_metrics_now.invitations_sent++;
    bk_info("invitation %s of rule %s sent to visitor %s", c->invitation, c->rule, t->visitor);
done:
    triggers_call_free(c);
}

static void tracker_invite(bk_tracker *t, const bk_rules_result *result, int64_t now)
{
    triggers_call *c = triggers_call_new(t, NULL);
    if (!c)
        return;
    snprintf(c->rule, sizeof c->rule, "%s", result->rule_id);
    c->text = strdup(result->invite_text ? result->invite_text : "");
    c->agent = strdup(result->invite_agent ? result->invite_agent : "");
    if (!c->text || !c->agent || bk_id_generate("i_", c->invitation, sizeof c->invitation) != 0) {
        triggers_call_free(c);
        return;
    }
    char now_text[24], day[9];
    snprintf(now_text, sizeof now_text, "%lld", (long long)now);
    bk_day_string(now, day);
    char prefix[BK_KEYS_PREFIX_SIZE];
    bk_keys_prefix_of_id(t->triggers->server->config->prefix, t->visitor, prefix);
    const char *argv[] = { prefix, t->visitor, c->rule, c->text, c->agent, now_text, day, c->invitation };
    t->inviting = 1;
    if (triggers_call_script(c, SCRIPT_INVITE, on_invited, 8, argv) != 0) {
        t->inviting = 0;
        triggers_call_free(c);
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
        triggers_tracker_evaluate(t, NULL, NULL);
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
void triggers_tracker_evaluate(bk_tracker *t, const char *event_name, json_t *event_props)
{
    bk_triggers *triggers = t->triggers;
    if (t->closed || !triggers->rules || t->invitation[0] || t->inviting)
        return;
    tracker_disarm(t);
    int64_t now = bk_now_ms();
    if (!triggers->context)
        return;
    const bk_rules_context *ctx = triggers_context_fill(triggers->context, t->profile,
                                                        triggers->agents_available, event_name,
                                                        event_props, now);
    bk_rules_result result;  /* its strings point into the rule set, not the context */
    int rc = bk_rule_set_evaluate_observed(triggers->rules, ctx, now, &triggers->settings,
                                           triggers_rule_judged, triggers, &result);
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
