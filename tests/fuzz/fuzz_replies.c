/* fuzz_replies.c - libFuzzer target for reading Redis replies (server/store/redis_reply.c) with every
 * reader's shape (server/store/redis_shapes.h).
 *
 * Input: a reply tree in prefix form, as hiredis would hand it over:
 *   n nil · i + 8 bytes an integer · s + 1-byte length + bytes a string (NULs allowed) ·
 *   S + 2-byte length + bytes a longer string · e + length + bytes an error · + + length +
 *   bytes a status · * + 1-byte count + elements an array · 0 a NULL element (hiredis never
 *   makes one; inside an array only, at the top it means "no reply")
 * (any other byte stands for one of these, by its value modulo 8; input that runs out gives
 * nils). Arrays nest at most 8 deep, 4096 nodes at most. When the first byte is '~', a shape
 * comes first instead of the usual list: up to the next '~', at most 32 bytes.
 *
 * Checked, for every reader's shape (and the fuzzed one):
 *   - bk_redis_reply_read agrees with a reference matcher written separately from the
 *     documented grammar (redis_reply.h), and refuses what is not a well-formed shape;
 *   - on a match, the values are as many as the shape has, every string is readable for its
 *     length and NUL-terminated there, a nil comes only where 'n' allows one, and every group
 *     ({...}) reads to the end of its array exactly, group by group, without a refusal
 *     (bk_redis_reply_read_next), recursively;
 *   - the readers' own calls (bk_redis_reply_unpack with their argument lists, walking their
 *     groups with bk_redis_reply_unpack_next and the group's name, as the server does) succeed
 *     exactly when bk_redis_reply_read does, and read the same count of groups;
 *   - bk_redis_reply_error and bk_redis_reply_refusal say "error" exactly for error replies and
 *     hand out a suffix of its text. */
#include "base/log.h"
#include "base/metrics.h"
#include "store/redis_cluster.h"
#include "store/redis_reply.h"
#include "store/redis_shapes.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "fuzz_replies: property failed: %s (%s:%d)\n", #cond, __FILE__, \
                    __LINE__);                                                             \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

#define DEPTH_MAX  8
#define NODES_MAX  4096
#define VALUES_MAX 64
#define SHAPE_MAX  32

/* ---- the tree ------------------------------------------------------------------------------ */

typedef struct input {
    const uint8_t *data;
    size_t size, at;
    size_t nodes;
} input;

static int take(input *in)
{
    return in->at < in->size ? in->data[in->at++] : -1;
}

static size_t take_length(input *in, int bytes)
{
    size_t n = 0;
    for (int i = 0; i < bytes; i++) {
        int b = take(in);
        n |= (size_t)(b < 0 ? 0 : b) << (8 * i);
    }
    return n;
}

static redisReply *node(int type)
{
    redisReply *r = calloc(1, sizeof *r);
    CHECK(r != NULL);
    r->type = type;
    return r;
}

/* A string of exactly len bytes plus hiredis's NUL, in its own allocation (ASan sees past it). */
static redisReply *text_node(input *in, int type, int length_bytes)
{
    redisReply *r = node(type);
    size_t len = take_length(in, length_bytes);
    if (len > in->size - in->at)
        len = in->size - in->at;
    r->str = malloc(len + 1);
    CHECK(r->str != NULL);
    memcpy(r->str, in->data + in->at, len);
    r->str[len] = '\0';
    r->len = len;
    in->at += len;
    return r;
}

