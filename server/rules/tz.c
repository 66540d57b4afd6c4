/* tz.c - see tz.h.
 *
 * A TZif file is a header with six counts, a data block, and from version 2
 * on a second header and block with 64-bit times followed by a newline-framed
 * POSIX TZ string. We keep the transition instants, the offset each one
 * switches to, and the parsed TZ string. */
#include "rules/tz.h"

#include "rules/civil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Real zone files are a few kilobytes; refuse anything absurd. */
#define TZ_FILE_MAX (256 * 1024)
#define TZ_NAME_MAX 64

/* One half of a POSIX TZ rule: the day and local time DST starts or ends. */
typedef enum { DATE_MONTH_WEEK_DAY, DATE_JULIAN_NO_LEAP, DATE_ZERO_BASED } date_kind;

typedef struct posix_date {
    date_kind kind;
    int month, week, weekday; /* DATE_MONTH_WEEK_DAY; weekday 0 = Sunday, week 5 = last */
    int day;                  /* the two day-of-year forms */
    int32_t local_seconds;    /* time of day of the change, local time in effect before it */
} posix_date;

typedef struct posix_rule {
    bool present;
    bool has_dst;
    int32_t std_offset; /* seconds east of UTC */
    int32_t dst_offset;
    posix_date start, end;
} posix_rule;

struct bk_tz {
    char name[TZ_NAME_MAX + 1];
    size_t transition_count;
    int64_t *transitions;     /* ascending UTC seconds */
    int32_t *offset_after;    /* offset in effect from transitions[i] on */
    int32_t initial_offset;   /* before the first transition (time type 0) */
    posix_rule rule;          /* for instants after the last transition */
};

/* ---- names and files ---------------------------------------------- */

static bool name_is_safe(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > TZ_NAME_MAX || name[0] == '/' || strstr(name, ".."))
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '/' || c == '_' || c == '-' || c == '+';
        if (!ok)
            return false;
    }
    return true;
}

static unsigned char *read_file(const char *path, size_t *len_out, char *why, size_t why_size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, why_size, errno == ENOENT ? "unknown time zone" : "cannot read time zone: %s",
                 strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        snprintf(why, why_size, "cannot read time zone: %s", strerror(errno));
        close(fd);
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(why, why_size, "cannot read time zone: not a file");
        close(fd);
        return NULL;
    }
    if (st.st_size > TZ_FILE_MAX) {
        snprintf(why, why_size, "time zone file too large");
        close(fd);
        return NULL;
    }
    size_t size = (size_t)st.st_size;
    unsigned char *data = malloc(size ? size : 1);
    if (!data) {
        close(fd);
        snprintf(why, why_size, "out of memory");
        return NULL;
    }
    size_t len = 0;
    while (len < size) {
        ssize_t got = read(fd, data + len, size - len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            snprintf(why, why_size, "cannot read time zone: %s", got < 0 ? strerror(errno) : "file shrank");
            free(data);
            close(fd);
            return NULL;
        }
        len += (size_t)got;
    }
    close(fd);
    *len_out = len;
    return data;
}

/* ---- POSIX TZ strings --------------------------------------------- */

typedef struct cursor {
    const char *at;
    const char *end;
} cursor;

static bool parse_zone_abbreviation(cursor *c)
{
    if (c->at < c->end && *c->at == '<') {
        const char *close = memchr(c->at, '>', (size_t)(c->end - c->at));
        if (!close)
            return false;
        c->at = close + 1;
        return true;
    }
    const char *start = c->at;
    while (c->at < c->end && ((*c->at >= 'A' && *c->at <= 'Z') || (*c->at >= 'a' && *c->at <= 'z')))
        c->at++;
    return c->at - start >= 3;
}

static bool parse_number(cursor *c, int min, int max, int *out)
{
    int value = 0;
    const char *start = c->at;
    while (c->at < c->end && *c->at >= '0' && *c->at <= '9' && c->at - start < 4)
        value = value * 10 + (*c->at++ - '0');
    if (c->at == start || value < min || value > max)
        return false;
    *out = value;
    return true;
}

