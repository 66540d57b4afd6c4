/* file_check.c - an upload's checks in order, off the loop, under one deadline. */
#include "files/file_check.h"

#include "base/list.h"
#include "base/log.h"
#include "files/clamd.h"
#include "files/file_image.h"
#include "files/file_type.h"

#include <beckon/protocol.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Files checked at once on libuv's thread pool (4 threads unless UV_THREADPOOL_SIZE says
 * otherwise). The pool also does every uv_fs call of the server - the upload path's writes, the
 * scan's reads - so image work may take half of it at most; other files wait their turn,
 * within their deadline. */
#define WORKERS_MAX 2

#define UNAVAILABLE_MESSAGE "the file could not be checked; try again"

typedef enum job_state { JOB_WAITING, JOB_WORKING, JOB_SCANNING, JOB_ANSWERED } job_state;

typedef struct job {
    bk_list link;                /* on the checker's jobs (WAITING: on waiting as well) */
    bk_list queue_link;
    bk_file_checker *checker;
    job_state state;
    int pending;                 /* the timer handle, the work in flight: freed when none is left */
    uv_timer_t deadline;
    uv_work_t work;
    bk_clamd_scan *scan;
    uint64_t started_ms;
    char *path, *name;
    char **types;                /* a copy of the rules' list (NULL: the defaults) */
    uint64_t max_bytes;
    char detail[256];            /* for the log, when the verdict is unavailable */
    bk_file_verdict verdict;     /* written by the worker, read on the loop after it returns */
    void (*done)(const bk_file_verdict *verdict, void *data);
    void *data;
} job;

struct bk_file_checker {
    uv_loop_t *loop;
    bk_file_magic *magic;
    char clamd_socket[PATH_MAX];
    uint64_t deadline_ms;
    bk_list jobs;                /* every job not yet answered */
    bk_list waiting;             /* jobs waiting for a worker */
    int working;                 /* jobs on the pool */
    int alive;                   /* jobs not yet freed: a freed checker waits for them */
    int closing;
};

static void checker_destroy(bk_file_checker *checker)
{
    bk_file_magic_free(checker->magic);
    free(checker);
}

static void job_free(job *j)
{
    bk_file_checker *checker = j->checker;
    free(j->path);
    free(j->name);
    free(j->types);
    free(j);
    if (--checker->alive == 0 && checker->closing)
        checker_destroy(checker);
}

static void job_release(job *j)
{
    if (--j->pending == 0)
        job_free(j);
}

static void deadline_closed(uv_handle_t *handle)
{
    job_release(handle->data);
}

static void unlinked(uv_fs_t *req)
{
    uv_fs_req_cleanup(req);
    free(req);
}

/* Removes a file the checker wrote, without waiting for the disk. */
static void remove_later(uv_loop_t *loop, const char *path)
{
    uv_fs_t *req = malloc(sizeof *req);
    if (!req || uv_fs_unlink(loop, req, path, unlinked) != 0) {
        free(req);
        bk_warn("files: could not remove %s", path);
    }
}

/* The files the worker wrote, when they will not be handed over. */
static void remove_written(job *j)
{
    if (j->verdict.stored_path[0] && strcmp(j->verdict.stored_path, j->path) != 0)
        remove_later(j->checker->loop, j->verdict.stored_path);
    if (j->verdict.thumb_path[0])
        remove_later(j->checker->loop, j->verdict.thumb_path);
    j->verdict.stored_path[0] = j->verdict.thumb_path[0] = '\0';
}

static void verdict_refuse(bk_file_verdict *verdict, const char *code, const char *message)
{
    verdict->refusal = code;
    snprintf(verdict->message, sizeof verdict->message, "%s", message);
}

/* Answers once: done called, the job off the lists, its timer closed. The job lives on while
 * its work is on the pool. */
static void answer(job *j)
{
    if (j->state == JOB_ANSWERED)
        return;
    if (j->verdict.refusal == NULL && j->verdict.stored_path[0] == '\0')
        verdict_refuse(&j->verdict, BK_ERR_UNAVAILABLE, UNAVAILABLE_MESSAGE);  /* never accept nothing */
    if (j->verdict.refusal) {
        remove_written(j);
        j->verdict.image = j->verdict.width = j->verdict.height = 0;
        j->verdict.stored_bytes = 0;
        if (strcmp(j->verdict.refusal, BK_ERR_UNAVAILABLE) == 0)
            bk_warn("files: %s not checked: %s", j->path, j->detail[0] ? j->detail : "unknown");
    }
    if (j->state == JOB_WAITING)
        bk_list_remove(&j->queue_link);
    if (j->state == JOB_SCANNING && j->scan)
        bk_clamd_scan_cancel(j->scan);
    j->scan = NULL;
    j->state = JOB_ANSWERED;
    bk_list_remove(&j->link);
    j->done(&j->verdict, j->data);
    uv_close((uv_handle_t *)&j->deadline, deadline_closed);
}

