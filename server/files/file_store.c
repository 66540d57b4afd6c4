/* file_store.c - the bytes of files: a folder (uv_fs) or Redis (APPEND/GETRANGE in chunks). */
#include "files/file_store.h"

#include "base/keys.h"
#include "base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef enum { BACKEND_DIR, BACKEND_REDIS } backend;

struct bk_file_store {
    uv_loop_t *loop;
    const bk_config *config;
    bk_store *store;
    backend kind;
    char dir[PATH_MAX];   /* data-dir/files */
    int pending;          /* operations in flight */
    int closing;          /* freed: the last operation frees the struct */
};

#define PATH_SIZE (PATH_MAX + 128)
#define KEY_SIZE  (BK_KEYS_PREFIX_SIZE + 96)

static void store_done(bk_file_store *files)
{
    if (--files->pending == 0 && files->closing)
        free(files);
}

bk_file_store *bk_file_store_new(uv_loop_t *loop, const bk_config *config, bk_store *store,
                                 char *err, size_t err_size)
{
    bk_file_store *files = calloc(1, sizeof *files);
    if (!files) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    files->loop = loop;
    files->config = config;
    files->store = store;
    if (strcmp(config->file_store, "dir") != 0 && strcmp(config->file_store, "redis") != 0) {
        snprintf(err, err_size, "file-store: expected dir or redis, not \"%s\"", config->file_store);
        free(files);
        return NULL;
    }
    files->kind = strcmp(config->file_store, "redis") == 0 ? BACKEND_REDIS : BACKEND_DIR;
    int n = snprintf(files->dir, sizeof files->dir, "%s/files", config->data_dir);
    /* start-up, before the loop runs: a plain mkdir is fine here */
    if (files->kind == BACKEND_DIR &&
        (n < 0 || (size_t)n >= sizeof files->dir || (mkdir(files->dir, 0700) != 0 && errno != EEXIST))) {
        snprintf(err, err_size, "cannot make %s/files: %s", config->data_dir, strerror(errno));
        free(files);
        return NULL;
    }
    return files;
}

void bk_file_store_free(bk_file_store *files)
{
    if (!files)
        return;
    files->closing = 1;
    if (files->pending == 0)
        free(files);
}

const char *bk_file_store_backend(const bk_file_store *files)
{
    return files->kind == BACKEND_REDIS ? "redis" : "dir";
}

/* data-dir/files/TAG (the folder) and data-dir/files/TAG/ID[.thumb] */
static int file_path(const bk_file_store *files, const char *id, const char *variant, char folder[PATH_SIZE],
                     char path[PATH_SIZE])
{
    char tag[BK_KEYS_TAG_LEN + 1];
    if (bk_keys_id_tag(id, tag) != 0)
        return -1;
    snprintf(folder, PATH_SIZE, "%s/%s", files->dir, tag);
    int n = snprintf(path, PATH_SIZE, "%s/%s%s", folder, id, strcmp(variant, "thumb") == 0 ? ".thumb" : "");
    return n > 0 && n < PATH_SIZE ? 0 : -1;
}

static int file_key(const bk_file_store *files, const char *id, const char *variant, char key[KEY_SIZE])
{
    char prefix[BK_KEYS_PREFIX_SIZE];
    bk_keys_prefix_of_id(files->config->prefix, id, prefix);
    int n = snprintf(key, KEY_SIZE, "%sfile:%s:%s", prefix, id, strcmp(variant, "thumb") == 0 ? "thumb" : "bytes");
    return n > 0 && n < KEY_SIZE ? 0 : -1;
}

/* ---- put ------------------------------------------------------------------------------ */

typedef struct put_job {
    bk_file_store *files;
    uv_fs_t fs;
    char source[PATH_SIZE], folder[PATH_SIZE], path[PATH_SIZE], key[KEY_SIZE];
    uv_file fd;
    char *buffer;
    int64_t offset;
    void (*done)(int status, void *data);
    void *data;
} put_job;

static void put_finish(put_job *job, int status)
{
    bk_file_store *files = job->files;
    if (!files->closing)
        job->done(status, job->data);
    if (job->fd >= 0) {
        uv_fs_t close_fs;  /* closing a file we only read: no disk wait */
        uv_fs_close(files->loop, &close_fs, job->fd, NULL);
        uv_fs_req_cleanup(&close_fs);
    }
    free(job->buffer);
    free(job);
    store_done(files);
}

