/* ws.h - a minimal WebSocket client on libuv, for load generation only.
 *
 * What it does: the HTTP/1.1 upgrade (Sec-WebSocket-Key, and the Sec-WebSocket-Accept check
 * with OpenSSL SHA-1 + base64), masked client text frames, reassembly of fragmented server
 * messages, close frames, answering pings. What it does not: TLS, extensions, binary
 * messages. Reads go through one shared buffer, so an idle client costs only its struct. */
#ifndef LOADGEN_WS_H
#define LOADGEN_WS_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

enum wsc_state { WSC_IDLE, WSC_CONNECTING, WSC_HANDSHAKE, WSC_OPEN, WSC_CLOSING, WSC_CLOSED };

typedef struct wsc wsc;

typedef struct wsc_handlers {
    void (*on_open)(wsc *c);
    /* One whole text message; not NUL-terminated. */
    void (*on_message)(wsc *c, const char *text, size_t len);
    /* The socket is gone (after this, the struct may be reused with wsc_connect). code is the
     * close code the server sent (0 when it sent none, -1 when the connection or handshake
     * failed). */
    void (*on_close)(wsc *c, int code, const char *reason);
} wsc_handlers;

struct wsc {
    uv_tcp_t tcp;
    uv_connect_t connect_req;
    enum wsc_state state;
    const wsc_handlers *h;
    void *user;
    const struct wsc_target *target;
    const char *protocol;
    char accept[32];          /* the Sec-WebSocket-Accept we expect */
    char *in;                 /* unparsed input carried over between reads */
    size_t in_len, in_cap;
    char *msg;                /* a fragmented message being reassembled */
    size_t msg_len, msg_cap;
    int close_code;
    char close_reason[64];
    int paused;
    uint64_t bytes_in;
};

struct wsc_target {
    struct sockaddr_in dst;
    const char *host_header;  /* "127.0.0.1:8080" */
    const char *path;         /* "/ws" */
};
typedef struct wsc_target wsc_target;

/* src may be NULL; rcvbuf > 0 sets SO_RCVBUF before connecting. Returns 0 or a negative
 * errno; on failure nothing is open and no callback comes. */
int wsc_connect(wsc *c, uv_loop_t *loop, const wsc_target *t, const struct sockaddr_in *src,
                const char *protocol, int rcvbuf, const wsc_handlers *h, void *user);
/* Sends one text message; returns 0, or -1 when the socket is not open. */
int wsc_send_text(wsc *c, const char *text, size_t len);
/* graceful: send a close frame (1000) first. Either way the socket is closed at once. */
void wsc_close(wsc *c, int graceful);
void wsc_pause(wsc *c);
void wsc_resume(wsc *c);

#endif
