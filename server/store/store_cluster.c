/* store_cluster.c - the store over a Redis Cluster: a link per master, each command to its slot's.
 *
 * The slot map comes from CLUSTER SLOTS, asked of any node whose link is up (at first a seed's).
 * A MOVED reply remaps its slot at once and asks for the whole map again; while any slot lacks a
 * reachable master (a master died: its replica takes over after cluster-node-timeout and an
 * election), the map is asked for again every DEGRADED_REFRESH_MS until it shows who serves the
 * slot now. Links to nodes that no longer serve a slot are retired (closed, not remade) and come
 * back if the node does. What to do with each error reply is redis_cluster.c's decision. */
#include "store/store_internal.h"

#include "base/log.h"
#include "store/redis_cluster.h"
#include "store/redis_reply.h"

#include <stdlib.h>
#include <string.h>

/* At most one CLUSTER SLOTS in flight, and no closer together than this. */
#define REFRESH_GAP_MS      100
/* While a slot has no reachable master: how often the map is asked for again. */
#define DEGRADED_REFRESH_MS 250

struct store_cluster {
    bk_store *store;
    store_link **links;   /* every node we have had a link to: seeds, masters, redirections' */
    size_t link_count, link_capacity;
    store_link **masters; /* the distinct links of owners (as many as links at most) */
    size_t master_count;
    size_t unserved;      /* slots with no master */
    int have_map;
    bk_cluster_node *known;  /* every node of the last map: where to ask */
    size_t known_count;
    int refresh_wanted, refresh_in_flight, map_error_told;
    uint64_t refresh_sent;
    size_t next_asked, next_probe;
    bk_list delayed;      /* requests to send again later (TRYAGAIN), oldest first */
    store_link *owners[BK_CLUSTER_SLOTS];  /* the link of each slot's master, or NULL */
};

static void refresh(store_cluster *c, uint64_t now);

/* ---- links ----------------------------------------------------------------------------- */

static store_link *link_find(const store_cluster *c, const char *host, int port)
{
    for (size_t i = 0; i < c->link_count; i++)
        if (c->links[i]->port == port && strcmp(c->links[i]->host, host) == 0)
            return c->links[i];
    return NULL;
}

/* The node's link, made (retired: not connected) when new; NULL when out of memory. */
static store_link *link_get(store_cluster *c, const char *host, int port)
{
    store_link *l = link_find(c, host, port);
    if (l)
        return l;
    if (c->link_count == c->link_capacity) {
        size_t capacity = c->link_capacity ? c->link_capacity * 2 : 8;
        store_link **links = realloc(c->links, capacity * sizeof *links);
        store_link **masters = links ? realloc(c->masters, capacity * sizeof *masters) : NULL;
        if (links)
            c->links = links;
        if (!masters)
            return NULL;
        c->masters = masters;
        c->link_capacity = capacity;
    }
    if (!(l = calloc(1, sizeof *l)))
        return NULL;
    snprintf(l->host, sizeof l->host, "%s", host);
    l->port = port;
    snprintf(l->label, sizeof l->label, strchr(host, ':') ? "node [%s]:%d" : "node %s:%d", host, port);
    store_link_init(c->store, l, l->label);
    c->store->timers_open++;  /* its reconnect timer */
    l->retired = 1;
    c->links[c->link_count++] = l;
    return l;
}

/* A link that is wanted: connected now unless it is already, or waits to reconnect. */
static void link_wake(store_link *l)
{
    l->retired = 0;
    if (!l->context && !uv_is_active((uv_handle_t *)&l->reconnect_timer))
        store_link_connect(l);
}

/* A link that is not wanted: closed (replies on their way still come) and not remade. */
static void link_retire(store_link *l)
{
    l->retired = 1;
    uv_timer_stop(&l->reconnect_timer);
    if (l->context && !l->dropping) {
        l->dropping = 1;
        redisAsyncDisconnect(l->context);
    }
}

