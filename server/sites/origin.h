/* origin.h - web origins ("scheme://host[:port]") as sites list them and browsers send them.
 *
 * Pure string functions: the chat checks a visitor's Origin against its site's list, the
 * REST router and the agents' sockets accept only Beckon's own origin. */
#ifndef BK_ORIGIN_H
#define BK_ORIGIN_H

#include <stddef.h>

#define BK_ORIGIN_MAX 256  /* with its NUL */

/* "https://Shop.Example:8443" -> "https://shop.example:8443". Only http(s), a host (name,
 * IPv4 or [IPv6]) and an optional port; no path, no trailing dot. 0, or -1. */
int bk_origin_normalize(const char *in, char *out, size_t out_size);

/* Whether a request's Origin is Beckon's own (the page was served by this Host), or absent
 * (scripts and other non-browser clients send none). For agent, marketer and admin routes. */
int bk_origin_is_own(const char *origin, const char *host);

#endif
