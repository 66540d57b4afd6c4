/* chat_internal.h - what the files of chat/ share with each other, and nothing outside it sees.
 *
 * chat.h is the module's face (main.c and the net use it); this header is included by the .c
 * files of chat/ only. Names, in the manner of libuv's uv_ and uv__: what other folders may use
 * starts with bk_ (chat.h, transcript.h); functions and types shared inside chat/ start with
 * chat_ and no bk_, so a reader sees at once that nothing outside the folder calls them;
 * constants shared inside it are upper case without BK_ (SCRIPT_*, HELLO_*); what one file
 * uses alone is static and has no prefix.
 *
 * The files, one concern each: chat.c (the module: its scripts, timers and hooks on the store),
 * session.c (a socket's session, sending to it, requests in flight), hello.c, requests.c (a
 * request to its handler), conversation.c and tools.c (the handlers), message_batch.c (the
 * messages that arrive together in one script call), socket.c (the net's WebSocket handlers),
 * bus.c (the fan-out), frames.c (a message's frame made from the bus's compact record) and
 * sweeps.c (the periodic work), flow.c (a site's quick-reply flow). */
#ifndef BK_CHAT_INTERNAL_H
#define BK_CHAT_INTERNAL_H

#include "chat/chat.h"

#include "base/keys.h"
#include "base/list.h"
#include "base/map.h"
#include "chat/email_reply.h"
#include "chat/transcript.h"
#include "protocol/proto.h"
#include "triggers/triggers.h"

#include <beckon/protocol.h>
#include <jansson.h>
#include <stdint.h>

typedef struct bk_site_hours bk_site_hours;  /* sites/site_hours.h */

#define PRESENCE_TTL_MS     15000             /* an agent not refreshed for this long is gone */
#define HEARTBEAT_MS        5000              /* the presence heartbeat's period (sweeps.c) */

/* The scripts chat runs: indexes into chat->scripts, in the order of chat.c's script_sources. */
enum {
    SCRIPT_VISITOR_HELLO,
    SCRIPT_MESSAGES,
    SCRIPT_ACCEPT,
    SCRIPT_CLOSE,
    SCRIPT_RATE,
    SCRIPT_SIGNAL,
    SCRIPT_HISTORY,
    SCRIPT_AGENT_HELLO,
    SCRIPT_IDENTIFY,
    SCRIPT_LEAVE_MESSAGE,
    SCRIPT_LEFT_MESSAGES,
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
    SCRIPT_AGENT_LISTS,
    SCRIPT_GLOBAL_STATE,
    SCRIPT_VISITOR_SITE,
    SCRIPT_FLOW,
    SCRIPT_ROUTE_SWEEP,
    SCRIPT_OFFER_DECLINE,
    SCRIPT_VISITOR_TEAM,
    SCRIPT_COUNT
};

typedef enum { HELLO_NONE, HELLO_PENDING, HELLO_DONE } chat_hello;

/* The bus's recipients, each with its own channel (lua/prelude.lua, bus_channel; bus.c). */
typedef enum { CHAT_TO_VISITOR, CHAT_TO_AGENT, CHAT_TO_AGENTS, CHAT_TO_NODES, CHAT_TO_NODE } chat_recipient;
/* A channel carries the tag of the slot it is published from (base/keys.h): "PREFIX{TAG}:to:...". */
#define CHANNEL_MAX (BK_KEYS_PREFIX_SIZE + sizeof "to:agents:" + BK_ID_MAX)

typedef struct chat_call chat_call;
/* What a hello does next, once its channels are subscribed (chat_after_subscribed). */
typedef void chat_next(chat_call *c);

typedef struct chat_batch chat_batch;  /* message_batch.c */

