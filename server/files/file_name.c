/* file_name.c - an upload's metadata, and file names made safe (file_name.h). */
#include "files/file_name.h"

#include "base/ids.h"
#include "base/utf8.h"

#include <stdio.h>
#include <string.h>

/* The byte length of the UTF-8 character that starts with c (1 for anything else). */
static size_t utf8_char_len(unsigned char c)
{
    return c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
}

int bk_file_name_sanitize(const char *name, size_t len, char out[BK_FILE_NAME_MAX + 1])
{
    /* the last path segment, whichever separator the client's system uses */
    for (size_t i = len; i > 0; i--) {
        if (name[i - 1] == '/' || name[i - 1] == '\\') {
            name += i;
            len -= i;
            break;
        }
    }
    /* at most 4 KiB looked at: a name longer than that is cut anyway */
    char kept[4096];
    size_t n = 0;
    for (size_t i = 0; i < len && n < sizeof kept - 1; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c == 0x7f)
            continue;  /* control characters: dropped */
        kept[n++] = c == '"' ? '\'' : (char)c;
    }
    kept[n] = '\0';
    bk_utf8_repair(kept);  /* invalid bytes become '?' */
    n = strlen(kept);
    /* no C1 controls either (U+0080-U+009F, 0xC2 0x80-0x9F), nor line or paragraph separators */
    size_t w = 0;
    for (size_t i = 0; i < n;) {
        size_t c = utf8_char_len((unsigned char)kept[i]);
        int drop = (c == 2 && (unsigned char)kept[i] == 0xc2 && (unsigned char)kept[i + 1] < 0xa0) ||
                   (c == 3 && (unsigned char)kept[i] == 0xe2 && (unsigned char)kept[i + 1] == 0x80 &&
                    ((unsigned char)kept[i + 2] == 0xa8 || (unsigned char)kept[i + 2] == 0xa9 ||
                     ((unsigned char)kept[i + 2] >= 0xaa && (unsigned char)kept[i + 2] <= 0xae)));
        if (!drop) {
            memmove(kept + w, kept + i, c);
            w += c;
        }
        i += c;
    }
    kept[w] = '\0';
    /* no leading dots or spaces (no "..", no hidden file), no trailing ones (Windows drops them) */
    const char *start = kept + strspn(kept, ". ");
    size_t left = strlen(start);
    while (left > 0 && (start[left - 1] == '.' || start[left - 1] == ' '))
        left--;
    if (left == 0)
        return -1;
    if (left <= BK_FILE_NAME_MAX) {
        memcpy(out, start, left);
        out[left] = '\0';
        return 0;
    }
    /* too long: cut the stem at a character, keep the extension (up to 16 bytes of it) */
    const char *dot = NULL;
    for (size_t i = left; i > 0 && left - i < 17; i--)
        if (start[i - 1] == '.') {
            dot = start + i - 1;
            break;
        }
    size_t ext = dot ? left - (size_t)(dot - start) : 0;
    size_t stem = BK_FILE_NAME_MAX - ext;
    while (stem > 0 && ((unsigned char)start[stem] & 0xc0) == 0x80)
        stem--;  /* not inside a character */
    while (!ext && stem > 0 && (start[stem - 1] == '.' || start[stem - 1] == ' '))
        stem--;  /* the cut must not leave a trailing dot or space either */
    memcpy(out, start, stem);
    if (ext)
        memcpy(out + stem, dot, ext);
    out[stem + ext] = '\0';
    return stem > 0 ? 0 : -1;
}

/* The value of key in the query, as given (NULL when absent), and its length. */
static const char *query_value(const char *query, const char *key, size_t *len)
{
    size_t key_len = strlen(key);
    for (const char *at = query; *at;) {
        size_t pair = strcspn(at, "&");
        if (pair > key_len && strncmp(at, key, key_len) == 0 && at[key_len] == '=') {
            *len = pair - key_len - 1;
            return at + key_len + 1;
        }
        at += pair + (at[pair] == '&');
    }
    return NULL;
}

int bk_file_upload_meta_parse(const char *query, bk_file_upload_meta *meta, char *why, size_t why_size)
{
    memset(meta, 0, sizeof *meta);
    size_t len;
    const char *cmid = query_value(query, "cmid", &len);
    if (!cmid || len == 0 || len > BK_CMID_MAX) {
        snprintf(why, why_size, "cmid: required, 1 to %d bytes", BK_CMID_MAX);
        return -1;
    }
    memcpy(meta->cmid, cmid, len);
    if (!bk_utf8_valid(meta->cmid, len) || strlen(meta->cmid) != len) {
        snprintf(why, why_size, "cmid: not valid UTF-8");
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)meta->cmid[i] < 0x20 || meta->cmid[i] == ' ' || meta->cmid[i] == 0x7f) {
            snprintf(why, why_size, "cmid: no spaces or control characters");
            return -1;
        }
    }
    const char *name = query_value(query, "name", &len);
    if (!name || len == 0) {
        snprintf(why, why_size, "name: required (the file's name, percent-encoded UTF-8)");
        return -1;
    }
    if (bk_file_name_sanitize(name, len, meta->name) != 0) {
        snprintf(why, why_size, "name: nothing of it can be used as a file name");
        return -1;
    }
    const char *conversation = query_value(query, "conversation", &len);
    if (conversation && len > 0) {
        if (len > BK_ID_MAX) {
            snprintf(why, why_size, "conversation: not a conversation id");
            return -1;
        }
        memcpy(meta->conversation, conversation, len);
        if (!bk_id_valid(meta->conversation) || strncmp(meta->conversation, "c_", 2) != 0) {
            snprintf(why, why_size, "conversation: not a conversation id");
            return -1;
        }
    }
    return 0;
}

int bk_file_disposition(const char *disposition, const char *name, char *out, size_t size)
{
    static const char hex[] = "0123456789ABCDEF";
    char ascii[BK_FILE_NAME_MAX + 1], encoded[BK_FILE_NAME_MAX * 3 + 1];
    size_t a = 0, e = 0;
    for (const unsigned char *c = (const unsigned char *)name; *c && a < BK_FILE_NAME_MAX; c++) {
        /* the quoted form: printable ASCII but for the characters a quoted-string escapes */
        if ((*c & 0xc0) != 0x80)  /* one '_' a character, not a byte */
            ascii[a++] = (*c >= 0x20 && *c < 0x7f && *c != '"' && *c != '\\' && *c != '%') ? (char)*c : '_';
        /* the extended form: RFC 8187 attr-char as is, everything else %XX */
        if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
            strchr("!#$&+-.^_`|~", *c)) {
            encoded[e++] = (char)*c;
        } else {
            encoded[e++] = '%';
            encoded[e++] = hex[*c >> 4];
            encoded[e++] = hex[*c & 15];
        }
    }
    ascii[a] = '\0';
    encoded[e] = '\0';
    int n = snprintf(out, size, "%s; filename=\"%s\"; filename*=UTF-8''%s", disposition, ascii, encoded);
    return n > 0 && (size_t)n < size ? 0 : -1;
}

void bk_file_size_words(uint64_t bytes, char *out, size_t size)
{
    double mb = (double)bytes / 1e6;
    if (bytes < 1000)
        snprintf(out, size, "%llu bytes", (unsigned long long)bytes);
    else if (bytes < 1000000)
        snprintf(out, size, "%.0f KB", (double)bytes / 1e3);
    else
        snprintf(out, size, mb >= 10 || mb == (double)(long long)mb ? "%.0f MB" : "%.1f MB", mb);
}
