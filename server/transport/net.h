/* net.h - HTTP and WebSocket on libwebsockets, running on the server's libuv loop.
 *
 * net knows bytes, frames and connections; it knows nothing of the chat protocol. It hands
 * complete, size-checked, UTF-8-valid text messages up (none that follow the client's close
 * frame), and takes text to send down. A send is written at once when nothing waits before it
 * (a writable callback would cost four epoll_ctl calls in lws's libuv plugin); otherwise it
 * joins the connection's bounded queue, which lws's writable callback drains in order.
 *
 * The module's files: net.c (the context), websocket.c, http_server.c, peers.c; what they
 * share is in net_internal.h, which nothing else includes. */
#ifndef BK_NET_H
#define BK_NET_H

#include "base/config.h"

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct bk_net bk_net;
typedef struct bk_conn bk_conn;
typedef struct bk_http bk_http;

typedef enum { BK_ROLE_VISITOR = 1, BK_ROLE_AGENT = 2 } bk_role;

typedef enum {
    BK_RX_TEXT,       /* a whole text message, valid UTF-8, within the limit */
    BK_RX_TOO_LARGE,  /* its fragments together passed the limit; the text was dropped */
    BK_RX_BINARY,     /* a binary message; dropped */
} bk_rx_status;

typedef struct bk_net_handlers {
    void (*opened)(bk_conn *conn, void *data);
    void (*received)(bk_conn *conn, bk_rx_status status, const char *text, size_t len, void *data);
    void (*closed)(bk_conn *conn, void *data);
    /* A complete HTTP request for /api/, /files/, /healthz or /metrics. The handler must call
     * bk_http_respond (or end a stream it began, bk_http_stream_end) exactly once, now or
     * later. A request whose body is streamed (spool, below) comes here as soon as its headers
     * are in, while its body is still arriving. */
    void (*http)(bk_http *request, void *data);
    /* Whether a request's body is streamed to a file, asked when its headers are in: 0 for the
     * usual body, read into memory (at most 64 KiB); else the most bytes the route can ever
     * take. A Content-Length above that is refused at once (413, nothing read); the route
     * learns the body's fate through bk_http_spool_await. NULL: never. */
    uint64_t (*spool)(const bk_http *request, void *data);
} bk_net_handlers;

/* Creates the lws context on the loop. Even when it fails (err filled), the net must be
 * shut down and freed like a running one. */
bk_net *bk_net_new(uv_loop_t *loop, const bk_config *config, const bk_net_handlers *handlers,
                   void *data, char *err, size_t err_size);

/* Opens the listening socket on config->bind:config->port. */
int bk_net_listen(bk_net *net, char *err, size_t err_size);

/* Shutdown, first half (on the running loop): closes every WebSocket with 1001, waits for the
 * closing handshakes (2 s at most), asks lws to wind down, then calls drained_fn. The second
 * half, bk_net_free, runs after uv_run has returned. */
void bk_net_shutdown(bk_net *net, void (*drained_fn)(void *data), void *data);
void bk_net_free(bk_net *net);

int bk_net_port(const bk_net *net);

/* The lws context, for outgoing requests on the same loop (fetch.c); NULL if it failed. */
struct lws_context;
struct lws_context *bk_net_lws_context(bk_net *net);

/* Connections are reference counted: the net holds one reference while the socket is open;
 * whoever keeps a pointer across an async call takes another. */
void bk_conn_ref(bk_conn *conn);
void bk_conn_unref(bk_conn *conn);
int bk_conn_is_open(const bk_conn *conn);
bk_role bk_conn_role(const bk_conn *conn);
void bk_conn_set_user(bk_conn *conn, void *user);
void *bk_conn_user(const bk_conn *conn);
unsigned long bk_conn_id(const bk_conn *conn);
/* The handshake's Origin and Host headers ("" when absent), kept for the whole connection. */
const char *bk_conn_origin(const bk_conn *conn);
const char *bk_conn_host(const bk_conn *conn);

/* Sends one text message: now, or after those queued before it. Returns 0, or -1 when the
 * socket is gone or closing (nothing may follow a close frame) or the queue would pass its
 * limit (then the connection is closed: a client that does not read is dropped). */
int bk_conn_send(bk_conn *conn, const char *text, size_t len);

/* Closes after everything queued so far has been written; does nothing on a socket that is
 * already closing. */
