/* sites.h - the websites a Beckon serves: allowed origins, identity secret, consent,
 * retention. Managed by admins over /api/sites and by "beckon site ..." in a shell.
 *
 * With no site configured, visitor sockets accept any origin (development). Once one exists,
 * a visitor's hello must name a configured site and come from one of its origins, exactly:
 * scheme, host and port. */
#ifndef BK_SITES_H
#define BK_SITES_H

#include "base/config.h"
#include "server.h"

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdint.h>

typedef struct bk_sites bk_sites;

bk_sites *bk_sites_new(bk_server *server);  /* registers scripts: before bk_store_start */
void bk_sites_free(bk_sites *sites);

/* /api/sites and /api/sites/{id}; the caller has checked the admin role. */
void bk_sites_handle(bk_sites *sites, bk_http *request);

/* "beckon site add ID ORIGIN... | list | remove ID | set ID KEY VALUE"; argv[0] is "site". */
int bk_site_cli(const bk_config *config, int argc, char **argv);

/* Sites' opening hours, compiled once and kept while their text stays the same (a hello
 * must not read a zone file). */
typedef struct bk_site_hours bk_site_hours;

bk_site_hours *bk_site_hours_new(void);
void bk_site_hours_free(bk_site_hours *cache);

/* {open, opens_at, closes_at} for the site at now_ms (ms, null when it never happens), or
 * NULL when the site keeps no hours (or they no longer compile): always open. A new reference. */
json_t *bk_site_hours_state(bk_site_hours *cache, const char *site, const char *hours, const char *tz,
                            int64_t now_ms);

/* Makes the cache hold exactly these sites' hours: `flat` is (site, hours, tz) triples as the
 * SITES_HOURS script returns them ("" = no hours); other sites are forgotten. */
void bk_site_hours_sync(bk_site_hours *cache, const char *const *flat, size_t count);

/* ",a,b," for the sites closed at now_ms ("" when none), cut at out_size. */
void bk_site_hours_closed(const bk_site_hours *cache, int64_t now_ms, char *out, size_t out_size);

/* "https://Shop.Example:8443" -> "https://shop.example:8443". Only http(s), a host (name,
 * IPv4 or [IPv6]) and an optional port; no path, no trailing dot. 0, or -1. */
int bk_origin_normalize(const char *in, char *out, size_t out_size);

/* Whether a request's Origin is Beckon's own (the page was served by this Host), or absent
 * (scripts and other non-browser clients send none). For agent, marketer and admin routes. */
int bk_origin_is_own(const char *origin, const char *host);

#endif
