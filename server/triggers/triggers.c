/* triggers.c - the node's triggers: their scripts and timers, and how many agents are free. */
#include "triggers/triggers_internal.h"

#include "base/ids.h"
#include "base/keys.h"
#include "store/redis_reply.h"
#include "store/redis_shapes.h"
#include "lua/embedded.h"

#include <stdio.h>
#include <stdlib.h>

#define AGENTS_REFRESH_MS 2000

static void agents_available_set(bk_triggers *triggers, long long available)
{
    int before = triggers->agents_available;
    triggers->agents_available = (int)available;
    /* Rules that wait for an agent may fire now. */
    if (before == 0 && triggers->agents_available > 0)
        triggers_evaluate_all(triggers);
}

/* The agents online (the global slot) and their chats in every site slot, added up: those
 * below agent-max-chats are available. */
typedef struct agents_count {
    bk_triggers *triggers;
    json_t *names;
    long long *chats;   /* per name, over the slots that answered */
    size_t waiting;
    int failed;
} agents_count;

static void agents_count_done(agents_count *a)
{
    if (--a->waiting > 0)
        return;
    if (!a->failed) {
        long long available = 0;
        for (size_t i = 0; i < json_array_size(a->names); i++)
            available += a->chats[i] < a->triggers->server->config->agent_max_chats;
        agents_available_set(a->triggers, available);
    }
    json_decref(a->names);
    free(a->chats);
    free(a);
}

static void on_agents_busy(redisReply *reply, void *data)
{
    agents_count *a = data;
    const redisReply *counts;
    size_t at, i = 0;
    long long chats;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_COUNTS, &counts, &at) != 0 ||
        counts->elements != json_array_size(a->names))
        a->failed = 1;
    else
        while (bk_redis_reply_unpack_next(counts, &at, BK_SHAPE_COUNT, &chats) == 0)
            a->chats[i++] += chats;
    agents_count_done(a);
}

static void on_agents_online(redisReply *reply, void *data)
{
    bk_triggers *triggers = data;
    bk_server *server = triggers->server;
    const char *text;
    size_t len;
    json_t *names = bk_redis_reply_unpack(reply, BK_SHAPE_TEXT, &text, &len) == 0 ? json_loadb(text, len, 0, NULL)
                                                                                  : NULL;
    size_t n = json_array_size(names);
    if (!json_is_array(names) || n == 0) {
        if (json_is_array(names))
            agents_available_set(triggers, 0);
        json_decref(names);
        return;
    }
    agents_count *a = calloc(1, sizeof *a);
    const char **argv = malloc((n + 1) * sizeof *argv);
    if (!a || !argv || !(a->chats = calloc(n, sizeof *a->chats))) {
        free(a ? a->chats : NULL);
        free(a);
        free(argv);
        json_decref(names);
        return;
    }
    a->triggers = triggers;
    a->names = names;
    a->waiting = server->slot_count + 1;  /* one more, dropped below: none is done before the last is asked */
    char prefix[BK_KEYS_PREFIX_SIZE];
    argv[0] = prefix;
    for (size_t i = 0; i < n; i++)
        argv[i + 1] = json_string_value(json_array_get(names, i)) ? json_string_value(json_array_get(names, i)) : "";
    for (size_t i = 0; i < server->slot_count; i++) {
        bk_keys_site_prefix(server->config->prefix, server->slot_tags[i], prefix);
        if (bk_store_script(server->store, triggers->scripts[SCRIPT_AGENTS_BUSY], on_agents_busy, a, 0, (int)n + 1,
                            argv, NULL) != 0) {
            a->failed = 1;
            a->waiting--;
        }
    }
    free(argv);
    agents_count_done(a);
}

static void on_agents_timer(uv_timer_t *timer)
{
    bk_triggers *triggers = timer->data;
    if (!bk_store_is_up(triggers->server->store))
        return;
    if (!triggers->rules_loaded)
        triggers_rules_reload(triggers);
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)bk_now_ms());
    char prefix[BK_KEYS_PREFIX_SIZE];
    bk_keys_global_prefix(triggers->server->config->prefix, prefix);
    const char *argv[] = { prefix, now };
    bk_store_script(triggers->server->store, triggers->scripts[SCRIPT_AGENTS_AVAILABLE],
                    on_agents_online, triggers, 0, 2, argv, NULL);
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
        [SCRIPT_AGENTS_BUSY] = bk_lua_agents_busy,
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