/* [+-]hh[:mm[:ss]], hours up to 167 as TZif v3 allows for rule times. */
static bool parse_clock(cursor *c, int32_t *seconds)
{
    int sign = 1, hours, minutes = 0, secs = 0;
    if (c->at < c->end && (*c->at == '+' || *c->at == '-'))
        sign = *c->at++ == '-' ? -1 : 1;
    if (!parse_number(c, 0, 167, &hours))
        return false;
    if (c->at < c->end && *c->at == ':') {
        c->at++;
        if (!parse_number(c, 0, 59, &minutes))
            return false;
        if (c->at < c->end && *c->at == ':') {
            c->at++;
            if (!parse_number(c, 0, 59, &secs))
                return false;
        }
    }
    *seconds = sign * (hours * 3600 + minutes * 60 + secs);
    return true;
}

static bool parse_date(cursor *c, posix_date *date)
{
    date->local_seconds = 2 * 3600;
    if (c->at < c->end && *c->at == 'M') {
        c->at++;
        date->kind = DATE_MONTH_WEEK_DAY;
        if (!parse_number(c, 1, 12, &date->month) || c->at >= c->end || *c->at++ != '.' ||
            !parse_number(c, 1, 5, &date->week) || c->at >= c->end || *c->at++ != '.' ||
            !parse_number(c, 0, 6, &date->weekday))
            return false;
    } else if (c->at < c->end && *c->at == 'J') {
        c->at++;
        date->kind = DATE_JULIAN_NO_LEAP;
        if (!parse_number(c, 1, 365, &date->day))
            return false;
    } else {
        date->kind = DATE_ZERO_BASED;
        if (!parse_number(c, 0, 365, &date->day))
            return false;
    }
    if (c->at < c->end && *c->at == '/') {
        c->at++;
        return parse_clock(c, &date->local_seconds);
    }
    return true;
}

static bool parse_posix_rule(const char *text, size_t len, posix_rule *rule)
{
    cursor c = {text, text + len};
    int32_t west;
    memset(rule, 0, sizeof *rule);
    if (!parse_zone_abbreviation(&c) || !parse_clock(&c, &west))
        return false;
    rule->std_offset = -west; /* POSIX counts hours west of Greenwich */
    rule->present = true;
    if (c.at == c.end)
        return true;
    if (!parse_zone_abbreviation(&c))
        return false;
    rule->has_dst = true;
    rule->dst_offset = rule->std_offset + 3600;
    if (c.at < c.end && *c.at != ',') {
        if (!parse_clock(&c, &west))
            return false;
        rule->dst_offset = -west;
    }
    if (c.at == c.end) {
        /* No dates given: POSIX leaves them to the implementation; use the
         * current US rule, as the reference tz code does. */
        rule->start = (posix_date){DATE_MONTH_WEEK_DAY, 3, 2, 0, 0, 2 * 3600};
        rule->end = (posix_date){DATE_MONTH_WEEK_DAY, 11, 1, 0, 0, 2 * 3600};
        return true;
    }
    if (*c.at++ != ',' || !parse_date(&c, &rule->start) || c.at >= c.end || *c.at++ != ',' ||
        !parse_date(&c, &rule->end))
        return false;
    return c.at == c.end;
}

/* Local day number of a rule date in `year`. */
static int64_t date_day(const posix_date *date, int64_t year)
{
    switch (date->kind) {
    case DATE_JULIAN_NO_LEAP: {
        /* J1..J365 never counts February 29. */
        int64_t day = bk_days_from_civil(year, 1, 1) + date->day - 1;
        return day + (bk_is_leap_year(year) && date->day >= 60);
    }
    case DATE_ZERO_BASED:
        return bk_days_from_civil(year, 1, 1) + date->day;
    case DATE_MONTH_WEEK_DAY:
    default: {
        int64_t first = bk_days_from_civil(year, date->month, 1);
        int first_weekday_sunday0 = (bk_weekday_of_day(first) + 1) % 7;
        int64_t day = first + (date->weekday - first_weekday_sunday0 + 7) % 7 + 7 * (date->week - 1);
        int64_t month_end = first + bk_days_in_month(year, date->month);
        while (day >= month_end) /* week 5 means the last one in the month */
            day -= 7;
        return day;
    }
    }
}

