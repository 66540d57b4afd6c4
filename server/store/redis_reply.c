/* redis_reply.c - a reply is checked against its shape whole, then read; odd ones are told once. */
#include "store/redis_reply.h"

#include "base/log.h"
#include "base/metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define LOGGED_READERS_MAX 128
#define DESCRIPTION_MAX    160

/* ---- shapes --------------------------------------------------------------------------- */

/* Past one item of a shape, or NULL where the shape is malformed. */
static const char *item_skip(const char *s)
{
    switch (*s) {
    case 's':
    case 'n':
        return s[1] == '%' ? s + 2 : s + 1;
    case 'i':
    case '*':
        return s + 1;
    case '[':
        s++;
        while (*s && *s != ']' && *s != '{')
            if (!(s = item_skip(s)))
                return NULL;
        if (*s == '{') {
            if (s[1] == '}')
                return NULL;  /* a group of nothing would repeat for ever */
            s++;
            while (*s && *s != '}')
                if (!(s = item_skip(s)))
                    return NULL;
            if (*s != '}')
                return NULL;
            s++;
        }
        return *s == ']' ? s + 1 : NULL;
    default:
        return NULL;
    }
}

/* The items of a group (up to its '}', or the end of the string): how many, or 0 when malformed. */
static size_t group_size(const char *group)
{
    size_t n = 0;
    while (*group && *group != '}') {
        if (!(group = item_skip(group)))
            return 0;
        n++;
    }
    return n;
}

int bk_redis_reply_shape_valid(const char *shape)
{
    const char *end = shape ? item_skip(shape) : NULL;
    return end && *end == '\0';
}

/* ---- matching: does the reply have the shape, all of it? -------------------------------- */

static int item_match(const char **s, const redisReply *r);

/* The elements from `at` on, one group's worth, against group. */
static int group_match(const char *group, const redisReply *array, size_t at)
{
    while (*group && *group != '}') {
        if (at >= array->elements || !item_match(&group, array->element[at]))
            return 0;
        at++;
    }
    return 1;
}

/* r against the inside of [...], s just past its '['. */
static int array_match(const char *s, const redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY || (r->elements > 0 && !r->element))
        return 0;
    size_t i = 0;
    while (*s != ']' && *s != '{') {
        if (i >= r->elements || !item_match(&s, r->element[i]))
            return 0;
        i++;
    }
    if (*s != '{')
        return i == r->elements;
    size_t size = group_size(s + 1);
    if (size == 0 || (r->elements - i) % size != 0)
        return 0;
    for (; i < r->elements; i += size)
        if (!group_match(s + 1, r, i))
            return 0;
    return 1;
}

/* Moves *s past the item whatever the answer. A NULL element (hiredis never makes one, a
 * hand-made tree might) matches nothing. */
static int item_match(const char **s, const redisReply *r)
{
    const char *item = *s;
    *s = item_skip(item);
    if (!r)
        return 0;
    switch (*item) {
    case 's':
        return r->type == REDIS_REPLY_STRING && r->str;
    case 'n':
        return (r->type == REDIS_REPLY_STRING && r->str) || r->type == REDIS_REPLY_NIL;
    case 'i':
        return r->type == REDIS_REPLY_INTEGER;
    case '*':
        return 1;
    case '[':
        return array_match(item + 1, r);
    default:
        return 0;
    }
}

/* ---- reading: where each value goes ------------------------------------------------------ */

/* The caller's pointers (bk_redis_reply_unpack), or an array of values (bk_redis_reply_read). */
typedef struct sink {
    va_list *args;
    bk_redis_reply_value *values;
    size_t count, capacity;
} sink;

static bk_redis_reply_value *sink_next(sink *k)
{
    bk_redis_reply_value *v = k->count < k->capacity ? &k->values[k->count] : NULL;
    k->count++;
    if (v)
        memset(v, 0, sizeof *v);
    return v;
}

static void put_string(sink *k, const char *string, size_t length, int with_length)
{
    if (k->args) {
        *va_arg(*k->args, const char **) = string;
        if (with_length)
            *va_arg(*k->args, size_t *) = length;
    } else {
        bk_redis_reply_value *v = sink_next(k);
        if (v) {
            v->string = string;
            v->length = length;
        }
    }
}

static void put_integer(sink *k, long long integer)
{
    if (k->args) {
        *va_arg(*k->args, long long *) = integer;
    } else {
        bk_redis_reply_value *v = sink_next(k);
        if (v)
            v->integer = integer;
    }
}

static void put_groups(sink *k, const redisReply *array, size_t at, const char *group)
{
    if (k->args) {
        *va_arg(*k->args, const redisReply **) = array;
        *va_arg(*k->args, size_t *) = at;
    } else {
        bk_redis_reply_value *v = sink_next(k);
        if (v) {
            v->array = array;
            v->at = at;
            v->group = group;
        }
    }
}

/* Only for a reply that matched: no check is repeated here. */
static void item_read(const char **s, const redisReply *r, sink *k)
{
    const char *item = *s;
    *s = item_skip(item);
    switch (*item) {
    case 's':
    case 'n':
        if (r->type == REDIS_REPLY_NIL)
            put_string(k, NULL, 0, item[1] == '%');
        else
            put_string(k, r->str, r->len, item[1] == '%');
        break;
    case 'i':
        put_integer(k, r->integer);
        break;
    case '[': {
        const char *inner = item + 1;
        size_t i = 0;
        while (*inner != ']' && *inner != '{')
            item_read(&inner, r->element[i++], k);
        if (*inner == '{')
            put_groups(k, r, i, inner + 1);
        break;
    }
    default:
        break;
    }
}

