/* files.c - POST /api/files: an upload, from its headers to its message (files.h has the walk).
 *
 * One upload is one `upload` below, through these steps, each answering the client on failure:
 *   1. the query (files/file_name.h) and who is asking: a visitor's token (no Redis), or the
 *      agent the router authorized;
 *   2. file_begin.lua, while the net streams the body to a file: an erased visitor, someone
 *      else's conversation, a closed one, the Origin, the rate, the site's rules, a retry of a
 *      cmid already stored (answered at once, the body unread);
 *   3. the body, up to the site's files_max_bytes (bk_http_spool_await);
 *   4, 5. the intake (files/file_intake.h, shared with a mail's attachments): the check (the
 *      type from the content, images re-encoded), the bytes into the file store (and the
 *      thumbnail) under a fresh id f_TAG_…;
 *   6. file_message.lua: the message, like any message (a duplicate or a refusal there removes
 *      the bytes just stored);
 *   7. 201 {conversation, id, cmid, duplicate, file} with signed links.
 * Whatever the path, the spooled body goes with the request, and what the check wrote is removed
 * by the intake. */
#include "http/files.h"

#include "http/files_internal.h"
#include "http/reply.h"

#include "base/ids.h"
#include "base/keys.h"
#include "base/log.h"
#include "files/file_check.h"
#include "files/file_intake.h"
#include "files/file_link.h"
#include "files/file_name.h"
#include "files/file_store.h"
#include "lua/embedded.h"
#include "sites/origin.h"
#include "store/redis_reply.h"
#include "store/redis_shapes.h"

#include <beckon/protocol.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct upload {
    bk_files_api *api;
    bk_http *request;
    const char *by;                       /* "visitor", "agent" or "admin" */
    char who[BK_ID_MAX + 1];              /* the visitor's id or the agent's name */
    bk_file_upload_meta meta;
    char prefix[BK_KEYS_PREFIX_SIZE];     /* the slot of the visitor or the conversation */
    char tag[BK_KEYS_TAG_LEN + 1];
    char conversation[BK_ID_MAX + 1];     /* an agent's; a visitor's fresh one, should it open one */
    bk_file_site_rules site;              /* the site's rules (file_begin.lua's answer) */
    bk_file_intake_result taken;          /* the check and the store's (files/file_intake.h) */
    char spool_path[PATH_MAX];
    char sha256[65];                      /* of the body as it came (the net hashed it) */
} upload;

/* ---- the end ------------------------------------------------------------------------------ */

static void upload_free(upload *u)
{
    /* the upload itself goes with the request; what the check wrote, with the intake */
    bk_file_site_rules_close(&u->site);
    free(u);
}

static void upload_refuse(upload *u, const char *code, const char *message)
{
    bk_api_reply_error(u->request, bk_error_http_status(code), code, message);
    upload_free(u);
}

/* A refusal whose bytes were stored already: they go again. */
static void upload_refuse_stored(upload *u, const char *code, const char *message)
{
    if (u->taken.stored)
        bk_file_store_remove(files_store(u->api), u->taken.file_id, NULL, NULL);
    upload_refuse(u, code, message);
}

/* 200/201 {conversation, id, cmid, duplicate, file}: file is the stored metadata (consumed). */
static void upload_answer(upload *u, int status, const char *conversation, const char *id, int duplicate,
                          json_t *file)
{
    bk_file_links_add(file, files_server(u->api)->secret, files_link_expiry(u->api));
    json_t *body = json_pack("{s:s, s:s, s:s, s:b, s:o}", "conversation", conversation, "id", id,
                             "cmid", u->meta.cmid, "duplicate", duplicate, "file", file ? file : json_null());
    bk_api_reply_json(u->request, status, body);
    upload_free(u);
}

/* ---- 6. the message ----------------------------------------------------------------------- */

static void on_message_stored(redisReply *reply, void *data)
{
    upload *u = data;
    const char *conversation, *id, *file_json;
    size_t file_len;
    long long duplicate, opened;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_FILE_MESSAGE, &conversation, &id, &duplicate, &opened,
                              &file_json, &file_len) != 0) {
        bk_error err;
        bk_error_from_store(&err, reply, BK_REFUSALS(BK_ERR_NOT_FOUND, BK_ERR_WRONG_STATE, BK_ERR_FORBIDDEN,
                                                     BK_ERR_INVALID_TOKEN, BK_ERR_RATE_LIMITED),
                            BK_STORAGE_WRITE);
        /* the message was not stored: nobody will ever read these bytes */
        upload_refuse_stored(u, err.code, err.message);
        return;
    }
    json_t *file = json_loadb(file_json, file_len, 0, NULL);
    if (duplicate && u->taken.stored)  /* stored once: this retry's bytes go */
        bk_file_store_remove(files_store(u->api), u->taken.file_id, NULL, NULL);
    upload_answer(u, duplicate ? 200 : 201, conversation, id, (int)duplicate, file);
}

