/* store_bus.c - the store's bus: the set of channels this node listens to, kept subscribed over
 * the bus link (bus_link.c) whatever becomes of its connections.
 *
 * One Redis: one bus link, and every channel on it. A Redis Cluster routes a shard channel by
 * its slot, as a key: a node refuses (MOVED) a channel of a slot it does not serve, and a slot
 * that leaves a node (a failover, a migration) takes its subscriptions with it (the node says
 * `sunsubscribe`, or its connection is gone). So in a cluster each master of the slot map gets a
 * bus link of its own, each channel is asked on the link of its slot's master, and whenever the
 * map changes, a node's link comes back, a node ends a subscription or refuses one, the channels
 * concerned are asked again where the map (read again) says. A channel that had a subscription
 * and lost it keeps the bus reported down until it has one again: what was published meanwhile
 * is lost, and the bus coming back up is what tells the caller to have its clients resync. */
#include "store/store_internal.h"

#include "base/list.h"
#include "base/log.h"
#include "base/map.h"
#include "base/metrics.h"
#include "store/bus_link.h"
#include "store/redis_cluster.h"

#include <stdlib.h>
#include <string.h>

/* A channel of the bus: wanted by the caller, or on its way out. Commands on one connection
 * are done in order, so once every one sent for it is confirmed (in_flight 0) Redis holds it
 * as the last one said: subscribed when wanted. */
typedef struct channel {
    bk_list link;    /* on bk_store.channels */
    int wanted;
    int in_flight;   /* SSUBSCRIBE and SUNSUBSCRIBE sent on this connection, not confirmed yet */
    /* In a cluster: */
    int slot;
    store_link *on;  /* the node whose bus link it was asked on (its connection now), or NULL */
    int subscribed;  /* confirmed there */
    int displaced;   /* it was subscribed and lost it: counted in bk_store.bus_displaced */
    int waits_map;   /* refused or ended by a node: asked again once the slot map is read again */
    size_t len;
    char name[];
} channel;

/* How often each master's bus link is pinged, in a cluster. */
#define BUS_PING_MS 1000

static void on_bus_closed(void *data);
static void on_shard_closed(void *data);

/* ---- life, for store.c ---------------------------------------------------------------- */

int store_bus_init(bk_store *store)
{
    store->channels_by_name = bk_map_new();
    if (!store->channels_by_name)
        return -1;
    bk_list_init(&store->channels);
    return 0;
}

void store_bus_start(bk_store *store)
{
    /* A cluster's bus links come with its slot map (store_bus_map_changed). */
    if (store->bus)
        bk_bus_link_start(store->bus);
}

void store_bus_sweep(bk_store *store, uint64_t now)
{
    if (store->bus)
        bk_bus_link_sweep(store->bus, now, store->timeout_ms);
    if (!store->cluster)
        return;
    /* One Redis's bus carries the node's own heartbeat (chat's !ping): silence there is noticed.
     * A cluster's heartbeat crosses one master only, so each master's link is pinged instead:
     * a master stopped, and replaced by its replica meanwhile, is not listened to for long. */
    int ping = now - store->bus_pinged >= BUS_PING_MS;
    if (ping)
        store->bus_pinged = now;
    for (size_t i = 0; i < store_cluster_link_count(store->cluster); i++) {
        store_link *node = store_cluster_link(store->cluster, i);
        if (node->bus && ping)
            bk_bus_link_ping(node->bus);
        if (node->bus)
            bk_bus_link_sweep(node->bus, now, store->timeout_ms);
    }
}

void store_bus_close(bk_store *store)
{
    /* What the bus would still bring is for nobody now: it closes at once. */
    if (store->bus)
        bk_bus_link_close(store->bus, on_bus_closed, store);
    for (size_t i = 0; store->cluster && i < store_cluster_link_count(store->cluster); i++) {
        store_link *node = store_cluster_link(store->cluster, i);
        if (node->bus) {
            bk_bus_link_close(node->bus, on_shard_closed, store);
            node->bus = NULL;
        }
    }
}

int store_bus_closed(const bk_store *store)
{
    return store->bus == NULL && store->bus_shards_open == 0;
}

void store_bus_free(bk_store *store)
{
    bk_list_each(node, &store->channels)
        free(bk_list_entry(node, channel, link));
    bk_map_free(store->channels_by_name);
}

static void channel_forget(bk_store *store, channel *c)
{
    if (c->displaced)
        store->bus_displaced--;
    bk_map_remove(store->channels_by_name, c->name);
    bk_list_remove(&c->link);
    free(c);
}

