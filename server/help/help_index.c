/* help_index.c - postings per term (word stems and adjacent pairs), BM25F at query time. */
#include "help/help_index.h"

#include "base/map.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define K1            1.2
#define B             0.75
#define TITLE_WEIGHT  3.0   /* a word of the title counts as three of the body */
#define PHRASE_WEIGHT 0.5   /* a pair of the query's words found side by side, on top */
#define TYPO_WEIGHT   0.7   /* a word matched with one typo counts this much of an exact one */
#define PREFIX_WEIGHT 0.6   /* the unfinished last word matched by a longer word */
#define EXPANSIONS    16    /* words a typo or a prefix may stand for, at most */
#define HITS_MAX      64
#define CANDIDATES    256   /* articles whose phrases are looked at, the best by their words */
#define TITLE_SPAN    1024    /* positions below are the title's, from here the body's */
#define BODY_WORDS_MAX (UINT16_MAX - TITLE_SPAN)  /* a 32 KiB body has at most ~16 000 */

typedef struct posting {
    uint32_t doc;
    uint16_t title_tf, body_tf;
    uint32_t at;         /* its title_tf + body_tf positions start here in index->positions */
} posting;

typedef struct term {
    posting *postings;   /* by article, in the order added */
    uint32_t count, size;
    uint32_t letters;    /* the word's letters as written (its first occurrence), for typos */
    char text[];
} term;

typedef struct doc {
    uint32_t title_len, body_len;  /* in words */
    char *category;
} doc;

struct bk_help_index {
    bk_help_stemmer *stemmer;
    bk_map *terms;           /* text -> term */
    term **words;            /* every term, for typos and prefixes */
    size_t word_count, word_size;
    doc *docs;
    size_t doc_count, doc_size;
    double title_avg, body_avg;
    uint16_t *positions;     /* every posting's word positions, sorted within each */
    size_t position_count, position_size;
    size_t memory;
    /* a search's scratch, reused: a score per article, and the articles scored */
    double *scores;
    uint32_t *touched;
    size_t touched_count;
    bk_help_hit candidates[CANDIDATES];
};

bk_help_index *bk_help_index_new(bk_help_stemmer *stemmer)
{
    bk_help_index *index = calloc(1, sizeof *index);
    if (!index)
        return NULL;
    index->stemmer = stemmer;
    index->terms = bk_map_new();
    if (!index->terms) {
        free(index);
        return NULL;
    }
    index->memory = sizeof *index;
    return index;
}

static void term_free(const char *key, void *value, void *data)
{
    (void)key;
    (void)data;
    term *t = value;
    free(t->postings);
    free(t);
}

void bk_help_index_free(bk_help_index *index)
{
    if (!index)
        return;
    bk_map_each(index->terms, term_free, NULL);
    bk_map_free(index->terms);
    for (size_t i = 0; i < index->doc_count; i++)
        free(index->docs[i].category);
    free(index->docs);
    free(index->words);
    free(index->positions);
    free(index->scores);
    free(index->touched);
    free(index);
}

size_t bk_help_index_count(const bk_help_index *index)
{
    return index->doc_count;
}

size_t bk_help_index_memory(const bk_help_index *index)
{
    return index->memory;
}

/* ---- building ------------------------------------------------------------------------------- */

static term *term_get(bk_help_index *index, const char *text, size_t len, uint32_t letters)
{
    term *t = bk_map_get(index->terms, text);
    if (t)
        return t;
    t = calloc(1, sizeof *t + len + 1);
    if (!t)
        return NULL;
    memcpy(t->text, text, len);
    t->letters = letters;
    if (bk_map_set(index->terms, t->text, t) != 0) {
        free(t);
        return NULL;
    }
    index->memory += sizeof *t + len + 1 + sizeof(void *) * 3 + len + 1 + 16;  /* the term, its map entry */
    if (index->word_count == index->word_size) {
        size_t size = index->word_size ? 2 * index->word_size : 256;
        term **grown = realloc(index->words, size * sizeof *grown);
        if (!grown)
            return NULL;
        index->memory += (size - index->word_size) * sizeof *grown;
        index->words = grown;
        index->word_size = size;
    }
    index->words[index->word_count++] = t;
    return t;
}

