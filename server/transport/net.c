/* net.c - libwebsockets on a foreign libuv loop: vhost, mounts, sockets, queues, HTTP. */
#include "transport/net.h"

#include "base/ids.h"
#include "base/list.h"
#include "base/log.h"
#include "base/map.h"
#include "base/metrics.h"
#include "base/utf8.h"

#include <arpa/inet.h>
#include <beckon/protocol.h>
#include <libwebsockets.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define HTTP_BODY_MAX   (64 * 1024)
/* The longest path and query kept, each with its NUL: a longer one is refused (414), never cut
 * short into another id. */
#define HTTP_PATH_SIZE  512
#define HTTP_QUERY_SIZE 512
#define SEND_QUEUE_MAX  (1024 * 1024)  /* bytes queued for one client before it is dropped */
/* lws allocates RX_BUFFER_SIZE for every WebSocket for as long as it is open: the largest
 * cost of an idle socket that we choose. Larger messages arrive in pieces and are reassembled
 * here; control frames (125 bytes at most) fit. Sends are limited separately, by
 * TX_PACKET_SIZE: with 0 lws would cut every send() to RX_BUFFER_SIZE and drip the rest out
 * one piece per writable callback. No frame is larger than the send queue. */
#define RX_BUFFER_SIZE  256
#define TX_PACKET_SIZE  SEND_QUEUE_MAX
#define DRAIN_POLL_MS   20
#define DRAIN_MAX_MS    2000           /* how long shutdown waits for closing handshakes */

typedef struct chunk {
    bk_list link;           /* in its connection's send queue */
    size_t len;
    unsigned char bytes[];  /* LWS_PRE of headroom, then the message */
} chunk;

struct bk_conn {
    bk_net *net;
    struct lws *wsi;           /* NULL once closed */
    bk_list open_link;         /* in the net's open connections */
    bk_list close_link;        /* in the net's close list, while a close waits for its timer */
    unsigned long id;
    int refs;
    bk_role role;
    void *user;
    bk_list send_queue;        /* chunks not yet handed to lws_write, oldest first */
    size_t queued;
    char *rx;                  /* the message being reassembled */
    size_t rx_len, rx_cap;
    int close_code;            /* non-zero: close once the queue is empty */
    char close_reason[64];
    /* Flags, as bits: every byte of this struct is paid by every idle socket. */
    unsigned rx_too_large : 1;
    unsigned rx_binary : 1;
    unsigned peer_closed : 1;  /* the client's close frame came: nothing after it is acted on */
    unsigned closing_ours : 1; /* we asked lws to close (our code and reason, a polite handshake) */
    unsigned failing : 1;      /* lws is closing on a protocol error: drop TCP once its close is out */
    const char *ip;            /* the peer, counted against max-connections-per-ip */
    const char *origin;        /* the handshake's Origin, "" when none */
    const char *host;          /* the handshake's Host */
    /* The three strings follow the struct in its allocation, sized to fit: a fixed maximum
     * for each would cost every idle socket half a kilobyte. */
};

struct bk_http {
    struct lws *wsi;           /* NULL once the client left */
    int refs;
    char method[8];
    char path[HTTP_PATH_SIZE];
    char query[HTTP_QUERY_SIZE];
    char *body;
    size_t body_len;
    int body_too_large;
    char authorization[256];
    char origin[256];
    char cookie[512];
    char content_type[128];
    char host[256];
    char peer[64];
    /* the response */
    int status;
    char response_type[64];
    char *response;            /* LWS_PRE + body */
    size_t response_len;
    int headers_sent;
    int body_sent;  /* the body is out: the transaction is over */
    char disposition[160];     /* Content-Disposition, or "" */
};

typedef struct http_session { bk_http *request; } http_session;
typedef struct ws_session { bk_conn *conn; } ws_session;

struct bk_net {
    uv_loop_t *loop;
    const bk_config *config;
    bk_net_handlers handlers;
    void *data;
    struct lws_context *context;
    struct lws_vhost *vhost;
    struct lws_protocols protocols[4];
    struct lws_http_mount mounts[5];
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
    bk_map *per_peer;          /* socket address -> open connections of any kind (see tcp_conn) */
    bk_map *http_per_ip;       /* client address -> connections serving plain HTTP */
    unsigned char *scratch;    /* LWS_PRE + a frame, for writes that need no queue */
    size_t scratch_size;
};

/* ---- connections ------------------------------------------------------------------- */

void bk_conn_ref(bk_conn *conn) { conn->refs++; }

void bk_conn_unref(bk_conn *conn)
{
    if (--conn->refs > 0)
        return;
    bk_list_each(node, &conn->send_queue)
        free(bk_list_entry(node, chunk, link));
    free(conn->rx);
    free(conn);
}

int bk_conn_is_open(const bk_conn *conn) { return conn->wsi != NULL; }
bk_role bk_conn_role(const bk_conn *conn) { return conn->role; }
void bk_conn_set_user(bk_conn *conn, void *user) { conn->user = user; }
void *bk_conn_user(const bk_conn *conn) { return conn->user; }
unsigned long bk_conn_id(const bk_conn *conn) { return conn->id; }
const char *bk_conn_origin(const bk_conn *conn) { return conn->origin; }
const char *bk_conn_host(const bk_conn *conn) { return conn->host; }

/* Whether lws is already closing this socket by itself: after the client's close frame (it
 * answers it and drops the connection) or on a protocol error (it sends its own close frame).
 * A close or a send of ours then would at best be lost; a close reason set now would replace
 * the close frame lws is about to send (both live in the same lws buffer), and a data frame
 * after a close frame breaks RFC 6455 §5.5.1. */
static int conn_lws_closing(const bk_conn *conn)
{
    return conn->peer_closed || conn->failing;
}

/* Closing is done from a timer, outside every lws callback: with Debian's lws a close begun
 * by returning -1 from the writable callback can lose the close frame. */
