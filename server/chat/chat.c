/* chat.c - sessions, requests -> scripts -> replies, and the bus fan-out. */
#include "chat/chat.h"

#include "base/ids.h"
#include "base/log.h"
#include "base/map.h"
#include "base/metrics.h"
#include "protocol/proto.h"
#include "store/redis_reply.h"
#include "store/redis_shapes.h"
#include "lua/scripts.h"
#include "http/sites.h"
#include "chat/transcript.h"
#include "triggers/triggers.h"
#include "workers/webhooks.h"

#include <beckon/protocol.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PRESENCE_TTL_MS     15000             /* an agent not refreshed for this long is gone */
#define HEARTBEAT_MS        5000
/* A visitor no node has confirmed for this long has no socket open anywhere (two heartbeats
 * and some slack): the abandoned-chat limits count from then (scripts.h, BK_LUA_ABANDONED). */
#define VISITOR_SEEN_TTL_MS 12000
#define SEEN_BATCH          1000              /* visitors per script call: none holds Redis long */
#define PREVIEW_BYTES       140
#define VISITORS_WINDOW_MS  (5 * 60 * 1000)  /* "on the site now": an event in the last 5 min */
/* An agent's panel legitimately sends bursts (a resume and a visitor request per open chat
 * when it connects): agents get this many times the visitors' rate and burst. */
#define AGENT_RATE_FACTOR   5
#define PENDING_FRAMES_MAX  1000

enum {
    SCRIPT_VISITOR_HELLO,
    SCRIPT_VISITOR_MESSAGE,
    SCRIPT_AGENT_MESSAGE,
    SCRIPT_ACCEPT,
    SCRIPT_CLOSE,
    SCRIPT_RATE,
    SCRIPT_SIGNAL,
    SCRIPT_HISTORY,
    SCRIPT_AGENT_HELLO,
    SCRIPT_IDENTIFY,
    SCRIPT_LEAVE_MESSAGE,
    SCRIPT_LEFT_MESSAGES,
    SCRIPT_NOTE,
    SCRIPT_TRANSFER,
    SCRIPT_STATUS,
    SCRIPT_HEARTBEAT,
    SCRIPT_VISITOR_DETAILS,
    SCRIPT_VISITORS,
    SCRIPT_MANUAL_INVITE,
    SCRIPT_CONSENT,
    SCRIPT_QUEUE_SWEEP,
    SCRIPT_SITES_HOURS,
    SCRIPT_VISITORS_SEEN,
    SCRIPT_COUNT
};

static const char *const *const script_sources[SCRIPT_COUNT] = {
    BK_LUA(BK_LUA_VISITOR_HELLO), BK_LUA(BK_LUA_VISITOR_MESSAGE), BK_LUA(BK_LUA_AGENT_MESSAGE), BK_LUA(BK_LUA_ACCEPT),
    BK_LUA(BK_LUA_CLOSE), BK_LUA(BK_LUA_RATE), BK_LUA(BK_LUA_SIGNAL), BK_LUA(BK_LUA_HISTORY), BK_LUA(BK_LUA_AGENT_HELLO),
    BK_LUA(BK_LUA_IDENTIFY), BK_LUA(BK_LUA_LEAVE_MESSAGE), BK_LUA(BK_LUA_LEFT_MESSAGES), BK_LUA(BK_LUA_NOTE), BK_LUA(BK_LUA_TRANSFER),
    BK_LUA(BK_LUA_STATUS), BK_LUA(BK_LUA_HEARTBEAT), BK_LUA(BK_LUA_VISITOR_DETAILS), BK_LUA(BK_LUA_VISITORS), BK_LUA(BK_LUA_MANUAL_INVITE),
    BK_LUA(BK_LUA_CONSENT), BK_LUA(BK_LUA_QUEUE_SWEEP), BK_LUA(BK_LUA_SITES_HOURS),
    BK_LUA(BK_LUA_VISITORS_SEEN),
};

typedef enum { HELLO_NONE, HELLO_PENDING, HELLO_DONE } chat_hello;

typedef struct frame {
    struct frame *next;
    size_t len;
    char text[];
} frame;

typedef struct chat_session {
    bk_chat *chat;
    bk_conn *conn;
    int refs;
    bk_role role;
    chat_hello hello;
    char id[BK_ID_MAX + 1];                  /* visitor id or agent name, once known */
    struct chat_session *peer_prev, *peer_next;   /* the sessions of the same visitor or agent */
    struct chat_session *agent_prev, *agent_next; /* every agent session of this node */
    frame *held, *held_tail;                 /* broadcasts that came during an agent's hello */
    size_t held_count;
    bk_tracker *tracker;                     /* a visitor's trigger state, after hello */
    uint64_t opened_ms;                      /* loop time, for the hello deadline */
    struct chat_session *waiting_prev, *waiting_next; /* not said hello yet, oldest first */
    double tokens;                           /* the request rate's token bucket */
    uint64_t tokens_ms;
    uint64_t events_window_ms;               /* page views and events in this minute */
    int events_in_window;
    /* the visitor's site, as its hello found it */
    char identity_secret[65];
    int enforce_identity;
    int consent_required;
} chat_session;

struct bk_chat {
    bk_server *server;
    int scripts[SCRIPT_COUNT];
    bk_map *visitors;   /* visitor id -> first session */
    bk_map *agents;     /* agent name -> first session */
    bk_transcripts *transcripts;
    chat_session all_agents; /* sentinel: agent sessions, hello pending or done */
    uv_timer_t heartbeat;
    char bus_channel[64];
    int bus_up, bus_was_up;
    char node[BK_ID_MAX + 1];   /* this process, in presence entries ("alice@n_…") */
    chat_session waiting;    /* sentinel: sessions that have not said hello, oldest first */
    uv_timer_t hello_timer;
    uv_timer_t queue_timer;
    unsigned queue_ticks;  /* sweeps since the sites' hours were last read */
    uint64_t bus_heard_ms; /* loop time this node last heard its own !ping on the bus */
    bk_site_hours *hours;  /* the sites' opening hours, compiled */
};

/* One request waiting for Redis. */
typedef struct chat_call {
    chat_session *session;
    json_t *req;
    bk_request_type type;
    char cmid[BK_CMID_MAX + 1];
    char conversation[BK_ID_MAX + 1];
    char since[48];
    json_t *page;        /* hello's page, tracked once the visitor is known */
    const char *reply_type;  /* on_json_reply: the reply's type, and the member an array goes in */
    const char *reply_key;
} chat_call;

/* ---- sessions ----------------------------------------------------------------------- */

static void chat_session_unref(chat_session *s)
{
    if (--s->refs > 0)
        return;
    for (frame *f = s->held, *next; f; f = next) {
        next = f->next;
        free(f);
    }
    bk_conn_unref(s->conn);
    free(s);
}

