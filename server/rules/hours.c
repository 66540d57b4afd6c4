/* hours.c - see hours.h.
 *
 * Grammar (case-insensitive, spaces free between tokens):
 *   hours   := clause { ("," | ";") clause }
 *   clause  := days range { range }
 *   days    := day [ "-" day ] | "daily"
 *   day     := mon | tue | wed | thu | fri | sat | sun
 *   range   := HH:MM "-" HH:MM      (end after start; "24:00" ends the day)
 * A day range may wrap ("fri-mon"). Ranges never cross midnight: write
 * "fri 22:00-24:00, sat 00:00-02:00" for a late shift. */
#include "base/utf8.h"
#include "rules/hours.h"

#include "rules/civil.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_INTERVALS 64

static const char *const day_names[7] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

typedef struct hours_parser {
    const char *at;
    char *why;
    size_t why_size;
    int count;
    bk_hours_interval intervals[MAX_INTERVALS];
} hours_parser;

static void skip_spaces(hours_parser *p)
{
    while (*p->at == ' ' || *p->at == '\t')
        p->at++;
}

/* Copies a short excerpt of the remaining text for error messages. */
static bool fail(hours_parser *p, const char *what)
{
    char excerpt[16];
    size_t len = strlen(p->at);
    if (len == 0) {
        snprintf(p->why, p->why_size, "%s at end of text", what);
    } else {
        if (len > sizeof excerpt - 1)
            len = sizeof excerpt - 1;
        memcpy(excerpt, p->at, len);
        excerpt[len] = '\0';
        bk_utf8_repair(excerpt);  /* 15 bytes may end inside a character */
        snprintf(p->why, p->why_size, "%s at \"%s\"", what, excerpt);
    }
    return false;
}

static bool parse_day(hours_parser *p, int *day)
{
    for (int i = 0; i < 7; i++) {
        if (strncasecmp(p->at, day_names[i], 3) == 0 && !isalpha((unsigned char)p->at[3])) {
            *day = i;
            p->at += 3;
            return true;
        }
    }
    return fail(p, "expected a day (mon..sun)");
}

static bool parse_two_digits(const char **at, int *value)
{
    const char *s = *at;
    if (!isdigit((unsigned char)s[0]))
        return false;
    int v = s[0] - '0';
    s++;
    if (isdigit((unsigned char)s[0])) {
        v = v * 10 + (s[0] - '0');
        s++;
    }
    *value = v;
    *at = s;
    return true;
}

/* HH:MM as minutes of the day; 24:00 allowed only when `end` is set. */
static bool parse_clock(hours_parser *p, bool end, int *minutes)
{
    int h, m;
    const char *s = p->at;
    if (!parse_two_digits(&s, &h) || *s != ':' || !isdigit((unsigned char)s[1]) ||
        !isdigit((unsigned char)s[2]) || isdigit((unsigned char)s[3]))
        return fail(p, "expected a time HH:MM");
    m = (s[1] - '0') * 10 + (s[2] - '0');
    if (m > 59 || h > 24 || (h == 24 && (m != 0 || !end)))
        return fail(p, "time out of range");
    p->at = s + 3;
    *minutes = h * 60 + m;
    return true;
}

static bool add_interval(hours_parser *p, int start, int end)
{
    if (p->count == MAX_INTERVALS) {
        snprintf(p->why, p->why_size, "too many opening intervals (max %d)", MAX_INTERVALS);
        return false;
    }
    p->intervals[p->count].start = start;
    p->intervals[p->count].end = end;
    p->count++;
    return true;
}

static bool parse_clause(hours_parser *p)
{
    int first, last;
    skip_spaces(p);
    if (strncasecmp(p->at, "daily", 5) == 0 && !isalpha((unsigned char)p->at[5])) {
        p->at += 5;
        first = 0;
        last = 6;
    } else {
        if (!parse_day(p, &first))
            return false;
        last = first;
        skip_spaces(p);
        if (*p->at == '-') {
            p->at++;
            skip_spaces(p);
            if (!parse_day(p, &last))
                return false;
        }
    }
    int ranges = 0;
    for (;;) {
        skip_spaces(p);
        if (*p->at == '\0' || *p->at == ',' || *p->at == ';')
            break;
        const char *range_text = p->at;
        int start, end;
        if (!parse_clock(p, false, &start))
            return false;
        skip_spaces(p);
        if (*p->at != '-')
            return fail(p, "expected '-' between times");
        p->at++;
        skip_spaces(p);
        if (!parse_clock(p, true, &end))
            return false;
        if (end <= start) {
            p->at = range_text;
            return fail(p, "closing time must be after opening time (split ranges at midnight)");
        }
        for (int day = first;; day = (day + 1) % 7) {
            if (!add_interval(p, day * 1440 + start, day * 1440 + end))
                return false;
            if (day == last)
                break;
        }
        ranges++;
    }
    if (ranges == 0)
        return fail(p, "expected a time range HH:MM-HH:MM");
    return true;
}

