/* fetch.h - outgoing HTTP requests (webhooks) on the server's loop: libwebsockets' client on
 * net's lws context, host names resolved on libuv's thread pool, one deadline per request.
 *
 * Nothing here blocks the loop: lws would resolve names with a blocking getaddrinfo (Debian's
 * lws is built without its async DNS), so the name is resolved first with uv_getaddrinfo and
 * lws is handed the address, the name going into Host (and SNI and the certificate check for
 * https). Redirects are not followed: a 3xx is a status like any other. The response body is
 * read and dropped. */
#ifndef BK_FETCH_H
#define BK_FETCH_H

#include "transport/net.h"

#include <stddef.h>
#include <uv.h>

typedef struct bk_fetcher bk_fetcher;
typedef struct bk_fetch bk_fetch;

/* A URL split for a request: http or https, host (name, IPv4 or [IPv6]), port, path+query. */
typedef struct bk_url {
    int tls;
    char host[256];     /* without brackets */
    int port;
    char path[1024];    /* "/" when the URL has none */
} bk_url;

/* http(s)://host[:port][/path]; no user info, no fragment, printable ASCII only. 0 or -1. */
int bk_url_parse(const char *url, bk_url *out);

/* status: the HTTP status, or 0 when there was none (error says why: "connection refused",
 * "timed out after 10 s", ...; NULL when there is a status). Called once, from the loop,
 * outside every lws callback. */
typedef void (*bk_fetch_done_fn)(int status, const char *error, void *data);

bk_fetcher *bk_fetcher_new(uv_loop_t *loop, bk_net *net);
void bk_fetcher_free(bk_fetcher *fetcher);  /* after the loop has stopped */

/* POSTs body to url with headers ("Name: value\r\n" lines, Content-Type and Content-Length
 * included by the caller). Returns the request, or NULL with err filled (and fn not called). */
bk_fetch *bk_fetch_post(bk_fetcher *fetcher, const char *url, const char *headers,
                        const char *body, size_t len, int timeout_ms,
                        bk_fetch_done_fn fn, void *data, char *err, size_t err_size);

/* Ends the request now; fn is not called. The pointer must not be used afterwards. */
void bk_fetch_cancel(bk_fetch *fetch);

#endif
