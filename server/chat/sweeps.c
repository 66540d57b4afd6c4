/* sweeps.c - the periodic work: the presence heartbeat, the visitors seen, the queue sweep and
 * the sites' hours. */
#include "chat/chat_internal.h"

#include "base/ids.h"
#include "base/map.h"
#include "base/keys.h"
#include "sites/site_hours.h"
#include "store/redis_reply.h"
#include "store/redis_shapes.h"

#include <stdio.h>
#include <stdlib.h>

/* A visitor no node has confirmed for this long has no socket open anywhere (two heartbeats
 * and some slack): the abandoned-chat limits count from then (lua/abandoned_close.lua). */
#define VISITOR_SEEN_TTL_MS 12000
#define SEEN_BATCH          1000              /* visitors per script call: none holds Redis long */

/* The VISITORS_SEEN script with PREFIX NOW VISITOR..., SEEN_BATCH visitors at a time, one slot
 * (the visitors whose ids carry one tag) at a time. */
typedef struct seen_batch {
    bk_chat *chat;
    const char **argv;
    int argc;
    char now[24];
    char prefix[BK_KEYS_PREFIX_SIZE];
    const char *tag;
} seen_batch;

static void seen_flush(seen_batch *b)
{
    /* Best effort: a visitor missed now is confirmed by the next heartbeat, well within the TTL. */
    if (b->argc > 2)
        bk_store_script(b->chat->server->store, b->chat->scripts[SCRIPT_VISITORS_SEEN], NULL, NULL, 0, b->argc,
                        b->argv, NULL);
    b->argc = 2;
}

static void seen_add(const char *visitor, void *peers, void *data)
{
    seen_batch *b = data;
    /* Only a socket that finished its hello counts: one still saying hello, or an erased
     * visitor's socket closing, must not put the visitor back. */
    int done = 0;
    bk_list_each(node, (bk_list *)peers)
        done |= bk_list_entry(node, chat_session, peer)->hello == HELLO_DONE;
    if (!done || !bk_keys_id_has_tag(visitor, b->tag))
        return;
    b->argv[b->argc++] = visitor;
    if (b->argc == 2 + SEEN_BATCH)
        seen_flush(b);
}

/* The visitors with a socket on this node still have one: the sweep closes only the
 * conversations of visitors nobody confirms (lua/abandoned_close.lua). */
void chat_visitors_seen(bk_chat *chat, int64_t now_ms)
{
    if (bk_map_size(chat->visitors) == 0)
        return;
    seen_batch b = { .chat = chat, .argc = 2, .argv = malloc((2 + SEEN_BATCH) * sizeof(const char *)) };
    if (!b.argv)
        return;
    snprintf(b.now, sizeof b.now, "%lld", (long long)now_ms);
    b.argv[0] = b.prefix;
    b.argv[1] = b.now;
    /* A visitor's id carries its site's tag (hello.c): one pass over the map per slot. */
    for (size_t i = 0; i < chat->tag_count; i++) {
        b.tag = chat->tags[i];
        bk_keys_site_prefix(chat->server->config->prefix, b.tag, b.prefix);
        bk_map_each(chat->visitors, seen_add, &b);
        seen_flush(&b);
    }
    free(b.argv);
}

/* The HEARTBEAT script's arguments: PREFIX EXPIRY NOW NODE AGENT... */
typedef struct heartbeat_args {
    const char **argv;
    int argc;
} heartbeat_args;

/* The agents map has a key per agent name with a session here (each name once); only an agent
 * with a session whose hello is done is online here: one still saying hello may be refused. */
static void agent_add(const char *agent, void *peers, void *data)
{
    heartbeat_args *args = data;
    bk_list_each(node, (bk_list *)peers) {
        if (bk_list_entry(node, chat_session, peer)->hello == HELLO_DONE) {
            args->argv[args->argc++] = agent;
            return;
        }
    }
}

/* Agents on this node stay counted as online while the node refreshes them (unless they
 * set themselves away); entries nobody refreshes expire. Its visitors are confirmed too. */
