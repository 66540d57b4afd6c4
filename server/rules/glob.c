/* glob.c - see glob.h.
 *
 * The matcher walks pattern and subject once, remembering only the most
 * recent `*`: when a later literal fails, that star absorbs one more
 * character and matching resumes after it. Earlier stars never need to be
 * revisited, because whatever the latest star can absorb includes every
 * alternative an earlier one could have produced. Worst case is
 * O(pattern * subject), with no recursion and no allocation. */
#include "rules/glob.h"

/* Length of the UTF-8 character starting at s[0], never past `left`.
 * Invalid bytes count as one character so matching always progresses. */
static size_t utf8_char_len(const unsigned char *s, size_t left)
{
    size_t len = 1;
    if (s[0] >= 0xF0)
        len = 4;
    else if (s[0] >= 0xE0)
        len = 3;
    else if (s[0] >= 0xC0)
        len = 2;
    if (len > left)
        len = left;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return i;
    return len;
}

bool bk_glob_match(const char *pattern, size_t pattern_len, const char *subject, size_t subject_len)
{
    const unsigned char *p = (const unsigned char *)pattern;
    const unsigned char *s = (const unsigned char *)subject;
    size_t pi = 0, si = 0;
    size_t star_pi = (size_t)-1; /* position just after the latest '*' */
    size_t star_si = 0;          /* subject position that star currently reaches */

    while (si < subject_len) {
        if (pi < pattern_len && p[pi] == '*') {
            star_pi = ++pi;
            star_si = si;
            continue;
        }
        if (pi < pattern_len && p[pi] == '?') {
            pi++;
            si += utf8_char_len(s + si, subject_len - si);
            continue;
        }
        if (pi < pattern_len) {
            size_t literal = pi;
            if (p[pi] == '\\' && pi + 1 < pattern_len)
                literal = pi + 1;
            if (p[literal] == s[si]) {
                pi = literal + 1;
                si++;
                continue;
            }
        }
        if (star_pi == (size_t)-1)
            return false;
        /* Let the latest star absorb one more character and retry. */
        star_si += utf8_char_len(s + star_si, subject_len - star_si);
        si = star_si;
        pi = star_pi;
    }
    while (pi < pattern_len && p[pi] == '*')
        pi++;
    return pi == pattern_len;
}

size_t bk_glob_literal_prefix(const char *pattern, size_t pattern_len, char *out)
{
    size_t len = 0;
    for (size_t i = 0; i < pattern_len; i++) {
        if (pattern[i] == '*' || pattern[i] == '?')
            break;
        if (pattern[i] == '\\' && i + 1 < pattern_len)
            i++;
        out[len++] = pattern[i];
    }
    return len;
}

bool bk_glob_is_literal(const char *pattern, size_t pattern_len)
{
    for (size_t i = 0; i < pattern_len; i++) {
        if (pattern[i] == '*' || pattern[i] == '?')
            return false;
        if (pattern[i] == '\\')
            i++;
    }
    return true;
}
