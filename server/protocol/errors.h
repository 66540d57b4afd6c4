/* errors.h - one place for the errors Beckon answers: how storage trouble is worded, which
 * HTTP status a code has, the two shapes an error takes, and the count of each.
 *
 * Storage trouble - no reply (Redis unreachable, or silent past redis-timeout-ms), Redis's own
 * error (LOADING, BUSY, OOM, READONLY, NOSCRIPT, ...) or a reply of an unexpected shape - is
 * `unavailable` (503), never `unauthorized`: the client keeps its token and tries again. It is
 * worded by what the client should do, in one of two sentences (bk_storage_effect). A script's
 * refusal ("code message", lua/prelude.lua) keeps its code and message where the caller expects that
 * code; a refusal nobody expects is storage trouble too, and logged.
 *
 * Every error answered - a socket's error frame, a REST error body - is shaped here and counted
 * as it is shaped (bk_metrics_error: beckon_errors_total{code} in /metrics), as Redis counts
 * each error reply in the one function that sends it. */
#ifndef BK_ERRORS_H
#define BK_ERRORS_H

#include "protocol/proto.h"

#include <beckon/protocol.h>
#include <hiredis/hiredis.h>
#include <jansson.h>

/* What a request that met storage trouble may have done: it says what the client should do. */
typedef enum bk_storage_effect {
    BK_STORAGE_READ,   /* it changes nothing: "storage is unavailable; try again" */
    BK_STORAGE_WRITE,  /* it may have been carried out: "storage did not confirm the request;
                        * send it again" (resending is safe: writes are idempotent, e.g. a
                        * message with the same cmid is stored once) */
} bk_storage_effect;

/* err for a store reply the caller could not use (NULL: there was none, or the request could
 * not be sent). refusals: the codes the script may refuse with, NULL-terminated (BK_REFUSALS);
 * NULL for none. */
/* The codes a script may refuse with, as a NULL-terminated list: BK_REFUSALS(BK_ERR_NOT_FOUND). */
#define BK_REFUSALS(...) ((const char *const[]){ __VA_ARGS__, NULL })

void bk_error_from_store(bk_error *err, const redisReply *reply, const char *const *refusals,
                         bk_storage_effect effect);

/* The HTTP status of an error code: 400 bad_request, 401 unauthorized, 403 forbidden, 404
 * not_found, 409 wrong_state, 413 too_large, 415 unsupported_type, 422 infected, 429
 * rate_limited, 503 unavailable, ...; 500 for a code it does
 * not know. */
int bk_error_http_status(const char *code);

/* The socket's error frame, {"type": "error", "req", "code", "message"} (req may be NULL),
 * counted. A new reference. */
json_t *bk_error_frame(json_t *req, const char *code, const char *message);

/* Sends reply (released, NULL: nothing) on conn if the socket is still open: for answers that
 * come after slow work (a mail sent), when only the socket was kept (bk_conn_ref). Here rather
 * than in proto.c, which the fuzzer builds without the net. */
void bk_reply_send(bk_conn *conn, json_t *reply);

/* REST's error body, {"error": {"code", "path", "message"}}, counted; path names the part of
 * the input that is wrong (an invalid rule's "when.all[0]"), NULL for none. A new reference. */
json_t *bk_error_body(const char *code, const char *path, const char *message);

/* An inbound mail's answer to the MTA that handed it over (mail/mail_inbound.h): code is an
 * error code (NULL: delivered, or accepted and dropped), message the words after the status.
 * Fills *exit_code with the pipe command's sysexits code (0, 65 EX_DATAERR, 67 EX_NOUSER,
 * 75 EX_TEMPFAIL: the MTA retries) and lmtp with the LMTP reply line for that recipient
 * ("250 2.0.0 ...", "550 5.1.1 ...", "451 4.3.0 ..."), counted like every other error. */
void bk_error_mail_delivery(const char *code, const char *message, int *exit_code, char *lmtp, size_t lmtp_size);
/* The sysexits code an LMTP reply's status means, by the same table read backwards (a relayed
 * mail's answer, cli/mail_relay.h): 2xx 0, 4xx 75, 550 67, 552 and 554 65, another 5xx 69. */
int bk_error_mail_exit_of_lmtp(int status);

#endif