static void on_close_timer(uv_timer_t *timer)
{
    bk_net *net = timer->data;
    bk_list *node;
    while ((node = bk_list_first(&net->close_list))) {
        bk_conn *conn = bk_list_entry(node, bk_conn, close_link);
        bk_list_remove(node);
        if (conn->wsi && !conn_lws_closing(conn)) {
            lws_close_reason(conn->wsi, (enum lws_close_status)conn->close_code,
                             (unsigned char *)conn->close_reason, strlen(conn->close_reason));
            conn->closing_ours = 1;  /* before the call: lws reports the close inside it */
            lws_set_timeout(conn->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
        }
        bk_conn_unref(conn);
    }
}

static void conn_close_now(bk_conn *conn)
{
    if (bk_list_linked(&conn->close_link) || !conn->wsi)
        return;
    bk_conn_ref(conn);
    bk_list_push_front(&conn->net->close_list, &conn->close_link);
    uv_timer_start(&conn->net->close_timer, on_close_timer, 0, 0);
}

void bk_conn_close(bk_conn *conn, int code, const char *reason)
{
    if (!conn->wsi || conn->close_code || conn_lws_closing(conn))
        return;
    conn->close_code = code;
    snprintf(conn->close_reason, sizeof conn->close_reason, "%s", reason ? reason : "");
    if (bk_list_empty(&conn->send_queue))
        conn_close_now(conn);
    /* else: the writable callback closes once the queue has drained */
}

/* lws_write needs LWS_PRE bytes of headroom before the payload: one buffer for the node. */
static int conn_write_direct(bk_conn *conn, const char *text, size_t len)
{
    bk_net *net = conn->net;
    if (LWS_PRE + len > net->scratch_size) {
        size_t size = LWS_PRE + len < 4096 ? 4096 : LWS_PRE + len;
        unsigned char *bigger = realloc(net->scratch, size);
        if (!bigger)
            return -1;
        net->scratch = bigger;
        net->scratch_size = size;
    }
    memcpy(net->scratch + LWS_PRE, text, len);
    if (lws_write(conn->wsi, net->scratch + LWS_PRE, len, LWS_WRITE_TEXT) < (int)len) {
        bk_debug("connection %lu: write failed", conn->id);
        conn_close_now(conn);
        return -1;
    }
    return 0;
}

int bk_conn_send(bk_conn *conn, const char *text, size_t len)
{
    if (!conn->wsi || conn->close_code || conn_lws_closing(conn))
        return -1;
    if (conn->queued + len > SEND_QUEUE_MAX) {
        bk_warn("connection %lu: client is not reading (%zu bytes queued); dropping it",
                conn->id, conn->queued);
        bk_metrics_now.slow_consumers_dropped++;
        conn->close_code = BK_CLOSE_POLICY;
        snprintf(conn->close_reason, sizeof conn->close_reason, "send queue full");
        conn_close_now(conn);
        return -1;
    }
    /* Nothing waits before this frame: write it now. Asking lws for a writable callback
     * instead costs four epoll_ctl calls through its libuv plugin (it stops and restarts the
     * poll handle on the way in and out), which was most of beckon's CPU per chat message.
     * lws_write keeps what the kernel does not take and flushes it itself; while it holds
     * such a remainder, frames queue here as before, so the queue's bound still holds for a
     * client that stops reading. */
    if (bk_list_empty(&conn->send_queue) && !lws_partial_buffered(conn->wsi))
        return conn_write_direct(conn, text, len);
    chunk *c = malloc(sizeof *c + LWS_PRE + len);
    if (!c)
        return -1;
    c->len = len;
    memcpy(c->bytes + LWS_PRE, text, len);
    bk_list_push_back(&conn->send_queue, &c->link);
    conn->queued += len;
    lws_callback_on_writable(conn->wsi);
    return 0;
}

static void conn_write_next(bk_conn *conn)
{
    bk_list *first = bk_list_first(&conn->send_queue);
    if (!first) {
        if (conn->close_code)
            conn_close_now(conn);
        return;
    }
    chunk *c = bk_list_entry(first, chunk, link);
    /* One lws_write per writable callback; lws buffers what the kernel did not take. */
    if (lws_write(conn->wsi, c->bytes + LWS_PRE, c->len, LWS_WRITE_TEXT) < (int)c->len) {
        bk_debug("connection %lu: write failed", conn->id);
        return;
    }
    bk_list_remove(&c->link);
    conn->queued -= c->len;
    free(c);
    /* Ask again even when the queue is empty: a pending close waits for the write to flush. */
    if (!bk_list_empty(&conn->send_queue) || conn->close_code)
        lws_callback_on_writable(conn->wsi);
}


/* Returns -1 to make lws close the socket (after lws_close_reason). */
static int conn_receive(bk_conn *conn, const void *in, size_t len)
{
    bk_net *net = conn->net;
    size_t limit = (size_t)net->config->max_message_bytes;
    if (lws_is_first_fragment(conn->wsi)) {
        conn->rx_len = 0;
        conn->rx_too_large = 0;
        conn->rx_binary = !!lws_frame_is_binary(conn->wsi);
    }
    if (!conn->rx_too_large && !conn->rx_binary) {
        if (conn->rx_len + len > limit) {
            conn->rx_too_large = 1;  /* keep reading to the end, keep nothing */
        } else {
            if (conn->rx_len + len + 1 > conn->rx_cap) {
                size_t cap = conn->rx_cap ? conn->rx_cap : 1024;
                while (cap < conn->rx_len + len + 1)
                    cap *= 2;
                char *grown = realloc(conn->rx, cap);
                if (!grown)
                    return -1;
                conn->rx = grown;
                conn->rx_cap = cap;
            }
            memcpy(conn->rx + conn->rx_len, in, len);
            conn->rx_len += len;
        }
    }
    if (!lws_is_final_fragment(conn->wsi) || lws_remaining_packet_payload(conn->wsi) > 0)
        return 0;
    bk_rx_status status = conn->rx_binary ? BK_RX_BINARY
                        : conn->rx_too_large ? BK_RX_TOO_LARGE : BK_RX_TEXT;
    if (status == BK_RX_TEXT) {
        if (!bk_utf8_valid(conn->rx, conn->rx_len)) {
            static const char reason[] = "invalid UTF-8";
            lws_close_reason(conn->wsi, BK_CLOSE_INVALID_UTF8,
                             (unsigned char *)reason, sizeof reason - 1);
            return -1;
        }
        conn->rx[conn->rx_len] = '\0';
    }
    net->handlers.received(conn, status, status == BK_RX_TEXT ? conn->rx : "",
                           status == BK_RX_TEXT ? conn->rx_len : 0, net->data);
    /* Most sockets are idle most of the time: a buffer kept between messages would cost
     * every idle socket as much as lws' own rx buffer. */
    free(conn->rx);
    conn->rx = NULL;
    conn->rx_cap = 0;
    conn->rx_len = 0;
    return 0;
}

/* The client's close frame (RFC 6455 §5.5.1). lws 4.1 answers a close code that is reserved
 * or out of range with 1002 by itself, but echoes a 1-byte payload (a code cut in half) as it
 * came, and never looks at the reason (its VALIDATE_UTF8 option would drop the socket without
 * any close frame). Both are protocol errors: answered here with 1002, not an echo; §8.1 also
 * allows 1007 for the reason, but a close reason is not a text message and 1002 is what the
 * malformed close frame is. Returns -1 to have lws send that close frame instead of the echo
 * (lws' header says a non-zero return just closes; with a close reason set, lws 4.1 sends it
 * first, from rops_close_via_role_protocol_ws: test_rfc6455 checks that it does). */
static int conn_peer_closed(bk_conn *conn, const unsigned char *payload, size_t len)
{
    conn->peer_closed = 1;  /* nothing the client sends after its close frame is acted on */
    if (len == 1 || (len > 2 && !bk_utf8_valid((const char *)payload + 2, len - 2))) {
        static const char reason[] = "malformed close frame";
        lws_close_reason(conn->wsi, LWS_CLOSE_STATUS_PROTOCOL_ERR,
                         (unsigned char *)reason, sizeof reason - 1);
        return -1;
    }
    return 0;  /* lws echoes the close frame, then drops the connection */
}

static int uri_is(struct lws *wsi, const char *want)
{
    char uri[128];
    if (lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) < 0)
        return 0;
    return strcmp(uri, want) == 0;
}