void chat_heartbeat(uv_timer_t *timer)
{
    bk_chat *chat = timer->data;
    /* Each heartbeat publishes "!ping" on this node's own channel: a bus link that stopped delivering (a reset the
     * socket never reported, a half-open connection) is found within three heartbeats. */
    uint64_t loop_now = uv_now(chat->server->loop);
    if (!chat->bus_up || !chat->bus_heard_ms)
        chat->bus_heard_ms = loop_now;
    else if (loop_now - chat->bus_heard_ms > 3 * HEARTBEAT_MS && bk_store_is_up(chat->server->store)) {
        chat->bus_heard_ms = loop_now;
        bk_store_bus_drop(chat->server->store, "this node's pings stopped coming back");
    }
    chat_visitors_seen(chat, bk_now_ms());
    heartbeat_args args = { .argv = malloc((4 + bk_map_size(chat->agents)) * sizeof(const char *)), .argc = 4 };
    if (!args.argv)
        return;
    char expiry[24], now[24];
    int64_t now_ms = bk_now_ms();
    snprintf(expiry, sizeof expiry, "%lld", (long long)(now_ms + PRESENCE_TTL_MS));
    snprintf(now, sizeof now, "%lld", (long long)now_ms);
    args.argv[0] = chat->global_prefix;
    args.argv[1] = expiry;
    args.argv[2] = now;
    args.argv[3] = chat->node;
    bk_map_each(chat->agents, agent_add, &args);
    bk_store_script(chat->server->store, chat->scripts[SCRIPT_HEARTBEAT], NULL, NULL, 0, args.argc, args.argv,
                    NULL);
    free(args.argv);
}

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

/* What the global slot knows that the sites' scripts are given: the agents online, the sites. */
static void on_global_state(redisReply *reply, void *data)
{
    bk_chat *chat = data;
    const char *text;
    size_t len;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_TEXT, &text, &len) != 0)
        return;
    json_t *state = json_loadb(text, len, 0, NULL);
    json_t *sites = json_object_get(state, "sites");
    size_t n = json_array_size(sites);
    const char **ids = malloc((n + 1) * sizeof *ids);
    if (ids && json_is_integer(json_object_get(state, "agents_online"))) {
        size_t count = 0;
        for (size_t i = 0; i < n; i++)
            if (json_is_string(json_array_get(sites, i)))
                ids[count++] = json_string_value(json_array_get(sites, i));
        chat->server->agents_online = json_integer_value(json_object_get(state, "agents_online"));
        chat_tags_sync(chat, ids, count);
        json_t *roster = json_object_get(state, "roster");
        if (json_is_array(roster)) {
            json_decref(chat->roster);
            chat->roster = json_incref(roster);
            chat->roster_ms = uv_now(chat->server->loop);
        }
    }
    free(ids);
    json_decref(state);
}

void chat_global_read(bk_chat *chat)
{
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)bk_now_ms());
    const char *argv[] = { chat->global_prefix, now, "1" };
    bk_store_script(chat->server->store, chat->scripts[SCRIPT_GLOBAL_STATE], on_global_state, chat, 0, 3, argv,
                    NULL);
}

/* Visitors waiting too long hear from us: an acknowledgement after auto-ack-seconds, an offer
 * to leave an email after offer-email-seconds. Conversations whose visitor left are closed
 * after abandoned-queued-minutes or idle-active-minutes. Every node sweeps; the script does
 * each once. */
void chat_queue_sweep(uv_timer_t *timer)
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
    char prefix[BK_KEYS_PREFIX_SIZE], online[24];
    const char *argv[] = { prefix, now, ack, offer, day, retention, queued, idle, ttl, closed,
                           chat->queue_marks_asked ? "0" : "1", chat_agents_online(chat, online) };
    /* One sweep per slot of sites this node knows of (read with the global state below). */
    int sent = 0;
    for (size_t i = 0; i < chat->tag_count; i++) {
        bk_keys_site_prefix(config->prefix, chat->tags[i], prefix);
        sent |= bk_store_script(chat->server->store, chat->scripts[SCRIPT_QUEUE_SWEEP], NULL, NULL, 0, 12, argv,
                                NULL) == 0;
    }
    if (sent)
        chat->queue_marks_asked = 1;
    chat_route_sweep(chat, now_ms);
    chat_global_read(chat);
    /* Hours change rarely; every node reads them all now and then, so its sweep knows which
     * sites are closed even when their visitors are on other nodes. */
    if (chat->queue_ticks++ % SITES_HOURS_EVERY == 0) {
        const char *hours_argv[] = { chat->global_prefix };
        bk_store_script(chat->server->store, chat->scripts[SCRIPT_SITES_HOURS], on_sites_hours, chat, 0, 1,
                        hours_argv, NULL);
    }
}
