/* clamd.c - INSTREAM to clamd over a unix socket, file reads on the pool, one deadline. */
#include "files/clamd.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#define CHUNK_BYTES (64 * 1024)
#define REPLY_MAX 1024  /* "stream: NAME FOUND"; clamd's longest signature names are ~100 bytes */

struct bk_clamd_scan {
    uv_loop_t *loop;
    uv_pipe_t pipe;
    uv_timer_t timer;
    uv_connect_t connect;
    uv_write_t write;
    uv_fs_t fs;
    int pending;           /* handles open and fs requests in flight: freed when none is left */
    int finished;          /* done was called (or the scan cancelled): everything winds down */
    int fs_busy;           /* fs is in flight (an fs request cannot be taken back) */
    uv_file file;          /* -1: not open */
    int64_t offset;
    uint64_t timeout_ms;
    char early_error[128]; /* an error found before any I/O, reported from the timer */
    bk_clamd_done done;
    void *data;
    char path[PATH_MAX];
    unsigned char length[4];
    char chunk[CHUNK_BYTES];
    char reply[REPLY_MAX];
    size_t reply_length;
};

static void release(bk_clamd_scan *scan)
{
    if (--scan->pending == 0)
        free(scan);
}

static void handle_closed(uv_handle_t *handle)
{
    release(handle->data);
}

static void file_closed(uv_fs_t *req)
{
    bk_clamd_scan *scan = req->data;
    uv_fs_req_cleanup(req);
    scan->fs_busy = 0;
    release(scan);
}

/* Closes the file once no read is in flight on it (the read's callback comes here again). */
static void file_close(bk_clamd_scan *scan)
{
    if (scan->fs_busy || scan->file < 0)
        return;
    uv_file file = scan->file;
    scan->file = -1;
    scan->fs_busy = 1;
    scan->pending++;
    if (uv_fs_close(scan->loop, &scan->fs, file, file_closed) != 0) {
        /* Only the hold taken just above goes: the caller holds the scan, so it lives on (and
         * the compiler is not left to prove that release() cannot free it here). */
        scan->fs_busy = 0;
        scan->pending--;
    }
}

/* The one way out: done once (unless cancelled), then everything closed. */
static void finish(bk_clamd_scan *scan, bk_clamd_result result, const char *detail)
{
    if (scan->finished)
        return;
    scan->finished = 1;
    if (scan->done)
        scan->done(result, detail, scan->data);
    uv_close((uv_handle_t *)&scan->timer, handle_closed);
    uv_close((uv_handle_t *)&scan->pipe, handle_closed);
    file_close(scan);
}

static void fail(bk_clamd_scan *scan, const char *what, int status)
{
    char detail[256];
    snprintf(detail, sizeof detail, "clamd at %.150s: %s%s%s", scan->path, what, status ? ": " : "",
             status ? uv_strerror(status) : "");
    finish(scan, BK_CLAMD_ERROR, detail);
}

static void timer_fired(uv_timer_t *timer)
{
    bk_clamd_scan *scan = timer->data;
    if (scan->early_error[0]) {
        finish(scan, BK_CLAMD_ERROR, scan->early_error);
        return;
    }
    char detail[128];
    snprintf(detail, sizeof detail, "clamd did not answer within %.1f s", (double)scan->timeout_ms / 1000.0);
    finish(scan, BK_CLAMD_ERROR, detail);
}

/* clamd's answer, NUL-terminated (the z of zINSTREAM): "stream: OK", "stream: NAME FOUND" or
 * "MESSAGE ERROR". */