/* Answers a refused WebSocket handshake with a plain HTTP status instead of a bare close,
 * so a misconfigured client sees why. Returns non-zero: lws then drops the connection. */
static int refuse_upgrade(struct lws *wsi, unsigned status)
{
    lws_return_http_status(wsi, status, NULL);
    return 1;
}

static uintptr_t ip_count(const bk_map *counts, const char *ip)
{
    return (uintptr_t)bk_map_get(counts, ip);
}

static void ip_count_add(bk_map *counts, const char *ip, int delta)
{
    uintptr_t count = ip_count(counts, ip) + (uintptr_t)(intptr_t)delta;
    if (count == 0)
        bk_map_remove(counts, ip);
    else
        bk_map_set(counts, ip, (void *)count);
}

/* Whether `address` is one of the configured reverse proxies. */
static int proxy_trusted(const bk_net *net, const char *address, size_t len)
{
    const char *list = net->config->trusted_proxies;
    while (*list) {
        list += strspn(list, ", ");
        size_t n = strcspn(list, ", ");
        if (n && n == len && memcmp(list, address, len) == 0)
            return 1;
        list += n;
    }
    return 0;
}

/* A dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d: say a.b.c.d, as people do. */
static void unmap_v4(char *address)
{
    struct in_addr v4;
    if (strncmp(address, "::ffff:", 7) == 0 && inet_pton(AF_INET, address + 7, &v4) == 1)
        memmove(address, address + 7, strlen(address + 7) + 1);
}

/* A socket address as text ("" and -1 when it is not IPv4 or IPv6). */
static int address_text(const struct sockaddr_storage *sa, char *out, size_t size)
{
    struct sockaddr_in v4;
    struct sockaddr_in6 v6;
    const char *text = NULL;
    if (sa->ss_family == AF_INET) {
        memcpy(&v4, sa, sizeof v4);
        text = inet_ntop(AF_INET, &v4.sin_addr, out, (socklen_t)size);
    } else if (sa->ss_family == AF_INET6) {
        memcpy(&v6, sa, sizeof v6);
        text = inet_ntop(AF_INET6, &v6.sin6_addr, out, (socklen_t)size);
    }
    if (!text) {
        out[0] = '\0';
        return -1;
    }
    unmap_v4(out);
    return 0;
}

/* The client's address. Behind a trusted proxy it is the last X-Forwarded-For entry that is
 * not itself a trusted proxy: entries to its left were written by the client and prove
 * nothing. A header that does not parse leaves the peer's own address. */
static void peer_address(const bk_net *net, struct lws *wsi, char *out, size_t size)
{
    lws_get_peer_simple(wsi, out, size);
    unmap_v4(out);
    if (!net->config->trusted_proxies[0] || !proxy_trusted(net, out, strlen(out)))
        return;
    char header[512];
    int len = lws_hdr_copy(wsi, header, sizeof header, WSI_TOKEN_X_FORWARDED_FOR);
    if (len <= 0)
        return;
    char *end = header + len;
    while (end > header) {
        char *start = end;
        while (start > header && start[-1] != ',')
            start--;
        char *first = start, *last = end;
        while (first < last && (*first == ' ' || *first == '\t'))
            first++;
        while (last > first && (last[-1] == ' ' || last[-1] == '\t'))
            last--;
        *last = '\0';
        unsigned char address[16];
        if (inet_pton(AF_INET, first, address) != 1 && inet_pton(AF_INET6, first, address) != 1)
            return;
        if (!proxy_trusted(net, first, (size_t)(last - first)) || start == header) {
            size_t n = (size_t)(last - first);  /* an address: at most 45 bytes */
            if (n < size) {
                memcpy(out, first, n);
                out[n] = '\0';
            }
            return;
        }
        end = start - 1;  /* the comma */
    }
}

/* ---- connections per address ----------------------------------------------------------
 *
 * Three counts keep one address from holding too many descriptors:
 * - per_ip: WebSockets per client, max-connections-per-ip (at the handshake, 429).
 * - http_per_ip: connections serving plain HTTP per client, max-http-connections-per-ip,
 *   taken at each request (429): the client is known only then, behind a trusted proxy from
 *   X-Forwarded-For, and may differ from one request to the next on the proxy's connection.
 *   A connection that upgrades leaves this count for per_ip, so it is never in both.
 * - per_peer: every TCP connection per socket address, from accept to close, whatever it is
 *   or becomes, so that connections that never finish a request (silent, slow headers) are
 *   bounded too. A connection still in its first request may become either kind, so the bound
 *   is both limits together. A trusted proxy is not counted here: it carries many clients,
 *   and those are counted by the two others.
 *
 * The per-connection record lives in the wsi's opaque user data, not in the per-session
 * memory, which lws drops and remakes between requests and at an upgrade; and it is released
 * in WSI_DESTROY, which lws sends for every wsi it frees (the context's teardown included),
 * where CLOSED_HTTP is not sent on every path. */
typedef struct tcp_conn {
    char peer[64];       /* its key in per_peer; "" when not counted there */
    char client[64];     /* its key in http_per_ip, when http_counted */
    int http_counted;
    int body_deadline;   /* the wsi's timer is armed for the request body */
} tcp_conn;

/* FILTER_NETWORK_CONNECTION: the socket is accepted, lws has made nothing of it yet. Closing it
 * here costs nothing; there is no request to answer yet. */
