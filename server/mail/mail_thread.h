/* mail_thread.h - how a mail finds its conversation: a reply address per conversation, and
 * the Message-IDs of the mails we send.
 *
 * The reply address is mail-reply-address with a plus tag (reply@support.example ->
 * reply+TOKEN@support.example); TOKEN is the conversation id, a dot and the first 16 hex digits
 * (64 bits) of HMAC-SHA256 over it with the server's secret, so no one can write into a
 * conversation whose address they were not sent, and the token is checked without Redis.
 * Our Message-IDs, <bk.CONVERSATION.RANDOM@DOMAIN>, name their conversation too; a reply that
 * lost its plus tag (a client that answers From, a forward) is threaded by In-Reply-To or
 * References only when the conversation's script finds that id among the ones it stored
 * (mail_inbound.lua), so naming a conversation in a Message-ID is not enough to get in. */
#ifndef BK_MAIL_THREAD_H
#define BK_MAIL_THREAD_H

#include "base/auth.h"

#include <beckon/protocol.h>
#include <stddef.h>

#define BK_MAIL_TOKEN_SIG_HEX 16
#define BK_MAIL_ADDRESS_MAX   255

/* The conversation's reply address into out. -1 when base has no '@' or the address would
 * pass 64 bytes of local part (the mail-reply-address check refuses such a base). */
int bk_mail_reply_address(const uint8_t secret[BK_SECRET_SIZE], const char *base, const char *conversation,
                          char *out, size_t out_size);

/* What a recipient address says about base (compared without case):
 *  1: it is base's with a valid token; conversation filled;
 *  0: it is not base's address with a plus tag (another address, or base itself);
 * -1: base's address with a tag that is not one we signed (forged, or cut by a client). */
int bk_mail_reply_token_check(const uint8_t secret[BK_SECRET_SIZE], const char *base, const char *recipient,
                              char conversation[BK_ID_MAX + 1]);

/* A new Message-ID "<bk.CONVERSATION.RANDOM@domain>". 0, or -1 (no randomness, too long).
 * (lua/email_reply.lua makes the same form from the random part, once it knows the
 * conversation.) */
int bk_mail_message_id_new(const char *conversation, const char *domain, char *out, size_t out_size);

/* The conversation a Message-ID (without <>) of ours names: 0 and conversation filled, or -1. */
int bk_mail_message_id_conversation(const char *message_id, char conversation[BK_ID_MAX + 1]);

/* Whether a Message-ID (without <>) is of the form we give out: a mail of ours came back. */
int bk_mail_message_id_ours(const char *message_id);

#endif
