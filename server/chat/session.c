/* session.c - a socket's session, what is sent to it, and its requests in flight. */
#include "chat/chat_internal.h"

#include "protocol/errors.h"

#include "base/log.h"
#include "base/map.h"
#include "store/store.h"
#include "base/metrics.h"
#include "store/redis_reply.h"
#include "store/redis_shapes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PENDING_FRAMES_MAX  1000

/* A broadcast held for an agent whose hello is under way (chat_held_add). */
typedef struct frame {
    bk_list link;  /* on chat_session.held */
    size_t len;
    char text[];
} frame;

/* ---- sessions ------------------------------------------------------------------------ */

chat_session *chat_session_new(bk_chat *chat, bk_conn *conn)
{
    chat_session *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->chat = chat;
    s->conn = conn;
    s->refs = 1;
    s->role = bk_conn_role(conn);
    bk_list_init(&s->peer);
    bk_list_init(&s->agent);
    bk_list_init(&s->waiting);
    bk_list_init(&s->held);
    bk_list_init(&s->subscribing);
    bk_conn_ref(conn);
    return s;
}

void chat_session_unref(chat_session *s)
{
    if (--s->refs > 0)
        return;
    bk_list_each(node, &s->held)
        free(bk_list_entry(node, frame, link));
    bk_conn_unref(s->conn);
    free(s);
}

const char *chat_role_name(bk_role role)
{
    return role == BK_ROLE_AGENT ? "agent" : "visitor";
}

/* ---- peers: the sessions of one visitor or agent on this node ------------------------ */

static bk_map *peers_of(bk_chat *chat, bk_role role)
{
    return role == BK_ROLE_AGENT ? chat->agents : chat->visitors;
}

/* s's visitor or agent, as a recipient of the bus. */
static chat_recipient session_recipient(const chat_session *s)
{
    return s->role == BK_ROLE_AGENT ? CHAT_TO_AGENT : CHAT_TO_VISITOR;
}

static int channel_subscribe(bk_chat *chat, const char *channel)
{
    if (bk_store_bus_subscribe(chat->server->store, channel) < 0)
        bk_warn("bus: could not subscribe to %s (out of memory)", channel);
    return 0;
}

static int channel_unsubscribe(bk_chat *chat, const char *channel)
{
    bk_store_bus_unsubscribe(chat->server->store, channel);
    return 0;
}

/* -1 (stops chat_bus_channels_each) at the first channel not confirmed yet. */
static int channel_unconfirmed(bk_chat *chat, const char *channel)
{
    return bk_store_bus_subscribed(chat->server->store, channel) ? 0 : -1;
}

bk_list *chat_peers(bk_chat *chat, bk_role role, const char *id)
{
    return bk_map_get(peers_of(chat, role), id);
}

/* The list's head is made with its first session and freed with its last: the map holds
 * only ids that have a session here, and a lookup finds them at once. */
void chat_peers_join(chat_session *s)
{
    bk_map *map = peers_of(s->chat, s->role);
    bk_list *peers = bk_map_get(map, s->id);
    if (!peers) {
        peers = malloc(sizeof *peers);
        if (!peers)
            return;
        bk_list_init(peers);
        if (bk_map_set(map, s->id, peers) != 0) {
            free(peers);
            return;
        }
        chat_bus_channels_each(s->chat, session_recipient(s), s->id, channel_subscribe);
    }
    bk_list_push_front(peers, &s->peer);
}

int chat_peers_leave(chat_session *s)
{
    if (!bk_list_linked(&s->peer))
        return 0;
    bk_list_remove(&s->peer);
    bk_map *map = peers_of(s->chat, s->role);
    bk_list *peers = bk_map_get(map, s->id);
    if (!peers || !bk_list_empty(peers))
        return 0;
    free(bk_map_remove(map, s->id));
    chat_bus_channels_each(s->chat, session_recipient(s), s->id, channel_unsubscribe);
    return 1;
}

void chat_agents_join(chat_session *s)
{
    bk_chat *chat = s->chat;
    if (bk_list_empty(&chat->all_agents))
        chat_bus_channels_each(chat, CHAT_TO_AGENTS, NULL, channel_subscribe);
    bk_list_push_front(&chat->all_agents, &s->agent);
}

void chat_agents_leave(chat_session *s)
{
    bk_chat *chat = s->chat;
    if (!bk_list_linked(&s->agent))
        return;
    bk_list_remove(&s->agent);
    if (bk_list_empty(&chat->all_agents))
        chat_bus_channels_each(chat, CHAT_TO_AGENTS, NULL, channel_unsubscribe);
}

/* ---- a hello waiting for its channels ---------------------------------------------------- */

static int session_subscribed(const chat_session *s)
{
    bk_chat *chat = s->chat;
    if (!chat->bus_up && chat->bus_was_up)
        return 1;  /* see chat_after_subscribed */
    if (chat_bus_channels_each(chat, session_recipient(s), s->id, channel_unconfirmed) != 0)
        return 0;
    return s->role != BK_ROLE_AGENT || chat_bus_channels_each(chat, CHAT_TO_AGENTS, NULL, channel_unconfirmed) == 0;
}

