/* ws.c - a minimal WebSocket client on libuv (see ws.h). */
#include "ws.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#define HANDSHAKE_MAX 8192
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/* One buffer for every read: the loop hands data to one callback at a time. */
static char read_buffer[256 * 1024];

static uint64_t rng_state;

static uint64_t rng_next(void)
{
    if (!rng_state) {
        if (getrandom(&rng_state, sizeof rng_state, 0) != sizeof rng_state || !rng_state)
            rng_state = 0x9E3779B97F4A7C15ull;
    }
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

typedef struct write_req {
    uv_write_t req;
    size_t len;
    char data[];
} write_req;

static void on_written(uv_write_t *req, int status)
{
    (void)status;
    free(req);
}

/* Writes at once what the kernel takes; queues the rest (in order: uv_try_write refuses
 * while anything is queued). */
static void raw_send(wsc *c, const char *data, size_t len)
{
    uv_buf_t buf = uv_buf_init((char *)data, (unsigned)len);
    int n = uv_try_write((uv_stream_t *)&c->tcp, &buf, 1);
    if (n == UV_EAGAIN || n == UV_ENOSYS)
        n = 0;
    if (n < 0 || (size_t)n == len)
        return;  /* done, or the socket is broken (the read side will say so) */
    write_req *w = malloc(sizeof *w + len - (size_t)n);
    if (!w)
        return;
    w->len = len - (size_t)n;
    memcpy(w->data, data + n, w->len);
    buf = uv_buf_init(w->data, (unsigned)w->len);
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1, on_written) != 0)
        free(w);
}

static void on_handle_closed(uv_handle_t *handle)
{
    wsc *c = (wsc *)handle;
    c->state = WSC_CLOSED;
    free(c->in);
    free(c->msg);
    c->in = c->msg = NULL;
    c->in_len = c->in_cap = c->msg_len = c->msg_cap = 0;
    if (c->h && c->h->on_close)
        c->h->on_close(c, c->close_code, c->close_reason);
}

static void finish(wsc *c)
{
    if (c->state == WSC_CLOSING || c->state == WSC_CLOSED || c->state == WSC_IDLE)
        return;
    c->state = WSC_CLOSING;
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
}

static void fail(wsc *c, const char *why)
{
    c->close_code = -1;
    size_t l = strnlen(why, sizeof c->close_reason - 1);
    memcpy(c->close_reason, why, l);
    c->close_reason[l] = '\0';
    finish(c);
}

static void send_frame(wsc *c, int opcode, const char *payload, size_t len)
{
    char stack[16384], *frame = stack;
    size_t total = len + 14;
    if (total > sizeof stack && !(frame = malloc(total)))
        return;
    size_t h = 0;
    frame[h++] = (char)(0x80 | opcode);
    if (len < 126) {
        frame[h++] = (char)(0x80 | len);
    } else if (len < 65536) {
        frame[h++] = (char)(0x80 | 126);
        frame[h++] = (char)(len >> 8);
        frame[h++] = (char)len;
    } else {
        frame[h++] = (char)(0x80 | 127);
        for (int i = 7; i >= 0; i--)
            frame[h++] = (char)((uint64_t)len >> (8 * i));
    }
    uint32_t mask32 = (uint32_t)rng_next();
    unsigned char mask[4];
    memcpy(mask, &mask32, 4);
    memcpy(frame + h, mask, 4);
    h += 4;
    unsigned char *out = (unsigned char *)frame + h;
    const unsigned char *in = (const unsigned char *)payload;
    for (size_t i = 0; i < len; i++)
        out[i] = in[i] ^ mask[i & 3];
    raw_send(c, frame, h + len);
    if (frame != stack)
        free(frame);
}

int wsc_send_text(wsc *c, const char *text, size_t len)
{
    if (c->state != WSC_OPEN)
        return -1;
    send_frame(c, 0x1, text, len);
    return 0;
}

void wsc_close(wsc *c, int graceful)
{
    if (graceful && c->state == WSC_OPEN) {
        char body[2] = { (char)(1000 >> 8), (char)(1000 & 0xff) };
        send_frame(c, 0x8, body, 2);
    }
    finish(c);
}