static int tcp_accept_refused(bk_net *net, const struct lws_filter_network_conn_args *args)
{
    char peer[64];
    if (address_text(&args->cli_addr, peer, sizeof peer) != 0 ||
        (net->config->trusted_proxies[0] && proxy_trusted(net, peer, strlen(peer))))
        return 0;
    uintptr_t limit = (uintptr_t)net->config->max_connections_per_ip +
                      (uintptr_t)net->config->max_http_connections_per_ip;
    if (ip_count(net->per_peer, peer) < limit)
        return 0;
    bk_metrics_now.http_connections_refused++;
    char network[64];
    bk_ip_truncate(peer, network, sizeof network);
    bk_warn("closing a new connection: an address in %s holds %lu already", network,
            (unsigned long)limit);
    return 1;
}

/* SERVER_NEW_CLIENT_INSTANTIATED, right after the accept that tcp_accept_refused let through. */
static void tcp_conn_open(bk_net *net, struct lws *wsi)
{
    tcp_conn *c = calloc(1, sizeof *c);
    if (!c)
        return;  /* its requests are refused (http_admit) */
    struct sockaddr_storage sa;
    socklen_t sa_len = sizeof sa;
    char peer[64];
    if (getpeername(lws_get_socket_fd(wsi), (struct sockaddr *)&sa, &sa_len) == 0 &&
        address_text(&sa, peer, sizeof peer) == 0 &&
        !(net->config->trusted_proxies[0] && proxy_trusted(net, peer, strlen(peer)))) {
        memcpy(c->peer, peer, sizeof c->peer);
        ip_count_add(net->per_peer, c->peer, 1);
    }
    lws_set_opaque_user_data(wsi, c);
}

static void tcp_conn_http_leave(bk_net *net, tcp_conn *c)
{
    if (!c || !c->http_counted)
        return;
    ip_count_add(net->http_per_ip, c->client, -1);
    bk_metrics_now.http_connections--;
    c->http_counted = 0;
}

/* WSI_DESTROY, for every wsi of the vhost (the listening one has no record). */
static void tcp_conn_close(bk_net *net, struct lws *wsi)
{
    tcp_conn *c = lws_get_opaque_user_data(wsi);
    if (!c)
        return;
    lws_set_opaque_user_data(wsi, NULL);
    tcp_conn_http_leave(net, c);
    if (c->peer[0])
        ip_count_add(net->per_peer, c->peer, -1);
    free(c);
}

static void http_refuse(struct lws *wsi, unsigned status, const char *code, const char *message);

/* Counts the connection as serving plain HTTP for the client of this request. Returns -1 after
 * answering 429 when that client holds max-http-connections-per-ip already. */
static int http_admit(bk_net *net, struct lws *wsi, tcp_conn *c)
{
    if (!c) {
        http_refuse(wsi, 503, BK_ERR_UNAVAILABLE, "out of memory");
        return -1;
    }
    char client[64];
    peer_address(net, wsi, client, sizeof client);
    if (c->http_counted && strcmp(client, c->client) == 0)
        return 0;  /* the next request of the same client */
    tcp_conn_http_leave(net, c);
    if (ip_count(net->http_per_ip, client) >= (uintptr_t)net->config->max_http_connections_per_ip) {
        bk_metrics_now.http_connections_refused++;
        char network[64];
        bk_ip_truncate(client, network, sizeof network);
        bk_warn("refusing an HTTP request: an address in %s holds %d connections already", network,
                net->config->max_http_connections_per_ip);
        http_refuse(wsi, 429, BK_ERR_RATE_LIMITED, "too many connections from your address");
        return -1;
    }
    memcpy(c->client, client, sizeof c->client);
    ip_count_add(net->http_per_ip, c->client, 1);
    c->http_counted = 1;
    bk_metrics_now.http_connections++;
    return 0;
}

static int callback_websocket(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                              void *in, size_t len)
{
    bk_net *net = lws_context_user(lws_get_context(wsi));
    ws_session *session = user;
    switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        /* The role comes only from the subprotocol, and WebSockets live only on /ws. */
        if (net->shutting_down) {
            bk_metrics_now.connections_refused++;
            return refuse_upgrade(wsi, HTTP_STATUS_SERVICE_UNAVAILABLE);
        }
        if (!uri_is(wsi, BK_WEBSOCKET_PATH))
            return refuse_upgrade(wsi, HTTP_STATUS_FORBIDDEN);
        {
            char ip[64];
            peer_address(net, wsi, ip, sizeof ip);
            if (ip_count(net->per_ip, ip) >= (uintptr_t)net->config->max_connections_per_ip) {
                bk_metrics_now.connections_refused++;
                char network[64];
                bk_ip_truncate(ip, network, sizeof network);
                bk_warn("refusing a WebSocket: an address in %s holds %d already", network,
                        net->config->max_connections_per_ip);
                return refuse_upgrade(wsi, 429);
            }
        }
        return 0;

    case LWS_CALLBACK_ESTABLISHED: {
        /* A keep-alive connection that served plain HTTP is a WebSocket now: per_ip counts it. */
        tcp_conn_http_leave(net, lws_get_opaque_user_data(wsi));
        char ip[64], origin[256], host[256];
        peer_address(net, wsi, ip, sizeof ip);
        if (lws_hdr_copy(wsi, origin, sizeof origin, WSI_TOKEN_ORIGIN) < 0)
            origin[0] = '\0';
        if (lws_hdr_copy(wsi, host, sizeof host, WSI_TOKEN_HOST) < 0)
            host[0] = '\0';
        size_t ip_size = strlen(ip) + 1, origin_size = strlen(origin) + 1, host_size = strlen(host) + 1;
        bk_conn *conn = calloc(1, sizeof *conn + ip_size + origin_size + host_size);
        if (!conn)
            return -1;
        conn->net = net;
        conn->wsi = wsi;
        conn->refs = 1;
        conn->id = ++net->next_id;
        conn->role = (bk_role)lws_get_protocol(wsi)->id;
        char *strings = (char *)(conn + 1);
        conn->ip = memcpy(strings, ip, ip_size);
        conn->origin = memcpy(strings + ip_size, origin, origin_size);
        conn->host = memcpy(strings + ip_size + origin_size, host, host_size);
        ip_count_add(net->per_ip, conn->ip, 1);
        bk_list_init(&conn->send_queue);
        bk_list_init(&conn->close_link);
        bk_list_push_front(&net->open, &conn->open_link);
        session->conn = conn;
        net->handlers.opened(conn, net->data);
        return 0;
    }
    case LWS_CALLBACK_RECEIVE:
        if (!session->conn)
            return -1;
        /* lws 4.1 hands up data frames that follow the client's close frame in the same read
         * (its bulk payload path checks only whether a close of its own has begun). RFC 6455
         * §1.4: after a close frame "a peer discards any further data received". */
        if (session->conn->peer_closed)
            return 0;
        return conn_receive(session->conn, in, len);

    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        return session->conn ? conn_peer_closed(session->conn, in, len) : 0;

    case LWS_CALLBACK_WS_SERVER_DROP_PROTOCOL:
        /* lws is closing the socket, and we did not ask: it has answered the client's close
         * frame (the socket goes right after), or the connection failed on a protocol error,
         * lws' own (RSV bits, bad opcode, ...) or ours (-1 from RECEIVE or from
         * WS_PEER_INITIATED_CLOSE), and lws is about to send the close frame for it. */
        if (session && session->conn && !session->conn->closing_ours)
            session->conn->failing = 1;
        return 0;

    case LWS_CALLBACK_SERVER_WRITEABLE:
        if (!session->conn)
            return 0;
        /* After a protocol error lws sends its close frame and then waits up to 5 s for the
         * client's; but the error can leave its frame parser inside the bad frame (after RSV
         * bits it expects the rest of that frame's header), so the client's close frame is
         * never recognised. RFC 6455 §7.1.7: a connection that fails is closed without
         * waiting. lws writes its close frame from the writable event without calling us, and
         * calls us on the next one, once the frame is out in full; the -1 then drops the TCP
         * connection without losing the close frame (the loss on_close_timer avoids is that of
         * a close begun here, before any close frame was written). */
        if (session->conn->failing) {
            bk_debug("connection %lu: failed; its close frame is out, dropping it", session->conn->id);
            return -1;
        }
        conn_write_next(session->conn);
        return 0;

    case LWS_CALLBACK_CLOSED: {
        bk_conn *conn = session->conn;
        if (!conn)
            return 0;
        session->conn = NULL;
        conn->wsi = NULL;
        ip_count_add(net->per_ip, conn->ip, -1);
        bk_list_remove(&conn->open_link);
        net->handlers.closed(conn, net->data);
        bk_conn_unref(conn);
        return 0;
    }
    default:
        return 0;
    }
}