/* A word of the article being added, where it stands (the title's positions first). */
typedef struct occurrence {
    term *t;
    uint32_t position;
} occurrence;

typedef struct adding {
    bk_help_index *index;
    occurrence *all;
    size_t count, size;
    uint32_t base;           /* 0 in the title, TITLE_SPAN in the body */
    uint32_t words;
    int failed;
} adding;

static void on_word_added(const bk_help_word *w, void *data)
{
    adding *a = data;
    term *t = term_get(a->index, w->text, w->len, w->letters ? (uint32_t)w->letters : 1);
    if (a->count == a->size) {
        size_t size = a->size ? 2 * a->size : 512;
        occurrence *grown = realloc(a->all, size * sizeof *grown);
        if (!grown) {
            a->failed = 1;
            return;
        }
        a->all = grown;
        a->size = size;
    }
    if (!t) {
        a->failed = 1;
        return;
    }
    a->all[a->count++] = (occurrence){ .t = t, .position = a->base + (uint32_t)w->position };
    a->words++;
}

static int by_term_then_position(const void *x, const void *y)
{
    const occurrence *a = x, *b = y;
    if (a->t != b->t)
        return (uintptr_t)a->t < (uintptr_t)b->t ? -1 : 1;
    return a->position < b->position ? -1 : a->position > b->position;
}

static int positions_add(bk_help_index *index, const occurrence *from, size_t n)
{
    if (index->position_count + n > index->position_size) {
        size_t size = index->position_size ? index->position_size : 4096;
        while (size < index->position_count + n)
            size *= 2;
        uint16_t *grown = realloc(index->positions, size * sizeof *grown);
        if (!grown)
            return -1;
        index->memory += (size - index->position_size) * sizeof *grown;
        index->positions = grown;
        index->position_size = size;
    }
    for (size_t i = 0; i < n; i++)
        index->positions[index->position_count++] = (uint16_t)from[i].position;
    return 0;
}

/* One posting for each word of the article, with its positions. */
static int postings_add(bk_help_index *index, uint32_t doc, occurrence *all, size_t count)
{
    qsort(all, count, sizeof *all, by_term_then_position);
    for (size_t i = 0; i < count;) {
        size_t n = 1;
        while (i + n < count && all[i + n].t == all[i].t)
            n++;
        term *t = all[i].t;
        if (t->count == t->size) {
            uint32_t size = t->size ? 2 * t->size : 2;
            posting *grown = realloc(t->postings, size * sizeof *grown);
            if (!grown)
                return -1;
            index->memory += (size - t->size) * sizeof *grown;
            t->postings = grown;
            t->size = size;
        }
        posting *p = &t->postings[t->count++];
        *p = (posting){ .doc = doc, .at = (uint32_t)index->position_count };
        for (size_t k = 0; k < n; k++) {
            if (all[i + k].position < TITLE_SPAN)
                p->title_tf++;
            else
                p->body_tf++;
        }
        if (positions_add(index, all + i, n) != 0)
            return -1;
        i += n;
    }
    return 0;
}

long bk_help_index_add(bk_help_index *index, const char *title, const char *category, const char *text,
                       size_t text_len)
{
    if (index->doc_count == index->doc_size) {
        size_t size = index->doc_size ? 2 * index->doc_size : 16;
        doc *grown = realloc(index->docs, size * sizeof *grown);
        if (!grown)
            return -1;
        index->memory += (size - index->doc_size) * sizeof *grown;
        index->docs = grown;
        index->doc_size = size;
    }
    doc *d = &index->docs[index->doc_count];
    *d = (doc){ .category = strdup(category ? category : "") };
    if (!d->category)
        return -1;
    index->memory += strlen(d->category) + 1;
    /* positions are 16 bits: a title's first TITLE_SPAN words, a body's next BODY_WORDS_MAX */
    adding a = { .index = index, .base = 0 };
    bk_help_words(index->stemmer, title, strlen(title), TITLE_SPAN, on_word_added, &a);
    d->title_len = a.words;
    a.base = TITLE_SPAN;
    a.words = 0;
    bk_help_words(index->stemmer, text, text_len, BODY_WORDS_MAX, on_word_added, &a);
    d->body_len = a.words;
    if (a.failed || postings_add(index, (uint32_t)index->doc_count, a.all, a.count) != 0) {
        free(a.all);
        free(d->category);
        return -1;
    }
    free(a.all);
    return (long)index->doc_count++;
}