/* One WebSocket's state, from opening to closing (socket.c); Redis holds everything else. */
typedef struct chat_session {
    bk_chat *chat;
    bk_conn *conn;
    int refs;
    bk_role role;
    chat_hello hello;
    char id[BK_ID_MAX + 1];                  /* visitor id or agent name, once known */
    bk_list peer;                            /* on the list of its visitor's or agent's sessions */
    bk_list agent;                           /* an agent's: on chat->all_agents */
    bk_list held;                            /* what the bus brought during the hello (chat_held_add) */
    size_t held_count;
    bk_list subscribing;                     /* on chat->subscribing while its hello waits */
    chat_call *subscribing_call;             /* the hello waiting, and what it does next */
    chat_next *after_subscribed;
    bk_tracker *tracker;                     /* a visitor's trigger state, after hello */
    uint64_t opened_ms;                      /* loop time, for the hello deadline */
    bk_list waiting;                         /* on chat->waiting until hello is done or overdue */
    double tokens;                           /* the request rate's token bucket */
    uint64_t tokens_ms;
    uint64_t events_window_ms;               /* page views and events in this minute */
    int events_in_window;
    /* a visitor's slot: its site's tag, and the prefix its scripts run with (base/keys.h) */
    char tag[BK_KEYS_TAG_LEN + 1];
    char prefix[BK_KEYS_PREFIX_SIZE];
    /* the visitor's site, as its hello found it */
    char site[BK_ID_MAX + 1];                /* its id ("" with no site configured) */
    char identity_secret[65];
    int enforce_identity;
    int consent_required;
    char lang[36];                           /* the language its hello named (help/) */
    double help_tokens;                      /* the help searches' own token bucket (self_service.c) */
    uint64_t help_tokens_ms;
    unsigned batched;                        /* its messages in the batch not yet sent */
} chat_session;

struct bk_chat {
    bk_server *server;
    int scripts[SCRIPT_COUNT];
    bk_map *visitors;   /* visitor id -> its sessions here (chat_peers) */
    bk_map *agents;     /* agent name -> its sessions here, from when the name is known in the hello */
    bk_transcripts *transcripts;
    bk_email_replies *email_replies;
    bk_list all_agents; /* agent sessions, hello pending or done */
    uv_timer_t heartbeat;
    int bus_up, bus_was_up;
    bk_list subscribing; /* sessions whose hello waits for their channels (chat_after_subscribed) */
    char node[BK_ID_MAX + 1];   /* this process, in presence entries ("alice@n_…") */
    bk_list waiting;    /* sessions that have not said hello, oldest first */
    uv_timer_t hello_timer;
    uv_timer_t queue_timer;
    unsigned queue_ticks;  /* sweeps since the sites' hours were last read */
    int queue_marks_asked; /* the first sweep, which marks an old queue once, was sent */
    uint64_t bus_heard_ms; /* loop time this node last heard its own !ping on the bus */
    json_t *roster;        /* the agents online and their caps, [name, max|null, ...], as last read
                            * from the global slot: copied into each site slot (routing.c) */
    uint64_t roster_ms;    /* loop time of that read */
    bk_site_hours *hours;  /* the sites' opening hours, compiled */
    /* What the global slot knows and a site's scripts cannot read (base/keys.h), as this node
     * last read it: the agents online (every sweep), whether any site is configured and the
     * tags of the sites (with the sites' hours). */
    char global_prefix[BK_KEYS_PREFIX_SIZE];
    int sites_configured;
    char (*tags)[BK_KEYS_TAG_LEN + 1];  /* distinct, the tag of site "" first */
    size_t tag_count;
    chat_batch *batch;     /* the messages waiting to go to Redis together (message_batch.c) */
    char *frame;           /* the last frame made from a record (frames.c), reused */
    size_t frame_size;
};

/* One request waiting for Redis. */
struct chat_call {
    chat_session *session;
    json_t *req;
    bk_request_type type;
    char cmid[BK_CMID_MAX + 1];
    char conversation[BK_ID_MAX + 1];
    char since[48];
    char to[BK_ID_MAX + 1];  /* a transfer's agent, between its two steps */
    char team[BK_ID_MAX + 1];  /* a visitor's hello's team, stored once the visitor is known */
    char *hello_site, *hello_lang, *hello_device;  /* a visitor's hello, between its two steps */
    int hello_unsited;   /* ... of a visitor of before the key layout, in the slot of site "" (hello.c) */
    json_t *page;        /* hello's page, tracked once the visitor is known */
    const char *reply_type;  /* on_json_reply: the reply's type, and the member an array goes in */
    const char *reply_key;
    char **args;         /* a hello's script arguments, kept while it waits (chat_call_keep_args) */
    int arg_count;
    json_t *welcome;     /* a hello's welcome, built from its script's reply, sent once subscribed */
    char *profile;       /* ... and the visitor's profile, for the tracker made then */
};

