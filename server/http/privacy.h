/* privacy.h - what Beckon holds about a visitor: exported on request, erased on request.
 *
 * GET /api/visitors/{id}/export and DELETE /api/visitors/{id}, for admins. The erasure is
 * one Lua script, so it is all or nothing. */
#ifndef BK_PRIVACY_H
#define BK_PRIVACY_H

#include "server.h"

typedef struct bk_privacy bk_privacy;

/* Registers the scripts: call before bk_store_start. */
bk_privacy *bk_privacy_new(bk_server *server);
void bk_privacy_free(bk_privacy *privacy);

/* /api/visitors/...; the caller has checked the admin role. */
void bk_privacy_handle(bk_privacy *privacy, bk_http *request, const char *who);

#endif
