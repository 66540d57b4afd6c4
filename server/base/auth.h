/* auth.h - visitor tokens, agent passwords and agent session tokens.
 *
 * Visitor tokens are self-contained ("v1.<visitor id>.<HMAC-SHA256>"), so checking one needs
 * no Redis round trip. Agent sessions are random tokens whose SHA-256 is the Redis key: a
 * dump of Redis does not hand out working logins. */
#ifndef BK_AUTH_H
#define BK_AUTH_H

#include <stddef.h>
#include <stdint.h>

#define BK_SECRET_SIZE 32
#define BK_TOKEN_MAX 160            /* a visitor token, NUL included */
#define BK_SESSION_TOKEN_SIZE 65    /* 64 hex digits + NUL */
#define BK_PASSWORD_HASH_MAX 128

/* Reads the hex secret from `hex` when given, else from path; creates path (mode 0600) with a
 * fresh random secret when it does not exist. */
int bk_secret_load(const char *hex, const char *path, uint8_t secret[BK_SECRET_SIZE],
                   char *err, size_t err_size);

int bk_token_sign(const uint8_t secret[BK_SECRET_SIZE], const char *visitor_id,
                  char *out, size_t out_size);

/* Returns 0 and copies the visitor id when the token is one we signed, -1 otherwise. */
int bk_token_verify(const uint8_t secret[BK_SECRET_SIZE], const char *token,
                    char *visitor_id, size_t visitor_id_size);

/* yescrypt via libcrypt. Slow on purpose (tens of ms): never call on the event loop. */
int bk_password_hash(const char *password, char *out, size_t out_size);
int bk_password_verify(const char *password, const char *hash);

/* A site's backend signs its user id: hex(HMAC-SHA256(site secret, user id)). 0 when
 * hash_hex is that signature (compared in constant time), -1 otherwise. */
int bk_identity_verify(const char *site_secret, const char *user_id, const char *hash_hex);

/* hex(HMAC-SHA256(key, message)): a webhook's signature (webhooks.c). */
void bk_hmac_sha256_hex(const char *key, const char *message, size_t len, char out[65]);

/* A new random session token, and the key under which Redis keeps it. */
int bk_session_token_new(char token[BK_SESSION_TOKEN_SIZE]);
void bk_session_token_digest(const char *token, char digest[BK_SESSION_TOKEN_SIZE]);

#endif
