/* fuzz_config.c - libFuzzer target for --redis addresses (bk_redis_address_parse, server/base/config.c).
 *
 * The input, NUL-terminated, is parsed with an error buffer of a size the first byte picks
 * (heap-allocated and exact, so ASan sees a write past it). On success the result must be
 * usable as is: terminated strings, a non-empty host or an absolute socket path, port
 * 1..65535, db 0..15. The error message must be terminated within its buffer. */
#include "base/config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                         \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            fprintf(stderr, "fuzz_config: property failed: %s (%s:%d)\n", #cond, __FILE__, \
                    __LINE__);                                                              \
            abort();                                                                        \
        }                                                                                   \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 16384)
        return -1;
    char *url = malloc(size + 1);
    CHECK(url != NULL);
    memcpy(url, data, size);
    url[size] = '\0';
    size_t err_size = size ? 1 + data[0] % 300 : 256;
    char *err = malloc(err_size);
    CHECK(err != NULL);
    memset(err, 0x5a, err_size);

    bk_redis_address *out = malloc(sizeof *out);
    CHECK(out != NULL);
    memset(out, 0x5a, sizeof *out);
    int rc = bk_redis_address_parse(url, out, err, err_size);
    if (rc == 0) {
        CHECK(out->is_unix == 0 || out->is_unix == 1);
        CHECK(memchr(out->host, '\0', sizeof out->host) != NULL);
        CHECK(memchr(out->path, '\0', sizeof out->path) != NULL);
        CHECK(memchr(out->username, '\0', sizeof out->username) != NULL);
        CHECK(memchr(out->password, '\0', sizeof out->password) != NULL);
        CHECK(out->db >= 0 && out->db <= 15);
        if (out->is_unix) {
            CHECK(out->path[0] == '/');
        } else {
            CHECK(out->host[0] != '\0');
            CHECK(out->port >= 1 && out->port <= 65535);
        }
    } else {
        CHECK(rc == -1);
        CHECK(memchr(err, '\0', err_size) != NULL);
    }
    free(out);
    free(err);
    free(url);
    return 0;
}
