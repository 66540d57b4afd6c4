/* lmtp.c - the LMTP listener: a unix socket, its connections, and the protocol's few verbs. */
#include "transport/lmtp.h"

#include "base/list.h"
#include "base/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define LINE_MAX_BYTES 1024              /* a command line (RFC 5321 allows 512) */
#define IDLE_MS        (5 * 60 * 1000)

typedef enum { DATA_LINE_START, DATA_IN_LINE, DATA_AFTER_DOT, DATA_AFTER_DOT_CR } data_state;

typedef struct connection connection;

struct bk_lmtp_delivery {
    connection *conn;            /* NULL once the connection is gone */
    char *message;
    size_t len;
    int too_large;
    char sender[320];
    char *recipients[BK_LMTP_RECIPIENTS];
    char *answers[BK_LMTP_RECIPIENTS];
    size_t count, answered;
};

struct connection {
    bk_lmtp *lmtp;
    bk_list link;
    uv_pipe_t pipe;
    uv_timer_t idle;
    int closing, handles;
    char line[LINE_MAX_BYTES];
    size_t line_len;
    int line_too_long;
    int in_data;
    data_state data;
    char *message;
    size_t len, cap;
    int too_large;
    int has_sender;
    char sender[320];
    char *recipients[BK_LMTP_RECIPIENTS];
    size_t count;
    bk_lmtp_delivery *pending;   /* answers awaited: nothing more is read meanwhile */
    char *rest;                  /* bytes read after the DATA's end, for when it is answered */
    size_t rest_len;
};

struct bk_lmtp {
    uv_loop_t *loop;
    uv_pipe_t server;
    int listening;
    size_t max_bytes;
    bk_lmtp_deliver_fn fn;
    void *data;
    bk_list connections;
    size_t connection_count;
    char path[256];
};

static void input_take(connection *c, const char *data, size_t len);

static void on_written(uv_write_t *req, int status)
{
    (void)status;   /* a write that failed: the read side sees the connection go */
    free(req);
}

static void conn_write(connection *c, const char *text)
{
    if (c->closing)
        return;
    size_t len = strlen(text);
    uv_write_t *req = malloc(sizeof *req + len);
    if (!req)
        return;
    char *copy = (char *)(req + 1);
    memcpy(copy, text, len);
    uv_buf_t b = uv_buf_init(copy, (unsigned)len);
    if (uv_write(req, (uv_stream_t *)&c->pipe, &b, 1, on_written) != 0)
        free(req);
}

static void reply(connection *c, const char *line)
{
    char text[600];
    snprintf(text, sizeof text, "%s\r\n", line);
    conn_write(c, text);
}

static void transaction_reset(connection *c)
{
    for (size_t i = 0; i < c->count; i++)
        free(c->recipients[i]);
    c->count = 0;
    c->has_sender = 0;
    c->sender[0] = '\0';
    free(c->message);
    c->message = NULL;
    c->len = c->cap = 0;
    c->too_large = 0;
}

static void on_conn_closed(uv_handle_t *handle)
{
    connection *c = handle->data;
    if (--c->handles > 0)
        return;
    transaction_reset(c);
    free(c->rest);
    free(c);
}

static void conn_close(connection *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    if (c->pending)
        c->pending->conn = NULL;   /* its answers go nowhere; the handler still frees it */
    bk_list_remove(&c->link);
    c->lmtp->connection_count--;
    uv_close((uv_handle_t *)&c->pipe, on_conn_closed);
    uv_close((uv_handle_t *)&c->idle, on_conn_closed);
}

static void on_idle(uv_timer_t *timer)
{
    connection *c = timer->data;
    reply(c, "421 4.4.2 idle too long");
    conn_close(c);
}

