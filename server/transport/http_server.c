/* http_server.c - plain HTTP requests: target checks, bodies and their deadline, responses. */
#include "transport/net_internal.h"

#include "base/ids.h"
#include "base/log.h"
#include "base/metrics.h"

#include <beckon/protocol.h>
#include <stdlib.h>
#include <string.h>

#define HTTP_BODY_MAX   (64 * 1024)
/* The longest path and query kept, each with its NUL: a longer one is refused (414), never cut
 * short into another id. */
#define HTTP_PATH_SIZE  NET_HTTP_PATH_SIZE
#define HTTP_QUERY_SIZE NET_HTTP_QUERY_SIZE

typedef struct http_session { bk_http *request; } http_session;

/* ---- HTTP ---------------------------------------------------------------------------- */

static void http_unref(bk_http *request)
{
    if (--request->refs > 0)
        return;
    net_spool_free(request->spool);
    free(request->body);
    free(request->response);
    free(request->stream_headers);
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
            /* lws gives no writable callback while a request's body is still being read (an
             * upload refused or answered midway): its timer does come, and http_answer_early
             * writes the answer whole from there, then closes. */
            if (!net_spool_complete(r)) {
                lws_set_timer_usecs(r->wsi, 1);
                /* from outside lws's service, its scheduler learns of the new timer only when
                 * it next runs: wake it */
                lws_cancel_service(lws_get_context(r->wsi));
            } else
                lws_callback_on_writable(r->wsi);
        }
    }
    http_unref(r);  /* the handler's reference */
}

void bk_http_attachment(bk_http *r, const char *filename)
{
    snprintf(r->disposition, sizeof r->disposition, "attachment; filename=\"%s\"", filename);
}

void bk_http_cors(bk_http *r, const char *origin, const char *methods)
{
    snprintf(r->cors_origin, sizeof r->cors_origin, "%s", origin);
    r->cors_methods = methods;
}

/* The CORS headers bk_http_cors asked for: 0, or -1 when they do not fit. */
static int http_cors_headers(struct lws *wsi, const bk_http *r, unsigned char **p, unsigned char *end)
{
    if (!r->cors_origin[0])
        return 0;
    if (lws_add_http_header_by_name(wsi, (const unsigned char *)"access-control-allow-origin:",
                                    (const unsigned char *)r->cors_origin, (int)strlen(r->cors_origin), p, end) ||
        lws_add_http_header_by_name(wsi, (const unsigned char *)"vary:", (const unsigned char *)"Origin", 6, p, end))
        return -1;
    if (!r->cors_methods)
        return 0;
    static const char headers[] = "Authorization, Content-Type", max_age[] = "600";
    return lws_add_http_header_by_name(wsi, (const unsigned char *)"access-control-allow-methods:",
                                       (const unsigned char *)r->cors_methods, (int)strlen(r->cors_methods), p, end) ||
           lws_add_http_header_by_name(wsi, (const unsigned char *)"access-control-allow-headers:",
                                       (const unsigned char *)headers, (int)sizeof headers - 1, p, end) ||
           lws_add_http_header_by_name(wsi, (const unsigned char *)"access-control-max-age:",
                                       (const unsigned char *)max_age, (int)sizeof max_age - 1, p, end)
               ? -1 : 0;
}

void bk_http_stream_begin(bk_http *r, int status, const char *content_type, uint64_t length,
                          const char *headers, void (*more)(bk_http *request, int gone, void *data),
                          void *data)
{
    r->streaming = 1;
    r->status = status;
    snprintf(r->response_type, sizeof r->response_type, "%s", content_type);
    r->stream_length = length;
    r->stream_headers = strdup(headers);
    r->stream_more = more;
    r->stream_data = data;
    if (r->wsi)
        lws_callback_on_writable(r->wsi);
}

void bk_http_stream_write(bk_http *r, const char *chunk, size_t len)
{
    if (!r->wsi || r->response || r->stream_ended)
        return;
    r->response = malloc(LWS_PRE + len + 1);
    if (!r->response) {
        lws_set_timeout(r->wsi, PENDING_TIMEOUT_KILLED_BY_PARENT, LWS_TO_KILL_ASYNC);
        return;
    }
    memcpy(r->response + LWS_PRE, chunk, len);
    r->response_len = len;
    lws_callback_on_writable(r->wsi);
}

void bk_http_stream_end(bk_http *r)
{
    r->stream_ended = 1;
    if (r->wsi)
        lws_callback_on_writable(r->wsi);
    http_unref(r);  /* the handler's reference */
}

