/* agent_cli.h - "beckon agent add|passwd|list|remove": managing agents from a shell.
 *
 * A one-shot command, not the server: it talks to Redis synchronously. With no Redis
 * configured it uses the private Redis of the data dir, starting it for the command's
 * duration when no server is running. */
#ifndef BK_AGENT_CLI_H
#define BK_AGENT_CLI_H

#include "config.h"

/* argv[0] is "agent". Returns the process exit code. */
int bk_agent_cli(const bk_config *config, int argc, char **argv);

#endif
