/* store_internal.h - what the store's files share (store.c: the links, one Redis; store_cluster.c:
 * routing over a Redis Cluster's nodes; store_bus.c: the bus's channels and link). Nothing outside
 * store/ includes it. */
#ifndef BK_STORE_INTERNAL_H
#define BK_STORE_INTERNAL_H

#include "base/list.h"
#include "base/map.h"
#include "store/bus_link.h"
#include "store/redis_cluster.h"
#include "store/store.h"

#include <hiredis/async.h>

typedef enum { LINK_DOWN, LINK_CONNECTING, LINK_UP } store_link_state;

typedef struct store_link store_link;

/* One command in flight. Requests are answered at most once: by their reply, or earlier by
 * the deadline sweep (then the late reply only frees the record). */
typedef struct store_request {
    bk_list link;    /* in its link's pending requests */
    store_link *owner;
    bk_store_reply_fn fn;
    void *data;
    uint64_t deadline;
    uint64_t sent;
    int answered;
    /* Sent through a cluster (store_cluster.c): the command, kept in the same allocation, to be
     * sent again after a redirection; argv is NULL otherwise. */
    int slot;
    int resends;
    uint64_t resend_at;  /* TRYAGAIN: when (it waits on the cluster's list meanwhile) */
    int argc;
    const char **argv;
    size_t *lengths;
} store_request;

struct store_link {
    bk_store *store;
    const char *name;
    redisAsyncContext *context;
    store_link_state state;
    int dropping;      /* the sweep is tearing this link down */
    int handshake_failed; /* said once per connection attempt, not once per pipelined step */
    uint64_t backoff_ms;
    uv_timer_t reconnect_timer;
    bk_list pending;   /* requests waiting for their reply (request.link), oldest first */
    /* In a cluster: a node's own address; "" and 0 for the store's address. A retired link (its
     * node serves no slot now) is not remade. */
    char host[BK_CLUSTER_HOST_MAX];
    int port;
    int retired;
    char label[BK_CLUSTER_HOST_MAX + 16];  /* "node HOST:PORT", the name of a node's link */
    bk_bus_link *bus;  /* in a cluster: the node's bus link while it is a master (store_bus.c) */
};

typedef struct store_script {
    const char *source;  /* not ours: static (bk_store_script_add) */
    char sha[41];
} store_script;

struct bk_store {
    uv_loop_t *loop;
    bk_redis_address address;
    uint64_t timeout_ms;
    store_link command;
    bk_bus_link *bus;       /* one Redis: NULL until bk_store_bus */
    int bus_up;             /* one Redis: the bus link is up and every channel it had is subscribed again */
    int bus_wanted;         /* bk_store_bus was called (a cluster: each master gets a bus link) */
    size_t bus_shards_open; /* a cluster: the masters' bus links not closed yet */
    size_t bus_displaced;   /* a cluster: channels that lost their subscription and have not got it back */
    uint64_t bus_pinged;    /* a cluster: when the masters' bus links were last pinged */
    bk_map *channels_by_name;
    bk_list channels;       /* the bus's channels (store.c's channel.link) */
    uv_timer_t sweep_timer;
    store_script *scripts;
    int script_count;
    bk_store_bus_message_fn bus_fn;
    bk_store_bus_subscribed_fn bus_subscribed_fn;
    void *bus_data;
    bk_store_state_fn state_fn;
    void *state_data;
    double last_latency_ms;
    void (*closed_fn)(void *data);
    void *closed_data;
    int closing;
    int timers_open;
    struct store_cluster *cluster;  /* NULL: one Redis, on the command link */
    int default_slot;               /* a cluster's slot for what names no key */
    int reported, reported_command_up, reported_bus_up;  /* cluster: the state last told */
};

/* ---- store.c, for store_cluster.c ------------------------------------------------------ */

void store_link_init(bk_store *store, store_link *l, const char *name);
void store_link_connect(store_link *l);
/* A new request (fn may be NULL): 0 when sent, -1 when it could not be. */
int store_link_send(store_link *l, bk_store_reply_fn fn, void *data, int argc, const char **argv,
                    const size_t *lengths);
/* Sends r's own command (r->argv) on l; r joins l's pending requests with a new deadline. 0, or
 * -1 (r untouched, the caller still holds it). */
int store_link_send_request(store_link *l, store_request *r);
void store_link_sweep(store_link *l, uint64_t now);
void store_report_state(bk_store *store);
/* The close callback of every timer the store counts in timers_open (handle->data: the store). */
void store_timer_closed(uv_handle_t *handle);
/* Frees the store once its links and timers are all closed (after bk_store_close). */
void store_free_when_done(bk_store *store);

/* ---- store_bus.c, for store.c and store_cluster.c ------------------------------------------ */

/* The empty set of channels: 0, or -1 when out of memory. */
int store_bus_init(bk_store *store);
void store_bus_start(bk_store *store);
/* The bus link's deadlines (bk_bus_link_sweep). */
void store_bus_sweep(bk_store *store, uint64_t now);
/* Closes the bus link at once; store_free_when_done is called once it is closed. */
void store_bus_close(bk_store *store);
int store_bus_closed(const bk_store *store);
void store_bus_free(bk_store *store);
/* The bus is up: one Redis, its link is; a cluster, every master's is and every channel that lost
 * its subscription has it back. */
int store_bus_up(const bk_store *store);
/* A cluster's slot map was read: masters get a bus link (nodes no longer masters lose theirs), and
 * each channel goes to the link of its slot's master. */
void store_bus_map_changed(bk_store *store);

/* ---- store_cluster.c, for store.c ------------------------------------------------------- */

typedef struct store_cluster store_cluster;

store_cluster *store_cluster_new(bk_store *store);
/* Links to the seeds; the first to answer gives the slot map. */
void store_cluster_start(store_cluster *c);
/* bk_store_command's work in a cluster: to the link of slot's master, when it is up. */
int store_cluster_send(store_cluster *c, int slot, bk_store_reply_fn fn, void *data, int argc,
                       const char **argv, const size_t *lengths);
/* An error reply to r that asks for the command elsewhere or later (MOVED, ASK, TRYAGAIN): 1 when
 * r was taken (sent again: it is answered then), 0 when the caller answers with this reply. */
int store_cluster_redirected(store_request *r, const redisReply *reply);
/* A node's link went up or down. */
void store_cluster_link_changed(store_link *l);
void store_cluster_sweep(store_cluster *c, uint64_t now);
/* Every slot has a master, and the link to each is up. */
int store_cluster_up(const store_cluster *c);
/* Disconnects every node's link and closes their timers; requests waiting to be sent again are
 * answered with no reply. */
void store_cluster_close(store_cluster *c);
int store_cluster_disconnected(const store_cluster *c);
void store_cluster_free(store_cluster *c);
/* For the bus (store_bus.c): the link of slot's master in the map (NULL: none, or no map yet);
 * every slot has a master in the map; every node link, by index (stable pointers); whether a
 * node's link is a master's; and a wish for the map to be read again soon (a subscription was
 * redirected or ended by a node that lost its slot). */
store_link *store_cluster_owner(const store_cluster *c, int slot);
int store_cluster_served(const store_cluster *c);
size_t store_cluster_link_count(const store_cluster *c);
store_link *store_cluster_link(const store_cluster *c, size_t i);
int store_cluster_is_master(const store_cluster *c, const store_link *l);
void store_cluster_refresh_soon(store_cluster *c);

#endif
