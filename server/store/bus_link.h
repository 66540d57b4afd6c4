/* bus_link.h - one connection to Redis for sharded pub/sub (SSUBSCRIBE), on the libuv loop.
 *
 * hiredis 0.14's async layer knows only SUBSCRIBE and PSUBSCRIBE: a SSUBSCRIBE confirmation
 * is taken for an ordinary reply, and the first `smessage` after it, which answers no command,
 * hits an assert (async.c, redisProcessCallbacks). So this link speaks for itself: hiredis's
 * plain context in non-blocking mode connects (TCP or unix socket), buffers what is written
 * and parses what is read; a uv_poll watches the socket; and the link keeps its own list of
 * the replies it waits for, in order (RESP2 answers every command in order; the pushes,
 * `smessage`, answer none and come between them).
 *
 * One link is one connection. It keeps no set of channels: its owner does (store_bus.c), and
 * subscribes them again whenever `connected` says a new connection is there, so that a Redis
 * Cluster can be served by one link per shard, each told the channels of its slots. A cluster
 * node refuses a channel of a slot it does not serve (MOVED, also to SUNSUBSCRIBE) and ends by
 * itself, with a `sunsubscribe` nobody asked for, the subscriptions of a slot it loses: an owner
 * that follows the slots takes both (`refused`, `dropped`); for one without, the link is remade.
 *
 * On every connection the link says AUTH and SELECT when the address has them, lets the owner
 * subscribe (`connected`), then PINGs: the PONG comes after every confirmation asked so far,
 * and only then is the link `up`. Every command has a deadline (bk_bus_link_sweep); a link
 * that fails, errs or misses a deadline is dropped and remade with the store's backoff
 * (bk_store_reconnect_delay), and says `down`. */
#ifndef BK_BUS_LINK_H
#define BK_BUS_LINK_H

#include "base/config.h"

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct bk_bus_link bk_bus_link;

/* The longest name a link keeps for the log. */
#define BK_BUS_LINK_NAME_MAX 300

typedef struct bk_bus_link_handlers {
    /* A new connection: subscribe now to every channel wanted (the commands follow AUTH and
     * SELECT on the wire; the link is `up` once all of them are confirmed). */
    void (*connected)(void *data);
    /* Every command asked in `connected` is answered: the link delivers what is published. */
    void (*up)(void *data);
    /* The connection is gone, and with it every subscription; a new one is on its way. */
    void (*down)(const char *why, void *data);
    /* Redis confirmed a SSUBSCRIBE (subscribed 1) or a SUNSUBSCRIBE (0) of channel, in the
     * order they were asked. */
    void (*confirmed)(const char *channel, size_t channel_len, int subscribed, void *data);
    /* Optional. Redis answered a SSUBSCRIBE (subscribed 1) or SUNSUBSCRIBE (0) of channel with
     * an error (error: its text, "MOVED 3999 127.0.0.1:6381"); the link stays. Without it the
     * link is dropped and remade. */
    void (*refused)(const char *channel, size_t channel_len, int subscribed, const char *error, void *data);
    /* Optional. Redis ended the subscription of channel unasked (a cluster node that lost its
     * slot); the link stays. Without it the link is dropped and remade. */
    void (*dropped)(const char *channel, size_t channel_len, void *data);
    /* A message published on a channel of this link. */
    void (*message)(const char *channel, size_t channel_len, const char *payload, size_t len, void *data);
} bk_bus_link_handlers;

/* name is for the log ("bus"; cut at BK_BUS_LINK_NAME_MAX); it and address are copied. NULL when
 * out of memory. */
bk_bus_link *bk_bus_link_new(uv_loop_t *loop, const char *name, const bk_redis_address *address,
                             const bk_bus_link_handlers *handlers, void *data);

/* Connects, and reconnects whenever the connection is lost, until bk_bus_link_close. */
void bk_bus_link_start(bk_bus_link *link);

/* 1 from `connected` until `down`: the commands below go on this connection. */
int bk_bus_link_is_connected(const bk_bus_link *link);
int bk_bus_link_is_up(const bk_bus_link *link);

/* Ask Redis (written once per loop iteration, with whatever else was asked in it); `confirmed`
 * follows. 0, or -1 when there is no connection now (`connected` will come: ask then). */
int bk_bus_link_subscribe(bk_bus_link *link, const char *channel, size_t len);
int bk_bus_link_unsubscribe(bk_bus_link *link, const char *channel, size_t len);

/* Asks Redis for a PING, answered within the sweep's deadline or the link is remade: for an owner
 * that has no other way to notice a connection gone silent (a server stopped, a half-open link).
 * Nothing is sent while the link is not up or already awaits a reply. 0, or -1. */
int bk_bus_link_ping(bk_bus_link *link);

/* Drops the connection and makes it anew (the owner found it silent). */
void bk_bus_link_drop(bk_bus_link *link, const char *why);

/* Drops the connection when its oldest unanswered command was sent more than timeout_ms ago
 * (a Redis stopped, swapping, or a link gone half-open): call it now and then. */
void bk_bus_link_sweep(bk_bus_link *link, uint64_t now, uint64_t timeout_ms);

/* Closes the connection at once (nothing it waits for matters then) and frees the link once
 * its handles are closed, then calls closed_fn (may be NULL). No handler is called after this. */
void bk_bus_link_close(bk_bus_link *link, void (*closed_fn)(void *data), void *data);

/* ---- reading one reply: pure, for the tests ------------------------------------------- */

typedef enum {
    BK_BUS_REPLY_ANSWER,        /* a status reply: AUTH's or SELECT's +OK, a +PONG */
    BK_BUS_REPLY_ERROR,         /* an error reply (text: Redis's words) */
    BK_BUS_REPLY_SUBSCRIBED,    /* ["ssubscribe", channel, count] */
    BK_BUS_REPLY_UNSUBSCRIBED,  /* ["sunsubscribe", channel, count] */
    BK_BUS_REPLY_PONG,          /* ["pong", ""]: PING while subscribed */
    BK_BUS_REPLY_MESSAGE,       /* ["smessage", channel, payload]: a push, answering no command */
    BK_BUS_REPLY_ODD,           /* none of these (the link cannot trust its order any more) */
} bk_bus_reply_kind;

typedef struct bk_bus_reply {
    bk_bus_reply_kind kind;
    const char *text;           /* ERROR: the error's text */
    const char *channel;        /* SUBSCRIBED, UNSUBSCRIBED, MESSAGE; borrowed from the reply */
    size_t channel_len;
    const char *payload;        /* MESSAGE */
    size_t payload_len;
} bk_bus_reply;

/* Reads reply (NULL: ODD) into out and returns its kind. */
bk_bus_reply_kind bk_bus_reply_read(const redisReply *reply, bk_bus_reply *out);

#endif