void bk_conn_close(bk_conn *conn, int code, const char *reason);

/* HTTP requests. */
const char *bk_http_method(const bk_http *request);
const char *bk_http_path(const bk_http *request);   /* without the query string */
const char *bk_http_query(const bk_http *request);  /* after '?', or "" */
const char *bk_http_body(const bk_http *request, size_t *len);
/* The headers the API uses, copied when the request came in: "authorization", "origin",
 * "cookie", "content-type", "host". "" when absent or not one of these. */
const char *bk_http_header(const bk_http *request, const char *name);

/* The client's address: the socket's peer; behind a proxy listed in trusted-proxies, the last
 * X-Forwarded-For entry that is not itself a trusted proxy (an untrusted proxy's clients all
 * have the proxy's address). */
const char *bk_http_peer(const bk_http *request);

/* Makes the response a download named filename (Content-Disposition: attachment); call
 * before bk_http_respond. filename: plain ASCII, no quotes. */
void bk_http_attachment(bk_http *request, const char *filename);

/* Lets the page at origin read the response (CORS: Access-Control-Allow-Origin naming it, Vary:
 * Origin), for a route a page on another origin calls with a token it holds itself, never with
 * the browser's cookies (none is allowed: no Allow-Credentials). origin: normalised and checked
 * by the caller (copied). methods non-NULL makes the response a
 * preflight's answer: those methods, the Authorization and Content-Type headers, for 10 min.
 * Call before bk_http_respond. */
void bk_http_cors(bk_http *request, const char *origin, const char *methods);

/* Sends the response (body copied) and releases the request. Safe after the client left. */
void bk_http_respond(bk_http *request, int status, const char *content_type,
                     const char *body, size_t len);

/* ---- streamed bodies (uploads) --------------------------------------------------------------
 * A body the spool handler asked for goes, chunk by chunk as it arrives, into a new file under
 * the spool folder (data-dir/uploads/, mode 0600, a random name), written with uv_fs (never on
 * the loop's thread) and hashed (SHA-256) on the way; reading pauses while writes lag, so
 * memory does not grow with the body. The body deadline (body-timeout-seconds) holds as for any
 * body. The file belongs to the request: it is removed when the request is released (after the
 * response), whatever happened. */
typedef enum {
    BK_SPOOL_DONE,       /* the whole body is in the file */
    BK_SPOOL_TOO_LARGE,  /* its length (declared, or counted so far) passes max_bytes: not read on */
    BK_SPOOL_GONE,       /* the client left, or missed the body deadline (answered 408 then) */
    BK_SPOOL_FAILED,     /* the file could not be made or written */
} bk_spool_status;

typedef struct bk_spool_result {
    bk_spool_status status;
    const char *path;          /* the file (DONE) */
    uint64_t bytes;            /* DONE: the body's length; TOO_LARGE: the declared or counted one */
    int declared;              /* TOO_LARGE: bytes is the declared length (else: so far, chunked) */
    char sha256[65];           /* DONE: hex */
} bk_spool_result;

/* Calls done exactly once, on the loop (never before this returns): when the body is whole, or
 * as soon as it is known to pass max_bytes (the declared Content-Length, or the bytes so far of
 * a chunked body), or when the client is gone. Call at most once per request, before
 * responding. A response to a body not read whole closes the connection after it. */
void bk_http_spool_await(bk_http *request, uint64_t max_bytes,
                         void (*done)(bk_http *request, const bk_spool_result *result, void *data),
                         void *data);

/* ---- streamed responses (downloads) ---------------------------------------------------------
 * The headers now (status, type, length and the extra lines given), the body after in chunks:
 * the net calls more(request, 0, data) whenever it wants the next chunk, which the caller
 * hands over with bk_http_stream_write (copied; at most one chunk waits), and more(request, 1,
 * data) when the client left. The caller ends with bk_http_stream_end, which releases the
 * request (closing the connection when fewer bytes than length went out). headers: "name: value"
 * lines, each ending in "\r\n", or "". */
void bk_http_stream_begin(bk_http *request, int status, const char *content_type, uint64_t length,
                          const char *headers, void (*more)(bk_http *request, int gone, void *data),
                          void *data);
void bk_http_stream_write(bk_http *request, const char *chunk, size_t len);
void bk_http_stream_end(bk_http *request);

#endif