void bk_help_index_finish(bk_help_index *index)
{
    double title = 0, body = 0;
    for (size_t i = 0; i < index->doc_count; i++) {
        title += index->docs[i].title_len;
        body += index->docs[i].body_len;
    }
    index->title_avg = index->doc_count && title > 0 ? title / (double)index->doc_count : 1;
    index->body_avg = index->doc_count && body > 0 ? body / (double)index->doc_count : 1;
    free(index->scores);
    free(index->touched);
    index->scores = calloc(index->doc_count ? index->doc_count : 1, sizeof *index->scores);
    index->touched = malloc((index->doc_count ? index->doc_count : 1) * sizeof *index->touched);
    index->memory += index->doc_count * (sizeof *index->scores + sizeof *index->touched);
}

/* ---- searching ------------------------------------------------------------------------------ */

static double idf(const bk_help_index *index, uint32_t df)
{
    return log(1.0 + ((double)index->doc_count - df + 0.5) / (df + 0.5));
}

static void term_score(bk_help_index *index, const term *t, double weight)
{
    double w = weight * idf(index, t->count);
    for (uint32_t i = 0; i < t->count; i++) {
        const posting *p = &t->postings[i];
        const doc *d = &index->docs[p->doc];
        double tf = TITLE_WEIGHT * p->title_tf / (1 - B + B * d->title_len / index->title_avg) +
                    p->body_tf / (1 - B + B * d->body_len / index->body_avg);
        if (index->scores[p->doc] == 0)
            index->touched[index->touched_count++] = p->doc;
        index->scores[p->doc] += w * tf / (K1 + tf);
    }
}

/* The posting of doc in t (postings are by article), or NULL. */
static const posting *posting_of(const term *t, uint32_t article)
{
    uint32_t lo = 0, hi = t->count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (t->postings[mid].doc < article)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < t->count && t->postings[lo].doc == article ? &t->postings[lo] : NULL;
}

/* What first followed by second in doc adds: scored as a term of its own would be, with the
 * two words' mean weight, times PHRASE_WEIGHT. */
static double phrase_score(const bk_help_index *index, const term *first, const term *second, uint32_t article)
{
    const posting *a = posting_of(first, article), *b = a ? posting_of(second, article) : NULL;
    if (!b)
        return 0;
    const uint16_t *pa = index->positions + a->at, *pb = index->positions + b->at;
    size_t na = (size_t)a->title_tf + a->body_tf, nb = (size_t)b->title_tf + b->body_tf;
    unsigned title_hits = 0, body_hits = 0;
    for (size_t x = 0, y = 0; x < na && y < nb;) {
        if (pa[x] + 1 == pb[y]) {
            if (pa[x] < TITLE_SPAN)
                title_hits++;
            else
                body_hits++;
            x++;
            y++;
        } else if (pa[x] + 1 < pb[y]) {
            x++;
        } else {
            y++;
        }
    }
    if (title_hits + body_hits == 0)
        return 0;
    const doc *d = &index->docs[article];
    double tf = TITLE_WEIGHT * title_hits / (1 - B + B * d->title_len / index->title_avg) +
                body_hits / (1 - B + B * d->body_len / index->body_avg);
    return PHRASE_WEIGHT * (idf(index, first->count) + idf(index, second->count)) / 2 * tf / (K1 + tf);
}

/* Better first: a higher score, then the one added first. */
static int hit_better(const bk_help_hit *a, const bk_help_hit *b)
{
    return a->score > b->score || (a->score == b->score && a->doc < b->doc);
}

