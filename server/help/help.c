/* help.c - the sites' articles and indexes on this node: loaded, built off the loop, searched. */
#include "help/help_internal.h"

#include "help/help_index.h"
#include "help/help_markdown.h"
#include "help/help_text.h"
#include "base/ids.h"
#include "base/log.h"
#include "lua/embedded.h"
#include "store/redis_reply.h"
#include "store/redis_shapes.h"

#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXCERPT_MAX   160   /* bytes of an article's first words shown under its title */
#define LIST_MAX      50    /* articles an empty query lists */
#define LANGUAGES_MAX 16    /* languages of one site's articles */

typedef struct help_article {
    char *id, *title, *category, *excerpt;
    char *blocks;               /* the body's blocks as JSON text: a tree of jansson objects costs
                                 * several times more (measured: 182 MiB of RSS for 10 000 articles) */
} help_article;

typedef struct help_language {
    char lang[4];
    bk_help_stemmer *stemmer;   /* this index's own: used by the build's thread, then the loop's */
    bk_help_index *index;
    help_article **articles;    /* by their number in the index */
    size_t count;
    json_t *categories;         /* [{name, count}] by name */
} help_language;

/* A site's articles as one build made them: never changed, replaced whole. */
typedef struct help_built {
    help_language languages[LANGUAGES_MAX];
    size_t language_count;
    help_article *articles;
    size_t article_count;
    bk_map *by_id;              /* id -> help_article */
    size_t memory;              /* the indexes' bytes */
    size_t kept;                /* the articles' (their blocks, titles, excerpts), about */
} help_built;

typedef struct help_site {
    help_built *built;          /* NULL until the first build */
    int loading, stale;
} help_site;

typedef struct build_job {
    uv_work_t work;
    bk_help *help;
    char site[BK_ID_MAX + 1];
    char **origins;             /* NULL-terminated */
    char **texts;               /* the articles' JSON */
    size_t count;
    help_built *built;
    double ms;
} build_job;

/* ---- a build -------------------------------------------------------------------------------- */

static void built_free(help_built *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->language_count; i++) {
        help_language *l = &b->languages[i];
        bk_help_index_free(l->index);
        bk_help_stemmer_free(l->stemmer);
        free(l->articles);
        json_decref(l->categories);
    }
    for (size_t i = 0; i < b->article_count; i++) {
        help_article *a = &b->articles[i];
        free(a->id);
        free(a->title);
        free(a->category);
        free(a->excerpt);
        free(a->blocks);
    }
    free(b->articles);
    bk_map_free(b->by_id);
    free(b);
}

/* The first words of text, cut between words, at most EXCERPT_MAX bytes. */
static char *excerpt_of(const char *text, size_t len)
{
    size_t n = len < EXCERPT_MAX ? len : EXCERPT_MAX;
    if (n < len) {
        while (n > 0 && text[n] != ' ' && text[n] != '\n')
            n--;
        if (n == 0)
            n = EXCERPT_MAX;
        while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80)
            n--;  /* never inside a character */
    }
    char *out = malloc(n + 2 + 3);
    if (!out)
        return NULL;
    memcpy(out, text, n);
    for (size_t i = 0; i < n; i++)
        if (out[i] == '\n')
            out[i] = ' ';
    strcpy(out + n, n < len ? "…" : "");
    return out;
}

static int article_order(const void *a, const void *b)
{
    const help_article *x = *(help_article *const *)a, *y = *(help_article *const *)b;
    int c = strcmp(x->category, y->category);
    return c ? c : strcmp(x->title, y->title);
}

static help_language *language_of(help_built *b, const char *lang)
{
    for (size_t i = 0; i < b->language_count; i++)
        if (strcmp(b->languages[i].lang, lang) == 0)
            return &b->languages[i];
    if (b->language_count == LANGUAGES_MAX)
        return NULL;
    help_language *l = &b->languages[b->language_count];
    memset(l, 0, sizeof *l);
    snprintf(l->lang, sizeof l->lang, "%s", lang);
    l->stemmer = bk_help_stemmer_new(lang);
    l->index = l->stemmer ? bk_help_index_new(l->stemmer) : NULL;
    l->articles = calloc(1, sizeof *l->articles);
    if (!l->index || !l->articles) {
        bk_help_index_free(l->index);
        bk_help_stemmer_free(l->stemmer);
        free(l->articles);
        return NULL;
    }
    b->language_count++;
    return l;
}