/* dir: a hard link to the caller's file (no copy; the caller removes its own name), or a copy
 * when the two are on different file systems. */
static void on_copied(uv_fs_t *fs)
{
    put_job *job = fs->data;
    int result = (int)fs->result;
    uv_fs_req_cleanup(fs);
    if (result < 0)
        bk_warn("files: cannot store %s: %s", job->path, uv_strerror(result));
    put_finish(job, result < 0 ? -1 : 0);
}

static void on_linked(uv_fs_t *fs)
{
    put_job *job = fs->data;
    int result = (int)fs->result;
    uv_fs_req_cleanup(fs);
    if (result >= 0) {
        put_finish(job, 0);
        return;
    }
    if (uv_fs_copyfile(job->files->loop, &job->fs, job->source, job->path, UV_FS_COPYFILE_FICLONE, on_copied) != 0)
        put_finish(job, -1);
}

static void on_folder(uv_fs_t *fs)
{
    put_job *job = fs->data;
    uv_fs_req_cleanup(fs);  /* EEXIST is the usual answer */
    if (uv_fs_link(job->files->loop, &job->fs, job->source, job->path, on_linked) != 0)
        put_finish(job, -1);
}

/* redis: read a chunk, APPEND it, until the end */
static void put_read_next(put_job *job);

static void on_appended(redisReply *reply, void *data)
{
    put_job *job = data;
    if (!reply || reply->type != REDIS_REPLY_INTEGER) {
        put_finish(job, -1);
        return;
    }
    put_read_next(job);
}

static void on_chunk_read(uv_fs_t *fs)
{
    put_job *job = fs->data;
    ssize_t result = fs->result;
    uv_fs_req_cleanup(fs);
    if (result < 0) {
        put_finish(job, -1);
        return;
    }
    if (result == 0) {
        put_finish(job, job->offset > 0 ? 0 : -1);
        return;
    }
    job->offset += result;
    const char *argv[] = { "APPEND", job->key, job->buffer };
    size_t lengths[] = { 6, strlen(job->key), (size_t)result };
    if (bk_store_command(job->files->store, on_appended, job, 3, argv, lengths) != 0)
        put_finish(job, -1);
}

static void put_read_next(put_job *job)
{
    uv_buf_t buffer = uv_buf_init(job->buffer, BK_FILE_STORE_CHUNK);
    if (uv_fs_read(job->files->loop, &job->fs, job->fd, &buffer, 1, job->offset, on_chunk_read) != 0)
        put_finish(job, -1);
}

static void on_emptied(redisReply *reply, void *data)
{
    put_job *job = data;
    if (!reply || reply->type != REDIS_REPLY_INTEGER)
        put_finish(job, -1);
    else
        put_read_next(job);
}

static void on_source_opened(uv_fs_t *fs)
{
    put_job *job = fs->data;
    ssize_t result = fs->result;
    uv_fs_req_cleanup(fs);
    if (result < 0) {
        put_finish(job, -1);
        return;
    }
    job->fd = (uv_file)result;
    /* a key left by an earlier attempt that failed midway is started afresh */
    const char *argv[] = { "DEL", job->key };
    if (bk_store_command(job->files->store, on_emptied, job, 2, argv, NULL) != 0)
        put_finish(job, -1);
}

void bk_file_store_put(bk_file_store *files, const char *id, const char *variant, const char *path,
                       void (*done)(int status, void *data), void *data)
{
    put_job *job = calloc(1, sizeof *job);
    if (!job) {
        done(-1, data);  /* out of memory: the one answer given at once */
        return;
    }
    *job = (put_job){ .files = files, .fd = -1, .done = done, .data = data };
    job->fs.data = job;
    snprintf(job->source, sizeof job->source, "%s", path);
    files->pending++;
    int started;
    if (files->kind == BACKEND_DIR) {
        started = file_path(files, id, variant, job->folder, job->path) == 0 &&
                  uv_fs_mkdir(files->loop, &job->fs, job->folder, 0700, on_folder) == 0;
    } else {
        started = file_key(files, id, variant, job->key) == 0 &&
                  (job->buffer = malloc(BK_FILE_STORE_CHUNK)) != NULL &&
                  uv_fs_open(files->loop, &job->fs, path, O_RDONLY | O_CLOEXEC, 0, on_source_opened) == 0;
    }
    if (!started)
        put_finish(job, -1);
}

