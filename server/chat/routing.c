/* routing.c - teams (docs/teams.md): the sweep that moves offers on and makes new ones, an
 * agent's offer_decline, a visitor's chosen team. The decisions are lua/routing.lua's, each one
 * atomic in the conversation's slot; this file only feeds them what the global slot knows. */
#include "chat/chat_internal.h"

#include "base/ids.h"
#include "base/keys.h"

#include <stdio.h>
#include <stdlib.h>

/* A roster older than this is not copied into the slots (the global read has been failing):
 * the slots' copy then runs out by itself (3 s, route_sweep.lua), as presence would. */
#define ROSTER_FRESH_MS 3000

/* Every node sweeps every slot of sites each second, as the queue sweep does: route_sweep.lua
 * refreshes the slot's roster from this node's read of the global slot, withdraws the offers
 * past their deadline or whose agent left, and offers what waits. */
void chat_route_sweep(bk_chat *chat, int64_t now_ms)
{
    const bk_config *config = chat->server->config;
    int fresh = chat->roster && uv_now(chat->server->loop) - chat->roster_ms <= ROSTER_FRESH_MS;
    size_t pairs = fresh ? json_array_size(chat->roster) / 2 : 0;
    const char **argv = malloc((4 + 2 * pairs) * sizeof *argv);
    char (*caps)[12] = malloc((pairs ? pairs : 1) * sizeof *caps);
    if (!argv || !caps) {
        free(argv);
        free(caps);
        return;
    }
    char prefix[BK_KEYS_PREFIX_SIZE], now[24], default_cap[12];
    snprintf(now, sizeof now, "%lld", (long long)now_ms);
    snprintf(default_cap, sizeof default_cap, "%d", config->agent_max_chats);
    argv[0] = prefix;
    argv[1] = now;
    argv[2] = default_cap;
    argv[3] = fresh ? "1" : "0";
    int argc = 4;
    for (size_t i = 0; i < pairs; i++) {
        const char *name = json_string_value(json_array_get(chat->roster, 2 * i));
        json_t *cap = json_array_get(chat->roster, 2 * i + 1);
        if (!name)
            continue;
        caps[i][0] = '\0';
        if (json_is_integer(cap))
            snprintf(caps[i], sizeof caps[i], "%lld", (long long)json_integer_value(cap));
        argv[argc++] = name;
        argv[argc++] = caps[i];
    }
    for (size_t i = 0; i < chat->tag_count; i++) {
        bk_keys_site_prefix(config->prefix, chat->tags[i], prefix);
        bk_store_script(chat->server->store, chat->scripts[SCRIPT_ROUTE_SWEEP], NULL, NULL, 0, argc, argv, NULL);
    }
    free(argv);
    free(caps);
}

void chat_offer_decline(chat_session *s, const bk_request *request)
{
    chat_call *c = chat_call_new(s, request);
    if (!c)
        return;
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)bk_now_ms());
    char slot[BK_KEYS_PREFIX_SIZE];
    const char *argv[] = { chat_slot_prefix(s, request->conversation, slot), request->conversation, s->id, now };
    chat_call_script(c, SCRIPT_OFFER_DECLINE, chat_on_ok, 4, argv, NULL);
}

/* Sent before the welcome, on the link the visitor's scripts use: whatever the visitor sends
 * after the welcome (their first message) finds the team stored. Best effort: a team the site
 * does not have is ignored by the script (the site's default team takes the chat). */
void chat_visitor_team_store(chat_session *s, const char *team)
{
    const char *argv[] = { s->prefix, s->id, s->site, team };
    bk_store_script(s->chat->server->store, s->chat->scripts[SCRIPT_VISITOR_TEAM], NULL, NULL, 0, 4, argv, NULL);
}
