/* help.h - the node's help articles: an index per site and language in memory, so that a
 * visitor's search, suggestion or article never waits on Redis.
 *
 * Articles live in Redis (global slot: help:SITE:articles, :published, :meta, :history:ID;
 * docs/architecture.md); a change is announced on the bus ("!help SITE", lua/help_version.lua)
 * and every node loads that site's published articles again (help_load.lua), parses their
 * Markdown and builds the site's indexes on libuv's thread pool, then swaps them in on the
 * loop: searches go on with the old indexes meanwhile. Each index has its own stemmer (they are
 * not thread-safe), used by the thread that builds it, then only by the loop.
 *
 * The self-service figures are counted here too (help_counters.c): in memory, added to Redis
 * every few seconds (help_stats_add.lua). */
#ifndef BK_HELP_H
#define BK_HELP_H

#include "server.h"

#include <jansson.h>
#include <stddef.h>

#define BK_HELP_TITLE_MAX   200
#define BK_HELP_CATEGORY_MAX 64
#define BK_HELP_SUGGEST_MAX 3     /* suggestions shown above the composer */
/* A suggestion is shown only this relevant (help_index.h): a third of a perfect match. Tuned on
 * the corpus of tests/unit/help_corpus.json (test_help_search). */
#define BK_HELP_SUGGEST_RELEVANCE 0.3

typedef struct bk_help bk_help;

/* Registers the scripts (before bk_store_start). NULL: out of memory. */
bk_help *bk_help_new(bk_server *server);
/* Stops the timers; builds in flight finish and are dropped. */
void bk_help_shutdown(bk_help *help);
void bk_help_free(bk_help *help);

/* "!help SITE" came on the bus: load that site again. */
void bk_help_reload(bk_help *help, const char *site);
/* The store is (back) up: every site with articles is loaded again (what was announced while
 * the bus was down was lost). */
void bk_help_reload_all(bk_help *help);

/* The visitor's search: {"query","lang","results":[{id,title,category,excerpt,relevance}],
 * "categories":[{name,count}]} in the visitor's language (lang as the visitor's tag: "da-DK";
 * a site with no article in it answers in English, else in the language it has most of).
 * An empty query (no words) lists the articles (of category, when given), at most max.
 * suggest: only those over BK_HELP_SUGGEST_RELEVANCE, at most BK_HELP_SUGGEST_MAX. typing: the
 * query's last word may be unfinished. Counts the search (not suggestions) and, when it found
 * nothing, its words. A new reference. */
json_t *bk_help_search(bk_help *help, const char *site, const char *lang, const char *query, size_t len,
                       const char *category, int suggest, int typing, size_t max);
/* A published article as the widget draws it: {id,title,category,lang,blocks}, or NULL. Counts
 * a view when counted is set. A new reference. */
json_t *bk_help_article(bk_help *help, const char *site, const char *id, int counted);

/* A published article's title, or NULL (no such article, a draft): valid until the site is
 * indexed again (the next turn of the loop at the earliest). */
const char *bk_help_title(const bk_help *help, const char *site, const char *id);

/* Counters (help_counters.c): site's "searches", "suggested", "views", "helped", "not_helped",
 * "chats_avoided" and the searches that found nothing. */
void bk_help_count(bk_help *help, const char *site, const char *counter);
/* What a visitor saw (how: "suggested", "viewed", "helped", "not_helped"), kept with the visitor
 * for the agent (lua/help_seen.lua); a suggestion that helped starts the chats-avoided clock. */
void bk_help_seen(bk_help *help, const char *visitor_prefix, const char *visitor, const char *site,
                  const char *article, const char *how, int suggested);

/* Bytes the site's indexes hold and the time the last build of it took (benchmarks, /metrics). */
size_t bk_help_memory(const bk_help *help, const char *site);
double bk_help_last_build_ms(const bk_help *help);

#endif
