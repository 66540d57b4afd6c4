/* service_stats.c - service KPIs from fact rows: parsing, figures, the report as JSON and CSV. */
#include "stats/service_stats.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY_MS 86400000LL

const char *const bk_service_help_names[BK_SERVICE_HELP_COUNT] = {
    "searches", "no_result", "suggested", "views", "helped", "not_helped", "chats_avoided",
};

/* ---- dates ----------------------------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (the civil-from-days inverse). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
    static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

int bk_service_date_parse(const char *text, int64_t *ms)
{
    static const char shape[] = "dddd-dd-dd";
    if (!text || strlen(text) != sizeof shape - 1)
        return -1;
    for (size_t i = 0; i < sizeof shape - 1; i++) {
        if (shape[i] == 'd' ? (text[i] < '0' || text[i] > '9') : text[i] != '-')
            return -1;
    }
    int y = atoi(text), m = atoi(text + 5), d = atoi(text + 8);
    if (y < 2000 || y > 2199 || m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
        return -1;
    *ms = days_from_civil(y, m, d) * DAY_MS;
    return 0;
}

void bk_service_date_format(int64_t ms, char out[11])
{
    /* civil_from_days */
    int64_t z = (ms >= 0 ? ms / DAY_MS : (ms - DAY_MS + 1) / DAY_MS) + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int d = (int)(doy - (153 * mp + 2) / 5 + 1);
    int m = (int)(mp < 10 ? mp + 3 : mp - 9);
    int64_t y = yoe + era * 400 + (m <= 2);
    unsigned yy = (unsigned)(y % 10000 + 10000) % 10000, mm = (unsigned)m % 100, dd = (unsigned)d % 100;
    snprintf(out, 11, "%04u-%02u-%02u", yy, mm, dd);
}

/* ---- fact rows -------------------------------------------------------------------------- */

static int time_field(json_t *row, const char *name, int64_t *out)
{
    json_t *v = json_object_get(row, name);
    if (!v || json_is_null(v)) {
        *out = BK_SERVICE_NONE;
        return 0;
    }
    if (!json_is_number(v))
        return -1;
    *out = json_is_integer(v) ? (int64_t)json_integer_value(v) : (int64_t)json_real_value(v);
    return 0;
}

static int name_field(json_t *row, const char *name, char out[BK_ID_MAX + 1])
{
    json_t *v = json_object_get(row, name);
    out[0] = '\0';
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v) || json_string_length(v) > BK_ID_MAX)
        return -1;
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

int bk_service_fact_parse(const char *json, size_t len, int day, bk_service_fact *out)
{
    json_t *row = json_loadb(json, len, 0, NULL);
    int rc = -1;
    memset(out, 0, sizeof *out);
    out->day = day;
    if (json_is_object(row) && time_field(row, "created", &out->created) == 0 &&
        time_field(row, "accepted", &out->accepted) == 0 &&
        time_field(row, "first_response", &out->first_response) == 0 &&
        time_field(row, "closed", &out->closed) == 0 && name_field(row, "agent", out->agent) == 0 &&
        name_field(row, "site", out->site) == 0 && name_field(row, "rule", out->rule) == 0) {
        json_t *channel = json_object_get(row, "first_response_channel");
        int64_t target;
        if (name_field(row, "team", out->team) != 0)
            out->team[0] = '\0';
        if (time_field(row, "wait_target", &target) == 0 && target > 0)
            out->wait_target = target;
        if (time_field(row, "first_response_target", &target) == 0 && target > 0)
            out->first_response_target = target;
        out->first_by_email = json_is_string(channel) && strcmp(json_string_value(channel), "email") == 0;
        json_t *rating = json_object_get(row, "rating");
        if (!rating || json_is_null(rating)) {
            rc = 0;
        } else if (json_is_integer(rating) && json_integer_value(rating) >= 1 && json_integer_value(rating) <= 5) {
            out->rating = (int)json_integer_value(rating);
            rc = 0;
        }
    }
    json_decref(row);
    return rc;
}

/* ---- figures ---------------------------------------------------------------------------- */

static int passes(const bk_service_fact *f, const bk_service_filter *filter)
{
    if (!filter)
        return 1;
    if (filter->agent && filter->agent[0] && strcmp(f->agent, filter->agent) != 0)
        return 0;
    if (filter->site && filter->site[0] && strcmp(f->site, filter->site) != 0)
        return 0;
    return 1;
}