void wsc_pause(wsc *c)
{
    if (!c->paused && (c->state == WSC_OPEN || c->state == WSC_HANDSHAKE))
        uv_read_stop((uv_stream_t *)&c->tcp);
    c->paused = 1;
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    (void)handle;
    (void)suggested;
    *buf = uv_buf_init(read_buffer, sizeof read_buffer);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

void wsc_resume(wsc *c)
{
    if (c->paused && (c->state == WSC_OPEN || c->state == WSC_HANDSHAKE))
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    c->paused = 0;
}

static void deliver(wsc *c, const char *text, size_t len)
{
    if (c->h->on_message)
        c->h->on_message(c, text, len);
}

static int msg_append(wsc *c, const char *data, size_t len)
{
    if (c->msg_len + len > c->msg_cap) {
        size_t cap = c->msg_cap ? c->msg_cap : 4096;
        while (cap < c->msg_len + len)
            cap *= 2;
        char *grown = realloc(c->msg, cap);
        if (!grown)
            return -1;
        c->msg = grown;
        c->msg_cap = cap;
    }
    memcpy(c->msg + c->msg_len, data, len);
    c->msg_len += len;
    return 0;
}

/* Parses frames; returns how many bytes were used (the rest waits for more input). */
static size_t parse_frames(wsc *c, char *p, size_t len)
{
    size_t off = 0;
    while (c->state == WSC_OPEN && len - off >= 2) {
        unsigned char b0 = (unsigned char)p[off], b1 = (unsigned char)p[off + 1];
        size_t hdr = 2;
        uint64_t plen = b1 & 0x7f;
        if (plen == 126) {
            if (len - off < 4)
                break;
            plen = ((uint64_t)(unsigned char)p[off + 2] << 8) | (unsigned char)p[off + 3];
            hdr = 4;
        } else if (plen == 127) {
            if (len - off < 10)
                break;
            plen = 0;
            for (int i = 0; i < 8; i++)
                plen = (plen << 8) | (unsigned char)p[off + 2 + i];
            hdr = 10;
        }
        int masked = (b1 & 0x80) != 0;
        if (masked)
            hdr += 4;
        if (len - off < hdr + plen)
            break;
        char *payload = p + off + hdr;
        if (masked) {
            const unsigned char *m = (unsigned char *)p + off + hdr - 4;
            for (uint64_t i = 0; i < plen; i++)
                payload[i] ^= (char)m[i & 3];
        }
        int opcode = b0 & 0x0f, fin = (b0 & 0x80) != 0;
        off += hdr + plen;
        switch (opcode) {
        case 0x1:
        case 0x2:
            c->msg_len = 0;
            if (fin)
                deliver(c, payload, plen);
            else if (msg_append(c, payload, plen) != 0)
                fail(c, "out of memory");
            break;
        case 0x0:
            if (msg_append(c, payload, plen) != 0) {
                fail(c, "out of memory");
            } else if (fin) {
                deliver(c, c->msg, c->msg_len);
                c->msg_len = 0;
            }
            break;
        case 0x8:
            if (plen >= 2) {
                c->close_code = ((unsigned char)payload[0] << 8) | (unsigned char)payload[1];
                size_t rl = plen - 2 < sizeof c->close_reason - 1 ? plen - 2 : sizeof c->close_reason - 1;
                memcpy(c->close_reason, payload + 2, rl);
                c->close_reason[rl] = '\0';
            } else {
                c->close_code = 1005;
            }
            {
                char body[2] = { (char)(c->close_code >> 8), (char)c->close_code };
                send_frame(c, 0x8, body, c->close_code == 1005 ? 0 : 2);
            }
            finish(c);
            break;
        case 0x9:
            send_frame(c, 0xA, payload, plen);
            break;
        default:
            break;
        }
    }
    return c->state == WSC_OPEN ? off : len;
}

static size_t parse_handshake(wsc *c, char *p, size_t len)
{
    char *end = NULL;
    for (size_t i = 3; i < len; i++) {
        if (p[i] == '\n' && p[i - 1] == '\r' && p[i - 2] == '\n' && p[i - 3] == '\r') {
            end = p + i + 1;
            break;
        }
    }
    if (!end) {
        if (len > HANDSHAKE_MAX)
            fail(c, "handshake reply too long");
        return 0;
    }
    size_t head_len = (size_t)(end - p);
    char head[HANDSHAKE_MAX + 1];
    if (head_len > HANDSHAKE_MAX) {
        fail(c, "handshake reply too long");
        return len;
    }
    memcpy(head, p, head_len);
    head[head_len] = '\0';
    if (strncmp(head, "HTTP/1.1 101", 12) != 0) {
        char *eol = strstr(head, "\r\n");
        if (eol)
            *eol = '\0';
        fail(c, head);
        return len;
    }
    const char *accept = strcasestr(head, "\r\nSec-WebSocket-Accept:");
    if (!accept) {
        fail(c, "no Sec-WebSocket-Accept");
        return len;
    }
    accept += strlen("\r\nSec-WebSocket-Accept:");
    while (*accept == ' ' || *accept == '\t')
        accept++;
    size_t alen = strcspn(accept, " \t\r\n");
    if (alen != strlen(c->accept) || memcmp(accept, c->accept, alen) != 0) {
        fail(c, "wrong Sec-WebSocket-Accept");
        return len;
    }
    c->state = WSC_OPEN;
    if (c->h->on_open)
        c->h->on_open(c);
    return head_len;
}

static size_t parse(wsc *c, char *p, size_t len)
{
    size_t used = 0;
    if (c->state == WSC_HANDSHAKE) {
        used = parse_handshake(c, p, len);
        if (c->state != WSC_OPEN)
            return c->state == WSC_HANDSHAKE ? used : len;
    }
    return used + parse_frames(c, p + used, len - used);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    wsc *c = (wsc *)stream;
    if (nread < 0) {
        if (c->state == WSC_HANDSHAKE)
            c->close_code = -1, snprintf(c->close_reason, sizeof c->close_reason, "%s",
                                         "connection closed during the handshake");
        finish(c);
        return;
    }
    if (nread == 0 || c->state >= WSC_CLOSING)
        return;
    c->bytes_in += (uint64_t)nread;
    if (c->in_len == 0) {
        size_t used = parse(c, buf->base, (size_t)nread);
        if (used < (size_t)nread && c->state < WSC_CLOSING) {
            size_t rest = (size_t)nread - used;
            if (rest > c->in_cap) {
                char *grown = realloc(c->in, rest);
                if (!grown) {
                    fail(c, "out of memory");
                    return;
                }
                c->in = grown;
                c->in_cap = rest;
            }
            memcpy(c->in, buf->base + used, rest);
            c->in_len = rest;
        }
        return;
    }
    if (c->in_len + (size_t)nread > c->in_cap) {
        size_t cap = c->in_cap * 2;
        while (cap < c->in_len + (size_t)nread)
            cap *= 2;
        char *grown = realloc(c->in, cap);
        if (!grown) {
            fail(c, "out of memory");
            return;
        }
        c->in = grown;
        c->in_cap = cap;
    }
    memcpy(c->in + c->in_len, buf->base, (size_t)nread);
    c->in_len += (size_t)nread;
    size_t used = parse(c, c->in, c->in_len);
    if (c->state >= WSC_CLOSING)
        return;
    memmove(c->in, c->in + used, c->in_len - used);
    c->in_len -= used;
    if (c->in_len == 0 && c->in_cap > 65536) {  /* do not pin a big buffer */
        free(c->in);
        c->in = NULL;
        c->in_cap = 0;
    }
}

static void on_connected(uv_connect_t *req, int status)
{
    wsc *c = req->data;
    if (c->state != WSC_CONNECTING)
        return;
    if (status < 0) {
        fail(c, uv_strerror(status));
        return;
    }
    unsigned char raw[16], key[32];
    for (int i = 0; i < 16; i += 8) {
        uint64_t r = rng_next();
        memcpy(raw + i, &r, 8);
    }
    EVP_EncodeBlock(key, raw, 16);
    char cat[96];
    snprintf(cat, sizeof cat, "%s" WS_GUID, (char *)key);
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1((unsigned char *)cat, strlen(cat), digest);
    EVP_EncodeBlock((unsigned char *)c->accept, digest, SHA_DIGEST_LENGTH);

    char request[1024];
    int n = snprintf(request, sizeof request,
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
                     "Sec-WebSocket-Protocol: %s\r\n\r\n",
                     c->target->path, c->target->host_header, (char *)key, c->protocol);
    c->state = WSC_HANDSHAKE;
    raw_send(c, request, (size_t)n);
    if (!c->paused)
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

int wsc_connect(wsc *c, uv_loop_t *loop, const wsc_target *t, const struct sockaddr_in *src,
                const char *protocol, int rcvbuf, const wsc_handlers *h, void *user)
{
    if (c->state != WSC_IDLE && c->state != WSC_CLOSED)
        return -EBUSY;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    if (src) {
        int one = 1;
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        if (bind(fd, (const struct sockaddr *)src, sizeof *src) != 0) {
            int e = errno;
            close(fd);
            return -e;
        }
    }
    memset(c, 0, sizeof *c);
    c->h = h;
    c->user = user;
    c->target = t;
    c->protocol = protocol;
    int rc = uv_tcp_init(loop, &c->tcp);
    if (rc != 0) {
        close(fd);
        return rc;
    }
    c->state = WSC_CONNECTING;
    rc = uv_tcp_open(&c->tcp, fd);
    if (rc != 0) {
        close(fd);
        fail(c, uv_strerror(rc));  /* the handle is initialised: close it; on_close reports */
        return 0;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    c->connect_req.data = c;
    rc = uv_tcp_connect(&c->connect_req, &c->tcp, (const struct sockaddr *)&t->dst, on_connected);
    if (rc != 0) {
        /* the handle is open: close it, and report like any failed connect */
        fail(c, uv_strerror(rc));
    }
    return 0;
}
