/* agent_cli.h - "beckon agent add|passwd|list|remove": managing accounts from a shell.
 *
 * A one-shot command, not the server: it talks to Redis synchronously. With no Redis
 * configured it uses the private Redis of the data dir, starting it for the command's
 * duration when no server is running. */
#ifndef BK_AGENT_CLI_H
#define BK_AGENT_CLI_H

#include "base/config.h"

#include <hiredis/hiredis.h>

/* argv[0] is "agent". Returns the process exit code. */
int bk_agent_cli(const bk_config *config, int argc, char **argv);

/* What the one-shot commands share: reach Redis (starting the data dir's private Redis for
 * the duration when no server runs), run command, tidy up. Returns command's exit code. */
typedef int (*bk_cli_command)(redisContext *c, const bk_config *config, int argc, char **argv);
int bk_cli_run(const bk_config *config, int argc, char **argv, bk_cli_command command);

/* EVALs one of the server's scripts (lua/embedded.h: bk_lua_NAME), argc <= 13 arguments. */
redisReply *bk_cli_script(redisContext *c, const char *source, int argc, const char **args);

#endif
