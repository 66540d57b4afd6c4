/* errors.c - storage trouble's wording, codes' HTTP statuses, error shapes and their count. */
#include "protocol/errors.h"

#include "base/log.h"
#include "base/metrics.h"
#include "store/redis_reply.h"

#include <beckon/protocol.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

static const char *const storage_messages[] = {
    [BK_STORAGE_READ] = "storage is unavailable; try again",
    [BK_STORAGE_WRITE] = "storage did not confirm the request; send it again",
};

void bk_error_from_store(bk_error *err, const redisReply *reply, const char *const *refusals,
                         bk_storage_effect effect)
{
    for (const char *const *code = refusals; code && *code; code++) {
        const char *message = bk_redis_reply_refusal(reply, *code);
        if (message) {
            err->code = *code;
            snprintf(err->message, sizeof err->message, "%s", message);
            return;
        }
    }
    /* A reply of an odd shape was logged once already by its reader (redis_reply.h); a missing
     * one is the links' to report (store.c). */
    if (bk_redis_reply_error(reply))
        bk_warn("redis refused a request: %.200s", bk_redis_reply_error(reply));
    err->code = BK_ERR_UNAVAILABLE;
    snprintf(err->message, sizeof err->message, "%s", storage_messages[effect]);
}

static const struct {
    const char *code;
    int status;
} http_statuses[] = {
    { BK_ERR_BAD_JSON, 400 },       { BK_ERR_BAD_REQUEST, 400 },     { BK_ERR_UNKNOWN_TYPE, 400 },
    { BK_ERR_HELLO_REQUIRED, 400 }, { BK_ERR_TOO_LARGE, 413 },       { BK_ERR_INVALID_TOKEN, 401 },
    { BK_ERR_UNAUTHORIZED, 401 },   { BK_ERR_FORBIDDEN, 403 },       { BK_ERR_CONSENT_REQUIRED, 403 },
    { BK_ERR_NOT_FOUND, 404 },      { BK_ERR_ALREADY_TAKEN, 409 },   { BK_ERR_WRONG_STATE, 409 },
    { BK_ERR_RATE_LIMITED, 429 },   { BK_ERR_INTERNAL, 500 },        { BK_ERR_UNAVAILABLE, 503 },
    { BK_ERR_UNSUPPORTED_TYPE, 415 }, { BK_ERR_INFECTED, 422 },
};

int bk_error_http_status(const char *code)
{
    for (size_t i = 0; i < sizeof http_statuses / sizeof http_statuses[0]; i++)
        if (strcmp(http_statuses[i].code, code) == 0)
            return http_statuses[i].status;
    return 500;
}

json_t *bk_error_frame(json_t *req, const char *code, const char *message)
{
    bk_metrics_error(code);
    return bk_reply_error(req, code, message);
}

json_t *bk_error_body(const char *code, const char *path, const char *message)
{
    bk_metrics_error(code);
    if (path)
        return json_pack("{s:{s:s, s:s, s:s}}", "error", "code", code, "path", path, "message", message);
    return json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", message);
}

static const struct {
    const char *code;
    int exit_code;
    const char *lmtp;   /* status and enhanced status (RFC 3463) */
} mail_statuses[] = {
    { BK_ERR_NOT_FOUND, EX_NOUSER, "550 5.1.1" },      /* unknown or forged reply address */
    { BK_ERR_INVALID_TOKEN, EX_NOUSER, "550 5.1.1" },  /* the visitor was erased */
    { BK_ERR_TOO_LARGE, EX_DATAERR, "552 5.3.4" },
    { BK_ERR_BAD_REQUEST, EX_DATAERR, "554 5.6.0" },   /* not a mail we can read */
    { BK_ERR_RATE_LIMITED, EX_TEMPFAIL, "450 4.7.1" },
    { BK_ERR_UNAVAILABLE, EX_TEMPFAIL, "451 4.3.0" },
};

int bk_error_mail_exit_of_lmtp(int status)
{
    if (status >= 200 && status < 300)
        return EX_OK;
    if (status < 500 || status > 599)
        return EX_TEMPFAIL;
    for (size_t i = 0; i < sizeof mail_statuses / sizeof mail_statuses[0]; i++)
        if (atoi(mail_statuses[i].lmtp) == status)
            return mail_statuses[i].exit_code;
    return EX_UNAVAILABLE;
}

void bk_error_mail_delivery(const char *code, const char *message, int *exit_code, char *lmtp, size_t lmtp_size)
{
    if (!code) {
        *exit_code = EX_OK;
        snprintf(lmtp, lmtp_size, "250 2.0.0 %s", message);
        return;
    }
    bk_metrics_error(code);
    *exit_code = EX_TEMPFAIL;   /* anything else (internal): let the MTA try again later */
    const char *status = "451 4.3.0";
    for (size_t i = 0; i < sizeof mail_statuses / sizeof mail_statuses[0]; i++)
        if (strcmp(mail_statuses[i].code, code) == 0) {
            *exit_code = mail_statuses[i].exit_code;
            status = mail_statuses[i].lmtp;
        }
    snprintf(lmtp, lmtp_size, "%s %s", status, message);
    /* one line: what a mail or a script said must not end the reply early */
    for (char *c = lmtp; *c; c++)
        if (*c == '\r' || *c == '\n')
            *c = ' ';
}

void bk_reply_send(bk_conn *conn, json_t *reply)
{
    char *text = reply ? json_dumps(reply, JSON_COMPACT) : NULL;
    json_decref(reply);
    if (text && bk_conn_is_open(conn))
        bk_conn_send(conn, text, strlen(text));
    free(text);
}