/* The socket a message came from, as the bus names it ("n_…:42"): its ack already carries
 * what the push would, so the push skips it (the sender's other sockets still get it). */
#define SENDER_MAX (BK_ID_MAX + 24)

/* ---- session.c ----------------------------------------------------------------------- */

/* A session for a socket that has just opened, on no list yet; one reference, the socket's.
 * A call holds another while its request is in flight: the session outlives its socket until
 * the reply has come. */
chat_session *chat_session_new(bk_chat *chat, bk_conn *conn);
void chat_session_unref(chat_session *s);
/* "visitor" or "agent", as the scripts and the error messages name a role. */
const char *chat_role_name(bk_role role);

/* The sessions of one visitor or agent on this node (linked by chat_session.peer), or NULL
 * when it has none. Sessions join as soon as their id is known in their hello (hello.c), so
 * that their channel is subscribed before the script their welcome is built from. */
bk_list *chat_peers(bk_chat *chat, bk_role role, const char *id);
/* The first session of a visitor or agent here subscribes this node to its bus channel
 * (bk_store_bus_subscribe); the last one to leave unsubscribes it. */
void chat_peers_join(chat_session *s);
/* Returns 1 when s was the last session of its visitor or agent on this node. */
int chat_peers_leave(chat_session *s);
/* Likewise the channel of all agents, while this node has at least one agent socket. */
void chat_agents_join(chat_session *s);
void chat_agents_leave(chat_session *s);

/* Runs next(c) once Redis has confirmed the channels of c's session subscribed (its visitor's
 * or agent's, and all agents' for an agent): at once when they are. So what is published for
 * the session after that reaches this node. With the bus down after having been up, it runs at
 * once too: nothing can be confirmed then, and every socket here is told to resync when the
 * bus is back (bus.c). The call is freed with the session's socket if that closes first. */
void chat_after_subscribed(chat_call *c, chat_next *next);
/* The bus went down or up: the hellos that may go on, go on. */
void chat_subscriptions_settled(bk_chat *chat);
/* The channel of a recipient was confirmed: its sessions' hellos that may go on, go on (only
 * theirs: a reconnect confirms every channel of the node, one by one). */
void chat_subscription_confirmed(bk_chat *chat, chat_recipient to, const char *id);
/* The socket closed: the hello waiting for its channels is dropped. */
void chat_subscribing_cancel(chat_session *s);
/* Frees the lists of a map of peers (chat->visitors or chat->agents), then the map. */
void chat_peers_free(bk_map *map);

void chat_send_text(chat_session *s, const char *text, size_t len);
/* Sends obj and releases it (NULL: nothing). */
void chat_send_json(chat_session *s, json_t *obj);
/* Every error reply of the protocol goes through here, which counts it by code. */
void chat_send_error(chat_session *s, json_t *req, const char *code, const char *message);
void chat_send_ok(chat_session *s, json_t *req);
/* A script's refusal ("code message") becomes that error; no reply, or Redis unable to run the
 * script now, becomes unavailable (send it again). */
void chat_send_store_error(chat_session *s, json_t *req, const redisReply *reply);

/* A request in flight holds a reference to its session and its req until the reply. */
chat_call *chat_call_new(chat_session *s, const bk_request *request);
void chat_call_free(chat_call *c);
/* Copies a script's arguments into the call (c->args), for a script run later: 0, or -1. */
int chat_call_keep_args(chat_call *c, int argc, const char **argv);
/* Runs a script with the call as the reply's data; when Redis cannot be asked, answers
 * unavailable and frees the call at once. */
void chat_call_script(chat_call *c, int script, bk_store_reply_fn fn, int argc, const char **argv,
                      const size_t *lengths);
