/* webhook_api.h - GET /api/sites/{id}/webhook (the webhook's delivery state) and
 * POST /api/sites/{id}/webhook/test (a test event, delivered like any other). */
#ifndef BK_WEBHOOK_API_H
#define BK_WEBHOOK_API_H

#include "server.h"

typedef struct bk_webhook_api bk_webhook_api;

bk_webhook_api *bk_webhook_api_new(bk_server *server);  /* registers scripts: before bk_store_start */
void bk_webhook_api_free(bk_webhook_api *api);

/* The caller has checked the admin role. site is a valid id; action is what follows
 * "/webhook" in the path ("" or "/test"). */
void bk_webhook_api_handle(bk_webhook_api *api, bk_http *request, const char *site, const char *action);

#endif
