/* glob.h - the rule language's wildcard patterns.
 *
 * `*` matches any run of characters ('/' included: a URL is just text here),
 * `?` matches exactly one UTF-8 character, and a backslash makes the next
 * character literal ("\*", "\?", "\\"). A pattern matches the whole subject.
 * fnmatch() is deliberately not used: its treatment of '/', '.' and
 * brackets differs between flags and platforms. */
#ifndef BK_RULES_GLOB_H
#define BK_RULES_GLOB_H

#include <stdbool.h>
#include <stddef.h>

bool bk_glob_match(const char *pattern, size_t pattern_len, const char *subject, size_t subject_len);

/* The literal text every match must begin with: the pattern up to its first
 * wildcard, with escapes removed, written to `out` (at least pattern_len
 * bytes). Returns its length. Used by the index to bucket rules. */
size_t bk_glob_literal_prefix(const char *pattern, size_t pattern_len, char *out);

/* True when the pattern contains no wildcard, i.e. it matches exactly the
 * text bk_glob_literal_prefix returns. */
bool bk_glob_is_literal(const char *pattern, size_t pattern_len);

#endif
