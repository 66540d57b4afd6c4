/* request.c - reading a REST request's body, query and path. */
#include "http/request.h"

#include "http/reply.h"
#include "base/ids.h"
#include "triggers/triggers.h"

#include <beckon/protocol.h>
#include <stdio.h>
#include <string.h>

json_t *bk_api_request_json(bk_http *request)
{
    size_t len;
    const char *body = bk_http_body(request, &len);
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    if (!root)
        bk_api_reply_error(request, 400, BK_ERR_BAD_JSON, "the body is not valid JSON");
    return root;
}

void bk_api_request_query(bk_http *request, const char *name, char *out, size_t size)
{
    char url[600];  /* the net refuses paths and queries of 512 bytes or more */
    snprintf(url, sizeof url, "?%s", bk_http_query(request));
    bk_url_query_value(url, name, out, size);
}

int bk_api_request_id(bk_http *request, size_t skip, char id[BK_ID_MAX + 1], const char **rest)
{
    const char *path = bk_http_path(request);
    if (strlen(path) < skip)
        return -1;
    const char *start = path + skip;
    size_t len = strcspn(start, "/");
    if (len == 0 || len > BK_ID_MAX)
        return -1;
    memcpy(id, start, len);
    id[len] = '\0';
    *rest = start + len;
    return bk_id_valid(id) ? 0 : -1;
}
