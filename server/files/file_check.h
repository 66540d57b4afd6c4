/* file_check.h - is an uploaded file acceptable, and what bytes of it are kept.
 *
 * The pipeline the upload path calls once a body is spooled to a file: the type from the
 * content (libmagic, file_type.h) → the site's rules (allowed types, the never-list, the size,
 * the name's extension against the content) → image work (file_image.h: header checked for a
 * decompression bomb, decoded, re-encoded without metadata, a thumbnail) → the virus scan (a
 * running clamd, clamd.h, when clamd-socket is set) → one verdict.
 *
 * Nothing here blocks the loop: libmagic and libvips run on libuv's thread pool (uv_queue_work),
 * the scan talks to clamd on the loop. At most 2 files are worked on at once (the pool also
 * serves every uv_fs call); the others wait, within their deadline. The upload as sent is what
 * clamd scans (not the re-encoded image). The whole check has one deadline, file-check-seconds: past
 * it the verdict is `unavailable` at once; a worker still busy then cannot be stopped (a thread
 * is not killed), so its late result is thrown away and the files it wrote are removed when it
 * returns.
 *
 * Files: for an accepted image, stored_path and thumb_path are NEW files next to the upload,
 * "PATH.clean.EXT" and "PATH.thumb.jpg"; they belong to the caller from `done` on (move them into
 * the store, then remove them). For an accepted file that is not an image, stored_path is the
 * upload's own path (nothing new was written) and thumb_path is "". A refused file leaves nothing
 * behind: whatever the checker wrote is removed by it (by the worker, or with uv_fs_unlink started
 * before `done` when the refusal came later: the scan, the deadline). The upload itself (path)
 * is always the caller's, to remove. */
#ifndef BK_FILE_CHECK_H
#define BK_FILE_CHECK_H

#include "base/config.h"

#include <limits.h>
#include <stdint.h>
#include <uv.h>

typedef struct bk_file_rules {      /* a site's rules, resolved (defaults filled in) */
    const char *const *types;        /* allowed MIME types, "image/\*" allowed; NULL-terminated;
                                      * NULL: the defaults (bk_file_types_default, file_type.h) */
    uint64_t max_bytes;              /* default 10 MiB (BK_FILE_MAX_BYTES_DEFAULT); 0: the default */
} bk_file_rules;

typedef struct bk_file_verdict {
    const char *refusal;             /* NULL when accepted, else an error code of protocol/errors:
                                      * bad_request (zero bytes), too_large (over max_bytes, or an
                                      * image with too many pixels: a decompression bomb),
                                      * unsupported_type (the type is not allowed, never allowed,
                                      * does not match the name, or an image does not decode),
                                      * infected, unavailable (past the deadline, scanner
                                      * unreachable or failing, a file not read or written) */
    char message[256];               /* the refusal in words, for the client; "" when accepted */
    char type[128];                  /* the MIME type decided from the content, of the bytes kept
                                      * (a GIF is kept as a PNG: "image/png"); "" if not read */
    int image, width, height;        /* image: re-encoded; its size after re-encoding */
    char stored_path[PATH_MAX];      /* the bytes to keep: the re-encoded image or the upload */
    char thumb_path[PATH_MAX];       /* images: the thumbnail (JPEG); "" otherwise */
    uint64_t stored_bytes;
} bk_file_verdict;

typedef struct bk_file_checker bk_file_checker;

/* One per process (the server makes it at start-up). It initialises libvips, which is
 * process-wide state (vips_init once, its cache off, one vips thread per job: the concurrency
 * comes from libuv's thread pool), and reads clamd-socket and file-check-seconds from config.
 * NULL with err filled when libmagic's database cannot be loaded or libvips cannot start. */
bk_file_checker *bk_file_checker_new(uv_loop_t *loop, const bk_config *config, char *err, size_t err_size);

/* Frees the checker. Checks still in flight are answered `unavailable` first (each `done` is
 * called from here, on the loop); a worker still running keeps what it needs and removes its
 * files when it returns, as after a deadline. Run the loop after this (as at shutdown, until it
 * has no handles) so clamd connections and timers close. libvips is not shut down: it is
 * process-wide and another checker (tests) may start it again. */
void bk_file_checker_free(bk_file_checker *checker);

/* path: the spooled upload (owned by the caller, kept until done is called); name: the
 * visitor's or agent's file name (already sanitized). done is called exactly once, on the loop,
 * never before bk_file_check returns; the verdict is valid only during the call. */
void bk_file_check(bk_file_checker *checker, const char *path, const char *name,
                   const bk_file_rules *rules,
                   void (*done)(const bk_file_verdict *verdict, void *data), void *data);

#endif
