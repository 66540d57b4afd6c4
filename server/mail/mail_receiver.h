/* mail_receiver.h - inbound mail in the server: the LMTP listener (transport/lmtp.h) on
 * lmtp-socket, each mail judged on libuv's thread pool (GMime never runs on the loop) within
 * mail-parse-seconds, then stored by its conversation's script (mail/mail_inbound.h) and
 * answered per recipient. A mail whose reading passes the deadline is deferred (451): the
 * MTA tries again later, and the late worker's result is thrown away. */
#ifndef BK_MAIL_RECEIVER_H
#define BK_MAIL_RECEIVER_H

#include "server.h"

typedef struct bk_mail_receiver bk_mail_receiver;

/* Registers the script (before bk_store_start). NULL when lmtp-socket is not set, or out of
 * memory (*failed set). */
bk_mail_receiver *bk_mail_receiver_new(bk_server *server, int *failed);

/* Starts listening; -1 with err filled when the socket cannot be made. */
int bk_mail_receiver_listen(bk_mail_receiver *receiver, char *err, size_t err_size);

/* Stops listening and ends its connections (on the running loop); free after the loop stopped. */
void bk_mail_receiver_shutdown(bk_mail_receiver *receiver);
void bk_mail_receiver_free(bk_mail_receiver *receiver);

#endif
