/* help_text.c - words: UTF-8 decoded, classified, lowercased and stemmed. */
#include "help/help_text.h"

#include <libstemmer.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct bk_help_stemmer {
    struct sb_stemmer *snowball;  /* NULL: a language Snowball does not know */
    const char *const *stopwords; /* the language's, sorted; NULL: none known */
};

/* The words of a question that say nothing of its subject, lowercased as written, sorted (for
 * bsearch). Short on purpose: what a visitor types around the words that matter. */
static const char *const STOP_EN[] = { "a", "about", "am", "an", "and", "any", "are", "as", "at", "be", "been", "but",
    "by", "can", "could", "did", "do", "does", "for", "from", "get", "got", "had", "has", "have", "hello", "hi",
    "how", "i", "if", "in", "is", "it", "its", "me", "my", "need", "of", "on", "or", "our", "please", "so", "than",
    "that", "the", "their", "them", "then", "there", "these", "they", "this", "to", "too", "want", "was", "we",
    "were", "what", "when", "where", "which", "who", "why", "will", "with", "would", "you", "your", NULL };
static const char *const STOP_DA[] = { "af", "alle", "at", "blev", "bliver", "da", "de", "dem", "den", "der", "det",
    "dig", "din", "dine", "du", "efter", "eller", "en", "er", "et", "for", "fra", "ha", "har", "hej", "hvad",
    "hvem", "hvor", "hvordan", "hvorfor", "hvornår", "i", "ikke", "jeg", "kan", "kunne", "man", "med", "men",
    "mig", "min", "mine", "mit", "nu", "når", "og", "om", "på", "skal", "som", "så", "til", "ud", "var", "vi",
    "vil", "være", NULL };
static const char *const STOP_NB[] = { "at", "av", "da", "de", "deg", "dem", "den", "der", "det", "din", "du", "eller",
    "en", "er", "et", "for", "fra", "ha", "har", "hei", "hva", "hvem", "hvilken", "hvis", "hvor", "hvordan",
    "hvorfor", "i", "ikke", "jeg", "kan", "kunne", "man", "med", "meg", "men", "min", "mitt", "må", "nå", "når",
    "og", "om", "på", "skal", "som", "så", "til", "var", "vi", "vil", "være", NULL };
static const char *const STOP_SV[] = { "att", "av", "de", "dem", "den", "det", "du", "eller", "en", "ett", "från", "för",
    "har", "hej", "hur", "i", "inte", "jag", "kan", "man", "med", "men", "mig", "min", "mitt", "nu", "när", "och",
    "om", "på", "ska", "som", "så", "till", "vad", "var", "vi", "vill", "är", NULL };
static const char *const STOP_DE[] = { "aber", "als", "am", "an", "auf", "aus", "bei", "bin", "bis", "das", "dem", "den",
    "der", "des", "die", "du", "ein", "eine", "einen", "er", "es", "für", "habe", "hallo", "hat", "ich", "ihr", "im",
    "in", "ist", "ja", "kann", "mein", "meine", "mit", "nicht", "noch", "oder", "sie", "sind", "so", "um", "und",
    "von", "wann", "war", "warum", "was", "wie", "wir", "wo", "zu", NULL };

static int stop_compare(const void *key, const void *entry)
{
    return strcmp(key, *(const char *const *)entry);
}

static int stopword(const char *const *list, const char *word)
{
    size_t n = 0;
    while (list && list[n])
        n++;
    return list && bsearch(word, list, n, sizeof *list, stop_compare) != NULL;
}

void bk_help_lang_normalize(const char *tag, char out[4])
{
    size_t n = 0;
    out[0] = '\0';
    while (tag && n < 3 && ((tag[n] >= 'a' && tag[n] <= 'z') || (tag[n] >= 'A' && tag[n] <= 'Z')))
        n++;
    if (!tag || n < 2 || (tag[n] != '\0' && tag[n] != '-' && tag[n] != '_'))
        return;
    for (size_t i = 0; i < n; i++)
        out[i] = (char)(tag[i] | 0x20);
    out[n] = '\0';
    /* Norwegian: Bokmål is what sites write; "no" and Nynorsk share its stemmer */
    if (strcmp(out, "no") == 0 || strcmp(out, "nn") == 0)
        strcpy(out, "nb");
}

bk_help_stemmer *bk_help_stemmer_new(const char *lang)
{
    bk_help_stemmer *stemmer = calloc(1, sizeof *stemmer);
    if (!stemmer)
        return NULL;
    /* Snowball names languages by ISO 639 codes too; Norwegian is "no" there. */
    const char *algorithm = strcmp(lang, "nb") == 0 ? "no" : lang;
    if (algorithm[0])
        stemmer->snowball = sb_stemmer_new(algorithm, NULL);
    stemmer->stopwords = strcmp(lang, "en") == 0 ? STOP_EN : strcmp(lang, "da") == 0 ? STOP_DA :
                         strcmp(lang, "nb") == 0 ? STOP_NB : strcmp(lang, "sv") == 0 ? STOP_SV :
                         strcmp(lang, "de") == 0 ? STOP_DE : NULL;
    return stemmer;
}

void bk_help_stemmer_free(bk_help_stemmer *stemmer)
{
    if (!stemmer)
        return;
    if (stemmer->snowball)
        sb_stemmer_delete(stemmer->snowball);
    free(stemmer);
}

int bk_help_stemmer_stems(const bk_help_stemmer *stemmer)
{
    return stemmer && stemmer->snowball;
}

/* One code point at s (of n bytes left): its value and length, or length 1 and value
 * 0xFFFFFFFF for a byte that starts no valid sequence. */
