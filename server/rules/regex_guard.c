/* regex_guard.c - regular expressions that could take glibc's regex engine minutes. */
#include "rules/regex_guard.h"

#include <stdlib.h>

/* glibc's regcomp and regexec put no limit on bounded repetition: "((a{1,100}){1,100}){1,100}"
 * takes seconds and a gigabyte to compile, and "(.{0,80}){0,80}#" over a long URL takes
 * minutes to match. Rules are compiled and evaluated on the event loop, so a pattern that can
 * explode is refused before regcomp sees it: repetition bounds above REGEX_BOUND_MAX, a
 * repeated group that itself repeats something, and back-references. Returns why, or NULL. */
#define REGEX_BOUND_MAX 32
#define REGEX_DEPTH_MAX 16

const char *bk_regex_unsafe(const char *pattern)
{
    int repeats[REGEX_DEPTH_MAX + 1] = { 0 }; /* per open group: does it contain a repetition? */
    int depth = 0;
    int last_group_repeats = -1;              /* the group just closed, if the atom before is one */
    for (const char *p = pattern; *p; p++) {
        int closed_group = last_group_repeats;
        last_group_repeats = -1;
        switch (*p) {
        case '\\':
            if (p[1] >= '1' && p[1] <= '9')
                return "back-references are not allowed";
            if (p[1])
                p++;
            break;
        case '[':                               /* a bracket expression is one atom */
            p++;
            if (*p == '^')
                p++;
            if (*p == ']')
                p++;
            while (*p && *p != ']')
                p++;
            if (!*p)
                return NULL;                    /* regcomp reports the syntax error */
            break;
        case '(':
            if (++depth > REGEX_DEPTH_MAX)
                return "groups nested too deep";
            repeats[depth] = 0;
            break;
        case ')':
            if (depth == 0)
                return NULL;
            last_group_repeats = repeats[depth];
            depth--;
            if (last_group_repeats)
                repeats[depth] = 1;
            break;
        case '*': case '+': case '?': case '{': {
            if (*p == '{') {
                char *end;
                long low = strtol(p + 1, &end, 10), high = low;
                if (end == p + 1)
                    break;                      /* a literal brace */
                if (*end == ',') {
                    high = end[1] == '}' ? -1 : strtol(end + 1, &end, 10);
                    if (high == -1)
                        end++;
                }
                if (low > REGEX_BOUND_MAX || high > REGEX_BOUND_MAX)
                    return "repetition bounds above 32 are not allowed";
                while (*p && *p != '}')
                    p++;
                if (!*p)
                    return NULL;
            }
            if (closed_group == 1)
                return "a repeated group may not itself contain a repetition";
            repeats[depth] = 1;
            break;
        }
        default:
            break;
        }
    }
    return NULL;
}