/* Leaves the list of sockets that have not said hello yet. */
static void chat_waiting_leave(chat_session *s)
{
    if (!s->waiting_next)
        return;
    s->waiting_prev->waiting_next = s->waiting_next;
    s->waiting_next->waiting_prev = s->waiting_prev;
    s->waiting_prev = s->waiting_next = NULL;
}

static bk_map *chat_peers_of(bk_chat *chat, bk_role role)
{
    return role == BK_ROLE_AGENT ? chat->agents : chat->visitors;
}

static void chat_peers_join(chat_session *s)
{
    bk_map *map = chat_peers_of(s->chat, s->role);
    chat_session *first = bk_map_get(map, s->id);
    s->peer_prev = NULL;
    s->peer_next = first;
    if (first)
        first->peer_prev = s;
    bk_map_set(map, s->id, s);
}

/* Returns 1 when s was the last session of its visitor or agent on this node. */
static int chat_peers_leave(chat_session *s)
{
    bk_map *map = chat_peers_of(s->chat, s->role);
    if (s->peer_prev)
        s->peer_prev->peer_next = s->peer_next;
    else if (s->peer_next)
        bk_map_set(map, s->id, s->peer_next);
    else
        bk_map_remove(map, s->id);
    if (s->peer_next)
        s->peer_next->peer_prev = s->peer_prev;
    return !s->peer_prev && !s->peer_next;
}

/* ---- sending ------------------------------------------------------------------------ */

static void chat_send_text(chat_session *s, const char *text, size_t len)
{
    bk_conn_send(s->conn, text, len);
}

/* Sends obj and releases it. */
static void chat_send_json(chat_session *s, json_t *obj)
{
    if (!obj)
        return;
    char *text = json_dumps(obj, JSON_COMPACT);
    if (text) {
        chat_send_text(s, text, strlen(text));
        free(text);
    }
    json_decref(obj);
}

static void chat_send_error(chat_session *s, json_t *req, const char *code, const char *message)
{
    bk_metrics_error(code);
    chat_send_json(s, bk_reply_error(req, code, message));
}

static void chat_send_ok(chat_session *s, json_t *req)
{
    chat_send_json(s, bk_reply_new("ok", req));
}

/* Maps a script's "code message" error, or a missing reply, to a protocol error. */
static void chat_send_store_error(chat_session *s, json_t *req, const redisReply *reply)
{
    static const char *const script_codes[] = {
        BK_ERR_NOT_FOUND, BK_ERR_FORBIDDEN, BK_ERR_ALREADY_TAKEN, BK_ERR_WRONG_STATE,
        BK_ERR_UNAUTHORIZED, BK_ERR_INVALID_TOKEN, BK_ERR_CONSENT_REQUIRED, BK_ERR_BAD_REQUEST,
    };
    if (!reply) {
        chat_send_error(s, req, BK_ERR_UNAVAILABLE,
                        "storage did not confirm the request; send it again (a message with the same cmid is stored once)");
        return;
    }
    for (size_t i = 0; i < sizeof script_codes / sizeof script_codes[0]; i++) {
        const char *message = bk_redis_reply_refusal(reply, script_codes[i]);
        if (message) {
            chat_send_error(s, req, script_codes[i], message);
            return;
        }
    }
    /* LOADING, BUSY, NOSCRIPT, OOM, READONLY...: Redis cannot do it now. A reply of an odd shape
     * was logged once already by the reader (redis_reply.h). */
    if (bk_redis_reply_error(reply))
        bk_warn("redis refused a request: %.200s", bk_redis_reply_error(reply));
    chat_send_error(s, req, BK_ERR_UNAVAILABLE, "storage refused the request for now; send it again");
}

/* ---- calls: a request in flight -------------------------------------------------------- */

static chat_call *chat_call_new(chat_session *s, const bk_request *request)
{
    chat_call *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    s->refs++;
    c->session = s;
    c->type = request->type;
    if (request->req)
        c->req = json_incref(request->req);
    return c;
}

static void chat_call_free(chat_call *c)
{
    json_decref(c->page);
    if (c->req)
        json_decref(c->req);
    chat_session_unref(c->session);
    free(c);
}

/* Runs a script for a call; answers "unavailable" at once when Redis is not reachable. */
static void chat_call_script(chat_call *c, int script, bk_store_reply_fn fn, int argc, const char **argv,
                             const size_t *lengths)
{
    bk_chat *chat = c->session->chat;
    if (bk_store_script(chat->server->store, chat->scripts[script], fn, c, 0, argc, argv, lengths) != 0) {
        chat_send_store_error(c->session, c->req, NULL);
        chat_call_free(c);
    }
}

/* A reply for a socket that has gone needs nothing more than freeing. */
static int chat_call_orphaned(chat_call *c)
{
    return !bk_conn_is_open(c->session->conn);
}

/* ---- hello ------------------------------------------------------------------------- */

static void chat_held_flush(chat_session *s)
{
    for (frame *f = s->held, *next; f; f = next) {
        next = f->next;
        chat_send_text(s, f->text, f->len);
        free(f);
    }
    s->held = s->held_tail = NULL;
    s->held_count = 0;
}

static void on_visitor_hello(redisReply *reply, void *data)
{
    chat_call *c = data;
    chat_session *s = c->session;
    const char *cid, *state, *agent, *last_id, *profile, *site_json, *visitor;
    long long agents_online;
    if (chat_call_orphaned(c))
        goto done;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_VISITOR_HELLO, &cid, &state, &agent, &last_id, &agents_online,
                              &profile, &site_json, &visitor) != 0 || !bk_id_valid(visitor)) {
        chat_peers_leave(s);
        s->hello = HELLO_NONE;
        chat_send_store_error(s, c->req, reply);
        /* a site or origin that is not allowed: no second try on this socket */
        if (bk_redis_reply_refusal(reply, BK_ERR_FORBIDDEN))
            bk_conn_close(s->conn, BK_CLOSE_POLICY, "origin not allowed");
        goto done;
    }
    if (strcmp(s->id, visitor) != 0) {
        /* The token's visitor was erased: this socket is a new visitor now. Nothing can have
         * been published for the new id yet, so joining after the script loses nothing. */
        chat_peers_leave(s);
        snprintf(s->id, sizeof s->id, "%s", visitor);
        chat_peers_join(s);
    }
    json_t *site = json_loads(site_json, 0, NULL);
    snprintf(s->identity_secret, sizeof s->identity_secret, "%s",
             json_string_value(json_object_get(site, "identity_secret")) ?
             json_string_value(json_object_get(site, "identity_secret")) : "");
    s->enforce_identity = json_is_true(json_object_get(site, "enforce_identity"));
    s->consent_required = json_is_true(json_object_get(site, "consent_required"));
    json_t *hours = bk_site_hours_state(s->chat->hours, json_string_value(json_object_get(site, "id")),
                                        json_string_value(json_object_get(site, "hours")),
                                        json_string_value(json_object_get(site, "tz")), bk_now_ms());
    json_decref(site);
    char token[BK_TOKEN_MAX];
    bk_token_sign(s->chat->server->secret, s->id, token, sizeof token);
    json_t *welcome = bk_reply_new("welcome", c->req);
    json_object_set_new(welcome, "visitor", json_string(s->id));
    json_object_set_new(welcome, "token", json_string(token));
    if (cid[0]) {
        json_object_set_new(welcome, "conversation",
                            json_pack("{s:s, s:s, s:o, s:s}", "id", cid, "state", state,
                                      "agent", agent[0] ? json_string(agent) : json_null(),
                                      "last_id", last_id));
    } else {
        json_object_set_new(welcome, "conversation", json_null());
    }
    json_object_set_new(welcome, "agents_online", json_integer(agents_online));
    json_object_set_new(welcome, "consent_required", json_boolean(s->consent_required));
    if (s->chat->server->mail)
        json_object_set_new(welcome, "transcript_email", json_true());
    json_object_set_new(welcome, "hours", hours ? hours : json_null());
    s->hello = HELLO_DONE;
    chat_waiting_leave(s);
    chat_send_json(s, welcome);
    s->tracker = bk_tracker_new(s->chat->server->triggers, s->conn, s->id, profile);
    if (s->tracker && c->page && (!s->consent_required || bk_tracker_consented(s->tracker))) {
        bk_request page;
        memset(&page, 0, sizeof page);
        page.type = BK_REQ_PAGE_VIEW;
        page.url = json_string_value(json_object_get(c->page, "url"));
        page.title = json_string_value(json_object_get(c->page, "title"));
        page.referrer = json_string_value(json_object_get(c->page, "referrer"));
        if (page.url && page.url[0])
            bk_triggers_request(s->chat->server->triggers, s->tracker, &page);
    }
