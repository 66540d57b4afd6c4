/* service_api.c - GET /api/stats/service[.csv]: a script reads the days' fact rows and
 * invitation counters, a week per call so a year's range never holds Redis up for long;
 * service_stats turns them into figures. */
#include "http/service_api.h"

#include "http/reply.h"
#include "http/request.h"
#include "base/ids.h"
#include "base/keys.h"
#include "base/log.h"
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

#define DAY_MS 86400000LL
#define DAYS_PER_CALL 7

struct bk_service_api {
    bk_server *server;
    int script;
    int help_script;  /* the self-service counters, in the global slot (help_stats.lua) */
};

/* One request waiting for Redis. */
typedef struct pending {
    bk_service_api *api;
    bk_http *request;
    int64_t from_ms;
    int days;
    int asked;                            /* the first day of the call on its way */
    int next_day;                         /* the first day the next call asks for */
    size_t slot;                          /* the site slot asked (base/keys.h): each in turn */
    int csv;
    char agent[BK_ID_MAX + 1];
    char site[BK_ID_MAX + 1];
    bk_service_fact *facts;               /* the rows read so far */
    size_t count, capacity, bad;
    bk_service_invitations *invitations;  /* one per day */
} pending;

static void pending_free(pending *p)
{
    free(p->facts);
    free(p->invitations);
    free(p);
}

bk_service_api *bk_service_api_new(bk_server *server)
{
    bk_service_api *api = calloc(1, sizeof *api);
    if (!api)
        return NULL;
    api->server = server;
    api->script = bk_store_script_add(server->store, bk_lua_service_stats);
    api->help_script = bk_store_script_add(server->store, bk_lua_help_stats);
    return api;
}

void bk_service_api_free(bk_service_api *api)
{
    free(api);
}

/* Adds a day's flow counters ({"SITE:started": n, ...}) of the site asked for, or of all. */
static void flows_add(const pending *p, bk_service_invitations *day, const char *flows)
{
    json_t *counts = json_loads(flows, 0, NULL);
    const char *key;
    json_t *value;
    json_object_foreach(counts, key, value) {
        const char *colon = strrchr(key, ':');
        if (!colon || !json_is_integer(value))
            continue;
        if (p->site[0] && ((size_t)(colon - key) != strlen(p->site) || strncmp(key, p->site, strlen(p->site)) != 0))
            continue;
        long n = (long)json_integer_value(value);
        if (strcmp(colon, ":started") == 0)
            day->flows_started += n;
        else if (strcmp(colon, ":completed") == 0)
            day->flows_completed += n;
        else if (strcmp(colon, ":handed_off") == 0)
            day->flows_handed_off += n;
        else if (strcmp(colon, ":emails") == 0)
            day->flows_emails += n;
    }
    json_decref(counts);
}

/* Adds one call's days (BK_SHAPE_SERVICE_STATS, groups from `at`; the first is day `first`) to
 * the rows read so far. -1 when out of memory. */
static int facts_add(pending *p, const redisReply *days, size_t at, int first)
{
    const redisReply *day;
    const char *name;
    long long shown, accepted, chats;
    const char *flows;
    size_t rows = 0, row_at, counted = at;
    while (bk_redis_reply_unpack_next(days, &counted, BK_SHAPE_SERVICE_DAY, &name, &shown, &accepted, &chats, &flows,
                                      &day, &row_at) == 0)
        rows += day->elements - row_at;
    if (p->count + rows > p->capacity) {
        size_t capacity = p->count + rows + 64;
        bk_service_fact *grown = realloc(p->facts, capacity * sizeof *grown);
        if (!grown)
            return -1;
        p->facts = grown;
        p->capacity = capacity;
    }
    for (int index = first; index < p->days; index++) {
        if (bk_redis_reply_unpack_next(days, &at, BK_SHAPE_SERVICE_DAY, &name, &shown, &accepted, &chats, &flows,
                                       &day, &row_at) != 0)
            break;
        flows_add(p, &p->invitations[index], flows);
        p->invitations[index].shown += (long)shown;
        p->invitations[index].accepted += (long)accepted;
        p->invitations[index].chats += (long)chats;
        const char *row;
        size_t len;
        while (bk_redis_reply_unpack_next(day, &row_at, BK_SHAPE_SERVICE_ROW, &row, &len) == 0) {
            if (bk_service_fact_parse(row, len, index, &p->facts[p->count]) == 0)
                p->count++;
            else
                p->bad++;
        }
    }
    return 0;
}

