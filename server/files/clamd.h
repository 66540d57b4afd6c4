/* clamd.h - one file scanned by a running clamd, over its unix socket, on the loop.
 *
 * The file's bytes go to clamd with INSTREAM (zINSTREAM, then chunks each preceded by its length
 * as 4 big-endian bytes, then a zero length). They are read from the file with uv_fs reads (on
 * libuv's thread pool, a chunk at a time: the loop never waits for the disk) and written one
 * chunk at a time (a clamd that reads slowly holds back the reading, so at most one chunk is in
 * memory). clamd answers "stream: OK", "stream: NAME FOUND", or "... ERROR" (a stream over its
 * StreamMaxLength, a broken database). */
#ifndef BK_CLAMD_H
#define BK_CLAMD_H

#include <uv.h>

typedef enum bk_clamd_result {
    BK_CLAMD_CLEAN = 0,
    BK_CLAMD_FOUND,    /* detail: the signature's name, e.g. "Eicar-Test-Signature" */
    BK_CLAMD_ERROR,    /* detail: what went wrong (unreachable, no answer in time, clamd's error) */
} bk_clamd_result;

typedef void (*bk_clamd_done)(bk_clamd_result result, const char *detail, void *data);

typedef struct bk_clamd_scan bk_clamd_scan;

/* Scans the file at file_path with the clamd at socket_path; done is called exactly once, on
 * the loop, never before this returns, at the latest timeout_ms from now (BK_CLAMD_ERROR: "clamd
 * did not answer within …"). NULL only when out of memory (done is then never called). */
bk_clamd_scan *bk_clamd_scan_start(uv_loop_t *loop, const char *socket_path, const char *file_path,
                                   uint64_t timeout_ms, bk_clamd_done done, void *data);

/* Gives up a scan whose done has not been called: it never will be. The connection, the timer
 * and the file are closed as the loop runs on; the scan frees itself then. */
void bk_clamd_scan_cancel(bk_clamd_scan *scan);

#endif