/* ---- HTTP ---------------------------------------------------------------------------- */

static void http_unref(bk_http *request)
{
    if (--request->refs > 0)
        return;
    free(request->body);
    free(request->response);
    free(request);
}

const char *bk_http_method(const bk_http *r) { return r->method; }
const char *bk_http_path(const bk_http *r) { return r->path; }
const char *bk_http_query(const bk_http *r) { return r->query; }

const char *bk_http_peer(const bk_http *r) { return r->peer; }

const char *bk_http_body(const bk_http *r, size_t *len)
{
    *len = r->body_len;
    return r->body ? r->body : "";
}

const char *bk_http_header(const bk_http *r, const char *name)
{
    if (strcmp(name, "authorization") == 0) return r->authorization;
    if (strcmp(name, "origin") == 0) return r->origin;
    if (strcmp(name, "cookie") == 0) return r->cookie;
    if (strcmp(name, "content-type") == 0) return r->content_type;
    if (strcmp(name, "host") == 0) return r->host;
    return "";
}

void bk_http_respond(bk_http *r, int status, const char *content_type, const char *body, size_t len)
{
    if (r->wsi && !r->response) {
        r->response = malloc(LWS_PRE + len + 1);
        if (r->response) {
            r->status = status;
            snprintf(r->response_type, sizeof r->response_type, "%s", content_type);
            memcpy(r->response + LWS_PRE, body, len);
            r->response_len = len;
            lws_callback_on_writable(r->wsi);
        }
    }
    http_unref(r);  /* the handler's reference */
}

void bk_http_attachment(bk_http *r, const char *filename)
{
    snprintf(r->disposition, sizeof r->disposition, "attachment; filename=\"%s\"", filename);
}

/* Answers a request refused before any handler ran with a JSON error, written at once from
 * inside the callback (the way lws_return_http_status does). The caller then returns non-zero,
 * so lws closes the connection: what follows on it is not trusted to be a request. */
static void http_refuse(struct lws *wsi, unsigned status, const char *code, const char *message)
{
    char body[256];
    int len = snprintf(body, sizeof body, "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}",
                       code, message);
    unsigned char buf[LWS_PRE + 2048], *start = buf + LWS_PRE, *p = start,
                  *end = buf + sizeof buf - sizeof body;
    if (len < 0 || (size_t)len >= sizeof body ||
        lws_add_http_header_status(wsi, status, &p, end) ||
        lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE,
                                     (const unsigned char *)"application/json", 16, &p, end) ||
        lws_add_http_header_content_length(wsi, (lws_filepos_t)len, &p, end) ||
        lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION,
                                     (const unsigned char *)"close", 5, &p, end) ||
        lws_finalize_http_header(wsi, &p, end))
        return;
    memcpy(p, body, (size_t)len);  /* end left room for it */
    p += len;
    lws_write(wsi, start, (size_t)(p - start), LWS_WRITE_HTTP);
}

static int has_control(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 1;
    return 0;
}

/* Whether the request's target is one we can act on exactly as sent; 0, or the status to refuse
 * it with (*why says why). lws has percent-decoded the path and the query, and it ends the
 * request line at a decoded CR or LF: "DELETE /api/canned/abc%0Dxyz" reaches us as
 * "/api/canned/abc", the rest of the line skipped, HTTP version and all. A decoded NUL it keeps
 * (after a '/') but does not count in the length it reports, so strlen-based copies stop there.
 * Hence: the version must be there, no byte within the reported lengths may be a control
 * character (NUL included), and what does not fit our buffers is refused, not cut.
 * Left, as lws 4.1.6 leaves no trace of them: a NUL as the very last byte of the path is
 * dropped; and "%0AHTTP/1.1" just before the space that ends the target reads like the version
 * of a whole request line (that takes a raw '/' after the %0A, which no percent-encoded id
 * holds). */
static unsigned http_target_check(struct lws *wsi, const char *path, size_t path_len, const char **why)
{
    char version[16];
    if (lws_hdr_copy(wsi, version, sizeof version, WSI_TOKEN_HTTP) <= 0 ||
        (strcmp(version, "HTTP/1.1") != 0 && strcmp(version, "HTTP/1.0") != 0)) {
        *why = "the request line ends early: a control character in the target?";
        return 400;
    }
    if (path_len >= HTTP_PATH_SIZE) {
        *why = "the path is too long";
        return 414;
    }
    if (has_control(path, path_len)) {
        *why = "control characters are not allowed in the path";
        return 400;
    }
    int total = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS);
    if (total >= HTTP_QUERY_SIZE) {
        *why = "the query is too long";
        return 414;
    }
    char fragment[HTTP_QUERY_SIZE];
    int n;
    for (int i = 0; (n = lws_hdr_copy_fragment(wsi, fragment, sizeof fragment,
                                               WSI_TOKEN_HTTP_URI_ARGS, i)) >= 0; i++) {
        if (has_control(fragment, (size_t)n)) {
            *why = "control characters are not allowed in the query";
            return 400;
        }
    }
    return 0;
}

