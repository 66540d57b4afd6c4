/* api.h - the JSON REST routes: health, login, beacon events, and the marketers' routes.
 *
 * Routes that need a login take "Authorization: Bearer TOKEN" (from POST /api/login) and
 * are allowed to some roles only: agent, marketer, admin. */
#ifndef BK_API_H
#define BK_API_H

#include "server.h"

#include <jansson.h>

typedef struct bk_api bk_api;

/* Registers the API's scripts: call before bk_store_start. */
bk_api *bk_api_new(bk_server *server);
void bk_api_shutdown(bk_api *api);
void bk_api_free(bk_api *api);

/* The net's HTTP handler; data is the bk_server. */
void bk_api_handle(bk_http *request, void *server);

/* Responses in the API's one shape; both release the request. body is consumed. */
void bk_api_respond_json(bk_http *request, int status, json_t *body);
void bk_api_respond_error(bk_http *request, int status, const char *code, const char *message);

#endif
