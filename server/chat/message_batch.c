/* message_batch.c - the messages and notes that reach this node together, stored by one script
 * call (lua/messages.lua) whose reply is fanned back out to each message's socket.
 *
 * Why: a script call costs Redis far more than the commands it runs (the call, its arguments,
 * its effects wrapped in MULTI/EXEC for the AOF), and every time Redis wakes for a command it
 * pays again (reading it, writing the reply, the pushes and the AOF: about as much as a message
 * alone): paid once for a batch instead of once a message. A batch goes out in the loop's check
 * phase, after the I/O callbacks of the iteration have added their messages (in its prepare
 * phase, for one added elsewhere), unless one is in flight: then everything that arrives meanwhile
 * waits for that one's reply and goes as the next batch (a group commit); and no sooner than
 * BATCH_GAP_MS after the last batch went (a gather window: every Redis wake-up costs about as much
 * as a message, so fewer, larger batches cost less per message). At a low rate each message goes
 * alone in the iteration it came in; at a high one the batches grow with the rate, and Redis wakes
 * at most once a gap. Each message still gets exactly the answer it got alone: its
 * ack, its own refusal (an element of the reply), or unavailable when the batch got no reply. A
 * socket's other requests must not overtake its messages: a request from a socket with
 * messages waiting sends the batch at once (requests.c), whatever is in flight.
 *
 * A script runs in one slot (base/keys.h): a batch holds the messages of one slot, the slot of
 * their conversation's id. A message of another slot than the batch waiting sends that one at
 * once (even with one in flight: they go to different slots, maybe different masters) and
 * starts the next: with one site, or one busy site, the batches stay whole. */
#include "chat/chat_internal.h"

#include "base/ids.h"
#include "base/keys.h"
#include "store/redis_reply.h"
#include "store/redis_shapes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A batch is kept short, so that one script never holds Redis for long: at most this many
 * messages, and text of at most this many bytes (a longer message goes alone). */
#define BATCH_MESSAGES_MAX  64
#define BATCH_TEXT_MAX      (256 * 1024)
/* The script's arguments: the slot's prefix, now and the agents online, then per message those
 * of messages.lua. */
#define ARGS_FIRST          3
#define ARGS_PER_MESSAGE    7
/* The least time between two batches sent (ms): a message that comes sooner after the last batch
 * waits for the rest of it. Measured with tests/bench/scale.sh (chat, Redis CPU per message at
 * 5 000 / 10 000 msg/s): no gap 37-38 / 30-31 µs, 1 ms 35.5 / 30.3, 2 ms 28-30 / 26.5, 3 ms
 * 31 / 28 with p99 at 5 000 msg/s 4.8 ms (2 ms: 3.6). A wait of up to 2 ms is well within
 * what a chat message can take, and a message after a quiet moment goes at once. */
#define BATCH_GAP_MS        2

typedef struct batch_message {
    chat_call *call;
    chat_message_stored_fn *fn;
    const char *kind;
    char sender[SENDER_MAX];
    char preview[24];
    size_t text_len;
    char text[];
} batch_message;

/* The messages of one script call, from the flush until its reply. */
typedef struct batch {
    chat_batch *owner;
    char slot[BK_KEYS_PREFIX_SIZE];  /* the prefix of the slot of every message in it */
    size_t count;
    size_t text_bytes;
    batch_message *messages[BATCH_MESSAGES_MAX];
} batch;

struct chat_batch {
    bk_chat *chat;
    batch *pending;      /* NULL while nothing waits */
    unsigned in_flight;  /* batches sent, not yet answered */
    uint64_t sent_ms;    /* when the last batch was sent (the loop's clock, ms) */
    uv_prepare_t prepare;
    uv_check_t check;
    uv_timer_t gap;      /* runs while a batch waits for the gap since the last one to pass */
    int closing;         /* shut down: every message goes at once, alone */
};

static void message_free(batch_message *m)
{
    chat_call_free(m->call);
    free(m);
}

/* Every message of b answered: by its element of the reply, or, missing, as storage trouble. */
static void batch_answer(batch *b, const redisReply *reply)
{
    const redisReply *results = NULL;
    size_t at = 0;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_MESSAGES, &results, &at) != 0) {
        results = NULL;
        if (!bk_redis_reply_error(reply))  /* an odd reply was told already: no reply, for each */
            reply = NULL;
    }
    for (size_t i = 0; i < b->count; i++) {
        batch_message *m = b->messages[i];
        const redisReply *result = results && at + i < results->elements ? results->element[at + i] : NULL;
        if (!chat_call_orphaned(m->call))
            m->fn(m->call, results ? result : reply);
        message_free(m);
    }
    free(b);
}

/* The reply to a batch sent: its messages answered, and what waited meanwhile sent now. */
static void batch_send_when_due(chat_batch *cb);

static void on_batch_stored(redisReply *reply, void *data)
{
    batch *b = data;
    chat_batch *cb = b->owner;
    cb->in_flight--;
    batch_answer(b, reply);
    if (cb->in_flight == 0)
        batch_send_when_due(cb);
}

static void handles_stop(chat_batch *cb)
{
    if (cb->closing)
        return;
    uv_prepare_stop(&cb->prepare);
    uv_check_stop(&cb->check);
    uv_timer_stop(&cb->gap);
}

