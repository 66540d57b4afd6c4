/* webhooks.h - a site's webhook: conversation events POSTed, signed, in order, with retries.
 *
 * The events are written by the Lua scripts themselves (server/lua/webhook.lua) into the stream
 * hooks:{site}, in the atomic step that makes the change, so none is lost and their order is
 * Redis's order. This module delivers them: for each site one node at a time holds a lease
 * (hooks:{site}:lease, 30 s, renewed while it works) and sends the event after the site's
 * cursor (hooks:{site}:cursor), one request in flight. A 2xx moves the cursor on; anything else
 * is retried with exponential backoff (webhook-retry-ms, doubling, at most 5 minutes) until
 * webhook-max-attempts, then recorded as a failure and skipped. Delivery is at least once:
 * X-Beckon-Delivery (the stream id) lets a receiver drop duplicates.
 *
 * Wake-up: a stored event publishes "!hooks SITE" on the bus, so it goes out within a round
 * trip or two; a 1 s timer picks up whatever a lost bus message or another node left. */
#ifndef BK_WEBHOOKS_H
#define BK_WEBHOOKS_H

#include "server.h"

typedef struct bk_webhooks bk_webhooks;

bk_webhooks *bk_webhooks_new(bk_server *server);  /* registers scripts: before bk_store_start */

/* Cancels the requests in flight (their events stay undelivered, for the next start), gives up
 * this node's leases, closes the timers; on the running loop, before the net shuts down. */
void bk_webhooks_shutdown(bk_webhooks *hooks);
void bk_webhooks_free(bk_webhooks *hooks);  /* after the loop has stopped */

/* "!hooks SITE" from the bus: the site's stream has a new event. */
void bk_webhooks_wake(bk_webhooks *hooks, const char *site);

#endif