static int compare_ms(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest rank: the smallest sample with at least p% of the samples at or below it. */
static int64_t percentile(const int64_t *sorted, size_t n, int p)
{
    if (n == 0)
        return BK_SERVICE_NONE;
    size_t rank = ((size_t)p * n + 99) / 100;
    return sorted[rank < 1 ? 0 : rank - 1];
}

/* A span between two stamps; the stamps may come from two nodes' clocks, so a small negative
 * difference is read as 0. */
static int64_t span(int64_t from, int64_t to)
{
    return to - from < 0 ? 0 : to - from;
}

static void invitations_unknown(bk_service_figures *out)
{
    out->invitations_shown = out->invitations_accepted = out->invitation_chats = -1;
    out->flows_started = out->flows_completed = out->flows_handed_off = out->flows_emails = -1;
    for (int i = 0; i < BK_SERVICE_HELP_COUNT; i++)
        out->help[i] = -1;
}

/* The figures of a list of facts (already filtered). */
static int figures_of(const bk_service_fact *const *list, size_t n, bk_service_figures *out)
{
    memset(out, 0, sizeof *out);
    invitations_unknown(out);
    out->waiting_p50 = out->waiting_p90 = out->first_response_p50 = out->first_response_p90 = BK_SERVICE_NONE;
    out->email_first_response_p50 = out->email_first_response_p90 = BK_SERVICE_NONE;
    out->handling_avg = out->handling_p50 = BK_SERVICE_NONE;
    out->csat = -1;
    int64_t *samples = malloc((n ? 4 * n : 1) * sizeof *samples);  /* qsort wants a real pointer */
    if (!samples)
        return -1;
    int64_t *waiting = samples, *first = samples + n, *handling = samples + 2 * n, *by_email = samples + 3 * n;
    size_t waits = 0, firsts = 0, handlings = 0, emails = 0;
    int64_t handling_sum = 0;
    for (size_t i = 0; i < n; i++) {
        const bk_service_fact *f = list[i];
        out->chats++;
        if (f->first_response == BK_SERVICE_NONE)
            out->missed++;
        else if (f->first_by_email)
            out->answered_by_email++;
        if (f->first_response != BK_SERVICE_NONE && f->created != BK_SERVICE_NONE) {
            if (f->first_by_email)
                by_email[emails++] = span(f->created, f->first_response);
            else
                first[firsts++] = span(f->created, f->first_response);
        }
        if (f->accepted != BK_SERVICE_NONE) {
            if (f->created != BK_SERVICE_NONE)
                waiting[waits++] = span(f->created, f->accepted);
            if (f->closed != BK_SERVICE_NONE) {
                handling[handlings] = span(f->accepted, f->closed);
                handling_sum += handling[handlings++];
            }
        }
        if (f->rating) {
            out->ratings++;
            out->ratings_good += f->rating >= 4;
        }
    }
    out->answered = out->chats - out->missed;
    qsort(waiting, waits, sizeof *waiting, compare_ms);
    qsort(first, firsts, sizeof *first, compare_ms);
    qsort(handling, handlings, sizeof *handling, compare_ms);
    qsort(by_email, emails, sizeof *by_email, compare_ms);
    out->email_first_response_p50 = percentile(by_email, emails, 50);
    out->email_first_response_p90 = percentile(by_email, emails, 90);
    out->waiting_p50 = percentile(waiting, waits, 50);
    out->waiting_p90 = percentile(waiting, waits, 90);
    out->first_response_p50 = percentile(first, firsts, 50);
    out->first_response_p90 = percentile(first, firsts, 90);
    out->handling_p50 = percentile(handling, handlings, 50);
    if (handlings)
        out->handling_avg = (handling_sum + (int64_t)handlings / 2) / (int64_t)handlings;
    if (out->ratings)
        out->csat = (double)out->ratings_good / (double)out->ratings;
    free(samples);
    return 0;
}

int bk_service_figures_compute(const bk_service_fact *facts, size_t count, const bk_service_filter *filter,
                               int day, bk_service_figures *out)
{
    const bk_service_fact **list = count ? malloc(count * sizeof *list) : NULL;
    if (count && !list)
        return -1;
    size_t n = 0;
    for (size_t i = 0; i < count; i++) {
        if ((day < 0 || facts[i].day == day) && passes(&facts[i], filter))
            list[n++] = &facts[i];
    }
    int rc = figures_of(list, n, out);
    free(list);
    return rc;
}

/* ---- the report ------------------------------------------------------------------------- */

static int compare_agent(const void *a, const void *b)
{
    return strcmp((*(const bk_service_fact *const *)a)->agent, (*(const bk_service_fact *const *)b)->agent);
}

static int compare_day(const void *a, const void *b)
{
    int x = (*(const bk_service_fact *const *)a)->day, y = (*(const bk_service_fact *const *)b)->day;
    return (x > y) - (x < y);
}

static int compare_team(const void *a, const void *b)
{
    return strcmp((*(const bk_service_fact *const *)a)->team, (*(const bk_service_fact *const *)b)->team);
}

/* Per team: the list in team order, one run per team; chats of no team sort first. */
static int teams_of(const bk_service_fact **list, size_t n, bk_service_report *report)
{
    qsort(list, n, sizeof *list, compare_team);
    size_t names = 0;
    for (size_t i = 0; i < n; i++)
        names += list[i]->team[0] && (i == 0 || strcmp(list[i]->team, list[i - 1]->team) != 0);
    report->teams = calloc(names ? names : 1, sizeof *report->teams);
    if (!report->teams)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const bk_service_fact *f = list[i];
        if (!f->team[0])
            continue;
        if (!report->team_count || strcmp(report->teams[report->team_count - 1].name, f->team) != 0)
            memcpy(report->teams[report->team_count++].name, f->team, sizeof f->team);
        bk_service_team *t = &report->teams[report->team_count - 1];
        t->chats++;
        if (f->wait_target && f->created != BK_SERVICE_NONE) {
            t->wait_targeted++;
            t->wait_within += f->accepted != BK_SERVICE_NONE && f->accepted - f->created <= f->wait_target;
        }
        if (f->first_response_target && f->created != BK_SERVICE_NONE) {
            t->first_response_targeted++;
            t->first_response_within += f->first_response != BK_SERVICE_NONE &&
                                        f->first_response - f->created <= f->first_response_target;
        }
    }
    return 0;
}

