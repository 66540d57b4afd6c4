/* chat.c - the module itself: its scripts, its timers and its hooks on the store, made and freed. */
#include "chat/chat_internal.h"

#include "base/ids.h"
#include "base/map.h"
#include "lua/embedded.h"
#include "sites/site_hours.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static const char *const script_sources[SCRIPT_COUNT] = {
    [SCRIPT_VISITOR_HELLO]   = bk_lua_visitor_hello,
    [SCRIPT_MESSAGES]        = bk_lua_messages,
    [SCRIPT_ACCEPT]          = bk_lua_accept,
    [SCRIPT_CLOSE]           = bk_lua_close,
    [SCRIPT_RATE]            = bk_lua_rate,
    [SCRIPT_SIGNAL]          = bk_lua_signal,
    [SCRIPT_HISTORY]         = bk_lua_history,
    [SCRIPT_AGENT_HELLO]     = bk_lua_agent_hello,
    [SCRIPT_IDENTIFY]        = bk_lua_identify,
    [SCRIPT_LEAVE_MESSAGE]   = bk_lua_leave_message,
    [SCRIPT_LEFT_MESSAGES]   = bk_lua_left_messages,
    [SCRIPT_TRANSFER]        = bk_lua_transfer,
    [SCRIPT_STATUS]          = bk_lua_status,
    [SCRIPT_HEARTBEAT]       = bk_lua_heartbeat,
    [SCRIPT_VISITOR_DETAILS] = bk_lua_visitor_details,
    [SCRIPT_VISITORS]        = bk_lua_visitors,
    [SCRIPT_MANUAL_INVITE]   = bk_lua_manual_invite,
    [SCRIPT_CONSENT]         = bk_lua_consent,
    [SCRIPT_QUEUE_SWEEP]     = bk_lua_queue_sweep,
    [SCRIPT_SITES_HOURS]     = bk_lua_sites_hours,
    [SCRIPT_VISITORS_SEEN]   = bk_lua_visitors_seen,
    [SCRIPT_AGENT_LISTS]     = bk_lua_agent_lists,
    [SCRIPT_GLOBAL_STATE]    = bk_lua_global_state,
    [SCRIPT_VISITOR_SITE]    = bk_lua_visitor_site,
    [SCRIPT_FLOW]            = bk_lua_flow,
    [SCRIPT_ROUTE_SWEEP]     = bk_lua_route_sweep,
    [SCRIPT_OFFER_DECLINE]   = bk_lua_offer_decline,
    [SCRIPT_VISITOR_TEAM]    = bk_lua_visitor_team,
};

bk_chat *bk_chat_new(bk_server *server)
{
    bk_chat *chat = calloc(1, sizeof *chat);
    if (!chat)
        return NULL;
    chat->server = server;
    chat->visitors = bk_map_new();
    chat->agents = bk_map_new();
    chat->hours = bk_site_hours_new();
    chat->transcripts = bk_transcripts_new(server);
    chat->email_replies = bk_email_replies_new(server);
    /* Every part made before anything refers to the chat (the store's callbacks, timers). */
    if (!chat->visitors || !chat->agents || !chat->hours || !chat->transcripts || !chat->email_replies) {
        bk_chat_free(chat);
        return NULL;
    }
    /* The batch's handles join the loop with it: made last of what can fail. */
    chat->batch = chat_batch_new(chat);
    if (!chat->batch) {
        bk_chat_free(chat);
        return NULL;
    }
    bk_list_init(&chat->all_agents);
    bk_list_init(&chat->waiting);
    bk_list_init(&chat->subscribing);
    for (int i = 0; i < SCRIPT_COUNT; i++)
        chat->scripts[i] = bk_store_script_add(server->store, script_sources[i]);
    bk_keys_global_prefix(server->config->prefix, chat->global_prefix);
    if (bk_id_generate("n_", chat->node, sizeof chat->node) != 0)
        snprintf(chat->node, sizeof chat->node, "n_%ld", (long)getpid());
    /* The nodes' channels, always: in the global slot here, in each site's slot as the sites
     * become known (chat_tags_sync, the site "" at once); the sockets' own come and go with
     * them (session.c). */
    char nodes[CHANNEL_MAX], node[CHANNEL_MAX];
    if (bk_store_bus(server->store, chat_bus_received, chat_bus_subscribed, chat) != 0 ||
        chat_bus_channel(chat->global_prefix, CHAT_TO_NODES, NULL, nodes) != 0 ||
        chat_bus_channel(chat->global_prefix, CHAT_TO_NODE, chat->node, node) != 0 ||
        bk_store_bus_subscribe(server->store, nodes) < 0 || bk_store_bus_subscribe(server->store, node) < 0) {
        bk_chat_free(chat);
        return NULL;
    }
    chat_tags_sync(chat, NULL, 0);
    bk_store_on_state(server->store, chat_store_state_changed, chat);
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
    chat_batch_close(chat->batch);
    uv_close((uv_handle_t *)&chat->heartbeat, NULL);
    uv_close((uv_handle_t *)&chat->hello_timer, NULL);
    uv_close((uv_handle_t *)&chat->queue_timer, NULL);
}

void bk_chat_sites_changed(bk_chat *chat)
{
    if (chat)
        chat_global_read(chat);
}

size_t bk_chat_slot_count(const bk_chat *chat)
{
    return chat->tag_count;
}

void bk_chat_slot_prefix(const bk_chat *chat, size_t i, char out[BK_KEYS_PREFIX_SIZE])
{
    bk_keys_site_prefix(chat->server->config->prefix, chat->tags[i], out);
}

void bk_chat_free(bk_chat *chat)
{
    if (!chat)
        return;
    chat_peers_free(chat->visitors);
    chat_peers_free(chat->agents);
    bk_transcripts_free(chat->transcripts);
    bk_email_replies_free(chat->email_replies);
    bk_site_hours_free(chat->hours);
    free(chat->tags);
    chat_batch_free(chat->batch);
    free(chat->frame);
    json_decref(chat->roster);
    free(chat);
}
