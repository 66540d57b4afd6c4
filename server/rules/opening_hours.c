/* opening_hours.c - a site's opening hours, outside any rule.
 *
 * The same parser and zone code as a rule's `only.hours`, so a marketer's rule and the
 * site's own hours can never disagree about what "mon-fri 09:00-17:00" means. */
#include "rules/arena.h"
#include "rules/hours.h"
#include "rules/tz.h"

#include <beckon/rules.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct bk_opening_hours {
    bk_arena arena;
    bk_hours hours;
    bk_tz *tz;
};

static int fail(bk_rules_error *err, const char *path, const char *message)
{
    if (err) {
        snprintf(err->path, sizeof err->path, "%s", path);
        snprintf(err->message, sizeof err->message, "%s", message);
    }
    return BK_RULES_ERR_INVALID;
}

int bk_opening_hours_new(const char *hours, const char *tz, bk_opening_hours **out, bk_rules_error *err)
{
    if (!out)
        return BK_RULES_ERR_ARGUMENT;
    *out = NULL;
    if (!hours || !tz)
        return BK_RULES_ERR_ARGUMENT;
    bk_opening_hours *h = calloc(1, sizeof *h);
    if (!h)
        return BK_RULES_ERR_NO_MEMORY;
    char why[BK_RULES_MESSAGE_MAX];
    if (!bk_hours_parse(hours, &h->arena, &h->hours, why, sizeof why)) {
        bk_opening_hours_free(h);
        return fail(err, "hours", why);
    }
    h->tz = bk_tz_load(BK_RULES_ZONEINFO_DIR, tz, why, sizeof why);
    if (!h->tz) {
        bk_opening_hours_free(h);
        return fail(err, "tz", why);
    }
    *out = h;
    return BK_RULES_OK;
}

void bk_opening_hours_free(bk_opening_hours *hours)
{
    if (!hours)
        return;
    bk_tz_free(hours->tz);
    bk_arena_free(&hours->arena);
    free(hours);
}

bool bk_opening_hours_open(const bk_opening_hours *hours, int64_t now_ms)
{
    return bk_hours_open(&hours->hours, hours->tz, now_ms);
}

/* Walks the change points until openness differs from now. A change point may only be an
 * offset change of the zone, so a few steps can be needed; a week of them always does. */
static int64_t next_flip(const bk_opening_hours *hours, int64_t now_ms, bool want_open)
{
    if (hours->hours.count == 0)
        return INT64_MAX; /* closed all week: never opens, and never closes */
    int64_t at = now_ms;
    for (int step = 0; step < 64; step++) {
        at = bk_hours_next_change(&hours->hours, hours->tz, at);
        if (at == INT64_MAX)
            return INT64_MAX;
        if (bk_hours_open(&hours->hours, hours->tz, at) == want_open)
            return at;
    }
    return INT64_MAX; /* open (or closed) around the clock */
}

int64_t bk_opening_hours_next_opening(const bk_opening_hours *hours, int64_t now_ms)
{
    return next_flip(hours, now_ms, true);
}

int64_t bk_opening_hours_next_closing(const bk_opening_hours *hours, int64_t now_ms)
{
    return next_flip(hours, now_ms, false);
}
