/* main.c - start-up and shutdown order of one Beckon process. */
#include "cli/agent_cli.h"
#include "cli/keys_cli.h"
#include "cli/mail_cli.h"
#include "cli/site_cli.h"
#include "files/file_check.h"
#include "files/file_store.h"
#include "http/router.h"
#include "chat/chat.h"
#include "base/config.h"
#include "base/keys.h"
#include "base/log.h"
#include "transport/mail.h"
#include "mail/mail_inbound.h"
#include "mail/mail_receiver.h"
#include "base/metrics.h"
#include "store/redis_child.h"
#include "server.h"
#include "triggers/triggers.h"
#include "workers/webhooks.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

typedef struct process {
    bk_server server;
    bk_redis_child *redis_child;
    bk_mail_receiver *mail_receiver;   /* NULL: no lmtp-socket */
    uv_signal_t sigint, sigterm;
    int stopping;
} process;

static void on_store_closed(void *data)
{
    process *p = data;
    /* The private Redis goes last, after every reply we were owed has arrived. */
    if (p->redis_child)
        bk_redis_child_stop(p->redis_child, NULL, NULL);
    p->redis_child = NULL;
}

/* Redis closes after the sockets: their last requests (presence removal) still get out. */
static void on_net_drained(void *data)
{
    process *p = data;
    if (p->server.store)
        bk_store_close(p->server.store, on_store_closed, p);
    else
        on_store_closed(p);
}

static void process_stop(process *p)
{
    if (p->stopping)
        return;
    p->stopping = 1;
    bk_info("shutting down");
    uv_close((uv_handle_t *)&p->sigint, NULL);
    uv_close((uv_handle_t *)&p->sigterm, NULL);
    if (p->server.chat)
        bk_chat_shutdown(p->server.chat);
    if (p->server.triggers)
        bk_triggers_shutdown(p->server.triggers);
    if (p->server.webhooks)
        bk_webhooks_shutdown(p->server.webhooks);  /* before the net: requests in flight end */
    if (p->server.router)
        bk_router_shutdown(p->server.router);
    /* checks in flight are answered unavailable now, while their clients are still there */
    bk_file_checker_free(p->server.checker);
    p->server.checker = NULL;
    bk_mail_shutdown(p->server.mail);
    bk_mail_receiver_shutdown(p->mail_receiver);
    if (p->server.net)
        bk_net_shutdown(p->server.net, on_net_drained, p);
    else
        on_net_drained(p);
}

static void on_signal(uv_signal_t *handle, int signum)
{
    (void)signum;
    process_stop(handle->data);
}

static int make_data_dir(const char *path)
{
    if (mkdir(path, 0700) == 0 || errno == EEXIST)
        return 0;
    bk_error("cannot create data dir %s: %s", path, strerror(errno));
    return -1;
}

