/* store_internal.h - what the store's files share (store.c: the links; store_cluster.c: routing
 * over a Redis Cluster's nodes). Nothing outside store/ includes it. */
#ifndef BK_STORE_INTERNAL_H
#define BK_STORE_INTERNAL_H

#include "base/list.h"
#include "store/store.h"

#include <hiredis/async.h>

typedef enum { LINK_DOWN, LINK_CONNECTING, LINK_UP } store_link_state;

typedef struct store_link store_link;

/* One command in flight. Requests are answered at most once: by their reply, or earlier by
 * the deadline sweep (then the late reply only frees the record). */
typedef struct store_request {
    bk_list link;    /* in its link's pending requests; alone when permanent */
    store_link *owner;
    bk_store_reply_fn fn;
    void *data;
    uint64_t deadline;
    uint64_t sent;
    int answered;
    int permanent;   /* the bus subscription: answered many times, no deadline */
} store_request;

struct store_link {
    bk_store *store;
    const char *name;
    redisAsyncContext *context;
    store_link_state state;
    int subscriber;
    int dropping;      /* the sweep is tearing this link down */
    int handshake_failed; /* said once per connection attempt, not once per pipelined step */
    uint64_t backoff_ms;
    uv_timer_t reconnect_timer;
    bk_list pending;   /* requests waiting for their reply (request.link), oldest first */
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
    store_link bus;
    uv_timer_t sweep_timer;
    store_script *scripts;
    int script_count;
    char *bus_channel;
    bk_store_message_fn bus_fn;
    void *bus_data;
    bk_store_state_fn state_fn;
    void *state_data;
    double last_latency_ms;
    void (*closed_fn)(void *data);
    void *closed_data;
    int closing;
    int timers_open;
};

#endif
