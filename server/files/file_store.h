/* file_store.h - where the bytes of accepted files live, behind one interface, two backends.
 *
 * - dir (file-store = dir, the default): data-dir/files/TAG/ID and ID.thumb, written and read
 *   through uv_fs (libuv's thread pool), never on the loop's thread. For one node, or several
 *   sharing that folder.
 * - redis (file-store = redis): the key PREFIX{TAG}:file:ID:bytes (and :thumb) in the slot of
 *   the file's site, so it expires and is erased with its conversation in the same script step.
 *   Written with APPEND in chunks of at most BK_FILE_STORE_CHUNK and read back with GETRANGE in
 *   chunks: no command carries a whole file. For several nodes without a shared disk.
 *
 * A file id is "f_TAG_RANDOM" (base/keys.h): its tag names the slot (and the folder) it lives in.
 * variant: "file" (the bytes) or "thumb" (an image's thumbnail).
 *
 * Every callback is called exactly once, on the loop, never before the call returns. */
#ifndef BK_FILE_STORE_H
#define BK_FILE_STORE_H

#include "base/config.h"
#include "store/store.h"

#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#define BK_FILE_STORE_CHUNK (512 * 1024)

typedef struct bk_file_store bk_file_store;

/* backend from config->file_store; store: the Redis link (used by the redis backend). NULL with
 * err filled when the folder cannot be made. */
bk_file_store *bk_file_store_new(uv_loop_t *loop, const bk_config *config, bk_store *store,
                                 char *err, size_t err_size);
/* Work in flight keeps what it needs and finishes (or fails) after this; nothing is called
 * back once it is freed. */
void bk_file_store_free(bk_file_store *files);
/* "dir" or "redis". */
const char *bk_file_store_backend(const bk_file_store *files);

/* Stores the file at path (which stays the caller's) as id's variant. done: 0, or -1 (the
 * backend could not: unavailable). */
void bk_file_store_put(bk_file_store *files, const char *id, const char *variant, const char *path,
                       void (*done)(int status, void *data), void *data);

/* Reading, in chunks. opened: a reader and the size, or NULL with status -1 (storage trouble)
 * or 0 (there is no such file). */
typedef struct bk_file_reader bk_file_reader;
void bk_file_store_open(bk_file_store *files, const char *id, const char *variant,
                        void (*opened)(bk_file_reader *reader, uint64_t size, int status, void *data),
                        void *data);
/* The next chunk (at most BK_FILE_STORE_CHUNK bytes): got gets the bytes (valid during the
 * call) and their length, 0 at the end, -1 on trouble. One read at a time. */
void bk_file_reader_read(bk_file_reader *reader, void (*got)(const char *bytes, ssize_t len, void *data),
                         void *data);
/* Ends the reading (a read in flight still calls its got, then the reader is freed). */
void bk_file_reader_close(bk_file_reader *reader);

/* Removes both variants of id (the dir backend; the redis backend's keys go with their
 * conversation in its scripts, so this removes them there too, for the files a script named).
 * Best effort: done(0) or done(-1); done may be NULL. */
void bk_file_store_remove(bk_file_store *files, const char *id, void (*done)(int status, void *data),
                          void *data);

#endif
