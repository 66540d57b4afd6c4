/* store.h - the one door to Redis: async commands, scripts, the pub/sub bus.
 *
 * Two connections on the server's libuv loop: hiredis's async one for commands, and the bus
 * link (bus_link.h), subscribed to the bus's channels with Redis 7's sharded pub/sub. Both
 * reconnect with backoff by themselves. Every command has a deadline: a Redis that does not
 * answer in time is treated as gone (the connection is dropped and remade), so no caller waits
 * forever and none is told "done" without a reply.
 *
 * The bus: the store keeps the set of channels its caller listens to (bk_store_bus_subscribe),
 * subscribes them on every new bus link, and tells when each is confirmed: what is published
 * on a channel after its confirmation reaches this node, for as long as the bus stays up.
 *
 * Given a Redis Cluster (redis+cluster://, store_cluster.c), the command link is one link per
 * master instead, each alike (deadline, reconnects), and each command goes to the master of its
 * slot: the slot of its first key - a command's first argument after its name, a script's
 * first key when it declares any - or, for what names no key, the slot of the key given to
 * bk_store_cluster_key. MOVED and ASK are followed, the slot map is fetched again after MOVED,
 * CLUSTERDOWN or a node's link lost, and a slot with no reachable master is "unavailable" (-1,
 * or a NULL reply) until a replica takes over. The bus is a link per master, each channel
 * subscribed on its slot's master's and moved with its slot (store_bus.c): a failover or a slot
 * migration reports the bus down until every channel that lost its subscription has it again. */
#ifndef BK_STORE_H
#define BK_STORE_H

#include "base/config.h"
#include "store/backoff.h"  /* bk_store_reconnect_delay */

#include <hiredis/hiredis.h>
#include <uv.h>

typedef struct bk_store bk_store;

/* reply is NULL when Redis could not be asked or did not answer: the command may or may
 * not have run. The reply is freed by the store after the function returns. */
typedef void (*bk_store_reply_fn)(redisReply *reply, void *data);
/* A message published on a channel this node subscribes to. */
typedef void (*bk_store_bus_message_fn)(const char *channel, size_t channel_len, const char *payload, size_t len,
                                        void *data);
/* Redis confirmed the subscription of a channel asked by bk_store_bus_subscribe. */
typedef void (*bk_store_bus_subscribed_fn)(const char *channel, void *data);
/* Called when the command link goes up or down, and when the bus goes down or up (up: every
 * channel wanted is subscribed again). */
typedef void (*bk_store_state_fn)(int command_up, int bus_up, void *data);

bk_store *bk_store_new(uv_loop_t *loop, const bk_redis_address *address, int timeout_ms);

/* Registers a Lua script before bk_store_start, to be run by the SHA1 of its source (EVALSHA).
 * The source is not copied: it must outlive the store, as the embedded scripts do
 * (lua/embedded.h). Returns its handle (>= 0) for bk_store_script, -1 for no source or memory. */
int bk_store_script_add(bk_store *store, const char *source);

/* Makes the bus link (before bk_store_start; without it there is none) and says what to do with
 * its messages and confirmations. 0, or -1 when out of memory. */
int bk_store_bus(bk_store *store, bk_store_bus_message_fn message_fn, bk_store_bus_subscribed_fn subscribed_fn,
                 void *data);

/* Adds channel to those this node listens to, now and after every reconnect (a set: a channel
 * is in it once). Returns 1 when it is subscribed already, 0 when it is asked (subscribed_fn
 * follows, when the bus is up; otherwise the next bus link asks it), -1 when out of memory. */
int bk_store_bus_subscribe(bk_store *store, const char *channel);
/* Takes channel out of the set; what is published on it stops coming once Redis has done it. */
void bk_store_bus_unsubscribe(bk_store *store, const char *channel);
/* 1 when Redis has confirmed channel subscribed on the bus link as it is now. */
int bk_store_bus_subscribed(const bk_store *store, const char *channel);
int bk_store_bus_is_up(const bk_store *store);

/* Drops the bus link and makes it anew (the caller found it silent): what was published
 * meanwhile is lost, so the state callback reports the bus down and up again. In a cluster,
 * every master's bus link. */
void bk_store_bus_drop(bk_store *store, const char *why);
void bk_store_on_state(bk_store *store, bk_store_state_fn fn, void *data);

/* In a cluster, commands that name no key (and a script called with no argument at all) run on
 * the node serving this key's slot; Beckon gives its global slot's prefix. Nothing to do with
 * one Redis. */
void bk_store_cluster_key(bk_store *store, const char *key);

void bk_store_start(bk_store *store);

/* Disconnects both links (replies already on their way are delivered first), frees the
 * store once its handles are closed, then calls closed_fn (may be NULL). The pointer must
 * not be used after this call. */
void bk_store_close(bk_store *store, void (*closed_fn)(void *data), void *data);

int bk_store_is_up(const bk_store *store);

/* Both return 0 when the command was sent (fn will be called exactly once), or -1 when Redis
 * is not reachable now (fn is not called; answer "unavailable"). In a cluster, a command's
 * first argument (argv[1]) is its key, and a script goes to the slot of its first argument
 * (argv[0]): its first key when key_count >= 1; with key_count 0, Beckon's scripts take the
 * prefix of the one slot they touch first ("PREFIX{TAG}:", base/keys.h), hash tag included. */
int bk_store_command(bk_store *store, bk_store_reply_fn fn, void *data,
                     int argc, const char **argv, const size_t *lengths);
int bk_store_script(bk_store *store, int script, bk_store_reply_fn fn, void *data,
                    int key_count, int argc, const char **argv, const size_t *lengths);

/* Milliseconds of the last command round trip (for /healthz and /metrics). */
double bk_store_last_latency_ms(const bk_store *store);

#endif
