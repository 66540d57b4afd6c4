/* site_cli.h - "beckon site add ID ORIGIN... | list | remove ID | set ID KEY VALUE": the sites'
 * settings from a shell. Each KEY is a field of PUT /api/sites/{id}, checked the same way. */
#ifndef BK_SITE_CLI_H
#define BK_SITE_CLI_H

#include "base/config.h"

/* argv[0] is "site". Returns the process exit code. */
int bk_site_cli(const bk_config *config, int argc, char **argv);

#endif
