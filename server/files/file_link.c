/* file_link.c - signed, expiring links to files (file_link.h). */
#include "files/file_link.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void bk_file_link_sign(const uint8_t secret[BK_SECRET_SIZE], const char *id, const char *variant,
                       long long exp, char sig[65])
{
    char message[256];
    int n = snprintf(message, sizeof message, "%s|%s|%lld", id, variant, exp);
    if (n < 0 || (size_t)n >= sizeof message)
        n = (int)sizeof message - 1;  /* ids are at most 64 bytes: never */
    unsigned char mac[32];
    unsigned mac_len = sizeof mac;
    HMAC(EVP_sha256(), secret, BK_SECRET_SIZE, (const unsigned char *)message, (size_t)n, mac, &mac_len);
    for (unsigned i = 0; i < 32; i++)
        snprintf(sig + 2 * i, 3, "%02x", mac[i]);
}

int bk_file_link_make(const uint8_t secret[BK_SECRET_SIZE], const char *id, const char *variant,
                      long long exp, char out[BK_FILE_LINK_MAX])
{
    char sig[65];
    bk_file_link_sign(secret, id, variant, exp, sig);
    int n = snprintf(out, BK_FILE_LINK_MAX, "/files/%s%s?exp=%lld&sig=%s", id,
                     strcmp(variant, "thumb") == 0 ? "/thumb" : "", exp, sig);
    return n > 0 && n < BK_FILE_LINK_MAX ? 0 : -1;
}

bk_file_link_check bk_file_link_verify(const uint8_t secret[BK_SECRET_SIZE], const char *id,
                                       const char *variant, const char *exp, const char *sig,
                                       long long now)
{
    if (!*exp || strlen(exp) > 12 || strspn(exp, "0123456789") != strlen(exp) || strlen(sig) != 64)
        return BK_FILE_LINK_FORGED;
    long long when = strtoll(exp, NULL, 10);
    char expected[65];
    bk_file_link_sign(secret, id, variant, when, expected);
    if (CRYPTO_memcmp(expected, sig, 64) != 0)
        return BK_FILE_LINK_FORGED;
    return when < now ? BK_FILE_LINK_EXPIRED : BK_FILE_LINK_OK;
}

void bk_file_links_add(json_t *file, const uint8_t secret[BK_SECRET_SIZE], long long exp)
{
    const char *id = json_string_value(json_object_get(file, "id"));
    char link[BK_FILE_LINK_MAX];
    if (!json_is_object(file) || !id)
        return;
    if (bk_file_link_make(secret, id, "file", exp, link) == 0)
        json_object_set_new(file, "url", json_string(link));
    if (json_is_true(json_object_get(file, "thumb")) && bk_file_link_make(secret, id, "thumb", exp, link) == 0)
        json_object_set_new(file, "thumb_url", json_string(link));
    json_object_del(file, "thumb");
}

void bk_file_links_add_all(json_t *messages, const uint8_t secret[BK_SECRET_SIZE], long long exp)
{
    size_t i;
    json_t *message;
    json_array_foreach(messages, i, message)
        bk_file_links_add(json_object_get(message, "file"), secret, exp);
}

void bk_file_links_absolute(json_t *file, const char *base)
{
    static const char *const members[] = { "url", "thumb_url" };
    for (size_t i = 0; i < sizeof members / sizeof members[0]; i++) {
        const char *path = json_string_value(json_object_get(file, members[i]));
        if (!path || path[0] != '/')
            continue;
        char absolute[BK_FILE_LINK_MAX + 512];
        snprintf(absolute, sizeof absolute, "%s%s", base, path);
        json_object_set_new(file, members[i], json_string(absolute));
    }
}