done:
    chat_call_free(c);
}

static void chat_visitor_hello(chat_session *s, const bk_request *request)
{
    bk_chat *chat = s->chat;
    /* A fresh id is drawn even with a token: the script takes it instead when the token's
     * visitor was erased, so that the old id is never written again. */
    char fresh[BK_ID_MAX + 1];
    if (bk_id_generate("v_", fresh, sizeof fresh) != 0) {
        chat_send_error(s, request->req, BK_ERR_INTERNAL, "no randomness for a visitor id");
        return;
    }
    if (!request->token) {
        snprintf(s->id, sizeof s->id, "%s", fresh);
    } else if (bk_token_verify(chat->server->secret, request->token, s->id, sizeof s->id) != 0) {
        chat_send_error(s, request->req, BK_ERR_INVALID_TOKEN,
                        "this visitor token was not issued by this server; say hello without a token");
        return;
    }
    chat_call *c = chat_call_new(s, request);
    if (!c)
        return;
    /* Join the fan-out before asking Redis, so nothing published for this visitor after
     * the script ran can slip past the socket. */
    s->hello = HELLO_PENDING;
    chat_peers_join(s);
    if (request->page)
        c->page = json_incref(request->page);
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)bk_now_ms());
    /* Compared exactly against the site's normalised list; what does not normalise ("null",
     * a path, junk) is passed as it came and matches nothing. */
    char origin[256];
    if (bk_origin_normalize(bk_conn_origin(s->conn), origin, sizeof origin) != 0)
        snprintf(origin, sizeof origin, "%s", bk_conn_origin(s->conn));
    const char *argv[] = { chat->server->config->prefix, s->id, now,
                           request->site ? request->site : "", request->lang ? request->lang : "",
                           request->device ? request->device : "", origin, request->token ? "1" : "0",
                           fresh };
    if (bk_store_script(chat->server->store, chat->scripts[SCRIPT_VISITOR_HELLO], on_visitor_hello, c,
                        0, 9, argv, NULL) != 0) {
        chat_peers_leave(s);
        s->hello = HELLO_NONE;
        chat_send_store_error(s, c->req, NULL);
        chat_call_free(c);
    }
}

/* Only the script's "unauthorized" signs the agent out (close 4001); anything else is storage
 * trouble - no reply, LOADING, BUSY, OOM, READONLY, NOSCRIPT, an odd reply - and a socket that
 * cannot say hello is of no use: close 1013, and the panel reconnects with backoff. */
static void agent_hello_failed(chat_session *s, json_t *req, const redisReply *reply)
{
    s->hello = HELLO_NONE;
    const char *refusal = bk_redis_reply_refusal(reply, BK_ERR_UNAUTHORIZED);
    if (refusal) {
        chat_send_error(s, req, BK_ERR_UNAUTHORIZED, refusal);
        bk_conn_close(s->conn, BK_CLOSE_UNAUTHORIZED, "unauthorized");
        return;
    }
    if (bk_redis_reply_error(reply))
        bk_warn("redis refused an agent's hello: %.200s", bk_redis_reply_error(reply));
    chat_send_error(s, req, BK_ERR_UNAVAILABLE, "storage is unavailable; connect again later");
    bk_conn_close(s->conn, BK_CLOSE_TRY_AGAIN, "try again later");
}

static void on_agent_hello(redisReply *reply, void *data)
{
    chat_call *c = data;
    chat_session *s = c->session;
    const char *agent, *welcome_json;
    if (chat_call_orphaned(c))
        goto done;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_AGENT_HELLO, &agent, &welcome_json) != 0) {
        agent_hello_failed(s, c->req, reply);
        goto done;
    }
    json_t *lists = json_loads(welcome_json, 0, NULL);
    if (!lists || !bk_id_valid(agent)) {
        json_decref(lists);
        bk_warn("agent hello: could not read the agent's state from redis");
        agent_hello_failed(s, c->req, NULL);
        goto done;
    }
    snprintf(s->id, sizeof s->id, "%s", agent);
    chat_peers_join(s);
    json_t *welcome = bk_reply_new("welcome", c->req);
    json_object_set_new(welcome, "agent", json_pack("{s:s}", "name", s->id));
    json_object_update(welcome, lists);
    json_decref(lists);
    s->hello = HELLO_DONE;
    chat_waiting_leave(s);
    chat_send_json(s, welcome);
    chat_held_flush(s);
    bk_info("agent %s connected (connection %lu)", s->id, bk_conn_id(s->conn));
done:
    chat_call_free(c);
}

static int session_token_shaped(const char *token)
{
    if (!token || strlen(token) != BK_SESSION_TOKEN_SIZE - 1)
        return 0;
    return strspn(token, "0123456789abcdef") == BK_SESSION_TOKEN_SIZE - 1;
}

/* The agent panel is served by Beckon itself: a browser page elsewhere must not drive an
 * agent's socket. Origin absent (not a browser) or this server's own origin. */
static int agent_origin_allowed(const chat_session *s)
{
    return bk_origin_is_own(bk_conn_origin(s->conn), bk_conn_host(s->conn));
}