static redisReply *tree_build(input *in, int depth, int *is_null)
{
    static const char ops[] = "nisSe+*0";
    *is_null = 0;
    int b = take(in);
    if (b < 0 || ++in->nodes > NODES_MAX)
        return node(REDIS_REPLY_NIL);
    char op = strchr(ops, b) && b ? (char)b : ops[b % 8];
    switch (op) {
    case 'i': {
        redisReply *r = node(REDIS_REPLY_INTEGER);
        r->integer = (long long)take_length(in, 8);
        return r;
    }
    case 's':
        return text_node(in, REDIS_REPLY_STRING, 1);
    case 'S':
        return text_node(in, REDIS_REPLY_STRING, 2);
    case 'e':
        return text_node(in, REDIS_REPLY_ERROR, 1);
    case '+':
        return text_node(in, REDIS_REPLY_STATUS, 1);
    case '*': {
        redisReply *r = node(REDIS_REPLY_ARRAY);
        size_t n = take_length(in, 1);
        if (depth >= DEPTH_MAX)
            n = 0;
        r->elements = n;
        r->element = n ? calloc(n, sizeof *r->element) : NULL;
        CHECK(n == 0 || r->element != NULL);
        for (size_t i = 0; i < n; i++) {
            int null;
            redisReply *e = tree_build(in, depth + 1, &null);
            r->element[i] = null ? NULL : e;
        }
        return r;
    }
    case '0':
        *is_null = 1;
        return NULL;
    default:
        return node(REDIS_REPLY_NIL);
    }
}

static void tree_free(redisReply *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->elements; i++)
        tree_free(r->element[i]);
    free(r->element);
    free(r->str);
    free(r);
}

/* ---- a reference matcher: the grammar parsed into a tree first, then matched ----------------- */

typedef struct shape_node {
    char kind;                    /* s n i * [ */
    int length;                   /* s% n% */
    struct shape_node *items;     /* [ ]: the fixed items */
    size_t count;
    struct shape_node *group;     /* [ {} ]: the repeated items, or NULL */
    size_t group_count;
} shape_node;

static void shape_free(shape_node *n, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        shape_free(n[i].items, n[i].count);
        shape_free(n[i].group, n[i].group_count);
    }
    free(n);
}

/* Parses items until `end`; returns the position past `end`, or NULL when malformed. */
static const char *shape_parse_items(const char *s, char end, shape_node **out, size_t *count);

static const char *shape_parse_item(const char *s, shape_node *n)
{
    memset(n, 0, sizeof *n);
    n->kind = *s;
    switch (*s) {
    case 's':
    case 'n':
        n->length = s[1] == '%';
        return s + 1 + n->length;
    case 'i':
    case '*':
        return s + 1;
    case '[': {
        const char *p = shape_parse_items(s + 1, '\0', &n->items, &n->count);
        if (!p)
            return NULL;
        if (*p == '{') {
            p = shape_parse_items(p + 1, '}', &n->group, &n->group_count);
            if (!p || n->group_count == 0)
                return NULL;
        }
        return *p == ']' ? p + 1 : NULL;
    }
    default:
        return NULL;
    }
}

static const char *shape_parse_items(const char *s, char end, shape_node **out, size_t *count)
{
    *out = NULL;
    *count = 0;
    size_t cap = 0;
    while (*s && *s != ']' && *s != '}' && *s != '{') {
        if (*count == cap) {
            cap = cap ? cap * 2 : 4;
            *out = realloc(*out, cap * sizeof **out);
            CHECK(*out != NULL);
        }
        const char *next = shape_parse_item(s, &(*out)[*count]);
        if (!next) {
            (*count)++;
            return NULL;
        }
        (*count)++;
        s = next;
    }
    if (end == '}')
        return *s == '}' ? s + 1 : NULL;
    return s;  /* the caller looks at what stopped it */
}

static shape_node *shape_parse(const char *shape)
{
    shape_node *n = calloc(1, sizeof *n);
    CHECK(n != NULL);
    const char *end = shape_parse_item(shape, n);
    if (!end || *end) {
        shape_free(n, 1);
        return NULL;
    }
    return n;
}

static int reference_match(const shape_node *n, const redisReply *r);

static int reference_items(const shape_node *items, size_t count, redisReply *const *elements)
{
    for (size_t i = 0; i < count; i++)
        if (!reference_match(&items[i], elements[i]))
            return 0;
    return 1;
}

static int reference_match(const shape_node *n, const redisReply *r)
{
    if (!r)
        return 0;
    switch (n->kind) {
    case 's':
        return r->type == REDIS_REPLY_STRING;
    case 'n':
        return r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_NIL;
    case 'i':
        return r->type == REDIS_REPLY_INTEGER;
    case '*':
        return 1;
    case '[':
        if (r->type != REDIS_REPLY_ARRAY || r->elements < n->count)
            return 0;
        if (!n->group)
            return r->elements == n->count && reference_items(n->items, n->count, r->element);
        if ((r->elements - n->count) % n->group_count != 0 || !reference_items(n->items, n->count, r->element))
            return 0;
        for (size_t at = n->count; at < r->elements; at += n->group_count)
            if (!reference_items(n->group, n->group_count, r->element + at))
                return 0;
        return 1;
    default:
        return 0;
    }
}

