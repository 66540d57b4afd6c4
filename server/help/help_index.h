/* help_index.h - a search index of help articles in one language: BM25F over title (weighted)
 * and body, with the words stemmed (help_text.h), pairs of adjacent words indexed as phrases
 * (a query's phrase found in an article counts extra), one typo forgiven in words of
 * BK_HELP_TYPO_LETTERS letters or more, and the last word of a query taken as a prefix while
 * the visitor is still typing it. Held in memory, built once, read many times; no I/O and no
 * locks (the loop's thread only). */
#ifndef BK_HELP_INDEX_H
#define BK_HELP_INDEX_H

#include "help/help_text.h"

#include <stddef.h>

#define BK_HELP_QUERY_WORDS  32   /* words of a query read; the rest are ignored */
#define BK_HELP_TYPO_LETTERS 4    /* shorter words must be spelt right */

typedef struct bk_help_index bk_help_index;

typedef struct bk_help_hit {
    size_t doc;         /* the article's number in the index (bk_help_index_add's) */
    double score;       /* BM25F, phrases and typos included */
    double relevance;   /* score against what a perfect match of this query scores: 0..1 */
} bk_help_hit;

/* stemmer is borrowed: it must outlive the index. NULL: out of memory. */
bk_help_index *bk_help_index_new(bk_help_stemmer *stemmer);
void bk_help_index_free(bk_help_index *index);

/* Adds an article; its number (0, 1, ... in the order added), or -1: out of memory. category may
 * be "" (none). Call bk_help_index_finish after the last add, before searching. */
long bk_help_index_add(bk_help_index *index, const char *title, const char *category, const char *text,
                       size_t text_len);
void bk_help_index_finish(bk_help_index *index);

size_t bk_help_index_count(const bk_help_index *index);
/* Bytes the index holds (postings, terms, their map, the articles' numbers), about. */
size_t bk_help_index_memory(const bk_help_index *index);

/* The best articles for query[0..len), best first, at most max (and at most 64), only those of
 * category when it is not NULL. typing: the query's last word may be unfinished (a prefix).
 * Any text is a query: no words (punctuation, emptiness) finds nothing. Returns the count. */
size_t bk_help_index_search(bk_help_index *index, const char *query, size_t len, int typing,
                            const char *category, bk_help_hit *hits, size_t max);

#endif