/* An article of Redis into b->articles (and its language's list): 0, or -1 to skip it. */
static int article_read(help_built *b, const char *text, const char *const *origins, char **body_text,
                        size_t *body_len)
{
    json_t *json = json_loads(text, 0, NULL);
    const char *id = json_string_value(json_object_get(json, "id"));
    const char *title = json_string_value(json_object_get(json, "title"));
    const char *body = json_string_value(json_object_get(json, "body"));
    const char *category = json_string_value(json_object_get(json, "category"));
    char lang[4];
    bk_help_lang_normalize(json_string_value(json_object_get(json, "lang")), lang);
    bk_help_parsed parsed;
    if (!id || !title || !body || !lang[0] ||
        bk_help_markdown_parse(body, strlen(body), origins, &parsed) != 0) {
        if (id && title && body && lang[0])
            bk_help_parsed_free(&parsed);
        json_decref(json);
        return -1;
    }
    help_language *l = language_of(b, lang);
    help_article *a = &b->articles[b->article_count];
    a->id = strdup(id);
    a->title = strdup(title);
    a->category = strdup(category ? category : "");
    a->excerpt = excerpt_of(parsed.text, parsed.text_len);
    a->blocks = json_dumps(parsed.blocks, JSON_COMPACT);
    help_article **grown = l ? realloc(l->articles, (l->count + 1) * sizeof *grown) : NULL;
    int ok = l && grown && a->id && a->title && a->category && a->excerpt && a->blocks &&
             bk_map_set(b->by_id, a->id, a) == 0;
    if (grown)
        l->articles = grown;
    if (ok) {
        l->articles[l->count++] = a;
        b->article_count++;
        *body_text = parsed.text;
        *body_len = parsed.text_len;
        parsed.text = NULL;
    } else {
        free(a->id);
        free(a->title);
        free(a->category);
        free(a->excerpt);
        free(a->blocks);
        memset(a, 0, sizeof *a);
    }
    bk_help_parsed_free(&parsed);
    json_decref(json);
    return ok ? 0 : -1;
}

static help_built *build(char **texts, size_t count, const char *const *origins)
{
    help_built *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->articles = calloc(count ? count : 1, sizeof *b->articles);
    b->by_id = bk_map_new();
    char **bodies = calloc(count ? count : 1, sizeof *bodies);
    size_t *lengths = calloc(count ? count : 1, sizeof *lengths);
    if (!b->articles || !b->by_id || !bodies || !lengths) {
        free(bodies);
        free(lengths);
        built_free(b);
        return NULL;
    }
    int failed = 0;
    for (size_t i = 0; i < count; i++) {
        size_t at = b->article_count;
        if (article_read(b, texts[i], origins, &bodies[at], &lengths[at]) != 0)
            bk_warn("a help article in redis could not be read, skipped");
    }
    /* Each language's articles in order (category, title): how lists show them, and how a
     * search breaks ties. Then indexed in that order, their numbers the list's. */
    for (size_t i = 0; i < b->language_count; i++) {
        help_language *l = &b->languages[i];
        qsort(l->articles, l->count, sizeof *l->articles, article_order);
        l->categories = json_array();
        for (size_t k = 0; k < l->count; k++) {
            help_article *a = l->articles[k];
            size_t at = (size_t)(a - b->articles);
            /* the index numbers its articles in the order added: they must stay l->articles' */
            if (bk_help_index_add(l->index, a->title, a->category, bodies[at], lengths[at]) != (long)k)
                failed = 1;
            json_t *last = json_array_get(l->categories, json_array_size(l->categories) - 1);
            if (a->category[0] && (!last || strcmp(json_string_value(json_object_get(last, "name")), a->category) != 0))
                json_array_append_new(l->categories, json_pack("{s:s, s:i}", "name", a->category, "count", 0));
            last = json_array_get(l->categories, json_array_size(l->categories) - 1);
            if (a->category[0])
                json_object_set_new(last, "count",
                                    json_integer(json_integer_value(json_object_get(last, "count")) + 1));
        }
        bk_help_index_finish(l->index);
        b->memory += bk_help_index_memory(l->index);
        for (size_t k = 0; k < l->count; k++)
            b->kept += strlen(l->articles[k]->blocks) + strlen(l->articles[k]->excerpt) +
                       strlen(l->articles[k]->title) + strlen(l->articles[k]->id) + sizeof(help_article) + 64;
    }
    for (size_t i = 0; i < count; i++)
        free(bodies[i]);
    free(bodies);
    free(lengths);
    if (failed) {  /* out of memory: the index in use stays */
        built_free(b);
        return NULL;
    }
    return b;
}