/* The whole body has body-timeout-seconds from the end of the headers, however it trickles in.
 *
 * The deadline is the wsi's own timer (lws_set_timer_usecs), not its pending timeout: a wsi has
 * one pending timeout, and lws sets PENDING_TIMEOUT_HTTP_CONTENT again after every piece of body
 * it reads (roles/h1/ops-h1.c in 4.1), so a deadline kept there is renewed by each byte of a
 * trickle; that was the hole. The timer is a separate entry in lws' scheduler, which on our
 * foreign loop runs from lws' own uv timer; lws delivers it as LWS_CALLBACK_TIMER inside its
 * service, where the wsi is valid and a 408 can be written, and drops it when it frees the wsi.
 * A uv_timer of ours would fire outside lws with no such guarantee: it would need bookkeeping
 * of its own to never touch a wsi lws freed on a path that tells us nothing.
 *
 * lws 4.1.6 cannot cancel that timer: lws_set_timer_usecs(wsi, LWS_SET_TIMER_USEC_CANCEL) has no
 * case for it and schedules the timer 1 us in the past, so it fires at once. "No deadline" is
 * therefore a deadline a year away (HTTP_NO_DEADLINE), which lws drops with the wsi. */
#define HTTP_NO_DEADLINE ((lws_usec_t)366 * 24 * 3600 * LWS_USEC_PER_SEC)

/* The request's Content-Length, or -1 when it has none (or one that is not a number). */
static long long http_content_length(struct lws *wsi)
{
    char value[24];
    if (lws_hdr_copy(wsi, value, sizeof value, WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0)
        return -1;
    char *end;
    long long length = strtoll(value, &end, 10);
    return end != value && *end == '\0' && length >= 0 ? length : -1;
}

static void http_body_deadline(const bk_net *net, struct lws *wsi, tcp_conn *c)
{
    /* A body follows when the request gives its length, or (as lws assumes: 100 MB) for
     * POST, PUT and PATCH without one. A body lws discards by itself (after a static file,
     * or after our answer to a POST without a length) has the same deadline. */
    long long length = http_content_length(wsi);
    int body = length > 0 || (length < 0 && (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0 ||
                                             lws_hdr_total_length(wsi, WSI_TOKEN_PUT_URI) > 0 ||
                                             lws_hdr_total_length(wsi, WSI_TOKEN_PATCH_URI) > 0));
    if (body)
        lws_set_timer_usecs(wsi, (lws_usec_t)net->config->body_timeout_seconds * LWS_USEC_PER_SEC);
    else if (c->body_deadline)
        lws_set_timer_usecs(wsi, HTTP_NO_DEADLINE);
    c->body_deadline = body;
}

static void http_body_in_time(struct lws *wsi, tcp_conn *c)
{
    if (c && c->body_deadline) {
        lws_set_timer_usecs(wsi, HTTP_NO_DEADLINE);
        c->body_deadline = 0;
    }
}

static void http_session_release(http_session *session);

/* The body deadline passed: 408, unless an answer of ours is already on its way (then that is
 * cut short); the connection closes either way. */
static int http_body_late(const bk_net *net, struct lws *wsi, http_session *session, tcp_conn *c)
{
    if (!c || !c->body_deadline)
        return 0;  /* a deadline already met (lws cannot cancel it) */
    char ip[64], network[64];
    peer_address(net, wsi, ip, sizeof ip);
    bk_ip_truncate(ip, network, sizeof network);
    bk_warn("dropping an HTTP request from an address in %s: its body did not arrive within %d s",
            network, net->config->body_timeout_seconds);
    bk_metrics_now.http_body_timeouts++;
    int answering = session && session->request && session->request->response;
    http_session_release(session);
    if (!answering)
        http_refuse(wsi, 408, BK_ERR_BAD_REQUEST, "the request body did not arrive in time");
    return -1;
}

static const struct { enum lws_token_indexes token; const char *method; } methods[] = {
    { WSI_TOKEN_GET_URI, "GET" }, { WSI_TOKEN_POST_URI, "POST" }, { WSI_TOKEN_PUT_URI, "PUT" },
    { WSI_TOKEN_DELETE_URI, "DELETE" }, { WSI_TOKEN_PATCH_URI, "PATCH" },
    { WSI_TOKEN_OPTIONS_URI, "OPTIONS" },
};

static bk_http *http_begin(const bk_net *net, struct lws *wsi)
{
    bk_http *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->wsi = wsi;
    r->refs = 1;  /* the net's, until the client leaves or the response is out */
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        if (lws_hdr_total_length(wsi, methods[i].token) > 0) {
            snprintf(r->method, sizeof r->method, "%s", methods[i].method);
            lws_hdr_copy(wsi, r->path, sizeof r->path, methods[i].token);
            break;
        }
    }
    /* lws hands the query as fragments: rebuild "a=1&b=2". http_target_check has made sure
     * that they fit, together and each. */
    char fragment[HTTP_QUERY_SIZE];
    for (int i = 0; lws_hdr_copy_fragment(wsi, fragment, sizeof fragment,
                                          WSI_TOKEN_HTTP_URI_ARGS, i) > 0; i++) {
        size_t used = strlen(r->query);
        snprintf(r->query + used, sizeof r->query - used, "%s%s", used ? "&" : "", fragment);
    }
    lws_hdr_copy(wsi, r->authorization, sizeof r->authorization, WSI_TOKEN_HTTP_AUTHORIZATION);
    lws_hdr_copy(wsi, r->origin, sizeof r->origin, WSI_TOKEN_ORIGIN);
    lws_hdr_copy(wsi, r->cookie, sizeof r->cookie, WSI_TOKEN_HTTP_COOKIE);
    lws_hdr_copy(wsi, r->content_type, sizeof r->content_type, WSI_TOKEN_HTTP_CONTENT_TYPE);
    lws_hdr_copy(wsi, r->host, sizeof r->host, WSI_TOKEN_HOST);
    peer_address(net, wsi, r->peer, sizeof r->peer);
    return r;
}

