/* errors.c - storage trouble's wording, codes' HTTP statuses, error shapes and their count. */
#include "protocol/errors.h"

#include "base/log.h"
#include "base/metrics.h"
#include "store/redis_reply.h"

#include <beckon/protocol.h>
#include <stdio.h>
#include <string.h>

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