/* The channel named (name_len bytes, as a reply gives it), or NULL. */
static channel *channel_find(const bk_store *store, const char *name, size_t name_len)
{
    channel *c = bk_map_get(store->channels_by_name, name);
    return c && c->len == name_len ? c : NULL;
}

static void bus_message(bk_store *store, const char *name, size_t name_len, const char *payload, size_t len)
{
    bk_metrics_now.bus_messages_received++;
    if (store->bus_fn)
        store->bus_fn(name, name_len, payload, len, store->bus_data);
}

/* ---- one Redis: the bus link's handlers ------------------------------------------------- */

static void on_bus_closed(void *data)
{
    bk_store *store = data;
    store->bus = NULL;
    store_free_when_done(store);
}

/* A new connection has no subscription: every channel wanted is asked again. The link says up
 * once all of them are confirmed, and only then is the bus reported up. */
static void on_bus_connected(void *data)
{
    bk_store *store = data;
    bk_list_each(node, &store->channels) {
        channel *c = bk_list_entry(node, channel, link);
        if (bk_bus_link_subscribe(store->bus, c->name, c->len) != 0)
            return;  /* the link went down meanwhile; it will say connected again */
        c->in_flight = 1;
    }
}

static void on_bus_up(void *data)
{
    bk_store *store = data;
    store->bus_up = 1;
    store_report_state(store);
}

static void on_bus_down(const char *why, void *data)
{
    (void)why;
    bk_store *store = data;
    bk_list_each(node, &store->channels) {
        channel *c = bk_list_entry(node, channel, link);
        c->in_flight = 0;
        if (!c->wanted)
            channel_forget(store, c);
    }
    store->bus_up = 0;
    store_report_state(store);
}

static void on_bus_message(const char *name, size_t name_len, const char *payload, size_t len, void *data)
{
    bus_message(data, name, name_len, payload, len);
}

static void on_bus_confirmed(const char *name, size_t len, int subscribed, void *data)
{
    (void)subscribed;
    bk_store *store = data;
    channel *c = channel_find(store, name, len);
    if (!c || c->in_flight == 0 || --c->in_flight > 0)
        return;
    if (!c->wanted)
        channel_forget(store, c);
    else if (store->bus_subscribed_fn)
        store->bus_subscribed_fn(c->name, store->bus_data);
}

/* ---- a cluster: a bus link per master ----------------------------------------------------- */

static int shard_connected(const store_link *node)
{
    return node && node->bus && bk_bus_link_is_connected(node->bus);
}

/* c no longer holds anything on its node: forgotten when unwanted; a subscription lost keeps the
 * bus down until it is made again. 1 when c was forgotten. */
static int channel_leave(bk_store *store, channel *c)
{
    if (c->subscribed && c->wanted && !c->displaced) {
        c->displaced = 1;
        store->bus_displaced++;
    }
    c->on = NULL;
    c->in_flight = 0;
    c->subscribed = 0;
    if (c->wanted)
        return 0;
    channel_forget(store, c);
    return 1;
}

/* Asks for c on the bus link of its slot's master, unless it is asked there already, or that
 * link is not connected (it asks for its channels when it is). */
static void channel_place(bk_store *store, channel *c)
{
    if (!c->wanted || c->waits_map)
        return;
    store_link *owner = store_cluster_owner(store->cluster, c->slot);
    if (owner && c->on == owner)
        return;
    if (c->on)
        channel_leave(store, c);  /* wanted: not forgotten */
    if (!shard_connected(owner) || bk_bus_link_subscribe(owner->bus, c->name, c->len) != 0)
        return;
    c->on = owner;
    c->in_flight = 1;
}

static void channels_place(bk_store *store)
{
    bk_list_each(node, &store->channels)
        channel_place(store, bk_list_entry(node, channel, link));
}

/* A new connection to a master: the channels of its slots are asked on it (the link is up
 * once they are all confirmed). */
static void on_shard_connected(void *data)
{
    store_link *node = data;
    bk_store *store = node->store;
    bk_list_each(item, &store->channels) {
        channel *c = bk_list_entry(item, channel, link);
        if (store_cluster_owner(store->cluster, c->slot) == node)
            channel_place(store, c);
    }
}

static void on_shard_up(void *data)
{
    store_link *node = data;
    store_report_state(node->store);
}

static void on_shard_down(const char *why, void *data)
{
    (void)why;
    store_link *node = data;
    bk_store *store = node->store;
    store_cluster_refresh_soon(store->cluster);  /* a master lost may be failing over */
    bk_list_each(item, &store->channels) {
        channel *c = bk_list_entry(item, channel, link);
        if (c->on == node)
            channel_leave(store, c);
    }
    store_report_state(store);
}

