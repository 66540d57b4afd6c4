/* files.h - files in chat over HTTP: POST /api/files (an upload, streamed) and
 * GET /files/ID[/thumb] (a download, streamed from the file store by a signed link).
 *
 * The walk of an upload (docs/architecture.md, "How a file travels"): the net streams the body
 * to a file while file_begin.lua checks who is asking (a visitor's token and Origin, or an
 * agent's session and conversation), the rate and the site's rules; the body done, the file is
 * checked (files/file_check.h), its bytes stored (files/file_store.h), and its message stored
 * by file_message.lua like any message: pushed, in history, webhooks, export, erasure. */
#ifndef BK_HTTP_FILES_H
#define BK_HTTP_FILES_H

#include "server.h"

#include <stdint.h>

#include "files/file_type.h"

/* The most bytes a site may allow (files_max_bytes), and so the most the net streams. */
#define BK_FILES_CEILING_BYTES     BK_FILE_MAX_BYTES_LIMIT
#define BK_FILES_MAX_BYTES_DEFAULT BK_FILE_MAX_BYTES_DEFAULT
#define BK_FILES_PER_CONVERSATION_DEFAULT BK_FILE_PER_CONVERSATION_DEFAULT

typedef struct bk_files_api bk_files_api;

/* Registers the scripts: call before bk_store_start. */
bk_files_api *bk_files_api_new(bk_server *server);
void bk_files_api_shutdown(bk_files_api *api);  /* on the running loop: the sweep's timer */
void bk_files_api_free(bk_files_api *api);

/* POST /api/files. agent: the login name, NULL for a visitor (Authorization: Visitor TOKEN);
 * admin: whether the login is an admin's (any conversation). */
void bk_files_upload(bk_files_api *api, bk_http *request, const char *agent, int admin);

/* Removes the bytes of files that expired or were erased, now (it runs every 10 s anyway). */
void bk_files_sweep(bk_files_api *api);

/* GET /files/ID and /files/ID/thumb, by the link's signature alone. */
void bk_files_serve(bk_files_api *api, bk_http *request);

#endif