/* How many values a match hands out (s% is one value with its length; nested arrays flatten). */
static size_t reference_values(const shape_node *items, size_t count)
{
    size_t n = 0;
    for (size_t i = 0; i < count; i++) {
        if (items[i].kind == '[')
            n += reference_values(items[i].items, items[i].count) + (items[i].group ? 1 : 0);
        else if (items[i].kind != '*')
            n++;
    }
    return n;
}

/* ---- what a match hands out ---------------------------------------------------------------- */

static volatile unsigned char sink;

static void touch(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        sink ^= (unsigned char)s[i];
    CHECK(s[len] == '\0');
}

/* The values of items (fixed items of one array level, or one group), checked and walked. */
static void values_check(const shape_node *items, size_t count, const bk_redis_reply_value *v, size_t *k,
                         int depth);

static void groups_walk(const shape_node *array_shape, const bk_redis_reply_value *v, int depth)
{
    CHECK(v->array != NULL && v->array->type == REDIS_REPLY_ARRAY && v->group != NULL);
    size_t at = v->at, groups = 0;
    bk_redis_reply_value values[VALUES_MAX];
    int n;
    while ((n = bk_redis_reply_read_next(v->array, &at, v->group, values, VALUES_MAX)) >= 0) {
        CHECK((size_t)n == reference_values(array_shape->group, array_shape->group_count));
        size_t k = 0;
        values_check(array_shape->group, array_shape->group_count, values, &k, depth + 1);
        groups++;
    }
    CHECK(at == v->array->elements);  /* a checked array reads to its end, never refused halfway */
    CHECK(groups * array_shape->group_count == v->array->elements - v->at);
}

static void values_check(const shape_node *items, size_t count, const bk_redis_reply_value *v, size_t *k,
                         int depth)
{
    CHECK(depth <= DEPTH_MAX + 2);
    for (size_t i = 0; i < count; i++) {
        const shape_node *n = &items[i];
        if (n->kind == '*')
            continue;
        if (n->kind == '[') {
            values_check(n->items, n->count, v, k, depth + 1);
            if (n->group)
                groups_walk(n, &v[(*k)++], depth);
            continue;
        }
        const bk_redis_reply_value *value = &v[(*k)++];
        if (n->kind == 'i') {
            CHECK(value->string == NULL && value->group == NULL);
            continue;
        }
        if (n->kind == 's')
            CHECK(value->string != NULL);
        if (value->string)
            touch(value->string, value->length);
        else
            CHECK(value->length == 0 && n->kind == 'n');
    }
}

static int read_check(const redisReply *reply, const char *shape)
{
    shape_node *parsed = shape_parse(shape);
    CHECK(!!parsed == !!bk_redis_reply_shape_valid(shape));
    bk_redis_reply_value values[VALUES_MAX];
    int n = bk_redis_reply_read(reply, shape, values, VALUES_MAX);
    if (!parsed) {
        CHECK(n == -1);
        return -1;
    }
    CHECK((n >= 0) == reference_match(parsed, reply));
    if (n >= 0) {
        CHECK((size_t)n == reference_values(parsed, 1));
        if (n <= VALUES_MAX) {
            size_t k = 0;
            values_check(parsed, 1, values, &k, 0);
            CHECK(k == (size_t)n);
        }
    }
    shape_free(parsed, 1);
    return n >= 0 ? 0 : -1;
}

/* ---- the readers' own calls, as the server makes them ----------------------------------- */

/* Each returns what its bk_redis_reply_unpack returned; groups are walked to the end (the count
 * of groups read goes to *groups). */