void chat_after_subscribed(chat_call *c, chat_next *next)
{
    chat_session *s = c->session;
    if (session_subscribed(s)) {
        next(c);
        return;
    }
    s->subscribing_call = c;
    s->after_subscribed = next;
    bk_list_push_back(&s->chat->subscribing, &s->subscribing);
}

/* Runs the hellos on ready (taken off chat->subscribing by the caller). Taken off first, then
 * run: what runs may send, close, or make others wait anew. */
static void ready_run(bk_list *ready)
{
    bk_list *node;
    while ((node = bk_list_first(ready))) {
        chat_session *s = bk_list_entry(node, chat_session, subscribing);
        bk_list_remove(node);
        chat_call *c = s->subscribing_call;
        s->subscribing_call = NULL;
        if (c)
            s->after_subscribed(c);
    }
}

static void ready_take(chat_session *s, bk_list *ready)
{
    if (s->subscribing_call && session_subscribed(s)) {
        bk_list_remove(&s->subscribing);
        bk_list_push_back(ready, &s->subscribing);
    }
}

void chat_subscriptions_settled(bk_chat *chat)
{
    bk_list ready;
    bk_list_init(&ready);
    bk_list_each(node, &chat->subscribing)
        ready_take(bk_list_entry(node, chat_session, subscribing), &ready);
    ready_run(&ready);
}

void chat_subscription_confirmed(bk_chat *chat, chat_recipient to, const char *id)
{
    bk_list ready;
    bk_list_init(&ready);
    if (to == CHAT_TO_AGENTS) {
        bk_list_each(node, &chat->all_agents)
            ready_take(bk_list_entry(node, chat_session, agent), &ready);
    } else if (to == CHAT_TO_VISITOR || to == CHAT_TO_AGENT) {
        bk_list *peers = chat_peers(chat, to == CHAT_TO_AGENT ? BK_ROLE_AGENT : BK_ROLE_VISITOR, id);
        if (peers)
            bk_list_each(node, peers)
                ready_take(bk_list_entry(node, chat_session, peer), &ready);
    }
    ready_run(&ready);
}

void chat_subscribing_cancel(chat_session *s)
{
    chat_call *c = s->subscribing_call;
    bk_list_remove(&s->subscribing);
    s->subscribing_call = NULL;
    if (c)
        chat_call_free(c);
}

static void peers_free(const char *id, void *peers, void *data)
{
    (void)id;
    (void)data;
    free(peers);
}

void chat_peers_free(bk_map *map)
{
    if (!map)
        return;
    bk_map_each(map, peers_free, NULL);
    bk_map_free(map);
}

/* ---- sending ------------------------------------------------------------------------- */

void chat_send_text(chat_session *s, const char *text, size_t len)
{
    bk_conn_send(s->conn, text, len);
}

/* Sends obj and releases it. */
void chat_send_json(chat_session *s, json_t *obj)
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

void chat_send_error(chat_session *s, json_t *req, const char *code, const char *message)
{
    chat_send_json(s, bk_error_frame(req, code, message));  /* counted there */
}

void chat_send_ok(chat_session *s, json_t *req)
{
    chat_send_json(s, bk_reply_new("ok", req));
}

/* A script's refusal keeps its code; storage trouble (no reply, Redis's own errors, an odd
 * reply) is unavailable, worded for a request that may have run: send it again. */
void chat_send_store_error(chat_session *s, json_t *req, const redisReply *reply)
{
    bk_error err;
    bk_error_from_store(&err, reply,
                        BK_REFUSALS(BK_ERR_NOT_FOUND, BK_ERR_FORBIDDEN, BK_ERR_ALREADY_TAKEN, BK_ERR_WRONG_STATE,
                                    BK_ERR_UNAUTHORIZED, BK_ERR_INVALID_TOKEN, BK_ERR_CONSENT_REQUIRED,
                                    BK_ERR_BAD_REQUEST),
                        BK_STORAGE_WRITE);
    chat_send_error(s, req, err.code, err.message);
}

/* ---- calls: a request in flight ------------------------------------------------------ */

chat_call *chat_call_new(chat_session *s, const bk_request *request)
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

void chat_call_free(chat_call *c)
{
    free(c->hello_site);
    free(c->hello_lang);
    free(c->hello_device);
    for (int i = 0; i < c->arg_count; i++)
        free(c->args[i]);
    free(c->args);
    json_decref(c->welcome);
    free(c->profile);
    json_decref(c->page);
    if (c->req)
        json_decref(c->req);
    chat_session_unref(c->session);
    free(c);
}

int chat_call_keep_args(chat_call *c, int argc, const char **argv)
{
    c->args = calloc((size_t)argc, sizeof *c->args);
    if (!c->args)
        return -1;
    for (c->arg_count = 0; c->arg_count < argc; c->arg_count++)
        if (!(c->args[c->arg_count] = strdup(argv[c->arg_count])))
            return -1;
    return 0;
}