static void reply_judge(bk_clamd_scan *scan)
{
    const char *reply = scan->reply;
    size_t length = strlen(reply);
    static const char found[] = " FOUND", stream[] = "stream: ";
    if (strcmp(reply, "stream: OK") == 0) {
        finish(scan, BK_CLAMD_CLEAN, "");
    } else if (strncmp(reply, stream, sizeof stream - 1) == 0 && length > sizeof stream - 1 + sizeof found - 1 &&
               strcmp(reply + length - (sizeof found - 1), found) == 0) {
        char name[REPLY_MAX];
        snprintf(name, sizeof name, "%.*s", (int)(length - (sizeof stream - 1) - (sizeof found - 1)),
                 reply + sizeof stream - 1);
        finish(scan, BK_CLAMD_FOUND, name);
    } else {
        char detail[REPLY_MAX + 64];
        snprintf(detail, sizeof detail, "clamd answered \"%.200s\"", reply);
        finish(scan, BK_CLAMD_ERROR, detail);
    }
}

static void reply_buffer(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    bk_clamd_scan *scan = handle->data;
    *buf = uv_buf_init(scan->reply + scan->reply_length, (unsigned)(REPLY_MAX - 1 - scan->reply_length));
}

static void reply_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    bk_clamd_scan *scan = stream->data;
    if (scan->finished)
        return;
    if (nread < 0) {
        /* clamd closes after its answer; closing without one (or before the whole stream was
         * sent: it stops reading on an error) is a failure. */
        fail(scan, nread == UV_EOF ? "closed the connection without an answer" : "reading", nread == UV_EOF ? 0 : (int)nread);
        return;
    }
    scan->reply_length += (size_t)nread;
    scan->reply[scan->reply_length] = '\0';
    if (strlen(scan->reply) < scan->reply_length) {  /* the terminating NUL arrived */
        reply_judge(scan);
    } else {
        /* Newline-terminated, from a clamd that ignored the z: the same words. */
        char *newline = strchr(scan->reply, '\n');
        if (newline) {
            *newline = '\0';
            reply_judge(scan);
        } else if (scan->reply_length == REPLY_MAX - 1) {
            fail(scan, "answered more than a reply's length", 0);
        }
    }
}

static void chunk_read(uv_fs_t *req);

static void next_chunk(bk_clamd_scan *scan)
{
    uv_buf_t buf = uv_buf_init(scan->chunk, CHUNK_BYTES);
    scan->fs_busy = 1;
    scan->pending++;
    int rc = uv_fs_read(scan->loop, &scan->fs, scan->file, &buf, 1, scan->offset, chunk_read);
    if (rc != 0) {
        scan->fs_busy = 0;
        scan->pending--;
        fail(scan, "reading the file", rc);
    }
}

static void chunk_written(uv_write_t *req, int status)
{
    bk_clamd_scan *scan = req->data;
    if (scan->finished)
        return;
    if (status < 0) {
        /* clamd may have stopped reading to answer an error (over StreamMaxLength): read it. */
        if (status != UV_EPIPE && status != UV_ECONNRESET)
            fail(scan, "writing", status);
        return;
    }
    if (scan->file >= 0)
        next_chunk(scan);
}

/* Sends a chunk's length and bytes (length 0: the end of the stream). */
static void chunk_send(bk_clamd_scan *scan, size_t length)
{
    scan->length[0] = (unsigned char)(length >> 24);
    scan->length[1] = (unsigned char)(length >> 16);
    scan->length[2] = (unsigned char)(length >> 8);
    scan->length[3] = (unsigned char)length;
    uv_buf_t bufs[2] = { uv_buf_init((char *)scan->length, 4), uv_buf_init(scan->chunk, (unsigned)length) };
    int rc = uv_write(&scan->write, (uv_stream_t *)&scan->pipe, bufs, length ? 2 : 1, chunk_written);
    if (rc != 0)
        fail(scan, "writing", rc);
}

static void chunk_read(uv_fs_t *req)
{
    bk_clamd_scan *scan = req->data;
    ssize_t result = req->result;
    uv_fs_req_cleanup(req);
    scan->fs_busy = 0;
    if (scan->finished) {
        file_close(scan);
        release(scan);  /* may be the last hold: the handles may have closed meanwhile */
        return;
    }
    scan->pending--;  /* not finished: the open handles still hold the scan */
    if (result < 0) {
        fail(scan, "reading the file", (int)result);
        return;
    }
    scan->offset += result;
    if (result == 0)
        file_close(scan);  /* the zero length below ends the stream; chunk_written sends no more */
    chunk_send(scan, (size_t)result);
}

