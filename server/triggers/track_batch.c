/* track_batch.c - the page views and events that reach this node together, stored by one call
 * of lua/track.lua whose reply is fanned back out to each event's socket or beacon request.
 *
 * The triggers' twin of chat/message_batch.c, for the same reason: a script call costs Redis far
 * more than the few commands a page view needs (the call, its arguments, its effects wrapped in
 * MULTI/EXEC for the AOF, and waking up for it). Unlike a chat message, nobody waits for a page
 * view: its `ok` and the rules' verdict may come a few milliseconds later. So a batch waits
 * TRACK_BATCH_WAIT_MS after its first event for others to join it, and goes then, or, when one
 * is in flight then, as soon as that one's reply is in (one batch in flight at a time). Each
 * event still gets exactly the answer it got alone: its element of the reply (its own refusal
 * included), or no reply. A socket's other requests must not overtake its events (a page view
 * stored after the consent withdrawal sent after it): bk_tracker_flush sends the batch first. */
#include "triggers/triggers_internal.h"

#include "base/keys.h"
#include "store/redis_reply.h"
#include "store/redis_shapes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A batch is kept short, so that one script never holds Redis for long, and waits this long at
 * most for events to join it: measured with tests/bench/scale.sh (pageviews), Redis spends some
 * 15 µs a call besides each event's own 20-30 µs, and at 2 000 page views/s a 5 ms wait makes
 * batches of about ten. */
#define BATCH_EVENTS_MAX     64
#define TRACK_BATCH_WAIT_MS  5
/* The script's arguments: prefix, visit gap, retention, max events, then those of each event. */
#define ARGS_FIRST       4

typedef struct batch_event {
    bk_store_reply_fn fn;    /* told the event's element of the reply, or NULL */
    void *data;
    bk_tracker *tracker;     /* its socket's (counted in batched), NULL for a beacon's */
    const char *values[TRACK_ARGS_PER_EVENT];
    char text[];             /* the values, one after the other */
} batch_event;

/* The events of one script call, from the flush until its reply. A script runs in one slot
 * (base/keys.h): a batch holds the events of one slot, their visitor's. */
typedef struct batch {
    triggers_track_batch *owner;
    char slot[BK_KEYS_PREFIX_SIZE];  /* the prefix of the slot of every event in it */
    int waited;              /* its wait is over: it goes when nothing is in flight */
    size_t count;
    batch_event *events[BATCH_EVENTS_MAX];
} batch;

struct triggers_track_batch {
    bk_triggers *triggers;
    batch *pending;      /* NULL while nothing waits */
    unsigned in_flight;  /* batches sent, not yet answered */
    uv_timer_t wait;     /* runs while a batch waits for more events */
    int closing;         /* shut down: every event goes at once, alone */
};

/* Every event of b answered: by its element of the reply, or, missing, as storage trouble. */
static void batch_answer(batch *b, redisReply *reply)
{
    const redisReply *results = NULL;
    size_t at = 0;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_TRACKS, &results, &at) != 0) {
        results = NULL;
        if (!bk_redis_reply_error(reply))  /* an odd reply was told already: no reply, for each */
            reply = NULL;
    }
    for (size_t i = 0; i < b->count; i++) {
        batch_event *e = b->events[i];
        redisReply *result = results && at + i < results->elements ? results->element[at + i] : NULL;
        e->fn(results ? result : reply, e->data);
        free(e);
    }
    free(b);
}

static void on_batch_stored(redisReply *reply, void *data)
{
    batch *b = data;
    triggers_track_batch *tb = b->owner;
    tb->in_flight--;
    batch_answer(b, reply);
    if (tb->in_flight == 0 && tb->pending && tb->pending->waited)
        triggers_track_batch_flush(tb);
}

