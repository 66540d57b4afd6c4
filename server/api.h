/* api.h - the JSON REST routes under /api/ and /healthz. */
#ifndef BK_API_H
#define BK_API_H

#include "server.h"

/* The net's HTTP handler; data is the bk_server. */
void bk_api_handle(bk_http *request, void *server);

#endif
