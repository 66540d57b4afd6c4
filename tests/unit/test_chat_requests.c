/* test_chat_requests.c - chat's table of handlers against proto's table of request shapes.
 *
 * proto decides which types each role may send; chat/requests.c names a handler per type and
 * role. For every type and role, the two agree: a handler exactly where proto admits the
 * request (a type it admits parses, or fails on its fields, but never as an unknown type). */
#include "check.h"

#include "chat/chat_internal.h"
#include "protocol/proto.h"

#include <beckon/protocol.h>
#include <stdio.h>

static const struct {
    const char *name;
    bk_request_type type;
} types[] = {
    { "hello", BK_REQ_HELLO },
    { "message", BK_REQ_MESSAGE },
    { "typing", BK_REQ_TYPING },
    { "read", BK_REQ_READ },
    { "resume", BK_REQ_RESUME },
    { "close", BK_REQ_CLOSE },
    { "rate", BK_REQ_RATE },
    { "accept", BK_REQ_ACCEPT },
    { "page_view", BK_REQ_PAGE_VIEW },
    { "event", BK_REQ_EVENT },
    { "invite_shown", BK_REQ_INVITE_SHOWN },
    { "invite_accepted", BK_REQ_INVITE_ACCEPTED },
    { "invite_dismissed", BK_REQ_INVITE_DISMISSED },
    { "identify", BK_REQ_IDENTIFY },
    { "leave_message", BK_REQ_LEAVE_MESSAGE },
    { "note", BK_REQ_NOTE },
    { "transfer", BK_REQ_TRANSFER },
    { "status", BK_REQ_STATUS },
    { "visitor", BK_REQ_VISITOR },
    { "visitors", BK_REQ_VISITORS },
    { "invite", BK_REQ_INVITE },
    { "left_messages", BK_REQ_LEFT_MESSAGES },
    { "consent", BK_REQ_CONSENT },
    { "transcript", BK_REQ_TRANSCRIPT },
};
#define TYPES (sizeof types / sizeof types[0])

int main(void)
{
    /* Every type is in the list above, so that none escapes the checks below. */
    for (int type = BK_REQ_HELLO; type <= BK_REQ_TRANSCRIPT; type++) {
        int listed = 0;
        for (size_t i = 0; i < TYPES; i++)
            listed |= types[i].type == (bk_request_type)type;
        CHECK(listed, "request type %d is listed", type);
    }
    static const bk_role roles[] = { BK_ROLE_VISITOR, BK_ROLE_AGENT };
    for (size_t r = 0; r < 2; r++) {
        const char *role_name = roles[r] == BK_ROLE_AGENT ? "agent" : "visitor";
        for (size_t i = 0; i < TYPES; i++) {
            char frame[64];
            snprintf(frame, sizeof frame, "{\"type\":\"%s\"}", types[i].name);
            bk_request request;
            bk_error err = { 0 };
            int parsed = bk_request_parse(roles[r], frame, strlen(frame), &request, &err) == 0;
            int admitted = parsed || strcmp(err.code, BK_ERR_UNKNOWN_TYPE) != 0;
            bk_request_type type = request.type;
            bk_request_release(&request);
            int handled = chat_request_handler(roles[r], types[i].type) != NULL;
            CHECK(!admitted || type == types[i].type, "%s on %s sockets: proto's type is %d", types[i].name,
                  role_name, (int)types[i].type);
            CHECK(handled == admitted, "%s on %s sockets: %s", types[i].name, role_name,
                  admitted ? "proto admits it, chat has a handler" : "proto refuses it, chat has no handler");
        }
    }
    return check_done();
}
