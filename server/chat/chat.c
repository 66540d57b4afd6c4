/* chat.c - the module itself: its scripts, its timers and its hooks on the store, made and freed. */
#include "chat/chat_internal.h"

#include "base/ids.h"
#include "base/map.h"
#include "http/sites.h"
#include "lua/scripts.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static const char *const *const script_sources[SCRIPT_COUNT] = {
    BK_LUA(BK_LUA_VISITOR_HELLO), BK_LUA(BK_LUA_VISITOR_MESSAGE), BK_LUA(BK_LUA_AGENT_MESSAGE), BK_LUA(BK_LUA_ACCEPT),
    BK_LUA(BK_LUA_CLOSE), BK_LUA(BK_LUA_RATE), BK_LUA(BK_LUA_SIGNAL), BK_LUA(BK_LUA_HISTORY), BK_LUA(BK_LUA_AGENT_HELLO),
    BK_LUA(BK_LUA_IDENTIFY), BK_LUA(BK_LUA_LEAVE_MESSAGE), BK_LUA(BK_LUA_LEFT_MESSAGES), BK_LUA(BK_LUA_NOTE), BK_LUA(BK_LUA_TRANSFER),
    BK_LUA(BK_LUA_STATUS), BK_LUA(BK_LUA_HEARTBEAT), BK_LUA(BK_LUA_VISITOR_DETAILS), BK_LUA(BK_LUA_VISITORS), BK_LUA(BK_LUA_MANUAL_INVITE),
    BK_LUA(BK_LUA_CONSENT), BK_LUA(BK_LUA_QUEUE_SWEEP), BK_LUA(BK_LUA_SITES_HOURS),
    BK_LUA(BK_LUA_VISITORS_SEEN),
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
    bk_list_init(&chat->all_agents);
    bk_list_init(&chat->waiting);
    for (int i = 0; i < SCRIPT_COUNT; i++)
        chat->scripts[i] = bk_store_script_add(server->store, script_sources[i]);
    chat->transcripts = bk_transcripts_new(server);
    snprintf(chat->bus_channel, sizeof chat->bus_channel, "%sbus", server->config->prefix);
    bk_store_bus(server->store, chat->bus_channel, chat_bus_received, chat);
    bk_store_on_state(server->store, chat_store_state_changed, chat);
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
    chat_peers_free(chat->visitors);
    chat_peers_free(chat->agents);
    bk_transcripts_free(chat->transcripts);
    bk_site_hours_free(chat->hours);
    free(chat);
}