static void build_run(uv_work_t *work)
{
    build_job *j = work->data;
    uint64_t start = uv_hrtime();
    j->built = build(j->texts, j->count, (const char *const *)j->origins);
    j->ms = (double)(uv_hrtime() - start) / 1e6;
}

static void job_free(build_job *j)
{
    for (size_t i = 0; i < j->count; i++)
        free(j->texts[i]);
    free(j->texts);
    for (size_t i = 0; j->origins && j->origins[i]; i++)
        free(j->origins[i]);
    free(j->origins);
    built_free(j->built);
    free(j);
}

static void site_load(bk_help *help, const char *site);

/* The build's scratch (the articles' JSON, cmark's trees, the words) was allocated on a pool
 * thread, whose malloc arena keeps what it freed: given back, the node's RSS grows only by what
 * it holds (measured at 10 000 articles: 72 MiB instead of 131, docs/help.md). On the pool too:
 * walking the arenas takes milliseconds (8 ms at 10 000 articles). */
static void trim_run(uv_work_t *work)
{
    (void)work;
    malloc_trim(0);
}

static void trim_done(uv_work_t *work, int status)
{
    (void)status;
    bk_help *help = work->data;
    help->trimming = 0;
}

static void build_done(uv_work_t *work, int status)
{
    build_job *j = work->data;
    bk_help *help = j->help;
    help->builds--;
    help_site *s = bk_map_get(help->sites, j->site);
    if (status == 0 && j->built && s && !help->stopping) {
        built_free(s->built);
        s->built = j->built;
        j->built = NULL;
        help->last_build_ms = j->ms;
        bk_info("help: %s: %zu articles indexed in %.1f ms (index %zu KiB, articles %zu KiB)", j->site,
                s->built->article_count, j->ms, s->built->memory / 1024, s->built->kept / 1024);
    } else if (!help->stopping) {
        bk_warn("help: %s: could not build the index; keeping the one in use", j->site);
    }
    if (s) {
        s->loading = 0;
        if (s->stale && !help->stopping) {
            s->stale = 0;
            site_load(help, j->site);
        }
    }
    job_free(j);
    if (help->builds == 0 && !help->trimming && !help->stopping &&
        uv_queue_work(help->server->loop, &help->trim, trim_run, trim_done) == 0)
        help->trimming = 1;
}

/* ---- loading -------------------------------------------------------------------------------- */

static char **origins_copy(const char *json_text)
{
    json_t *list = json_loads(json_text, 0, NULL);
    size_t n = json_is_array(list) ? json_array_size(list) : 0;
    char **out = calloc(n + 1, sizeof *out);
    for (size_t i = 0, k = 0; out && i < n; i++)
        if (json_is_string(json_array_get(list, i)))
            out[k++] = strdup(json_string_value(json_array_get(list, i)));
    json_decref(list);
    return out;
}

typedef struct load_call {
    bk_help *help;
    char site[BK_ID_MAX + 1];
} load_call;

static void on_loaded(redisReply *reply, void *data)
{
    load_call *call = data;
    bk_help *help = call->help;
    help_site *s = bk_map_get(help->sites, call->site);
    const redisReply *articles;
    size_t at;
    const char *origins, *id, *text;
    build_job *j = NULL;
    if (!s || help->stopping) {
        free(call);
        return;
    }
    if (bk_redis_reply_unpack(reply, BK_SHAPE_HELP_LOAD, &origins, &articles, &at) != 0) {
        bk_warn("help: %s: could not load the articles from redis; keeping the ones in use", call->site);
    } else if ((j = calloc(1, sizeof *j)) != NULL) {
        j->help = help;
        snprintf(j->site, sizeof j->site, "%s", call->site);
        j->origins = origins_copy(origins);
        j->texts = calloc(articles->elements / 2 + 1, sizeof *j->texts);
        while (j->texts && j->origins &&
               bk_redis_reply_unpack_next(articles, &at, BK_SHAPE_HELP_ARTICLE, &id, &text) == 0)
            if ((j->texts[j->count] = strdup(text)) != NULL)
                j->count++;
        j->work.data = j;
        if (!j->texts || !j->origins || uv_queue_work(help->server->loop, &j->work, build_run, build_done) != 0) {
            job_free(j);
            j = NULL;
        } else {
            help->builds++;
        }
    }
    if (!j) {
        s->loading = 0;
        if (s->stale) {
            s->stale = 0;
            site_load(help, call->site);
        }
    }
    free(call);
}