static void chat_agent_hello(chat_session *s, const bk_request *request)
{
    bk_chat *chat = s->chat;
    if (!agent_origin_allowed(s)) {
        chat_send_error(s, request->req, BK_ERR_UNAUTHORIZED, "agent sockets accept only this server's own origin");
        bk_conn_close(s->conn, BK_CLOSE_POLICY, "origin not allowed");
        return;
    }
    if (!session_token_shaped(request->token)) {
        chat_send_error(s, request->req, BK_ERR_UNAUTHORIZED,
                        "a session token from POST /api/login is required");
        bk_conn_close(s->conn, BK_CLOSE_UNAUTHORIZED, "unauthorized");
        return;
    }
    chat_call *c = chat_call_new(s, request);
    if (!c)
        return;
    s->hello = HELLO_PENDING;
    char digest[BK_SESSION_TOKEN_SIZE], now[24], ttl[24];
    bk_session_token_digest(request->token, digest);
    snprintf(now, sizeof now, "%lld", (long long)bk_now_ms());
    snprintf(ttl, sizeof ttl, "%d", PRESENCE_TTL_MS);
    const char *argv[] = { chat->server->config->prefix, digest, now, ttl, chat->node };
    if (bk_store_script(chat->server->store, chat->scripts[SCRIPT_AGENT_HELLO], on_agent_hello, c,
                        0, 5, argv, NULL) != 0) {
        agent_hello_failed(s, c->req, NULL);
        chat_call_free(c);
    }
}

/* ---- messages ------------------------------------------------------------------------ */

static void on_message_stored(redisReply *reply, void *data)
{
    chat_call *c = data;
    chat_session *s = c->session;
    const char *conversation, *id;
    long long duplicate, opened;
    if (chat_call_orphaned(c))
        goto done;
    /* a visitor's message may open the conversation; an agent's and a note never do */
    if (s->role == BK_ROLE_VISITOR
            ? bk_redis_reply_unpack(reply, BK_SHAPE_VISITOR_MESSAGE, &conversation, &id, &duplicate, &opened) != 0
            : bk_redis_reply_unpack(reply, BK_SHAPE_AGENT_MESSAGE, &conversation, &id, &duplicate) != 0) {
        chat_send_store_error(s, c->req, reply);
        goto done;
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
done:
    chat_call_free(c);
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

/* The socket a message came from, as the bus names it ("n_…:42"): its ack already carries
 * what the push would, so the push skips it (the sender's other sockets still get it). */
#define SENDER_MAX (BK_ID_MAX + 24)

static void chat_sender_name(const chat_session *s, char out[SENDER_MAX])
{
    snprintf(out, SENDER_MAX, "%s:%lu", s->chat->node, bk_conn_id(s->conn));
}

static void chat_message_send(chat_session *s, const bk_request *request)
{
    bk_chat *chat = s->chat;
    chat_call *c = chat_call_new(s, request);
    if (!c)
        return;
    snprintf(c->cmid, sizeof c->cmid, "%s", request->cmid);
    const char *prefix = chat->server->config->prefix;
    char sender[SENDER_MAX];
    chat_sender_name(s, sender);
    if (s->role == BK_ROLE_VISITOR) {
        char cid[BK_ID_MAX + 1], now[24];
        if (bk_id_generate("c_", cid, sizeof cid) != 0) {
            chat_send_error(s, c->req, BK_ERR_INTERNAL, "no randomness for a conversation id");
            chat_call_free(c);
            return;
        }
        snprintf(now, sizeof now, "%lld", (long long)bk_now_ms());
        const char *argv[] = { prefix, s->id, cid, request->cmid, request->text, now, request->text, sender };
        size_t lengths[] = { strlen(prefix), strlen(s->id), strlen(cid), strlen(request->cmid),
                             request->text_len, strlen(now),
                             preview_length(request->text, request->text_len), strlen(sender) };
        chat_call_script(c, SCRIPT_VISITOR_MESSAGE, on_message_stored, 8, argv, lengths);
    } else {
        const char *argv[] = { prefix, request->conversation, s->id, request->cmid, request->text, sender };
        size_t lengths[] = { strlen(prefix), strlen(request->conversation), strlen(s->id),
                             strlen(request->cmid), request->text_len, strlen(sender) };
        chat_call_script(c, SCRIPT_AGENT_MESSAGE, on_message_stored, 6, argv, lengths);
    }
}

/* ---- everything answered with "ok" --------------------------------------------------- */

static void chat_on_ok(redisReply *reply, void *data)
{
    chat_call *c = data;
    long long result;
    if (!chat_call_orphaned(c)) {
        if (bk_redis_reply_unpack(reply, BK_SHAPE_INTEGER, &result) == 0) {
            if (c->type != BK_REQ_TYPING || c->req)
                chat_send_ok(c->session, c->req);
        } else if (c->type != BK_REQ_TYPING || c->req) {
            chat_send_store_error(c->session, c->req, reply);
        }
    }
    chat_call_free(c);
}

static const char *role_name(bk_role role)
{
    return role == BK_ROLE_AGENT ? "agent" : "visitor";
}

static void chat_signal_send(chat_session *s, const bk_request *request)
{
    chat_call *c = chat_call_new(s, request);
    if (!c)
        return;
    const char *kind = request->type == BK_REQ_READ ? "read" : "typing";
    const char *value = request->type == BK_REQ_READ ? request->up_to : request->on ? "1" : "0";
    const char *argv[] = { s->chat->server->config->prefix,
                           request->conversation ? request->conversation : "",
                           role_name(s->role), s->id, kind, value };
    chat_call_script(c, SCRIPT_SIGNAL, chat_on_ok, 6, argv, NULL);
}

static void chat_conversation_close(chat_session *s, const bk_request *request)
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
    const char *argv[] = { s->chat->server->config->prefix,
                           request->conversation ? request->conversation : "",
                           role_name(s->role), s->id, now, day, retention };
    chat_call_script(c, SCRIPT_CLOSE, chat_on_ok, 7, argv, NULL);
}

static void chat_conversation_accept(chat_session *s, const bk_request *request)
{
    chat_call *c = chat_call_new(s, request);
    if (!c)
        return;
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)bk_now_ms());
    const char *argv[] = { s->chat->server->config->prefix, request->conversation, s->id, now };
    chat_call_script(c, SCRIPT_ACCEPT, chat_on_ok, 4, argv, NULL);
}