/* Runs a script for a call; answers "unavailable" at once when Redis is not reachable. */
void chat_call_script(chat_call *c, int script, bk_store_reply_fn fn, int argc, const char **argv,
                      const size_t *lengths)
{
    bk_chat *chat = c->session->chat;
    if (bk_store_script(chat->server->store, chat->scripts[script], fn, c, 0, argc, argv, lengths) != 0) {
        chat_send_store_error(c->session, c->req, NULL);
        chat_call_free(c);
    }
}

const char *chat_slot_prefix(const chat_session *s, const char *id, char out[BK_KEYS_PREFIX_SIZE])
{
    if (s->role == BK_ROLE_VISITOR)
        return s->prefix;
    bk_keys_prefix_of_id(s->chat->server->config->prefix, id ? id : "", out);
    return out;
}

const char *chat_agents_online(const bk_chat *chat, char out[24])
{
    snprintf(out, 24, "%lld", chat->server->agents_online);
    return out;
}

/* A slot's channels for this node: every node's always, every agent's while it holds an agent
 * socket, each agent's it holds (chat_bus_channels_each's rule, for the one slot). */
typedef struct slot_channels {
    bk_chat *chat;
    const char *slot;
    chat_channel_fn *fn;
} slot_channels;

static void agent_slot_channel(const char *agent, void *peers, void *data)
{
    (void)peers;
    slot_channels *sc = data;
    chat_bus_slot_channels_each(sc->chat, sc->slot, CHAT_TO_AGENT, agent, sc->fn);
}

static void slot_channels_each(bk_chat *chat, const char *tag, chat_channel_fn *fn)
{
    char slot[BK_KEYS_PREFIX_SIZE];
    bk_keys_site_prefix(chat->server->config->prefix, tag, slot);
    chat_bus_slot_channels_each(chat, slot, CHAT_TO_NODES, NULL, fn);
    if (!bk_list_empty(&chat->all_agents))
        chat_bus_slot_channels_each(chat, slot, CHAT_TO_AGENTS, NULL, fn);
    slot_channels sc = { chat, slot, fn };
    bk_map_each(chat->agents, agent_slot_channel, &sc);
}

static int tag_listed(char (*tags)[BK_KEYS_TAG_LEN + 1], size_t count, const char *tag)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(tags[i], tag) == 0)
            return 1;
    return 0;
}

void chat_tags_sync(bk_chat *chat, const char **sites, size_t count)
{
    char (*tags)[BK_KEYS_TAG_LEN + 1] = malloc((count + 1) * sizeof *tags);
    if (!tags)
        return;
    size_t n = 0;
    bk_keys_site_tag("", tags[n++]);
    for (size_t i = 0; i < count; i++) {
        char tag[BK_KEYS_TAG_LEN + 1];
        bk_keys_site_tag(sites[i], tag);
        if (!tag_listed(tags, n, tag))
            memcpy(tags[n++], tag, sizeof tag);
    }
    /* The slots that came and went: their channels subscribed, or ended (a site removed). */
    for (size_t i = 0; i < n; i++)
        if (!tag_listed(chat->tags, chat->tag_count, tags[i]))
            slot_channels_each(chat, tags[i], channel_subscribe);
    for (size_t i = 0; i < chat->tag_count; i++)
        if (!tag_listed(tags, n, chat->tags[i]))
            slot_channels_each(chat, chat->tags[i], channel_unsubscribe);
    free(chat->tags);
    chat->tags = tags;
    chat->tag_count = n;
    chat->server->slot_tags = (const char (*)[BK_KEYS_TAG_LEN + 1])tags;
    chat->server->slot_count = n;
    chat->sites_configured = count > 0;
}

/* A reply for a socket that has gone needs nothing more than freeing. */
int chat_call_orphaned(chat_call *c)
{
    return !bk_conn_is_open(c->session->conn);
}

void chat_sender_name(const chat_session *s, char out[SENDER_MAX])
{
    snprintf(out, SENDER_MAX, "%s:%lu", s->chat->node, bk_conn_id(s->conn));
}

/* A script that answers with an integer: the sender hears ok (a typing signal without req,
 * nothing). */
void chat_on_ok(redisReply *reply, void *data)
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

/* ---- held frames --------------------------------------------------------------------- */

void chat_held_add(chat_session *s, const char *text, size_t len)
{
    if (s->held_count >= PENDING_FRAMES_MAX)
        return;
    frame *f = malloc(sizeof *f + len);
    if (!f)
        return;
    f->len = len;
    memcpy(f->text, text, len);
    bk_list_push_back(&s->held, &f->link);
    s->held_count++;
}

void chat_held_flush(chat_session *s)
{
    bk_list_each(node, &s->held) {
        frame *f = bk_list_entry(node, frame, link);
        bk_list_remove(node);
        chat_send_text(s, f->text, f->len);
        free(f);
    }
    s->held_count = 0;
}