static int reader(const redisReply *r, int which, size_t *groups)
{
    const char *a, *b, *c, *d, *e, *f, *g;
    size_t la, lb;
    long long i1, i2, i3, i4;
    const redisReply *array, *inner;
    size_t at, inner_at;
    *groups = 0;
    switch (which) {
    case 0:
        return bk_redis_reply_unpack(r, BK_SHAPE_INTEGER, &i1);
    case 1:
        if (bk_redis_reply_unpack(r, BK_SHAPE_STRING, &a) != 0)
            return -1;
        touch(a, strlen(a));
        return 0;
    case 2:
        if (bk_redis_reply_unpack(r, BK_SHAPE_TEXT, &a, &la) != 0)
            return -1;
        touch(a, la);
        return 0;
    case 3:
        if (bk_redis_reply_unpack(r, BK_SHAPE_AUTHORIZE, &a, &b) != 0)  /* router.c: on_authorized */
            return -1;
        touch(a, strlen(a));
        touch(b, strlen(b));  /* role_bit's strcmp */
        return 0;
    case 4:
        if (bk_redis_reply_unpack(r, BK_SHAPE_LOGIN_BEGIN, &a, &la, &b, &i1) != 0)  /* accounts.c */
            return -1;
        if (a)
            touch(a, la);
        if (b)
            touch(b, strlen(b));
        return 0;
    case 5:
        if (bk_redis_reply_unpack(r, BK_SHAPE_VISITOR_HELLO, &a, &b, &c, &d, &i1, &e, &f, &g) != 0)  /* chat/hello.c */
            return -1;
        touch(f, strlen(f));
        return 0;
    case 6:
        if (bk_redis_reply_unpack(r, BK_SHAPE_AGENT_HELLO, &a, &b) != 0)
            return -1;
        touch(a, strlen(a));
        return 0;
    case 7:  /* chat/message_batch.c: on_batch_stored, each element as conversation.c reads it */
        if (bk_redis_reply_unpack(r, BK_SHAPE_MESSAGES, &array, &at) != 0)
            return -1;
        for (; at < array->elements; at++, (*groups)++)
            if (bk_redis_reply_unpack(array->element[at], BK_SHAPE_MESSAGE, &a, &b, &i1, &i2) == 0)
                touch(a, strlen(a));
        return 0;
    case 8:
        return bk_redis_reply_unpack(r, BK_SHAPE_MESSAGE, &a, &b, &i1, &i2);
    case 9:
        if (bk_redis_reply_unpack(r, BK_SHAPE_HISTORY, &a, &i1, &i2, &b, &c, &d, &e, &i3) != 0)
            return -1;
        touch(b, strlen(b));
        return 0;
    case 10:  /* chat/sweeps.c: on_sites_hours */
        if (bk_redis_reply_unpack(r, BK_SHAPE_SITES_HOURS, &array, &at) != 0)
            return -1;
        while (bk_redis_reply_unpack_next(array, &at, BK_SHAPE_SITE_HOURS, &a, &b, &c) == 0)
            (*groups)++;
        return 0;
    case 11:
        if (bk_redis_reply_unpack(r, BK_SHAPE_INVITE_REPLY, &a, &b, &lb) != 0)  /* tracking.c */
            return -1;
        touch(b, lb);
        return 0;
    case 12:
        if (bk_redis_reply_unpack(r, BK_SHAPE_TRANSCRIPT, &a, &b, &c, &d, &la, &i1) != 0)  /* transcript.c */
            return -1;
        touch(d, la);
        return 0;
    case 13:  /* canned.c: on_canned_list, rule_set_loader.c: on_rules_loaded */
        if (bk_redis_reply_unpack(r, BK_SHAPE_HASH, &array, &at) != 0)
            return -1;
        while (bk_redis_reply_unpack_next(array, &at, BK_SHAPE_HASH_FIELD, &a, &b, &lb) == 0) {
            touch(b, lb);
            (*groups)++;
        }
        return 0;
    case 14:  /* rules_api.c: on_versions */
        if (bk_redis_reply_unpack(r, BK_SHAPE_LIST, &array, &at) != 0)
            return -1;
        while (bk_redis_reply_unpack_next(array, &at, BK_SHAPE_LIST_ENTRY, &a, &la) == 0)
            (*groups)++;
        return 0;
    case 15:  /* rules_api.c: on_rules_read */
        if (bk_redis_reply_unpack(r, BK_SHAPE_RULES, &array, &at) != 0)
            return -1;
        while (bk_redis_reply_unpack_next(array, &at, BK_SHAPE_RULE, &a, &b, &c) == 0)
            (*groups)++;
        return 0;
    case 16:
        return bk_redis_reply_unpack(r, BK_SHAPE_RULE_REVERT, &i1, &a);
    case 17:  /* rules_stats.c: on_stats */
        if (bk_redis_reply_unpack(r, BK_SHAPE_STATS, &array, &at) != 0)
            return -1;
        while (bk_redis_reply_unpack_next(array, &at, BK_SHAPE_STATS_DAY, &a, &la, &b) == 0) {
            touch(a, la);
            (*groups)++;
        }
        return 0;
    case 18:  /* service_api.c: on_rows and facts_add */
        if (bk_redis_reply_unpack(r, BK_SHAPE_SERVICE_STATS, &array, &at) != 0)
            return -1;
        while (bk_redis_reply_unpack_next(array, &at, BK_SHAPE_SERVICE_DAY, &a, &i1, &i2, &i3, &c, &inner,
                                          &inner_at) == 0) {
            (*groups)++;
            CHECK(inner != NULL);
            while (bk_redis_reply_unpack_next(inner, &inner_at, BK_SHAPE_SERVICE_ROW, &b, &lb) == 0)
                touch(b, lb);
            CHECK(inner_at == inner->elements);
        }
        return 0;
    case 19:  /* webhooks.c: rows_take */
        if (bk_redis_reply_unpack(r, BK_SHAPE_HOOK_ROWS, &array, &at) != 0)
            return -1;
        while (bk_redis_reply_unpack_next(array, &at, BK_SHAPE_HOOK_ROW, &a, &b, &c, &d, &la, &e, &g) == 0) {
            touch(d, la);
            (*groups)++;
        }
        return 0;
    case 20:  /* bus_link.c: bk_bus_reply_read */
        if (bk_redis_reply_unpack(r, BK_SHAPE_BUS_REPLY, &a, &array, &at) != 0)
            return -1;
        touch(a, strlen(a));
        while (bk_redis_reply_unpack_next(array, &at, BK_SHAPE_BUS_ELEMENT) == 0)
            (*groups)++;
        return 0;
    case 21:
        if (bk_redis_reply_unpack(r, BK_SHAPE_BUS_SMESSAGE, &a, &la, &b, &lb) != 0)
            return -1;
        touch(a, la);
        touch(b, lb);
        return 0;
    case 22:
        if (bk_redis_reply_unpack(r, BK_SHAPE_BUS_CONFIRMATION, &a, &la, &i1) != 0)
            return -1;
        touch(a, la);
        return 0;
    case 23:  /* chat/hello.c: on_agent_session */
        if (bk_redis_reply_unpack(r, BK_SHAPE_SESSION_AGENT, &a) != 0)
            return -1;
        if (a)
            touch(a, strlen(a));
        return 0;
    case 24: {  /* redis_cluster.c: bk_cluster_map_parse, whose map must agree with the walk */
        bk_cluster_map map;
        char err[128];
        int parsed = bk_cluster_map_parse(r, "fuzz", &map, err, sizeof err);
        if (bk_redis_reply_unpack(r, BK_SHAPE_CLUSTER_SLOTS, &array, &at) != 0) {
            CHECK(parsed == -1 && map.nodes == NULL);
            return -1;
        }
        const redisReply *rest;
        size_t rest_at;
        while (bk_redis_reply_unpack_next(array, &at, BK_SHAPE_CLUSTER_RANGE, &i1, &i2, &inner, &inner_at) == 0) {
            (*groups)++;
            while (bk_redis_reply_unpack_next(inner, &inner_at, BK_SHAPE_CLUSTER_NODE, &a, &i3, &rest, &rest_at) == 0)
                if (a)
                    touch(a, strlen(a));
            CHECK(inner_at == inner->elements);
        }
        if (parsed == 0) {
            for (int slot = 0; slot < BK_CLUSTER_SLOTS; slot += 97) {
                int node = bk_cluster_map_master(&map, slot);
                CHECK(node >= -1 && (node < 0 || (size_t)node < map.node_count));
            }
        }
        bk_cluster_map_release(&map);
        return 0;
    }
    case 25:  /* triggers.c: on_agents_busy, one count per agent over each site slot */
        if (bk_redis_reply_unpack(r, BK_SHAPE_COUNTS, &array, &at) != 0)
            return -1;
        while (bk_redis_reply_unpack_next(array, &at, BK_SHAPE_COUNT, &i1) == 0)
            (*groups)++;
        return 0;
    case 26:  /* triggers/track_batch.c: batch_answer, each element as tracking.c and beacon.c read it */
        if (bk_redis_reply_unpack(r, BK_SHAPE_TRACKS, &array, &at) != 0)
            return -1;
        for (; at < array->elements; at++, (*groups)++)
            if (bk_redis_reply_unpack(array->element[at], BK_SHAPE_TRACK, &a, &la, &i1, &i2, &i3, &i4) == 0)
                touch(a, la);
        return 0;
    case 27:
        if (bk_redis_reply_unpack(r, BK_SHAPE_TRACK, &a, &la, &i1, &i2, &i3, &i4) != 0)
            return -1;
        touch(a, la);
        return 0;
    case 28:  /* http/files.c: on_message_stored */
        if (bk_redis_reply_unpack(r, BK_SHAPE_FILE_MESSAGE, &a, &b, &i1, &i2, &c, &la) != 0)
            return -1;
        touch(a, strlen(a));
        touch(b, strlen(b));
        touch(c, la);
        return 0;
    case 29:  /* http/file_serve.c: on_file_found */
        if (bk_redis_reply_unpack(r, BK_SHAPE_FILE_GET, &a, &b, &i1, &i2) != 0)
            return -1;
        touch(a, strlen(a));
        touch(b, strlen(b));
        return 0;
    case 30:  /* http/files_api.c: on_expired */
        if (bk_redis_reply_unpack(r, BK_SHAPE_FILE_IDS, &array, &at) != 0)
            return -1;
        while (bk_redis_reply_unpack_next(array, &at, BK_SHAPE_FILE_ID, &a) == 0) {
            touch(a, strlen(a));
            (*groups)++;
        }
        return 0;
    case 31:  /* chat/flow.c: on_flow_read */
        if (bk_redis_reply_unpack(r, BK_SHAPE_FLOW_READ, &a) != 0)
            return -1;
        if (a)
            touch(a, strlen(a));
        return 0;
    case 32:  /* chat/flow.c: on_flow_ran */
        return bk_redis_reply_unpack(r, BK_SHAPE_FLOW, &a, &i1);
    case 33:  /* http/flows_api.c: on_flows_read */
        if (bk_redis_reply_unpack(r, BK_SHAPE_FLOWS, &array, &at) != 0)
            return -1;
        while (bk_redis_reply_unpack_next(array, &at, BK_SHAPE_FLOW_ENTRY, &a, &b, &c) == 0)
            (*groups)++;
        return 0;
    case 34:  /* http/flows_api.c: on_reverted */
        return bk_redis_reply_unpack(r, BK_SHAPE_FLOW_REVERT, &i1, &a);
    case 35: {  /* chat/email_reply.c: on_stored */
        const char *h, *k;
        if (bk_redis_reply_unpack(r, BK_SHAPE_EMAIL_REPLY, &a, &b, &i1, &i2, &c, &d, &e, &f, &g, &h, &k, &la) != 0)
            return -1;
        touch(k, la);
        return 0;
    }
    case 36:  /* mail/mail_inbound.c: bk_mail_inbound_stored */
        if (bk_redis_reply_unpack(r, BK_SHAPE_MAIL_INBOUND, &a, &b, &i1, &i2, &c, &la) != 0)
            return -1;
        touch(c, la);
        return 0;
    default:
        return -1;
    }
}

