/* mail_cli.h - `beckon mail receive [RECIPIENT [SENDER]]`: one inbound mail on standard input,
 * for an MTA's pipe transport (docs/deployment.md). It exits with what the MTA understands
 * (sysexits.h): 0 delivered (or an automatic mail dropped), 67 EX_NOUSER (no such reply
 * address: bounced), 65 EX_DATAERR (too large, unreadable: bounced), 75 EX_TEMPFAIL (storage
 * down, rate limited: the MTA tries again later), and says why on standard output, which the
 * MTA quotes in a bounce. It never starts a Redis of its own: no storage is a temporary failure.
 * When lmtp-socket is set (the same config file as the server's) and the MTA names the
 * recipient and the sender, the mail is handed to the running server over that socket
 * (mail_relay.h) and its answer is the exit code: a server that is down is 75, the MTA retries.
 * Without lmtp-socket the mail is stored here, its attachments listed as refused. */
#ifndef BK_MAIL_CLI_H
#define BK_MAIL_CLI_H

#include "base/config.h"

int bk_mail_cli(const bk_config *config, int argc, char **argv);

#endif
