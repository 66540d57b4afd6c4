/* flows_api.h - the marketers' REST routes for quick-reply flows (docs/flows.md): one flow a
 * site, checked by flows/flow.c, with versions and revert like rules. Authorization is done
 * before a request reaches this module. */
#ifndef BK_FLOWS_API_H
#define BK_FLOWS_API_H

#include "server.h"

typedef struct bk_flows_api bk_flows_api;

/* Registers the scripts (before bk_store_start). */
bk_flows_api *bk_flows_api_new(bk_server *server);
void bk_flows_api_free(bk_flows_api *api);

/* /api/flows and below; `who` is the logged-in name, kept in each version. */
void bk_flows_api_handle(bk_flows_api *api, bk_http *request, const char *who);

#endif
