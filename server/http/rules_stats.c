/* rules_stats.c - GET /api/stats/rules: each rule's daily counters (evaluated, matched, shown,
 * accepted, ...) and their totals, over at most 92 days. */
#include "http/rules_stats.h"

#include "http/reply.h"
#include "http/request.h"
#include "base/ids.h"
#include "chat/chat.h"
#include "store/redis_reply.h"
#include "store/redis_shapes.h"
#include "lua/embedded.h"
#include "stats/service_stats.h"
#include "triggers/triggers.h"

#include <beckon/protocol.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATS_DAYS_MAX 92
#define DAY_MS         86400000LL

struct bk_rules_stats {
    bk_server *server;
    int script;
};

/* One request waiting for Redis, one call per site slot (base/keys.h); body is the answer so
 * far ({"from", "to"}), rules the counters of the slots that answered, added up. */
typedef struct stats_call {
    bk_http *request;
    json_t *body;
    json_t *rules;
    size_t waiting;
    int failed;
} stats_call;

static void stats_call_free(stats_call *p)
{
    json_decref(p->body);
    json_decref(p->rules);
    free(p);
}

static void stats_slot_done(stats_call *p)
{
    if (--p->waiting > 0)
        return;
    if (!p->failed) {
        json_t *body = p->body;
        p->body = NULL;
        json_object_set(body, "rules", p->rules);
        bk_api_reply_json(p->request, 200, body);
    }
    stats_call_free(p);
}

static void on_stats(redisReply *reply, void *data)
{
    stats_call *p = data;
    const redisReply *days;
    size_t at;
    if (p->failed || bk_redis_reply_unpack(reply, BK_SHAPE_STATS, &days, &at) != 0) {
        if (!p->failed)
            bk_api_reply_store_error(p->request, reply, NULL, BK_STORAGE_READ);
        p->failed = 1;
        stats_slot_done(p);
        return;
    }
    /* {"day": {"rule:counter": n}} -> {"rule": {"days": {"YYYY-MM-DD": {...}}, "totals": {...}}} */
    json_t *rules = p->rules;
    const char *day, *counters_json;
    size_t day_len;
    while (bk_redis_reply_unpack_next(days, &at, BK_SHAPE_STATS_DAY, &day, &day_len, &counters_json) == 0) {
        if (day_len != 8)
            continue;  /* the script echoes the YYYYMMDD it was asked for: anything else is not a day */
        char date[11];
        snprintf(date, sizeof date, "%.4s-%.2s-%.2s", day, day + 4, day + 6);
        json_t *counters = json_loads(counters_json, 0, NULL);
        const char *key;
        json_t *value;
        json_object_foreach(counters, key, value) {
            const char *colon = strrchr(key, ':');
            if (!colon || colon - key > BK_ID_MAX)
                continue;
            char rule[BK_ID_MAX + 1];
            snprintf(rule, sizeof rule, "%.*s", (int)(colon - key), key);
            json_t *entry = json_object_get(rules, rule);
            if (!entry) {
                entry = json_pack("{s:{}, s:{}}", "days", "totals");
                json_object_set_new(rules, rule, entry);
            }
            json_t *days = json_object_get(entry, "days");
            json_t *on_day = json_object_get(days, date);
            if (!on_day) {
                on_day = json_object();
                json_object_set_new(days, date, on_day);
            }
            json_int_t n = (json_int_t)json_number_value(value);
            json_object_set_new(on_day, colon + 1,
                                json_integer(json_integer_value(json_object_get(on_day, colon + 1)) + n));
            json_t *totals = json_object_get(entry, "totals");
            json_object_set_new(totals, colon + 1,
                                json_integer(json_integer_value(json_object_get(totals, colon + 1)) + n));
        }
        json_decref(counters);
    }
    stats_slot_done(p);
}

void bk_rules_stats_handle(bk_rules_stats *stats, bk_http *request)
{
    char from_text[16], to_text[16];
    bk_api_request_query(request, "from", from_text, sizeof from_text);
    bk_api_request_query(request, "to", to_text, sizeof to_text);
    int64_t now = bk_now_ms(), from, to;
    if (!to_text[0])
        to = now - now % DAY_MS;
    else if (bk_service_date_parse(to_text, &to) != 0) {
        bk_api_reply_error(request, 400, BK_ERR_BAD_REQUEST, "to: expected YYYY-MM-DD");
        return;
    }
    if (!from_text[0])
        from = to - 6 * DAY_MS;
    else if (bk_service_date_parse(from_text, &from) != 0) {
        bk_api_reply_error(request, 400, BK_ERR_BAD_REQUEST, "from: expected YYYY-MM-DD");
        return;
    }
    int64_t days = (to - from) / DAY_MS + 1;
    if (days < 1 || days > STATS_DAYS_MAX) {
        bk_api_reply_error(request, 400, BK_ERR_BAD_REQUEST, "from..to: 1 to 92 days, from not after to");
        return;
    }
    stats_call *p = calloc(1, sizeof *p);
    if (!p) {
        bk_api_reply_error(request, 500, BK_ERR_INTERNAL, "out of memory");
        return;
    }
    p->request = request;
    char from_date[11], to_date[11];
    bk_service_date_format(from, from_date);
    bk_service_date_format(to, to_date);
    p->body = json_pack("{s:s, s:s}", "from", from_date, "to", to_date);
    p->rules = json_object();
    const char *argv[STATS_DAYS_MAX + 1];
    char day_strings[STATS_DAYS_MAX][9];
    char prefix[BK_KEYS_PREFIX_SIZE];
    argv[0] = prefix;
    for (int64_t i = 0; i < days; i++) {
        bk_day_string(from + i * DAY_MS, day_strings[i]);
        argv[i + 1] = day_strings[i];
    }
    /* Each site's counters are in its slot, the node's own (evaluated, matched) in the slot of
     * site "": one call per slot, added up. One more waiting, dropped below: no slot is done
     * before the last is asked. */
    bk_chat *chat = stats->server->chat;
    p->waiting = bk_chat_slot_count(chat) + 1;
    for (size_t i = 0; i < bk_chat_slot_count(chat); i++) {
        bk_chat_slot_prefix(chat, i, prefix);
        if (bk_store_script(stats->server->store, stats->script, on_stats, p, 0, (int)days + 1, argv, NULL) != 0) {
            if (!p->failed)
                bk_api_reply_store_error(request, NULL, NULL, BK_STORAGE_READ);
            p->failed = 1;
            p->waiting--;
        }
    }
    stats_slot_done(p);
}

bk_rules_stats *bk_rules_stats_new(bk_server *server)
{
    bk_rules_stats *stats = calloc(1, sizeof *stats);
    if (!stats)
        return NULL;
    stats->server = server;
    stats->script = bk_store_script_add(server->store, bk_lua_stats);
    return stats;
}

void bk_rules_stats_free(bk_rules_stats *stats)
{
    free(stats);
}
