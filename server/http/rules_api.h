/* rules_api.h - the marketers' REST routes for rules: with versions, revert and validation.
 * Authorization is done before a request reaches this module. */
#ifndef BK_RULES_API_H
#define BK_RULES_API_H

#include "server.h"

typedef struct bk_rules_api bk_rules_api;

/* Registers the scripts (before bk_store_start) and, when a rules file is configured,
 * imports it once Redis is reachable: rules whose id Redis does not know yet are saved. */
bk_rules_api *bk_rules_api_new(bk_server *server);
void bk_rules_api_shutdown(bk_rules_api *api);
void bk_rules_api_free(bk_rules_api *api);

/* /api/rules and below but /api/rules/test (the router's rules_dry_run); `who` is the
 * logged-in name, kept in each version. */
void bk_rules_api_handle(bk_rules_api *api, bk_http *request, const char *who);

#endif
