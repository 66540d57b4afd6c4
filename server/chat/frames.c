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
 * milliseconds of the id), in one order. A file's message (docs/protocol.md, "Files") is
 *
 *   ~file CONVERSATION ID FROM AUTHOR_BYTES AUTHOR CMID_BYTES CMID FILE TYPE SIZE WIDTH HEIGHT THUMB NAME
 *
 * and its frame has "file":{"id","name","type","size","width"?,"height"?,"url","thumb_url"?} too,
 * with links signed here, on the node, valid file-link-hours (files/file_link.h). Every other bus
 * frame is JSON already and passes as it is. */
#include "chat/chat_internal.h"

#include "base/ids.h"
#include "base/log.h"
#include "files/file_link.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RECORD_MESSAGE      "~message "
#define RECORD_FILE         "~file "
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

/* Skips count fields: 0, or -1. */
static int skip_words(const char **at, const char *end, int count)
{
    const char *word;
    size_t len;
    for (int i = 0; i < count; i++)
        if (word_take(at, end, &word, &len) != 0)
            return -1;
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

/* A number field of a file's record: 0 and *value, or -1. */
static int number_take(const char **at, const char *end, long long *value)
{
    const char *word;
    size_t len;
    if (word_take(at, end, &word, &len) != 0 || len > 15)
        return -1;
    *value = 0;
    for (size_t i = 0; i < len; i++) {
        if (word[i] < '0' || word[i] > '9')
            return -1;
        *value = *value * 10 + (word[i] - '0');
    }
    return 0;
}

/* ,"file":{…} of a file's record at *at (past the cmid): bytes written, or 0 when the record
 * cannot be read. out has room for FILE_MEMBER_BYTES plus 6 bytes a byte of the rest. */
#define FILE_MEMBER_BYTES (2 * BK_FILE_LINK_MAX + 160)

static size_t file_member_write(bk_chat *chat, char *out, size_t size, const char **at, const char *end,
                                const char *name, size_t name_len)
{
    const char *file, *type;
    size_t file_len, type_len;
    long long bytes, width, height, thumb;
    if (word_take(at, end, &file, &file_len) != 0 || word_take(at, end, &type, &type_len) != 0 ||
        number_take(at, end, &bytes) != 0 || number_take(at, end, &width) != 0 ||
        number_take(at, end, &height) != 0 || number_take(at, end, &thumb) != 0 || file_len > BK_ID_MAX)
        return 0;
    char id[BK_ID_MAX + 1], link[BK_FILE_LINK_MAX], thumb_link[BK_FILE_LINK_MAX];
    memcpy(id, file, file_len);
    id[file_len] = '\0';
    long long exp = (long long)(bk_now_ms() / 1000) + 3600LL * chat->server->config->file_link_hours;
    if (bk_file_link_make(chat->server->secret, id, "file", exp, link) != 0 ||
        bk_file_link_make(chat->server->secret, id, "thumb", exp, thumb_link) != 0)
        return 0;
    size_t n = 0;
    n += member_write(out + n, ",\"file\":{\"id\":", file, file_len);
    n += member_write(out + n, ",\"name\":", name, name_len);
    n += member_write(out + n, ",\"type\":", type, type_len);
    n += (size_t)snprintf(out + n, size - n, ",\"size\":%lld", bytes);
    if (width > 0 && height > 0)
        n += (size_t)snprintf(out + n, size - n, ",\"width\":%lld,\"height\":%lld", width, height);
    n += member_write(out + n, ",\"url\":", link, strlen(link));
    if (thumb)
        n += member_write(out + n, ",\"thumb_url\":", thumb_link, strlen(thumb_link));
    out[n++] = '}';
    return n;
}

const char *chat_frame_expand(bk_chat *chat, const char *text, size_t *len)
{
    size_t prefix = sizeof RECORD_MESSAGE - 1;
    int is_file = 0;
    if (*len >= sizeof RECORD_FILE - 1 && memcmp(text, RECORD_FILE, sizeof RECORD_FILE - 1) == 0) {
        prefix = sizeof RECORD_FILE - 1;
        is_file = 1;
    } else if (*len < prefix || memcmp(text, RECORD_MESSAGE, prefix) != 0) {
        return text;
    }
    const char *at = text + prefix, *end = text + *len;
    const char *conversation, *id, *from, *author, *cmid;
    size_t conversation_len, id_len, from_len, author_len, cmid_len;
    const char *file_at = NULL;
    if (word_take(&at, end, &conversation, &conversation_len) != 0 || word_take(&at, end, &id, &id_len) != 0 ||
        word_take(&at, end, &from, &from_len) != 0 || counted_take(&at, end, &author, &author_len) != 0 ||
        counted_take(&at, end, &cmid, &cmid_len) != 0 ||
        (is_file && (file_at = at, skip_words(&at, end, 6) != 0))) {
        static int told;
        if (!told++)
            bk_warn("bus: a message record that cannot be read (dropped; said once)");
        return NULL;
    }
    size_t text_len = (size_t)(end - at);
    size_t escaped = 6 * (conversation_len + id_len + from_len + author_len + cmid_len + 2 * text_len +
                          (size_t)(at - text));
    char *out = buffer_reserve(chat, escaped + FRAME_FIXED_BYTES + (is_file ? FILE_MEMBER_BYTES : 0));
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
    if (is_file) {
        size_t written = file_member_write(chat, out + n, chat->frame_size - n, &file_at, at, at, text_len);
        if (written == 0) {
            static int told_file;
            if (!told_file++)
                bk_warn("bus: a file's record that cannot be read (dropped; said once)");
            return NULL;
        }
        n += written;
    }
    /* ts: the milliseconds that start the stream id */
    long long ts = strtoll(id, NULL, 10);
    n += (size_t)snprintf(out + n, chat->frame_size - n, ",\"ts\":%lld}", ts);
    *len = n;
    return out;
}
