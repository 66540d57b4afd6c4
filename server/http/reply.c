/* reply.c - the REST API's answers. */
#include "http/reply.h"

#include <stdlib.h>
#include <string.h>

void bk_api_reply_json(bk_http *request, int status, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!text) {
        bk_http_respond(request, 500, "application/json", "{}", 2);
        return;
    }
    bk_http_respond(request, status, "application/json", text, strlen(text));
    free(text);
}

void bk_api_reply_error(bk_http *request, int status, const char *code, const char *message)
{
    bk_api_reply_json(request, status, bk_error_body(code, NULL, message));
}

void bk_api_reply_error_at(bk_http *request, int status, const char *code, const char *path,
                           const char *message)
{
    bk_api_reply_json(request, status, bk_error_body(code, path, message));
}

void bk_api_reply_store_error(bk_http *request, const redisReply *reply, const char *const *refusals,
                              bk_storage_effect effect)
{
    bk_error err;
    bk_error_from_store(&err, reply, refusals, effect);
    bk_api_reply_error(request, bk_error_http_status(err.code), err.code, err.message);
}