static int compare_intervals(const void *a, const void *b)
{
    const bk_hours_interval *x = a, *y = b;
    return (x->start > y->start) - (x->start < y->start);
}

bool bk_hours_parse(const char *text, bk_arena *arena, bk_hours *out, char *why, size_t why_size)
{
    hours_parser p = {.at = text, .why = why, .why_size = why_size, .count = 0};
    for (;;) {
        if (!parse_clause(&p))
            return false;
        skip_spaces(&p);
        if (*p.at == '\0')
            break;
        p.at++; /* ',' or ';' */
    }
    /* Sort and merge touching or overlapping intervals, so that openness
     * changes exactly at the remaining boundaries. */
    qsort(p.intervals, (size_t)p.count, sizeof p.intervals[0], compare_intervals);
    int merged = 0;
    for (int i = 0; i < p.count; i++) {
        if (merged > 0 && p.intervals[i].start <= p.intervals[merged - 1].end) {
            if (p.intervals[i].end > p.intervals[merged - 1].end)
                p.intervals[merged - 1].end = p.intervals[i].end;
        } else {
            p.intervals[merged++] = p.intervals[i];
        }
    }
    out->count = (size_t)merged;
    out->intervals = bk_arena_alloc(arena, (size_t)merged * sizeof *out->intervals);
    if (!out->intervals) {
        snprintf(why, why_size, "out of memory");
        return false;
    }
    memcpy(out->intervals, p.intervals, (size_t)merged * sizeof *out->intervals);
    return true;
}

/* Local seconds since Monday 00:00 at an instant. */
static int64_t second_of_week(const bk_tz *tz, int64_t utc_seconds)
{
    bk_local_time local = bk_tz_local_time(tz, utc_seconds);
    return (int64_t)local.weekday * BK_SECONDS_PER_DAY + local.second_of_day;
}

bool bk_hours_open(const bk_hours *hours, const bk_tz *tz, int64_t utc_ms)
{
    int64_t minute = second_of_week(tz, bk_floor_div(utc_ms, BK_MS_PER_SECOND)) / 60;
    for (size_t i = 0; i < hours->count; i++)
        if (minute >= hours->intervals[i].start && minute < hours->intervals[i].end)
            return true;
    return false;
}

int64_t bk_hours_next_change(const bk_hours *hours, const bk_tz *tz, int64_t utc_ms)
{
    int64_t now = bk_floor_div(utc_ms, BK_MS_PER_SECOND);
    int64_t sow = second_of_week(tz, now);
    const int64_t week = (int64_t)BK_MINUTES_PER_WEEK * 60;
    int64_t best = INT64_MAX; /* seconds from now to the next boundary */
    for (size_t i = 0; i < hours->count; i++) {
        int64_t edges[2] = {hours->intervals[i].start * 60LL, hours->intervals[i].end * 60LL};
        for (int e = 0; e < 2; e++) {
            int64_t delta = bk_floor_mod(edges[e] - sow, week);
            if (delta == 0)
                delta = week;
            if (delta < best)
                best = delta;
        }
    }
    if (best == INT64_MAX)
        return INT64_MAX;
    /* The distance was measured in wall-clock seconds, which equal real
     * seconds only while the offset stays put: stop at an offset change and
     * let the caller look again from there. */
    int64_t change = (now + best) * BK_MS_PER_SECOND;
    int64_t transition = bk_tz_next_transition(tz, now);
    if (transition != INT64_MAX && transition * BK_MS_PER_SECOND < change)
        change = transition * BK_MS_PER_SECOND;
    return change;
}

void bk_hours_describe_local(const bk_tz *tz, int64_t utc_ms, char *out, size_t size)
{
    static const char *const names[7] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
    bk_local_time local = bk_tz_local_time(tz, bk_floor_div(utc_ms, BK_MS_PER_SECOND));
    snprintf(out, size, "%s %02d:%02d %s", names[local.weekday], local.hour, local.minute, bk_tz_name(tz));
}
