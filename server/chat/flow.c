/* flow.c - a visitor's quick-reply flow (docs/flows.md): flow_start, flow_choose, flow_email.
 *
 * Two steps each: the site's flow is read from the global slot (flows, a hash saved by
 * http/flows_api.c after flows/flow.c checked it), then lua/flow.lua runs it in the
 * visitor's slot with that text as an argument, since a script reaches the keys of one slot
 * only. Whether the site is open now comes from the node's compiled hours (sites/site_hours). */
#include "chat/chat_internal.h"

#include "base/ids.h"
#include "sites/site_hours.h"
#include "store/redis_reply.h"
#include "store/redis_shapes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The request's own arguments, kept in c->args between the two steps. */
enum { ARG_ACTION, ARG_MESSAGE, ARG_VALUE, ARG_COUNT };

static void on_flow_ran(redisReply *reply, void *data)
{
    chat_call *c = data;
    const char *conversation;
    long long duplicate;
    if (!chat_call_orphaned(c)) {
        if (bk_redis_reply_unpack(reply, BK_SHAPE_FLOW, &conversation, &duplicate) != 0) {
            chat_send_store_error(c->session, c->req, reply);
        } else {
            json_t *ok = bk_reply_new("ok", c->req);
            json_object_set_new(ok, "conversation", json_string(conversation));
            json_object_set_new(ok, "duplicate", json_boolean(duplicate == 1));
            chat_send_json(c->session, ok);
        }
    }
    chat_call_free(c);
}

static void on_flow_read(redisReply *reply, void *data)
{
    chat_call *c = data;
    chat_session *s = c->session;
    const char *flow;
    if (chat_call_orphaned(c)) {
        chat_call_free(c);
        return;
    }
    if (bk_redis_reply_unpack(reply, BK_SHAPE_FLOW_READ, &flow) != 0) {
        chat_send_store_error(s, c->req, reply);
        chat_call_free(c);
        return;
    }
    int64_t now_ms = bk_now_ms();
    char now[24], online[24], closed[1024], site[BK_ID_MAX + 3], fresh[BK_ID_MAX + 1] = "";
    snprintf(now, sizeof now, "%lld", (long long)now_ms);
    bk_site_hours_closed(s->chat->hours, now_ms, closed, sizeof closed);
    snprintf(site, sizeof site, ",%s,", s->site);
    int open = !s->site[0] || !strstr(closed, site);
    const char *action = c->args[ARG_ACTION];
    if (strcmp(action, "start") == 0 && bk_keys_id_generate("c_", s->tag, fresh, sizeof fresh) != 0) {
        chat_send_error(s, c->req, BK_ERR_INTERNAL, "no randomness for a conversation id");
        chat_call_free(c);
        return;
    }
    const char *argv[] = { s->prefix, action, s->id, now, "", open ? "1" : "0", chat_agents_online(s->chat, online),
                           flow ? flow : "", s->site, fresh[0] ? fresh : c->args[ARG_MESSAGE], c->args[ARG_VALUE] };
    chat_call_script(c, SCRIPT_FLOW, on_flow_ran, 11, argv, NULL);
}

void chat_flow_request(chat_session *s, const bk_request *request)
{
    chat_call *c = chat_call_new(s, request);
    if (!c)
        return;
    const char *action = request->type == BK_REQ_FLOW_START ? "start" : request->type == BK_REQ_FLOW_CHOOSE ? "choose" : "email";
    const char *kept[ARG_COUNT] = { action, request->message_id ? request->message_id : "",
                                    request->type == BK_REQ_FLOW_CHOOSE ? request->button
                                    : request->email ? request->email : "" };
    char key[BK_KEYS_PREFIX_SIZE + 8];
    snprintf(key, sizeof key, "%sflows", s->chat->global_prefix);
    const char *argv[] = { "HGET", key, s->site };
    if (chat_call_keep_args(c, ARG_COUNT, kept) != 0) {
        chat_send_error(s, c->req, BK_ERR_INTERNAL, "out of memory");
        chat_call_free(c);
        return;
    }
    if (bk_store_command(s->chat->server->store, on_flow_read, c, 3, argv, NULL) != 0) {
        chat_send_store_error(s, c->req, NULL);
        chat_call_free(c);
    }
}
