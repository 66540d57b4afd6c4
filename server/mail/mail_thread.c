/* mail_thread.c - reply addresses with signed tokens, and our Message-IDs. */
#include "mail/mail_thread.h"

#include "base/ids.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static void token_signature(const uint8_t secret[BK_SECRET_SIZE], const char *conversation,
                            char out[BK_MAIL_TOKEN_SIG_HEX + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    char message[BK_ID_MAX + 16];
    int n = snprintf(message, sizeof message, "mail-reply:%s", conversation);
    HMAC(EVP_sha256(), secret, BK_SECRET_SIZE, (const unsigned char *)message, (size_t)n, mac, &mac_len);
    for (int i = 0; i < BK_MAIL_TOKEN_SIG_HEX / 2; i++) {
        out[2 * i] = hex[mac[i] >> 4];
        out[2 * i + 1] = hex[mac[i] & 15];
    }
    out[BK_MAIL_TOKEN_SIG_HEX] = '\0';
}

int bk_mail_reply_address(const uint8_t secret[BK_SECRET_SIZE], const char *base, const char *conversation,
                          char *out, size_t out_size)
{
    const char *at = strchr(base, '@');
    if (!at || !bk_id_valid(conversation))
        return -1;
    char signature[BK_MAIL_TOKEN_SIG_HEX + 1];
    token_signature(secret, conversation, signature);
    size_t local = (size_t)(at - base) + 1 + strlen(conversation) + 1 + BK_MAIL_TOKEN_SIG_HEX;
    if (local > 64)
        return -1;
    int n = snprintf(out, out_size, "%.*s+%s.%s%s", (int)(at - base), base, conversation, signature, at);
    return n > 0 && (size_t)n < out_size ? 0 : -1;
}

int bk_mail_reply_token_check(const uint8_t secret[BK_SECRET_SIZE], const char *base, const char *recipient,
                              char conversation[BK_ID_MAX + 1])
{
    const char *base_at = strchr(base, '@'), *at = strrchr(recipient, '@');
    if (!base_at || !at)
        return 0;
    size_t base_local = (size_t)(base_at - base);
    /* the same domain, and the same local part followed by '+' */
    if (strcasecmp(at, base_at) != 0 || strncasecmp(recipient, base, base_local) != 0 ||
        recipient[base_local] != '+')
        return 0;
    const char *token = recipient + base_local + 1;
    size_t token_len = (size_t)(at - token);
    const char *dot = memchr(token, '.', token_len);
    if (!dot)
        return -1;
    size_t id_len = (size_t)(dot - token), sig_len = token_len - id_len - 1;
    if (id_len == 0 || id_len > BK_ID_MAX || sig_len != BK_MAIL_TOKEN_SIG_HEX)
        return -1;
    char id[BK_ID_MAX + 1], given[BK_MAIL_TOKEN_SIG_HEX + 1], expected[BK_MAIL_TOKEN_SIG_HEX + 1];
    memcpy(id, token, id_len);
    id[id_len] = '\0';
    for (size_t i = 0; i < sig_len; i++) {   /* a client may have changed its case */
        char c = dot[1 + i];
        given[i] = (char)(c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c);
    }
    given[sig_len] = '\0';
    /* some MTAs lower the local part's case; ids are lowercase hex after their kind */
    for (char *c = id; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    if (!bk_id_valid(id))
        return -1;
    token_signature(secret, id, expected);
    if (CRYPTO_memcmp(given, expected, BK_MAIL_TOKEN_SIG_HEX) != 0)
        return -1;
    memcpy(conversation, id, id_len + 1);
    return 1;
}

int bk_mail_message_id_new(const char *conversation, const char *domain, char *out, size_t out_size)
{
    char random[25];
    if (bk_id_generate("", random, sizeof random) != 0)
        return -1;
    int n = snprintf(out, out_size, "<bk.%s.%s@%s>", conversation, random, domain);
    return n > 0 && (size_t)n < out_size ? 0 : -1;
}

int bk_mail_message_id_conversation(const char *message_id, char conversation[BK_ID_MAX + 1])
{
    if (strncmp(message_id, "bk.", 3) != 0)
        return -1;
    const char *id = message_id + 3, *dot = strchr(id, '.');
    if (!dot || dot == id || (size_t)(dot - id) > BK_ID_MAX)
        return -1;
    memcpy(conversation, id, (size_t)(dot - id));
    conversation[dot - id] = '\0';
    return bk_id_valid(conversation) ? 0 : -1;
}

int bk_mail_message_id_ours(const char *message_id)
{
    char conversation[BK_ID_MAX + 1];
    return bk_mail_message_id_conversation(message_id, conversation) == 0;
}
