/* file_serve.c - GET /files/ID[/thumb]?exp=…&sig=…: a file, streamed from the file store.
 *
 * The link is the permission (files/file_link.h): it was signed for someone who received the
 * file's message, so no login is asked; a forged or expired one is 403. The file must still be
 * there in Redis (file_get.lua: not expired nor erased with its conversation, 404 otherwise),
 * whatever the store still holds. The bytes go out in chunks of BK_FILE_STORE_CHUNK, each read
 * when the previous one is written: a download holds one chunk, whatever the file's size.
 *
 * What a browser may do with it (docs/security.md, "Files"): nothing but show an image or save
 * a file. X-Content-Type-Options: nosniff (the type is the one decided from the content, never
 * guessed again); Content-Security-Policy: default-src 'none'; sandbox (an HTML or SVG file that
 * slipped through would run no script and reach nothing, even opened directly); inline only for
 * the image types browsers display as images, attachment for everything else, with the name
 * sanitized (files/file_name.h) in both forms of filename. */
#include "http/files_internal.h"

#include "http/reply.h"
#include "http/request.h"

#include "base/ids.h"
#include "base/keys.h"
#include "files/file_link.h"
#include "files/file_name.h"
#include "store/redis_reply.h"
#include "store/redis_shapes.h"

#include <beckon/protocol.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct download {
    bk_files_api *api;
    bk_http *request;
    char id[BK_ID_MAX + 1];
    int thumb;
    long long exp;
    char name[BK_FILE_NAME_MAX + 1];
    char type[128];
    bk_file_reader *reader;
    uint64_t size, handed;
    int reading, gone, ended;
} download;

static const char *const displayed_images[] = { "image/png", "image/jpeg", "image/gif", "image/webp", NULL };

static void download_end(download *d)
{
    if (d->reader)
        bk_file_reader_close(d->reader);
    if (!d->ended)
        bk_http_stream_end(d->request);
    free(d);
}

static void on_chunk(const char *bytes, ssize_t len, void *data)
{
    download *d = data;
    d->reading = 0;
    if (d->gone || len <= 0) {  /* gone, done, or trouble midway: the net closes a short body */
        download_end(d);
        return;
    }
    bk_http_stream_write(d->request, bytes, (size_t)len);
    d->handed += (uint64_t)len;
    if (d->handed >= d->size)
        download_end(d);  /* the net writes the last chunk, then the response is whole */
}

static void on_more(bk_http *request, int gone, void *data)
{
    (void)request;
    download *d = data;
    if (gone) {
        d->gone = 1;
        if (!d->reading)
            download_end(d);
        return;
    }
    d->reading = 1;
    bk_file_reader_read(d->reader, on_chunk, d);
}

static void on_opened(bk_file_reader *reader, uint64_t size, int status, void *data)
{
    download *d = data;
    if (!reader) {
        d->ended = 1;
        if (status == 0)
            bk_api_reply_error(d->request, 404, BK_ERR_NOT_FOUND, "this file is no longer here");
        else
            bk_api_reply_error(d->request, 503, BK_ERR_UNAVAILABLE, "storage is unavailable; try again");
        download_end(d);
        return;
    }
    d->reader = reader;
    d->size = size;
    int inline_ok = d->thumb;
    for (const char *const *t = displayed_images; *t && !inline_ok; t++)
        inline_ok = strcmp(d->type, *t) == 0;
    char disposition[BK_FILE_DISPOSITION_MAX], headers[BK_FILE_DISPOSITION_MAX + 256];
    if (bk_file_disposition(inline_ok ? "inline" : "attachment", d->name, disposition, sizeof disposition) != 0)
        snprintf(disposition, sizeof disposition, "attachment");
    long long max_age = d->exp - (long long)(bk_now_ms() / 1000);
    snprintf(headers, sizeof headers,
             "X-Content-Type-Options: nosniff\r\n"
             "Content-Security-Policy: default-src 'none'; sandbox\r\n"
             "Cache-Control: private, max-age=%lld\r\n"
             "Content-Disposition: %s\r\n",
             max_age > 0 ? max_age : 0, disposition);
    bk_http_stream_begin(d->request, 200, d->thumb ? "image/jpeg" : d->type, size, headers, on_more, d);
    if (size == 0)
        download_end(d);  /* nothing to read: the headers are the whole response */
}

static void on_file_found(redisReply *reply, void *data)
{
    download *d = data;
    const char *name, *type;
    long long size, thumb;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_FILE_GET, &name, &type, &size, &thumb) != 0) {
        bk_api_reply_store_error(d->request, reply, BK_REFUSALS(BK_ERR_NOT_FOUND), BK_STORAGE_READ);
        free(d);
        return;
    }
    if (d->thumb && !thumb) {
        bk_api_reply_error(d->request, 404, BK_ERR_NOT_FOUND, "this file has no thumbnail");
        free(d);
        return;
    }
    snprintf(d->name, sizeof d->name, "%s", name);
    snprintf(d->type, sizeof d->type, "%s", type);
    bk_file_store_open(files_store(d->api), d->id, d->thumb ? "thumb" : "file", on_opened, d);
}

void bk_files_serve(bk_files_api *api, bk_http *request)
{
    char id[BK_ID_MAX + 1];
    const char *rest;
    if (bk_api_request_id(request, strlen("/files/"), id, &rest) != 0 || strncmp(id, "f_", 2) != 0 ||
        (strcmp(rest, "") != 0 && strcmp(rest, "/thumb") != 0)) {
        bk_api_reply_error(request, 404, BK_ERR_NOT_FOUND, "no such file");
        return;
    }
    int thumb = strcmp(rest, "/thumb") == 0;
    char exp[24], sig[80];
    bk_api_request_query(request, "exp", exp, sizeof exp);
    bk_api_request_query(request, "sig", sig, sizeof sig);
    bk_server *server = files_server(api);
    switch (bk_file_link_verify(server->secret, id, thumb ? "thumb" : "file", exp, sig,
                                (long long)(bk_now_ms() / 1000))) {
    case BK_FILE_LINK_OK:
        break;
    case BK_FILE_LINK_EXPIRED:
        bk_api_reply_error(request, 403, BK_ERR_FORBIDDEN, "this link has expired: ask for the conversation again");
        return;
    case BK_FILE_LINK_FORGED:
        bk_api_reply_error(request, 403, BK_ERR_FORBIDDEN, "this link is not valid");
        return;
    }
    download *d = calloc(1, sizeof *d);
    if (!d) {
        bk_api_reply_error(request, 500, BK_ERR_INTERNAL, "out of memory");
        return;
    }
    *d = (download){ .api = api, .request = request, .thumb = thumb, .exp = strtoll(exp, NULL, 10) };
    memcpy(d->id, id, sizeof d->id);
    char prefix[BK_KEYS_PREFIX_SIZE];
    bk_keys_prefix_of_id(server->config->prefix, id, prefix);
    const char *argv[] = { prefix, id };
    if (bk_store_script(server->store, files_script(api, FILES_SCRIPT_GET), on_file_found, d, 0, 2, argv, NULL) != 0) {
        free(d);
        bk_api_reply_store_error(request, NULL, NULL, BK_STORAGE_READ);
    }
}
