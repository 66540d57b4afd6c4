/* websocket.c - WebSocket connections: handshakes, bounded send queues, reassembly, closing. */
#include "transport/net_internal.h"

#include "base/ids.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/utf8.h"

#include <beckon/protocol.h>
#include <stdlib.h>
#include <string.h>

#define SEND_QUEUE_MAX  (1024 * 1024)  /* bytes queued for one client before it is dropped */
/* lws allocates RX_BUFFER_SIZE for every WebSocket for as long as it is open: the largest
 * cost of an idle socket that we choose. Larger messages arrive in pieces and are reassembled
 * here; control frames (125 bytes at most) fit. Sends are limited separately, by
 * TX_PACKET_SIZE: with 0 lws would cut every send() to RX_BUFFER_SIZE and drip the rest out
 * one piece per writable callback. No frame is larger than the send queue. */
#define RX_BUFFER_SIZE  256
#define TX_PACKET_SIZE  SEND_QUEUE_MAX

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
    const char *ip;            /* the client (net_peer_address), counted in per_ip */
    const char *origin;        /* the handshake's Origin, "" when none */
    const char *host;          /* the handshake's Host */
    /* The three strings follow the struct in its allocation, sized to fit: a fixed maximum
     * for each would cost every idle socket half a kilobyte. */
};

typedef struct ws_session { bk_conn *conn; } ws_session;

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
int net_upgrade_refuse(struct lws *wsi, unsigned status)
{
    lws_return_http_status(wsi, status, NULL);
    return 1;
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
            return net_upgrade_refuse(wsi, HTTP_STATUS_SERVICE_UNAVAILABLE);
        }
        if (!uri_is(wsi, BK_WEBSOCKET_PATH))
            return net_upgrade_refuse(wsi, HTTP_STATUS_FORBIDDEN);
        {
            char ip[64];
            net_peer_address(net, wsi, ip, sizeof ip);
            if (net_ip_count(net->per_ip, ip) >= (uintptr_t)net->config->max_connections_per_ip) {
                bk_metrics_now.connections_refused++;
                char network[64];
                bk_ip_truncate(ip, network, sizeof network);
                bk_warn("refusing a WebSocket: an address in %s holds %d already", network,
                        net->config->max_connections_per_ip);
                return net_upgrade_refuse(wsi, 429);
            }
        }
        return 0;

    case LWS_CALLBACK_ESTABLISHED: {
        /* A keep-alive connection that served plain HTTP is a WebSocket now: per_ip counts it. */
        net_tcp_conn_http_leave(net, lws_get_opaque_user_data(wsi));
        char ip[64], origin[256], host[256];
        net_peer_address(net, wsi, ip, sizeof ip);
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
        net_ip_count_add(net->per_ip, conn->ip, 1);
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
        net_ip_count_add(net->per_ip, conn->ip, -1);
        bk_list_remove(&conn->open_link);
        net->handlers.closed(conn, net->data);
        bk_conn_unref(conn);
        return 0;
    }
    default:
        return 0;
    }
}

struct lws_protocols net_websocket_protocol(const char *name, bk_role role)
{
    return (struct lws_protocols){
        .name = name, .callback = callback_websocket,
        .per_session_data_size = sizeof(ws_session), .rx_buffer_size = RX_BUFFER_SIZE,
        .tx_packet_size = TX_PACKET_SIZE, .id = role,
    };
}

void net_websockets_close(bk_net *net)
{
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
        /* lws may close it on the spot: CLOSED then unlinks it and drops the net's reference,
         * so hold one of ours to look at it afterwards, and start over if it is gone. */
        bk_conn_ref(conn);
        lws_set_timeout(conn->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
        int gone = conn->wsi == NULL;
        bk_conn_unref(conn);
        if (gone)
            node = &net->open;
    }
}