static void chat_conversation_rate(chat_session *s, const bk_request *request)
{
    chat_call *c = chat_call_new(s, request);
    if (!c)
        return;
    char now[24], score[4], day[9];
    int64_t now_ms = bk_now_ms();
    snprintf(now, sizeof now, "%lld", (long long)now_ms);
    bk_day_string(now_ms, day);
    snprintf(score, sizeof score, "%d", request->score);
    const char *argv[] = { s->chat->server->config->prefix,
                           s->id, request->conversation ? request->conversation : "", score,
                           request->comment ? request->comment : "", now, day };
    chat_call_script(c, SCRIPT_RATE, chat_on_ok, 7, argv, NULL);
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

static void chat_history_send(chat_session *s, const bk_request *request)
{
    chat_call *c = chat_call_new(s, request);
    if (!c)
        return;
    snprintf(c->since, sizeof c->since, "%s", request->since);
    snprintf(c->conversation, sizeof c->conversation, "%s", request->conversation);
    char limit[8], max_bytes[12];
    snprintf(limit, sizeof limit, "%d", BK_HISTORY_PAGE);
    snprintf(max_bytes, sizeof max_bytes, "%d", BK_HISTORY_PAGE_BYTES);
    const char *argv[] = { s->chat->server->config->prefix, request->conversation, request->since,
                           limit, role_name(s->role), s->id, max_bytes };
    chat_call_script(c, SCRIPT_HISTORY, on_history, 7, argv, NULL);
}

/* ---- agents' tools and visitors' details ----------------------------------------------- */

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

static void chat_json_request(chat_session *s, const bk_request *request, int script, const char *reply_type,
                              const char *reply_key, int argc, const char **argv)
{
    chat_call *c = chat_call_new(s, request);
    if (!c)
        return;
    c->reply_type = reply_type;
    c->reply_key = reply_key;
    chat_call_script(c, script, on_json_reply, argc, argv, NULL);
}

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
static void chat_visitor_identify(chat_session *s, const bk_request *request)
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
    const char *argv[] = { s->chat->server->config->prefix, s->id, request->name ? request->name : "",
                           request->email ? request->email : "", attrs ? attrs : "", verified };
    chat_call_script(c, SCRIPT_IDENTIFY, on_identified, 6, argv, NULL);
    free(attrs);
}

static void chat_visitor_consent(chat_session *s, const bk_request *request)
{
    chat_call *c = chat_call_new(s, request);
    if (!c)
        return;
    const char *argv[] = { s->chat->server->config->prefix, s->id, request->granted ? "1" : "0" };
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

static void chat_message_leave(chat_session *s, const bk_request *request)
{
    chat_call *c = chat_call_new(s, request);
    if (!c)
        return;
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)bk_now_ms());
    const char *argv[] = { s->chat->server->config->prefix, s->id, request->name ? request->name : "",
                           request->email, request->text, now };
    size_t lengths[] = { strlen(argv[0]), strlen(s->id), strlen(argv[2]), strlen(request->email),
                         request->text_len, strlen(now) };
    chat_call_script(c, SCRIPT_LEAVE_MESSAGE, on_left, 6, argv, lengths);
}

static void chat_note_add(chat_session *s, const bk_request *request)
{
    chat_call *c = chat_call_new(s, request);
    if (!c)
        return;
    snprintf(c->cmid, sizeof c->cmid, "%s", request->cmid);
    const char *prefix = s->chat->server->config->prefix;
    char sender[SENDER_MAX];
    chat_sender_name(s, sender);
    const char *argv[] = { prefix, request->conversation, s->id, request->cmid, request->text, sender };
    size_t lengths[] = { strlen(prefix), strlen(request->conversation), strlen(s->id), strlen(request->cmid),
                         request->text_len, strlen(sender) };
    chat_call_script(c, SCRIPT_NOTE, on_message_stored, 6, argv, lengths);
}

static void chat_conversation_transfer(chat_session *s, const bk_request *request)
{
    chat_call *c = chat_call_new(s, request);
    if (!c)
        return;
    const char *argv[] = { s->chat->server->config->prefix, request->conversation, s->id, request->to };
    chat_call_script(c, SCRIPT_TRANSFER, chat_on_ok, 4, argv, NULL);
}

static void chat_agent_status(chat_session *s, const bk_request *request)
{
    chat_call *c = chat_call_new(s, request);
    if (!c)
        return;
    char expiry[24];
    snprintf(expiry, sizeof expiry, "%lld", (long long)(bk_now_ms() + PRESENCE_TTL_MS));
    const char *argv[] = { s->chat->server->config->prefix, s->id, request->status, expiry, s->chat->node };
    chat_call_script(c, SCRIPT_STATUS, chat_on_ok, 5, argv, NULL);
}

static void chat_visitor_invite(chat_session *s, const bk_request *request)
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
    const char *argv[] = { s->chat->server->config->prefix, request->visitor, s->id, request->text, now,
                           invitation, day };
    bk_metrics_invitation("manual");
    bk_metrics_now.invitations_sent++;
    chat_call_script(c, SCRIPT_MANUAL_INVITE, chat_on_ok, 7, argv, NULL);
}

/* ---- the WebSocket handlers ----------------------------------------------------------- */

/* Sockets that never say hello hold memory and a descriptor for nothing: close them. The
 * list is in opening order, so only its head can be overdue first. */
static void chat_hello_deadline(uv_timer_t *timer)
{
    bk_chat *chat = timer->data;
    uint64_t now = uv_now(chat->server->loop);
    uint64_t limit = (uint64_t)chat->server->config->hello_timeout_seconds * 1000;
    while (chat->waiting.waiting_next != &chat->waiting) {
        chat_session *s = chat->waiting.waiting_next;
        if (s->opened_ms + limit > now)
            break;
        chat_waiting_leave(s);
        if (s->hello == HELLO_NONE) {
            bk_metrics_now.hello_timeouts++;
            chat_send_error(s, NULL, BK_ERR_HELLO_REQUIRED, "no hello in time; closing");
            bk_conn_close(s->conn, BK_CLOSE_POLICY, "hello timeout");
        }
    }
}

void bk_chat_opened(bk_conn *conn, void *data)
{
    bk_chat *chat = ((bk_server *)data)->chat;
    chat_session *s = calloc(1, sizeof *s);
    if (!s) {
        bk_conn_close(conn, 1011, "out of memory");
        return;
    }
    s->chat = chat;
    s->conn = conn;
    s->refs = 1;
    s->role = bk_conn_role(conn);
    s->opened_ms = uv_now(chat->server->loop);
    s->tokens = (double)chat->server->config->rate_burst * (s->role == BK_ROLE_AGENT ? AGENT_RATE_FACTOR : 1);
    s->tokens_ms = s->opened_ms;
    bk_conn_ref(conn);
    bk_conn_set_user(conn, s);
    s->waiting_prev = chat->waiting.waiting_prev;
    s->waiting_next = &chat->waiting;
    chat->waiting.waiting_prev->waiting_next = s;
    chat->waiting.waiting_prev = s;
    if (s->role == BK_ROLE_AGENT)
        bk_metrics_now.agents_connected++;
    else
        bk_metrics_now.visitors_connected++;
    if (s->role == BK_ROLE_AGENT) {
        s->agent_next = chat->all_agents.agent_next;
        s->agent_prev = &chat->all_agents;
        chat->all_agents.agent_next->agent_prev = s;
        chat->all_agents.agent_next = s;
    }
}

static void chat_request_dispatch(chat_session *s, const bk_request *request)
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

