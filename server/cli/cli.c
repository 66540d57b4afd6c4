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

/* Runs one of the scripts the server uses (lua/embedded.h: bk_lua_NAME), so the shell and the
 * REST API change accounts and sites the same way. */
redisReply *bk_cli_script(bk_cli_redis *redis, const char *source, int argc, const char **args)
{
    const char **argv = argc >= 1 ? malloc((size_t)(argc + 3) * sizeof *argv) : NULL;
    if (!argv)
        return NULL;
    argv[0] = "EVAL";
    argv[1] = source;
    argv[2] = "0";
    for (int i = 0; i < argc; i++)
        argv[3 + i] = args[i];
    redisReply *reply = bk_cli_redis_command(redis, 3, argc + 3, argv, NULL);
    free(argv);
    if (!reply)  /* the caller says what failed; this says where */
        fprintf(stderr, "beckon: redis: %s\n", bk_cli_redis_error(redis));
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
    bk_cli_redis *redis = NULL;
    int loop_started = 0;
    if (config->redis[0]) {
        if (bk_redis_address_parse(config->redis, &address, err, sizeof err) != 0) {
            fprintf(stderr, "beckon: %s\n", err);
            return 2;
        }
        redis = bk_cli_redis_connect(&address, err, sizeof err);
    } else {
        /* The running server's private Redis if there is one; else a temporary one. */
        memset(&address, 0, sizeof address);
        address.is_unix = 1;
        char resolved[PATH_MAX];
        const char *dir = realpath(config->data_dir, resolved) ? resolved : config->data_dir;
        if (snprintf(address.path, sizeof address.path, "%s/redis.sock", dir) < (int)sizeof address.path)
            redis = bk_cli_redis_connect(&address, err, sizeof err);
        if (!redis) {
            mkdir(config->data_dir, 0700);
            uv_loop_init(&loop);
            loop_started = 1;
            child = bk_redis_child_start(&loop, config->redis_server, config->data_dir,
                                         address.path, sizeof address.path, err, sizeof err);
            if (child) {
                for (int i = 0; i < 100 && !redis; i++) {
                    uv_run(&loop, UV_RUN_NOWAIT);
                    usleep(50 * 1000);
                    redis = bk_cli_redis_connect(&address, err, sizeof err);
                }
            }
        }
    }
    int rc;
    if (!redis) {
        fprintf(stderr, "beckon: cannot reach Redis: %s\n", err);
        rc = 1;
    } else {
        rc = command(redis, config, argc, argv);
        bk_cli_redis_free(redis);
    }
    if (loop_started) {
        if (child)
            bk_redis_child_stop(child, on_child_stopped, NULL);
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
    }
    return rc;
}
