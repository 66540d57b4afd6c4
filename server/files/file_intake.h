/* file_intake.h - a spooled file taken in: checked, stored, and described for its message. The
 * one path of every file that becomes a message, whoever brought it: an upload (http/files.c)
 * or a mail's attachment (mail/mail_receiver.c).
 *
 *   spool path + name + the site's rules → bk_file_check (file_check.h) → a fresh id f_TAG_… →
 *   bk_file_store_put of the bytes, then of the thumbnail → the metadata the message keeps.
 *
 * The files the check wrote beside the spooled one (a re-encoded image, its thumbnail) are
 * removed here, whatever the outcome; the spooled file itself stays the caller's. Once the
 * result says `stored`, the bytes are in the file store under file_id: the caller removes them
 * (bk_file_store_remove) if the message is then not stored (a refusal, a duplicate). */
#ifndef BK_FILE_INTAKE_H
#define BK_FILE_INTAKE_H

#include "base/auth.h"
#include "base/keys.h"
#include "files/file_check.h"
#include "files/file_store.h"

#include <beckon/protocol.h>
#include <uv.h>

typedef struct bk_file_intake_result {
    const char *refusal;         /* NULL: stored; else an error code (protocol/errors) */
    char message[256];           /* the refusal in words; "" when stored */
    int stored;                  /* the bytes are in the store under file_id */
    char file_id[BK_ID_MAX + 1];
    char type[128];              /* of the bytes kept */
    int image, width, height;
    int thumb;                   /* a thumbnail was stored too */
    uint64_t size;               /* bytes kept */
} bk_file_intake_result;

/* The site's rules as file_begin.lua answers them ({visitors, types, max_bytes,
 * per_conversation, files}), defaults filled in and max_bytes capped at BK_FILE_MAX_BYTES_LIMIT. */
typedef struct bk_file_site_rules {
    bk_file_rules rules;         /* its types point into `types` */
    char **types;                /* NULL-terminated, NULL: the defaults */
    long long per_conversation;  /* files a conversation takes */
    long long files;             /* the conversation's so far */
    int visitors;                /* visitors may send files */
} bk_file_site_rules;
/* 0, or -1 (memory, or not a JSON object): close it either way. */
int bk_file_site_rules_read(const char *json, size_t len, bk_file_site_rules *out);
void bk_file_site_rules_close(bk_file_site_rules *rules);

typedef void (*bk_file_intake_done)(const bk_file_intake_result *result, void *data);

/* Takes in the file at path (kept by the caller until done). checker: NULL when shutting down
 * (refused unavailable). tag: the slot the file lives in (its conversation's). done is called
 * exactly once, on the loop, never before this returns; the result is valid during the call. */
void bk_file_intake(uv_loop_t *loop, bk_file_checker *checker, bk_file_store *store, const char *path,
                    const char *name, const char *tag, const bk_file_rules *rules, bk_file_intake_done done,
                    void *data);

/* The message's file as JSON (malloc'd, compact): `file` is what the stream keeps ({id, name,
 * type, size, width?, height?, thumb?}), `hook` what webhooks get (with signed links, absolute
 * when public_url is not ""; links valid until link_expiry, Unix seconds). 0, or -1 (memory). */
int bk_file_intake_json(const bk_file_intake_result *result, const char *name, const uint8_t secret[BK_SECRET_SIZE],
                        long long link_expiry, const char *public_url, char **file, char **hook);

#endif
