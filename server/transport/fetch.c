/* fetch.c - outgoing HTTP POSTs with libwebsockets' client, on the server's loop. */
#include "transport/fetch.h"

#include "base/log.h"

#include <ctype.h>
#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct bk_fetcher {
    uv_loop_t *loop;
    bk_net *net;
    struct lws_vhost *vhost;   /* the client vhost, made at the first request */
    int vhost_failed;
};

struct bk_fetch {
    bk_fetcher *fetcher;
    bk_url url;
    char host_header[300];
    char *headers;
    unsigned char *body;       /* LWS_PRE of headroom, then the body */
    size_t body_len;
    int timeout_ms;
    bk_fetch_done_fn fn;
    void *data;
    struct lws *wsi;           /* while lws has the connection and it is ours */
    uv_timer_t timer;          /* the deadline, then the deferred completion */
    uv_timer_t settle;         /* just after the body went out: see callback_fetch */
    uv_getaddrinfo_t resolve;
    int resolving;
    int refs;                  /* the two timer handles, and the resolver while it runs */
    int status;
    char error[128];
    int finished;              /* the outcome is known (fn not necessarily called yet) */
    int cancelled;             /* fn must never be called */
    int body_sent;
};

int bk_url_parse(const char *url, bk_url *out)
{
    memset(out, 0, sizeof *out);
    for (const char *c = url; *c; c++)
        if (!isprint((unsigned char)*c) || *c == ' ')
            return -1;
    const char *rest;
    if (strncmp(url, "https://", 8) == 0) {
        out->tls = 1;
        out->port = 443;
        rest = url + 8;
    } else if (strncmp(url, "http://", 7) == 0) {
        out->port = 80;
        rest = url + 7;
    } else {
        return -1;
    }
    size_t authority = strcspn(rest, "/?#");
    if (rest[authority] == '#' || strchr(rest, '#') || memchr(rest, '@', authority))
        return -1;
    const char *port = NULL;
    const char *host = rest, *host_end;
    if (*host == '[') {
        host_end = memchr(host, ']', authority);
        if (!host_end || host_end == host + 1)
            return -1;
        host++;
        if (host_end + 1 < rest + authority) {
            if (host_end[1] != ':')
                return -1;
            port = host_end + 2;
        }
    } else {
        const char *colon = memchr(host, ':', authority);
        host_end = colon ? colon : rest + authority;
        if (colon)
            port = colon + 1;
        for (const char *c = host; c < host_end; c++)
            if (!isalnum((unsigned char)*c) && *c != '.' && *c != '-')
                return -1;
    }
    size_t host_len = (size_t)(host_end - host);
    if (host_len == 0 || host_len >= sizeof out->host)
        return -1;
    memcpy(out->host, host, host_len);
    /* Brackets hold an IPv6 address and nothing else: "[example.com]" would otherwise be
     * resolved as a name, and sent as "Host: example.com". No zone ids ("%25eth0"). */
    unsigned char v6[16];
    if (host != rest && (strchr(out->host, '%') || uv_inet_pton(AF_INET6, out->host, v6) != 0))
        return -1;
    if (port) {
        size_t digits = (size_t)(rest + authority - port);
        if (digits == 0 || digits > 5 || strspn(port, "0123456789") < digits)
            return -1;
        out->port = atoi(port);
        if (out->port < 1 || out->port > 65535)
            return -1;
    }
    const char *path = rest + authority;
    int n = snprintf(out->path, sizeof out->path, "%s%s", *path == '/' ? "" : "/", path);
    return n < 0 || (size_t)n >= sizeof out->path ? -1 : 0;
}

/* ---- a request's life ---------------------------------------------------------------- */

static void fetch_unref(bk_fetch *f)
{
    if (--f->refs > 0)
        return;
    free(f->headers);
    free(f->body);
    free(f);
}

static void on_timer_closed(uv_handle_t *handle)
{
    fetch_unref(handle->data);
}