/* Keeps the best n of what is offered in heap (a min-heap by hit_better: its root is the worst). */
static void heap_offer(bk_help_hit *heap, size_t *count, size_t n, bk_help_hit hit)
{
    size_t at;
    if (*count < n) {
        at = (*count)++;
        while (at > 0 && hit_better(&heap[(at - 1) / 2], &hit)) {
            heap[at] = heap[(at - 1) / 2];
            at = (at - 1) / 2;
        }
        heap[at] = hit;
        return;
    }
    if (!hit_better(&hit, &heap[0]))
        return;
    at = 0;
    for (;;) {
        size_t child = 2 * at + 1;
        if (child >= n)
            break;
        if (child + 1 < n && hit_better(&heap[child], &heap[child + 1]))
            child++;
        if (!hit_better(&hit, &heap[child]))
            break;
        heap[at] = heap[child];
        at = child;
    }
    heap[at] = hit;
}

static int hit_order(const void *x, const void *y)
{
    return hit_better(x, y) ? -1 : hit_better(y, x) ? 1 : 0;
}

/* Code points of a word, for comparing by letters. */
static size_t letters_of(const char *s, size_t len, uint32_t *out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < len && n < max;) {
        unsigned char c = (unsigned char)s[i];
        size_t size = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
        uint32_t value = c < 0x80 ? c : c & (0x3F >> size);
        for (size_t k = 1; k < size && i + k < len; k++)
            value = (value << 6) | ((unsigned char)s[i + k] & 0x3F);
        out[n++] = value;
        i += size;
    }
    return n;
}

/* True when a and b differ by one letter inserted, removed, changed, or two swapped. */
static int one_typo(const uint32_t *a, size_t an, const uint32_t *b, size_t bn)
{
    if (an > bn)
        return one_typo(b, bn, a, an);
    if (bn - an > 1)
        return 0;
    size_t i = 0;
    while (i < an && a[i] == b[i])
        i++;
    if (an == bn) {
        if (i == an)
            return 0;  /* the same word */
        if (memcmp(a + i + 1, b + i + 1, (an - i - 1) * sizeof *a) == 0)
            return 1;  /* changed */
        return i + 1 < an && a[i] == b[i + 1] && a[i + 1] == b[i] &&
               memcmp(a + i + 2, b + i + 2, (an - i - 2) * sizeof *a) == 0;  /* swapped */
    }
    return memcmp(a + i, b + i + 1, (an - i) * sizeof *a) == 0;  /* inserted */
}

typedef struct query_word {
    char text[BK_HELP_WORD_MAX + 1];
    size_t len, letters, position;
    int stopword;
} query_word;

typedef struct query {
    query_word words[BK_HELP_QUERY_WORDS];
    size_t count;
} query;

static void on_query_word(const bk_help_word *word, void *data)
{
    query *q = data;
    query_word *w = &q->words[q->count++];
    memcpy(w->text, word->text, word->len);
    w->text[word->len] = '\0';
    w->len = word->len;
    w->letters = word->letters;
    w->position = word->position;
    w->stopword = word->stopword;
}

/* The words a typo or an unfinished word may stand for: the most common first. */
static size_t expansions(const bk_help_index *index, const query_word *w, int prefix, term **out)
{
    uint32_t want[BK_HELP_WORD_MAX], have[BK_HELP_WORD_MAX];
    size_t want_n = letters_of(w->text, w->len, want, BK_HELP_WORD_MAX), n = 0;
    for (size_t i = 0; i < index->word_count; i++) {
        term *t = index->words[i];
        int match;
        if (prefix) {
            match = t->letters > want_n && strncmp(t->text, w->text, w->len) == 0;
        } else {
            if (t->letters + 1 < want_n || t->letters > want_n + 1)
                continue;
            size_t have_n = letters_of(t->text, strlen(t->text), have, BK_HELP_WORD_MAX);
            match = one_typo(want, want_n, have, have_n);
        }
        if (!match)
            continue;
        if (n < EXPANSIONS) {
            out[n++] = t;
        } else if (t->count > out[EXPANSIONS - 1]->count) {
            out[EXPANSIONS - 1] = t;
        } else {
            continue;
        }
        for (size_t k = n - 1; k > 0 && out[k]->count > out[k - 1]->count; k--) {
            term *swap = out[k];
            out[k] = out[k - 1];
            out[k - 1] = swap;
        }
    }
    return n;
}