/* The socket closed while the request was in flight: its reply needs only freeing. */
int chat_call_orphaned(chat_call *c);
/* The prefix (ARGV[1]) of the slot a request runs in: a visitor's is its site's; an agent's that
 * of the conversation or visitor the request names (id; an id of no tag: the slot of site ""). */
const char *chat_slot_prefix(const chat_session *s, const char *id, char out[BK_KEYS_PREFIX_SIZE]);
/* The agents online, as the number a site's scripts are given ("3"). */
const char *chat_agents_online(const bk_chat *chat, char out[24]);
/* Sets the tags of the sites (from their ids) and whether any site is configured. */
void chat_tags_sync(bk_chat *chat, const char **sites, size_t count);
/* A reply function for the scripts that answer an integer: the sender hears ok. */
void chat_on_ok(redisReply *reply, void *data);
void chat_sender_name(const chat_session *s, char out[SENDER_MAX]);

/* What the bus brings for a session while its hello is in flight is held (up to a limit) and
 * sent after its welcome: nothing published between the script's snapshot and the welcome is
 * lost (what came before the snapshot too is harmless: clients know messages by id). */
void chat_held_add(chat_session *s, const char *text, size_t len);
void chat_held_flush(chat_session *s);

/* ---- hello.c ------------------------------------------------------------------------- */

void chat_visitor_hello(chat_session *s, const bk_request *request);
void chat_agent_hello(chat_session *s, const bk_request *request);

/* ---- requests.c ---------------------------------------------------------------------- */

/* A request's handler: it answers on s, at once or from the reply of the call it makes. The
 * request (and its strings) lives only until the handler returns: a call copies what it keeps. */
typedef void chat_handler(chat_session *s, const bk_request *request);

/* The handler of a type on a role's socket; NULL when proto admits no such request. */
chat_handler *chat_request_handler(bk_role role, bk_request_type type);

/* Runs the request's handler, or refuses it: hello twice, or anything else before hello. */
void chat_request_dispatch(chat_session *s, const bk_request *request);

/* ---- self_service.c: help articles for visitors, answered from the node's memory ------ */

void chat_help_search(chat_session *s, const bk_request *request);
void chat_help_article(chat_session *s, const bk_request *request);
void chat_help_feedback(chat_session *s, const bk_request *request);

/* ---- conversation.c ------------------------------------------------------------------ */

/* A message or a note (both BK_REQ_MESSAGE's handler and BK_REQ_NOTE's). */
void chat_message_send(chat_session *s, const bk_request *request);
void chat_signal_send(chat_session *s, const bk_request *request);
void chat_conversation_close(chat_session *s, const bk_request *request);
void chat_conversation_accept(chat_session *s, const bk_request *request);
void chat_conversation_rate(chat_session *s, const bk_request *request);
void chat_conversation_transfer(chat_session *s, const bk_request *request);
void chat_history_send(chat_session *s, const bk_request *request);

/* ---- message_batch.c ----------------------------------------------------------------- */

/* A message's answer from its batch: its element of the reply ({conversation, id, duplicate,
 * opened} or its refusal), the batch's error reply, or NULL (no reply: unavailable). Called
 * only while the call's socket is open; the batch frees the call afterwards. */
typedef void chat_message_stored_fn(chat_call *c, const redisReply *result);

chat_batch *chat_batch_new(bk_chat *chat);
/* Shutdown: sends what waits; from then on every message goes alone, at once. */
void chat_batch_close(chat_batch *batch);
void chat_batch_free(chat_batch *batch);
/* Adds a message (kind: "visitor", "agent" or "note", as lua/messages.lua names them) whose
 * call carries its cmid and conversation (a visitor's: a fresh id, should it open one); the
 * text is copied. The batch owns the call from here and answers it through fn exactly once. */
void chat_batch_add(chat_batch *batch, chat_call *c, const char *kind, const char *text, size_t text_len,
                    size_t preview_bytes, chat_message_stored_fn *fn);
/* Sends the waiting messages now, even with a batch in flight (nothing waits: nothing is sent). */
void chat_batch_flush(chat_batch *batch);

/* ---- routing.c ------------------------------------------------------------------------ */