static void deadline_passed(uv_timer_t *timer)
{
    job *j = timer->data;
    if (j->state == JOB_ANSWERED)
        return;
    if (!j->detail[0])
        snprintf(j->detail, sizeof j->detail, "past file-check-seconds (%s)",
                 j->state == JOB_WAITING ? "waiting for a worker" : j->state == JOB_WORKING ? "type and image work"
                                                                                         : "virus scan");
    /* A job on the pool cannot be stopped (a thread is not killed): its verdict is thrown away
     * when it returns and the files it wrote removed then (work_done). */
    bk_file_verdict *verdict = &j->verdict;
    if (j->state == JOB_WORKING) {
        static bk_file_verdict late;  /* the worker still writes j->verdict: answer from a copy */
        memset(&late, 0, sizeof late);
        verdict_refuse(&late, BK_ERR_UNAVAILABLE, UNAVAILABLE_MESSAGE);
        bk_warn("files: %s not checked: %s", j->path, j->detail);
        j->state = JOB_ANSWERED;
        bk_list_remove(&j->link);
        j->done(&late, j->data);
        uv_close((uv_handle_t *)&j->deadline, deadline_closed);
        return;
    }
    memset(verdict, 0, sizeof *verdict);
    verdict_refuse(verdict, BK_ERR_UNAVAILABLE, UNAVAILABLE_MESSAGE);
    answer(j);
}

/* "12.4 MB", "10 MB", "900 KB": MB as people read them on a file (MiB). */
static void size_words(uint64_t bytes, char *out, size_t out_size)
{
    double megabytes = (double)bytes / (1024.0 * 1024.0);
    if (bytes < 1024 * 1024)
        snprintf(out, out_size, "%llu KB", (unsigned long long)((bytes + 1023) / 1024));
    else if ((bytes % (1024 * 1024)) == 0)
        snprintf(out, out_size, "%llu MB", (unsigned long long)(bytes / (1024 * 1024)));
    else
        snprintf(out, out_size, "%.1f MB", megabytes);
}

/* On a pool thread: everything that reads the file's bytes or decodes it. Writes only j->verdict
 * and j->detail, which the loop reads after work_done. */
