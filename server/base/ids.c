/* ids.c - random identifiers and the validation that keeps them safe in keys. */
#include "base/ids.h"

#include <beckon/protocol.h>
#include <errno.h>
#include <string.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <sys/random.h>
#include <time.h>

int bk_random_bytes(void *buf, size_t len)
{
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = getrandom(p, len, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

void bk_hex_encode(const uint8_t *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
}

/* Ids are not secrets (tokens and sessions are, and they read the kernel's randomness
 * directly), but one getrandom call per chat message showed in the profile: ids take their
 * bytes from a pool refilled 32 ids at a time. */
static int id_bytes(uint8_t *out, size_t len)
{
    static uint8_t pool[384];
    static size_t left;
    if (len > sizeof pool)
        return -1;
    if (left < len) {
        if (bk_random_bytes(pool, sizeof pool) != 0)
            return -1;
        left = sizeof pool;
    }
    left -= len;
    memcpy(out, pool + left, len);
    memset(pool + left, 0, len);
    return 0;
}

int bk_random_below(uint64_t bound, uint64_t *out)
{
    if (bound == 0)
        return -1;
    /* Draws at or above the largest multiple of bound are drawn again, so that no remainder
     * is likelier than another. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % bound, x;
    do {
        uint8_t raw[sizeof x];
        if (id_bytes(raw, sizeof raw) != 0)
            return -1;
        memcpy(&x, raw, sizeof x);
    } while (x >= limit);
    *out = x % bound;
    return 0;
}

int bk_id_generate(const char *prefix, char *out, size_t out_size)
{
    uint8_t raw[12];
    size_t plen = strlen(prefix);
    if (out_size < plen + 2 * sizeof raw + 1 || id_bytes(raw, sizeof raw) != 0)
        return -1;
    memcpy(out, prefix, plen);
    bk_hex_encode(raw, sizeof raw, out + plen);
    return 0;
}

int bk_id_valid(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return 0;
        if (n >= BK_ID_MAX)
            return 0;
    }
    return n > 0;
}

/* n digits forming a number Redis can hold in a stream id half: at most 2^64 - 1. Leading
 * zeros are allowed (Redis reads "007-0" as 7-0). */
static int digits_only(const char *s, size_t n)
{
    static const char max[] = "18446744073709551615";
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    while (n > 1 && *s == '0') {
        s++;
        n--;
    }
    return n < sizeof max - 1 || (n == sizeof max - 1 && memcmp(s, max, n) <= 0);
}

int bk_stream_id_valid(const char *s)
{
    const char *dash = strchr(s, '-');
    if (!dash)
        return strcmp(s, "0") == 0;
    return digits_only(s, (size_t)(dash - s)) && digits_only(dash + 1, strlen(dash + 1));
}

void bk_ip_truncate(const char *ip, char *out, size_t out_size)
{
    struct in_addr v4;
    struct in6_addr v6;
    const char *mapped = strncmp(ip, "::ffff:", 7) == 0 ? ip + 7 : ip;
    if (inet_pton(AF_INET, mapped, &v4) == 1) {
        uint8_t *b = (uint8_t *)&v4.s_addr;
        snprintf(out, out_size, "%u.%u.%u.0", b[0], b[1], b[2]);
    } else if (inet_pton(AF_INET6, ip, &v6) == 1) {
        memset(v6.s6_addr + 6, 0, 10);
        if (!inet_ntop(AF_INET6, &v6, out, (socklen_t)out_size))
            snprintf(out, out_size, "unknown");
    } else {
        snprintf(out, out_size, "unknown");
    }
}

int64_t bk_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