/* Teams (lua/routing.lua): each slot's offers moved on and made, once a second (sweeps.c). */
void chat_route_sweep(bk_chat *chat, int64_t now_ms);
void chat_offer_decline(chat_session *s, const bk_request *request);
/* A visitor's hello named a team: their next chat goes there (if the site has it). */
void chat_visitor_team_store(chat_session *s, const char *team);

/* ---- tools.c ------------------------------------------------------------------------- */

void chat_visitor_identify(chat_session *s, const bk_request *request);
void chat_visitor_consent(chat_session *s, const bk_request *request);
void chat_message_leave(chat_session *s, const bk_request *request);
void chat_agent_status(chat_session *s, const bk_request *request);
void chat_visitor_invite(chat_session *s, const bk_request *request);
void chat_visitor_details(chat_session *s, const bk_request *request);
void chat_visitors_list(chat_session *s, const bk_request *request);
void chat_left_messages_list(chat_session *s, const bk_request *request);

/* ---- flow.c -------------------------------------------------------------------------- */

/* flow_start, flow_choose and flow_email (docs/flows.md): the site's flow read from the
 * global slot, then run in the visitor's (lua/flow.lua). */
void chat_flow_request(chat_session *s, const bk_request *request);

/* ---- socket.c ------------------------------------------------------------------------ */

/* The hello timer's callback (every second): closes the sockets that said no hello in time. */
void chat_hello_deadline(uv_timer_t *timer);

/* ---- bus.c --------------------------------------------------------------------------- */

/* The channel of a recipient in the slot of slot_prefix ("PREFIX{TAG}:", base/keys.h; id: the
 * visitor, agent or node; NULL for all agents, all nodes): 0, or -1 when it does not fit. The
 * one place this side names channels: a script publishes from inside its slot (SPUBLISH on a
 * Redis Cluster must), so a channel carries the tag of the slot it is published from. */
int chat_bus_channel(const char *slot_prefix, chat_recipient to, const char *id, char out[CHANNEL_MAX]);

/* Calls fn with every channel a recipient is reached on: a visitor's in its own slot (the tag
 * of its id); a node's own in the global slot (heartbeat.lua runs there); an agent's, every
 * agent's and every node's in each slot this node knows (the sites' tags, chat_tags_sync) and
 * the global one (!logout, !rules). 0, or the first nonzero fn returned. */
typedef int chat_channel_fn(bk_chat *chat, const char *channel);
int chat_bus_channels_each(bk_chat *chat, chat_recipient to, const char *id, chat_channel_fn *fn);
/* The same for the channels of one slot alone: a recipient reached in every slot, there. */
int chat_bus_slot_channels_each(bk_chat *chat, const char *slot_prefix, chat_recipient to, const char *id,
                                chat_channel_fn *fn);

/* The store's callbacks: a message on one of this node's channels, a channel confirmed, and a
 * change in the links to Redis. */
void chat_bus_received(const char *channel, size_t channel_len, const char *payload, size_t len, void *data);
void chat_bus_subscribed(const char *channel, void *data);
void chat_store_state_changed(int command_up, int bus_up, void *data);

/* ---- frames.c ------------------------------------------------------------------------ */

/* What clients get for a bus frame: text itself (len unchanged) when it is JSON already; for a
 * message's compact record (lua/prelude.lua, append()) its JSON frame, in a buffer of the
 * chat's that the next call reuses (len set); NULL for a record that cannot be read. */
const char *chat_frame_expand(bk_chat *chat, const char *text, size_t *len);

/* ---- sweeps.c ------------------------------------------------------------------------ */

/* Confirms to Redis that the visitors with a finished hello here still have a socket. */
void chat_visitors_seen(bk_chat *chat, int64_t now_ms);
/* The timers' callbacks: the presence heartbeat (HEARTBEAT_MS) and the queue sweep (1 s). */
void chat_heartbeat(uv_timer_t *timer);
void chat_queue_sweep(uv_timer_t *timer);
/* Reads the global state (agents online, the sites and so the slots) anew: each sweep, when
 * Redis comes back, and when this node changed a site. */
void chat_global_read(bk_chat *chat);

#endif
