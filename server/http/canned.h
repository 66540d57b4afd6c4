/* canned.h - GET /api/canned, PUT and DELETE /api/canned/{id}: the canned responses agents
 * insert with a shortcut. The caller has checked the role (agents, marketers, admins). */
#ifndef BK_CANNED_H
#define BK_CANNED_H

#include "server.h"

void bk_canned_handle(bk_server *server, bk_http *request);

#endif
