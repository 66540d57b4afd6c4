/* mail.h - sending email: an asynchronous SMTP client on the server's libuv loop, and the
 * pure pieces of a message (address check, header and body encodings, the reply reader).
 *
 * Plain SMTP only (no STARTTLS): Beckon hands mail to a relay it trusts, normally Postfix or
 * exim on the same machine, which does TLS and delivery (docs/deployment.md). A password is
 * therefore only ever sent to a relay on a loopback address. One connection per message, at
 * most BK_MAIL_CONCURRENT at once, the rest wait in a bounded queue; every message has one
 * deadline (smtp-timeout-seconds) for its wait and its whole SMTP exchange. */
#ifndef BK_MAIL_H
#define BK_MAIL_H

#include "base/config.h"

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define BK_MAIL_CONCURRENT 4    /* SMTP connections at once */
#define BK_MAIL_QUEUE_MAX  64   /* messages waiting for one */

/* How a send ended, as the completion function hears it. */
#define BK_MAIL_SENT      0     /* the relay answered 250 to the message */
#define BK_MAIL_NOT_SENT  (-1)  /* refused, or never handed over: nothing was delivered */
#define BK_MAIL_UNSURE    (-2)  /* the exchange broke after the message was handed over */

typedef struct bk_mail bk_mail;
typedef struct bk_mail_message bk_mail_message;

/* status is one of the above; message says why in plain words ("" when sent). */
typedef void (*bk_mail_done_fn)(int status, const char *message, void *data);

/* Checks the smtp-* settings (smtp-from required and valid when smtp-host is set). 0 or -1. */
int bk_mail_config_check(const bk_config *config, char *err, size_t err_size);

/* NULL when smtp-host is empty: email is not set up. */
bk_mail *bk_mail_new(uv_loop_t *loop, const bk_config *config);

/* Queues one plain-text message (UTF-8; any line ends) from smtp-from to `to`. Returns 0, and fn
 * is called exactly once, later, from the loop; or -1 with err filled (bad address, queue full,
 * shutting down), and fn is never called. */
int bk_mail_send(bk_mail *mail, const char *to, const char *subject, const char *body,
                 bk_mail_done_fn fn, void *data, char *err, size_t err_size);

/* The same with the whole message given (m->to is the envelope's recipient too; m->from is
 * smtp-from whatever it says). */
int bk_mail_send_message(bk_mail *mail, const bk_mail_message *m, bk_mail_done_fn fn, void *data, char *err,
                         size_t err_size);

/* Ends every send at once (their functions hear BK_MAIL_NOT_SENT or BK_MAIL_UNSURE) and
 * closes the handles; call on the running loop. bk_mail_free after the loop has stopped. */
void bk_mail_shutdown(bk_mail *mail);
void bk_mail_free(bk_mail *mail);

/* ---- the pure pieces, mail_text.c (tests/unit/test_mail.c) ------------------------------ */

/* A strict address for an envelope and a header: local@domain, ASCII, at most 254 bytes; the
 * local part is dot-separated atoms (letters, digits, !#$%&'*+/=?^_`{|}~-), at most 64 bytes;
 * the domain is at least two dot-separated labels of letters, digits and inner hyphens. No
 * quoting, comments, spaces or control characters: nothing that could end a header or a
 * command line. */
int bk_mail_address_valid(const char *address);

/* A header value: as it is when it is printable ASCII, else RFC 2047 "B" encoded words of
 * whole UTF-8 characters, folded onto continuation lines. malloc'd, or NULL. */
char *bk_mail_header_encode(const char *value);

/* Quoted-printable (RFC 2045) with CRLF line ends; any line end in the input counts as one.
 * Encoded lines are at most 76 bytes. malloc'd (NUL-terminated), or NULL. */
char *bk_mail_qp_encode(const char *text, size_t len, size_t *out_len);

/* SMTP DATA transparency (RFC 5321 4.5.2): every line that starts with '.' gets one more,
 * the text ends with CRLF, and "." CRLF closes it. The input must already use CRLF. */
char *bk_mail_dot_stuff(const char *text, size_t len, size_t *out_len);

/* Base64 of in into out (NUL-terminated): its length, or 0 when out is too small. */
size_t bk_mail_base64(const void *in, size_t len, char *out, size_t out_size);

/* An RFC 5322 date: "Fri, 31 Jan 2025 14:02:03 +0000" (UTC). */
void bk_mail_date(int64_t ms, char out[40]);

struct bk_mail_message {
    const char *from, *to, *subject, *body;
    const char *message_id;   /* "<...@...>", at most BK_MAIL_MESSAGE_ID_MAX bytes */
    int64_t date_ms;
    /* optional (NULL): */
    const char *from_name;    /* any UTF-8: always sent as RFC 2047 words, so nothing in it is syntax */
    const char *reply_to;     /* an address (bk_mail_address_valid) */
    const char *in_reply_to;  /* Message-IDs "<a@b> <c@d>", no CR/LF, at most BK_MAIL_REFERENCES_MAX bytes */
    const char *references;
    const char *conversation; /* X-Beckon-Conversation: a mail of ours that comes back is seen as a loop */
    int written_by_person;    /* no "Auto-Submitted: auto-generated" (an agent's reply) */
};

#define BK_MAIL_REFERENCES_MAX 900

#define BK_MAIL_MESSAGE_ID_MAX 250  /* keeps its header line within RFC 5322's 998 bytes */

/* The whole message: headers, a blank line, the quoted-printable body. malloc'd, or NULL
 * (an address that does not pass bk_mail_address_valid, a message id or reference with CR/LF
 * or too long, a conversation that is not an id). */
char *bk_mail_message_format(const bk_mail_message *m, size_t *out_len);

/* Reads SMTP replies, multi-line ones ("250-first", "250 last") included. */
#define BK_SMTP_LINE_MAX 1024
#define BK_SMTP_TEXT_MAX 2048
typedef struct bk_smtp_reader {
    char line[BK_SMTP_LINE_MAX];
    size_t line_len;
    int code;                        /* of the reply being read; 0 before its first line */
    char text[BK_SMTP_TEXT_MAX];     /* the lines' texts joined by '\n', cut at the cap */
    size_t text_len;
} bk_smtp_reader;

void bk_smtp_reader_reset(bk_smtp_reader *r);

/* Feeds bytes. Returns 1 when a reply is complete (r->code, r->text; *used bytes of data were
 * taken, the rest belongs to the next reply: reset, then feed it), 0 when all of data was taken
 * and more is needed, -1 when the server's bytes are not an SMTP reply (a line too long, no
 * code, or lines of one reply with different codes). */
int bk_smtp_reader_feed(bk_smtp_reader *r, const char *data, size_t len, size_t *used);

#endif
