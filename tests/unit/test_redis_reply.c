/* test_redis_reply.c - reading Redis replies by shape (server/store/redis_reply.h): every reader's shape
 * is well formed, replies of the right shape are read, every odd one is refused (never read),
 * told once per reader and counted in /metrics. */
#include "check.h"
#include "replies.h"

#include "base/log.h"
#include "base/metrics.h"
#include "store/redis_reply.h"
#include "store/redis_shapes.h"

#include <beckon/protocol.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- the shapes ---------------------------------------------------------------------- */

static void test_shapes_valid(void)
{
#define SHAPE_VALID(name) \
    CHECK(bk_redis_reply_shape_valid(BK_SHAPE_##name), "shape " #name " (%s) is well formed", BK_SHAPE_##name);
    BK_REDIS_SHAPES(SHAPE_VALID)
#undef SHAPE_VALID
    /* a group walked by its name is the very group its parent shape was checked with */
#define GROUP_IN_PARENT(group, parent)                                                             \
    {                                                                                              \
        const char *in = strstr(BK_SHAPE_##parent, "{" BK_SHAPE_##group "}");                      \
        CHECK(in != NULL, "group " #group " is the group of " #parent " (%s)", BK_SHAPE_##parent); \
    }
    BK_REDIS_GROUPS(GROUP_IN_PARENT)
#undef GROUP_IN_PARENT
    static const char *const malformed[] = { "", "x", "[s", "s]", "[{}]", "[{s]", "[s{s}s]", "ss", "[s]]", "%",
                                             "{s}", "[{s}{s}]" };
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++)
        CHECK(!bk_redis_reply_shape_valid(malformed[i]), "malformed shape \"%s\" is refused", malformed[i]);
}

/* ---- matching ------------------------------------------------------------------------ */

static void test_authorize(void)
{
    const char *agent = "unset", *role = "unset";
    redisReply *good = array(2, str("alice"), str("admin"));
    CHECK(bk_redis_reply_unpack(good, BK_SHAPE_AUTHORIZE, &agent, &role) == 0, "authorize: {agent, role} is read");
    CHECK_STR(agent, "alice", "authorize: the agent");
    CHECK_STR(role, "admin", "authorize: the role");
    release(good);

    /* The replies that crashed on_authorized (strcmp of a NULL str), and their cousins. */
    redisReply *odd[] = {
        array(2, nil(), integer(7)), array(2, str("alice"), nil()), array(2, integer(1), str("agent")),
        array(1, str("alice")), array(3, str("alice"), str("agent"), str("x")), array(0),
        array(2, str("alice"), array(1, str("agent"))), str("alice"), integer(2), nil(),
    };
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        agent = role = "unset";
        CHECK(bk_redis_reply_unpack(odd[i], BK_SHAPE_AUTHORIZE, &agent, &role) == -1 &&
              strcmp(agent, "unset") == 0 && strcmp(role, "unset") == 0,
              "authorize: odd reply %zu is refused and nothing is handed out", i);
        release(odd[i]);
    }
    CHECK(bk_redis_reply_unpack(NULL, BK_SHAPE_AUTHORIZE, &agent, &role) == -1, "authorize: no reply is refused");
    redisReply *refused = error_of("unauthorized unknown or expired session token");
    CHECK(bk_redis_reply_unpack(refused, BK_SHAPE_AUTHORIZE, &agent, &role) == -1, "authorize: an error is refused");
    CHECK_STR(bk_redis_reply_refusal(refused, BK_ERR_UNAUTHORIZED), "unknown or expired session token",
              "refusal: the message after the code");
    CHECK(bk_redis_reply_refusal(refused, BK_ERR_NOT_FOUND) == NULL, "refusal: another code is not this one");
    release(refused);
}

static void test_errors(void)
{
    static const char *const storage[] = {
        "LOADING Redis is loading the dataset in memory",
        "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.",
        "NOSCRIPT No matching script. Please use EVAL.",
        "OOM command not allowed when used memory > 'maxmemory'.",
        "READONLY You can't write against a read only replica.",
        "unauthorizedX no space after the code", "unauthorized", "",
    };
    for (size_t i = 0; i < sizeof storage / sizeof storage[0]; i++) {
        redisReply *e = error_of(storage[i]);
        CHECK(bk_redis_reply_error(e) && strcmp(bk_redis_reply_error(e), storage[i]) == 0,
              "error: \"%.20s\" is an error", storage[i]);
        CHECK(bk_redis_reply_refusal(e, BK_ERR_UNAUTHORIZED) == NULL, "error: \"%.20s\" is no refusal", storage[i]);
        release(e);
    }
    redisReply *s = str("unauthorized as a string");
    CHECK(bk_redis_reply_error(s) == NULL && bk_redis_reply_refusal(s, BK_ERR_UNAUTHORIZED) == NULL,
          "error: a string saying \"unauthorized\" is no error");
    release(s);
    CHECK(bk_redis_reply_error(NULL) == NULL && bk_redis_reply_refusal(NULL, BK_ERR_UNAUTHORIZED) == NULL,
          "error: no reply is no error");
}

static void test_scalars(void)
{
    const char *text = NULL, *maybe = "unset";
    size_t len = 0;
    long long n = 0;
    redisReply *with_nul = string_of("a\0b", 3);
    CHECK(bk_redis_reply_unpack(with_nul, BK_SHAPE_TEXT, &text, &len) == 0 && len == 3 && memcmp(text, "a\0b", 3) == 0,
          "s%%: a string with a NUL keeps its length");
    release(with_nul);
    redisReply *seven = integer(7);
    CHECK(bk_redis_reply_unpack(seven, BK_SHAPE_INTEGER, &n) == 0 && n == 7, "i: an integer");
    CHECK(bk_redis_reply_unpack(seven, BK_SHAPE_TEXT, &text, &len) == -1, "s%%: an integer is no string");
    release(seven);
    redisReply *status = node(REDIS_REPLY_STATUS);
    CHECK(bk_redis_reply_unpack(status, BK_SHAPE_STRING, &text) == -1, "s: a status reply is no string");
    release(status);
    redisReply *login = array(3, nil(), nil(), integer(0));
    long long blocked = -1;
    CHECK(bk_redis_reply_unpack(login, BK_SHAPE_LOGIN_BEGIN, &text, &len, &maybe, &blocked) == 0 && text == NULL &&
          len == 0 && maybe == NULL && blocked == 0, "n: nil is NULL (an unknown account's login)");
    release(login);
    redisReply *holey = array(2, str("x"), NULL);
    const char *a, *b;
    CHECK(bk_redis_reply_unpack(holey, "[s*]", &a) == -1 && bk_redis_reply_unpack(holey, "[ss]", &a, &b) == -1,
          "a NULL element matches nothing, not even *");
    release(holey);
}

static void test_groups(void)
{
    const redisReply *fields;
    size_t at = 99;
    const char *id, *value;
    size_t len;
    redisReply *hash = array(4, str("a"), str("{\"x\":1}"), str("b"), str("{}"));
    CHECK(bk_redis_reply_unpack(hash, BK_SHAPE_HASH, &fields, &at) == 0 && fields == hash && at == 0,
          "{}: a hash of pairs is read, its groups from 0");
    int n = 0, ok = 1;
    while (bk_redis_reply_unpack_next(fields, &at, BK_SHAPE_HASH_FIELD, &id, &value, &len) == 0) {
        ok &= n == 0 ? strcmp(id, "a") == 0 && len == 7 : strcmp(id, "b") == 0 && len == 2;
        n++;
    }
    CHECK(n == 2 && ok && at == 4, "{}: both pairs, in order, then the end");
    release(hash);

    redisReply *empty = array(0);
    CHECK(bk_redis_reply_unpack(empty, BK_SHAPE_HASH, &fields, &at) == 0 &&
          bk_redis_reply_unpack_next(fields, &at, BK_SHAPE_HASH_FIELD, &id, &value, &len) == -1,
          "{}: no groups at all is a shape too");
    release(empty);

    redisReply *odd[] = { array(3, str("a"), str("1"), str("b")), array(4, str("a"), str("1"), str("b"), nil()),
                          array(2, integer(1), str("1")), array(2, str("a"), array(0)) };
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        CHECK(bk_redis_reply_unpack(odd[i], BK_SHAPE_HASH, &fields, &at) == -1, "{}: odd hash %zu is refused whole", i);
        release(odd[i]);
    }

    /* Nested: the service stats, days of {day, shown, accepted, chats, flows, row...}. */
    redisReply *stats = array(2, array(6, str("20240101"), integer(3), integer(2), integer(1), str("{}"), str("row one")),
                              array(5, str("20240102"), integer(0), integer(0), integer(0), str("{}")));
    const redisReply *days, *day;
    const char *name, *row, *flows;
    long long shown, accepted, chats;
    size_t row_at, rows = 0;
    CHECK(bk_redis_reply_unpack(stats, BK_SHAPE_SERVICE_STATS, &days, &at) == 0, "nested: service stats are read");
    int day_count = 0;
    while (bk_redis_reply_unpack_next(days, &at, BK_SHAPE_SERVICE_DAY, &name, &shown, &accepted, &chats, &flows,
                                      &day, &row_at) == 0) {
        day_count++;
        while (bk_redis_reply_unpack_next(day, &row_at, BK_SHAPE_SERVICE_ROW, &row, &len) == 0)
            rows++;
    }
    CHECK(day_count == 2 && rows == 1, "nested: two days, one row");
    release(stats);
    redisReply *short_day = array(1, array(3, str("20240101"), integer(3), integer(2)));
    CHECK(bk_redis_reply_unpack(short_day, BK_SHAPE_SERVICE_STATS, &days, &at) == -1,
          "nested: a day without its counters is refused");
    release(short_day);

    /* A group walked with a shape other than the one checked does not fit, and says so. */
    redisReply *pairs = array(2, str("a"), str("b"));
    CHECK(bk_redis_reply_unpack(pairs, BK_SHAPE_HASH, &fields, &at) == 0 &&
          bk_redis_reply_unpack_next(fields, &at, BK_SHAPE_AUTHORIZE, &id, &value) == -1 && at == 0,
          "next: a group of another shape is refused, nothing moves");
    release(pairs);
}

/* ---- telling and counting -------------------------------------------------------------- */

static size_t count_of(const char *text, const char *needle)
{
    size_t n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static int odd_read_twice(void)
{
    const char *a, *b;
    redisReply *odd = array(2, nil(), integer(7));
    int rc = 0;
    for (int i = 0; i < 2; i++)
        rc |= bk_redis_reply_unpack(odd, BK_SHAPE_AUTHORIZE, &a, &b) == 0;
    release(odd);
    return rc;
}

static int odd_read_elsewhere(void)
{
    const char *a, *b;
    redisReply *odd = array(1, str("alice"));
    int rc = bk_redis_reply_unpack(odd, BK_SHAPE_AUTHORIZE, &a, &b) == 0;
    release(odd);
    return rc;
}

static void test_told_once_counted(void)
{
    char path[] = "/tmp/beckon-test-redis-reply-XXXXXX";
    int fd = mkstemp(path);
    int saved = dup(STDERR_FILENO);
    fflush(stderr);
    dup2(fd, STDERR_FILENO);
    int read_anyway = odd_read_twice() | odd_read_twice() | odd_read_elsewhere();
    redisReply *e = error_of("BUSY busy"), *none = NULL;
    const char *a, *b;
    bk_redis_reply_unpack(e, BK_SHAPE_AUTHORIZE, &a, &b);  /* errors and no reply are not odd shapes */
    bk_redis_reply_unpack(none, BK_SHAPE_AUTHORIZE, &a, &b);
    release(e);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    char log[4096] = "";
    ssize_t got = pread(fd, log, sizeof log - 1, 0);
    log[got > 0 ? got : 0] = '\0';
    close(fd);
    unlink(path);
    CHECK(!read_anyway, "told: the odd reply was refused");
    CHECK(count_of(log, "unexpected shape") == 2, "told: once per reader (2 readers, 4 odd replies): %zu lines",
          count_of(log, "unexpected shape"));
    CHECK(strstr(log, "expected [ss], got [nil, integer]") != NULL, "told: what was expected and what came");
    char *metrics = bk_metrics_render(1, 0, -1);
    CHECK(metrics && strstr(metrics, "beckon_redis_odd_replies_total{reader=\"odd_read_twice\"} 4"),
          "counted: every odd reply, by reader, in /metrics");
    free(metrics);
}

int main(void)
{
    bk_log_set_level(BK_LOG_WARN);
    test_shapes_valid();
    test_authorize();
    test_errors();
    test_scalars();
    test_groups();
    test_told_once_counted();
    bk_metrics_free();
    return check_done();
}
