/* help_stats_api.c - GET /api/stats/help[.csv]: the self-service figures per UTC day, from the
 * nodes' counters (help/help_counters.c, lua/help_stats_add.lua). */
#include "http/help_api_internal.h"

#include "http/reply.h"
#include "http/request.h"
#include "base/ids.h"
#include "stats/service_stats.h"
#include "store/redis_reply.h"
#include "store/redis_shapes.h"

#include <beckon/protocol.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY_MS    86400000LL
#define DAYS_MAX  92
#define TOP_ASKED 1000   /* of each day's searches that found nothing (help_stats_add.lua keeps 1000) */
#define TOP_SHOWN 20

static const char *const figures[] = { "searches", "no_result", "suggested", "views", "helped", "not_helped",
                                       "chats_avoided", NULL };

typedef struct pending {
    bk_http *request;
    char site[BK_ID_MAX + 1];
    int64_t from_ms;
    int csv;
} pending;

static int by_count(const void *a, const void *b)
{
    json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a, "count"));
    json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b, "count"));
    return x < y ? 1 : x > y ? -1 : 0;
}

/* {"SITE:counter": n} of one day into day's figures (of one site, or all). */
static void day_add(json_t *day, json_t *totals, const char *counters_json, const char *site)
{
    json_t *counters = json_loads(counters_json, 0, NULL);
    const char *key;
    json_t *value;
    json_object_foreach(counters, key, value) {
        const char *colon = strrchr(key, ':');
        if (!colon || !json_is_integer(value))
            continue;
        if (site[0] && (strlen(site) != (size_t)(colon - key) || strncmp(key, site, (size_t)(colon - key)) != 0))
            continue;
        for (size_t i = 0; figures[i]; i++) {
            if (strcmp(colon + 1, figures[i]) != 0)
                continue;
            json_object_set_new(day, figures[i], json_integer(json_integer_value(json_object_get(day, figures[i])) +
                                                               json_integer_value(value)));
            json_object_set_new(totals, figures[i],
                                json_integer(json_integer_value(json_object_get(totals, figures[i])) +
                                             json_integer_value(value)));
        }
    }
    json_decref(counters);
}

/* [["SITE LANG words", n], ...] of one day into asked ("SITE LANG words" -> count). */
static void missing_add(json_t *asked, const char *missing_json, const char *site)
{
    json_t *missing = json_loads(missing_json, 0, NULL);
    size_t i;
    json_t *pair;
    json_array_foreach(missing, i, pair) {
        const char *key = json_string_value(json_array_get(pair, 0));
        json_t *n = json_array_get(pair, 1);
        if (!key || !json_is_number(n))
            continue;
        size_t site_len = strcspn(key, " ");
        if (site[0] && (strlen(site) != site_len || strncmp(key, site, site_len) != 0))
            continue;
        json_object_set_new(asked, key, json_integer(json_integer_value(json_object_get(asked, key)) +
                                                     (json_int_t)json_number_value(n)));
    }
    json_decref(missing);
}

static json_t *asked_list(json_t *asked)
{
    size_t n = json_object_size(asked), k = 0;
    json_t **rows = calloc(n + 1, sizeof *rows);
    const char *key;
    json_t *value;
    json_object_foreach(asked, key, value) {
        if (!rows)
            break;
        size_t site_len = strcspn(key, " ");
        const char *lang = key + site_len + (key[site_len] ? 1 : 0);
        size_t lang_len = strcspn(lang, " ");
        const char *words = lang + lang_len + (lang[lang_len] ? 1 : 0);
        rows[k++] = json_pack("{s:s%, s:s%, s:s, s:O}", "site", key, site_len, "lang", lang, lang_len,
                              "query", words, "count", value);
    }
    qsort(rows, k, sizeof *rows, by_count);
    json_t *list = json_array();
    for (size_t i = 0; i < k; i++) {
        if (i < TOP_SHOWN)
            json_array_append(list, rows[i]);
        json_decref(rows[i]);
    }
    free(rows);
    return list;
}

