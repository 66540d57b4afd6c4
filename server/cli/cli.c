/* cli.c - the one-shot commands' runner: reach Redis (or start the data dir's private one),
 * run the command, tidy up. Synchronous by design: it is not the server. */
#include "cli/cli.h"

#include "protocol/errors.h"
#include "store/redis_child.h"
#include "store/redis_reply.h"

#include <beckon/protocol.h>
#include <hiredis/hiredis.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

static redisContext *connect_address(const bk_redis_address *a)
{
    struct timeval timeout = { 2, 0 };
    redisContext *c = a->is_unix ? redisConnectUnixWithTimeout(a->path, timeout)
                                 : redisConnectWithTimeout(a->host, a->port, timeout);
    if (!c || c->err) {
        if (c)
            redisFree(c);
        return NULL;
    }
    redisReply *r = NULL;
    if (a->password[0])
        r = a->username[0] ? redisCommand(c, "AUTH %s %s", a->username, a->password)
                           : redisCommand(c, "AUTH %s", a->password);
    if (r) {
        int bad = bk_redis_reply_error(r) != NULL;
        freeReplyObject(r);
        if (bad) {
            fprintf(stderr, "beckon: redis refused the password\n");
            redisFree(c);
            return NULL;
        }
    }
    if (a->db) {
        r = redisCommand(c, "SELECT %d", a->db);
        if (r)
            freeReplyObject(r);
    }
    /* A Redis still loading its AOF answers -LOADING: wait until it is ready. */
    for (int i = 0; i < 100; i++) {
        r = redisCommand(c, "PING");
        int ready = r && !bk_redis_reply_error(r);
        if (r)
            freeReplyObject(r);
        if (ready)
            return c;
        usleep(100 * 1000);
    }
    redisFree(c);
    return NULL;
}

/* Runs one of the scripts the server uses (lua/embedded.h: bk_lua_NAME), so the shell and the
 * REST API change accounts and sites the same way. */
redisReply *bk_cli_script(redisContext *c, const char *source, int argc, const char **args)
{
    const char **argv = argc >= 0 ? malloc((size_t)(argc + 3) * sizeof *argv) : NULL;
    if (!argv)
        return NULL;
    argv[0] = "EVAL";
    argv[1] = source;
    argv[2] = "0";
    for (int i = 0; i < argc; i++)
        argv[3 + i] = args[i];
    redisReply *reply = redisCommandArgv(c, argc + 3, argv, NULL);
    free(argv);
    return reply;
}

int bk_cli_store_error(const redisReply *r, const char *const *refusals, const char *refused)
{
    bk_error err;
    bk_error_from_store(&err, r, refusals, BK_STORAGE_WRITE);
    fprintf(stderr, "beckon: %s\n", strcmp(err.code, BK_ERR_UNAVAILABLE) != 0 ? refused : err.message);
    return 1;
}

static void on_child_stopped(void *data)
{
    (void)data;
}
int bk_cli_run(const bk_config *config, int argc, char **argv, bk_cli_command command)
{
    char err[512] = "no answer";
    bk_redis_address address;
    uv_loop_t loop;
    bk_redis_child *child = NULL;
    redisContext *c = NULL;
    int loop_started = 0;
    if (config->redis[0]) {
        if (bk_redis_address_parse(config->redis, &address, err, sizeof err) != 0) {
            fprintf(stderr, "beckon: %s\n", err);
            return 2;
        }
        /* Its scripts touch keys of many slots, which a cluster node refuses (until every key a
         * script touches carries one hash tag); one synchronous connection follows no MOVED. */
        if (address.is_cluster) {
            fprintf(stderr, "beckon: the one-shot commands cannot use a Redis Cluster yet\n");
            return 2;
        }
        c = connect_address(&address);
    } else {
        /* The running server's private Redis if there is one; else a temporary one. */
        memset(&address, 0, sizeof address);
        address.is_unix = 1;
        char resolved[PATH_MAX];
        const char *dir = realpath(config->data_dir, resolved) ? resolved : config->data_dir;
        if (snprintf(address.path, sizeof address.path, "%s/redis.sock", dir) < (int)sizeof address.path)
            c = connect_address(&address);
        if (!c) {
            mkdir(config->data_dir, 0700);
            uv_loop_init(&loop);
            loop_started = 1;
            child = bk_redis_child_start(&loop, config->redis_server, config->data_dir,
                                         address.path, sizeof address.path, err, sizeof err);
            if (child) {
                for (int i = 0; i < 100 && !c; i++) {
                    uv_run(&loop, UV_RUN_NOWAIT);
                    usleep(50 * 1000);
                    c = connect_address(&address);
                }
            }
        }
    }
    int rc;
    if (!c) {
        fprintf(stderr, "beckon: cannot reach Redis: %s\n", err);
        rc = 1;
    } else {
        rc = command(c, config, argc, argv);
        redisFree(c);
    }
    if (loop_started) {
        if (child)
            bk_redis_child_stop(child, on_child_stopped, NULL);
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
    }
    return rc;
}
