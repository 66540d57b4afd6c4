/* teams_api.h - a site's teams over REST (docs/teams.md): GET /api/sites/{id}/teams,
 * PUT and DELETE /api/sites/{id}/teams/{team}. Routing itself is lua/routing.lua's. */
#ifndef BK_TEAMS_API_H
#define BK_TEAMS_API_H

#include "server.h"

#include <jansson.h>
#include <stddef.h>

typedef struct bk_teams_api bk_teams_api;

bk_teams_api *bk_teams_api_new(bk_server *server);  /* registers scripts: before bk_store_start */
void bk_teams_api_free(bk_teams_api *api);

/* The caller has checked the admin role. site is a valid id; rest is what follows "/teams" in
 * the path ("" or "/NAME"). */
void bk_teams_api_handle(bk_teams_api *api, bk_http *request, const char *site, const char *rest);

/* A team's document checked: NULL and *stored set (a new reference: what is kept, without
 * `name` and `default`), or the problem, worded for the field ("members[2].agent: ..."),
 * in why. For the unit test as much as for the route. */
const char *bk_team_check(json_t *body, const char *name, json_t **stored, char *why, size_t why_size);

#endif
