/* backoff.h - how long a link to Redis waits before it tries again: the command link
 * (store.c) and the bus link (bus_link.c) back off alike. */
#ifndef BK_BACKOFF_H
#define BK_BACKOFF_H

#include <stdint.h>

#define BK_BACKOFF_FIRST_MS 50    /* after a link was up, or at the start */
#define BK_BACKOFF_MAX_MS   2000

/* The wait before reconnecting after backoff_ms: that much, plus a random part of up to a
 * quarter of it, different on every node, so that nodes that lost Redis together do not all
 * come back at the same moment. */
uint64_t bk_store_reconnect_delay(uint64_t backoff_ms);

/* The backoff after one more failed attempt: doubled, up to BK_BACKOFF_MAX_MS. */
uint64_t bk_store_backoff_next(uint64_t backoff_ms);

#endif
