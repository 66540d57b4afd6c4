/* triggers.c - the node's triggers: their scripts and timers, and how many agents are free. */
#include "triggers/triggers_internal.h"

#include "base/ids.h"
#include "store/redis_reply.h"
#include "store/redis_shapes.h"
#include "lua/embedded.h"

#include <stdio.h>
#include <stdlib.h>

#define AGENTS_REFRESH_MS 2000

static void on_agents_available(redisReply *reply, void *data)
{
    bk_triggers *triggers = data;
    long long available;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_INTEGER, &available) != 0)
        return;
    int before = triggers->agents_available;
    triggers->agents_available = (int)available;
    /* Rules that wait for an agent may fire now. */
    if (before == 0 && triggers->agents_available > 0)
        triggers_evaluate_all(triggers);
}

static void on_agents_timer(uv_timer_t *timer)
{
    bk_triggers *triggers = timer->data;
    if (!bk_store_is_up(triggers->server->store))
        return;
    if (!triggers->rules_loaded)
        triggers_rules_reload(triggers);
    char now[24], max_chats[12];
    snprintf(now, sizeof now, "%lld", (long long)bk_now_ms());
    snprintf(max_chats, sizeof max_chats, "%d", triggers->server->config->agent_max_chats);
    const char *argv[] = { triggers->server->config->prefix, now, max_chats };
    bk_store_script(triggers->server->store, triggers->scripts[SCRIPT_AGENTS_AVAILABLE],
                    on_agents_available, triggers, 0, 3, argv, NULL);
}

static void on_stats_timer(uv_timer_t *timer)
{
    bk_triggers *triggers = timer->data;
    if (triggers->counters)
        triggers_counters_flush(triggers);
}

bk_triggers *bk_triggers_new(bk_server *server)
{
    bk_triggers *triggers = calloc(1, sizeof *triggers);
    if (!triggers)
        return NULL;
    const char *const sources[SCRIPT_COUNT] = {
        [SCRIPT_TRACK] = bk_lua_track,
        [SCRIPT_INVITE] = bk_lua_invite,
        [SCRIPT_INVITE_REPLY] = bk_lua_invite_reply,
        [SCRIPT_AGENTS_AVAILABLE] = bk_lua_agents_available,
        [SCRIPT_STATS_ADD] = bk_lua_stats_add,
    };
    triggers->server = server;
    for (int i = 0; i < SCRIPT_COUNT; i++)
        triggers->scripts[i] = bk_store_script_add(server->store, sources[i]);
    triggers->settings.daily_budget = server->config->invite_daily_budget;
    triggers->settings.dismiss_quiet_seconds = (int64_t)server->config->invite_quiet_minutes * 60;
    bk_list_init(&triggers->trackers);
    triggers->context = bk_trigger_context_new();
    triggers->track_batch = triggers_track_batch_new(triggers);
    if (!triggers->track_batch) {
        bk_trigger_context_free(triggers->context);
        free(triggers);
        return NULL;
    }
    uv_timer_init(server->loop, &triggers->due_timer);
    triggers->due_timer.data = triggers;
    uv_timer_init(server->loop, &triggers->agents_timer);
    triggers->agents_timer.data = triggers;
    uv_timer_start(&triggers->agents_timer, on_agents_timer, 50, AGENTS_REFRESH_MS);
    uint64_t flush_ms = (uint64_t)server->config->stats_flush_seconds * 1000;
    uv_timer_init(server->loop, &triggers->stats_timer);
    triggers->stats_timer.data = triggers;
    uv_timer_start(&triggers->stats_timer, on_stats_timer, flush_ms, flush_ms);
    return triggers;
}

void bk_triggers_shutdown(bk_triggers *triggers)
{
    if (triggers->counters)
        triggers_counters_flush(triggers);  /* Redis closes after this: the last counts still get out */
    triggers_track_batch_close(triggers->track_batch);
    uv_close((uv_handle_t *)&triggers->due_timer, NULL);
    uv_close((uv_handle_t *)&triggers->agents_timer, NULL);
    uv_close((uv_handle_t *)&triggers->stats_timer, NULL);
}

void bk_triggers_free(bk_triggers *triggers)
{
    if (!triggers)
        return;
    bk_rule_set_free(triggers->rules);
    free(triggers->counters);
    free(triggers->heap);
    bk_trigger_context_free(triggers->context);
    triggers_track_batch_free(triggers->track_batch);
    free(triggers);
}