/* UTC instant of a rule date in `year`, given the offset in effect before. */
static int64_t date_instant(const posix_date *date, int64_t year, int32_t offset_before)
{
    return date_day(date, year) * BK_SECONDS_PER_DAY + date->local_seconds - offset_before;
}

static int32_t rule_offset(const posix_rule *rule, int64_t t)
{
    if (!rule->has_dst)
        return rule->std_offset;
    int64_t year = bk_year_of_day(bk_floor_div(t + rule->std_offset, BK_SECONDS_PER_DAY));
    int64_t start = date_instant(&rule->start, year, rule->std_offset);
    int64_t end = date_instant(&rule->end, year, rule->dst_offset);
    bool dst = start < end ? (t >= start && t < end) : !(t >= end && t < start);
    return dst ? rule->dst_offset : rule->std_offset;
}

static int64_t rule_next_transition(const posix_rule *rule, int64_t t)
{
    if (!rule->has_dst)
        return INT64_MAX;
    int64_t year = bk_year_of_day(bk_floor_div(t + rule->std_offset, BK_SECONDS_PER_DAY));
    int64_t best = INT64_MAX;
    for (int64_t y = year - 1; y <= year + 1; y++) {
        int64_t start = date_instant(&rule->start, y, rule->std_offset);
        int64_t end = date_instant(&rule->end, y, rule->dst_offset);
        if (start > t && start < best)
            best = start;
        if (end > t && end < best)
            best = end;
    }
    return best;
}

/* ---- TZif --------------------------------------------------------- */

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

typedef struct tzif_counts {
    uint32_t isut, isstd, leap, time, type, chars;
} tzif_counts;

static bool read_header(const unsigned char *p, size_t left, tzif_counts *n, char *version)
{
    if (left < 44 || memcmp(p, "TZif", 4) != 0)
        return false;
    *version = (char)p[4];
    n->isut = be32(p + 20);
    n->isstd = be32(p + 24);
    n->leap = be32(p + 28);
    n->time = be32(p + 32);
    n->type = be32(p + 36);
    n->chars = be32(p + 40);
    return n->type >= 1 && n->type <= 256 && n->time <= 100000 && n->chars <= 65536 && n->leap <= 100000 &&
           n->isut <= n->type && n->isstd <= n->type;
}

static size_t block_size(const tzif_counts *n, size_t time_size)
{
    return n->time * time_size + n->time + n->type * 6 + n->chars + n->leap * (time_size + 4) + n->isstd +
           n->isut;
}

static bool parse_tzif(bk_tz *tz, const unsigned char *data, size_t len, char *why, size_t why_size)
{
    tzif_counts n;
    char version;
    if (!read_header(data, len, &n, &version)) {
        snprintf(why, why_size, "not a TZif time zone file");
        return false;
    }
    const unsigned char *p = data + 44;
    size_t time_size = 4;
    if (version >= '2') {
        /* Skip the 32-bit block; the 64-bit one after it is authoritative. */
        size_t skip = block_size(&n, 4);
        if (len - 44 < skip || !read_header(p + skip, len - 44 - skip, &n, &version)) {
            snprintf(why, why_size, "truncated TZif file");
            return false;
        }
        p += skip + 44;
        time_size = 8;
    }
    size_t need = block_size(&n, time_size);
    size_t left = len - (size_t)(p - data);
    if (left < need) {
        snprintf(why, why_size, "truncated TZif file");
        return false;
    }
    if (n.leap > 0) {
        snprintf(why, why_size, "time zones with leap seconds are not supported");
        return false;
    }

    const unsigned char *times = p;
    const unsigned char *indexes = times + n.time * time_size;
    const unsigned char *types = indexes + n.time;

    tz->transition_count = n.time;
    tz->transitions = malloc((n.time ? n.time : 1) * sizeof *tz->transitions);
    tz->offset_after = malloc((n.time ? n.time : 1) * sizeof *tz->offset_after);
    if (!tz->transitions || !tz->offset_after) {
        snprintf(why, why_size, "out of memory");
        return false;
    }
    for (uint32_t i = 0; i < n.time; i++) {
        tz->transitions[i] = time_size == 8 ? be64(times + 8 * i) : (int32_t)be32(times + 4 * i);
        if (i > 0 && tz->transitions[i] <= tz->transitions[i - 1]) {
            snprintf(why, why_size, "TZif transitions out of order");
            return false;
        }
        if (indexes[i] >= n.type) {
            snprintf(why, why_size, "TZif transition names a missing time type");
            return false;
        }
        tz->offset_after[i] = (int32_t)be32(types + 6 * indexes[i]);
    }
    tz->initial_offset = (int32_t)be32(types);

    if (time_size == 8) {
        const unsigned char *footer = p + need;
        const unsigned char *end = data + len;
        if (footer < end && *footer == '\n') {
            const unsigned char *close = memchr(footer + 1, '\n', (size_t)(end - footer - 1));
            size_t text_len = close ? (size_t)(close - footer - 1) : 0;
            if (close && text_len > 0 && !parse_posix_rule((const char *)footer + 1, text_len, &tz->rule)) {
                snprintf(why, why_size, "unsupported TZ rule in time zone file");
                return false;
            }
        }
    }
    return true;
}

