/* ids.h - random identifiers, clocks and the id syntax that keeps Redis keys safe. */
#ifndef BK_IDS_H
#define BK_IDS_H

#include <stddef.h>
#include <stdint.h>

/* Fills buf with cryptographically random bytes. Returns 0, or -1 if the kernel refused. */
int bk_random_bytes(void *buf, size_t len);

/* A uniformly random number below bound into *out, from the ids' pool of kernel randomness (not
 * for secrets: for spreading things out, such as reconnect delays). Returns 0, or -1 when bound
 * is 0 or the kernel refused. On the loop thread only, as the ids. */
int bk_random_below(uint64_t bound, uint64_t *out);

/* Writes prefix + 24 lowercase hex digits (96 random bits) into out (>= strlen(prefix) + 25). */
int bk_id_generate(const char *prefix, char *out, size_t out_size);

/* True when s is 1..BK_ID_MAX chars of [A-Za-z0-9_-]: safe inside a Redis key and a bus line. */
int bk_id_valid(const char *s);

/* True when s is a Redis stream id "ms-seq" (each half at most 2^64 - 1), or "0". */
int bk_stream_id_valid(const char *s);

void bk_hex_encode(const uint8_t *in, size_t len, char *out);

int64_t bk_now_ms(void);

/* An address made anonymous enough to store or log: IPv4 to its /24 ("192.0.2.0"), IPv6 to
 * its /48 ("2001:db8:1::"). Anything unparseable becomes "unknown". */
void bk_ip_truncate(const char *ip, char *out, size_t out_size);

#endif