static void on_shard_confirmed(const char *name, size_t len, int subscribed, void *data)
{
    (void)subscribed;
    store_link *node = data;
    bk_store *store = node->store;
    channel *c = channel_find(store, name, len);
    if (!c || c->on != node || c->in_flight == 0 || --c->in_flight > 0)
        return;
    if (!c->wanted) {
        channel_forget(store, c);
        return;
    }
    c->subscribed = 1;
    if (c->displaced) {
        c->displaced = 0;
        store->bus_displaced--;
        store_report_state(store);
    }
    if (store->bus_subscribed_fn)
        store->bus_subscribed_fn(c->name, store->bus_data);
}

/* The node does not serve the channel's slot (MOVED; CLUSTERDOWN while a failover is under way):
 * the channel is asked again where the slot map, read again, says. */
static void on_shard_refused(const char *name, size_t len, int subscribed, const char *error, void *data)
{
    store_link *node = data;
    bk_store *store = node->store;
    bk_cluster_redirect to;
    if (bk_cluster_error_parse(error, node->host, &to) == BK_CLUSTER_ANSWER) {
        /* Not the cluster's doing (an ACL without the channel): try again after a backoff. */
        bk_warn("redis bus %s: %s %.*s failed: %s", node->label, subscribed ? "SSUBSCRIBE" : "SUNSUBSCRIBE",
                (int)len, name, error);
        bk_bus_link_drop(node->bus, "a subscription was refused");
        return;
    }
    bk_debug("redis bus %s: %s %.*s: %s", node->label, subscribed ? "SSUBSCRIBE" : "SUNSUBSCRIBE", (int)len, name,
             error);
    store_cluster_refresh_soon(store->cluster);
    channel *c = channel_find(store, name, len);
    if (!c || c->on != node || c->in_flight == 0 || --c->in_flight > 0)
        return;  /* what was asked after it decides */
    if (!channel_leave(store, c))
        c->waits_map = 1;
    store_report_state(store);
}

/* The node lost the channel's slot and ended its subscription. */
static void on_shard_dropped(const char *name, size_t len, void *data)
{
    store_link *node = data;
    bk_store *store = node->store;
    bk_debug("redis bus %s: %.*s ended by the node", node->label, (int)len, name);
    store_cluster_refresh_soon(store->cluster);
    channel *c = channel_find(store, name, len);
    if (!c || c->on != node)
        return;
    if (c->in_flight > 0) {
        /* What was asked after the slot left is refused (MOVED) and moves it then. */
        if (c->subscribed && c->wanted && !c->displaced) {
            c->displaced = 1;
            store->bus_displaced++;
        }
        c->subscribed = 0;
    } else if (!channel_leave(store, c)) {
        c->waits_map = 1;
    }
    store_report_state(store);
}

static void on_shard_message(const char *name, size_t name_len, const char *payload, size_t len, void *data)
{
    store_link *node = data;
    bus_message(node->store, name, name_len, payload, len);
}

static void on_shard_closed(void *data)
{
    bk_store *store = data;
    store->bus_shards_open--;
    store_free_when_done(store);
}

static void shard_open(bk_store *store, store_link *node)
{
    static const bk_bus_link_handlers handlers = {
        .connected = on_shard_connected, .up = on_shard_up, .down = on_shard_down,
        .confirmed = on_shard_confirmed, .refused = on_shard_refused, .dropped = on_shard_dropped,
        .message = on_shard_message,
    };
    bk_redis_address address = store->address;  /* its credentials, with the node's address */
    address.is_unix = 0;
    address.is_cluster = 0;
    snprintf(address.host, sizeof address.host, "%s", node->host);
    address.port = node->port;
    char name[BK_BUS_LINK_NAME_MAX];
    snprintf(name, sizeof name, "bus %s", node->label);
    /* Out of memory: the map read next tries again. */
    if (!(node->bus = bk_bus_link_new(store->loop, name, &address, &handlers, node)))
        return;
    store->bus_shards_open++;
    bk_bus_link_start(node->bus);  /* may call on_shard_connected at once */
}

static void shard_close(bk_store *store, store_link *node)
{
    bk_list_each(item, &store->channels) {
        channel *c = bk_list_entry(item, channel, link);
        if (c->on == node)
            channel_leave(store, c);
    }
    bk_bus_link_close(node->bus, on_shard_closed, store);
    node->bus = NULL;
}

void store_bus_map_changed(bk_store *store)
{
    store_cluster *cluster = store->cluster;
    if (!store->bus_wanted || store->closing)
        return;
    for (size_t i = 0; i < store_cluster_link_count(cluster); i++) {
        store_link *node = store_cluster_link(cluster, i);
        int master = store_cluster_is_master(cluster, node);
        if (master && !node->bus)
            shard_open(store, node);
        else if (!master && node->bus)
            shard_close(store, node);
    }
    bk_list_each(item, &store->channels)
        bk_list_entry(item, channel, link)->waits_map = 0;
    channels_place(store);
}