int bk_service_report_build(bk_service_report *report, int64_t from_ms, int days,
                            const bk_service_filter *filter, const bk_service_fact *facts, size_t count,
                            const bk_service_invitations *invitations)
{
    memset(report, 0, sizeof *report);
    report->from_ms = from_ms;
    report->days = days;
    if (filter && filter->agent)
        snprintf(report->agent, sizeof report->agent, "%s", filter->agent);
    if (filter && filter->site)
        snprintf(report->site, sizeof report->site, "%s", filter->site);
    int sliced = report->agent[0] || report->site[0];
    report->per_day = calloc((size_t)days, sizeof *report->per_day);
    const bk_service_fact **list = malloc((count ? count : 1) * sizeof *list);
    int rc = -1;
    if (!report->per_day || !list)
        goto done;
    size_t n = 0;
    for (size_t i = 0; i < count; i++) {
        if (facts[i].day >= 0 && facts[i].day < days && passes(&facts[i], filter))
            list[n++] = &facts[i];
    }
    if (figures_of(list, n, &report->totals) != 0)
        goto done;

    /* per day: the list in day order, one run per day */
    qsort(list, n, sizeof *list, compare_day);
    size_t at = 0;
    for (int d = 0; d < days; d++) {
        size_t end = at;
        while (end < n && list[end]->day == d)
            end++;
        if (figures_of(list + at, end - at, &report->per_day[d]) != 0)
            goto done;
        at = end;
    }
    if (invitations && !sliced) {
        bk_service_figures *t = &report->totals;
        t->invitations_shown = t->invitations_accepted = t->invitation_chats = 0;
        for (int d = 0; d < days; d++) {
            bk_service_figures *f = &report->per_day[d];
            f->invitations_shown = invitations[d].shown;
            f->invitations_accepted = invitations[d].accepted;
            f->invitation_chats = invitations[d].chats;
            t->invitations_shown += invitations[d].shown;
            t->invitations_accepted += invitations[d].accepted;
            t->invitation_chats += invitations[d].chats;
        }
    }
    if (invitations && !report->agent[0]) {
        bk_service_figures *t = &report->totals;
        t->flows_started = t->flows_completed = t->flows_handed_off = t->flows_emails = 0;
        memset(t->help, 0, sizeof t->help);
        for (int d = 0; d < days; d++) {
            bk_service_figures *f = &report->per_day[d];
            t->flows_started += f->flows_started = invitations[d].flows_started;
            t->flows_completed += f->flows_completed = invitations[d].flows_completed;
            t->flows_handed_off += f->flows_handed_off = invitations[d].flows_handed_off;
            t->flows_emails += f->flows_emails = invitations[d].flows_emails;
            for (int i = 0; i < BK_SERVICE_HELP_COUNT; i++)
                t->help[i] += f->help[i] = invitations[d].help[i];
        }
    }

    /* per agent: the list in name order, one run per agent; chats nobody accepted sort first */
    qsort(list, n, sizeof *list, compare_agent);
    size_t names = 0;
    for (size_t i = 0; i < n; i++)
        names += list[i]->agent[0] && (i == 0 || strcmp(list[i]->agent, list[i - 1]->agent) != 0);
    report->agents = calloc(names ? names : 1, sizeof *report->agents);
    if (!report->agents)
        goto done;
    for (at = 0; at < n;) {
        size_t end = at + 1;
        while (end < n && strcmp(list[end]->agent, list[at]->agent) == 0)
            end++;
        if (list[at]->agent[0]) {
            bk_service_agent *a = &report->agents[report->agent_count++];
            memcpy(a->name, list[at]->agent, sizeof a->name);
            if (figures_of(list + at, end - at, &a->figures) != 0)
                goto done;
        }
        at = end;
    }
    rc = teams_of(list, n, report);
done:
    free(list);
    return rc;
}