static void upload_message(upload *u)
{
    bk_server *server = files_server(u->api);
    char *file_json, *hook_json;
    int made = bk_file_intake_json(&u->taken, u->meta.name, server->secret, files_link_expiry(u->api),
                                   server->config->public_url, &file_json, &hook_json) == 0;
    char now[24], online[24], preview[16], per_conversation[24];
    snprintf(now, sizeof now, "%lld", (long long)bk_now_ms());
    snprintf(online, sizeof online, "%lld", files_server(u->api)->agents_online);
    snprintf(preview, sizeof preview, "%d", FILES_PREVIEW_BYTES);
    snprintf(per_conversation, sizeof per_conversation, "%lld", u->site.per_conversation);
    const char *argv[] = { u->prefix, now, online, u->by, u->who, u->conversation, u->meta.cmid, u->meta.name,
                           file_json ? file_json : "{}", hook_json ? hook_json : "{}", preview, per_conversation,
                           u->sha256 };
    int sent = made &&
               bk_store_script(files_server(u->api)->store, files_script(u->api, FILES_SCRIPT_MESSAGE),
                               on_message_stored, u, 0, 13, argv, NULL) == 0;
    free(file_json);
    free(hook_json);
    if (!sent)
        upload_refuse_stored(u, BK_ERR_UNAVAILABLE, "storage is unavailable; send the file again");
}

/* ---- 4, 5. the check and the bytes (files/file_intake.h) ------------------------------- */

static void on_taken(const bk_file_intake_result *result, void *data)
{
    upload *u = data;
    u->taken = *result;
    if (result->refusal) {
        upload_refuse(u, result->refusal, result->message);
        return;
    }
    upload_message(u);
}

/* ---- 3. the body -------------------------------------------------------------------------- */

static void on_spooled(bk_http *request, const bk_spool_result *result, void *data)
{
    (void)request;
    upload *u = data;
    char size[32], most[32], message[160];
    switch (result->status) {
    case BK_SPOOL_TOO_LARGE:
        bk_file_size_words(result->bytes, size, sizeof size);
        bk_file_size_words(u->site.rules.max_bytes, most, sizeof most);
        snprintf(message, sizeof message, "the file is %s%s; this site accepts files up to %s",
                 result->declared ? "" : "over ", result->declared ? size : most, most);
        upload_refuse(u, BK_ERR_TOO_LARGE, message);
        return;
    case BK_SPOOL_GONE:
        upload_refuse(u, BK_ERR_BAD_REQUEST, "the upload stopped");  /* nobody hears it */
        return;
    case BK_SPOOL_FAILED:
        upload_refuse(u, BK_ERR_UNAVAILABLE, "the upload could not be kept now; send it again");
        return;
    case BK_SPOOL_DONE:
        break;
    }
    if (result->bytes == 0) {
        upload_refuse(u, BK_ERR_BAD_REQUEST, "the file is empty");
        return;
    }
    snprintf(u->spool_path, sizeof u->spool_path, "%s", result->path);
    memcpy(u->sha256, result->sha256, sizeof u->sha256);
    bk_server *server = files_server(u->api);
    bk_file_intake(server->loop, server->checker, server->files, u->spool_path, u->meta.name, u->tag, &u->site.rules,
                   on_taken, u);
}

/* ---- 2. who may, and the rules ------------------------------------------------------------ */

