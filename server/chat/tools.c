/* tools.c - the requests beside a conversation: what visitors tell about themselves (identify,
 * consent, a message left for later) and the agents' tools (status, invitations, lookups). */
#include "chat/chat_internal.h"

#include "base/auth.h"
#include "base/ids.h"
#include "base/metrics.h"
#include "store/redis_reply.h"
#include "store/redis_shapes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VISITORS_WINDOW_MS  (5 * 60 * 1000)  /* "on the site now": an event in the last 5 min */

/* ---- what visitors tell about themselves --------------------------------------------- */

static void on_identified(redisReply *reply, void *data)
{
    chat_call *c = data;
    chat_session *s = c->session;
    const char *profile;
    size_t len;
    if (!chat_call_orphaned(c)) {
        if (bk_redis_reply_unpack(reply, BK_SHAPE_TEXT, &profile, &len) == 0) {
            chat_send_ok(s, c->req);
            if (s->tracker)
                bk_tracker_profile_changed(s->tracker, profile, len);
        } else {
            chat_send_store_error(s, c->req, reply);
        }
    }
    chat_call_free(c);
}

/* With a site secret, identify may carry the site's user id signed by the site's backend.
 * With enforcement on, nothing that claims an identity is taken without that signature. */
void chat_visitor_identify(chat_session *s, const bk_request *request)
{
    const char *verified = "";
    if (request->user_id || request->user_hash) {
        if (!request->user_id || !request->user_hash ||
            bk_identity_verify(s->identity_secret, request->user_id, request->user_hash) != 0) {
            chat_send_error(s, request->req, BK_ERR_FORBIDDEN, "identify.hash: not the site's signature of this id");
            return;
        }
        verified = request->user_id;
    } else if (s->enforce_identity && (request->name || request->email)) {
        chat_send_error(s, request->req, BK_ERR_FORBIDDEN,
                        "this site verifies identities: identify needs id and hash from the site's backend");
        return;
    }
    chat_call *c = chat_call_new(s, request);
    if (!c)
        return;
    char *attrs = request->attrs ? json_dumps(request->attrs, JSON_COMPACT) : NULL;
    const char *argv[] = { s->prefix, s->id, request->name ? request->name : "",
                           request->email ? request->email : "", attrs ? attrs : "", verified };
    chat_call_script(c, SCRIPT_IDENTIFY, on_identified, 6, argv, NULL);
    free(attrs);
}

void chat_visitor_consent(chat_session *s, const bk_request *request)
{
    chat_call *c = chat_call_new(s, request);
    if (!c)
        return;
    const char *argv[] = { s->prefix, s->id, request->granted ? "1" : "0" };
    chat_call_script(c, SCRIPT_CONSENT, on_identified, 3, argv, NULL);
}

static void on_left(redisReply *reply, void *data)
{
    chat_call *c = data;
    const char *id;
    if (!chat_call_orphaned(c)) {
        if (bk_redis_reply_unpack(reply, BK_SHAPE_STRING, &id) == 0)
            chat_send_ok(c->session, c->req);
        else
            chat_send_store_error(c->session, c->req, reply);
    }
    chat_call_free(c);
}

void chat_message_leave(chat_session *s, const bk_request *request)
{
    chat_call *c = chat_call_new(s, request);
    if (!c)
        return;
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)bk_now_ms());
    const char *argv[] = { s->prefix, s->id, request->name ? request->name : "",
                           request->email, request->text, now };
    size_t lengths[] = { strlen(argv[0]), strlen(s->id), strlen(argv[2]), strlen(request->email),
                         request->text_len, strlen(now) };
    chat_call_script(c, SCRIPT_LEAVE_MESSAGE, on_left, 6, argv, lengths);
}

/* ---- agents' tools ------------------------------------------------------------------- */

void chat_agent_status(chat_session *s, const bk_request *request)
{
    chat_call *c = chat_call_new(s, request);
    if (!c)
        return;
    char expiry[24];
    snprintf(expiry, sizeof expiry, "%lld", (long long)(bk_now_ms() + PRESENCE_TTL_MS));
    const char *argv[] = { s->chat->global_prefix, s->id, request->status, expiry, s->chat->node };
    chat_call_script(c, SCRIPT_STATUS, chat_on_ok, 5, argv, NULL);
}

void chat_visitor_invite(chat_session *s, const bk_request *request)
{
    chat_call *c = chat_call_new(s, request);
    if (!c)
        return;
    char now[24], day[9], invitation[BK_ID_MAX + 1];
    int64_t now_ms = bk_now_ms();
    snprintf(now, sizeof now, "%lld", (long long)now_ms);
    bk_day_string(now_ms, day);
    if (bk_id_generate("i_", invitation, sizeof invitation) != 0) {
        chat_send_error(s, c->req, BK_ERR_INTERNAL, "no randomness for an invitation id");
        chat_call_free(c);
        return;
    }
    char slot[BK_KEYS_PREFIX_SIZE];
    const char *argv[] = { chat_slot_prefix(s, request->visitor, slot), request->visitor, s->id, request->text, now,
                           invitation, day };
    bk_metrics_invitation("manual");
    bk_metrics_now.invitations_sent++;
    chat_call_script(c, SCRIPT_MANUAL_INVITE, chat_on_ok, 7, argv, NULL);
}

/* A script that answers with JSON text: an object is merged into the reply, an array goes
 * into reply_key. */