size_t bk_help_index_search(bk_help_index *index, const char *query_text, size_t len, int typing,
                            const char *category, bk_help_hit *hits, size_t max)
{
    if (max > HITS_MAX)
        max = HITS_MAX;
    if (index->doc_count == 0 || max == 0 || !index->scores)
        return 0;
    query q = { .count = 0 };
    bk_help_words(index->stemmer, query_text, len, BK_HELP_QUERY_WORDS, on_query_word, &q);
    /* the last word is unfinished while the query does not end between words */
    int open_end = typing && len > 0 && q.count > 0 &&
                   (((unsigned char)query_text[len - 1] >= 0x80) || ((query_text[len - 1] | 0x20) >= 'a' &&
                    (query_text[len - 1] | 0x20) <= 'z') || (query_text[len - 1] >= '0' && query_text[len - 1] <= '9'));
    index->touched_count = 0;
    double ideal = 0;
    for (size_t i = 0; i < q.count; i++) {
        query_word *w = &q.words[i];
        int repeated = 0;
        for (size_t k = 0; k < i; k++)
            repeated |= strcmp(q.words[k].text, w->text) == 0;
        /* a stopword says nothing of the subject (and the last one may be a word unfinished) */
        if (repeated || (w->stopword && !(i + 1 == q.count && open_end)))
            continue;
        term *t = bk_map_get(index->terms, w->text);
        int last = i + 1 == q.count;
        if (t) {
            term_score(index, t, 1.0);
            ideal += idf(index, t->count);
            continue;
        }
        term *found[EXPANSIONS];
        size_t n = 0;
        double weight = 0;
        if (last && open_end && w->letters >= 2) {
            n = expansions(index, w, 1, found);
            weight = PREFIX_WEIGHT;
        }
        if (n == 0 && w->letters >= BK_HELP_TYPO_LETTERS) {
            n = expansions(index, w, 0, found);
            weight = TYPO_WEIGHT;
        }
        for (size_t k = 0; k < n; k++)
            term_score(index, found[k], weight);
        /* a word the articles do not have lowers how well any of them can match */
        ideal += n ? idf(index, found[0]->count) : idf(index, 0);
    }
    /* The best CANDIDATES by their words; then phrases (two words of the query side by side in
     * an article) count again, for those only: the rest could not come first anyway, but for a
     * phrase, and checking every article's positions would cost a search with common words
     * milliseconds at 10 000 articles. */
    bk_help_hit *candidates = index->candidates;
    size_t count = 0;
    for (size_t i = 0; i < index->touched_count; i++) {
        uint32_t d = index->touched[i];
        double score = index->scores[d];
        index->scores[d] = 0;
        if (!category || strcmp(index->docs[d].category, category) == 0)
            heap_offer(candidates, &count, CANDIDATES, (bk_help_hit){ .doc = d, .score = score });
    }
    for (size_t i = 0; i + 1 < q.count; i++) {
        term *first = bk_map_get(index->terms, q.words[i].text);
        term *second = bk_map_get(index->terms, q.words[i + 1].text);
        for (size_t c = 0; first && second && first != second && c < count; c++)
            candidates[c].score += phrase_score(index, first, second, (uint32_t)candidates[c].doc);
    }
    qsort(candidates, count, sizeof *candidates, hit_order);
    if (count > max)
        count = max;
    memcpy(hits, candidates, count * sizeof *hits);
    for (size_t i = 0; i < count; i++)
        hits[i].relevance = ideal > 0 ? fmin(1.0, hits[i].score / ideal) : 0;
    return count;
}
