/* http_spool.c - a request body streamed to a file as it arrives (uploads).
 *
 * The usual body is read into memory (64 KiB at most). An upload is bigger, so it goes into a
 * file under data-dir/uploads/ instead, chunk by chunk: each piece lws hands over is copied
 * into a queue, hashed (SHA-256, so the route has the digest the moment the body ends) and
 * written with uv_fs (libuv's thread pool: a slow disk never stalls the loop). While more than
 * SPOOL_QUEUE_PAUSE bytes wait for the disk, the connection's reading is paused
 * (lws_rx_flow_control), so what a node holds for an upload does not grow with its size.
 *
 * Too large: a declared Content-Length over the route's ceiling is refused before a byte of the
 * body is read (net_spool_start); over the route's own limit (bk_http_spool_await, e.g. a
 * site's) the route hears it as soon as the headers and its limit are known; a chunked body is
 * counted as it comes and cut off, reading paused, once it passes the limit.
 *
 * Chunked bodies: lws 4.1 does not decode a chunked request body (it hands the raw bytes, chunk
 * sizes and all, as a body of unknown length), so this file does: chunk_decode below.
 *
 * The file belongs to the request and is removed with it, whatever happened: done, refused,
 * client gone, deadline passed. A write in flight when the request goes holds the spool until
 * it returns; the spool is freed (and its file removed) after that. */
#include "transport/net_internal.h"

#include "base/ids.h"
#include "base/log.h"

#include <beckon/protocol.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SPOOL_QUEUE_PAUSE   (256 * 1024)  /* bytes waiting for the disk that pause reading */
#define SPOOL_WRITE_BUFFERS 64            /* pieces written by one uv_fs_write */

typedef struct spool_piece {
    struct spool_piece *next;
    size_t len;
    char bytes[];
} spool_piece;

/* The chunked decoder's state (RFC 9112 7.1): size line, data, CRLF after data, trailers. */
typedef enum { CHUNK_SIZE, CHUNK_EXT, CHUNK_SIZE_LF, CHUNK_DATA, CHUNK_DATA_CR, CHUNK_DATA_LF,
               CHUNK_TRAILER, CHUNK_TRAILER_LF, CHUNK_DONE, CHUNK_BAD } chunk_state;

struct net_spool {
    bk_http *request;            /* NULL once the request is released */
    uv_loop_t *loop;
    char path[PATH_MAX + 64];
    uv_file fd;                  /* -1 until open */
    uv_fs_t fs;                  /* the one file operation in flight */
    int busy;                    /* fs is in flight */
    int failed;                  /* open or a write failed */
    spool_piece *head, *tail;    /* waiting for the disk */
    size_t queued;
    uint64_t offset;             /* bytes written */
    uint64_t received;           /* body bytes (decoded) so far */
    uint64_t ceiling, limit;     /* the route's ceiling; its limit once awaited */
    long long declared;          /* Content-Length, or -1 */
    int chunked;
    chunk_state chunk;
    uint64_t chunk_left;
    int chunk_digits;
    int complete;                /* the body has ended (all bytes received) */
    int finished;                /* everything is written and hashed: the body is done */
    int too_large, paused, gone, answered;
    EVP_MD_CTX *sha;
    char sha256[65];
    void (*done)(bk_http *request, const bk_spool_result *result, void *data);
    void *data;
};

/* ---- the folder ----------------------------------------------------------------------- */

int net_spool_dir_prepare(bk_net *net, char *err, size_t err_size)
{
    /* Start-up, before the loop runs: plain system calls are fine here. */
    snprintf(net->spool_dir, sizeof net->spool_dir, "%s/uploads", net->config->data_dir);
    if (mkdir(net->spool_dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, err_size, "cannot make %s: %s", net->spool_dir, strerror(errno));
        return -1;
    }
    /* What a process that was killed mid-upload left: nobody owns it any more. */
    DIR *dir = opendir(net->spool_dir);
    if (!dir) {
        snprintf(err, err_size, "cannot read %s: %s", net->spool_dir, strerror(errno));
        return -1;
    }
    struct dirent *entry;
    while ((entry = readdir(dir)))
        if (strncmp(entry->d_name, "up-", 3) == 0)
            unlinkat(dirfd(dir), entry->d_name, 0);
    closedir(dir);
    return 0;
}

/* ---- the end of a spool --------------------------------------------------------------- */

/* The end of a file: closed, then removed, then freed, each step on the thread pool. */
typedef struct spool_removal {
    uv_fs_t fs;
    char path[PATH_MAX + 64];
} spool_removal;

static void on_unlinked(uv_fs_t *fs)
{
    uv_fs_req_cleanup(fs);
    free(fs->data);
}