/* Takes the connection away from the request: later lws callbacks on it find no request. */
static void fetch_detach(bk_fetch *f, int kill)
{
    struct lws *wsi = f->wsi;
    if (!wsi)
        return;
    f->wsi = NULL;
    lws_set_opaque_user_data(wsi, NULL);
    if (kill)
        lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

static void fetch_end(bk_fetch *f)
{
    uv_timer_stop(&f->timer);
    uv_close((uv_handle_t *)&f->timer, on_timer_closed);
    uv_close((uv_handle_t *)&f->settle, on_timer_closed);
}

/* Waiting for the answer, lws would give up after its context's timeout_secs (5 s, and
 * Beckon's server-side timeouts depend on that value); the request's own deadline decides
 * instead. lws sets its timeout after the writable callback that sent the body returns, so
 * this runs on the next turn of the loop. */
static void on_settle(uv_timer_t *timer)
{
    bk_fetch *f = timer->data;
    if (f->wsi)
        lws_set_timeout(f->wsi, NO_PENDING_TIMEOUT, 0);
}

static void on_timer(uv_timer_t *timer);

/* The outcome is known; the caller hears it from the timer, outside lws's callbacks. */
static void fetch_finish(bk_fetch *f, int status, const char *error)
{
    if (f->finished)
        return;
    f->finished = 1;
    f->status = status;
    snprintf(f->error, sizeof f->error, "%s", error ? error : "");
    fetch_detach(f, 0);
    uv_timer_start(&f->timer, on_timer, 0, 0);
}

static void on_timer(uv_timer_t *timer)
{
    bk_fetch *f = timer->data;
    if (!f->finished) {
        f->finished = 1;
        f->status = 0;
        snprintf(f->error, sizeof f->error, "timed out after %d ms", f->timeout_ms);
        fetch_detach(f, 1);
        if (f->resolving)
            uv_cancel((uv_req_t *)&f->resolve);
    }
    if (!f->cancelled)
        f->fn(f->status, f->status ? NULL : f->error, f->data);
    fetch_end(f);
}

static void fetch_start_timer(bk_fetch *f, uint64_t ms)
{
    uv_timer_start(&f->timer, on_timer, ms, 0);
}

void bk_fetch_cancel(bk_fetch *f)
{
    if (!f || f->cancelled)
        return;
    f->cancelled = 1;
    f->finished = 1;
    fetch_detach(f, 1);
    if (f->resolving)
        uv_cancel((uv_req_t *)&f->resolve);
    fetch_end(f);
}

/* ---- lws ------------------------------------------------------------------------------- */

static int callback_fetch(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                          size_t len)
{
    bk_fetch *f = wsi ? lws_get_opaque_user_data(wsi) : NULL;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        if (f)
            fetch_finish(f, 0, in && len ? (const char *)in : "could not connect");
        return 0;

    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
        if (!f)
            return -1;
        char **p = in;
        int n = snprintf(*p, len, "%s", f->headers);
        if (n < 0 || (size_t)n >= len)
            return -1;
        *p += n;
        lws_client_http_body_pending(wsi, 1);
        lws_callback_on_writable(wsi);
        return 0;
    }
    case LWS_CALLBACK_CLIENT_HTTP_WRITEABLE:
        if (!f || f->body_sent)
            return 0;
        f->body_sent = 1;
        lws_client_http_body_pending(wsi, 0);
        if (lws_write(wsi, f->body + LWS_PRE, f->body_len, LWS_WRITE_HTTP_FINAL) != (int)f->body_len) {
            fetch_finish(f, 0, "could not send the body");
            return -1;
        }
        uv_timer_start(&f->settle, on_settle, 0, 0);
        return 0;

    case LWS_CALLBACK_ESTABLISHED_CLIENT_HTTP:
        if (f)
            f->status = (int)lws_http_client_http_response(wsi);
        return 0;

    case LWS_CALLBACK_RECEIVE_CLIENT_HTTP: {
        /* Drain the body: lws hands the pieces to RECEIVE_CLIENT_HTTP_READ. */
        char buffer[LWS_PRE + 1024], *p = buffer + LWS_PRE;
        int n = (int)sizeof buffer - LWS_PRE;
        return lws_http_client_read(wsi, &p, &n) < 0 ? -1 : 0;
    }
    case LWS_CALLBACK_RECEIVE_CLIENT_HTTP_READ:
        return 0;

    case LWS_CALLBACK_COMPLETED_CLIENT_HTTP:
        if (f)
            fetch_finish(f, f->status, f->status ? NULL : "no HTTP status");
        return -1;  /* one request per connection */

    case LWS_CALLBACK_CLOSED_CLIENT_HTTP:
        /* A status seen before the connection went counts: the receiver answered. */
        if (f)
            fetch_finish(f, f->status, f->status ? NULL : "connection closed before a response");
        return 0;

    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

static const struct lws_protocols fetch_protocols[] = {
    { .name = "beckon-fetch", .callback = callback_fetch },
    { .name = NULL },
};

static struct lws_vhost *client_vhost(bk_fetcher *fetcher)
{
    if (fetcher->vhost || fetcher->vhost_failed)
        return fetcher->vhost;
    struct lws_context *context = bk_net_lws_context(fetcher->net);
    if (!context) {
        fetcher->vhost_failed = 1;
        return NULL;
    }
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    /* A vhost of its own: the client TLS context lives on it, not on the listening one. */
    info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = fetch_protocols;
    info.vhost_name = "beckon-fetch";
    fetcher->vhost = lws_create_vhost(context, &info);
    if (!fetcher->vhost) {
        fetcher->vhost_failed = 1;
        bk_error("fetch: libwebsockets refused the client vhost; webhooks cannot be sent");
    }
    return fetcher->vhost;
}

static void fetch_connect(bk_fetch *f, const char *address)
{
    struct lws_vhost *vhost = client_vhost(f->fetcher);
    if (!vhost) {
        fetch_finish(f, 0, "the HTTP client is not available");
        return;
    }
    struct lws_client_connect_info info;
    memset(&info, 0, sizeof info);
    info.context = bk_net_lws_context(f->fetcher->net);
    info.vhost = vhost;
    info.address = address;
    info.port = f->url.port;
    info.ssl_connection = (f->url.tls ? LCCSCF_USE_SSL : 0) | LCCSCF_HTTP_NO_FOLLOW_REDIRECT;
    info.path = f->url.path;
    info.host = f->host_header;
    info.method = "POST";
    info.protocol = fetch_protocols[0].name;
    info.local_protocol_name = fetch_protocols[0].name;
    info.alpn = "http/1.1";
    info.opaque_user_data = f;
    struct lws *wsi = lws_client_connect_via_info(&info);
    /* lws may have reported an error from inside the call already. */
    if (f->finished) {
        return;
    }
    if (!wsi) {
        fetch_finish(f, 0, "could not connect");
        return;
    }
    f->wsi = wsi;
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *result)
{
    bk_fetch *f = req->data;
    f->resolving = 0;
    char address[64] = "";
    if (status == 0 && result) {
        const void *raw = result->ai_family == AF_INET6
            ? (const void *)&((struct sockaddr_in6 *)(void *)result->ai_addr)->sin6_addr
            : (const void *)&((struct sockaddr_in *)(void *)result->ai_addr)->sin_addr;
        uv_inet_ntop(result->ai_family, raw, address, sizeof address);
    }
    uv_freeaddrinfo(result);
    if (!f->finished) {
        if (address[0]) {
            fetch_connect(f, address);
        } else {
            char why[128];
            snprintf(why, sizeof why, "cannot resolve %.60s: %s", f->url.host,
                     status ? uv_strerror(status) : "no address");
            fetch_finish(f, 0, why);
        }
    }
    fetch_unref(f);
}

bk_fetch *bk_fetch_post(bk_fetcher *fetcher, const char *url, const char *headers,
                        const char *body, size_t len, int timeout_ms,
                        bk_fetch_done_fn fn, void *data, char *err, size_t err_size)
{
    bk_fetch *f = calloc(1, sizeof *f);
    if (!f) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    if (bk_url_parse(url, &f->url) != 0) {
        snprintf(err, err_size, "not an http(s) URL");
        free(f);
        return NULL;
    }
    int default_port = f->url.port == (f->url.tls ? 443 : 80);
    int v6 = strchr(f->url.host, ':') != NULL;
    char port[8];
    snprintf(port, sizeof port, ":%d", f->url.port);
    snprintf(f->host_header, sizeof f->host_header, "%s%s%s%s", v6 ? "[" : "", f->url.host, v6 ? "]" : "",
             default_port ? "" : port);
    f->headers = strdup(headers);
    f->body = malloc(LWS_PRE + len + 1);
    if (!f->headers || !f->body) {
        snprintf(err, err_size, "out of memory");
        free(f->headers);
        free(f->body);
        free(f);
        return NULL;
    }
    memcpy(f->body + LWS_PRE, body, len);
    f->body_len = len;
    f->fetcher = fetcher;
    f->timeout_ms = timeout_ms;
    f->fn = fn;
    f->data = data;
    f->refs = 2;
    uv_timer_init(fetcher->loop, &f->timer);
    f->timer.data = f;
    uv_timer_init(fetcher->loop, &f->settle);
    f->settle.data = f;
    fetch_start_timer(f, (uint64_t)timeout_ms);
    /* A literal address goes straight to lws; a name is resolved off the loop first. */
    unsigned char probe[sizeof(struct in6_addr)];
    if (uv_inet_pton(AF_INET, f->url.host, probe) == 0 || uv_inet_pton(AF_INET6, f->url.host, probe) == 0) {
        fetch_connect(f, f->url.host);
        return f;
    }
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    f->resolve.data = f;
    f->refs++;
    f->resolving = 1;
    int rc = uv_getaddrinfo(fetcher->loop, &f->resolve, on_resolved, f->url.host, NULL, &hints);
    if (rc != 0) {
        f->resolving = 0;
        f->refs--;
        char why[128];
        snprintf(why, sizeof why, "cannot resolve %.60s: %s", f->url.host, uv_strerror(rc));
        fetch_finish(f, 0, why);
    }
    return f;
}

bk_fetcher *bk_fetcher_new(uv_loop_t *loop, bk_net *net)
{
    bk_fetcher *fetcher = calloc(1, sizeof *fetcher);
    if (fetcher) {
        fetcher->loop = loop;
        fetcher->net = net;
    }
    return fetcher;
}

void bk_fetcher_free(bk_fetcher *fetcher)
{
    free(fetcher);  /* the vhost went with the lws context */
}
