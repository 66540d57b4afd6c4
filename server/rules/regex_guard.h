/* regex_guard.h - regular expressions the rule language refuses before regcomp sees them. */
#ifndef BK_RULES_REGEX_GUARD_H
#define BK_RULES_REGEX_GUARD_H

/* Why pattern is refused, or NULL when it may go to regcomp (regex_guard.c says what is). */
const char *regex_unsafe(const char *pattern);

#endif
