/* proto.h - client frames -> typed, validated requests.
 *
 * Parsing never trusts the client: JSON depth is capped before jansson sees the text,
 * duplicate keys are refused, every field is checked for type and range, and every error
 * names the field ("message.text: required") so a client developer can fix the sender. */
#ifndef BK_PROTO_H
#define BK_PROTO_H

#include "transport/net.h"

#include <jansson.h>

typedef enum {
    BK_REQ_HELLO,
    BK_REQ_MESSAGE,
    BK_REQ_TYPING,
    BK_REQ_READ,
    BK_REQ_RESUME,
    BK_REQ_CLOSE,
    BK_REQ_RATE,
    BK_REQ_ACCEPT,
    BK_REQ_PAGE_VIEW,
    BK_REQ_EVENT,
    BK_REQ_INVITE_SHOWN,
    BK_REQ_INVITE_ACCEPTED,
    BK_REQ_INVITE_DISMISSED,
    BK_REQ_IDENTIFY,
    BK_REQ_LEAVE_MESSAGE,
    BK_REQ_NOTE,
    BK_REQ_TRANSFER,
    BK_REQ_STATUS,
    BK_REQ_VISITOR,
    BK_REQ_VISITORS,
    BK_REQ_INVITE,
    BK_REQ_LEFT_MESSAGES,
    BK_REQ_CONSENT,
    BK_REQ_TRANSCRIPT,
    BK_REQ_EMAIL_REPLY,
    BK_REQ_FLOW_START,    /* quick-reply flows (docs/flows.md) */
    BK_REQ_FLOW_CHOOSE,
    BK_REQ_FLOW_EMAIL,
    BK_REQ_OFFER_ACCEPT,  /* teams' offers (docs/teams.md) */
    BK_REQ_OFFER_DECLINE,
    BK_REQ_HELP_SEARCH,
    BK_REQ_HELP_ARTICLE,
    BK_REQ_HELP_FEEDBACK,
} bk_request_type;

/* Strings point into root and live until bk_request_release. */
typedef struct bk_request {
    bk_request_type type;
    const char *type_name;
    json_t *root;
    json_t *req;               /* echoed in the reply; NULL when absent */
    const char *site, *token, *lang;
    const char *conversation;
    const char *cmid;
    const char *text;
    size_t text_len;
    const char *up_to;
    const char *since;
    const char *comment;
    int on;
    int score;
    /* browsing: page_view, and hello's "page" object */
    const char *url, *title, *referrer;
    const char *device;
    json_t *page;
    /* custom events */
    const char *event_name;
    json_t *props;             /* an object of at most 32 scalar members, or NULL */
    const char *invitation;
    /* identify, leave_message */
    const char *name, *email;
    json_t *attrs;
    const char *user_id, *user_hash;  /* identify: the site's user id, HMAC-SHA256 signed */
    int granted;                       /* consent */
    /* agents: transfer, status, visitor details, manual invite */
    const char *to;
    const char *status;
    const char *visitor;
    const char *left;          /* email_reply: a left message's id (with visitor) */
    const char *team;          /* a visitor's hello: the team the chat should go to (routing) */
    const char *message_id, *button;   /* flow_choose, flow_email: the flow message and its button */
    /* self-service: help_search, help_article, help_feedback */
    const char *query, *category, *article;
    size_t query_len;
    int suggest, typing, suggested, helped;
} bk_request;

typedef struct bk_error {
    const char *code;          /* a BK_ERR_* constant */
    char message[256];
} bk_error;

/* Returns 0, or -1 with err filled. Either way, call bk_request_release: a request that
 * failed validation still carries its "req" for the error reply. */
int bk_request_parse(bk_role role, const char *text, size_t len, bk_request *out, bk_error *err);
void bk_request_release(bk_request *request);

void bk_error_set(bk_error *err, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Replies, shaped the same wherever they are sent from: {"type": type, "req": req}, with no
 * "req" when req is NULL (pushes). A new reference. */
json_t *bk_reply_new(const char *type, json_t *req);

/* {"type": "error", "req", "code", "message"}, not counted: proto stays free of the server's
 * state, for the fuzzer. Senders use bk_error_frame (errors.h), which counts it. */
json_t *bk_reply_error(json_t *req, const char *code, const char *message);

#endif
