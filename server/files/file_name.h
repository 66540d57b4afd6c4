/* file_name.h - an upload's metadata from its query, and file names made safe.
 *
 * POST /api/files?cmid=CMID&name=NAME[&conversation=ID]: what the client says about its file.
 * The name is the client's and may say anything: "../../etc/passwd", "a\r\nSet-Cookie: x",
 * "\"; filename=evil.html", bytes that are not UTF-8, a thousand characters. What Beckon keeps
 * and shows is its last path segment, in valid UTF-8, without control characters or quotes,
 * with no leading dots (so never "..", nor a hidden file), at most BK_FILE_NAME_MAX bytes (cut
 * at a character, keeping the extension). The fuzz target tests/fuzz/fuzz_upload_meta.c runs
 * these on anything. No I/O here. */
#ifndef BK_FILE_NAME_H
#define BK_FILE_NAME_H

#include <beckon/protocol.h>
#include <stddef.h>
#include <stdint.h>

#define BK_FILE_NAME_MAX 200

typedef struct bk_file_upload_meta {
    char cmid[BK_CMID_MAX + 1];
    char name[BK_FILE_NAME_MAX + 1];       /* sanitized */
    char conversation[BK_ID_MAX + 1];      /* "" when not given */
} bk_file_upload_meta;

/* Reads the query (as the net hands it: lws has percent-decoded each value already). 0, or -1
 * with why filled ("cmid: required", "name: …"), for a 400 bad_request. */
int bk_file_upload_meta_parse(const char *query, bk_file_upload_meta *meta, char *why, size_t why_size);

/* The safe form of a name of len bytes (above): 0, or -1 when nothing usable is left (empty,
 * only dots, only control characters). out has BK_FILE_NAME_MAX + 1 bytes. */
int bk_file_name_sanitize(const char *name, size_t len, char out[BK_FILE_NAME_MAX + 1]);

/* The value of a Content-Disposition header for a sanitized name: disposition ("inline" or
 * "attachment") with filename="ASCII" (every other character, and '%' and '\\', as '_') and
 * filename*=UTF-8''PERCENT-ENCODED (RFC 6266, RFC 8187). 0, or -1 when it does not fit. */
#define BK_FILE_DISPOSITION_MAX (BK_FILE_NAME_MAX * 4 + 64)
int bk_file_disposition(const char *disposition, const char *name, char *out, size_t size);

/* A size in words, as people read them (decimal units): "512 bytes", "2 KB", "12.4 MB", "10 MB". */
void bk_file_size_words(uint64_t bytes, char *out, size_t size);

#endif