/* After owners changed: which links are masters, how many slots have none. */
static void masters_count(store_cluster *c)
{
    c->master_count = 0;
    c->unserved = 0;
    for (int slot = 0; slot < BK_CLUSTER_SLOTS; slot++) {
        store_link *l = c->owners[slot];
        if (!l) {
            c->unserved++;
            continue;
        }
        /* Ranges are long: the same master as the slot before is the common case. */
        if (slot > 0 && c->owners[slot - 1] == l)
            continue;
        size_t i = 0;
        while (i < c->master_count && c->masters[i] != l)
            i++;
        if (i == c->master_count)
            c->masters[c->master_count++] = l;
    }
}

int store_cluster_up(const store_cluster *c)
{
    if (!c->have_map || c->unserved > 0)
        return 0;
    for (size_t i = 0; i < c->master_count; i++)
        if (c->masters[i]->state != LINK_UP)
            return 0;
    return 1;
}

/* ---- the slot map ------------------------------------------------------------------------ */

static void map_apply(store_cluster *c, bk_cluster_map *map, const store_link *via)
{
    for (size_t i = 0; i < c->link_count; i++)
        c->links[i]->retired = 1;
    int changed = 0, slot = 0;
    for (size_t r = 0; r <= map->range_count; r++) {
        const bk_cluster_range *range = r < map->range_count ? &map->ranges[r] : NULL;
        store_link *l = NULL;
        if (range) {
            const bk_cluster_node *node = &map->nodes[range->node];
            l = link_get(c, node->host, node->port);  /* NULL (no memory): unserved for now */
            if (l)
                l->retired = 0;
        }
        for (int last = range ? range->last : BK_CLUSTER_SLOTS - 1; slot <= last; slot++) {
            store_link *owner = range && slot >= range->first ? l : NULL;
            changed |= c->owners[slot] != owner;
            c->owners[slot] = owner;
        }
    }
    for (size_t i = 0; i < c->link_count; i++) {
        if (c->links[i]->retired)
            link_retire(c->links[i]);
        else
            link_wake(c->links[i]);
    }
    masters_count(c);
    free(c->known);
    c->known = map->nodes;  /* kept: where to ask next time */
    c->known_count = map->node_count;
    map->nodes = NULL;
    map->node_count = 0;
    if (changed || !c->have_map) {
        char masters[512] = "";
        for (size_t i = 0; i < c->master_count && strlen(masters) < sizeof masters - 80; i++)
            snprintf(masters + strlen(masters), sizeof masters - strlen(masters), "%s%s", i ? ", " : "",
                     c->masters[i]->label + 5);
        bk_info("redis cluster: slot map from %s: %zu masters (%s)%s", via->label, c->master_count, masters,
                c->unserved ? ", some slots served by none" : "");
    }
    c->have_map = 1;
    c->map_error_told = 0;
}

static void on_slots(redisReply *reply, void *data)
{
    store_link *via = data;
    bk_store *store = via->store;
    store_cluster *c = store->cluster;
    c->refresh_in_flight = 0;
    if (store->closing)
        return;
    bk_cluster_map map;
    char err[200];
    if (bk_cluster_map_parse(reply, via->host, &map, err, sizeof err) != 0) {
        if (!c->map_error_told)
            bk_warn("redis cluster: %s (asked %s); asking again", err, via->label);
        c->map_error_told = 1;
        c->refresh_wanted = 1;
        return;
    }
    map_apply(c, &map, via);
    bk_cluster_map_release(&map);
    store_bus_map_changed(store);
    store_report_state(store);
}

/* No link is up to ask: wake the next node we know of (seeds first), one per call. */
static void probe(store_cluster *c)
{
    const bk_redis_address *a = &c->store->address;
    size_t count = (size_t)a->seed_count + c->known_count;
    if (count == 0)
        return;
    size_t i = c->next_probe++ % count;
    store_link *l = i < (size_t)a->seed_count ? link_get(c, a->seeds[i].host, a->seeds[i].port)
                                              : link_get(c, c->known[i - (size_t)a->seed_count].host,
                                                         c->known[i - (size_t)a->seed_count].port);
    if (l)
        link_wake(l);
}