static void http_dispatch(bk_net *net, bk_http *r)
{
    if (r->body_too_large) {
        static const char body[] =
            "{\"error\":{\"code\":\"too_large\",\"message\":\"request body over 64 KiB\"}}";
        r->refs++;
        bk_http_respond(r, 413, "application/json", body, sizeof body - 1);
        return;
    }
    r->refs++;  /* the handler's, released by bk_http_respond */
    net->handlers.http(r, net->data);
}

static int http_write(struct lws *wsi, bk_http *r)
{
    if (!r->response)
        return 0;
    if (!r->headers_sent) {
        unsigned char headers[LWS_PRE + 1024], *start = headers + LWS_PRE, *p = start,
                      *end = headers + sizeof headers - 1;
        if (lws_add_http_common_headers(wsi, (unsigned)r->status, r->response_type,
                                        r->response_len, &p, end) ||
            lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
                                        (const unsigned char *)"no-store", 8, &p, end) ||
            (r->disposition[0] &&
             lws_add_http_header_by_name(wsi, (const unsigned char *)"content-disposition:",
                                         (const unsigned char *)r->disposition,
                                         (int)strlen(r->disposition), &p, end)) ||
            lws_finalize_write_http_header(wsi, start, &p, end))
            return -1;
        r->headers_sent = 1;
        lws_callback_on_writable(wsi);
        return 0;
    }
    if (lws_write(wsi, (unsigned char *)r->response + LWS_PRE, r->response_len,
                  LWS_WRITE_HTTP_FINAL) != (int)r->response_len)
        return -1;
    r->body_sent = 1;
    return 0;
}

/* The net lets go of a request once its response is out or its client is gone. lws does not
 * send CLOSED_HTTP on every path (a connection closed after a completed transaction, or one
 * torn down with the context), so every exit comes through here. */
static void http_session_release(http_session *session)
{
    /* A connection that closed before sending a request has no session memory at all. */
    if (session && session->request) {
        session->request->wsi = NULL;
        http_unref(session->request);
        session->request = NULL;
    }
}

static int callback_http(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                         void *in, size_t len)
{
    bk_net *net = lws_context_user(lws_get_context(wsi));
    http_session *session = user;
    switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        /* An upgrade naming no subprotocol of ours: the role would be a guess. */
        return refuse_upgrade(wsi, HTTP_STATUS_FORBIDDEN);

    /* Every plain HTTP request passes here once its headers are in, before any handler and
     * before lws serves a file itself (upgrades go to FILTER_PROTOCOL_CONNECTION instead). */
    case LWS_CALLBACK_FILTER_HTTP_CONNECTION: {
        const char *why;
        unsigned status = http_target_check(wsi, in, len, &why);
        if (status) {
            http_refuse(wsi, status, BK_ERR_BAD_REQUEST, why);
            return -1;
        }
        tcp_conn *c = lws_get_opaque_user_data(wsi);
        if (http_admit(net, wsi, c) != 0)
            return -1;
        http_body_deadline(net, wsi, c);
        return 0;
    }
    case LWS_CALLBACK_HTTP: {
        http_session_release(session);  /* keep-alive: the previous request is over */
        bk_http *r = http_begin(net, wsi);
        session->request = r;
        if (!r)
            return -1;
        /* lws reads a body only for a Content-Length above 0: "Content-Length: 0" (a PUT
         * with no body) has nothing to wait for. */
        if (http_content_length(wsi) > 0)
            return 0;  /* the body follows */
        http_dispatch(net, r);
        return 0;
    }
    case LWS_CALLBACK_HTTP_BODY: {
        bk_http *r = session->request;
        if (!r)
            return -1;
        if (r->body_len + len > HTTP_BODY_MAX) {
            r->body_too_large = 1;
            return 0;
        }
        char *grown = realloc(r->body, r->body_len + len + 1);
        if (!grown)
            return -1;
        r->body = grown;
        if (len)  /* a bodiless POST arrives as (NULL, 0): memcpy must not see the NULL */
            memcpy(r->body + r->body_len, in, len);
        r->body_len += len;
        r->body[r->body_len] = '\0';
        return 0;
    }
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        http_body_in_time(wsi, lws_get_opaque_user_data(wsi));
        if (session->request)
            http_dispatch(net, session->request);
        return 0;

    case LWS_CALLBACK_HTTP_WRITEABLE: {
        bk_http *r = session->request;
        if (!r)
            return 0;
        int rc = http_write(wsi, r);
        if (rc != 0 || !r->body_sent)
            return rc;
        /* Done: let go of the request first, because completing the transaction may free
         * this session's memory (lws reuses or drops it for the next request). */
        http_session_release(session);
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    }
    case LWS_CALLBACK_TIMER:
        return http_body_late(net, wsi, session, lws_get_opaque_user_data(wsi));

    /* Every connection, from accept to the end (see tcp_conn). */
    case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
        return tcp_accept_refused(net, user) ? -1 : 0;

    case LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED:
        tcp_conn_open(net, wsi);
        return 0;

    case LWS_CALLBACK_WSI_DESTROY:
        tcp_conn_close(net, wsi);
        return 0;

    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        http_session_release(session);
        return 0;

    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

/* ---- the context ----------------------------------------------------------------------- */

static void log_from_lws(int level, const char *line)
{
    size_t len = strlen(line);
    while (len && line[len - 1] == '\n')
        len--;
    bk_log(level == LLL_ERR ? BK_LOG_ERROR : BK_LOG_WARN, "lws: %.*s", (int)len, line);
}

/* lws sizes its descriptor tables from RLIMIT_NOFILE when the context is made; at the soft
 * limit it silently stops accepting. */
static void raise_file_limit(void)
{
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit(RLIMIT_NOFILE, &limit);
    }
}

