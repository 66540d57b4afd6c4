/* help_counters.c - the self-service figures: counted in memory, added to Redis every
 * stats-flush-seconds (10 s; help_stats_add.lua, per UTC day), like the rules' counters; what a visitor saw, kept with the visitor for the
 * agent; and the chats avoided, decided by a sweep of every site slot once their window is over. */
#include "help/help_internal.h"

#include "help/help_text.h"
#include "base/ids.h"
#include "base/log.h"
#include "store/redis_reply.h"
#include "store/redis_shapes.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define AVOID_EVERY       6                    /* flushes between sweeps for chats avoided: a minute */
#define AVOID_WINDOW_MS   (30 * 60 * 1000)     /* no chat within this after a suggestion helped */
#define MISSING_WORDS_MAX 100                  /* bytes of a query kept as a search with no result */
#define MISSING_PER_FLUSH 500                  /* distinct ones a node keeps between flushes */

void bk_help_count(bk_help *help, const char *site, const char *counter)
{
    char key[BK_ID_MAX + 32];
    snprintf(key, sizeof key, "%s:%s", site, counter);
    uintptr_t n = (uintptr_t)bk_map_get(help->counts, key);
    bk_map_set(help->counts, key, (void *)(n + 1));
}

typedef struct words_out {
    char text[MISSING_WORDS_MAX + 1];
    size_t len;
} words_out;

static void on_missing_word(const bk_help_word *word, void *data)
{
    words_out *out = data;
    if (out->len + (word->position ? 1 : 0) + word->len > MISSING_WORDS_MAX)
        return;
    if (word->position)
        out->text[out->len++] = ' ';
    memcpy(out->text + out->len, word->text, word->len);
    out->len += word->len;
    out->text[out->len] = '\0';
}

void help_missing_count(bk_help *help, const char *site, const char *lang, const char *query, size_t len)
{
    words_out words = { .len = 0 };
    bk_help_words(NULL, query, len, 16, on_missing_word, &words);  /* lowercased, not stemmed */
    if (!words.len)
        return;
    char key[BK_ID_MAX + 8 + MISSING_WORDS_MAX + 2];
    snprintf(key, sizeof key, "%s %s %s", site, lang, words.text);
    uintptr_t n = (uintptr_t)bk_map_get(help->missing, key);
    if (n == 0 && bk_map_size(help->missing) >= MISSING_PER_FLUSH)
        return;
    bk_map_set(help->missing, key, (void *)(n + 1));
}

/* ---- the flush ------------------------------------------------------------------------------ */

typedef struct flush_args {
    const char **argv;
    char (*numbers)[24];
    int argc;
} flush_args;

static void flush_add(const char *key, void *value, void *data)
{
    flush_args *a = data;
    snprintf(a->numbers[a->argc], sizeof a->numbers[a->argc], "%lu", (unsigned long)(uintptr_t)value);
    a->argv[a->argc] = key;
    a->argv[a->argc + 1] = a->numbers[a->argc];
    a->argc += 2;
}

static void on_flushed(redisReply *reply, void *data)
{
    (void)data;
    long long ok;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_INTEGER, &ok) != 0)
        bk_warn("help: the self-service counters of the last seconds could not be stored");
}

static void counters_flush(bk_help *help)
{
    size_t counters = bk_map_size(help->counts), missing = bk_map_size(help->missing);
    if (counters + missing == 0)
        return;
    int argc = 3 + 2 * (int)(counters + missing);
    const char **argv = calloc((size_t)argc, sizeof *argv);
    char (*numbers)[24] = calloc((size_t)argc, sizeof *numbers);
    if (argv && numbers) {
        char day[16], count[24];
        time_t now = (time_t)(bk_now_ms() / 1000);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(day, sizeof day, "%Y%m%d", &tm);
        snprintf(count, sizeof count, "%zu", counters);
        argv[0] = help->prefix;
        argv[1] = day;
        argv[2] = count;
        flush_args a = { .argv = argv, .numbers = numbers, .argc = 3 };
        bk_map_each(help->counts, flush_add, &a);
        bk_map_each(help->missing, flush_add, &a);
        if (bk_store_script(help->server->store, help->scripts[HELP_SCRIPT_STATS_ADD], on_flushed, NULL, 0, a.argc,
                            argv, NULL) != 0)
            bk_warn("help: redis is away; %zu self-service counters dropped", counters + missing);
    }
    free(argv);
    free(numbers);
    /* what could not be stored is dropped: counting never grows a node's memory without bound */
    bk_map_free(help->counts);
    bk_map_free(help->missing);
    help->counts = bk_map_new();
    help->missing = bk_map_new();
}

