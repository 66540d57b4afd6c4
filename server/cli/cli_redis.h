/* cli_redis.h - the one-shot commands' connection to Redis: one Redis, or a Redis Cluster.
 *
 * Synchronous (hiredis's plain context): the commands are not the server. On a cluster it
 * learns the slot map (CLUSTER SLOTS, asked of the first seed that answers), sends each command
 * to the master of its slot, and follows MOVED, ASK and TRYAGAIN as store/redis_cluster.h
 * decides, which is what the server's store does on the loop (store/store_cluster.c). */
#ifndef BK_CLI_REDIS_H
#define BK_CLI_REDIS_H

#include "base/config.h"

#include <hiredis/hiredis.h>
#include <stddef.h>

typedef struct bk_cli_redis bk_cli_redis;

/* Connects to the Redis of address: one Redis (waiting while it loads its data), or a cluster
 * (any of its nodes as seeds). NULL with err filled when none answers. */
bk_cli_redis *bk_cli_redis_connect(const bk_redis_address *address, char *err, size_t err_size);
void bk_cli_redis_free(bk_cli_redis *r);

/* One command, argv[key_at] being the key that routes it on a cluster (Beckon's scripts
 * declare no key: their first argument, the prefix of the slot they touch, routes them). The
 * reply, which the caller frees, or NULL when none came (bk_cli_redis_error says why). */
redisReply *bk_cli_redis_command(bk_cli_redis *r, int key_at, int argc, const char **argv,
                                 const size_t *lengths);
const char *bk_cli_redis_error(const bk_cli_redis *r);

/* The one Redis's context, for commands that only one Redis can run; NULL on a cluster. */
redisContext *bk_cli_redis_single(bk_cli_redis *r);

#endif
