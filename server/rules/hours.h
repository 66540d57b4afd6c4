/* hours.h - opening hours such as "mon-fri 09:00-17:00, sat 10:00-14:00".
 *
 * Hours are wall-clock times in the rule's time zone, so "09:00" stays 09:00
 * local across daylight saving changes. Internally they are a sorted list of
 * non-overlapping intervals in minutes since Monday 00:00. */
#ifndef BK_RULES_HOURS_H
#define BK_RULES_HOURS_H

#include "rules/arena.h"
#include "rules/tz.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BK_MINUTES_PER_WEEK (7 * 24 * 60)

typedef struct bk_hours_interval {
    int start; /* minute of the week, Monday 00:00 = 0 */
    int end;   /* exclusive; at most BK_MINUTES_PER_WEEK */
} bk_hours_interval;

typedef struct bk_hours {
    size_t count;
    bk_hours_interval *intervals;
} bk_hours;

/* Parses `text` into `out`, allocating from `arena`. On a syntax error
 * returns false and writes the reason into `why`. */
bool bk_hours_parse(const char *text, bk_arena *arena, bk_hours *out, char *why, size_t why_size);

/* Whether the hours are open at the instant `utc_ms`. */
bool bk_hours_open(const bk_hours *hours, const bk_tz *tz, int64_t utc_ms);

/* The first instant after `utc_ms` at which openness may change: the next
 * opening or closing time, or an earlier offset change of the zone. */
int64_t bk_hours_next_change(const bk_hours *hours, const bk_tz *tz, int64_t utc_ms);

/* "Mon 08:12" style rendering of the local time, for explanations. */
void bk_hours_describe_local(const bk_tz *tz, int64_t utc_ms, char *out, size_t size);

#endif
