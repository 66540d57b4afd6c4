/* mail_inbound.h - what becomes of one inbound mail, the same for `beckon mail receive` (the
 * MTA's pipe) and the server's LMTP listener: judged here without I/O (bk_mail_inbound_judge:
 * size, MIME, automatic mail, loops, the reply token or our Message-IDs), then stored by
 * lua/mail_inbound.lua (the conversation's checks, Message-ID dedupe, the sender's rate,
 * reopening, the message, its pushes), and answered to the MTA (bk_error_mail_delivery).
 *
 *   too large                       -> too_large (552 / EX_DATAERR): bounced
 *   no message GMime can read       -> bad_request (554 / EX_DATAERR): bounced
 *   automatic (RFC 3834, bounces)   -> accepted and dropped, logged: never stored, never answered
 *   a mail of ours come back        -> accepted and dropped, logged (a loop)
 *   a forged or unknown address     -> not_found (550 / EX_NOUSER): bounced, logged, never
 *                                      attached to any conversation
 *   its attachments (the server only: mail/mail_files.h) -> files of the conversation, or listed
 *                                      refused with the reason in the text message's `attachments`
 *   then the script: not_found (no such conversation, or an erased visitor's: 550),
 *   rate_limited (450 / EX_TEMPFAIL: the MTA retries later), storage down (451 / EX_TEMPFAIL). */
#ifndef BK_MAIL_INBOUND_H
#define BK_MAIL_INBOUND_H

#include "base/auth.h"
#include "base/config.h"
#include "mail/mail_in.h"

#include <beckon/protocol.h>
#include <hiredis/hiredis.h>

#define BK_MAIL_INBOUND_ARGC 16
#define BK_MAIL_KEY_MAX      300    /* a Message-ID kept for dedupe (longer ones are hashed) */
#define BK_MAIL_ADDRESS_IN_MAX 320

typedef struct bk_mail_inbound {
    const char *code;      /* NULL: store it (or dropped, when dropped is set); else why it is refused */
    int dropped;           /* accepted and thrown away (automatic mail, a loop) */
    char why[300];         /* for the log and the MTA */
    char conversation[BK_ID_MAX + 1];
    char recipient[BK_MAIL_ADDRESS_IN_MAX];
    char thread_id[BK_MAIL_KEY_MAX];   /* our Message-ID it answered; "" when its token says where */
    char message_key[BK_MAIL_KEY_MAX]; /* its Message-ID, or a digest of it when it has none */
    char *attachments_json;            /* what it carried and was refused, and why (malloc'd; "" none) */
    char *files_json;                  /* the files it brought, stored (mail_files.h), NULL: none */
    long long per_conversation;        /* the site's count of files a conversation takes */
    char *unkept_json;                 /* the script's answer: the ids of the files it did not keep */
    int parsed;
    bk_mail_in in;
} bk_mail_inbound;

/* Checks mail-reply-address (a plain address whose local part leaves room for the token) and
 * the mail-* settings. 0, or -1 with err filled. */
int bk_mail_inbound_config_check(const bk_config *config, char *err, size_t err_size);

/* Judges raw[0..len). recipient: the envelope's (LMTP's RCPT, the pipe's argument), NULL to
 * read it from Delivered-To, X-Original-To, To and Cc; envelope_sender as bk_mail_in_parse's.
 * Always fills out (free with bk_mail_inbound_free). */
void bk_mail_inbound_judge(const bk_config *config, const uint8_t secret[BK_SECRET_SIZE], const char *raw,
                           size_t len, const char *envelope_sender, const char *recipient, bk_mail_inbound *out);
void bk_mail_inbound_free(bk_mail_inbound *in);

/* The script's arguments (lua/mail_inbound.lua; BK_MAIL_INBOUND_ARGC of them): prefix is the
 * conversation's slot's. The strings of `buffers` must live as long as argv. */
typedef struct bk_mail_inbound_buffers {
    char prefix[64], now[24], limit[16], hour[24], preview[8], per_conversation[24];
} bk_mail_inbound_buffers;
void bk_mail_inbound_args(const bk_mail_inbound *in, const bk_config *config, bk_mail_inbound_buffers *buffers,
                          const char *argv[BK_MAIL_INBOUND_ARGC],
                          size_t lengths[BK_MAIL_INBOUND_ARGC]);

/* The attachments of m listed ([{name, type, size, refused}], "" when none), each refused with
 * why. malloc'd, or NULL. */
char *bk_mail_inbound_attachments_json(const bk_mail_in *m, const char *why);

/* Reads the script's reply into in (code, why, unkept_json; the stored message's id into id). */
void bk_mail_inbound_stored(bk_mail_inbound *in, const redisReply *reply, char id[64]);

/* The log line and the MTA's answer: exit code (sysexits) and LMTP reply line. Logs it. */
void bk_mail_inbound_answer(const bk_mail_inbound *in, int *exit_code, char *lmtp, size_t lmtp_size);

#endif
