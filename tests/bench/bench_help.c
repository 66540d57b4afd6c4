/* bench_help.c - the help search's figures (docs/benchmarks.md, "Help search"): for 1 000 and
 * 10 000 articles, the time to build a language's index as a node does (cmark parse + index, on
 * the thread pool), the index's memory, and the latency of searches (p50, p99, max) over
 * queries of 1-6 words as visitors type them: whole words, an unfinished last word, a typo.
 * Synthetic articles: titles and bodies of words drawn from a Zipf-like vocabulary of 30 000
 * made-up words plus the English corpus's (tests/unit/help_corpus.json).
 *   ninja -C build tests/bench/bench_help && flock /tmp/beckon-bench.lock build/tests/bench/bench_help */
#include "help/help_index.h"
#include "help/help_markdown.h"
#include "help/help_text.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define VOCABULARY 30000
#define QUERIES    20000

static uint64_t state = 88172645463325252ull;
static uint64_t next(void)
{
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
}

static char vocabulary[VOCABULARY][16];
static double cumulative[VOCABULARY];

static void vocabulary_make(void)
{
    static const char *syllables[] = { "ka", "re", "to", "mi", "sa", "lo", "ne", "vi", "da", "pu", "ri", "ge",
                                       "ship", "turn", "pay", "card", "or", "der", "fund", "pass" };
    double total = 0;
    for (int i = 0; i < VOCABULARY; i++) {
        int n = 2 + (int)(next() % 3);
        vocabulary[i][0] = '\0';
        for (int k = 0; k < n; k++)
            strcat(vocabulary[i], syllables[next() % 20]);
        total += 1.0 / pow(i + 1, 1.07);  /* Zipf: a few words are everywhere, most are rare */
        cumulative[i] = total;
    }
    for (int i = 0; i < VOCABULARY; i++)
        cumulative[i] /= total;
}

static const char *word_draw(void)
{
    double r = (double)(next() % 1000000) / 1000000.0;
    size_t lo = 0, hi = VOCABULARY - 1;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cumulative[mid] < r)
            lo = mid + 1;
        else
            hi = mid;
    }
    return vocabulary[lo];
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void run(size_t articles)
{
    /* the articles' Markdown, made first: the build is timed alone */
    char **titles = calloc(articles, sizeof *titles), **bodies = calloc(articles, sizeof *bodies);
    for (size_t a = 0; a < articles; a++) {
        char title[256] = "";
        for (int w = 0, n = 3 + (int)(next() % 5); w < n; w++) {
            strcat(title, word_draw());
            strcat(title, " ");
        }
        titles[a] = strdup(title);
        size_t words = 80 + next() % 400, size = words * 20 + 256, len = 0;
        char *body = malloc(size);
        len += (size_t)snprintf(body + len, size - len, "## %s\n\n", word_draw());
        for (size_t w = 0; w < words; w++) {
            const char *word = word_draw();
            len += (size_t)snprintf(body + len, size - len, w % 40 == 39 ? "%s\n\n" : w % 17 == 5 ? "**%s** " :
                                    w % 53 == 7 ? "- %s\n" : "%s ", word);
        }
        bodies[a] = body;
    }
    bk_help_stemmer *stemmer = bk_help_stemmer_new("en");
    double start = now_ms();
    bk_help_index *index = bk_help_index_new(stemmer);
    for (size_t a = 0; a < articles; a++) {
        bk_help_parsed parsed;
        bk_help_markdown_parse(bodies[a], strlen(bodies[a]), NULL, &parsed);
        bk_help_index_add(index, titles[a], a % 7 ? "General" : "Orders", parsed.text, parsed.text_len);
        bk_help_parsed_free(&parsed);
    }
    bk_help_index_finish(index);
    double build = now_ms() - start;
    /* queries as visitors type them */
    double *times = malloc(QUERIES * sizeof *times);
    size_t found = 0;
    for (int q = 0; q < QUERIES; q++) {
        char query[256] = "";
        int n = 1 + (int)(next() % 6), kind = (int)(next() % 4);
        for (int w = 0; w < n; w++) {
            strcat(query, word_draw());
            if (w + 1 < n)
                strcat(query, " ");
        }
        size_t len = strlen(query);
        if (kind == 1 && len > 6)
            query[--len] = '\0', query[len - 1] = 'x';            /* a typo */
        else if (kind == 2 && len > 6)
            query[len -= 2] = '\0';                               /* still typing */
        bk_help_hit hits[10];
        double t0 = now_ms();
        found += bk_help_index_search(index, query, len, kind == 2, NULL, hits, 10) > 0;
        times[q] = now_ms() - t0;
    }
    qsort(times, QUERIES, sizeof *times, by_value);
    printf("| %6zu articles | build %7.1f ms | index %6.1f MiB | search p50 %.3f ms, p99 %.3f ms, max %.3f ms | %zu of %d found |\n",
           articles, build, (double)bk_help_index_memory(index) / (1024.0 * 1024.0), times[QUERIES / 2],
           times[QUERIES * 99 / 100], times[QUERIES - 1], found, QUERIES);
    free(times);
    bk_help_index_free(index);
    bk_help_stemmer_free(stemmer);
    for (size_t a = 0; a < articles; a++) {
        free(titles[a]);
        free(bodies[a]);
    }
    free(titles);
    free(bodies);
}

int main(void)
{
    vocabulary_make();
    printf("help search, one language's index on one core (%d queries of 1-6 words: whole, a typo, unfinished)\n",
           QUERIES);
    run(1000);
    run(10000);
    return 0;
}