static void on_closed(uv_fs_t *fs)
{
    spool_removal *removal = fs->data;
    uv_loop_t *loop = fs->loop;
    uv_fs_req_cleanup(fs);
    if (uv_fs_unlink(loop, &removal->fs, removal->path, on_unlinked) != 0)
        free(removal);
}

static void spool_destroy(net_spool *spool)
{
    for (spool_piece *p = spool->head, *next; p; p = next) {
        next = p->next;
        free(p);
    }
    EVP_MD_CTX_free(spool->sha);
    spool_removal *removal = malloc(sizeof *removal);
    int started = 0;
    if (removal) {
        memcpy(removal->path, spool->path, sizeof removal->path);
        removal->fs.data = removal;
        started = spool->fd >= 0
            ? uv_fs_close(spool->loop, &removal->fs, spool->fd, on_closed) == 0
            : uv_fs_unlink(spool->loop, &removal->fs, removal->path, on_unlinked) == 0;
    }
    if (!started) {
        /* out of memory: the plain calls, once */
        if (spool->fd >= 0)
            close(spool->fd);
        unlink(spool->path);
        free(removal);
    }
    free(spool);
}

void net_spool_free(net_spool *spool)
{
    if (!spool)
        return;
    spool->request = NULL;
    if (!spool->busy)
        spool_destroy(spool);
}

/* Tells the route, once. */
static void spool_answer(net_spool *spool, bk_spool_status status)
{
    if (spool->answered || !spool->done || !spool->request)
        return;
    spool->answered = 1;
    bk_spool_result result = { .status = status, .path = spool->path,
                               .bytes = status == BK_SPOOL_TOO_LARGE && spool->declared > 0 &&
                                        (uint64_t)spool->declared > spool->received
                                            ? (uint64_t)spool->declared : spool->received };
    result.declared = spool->declared >= 0;
    if (status == BK_SPOOL_DONE)
        memcpy(result.sha256, spool->sha256, sizeof result.sha256);
    spool->done(spool->request, &result, spool->data);
}

/* ---- writing -------------------------------------------------------------------------- */

static void spool_pump(net_spool *spool);

static void spool_resume_reading(net_spool *spool)
{
    if (spool->paused && !spool->too_large && spool->queued < SPOOL_QUEUE_PAUSE / 2 &&
        spool->request && spool->request->wsi) {
        spool->paused = 0;
        lws_rx_flow_control(spool->request->wsi, 1);
    }
}

static void on_written(uv_fs_t *fs)
{
    net_spool *spool = fs->data;
    ssize_t result = fs->result;
    uv_fs_req_cleanup(fs);
    spool->busy = 0;
    if (!spool->request) {
        spool_destroy(spool);
        return;
    }
    if (result < 0) {
        bk_warn("upload: cannot write %s: %s", spool->path, uv_strerror((int)result));
        spool->failed = 1;
        spool_answer(spool, BK_SPOOL_FAILED);
        return;
    }
    /* uv_fs_write writes every buffer whole (it loops over short writes), so what went is the
     * pieces at the head of the queue. */
    size_t left = (size_t)result;
    spool->offset += left;
    while (spool->head && left >= spool->head->len) {
        spool_piece *p = spool->head;
        left -= p->len;
        spool->queued -= p->len;
        spool->head = p->next;
        free(p);
    }
    if (!spool->head)
        spool->tail = NULL;
    spool_resume_reading(spool);
    spool_pump(spool);
}

static void on_opened(uv_fs_t *fs)
{
    net_spool *spool = fs->data;
    ssize_t result = fs->result;
    uv_fs_req_cleanup(fs);
    spool->busy = 0;
    if (result >= 0)
        spool->fd = (uv_file)result;
    if (!spool->request) {
        spool_destroy(spool);
        return;
    }
    if (result < 0) {
        bk_warn("upload: cannot make %s: %s", spool->path, uv_strerror((int)result));
        spool->failed = 1;
        spool_answer(spool, BK_SPOOL_FAILED);
        return;
    }
    spool_pump(spool);
}

/* Writes what waits (one operation at a time, the pieces together); once the body has ended
 * and everything is written, the body is done. */
static void spool_pump(net_spool *spool)
{
    if (spool->busy || spool->failed || spool->fd < 0)
        return;
    if (spool->head) {
        uv_buf_t buffers[SPOOL_WRITE_BUFFERS];
        unsigned n = 0;
        for (spool_piece *p = spool->head; p && n < SPOOL_WRITE_BUFFERS; p = p->next)
            buffers[n++] = uv_buf_init(p->bytes, (unsigned)p->len);
        spool->fs.data = spool;
        if (uv_fs_write(spool->request->net->loop, &spool->fs, spool->fd, buffers, n,
                        (int64_t)spool->offset, on_written) != 0) {
            spool->failed = 1;
            spool_answer(spool, BK_SPOOL_FAILED);
            return;
        }
        spool->busy = 1;
        return;
    }
    if (spool->complete && !spool->finished && !spool->too_large) {
        spool->finished = 1;
        unsigned char digest[32];
        unsigned int digest_len = 0;
        EVP_DigestFinal_ex(spool->sha, digest, &digest_len);
        for (unsigned i = 0; i < 32; i++)
            snprintf(spool->sha256 + 2 * i, 3, "%02x", digest[i]);
        spool_answer(spool, BK_SPOOL_DONE);
    }
}

