/* sites.h - /api/sites and /api/sites/{id}: the websites a Beckon serves, managed by admins.
 * What a site's settings may be is sites/site_settings.h's; "beckon site ..." is cli/site_cli.
 *
 * With no site configured, visitor sockets accept any origin (development). Once one exists,
 * a visitor's hello must name a configured site and come from one of its origins, exactly:
 * scheme, host and port. */
#ifndef BK_SITES_H
#define BK_SITES_H

#include "server.h"


typedef struct bk_sites bk_sites;

bk_sites *bk_sites_new(bk_server *server);  /* registers scripts: before bk_store_start */
void bk_sites_free(bk_sites *sites);

/* /api/sites and /api/sites/{id}; the caller has checked the admin role. */
void bk_sites_handle(bk_sites *sites, bk_http *request);

#endif
