/* redis_cluster.c - slots, the slot map and redirections, as Redis Cluster defines them. */
#include "store/redis_cluster.h"

#include "store/redis_reply.h"
#include "store/redis_shapes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- slots ----------------------------------------------------------------------------- */

/* CRC-16/XMODEM: polynomial 0x1021, initial value 0, no reflection, nothing xored out (Redis's
 * src/crc16.c; "123456789" gives 0x31C3). The table is derived from the polynomial once,
 * rather than copied. */
static uint16_t crc16_table[256];
static int crc16_ready;

static void crc16_table_fill(void)
{
    for (unsigned byte = 0; byte < 256; byte++) {
        uint16_t crc = (uint16_t)(byte << 8);
        for (int bit = 0; bit < 8; bit++)
            crc = (uint16_t)(crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1);
        crc16_table[byte] = crc;
    }
    crc16_ready = 1;
}

uint16_t bk_cluster_crc16(const void *data, size_t length)
{
    if (!crc16_ready)
        crc16_table_fill();
    const unsigned char *p = data;
    uint16_t crc = 0;
    for (size_t i = 0; i < length; i++)
        crc = (uint16_t)((crc << 8) ^ crc16_table[((crc >> 8) ^ p[i]) & 0xff]);
    return crc;
}

int bk_cluster_key_slot(const void *key, size_t length)
{
    const char *k = key;
    const char *open = length ? memchr(k, '{', length) : NULL;
    if (open) {
        size_t after = (size_t)(open - k) + 1;
        const char *close = memchr(open + 1, '}', length - after);
        /* "{}" (nothing between) hashes the whole key, and so does a '{' never closed. */
        if (close && close > open + 1)
            return bk_cluster_crc16(open + 1, (size_t)(close - open - 1)) & (BK_CLUSTER_SLOTS - 1);
    }
    return bk_cluster_crc16(k, length) & (BK_CLUSTER_SLOTS - 1);
}