/* Answers a request refused before any handler ran with a JSON error, written at once from
 * inside the callback (the way lws_return_http_status does). The caller then returns non-zero,
 * so lws closes the connection: what follows on it is not trusted to be a request. */
void net_http_refuse(struct lws *wsi, unsigned status, const char *code, const char *message)
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
long long net_http_content_length(struct lws *wsi)
{
    char value[24];
    if (lws_hdr_copy(wsi, value, sizeof value, WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0)
        return -1;
    char *end;
    long long length = strtoll(value, &end, 10);
    return end != value && *end == '\0' && length >= 0 ? length : -1;
}

static void http_body_deadline(const bk_net *net, struct lws *wsi, net_tcp_conn *c)
{
    /* A body follows when the request gives its length, or (as lws assumes: 100 MB) for
     * POST, PUT and PATCH without one. A body lws discards by itself (after a static file,
     * or after our answer to a POST without a length) has the same deadline. */
    long long length = net_http_content_length(wsi);
    int body = length > 0 || (length < 0 && (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0 ||
                                             lws_hdr_total_length(wsi, WSI_TOKEN_PUT_URI) > 0 ||
                                             lws_hdr_total_length(wsi, WSI_TOKEN_PATCH_URI) > 0));
    if (body)
        lws_set_timer_usecs(wsi, (lws_usec_t)net->config->body_timeout_seconds * LWS_USEC_PER_SEC);
    else if (c->body_deadline)
        lws_set_timer_usecs(wsi, HTTP_NO_DEADLINE);
    c->body_deadline = body;
}

static void http_body_in_time(struct lws *wsi, net_tcp_conn *c)
{
    if (c && c->body_deadline) {
        lws_set_timer_usecs(wsi, HTTP_NO_DEADLINE);
        c->body_deadline = 0;
    }
}

/* A streamed body (an upload) may take longer than body-timeout-seconds as a whole: its
 * deadline is renewed each time another SPOOL_PROGRESS_BYTES have come, so a real upload at
 * more than SPOOL_PROGRESS_BYTES per deadline goes on, and a trickle (the slowloris the
 * deadline is for) does not. */
#define SPOOL_PROGRESS_BYTES (64 * 1024)

static void http_body_progress(const bk_net *net, struct lws *wsi, uint64_t before, uint64_t after)
{
    net_tcp_conn *c = lws_get_opaque_user_data(wsi);
    if (c && c->body_deadline && after / SPOOL_PROGRESS_BYTES != before / SPOOL_PROGRESS_BYTES)
        lws_set_timer_usecs(wsi, (lws_usec_t)net->config->body_timeout_seconds * LWS_USEC_PER_SEC);
}

static void http_session_release(http_session *session);

/* The answer to a request whose body was not read whole (bk_http_respond), written at once from
 * the wsi's timer, headers and body together; then the connection closes: what follows on it is
 * the rest of that body. Returns -1 (close). */
static int http_answer_early(struct lws *wsi, http_session *session)
{
    bk_http *r = session->request;
    size_t size = LWS_PRE + 1024 + r->response_len;
    unsigned char *buffer = malloc(size);
    if (buffer) {
        unsigned char *start = buffer + LWS_PRE, *p = start, *end = buffer + LWS_PRE + 1024;
        if (lws_add_http_common_headers(wsi, (unsigned)r->status, r->response_type, r->response_len, &p, end) == 0 &&
            lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
                                        (const unsigned char *)"no-store", 8, &p, end) == 0 &&
            http_cors_headers(wsi, r, &p, end) == 0 &&
            lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION, (const unsigned char *)"close", 5, &p, end) == 0 &&
            lws_finalize_http_header(wsi, &p, end) == 0) {
            memcpy(p, r->response + LWS_PRE, r->response_len);
            p += r->response_len;
            lws_write(wsi, start, (size_t)(p - start), LWS_WRITE_HTTP);
        }
        free(buffer);
    }
    http_session_release(session);
    return -1;
}

/* The body deadline passed: 408, unless an answer of ours is already on its way (then that is
 * cut short); the connection closes either way. */