static void site_load(bk_help *help, const char *site)
{
    help_site *s = bk_map_get(help->sites, site);
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s || bk_map_set(help->sites, site, s) != 0) {
            free(s);
            return;
        }
    }
    if (s->loading) {
        s->stale = 1;  /* the load in flight may have read Redis before this change: again after */
        return;
    }
    load_call *call = calloc(1, sizeof *call);
    if (!call)
        return;
    call->help = help;
    snprintf(call->site, sizeof call->site, "%s", site);
    const char *argv[] = { help->prefix, site };
    if (bk_store_script(help->server->store, help->scripts[HELP_SCRIPT_LOAD], on_loaded, call, 0, 2, argv, NULL) != 0) {
        free(call);
        return;  /* Redis is away: bk_help_reload_all runs when it is back */
    }
    s->loading = 1;
}

void bk_help_reload(bk_help *help, const char *site)
{
    if (!help->stopping && bk_id_valid(site))
        site_load(help, site);
}

static void on_sites(redisReply *reply, void *data)
{
    bk_help *help = data;
    const redisReply *sites;
    size_t at;
    const char *site;
    if (help->stopping || bk_redis_reply_unpack(reply, BK_SHAPE_HELP_SITES, &sites, &at) != 0)
        return;
    while (bk_redis_reply_unpack_next(sites, &at, BK_SHAPE_HELP_SITE, &site) == 0)
        bk_help_reload(help, site);
}

void bk_help_reload_all(bk_help *help)
{
    if (help->stopping)
        return;
    char key[BK_KEYS_PREFIX_SIZE + 16];
    snprintf(key, sizeof key, "%shelp:sites", help->prefix);
    const char *argv[] = { "SMEMBERS", key };
    bk_store_command(help->server->store, on_sites, help, 2, argv, NULL);
}

/* ---- searching ------------------------------------------------------------------------------ */

static const help_built *built_of(const bk_help *help, const char *site)
{
    const help_site *s = site ? bk_map_get(help->sites, site) : NULL;
    return s ? s->built : NULL;
}

/* The visitor's language if the site has articles in it, else English, else the language the
 * site has most articles in. */
static const help_language *language_for(const help_built *b, const char *tag)
{
    char lang[4];
    bk_help_lang_normalize(tag, lang);
    const help_language *english = NULL, *most = NULL;
    for (size_t i = 0; b && i < b->language_count; i++) {
        const help_language *l = &b->languages[i];
        if (strcmp(l->lang, lang) == 0)
            return l;
        if (strcmp(l->lang, "en") == 0)
            english = l;
        if (!most || l->count > most->count)
            most = l;
    }
    return english ? english : most;
}

static json_t *result_of(const help_article *a, double relevance)
{
    json_t *r = json_pack("{s:s, s:s, s:s, s:s}", "id", a->id, "title", a->title, "category", a->category,
                          "excerpt", a->excerpt);
    if (relevance >= 0)
        json_object_set_new(r, "relevance", json_real(round(relevance * 1000) / 1000));
    return r;
}

static void on_any_word(const bk_help_word *word, void *data)
{
    (void)word;
    *(int *)data = 1;
}

