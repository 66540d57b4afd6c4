/* conversation.c - the requests on one conversation: messages and notes, typing and read,
 * close, accept, rate and transfer, and its history. */
#include "chat/chat_internal.h"

#include "base/ids.h"
#include "base/metrics.h"
#include "files/file_link.h"
#include "store/redis_reply.h"
#include "store/redis_shapes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREVIEW_BYTES       140

/* ---- messages ------------------------------------------------------------------------ */

/* A message's answer from its batch (message_batch.c). */
static void on_message_stored(chat_call *c, const redisReply *result)
{
    chat_session *s = c->session;
    const char *conversation, *id;
    long long duplicate, opened;
    if (bk_redis_reply_unpack(result, BK_SHAPE_MESSAGE, &conversation, &id, &duplicate, &opened) != 0) {
        chat_send_store_error(s, c->req, result);
        return;
    }
    if (duplicate != 1)
        bk_metrics_now.messages_stored++;
    if (s->tracker)
        bk_tracker_conversation_opened(s->tracker, conversation);
    json_t *ack = bk_reply_new("ack", c->req);
    json_object_set_new(ack, "conversation", json_string(conversation));
    json_object_set_new(ack, "id", json_string(id));
    json_object_set_new(ack, "cmid", json_string(c->cmid));
    json_object_set_new(ack, "ts", json_integer(strtoll(id, NULL, 10)));
    json_object_set_new(ack, "duplicate", json_boolean(duplicate == 1));
    chat_send_json(s, ack);
}

/* The preview shown in agents' queues: the start of the text, cut on a character boundary. */
static size_t preview_length(const char *text, size_t len)
{
    if (len <= PREVIEW_BYTES)
        return len;
    size_t n = PREVIEW_BYTES;
    while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80)
        n--;
    return n;
}

/* A visitor's message, an agent's or a note: into this iteration's batch, which stores it
 * (lua/messages.lua) and answers it. A visitor's names a fresh conversation id, used should it
 * open one; an agent's and a note name theirs. */
void chat_message_send(chat_session *s, const bk_request *request)
{
    chat_call *c = chat_call_new(s, request);
    if (!c)
        return;
    snprintf(c->cmid, sizeof c->cmid, "%s", request->cmid);
    const char *kind;
    size_t preview = 0;
    if (s->role == BK_ROLE_VISITOR) {
        /* a conversation carries its visitor's tag: any node finds its slot from the id */
        if (bk_keys_id_generate("c_", s->tag, c->conversation, sizeof c->conversation) != 0) {
            chat_send_error(s, c->req, BK_ERR_INTERNAL, "no randomness for a conversation id");
            chat_call_free(c);
            return;
        }
        kind = "visitor";
        preview = preview_length(request->text, request->text_len);
    } else {
        snprintf(c->conversation, sizeof c->conversation, "%s", request->conversation);
        kind = request->type == BK_REQ_NOTE ? "note" : "agent";
    }
    chat_batch_add(s->chat->batch, c, kind, request->text, request->text_len, preview, on_message_stored);
}

/* ---- everything answered with "ok" --------------------------------------------------- */

void chat_signal_send(chat_session *s, const bk_request *request)
{
    chat_call *c = chat_call_new(s, request);
    if (!c)
        return;
    const char *kind = request->type == BK_REQ_READ ? "read" : "typing";
    const char *value = request->type == BK_REQ_READ ? request->up_to : request->on ? "1" : "0";
    char slot[BK_KEYS_PREFIX_SIZE];
    const char *argv[] = { chat_slot_prefix(s, request->conversation, slot),
                           request->conversation ? request->conversation : "",
                           chat_role_name(s->role), s->id, kind, value };
    chat_call_script(c, SCRIPT_SIGNAL, chat_on_ok, 6, argv, NULL);
}

void chat_conversation_close(chat_session *s, const bk_request *request)
{
    chat_call *c = chat_call_new(s, request);
    if (!c)
        return;
    char now[24], day[9];
    int64_t now_ms = bk_now_ms();
    snprintf(now, sizeof now, "%lld", (long long)now_ms);
    bk_day_string(now_ms, day);
    char retention[12];
    snprintf(retention, sizeof retention, "%d", s->chat->server->config->conversation_retention_days);
    char slot[BK_KEYS_PREFIX_SIZE];
    const char *argv[] = { chat_slot_prefix(s, request->conversation, slot),
                           request->conversation ? request->conversation : "",
                           chat_role_name(s->role), s->id, now, day, retention };
    chat_call_script(c, SCRIPT_CLOSE, chat_on_ok, 7, argv, NULL);
}

void chat_conversation_accept(chat_session *s, const bk_request *request)
{
    chat_call *c = chat_call_new(s, request);
    if (!c)
        return;
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)bk_now_ms());
    char slot[BK_KEYS_PREFIX_SIZE];
    const char *argv[] = { chat_slot_prefix(s, request->conversation, slot), request->conversation, s->id, now };
    chat_call_script(c, SCRIPT_ACCEPT, chat_on_ok, 4, argv, NULL);
}

