/* auth.c - HMAC-signed visitor tokens, yescrypt passwords, hashed session tokens. */
#include "base/auth.h"

#include "base/ids.h"

#include <beckon/protocol.h>
#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Exactly 2 * out_len hex digits, nothing else: a mistyped secret must not load as some
 * other key. */
static int hex_decode(const char *hex, uint8_t *out, size_t out_len)
{
    if (strlen(hex) != 2 * out_len)
        return -1;
    for (size_t i = 0; i < out_len; i++) {
        int high = hex_digit(hex[2 * i]), low = hex_digit(hex[2 * i + 1]);
        if (high < 0 || low < 0)
            return -1;
        out[i] = (uint8_t)(high << 4 | low);
    }
    return 0;
}

int bk_secret_load(const char *hex, const char *path, uint8_t secret[BK_SECRET_SIZE],
                   char *err, size_t err_size)
{
    if (hex && hex[0]) {
        if (hex_decode(hex, secret, BK_SECRET_SIZE) != 0) {
            snprintf(err, err_size, "secret: expected %d hex digits", 2 * BK_SECRET_SIZE);
            return -1;
        }
        return 0;
    }
    char text[2 * BK_SECRET_SIZE + 2];
    FILE *f = fopen(path, "r");
    if (f) {
        size_t n = fread(text, 1, sizeof text - 1, f);
        fclose(f);
        text[n] = '\0';
        text[strcspn(text, "\r\n")] = '\0';
        if (hex_decode(text, secret, BK_SECRET_SIZE) != 0) {
            snprintf(err, err_size, "%s: expected %d hex digits", path, 2 * BK_SECRET_SIZE);
            return -1;
        }
        return 0;
    }
    if (errno != ENOENT) {
        snprintf(err, err_size, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (bk_random_bytes(secret, BK_SECRET_SIZE) != 0) {
        snprintf(err, err_size, "no randomness for a new secret");
        return -1;
    }
    bk_hex_encode(secret, BK_SECRET_SIZE, text);
    /* O_EXCL: two processes sharing a data dir must not each write their own secret. */
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) {
        if (errno == EEXIST)
            return bk_secret_load(NULL, path, secret, err, err_size);
        snprintf(err, err_size, "%s: %s", path, strerror(errno));
        return -1;
    }
    size_t len = strlen(text);
    text[len] = '\n';
    int ok = write(fd, text, len + 1) == (ssize_t)(len + 1);
    close(fd);
    if (!ok) {
        snprintf(err, err_size, "%s: could not write the secret", path);
        return -1;
    }
    return 0;
}

static void base64url_encode(const uint8_t *in, size_t len, char *out)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < len) v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < len) v |= in[i + 2];
        out[o++] = alphabet[(v >> 18) & 63];
        out[o++] = alphabet[(v >> 12) & 63];
        if (i + 1 < len) out[o++] = alphabet[(v >> 6) & 63];
        if (i + 2 < len) out[o++] = alphabet[v & 63];
    }
    out[o] = '\0';
}

/* The MAC covers the version tag too, so a later token format cannot be confused with v1. */
static void token_mac(const uint8_t secret[BK_SECRET_SIZE], const char *visitor_id, char out[44])
{
    char message[BK_ID_MAX + 8];
    int n = snprintf(message, sizeof message, "v1.%s", visitor_id);
    uint8_t mac[32];
    unsigned mac_len = sizeof mac;
    HMAC(EVP_sha256(), secret, BK_SECRET_SIZE, (const uint8_t *)message, (size_t)n, mac, &mac_len);
    base64url_encode(mac, sizeof mac, out);
}

int bk_token_sign(const uint8_t secret[BK_SECRET_SIZE], const char *visitor_id,
                  char *out, size_t out_size)
{
    if (!bk_id_valid(visitor_id))
        return -1;
    char mac[44];
    token_mac(secret, visitor_id, mac);
    int n = snprintf(out, out_size, "v1.%s.%s", visitor_id, mac);
    return n > 0 && (size_t)n < out_size ? 0 : -1;
}