bk_net *bk_net_new(uv_loop_t *loop, const bk_config *config, const bk_net_handlers *handlers,
                   void *data, char *err, size_t err_size)
{
    bk_net *net = calloc(1, sizeof *net);
    if (!net) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    net->loop = loop;
    net->config = config;
    net->handlers = *handlers;
    net->data = data;
    bk_list_init(&net->open);
    bk_list_init(&net->close_list);
    net->per_ip = bk_map_new();
    net->per_peer = bk_map_new();
    net->http_per_ip = bk_map_new();
    uv_timer_init(loop, &net->close_timer);
    net->close_timer.data = net;
    uv_timer_init(loop, &net->drain_timer);
    net->drain_timer.data = net;

    net->protocols[0] = (struct lws_protocols){
        .name = "http", .callback = callback_http,
        .per_session_data_size = sizeof(http_session),
    };
    net->protocols[1] = (struct lws_protocols){
        .name = BK_SUBPROTOCOL_VISITOR, .callback = callback_websocket,
        .per_session_data_size = sizeof(ws_session), .rx_buffer_size = RX_BUFFER_SIZE,
        .tx_packet_size = TX_PACKET_SIZE, .id = BK_ROLE_VISITOR,
    };
    net->protocols[2] = (struct lws_protocols){
        .name = BK_SUBPROTOCOL_AGENT, .callback = callback_websocket,
        .per_session_data_size = sizeof(ws_session), .rx_buffer_size = RX_BUFFER_SIZE,
        .tx_packet_size = TX_PACKET_SIZE, .id = BK_ROLE_AGENT,
    };

    snprintf(net->widget_dir, sizeof net->widget_dir, "%s/widget", config->web_root);
    snprintf(net->demo_dir, sizeof net->demo_dir, "%s/examples/demo", config->web_root);
    /* lws picks the longest matching mountpoint, so /api and /healthz win over "/". */
    net->mounts[0] = (struct lws_http_mount){
        .mount_next = &net->mounts[1], .mountpoint = "/api", .mountpoint_len = 4,
        .origin = "http", .origin_protocol = LWSMPRO_CALLBACK,
    };
    net->mounts[1] = (struct lws_http_mount){
        .mount_next = &net->mounts[4], .mountpoint = "/healthz", .mountpoint_len = 8,
        .origin = "http", .origin_protocol = LWSMPRO_CALLBACK,
    };
    net->mounts[4] = (struct lws_http_mount){
        .mount_next = &net->mounts[2], .mountpoint = "/metrics", .mountpoint_len = 8,
        .origin = "http", .origin_protocol = LWSMPRO_CALLBACK,
    };
    net->mounts[2] = (struct lws_http_mount){
        .mount_next = &net->mounts[3], .mountpoint = "/demo", .mountpoint_len = 5,
        .origin = net->demo_dir, .def = "index.html", .origin_protocol = LWSMPRO_FILE,
    };
    net->mounts[3] = (struct lws_http_mount){
        .mountpoint = "/", .mountpoint_len = 1,
        .origin = net->widget_dir, .def = "index.html", .origin_protocol = LWSMPRO_FILE,
    };

    lws_set_log_level(LLL_ERR | LLL_WARN, log_from_lws);
    raise_file_limit();

    void *foreign_loops[1] = { loop };
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    /* SSL_GLOBAL_INIT: OpenSSL is set up for the outgoing https requests (fetch.c); the
     * listening vhost does not ask for TLS and stays plain. */
    info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_EXPLICIT_VHOSTS |
                   LWS_SERVER_OPTION_HTTP_HEADERS_SECURITY_BEST_PRACTICES_ENFORCE |
                   LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.foreign_loops = foreign_loops;
    info.user = net;
    info.port = CONTEXT_PORT_NO_LISTEN;
    net->context = lws_create_context(&info);
    if (!net->context)
        snprintf(err, err_size, "libwebsockets context failed (is libwebsockets-evlib-uv installed?)");
    return net;
}

int bk_net_listen(bk_net *net, char *err, size_t err_size)
{
    const bk_config *config = net->config;
    if (!net->context)
        return -1;
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.options = LWS_SERVER_OPTION_HTTP_HEADERS_SECURITY_BEST_PRACTICES_ENFORCE;
    info.port = config->port;
    info.iface = config->bind;
    info.protocols = net->protocols;
    info.mounts = net->mounts;
    info.vhost_name = "beckon";
    /* Slow or stalled requests (slowloris): both the round-trip timeouts and the time a
     * client may sit on a half-received header are the handshake timeout. */
    info.timeout_secs = (unsigned)config->handshake_timeout_seconds;
    info.timeout_secs_ah_idle = (unsigned)config->handshake_timeout_seconds;
    net->vhost = lws_create_vhost(net->context, &info);
    if (!net->vhost) {
        snprintf(err, err_size, "cannot listen on %s:%d (in use, or not allowed)",
                 config->bind, config->port);
        return -1;
    }
    return 0;
}

int bk_net_port(const bk_net *net)
{
    return net->vhost ? lws_get_vhost_listen_port(net->vhost) : -1;
}

struct lws_context *bk_net_lws_context(bk_net *net)
{
    return net->context;
}

/* Waits for the sockets to finish their closing handshake, for at most DRAIN_MAX_MS. */
static void on_drain_timer(uv_timer_t *timer)
{
    bk_net *net = timer->data;
    net->drain_waited_ms += DRAIN_POLL_MS;
    if (!bk_list_empty(&net->open) && net->drain_waited_ms < DRAIN_MAX_MS)
        return;
    uv_timer_stop(timer);
    uv_close((uv_handle_t *)&net->close_timer, NULL);
    uv_close((uv_handle_t *)&net->drain_timer, NULL);
    if (net->context)
        lws_context_destroy(net->context);
    if (net->drained_fn)
        net->drained_fn(net->drained_data);
}

void bk_net_shutdown(bk_net *net, void (*drained_fn)(void *data), void *data)
{
    net->shutting_down = 1;
    net->drained_fn = drained_fn;
    net->drained_data = data;
    on_close_timer(&net->close_timer);
    /* With a close reason set, a "sync kill" makes lws send the close frame on the next
     * writable callback and finish the handshake: the socket is gone only later. */
    static const char reason[] = "server shutting down";
    for (bk_list *node = net->open.next; node != &net->open; node = node->next) {
        bk_conn *conn = bk_list_entry(node, bk_conn, open_link);
        if (conn_lws_closing(conn) || conn->closing_ours)
            continue;  /* on its way out already: a new close reason would replace its close frame */
        lws_close_reason(conn->wsi, BK_CLOSE_GOING_AWAY, (unsigned char *)reason, sizeof reason - 1);
        conn->closing_ours = 1;
        lws_set_timeout(conn->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
        /* lws may have closed it on the spot: then CLOSED has unlinked it; start over. */
        if (conn->wsi == NULL)
            node = &net->open;
    }
    uv_timer_start(&net->drain_timer, on_drain_timer, 0, DRAIN_POLL_MS);
}

void bk_net_free(bk_net *net)
{
    if (!net)
        return;
    /* With a foreign loop lws finishes its teardown only in a second destroy, once the loop
     * has stopped running its handles. */
    if (net->context)
        lws_context_destroy(net->context);
    bk_map_free(net->per_ip);
    bk_map_free(net->per_peer);
    bk_map_free(net->http_per_ip);
    free(net->scratch);
    free(net);
}
