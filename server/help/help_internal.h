/* help_internal.h - what help.c (articles, indexes, searches) and help_counters.c (the figures,
 * what visitors saw, chats avoided) share; nothing outside help/ includes it. */
#ifndef BK_HELP_INTERNAL_H
#define BK_HELP_INTERNAL_H

#include "help/help.h"

#include "base/keys.h"
#include "base/map.h"

#include <beckon/protocol.h>

#include <uv.h>

enum {
    HELP_SCRIPT_LOAD,
    HELP_SCRIPT_STATS_ADD,
    HELP_SCRIPT_SEEN,
    HELP_SCRIPT_AVOIDED,
    HELP_SCRIPT_COUNT
};

struct bk_help {
    bk_server *server;
    int scripts[HELP_SCRIPT_COUNT];
    char prefix[BK_KEYS_PREFIX_SIZE];  /* articles are global keys */
    bk_map *sites;           /* site -> help_site (help.c) */
    int stopping;
    int builds;              /* builds on the thread pool */
    uv_work_t trim;          /* giving back what a build freed (help.c) */
    int trimming;
    double last_build_ms;
    /* help_counters.c */
    bk_map *counts;          /* "SITE:counter" -> count (a pointer-sized integer) */
    bk_map *missing;         /* "SITE LANG words" -> count, searches that found nothing */
    uv_timer_t flush_timer;
    unsigned flush_ticks;
};

/* help_counters.c */
void help_counters_start(bk_help *help);
void help_counters_stop(bk_help *help);
void help_counters_free(bk_help *help);
/* A search that found nothing: its words, lowercased, kept to count the most common. */
void help_missing_count(bk_help *help, const char *site, const char *lang, const char *query, size_t len);

#endif