static uint32_t decode(const unsigned char *s, size_t n, size_t *length)
{
    *length = 1;
    if (s[0] < 0x80)
        return s[0];
    size_t need = s[0] >= 0xF0 && s[0] <= 0xF4 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC2 && s[0] <= 0xDF ? 2 : 0;
    if (need == 0 || s[0] > 0xF4 || need > n)
        return 0xFFFFFFFFu;
    uint32_t c = s[0] & (0x3F >> (need - 1));
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0xFFFFFFFFu;
        c = (c << 6) | (s[i] & 0x3F);
    }
    static const uint32_t least[] = { 0, 0, 0x80, 0x800, 0x10000 };
    if (c < least[need] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0xFFFFFFFFu;
    *length = need;
    return c;
}

static size_t encode(uint32_t c, char *out)
{
    if (c < 0x80) {
        out[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        out[0] = (char)(0xC0 | (c >> 6));
        out[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        out[0] = (char)(0xE0 | (c >> 12));
        out[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        out[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (c >> 18));
    out[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((c >> 6) & 0x3F));
    out[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

enum { SEPARATOR, LETTER, IDEOGRAPH };

/* What a code point is to a word. Beyond ASCII everything is a letter but the blocks of
 * punctuation, symbols, emoji and private use; the scripts without spaces are a word each. */
static int classify(uint32_t c)
{
    if (c < 0x80)
        return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') ? LETTER : SEPARATOR;
    if (c == 0xFFFFFFFFu)
        return SEPARATOR;
    if (c <= 0xBF)
        return c == 0xAA || c == 0xB5 || c == 0xBA ? LETTER : SEPARATOR;
    if (c == 0xD7 || c == 0xF7)
        return SEPARATOR;
    if ((c >= 0x2000 && c <= 0x2BFF) || (c >= 0x3000 && c <= 0x303F) || (c >= 0xE000 && c <= 0xF8FF) ||
        (c >= 0xFE00 && c <= 0xFE4F) || (c >= 0xFF00 && c <= 0xFF0F) || (c >= 0xFF1A && c <= 0xFF20) ||
        (c >= 0xFF3B && c <= 0xFF40) || (c >= 0xFF5B && c <= 0xFF65) || (c >= 0x1F000 && c <= 0x1FAFF) ||
        c >= 0xF0000)
        return SEPARATOR;
    if ((c >= 0x3040 && c <= 0x30FF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x4E00 && c <= 0x9FFF) ||
        (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x20000 && c <= 0x2FFFF))
        return IDEOGRAPH;
    return LETTER;
}

/* Lowercase for the scripts help articles are written in (Latin, Greek, Cyrillic); others
 * are left as they are. */
static uint32_t lower(uint32_t c)
{
    if (c < 0x80)
        return c >= 'A' && c <= 'Z' ? c | 0x20 : c;
    if (c >= 0xC0 && c <= 0xDE && c != 0xD7)
        return c + 0x20;
    if ((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177))
        return c | 1;
    if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E))
        return (c & 1) ? c + 1 : c;
    if (c >= 0x391 && c <= 0x3A9)
        return c + 0x20;
    if (c >= 0x410 && c <= 0x42F)
        return c + 0x20;
    if (c >= 0x400 && c <= 0x40F)
        return c + 0x50;
    return c;
}

typedef struct word {
    char text[BK_HELP_WORD_MAX + 4];
    size_t len, letters;
    int has_letter;  /* not digits only: worth stemming */
} word;

static void word_give(bk_help_stemmer *stemmer, word *w, size_t position, bk_help_word_fn *fn, void *data)
{
    w->text[w->len] = '\0';
    bk_help_word given = { .text = w->text, .len = w->len, .letters = w->letters, .position = position,
                           .stopword = stemmer && stopword(stemmer->stopwords, w->text) };
    if (stemmer && stemmer->snowball && w->has_letter) {
        const sb_symbol *stem = sb_stemmer_stem(stemmer->snowball, (const sb_symbol *)w->text, (int)w->len);
        if (stem && sb_stemmer_length(stemmer->snowball) > 0) {
            given.text = (const char *)stem;
            given.len = (size_t)sb_stemmer_length(stemmer->snowball);
        }
    }
    fn(&given, data);
}

size_t bk_help_words(bk_help_stemmer *stemmer, const char *text, size_t len, size_t max_words,
                     bk_help_word_fn *fn, void *data)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t at = 0, count = 0;
    word w = { .len = 0 };
    while (at < len && (max_words == 0 || count < max_words)) {
        size_t n;
        uint32_t c = decode(s + at, len - at, &n);
        at += n;
        int kind = classify(c);
        if (kind != LETTER && w.len > 0) {
            word_give(stemmer, &w, count++, fn, data);
            w.len = w.letters = 0;
            w.has_letter = 0;
        }
        if (kind == SEPARATOR || (max_words && count >= max_words))
            continue;
        char bytes[4];
        size_t size = encode(lower(c), bytes);
        if (kind == IDEOGRAPH) {
            memcpy(w.text, bytes, size);
            w.len = size;
            w.letters = 1;
            w.has_letter = 0;
            word_give(stemmer, &w, count++, fn, data);
            w.len = w.letters = 0;
            continue;
        }
        if (w.len + size > BK_HELP_WORD_MAX)
            continue;  /* the rest of an overlong run is dropped: its start is the word */
        memcpy(w.text + w.len, bytes, size);
        w.len += size;
        w.letters++;
        if (!(c >= '0' && c <= '9'))
            w.has_letter = 1;
    }
    if (w.len > 0 && (max_words == 0 || count < max_words))
        word_give(stemmer, &w, count++, fn, data);
    return count;
}
