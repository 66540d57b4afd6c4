/* site_hours.h - the sites' opening hours, compiled once and kept while their text stays
 * the same (a hello must not read a zone file). The chat asks it whether a site is open. */
#ifndef BK_SITE_HOURS_H
#define BK_SITE_HOURS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

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

#endif