static int server_run(const bk_config *config)
{
    char err[512];
    process p;
    memset(&p, 0, sizeof p);
    bk_server *server = &p.server;
    server->config = config;
    if (make_data_dir(config->data_dir) != 0)
        return 1;
    char secret_path[PATH_MAX + 16];
    snprintf(secret_path, sizeof secret_path, "%s/secret", config->data_dir);
    if (bk_secret_load(config->secret, secret_path, server->secret, err, sizeof err) != 0) {
        bk_error("%s", err);
        return 1;
    }
    bk_redis_address address;
    if (config->redis[0] && bk_redis_address_parse(config->redis, &address, err, sizeof err) != 0) {
        bk_error("%s", err);
        return 1;
    }
    if (bk_mail_config_check(config, err, sizeof err) != 0 || bk_mail_inbound_config_check(config, err, sizeof err) != 0) {
        bk_error("%s", err);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    uv_loop_t loop;
    uv_loop_init(&loop);
    server->loop = &loop;

    if (!config->redis[0]) {
        memset(&address, 0, sizeof address);
        address.is_unix = 1;
        p.redis_child = bk_redis_child_start(&loop, config->redis_server, config->data_dir,
                                             address.path, sizeof address.path, err, sizeof err);
        if (!p.redis_child) {
            bk_error("%s", err);
            uv_run(&loop, UV_RUN_DEFAULT);
            uv_loop_close(&loop);
            return 1;
        }
    }
    uv_signal_init(&loop, &p.sigint);
    uv_signal_init(&loop, &p.sigterm);
    p.sigint.data = p.sigterm.data = &p;
    /* Each part needs the store; a part that could not be made (out of memory) stops the
     * start-up here, through the same shutdown as any other, rather than later in a callback. */
    server->store = bk_store_new(&loop, &address, config->redis_timeout_ms);
    if (server->store) {
        char global[BK_KEYS_PREFIX_SIZE];
        bk_keys_global_prefix(config->prefix, global);
        bk_store_cluster_key(server->store, global);
        server->chat = bk_chat_new(server);
        server->triggers = bk_triggers_new(server);
        server->webhooks = bk_webhooks_new(server);
        server->router = bk_router_new(server);
        server->mail = bk_mail_new(&loop, config);  /* NULL also when no smtp-host is set */
        server->files = bk_file_store_new(&loop, config, server->store, err, sizeof err);
        if (server->files && !(server->checker = bk_file_checker_new(&loop, config, err, sizeof err))) {
            bk_file_store_free(server->files);
            server->files = NULL;
        }
    }
    int receiver_failed = 0;
    if (server->store)
        p.mail_receiver = bk_mail_receiver_new(server, &receiver_failed);
    int made = server->store && server->chat && server->triggers && server->webhooks && server->router &&
               server->files && !receiver_failed;
    if (made) {
        bk_store_start(server->store);
        bk_net_handlers handlers = {
            .opened = bk_chat_opened, .received = bk_chat_received, .closed = bk_chat_closed,
            .http = bk_router_handle, .spool = bk_router_spool,
        };
        server->net = bk_net_new(&loop, config, &handlers, server, err, sizeof err);
    }
    int rc = 0;
    if (server->store && !server->files) {
        bk_error("%s", err);
        rc = 1;
        process_stop(&p);
    } else if (!made) {
        bk_error("out of memory while starting");
        rc = 1;
        process_stop(&p);
    } else if (!server->net || bk_net_listen(server->net, err, sizeof err) != 0 ||
               (p.mail_receiver && bk_mail_receiver_listen(p.mail_receiver, err, sizeof err) != 0)) {
        bk_error("%s", err);
        rc = 1;
        process_stop(&p);
    } else {
        uv_signal_start(&p.sigint, on_signal, SIGINT);
        uv_signal_start(&p.sigterm, on_signal, SIGTERM);
        bk_info("beckon %s listening on http://%s:%d/ (redis: %s)", BK_VERSION, config->bind,
                bk_net_port(server->net), !config->redis[0] ? "private" : address.is_cluster ? "cluster" : "external");
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    bk_net_free(server->net);
    bk_chat_free(server->chat);
    bk_triggers_free(server->triggers);
    bk_webhooks_free(server->webhooks);
    bk_router_free(server->router);
    bk_mail_free(server->mail);
    bk_mail_receiver_free(p.mail_receiver);
    bk_file_store_free(server->files);
    bk_metrics_free();
    int closed = uv_loop_close(&loop);
    if (closed != 0)
        bk_warn("loop closed with handles still open: %s", uv_strerror(closed));
    else
        bk_info("stopped cleanly");
    return rc;
}

int main(int argc, char **argv, char **envp)
{
    bk_config config;
    bk_config_init(&config);
    char err[512];
    int command;
    switch (bk_config_resolve(&config, argc, argv, envp, &command, err, sizeof err)) {
    case BK_CONFIG_HELP:
        bk_config_usage(argv[0]);
        return 0;
    case BK_CONFIG_VERSION:
        printf("beckon %s\n", BK_VERSION);
        return 0;
    case BK_CONFIG_ERROR:
        fprintf(stderr, "beckon: %s\n", err);
        return 2;
    case BK_CONFIG_RUN:
        break;
    }
    bk_log_level level;
    if (bk_log_level_parse(config.log_level, &level) != 0) {
        fprintf(stderr, "beckon: log-level: expected debug, info, warn or error\n");
        return 2;
    }
    bk_log_set_level(level);
    if (command < argc) {
        if (strcmp(argv[command], "agent") == 0)
            return bk_agent_cli(&config, argc - command, argv + command);
        if (strcmp(argv[command], "site") == 0)
            return bk_site_cli(&config, argc - command, argv + command);
        if (strcmp(argv[command], "mail") == 0)
            return bk_mail_cli(&config, argc - command, argv + command);
        if (strcmp(argv[command], "keys") == 0)
            return bk_keys_cli(&config, argc - command, argv + command);
        fprintf(stderr, "beckon: unknown command '%s' (see --help)\n", argv[command]);
        return 2;
    }
    return server_run(&config);
}
