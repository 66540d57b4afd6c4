/* agent_cli.h - "beckon agent add|passwd|list|remove": managing accounts from a shell, with
 * the scripts the REST API uses (a new password ends the account's sessions either way). */
#ifndef BK_AGENT_CLI_H
#define BK_AGENT_CLI_H

#include "base/config.h"

/* argv[0] is "agent". Returns the process exit code. */
int bk_agent_cli(const bk_config *config, int argc, char **argv);

#endif
