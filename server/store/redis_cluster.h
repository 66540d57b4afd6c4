/* redis_cluster.h - what a Redis Cluster client must know, without any I/O.
 *
 * hiredis 0.14 knows nothing of clusters, and Debian 12 has no cluster client for it, so the
 * store (store_cluster.c) routes by itself, with what this module decides:
 *   - the slot of a key: CRC16 (XMODEM) of the key, or of its hash tag, modulo 16384, exactly
 *     as Redis's keyHashSlot (src/cluster.h) and the cluster specification's "Hash tags";
 *   - the slot map, read from a CLUSTER SLOTS reply by its shape (redis_shapes.h);
 *   - what an error reply asks of the client: MOVED (the slot lives elsewhere now: remap it,
 *     send there, and fetch the whole map again, since one slot rarely moves alone), ASK (this
 *     one command goes to another node, preceded by ASKING; the map stays), TRYAGAIN (a
 *     multi-key command met a slot halfway through a migration: send again a little later),
 *     CLUSTERDOWN (no command is served now: the caller is told "unavailable", and the map is
 *     fetched again since a failover is the usual cause).
 * Tested against Redis's own vectors (tests/unit/test_redis_cluster.c) and against a real
 * cluster's CLUSTER KEYSLOT (tests/integration/test_cluster.py). */
#ifndef BK_REDIS_CLUSTER_H
#define BK_REDIS_CLUSTER_H

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>

#define BK_CLUSTER_SLOTS    16384
#define BK_CLUSTER_HOST_MAX 256
/* Redirections and retries one command may take before its caller gets the last error. A
 * slot in migration costs two (MOVED to the new owner, then ASK back, or the reverse); more
 * than that is a cluster changing faster than we can follow. */
#define BK_CLUSTER_RESENDS_MAX 4
/* The wait before sending again after TRYAGAIN (the store's sweep rounds it up to its tick). */
#define BK_CLUSTER_TRYAGAIN_MS 50
/* The wait before sending again to a node our map names wrongly (BK_CLUSTER_STALE): longer
 * than the store's gap between two fetches of the map, so that the resend goes by the new one. */
#define BK_CLUSTER_STALE_MS    150

uint16_t bk_cluster_crc16(const void *data, size_t length);

/* The slot (0..16383) of a key of length bytes, which may hold any byte. The hash tag is what
 * lies between the first '{' and the first '}' after it, when that is not empty. */
int bk_cluster_key_slot(const void *key, size_t length);

/* ---- the slot map ---------------------------------------------------------------------- */

typedef struct bk_cluster_node {
    char host[BK_CLUSTER_HOST_MAX];
    int port;
    int master;  /* serves slots; otherwise a replica */
} bk_cluster_node;

typedef struct bk_cluster_range {
    int first, last;  /* slots, both included */
    size_t node;      /* the master serving them: an index into nodes */
} bk_cluster_range;

typedef struct bk_cluster_map {
    bk_cluster_node *nodes;  /* each address once; masters and replicas */
    size_t node_count;
    bk_cluster_range *ranges;
    size_t range_count;
} bk_cluster_map;

/* Reads a CLUSTER SLOTS reply into map (released with bk_cluster_map_release, also after a
 * failure). asked_host is the host the command went to: a node whose endpoint is unknown to
 * the cluster (a nil or empty endpoint) is reached there, as the specification says. A node
 * announced as "?" (a hostname preferred but none set) cannot be reached: its slots stay
 * unserved. Returns 0, or -1 with err filled when the reply is not a slot map (an error, a
 * slot out of range, ranges that overlap, a port out of range, a host too long). */
int bk_cluster_map_parse(const redisReply *reply, const char *asked_host, bk_cluster_map *map,
                         char *err, size_t err_size);
void bk_cluster_map_release(bk_cluster_map *map);

/* The index of the node serving slot, or -1 when none does. */
int bk_cluster_map_master(const bk_cluster_map *map, int slot);

/* ---- error replies ------------------------------------------------------------------- */

typedef enum {
    BK_CLUSTER_ANSWER,    /* not the cluster's business: the caller's reply, as it is */
    BK_CLUSTER_MOVED,
    BK_CLUSTER_ASK,
    BK_CLUSTER_TRYAGAIN,
    BK_CLUSTER_DOWN,      /* CLUSTERDOWN, whatever its reason */
    BK_CLUSTER_STALE,     /* the node is no longer the slot's master, and says so without a
                           * MOVED: READONLY (a replica now: a failover demoted it), or a script
                           * that declares no key refused at its first one ("non local key") */
} bk_cluster_error;

typedef struct bk_cluster_redirect {
    int slot;
    char host[BK_CLUSTER_HOST_MAX];
    int port;
} bk_cluster_redirect;

/* What an error reply's text ("MOVED 3999 127.0.0.1:6381", without the '-') is. MOVED and ASK
 * fill redirect: the host may be an IPv4 or IPv6 address (Redis writes "::1:6381", no
 * brackets; "[::1]:6381" is taken too) or a name; an empty one ("MOVED 3999 :6380") is
 * asked_host. A MOVED or ASK that does not read exactly so (a slot out of range, no port, a
 * port out of range, junk after it, a host with spaces or too long) is BK_CLUSTER_ANSWER: an
 * error like any other, never a redirection to somewhere made up. */
bk_cluster_error bk_cluster_error_parse(const char *error, const char *asked_host,
                                        bk_cluster_redirect *redirect);

/* What the store does with a command's error reply, once it knows what the error is. */
typedef struct bk_cluster_step {
    int resend;    /* send the command again (else: answer the caller with this reply): to the
                    * slot's node as the map now says, or with asking to the redirection's */
    int asking;    /* to the redirection's node, preceded by ASKING, this once (ASK) */
    int delay_ms;  /* this much later (TRYAGAIN, STALE) */
    int remap;     /* the redirection's node serves the slot from now on (MOVED), resent or not */
    int refresh;   /* fetch the whole slot map again (MOVED, CLUSTERDOWN, STALE) */
} bk_cluster_step;

/* resends: how many times the command was sent again already (BK_CLUSTER_RESENDS_MAX bounds it). */
bk_cluster_step bk_cluster_step_for(bk_cluster_error error, int resends);

#endif
