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

/* Records an error at the current path and returns false, for the caller to return at once. */
bool compiler_fail(compiler *c, const char *format, ...) __attribute__((format(printf, 2, 3)));
bool compiler_fail_memory(compiler *c);

/* The path's first `length` bytes as a compiled node keeps it (in the rule's arena), without
 * the array position of the rule. */
const char *compiler_node_path(compiler *c, size_t length);

/* Descending into the JSON: each push returns the length compiler_pop restores. */
size_t compiler_push_key(compiler *c, const char *key);
size_t compiler_push_index(compiler *c, size_t index);
void compiler_pop(compiler *c, size_t saved);

/* Fails on a key of object outside allowed (a NULL-terminated list), naming the list. */
bool compiler_check_keys(compiler *c, json_t *object, const char *const *allowed);

/* A value of the expected type and range, or false after compiler_fail. Strings are copied
 * into the rule's arena. */
bool compiler_get_string(compiler *c, json_t *value, size_t max_bytes, const char **out,
                         size_t *length);
bool compiler_get_number(compiler *c, json_t *value, double *out);
bool compiler_get_integer(compiler *c, json_t *value, int64_t min, int64_t max, int64_t *out);
bool compiler_get_bool(compiler *c, json_t *value, bool *out);

/* 1 to max bytes of A-Z a-z 0-9 _ - (and '.' when allow_dot): ids and attribute names. */
bool compiler_name_valid(const char *s, size_t len, size_t max, bool allow_dot);

/* ---- compile_when.c ------------------------------------------------------------------- */

/* Compiles a condition (when or unless) into the compiler's nodes; its root node's index, or
 * -1 after compiler_fail. depth counts the all/any/not around it. */
int compiler_add_condition(compiler *c, json_t *json, int depth);

#endif
