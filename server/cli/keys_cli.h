/* keys_cli.h - "beckon keys migrate": the keys of a Beckon of before the key layout for Redis
 * Cluster (base/keys.h), moved once into it, on a single Redis. */
#ifndef BK_KEYS_CLI_H
#define BK_KEYS_CLI_H

#include "base/config.h"

/* argv[0] is "keys". Returns the process exit code. */
int bk_keys_cli(const bk_config *config, int argc, char **argv);

#endif