/* In reader() order. */
static const char *const reader_shapes[] = {
    BK_SHAPE_INTEGER, BK_SHAPE_STRING, BK_SHAPE_TEXT, BK_SHAPE_AUTHORIZE, BK_SHAPE_LOGIN_BEGIN,
    BK_SHAPE_VISITOR_HELLO, BK_SHAPE_AGENT_HELLO, BK_SHAPE_MESSAGES, BK_SHAPE_MESSAGE,
    BK_SHAPE_HISTORY, BK_SHAPE_SITES_HOURS, BK_SHAPE_INVITE_REPLY, BK_SHAPE_TRANSCRIPT, BK_SHAPE_HASH,
    BK_SHAPE_LIST, BK_SHAPE_RULES, BK_SHAPE_RULE_REVERT, BK_SHAPE_STATS, BK_SHAPE_SERVICE_STATS,
    BK_SHAPE_HOOK_ROWS, BK_SHAPE_BUS_REPLY, BK_SHAPE_BUS_SMESSAGE, BK_SHAPE_BUS_CONFIRMATION,
    BK_SHAPE_SESSION_AGENT, BK_SHAPE_CLUSTER_SLOTS, BK_SHAPE_COUNTS, BK_SHAPE_TRACKS, BK_SHAPE_TRACK,
    BK_SHAPE_FILE_MESSAGE, BK_SHAPE_FILE_GET, BK_SHAPE_FILE_IDS,
    BK_SHAPE_FLOW_READ, BK_SHAPE_FLOW, BK_SHAPE_FLOWS, BK_SHAPE_FLOW_REVERT,
    BK_SHAPE_EMAIL_REPLY, BK_SHAPE_MAIL_INBOUND,
};
#define READERS (sizeof reader_shapes / sizeof reader_shapes[0])