static int http_body_late(const bk_net *net, struct lws *wsi, http_session *session, net_tcp_conn *c)
{
    if (!c || !c->body_deadline)
        return 0;  /* a deadline already met (lws cannot cancel it) */
    char ip[64], network[64];
    net_peer_address(net, wsi, ip, sizeof ip);
    bk_ip_truncate(ip, network, sizeof network);
    bk_warn("dropping an HTTP request from an address in %s: its body did not arrive within %d s",
            network, net->config->body_timeout_seconds);
    bk_metrics_now.http_body_timeouts++;
    int answering = session && session->request && session->request->response;
    http_session_release(session);
    if (!answering)
        net_http_refuse(wsi, 408, BK_ERR_BAD_REQUEST, "the request body did not arrive in time");
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
    r->net = (bk_net *)net;
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
    net_peer_address(net, wsi, r->peer, sizeof r->peer);
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
            http_cors_headers(wsi, r, &p, end) ||
            (!net_spool_complete(r) &&
             lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION,
                                          (const unsigned char *)"close", 5, &p, end)) ||
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
    /* A body not read whole (an upload refused midway): what follows on the connection is the
     * rest of it, not a request. */
    return net_spool_complete(r) ? 0 : -1;
}

/* Adds "name: value\r\n" lines as headers: 0, or -1 when they do not fit. */
static int http_extra_headers(struct lws *wsi, const char *lines, unsigned char **p, unsigned char *end)
{
    while (*lines) {
        const char *eol = strstr(lines, "\r\n"), *colon = strchr(lines, ':');
        if (!eol || !colon || colon > eol)
            return -1;
        char name[64];
        size_t name_len = (size_t)(colon - lines) + 1;
        if (name_len >= sizeof name)
            return -1;
        for (size_t i = 0; i < name_len; i++)
            name[i] = (char)(lines[i] >= 'A' && lines[i] <= 'Z' ? lines[i] + 32 : lines[i]);
        name[name_len] = '\0';
        const char *value = colon + 1 + strspn(colon + 1, " ");
        if (lws_add_http_header_by_name(wsi, (const unsigned char *)name, (const unsigned char *)value,
                                        (int)(eol - value), p, end))
            return -1;
        lines = eol + 2;
    }
    return 0;
}

/* A streamed response: the headers, then each chunk the handler hands over, asking for the
 * next once one is out. */
static int http_stream_out(struct lws *wsi, bk_http *r)
{
    if (!r->headers_sent) {
        unsigned char headers[LWS_PRE + 2048], *start = headers + LWS_PRE, *p = start,
                      *end = headers + sizeof headers - 1;
        if (lws_add_http_common_headers(wsi, (unsigned)r->status, r->response_type,
                                        r->stream_length, &p, end) ||
            http_extra_headers(wsi, r->stream_headers ? r->stream_headers : "", &p, end) ||
            (!net_spool_complete(r) &&
             lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION,
                                          (const unsigned char *)"close", 5, &p, end)) ||
            lws_finalize_write_http_header(wsi, start, &p, end))
            return -1;
        r->headers_sent = 1;
    } else if (r->response) {
        int last = r->stream_written + r->response_len >= r->stream_length;
        if (lws_write(wsi, (unsigned char *)r->response + LWS_PRE, r->response_len,
                      last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) != (int)r->response_len)
            return -1;
        r->stream_written += r->response_len;
        free(r->response);
        r->response = NULL;
    }
    if (r->stream_written >= r->stream_length) {
        r->body_sent = 1;
        return net_spool_complete(r) ? 0 : -1;
    }
    if (r->stream_ended)
        return -1;  /* ended short: the client must not take it for the whole file */
    if (!r->response && r->stream_more)
        r->stream_more(r, 0, r->stream_data);
    return 0;
}

/* The net lets go of a request once its response is out or its client is gone. lws does not
 * send CLOSED_HTTP on every path (a connection closed after a completed transaction, or one
 * torn down with the context), so every exit comes through here. */
static void http_session_release(http_session *session)
{
    /* A connection that closed before sending a request has no session memory at all. */
    if (session && session->request) {
        bk_http *r = session->request;
        session->request = NULL;
        r->wsi = NULL;
        /* Whoever waits for the body or the next chunk hears that the client is gone (and
         * may release the request: the net's reference keeps it until below). */
        net_spool_client_gone(r);
        if (r->streaming && !r->stream_ended && !r->body_sent && r->stream_more)
            r->stream_more(r, 1, r->stream_data);
        http_unref(r);
    }
}

/* Counts the connection as serving plain HTTP for the client of this request. Returns -1 after
 * answering 429 when that client holds max-http-connections-per-ip already, or 503 when the
 * connection has no record (net_tcp_conn_open ran out of memory). */