void bk_service_report_free(bk_service_report *report)
{
    if (!report)
        return;
    free(report->per_day);
    free(report->agents);
    free(report->teams);
    report->per_day = NULL;
    report->agents = NULL;
    report->teams = NULL;
}

/* ---- output ----------------------------------------------------------------------------- */

static json_t *seconds_json(int64_t ms)
{
    return ms == BK_SERVICE_NONE ? json_null() : json_real((double)ms / 1000.0);
}

static json_t *count_json(long n)
{
    return n < 0 ? json_null() : json_integer(n);
}

/* csat with 4 decimals: a share, not a measurement */
static double csat_rounded(double csat)
{
    return (double)(long long)(csat * 10000.0 + 0.5) / 10000.0;
}

static json_t *figures_json(const bk_service_figures *f, int invitations)
{
    json_t *o = json_object();
    json_object_set_new(o, "chats", json_integer(f->chats));
    json_object_set_new(o, "missed", json_integer(f->missed));
    json_object_set_new(o, "answered", json_integer(f->answered));
    json_object_set_new(o, "waiting_p50", seconds_json(f->waiting_p50));
    json_object_set_new(o, "waiting_p90", seconds_json(f->waiting_p90));
    json_object_set_new(o, "first_response_p50", seconds_json(f->first_response_p50));
    json_object_set_new(o, "first_response_p90", seconds_json(f->first_response_p90));
    json_object_set_new(o, "handling_avg", seconds_json(f->handling_avg));
    json_object_set_new(o, "handling_p50", seconds_json(f->handling_p50));
    json_object_set_new(o, "ratings", json_integer(f->ratings));
    json_object_set_new(o, "csat", f->csat < 0 ? json_null() : json_real(csat_rounded(f->csat)));
    json_object_set_new(o, "answered_by_email", json_integer(f->answered_by_email));
    json_object_set_new(o, "email_first_response_p50", seconds_json(f->email_first_response_p50));
    json_object_set_new(o, "email_first_response_p90", seconds_json(f->email_first_response_p90));
    if (invitations) {
        json_object_set_new(o, "invitations_shown", count_json(f->invitations_shown));
        json_object_set_new(o, "invitations_accepted", count_json(f->invitations_accepted));
        json_object_set_new(o, "invitation_chats", count_json(f->invitation_chats));
        json_object_set_new(o, "flows_started", count_json(f->flows_started));
        json_object_set_new(o, "flows_completed", count_json(f->flows_completed));
        json_object_set_new(o, "flows_handed_off", count_json(f->flows_handed_off));
        json_object_set_new(o, "flows_emails", count_json(f->flows_emails));
        for (int i = 0; i < BK_SERVICE_HELP_COUNT; i++) {
            char name[32];
            snprintf(name, sizeof name, "help_%s", bk_service_help_names[i]);
            json_object_set_new(o, name, count_json(f->help[i]));
        }
    }
    return o;
}