static void respond_report(pending *p, const bk_service_report *report)
{
    char from[11], to[11];
    bk_service_date_format(p->from_ms, from);
    bk_service_date_format(p->from_ms + (int64_t)(p->days - 1) * DAY_MS, to);
    if (p->csv) {
        char *csv = bk_service_report_csv(report);
        if (!csv) {
            bk_api_reply_error(p->request, 500, BK_ERR_INTERNAL, "out of memory");
            return;
        }
        char filename[64];
        snprintf(filename, sizeof filename, "beckon-service-%s-%s.csv", from, to);
        bk_http_attachment(p->request, filename);
        bk_http_respond(p->request, 200, "text/csv; charset=utf-8", csv, strlen(csv));
        free(csv);
        return;
    }
    json_t *body = bk_service_report_json(report);
    /* 12 significant digits: seconds with their milliseconds, without binary noise */
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(12)) : NULL;
    json_decref(body);
    if (!text) {
        bk_api_reply_error(p->request, 500, BK_ERR_INTERNAL, "out of memory");
        return;
    }
    bk_http_respond(p->request, 200, "application/json", text, strlen(text));
    free(text);
}

static void on_rows(redisReply *reply, void *data);

/* The report from what was read, answered; p is freed. */
static void report_send(pending *p)
{
    bk_service_report report = { 0 };
    bk_service_filter filter = { p->agent, p->site };
    if (bk_service_report_build(&report, p->from_ms, p->days, &filter, p->facts, p->count, p->invitations) != 0) {
        bk_api_reply_error(p->request, 500, BK_ERR_INTERNAL, "out of memory");
    } else {
        if (p->bad)
            bk_warn("service stats: %zu fact rows could not be read", p->bad);
        respond_report(p, &report);
    }
    bk_service_report_free(&report);
    pending_free(p);
}

/* A day's self-service counters ({"SITE:searches": n, ...}) of the site asked for, or of all. */
static void help_add(const pending *p, bk_service_invitations *day, const char *counters)
{
    json_t *counts = json_loads(counters, 0, NULL);
    const char *key;
    json_t *value;
    json_object_foreach(counts, key, value) {
        const char *colon = strrchr(key, ':');
        if (!colon || !json_is_integer(value))
            continue;
        if (p->site[0] && ((size_t)(colon - key) != strlen(p->site) || strncmp(key, p->site, strlen(p->site)) != 0))
            continue;
        for (int i = 0; i < BK_SERVICE_HELP_COUNT; i++)
            if (strcmp(colon + 1, bk_service_help_names[i]) == 0)
                day->help[i] += (long)json_integer_value(value);
    }
    json_decref(counts);
}

static void on_help(redisReply *reply, void *data)
{
    pending *p = data;
    const redisReply *days;
    size_t at;
    const char *day, *counters, *missing;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_HELP_STATS, &days, &at) != 0) {
        bk_api_reply_store_error(p->request, reply, NULL, BK_STORAGE_READ);
        pending_free(p);
        return;
    }
    for (int d = 0; d < p->days &&
                    bk_redis_reply_unpack_next(days, &at, BK_SHAPE_HELP_DAY, &day, &counters, &missing) == 0; d++)
        help_add(p, &p->invitations[d], counters);
    report_send(p);
}

/* Every day's self-service counters at once (a year is 366 small hashes). 0, or -1. */
static int help_request(pending *p)
{
    const char **argv = calloc((size_t)p->days + 2, sizeof *argv);
    char (*names)[9] = calloc((size_t)p->days, sizeof *names);
    char prefix[BK_KEYS_PREFIX_SIZE];
    int rc = -1;
    if (argv && names) {
        bk_keys_global_prefix(p->api->server->config->prefix, prefix);
        argv[0] = prefix;
        argv[1] = "0";
        for (int d = 0; d < p->days; d++) {
            bk_day_string(p->from_ms + d * DAY_MS, names[d]);
            argv[2 + d] = names[d];
        }
        rc = bk_store_script(p->api->server->store, p->api->help_script, on_help, p, 0, p->days + 2, argv, NULL);
    }
    free(argv);
    free(names);
    return rc;
}

