/* replies.h - hand-made Redis replies, as hiredis would build them, for the unit tests that read
 * replies (test_redis_reply.c, test_redis_cluster.c). Static inline, so a test uses what it needs. */
#ifndef BK_TEST_REPLIES_H
#define BK_TEST_REPLIES_H

#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static inline redisReply *node(int type)
{
    redisReply *r = calloc(1, sizeof *r);
    r->type = type;
    return r;
}

static inline redisReply *string_of(const char *text, size_t len)
{
    redisReply *r = node(REDIS_REPLY_STRING);
    r->str = malloc(len + 1);
    memcpy(r->str, text, len);
    r->str[len] = '\0';
    r->len = len;
    return r;
}

static inline redisReply *str(const char *text)
{
    return string_of(text, strlen(text));
}

static inline redisReply *error_of(const char *text)
{
    redisReply *r = str(text);
    r->type = REDIS_REPLY_ERROR;
    return r;
}

static inline redisReply *integer(long long value)
{
    redisReply *r = node(REDIS_REPLY_INTEGER);
    r->integer = value;
    return r;
}

static inline redisReply *nil(void)
{
    return node(REDIS_REPLY_NIL);
}

/* array(n, e1, ..., en): takes the elements */
static inline redisReply *array(size_t n, ...)
{
    redisReply *r = node(REDIS_REPLY_ARRAY);
    r->elements = n;
    r->element = n ? calloc(n, sizeof *r->element) : NULL;
    va_list ap;
    va_start(ap, n);
    for (size_t i = 0; i < n; i++)
        r->element[i] = va_arg(ap, redisReply *);
    va_end(ap);
    return r;
}

static inline void release(redisReply *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->elements; i++)
        release(r->element[i]);
    free(r->element);
    free(r->str);
    free(r);
}

#endif