void chat_conversation_rate(chat_session *s, const bk_request *request)
{
    chat_call *c = chat_call_new(s, request);
    if (!c)
        return;
    char now[24], score[4], day[9];
    int64_t now_ms = bk_now_ms();
    snprintf(now, sizeof now, "%lld", (long long)now_ms);
    bk_day_string(now_ms, day);
    snprintf(score, sizeof score, "%d", request->score);
    char slot[BK_KEYS_PREFIX_SIZE];
    const char *argv[] = { chat_slot_prefix(s, request->conversation, slot),
                           s->id, request->conversation ? request->conversation : "", score,
                           request->comment ? request->comment : "", now, day };
    chat_call_script(c, SCRIPT_RATE, chat_on_ok, 7, argv, NULL);
}

/* A transfer in two steps: whether the agent it goes to exists is the global slot's to say
 * (agent:NAME), the conversation and both agents' lists of it are in the conversation's slot. */
static void on_transfer_target(redisReply *reply, void *data)
{
    chat_call *c = data;
    chat_session *s = c->session;
    long long exists;
    if (chat_call_orphaned(c)) {
        chat_call_free(c);
        return;
    }
    if (bk_redis_reply_unpack(reply, BK_SHAPE_INTEGER, &exists) != 0) {
        chat_send_store_error(s, c->req, reply);
        chat_call_free(c);
        return;
    }
    char slot[BK_KEYS_PREFIX_SIZE];
    const char *argv[] = { chat_slot_prefix(s, c->conversation, slot), c->conversation, s->id, c->to,
                           exists ? "1" : "0" };
    chat_call_script(c, SCRIPT_TRANSFER, chat_on_ok, 5, argv, NULL);
}

void chat_conversation_transfer(chat_session *s, const bk_request *request)
{
    chat_call *c = chat_call_new(s, request);
    if (!c)
        return;
    snprintf(c->conversation, sizeof c->conversation, "%s", request->conversation);
    snprintf(c->to, sizeof c->to, "%s", request->to);
    char key[BK_KEYS_PREFIX_SIZE + BK_ID_MAX + 8];
    snprintf(key, sizeof key, "%sagent:%s", s->chat->global_prefix, request->to);
    const char *argv[] = { "EXISTS", key };
    if (bk_store_command(s->chat->server->store, on_transfer_target, c, 2, argv, NULL) != 0) {
        chat_send_store_error(s, c->req, NULL);
        chat_call_free(c);
    }
}

/* ---- history ------------------------------------------------------------------------- */

static void on_history(redisReply *reply, void *data)
{
    chat_call *c = data;
    chat_session *s = c->session;
    const char *state, *messages_json, *next, *visitor_read, *agent_read;
    long long gap, complete, accepted;
    if (chat_call_orphaned(c))
        goto done;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_HISTORY, &state, &gap, &complete, &messages_json, &next,
                              &visitor_read, &agent_read, &accepted) != 0) {
        chat_send_store_error(s, c->req, reply);
        goto done;
    }
    json_t *messages = json_loads(messages_json, 0, NULL);
    if (!json_is_array(messages)) {
        json_decref(messages);
        chat_send_error(s, c->req, BK_ERR_INTERNAL, "could not read the history");
        goto done;
    }
    /* files' links are signed anew for each page: a client whose links expired resumes */
    bk_file_links_add_all(messages, s->chat->server->secret,
                          bk_now_ms() / 1000 + 3600LL * s->chat->server->config->file_link_hours);
    json_t *history = bk_reply_new("history", c->req);
    json_object_set_new(history, "conversation", json_string(c->conversation));
    json_object_set_new(history, "state", json_string(state));
    json_object_set_new(history, "accepted", json_boolean(accepted == 1));
    json_object_set_new(history, "since", json_string(c->since));
    json_object_set_new(history, "messages", messages);
    json_object_set_new(history, "complete", json_boolean(complete == 1));
    json_object_set_new(history, "gap", json_boolean(gap == 1));
    json_object_set_new(history, "next", json_string(next));
    json_object_set_new(history, "read", json_pack("{s:o, s:o}",
                        "visitor", visitor_read[0] ? json_string(visitor_read) : json_null(),
                        "agent", agent_read[0] ? json_string(agent_read) : json_null()));
    chat_send_json(s, history);
done:
    chat_call_free(c);
}

void chat_history_send(chat_session *s, const bk_request *request)
{
    chat_call *c = chat_call_new(s, request);
    if (!c)
        return;
    snprintf(c->since, sizeof c->since, "%s", request->since);
    snprintf(c->conversation, sizeof c->conversation, "%s", request->conversation);
    char limit[8], max_bytes[12];
    snprintf(limit, sizeof limit, "%d", BK_HISTORY_PAGE);
    snprintf(max_bytes, sizeof max_bytes, "%d", BK_HISTORY_PAGE_BYTES);
    char slot[BK_KEYS_PREFIX_SIZE];
    const char *argv[] = { chat_slot_prefix(s, request->conversation, slot), request->conversation, request->since,
                           limit, chat_role_name(s->role), s->id, max_bytes };
    chat_call_script(c, SCRIPT_HISTORY, on_history, 7, argv, NULL);
}
