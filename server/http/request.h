/* request.h - reading a REST request: its JSON body, a value of its query, an id in its path. */
#ifndef BK_REQUEST_H
#define BK_REQUEST_H

#include "transport/net.h"

#include <beckon/protocol.h>
#include <jansson.h>
#include <stddef.h>

/* The body as JSON (a repeated key refused), or NULL having answered 400 bad_json. A new
 * reference. */
json_t *bk_api_request_json(bk_http *request);

/* The query's value for name, percent-decoded and cut at size; "" when absent. */
void bk_api_request_query(bk_http *request, const char *name, char *out, size_t size);

/* The id in the path that starts `skip` bytes in and runs to the next '/' or the end: 0 with id
 * set and *rest at what follows it ("" or "/..."), or -1 when that is not a valid id. */
int bk_api_request_id(bk_http *request, size_t skip, char id[BK_ID_MAX + 1], const char **rest);

#endif