/* ---- read ----------------------------------------------------------------------------- */

struct bk_file_reader {
    bk_file_store *files;
    uv_fs_t fs;
    uv_file fd;
    char path[PATH_SIZE], key[KEY_SIZE];
    uint64_t size, offset;
    char *buffer;
    int busy, closed;
    void (*opened)(bk_file_reader *reader, uint64_t size, int status, void *data);
    void (*got)(const char *bytes, ssize_t len, void *data);
    void *data;
};

static void reader_free(bk_file_reader *reader)
{
    bk_file_store *files = reader->files;
    if (reader->fd >= 0) {
        uv_fs_t close_fs;
        uv_fs_close(files->loop, &close_fs, reader->fd, NULL);
        uv_fs_req_cleanup(&close_fs);
    }
    free(reader->buffer);
    free(reader);
    store_done(files);
}

static void reader_opened(bk_file_reader *reader, int status)
{
    if (reader->files->closing || status <= 0) {
        if (!reader->files->closing)
            reader->opened(NULL, 0, status, reader->data);
        reader_free(reader);
        return;
    }
    reader->opened(reader, reader->size, 1, reader->data);
}

static void on_stat(uv_fs_t *fs)
{
    bk_file_reader *reader = fs->data;
    int ok = fs->result >= 0;
    reader->size = ok ? (uint64_t)fs->statbuf.st_size : 0;
    uv_fs_req_cleanup(fs);
    reader_opened(reader, ok ? 1 : -1);
}

static void on_reader_opened(uv_fs_t *fs)
{
    bk_file_reader *reader = fs->data;
    ssize_t result = fs->result;
    uv_fs_req_cleanup(fs);
    if (result < 0) {
        reader_opened(reader, result == UV_ENOENT ? 0 : -1);
        return;
    }
    reader->fd = (uv_file)result;
    if (uv_fs_fstat(reader->files->loop, &reader->fs, reader->fd, on_stat) != 0)
        reader_opened(reader, -1);
}

static void on_strlen(redisReply *reply, void *data)
{
    bk_file_reader *reader = data;
    if (!reply || reply->type != REDIS_REPLY_INTEGER) {
        reader_opened(reader, -1);
        return;
    }
    reader->size = (uint64_t)reply->integer;
    reader_opened(reader, reply->integer > 0 ? 1 : 0);
}

void bk_file_store_open(bk_file_store *files, const char *id, const char *variant,
                        void (*opened)(bk_file_reader *reader, uint64_t size, int status, void *data),
                        void *data)
{
    bk_file_reader *reader = calloc(1, sizeof *reader);
    char *buffer = malloc(BK_FILE_STORE_CHUNK);
    if (!reader || !buffer) {
        free(reader);
        free(buffer);
        opened(NULL, 0, -1, data);
        return;
    }
    *reader = (bk_file_reader){ .files = files, .fd = -1, .buffer = buffer, .opened = opened, .data = data };
    reader->fs.data = reader;
    files->pending++;
    char folder[PATH_SIZE];
    int started;
    if (files->kind == BACKEND_DIR) {
        started = file_path(files, id, variant, folder, reader->path) == 0 &&
                  uv_fs_open(files->loop, &reader->fs, reader->path, O_RDONLY | O_CLOEXEC, 0, on_reader_opened) == 0;
    } else {
        const char *argv[] = { "STRLEN", reader->key };
        started = file_key(files, id, variant, reader->key) == 0 &&
                  bk_store_command(files->store, on_strlen, reader, 2, argv, NULL) == 0;
    }
    if (!started) {
        reader->opened = NULL;
        opened(NULL, 0, -1, data);
        reader_free(reader);
    }
}

static void read_done(bk_file_reader *reader, const char *bytes, ssize_t len)
{
    if (len > 0)
        reader->offset += (uint64_t)len;
    /* still busy during got: a close from inside it only marks the reader, freed below */
    if (!reader->closed && !reader->files->closing)
        reader->got(bytes, len, reader->data);
    reader->busy = 0;
    if (reader->closed)
        reader_free(reader);
}