/* ---- chats avoided -------------------------------------------------------------------------- */

static void on_avoided(redisReply *reply, void *data)
{
    bk_help *help = data;
    const redisReply *sites;
    size_t at;
    const char *site;
    if (!help->counts || bk_redis_reply_unpack(reply, BK_SHAPE_HELP_SITES, &sites, &at) != 0)
        return;
    while (bk_redis_reply_unpack_next(sites, &at, BK_SHAPE_HELP_SITE, &site) == 0)
        if (bk_id_valid(site))
            bk_help_count(help, site, "chats_avoided");
}

static void avoided_sweep(bk_help *help)
{
    const bk_server *server = help->server;
    char now[24], window[24], prefix[BK_KEYS_PREFIX_SIZE];
    snprintf(now, sizeof now, "%lld", (long long)bk_now_ms());
    snprintf(window, sizeof window, "%d", AVOID_WINDOW_MS);
    for (size_t i = 0; i < server->slot_count; i++) {
        bk_keys_site_prefix(server->config->prefix, server->slot_tags[i], prefix);
        const char *argv[] = { prefix, now, window };
        if (bk_store_script(server->store, help->scripts[HELP_SCRIPT_AVOIDED], on_avoided, help, 0, 3, argv, NULL) != 0)
            return;
    }
}

static void on_flush_timer(uv_timer_t *timer)
{
    bk_help *help = timer->data;
    counters_flush(help);
    if (++help->flush_ticks % AVOID_EVERY == 0)
        avoided_sweep(help);
}

void help_counters_start(bk_help *help)
{
    uv_timer_init(help->server->loop, &help->flush_timer);
    help->flush_timer.data = help;
    uint64_t every = (uint64_t)help->server->config->stats_flush_seconds * 1000;
    uv_timer_start(&help->flush_timer, on_flush_timer, every, every);
}

void help_counters_stop(bk_help *help)
{
    counters_flush(help);  /* the last seconds' counts, while Redis is still there */
    uv_close((uv_handle_t *)&help->flush_timer, NULL);
}

void help_counters_free(bk_help *help)
{
    bk_map_free(help->counts);
    bk_map_free(help->missing);
    help->counts = help->missing = NULL;
}

/* ---- what a visitor saw --------------------------------------------------------------------- */

static void on_seen(redisReply *reply, void *data)
{
    (void)data;
    long long stored;
    bk_redis_reply_unpack(reply, BK_SHAPE_INTEGER, &stored);  /* best effort: a figure, not a promise */
}

void bk_help_seen(bk_help *help, const char *visitor_prefix, const char *visitor, const char *site,
                  const char *article, const char *how, int suggested)
{
    const char *title = bk_help_title(help, site, article);
    if (!title)
        return;
    long long now = (long long)bk_now_ms();
    json_t *seen = json_pack("{s:s, s:s, s:s, s:I}", "id", article, "title", title, "how", how, "ts", (json_int_t)now);
    char *text = seen ? json_dumps(seen, JSON_COMPACT) : NULL;
    char now_text[24];
    snprintf(now_text, sizeof now_text, "%lld", now);
    const char *argv[] = { visitor_prefix, visitor, text, now_text,
                           suggested && strcmp(how, "helped") == 0 ? "1" : "0" };
    if (text)
        bk_store_script(help->server->store, help->scripts[HELP_SCRIPT_SEEN], on_seen, NULL, 0, 5, argv, NULL);
    free(text);
    json_decref(seen);
}