json_t *bk_service_report_json(const bk_service_report *r)
{
    char from[11], to[11];
    bk_service_date_format(r->from_ms, from);
    bk_service_date_format(r->from_ms + (int64_t)(r->days - 1) * DAY_MS, to);
    json_t *days = json_array(), *agents = json_array();
    for (int d = 0; d < r->days; d++) {
        char day[11];
        bk_service_date_format(r->from_ms + (int64_t)d * DAY_MS, day);
        json_t *o = figures_json(&r->per_day[d], 1);
        json_object_set_new(o, "day", json_string(day));
        json_array_append_new(days, o);
    }
    for (size_t i = 0; i < r->agent_count; i++) {
        json_t *o = figures_json(&r->agents[i].figures, 0);
        json_object_set_new(o, "agent", json_string(r->agents[i].name));
        json_array_append_new(agents, o);
    }
    json_t *teams = json_array();
    for (size_t i = 0; i < r->team_count; i++) {
        const bk_service_team *t = &r->teams[i];
        json_array_append_new(teams, json_pack("{s:s, s:i, s:i, s:i, s:o, s:i, s:i, s:o}", "team", t->name,
            "chats", (int)t->chats, "wait_target_chats", (int)t->wait_targeted, "within_wait_target",
            (int)t->wait_within, "wait_target_share",
            t->wait_targeted ? json_real((double)t->wait_within / (double)t->wait_targeted) : json_null(),
            "first_response_target_chats", (int)t->first_response_targeted, "within_first_response_target",
            (int)t->first_response_within, "first_response_target_share",
            t->first_response_targeted ? json_real((double)t->first_response_within /
                                                   (double)t->first_response_targeted) : json_null()));
    }
    return json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o}", "from", from, "to", to,
                     "agent", r->agent[0] ? json_string(r->agent) : json_null(),
                     "site", r->site[0] ? json_string(r->site) : json_null(),
                     "totals", figures_json(&r->totals, 1), "days", days, "agents", agents, "teams", teams);
}

/* A growing string for the CSV. */
typedef struct text {
    char *s;
    size_t len, cap;
    int failed;
} text;

static void put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text *t, const char *fmt, ...)
{
    if (t->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->s ? t->s + t->len : NULL, t->s ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->failed = 1;
            return;
        }
        if (t->s && t->len + (size_t)n < t->cap) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = (t->cap ? t->cap * 2 : 4096) + (size_t)n;
        char *s = realloc(t->s, cap);
        if (!s) {
            t->failed = 1;
            return;
        }
        t->s = s;
        t->cap = cap;
    }
}

static void put_seconds(text *t, int64_t ms)
{
    if (ms == BK_SERVICE_NONE)
        put(t, ",");
    else
        put(t, ",%lld.%03lld", (long long)(ms / 1000), (long long)(ms % 1000));
}

static void put_count(text *t, long n)
{
    if (n < 0)
        put(t, ",");
    else
        put(t, ",%ld", n);
}

static void put_row(text *t, const char *label, const bk_service_figures *f)
{
    put(t, "%s,%ld,%ld,%ld", label, f->chats, f->missed, f->answered);
    put_seconds(t, f->waiting_p50);
    put_seconds(t, f->waiting_p90);
    put_seconds(t, f->first_response_p50);
    put_seconds(t, f->first_response_p90);
    put_seconds(t, f->handling_avg);
    put_seconds(t, f->handling_p50);
    put(t, ",%ld", f->ratings);
    if (f->csat < 0)
        put(t, ",");
    else
        put(t, ",%.4f", csat_rounded(f->csat));
    put_count(t, f->invitations_shown);
    put_count(t, f->invitations_accepted);
    put_count(t, f->invitation_chats);
    put_count(t, f->flows_started);
    put_count(t, f->flows_completed);
    put_count(t, f->flows_handed_off);
    put_count(t, f->flows_emails);
    put(t, ",%ld", f->answered_by_email);
    put_seconds(t, f->email_first_response_p50);
    put_seconds(t, f->email_first_response_p90);
    for (int i = 0; i < BK_SERVICE_HELP_COUNT; i++)
        put_count(t, f->help[i]);
    put(t, "\r\n");
}

char *bk_service_report_csv(const bk_service_report *r)
{
    text t = { 0 };
    put(&t, "day,chats,missed,answered,waiting_p50,waiting_p90,first_response_p50,first_response_p90,"
            "handling_avg,handling_p50,ratings,csat,invitations_shown,invitations_accepted,invitation_chats,"
            "flows_started,flows_completed,flows_handed_off,flows_emails,"
            "answered_by_email,email_first_response_p50,email_first_response_p90");
    for (int i = 0; i < BK_SERVICE_HELP_COUNT; i++)
        put(&t, ",help_%s", bk_service_help_names[i]);
    put(&t, "\r\n");
    for (int d = 0; d < r->days; d++) {
        char day[11];
        bk_service_date_format(r->from_ms + (int64_t)d * DAY_MS, day);
        put_row(&t, day, &r->per_day[d]);
    }
    put_row(&t, "total", &r->totals);
    if (t.failed) {
        free(t.s);
        return NULL;
    }
    return t.s;
}
