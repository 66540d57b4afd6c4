/* redis_child.h - the private Redis that runs when no Redis address is configured.
 *
 * One command runs everything: beckon starts redis-server as its child (unix socket only,
 * AOF on, files in the data dir), restarts it when it dies, and stops it on exit. */
#ifndef BK_REDIS_CHILD_H
#define BK_REDIS_CHILD_H

#include <limits.h>
#include <uv.h>

typedef struct bk_redis_child bk_redis_child;

/* Stops a private Redis left running by an earlier beckon that was killed, then starts a
 * new one. socket_path receives the unix socket to connect to. */
bk_redis_child *bk_redis_child_start(uv_loop_t *loop, const char *redis_server, const char *data_dir,
                                     char *socket_path, size_t socket_path_size,
                                     char *err, size_t err_size);

/* SIGTERM (Redis writes its AOF and exits), then frees the child and calls stopped_fn. */
void bk_redis_child_stop(bk_redis_child *child, void (*stopped_fn)(void *data), void *data);

#endif
