/* help_api_internal.h - what help_api.c (articles) and help_stats_api.c (figures) share. */
#ifndef BK_HELP_API_INTERNAL_H
#define BK_HELP_API_INTERNAL_H

#include "http/help_api.h"

#include "base/keys.h"

enum {
    HELP_API_SCRIPT_SAVE,
    HELP_API_SCRIPT_DELETE,
    HELP_API_SCRIPT_REVERT,
    HELP_API_SCRIPT_GET,
    HELP_API_SCRIPT_STATS,
    HELP_API_SCRIPT_COUNT
};

struct bk_help_api {
    bk_server *server;
    int scripts[HELP_API_SCRIPT_COUNT];
    char prefix[BK_KEYS_PREFIX_SIZE];  /* articles and their figures are global keys */
};

#endif
