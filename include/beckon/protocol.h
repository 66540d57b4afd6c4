/* protocol.h - Beckon wire protocol v1: names shared by the server and its clients.
 *
 * docs/protocol.md is the full contract; this header only names its constants. */
#ifndef BECKON_PROTOCOL_H
#define BECKON_PROTOCOL_H

#define BK_SUBPROTOCOL_VISITOR "beckon-visitor.v1"
#define BK_SUBPROTOCOL_AGENT   "beckon-agent.v1"
#define BK_WEBSOCKET_PATH      "/ws"

/* Error codes carried by {"type":"error","code":...}. */
#define BK_ERR_BAD_JSON       "bad_json"
#define BK_ERR_BAD_REQUEST    "bad_request"
#define BK_ERR_UNKNOWN_TYPE   "unknown_type"
#define BK_ERR_TOO_LARGE      "too_large"
#define BK_ERR_HELLO_REQUIRED "hello_required"
#define BK_ERR_INVALID_TOKEN  "invalid_token"
#define BK_ERR_UNAUTHORIZED   "unauthorized"
#define BK_ERR_NOT_FOUND      "not_found"
#define BK_ERR_FORBIDDEN      "forbidden"
#define BK_ERR_ALREADY_TAKEN  "already_taken"
#define BK_ERR_WRONG_STATE    "wrong_state"
#define BK_ERR_UNAVAILABLE    "unavailable"
#define BK_ERR_INTERNAL       "internal"
#define BK_ERR_RATE_LIMITED   "rate_limited"
#define BK_ERR_CONSENT_REQUIRED "consent_required"
#define BK_ERR_UNSUPPORTED_TYPE "unsupported_type"  /* a file's content is not allowed (415) */
#define BK_ERR_INFECTED       "infected"             /* the virus scanner found something (422) */

/* WebSocket close codes the server uses. An agent's client signs out on BK_CLOSE_UNAUTHORIZED
 * only; on any other close it reconnects with backoff (docs/protocol.md, "Close codes"). */
#define BK_CLOSE_GOING_AWAY     1001
#define BK_CLOSE_INVALID_UTF8   1007
#define BK_CLOSE_POLICY         1008  /* origin not allowed, no hello in time, not reading */
#define BK_CLOSE_TRY_AGAIN      1013  /* storage trouble at an agent's hello: reconnect later */
#define BK_CLOSE_UNAUTHORIZED   4001  /* the agent's session is unknown, expired or ended */

/* Limits that are part of the contract. */
#define BK_REQ_MAX        64    /* bytes of a string "req" */
#define BK_CMID_MAX       64
#define BK_ID_MAX         64    /* visitor, conversation and agent ids */
#define BK_COMMENT_MAX    1000
#define BK_JSON_DEPTH_MAX 32
#define BK_HISTORY_PAGE   200
/* A history page also stops at about this many bytes of messages (one message always fits):
 * a reply must fit a socket's send queue (1 MiB), which a client that reads is never dropped for. */
#define BK_HISTORY_PAGE_BYTES (256 * 1024)
/* The largest max-message-bytes: a message that large, JSON-escaped (up to 6 bytes a byte),
 * is still one frame within a socket's send queue. */
#define BK_MESSAGE_BYTES_MAX  (128 * 1024)
#define BK_URL_MAX        2048  /* page urls and referrers */
#define BK_TITLE_MAX      512
#define BK_PROPS_MAX      32    /* members of an event's props */
#define BK_PROP_VALUE_MAX 256
#define BK_NAME_MAX       100   /* a visitor's name */
#define BK_EMAIL_MAX      254
#define BK_INVITE_TEXT_MAX 500
#define BK_USER_ID_MAX    128   /* a site's own user id, in identify */
#define BK_HELP_QUERY_BYTES 500 /* a help_search's query */

#endif