static int http_admit(bk_net *net, struct lws *wsi, net_tcp_conn *c)
{
    if (!c) {
        net_http_refuse(wsi, 503, BK_ERR_UNAVAILABLE, "out of memory");
        return -1;
    }
    char client[64];
    net_peer_address(net, wsi, client, sizeof client);
    if (c->http_counted && strcmp(client, c->client) == 0)
        return 0;  /* the next request of the same client */
    net_tcp_conn_http_leave(net, c);
    if (net_ip_count(net->http_per_ip, client) >= (uintptr_t)net->config->max_http_connections_per_ip) {
        bk_metrics_now.http_connections_refused++;
        char network[64];
        bk_ip_truncate(client, network, sizeof network);
        bk_warn("refusing an HTTP request: an address in %s holds %d connections already", network,
                net->config->max_http_connections_per_ip);
        net_http_refuse(wsi, 429, BK_ERR_RATE_LIMITED, "too many connections from your address");
        return -1;
    }
    memcpy(c->client, client, sizeof c->client);
    net_ip_count_add(net->http_per_ip, c->client, 1);
    c->http_counted = 1;
    bk_metrics_now.http_connections++;
    return 0;
}

static int callback_http(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                         void *in, size_t len)
{
    bk_net *net = lws_context_user(lws_get_context(wsi));
    http_session *session = user;
    switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        /* An upgrade naming no subprotocol of ours: the role would be a guess. */
        return net_upgrade_refuse(wsi, HTTP_STATUS_FORBIDDEN);

    /* Every plain HTTP request passes here once its headers are in, before any handler and
     * before lws serves a file itself (upgrades go to FILTER_PROTOCOL_CONNECTION instead). */
    case LWS_CALLBACK_FILTER_HTTP_CONNECTION: {
        const char *why;
        unsigned status = http_target_check(wsi, in, len, &why);
        if (status) {
            net_http_refuse(wsi, status, BK_ERR_BAD_REQUEST, why);
            return -1;
        }
        net_tcp_conn *c = lws_get_opaque_user_data(wsi);
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
        /* An upload: its body goes to a file as it comes, and the route starts at once (it
         * checks who is asking meanwhile). */
        uint64_t ceiling = net->handlers.spool ? net->handlers.spool(r, net->data) : 0;
        if (ceiling > 0) {
            if (net_spool_start(net, r, ceiling) != 0)
                return -1;
            http_dispatch(net, r);
            return 0;
        }
        /* lws reads a body only for a Content-Length above 0: "Content-Length: 0" (a PUT
         * with no body) has nothing to wait for. */
        if (net_http_content_length(wsi) > 0)
            return 0;  /* the body follows */
        http_dispatch(net, r);
        return 0;
    }
    case LWS_CALLBACK_HTTP_BODY: {
        bk_http *r = session->request;
        if (!r)
            return -1;
        if (r->spool) {
            uint64_t before = net_spool_received(r);
            if (net_spool_body(r, in, len) != 0) {
                net_http_refuse(wsi, 400, BK_ERR_BAD_REQUEST, "the chunked body is malformed");
                return -1;
            }
            http_body_progress(net, wsi, before, net_spool_received(r));
            return 0;
        }
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
        if (session->request && session->request->spool) {
            net_spool_body_end(session->request);  /* its route runs already */
            if (session->request->response)
                lws_callback_on_writable(wsi);  /* it answered while the body came */
        }
        else if (session->request)
            http_dispatch(net, session->request);
        return 0;

    case LWS_CALLBACK_HTTP_WRITEABLE: {
        bk_http *r = session->request;
        if (!r)
            return 0;
        int rc = r->streaming ? http_stream_out(wsi, r) : http_write(wsi, r);
        if (rc != 0 || !r->body_sent)
            return rc;
        /* Done: let go of the request first, because completing the transaction may free
         * this session's memory (lws reuses or drops it for the next request). */
        http_session_release(session);
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    }
    case LWS_CALLBACK_TIMER:
        if (session && session->request && session->request->response && !session->request->streaming &&
            !session->request->headers_sent) {
            if (!net_spool_complete(session->request))
                return http_answer_early(wsi, session);
            lws_callback_on_writable(wsi);  /* the body ended meanwhile: the usual way */
            return 0;
        }
        return http_body_late(net, wsi, session, lws_get_opaque_user_data(wsi));

    /* Every connection, from accept to the end (see net_tcp_conn). */
    case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
        return net_tcp_accept_refused(net, user) ? -1 : 0;

    case LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED:
        net_tcp_conn_open(net, wsi);
        return 0;

    case LWS_CALLBACK_WSI_DESTROY:
        net_tcp_conn_close(net, wsi);
        return 0;

    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        http_session_release(session);
        return 0;

    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

struct lws_protocols net_http_protocol(void)
{
    return (struct lws_protocols){
        .name = "http", .callback = callback_http,
        .per_session_data_size = sizeof(http_session),
    };
}
