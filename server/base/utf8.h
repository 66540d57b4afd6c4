/* utf8.h - checking and repairing UTF-8.
 *
 * Error messages quote what clients and marketers typed and are cut to fixed buffers; a cut
 * can land inside a character, and jansson's error text quotes raw bytes. JSON needs valid
 * UTF-8, so such text is repaired before it is sent. Used by the rule library and the server. */
#ifndef BK_UTF8_H
#define BK_UTF8_H

#include <stddef.h>

/* True when s[0..len) is valid UTF-8 (no overlong forms, surrogates or values past U+10FFFF). */
int bk_utf8_valid(const char *s, size_t len);

/* Makes the NUL-terminated s valid UTF-8 in place: a sequence cut short at the end is
 * dropped, any other invalid byte becomes '?'. */
void bk_utf8_repair(char *s);

#endif