static void csv_respond(pending *p, json_t *report)
{
    size_t size = 256 + 128 * (json_array_size(json_object_get(report, "days")) + 2), len = 0;
    char *out = malloc(size);
    if (!out) {
        bk_api_reply_error(p->request, 500, BK_ERR_INTERNAL, "out of memory");
        return;
    }
    len += (size_t)snprintf(out + len, size - len, "day");
    for (size_t i = 0; figures[i]; i++)
        len += (size_t)snprintf(out + len, size - len, ",%s", figures[i]);
    len += (size_t)snprintf(out + len, size - len, "\r\n");
    json_t *days = json_object_get(report, "days"), *day;
    size_t d;
    json_array_foreach(days, d, day) {
        len += (size_t)snprintf(out + len, size - len, "%s", json_string_value(json_object_get(day, "day")));
        for (size_t i = 0; figures[i]; i++)
            len += (size_t)snprintf(out + len, size - len, ",%lld",
                                    (long long)json_integer_value(json_object_get(day, figures[i])));
        len += (size_t)snprintf(out + len, size - len, "\r\n");
    }
    len += (size_t)snprintf(out + len, size - len, "total");
    for (size_t i = 0; figures[i]; i++)
        len += (size_t)snprintf(out + len, size - len, ",%lld",
                                (long long)json_integer_value(json_object_get(json_object_get(report, "totals"),
                                                                              figures[i])));
    len += (size_t)snprintf(out + len, size - len, "\r\n");
    char filename[64];
    snprintf(filename, sizeof filename, "beckon-help-%s-%s.csv", json_string_value(json_object_get(report, "from")),
             json_string_value(json_object_get(report, "to")));
    bk_http_attachment(p->request, filename);
    bk_http_respond(p->request, 200, "text/csv; charset=utf-8", out, len);
    free(out);
}

static void on_stats(redisReply *reply, void *data)
{
    pending *p = data;
    const redisReply *days;
    size_t at;
    const char *day, *counters, *missing;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_HELP_STATS, &days, &at) != 0) {
        bk_api_reply_store_error(p->request, reply, NULL, BK_STORAGE_READ);
        free(p);
        return;
    }
    json_t *totals = json_object(), *list = json_array(), *asked = json_object();
    for (size_t i = 0; figures[i]; i++)
        json_object_set_new(totals, figures[i], json_integer(0));
    int64_t ms = p->from_ms;
    char from[11], to[11] = "";
    bk_service_date_format(p->from_ms, from);
    while (bk_redis_reply_unpack_next(days, &at, BK_SHAPE_HELP_DAY, &day, &counters, &missing) == 0) {
        json_t *entry = json_object();
        bk_service_date_format(ms, to);
        json_object_set_new(entry, "day", json_string(to));
        for (size_t i = 0; figures[i]; i++)
            json_object_set_new(entry, figures[i], json_integer(0));
        day_add(entry, totals, counters, p->site);
        missing_add(asked, missing, p->site);
        json_array_append_new(list, entry);
        ms += DAY_MS;
    }
    json_t *report = json_pack("{s:s, s:s, s:o, s:o, s:o, s:o}", "from", from, "to", to[0] ? to : from,
                               "site", p->site[0] ? json_string(p->site) : json_null(), "totals", totals,
                               "days", list, "no_result_queries", asked_list(asked));
    json_decref(asked);
    if (p->csv) {
        csv_respond(p, report);
        json_decref(report);
    } else {
        bk_api_reply_json(p->request, 200, report);
    }
    free(p);
}

void bk_help_api_stats(bk_help_api *api, bk_http *request)
{
    char from_text[32], to_text[32], site[128];
    bk_api_request_query(request, "from", from_text, sizeof from_text);
    bk_api_request_query(request, "to", to_text, sizeof to_text);
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
    if (from > to || (to - from) / DAY_MS + 1 > DAYS_MAX) {
        bk_api_reply_error(request, 400, BK_ERR_BAD_REQUEST,
                           from > to ? "from: must not be after to" : "from: the range is at most 92 days");
        return;
    }
    if (site[0] && !bk_id_valid(site)) {
        bk_api_reply_error(request, 400, BK_ERR_BAD_REQUEST, "site: not a site id");
        return;
    }
    int days = (int)((to - from) / DAY_MS + 1);
    pending *p = calloc(1, sizeof *p);
    const char **argv = calloc((size_t)days + 2, sizeof *argv);
    char (*names)[9] = calloc((size_t)days, sizeof *names);
    if (!p || !argv || !names) {
        free(p);
        free(argv);
        free(names);
        bk_api_reply_error(request, 500, BK_ERR_INTERNAL, "out of memory");
        return;
    }
    p->request = request;
    p->from_ms = from;
    p->csv = strcmp(bk_http_path(request), "/api/stats/help.csv") == 0;
    memcpy(p->site, site, strlen(site) + 1);
    char top[16];
    snprintf(top, sizeof top, "%d", TOP_ASKED);
    argv[0] = api->prefix;
    argv[1] = top;
    for (int i = 0; i < days; i++) {
        char date[11];
        bk_service_date_format(from + (int64_t)i * DAY_MS, date);
        snprintf(names[i], sizeof names[i], "%.4s%.2s%.2s", date, date + 5, date + 8);
        argv[2 + i] = names[i];
    }
    if (bk_store_script(api->server->store, api->scripts[HELP_API_SCRIPT_STATS], on_stats, p, 0, days + 2, argv,
                        NULL) != 0) {
        bk_api_reply_store_error(request, NULL, NULL, BK_STORAGE_READ);
        free(p);
    }
    free(argv);
    free(names);
}