static void work_run(uv_work_t *req)
{
    job *j = req->data;
    bk_file_verdict *verdict = &j->verdict;
    struct stat status;
    if (stat(j->path, &status) != 0) {
        snprintf(j->detail, sizeof j->detail, "stat: %s", strerror(errno));
        verdict_refuse(verdict, BK_ERR_UNAVAILABLE, UNAVAILABLE_MESSAGE);
        return;
    }
    uint64_t size = (uint64_t)status.st_size;
    if (size == 0) {
        verdict_refuse(verdict, BK_ERR_BAD_REQUEST, "the file is empty");
        return;
    }
    if (size > j->max_bytes) {
        char have[32], limit[32];
        size_words(size, have, sizeof have);
        size_words(j->max_bytes, limit, sizeof limit);
        snprintf(verdict->message, sizeof verdict->message, "the file is %s; this site accepts files up to %s",
                 have, limit);
        verdict->refusal = BK_ERR_TOO_LARGE;
        return;
    }
    if (bk_file_magic_type(j->checker->magic, j->path, verdict->type, sizeof verdict->type, j->detail,
                           sizeof j->detail) != 0) {
        verdict_refuse(verdict, BK_ERR_UNAVAILABLE, UNAVAILABLE_MESSAGE);
        return;
    }
    const char *refusal = bk_file_type_judge(verdict->type, j->name, (const char *const *)j->types,
                                             verdict->message, sizeof verdict->message);
    if (refusal) {
        verdict->refusal = refusal;
        return;
    }
    if (!bk_file_type_image(verdict->type)) {
        snprintf(verdict->stored_path, sizeof verdict->stored_path, "%s", j->path);
        verdict->stored_bytes = size;
        return;
    }
    char clean[PATH_MAX], thumb[PATH_MAX];
    if (snprintf(clean, sizeof clean, "%s.clean.%s", j->path, bk_file_image_output_extension(verdict->type)) >=
            (int)sizeof clean ||
        snprintf(thumb, sizeof thumb, "%s.thumb.jpg", j->path) >= (int)sizeof thumb) {
        snprintf(j->detail, sizeof j->detail, "upload path too long");
        verdict_refuse(verdict, BK_ERR_UNAVAILABLE, UNAVAILABLE_MESSAGE);
        return;
    }
    bk_file_image image;
    bk_file_image_result result = bk_file_image_process(verdict->type, j->path, clean, thumb, &image);
    if (result == BK_FILE_IMAGE_UNDECODABLE) {
        const char *article = strcmp(verdict->type, "image/gif") == 0 ? "a GIF" : strcmp(verdict->type, "image/png") == 0
                              ? "a PNG" : strcmp(verdict->type, "image/jpeg") == 0 ? "a JPEG" : "a WebP";
        snprintf(verdict->message, sizeof verdict->message,
                 "the file's content starts as %s image but does not decode as one", article);
        verdict->refusal = BK_ERR_UNSUPPORTED_TYPE;
        return;
    }
    if (result == BK_FILE_IMAGE_BOMB) {
        verdict_refuse(verdict, BK_ERR_TOO_LARGE, image.message);
        return;
    }
    if (result != BK_FILE_IMAGE_OK || stat(clean, &status) != 0) {
        snprintf(j->detail, sizeof j->detail, "image: %.60s (%.180s)", image.message, image.detail);
        verdict_refuse(verdict, BK_ERR_UNAVAILABLE, UNAVAILABLE_MESSAGE);
        if (result == BK_FILE_IMAGE_OK) {
            unlink(clean);
            unlink(thumb);
        }
        return;
    }
    const char *output_type = bk_file_image_output_type(verdict->type);  /* may be verdict->type itself */
    if (output_type != verdict->type)
        snprintf(verdict->type, sizeof verdict->type, "%s", output_type);
    verdict->image = 1;
    verdict->width = image.width;
    verdict->height = image.height;
    snprintf(verdict->stored_path, sizeof verdict->stored_path, "%s", clean);
    snprintf(verdict->thumb_path, sizeof verdict->thumb_path, "%s", thumb);
    verdict->stored_bytes = (uint64_t)status.st_size;
}

static void workers_fill(bk_file_checker *checker);

static void scan_done(bk_clamd_result result, const char *detail, void *data)
{
    job *j = data;
    j->scan = NULL;
    if (result == BK_CLAMD_FOUND) {
        snprintf(j->verdict.message, sizeof j->verdict.message, "the virus scanner found %.200s", detail);
        j->verdict.refusal = BK_ERR_INFECTED;
        bk_info("files: %s refused: the virus scanner found %s", j->path, detail);
    } else if (result == BK_CLAMD_ERROR) {
        snprintf(j->detail, sizeof j->detail, "%s", detail);
        verdict_refuse(&j->verdict, BK_ERR_UNAVAILABLE, "the virus scanner is unavailable; try again");
    }
    answer(j);
}

static void work_done(uv_work_t *req, int status)
{
    job *j = req->data;
    bk_file_checker *checker = j->checker;
    checker->working--;
    if (j->state == JOB_ANSWERED) {
        /* Late (past the deadline, or the checker freed): nobody takes these files. */
        if (status == 0)
            remove_written(j);
    } else if (status != 0) {
        snprintf(j->detail, sizeof j->detail, "work: %s", uv_strerror(status));
        verdict_refuse(&j->verdict, BK_ERR_UNAVAILABLE, UNAVAILABLE_MESSAGE);
        answer(j);
    } else if (j->verdict.refusal || !checker->clamd_socket[0]) {
        answer(j);
    } else {
        /* The upload as it was sent is scanned, not the re-encoded image: a file that carries
         * something is refused even when what would be kept is clean pixels. */
        uint64_t spent = uv_now(checker->loop) - j->started_ms;
        uint64_t left = spent < checker->deadline_ms ? checker->deadline_ms - spent : 1;
        j->state = JOB_SCANNING;
        j->scan = bk_clamd_scan_start(checker->loop, checker->clamd_socket, j->path, left, scan_done, j);
        if (!j->scan) {
            snprintf(j->detail, sizeof j->detail, "out of memory for the scan");
            verdict_refuse(&j->verdict, BK_ERR_UNAVAILABLE, UNAVAILABLE_MESSAGE);
            answer(j);
        }
    }
    int closing = checker->closing;  /* a closing checker goes with its last job's release */
    job_release(j);
    if (!closing)
        workers_fill(checker);
}

