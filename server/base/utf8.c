/* utf8.c - checking and repairing UTF-8. */
#include "base/utf8.h"

#include <stdint.h>
#include <string.h>

/* Length of the valid sequence at s (within len bytes), or 0 when it is not valid. */
static size_t sequence_length(const unsigned char *s, size_t len)
{
    unsigned char c = s[0];
    size_t need;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if ((c & 0xE0) == 0xC0) { need = 1; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { need = 2; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { need = 3; cp = c & 0x07; }
    else return 0;
    if (need >= len)
        return 0;
    for (size_t k = 1; k <= need; k++) {
        if ((s[k] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[k] & 0x3F);
    }
    if ((need == 1 && cp < 0x80) || (need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) ||
        (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
        return 0;
    return need + 1;
}

int bk_utf8_valid(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        size_t n = sequence_length(u + i, len - i);
        if (n == 0)
            return 0;
        i += n;
    }
    return 1;
}

/* A lead byte whose sequence runs past the end: the text was cut inside a character. */
static int cut_at_end(const unsigned char *s, size_t len)
{
    unsigned char c = s[0];
    size_t need = (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : 0;
    if (need == 0 || need < len)
        return 0;
    for (size_t k = 1; k < len; k++)
        if ((s[k] & 0xC0) != 0x80)
            return 0;
    return 1;
}

void bk_utf8_repair(char *s)
{
    unsigned char *u = (unsigned char *)s;
    size_t len = strlen(s);
    for (size_t i = 0; i < len;) {
        size_t n = sequence_length(u + i, len - i);
        if (n) {
            i += n;
        } else if (cut_at_end(u + i, len - i)) {
            u[i] = '\0';
            return;
        } else {
            u[i++] = '?';
        }
    }
}
