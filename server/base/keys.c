/* keys.c - hash tags and prefixes: the key layout for Redis Cluster (keys.h). */
#include "base/keys.h"

#include "base/ids.h"

#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>

void bk_keys_site_tag(const char *site, char tag[BK_KEYS_TAG_LEN + 1])
{
    uint8_t digest[SHA256_DIGEST_LENGTH];
    char hex[2 * SHA256_DIGEST_LENGTH + 1];
    SHA256((const uint8_t *)site, strlen(site), digest);
    bk_hex_encode(digest, BK_KEYS_TAG_LEN / 2, hex);
    memcpy(tag, hex, BK_KEYS_TAG_LEN);
    tag[BK_KEYS_TAG_LEN] = '\0';
}

static int hex_digit(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

int bk_keys_id_tag(const char *id, char tag[BK_KEYS_TAG_LEN + 1])
{
    tag[0] = '\0';
    const char *kind_end = strchr(id, '_');
    if (!kind_end || kind_end == id)
        return -1;
    const char *t = kind_end + 1;
    for (int i = 0; i < BK_KEYS_TAG_LEN; i++)
        if (!hex_digit(t[i]))
            return -1;
    if (t[BK_KEYS_TAG_LEN] != '_' || t[BK_KEYS_TAG_LEN + 1] == '\0')
        return -1;
    memcpy(tag, t, BK_KEYS_TAG_LEN);
    tag[BK_KEYS_TAG_LEN] = '\0';
    return 0;
}

int bk_keys_id_has_tag(const char *id, const char *tag)
{
    char own[BK_KEYS_TAG_LEN + 1];
    return bk_keys_id_tag(id, own) == 0 && strcmp(own, tag) == 0;
}

int bk_keys_id_generate(const char *kind, const char *tag, char *out, size_t out_size)
{
    char kind_tag[16];
    if (strlen(tag) != BK_KEYS_TAG_LEN ||
        snprintf(kind_tag, sizeof kind_tag, "%s%s_", kind, tag) >= (int)sizeof kind_tag)
        return -1;
    return bk_id_generate(kind_tag, out, out_size);
}

void bk_keys_site_prefix(const char *prefix, const char *tag, char out[BK_KEYS_PREFIX_SIZE])
{
    snprintf(out, BK_KEYS_PREFIX_SIZE, "%s{%s}:", prefix, tag);
}

void bk_keys_prefix_of_site(const char *prefix, const char *site, char out[BK_KEYS_PREFIX_SIZE])
{
    char tag[BK_KEYS_TAG_LEN + 1];
    bk_keys_site_tag(site, tag);
    bk_keys_site_prefix(prefix, tag, out);
}

void bk_keys_prefix_of_id(const char *prefix, const char *id, char out[BK_KEYS_PREFIX_SIZE])
{
    char tag[BK_KEYS_TAG_LEN + 1];
    if (bk_keys_id_tag(id, tag) != 0)
        bk_keys_site_tag("", tag);
    bk_keys_site_prefix(prefix, tag, out);
}

void bk_keys_global_prefix(const char *prefix, char out[BK_KEYS_PREFIX_SIZE])
{
    snprintf(out, BK_KEYS_PREFIX_SIZE, "%s{g}:", prefix);
}