static int group_read(const redisReply *array, size_t *at, const char *group, sink *k)
{
    size_t size = group_size(group);
    if (size == 0 || !array || array->type != REDIS_REPLY_ARRAY || *at >= array->elements)
        return -1;
    if (array->elements - *at < size || !group_match(group, array, *at))
        return 1;
    for (size_t i = *at; *group && *group != '}'; i++)
        item_read(&group, array->element[i], k);
    *at += size;
    return 0;
}

int bk_redis_reply_read(const redisReply *reply, const char *shape, bk_redis_reply_value *values,
                        size_t capacity)
{
    const char *s = shape;
    if (!bk_redis_reply_shape_valid(shape) || !item_match(&s, reply))
        return -1;
    sink k = { NULL, values, 0, capacity };
    s = shape;
    item_read(&s, reply, &k);
    return (int)k.count;
}

int bk_redis_reply_read_next(const redisReply *array, size_t *at, const char *group,
                             bk_redis_reply_value *values, size_t capacity)
{
    sink k = { NULL, values, 0, capacity };
    return group_read(array, at, group, &k) == 0 ? (int)k.count : -1;
}

/* ---- telling of odd replies ---------------------------------------------------------------- */

static void describe_add(char *out, size_t size, size_t *used, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void describe_add(char *out, size_t size, size_t *used, const char *fmt, ...)
{
    if (*used >= size)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out + *used, size - *used, fmt, ap);
    va_end(ap);
    if (n > 0)
        *used += (size_t)n;
}

/* What came instead, by type and length only: a reply may hold a visitor's data. */
static void describe(const redisReply *r, int depth, char *out, size_t size, size_t *used)
{
    if (!r) {
        describe_add(out, size, used, "nothing");
        return;
    }
    switch (r->type) {
    case REDIS_REPLY_STRING:
        describe_add(out, size, used, "string(%zu)", r->len);
        break;
    case REDIS_REPLY_STATUS:
        describe_add(out, size, used, "status(%zu)", r->len);
        break;
    case REDIS_REPLY_ERROR:
        describe_add(out, size, used, "error");
        break;
    case REDIS_REPLY_INTEGER:
        describe_add(out, size, used, "integer");
        break;
    case REDIS_REPLY_NIL:
        describe_add(out, size, used, "nil");
        break;
    case REDIS_REPLY_ARRAY:
        if (depth >= 2 || r->elements > 12 || (r->elements > 0 && !r->element)) {
            describe_add(out, size, used, "array(%zu)", r->elements);
            break;
        }
        describe_add(out, size, used, "[");
        for (size_t i = 0; i < r->elements; i++) {
            if (i > 0)
                describe_add(out, size, used, ", ");
            describe(r->element[i], depth + 1, out, size, used);
        }
        describe_add(out, size, used, "]");
        break;
    default:
        describe_add(out, size, used, "type %d", r->type);
        break;
    }
}

/* Each reader's first odd reply is logged, not the ones after it. */
static int first_time(const char *reader, int line)
{
    static struct { const char *reader; int line; } logged[LOGGED_READERS_MAX];
    static size_t count;
    for (size_t i = 0; i < count; i++)
        if (logged[i].line == line && strcmp(logged[i].reader, reader) == 0)
            return 0;
    if (count == LOGGED_READERS_MAX)
        return 0;
    logged[count].reader = reader;
    logged[count].line = line;
    count++;
    return 1;
}

static void odd_reply(const char *reader, int line, const char *shape, const redisReply *reply)
{
    bk_metrics_odd_reply(reader);
    if (!first_time(reader, line))
        return;
    char got[DESCRIPTION_MAX];
    size_t used = 0;
    got[0] = '\0';
    describe(reply, 0, got, sizeof got, &used);
    bk_warn("redis reply of an unexpected shape for %s (line %d): expected %s, got %s; answered as "
            "unavailable (said once for this reader)", reader, line, shape, got);
}

int bk_redis_reply_unpack_at(const char *reader, int line, const redisReply *reply, const char *shape, ...)
{
    if (!bk_redis_reply_shape_valid(shape)) {
        if (first_time(reader, line))
            bk_error("%s (line %d): malformed reply shape \"%s\"", reader, line, shape ? shape : "");
        return -1;
    }
    /* Missing or an error: storage trouble or a refusal, which the caller tells apart. */
    if (!reply || reply->type == REDIS_REPLY_ERROR)
        return -1;
    const char *s = shape;
    if (!item_match(&s, reply)) {
        odd_reply(reader, line, shape, reply);
        return -1;
    }
    va_list args;
    va_start(args, shape);
    sink k = { &args, NULL, 0, 0 };
    s = shape;
    item_read(&s, reply, &k);
    va_end(args);
    return 0;
}

int bk_redis_reply_unpack_next_at(const char *reader, int line, const redisReply *array, size_t *at,
                                  const char *group, ...)
{
    va_list args;
    va_start(args, group);
    sink k = { &args, NULL, 0, 0 };
    int rc = group_read(array, at, group, &k);
    va_end(args);
    if (rc > 0)
        odd_reply(reader, line, group, array);
    return rc == 0 ? 0 : -1;
}

const char *bk_redis_reply_error(const redisReply *reply)
{
    if (!reply || reply->type != REDIS_REPLY_ERROR)
        return NULL;
    return reply->str ? reply->str : "";
}

const char *bk_redis_reply_refusal(const redisReply *reply, const char *code)
{
    const char *text = bk_redis_reply_error(reply);
    size_t n = strlen(code);
    if (!text || strncmp(text, code, n) != 0 || text[n] != ' ')
        return NULL;
    return text + n + 1;
}
