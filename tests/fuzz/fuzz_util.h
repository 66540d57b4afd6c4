/* fuzz_util.h - helpers shared by the fuzz targets. */
#ifndef BK_FUZZ_UTIL_H
#define BK_FUZZ_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* The UTF-8 properties find known, unfixed bugs (docs/fuzzing.md) within seconds. Set
 * BK_FUZZ_LAX_UTF8=1 to skip them while hunting for anything else. */
static inline bool fuzz_check_utf8(void)
{
    static int cached = -1;
    if (cached < 0) {
        const char *v = getenv("BK_FUZZ_LAX_UTF8");
        cached = !(v && *v && *v != '0');
    }
    return cached;
}

/* Strict UTF-8 as jansson checks it (no overlong forms, no surrogates, nothing past
 * U+10FFFF): text that fails here makes json_string() and json_pack("s") return NULL. */
static inline bool fuzz_utf8_valid(const uint8_t *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        size_t n;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (len - i - 1 < n)
            return false;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += n + 1;
    }
    return true;
}

static inline bool fuzz_utf8_valid_str(const char *s)
{
    size_t len = 0;
    while (s[len])
        len++;
    return fuzz_utf8_valid((const uint8_t *)s, len);
}

#endif
