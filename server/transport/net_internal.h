/* net_internal.h - what the files of the net module share, and nothing else includes.
 *
 * net.h is the module's one face. Behind it: net.c (the lws context, its vhost and mounts,
 * shutdown), websocket.c (WebSocket connections, their bounded send queues, the RFC 6455
 * guards), http_server.c (plain HTTP requests, bodies and their deadline) and peers.c (client
 * addresses, trusted proxies, connections counted per address).
 *
 * Names: public ones start with bk_ and are declared in net.h; the ones declared here, shared
 * by those four files only, start with net_; anything else is static to its file. */
#ifndef BK_NET_INTERNAL_H
#define BK_NET_INTERNAL_H

#include "transport/net.h"

#include "base/list.h"
#include "base/map.h"

#include <libwebsockets.h>
#include <limits.h>
#include <stdint.h>

struct bk_net {
    uv_loop_t *loop;
    const bk_config *config;
    bk_net_handlers handlers;
    void *data;
    struct lws_context *context;
    struct lws_vhost *vhost;
    struct lws_protocols protocols[4];
    struct lws_http_mount mounts[6];
    char spool_dir[PATH_MAX + 16];  /* data-dir/uploads: streamed bodies (http_spool.c) */
    char widget_dir[PATH_MAX + 16];
    char demo_dir[PATH_MAX + 16];
    bk_list open;              /* the open WebSockets (bk_conn.open_link) */
    bk_list close_list;        /* connections to close from close_timer (bk_conn.close_link) */
    uv_timer_t close_timer;
    uv_timer_t drain_timer;
    uint64_t drain_waited_ms;
    void (*drained_fn)(void *data);
    void *drained_data;
    unsigned long next_id;
    int shutting_down;
    /* Counts (the pointer value is the count): */
    bk_map *per_ip;            /* client address -> open WebSockets */
    bk_map *per_peer;          /* socket address -> open connections of any kind (peers.c) */
    bk_map *http_per_ip;       /* client address -> connections serving plain HTTP */
    unsigned char *scratch;    /* LWS_PRE + a frame, for writes that need no queue */
    size_t scratch_size;
};

/* Per TCP connection, from accept to close (peers.c says why it lives where it does). */
typedef struct net_tcp_conn {
    char peer[64];       /* its key in per_peer; "" when not counted there */
    char client[64];     /* its key in http_per_ip, when http_counted */
    int http_counted;
    int body_deadline;   /* the wsi's timer is armed for the request body */
} net_tcp_conn;

/* A plain HTTP request, from its headers to its response (http_server.c; http_spool.c streams
 * its body to a file when the route asks for that). */
#define NET_HTTP_PATH_SIZE  512
#define NET_HTTP_QUERY_SIZE 512

typedef struct net_spool net_spool;

struct bk_http {
    struct lws *wsi;           /* NULL once the client left */
    bk_net *net;
    int refs;
    char method[8];
    char path[NET_HTTP_PATH_SIZE];
    char query[NET_HTTP_QUERY_SIZE];
    char *body;
    size_t body_len;
    int body_too_large;
    char authorization[256];
    char origin[256];
    char cookie[512];
    char content_type[128];
    char host[256];
    char peer[64];
    net_spool *spool;          /* a streamed body, or NULL */
    /* the response */
    int status;
    char response_type[64];
    char *response;            /* LWS_PRE + body */
    size_t response_len;
    int headers_sent;
    int body_sent;  /* the body is out: the transaction is over */
    char disposition[160];     /* Content-Disposition, or "" */
    char cors_origin[256];     /* Access-Control-Allow-Origin, or "" (bk_http_cors) */
    const char *cors_methods;  /* a preflight's answer: Access-Control-Allow-Methods, or NULL */
    /* a streamed response (bk_http_stream_begin) */
    int streaming;
    char *stream_headers;
    uint64_t stream_length, stream_written;
    int stream_ended, stream_asked;
    void (*stream_more)(bk_http *request, int gone, void *data);
    void *stream_data;
};

/* ---- websocket.c ---------------------------------------------------------------------- */

/* The lws protocol of one WebSocket role, named by its subprotocol, for bk_net_new's table. */
struct lws_protocols net_websocket_protocol(const char *name, bk_role role);

/* Shutdown: closes every open WebSocket with 1001 (closes already asked for go first). */
void net_websockets_close(bk_net *net);

/* Refuses a WebSocket handshake with a plain HTTP status; returns what the callback returns. */
int net_upgrade_refuse(struct lws *wsi, unsigned status);

/* ---- http_server.c -------------------------------------------------------------------- */

/* The lws protocol every plain HTTP request and every TCP connection comes through. */
struct lws_protocols net_http_protocol(void);

/* Answers at once from inside an lws callback with a JSON error; the caller then returns -1. */
void net_http_refuse(struct lws *wsi, unsigned status, const char *code, const char *message);
/* The request's Content-Length, or -1 when it has none (or one that is not a number). */
long long net_http_content_length(struct lws *wsi);

/* ---- http_spool.c ---------------------------------------------------------------------- */

/* Makes data-dir/uploads (0700) at start-up and removes what a previous process left there:
 * 0, or -1 with err filled. */
int net_spool_dir_prepare(bk_net *net, char *err, size_t err_size);
/* Starts streaming r's body to a new file, for a route that takes at most ceiling bytes: 0, or
 * -1 having answered (413 when the declared length passes ceiling, 503 when no file can be
 * made): the caller returns -1 from the callback. */
int net_spool_start(bk_net *net, bk_http *r, uint64_t ceiling);
/* A piece of the body: 0, or -1 to drop the connection. */
int net_spool_body(bk_http *r, const void *in, size_t len);
/* lws has the whole body (for a declared length). */
void net_spool_body_end(bk_http *r);
/* The client left (or the deadline passed): an awaiting route hears BK_SPOOL_GONE. */
void net_spool_client_gone(bk_http *r);
/* The body's bytes so far (decoded). */
uint64_t net_spool_received(const bk_http *r);
/* Whether the body was read whole (a response otherwise closes the connection). */
int net_spool_complete(const bk_http *r);
/* With the request: removes the file (after any write still in flight). */
void net_spool_free(net_spool *spool);

/* ---- peers.c -------------------------------------------------------------------------- */

/* A count per address in one of bk_net's maps; the count going to 0 removes the entry. */
uintptr_t net_ip_count(const bk_map *counts, const char *ip);
void net_ip_count_add(bk_map *counts, const char *ip, int delta);

/* The client's address: the socket's peer, or behind a trusted proxy what X-Forwarded-For
 * says (peers.c has the rule). */
void net_peer_address(const bk_net *net, struct lws *wsi, char *out, size_t size);

/* The connection record's life (FILTER_NETWORK_CONNECTION, SERVER_NEW_CLIENT_INSTANTIATED,
 * WSI_DESTROY) and its leaving the plain HTTP count (at an upgrade or another client). */
int net_tcp_accept_refused(bk_net *net, const struct lws_filter_network_conn_args *args);
void net_tcp_conn_open(bk_net *net, struct lws *wsi);
void net_tcp_conn_http_leave(bk_net *net, net_tcp_conn *c);
void net_tcp_conn_close(bk_net *net, struct lws *wsi);

#endif
