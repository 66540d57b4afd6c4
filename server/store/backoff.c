/* backoff.c - the reconnect delay of the links to Redis, with jitter from the kernel. */
#include "store/backoff.h"

#include "base/ids.h"

uint64_t bk_store_reconnect_delay(uint64_t backoff_ms)
{
    /* Jitter keeps several nodes from hammering a Redis that just came back in lockstep: the
     * kernel's randomness (rand() was never seeded, so every node drew the same "jitter").
     * Without randomness the delay is the backoff alone, which is still correct. */
    uint64_t jitter;
    if (bk_random_below(backoff_ms / 4 + 1, &jitter) != 0)
        jitter = 0;
    return backoff_ms + jitter;
}

uint64_t bk_store_backoff_next(uint64_t backoff_ms)
{
    return backoff_ms * 2 > BK_BACKOFF_MAX_MS ? BK_BACKOFF_MAX_MS : backoff_ms * 2;
}
