/* fuzz_glob.c - differential fuzzing of the rule language's globs (server/rules/glob.c).
 *
 * bk_glob_match is a one-pass matcher that only remembers the latest '*'. It is compared
 * with a plain dynamic-programming matcher over code points written from the documented
 * semantics (docs/rules.md, glob.h): '*' any run of characters, '?' exactly one character,
 * a backslash makes the next character literal, the whole subject must match. Pattern and
 * subject are valid UTF-8 (rule JSON and visitor frames are), so characters are code points.
 *
 * The index files a glob rule under bk_glob_literal_prefix and, for literal globs, treats
 * the pattern as exact text, so those are checked too: every matching subject starts with
 * the literal prefix, and a literal pattern matches exactly its unescaped text.
 *
 * Input: first byte = pattern length (mod the rest), then pattern, then subject. */
#include "fuzz_util.h"
#include "rules/glob.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                       \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "fuzz_glob: property failed: %s (%s:%d)\n", #cond, __FILE__, \
                    __LINE__);                                                            \
            abort();                                                                      \
        }                                                                                 \
    } while (0)

/* Byte length of the (valid) UTF-8 character at s. */
static size_t char_len(const uint8_t *s)
{
    return s[0] < 0x80 ? 1 : s[0] < 0xE0 ? 2 : s[0] < 0xF0 ? 3 : 4;
}

typedef struct token {
    int kind; /* 0 literal, 1 '*', 2 '?' */
    const uint8_t *text;
    size_t len;
} token;

static bool reference_match(const uint8_t *p, size_t plen, const uint8_t *s, size_t slen)
{
    token *tokens = malloc((plen + 1) * sizeof *tokens);
    size_t nt = 0;
    for (size_t i = 0; i < plen;) {
        if (p[i] == '*' || p[i] == '?') {
            tokens[nt++] = (token){p[i] == '*' ? 1 : 2, NULL, 0};
            i++;
            continue;
        }
        if (p[i] == '\\' && i + 1 < plen)
            i++; /* escaped: the next character is literal */
        size_t n = char_len(p + i);
        tokens[nt++] = (token){0, p + i, n};
        i += n;
    }
    /* Subject character offsets. */
    size_t *at = malloc((slen + 2) * sizeof *at);
    size_t ns = 0;
    for (size_t i = 0; i < slen; i += char_len(s + i))
        at[ns++] = i;
    at[ns] = slen;

    /* ok[j]: tokens[0..t) match subject characters [0..j). */
    bool *ok = calloc(ns + 1, sizeof *ok), *next = calloc(ns + 1, sizeof *next);
    ok[0] = true;
    for (size_t t = 0; t < nt; t++) {
        memset(next, 0, (ns + 1) * sizeof *next);
        for (size_t j = 0; j <= ns; j++) {
            if (tokens[t].kind == 1) {
                next[j] = ok[j] || (j > 0 && next[j - 1]);
            } else if (j > 0 && ok[j - 1]) {
                size_t clen = at[j] - at[j - 1];
                next[j] = tokens[t].kind == 2 ||
                          (clen == tokens[t].len && memcmp(s + at[j - 1], tokens[t].text, clen) == 0);
            }
        }
        bool *swap = ok;
        ok = next;
        next = swap;
    }
    bool result = ok[ns];
    free(ok);
    free(next);
    free(at);
    free(tokens);
    return result;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 4096)
        return -1;
    size_t rest = size - 1;
    size_t plen = rest ? data[0] % (rest + 1) : 0;
    /* Exact-size heap copies, so any read past either is caught. */
    char *pattern = malloc(plen ? plen : 1);
    char *subject = malloc(rest - plen ? rest - plen : 1);
    memcpy(pattern, data + 1, plen);
    memcpy(subject, data + 1 + plen, rest - plen);
    size_t slen = rest - plen;

    /* Any bytes at all: must not crash or read out of bounds. */
    bool got = bk_glob_match(pattern, plen, subject, slen);

    if (fuzz_utf8_valid((const uint8_t *)pattern, plen) && fuzz_utf8_valid((const uint8_t *)subject, slen)) {
        bool want = reference_match((const uint8_t *)pattern, plen, (const uint8_t *)subject, slen);
        if (got != want) {
            fprintf(stderr, "fuzz_glob: pattern [%.*s] subject [%.*s]: glob %d, reference %d\n", (int)plen, pattern,
                    (int)slen, subject, got, want);
            CHECK(!"bk_glob_match disagrees with the reference");
        }
        char *prefix = malloc(plen ? plen : 1);
        size_t prefix_len = bk_glob_literal_prefix(pattern, plen, prefix);
        CHECK(prefix_len <= plen);
        if (got)
            CHECK(slen >= prefix_len && memcmp(subject, prefix, prefix_len) == 0);
        if (bk_glob_is_literal(pattern, plen))
            CHECK(got == (slen == prefix_len && memcmp(subject, prefix, prefix_len) == 0));
        free(prefix);
    }
    free(pattern);
    free(subject);
    return 0;
}
