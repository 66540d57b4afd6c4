/* help_text.h - the words of a text as the help search compares them: split, lowercased,
 * stemmed in the text's language (Snowball's libstemmer), the same for articles and queries.
 *
 * Words are runs of letters and digits (any script); punctuation, symbols and spaces part
 * them, so a query like ".*(a|b)+" is a few short words or none, never a pattern. Ideographs
 * and kana (scripts written without spaces) are a word each. A stemmer is not thread-safe
 * (sb_stemmer keeps its work in itself): a node makes one per language and uses it on the
 * loop only. No I/O. */
#ifndef BK_HELP_TEXT_H
#define BK_HELP_TEXT_H

#include <stddef.h>

/* Bytes of a word, at most (a longer run of letters is cut there: it is no word anyone types). */
#define BK_HELP_WORD_MAX 48

typedef struct bk_help_stemmer bk_help_stemmer;

/* The language part of a tag, lowercased, as the help keeps languages: "da-DK" -> "da",
 * "no"/"nn"/"nb-NO" -> "nb"; "" for a tag that does not start with 2-3 letters. out has room
 * for 4 bytes. */
void bk_help_lang_normalize(const char *tag, char out[4]);

/* A stemmer for a language ("en", "da", "nb", "sv", "de", and the others Snowball knows); for a
 * language Snowball does not know, words are only lowercased. NULL: out of memory. */
bk_help_stemmer *bk_help_stemmer_new(const char *lang);
void bk_help_stemmer_free(bk_help_stemmer *stemmer);
/* True when the stemmer really stems (the language is one Snowball knows). */
int bk_help_stemmer_stems(const bk_help_stemmer *stemmer);

/* A word as bk_help_words gives it. */
typedef struct bk_help_word {
    const char *text;    /* stemmed, NUL-terminated, valid until the callback returns */
    size_t len;
    size_t letters;      /* letters of the word as written (typo tolerance is by letters) */
    size_t position;     /* among the text's words: 0, 1, ... */
    int stopword;        /* a word of the language that says nothing of the subject ("how", "my",
                          * "hvordan", "jeg"): a query's stopwords neither score nor count against
                          * a match (help_index.c) */
} bk_help_word;

typedef void bk_help_word_fn(const bk_help_word *word, void *data);

/* Splits text[0..len) into words and calls fn for each of at most max_words (0: no limit).
 * Invalid UTF-8 bytes part words like punctuation. Returns the number of words given. */
size_t bk_help_words(bk_help_stemmer *stemmer, const char *text, size_t len, size_t max_words,
                     bk_help_word_fn *fn, void *data);

#endif