void triggers_track_batch_flush(triggers_track_batch *tb)
{
    batch *b = tb->pending;
    if (!b)
        return;
    tb->pending = NULL;
    if (!tb->closing)
        uv_timer_stop(&tb->wait);
    const bk_config *config = tb->triggers->server->config;
    enum { ARGS_MAX = ARGS_FIRST + TRACK_ARGS_PER_EVENT * BATCH_EVENTS_MAX };
    const char *argv[ARGS_MAX];
    char gap[24], retention[24], max_events[16];
    snprintf(gap, sizeof gap, "%lld", (long long)config->visit_gap_minutes * 60000);
    snprintf(retention, sizeof retention, "%lld", (long long)config->event_retention_days * 86400);
    snprintf(max_events, sizeof max_events, "%d", TRACK_EVENTS_MAX);
    int argc = 0;
    argv[argc++] = b->slot;
    argv[argc++] = gap;
    argv[argc++] = retention;
    argv[argc++] = max_events;
    for (size_t i = 0; i < b->count; i++) {
        batch_event *e = b->events[i];
        if (e->tracker)
            e->tracker->batched--;
        for (int v = 0; v < TRACK_ARGS_PER_EVENT; v++)
            argv[argc++] = e->values[v];
    }
    if (bk_store_script(tb->triggers->server->store, tb->triggers->scripts[SCRIPT_TRACK], on_batch_stored, b, 0,
                        argc, argv, NULL) == 0)
        tb->in_flight++;
    else
        batch_answer(b, NULL);  /* Redis cannot be asked now: each is told so */
}

/* The batch has waited long enough: it goes, unless one is in flight, whose reply sends it
 * (on_batch_stored). */
static void on_waited(uv_timer_t *timer)
{
    triggers_track_batch *tb = timer->data;
    if (!tb->pending)
        return;
    tb->pending->waited = 1;
    if (tb->in_flight == 0)
        triggers_track_batch_flush(tb);
}

int triggers_track_batch_add(triggers_track_batch *tb, bk_tracker *tracker, const char *const *values,
                             bk_store_reply_fn fn, void *data)
{
    size_t size = 0;
    for (int v = 0; v < TRACK_ARGS_PER_EVENT; v++)
        size += strlen(values[v]) + 1;
    batch_event *e = malloc(sizeof *e + size);
    if (!e)
        return -1;
    char slot[BK_KEYS_PREFIX_SIZE];
    bk_keys_prefix_of_id(tb->triggers->server->config->prefix, values[0], slot);
    /* of another slot than the batch waiting: that one goes now, in flight or not (they go to
     * different slots, maybe to different masters) */
    if (tb->pending && strcmp(tb->pending->slot, slot) != 0)
        triggers_track_batch_flush(tb);
    if (!tb->pending) {
        tb->pending = calloc(1, sizeof *tb->pending);
        if (!tb->pending) {
            free(e);
            return -1;
        }
        tb->pending->owner = tb;
        memcpy(tb->pending->slot, slot, sizeof slot);
        if (!tb->closing)
            uv_timer_start(&tb->wait, on_waited, TRACK_BATCH_WAIT_MS, 0);
    }
    e->fn = fn;
    e->data = data;
    e->tracker = tracker;
    char *text = e->text;
    for (int v = 0; v < TRACK_ARGS_PER_EVENT; v++) {
        size_t len = strlen(values[v]);
        memcpy(text, values[v], len + 1);
        e->values[v] = text;
        text += len + 1;
    }
    batch *b = tb->pending;
    b->events[b->count++] = e;
    if (tracker)
        tracker->batched++;
    if (tb->closing || b->count == BATCH_EVENTS_MAX)
        triggers_track_batch_flush(tb);
    return 0;
}

triggers_track_batch *triggers_track_batch_new(bk_triggers *triggers)
{
    triggers_track_batch *tb = calloc(1, sizeof *tb);
    if (!tb)
        return NULL;
    tb->triggers = triggers;
    uv_timer_init(triggers->server->loop, &tb->wait);
    tb->wait.data = tb;
    return tb;
}

/* Shutdown: what waits goes now; the timer closes, and every later event goes alone. */
void triggers_track_batch_close(triggers_track_batch *tb)
{
    triggers_track_batch_flush(tb);
    tb->closing = 1;
    uv_close((uv_handle_t *)&tb->wait, NULL);
}

void triggers_track_batch_free(triggers_track_batch *tb)
{
    free(tb);
}
