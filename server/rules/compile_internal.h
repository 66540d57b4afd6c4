/* compile_internal.h - what the compiler's files share, and nothing else includes.
 *
 * rule.h is the face of the compiler (bk_rule_compile). Behind it: compile.c (a rule and its
 * parts: only, cap, then, the screen; the entry points), compile_when.c (conditions: leaves,
 * all/any/not, fields with several operators) and compiler.c (the compiler's state: errors,
 * the JSON path, reading values).
 *
 * Names: the ones declared here, shared by those files only, start with compiler_ and take
 * the compiler first; anything else is static to its file. */
#ifndef BK_RULES_COMPILE_INTERNAL_H
#define BK_RULES_COMPILE_INTERNAL_H

#include "rules/rule.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct compiler {
    bk_rule *rule;
    bk_rules_error *err;
    int status;

    char path[BK_RULES_PATH_MAX];
    size_t path_length;
    size_t prefix_length; /* "[3]" when compiling rule 3 of an array */

    bk_node nodes[BK_RULES_MAX_NODES];
    size_t node_count;
    size_t condition_count;
    bool uses_clock;  /* time.hour or time.weekday appear: a zone is needed */

    regex_t *regexes[BK_RULES_MAX_CONDITIONS];
    size_t regex_count;
} compiler;

/* ---- compiler.c ----------------------------------------------------------------------- */

bool fail(compiler *c, const char *format, ...) __attribute__((format(printf, 2, 3)));
bool fail_memory(compiler *c);
const char *node_path(compiler *c, size_t length);
size_t push_key(compiler *c, const char *key);
size_t push_index(compiler *c, size_t index);
void pop(compiler *c, size_t saved);
bool check_keys(compiler *c, json_t *object, const char *const *allowed);
bool get_string(compiler *c, json_t *value, size_t max_bytes, const char **out, size_t *length);
bool get_number(compiler *c, json_t *value, double *out);
bool get_integer(compiler *c, json_t *value, int64_t min, int64_t max, int64_t *out);
bool get_bool(compiler *c, json_t *value, bool *out);
bool valid_name(const char *s, size_t len, size_t max, bool allow_dot);

/* ---- compile_when.c ------------------------------------------------------------------- */

int compile_condition(compiler *c, json_t *json, int depth);

#endif