/* ---- reading -------------------------------------------------------------------------- */

static void spool_too_large(net_spool *spool)
{
    spool->too_large = 1;
    if (!spool->paused && spool->request && spool->request->wsi) {
        spool->paused = 1;
        lws_rx_flow_control(spool->request->wsi, 0);
    }
    spool_answer(spool, BK_SPOOL_TOO_LARGE);
}

/* Decoded body bytes: counted, hashed, queued for the disk. 0, or -1 (out of memory). */
static int spool_take(net_spool *spool, const char *bytes, size_t len)
{
    if (len == 0 || spool->too_large)
        return 0;
    uint64_t limit = spool->limit ? spool->limit : spool->ceiling;
    if (spool->received + len > limit) {
        spool->received += len;
        spool_too_large(spool);
        return 0;
    }
    spool->received += len;
    spool_piece *p = malloc(sizeof *p + len);
    if (!p)
        return -1;
    p->next = NULL;
    p->len = len;
    memcpy(p->bytes, bytes, len);
    if (spool->tail)
        spool->tail->next = p;
    else
        spool->head = p;
    spool->tail = p;
    spool->queued += len;
    EVP_DigestUpdate(spool->sha, bytes, len);
    if (spool->queued >= SPOOL_QUEUE_PAUSE && !spool->paused && spool->request->wsi) {
        spool->paused = 1;
        lws_rx_flow_control(spool->request->wsi, 0);
    }
    spool_pump(spool);
    return 0;
}

