/* redis_reply.h - reading Redis replies by their shape.
 *
 * Whatever Beckon reads out of a Redis reply, it reads through here. bk_redis_reply_unpack
 * checks the whole reply against a shape - types, lengths, nested arrays - before it hands
 * anything out, so a reply of an unexpected shape (a nil or an integer where a string belongs,
 * an array one element short, an error) is a value the caller answers "unavailable" to, never a
 * pointer it follows. An odd shape (not a missing reply, not an error reply: those are storage
 * trouble or a script's refusal, and mean something) is logged once per reader - a Redis that
 * answers a reader oddly does so every time, and one line says it - and counted in /metrics
 * (beckon_redis_odd_replies_total{reader=...}).
 *
 * Shapes, in the spirit of json_unpack (redis_shapes.h names every reader's):
 *   s      a string                   const char **  (hiredis ends it with a NUL; it may hold NULs)
 *   s%     a string and its length    const char **, size_t *
 *   n      a string or nil            const char **  (NULL for nil)
 *   n%     a string or nil, length    const char **, size_t *  (NULL and 0 for nil)
 *   i      an integer                 long long *
 *   *      anything                   no argument
 *   [...]  an array of exactly these elements (their arguments follow in order)
 *   {...}  last inside [...]: then any number of whole groups of these elements (none too). Its
 *          arguments are the array and where its groups start: const redisReply **, size_t *.
 *          bk_redis_reply_unpack_next reads them one group at a time; the shape was checked
 *          whole before, so a loop over them never meets an odd element halfway.
 * The compiler cannot check the variable arguments: tests/unit/redis_reply_arguments.py does,
 * for every call in server/. */
#ifndef BK_REDIS_REPLY_H
#define BK_REDIS_REPLY_H

#include <hiredis/hiredis.h>
#include <stddef.h>

/* 0 when reply has the shape (the arguments are set), -1 when it is missing, an error or of
 * another shape (the arguments are left alone). A macro, so that it knows its reader. */
#define bk_redis_reply_unpack(...) bk_redis_reply_unpack_at(__func__, __LINE__, __VA_ARGS__)

/* The next group of an array that bk_redis_reply_unpack checked with {group}: 0 and *at moved
 * past it, or -1 when none is left (or, against a shape it was not checked with, it does not
 * fit). */
#define bk_redis_reply_unpack_next(...) bk_redis_reply_unpack_next_at(__func__, __LINE__, __VA_ARGS__)

int bk_redis_reply_unpack_at(const char *reader, int line, const redisReply *reply, const char *shape, ...);
int bk_redis_reply_unpack_next_at(const char *reader, int line, const redisReply *array, size_t *at,
                                  const char *group, ...);

/* The text of an error reply ("BUSY Redis is busy...", "not_found no such rule"), or NULL when
 * reply is missing or not an error. */
const char *bk_redis_reply_error(const redisReply *reply);

/* When reply is a script's refusal with this code (redis.error_reply('code message'),
 * server/lua/), its message; otherwise NULL - Redis's own errors (LOADING, BUSY, OOM, NOSCRIPT,
 * READONLY, ...) are storage trouble, never a refusal. */
const char *bk_redis_reply_refusal(const redisReply *reply, const char *code);

/* ---- the same without variable arguments or logging: tests and the fuzz target ---------- */

/* One value in shape order: s, s% and n set string and length; i sets integer; {...} sets
 * array, at and group (the group's shape, which ends at its '}'). */
typedef struct bk_redis_reply_value {
    const char *string;
    size_t length;
    long long integer;
    const redisReply *array;
    size_t at;
    const char *group;
} bk_redis_reply_value;

/* The number of values (up to capacity are written), or -1 when reply does not have the shape.
 * Values come only from a reply that matched as a whole. */
int bk_redis_reply_read(const redisReply *reply, const char *shape, bk_redis_reply_value *values,
                        size_t capacity);

/* bk_redis_reply_unpack_next's work: the group's values, or -1 when none is left or it does not fit. */
int bk_redis_reply_read_next(const redisReply *array, size_t *at, const char *group,
                             bk_redis_reply_value *values, size_t capacity);

/* True when shape is well formed (the readers' shapes are constants; a test checks them). */
int bk_redis_reply_shape_valid(const char *shape);

#endif