json_t *bk_help_search(bk_help *help, const char *site, const char *lang, const char *query, size_t len,
                       const char *category, int suggest, int typing, size_t max)
{
    const help_language *l = language_for(built_of(help, site), lang);
    json_t *results = json_array();
    json_t *reply = json_pack("{s:s%, s:s, s:o}", "query", query ? query : "", query ? len : (size_t)0,
                              "lang", l ? l->lang : "", "results", results);
    if (!reply)
        return NULL;
    json_object_set_new(reply, "categories", l && l->categories ? json_incref(l->categories) : json_array());
    int words = 0;
    if (query)
        bk_help_words(NULL, query, len, 1, on_any_word, &words);
    if (suggest)
        max = max < BK_HELP_SUGGEST_MAX ? max : BK_HELP_SUGGEST_MAX;
    if (!l || max == 0)
        return reply;
    if (!words) {
        if (suggest)
            return reply;
        for (size_t i = 0; i < l->count && json_array_size(results) < (max < LIST_MAX ? max : LIST_MAX); i++)
            if (!category || strcmp(l->articles[i]->category, category) == 0)
                json_array_append_new(results, result_of(l->articles[i], -1));
        return reply;
    }
    bk_help_hit hits[64];
    size_t count = bk_help_index_search(l->index, query, len, typing, category, hits, max);
    for (size_t i = 0; i < count; i++)
        if (!suggest || hits[i].relevance >= BK_HELP_SUGGEST_RELEVANCE)
            json_array_append_new(results, result_of(l->articles[hits[i].doc], hits[i].relevance));
    if (suggest) {
        if (json_array_size(results) > 0)
            bk_help_count(help, site, "suggested");
    } else {
        bk_help_count(help, site, "searches");
        if (count == 0) {
            bk_help_count(help, site, "no_result");
            help_missing_count(help, site, l->lang, query, len);
        }
    }
    return reply;
}

/* A published article of the site, and its language's name, or NULL. */
static const help_article *article_find(const bk_help *help, const char *site, const char *id, const char **lang)
{
    const help_built *b = built_of(help, site);
    const help_article *a = b && id ? bk_map_get(b->by_id, id) : NULL;
    for (size_t i = 0; a && lang && i < b->language_count; i++)
        for (size_t k = 0; k < b->languages[i].count; k++)
            if (b->languages[i].articles[k] == a)
                *lang = b->languages[i].lang;
    return a;
}

const char *bk_help_title(const bk_help *help, const char *site, const char *id)
{
    const help_article *a = article_find(help, site, id, NULL);
    return a ? a->title : NULL;
}

json_t *bk_help_article(bk_help *help, const char *site, const char *id, int counted)
{
    const char *lang = "";
    const help_article *a = article_find(help, site, id, &lang);
    json_t *blocks = a ? json_loads(a->blocks, 0, NULL) : NULL;
    if (!blocks)
        return NULL;
    if (counted)
        bk_help_count(help, site, "views");
    return json_pack("{s:s, s:s, s:s, s:s, s:o}", "id", a->id, "title", a->title, "category", a->category,
                     "lang", lang, "blocks", blocks);
}

size_t bk_help_memory(const bk_help *help, const char *site)
{
    const help_built *b = built_of(help, site);
    return b ? b->memory : 0;
}

double bk_help_last_build_ms(const bk_help *help)
{
    return help->last_build_ms;
}

/* ---- the module ----------------------------------------------------------------------------- */

bk_help *bk_help_new(bk_server *server)
{
    bk_help *help = calloc(1, sizeof *help);
    if (!help)
        return NULL;
    help->server = server;
    help->trim.data = help;
    help->sites = bk_map_new();
    help->counts = bk_map_new();
    help->missing = bk_map_new();
    if (!help->sites || !help->counts || !help->missing) {
        bk_map_free(help->sites);
        bk_map_free(help->counts);
        bk_map_free(help->missing);
        free(help);
        return NULL;
    }
    bk_keys_global_prefix(server->config->prefix, help->prefix);
    const char *const sources[HELP_SCRIPT_COUNT] = {
        [HELP_SCRIPT_LOAD] = bk_lua_help_load,
        [HELP_SCRIPT_STATS_ADD] = bk_lua_help_stats_add,
        [HELP_SCRIPT_SEEN] = bk_lua_help_seen,
        [HELP_SCRIPT_AVOIDED] = bk_lua_help_avoided,
    };
    for (int i = 0; i < HELP_SCRIPT_COUNT; i++)
        help->scripts[i] = bk_store_script_add(server->store, sources[i]);
    help_counters_start(help);
    return help;
}

void bk_help_shutdown(bk_help *help)
{
    if (!help || help->stopping)
        return;
    help->stopping = 1;
    help_counters_stop(help);
}

static void site_free(const char *key, void *value, void *data)
{
    (void)key;
    (void)data;
    help_site *s = value;
    built_free(s->built);
    free(s);
}

void bk_help_free(bk_help *help)
{
    if (!help)
        return;
    bk_map_each(help->sites, site_free, NULL);
    bk_map_free(help->sites);
    help_counters_free(help);
    free(help);
}
