/* router.h - the REST API's routes: which path goes to which handler, and who may use it.
 *
 * Routes that need a login take "Authorization: Bearer TOKEN" (from POST /api/login) and are
 * allowed to some roles only: agent, marketer, admin. The router checks that, once, before a
 * handler runs; handlers (the other files in http/) answer through reply.h and never include
 * this header. */
#ifndef BK_ROUTER_H
#define BK_ROUTER_H

#include "server.h"

typedef struct bk_router bk_router;

/* Makes every route's module; registers their scripts: call before bk_store_start. */
bk_router *bk_router_new(bk_server *server);
void bk_router_shutdown(bk_router *router);  /* on the running loop: closes timers */
void bk_router_free(bk_router *router);

/* The net's HTTP handler; data is the bk_server. */
void bk_router_handle(bk_http *request, void *server);
/* The net's spool handler: the most bytes the route streams to a file, or 0 (net.h). */
uint64_t bk_router_spool(const bk_http *request, void *data);

#endif
