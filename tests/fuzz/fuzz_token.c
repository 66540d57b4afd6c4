/* fuzz_token.c - libFuzzer target for visitor tokens (server/base/auth.c).
 *
 * 1. Verification of arbitrary text: the input, NUL-terminated, is handed to bk_token_verify
 *    with a fixed secret and an output buffer of exactly the size the first byte chooses
 *    (heap-allocated, so ASan sees any write past it). A token the fuzzer makes up must never
 *    verify unless it is byte for byte what bk_token_sign produces for the id it yields.
 * 2. Round trip: the input is also mapped onto the id alphabet [A-Za-z0-9_-] (lengths up to
 *    70, so ids over the 64-character limit are tried too). bk_token_sign must refuse invalid
 *    ids and never write past its buffer; a signed token must verify to the same id, with a
 *    second secret it must not, and single-byte changes of it (24 per input at positions and
 *    with bytes the input picks: case flips, NUL, '.', +1, arbitrary) must be refused. */
#include "base/auth.h"
#include "base/ids.h"

#include <beckon/protocol.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "fuzz_token: property failed: %s (%s:%d)\n", #cond, __FILE__, \
                    __LINE__);                                                             \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

static const uint8_t secret[BK_SECRET_SIZE] = {
    0x6b, 0x65, 0x79, 0x2d, 0x66, 0x6f, 0x72, 0x2d, 0x66, 0x75, 0x7a, 0x7a, 0x69, 0x6e, 0x67, 0x00,
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0xff};
static const uint8_t other_secret[BK_SECRET_SIZE] = {
    0x6b, 0x65, 0x79, 0x2d, 0x66, 0x6f, 0x72, 0x2d, 0x66, 0x75, 0x7a, 0x7a, 0x69, 0x6e, 0x67, 0x00,
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0xfe};

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int verify_into_exact(const uint8_t *key, const char *token, size_t out_size, char *copy_out)
{
    char *out = malloc(out_size ? out_size : 1);
    CHECK(out != NULL);
    int rc = bk_token_verify(key, token, out, out_size);
    if (rc == 0) {
        size_t len = strnlen(out, out_size);
        CHECK(len < out_size);  /* terminated inside the buffer */
        CHECK(bk_id_valid(out));
        if (copy_out)
            memcpy(copy_out, out, len + 1);
    } else {
        CHECK(rc == -1);
    }
    free(out);
    return rc;
}

static void fuzz_verify(const uint8_t *data, size_t size)
{
    char *token = malloc(size + 1);
    CHECK(token != NULL);
    memcpy(token, data, size);
    token[size] = '\0';
    size_t out_size = size ? (size_t)data[0] % (BK_ID_MAX + 8) : 0;  /* 0..71 */
    char id[BK_ID_MAX + 8];
    if (verify_into_exact(secret, token, out_size, id) == 0) {
        /* Only a real signature verifies: the fuzzer cannot forge one, so the token must be
         * exactly the signed form of the id it names. */
        char expected[BK_TOKEN_MAX];
        CHECK(bk_token_sign(secret, id, expected, sizeof expected) == 0);
        CHECK(strcmp(expected, token) == 0);
    }
    verify_into_exact(secret, token, BK_ID_MAX + 1, NULL);
    free(token);
}

static void fuzz_round_trip(const uint8_t *data, size_t size)
{
    size_t id_len = size > 70 ? 70 : size;
    char id[72];
    for (size_t i = 0; i < id_len; i++)
        id[i] = alphabet[data[i] & 63];
    id[id_len] = '\0';

    /* Signing into exactly-sized buffers, from too small to the limit. */
    size_t sign_size = size ? (size_t)data[size - 1] % BK_TOKEN_MAX : 0;
    char *small = malloc(sign_size ? sign_size : 1);
    CHECK(small != NULL);
    int small_rc = bk_token_sign(secret, id, small, sign_size);
    if (small_rc == 0)
        CHECK(strnlen(small, sign_size) < sign_size);
    free(small);

    char *token = malloc(BK_TOKEN_MAX);
    CHECK(token != NULL);
    int rc = bk_token_sign(secret, id, token, BK_TOKEN_MAX);
    if (!bk_id_valid(id)) {
        CHECK(rc == -1);
        free(token);
        return;
    }
    CHECK(rc == 0);
    size_t len = strlen(token);
    CHECK(len < BK_TOKEN_MAX);
    CHECK(strncmp(token, "v1.", 3) == 0);

    char got[BK_ID_MAX + 1];
    CHECK(verify_into_exact(secret, token, sizeof got, got) == 0);
    CHECK(strcmp(got, id) == 0);
    /* The out buffer needs id + NUL; one byte less must be refused, not truncated. */
    CHECK(verify_into_exact(secret, token, id_len + 1, NULL) == 0);
    CHECK(verify_into_exact(secret, token, id_len, NULL) == -1);
    CHECK(verify_into_exact(other_secret, token, sizeof got, NULL) == -1);

    /* Single-byte changes: HMAC is slow under ASan, so each input tries 24 (position, byte)
     * pairs that the input picks; over a run that covers every position with many bytes. */
    char *mutated = malloc(len + 1);
    CHECK(mutated != NULL);
    for (size_t j = 0; j < 24; j++) {
        uint8_t pick = size ? data[(j * 7 + 3) % size] : (uint8_t)j;
        size_t pos = (j * 37 + pick) % len;
        uint8_t original = (uint8_t)token[pos];
        uint8_t candidates[6] = {
            (uint8_t)(original ^ 0x20),   /* case flip for letters */
            (uint8_t)(original ^ 0x01),
            '.',
            '\0',
            (uint8_t)(original + 1),
            pick,
        };
        uint8_t replacement = candidates[(j + pick) % 6];
        if (replacement == original)
            replacement = (uint8_t)(original ^ 0x80);
        memcpy(mutated, token, len + 1);
        mutated[pos] = (char)replacement;
        if (bk_token_verify(secret, mutated, got, sizeof got) == 0) {
            fprintf(stderr, "fuzz_token: accepted after changing byte %zu of %s from 0x%02x to 0x%02x\n", pos, token,
                    original, replacement);
            CHECK(!"a changed token verified");
        }
    }
    free(mutated);
    free(token);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return -1;
    fuzz_verify(data, size);
    fuzz_round_trip(data, size);
    return 0;
}
