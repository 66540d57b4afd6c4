/* store_bus.c - the store's bus: the set of channels this node listens to, kept subscribed over
 * the bus link (bus_link.c) whatever becomes of its connections. */
#include "store/store_internal.h"

#include "base/list.h"
#include "base/map.h"
#include "base/metrics.h"
#include "store/bus_link.h"

#include <stdlib.h>
#include <string.h>

/* A channel of the bus: wanted by the caller, or on its way out. Commands on one connection
 * are done in order, so once every one sent for it is confirmed (in_flight 0) Redis holds it
 * as the last one said: subscribed when wanted. */
typedef struct channel {
    bk_list link;    /* on bk_store.channels */
    int wanted;
    int in_flight;   /* SSUBSCRIBE and SUNSUBSCRIBE sent on this connection, not confirmed yet */
    size_t len;
    char name[];
} channel;

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
    if (store->bus)
        bk_bus_link_start(store->bus);
}

void store_bus_sweep(bk_store *store, uint64_t now)
{
    if (store->bus)
        bk_bus_link_sweep(store->bus, now, store->timeout_ms);
}

static void on_bus_closed(void *data);

void store_bus_close(bk_store *store)
{
    /* What the bus would still bring is for nobody now: it closes at once. */
    if (store->bus)
        bk_bus_link_close(store->bus, on_bus_closed, store);
}

int store_bus_closed(const bk_store *store)
{
    return store->bus == NULL;
}

void store_bus_free(bk_store *store)
{
    bk_list_each(node, &store->channels)
        free(bk_list_entry(node, channel, link));
    bk_map_free(store->channels_by_name);
}

/* ---- the link's handlers ---------------------------------------------------------------- */

static void on_bus_closed(void *data)
{
    bk_store *store = data;
    store->bus = NULL;
    store_free_when_done(store);
}

static void channel_forget(bk_store *store, channel *c)
{
    bk_map_remove(store->channels_by_name, c->name);
    bk_list_remove(&c->link);
    free(c);
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

static void on_bus_confirmed(const char *name, size_t len, int subscribed, void *data)
{
    (void)subscribed;
    bk_store *store = data;
    channel *c = bk_map_get(store->channels_by_name, name);
    if (!c || c->len != len || c->in_flight == 0 || --c->in_flight > 0)
        return;
    if (!c->wanted)
        channel_forget(store, c);
    else if (store->bus_subscribed_fn)
        store->bus_subscribed_fn(c->name, store->bus_data);
}

static void on_bus_message(const char *name, size_t name_len, const char *payload, size_t len, void *data)
{
    bk_store *store = data;
    bk_metrics_now.bus_messages_received++;
    if (store->bus_fn)
        store->bus_fn(name, name_len, payload, len, store->bus_data);
}

int bk_store_bus(bk_store *store, bk_store_bus_message_fn message_fn, bk_store_bus_subscribed_fn subscribed_fn,
                 void *data)
{
    static const bk_bus_link_handlers handlers = {
        .connected = on_bus_connected, .up = on_bus_up, .down = on_bus_down,
        .confirmed = on_bus_confirmed, .message = on_bus_message,
    };
    if (!store->bus)
        store->bus = bk_bus_link_new(store->loop, "bus", &store->address, &handlers, store);
    store->bus_fn = message_fn;
    store->bus_subscribed_fn = subscribed_fn;
    store->bus_data = data;
    return store->bus ? 0 : -1;
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
        if (bk_map_set(store->channels_by_name, c->name, c) != 0) {
            free(c);
            return -1;
        }
        bk_list_push_back(&store->channels, &c->link);
    } else if (c->wanted) {
        return bk_store_bus_subscribed(store, name);
    }
    c->wanted = 1;
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
    if (store->bus && bk_bus_link_unsubscribe(store->bus, c->name, c->len) == 0)
        c->in_flight++;
    if (c->in_flight == 0)
        channel_forget(store, c);
}

int bk_store_bus_subscribed(const bk_store *store, const char *name)
{
    const channel *c = bk_map_get(store->channels_by_name, name);
    return c && c->wanted && c->in_flight == 0 && store->bus && bk_bus_link_is_connected(store->bus);
}

int bk_store_bus_is_up(const bk_store *store)
{
    return store->bus_up;
}

void bk_store_bus_drop(bk_store *store, const char *why)
{
    if (store->bus)
        bk_bus_link_drop(store->bus, why);
}
