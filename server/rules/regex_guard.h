/* regex_guard.h - regular expressions the rule language refuses before regcomp sees them.
 * Internal to the rules library (its names are bk_ like the rest of it; see rule.h). */
#ifndef BK_RULES_REGEX_GUARD_H
#define BK_RULES_REGEX_GUARD_H

/* Why pattern is refused, or NULL when it may go to regcomp (regex_guard.c says what is). */
const char *bk_regex_unsafe(const char *pattern);

#endif
