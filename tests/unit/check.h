/* check.h - a tiny TAP producer for table-driven unit tests.
 *
 * Each CHECK is one TAP test point, so meson (protocol: 'tap') counts every
 * assertion of a table as its own pass or failure and names it in the log. */
#ifndef BK_TEST_CHECK_H
#define BK_TEST_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_count;
static int check_failed;

/* The condition is evaluated once, so it may have side effects. */
#define CHECK(cond, ...) do {                                          \
    int check_ok_once_ = (cond) ? 1 : 0;                              \
    ++check_count;                                                    \
    if (check_ok_once_) {                                             \
        printf("ok %d - ", check_count);                              \
    } else {                                                          \
        ++check_failed;                                               \
        printf("not ok %d - ", check_count);                          \
    }                                                                 \
    printf(__VA_ARGS__);                                              \
    printf("\n");                                                     \
    if (!check_ok_once_)                                              \
        printf("# failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
} while (0)

#define CHECK_STR(got, want, ...) do {                                 \
    const char *check_got_ = (got), *check_want_ = (want);            \
    int check_ok_ = check_got_ && check_want_ ? strcmp(check_got_, check_want_) == 0 \
                                              : check_got_ == check_want_;            \
    CHECK(check_ok_, __VA_ARGS__);                                    \
    if (!check_ok_)                                                   \
        printf("#   got  \"%s\"\n#   want \"%s\"\n",                   \
               check_got_ ? check_got_ : "(null)",                    \
               check_want_ ? check_want_ : "(null)");                 \
} while (0)

/* Call last in main: prints the TAP plan and turns failures into the exit code. */
static inline int check_done(void)
{
    printf("1..%d\n", check_count);
    return check_failed ? 1 : 0;
}

#endif
