/* format.c - bounded text formatting for errors and explanations.
 *
 * Messages quote values a marketer typed, which can be longer than the
 * fixed buffers of bk_rules_error and bk_rules_explanation. Cutting them
 * short is the intended behaviour, so it lives behind one function instead
 * of a truncation check at every call. */
#include "rules/rule.h"
#include "base/utf8.h"

#include <stdarg.h>
#include <stdio.h>

void bk_format(char *out, size_t size, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    vsnprintf(out, size, format, args);
    va_end(args);
    bk_utf8_repair(out);  /* the cut may have split a character */
}

void bk_rules_error_set(bk_rules_error *err, const char *path, const char *format, ...)
{
    if (!err)
        return;
    bk_format(err->path, sizeof err->path, "%s", path);
    va_list args;
    va_start(args, format);
    vsnprintf(err->message, sizeof err->message, format, args);
    va_end(args);
    bk_utf8_repair(err->message);
}
