/* requests.c - a parsed request to the handler of its type: one table, one row per type.
 *
 * protocol/proto.c's table says which types each role may send and with which fields; this one
 * says which handler answers them and when. A handler is given for exactly the roles proto
 * admits (tests/unit/test_chat_requests.c holds the two tables to that). */
#include "chat/chat_internal.h"

#include <stdio.h>

/* page_view, event and the invitations' fates go to the visitor's tracker (triggers/); consent
 * is checked where every event is stored (lua/track.lua). */
static void browsing_track(chat_session *s, const bk_request *request)
{
    bk_triggers_request(s->chat->server->triggers, s->tracker, request);
}

static void transcript_send(chat_session *s, const bk_request *request)
{
    bk_transcript_request(s->chat->transcripts, s->conn, s->id, request);
}

static void email_reply_send(chat_session *s, const bk_request *request)
{
    char sender[SENDER_MAX];
    chat_sender_name(s, sender);
    bk_email_reply_request(s->chat->email_replies, s->conn, s->id, sender, request);
}

typedef struct request_row {
    chat_hello hello;         /* where the session's hello must be: NONE for hello, DONE for the rest */
    chat_handler *visitor;    /* the handler on a visitor's socket; NULL: not a visitor's request */
    chat_handler *agent;      /* on an agent's */
} request_row;

static const request_row requests[] = {
    [BK_REQ_HELLO]             = { HELLO_NONE, chat_visitor_hello, chat_agent_hello },
    /* a conversation's, conversation.c */
    [BK_REQ_MESSAGE]           = { HELLO_DONE, chat_message_send, chat_message_send },
    [BK_REQ_TYPING]            = { HELLO_DONE, chat_signal_send, chat_signal_send },
    [BK_REQ_READ]              = { HELLO_DONE, chat_signal_send, chat_signal_send },
    [BK_REQ_RESUME]            = { HELLO_DONE, chat_history_send, chat_history_send },
    [BK_REQ_CLOSE]             = { HELLO_DONE, chat_conversation_close, chat_conversation_close },
    [BK_REQ_RATE]              = { HELLO_DONE, chat_conversation_rate, NULL },
    [BK_REQ_ACCEPT]            = { HELLO_DONE, NULL, chat_conversation_accept },
    [BK_REQ_NOTE]              = { HELLO_DONE, NULL, chat_message_send },
    [BK_REQ_TRANSFER]          = { HELLO_DONE, NULL, chat_conversation_transfer },
    /* browsing, for the triggers */
    [BK_REQ_PAGE_VIEW]         = { HELLO_DONE, browsing_track, NULL },
    [BK_REQ_EVENT]             = { HELLO_DONE, browsing_track, NULL },
    [BK_REQ_INVITE_SHOWN]      = { HELLO_DONE, browsing_track, NULL },
    [BK_REQ_INVITE_ACCEPTED]   = { HELLO_DONE, browsing_track, NULL },
    [BK_REQ_INVITE_DISMISSED]  = { HELLO_DONE, browsing_track, NULL },
    /* beside the conversation, tools.c and transcript.c */
    [BK_REQ_IDENTIFY]          = { HELLO_DONE, chat_visitor_identify, NULL },
    [BK_REQ_CONSENT]           = { HELLO_DONE, chat_visitor_consent, NULL },
    [BK_REQ_LEAVE_MESSAGE]     = { HELLO_DONE, chat_message_leave, NULL },
    [BK_REQ_TRANSCRIPT]        = { HELLO_DONE, transcript_send, NULL },
    [BK_REQ_STATUS]            = { HELLO_DONE, NULL, chat_agent_status },
    [BK_REQ_INVITE]            = { HELLO_DONE, NULL, chat_visitor_invite },
    [BK_REQ_VISITOR]           = { HELLO_DONE, NULL, chat_visitor_details },
    [BK_REQ_VISITORS]          = { HELLO_DONE, NULL, chat_visitors_list },
    [BK_REQ_LEFT_MESSAGES]     = { HELLO_DONE, NULL, chat_left_messages_list },
    [BK_REQ_EMAIL_REPLY]       = { HELLO_DONE, NULL, email_reply_send },  /* email_reply.c */
    /* quick-reply flows, flow.c */
    [BK_REQ_FLOW_START]        = { HELLO_DONE, chat_flow_request, NULL },
    [BK_REQ_FLOW_CHOOSE]       = { HELLO_DONE, chat_flow_request, NULL },
    [BK_REQ_FLOW_EMAIL]        = { HELLO_DONE, chat_flow_request, NULL },
    /* teams' offers: accepting one is an accept (conversation.c, lua/accept.lua) */
    [BK_REQ_OFFER_ACCEPT]      = { HELLO_DONE, NULL, chat_conversation_accept },
    [BK_REQ_OFFER_DECLINE]     = { HELLO_DONE, NULL, chat_offer_decline },
    /* self-service, self_service.c */
    [BK_REQ_HELP_SEARCH]       = { HELLO_DONE, chat_help_search, NULL },
    [BK_REQ_HELP_ARTICLE]      = { HELLO_DONE, chat_help_article, NULL },
    [BK_REQ_HELP_FEEDBACK]     = { HELLO_DONE, chat_help_feedback, NULL },
};

/* BK_REQ_HELP_FEEDBACK is the last type: a type added after it needs its row here. */
_Static_assert(sizeof requests / sizeof requests[0] == BK_REQ_HELP_FEEDBACK + 1, "a row for every request type");

chat_handler *chat_request_handler(bk_role role, bk_request_type type)
{
    if ((size_t)type >= sizeof requests / sizeof requests[0])
        return NULL;
    return role == BK_ROLE_AGENT ? requests[type].agent : requests[type].visitor;
}

void chat_request_dispatch(chat_session *s, const bk_request *request)
{
    chat_handler *handler = chat_request_handler(s->role, request->type);
    if (!handler) {  /* proto admits no such request: the unit test keeps it so */
        char message[128];
        snprintf(message, sizeof message, "unknown type '%s' for %s connections", request->type_name,
                 chat_role_name(s->role));
        chat_send_error(s, request->req, BK_ERR_UNKNOWN_TYPE, message);
        return;
    }
    const request_row *row = &requests[request->type];
    if (s->hello != row->hello) {
        if (row->hello == HELLO_NONE)
            chat_send_error(s, request->req, BK_ERR_WRONG_STATE, "hello was already said on this connection");
        else
            chat_send_error(s, request->req, BK_ERR_HELLO_REQUIRED, "send hello first");
        return;
    }
    /* Nothing a socket asks overtakes the messages it sent before (message_batch.c), nor the
     * page views and events (triggers' track_batch.c). */
    if (s->batched && request->type != BK_REQ_MESSAGE && request->type != BK_REQ_NOTE)
        chat_batch_flush(s->chat->batch);
    if (request->type != BK_REQ_PAGE_VIEW && request->type != BK_REQ_EVENT)
        bk_tracker_flush(s->tracker);
    handler(s, request);
}
