/* file_link.h - the signed, expiring links a file is served from.
 *
 * A link is "/files/ID?exp=UNIX_SECONDS&sig=HEX" (the file) or "/files/ID/thumb?…" (its
 * thumbnail), sig = HMAC-SHA256 with the server's secret over "ID|VARIANT|EXP" (VARIANT "file"
 * or "thumb"). Whoever holds a link may fetch the file until exp: links are made on the node
 * for whoever receives a conversation's message (a recipient may see its files), and signed
 * anew for each history, resume or push, so a client whose link expired asks again. No Redis
 * is needed to check one. */
#ifndef BK_FILE_LINK_H
#define BK_FILE_LINK_H

#include "base/auth.h"

#include <stddef.h>
#include <stdint.h>

#define BK_FILE_LINK_MAX 192  /* "/files/" + an id + "/thumb?exp=…&sig=" + 64 hex digits, with room */

/* The signature of a link, 64 lowercase hex digits. variant: "file" or "thumb". */
void bk_file_link_sign(const uint8_t secret[BK_SECRET_SIZE], const char *id, const char *variant,
                       long long exp, char sig[65]);

/* The link (a path with its query, no host) valid until exp: 0, or -1 when it does not fit. */
int bk_file_link_make(const uint8_t secret[BK_SECRET_SIZE], const char *id, const char *variant,
                      long long exp, char out[BK_FILE_LINK_MAX]);

typedef enum { BK_FILE_LINK_OK = 0, BK_FILE_LINK_FORGED = -1, BK_FILE_LINK_EXPIRED = -2 } bk_file_link_check;

/* Checks a link's exp and sig (as given in its query) at now (Unix seconds). The comparison of
 * signatures takes the same time wherever they differ. */
bk_file_link_check bk_file_link_verify(const uint8_t secret[BK_SECRET_SIZE], const char *id,
                                       const char *variant, const char *exp, const char *sig,
                                       long long now);

/* A file's metadata as stored ({"id", …, "thumb": true?}) made into what clients get: "url"
 * and, with a thumbnail, "thumb_url" added, valid until exp; "thumb" removed. file: a JSON
 * object (jansson), changed in place; anything else is left alone. */
typedef struct json_t json_t;
void bk_file_links_add(json_t *file, const uint8_t secret[BK_SECRET_SIZE], long long exp);

/* Every "file" member of an array of messages, likewise. */
void bk_file_links_add_all(json_t *messages, const uint8_t secret[BK_SECRET_SIZE], long long exp);

/* A file's "url" and "thumb_url" (made by bk_file_links_add) prefixed with base, e.g.
 * "https://chat.example.com", for what is read outside a page of ours (a webhook, a mail). */
void bk_file_links_absolute(json_t *file, const char *base);

#endif
