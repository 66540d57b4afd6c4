/* cli_redis.c - one Redis, or a cluster's masters, for the one-shot commands (cli_redis.h). */
#include "cli/cli_redis.h"

#include "store/redis_cluster.h"
#include "store/redis_reply.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* How long a command may take to answer before the command is given up. */
#define COMMAND_TIMEOUT_SECONDS 10

typedef struct cli_node {
    char host[BK_CLUSTER_HOST_MAX];
    int port;
    redisContext *context;  /* NULL until first needed, and after a failure */
} cli_node;

struct bk_cli_redis {
    redisContext *single;      /* one Redis; else a cluster: */
    bk_redis_address address;  /* the credentials every node takes */
    cli_node *nodes;           /* every node met: seeds, masters, redirections' */
    size_t node_count, node_capacity;
    bk_cluster_map map;
    char error[512];
};

static void error_set(bk_cli_redis *r, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    vsnprintf(r->error, sizeof r->error, format, args);
    va_end(args);
}

/* A connection with the address's credentials; host NULL: the address's own endpoint. */
static redisContext *context_connect(const bk_redis_address *a, const char *host, int port, char *err,
                                     size_t err_size)
{
    struct timeval timeout = { 2, 0 };
    redisContext *c = a->is_unix && !host ? redisConnectUnixWithTimeout(a->path, timeout)
                                          : redisConnectWithTimeout(host ? host : a->host, host ? port : a->port,
                                                                    timeout);
    if (!c || c->err) {
        snprintf(err, err_size, "%s", c ? c->errstr : "out of memory");
        if (c)
            redisFree(c);
        return NULL;
    }
    struct timeval command_timeout = { COMMAND_TIMEOUT_SECONDS, 0 };
    redisSetTimeout(c, command_timeout);
    redisReply *reply = NULL;
    if (a->password[0])
        reply = a->username[0] ? redisCommand(c, "AUTH %s %s", a->username, a->password)
                               : redisCommand(c, "AUTH %s", a->password);
    if (reply) {
        int bad = bk_redis_reply_error(reply) != NULL;
        freeReplyObject(reply);
        if (bad) {
            snprintf(err, err_size, "redis refused the password");
            redisFree(c);
            return NULL;
        }
    }
    if (a->db) {
        reply = redisCommand(c, "SELECT %d", a->db);
        if (reply)
            freeReplyObject(reply);
    }
    return c;
}

/* ---- one Redis ----------------------------------------------------------------------- */

static redisContext *single_connect(const bk_redis_address *a, char *err, size_t err_size)
{
    redisContext *c = context_connect(a, NULL, 0, err, err_size);
    if (!c)
        return NULL;
    /* A Redis still loading its AOF answers -LOADING: wait until it is ready. */
    for (int i = 0; i < 100; i++) {
        redisReply *reply = redisCommand(c, "PING");
        int ready = reply && !bk_redis_reply_error(reply);
        if (reply)
            freeReplyObject(reply);
        if (ready)
            return c;
        usleep(100 * 1000);
    }
    snprintf(err, err_size, "redis did not become ready");
    redisFree(c);
    return NULL;
}

/* ---- a cluster ------------------------------------------------------------------------ */

/* The node's index (added, not connected, when new), or -1 when out of memory. */
static long node_find(bk_cli_redis *r, const char *host, int port)
{
    for (size_t i = 0; i < r->node_count; i++)
        if (r->nodes[i].port == port && strcmp(r->nodes[i].host, host) == 0)
            return (long)i;
    if (r->node_count == r->node_capacity) {
        size_t capacity = r->node_capacity ? r->node_capacity * 2 : 8;
        cli_node *nodes = realloc(r->nodes, capacity * sizeof *nodes);
        if (!nodes)
            return -1;
        r->nodes = nodes;
        r->node_capacity = capacity;
    }
    cli_node *n = &r->nodes[r->node_count];
    memset(n, 0, sizeof *n);
    snprintf(n->host, sizeof n->host, "%s", host);
    n->port = port;
    return (long)r->node_count++;
}

/* The node's connection, made when it has none; NULL (the error said) when it cannot be. */
static redisContext *node_context(bk_cli_redis *r, size_t index)
{
    cli_node *n = &r->nodes[index];
    if (!n->context) {
        char err[256];
        if (!(n->context = context_connect(&r->address, n->host, n->port, err, sizeof err)))
            error_set(r, "node %s:%d: %s", n->host, n->port, err);
    }
    return n->context;
}

static void node_drop(bk_cli_redis *r, size_t index)
{
    cli_node *n = &r->nodes[index];
    error_set(r, "node %s:%d: %s", n->host, n->port, n->context->errstr[0] ? n->context->errstr : "no reply");
    redisFree(n->context);
    n->context = NULL;
}