/* Every shape the list names has a reader here: a new shape must come with its reader. */
#define COUNT_ONE(name) +1
enum { SHAPES_LISTED = 0 BK_REDIS_SHAPES(COUNT_ONE) };
_Static_assert(SHAPES_LISTED == 36, "a shape in redis_shapes.h has no reader in fuzz_replies.c");

static size_t groups_of(const redisReply *r, const char *shape)
{
    bk_redis_reply_value values[VALUES_MAX];
    int n = bk_redis_reply_read(r, shape, values, VALUES_MAX);
    for (int i = 0; i < n && i < VALUES_MAX; i++) {
        if (values[i].group) {
            size_t groups = 0, at = values[i].at;
            bk_redis_reply_value inner[VALUES_MAX];
            while (bk_redis_reply_read_next(values[i].array, &at, values[i].group, inner, VALUES_MAX) >= 0)
                groups++;
            return groups;
        }
    }
    return 0;
}

/* ---- errors ---------------------------------------------------------------------------------- */

static void errors_check(const redisReply *r)
{
    static const char *const codes[] = { "unauthorized", "not_found", "forbidden", "already_taken",
                                         "wrong_state", "rate_limited", "" };
    const char *text = bk_redis_reply_error(r);
    CHECK(!text == !(r && r->type == REDIS_REPLY_ERROR));
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        const char *message = bk_redis_reply_refusal(r, codes[i]);
        if (!message)
            continue;
        size_t n = strlen(codes[i]);
        CHECK(text && message == text + n + 1 && strncmp(text, codes[i], n) == 0 && text[n] == ' ');
        touch(message, strlen(message));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int once;
    if (!once) {
        once = 1;
        bk_log_set_level(BK_LOG_ERROR);  /* odd replies are told at warn: not wanted here */
    }
    input in = { data, size, 0, 0 };
    char shape[SHAPE_MAX + 1] = "";
    if (size > 0 && data[0] == '~') {
        size_t n = 0;
        in.at = 1;
        while (in.at < size && data[in.at] != '~' && n < SHAPE_MAX)
            shape[n++] = (char)data[in.at++];
        shape[n] = '\0';
        if (in.at < size && data[in.at] == '~')
            in.at++;
    }
    int null;
    redisReply *reply = tree_build(&in, 0, &null);
    if (null)
        reply = NULL;

    for (size_t i = 0; i < READERS; i++) {
        int read = read_check(reply, reader_shapes[i]);
        size_t groups;
        CHECK(reader(reply, (int)i, &groups) == read);
        CHECK(groups == (read == 0 ? groups_of(reply, reader_shapes[i]) : 0));
    }
    if (shape[0] || (size > 0 && data[0] == '~'))
        read_check(reply, shape);
    errors_check(reply);
    tree_free(reply);
    return 0;
}