/* ---- hosts and ports as nodes announce them ---------------------------------------------- */

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_hex(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* A host name (letters, digits, '-', '.', '_'), an IPv4 address, or an IPv6 one (hex digits,
 * ':' at least twice, '.' for a mapped IPv4 tail). Anything else is not somewhere to connect. */
static int host_valid(const char *host, size_t length)
{
    if (length == 0 || length >= BK_CLUSTER_HOST_MAX)
        return 0;
    size_t colons = 0;
    int name_chars = 1, ipv6_chars = 1;
    for (size_t i = 0; i < length; i++) {
        char c = host[i];
        colons += c == ':';
        int letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        if (!(letter || is_digit(c) || c == '-' || c == '.' || c == '_'))
            name_chars = 0;
        if (!(is_hex(c) || c == ':' || c == '.'))
            ipv6_chars = 0;
    }
    return colons == 0 ? name_chars : colons >= 2 && ipv6_chars;
}

/* Digits only, 1..65535. */
static int port_parse(const char *text, size_t length, int *port)
{
    if (length == 0 || length > 5)
        return -1;
    long n = 0;
    for (size_t i = 0; i < length; i++) {
        if (!is_digit(text[i]))
            return -1;
        n = n * 10 + (text[i] - '0');
    }
    if (n < 1 || n > 65535)
        return -1;
    *port = (int)n;
    return 0;
}

/* ---- the slot map ---------------------------------------------------------------------- */

void bk_cluster_map_release(bk_cluster_map *map)
{
    free(map->nodes);
    free(map->ranges);
    memset(map, 0, sizeof *map);
}

/* The node's index (added when new; a master stays one), or -1 when out of memory. */
static long node_add(bk_cluster_map *map, const char *host, int port, int master, size_t capacity)
{
    for (size_t i = 0; i < map->node_count; i++) {
        bk_cluster_node *n = &map->nodes[i];
        if (n->port == port && strcmp(n->host, host) == 0) {
            n->master |= master;
            return (long)i;
        }
    }
    if (map->node_count == capacity)
        return -1;
    bk_cluster_node *n = &map->nodes[map->node_count];
    snprintf(n->host, sizeof n->host, "%s", host);
    n->port = port;
    n->master = master;
    return (long)map->node_count++;
}

static int range_compare(const void *a, const void *b)
{
    const bk_cluster_range *x = a, *y = b;
    return (x->first > y->first) - (x->first < y->first);
}

static int map_fail(bk_cluster_map *map, char *err, size_t err_size, const char *why)
{
    snprintf(err, err_size, "CLUSTER SLOTS: %s", why);
    bk_cluster_map_release(map);
    return -1;
}

int bk_cluster_map_parse(const redisReply *reply, const char *asked_host, bk_cluster_map *map,
                         char *err, size_t err_size)
{
    memset(map, 0, sizeof *map);
    const redisReply *ranges;
    size_t at;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_CLUSTER_SLOTS, &ranges, &at) != 0) {
        const char *error = bk_redis_reply_error(reply);
        snprintf(err, err_size, "CLUSTER SLOTS: %s", error ? error : reply ? "not a slot map" : "no reply");
        return -1;
    }
    /* Every node of the reply is at most one entry: the elements bound both arrays. */
    size_t node_capacity = 0;
    for (size_t i = at; i < ranges->elements; i++)
        node_capacity += ranges->element[i]->elements;
    map->nodes = calloc(node_capacity ? node_capacity : 1, sizeof *map->nodes);
    map->ranges = calloc(ranges->elements ? ranges->elements : 1, sizeof *map->ranges);
    if (!map->nodes || !map->ranges)
        return map_fail(map, err, err_size, "out of memory");
    long long first, last;
    const redisReply *nodes;
    size_t node_at;
    while (bk_redis_reply_unpack_next(ranges, &at, BK_SHAPE_CLUSTER_RANGE, &first, &last, &nodes, &node_at) == 0) {
        if (first < 0 || last >= BK_CLUSTER_SLOTS || first > last)
            return map_fail(map, err, err_size, "a slot range out of 0..16383");
        const char *endpoint;
        long long port;
        const redisReply *rest;
        size_t rest_at;
        long master = -1;
        int position = 0;
        for (; bk_redis_reply_unpack_next(nodes, &node_at, BK_SHAPE_CLUSTER_NODE, &endpoint, &port, &rest,
                                          &rest_at) == 0; position++) {
            if (port < 1 || port > 65535)
                return map_fail(map, err, err_size, "a node's port out of 1..65535");
            /* Unknown to the cluster: where we asked. "?": a hostname is preferred, none set. */
            const char *host = endpoint && endpoint[0] ? endpoint : asked_host;
            if (!host || strcmp(host, "?") == 0)
                continue;
            if (!host_valid(host, strlen(host)))
                return map_fail(map, err, err_size, "a node's endpoint is not a host");
            long index = node_add(map, host, (int)port, position == 0, node_capacity);
            if (index < 0)
                return map_fail(map, err, err_size, "out of memory");
            if (position == 0)
                master = index;
        }
        if (position == 0)
            return map_fail(map, err, err_size, "a slot range without a master");
        if (master >= 0)
            map->ranges[map->range_count++] = (bk_cluster_range){ (int)first, (int)last, (size_t)master };
    }
    qsort(map->ranges, map->range_count, sizeof *map->ranges, range_compare);
    for (size_t i = 1; i < map->range_count; i++)
        if (map->ranges[i].first <= map->ranges[i - 1].last)
            return map_fail(map, err, err_size, "slot ranges overlap");
    /* A master listed as a replica elsewhere (a reply taken mid-failover) is a master. */
    return 0;
}

int bk_cluster_map_master(const bk_cluster_map *map, int slot)
{
    size_t low = 0, high = map->range_count;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        const bk_cluster_range *r = &map->ranges[middle];
        if (slot < r->first)
            high = middle;
        else if (slot > r->last)
            low = middle + 1;
        else
            return (int)r->node;
    }
    return -1;
}

