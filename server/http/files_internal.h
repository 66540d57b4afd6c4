/* files_internal.h - what the files of the files API share (files_api.c, files.c,
 * file_serve.c), and nothing else includes. */
#ifndef BK_HTTP_FILES_INTERNAL_H
#define BK_HTTP_FILES_INTERNAL_H

#include "http/files.h"

#include "files/file_check.h"
#include "files/file_store.h"

/* How much of a file's name the queue's preview shows (as a text message's, conversation.c). */
#define FILES_PREVIEW_BYTES 140

enum { FILES_SCRIPT_BEGIN, FILES_SCRIPT_MESSAGE, FILES_SCRIPT_GET, FILES_SCRIPT_EXPIRED, FILES_SCRIPT_COUNT };

bk_server *files_server(const bk_files_api *api);
bk_file_store *files_store(const bk_files_api *api);
int files_script(const bk_files_api *api, int which);
/* When links made now expire (Unix seconds): file-link-hours from now. */
long long files_link_expiry(const bk_files_api *api);

#endif