/* A token bucket per socket: rate-burst at once, rate-messages-per-second sustained. */
static int rate_allows(bk_chat *chat, chat_session *s)
{
    const bk_config *config = chat->server->config;
    double factor = s->role == BK_ROLE_AGENT ? AGENT_RATE_FACTOR : 1;
    double burst = config->rate_burst * factor;
    uint64_t now = uv_now(chat->server->loop);
    s->tokens += (double)(now - s->tokens_ms) * config->rate_messages_per_second * factor / 1000.0;
    if (s->tokens > burst)
        s->tokens = burst;
    s->tokens_ms = now;
    if (s->tokens < 1.0)
        return 0;
    s->tokens -= 1.0;
    return 1;
}

/* Browsing events cost a Redis write each: at most events-per-minute per socket. */
static int events_allow(bk_chat *chat, chat_session *s)
{
    uint64_t now = uv_now(chat->server->loop);
    if (now - s->events_window_ms >= 60000) {
        s->events_window_ms = now;
        s->events_in_window = 0;
    }
    return ++s->events_in_window <= chat->server->config->events_per_minute;
}

void bk_chat_received(bk_conn *conn, bk_rx_status status, const char *text, size_t len, void *data)
{
    bk_chat *chat = ((bk_server *)data)->chat;
    chat_session *s = bk_conn_user(conn);
    if (!s)
        return;
    if (status == BK_RX_TOO_LARGE) {
        char message[96];
        snprintf(message, sizeof message, "message over %d bytes", chat->server->config->max_message_bytes);
        chat_send_error(s, NULL, BK_ERR_TOO_LARGE, message);
        return;
    }
    if (status == BK_RX_BINARY) {
        chat_send_error(s, NULL, BK_ERR_BAD_JSON, "binary frames are not accepted: send JSON text");
        return;
    }
    bk_metrics_now.frames_received++;
    bk_request request;
    bk_error err;
    int parsed = bk_request_parse(s->role, text, len, &request, &err) == 0;
    /* Parsed first, so that even a refusal names the request it refuses (its req). */
    if (!rate_allows(chat, s)) {
        bk_metrics_now.rate_limited++;
        chat_send_error(s, request.req, BK_ERR_RATE_LIMITED, "too many requests; slow down");
    } else if (!parsed) {
        chat_send_error(s, request.req, err.code, err.message);
    } else if ((request.type == BK_REQ_PAGE_VIEW || request.type == BK_REQ_EVENT) && !events_allow(chat, s)) {
        bk_metrics_now.rate_limited++;
        chat_send_error(s, request.req, BK_ERR_RATE_LIMITED, "too many page views and events this minute");
    } else {
        chat_request_dispatch(s, &request);
    }
    bk_request_release(&request);
}

/* This node's entry only: the agent may still be connected through another node. */
static void presence_remove(bk_chat *chat, const char *agent)
{
    char key[96], member[2 * BK_ID_MAX + 2];
    snprintf(key, sizeof key, "%spresence", chat->server->config->prefix);
    snprintf(member, sizeof member, "%s@%s", agent, chat->node);
    const char *argv[] = { "ZREM", key, member };
    /* Best effort: if Redis is away, the entry expires with its TTL anyway. */
    bk_store_command(chat->server->store, NULL, NULL, 3, argv, NULL);
}

void bk_chat_closed(bk_conn *conn, void *data)
{
    bk_chat *chat = ((bk_server *)data)->chat;
    chat_session *s = bk_conn_user(conn);
    if (!s)
        return;
    bk_conn_set_user(conn, NULL);
    chat_waiting_leave(s);
    if (s->role == BK_ROLE_AGENT)
        bk_metrics_now.agents_connected--;
    else
        bk_metrics_now.visitors_connected--;
    bk_tracker_close(s->tracker);
    s->tracker = NULL;
    if (s->role == BK_ROLE_AGENT) {
        s->agent_prev->agent_next = s->agent_next;
        s->agent_next->agent_prev = s->agent_prev;
    }
    int joined = s->role == BK_ROLE_VISITOR ? s->hello != HELLO_NONE : s->hello == HELLO_DONE;
    if (joined && chat_peers_leave(s) && s->role == BK_ROLE_AGENT) {
        presence_remove(chat, s->id);
        bk_info("agent %s disconnected", s->id);
    }
    chat_session_unref(s);
}

/* ---- the bus ------------------------------------------------------------------------- */

static void chat_held_add(chat_session *s, const char *text, size_t len)
{
    if (s->held_count >= PENDING_FRAMES_MAX)
        return;
    frame *f = malloc(sizeof *f + len);
    if (!f)
        return;
    f->next = NULL;
    f->len = len;
    memcpy(f->text, text, len);
    if (s->held_tail)
        s->held_tail->next = f;
    else
        s->held = f;
    s->held_tail = f;
    s->held_count++;
}

/* `except` is a connection of this node that must not get the frame (its sender), or 0. */
static void send_to_peers(bk_chat *chat, bk_role role, const char *id, const char *text, size_t len,
                          unsigned long except)
{
    for (chat_session *s = bk_map_get(chat_peers_of(chat, role), id); s; s = s->peer_next)
        if (s->hello == HELLO_DONE && (!except || bk_conn_id(s->conn) != except))
            chat_send_text(s, text, len);
}

/* "0", "1", or "0>NODE:CONNECTION" (bus_except): the connection to skip when NODE is this one. */
static unsigned long bus_except_connection(const bk_chat *chat, const char *all)
{
    const char *sender = strchr(all, '>');
    size_t node_len = strlen(chat->node);
    if (!sender || strncmp(sender + 1, chat->node, node_len) != 0 || sender[1 + node_len] != ':')
        return 0;
    return strtoul(sender + 2 + node_len, NULL, 10);
}

/* An account's password changed or the account was removed: its sockets here are closed. */
static void agent_sessions_end(bk_chat *chat, const char *agent)
{
    for (chat_session *s = bk_map_get(chat->agents, agent); s; s = s->peer_next) {
        chat_send_error(s, NULL, BK_ERR_UNAUTHORIZED, "your session ended (password changed or account removed)");
        bk_conn_close(s->conn, BK_CLOSE_UNAUTHORIZED, "session ended");
    }
}

/* The visitor was erased: its sockets here are closed (the widget starts afresh). */
static void visitor_sessions_end(bk_chat *chat, const char *visitor)
{
    for (chat_session *s = bk_map_get(chat->visitors, visitor); s; s = s->peer_next)
        bk_conn_close(s->conn, BK_CLOSE_POLICY, "visitor data erased");
}

/* The queue's order, published once per change by whichever node's sweep saw it first:
 * tell this node's waiting visitors where they stand. */
