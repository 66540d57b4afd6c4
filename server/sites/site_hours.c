/* site_hours.c - the cache of the sites' compiled opening hours. */
#include "sites/site_hours.h"

#include "base/log.h"
#include "base/map.h"

#include <beckon/rules.h>
#include <stdlib.h>
#include <string.h>

typedef struct hours_entry {
    char *hours, *tz;
    bk_opening_hours *compiled;
} hours_entry;

struct bk_site_hours {
    bk_map *sites;  /* site id -> hours_entry */
};

bk_site_hours *bk_site_hours_new(void)
{
    bk_site_hours *cache = calloc(1, sizeof *cache);
    if (cache && !(cache->sites = bk_map_new())) {
        free(cache);
        return NULL;
    }
    return cache;
}

static void hours_entry_free(hours_entry *entry)
{
    if (!entry)
        return;
    bk_opening_hours_free(entry->compiled);
    free(entry->hours);
    free(entry->tz);
    free(entry);
}

static void hours_entry_free_each(const char *key, void *value, void *data)
{
    (void)key, (void)data;
    hours_entry_free(value);
}

void bk_site_hours_free(bk_site_hours *cache)
{
    if (!cache)
        return;
    bk_map_each(cache->sites, hours_entry_free_each, NULL);
    bk_map_free(cache->sites);
    free(cache);
}

static json_t *instant_or_null(int64_t ms)
{
    return ms == INT64_MAX ? json_null() : json_integer(ms);
}

/* The site's entry for these hours, compiled once; NULL (and no entry) when it keeps none. */
static hours_entry *hours_update(bk_site_hours *cache, const char *site, const char *hours, const char *tz)
{
    if (!cache || !site || !site[0])
        return NULL;
    if (!hours || !hours[0] || !tz || !tz[0]) {
        hours_entry_free(bk_map_remove(cache->sites, site));
        return NULL;
    }
    hours_entry *entry = bk_map_get(cache->sites, site);
    if (!entry || strcmp(entry->hours, hours) != 0 || strcmp(entry->tz, tz) != 0) {
        hours_entry_free(bk_map_remove(cache->sites, site));
        entry = calloc(1, sizeof *entry);
        if (!entry)
            return NULL;
        entry->hours = strdup(hours);
        entry->tz = strdup(tz);
        bk_rules_error err;
        /* Saved hours were checked; a zone file that vanished since reads as "always open". */
        if (bk_opening_hours_new(hours, tz, &entry->compiled, &err) != BK_RULES_OK)
            bk_warn("site %s: opening hours no longer compile (%s: %s)", site, err.path, err.message);
        if (!entry->hours || !entry->tz || bk_map_set(cache->sites, site, entry) != 0) {
            hours_entry_free(entry);
            return NULL;
        }
    }
    return entry;
}

json_t *bk_site_hours_state(bk_site_hours *cache, const char *site, const char *hours, const char *tz,
                            int64_t now_ms)
{
    hours_entry *entry = hours_update(cache, site, hours, tz);
    if (!entry || !entry->compiled)
        return NULL;
    bool open = bk_opening_hours_open(entry->compiled, now_ms);
    int64_t change = open ? bk_opening_hours_next_closing(entry->compiled, now_ms)
                          : bk_opening_hours_next_opening(entry->compiled, now_ms);
    /* changes_in_ms: from the server's clock, so a visitor's wrong clock cannot move it */
    return json_pack("{s:b, s:o, s:o, s:o, s:s}", "open", open,
                     "opens_at", open ? json_null() : instant_or_null(change),
                     "closes_at", open ? instant_or_null(change) : json_null(),
                     "changes_in_ms", change == INT64_MAX ? json_null() : json_integer(change - now_ms),
                     "tz", tz);
}

typedef struct hours_sync {
    bk_map *listed;  /* the sites the sync named */
    bk_map *gone;    /* entries to drop, collected while iterating */
} hours_sync;

static void hours_collect_gone(const char *key, void *value, void *data)
{
    hours_sync *sync = data;
    (void)value;
    if (!bk_map_get(sync->listed, key))
        bk_map_set(sync->gone, key, (void *)1);
}

static void hours_drop(const char *key, void *value, void *data)
{
    (void)value;
    hours_entry_free(bk_map_remove(data, key));
}

void bk_site_hours_sync(bk_site_hours *cache, const char *const *flat, size_t count)
{
    if (!cache)
        return;
    hours_sync sync = { bk_map_new(), bk_map_new() };
    if (!sync.listed || !sync.gone) {
        bk_map_free(sync.listed);
        bk_map_free(sync.gone);
        return;
    }
    for (size_t i = 0; i + 3 <= count; i += 3) {
        hours_update(cache, flat[i], flat[i + 1], flat[i + 2]);
        bk_map_set(sync.listed, flat[i], (void *)1);
    }
    bk_map_each(cache->sites, hours_collect_gone, &sync);
    bk_map_each(sync.gone, hours_drop, cache->sites);
    bk_map_free(sync.listed);
    bk_map_free(sync.gone);
}

typedef struct closed_list {
    int64_t now_ms;
    char *out;
    size_t size, used;
} closed_list;

static void hours_add_closed(const char *key, void *value, void *data)
{
    const hours_entry *entry = value;
    closed_list *list = data;
    if (!entry->compiled || bk_opening_hours_open(entry->compiled, list->now_ms))
        return;
    size_t need = strlen(key) + 1 + (list->used ? 0 : 1);
    if (list->used + need + 1 > list->size)
        return;  /* the argument is full: those sites just get the usual acknowledgement */
    list->used += (size_t)snprintf(list->out + list->used, list->size - list->used, "%s%s,", list->used ? "" : ",", key);
}

void bk_site_hours_closed(const bk_site_hours *cache, int64_t now_ms, char *out, size_t out_size)
{
    closed_list list = { now_ms, out, out_size, 0 };
    if (out_size)
        out[0] = '\0';
    if (cache)
        bk_map_each(cache->sites, hours_add_closed, &list);
}
