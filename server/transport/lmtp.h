/* lmtp.h - an LMTP listener (RFC 2033) on a unix socket, on the loop: how a local MTA such as
 * Postfix hands over inbound mail without starting a process per mail.
 *
 * Bytes only: LHLO, MAIL, RCPT, DATA (dot-unstuffed, at most max_bytes kept; a larger one is
 * read to its end and marked too large), RSET, NOOP, QUIT, with PIPELINING. After DATA the
 * handler gets the delivery and answers each recipient once, now or later
 * (bk_lmtp_delivery_answer); the connection reads nothing more until every recipient has its
 * answer, which then go out in order. A connection idle for 5 minutes is closed; at most
 * BK_LMTP_CONNECTIONS at once (more are refused with 421). */
#ifndef BK_LMTP_H
#define BK_LMTP_H

#include <stddef.h>
#include <uv.h>

#define BK_LMTP_CONNECTIONS 32
#define BK_LMTP_RECIPIENTS  50

typedef struct bk_lmtp bk_lmtp;
typedef struct bk_lmtp_delivery bk_lmtp_delivery;

/* Called once per DATA with the delivery, which lives until its last recipient is answered. */
typedef void (*bk_lmtp_deliver_fn)(bk_lmtp_delivery *delivery, void *data);

/* Listens on path (a stale socket file there is replaced; mode 0666: keep it in a directory only
 * the MTA may enter). NULL with err filled when it cannot. */
bk_lmtp *bk_lmtp_new(uv_loop_t *loop, const char *path, size_t max_bytes, bk_lmtp_deliver_fn fn, void *data,
                     char *err, size_t err_size);

/* Stops listening and closes every connection; deliveries still waiting for answers are
 * answered into the void. Call on the running loop; bk_lmtp_free once the loop has stopped. */
void bk_lmtp_shutdown(bk_lmtp *lmtp);
void bk_lmtp_free(bk_lmtp *lmtp);

const char *bk_lmtp_delivery_message(const bk_lmtp_delivery *d, size_t *len);
int bk_lmtp_delivery_too_large(const bk_lmtp_delivery *d);
const char *bk_lmtp_delivery_sender(const bk_lmtp_delivery *d);   /* "" for the null sender */
size_t bk_lmtp_delivery_recipients(const bk_lmtp_delivery *d);
const char *bk_lmtp_delivery_recipient(const bk_lmtp_delivery *d, size_t i);

/* The answer for recipient i: one reply line without CRLF ("250 2.0.0 delivered"). */
void bk_lmtp_delivery_answer(bk_lmtp_delivery *d, size_t i, const char *line);

#endif