static void refresh(store_cluster *c, uint64_t now)
{
    /* Preferably not a master whose bus link is down: it may be stopped, its replica in its
     * place, while its idle command link still looks up (the map would wait for its deadline). */
    store_link *via = NULL;
    for (int pass = 0; pass < 2 && !via; pass++) {
        for (size_t i = 0; i < c->link_count && !via; i++) {
            store_link *l = c->links[(c->next_asked + i) % c->link_count];
            if (l->state == LINK_UP && !l->dropping && (pass == 1 || !l->bus || bk_bus_link_is_up(l->bus)))
                via = l;
        }
    }
    if (!via) {
        probe(c);
        return;
    }
    c->next_asked++;  /* the next time, another node's view */
    const char *argv[] = { "CLUSTER", "SLOTS" };
    if (store_link_send(via, on_slots, via, 2, argv, NULL) != 0)
        return;
    c->refresh_in_flight = 1;
    c->refresh_wanted = 0;
    c->refresh_sent = now;
}

void store_cluster_link_changed(store_link *l)
{
    store_cluster *c = l->store->cluster;
    /* A node lost may be a master failing over: the map will change. */
    if (l->state != LINK_UP && !l->retired)
        c->refresh_wanted = 1;
    if (l->state == LINK_UP && !c->refresh_in_flight && (c->refresh_wanted || !c->have_map))
        refresh(c, uv_now(l->store->loop));
    store_report_state(l->store);
}

/* ---- commands ----------------------------------------------------------------------------- */

/* A request holding a copy of its command, in one allocation. */
static store_request *request_new(bk_store_reply_fn fn, void *data, int argc, const char **argv,
                                  const size_t *lengths)
{
    size_t bytes = 0;
    for (int i = 0; i < argc; i++)
        bytes += (lengths ? lengths[i] : strlen(argv[i])) + 1;
    size_t n = (size_t)argc;
    store_request *r = calloc(1, sizeof *r + n * sizeof *r->lengths + n * sizeof *r->argv + bytes);
    if (!r)
        return NULL;
    r->fn = fn;
    r->data = data;
    r->argc = argc;
    r->lengths = (size_t *)(r + 1);
    r->argv = (const char **)(r->lengths + n);
    char *at = (char *)(r->argv + n);
    for (int i = 0; i < argc; i++) {
        r->lengths[i] = lengths ? lengths[i] : strlen(argv[i]);
        memcpy(at, argv[i], r->lengths[i]);
        at[r->lengths[i]] = '\0';
        r->argv[i] = at;
        at += r->lengths[i] + 1;
    }
    return r;
}

int store_cluster_send(store_cluster *c, int slot, bk_store_reply_fn fn, void *data, int argc,
                       const char **argv, const size_t *lengths)
{
    store_link *l = c->owners[slot];
    if (!l || l->state != LINK_UP || argc < 1)
        return -1;
    store_request *r = request_new(fn, data, argc, argv, lengths);
    if (!r)
        return -1;
    r->slot = slot;
    if (store_link_send_request(l, r) != 0) {
        free(r);
        return -1;
    }
    return 0;
}

int store_cluster_redirected(store_request *r, const redisReply *reply)
{
    store_link *from = r->owner;
    bk_store *store = from->store;
    store_cluster *c = store->cluster;
    const char *error = bk_redis_reply_error(reply);
    if (!c || store->closing || !error)
        return 0;
    bk_cluster_redirect to;
    bk_cluster_error kind = bk_cluster_error_parse(error, from->host, &to);
    if (kind == BK_CLUSTER_ANSWER)
        return 0;
    bk_cluster_step step = bk_cluster_step_for(kind, r->resends);
    store_link *target = step.remap || step.asking ? link_get(c, to.host, to.port) : NULL;
    if (step.remap && target && c->owners[to.slot] != target) {
        c->owners[to.slot] = target;
        link_wake(target);
        masters_count(c);
    }
    if (step.refresh)
        c->refresh_wanted = 1;
    bk_debug("redis cluster: %s from %s; %s", error, from->label, step.resend ? "sending it again" : "answered");
    if (!step.resend)
        return 0;
    r->resends++;
    if (step.delay_ms) {
        r->resend_at = uv_now(store->loop) + (uint64_t)step.delay_ms;
        bk_list_push_back(&c->delayed, &r->link);
        return 1;
    }
    if (step.asking) {
        /* The node importing the slot serves it to this one command, flagged by ASKING first. */
        if (!target)
            return 0;
        link_wake(target);
        const char *asking[] = { "ASKING" };
        if (store_link_send(target, NULL, NULL, 1, asking, NULL) != 0)
            return 0;
        return store_link_send_request(target, r) == 0;
    }
    target = c->owners[r->slot];
    return target && store_link_send_request(target, r) == 0;
}