/* ---- the bus's door ----------------------------------------------------------------------- */

int store_bus_up(const bk_store *store)
{
    if (!store->cluster)
        return store->bus_up;
    if (!store->bus_wanted || !store_cluster_served(store->cluster) || store->bus_displaced > 0)
        return 0;
    for (size_t i = 0; i < store_cluster_link_count(store->cluster); i++) {
        const store_link *node = store_cluster_link(store->cluster, i);
        if (store_cluster_is_master(store->cluster, node) && !(node->bus && bk_bus_link_is_up(node->bus)))
            return 0;
    }
    return 1;
}

int bk_store_bus(bk_store *store, bk_store_bus_message_fn message_fn, bk_store_bus_subscribed_fn subscribed_fn,
                 void *data)
{
    static const bk_bus_link_handlers handlers = {
        .connected = on_bus_connected, .up = on_bus_up, .down = on_bus_down,
        .confirmed = on_bus_confirmed, .message = on_bus_message,
    };
    if (!store->cluster && !store->bus)
        store->bus = bk_bus_link_new(store->loop, "bus", &store->address, &handlers, store);
    store->bus_wanted = 1;
    store->bus_fn = message_fn;
    store->bus_subscribed_fn = subscribed_fn;
    store->bus_data = data;
    return store->cluster || store->bus ? 0 : -1;
}

int bk_store_bus_subscribe(bk_store *store, const char *name)
{
    size_t len = strlen(name);
    channel *c = bk_map_get(store->channels_by_name, name);
    if (!c) {
        c = calloc(1, sizeof *c + len + 1);
        if (!c)
            return -1;
        memcpy(c->name, name, len + 1);
        c->len = len;
        c->slot = bk_cluster_key_slot(name, len);
        if (bk_map_set(store->channels_by_name, c->name, c) != 0) {
            free(c);
            return -1;
        }
        bk_list_push_back(&store->channels, &c->link);
    } else if (c->wanted) {
        return bk_store_bus_subscribed(store, name);
    }
    c->wanted = 1;
    if (store->cluster) {
        /* Still on its master's link (being unsubscribed there): asked again after that. */
        if (c->on && c->on == store_cluster_owner(store->cluster, c->slot) &&
            bk_bus_link_subscribe(c->on->bus, c->name, c->len) == 0)
            c->in_flight++;
        else
            channel_place(store, c);
        return 0;
    }
    /* Not connected: the next connection asks for every channel wanted. */
    if (store->bus && bk_bus_link_subscribe(store->bus, c->name, c->len) == 0)
        c->in_flight++;
    return 0;
}

void bk_store_bus_unsubscribe(bk_store *store, const char *name)
{
    channel *c = bk_map_get(store->channels_by_name, name);
    if (!c || !c->wanted)
        return;
    c->wanted = 0;
    if (store->cluster) {
        if (c->displaced) {
            c->displaced = 0;
            store->bus_displaced--;
        }
        c->subscribed = 0;
        if (shard_connected(c->on) && bk_bus_link_unsubscribe(c->on->bus, c->name, c->len) == 0)
            c->in_flight++;
        if (c->in_flight == 0)
            channel_forget(store, c);
        store_report_state(store);
        return;
    }
    if (store->bus && bk_bus_link_unsubscribe(store->bus, c->name, c->len) == 0)
        c->in_flight++;
    if (c->in_flight == 0)
        channel_forget(store, c);
}

int bk_store_bus_subscribed(const bk_store *store, const char *name)
{
    const channel *c = bk_map_get(store->channels_by_name, name);
    if (store->cluster)
        return c && c->wanted && c->in_flight == 0 && c->subscribed && shard_connected(c->on);
    return c && c->wanted && c->in_flight == 0 && store->bus && bk_bus_link_is_connected(store->bus);
}

int bk_store_bus_is_up(const bk_store *store)
{
    return store_bus_up(store);
}

void bk_store_bus_drop(bk_store *store, const char *why)
{
    if (store->bus)
        bk_bus_link_drop(store->bus, why);
    /* In a cluster the caller cannot tell which master's link fell silent: every one is remade. */
    for (size_t i = 0; store->cluster && i < store_cluster_link_count(store->cluster); i++) {
        store_link *node = store_cluster_link(store->cluster, i);
        if (node->bus)
            bk_bus_link_drop(node->bus, why);
    }
}