/* "<addr>" after "FROM:" or "TO:", parameters after it ignored (SIZE is advisory). */
static int path_read(const char *arg, char *out, size_t size)
{
    while (*arg == ' ')
        arg++;
    if (*arg != '<')
        return -1;
    const char *end = strchr(arg, '>');
    if (!end || (size_t)(end - arg - 1) >= size)
        return -1;
    memcpy(out, arg + 1, (size_t)(end - arg - 1));
    out[end - arg - 1] = '\0';
    for (char *p = out; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return -1;
    return 0;
}

static void message_add(connection *c, const char *s, size_t n)
{
    if (c->too_large)
        return;
    if (c->len + n > c->lmtp->max_bytes) {
        c->too_large = 1;   /* read on to the end, keep nothing */
        free(c->message);
        c->message = NULL;
        c->len = c->cap = 0;
        return;
    }
    if (c->len + n + 1 > c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16384;
        while (cap < c->len + n + 1)
            cap *= 2;
        char *grown = realloc(c->message, cap);
        if (!grown) {
            c->too_large = 1;
            return;
        }
        c->message = grown;
        c->cap = cap;
    }
    memcpy(c->message + c->len, s, n);
    c->len += n;
    c->message[c->len] = '\0';
}

static void delivery_flush(bk_lmtp_delivery *d);

static void data_end(connection *c)
{
    c->in_data = 0;
    bk_lmtp_delivery *d = calloc(1, sizeof *d);
    if (!d) {
        for (size_t i = 0; i < c->count; i++)
            reply(c, "451 4.3.0 out of memory");
        transaction_reset(c);
        return;
    }
    d->conn = c;
    d->message = c->message ? c->message : strdup("");
    d->len = c->len;
    d->too_large = c->too_large;
    snprintf(d->sender, sizeof d->sender, "%s", c->sender);
    memcpy(d->recipients, c->recipients, c->count * sizeof *c->recipients);
    d->count = c->count;
    c->message = NULL;
    c->count = 0;
    transaction_reset(c);
    c->pending = d;
    c->lmtp->fn(d, c->lmtp->data);
}

static void command(connection *c, char *line)
{
    const char *arg = strchr(line, ' ');
    arg = arg ? arg + 1 : "";
    if (strncasecmp(line, "LHLO", 4) == 0) {
        char text[200];
        snprintf(text, sizeof text, "250-beckon\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n"
                 "250 SIZE %zu\r\n", c->lmtp->max_bytes);
        transaction_reset(c);
        conn_write(c, text);
    } else if (strncasecmp(line, "MAIL FROM:", 10) == 0) {
        if (c->has_sender)
            reply(c, "503 5.5.1 nested MAIL");
        else if (path_read(line + 10, c->sender, sizeof c->sender) != 0)
            reply(c, "501 5.1.7 bad sender address");
        else {
            c->has_sender = 1;
            reply(c, "250 2.1.0 ok");
        }
    } else if (strncasecmp(line, "RCPT TO:", 8) == 0) {
        char to[320];
        if (!c->has_sender)
            reply(c, "503 5.5.1 MAIL first");
        else if (path_read(line + 8, to, sizeof to) != 0 || !to[0])
            reply(c, "501 5.1.3 bad recipient address");
        else if (c->count >= BK_LMTP_RECIPIENTS)
            reply(c, "452 4.5.3 too many recipients");
        else if (!(c->recipients[c->count] = strdup(to)))
            reply(c, "451 4.3.0 out of memory");
        else {
            c->count++;
            reply(c, "250 2.1.5 ok");
        }
    } else if (strcasecmp(line, "DATA") == 0) {
        if (!c->count) {
            reply(c, "503 5.5.1 RCPT first");
        } else {
            c->in_data = 1;
            c->data = DATA_LINE_START;
            reply(c, "354 go ahead, end with <CRLF>.<CRLF>");
        }
    } else if (strcasecmp(line, "RSET") == 0) {
        transaction_reset(c);
        reply(c, "250 2.0.0 ok");
    } else if (strcasecmp(line, "NOOP") == 0) {
        reply(c, "250 2.0.0 ok");
    } else if (strcasecmp(line, "QUIT") == 0) {
        reply(c, "221 2.0.0 bye");
        conn_close(c);
    } else if (strncasecmp(line, "VRFY", 4) == 0) {
        reply(c, "252 2.5.2 cannot verify");
    } else {
        reply(c, "500 5.5.2 unknown command");
    }
    (void)arg;
}

/* Takes bytes in DATA; returns how many it used (fewer when the end came). */
static size_t data_take(connection *c, const char *s, size_t len)
{
    size_t i = 0, run = 0;  /* run: bytes from s + i - run still to add */
    for (; i < len; i++) {
        char ch = s[i];
        switch (c->data) {
        case DATA_LINE_START:
            if (ch == '.') {
                message_add(c, s + i - run, run);
                run = 0;
                c->data = DATA_AFTER_DOT;
                continue;
            }
            c->data = ch == '\n' ? DATA_LINE_START : DATA_IN_LINE;
            run++;
            break;
        case DATA_IN_LINE:
            if (ch == '\n')
                c->data = DATA_LINE_START;
            run++;
            break;
        case DATA_AFTER_DOT:
            if (ch == '\r') {
                c->data = DATA_AFTER_DOT_CR;
            } else if (ch == '\n') {
                data_end(c);
                return i + 1;
            } else {   /* a stuffed dot: dropped */
                c->data = DATA_IN_LINE;
                run = 1;
            }
            break;
        case DATA_AFTER_DOT_CR:
            if (ch == '\n') {
                data_end(c);
                return i + 1;
            }
            message_add(c, "\r", 1);
            c->data = ch == '\n' ? DATA_LINE_START : DATA_IN_LINE;
            run = 1;
            break;
        }
    }
    message_add(c, s + len - run, run);
    return len;
}

static void input_take(connection *c, const char *data, size_t len)
{
    size_t i = 0;
    while (i < len && !c->closing) {
        if (c->pending) {   /* keep the rest for after the answers */
            char *rest = malloc(len - i);
            if (rest) {
                memcpy(rest, data + i, len - i);
                c->rest = rest;
                c->rest_len = len - i;
            }
            uv_read_stop((uv_stream_t *)&c->pipe);
            return;
        }
        if (c->in_data) {
            i += data_take(c, data + i, len - i);
            continue;
        }
        char ch = data[i++];
        if (ch != '\n') {
            if (c->line_len + 1 < sizeof c->line)
                c->line[c->line_len++] = ch;
            else
                c->line_too_long = 1;
            continue;
        }
        if (c->line_len && c->line[c->line_len - 1] == '\r')
            c->line_len--;
        c->line[c->line_len] = '\0';
        if (c->line_too_long)
            reply(c, "500 5.5.6 line too long");
        else
            command(c, c->line);
        c->line_len = 0;
        c->line_too_long = 0;
    }
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *b)
{
    (void)handle;
    (void)suggested;
    b->base = malloc(65536);
    b->len = b->base ? 65536 : 0;
}

static void on_read(uv_stream_t *stream, ssize_t n, const uv_buf_t *b)
{
    connection *c = stream->data;
    if (n < 0)
        conn_close(c);
    else if (n > 0 && !c->closing) {
        uv_timer_again(&c->idle);
        input_take(c, b->base, (size_t)n);
    }
    free(b->base);
}

static void on_connection(uv_stream_t *server, int status)
{
    bk_lmtp *lmtp = server->data;
    if (status < 0)
        return;
    connection *c = calloc(1, sizeof *c);
    if (!c)
        return;
    c->lmtp = lmtp;
    uv_pipe_init(lmtp->loop, &c->pipe, 0);
    uv_timer_init(lmtp->loop, &c->idle);
    c->pipe.data = c->idle.data = c;
    c->handles = 2;
    bk_list_push_back(&lmtp->connections, &c->link);
    lmtp->connection_count++;
    if (uv_accept(server, (uv_stream_t *)&c->pipe) != 0) {
        conn_close(c);
        return;
    }
    if (lmtp->connection_count > BK_LMTP_CONNECTIONS) {
        reply(c, "421 4.3.2 too many connections, try again later");
        conn_close(c);
        return;
    }
    uv_timer_start(&c->idle, on_idle, IDLE_MS, IDLE_MS);
    reply(c, "220 beckon LMTP ready");
    uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
}

bk_lmtp *bk_lmtp_new(uv_loop_t *loop, const char *path, size_t max_bytes, bk_lmtp_deliver_fn fn, void *data,
                     char *err, size_t err_size)
{
    bk_lmtp *lmtp = calloc(1, sizeof *lmtp);
    if (!lmtp || strlen(path) >= sizeof lmtp->path) {
        snprintf(err, err_size, "lmtp-socket: %s", lmtp ? "path too long" : "out of memory");
        free(lmtp);
        return NULL;
    }
    lmtp->loop = loop;
    lmtp->max_bytes = max_bytes;
    lmtp->fn = fn;
    lmtp->data = data;
    snprintf(lmtp->path, sizeof lmtp->path, "%s", path);
    bk_list_init(&lmtp->connections);
    uv_pipe_init(loop, &lmtp->server, 0);
    lmtp->server.data = lmtp;
    lmtp->listening = 1;
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path);   /* left by a beckon that did not stop cleanly */
    int rc = uv_pipe_bind(&lmtp->server, path);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&lmtp->server, 64, on_connection);
    if (rc == 0 && chmod(path, 0666) != 0)
        rc = uv_translate_sys_error(errno);
    if (rc != 0) {
        snprintf(err, err_size, "lmtp-socket %s: %s", path, uv_strerror(rc));
        bk_lmtp_shutdown(lmtp);
        return lmtp;   /* closed on the loop; the caller frees it after */
    }
    bk_info("lmtp: listening on %s", path);
    return lmtp;
}

