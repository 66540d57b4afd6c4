/* cli.h - what the one-shot commands ("beckon agent ...", "beckon site ...") share.
 *
 * Not the server: a command talks to Redis synchronously (cli_redis.h: one Redis, or a
 * cluster). With no Redis configured it uses the private Redis of the data dir, starting it
 * for the command's duration when no server is running. */
#ifndef BK_CLI_H
#define BK_CLI_H

#include "base/config.h"
#include "cli/cli_redis.h"

#include <hiredis/hiredis.h>

/* Reaches Redis, runs command, tidies up. Returns command's exit code (1 when Redis could
 * not be reached, 2 for a bad redis address). */
typedef int (*bk_cli_command)(bk_cli_redis *redis, const bk_config *config, int argc, char **argv);
int bk_cli_run(const bk_config *config, int argc, char **argv, bk_cli_command command);

/* EVALs one of the server's scripts (lua/embedded.h: bk_lua_NAME), which declares no key: on
 * a cluster it runs on the master of the slot whose prefix is args[0], as the server routes
 * it (store.c). NULL when argc < 1 or no reply came. */
redisReply *bk_cli_script(bk_cli_redis *redis, const char *source, int argc, const char **args);

/* For a reply the command could not use: says why on stderr and returns 1 (the exit code).
 * `refused` when a script refused with one of refusals (BK_REFUSALS; NULL for none), else
 * storage trouble as the server words it (errors.h), Redis's own error logged. */
int bk_cli_store_error(const redisReply *r, const char *const *refusals, const char *refused);

#endif
