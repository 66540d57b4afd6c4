/* help_api.h - the marketers' REST routes for help articles: list, get, save, delete, versions,
 * revert, preview, import and export, per site; and the self-service figures
 * (GET /api/stats/help). Authorization is done before a request reaches this module. */
#ifndef BK_HELP_API_H
#define BK_HELP_API_H

#include "server.h"

typedef struct bk_help_api bk_help_api;

/* Registers the scripts (before bk_store_start). */
bk_help_api *bk_help_api_new(bk_server *server);
void bk_help_api_free(bk_help_api *api);

/* /api/help/{site}/...; `who` is the logged-in name, kept in each version. */
void bk_help_api_handle(bk_help_api *api, bk_http *request, const char *who);
/* GET /api/stats/help?from=&to=&site= (help_stats_api.c) */
void bk_help_api_stats(bk_help_api *api, bk_http *request);

#endif