static void on_read(uv_fs_t *fs)
{
    bk_file_reader *reader = fs->data;
    ssize_t result = fs->result;
    uv_fs_req_cleanup(fs);
    read_done(reader, reader->buffer, result < 0 ? -1 : result);
}

static void on_getrange(redisReply *reply, void *data)
{
    bk_file_reader *reader = data;
    if (!reply || reply->type != REDIS_REPLY_STRING)
        read_done(reader, NULL, -1);
    else
        read_done(reader, reply->str, (ssize_t)reply->len);
}

void bk_file_reader_read(bk_file_reader *reader, void (*got)(const char *bytes, ssize_t len, void *data),
                         void *data)
{
    reader->got = got;
    reader->data = data;
    reader->busy = 1;
    if (reader->offset >= reader->size) {
        read_done(reader, "", 0);
        return;
    }
    uint64_t want = reader->size - reader->offset;
    if (want > BK_FILE_STORE_CHUNK)
        want = BK_FILE_STORE_CHUNK;
    int started;
    if (reader->files->kind == BACKEND_DIR) {
        uv_buf_t buffer = uv_buf_init(reader->buffer, (unsigned)want);
        started = uv_fs_read(reader->files->loop, &reader->fs, reader->fd, &buffer, 1, (int64_t)reader->offset,
                             on_read) == 0;
    } else {
        char start[24], end[24];
        snprintf(start, sizeof start, "%llu", (unsigned long long)reader->offset);
        snprintf(end, sizeof end, "%llu", (unsigned long long)(reader->offset + want - 1));
        const char *argv[] = { "GETRANGE", reader->key, start, end };
        started = bk_store_command(reader->files->store, on_getrange, reader, 4, argv, NULL) == 0;
    }
    if (!started)
        read_done(reader, NULL, -1);
}

void bk_file_reader_close(bk_file_reader *reader)
{
    reader->closed = 1;
    if (!reader->busy)
        reader_free(reader);
}

/* ---- remove --------------------------------------------------------------------------- */

typedef struct remove_job {
    bk_file_store *files;
    uv_fs_t fs;
    char path[PATH_SIZE], thumb[PATH_SIZE], key[KEY_SIZE], thumb_key[KEY_SIZE];
    int status;
    void (*done)(int status, void *data);
    void *data;
} remove_job;

static void remove_finish(remove_job *job)
{
    if (job->done && !job->files->closing)
        job->done(job->status, job->data);
    bk_file_store *files = job->files;
    free(job);
    store_done(files);
}

static void on_thumb_unlinked(uv_fs_t *fs)
{
    remove_job *job = fs->data;
    uv_fs_req_cleanup(fs);
    remove_finish(job);
}

static void on_file_unlinked(uv_fs_t *fs)
{
    remove_job *job = fs->data;
    if (fs->result < 0 && fs->result != UV_ENOENT)
        job->status = -1;
    uv_fs_req_cleanup(fs);
    if (uv_fs_unlink(job->files->loop, &job->fs, job->thumb, on_thumb_unlinked) != 0)
        remove_finish(job);
}

static void on_keys_deleted(redisReply *reply, void *data)
{
    remove_job *job = data;
    job->status = reply && reply->type == REDIS_REPLY_INTEGER ? 0 : -1;
    remove_finish(job);
}

void bk_file_store_remove(bk_file_store *files, const char *id, void (*done)(int status, void *data),
                          void *data)
{
    remove_job *job = calloc(1, sizeof *job);
    if (!job) {
        if (done)
            done(-1, data);
        return;
    }
    *job = (remove_job){ .files = files, .done = done, .data = data };
    job->fs.data = job;
    files->pending++;
    char folder[PATH_SIZE];
    int started;
    if (files->kind == BACKEND_DIR) {
        started = file_path(files, id, "file", folder, job->path) == 0 &&
                  file_path(files, id, "thumb", folder, job->thumb) == 0 &&
                  uv_fs_unlink(files->loop, &job->fs, job->path, on_file_unlinked) == 0;
    } else {
        const char *argv[] = { "DEL", job->key, job->thumb_key };
        started = file_key(files, id, "file", job->key) == 0 && file_key(files, id, "thumb", job->thumb_key) == 0 &&
                  bk_store_command(files->store, on_keys_deleted, job, 3, argv, NULL) == 0;
    }
    if (!started) {
        job->status = -1;
        remove_finish(job);
    }
}
