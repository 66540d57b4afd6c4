/* redis_loop.h - hiredis's async contexts driven by the libuv loop.
 *
 * Does what hiredis's own adapters/libuv.h does, with fewer system calls: that adapter
 * restarts its uv_poll_t on every read and every command, and libuv turns each restart into
 * an epoll_ctl DEL and ADD (measured: 6 of the 19 system calls beckon made per chat message).
 * Here the poll handle changes only when the set of events really changes, and commands are
 * written once per loop iteration, directly, all together; the socket is polled for writing
 * only while connecting or when it was full. */
#ifndef BK_REDIS_LOOP_H
#define BK_REDIS_LOOP_H

#include <hiredis/async.h>
#include <uv.h>

/* Attaches the context to the loop, like redisLibuvAttach. REDIS_OK or REDIS_ERR (the caller
 * then frees the context). The attachment is released by hiredis's cleanup hook when the
 * context is freed. */
int bk_redis_loop_attach(redisAsyncContext *context, uv_loop_t *loop);

#endif