/* The slot map as the node sees it; 0, or -1 with the error said (the map kept). */
static int map_read(bk_cli_redis *r, size_t index)
{
    redisContext *c = node_context(r, index);
    if (!c)
        return -1;
    redisReply *reply = redisCommand(c, "CLUSTER SLOTS");
    if (!reply) {
        node_drop(r, index);
        return -1;
    }
    bk_cluster_map map;
    char err[256];
    int rc = bk_cluster_map_parse(reply, r->nodes[index].host, &map, err, sizeof err);
    freeReplyObject(reply);
    if (rc != 0) {
        error_set(r, "node %s:%d: %s", r->nodes[index].host, r->nodes[index].port, err);
        return -1;
    }
    bk_cluster_map_release(&r->map);
    r->map = map;
    return 0;
}

/* The index of the node serving slot as the map says, or -1 (the error said). */
static long slot_master(bk_cli_redis *r, int slot)
{
    int master = bk_cluster_map_master(&r->map, slot);
    if (master < 0) {
        error_set(r, "no master serves slot %d now", slot);
        return -1;
    }
    return node_find(r, r->map.nodes[master].host, r->map.nodes[master].port);
}

static redisReply *cluster_command(bk_cli_redis *r, int slot, int argc, const char **argv, const size_t *lengths)
{
    bk_cluster_redirect to;
    memset(&to, 0, sizeof to);
    int asking = 0, redirected = 0;
    for (int resends = 0;; resends++) {
        long node = redirected ? node_find(r, to.host, to.port) : slot_master(r, slot);
        redisContext *c = node >= 0 ? node_context(r, (size_t)node) : NULL;
        if (!c)
            return NULL;
        /* The node importing the slot serves it to this one command, flagged by ASKING first. */
        if (asking)
            redisAppendCommand(c, "ASKING");
        redisAppendCommandArgv(c, argc, argv, lengths);
        redisReply *reply = NULL;
        if (asking) {
            if (redisGetReply(c, (void **)&reply) != REDIS_OK) {
                node_drop(r, (size_t)node);
                return NULL;
            }
            freeReplyObject(reply);
        }
        if (redisGetReply(c, (void **)&reply) != REDIS_OK) {
            node_drop(r, (size_t)node);
            return NULL;
        }
        bk_cluster_error error = bk_cluster_error_parse(bk_redis_reply_error(reply), r->nodes[node].host, &to);
        bk_cluster_step step = bk_cluster_step_for(error, resends);
        if (step.refresh)
            map_read(r, (size_t)node);  /* a failure keeps the map; the redirection still goes */
        /* MOVED: the redirection's node, whatever a map read a moment before says. */
        redirected = step.remap || step.asking;
        asking = step.asking;
        if (!step.resend)
            return reply;
        freeReplyObject(reply);
        if (step.delay_ms)
            usleep((useconds_t)step.delay_ms * 1000);
    }
}

static bk_cli_redis *cluster_connect(bk_cli_redis *r, char *err, size_t err_size)
{
    for (int i = 0; i < r->address.seed_count; i++) {
        long node = node_find(r, r->address.seeds[i].host, r->address.seeds[i].port);
        if (node >= 0 && map_read(r, (size_t)node) == 0)
            return r;
    }
    snprintf(err, err_size, "no node of the cluster gave its slot map (last: %s)", r->error);
    bk_cli_redis_free(r);
    return NULL;
}

/* ---- what the commands use ------------------------------------------------------------ */

bk_cli_redis *bk_cli_redis_connect(const bk_redis_address *address, char *err, size_t err_size)
{
    bk_cli_redis *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    r->address = *address;
    if (address->is_cluster)
        return cluster_connect(r, err, err_size);
    if (!(r->single = single_connect(address, err, err_size))) {
        free(r);
        return NULL;
    }
    return r;
}

void bk_cli_redis_free(bk_cli_redis *r)
{
    if (!r)
        return;
    if (r->single)
        redisFree(r->single);
    for (size_t i = 0; i < r->node_count; i++)
        if (r->nodes[i].context)
            redisFree(r->nodes[i].context);
    free(r->nodes);
    bk_cluster_map_release(&r->map);
    explicit_bzero(&r->address, sizeof r->address);
    free(r);
}

redisReply *bk_cli_redis_command(bk_cli_redis *r, int key_at, int argc, const char **argv,
                                 const size_t *lengths)
{
    if (r->single) {
        redisReply *reply = redisCommandArgv(r->single, argc, argv, lengths);
        if (!reply)
            error_set(r, "%s", r->single->errstr[0] ? r->single->errstr : "no reply");
        return reply;
    }
    if (key_at < 0 || key_at >= argc) {
        error_set(r, "a command with no key cannot be routed in a cluster");
        return NULL;
    }
    int slot = bk_cluster_key_slot(argv[key_at], lengths ? lengths[key_at] : strlen(argv[key_at]));
    return cluster_command(r, slot, argc, argv, lengths);
}

const char *bk_cli_redis_error(const bk_cli_redis *r)
{
    return r->error;
}

redisContext *bk_cli_redis_single(bk_cli_redis *r)
{
    return r->single;
}
