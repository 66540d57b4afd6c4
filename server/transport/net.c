/* net.c - libwebsockets on a foreign libuv loop: the context, its vhost and mounts, shutdown. */
#include "transport/net_internal.h"

#include "base/log.h"

#include <beckon/protocol.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define DRAIN_POLL_MS   20
#define DRAIN_MAX_MS    2000           /* how long shutdown waits for closing handshakes */

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
    if (!net->per_ip || !net->per_peer || !net->http_per_ip) {  /* before any handle is on the loop */
        bk_map_free(net->per_ip);
        bk_map_free(net->per_peer);
        bk_map_free(net->http_per_ip);
        free(net);
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    uv_timer_init(loop, &net->close_timer);
    net->close_timer.data = net;
    uv_timer_init(loop, &net->drain_timer);
    net->drain_timer.data = net;

    net->protocols[0] = net_http_protocol();
    net->protocols[1] = net_websocket_protocol(BK_SUBPROTOCOL_VISITOR, BK_ROLE_VISITOR);
    net->protocols[2] = net_websocket_protocol(BK_SUBPROTOCOL_AGENT, BK_ROLE_AGENT);

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
        .mount_next = &net->mounts[5], .mountpoint = "/metrics", .mountpoint_len = 8,
        .origin = "http", .origin_protocol = LWSMPRO_CALLBACK,
    };
    net->mounts[5] = (struct lws_http_mount){  /* files in chat, served by the API's router */
        .mount_next = &net->mounts[2], .mountpoint = "/files", .mountpoint_len = 6,
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
    if (net_spool_dir_prepare(net, err, err_size) != 0)
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
    net_websockets_close(net);
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