static void workers_fill(bk_file_checker *checker)
{
    while (checker->working < WORKERS_MAX && !bk_list_empty(&checker->waiting)) {
        job *j = bk_list_entry(bk_list_first(&checker->waiting), job, queue_link);
        bk_list_remove(&j->queue_link);
        j->state = JOB_WORKING;
        j->work.data = j;
        if (uv_queue_work(checker->loop, &j->work, work_run, work_done) != 0) {
            snprintf(j->detail, sizeof j->detail, "uv_queue_work failed");
            verdict_refuse(&j->verdict, BK_ERR_UNAVAILABLE, UNAVAILABLE_MESSAGE);
            answer(j);
            continue;
        }
        checker->working++;
        j->pending++;
    }
}

bk_file_checker *bk_file_checker_new(uv_loop_t *loop, const bk_config *config, char *err, size_t err_size)
{
    if (bk_file_image_start(err, err_size) != 0)
        return NULL;
    bk_file_checker *checker = calloc(1, sizeof *checker);
    if (!checker) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    if (!(checker->magic = bk_file_magic_new(err, err_size))) {
        free(checker);
        return NULL;
    }
    checker->loop = loop;
    snprintf(checker->clamd_socket, sizeof checker->clamd_socket, "%s", config->clamd_socket);
    checker->deadline_ms = (uint64_t)config->file_check_seconds * 1000;
    bk_list_init(&checker->jobs);
    bk_list_init(&checker->waiting);
    return checker;
}

void bk_file_checker_free(bk_file_checker *checker)
{
    if (!checker)
        return;
    checker->closing = 1;
    bk_list_each(node, &checker->jobs) {
        job *j = bk_list_entry(node, job, link);
        snprintf(j->detail, sizeof j->detail, "the server is stopping");
        if (j->state == JOB_WORKING) {
            uv_cancel((uv_req_t *)&j->work);  /* fails harmlessly once the work has started */
            deadline_passed(&j->deadline);
        } else {
            memset(&j->verdict, 0, sizeof j->verdict);
            verdict_refuse(&j->verdict, BK_ERR_UNAVAILABLE, UNAVAILABLE_MESSAGE);
            answer(j);
        }
    }
    if (checker->alive == 0)
        checker_destroy(checker);
}

/* The rules' list, copied: the caller's may be gone before the worker reads it. */
static char **types_copy(const char *const *types)
{
    if (!types)
        return NULL;
    size_t count = 0, bytes = 0;
    for (const char *const *t = types; *t; t++, count++)
        bytes += strlen(*t) + 1;
    char **copy = malloc((count + 1) * sizeof *copy + bytes);
    if (!copy)
        return NULL;
    char *text = (char *)(copy + count + 1);
    for (size_t i = 0; i < count; i++) {
        size_t length = strlen(types[i]) + 1;
        copy[i] = memcpy(text, types[i], length);
        text += length;
    }
    copy[count] = NULL;
    return copy;
}

void bk_file_check(bk_file_checker *checker, const char *path, const char *name,
                   const bk_file_rules *rules,
                   void (*done)(const bk_file_verdict *verdict, void *data), void *data)
{
    job *j = calloc(1, sizeof *j);
    if (!j) {
        bk_error("files: out of memory for a check");
        abort();  /* done must be called exactly once: there is no other way to keep that promise */
    }
    j->checker = checker;
    j->done = done;
    j->data = data;
    j->path = strdup(path);
    j->name = strdup(name ? name : "");
    j->max_bytes = rules && rules->max_bytes ? rules->max_bytes : BK_FILE_MAX_BYTES_DEFAULT;
    j->types = types_copy(rules ? rules->types : NULL);
    j->started_ms = uv_now(checker->loop);
    bk_list_init(&j->queue_link);
    bk_list_push_back(&checker->jobs, &j->link);
    checker->alive++;
    uv_timer_init(checker->loop, &j->deadline);
    j->deadline.data = j;
    j->pending = 1;
    if (!j->path || !j->name || (rules && rules->types && !j->types) || checker->closing) {
        /* Answered from the timer, so that done never runs before this returns. */
        snprintf(j->detail, sizeof j->detail, checker->closing ? "the server is stopping" : "out of memory");
        j->state = JOB_SCANNING;  /* nothing to take off a queue, no scan to cancel */
        uv_timer_start(&j->deadline, deadline_passed, 0, 0);
        return;
    }
    uv_timer_start(&j->deadline, deadline_passed, checker->deadline_ms, 0);
    j->state = JOB_WAITING;
    bk_list_push_back(&checker->waiting, &j->queue_link);
    workers_fill(checker);
}
