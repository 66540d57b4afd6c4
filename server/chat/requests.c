/* requests.c - a parsed request to the handler of its type. */
#include "chat/chat_internal.h"

#include "base/ids.h"

#include <stdio.h>

#define VISITORS_WINDOW_MS  (5 * 60 * 1000)  /* "on the site now": an event in the last 5 min */

void chat_request_dispatch(chat_session *s, const bk_request *request)
{
    if (request->type == BK_REQ_HELLO) {
        if (s->hello != HELLO_NONE) {
            chat_send_error(s, request->req, BK_ERR_WRONG_STATE, "hello was already said on this connection");
            return;
        }
        if (s->role == BK_ROLE_VISITOR)
            chat_visitor_hello(s, request);
        else
            chat_agent_hello(s, request);
        return;
    }
    if (s->hello != HELLO_DONE) {
        chat_send_error(s, request->req, BK_ERR_HELLO_REQUIRED, "send hello first");
        return;
    }
    switch (request->type) {
    case BK_REQ_MESSAGE: chat_message_send(s, request); break;
    case BK_REQ_TYPING:
    case BK_REQ_READ:    chat_signal_send(s, request); break;
    case BK_REQ_RESUME:  chat_history_send(s, request); break;
    case BK_REQ_CLOSE:   chat_conversation_close(s, request); break;
    case BK_REQ_RATE:    chat_conversation_rate(s, request); break;
    case BK_REQ_ACCEPT:  chat_conversation_accept(s, request); break;
    case BK_REQ_PAGE_VIEW:
    case BK_REQ_EVENT:  /* consent is checked where every event is stored (BK_LUA_TRACK) */
    case BK_REQ_INVITE_SHOWN:
    case BK_REQ_INVITE_ACCEPTED:
    case BK_REQ_INVITE_DISMISSED:
        bk_triggers_request(s->chat->server->triggers, s->tracker, request);
        break;
    case BK_REQ_IDENTIFY:       chat_visitor_identify(s, request); break;
    case BK_REQ_CONSENT:        chat_visitor_consent(s, request); break;
    case BK_REQ_LEAVE_MESSAGE:  chat_message_leave(s, request); break;
    case BK_REQ_NOTE:           chat_note_add(s, request); break;
    case BK_REQ_TRANSFER:       chat_conversation_transfer(s, request); break;
    case BK_REQ_STATUS:         chat_agent_status(s, request); break;
    case BK_REQ_INVITE:         chat_visitor_invite(s, request); break;
    case BK_REQ_VISITOR: {
        const char *argv[] = { s->chat->server->config->prefix, request->visitor };
        chat_json_request(s, request, SCRIPT_VISITOR_DETAILS, "visitor", NULL, 2, argv);
        break;
    }
    case BK_REQ_VISITORS: {
        char now[24], window[16];
        snprintf(now, sizeof now, "%lld", (long long)bk_now_ms());
        snprintf(window, sizeof window, "%d", VISITORS_WINDOW_MS);
        const char *argv[] = { s->chat->server->config->prefix, now, window };
        chat_json_request(s, request, SCRIPT_VISITORS, "visitors", "visitors", 3, argv);
        break;
    }
    case BK_REQ_LEFT_MESSAGES: {
        const char *argv[] = { s->chat->server->config->prefix };
        chat_json_request(s, request, SCRIPT_LEFT_MESSAGES, "left_messages", "messages", 1, argv);
        break;
    }
    case BK_REQ_TRANSCRIPT:
        bk_transcript_request(s->chat->transcripts, s->conn, s->id, request);
        break;
    case BK_REQ_HELLO:   break;
    }
}