/* Requests whose TRYAGAIN wait is over go to their slot's master again, or are answered. */
static void delayed_send(store_cluster *c, uint64_t now)
{
    for (bk_list *node = c->delayed.next; node != &c->delayed;) {
        store_request *r = bk_list_entry(node, store_request, link);
        node = node->next;
        if (r->resend_at > now)
            continue;
        bk_list_remove(&r->link);
        store_link *target = c->owners[r->slot];
        if (target && store_link_send_request(target, r) == 0)
            continue;
        r->answered = 1;
        if (r->fn)
            r->fn(NULL, r->data);
        free(r);
    }
}

void store_cluster_sweep(store_cluster *c, uint64_t now)
{
    for (size_t i = 0; i < c->link_count; i++)
        store_link_sweep(c->links[i], now);
    delayed_send(c, now);
    if (c->refresh_in_flight)
        return;
    uint64_t since = now - c->refresh_sent;
    if ((c->refresh_wanted && since >= REFRESH_GAP_MS) || (!store_cluster_up(c) && since >= DEGRADED_REFRESH_MS))
        refresh(c, now);
}

/* ---- for the bus --------------------------------------------------------------------------- */

store_link *store_cluster_owner(const store_cluster *c, int slot)
{
    return c->have_map && slot >= 0 && slot < BK_CLUSTER_SLOTS ? c->owners[slot] : NULL;
}

int store_cluster_served(const store_cluster *c)
{
    return c->have_map && c->unserved == 0;
}

size_t store_cluster_link_count(const store_cluster *c)
{
    return c->link_count;
}

store_link *store_cluster_link(const store_cluster *c, size_t i)
{
    return c->links[i];
}

int store_cluster_is_master(const store_cluster *c, const store_link *l)
{
    for (size_t i = 0; i < c->master_count; i++)
        if (c->masters[i] == l)
            return 1;
    return 0;
}

void store_cluster_refresh_soon(store_cluster *c)
{
    c->refresh_wanted = 1;
}

/* ---- life --------------------------------------------------------------------------------- */

store_cluster *store_cluster_new(bk_store *store)
{
    store_cluster *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->store = store;
    bk_list_init(&c->delayed);
    return c;
}

void store_cluster_start(store_cluster *c)
{
    const bk_redis_address *a = &c->store->address;
    for (int i = 0; i < a->seed_count; i++) {
        store_link *l = link_get(c, a->seeds[i].host, a->seeds[i].port);
        if (l)
            link_wake(l);
    }
}

void store_cluster_close(store_cluster *c)
{
    for (size_t i = 0; i < c->link_count; i++) {
        store_link *l = c->links[i];
        l->reconnect_timer.data = c->store;
        uv_close((uv_handle_t *)&l->reconnect_timer, store_timer_closed);
        if (l->context)
            redisAsyncDisconnect(l->context);
    }
    while (!bk_list_empty(&c->delayed)) {
        store_request *r = bk_list_entry(c->delayed.next, store_request, link);
        bk_list_remove(&r->link);
        r->answered = 1;
        if (r->fn)
            r->fn(NULL, r->data);
        free(r);
    }
}

int store_cluster_disconnected(const store_cluster *c)
{
    for (size_t i = 0; i < c->link_count; i++)
        if (c->links[i]->context)
            return 0;
    return 1;
}

void store_cluster_free(store_cluster *c)
{
    for (size_t i = 0; i < c->link_count; i++)
        free(c->links[i]);
    free(c->links);
    free(c->masters);
    free(c->known);
    free(c);
}
