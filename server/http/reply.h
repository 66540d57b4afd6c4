/* reply.h - how a REST route answers: JSON, an error, or storage trouble.
 *
 * Every route answers exactly once, through here (or bk_http_respond for a body that is not
 * JSON: the CSV export, the metrics text); each call releases the request. Errors take REST's
 * one shape, {"error": {"code": "...", "message": "..."}}, and are counted (errors.h). */
#ifndef BK_REPLY_H
#define BK_REPLY_H

#include "protocol/errors.h"
#include "transport/net.h"

#include <hiredis/hiredis.h>
#include <jansson.h>

/* body is consumed. */
void bk_api_reply_json(bk_http *request, int status, json_t *body);

void bk_api_reply_error(bk_http *request, int status, const char *code, const char *message);

/* An error about one part of the input: {"error": {"code", "path", "message"}}. */
void bk_api_reply_error_at(bk_http *request, int status, const char *code, const char *path,
                           const char *message);

/* A store reply the route could not use (NULL: none, or the request could not be sent): a
 * script's refusal among refusals (NULL-terminated, or NULL) with its code's status (404
 * not_found, 409 wrong_state, ...), anything else 503 unavailable, worded for effect. */
void bk_api_reply_store_error(bk_http *request, const redisReply *reply, const char *const *refusals,
                              bk_storage_effect effect);

#endif
