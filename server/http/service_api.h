/* service_api.h - the service KPIs over REST: GET /api/stats/service (JSON) and
 * GET /api/stats/service.csv, for every logged-in role. The figures come from
 * service_stats.h; this module reads the fact rows from Redis and answers. */
#ifndef BK_SERVICE_API_H
#define BK_SERVICE_API_H

#include "server.h"

typedef struct bk_service_api bk_service_api;

/* Registers the module's script: call before bk_store_start. */
bk_service_api *bk_service_api_new(bk_server *server);
void bk_service_api_free(bk_service_api *api);

/* Answers a request for one of the two paths (the caller has checked the role). */
void bk_service_api_handle(bk_service_api *api, bk_http *request);

#endif