void chat_batch_flush(chat_batch *cb)
{
    batch *b = cb->pending;
    if (!b)
        return;
    cb->pending = NULL;
    handles_stop(cb);
    cb->sent_ms = uv_now(cb->chat->server->loop);
    for (size_t i = 0; i < b->count; i++)
        b->messages[i]->call->session->batched--;
    bk_chat *chat = cb->chat;
    enum { ARGS_MAX = ARGS_FIRST + ARGS_PER_MESSAGE * BATCH_MESSAGES_MAX };
    const char *argv[ARGS_MAX];
    size_t lengths[ARGS_MAX];
    char now[24], online[24];
    snprintf(now, sizeof now, "%lld", (long long)bk_now_ms());
    int argc = 0;
    argv[argc++] = b->slot;
    argv[argc++] = now;
    argv[argc++] = chat_agents_online(chat, online);
    for (int i = 0; i < argc; i++)
        lengths[i] = strlen(argv[i]);
    for (size_t i = 0; i < b->count; i++) {
        batch_message *m = b->messages[i];
        chat_call *c = m->call;
        const char *values[ARGS_PER_MESSAGE] = { m->kind, c->session->id, c->conversation, c->cmid, m->text,
                                                 m->preview, m->sender };
        for (int v = 0; v < ARGS_PER_MESSAGE; v++) {
            argv[argc] = values[v];
            lengths[argc++] = values[v] == m->text ? m->text_len : strlen(values[v]);
        }
    }
    if (bk_store_script(chat->server->store, chat->scripts[SCRIPT_MESSAGES], on_batch_stored, b, 0, argc, argv,
                        lengths) == 0)
        cb->in_flight++;
    else
        batch_answer(b, NULL);  /* Redis cannot be asked now: each is told unavailable */
}

static void on_gap_passed(uv_timer_t *timer)
{
    chat_batch *cb = timer->data;
    if (cb->in_flight == 0)
        chat_batch_flush(cb);
}

/* The batch waiting goes now, or once the gap since the last one has passed. */
static void batch_send_when_due(chat_batch *cb)
{
    if (!cb->pending)
        return;
    uint64_t now = uv_now(cb->chat->server->loop);
    if (cb->closing || now >= cb->sent_ms + BATCH_GAP_MS)
        chat_batch_flush(cb);
    else if (!uv_is_active((uv_handle_t *)&cb->gap))
        uv_timer_start(&cb->gap, on_gap_passed, cb->sent_ms + BATCH_GAP_MS - now, 0);
}

/* Once an iteration's callbacks have added their messages: the batch goes, unless one is in
 * flight, whose reply sends it (on_batch_stored). */
static void on_iteration_end(chat_batch *cb)
{
    if (cb->in_flight == 0)
        batch_send_when_due(cb);
}

static void on_prepare(uv_prepare_t *handle) { on_iteration_end(handle->data); }
static void on_check(uv_check_t *handle) { on_iteration_end(handle->data); }

void chat_batch_add(chat_batch *cb, chat_call *c, const char *kind, const char *text, size_t text_len,
                    size_t preview_bytes, chat_message_stored_fn *fn)
{
    batch_message *m = malloc(sizeof *m + text_len + 1);
    if (!m) {
        chat_send_error(c->session, c->req, BK_ERR_INTERNAL, "out of memory");
        chat_call_free(c);
        return;
    }
    m->call = c;
    m->fn = fn;
    m->kind = kind;
    chat_sender_name(c->session, m->sender);
    snprintf(m->preview, sizeof m->preview, "%zu", preview_bytes);
    m->text_len = text_len;
    memcpy(m->text, text, text_len);
    m->text[text_len] = '\0';
    char slot[BK_KEYS_PREFIX_SIZE];
    bk_keys_prefix_of_id(cb->chat->server->config->prefix, c->conversation, slot);
    /* full, or of another slot: it goes now, in flight or not */
    if (cb->pending && (cb->pending->text_bytes + text_len > BATCH_TEXT_MAX || strcmp(cb->pending->slot, slot) != 0))
        chat_batch_flush(cb);
    if (!cb->pending) {
        cb->pending = calloc(1, sizeof *cb->pending);
        if (!cb->pending) {
            chat_send_error(c->session, c->req, BK_ERR_INTERNAL, "out of memory");
            message_free(m);
            return;
        }
        cb->pending->owner = cb;
        memcpy(cb->pending->slot, slot, sizeof slot);
        if (!cb->closing) {
            uv_prepare_start(&cb->prepare, on_prepare);
            uv_check_start(&cb->check, on_check);
        }
    }
    batch *b = cb->pending;
    b->messages[b->count++] = m;
    b->text_bytes += text_len;
    c->session->batched++;
    if (cb->closing || b->count == BATCH_MESSAGES_MAX || b->text_bytes >= BATCH_TEXT_MAX)
        chat_batch_flush(cb);
}

chat_batch *chat_batch_new(bk_chat *chat)
{
    chat_batch *cb = calloc(1, sizeof *cb);
    if (!cb)
        return NULL;
    cb->chat = chat;
    uv_prepare_init(chat->server->loop, &cb->prepare);
    uv_check_init(chat->server->loop, &cb->check);
    uv_timer_init(chat->server->loop, &cb->gap);
    cb->prepare.data = cb->check.data = cb->gap.data = cb;
    return cb;
}

/* Shutdown: what waits goes now; the handles close, and every later message goes alone. */
void chat_batch_close(chat_batch *cb)
{
    chat_batch_flush(cb);
    cb->closing = 1;
    uv_close((uv_handle_t *)&cb->prepare, NULL);
    uv_close((uv_handle_t *)&cb->check, NULL);
    uv_close((uv_handle_t *)&cb->gap, NULL);
}

void chat_batch_free(chat_batch *cb)
{
    free(cb);
}
