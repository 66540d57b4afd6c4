/* beacon.h - POST /api/events: a visitor's page_view or event sent without a socket
 * (navigator.sendBeacon as a page unloads). The visitor token travels in the body. */
#ifndef BK_BEACON_H
#define BK_BEACON_H

#include "server.h"

void bk_beacon_handle(bk_server *server, bk_http *request);

#endif