static void on_json_reply(redisReply *reply, void *data)
{
    chat_call *c = data;
    chat_session *s = c->session;
    const char *text;
    size_t len;
    if (chat_call_orphaned(c))
        goto done;
    int unpacked = bk_redis_reply_unpack(reply, BK_SHAPE_TEXT, &text, &len) == 0;
    json_t *body = unpacked ? json_loadb(text, len, 0, NULL) : NULL;
    if (!body) {
        chat_send_store_error(s, c->req, unpacked ? NULL : reply);
        goto done;
    }
    json_t *out = bk_reply_new(c->reply_type, c->req);
    if (json_is_object(body))
        json_object_update(out, body);
    else
        json_object_set(out, c->reply_key, body);
    json_decref(body);
    chat_send_json(s, out);
done:
    chat_call_free(c);
}

static void json_request(chat_session *s, const bk_request *request, int script, const char *reply_type,
                         const char *reply_key, int argc, const char **argv)
{
    chat_call *c = chat_call_new(s, request);
    if (!c)
        return;
    c->reply_type = reply_type;
    c->reply_key = reply_key;
    chat_call_script(c, script, on_json_reply, argc, argv, NULL);
}

void chat_visitor_details(chat_session *s, const bk_request *request)
{
    char slot[BK_KEYS_PREFIX_SIZE];
    const char *argv[] = { chat_slot_prefix(s, request->visitor, slot), request->visitor };
    json_request(s, request, SCRIPT_VISITOR_DETAILS, "visitor", NULL, 2, argv);
}

/* A list over every site: the script once per slot this node knows of (base/keys.h), the
 * arrays joined, newest first by a number of each entry, at most limit entries. */
typedef struct slots_list {
    chat_call *call;
    json_t *entries;
    const char *newest_by;
    size_t limit;
    size_t waiting;
    int failed;
} slots_list;

static const char *newest_by;  /* for the sort below: the loop thread only */

static int newest_first(const void *a, const void *b)
{
    double x = json_number_value(json_object_get(*(json_t *const *)a, newest_by));
    double y = json_number_value(json_object_get(*(json_t *const *)b, newest_by));
    return x > y ? -1 : x < y;
}

static void slots_list_done(slots_list *l)
{
    chat_call *c = l->call;
    if (chat_call_orphaned(c))
        goto done;
    if (l->failed) {
        chat_send_store_error(c->session, c->req, NULL);
        goto done;
    }
    size_t n = json_array_size(l->entries);
    json_t **sorted = malloc((n + 1) * sizeof *sorted);
    json_t *out = json_array();
    if (sorted && out) {
        for (size_t i = 0; i < n; i++)
            sorted[i] = json_array_get(l->entries, i);
        newest_by = l->newest_by;
        qsort(sorted, n, sizeof *sorted, newest_first);
        for (size_t i = 0; i < n && i < l->limit; i++)
            json_array_append(out, sorted[i]);
    }
    free(sorted);
    json_t *reply = bk_reply_new(c->reply_type, c->req);
    json_object_set_new(reply, c->reply_key, out);
    chat_send_json(c->session, reply);
done:
    json_decref(l->entries);
    chat_call_free(c);
    free(l);
}

static void on_slot_listed(redisReply *reply, void *data)
{
    slots_list *l = data;
    const char *text;
    size_t len;
    json_t *body = NULL;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_TEXT, &text, &len) == 0)
        body = json_loadb(text, len, 0, NULL);
    if (!json_is_array(body))
        l->failed = 1;
    else
        json_array_extend(l->entries, body);
    json_decref(body);
    if (--l->waiting == 0)
        slots_list_done(l);
}

/* argv[0] is set to each slot's prefix in turn. */
static void slots_request(chat_session *s, const bk_request *request, int script, const char *reply_type,
                          const char *reply_key, const char *newest, size_t limit, int argc, const char **argv)
{
    bk_chat *chat = s->chat;
    chat_call *c = chat_call_new(s, request);
    slots_list *l = calloc(1, sizeof *l);
    if (!c || !l || !(l->entries = json_array())) {
        free(l);
        if (c)
            chat_call_free(c);
        return;
    }
    c->reply_type = reply_type;
    c->reply_key = reply_key;
    l->call = c;
    l->newest_by = newest;
    l->limit = limit;
    l->waiting = chat->tag_count + 1;  /* one more, dropped below: none is done before the last is asked */
    char prefix[BK_KEYS_PREFIX_SIZE];
    argv[0] = prefix;
    for (size_t i = 0; i < chat->tag_count; i++) {
        bk_keys_site_prefix(chat->server->config->prefix, chat->tags[i], prefix);
        if (bk_store_script(chat->server->store, chat->scripts[script], on_slot_listed, l, 0, argc, argv, NULL) != 0) {
            l->failed = 1;
            l->waiting--;
        }
    }
    if (--l->waiting == 0)
        slots_list_done(l);
}

void chat_visitors_list(chat_session *s, const bk_request *request)
{
    char now[24], window[16];
    snprintf(now, sizeof now, "%lld", (long long)bk_now_ms());
    snprintf(window, sizeof window, "%d", VISITORS_WINDOW_MS);
    const char *argv[] = { NULL, now, window };
    slots_request(s, request, SCRIPT_VISITORS, "visitors", "visitors", "page_since", 200, 3, argv);
}

void chat_left_messages_list(chat_session *s, const bk_request *request)
{
    const char *argv[] = { NULL };
    slots_request(s, request, SCRIPT_LEFT_MESSAGES, "left_messages", "messages", "ts", 100, 1, argv);
}
