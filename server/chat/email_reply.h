/* email_reply.h - an agent answers by email: the `email_reply` request on the agent socket.
 *
 * One Redis script (lua/email_reply.lua) stores the answer as the agent's message of channel
 * `email` (once per cmid; a queued conversation is taken by the agent) with the Message-ID its
 * mail will carry, and returns the visitor's address and language and the last messages; the
 * mail is composed here (the answer, then the recent history quoted) and handed to the SMTP
 * client with Reply-To the conversation's reply address (mail/mail_thread.h), so the visitor's
 * answer comes back into the conversation. The agent hears `ack` once the message is stored
 * and the relay has answered: "mail" says sent, not_sent (resend the same cmid to mail it
 * again) or unsure. */
#ifndef BK_EMAIL_REPLY_H
#define BK_EMAIL_REPLY_H

#include "protocol/proto.h"
#include "server.h"

#include <jansson.h>

#define BK_EMAIL_REPLY_HISTORY 10   /* messages quoted below the answer */

typedef struct bk_email_replies bk_email_replies;

/* Registers the scripts (before bk_store_start). */
bk_email_replies *bk_email_replies_new(bk_server *server);
void bk_email_replies_free(bk_email_replies *replies);

/* Answers an agent's `email_reply` on conn (sender: "NODE:CONNECTION", skipped by the push). */
void bk_email_reply_request(bk_email_replies *replies, bk_conn *conn, const char *agent, const char *sender,
                            const bk_request *request);

/* The mail's subject and text (pure): lang "da", "nb" or English; site names the shop; subject
 * is the visitor's last mail's ("" for none: a new one is made); history [{from, author, text,
 * ts}] oldest first. Both malloc'd (UTF-8, LF line ends). 0, or -1 when memory ran out. */
int bk_email_reply_compose(const char *lang, const char *site, const char *agent, const char *text,
                           const char *subject, const json_t *history, char **subject_out, char **body_out);

#endif
