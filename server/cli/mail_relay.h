/* mail_relay.h - `beckon mail receive` handing its mail to the running server over the server's
 * LMTP socket (lmtp-socket), instead of storing it itself: the server holds what the one-shot
 * process has not (the file checker, the file store, the thread pool that reads the mail within
 * mail-parse-seconds), so a mail goes the same way whichever transport the MTA uses, its
 * attachments included. Blocking, by design: one process per mail, nothing else to serve. */
#ifndef BK_MAIL_RELAY_H
#define BK_MAIL_RELAY_H

#include <stddef.h>

/* One LMTP transaction on socket_path: LHLO, MAIL FROM:<sender>, RCPT TO:<recipient>, DATA
 * (raw[0..len), dot-stuffed), QUIT; each step within timeout_seconds. Returns the sysexits
 * code the server's reply line means (0, 65, 67, 75: protocol/errors.h's mail statuses) with
 * the line's words in answer; a socket that cannot be reached or a server that stops answering
 * is 75 (EX_TEMPFAIL): the MTA keeps the mail and tries again, nothing is lost. */
int bk_mail_relay(const char *socket_path, const char *sender, const char *recipient, const char *raw, size_t len,
                  int timeout_seconds, char *answer, size_t answer_size);

#endif