bk_tz *bk_tz_load(const char *dir, const char *name, char *why, size_t why_size)
{
    if (!name_is_safe(name)) {
        snprintf(why, why_size, "invalid time zone name");
        return NULL;
    }
    bk_tz *tz = calloc(1, sizeof *tz);
    if (!tz) {
        snprintf(why, why_size, "out of memory");
        return NULL;
    }
    snprintf(tz->name, sizeof tz->name, "%s", name);
    if (strcmp(name, "UTC") == 0)
        return tz; /* no transitions, offset 0 */

    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    size_t len = 0;
    unsigned char *data = read_file(path, &len, why, why_size);
    if (!data) {
        bk_tz_free(tz);
        return NULL;
    }
    bool ok = parse_tzif(tz, data, len, why, why_size);
    free(data);
    if (!ok) {
        bk_tz_free(tz);
        return NULL;
    }
    return tz;
}

void bk_tz_free(bk_tz *tz)
{
    if (!tz)
        return;
    free(tz->transitions);
    free(tz->offset_after);
    free(tz);
}

const char *bk_tz_name(const bk_tz *tz)
{
    return tz->name;
}

/* Index of the last transition at or before t, or -1. */
static ptrdiff_t last_transition_at_or_before(const bk_tz *tz, int64_t t)
{
    size_t lo = 0, hi = tz->transition_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (tz->transitions[mid] <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (ptrdiff_t)lo - 1;
}

int32_t bk_tz_offset(const bk_tz *tz, int64_t t)
{
    ptrdiff_t i = last_transition_at_or_before(tz, t);
    bool after_table = tz->transition_count == 0 || i == (ptrdiff_t)tz->transition_count - 1;
    if (after_table && tz->rule.present)
        return rule_offset(&tz->rule, t);
    if (i < 0)
        return tz->initial_offset;
    return tz->offset_after[i];
}

int64_t bk_tz_next_transition(const bk_tz *tz, int64_t t)
{
    ptrdiff_t i = last_transition_at_or_before(tz, t);
    if ((size_t)(i + 1) < tz->transition_count)
        return tz->transitions[i + 1];
    return tz->rule.present ? rule_next_transition(&tz->rule, t) : INT64_MAX;
}

bk_local_time bk_tz_local_time(const bk_tz *tz, int64_t utc_seconds)
{
    int64_t local = utc_seconds + bk_tz_offset(tz, utc_seconds);
    bk_local_time out;
    out.day = bk_floor_div(local, BK_SECONDS_PER_DAY);
    out.second_of_day = (int)(local - out.day * BK_SECONDS_PER_DAY);
    out.weekday = bk_weekday_of_day(out.day);
    out.hour = out.second_of_day / 3600;
    out.minute = out.second_of_day / 60 % 60;
    return out;
}