static void on_begun(redisReply *reply, void *data)
{
    upload *u = data;
    const char *text;
    size_t len;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_TEXT, &text, &len) != 0) {
        bk_error err;
        bk_error_from_store(&err, reply, BK_REFUSALS(BK_ERR_NOT_FOUND, BK_ERR_WRONG_STATE, BK_ERR_FORBIDDEN,
                                                     BK_ERR_INVALID_TOKEN, BK_ERR_RATE_LIMITED),
                            BK_STORAGE_READ);
        upload_refuse(u, err.code, err.message);
        return;
    }
    json_t *begin = json_loadb(text, len, 0, NULL);
    json_t *duplicate = json_object_get(begin, "duplicate");
    if (json_is_object(duplicate)) {
        /* a retry of a stored cmid: the same answer, and the body is not wanted */
        json_t *file = json_incref(json_object_get(duplicate, "file"));
        const char *conversation = json_string_value(json_object_get(duplicate, "conversation"));
        const char *id = json_string_value(json_object_get(duplicate, "id"));
        upload_answer(u, 200, conversation ? conversation : "", id ? id : "", 1, json_is_object(file) ? file : NULL);
        if (!json_is_object(file))
            json_decref(file);
        json_decref(begin);
        return;
    }
    json_decref(begin);
    if (bk_file_site_rules_read(text, len, &u->site) != 0) {
        upload_refuse(u, BK_ERR_INTERNAL, "out of memory");
        return;
    }
    if (strcmp(u->by, "visitor") == 0 && !u->site.visitors) {
        upload_refuse(u, BK_ERR_FORBIDDEN, "visitors may not send files on this site");
        return;
    }
    if (u->site.files >= u->site.per_conversation) {
        char message[96];
        snprintf(message, sizeof message, "this conversation has %lld files already, the most it takes",
                 u->site.per_conversation);
        upload_refuse(u, BK_ERR_RATE_LIMITED, message);
        return;
    }
    bk_http_spool_await(u->request, u->site.rules.max_bytes, on_spooled, u);
}

/* ---- 1. the request ----------------------------------------------------------------------- */

void bk_files_upload(bk_files_api *api, bk_http *request, const char *agent, int admin)
{
    upload *u = calloc(1, sizeof *u);
    if (!u) {
        bk_api_reply_error(request, 500, BK_ERR_INTERNAL, "out of memory");
        return;
    }
    u->api = api;
    u->request = request;
    char why[128];
    if (bk_file_upload_meta_parse(bk_http_query(request), &u->meta, why, sizeof why) != 0) {
        upload_refuse(u, BK_ERR_BAD_REQUEST, why);
        return;
    }
    bk_server *server = files_server(api);
    if (agent) {
        u->by = admin ? "admin" : "agent";
        snprintf(u->who, sizeof u->who, "%s", agent);
        if (!u->meta.conversation[0]) {
            upload_refuse(u, BK_ERR_BAD_REQUEST, "conversation: required for an agent's file");
            return;
        }
        snprintf(u->conversation, sizeof u->conversation, "%s", u->meta.conversation);
        bk_keys_id_tag(u->conversation, u->tag);
    } else {
        u->by = "visitor";
        const char *header = bk_http_header(request, "authorization");
        if (strncmp(header, "Visitor ", 8) != 0 ||
            bk_token_verify(server->secret, header + 8, u->who, sizeof u->who) != 0) {
            upload_refuse(u, BK_ERR_INVALID_TOKEN, "Authorization: Visitor TOKEN (the token your hello returned) required");
            return;
        }
        bk_keys_id_tag(u->who, u->tag);
        if (bk_keys_id_generate("c_", u->tag, u->conversation, sizeof u->conversation) != 0) {
            upload_refuse(u, BK_ERR_INTERNAL, "no random id could be made");
            return;
        }
    }
    bk_keys_site_prefix(server->config->prefix, u->tag, u->prefix);
    char now[24], per_minute[16], per_address[16], origin[BK_ORIGIN_MAX];
    snprintf(now, sizeof now, "%lld", (long long)bk_now_ms());
    snprintf(per_minute, sizeof per_minute, "%d", server->config->files_per_minute);
    snprintf(per_address, sizeof per_address, "%d", server->config->files_per_minute_per_ip);
    if (bk_origin_normalize(bk_http_header(request, "origin"), origin, sizeof origin) != 0)
        snprintf(origin, sizeof origin, "%s", bk_http_header(request, "origin"));
    /* the node knows the slots of the configured sites; the first is site ""'s (server.h) */
    const char *argv[] = { u->prefix, now, u->by, u->who, agent ? u->conversation : "", u->meta.cmid,
                           per_minute, per_address, bk_http_peer(request), origin,
                           server->slot_count > 1 ? "1" : "0" };
    if (bk_store_script(server->store, files_script(api, FILES_SCRIPT_BEGIN), on_begun, u, 0, 11, argv, NULL) != 0)
        upload_refuse(u, BK_ERR_UNAVAILABLE, "storage is unavailable; send the file again");
}
