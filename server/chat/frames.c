/* frames.c - the compact records the scripts publish for a message, made into the JSON frame
 * clients get, here on the nodes (which scale out) instead of with cjson in Redis (which does
 * not).
 *
 * A message's record (lua/prelude.lua, append()) carries the fields in a fixed order, the two
 * that may hold anything with their length, and the text last and raw:
 *
 *   ~message CONVERSATION ID FROM AUTHOR_BYTES AUTHOR CMID_BYTES CMID TEXT
 *
 * and becomes {"type":"message","conversation":…,"id":…,"cmid":…,"from":…,"author":…,
 * "text":…,"ts":…}: the members and values cjson made before (cmid left out when empty, ts the
 * milliseconds of the id), in one order. Every other bus frame is JSON already and passes as
 * it is. */
#include "chat/chat_internal.h"

#include "base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RECORD_MESSAGE      "~message "
/* A frame's bytes beyond its strings' escaped bytes: the member names, quotes and the ts. */
#define FRAME_FIXED_BYTES   160

/* One field up to the next space: 0 and *at past that space, or -1. */
static int word_take(const char **at, const char *end, const char **word, size_t *len)
{
    const char *space = memchr(*at, ' ', (size_t)(end - *at));
    if (!space || space == *at)
        return -1;
    *word = *at;
    *len = (size_t)(space - *at);
    *at = space + 1;
    return 0;
}

/* A field given as "BYTES FIELD ": 0 and *at past it, or -1. */
static int counted_take(const char **at, const char *end, const char **field, size_t *len)
{
    const char *digits;
    size_t digits_len, n = 0;
    if (word_take(at, end, &digits, &digits_len) != 0 || digits_len > 9)
        return -1;
    for (size_t i = 0; i < digits_len; i++) {
        if (digits[i] < '0' || digits[i] > '9')
            return -1;
        n = n * 10 + (size_t)(digits[i] - '0');
    }
    if ((size_t)(end - *at) < n + 1 || (*at)[n] != ' ')
        return -1;
    *field = *at;
    *len = n;
    *at += n + 1;
    return 0;
}

/* The chat's frame buffer with room for len bytes, or NULL. */
static char *buffer_reserve(bk_chat *chat, size_t len)
{
    if (len > chat->frame_size) {
        size_t size = chat->frame_size ? chat->frame_size : 1024;
        while (size < len)
            size *= 2;
        char *grown = realloc(chat->frame, size);
        if (!grown)
            return NULL;
        chat->frame = grown;
        chat->frame_size = size;
    }
    return chat->frame;
}

/* s as a JSON string (quoted, escaped) at out, which has room for 6 bytes per byte of s plus
 * 2; returns the bytes written. Bytes from 0x80 on are copied: the text is UTF-8 already
 * (checked where it came in), and passed through as cjson did. */
static size_t json_string_write(char *out, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    char *o = out;
    *o++ = '"';
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
        } else if (c >= 0x20) {
            *o++ = (char)c;
        } else if (c == '\n') {
            *o++ = '\\';
            *o++ = 'n';
        } else if (c == '\r') {
            *o++ = '\\';
            *o++ = 'r';
        } else if (c == '\t') {
            *o++ = '\\';
            *o++ = 't';
        } else {
            memcpy(o, "\\u00", 4);
            o[4] = hex[c >> 4];
            o[5] = hex[c & 15];
            o += 6;
        }
    }
    *o++ = '"';
    return (size_t)(o - out);
}

static size_t member_write(char *out, const char *name, const char *value, size_t len)
{
    size_t n = strlen(name);
    memcpy(out, name, n);
    return n + json_string_write(out + n, value, len);
}

const char *chat_frame_expand(bk_chat *chat, const char *text, size_t *len)
{
    size_t prefix = sizeof RECORD_MESSAGE - 1;
    if (*len < prefix || memcmp(text, RECORD_MESSAGE, prefix) != 0)
        return text;
    const char *at = text + prefix, *end = text + *len;
    const char *conversation, *id, *from, *author, *cmid;
    size_t conversation_len, id_len, from_len, author_len, cmid_len;
    if (word_take(&at, end, &conversation, &conversation_len) != 0 || word_take(&at, end, &id, &id_len) != 0 ||
        word_take(&at, end, &from, &from_len) != 0 || counted_take(&at, end, &author, &author_len) != 0 ||
        counted_take(&at, end, &cmid, &cmid_len) != 0) {
        static int told;
        if (!told++)
            bk_warn("bus: a message record that cannot be read (dropped; said once)");
        return NULL;
    }
    size_t text_len = (size_t)(end - at);
    size_t escaped = 6 * (conversation_len + id_len + from_len + author_len + cmid_len + text_len);
    char *out = buffer_reserve(chat, escaped + FRAME_FIXED_BYTES);
    if (!out)
        return NULL;
    size_t n = 0;
    n += member_write(out + n, "{\"type\":\"message\",\"conversation\":", conversation, conversation_len);
    n += member_write(out + n, ",\"id\":", id, id_len);
    if (cmid_len > 0)
        n += member_write(out + n, ",\"cmid\":", cmid, cmid_len);
    n += member_write(out + n, ",\"from\":", from, from_len);
    n += member_write(out + n, ",\"author\":", author, author_len);
    n += member_write(out + n, ",\"text\":", at, text_len);
    /* ts: the milliseconds that start the stream id */
    long long ts = strtoll(id, NULL, 10);
    n += (size_t)snprintf(out + n, chat->frame_size - n, ",\"ts\":%lld}", ts);
    *len = n;
    return out;
}