static void file_opened(uv_fs_t *req)
{
    bk_clamd_scan *scan = req->data;
    ssize_t result = req->result;
    uv_fs_req_cleanup(req);
    scan->fs_busy = 0;
    if (result >= 0)
        scan->file = (uv_file)result;
    if (scan->finished) {
        file_close(scan);
        release(scan);
        return;
    }
    scan->pending--;
    if (result < 0) {
        fail(scan, "opening the file to scan", (int)result);
        return;
    }
    next_chunk(scan);
}

static void connected(uv_connect_t *req, int status)
{
    bk_clamd_scan *scan = req->data;
    if (scan->finished)
        return;
    if (status < 0) {
        fail(scan, "cannot connect", status);
        return;
    }
    static const char command[] = "zINSTREAM";  /* sent with its NUL */
    uv_buf_t buf = uv_buf_init((char *)command, sizeof command);
    int rc = uv_try_write((uv_stream_t *)&scan->pipe, &buf, 1);
    if (rc != (int)sizeof command) {
        /* A fresh unix socket's buffer takes 10 bytes at once; anything else is a failure. */
        fail(scan, "writing", rc < 0 ? rc : UV_EAGAIN);
        return;
    }
    if ((rc = uv_read_start((uv_stream_t *)&scan->pipe, reply_buffer, reply_read)) != 0) {
        fail(scan, "reading", rc);
        return;
    }
    scan->fs_busy = 1;
    scan->pending++;
    if ((rc = uv_fs_open(scan->loop, &scan->fs, scan->path + strlen(scan->path) + 1, O_RDONLY | O_CLOEXEC, 0,
                         file_opened)) != 0) {
        scan->fs_busy = 0;
        scan->pending--;
        fail(scan, "opening the file to scan", rc);
    }
}

bk_clamd_scan *bk_clamd_scan_start(uv_loop_t *loop, const char *socket_path, const char *file_path,
                                   uint64_t timeout_ms, bk_clamd_done done, void *data)
{
    size_t socket_length = strlen(socket_path), file_length = strlen(file_path);
    bk_clamd_scan *scan = calloc(1, sizeof *scan);
    if (!scan)
        return NULL;
    scan->loop = loop;
    scan->done = done;
    scan->data = data;
    scan->file = -1;
    scan->timeout_ms = timeout_ms;
    /* path holds "SOCKET\0FILE\0": the file's path is read by connected(). */
    if (socket_length + file_length + 2 > sizeof scan->path) {
        snprintf(scan->early_error, sizeof scan->early_error, "clamd: paths too long");
    } else {
        memcpy(scan->path, socket_path, socket_length + 1);
        memcpy(scan->path + socket_length + 1, file_path, file_length + 1);
    }
    if (socket_length >= sizeof ((struct sockaddr_un *)0)->sun_path)  /* libuv would cut it short */
        snprintf(scan->early_error, sizeof scan->early_error, "clamd-socket: path longer than %zu bytes",
                 sizeof ((struct sockaddr_un *)0)->sun_path - 1);
    uv_timer_init(loop, &scan->timer);
    uv_pipe_init(loop, &scan->pipe, 0);
    scan->timer.data = scan->pipe.data = scan->connect.data = scan->write.data = scan->fs.data = scan;
    scan->pending = 2;
    if (scan->early_error[0]) {
        uv_timer_start(&scan->timer, timer_fired, 0, 0);
        return scan;
    }
    uv_timer_start(&scan->timer, timer_fired, timeout_ms, 0);
    uv_pipe_connect(&scan->connect, &scan->pipe, scan->path, connected);
    return scan;
}

void bk_clamd_scan_cancel(bk_clamd_scan *scan)
{
    scan->done = NULL;
    finish(scan, BK_CLAMD_ERROR, "");
}