/* Asks the current slot for the next DAYS_PER_CALL days. 0, or -1 when the store refused. */
static int rows_request(pending *p)
{
    const char *argv[DAYS_PER_CALL + 1];
    char day_strings[DAYS_PER_CALL][9], prefix[BK_KEYS_PREFIX_SIZE];
    int first = p->asked = p->next_day, n = 0;
    bk_chat_slot_prefix(p->api->server->chat, p->slot, prefix);
    argv[n++] = prefix;
    for (int d = first; d < p->days && d < first + DAYS_PER_CALL; d++, n++) {
        bk_day_string(p->from_ms + d * DAY_MS, day_strings[n - 1]);
        argv[n] = day_strings[n - 1];
    }
    p->next_day = first + n - 1;
    return bk_store_script(p->api->server->store, p->api->script, on_rows, p, 0, n, argv, NULL);
}

static void on_rows(redisReply *reply, void *data)
{
    pending *p = data;
    const redisReply *days;
    size_t at;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_SERVICE_STATS, &days, &at) != 0) {
        bk_api_reply_store_error(p->request, reply, NULL, BK_STORAGE_READ);
        pending_free(p);
        return;
    }
    if (facts_add(p, days, at, p->asked) != 0) {
        bk_api_reply_error(p->request, 500, BK_ERR_INTERNAL, "out of memory");
        pending_free(p);
        return;
    }
    /* The same days from the next slot; after the last slot, the next days from the first. */
    if (++p->slot < bk_chat_slot_count(p->api->server->chat))
        p->next_day = p->asked;
    else
        p->slot = 0;
    if (p->next_day < p->days) {
        if (rows_request(p) != 0) {
            bk_api_reply_store_error(p->request, NULL, NULL, BK_STORAGE_READ);
            pending_free(p);
        }
        return;
    }
    if (p->agent[0]) {  /* the self-service figures name no agent: unknown for one */
        report_send(p);
        return;
    }
    if (help_request(p) != 0) {
        bk_api_reply_store_error(p->request, NULL, NULL, BK_STORAGE_READ);
        pending_free(p);
    }
}

void bk_service_api_handle(bk_service_api *api, bk_http *request)
{
    char from_text[32], to_text[32], agent[128], site[128];
    bk_api_request_query(request, "from", from_text, sizeof from_text);
    bk_api_request_query(request, "to", to_text, sizeof to_text);
    bk_api_request_query(request, "agent", agent, sizeof agent);
    bk_api_request_query(request, "site", site, sizeof site);
    int64_t now = bk_now_ms(), from, to;
    if (!to_text[0]) {
        to = now - now % DAY_MS;
    } else if (bk_service_date_parse(to_text, &to) != 0) {
        bk_api_reply_error(request, 400, BK_ERR_BAD_REQUEST, "to: expected a date YYYY-MM-DD");
        return;
    }
    if (!from_text[0]) {
        from = to - 6 * DAY_MS;
    } else if (bk_service_date_parse(from_text, &from) != 0) {
        bk_api_reply_error(request, 400, BK_ERR_BAD_REQUEST, "from: expected a date YYYY-MM-DD");
        return;
    }
    if (from > to) {
        bk_api_reply_error(request, 400, BK_ERR_BAD_REQUEST, "from: must not be after to");
        return;
    }
    int64_t days = (to - from) / DAY_MS + 1;
    if (days > BK_SERVICE_DAYS_MAX) {
        bk_api_reply_error(request, 400, BK_ERR_BAD_REQUEST, "from: the range is at most 366 days");
        return;
    }
    if (agent[0] && !bk_id_valid(agent)) {
        bk_api_reply_error(request, 400, BK_ERR_BAD_REQUEST, "agent: not an agent name");
        return;
    }
    if (site[0] && !bk_id_valid(site)) {
        bk_api_reply_error(request, 400, BK_ERR_BAD_REQUEST, "site: not a site id");
        return;
    }
    pending *p = calloc(1, sizeof *p);
    if (!p || !(p->invitations = calloc((size_t)days, sizeof *p->invitations))) {
        free(p);
        bk_api_reply_error(request, 500, BK_ERR_INTERNAL, "out of memory");
        return;
    }
    p->api = api;
    p->request = request;
    p->from_ms = from;
    p->days = (int)days;
    p->csv = strcmp(bk_http_path(request), "/api/stats/service.csv") == 0;
    memcpy(p->agent, agent, strlen(agent) + 1);  /* both checked: at most BK_ID_MAX */
    memcpy(p->site, site, strlen(site) + 1);
    if (rows_request(p) != 0) {
        bk_api_reply_store_error(request, NULL, NULL, BK_STORAGE_READ);
        pending_free(p);
    }
}