static int hex_digit(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Takes raw chunked bytes apart: the data goes to spool_take. 0, or -1 for a malformed body. */
static int chunk_decode(net_spool *spool, const char *in, size_t len)
{
    size_t i = 0;
    while (i < len) {
        char c = in[i];
        switch (spool->chunk) {
        case CHUNK_SIZE: {
            int d = hex_digit(c);
            if (d >= 0) {
                if (++spool->chunk_digits > 15)
                    return -1;
                spool->chunk_left = spool->chunk_left * 16 + (uint64_t)d;
            } else if (spool->chunk_digits == 0) {
                return -1;
            } else if (c == ';' || c == ' ' || c == '\t') {
                spool->chunk = CHUNK_EXT;
            } else if (c == '\r') {
                spool->chunk = CHUNK_SIZE_LF;
            } else {
                return -1;
            }
            i++;
            break;
        }
        case CHUNK_EXT:  /* extensions are skipped */
            if (c == '\r')
                spool->chunk = CHUNK_SIZE_LF;
            i++;
            break;
        case CHUNK_SIZE_LF:
            if (c != '\n')
                return -1;
            spool->chunk_digits = 0;
            spool->chunk = spool->chunk_left ? CHUNK_DATA : CHUNK_TRAILER;
            i++;
            break;
        case CHUNK_DATA: {
            size_t n = len - i < spool->chunk_left ? len - i : (size_t)spool->chunk_left;
            if (spool_take(spool, in + i, n) != 0)
                return -1;
            spool->chunk_left -= n;
            i += n;
            if (!spool->chunk_left)
                spool->chunk = CHUNK_DATA_CR;
            break;
        }
        case CHUNK_DATA_CR:
            if (c != '\r')
                return -1;
            spool->chunk = CHUNK_DATA_LF;
            i++;
            break;
        case CHUNK_DATA_LF:
            if (c != '\n')
                return -1;
            spool->chunk = CHUNK_SIZE;
            i++;
            break;
        case CHUNK_TRAILER:  /* a trailer line, or the empty line that ends the body */
            spool->chunk = c == '\r' ? CHUNK_TRAILER_LF : CHUNK_EXT;
            if (c != '\r') {
                /* a trailer field: skip its line, then look for the end again */
                spool->chunk = CHUNK_EXT;
                spool->chunk_left = 0;
            }
            i++;
            break;
        case CHUNK_TRAILER_LF:
            if (c != '\n')
                return -1;
            spool->chunk = CHUNK_DONE;
            i++;
            break;
        case CHUNK_DONE:
            return 0;  /* bytes after the body: ignored (the connection closes after the answer) */
        case CHUNK_BAD:
            return -1;
        }
    }
    return 0;
}

int net_spool_body(bk_http *r, const void *in, size_t len)
{
    net_spool *spool = r->spool;
    if (!spool || spool->too_large || spool->complete)
        return 0;
    if (!spool->chunked)
        return spool_take(spool, in, len);
    if (chunk_decode(spool, in, len) != 0) {
        spool->chunk = CHUNK_BAD;
        return -1;
    }
    if (spool->chunk == CHUNK_DONE && !spool->too_large) {
        spool->complete = 1;
        spool_pump(spool);
    }
    return 0;
}

void net_spool_body_end(bk_http *r)
{
    net_spool *spool = r->spool;
    if (!spool || spool->chunked || spool->too_large)
        return;
    spool->complete = 1;
    spool_pump(spool);
}

void net_spool_client_gone(bk_http *r)
{
    net_spool *spool = r->spool;
    if (!spool || spool->gone)
        return;
    spool->gone = 1;
    if (!spool->finished)
        spool_answer(spool, BK_SPOOL_GONE);
}

uint64_t net_spool_received(const bk_http *r)
{
    return r->spool ? r->spool->received : 0;
}

int net_spool_complete(const bk_http *r)
{
    return !r->spool || (r->spool->complete && !r->spool->too_large);
}

/* ---- the start ------------------------------------------------------------------------ */

static void megabytes(uint64_t bytes, char *out, size_t size)
{
    snprintf(out, size, "%.1f MB", (double)bytes / 1e6);
}

int net_spool_start(bk_net *net, bk_http *r, uint64_t ceiling)
{
    long long declared = net_http_content_length(r->wsi);
    if (declared >= 0 && (uint64_t)declared > ceiling) {
        char size[32], most[32], message[128];
        megabytes((uint64_t)declared, size, sizeof size);
        megabytes(ceiling, most, sizeof most);
        snprintf(message, sizeof message, "the body is %s; this server accepts at most %s", size, most);
        net_http_refuse(r->wsi, 413, BK_ERR_TOO_LARGE, message);
        return -1;
    }
    net_spool *spool = calloc(1, sizeof *spool);
    unsigned char random[16];
    if (!spool || !(spool->sha = EVP_MD_CTX_new()) || EVP_DigestInit_ex(spool->sha, EVP_sha256(), NULL) != 1 ||
        bk_random_bytes(random, sizeof random) != 0) {
        if (spool)
            EVP_MD_CTX_free(spool->sha);
        free(spool);
        net_http_refuse(r->wsi, 503, BK_ERR_UNAVAILABLE, "out of memory");
        return -1;
    }
    char encoding[32] = "";
    lws_hdr_copy(r->wsi, encoding, sizeof encoding, WSI_TOKEN_HTTP_TRANSFER_ENCODING);
    spool->request = r;
    spool->fd = -1;
    spool->ceiling = ceiling;
    spool->declared = declared;
    spool->chunked = declared < 0 && strcasecmp(encoding, "chunked") == 0;
    char name[2 * sizeof random + 1];
    for (size_t i = 0; i < sizeof random; i++)
        snprintf(name + 2 * i, 3, "%02x", random[i]);
    snprintf(spool->path, sizeof spool->path, "%s/up-%s", net->spool_dir, name);
    spool->loop = net->loop;
    spool->fs.data = spool;
    r->spool = spool;
    if (uv_fs_open(net->loop, &spool->fs, spool->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
                   0600, on_opened) != 0) {
        r->spool = NULL;
        net_spool_free(spool);
        net_http_refuse(r->wsi, 503, BK_ERR_UNAVAILABLE, "the upload cannot be stored now");
        return -1;
    }
    spool->busy = 1;
    if (declared == 0 || (declared < 0 && !spool->chunked))
        spool->complete = 1;  /* no body follows: an empty file */
    return 0;
}

void bk_http_spool_await(bk_http *r, uint64_t max_bytes,
                         void (*done)(bk_http *request, const bk_spool_result *result, void *data),
                         void *data)
{
    net_spool *spool = r->spool;
    if (!spool) {
        bk_spool_result result = { .status = BK_SPOOL_FAILED, .path = "" };
        done(r, &result, data);
        return;
    }
    spool->done = done;
    spool->data = data;
    spool->limit = max_bytes < spool->ceiling ? max_bytes : spool->ceiling;
    if (spool->declared >= 0 && (uint64_t)spool->declared > spool->limit) {
        spool_too_large(spool);
    } else if (spool->received > spool->limit || spool->too_large) {
        spool_too_large(spool);
    } else if (spool->failed) {
        spool_answer(spool, BK_SPOOL_FAILED);
    } else if (spool->gone || !r->wsi) {
        spool_answer(spool, BK_SPOOL_GONE);
    } else if (spool->finished) {
        spool_answer(spool, BK_SPOOL_DONE);
    }
}