static void queue_positions_tell(bk_chat *chat, const char *text, size_t len)
{
    json_t *announcement = json_loadb(text, len, 0, NULL);
    json_t *order = json_object_get(announcement, "order");
    size_t waiting = json_array_size(order) / 2;
    json_int_t online = json_integer_value(json_object_get(announcement, "online"));
    json_t *average = json_object_get(announcement, "average_wait_ms");
    for (size_t i = 0; i < waiting; i++) {
        const char *visitor = json_string_value(json_array_get(order, 2 * i));
        const char *conversation = json_string_value(json_array_get(order, 2 * i + 1));
        chat_session *first = visitor ? bk_map_get(chat->visitors, visitor) : NULL;
        if (!first || !conversation)
            continue;
        json_t *expected = json_is_number(average) && online > 0
            ? json_integer((json_int_t)(json_number_value(average) * (double)(i + 1) / (double)online / 1000.0 + 0.5))
            : json_null();
        json_t *frame = json_pack("{s:s, s:s, s:I, s:I, s:I, s:o}", "type", "queue_position",
                                  "conversation", conversation, "position", (json_int_t)(i + 1),
                                  "waiting", (json_int_t)waiting, "agents_online", online,
                                  "expected_wait_seconds", expected);
        char *out = json_dumps(frame, JSON_COMPACT);
        json_decref(frame);
        for (chat_session *s = first; s && out; s = s->peer_next)
            if (s->hello == HELLO_DONE)
                chat_send_text(s, out, strlen(out));
        free(out);
    }
    json_decref(announcement);
}

/* Copies a short bus payload into buf (BK_ID_MAX + 1 bytes) and returns it. */
static const char *text_copy(const char *text, size_t len, char *buf)
{
    size_t n = len < BK_ID_MAX ? len : BK_ID_MAX;
    memcpy(buf, text, n);
    buf[n] = '\0';
    return buf;
}

/* "VISITOR AGENT ALL FRAME" (scripts.h). */
static void chat_bus_received(const char *payload, size_t len, void *data)
{
    bk_chat *chat = data;
    char visitor[BK_ID_MAX + 1], agent[BK_ID_MAX + 1], all_field[SENDER_MAX + 3];
    int consumed = 0;
    if (sscanf(payload, "%64s %64s %90s %n", visitor, agent, all_field, &consumed) != 3 || consumed <= 0 ||
        (size_t)consumed > len)
        return;
    int all = all_field[0] == '1';
    unsigned long except = bus_except_connection(chat, all_field);
    const char *text = payload + consumed;
    size_t text_len = len - (size_t)consumed;
    if (visitor[0] == '!') {  /* "!what NAME 0 ...": for the nodes, not for clients */
        if (strcmp(visitor, "!logout") == 0)
            agent_sessions_end(chat, agent);
        else if (strcmp(visitor, "!queue") == 0)
            queue_positions_tell(chat, text, text_len);
        else if (strcmp(visitor, "!ping") == 0) {
            if (strcmp(agent, chat->node) == 0)  /* agent: the node that sent it */
                chat->bus_heard_ms = uv_now(chat->server->loop);
        }
        else if (strcmp(visitor, "!hooks") == 0)
            bk_webhooks_wake(chat->server->webhooks, agent);  /* agent: the site */
        else if (strcmp(visitor, "!forget") == 0) {
            char erased[BK_ID_MAX + 1];
            if (bk_id_valid(text_copy(text, text_len, erased)))
                visitor_sessions_end(chat, erased);
        }
        else
            bk_triggers_control(chat->server->triggers, visitor + 1);
        return;
    }
    if (strcmp(visitor, "-") != 0)
        send_to_peers(chat, BK_ROLE_VISITOR, visitor, text, text_len, except);
    if (all) {
        for (chat_session *s = chat->all_agents.agent_next; s != &chat->all_agents; s = s->agent_next) {
            if (s->hello == HELLO_DONE)
                chat_send_text(s, text, text_len);
            else if (s->hello == HELLO_PENDING)
                chat_held_add(s, text, text_len);
        }
    } else if (strcmp(agent, "-") != 0) {
        send_to_peers(chat, BK_ROLE_AGENT, agent, text, text_len, except);
    }
}

/* While the bus link was down, pushes for this node's sockets were lost (pub/sub does not
 * keep them). The streams have everything: tell every client to resume. */
static void resync_peers(const char *key, void *value, void *frame)
{
    (void)key;
    for (chat_session *s = value; s; s = s->peer_next)
        if (s->hello == HELLO_DONE)
            chat_send_text(s, frame, strlen(frame));
}

/* The VISITORS_SEEN script with PREFIX NOW VISITOR..., SEEN_BATCH visitors at a time. */
typedef struct seen_batch {
    bk_chat *chat;
    const char **argv;
    int argc;
    char now[24];
} seen_batch;

static void seen_flush(seen_batch *b)
{
    /* Best effort: a visitor missed now is confirmed by the next heartbeat, well within the TTL. */
    if (b->argc > 2)
        bk_store_script(b->chat->server->store, b->chat->scripts[SCRIPT_VISITORS_SEEN], NULL, NULL, 0, b->argc,
                        b->argv, NULL);
    b->argc = 2;
}

static void seen_add(const char *visitor, void *first_session, void *data)
{
    seen_batch *b = data;
    /* Only a socket that finished its hello counts: one still saying hello, or an erased
     * visitor's socket closing, must not put the visitor back. */
    const chat_session *s = first_session;
    while (s && s->hello != HELLO_DONE)
        s = s->peer_next;
    if (!s)
        return;
    b->argv[b->argc++] = visitor;
    if (b->argc == 2 + SEEN_BATCH)
        seen_flush(b);
}

/* The visitors with a socket on this node still have one: the sweep closes only the
 * conversations of visitors nobody confirms (scripts.h, BK_LUA_ABANDONED). */
static void chat_visitors_seen(bk_chat *chat, int64_t now_ms)
{
    if (bk_map_size(chat->visitors) == 0)
        return;
    seen_batch b = { .chat = chat, .argc = 2, .argv = malloc((2 + SEEN_BATCH) * sizeof(const char *)) };
    if (!b.argv)
        return;
    snprintf(b.now, sizeof b.now, "%lld", (long long)now_ms);
    b.argv[0] = chat->server->config->prefix;
    b.argv[1] = b.now;
    bk_map_each(chat->visitors, seen_add, &b);
    seen_flush(&b);
    free(b.argv);
}

static void chat_store_state_changed(int command_up, int bus_up, void *data)
{
    bk_chat *chat = data;
    bk_info("redis: commands %s, bus %s", command_up ? "up" : "down", bus_up ? "up" : "down");
    if (bus_up && !chat->bus_up && chat->bus_was_up) {
        static const char resync[] = "{\"type\":\"resync\"}";
        bk_info("bus is back: asking this node's clients to resume");
        for (int role = BK_ROLE_VISITOR; role <= BK_ROLE_AGENT; role++)
            bk_map_each(chat_peers_of(chat, (bk_role)role), resync_peers, (void *)resync);
    }
    if (bus_up)
        chat->bus_was_up = 1;
    chat->bus_up = bus_up;
    /* Before any sweep on the new link: after a long outage the visitors' confirmations are old,
     * and their chats must not look abandoned (commands on one link run in order). */
    if (command_up)
        chat_visitors_seen(chat, bk_now_ms());
}

/* Agents on this node stay counted as online while the node refreshes them (unless they
 * set themselves away); entries nobody refreshes expire. Its visitors are confirmed too. */
