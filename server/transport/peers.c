/* peers.c - who the client is (trusted proxies, X-Forwarded-For) and connections per address. */
#include "transport/net_internal.h"

#include "base/ids.h"
#include "base/log.h"
#include "base/metrics.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

uintptr_t net_ip_count(const bk_map *counts, const char *ip)
{
    return (uintptr_t)bk_map_get(counts, ip);
}

void net_ip_count_add(bk_map *counts, const char *ip, int delta)
{
    uintptr_t count = net_ip_count(counts, ip) + (uintptr_t)(intptr_t)delta;
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
 * not itself a trusted proxy (the first entry, when all are): entries to its left were
 * written by the client and prove nothing. An entry that does not parse, met before that one,
 * leaves the peer's own address. */
void net_peer_address(const bk_net *net, struct lws *wsi, char *out, size_t size)
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

/* FILTER_NETWORK_CONNECTION: the socket is accepted, lws has made nothing of it yet. Closing it
 * here costs nothing; there is no request to answer yet. */
int net_tcp_accept_refused(bk_net *net, const struct lws_filter_network_conn_args *args)
{
    char peer[64];
    if (address_text(&args->cli_addr, peer, sizeof peer) != 0 ||
        (net->config->trusted_proxies[0] && proxy_trusted(net, peer, strlen(peer))))
        return 0;
    uintptr_t limit = (uintptr_t)net->config->max_connections_per_ip +
                      (uintptr_t)net->config->max_http_connections_per_ip;
    if (net_ip_count(net->per_peer, peer) < limit)
        return 0;
    bk_metrics_now.http_connections_refused++;
    char network[64];
    bk_ip_truncate(peer, network, sizeof network);
    bk_warn("closing a new connection: an address in %s holds %lu already", network,
            (unsigned long)limit);
    return 1;
}

/* SERVER_NEW_CLIENT_INSTANTIATED, right after the accept that net_tcp_accept_refused let through. */
void net_tcp_conn_open(bk_net *net, struct lws *wsi)
{
    net_tcp_conn *c = calloc(1, sizeof *c);
    if (!c)
        return;  /* its requests are refused (http_admit) */
    struct sockaddr_storage sa;
    socklen_t sa_len = sizeof sa;
    char peer[64];
    if (getpeername(lws_get_socket_fd(wsi), (struct sockaddr *)&sa, &sa_len) == 0 &&
        address_text(&sa, peer, sizeof peer) == 0 &&
        !(net->config->trusted_proxies[0] && proxy_trusted(net, peer, strlen(peer)))) {
        memcpy(c->peer, peer, sizeof c->peer);
        net_ip_count_add(net->per_peer, c->peer, 1);
    }
    lws_set_opaque_user_data(wsi, c);
}

void net_tcp_conn_http_leave(bk_net *net, net_tcp_conn *c)
{
    if (!c || !c->http_counted)
        return;
    net_ip_count_add(net->http_per_ip, c->client, -1);
    bk_metrics_now.http_connections--;
    c->http_counted = 0;
}

/* WSI_DESTROY, for every wsi of the vhost (the listening one has no record). */
void net_tcp_conn_close(bk_net *net, struct lws *wsi)
{
    net_tcp_conn *c = lws_get_opaque_user_data(wsi);
    if (!c)
        return;
    lws_set_opaque_user_data(wsi, NULL);
    net_tcp_conn_http_leave(net, c);
    if (c->peer[0])
        net_ip_count_add(net->per_peer, c->peer, -1);
    free(c);
}