int bk_token_verify(const uint8_t secret[BK_SECRET_SIZE], const char *token,
                    char *visitor_id, size_t visitor_id_size)
{
    if (strncmp(token, "v1.", 3) != 0)
        return -1;
    const char *id = token + 3;
    const char *dot = strchr(id, '.');
    if (!dot || (size_t)(dot - id) >= visitor_id_size || dot - id > BK_ID_MAX)
        return -1;
    char candidate[BK_ID_MAX + 1];
    memcpy(candidate, id, (size_t)(dot - id));
    candidate[dot - id] = '\0';
    if (!bk_id_valid(candidate))
        return -1;
    char expected[44];
    token_mac(secret, candidate, expected);
    if (strlen(dot + 1) != strlen(expected) ||
        CRYPTO_memcmp(dot + 1, expected, strlen(expected)) != 0)
        return -1;
    memcpy(visitor_id, candidate, strlen(candidate) + 1);
    return 0;
}

int bk_password_hash(const char *password, char *out, size_t out_size)
{
    char setting[CRYPT_GENSALT_OUTPUT_SIZE];
    if (!crypt_gensalt_rn("$y$", 0, NULL, 0, setting, sizeof setting))
        return -1;
    struct crypt_data data;
    memset(&data, 0, sizeof data);
    const char *hash = crypt_rn(password, setting, &data, sizeof data);
    if (!hash || hash[0] == '*' || strlen(hash) >= out_size)
        return -1;
    memcpy(out, hash, strlen(hash) + 1);
    return 0;
}

int bk_password_verify(const char *password, const char *hash)
{
    struct crypt_data data;
    memset(&data, 0, sizeof data);
    const char *computed = crypt_rn(password, hash, &data, sizeof data);
    if (!computed || computed[0] == '*' || strlen(computed) != strlen(hash))
        return -1;
    return CRYPTO_memcmp(computed, hash, strlen(hash)) == 0 ? 0 : -1;
}

int bk_identity_verify(const char *site_secret, const char *user_id, const char *hash_hex)
{
    uint8_t mac[32];
    unsigned mac_len = sizeof mac;
    char expected[65];
    if (!site_secret[0] || strlen(hash_hex) != 64)
        return -1;
    HMAC(EVP_sha256(), site_secret, (int)strlen(site_secret), (const uint8_t *)user_id, strlen(user_id),
         mac, &mac_len);
    bk_hex_encode(mac, sizeof mac, expected);
    char given[65];
    for (int i = 0; i < 64; i++)  /* sites may send upper-case hex */
        given[i] = (char)(hash_hex[i] >= 'A' && hash_hex[i] <= 'F' ? hash_hex[i] - 'A' + 'a' : hash_hex[i]);
    given[64] = '\0';
    return CRYPTO_memcmp(given, expected, 64) == 0 ? 0 : -1;
}

void bk_hmac_sha256_hex(const char *key, const char *message, size_t len, char out[65])
{
    uint8_t mac[32];
    unsigned mac_len = sizeof mac;
    HMAC(EVP_sha256(), key, (int)strlen(key), (const uint8_t *)message, len, mac, &mac_len);
    bk_hex_encode(mac, sizeof mac, out);
}

int bk_session_token_new(char token[BK_SESSION_TOKEN_SIZE])
{
    uint8_t raw[32];
    if (bk_random_bytes(raw, sizeof raw) != 0)
        return -1;
    bk_hex_encode(raw, sizeof raw, token);
    return 0;
}

void bk_session_token_digest(const char *token, char digest[BK_SESSION_TOKEN_SIZE])
{
    uint8_t raw[SHA256_DIGEST_LENGTH];
    SHA256((const uint8_t *)token, strlen(token), raw);
    bk_hex_encode(raw, sizeof raw, digest);
}
