/* tz.h - IANA time zones read from TZif files, without the C library.
 *
 * localtime_r() needs the zone in the global TZ environment variable, which
 * is neither thread-safe nor something a library may change under its
 * caller. So rules compile their zone once: the TZif file (RFC 8536, v1 to
 * v4) is parsed into its transition table, and its POSIX TZ footer string
 * ("CET-1CEST,M3.5.0,M10.5.0/3") answers for instants after the last
 * transition, so daylight saving time stays right beyond 2037. */
#ifndef BK_RULES_TZ_H
#define BK_RULES_TZ_H

#include <stddef.h>
#include <stdint.h>

/* Where zones are read from; override at build time for unusual systems. */
#ifndef BK_RULES_ZONEINFO_DIR
#define BK_RULES_ZONEINFO_DIR "/usr/share/zoneinfo"
#endif

typedef struct bk_tz bk_tz;

/* Loads zone `name` ("Europe/Copenhagen"; "UTC" needs no file). Returns NULL
 * and writes a reason into `why` when the name is malformed, the file is
 * missing or unreadable, or memory runs out. */
bk_tz *bk_tz_load(const char *dir, const char *name, char *why, size_t why_size);

void bk_tz_free(bk_tz *tz);

const char *bk_tz_name(const bk_tz *tz);

/* Offset from UTC in seconds at the instant `utc_seconds` (CEST: 7200). */
int32_t bk_tz_offset(const bk_tz *tz, int64_t utc_seconds);

/* The first instant after `utc_seconds` at which the offset may change, or
 * INT64_MAX when it never does. */
int64_t bk_tz_next_transition(const bk_tz *tz, int64_t utc_seconds);

/* Wall-clock time at an instant, in the zone. */
typedef struct bk_local_time {
    int64_t day;       /* local day number (days since 1970-01-01) */
    int weekday;       /* Monday = 0 ... Sunday = 6 */
    int hour;          /* 0..23 */
    int minute;        /* 0..59 */
    int second_of_day; /* 0..86399 */
} bk_local_time;

bk_local_time bk_tz_local_time(const bk_tz *tz, int64_t utc_seconds);

#endif