/* ---- error replies ------------------------------------------------------------------- */

/* "3999 127.0.0.1:6381": the slot, one space, the endpoint, its port after the last ':'. */
static int redirect_parse(const char *text, const char *asked_host, bk_cluster_redirect *redirect)
{
    const char *p = text;
    long slot = 0;
    int digits = 0;
    for (; is_digit(*p); p++) {
        if (++digits > 5)
            return -1;
        slot = slot * 10 + (*p - '0');
    }
    if (digits == 0 || slot >= BK_CLUSTER_SLOTS || *p != ' ')
        return -1;
    const char *endpoint = p + 1;
    const char *colon = strrchr(endpoint, ':');
    if (!colon || port_parse(colon + 1, strlen(colon + 1), &redirect->port) != 0)
        return -1;
    size_t length = (size_t)(colon - endpoint);
    if (length >= 2 && endpoint[0] == '[' && endpoint[length - 1] == ']') {
        endpoint++;
        length -= 2;
    }
    if (length == 0) {
        if (!asked_host)
            return -1;
        endpoint = asked_host;
        length = strlen(asked_host);
    }
    if (!host_valid(endpoint, length))
        return -1;
    memcpy(redirect->host, endpoint, length);
    redirect->host[length] = '\0';
    redirect->slot = (int)slot;
    return 0;
}

static int starts_with_word(const char *text, const char *word)
{
    size_t n = strlen(word);
    return strncmp(text, word, n) == 0 && (text[n] == ' ' || text[n] == '\0');
}

bk_cluster_error bk_cluster_error_parse(const char *error, const char *asked_host,
                                        bk_cluster_redirect *redirect)
{
    if (!error)
        return BK_CLUSTER_ANSWER;
    if (strncmp(error, "MOVED ", 6) == 0)
        return redirect_parse(error + 6, asked_host, redirect) == 0 ? BK_CLUSTER_MOVED : BK_CLUSTER_ANSWER;
    if (strncmp(error, "ASK ", 4) == 0)
        return redirect_parse(error + 4, asked_host, redirect) == 0 ? BK_CLUSTER_ASK : BK_CLUSTER_ANSWER;
    if (starts_with_word(error, "TRYAGAIN"))
        return BK_CLUSTER_TRYAGAIN;
    if (starts_with_word(error, "CLUSTERDOWN"))
        return BK_CLUSTER_DOWN;
    /* Both refuse before anything is written: a replica checks a script's flags (every script
     * of ours has its "#!lua" line) before running it, and our scripts touch one slot, so the
     * first key they reach is where a wrong node stops them. Sending again is therefore safe. */
    if (starts_with_word(error, "READONLY") ||
        (strncmp(error, "ERR ", 4) == 0 && strstr(error, "Script attempted to access a non local key")))
        return BK_CLUSTER_STALE;
    return BK_CLUSTER_ANSWER;
}

bk_cluster_step bk_cluster_step_for(bk_cluster_error error, int resends)
{
    bk_cluster_step step = { 0 };
    int may = resends < BK_CLUSTER_RESENDS_MAX;
    switch (error) {
    case BK_CLUSTER_MOVED:
        /* The map is wrong whether or not this command may go on. */
        step.resend = may;
        step.remap = 1;
        step.refresh = 1;
        break;
    case BK_CLUSTER_ASK:
        step.resend = may;
        step.asking = may;
        break;
    case BK_CLUSTER_TRYAGAIN:
        step.resend = may;
        step.delay_ms = may ? BK_CLUSTER_TRYAGAIN_MS : 0;
        break;
    case BK_CLUSTER_DOWN:
        step.refresh = 1;
        break;
    case BK_CLUSTER_STALE:
        /* Ours is the wrong map (the failover happened, we have not heard of it): a new one,
         * then again by it. */
        step.resend = may;
        step.refresh = 1;
        step.delay_ms = may ? BK_CLUSTER_STALE_MS : 0;
        break;
    case BK_CLUSTER_ANSWER:
        break;
    }
    return step;
}