void bk_lmtp_shutdown(bk_lmtp *lmtp)
{
    if (!lmtp || !lmtp->listening)
        return;
    lmtp->listening = 0;
    uv_close((uv_handle_t *)&lmtp->server, NULL);
    unlink(lmtp->path);
    bk_list *node;
    while ((node = bk_list_first(&lmtp->connections)))
        conn_close(bk_list_entry(node, connection, link));
}

void bk_lmtp_free(bk_lmtp *lmtp)
{
    free(lmtp);
}

const char *bk_lmtp_delivery_message(const bk_lmtp_delivery *d, size_t *len)
{
    *len = d->len;
    return d->message;
}

int bk_lmtp_delivery_too_large(const bk_lmtp_delivery *d)
{
    return d->too_large;
}

const char *bk_lmtp_delivery_sender(const bk_lmtp_delivery *d)
{
    return d->sender;
}

size_t bk_lmtp_delivery_recipients(const bk_lmtp_delivery *d)
{
    return d->count;
}

const char *bk_lmtp_delivery_recipient(const bk_lmtp_delivery *d, size_t i)
{
    return i < d->count ? d->recipients[i] : "";
}

/* Every recipient answered: the answers go out in order, the connection reads on. */
static void delivery_flush(bk_lmtp_delivery *d)
{
    connection *c = d->conn;
    if (c) {
        for (size_t i = 0; i < d->count; i++)
            reply(c, d->answers[i] ? d->answers[i] : "451 4.3.0 no answer");
        c->pending = NULL;
    }
    for (size_t i = 0; i < d->count; i++) {
        free(d->recipients[i]);
        free(d->answers[i]);
    }
    free(d->message);
    free(d);
    if (c && !c->closing) {
        char *rest = c->rest;
        size_t rest_len = c->rest_len;
        c->rest = NULL;
        c->rest_len = 0;
        uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
        if (rest)
            input_take(c, rest, rest_len);
        free(rest);
    }
}

void bk_lmtp_delivery_answer(bk_lmtp_delivery *d, size_t i, const char *line)
{
    if (i >= d->count || d->answers[i])
        return;
    d->answers[i] = strdup(line);
    if (!d->answers[i])
        d->answers[i] = strdup("451 4.3.0 out of memory");
    if (++d->answered == d->count)
        delivery_flush(d);
}
