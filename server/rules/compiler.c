/* compiler.c - the compiler's state: errors with the JSON path they are at, reading values. */
#include "base/utf8.h"
#include "rules/compile_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- errors and paths --------------------------------------------- */

bool compiler_fail(compiler *c, const char *format, ...)
{
    c->status = BK_RULES_ERR_INVALID;
    if (c->err) {
        snprintf(c->err->path, sizeof c->err->path, "%s", c->path);
        va_list args;
        va_start(args, format);
        vsnprintf(c->err->message, sizeof c->err->message, format, args);
        va_end(args);
        /* both quote what the marketer typed, cut to fixed buffers */
        bk_utf8_repair(c->err->path);
        bk_utf8_repair(c->err->message);
    }
    return false;
}

bool compiler_fail_memory(compiler *c)
{
    compiler_fail(c, "out of memory");
    c->status = BK_RULES_ERR_NO_MEMORY;
    return false;
}

/* The current path as stored in a compiled node: without the array
 * position, since explanations name the rule separately. */
const char *compiler_node_path(compiler *c, size_t length)
{
    size_t skip = c->prefix_length;
    if (skip < length && c->path[skip] == '.')
        skip++;
    if (skip > length)
        skip = length;
    return bk_arena_strndup(&c->rule->arena, c->path + skip, length - skip);
}

/* Appends ".key" (or "key" at the root) and returns the length to restore. */
size_t compiler_push_key(compiler *c, const char *key)
{
    size_t saved = c->path_length;
    int n = snprintf(c->path + c->path_length, sizeof c->path - c->path_length, "%s%s",
                     c->path_length ? "." : "", key);
    if (n > 0)
        c->path_length += (size_t)n < sizeof c->path - c->path_length ? (size_t)n
                                                                      : sizeof c->path - c->path_length - 1;
    return saved;
}

size_t compiler_push_index(compiler *c, size_t index)
{
    size_t saved = c->path_length;
    int n = snprintf(c->path + c->path_length, sizeof c->path - c->path_length, "[%zu]", index);
    if (n > 0)
        c->path_length += (size_t)n < sizeof c->path - c->path_length ? (size_t)n
                                                                      : sizeof c->path - c->path_length - 1;
    return saved;
}

void compiler_pop(compiler *c, size_t saved)
{
    c->path_length = saved;
    c->path[saved] = '\0';
}

/* Rejects keys outside `allowed` (a NULL-terminated list) with the list. */
bool compiler_check_keys(compiler *c, json_t *object, const char *const *allowed)
{
    const char *key;
    json_t *value;
    json_object_foreach(object, key, value) {
        bool known = false;
        for (size_t i = 0; allowed[i]; i++)
            known = known || strcmp(key, allowed[i]) == 0;
        if (!known) {
            char list[160] = "";
            size_t used = 0;
            for (size_t i = 0; allowed[i] && used < sizeof list; i++) {
                int n = snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", allowed[i]);
                if (n < 0)
                    break;
                used += (size_t)n;
            }
            size_t saved = compiler_push_key(c, key);
            compiler_fail(c, "unknown key (expected %s)", list);
            compiler_pop(c, saved);
            return false;
        }
    }
    return true;
}

/* ---- small value checks ------------------------------------------- */

bool compiler_get_string(compiler *c, json_t *value, size_t max_bytes, const char **out, size_t *length)
{
    if (!json_is_string(value))
        return compiler_fail(c, "expected a string");
    size_t len = json_string_length(value);
    if (len > max_bytes)
        return compiler_fail(c, "too long (max %zu bytes)", max_bytes);
    *out = bk_arena_strndup(&c->rule->arena, json_string_value(value), len);
    if (!*out)
        return compiler_fail_memory(c);
    if (length)
        *length = len;
    return true;
}

bool compiler_get_number(compiler *c, json_t *value, double *out)
{
    if (!json_is_number(value))
        return compiler_fail(c, "expected a number");
    double n = json_number_value(value);
    if (!isfinite(n) || fabs(n) > BK_RULES_MAX_NUMBER)
        return compiler_fail(c, "number out of range (max magnitude 1e15)");
    *out = n;
    return true;
}

bool compiler_get_integer(compiler *c, json_t *value, int64_t min, int64_t max, int64_t *out)
{
    if (!json_is_integer(value))
        return compiler_fail(c, "expected an integer");
    json_int_t n = json_integer_value(value);
    if (n < min || n > max)
        return compiler_fail(c, "must be between %lld and %lld", (long long)min, (long long)max);
    *out = (int64_t)n;
    return true;
}

bool compiler_get_bool(compiler *c, json_t *value, bool *out)
{
    if (!json_is_boolean(value))
        return compiler_fail(c, "expected true or false");
    *out = json_is_true(value);
    return true;
}

static bool is_name_char(char ch, bool allow_dot)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' ||
           ch == '-' || (allow_dot && ch == '.');
}

bool compiler_name_valid(const char *s, size_t len, size_t max, bool allow_dot)
{
    if (len == 0 || len > max)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!is_name_char(s[i], allow_dot))
            return false;
    return true;
}