static void chat_heartbeat(uv_timer_t *timer)
{
    bk_chat *chat = timer->data;
    /* Each heartbeat publishes "!ping NODE": a bus link that stopped delivering (a reset the
     * socket never reported, a half-open connection) is found within three heartbeats. */
    uint64_t loop_now = uv_now(chat->server->loop);
    if (!chat->bus_up || !chat->bus_heard_ms)
        chat->bus_heard_ms = loop_now;
    else if (loop_now - chat->bus_heard_ms > 3 * HEARTBEAT_MS && bk_store_is_up(chat->server->store)) {
        chat->bus_heard_ms = loop_now;
        bk_store_bus_drop(chat->server->store, "this node's pings stopped coming back");
    }
    chat_visitors_seen(chat, bk_now_ms());
    size_t agents = 0;
    for (chat_session *s = chat->all_agents.agent_next; s != &chat->all_agents; s = s->agent_next)
        agents++;
    const char **argv = malloc((4 + agents) * sizeof *argv);
    if (!argv)
        return;
    char expiry[24], now[24];
    int64_t now_ms = bk_now_ms();
    snprintf(expiry, sizeof expiry, "%lld", (long long)(now_ms + PRESENCE_TTL_MS));
    snprintf(now, sizeof now, "%lld", (long long)now_ms);
    argv[0] = chat->server->config->prefix;
    argv[1] = expiry;
    argv[2] = now;
    argv[3] = chat->node;
    int argc = 4;
    for (chat_session *s = chat->all_agents.agent_next; s != &chat->all_agents; s = s->agent_next)
        if (s->hello == HELLO_DONE && !s->peer_prev) /* once per agent name */
            argv[argc++] = s->id;
    bk_store_script(chat->server->store, chat->scripts[SCRIPT_HEARTBEAT], NULL, NULL, 0, argc, argv, NULL);
    free(argv);
}

/* Visitors waiting too long hear from us: an acknowledgement after auto-ack-seconds, an offer
 * to leave an email after offer-email-seconds. Conversations whose visitor left are closed
 * after abandoned-queued-minutes or idle-active-minutes. Every node sweeps; the script does
 * each once. */
#define SITES_HOURS_EVERY 10  /* sweeps (seconds) */

static void on_sites_hours(redisReply *reply, void *data)
{
    bk_chat *chat = data;
    const redisReply *sites;
    size_t at;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_SITES_HOURS, &sites, &at) != 0)
        return;
    const char **flat = malloc((sites->elements + 1) * sizeof *flat);
    if (!flat)
        return;
    size_t n = 0;
    while (bk_redis_reply_unpack_next(sites, &at, BK_SHAPE_SITE_HOURS, &flat[n], &flat[n + 1], &flat[n + 2]) == 0)
        n += 3;
    bk_site_hours_sync(chat->hours, flat, n);
    free(flat);
}

static void chat_queue_sweep(uv_timer_t *timer)
{
    bk_chat *chat = timer->data;
    const bk_config *config = chat->server->config;
    char now[24], ack[24], offer[24], day[9], retention[12], queued[12], idle[12], ttl[12];
    int64_t now_ms = bk_now_ms();
    snprintf(now, sizeof now, "%lld", (long long)now_ms);
    snprintf(ack, sizeof ack, "%lld", (long long)config->auto_ack_seconds * 1000);
    snprintf(offer, sizeof offer, "%lld", (long long)config->offer_email_seconds * 1000);
    bk_day_string(now_ms, day);
    snprintf(retention, sizeof retention, "%d", config->conversation_retention_days);
    snprintf(queued, sizeof queued, "%d", config->abandoned_queued_ms);
    snprintf(idle, sizeof idle, "%d", config->idle_active_ms);
    snprintf(ttl, sizeof ttl, "%d", VISITOR_SEEN_TTL_MS);
    char closed[1024];
    bk_site_hours_closed(chat->hours, now_ms, closed, sizeof closed);
    const char *argv[] = { config->prefix, now, ack, offer, day, retention, queued, idle, ttl, closed };
    bk_store_script(chat->server->store, chat->scripts[SCRIPT_QUEUE_SWEEP], NULL, NULL, 0, 10, argv, NULL);
    /* Hours change rarely; every node reads them all now and then, so its sweep knows which
     * sites are closed even when their visitors are on other nodes. */
    if (chat->queue_ticks++ % SITES_HOURS_EVERY == 0) {
        const char *hours_argv[] = { config->prefix };
        bk_store_script(chat->server->store, chat->scripts[SCRIPT_SITES_HOURS], on_sites_hours, chat, 0, 1,
                        hours_argv, NULL);
    }
}

bk_chat *bk_chat_new(bk_server *server)
{
    bk_chat *chat = calloc(1, sizeof *chat);
    if (!chat)
        return NULL;
    chat->server = server;
    chat->visitors = bk_map_new();
    chat->agents = bk_map_new();
    chat->hours = bk_site_hours_new();
    chat->all_agents.agent_next = chat->all_agents.agent_prev = &chat->all_agents;
    for (int i = 0; i < SCRIPT_COUNT; i++)
        chat->scripts[i] = bk_store_script_add(server->store, script_sources[i]);
    chat->transcripts = bk_transcripts_new(server);
    snprintf(chat->bus_channel, sizeof chat->bus_channel, "%sbus", server->config->prefix);
    bk_store_bus(server->store, chat->bus_channel, chat_bus_received, chat);
    bk_store_on_state(server->store, chat_store_state_changed, chat);
    chat->waiting.waiting_next = chat->waiting.waiting_prev = &chat->waiting;
    if (bk_id_generate("n_", chat->node, sizeof chat->node) != 0)
        snprintf(chat->node, sizeof chat->node, "n_%ld", (long)getpid());
    uv_timer_init(server->loop, &chat->hello_timer);
    chat->hello_timer.data = chat;
    uv_timer_start(&chat->hello_timer, chat_hello_deadline, 1000, 1000);
    uv_timer_init(server->loop, &chat->queue_timer);
    chat->queue_timer.data = chat;
    uv_timer_start(&chat->queue_timer, chat_queue_sweep, 1000, 1000);
    uv_timer_init(server->loop, &chat->heartbeat);
    chat->heartbeat.data = chat;
    uv_timer_start(&chat->heartbeat, chat_heartbeat, HEARTBEAT_MS, HEARTBEAT_MS);
    return chat;
}

void bk_chat_shutdown(bk_chat *chat)
{
    uv_close((uv_handle_t *)&chat->heartbeat, NULL);
    uv_close((uv_handle_t *)&chat->hello_timer, NULL);
    uv_close((uv_handle_t *)&chat->queue_timer, NULL);
}

void bk_chat_free(bk_chat *chat)
{
    if (!chat)
        return;
    bk_map_free(chat->visitors);
    bk_map_free(chat->agents);
    bk_transcripts_free(chat->transcripts);
    bk_site_hours_free(chat->hours);
    free(chat);
}
