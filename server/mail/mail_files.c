/* mail_files.c - a mail's attachments through the file intake (mail_files.h). */
#include "mail/mail_files.h"

#include "base/ids.h"
#include "base/keys.h"
#include "files/file_intake.h"
#include "files/file_name.h"
#include "files/file_type.h"
#include "protocol/errors.h"
#include "store/redis_reply.h"
#include "store/redis_shapes.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct attachment {
    char name[BK_FILE_NAME_MAX + 1];   /* made safe */
    char type[128];                    /* as the mail declared it (listed; never trusted) */
    size_t size;
    char path[PATH_MAX];               /* the spooled bytes, "" when none were written */
    char sha256[65];
    char refused[256];                 /* why it is no file of the conversation; "" when kept */
    char *file_json, *hook_json;       /* its message's file, once stored */
    bk_file_intake_result taken;
} attachment;

struct bk_mail_files {
    attachment items[BK_MAIL_IN_ATTACHMENTS_MAX];
    size_t count, more;
    bk_server *server;
    bk_file_site_rules site;
    char tag[BK_KEYS_TAG_LEN + 1];
    size_t next;                       /* the attachment the intake is at */
    void (*done)(void *data);
    void *data;
};

/* ---- 1. spooled, on the worker --------------------------------------------------------------- */

static int spool_write(attachment *a, const char *dir, const char *bytes, size_t size)
{
    if (snprintf(a->path, sizeof a->path, "%s/mail-XXXXXX", dir) >= (int)sizeof a->path)
        return -1;
    int fd = mkstemp(a->path);   /* 0600, a random name */
    if (fd < 0)
        return -1;
    size_t at = 0;
    while (at < size) {
        ssize_t n = write(fd, bytes + at, size - at);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        at += (size_t)n;
    }
    if (close(fd) != 0 || at < size) {
        unlink(a->path);
        return -1;
    }
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)bytes, size, digest);
    bk_hex_encode(digest, sizeof digest, a->sha256);
    return 0;
}

bk_mail_files *bk_mail_files_spool(bk_mail_in *in, const char *data_dir)
{
    if (in->attachment_count == 0)
        return NULL;
    bk_mail_files *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/uploads", data_dir);
    mkdir(dir, 0700);   /* the net makes it too; EEXIST is the usual answer */
    f->count = in->attachment_count;
    f->more = in->attachments_more;
    for (size_t i = 0; i < in->attachment_count; i++) {
        bk_mail_attachment *m = &in->attachments[i];
        attachment *a = &f->items[i];
        if (bk_file_name_sanitize(m->name, strlen(m->name), a->name) != 0)
            snprintf(a->name, sizeof a->name, "attachment");
        snprintf(a->type, sizeof a->type, "%s", m->type);
        a->size = m->size;
        if (!m->bytes && m->size == 0)
            snprintf(a->refused, sizeof a->refused, "a forwarded mail is not taken as a file");
        else if (m->size == 0)
            snprintf(a->refused, sizeof a->refused, "the file is empty");
        else if (spool_write(a, dir, m->bytes, m->size) != 0) {
            a->path[0] = '\0';
            snprintf(a->refused, sizeof a->refused, "the file could not be kept now; send it again");
        }
        free(m->bytes);   /* on disk now: the mail's copy is not needed */
        m->bytes = NULL;
    }
    return f;
}

static void on_unlinked(uv_fs_t *fs)
{
    uv_fs_req_cleanup(fs);
    free(fs);
}

void bk_mail_files_free(bk_mail_files *f, uv_loop_t *loop)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->count; i++) {
        attachment *a = &f->items[i];
        if (a->path[0]) {
            uv_fs_t *fs = loop ? malloc(sizeof *fs) : NULL;
            if (!fs || uv_fs_unlink(loop, fs, a->path, on_unlinked) != 0) {
                free(fs);
                unlink(a->path);
            }
        }
        free(a->file_json);
        free(a->hook_json);
    }
    bk_file_site_rules_close(&f->site);
    free(f);
}

/* ---- 2. taken in, on the loop ---------------------------------------------------------------- */

static void intake_next(bk_mail_files *f);

static void on_taken(const bk_file_intake_result *result, void *data)
{
    bk_mail_files *f = data;
    attachment *a = &f->items[f->next++];
    a->taken = *result;
    if (result->refusal) {
        snprintf(a->refused, sizeof a->refused, "%s", result->message);
    } else {
        bk_server *s = f->server;
        long long expiry = (long long)(bk_now_ms() / 1000) + 3600LL * s->config->file_link_hours;
        if (bk_file_intake_json(result, a->name, s->secret, expiry, s->config->public_url, &a->file_json,
                                &a->hook_json) != 0)
            snprintf(a->refused, sizeof a->refused, "out of memory");
    }
    intake_next(f);
}

static void intake_next(bk_mail_files *f)
{
    for (; f->next < f->count; f->next++) {
        attachment *a = &f->items[f->next];
        if (a->refused[0])
            continue;
        if (a->size > f->site.rules.max_bytes) {
            char size[32], most[32];
            bk_file_size_words(a->size, size, sizeof size);
            bk_file_size_words(f->site.rules.max_bytes, most, sizeof most);
            snprintf(a->refused, sizeof a->refused, "the file is %s; this site accepts files up to %s", size, most);
            continue;
        }
        bk_file_intake(f->server->loop, f->server->checker, f->server->files, a->path, a->name, f->tag,
                       &f->site.rules, on_taken, f);
        return;
    }
    f->done(f->data);
}

/* Every attachment not refused yet is refused for why. */
static void refuse_all(bk_mail_files *f, const char *why)
{
    for (size_t i = 0; i < f->count; i++)
        if (!f->items[i].refused[0])
            snprintf(f->items[i].refused, sizeof f->items[i].refused, "%s", why);
}

static void on_begun(redisReply *reply, void *data)
{
    bk_mail_files *f = data;
    const char *text;
    size_t len;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_TEXT, &text, &len) != 0) {
        bk_error err;
        bk_error_from_store(&err, reply, BK_REFUSALS(BK_ERR_NOT_FOUND, BK_ERR_WRONG_STATE, BK_ERR_FORBIDDEN,
                                                     BK_ERR_INVALID_TOKEN, BK_ERR_RATE_LIMITED),
                            BK_STORAGE_READ);
        refuse_all(f, err.message);
    } else if (bk_file_site_rules_read(text, len, &f->site) != 0) {
        refuse_all(f, "out of memory");
    } else if (!f->site.visitors) {
        refuse_all(f, "visitors may not send files on this site");
    } else {
        /* more than the conversation takes are not even checked (the script counts again) */
        long long room = f->site.per_conversation - f->site.files;
        char why[96];
        snprintf(why, sizeof why, "this conversation has %lld files already, the most it takes",
                 f->site.per_conversation);
        for (size_t i = 0; i < f->count; i++)
            if (!f->items[i].refused[0] && room-- <= 0)
                snprintf(f->items[i].refused, sizeof f->items[i].refused, "%s", why);
    }
    intake_next(f);
}

void bk_mail_files_take(bk_mail_files *f, bk_server *server, int begin_script, const char *conversation,
                        const char *sender, void (*done)(void *data), void *data)
{
    f->server = server;
    f->done = done;
    f->data = data;
    f->site.per_conversation = BK_FILE_PER_CONVERSATION_DEFAULT;
    bk_keys_id_tag(conversation, f->tag);
    char prefix[BK_KEYS_PREFIX_SIZE], now[24];
    bk_keys_prefix_of_id(server->config->prefix, conversation, prefix);
    snprintf(now, sizeof now, "%lld", (long long)bk_now_ms());
    const char *argv[] = { prefix, now, "email", sender, conversation, "", "0", "0", "", "", "0" };
    if (bk_store_script(server->store, begin_script, on_begun, f, 0, 11, argv, NULL) != 0)
        on_begun(NULL, f);
}

/* ---- 3. the lists for the script ------------------------------------------------------------- */

static char *dumps_or_empty(json_t *list)
{
    char *out = list && json_array_size(list) ? json_dumps(list, JSON_COMPACT) : strdup("");
    json_decref(list);
    return out;
}

char *bk_mail_files_refused_json(const bk_mail_files *f)
{
    json_t *list = json_array();
    for (size_t i = 0; i < f->count; i++)
        if (f->items[i].refused[0])
            json_array_append_new(list, json_pack("{s:s, s:s, s:I, s:s}", "name", f->items[i].name, "type",
                                                  f->items[i].type, "size", (json_int_t)f->items[i].size,
                                                  "refused", f->items[i].refused));
    if (f->more)
        json_array_append_new(list, json_pack("{s:s, s:I, s:s}", "name", "", "more", (json_int_t)f->more,
                                              "refused", "too many attachments"));
    return dumps_or_empty(list);
}

char *bk_mail_files_kept_json(const bk_mail_files *f)
{
    json_t *list = json_array();
    for (size_t i = 0; i < f->count; i++) {
        const attachment *a = &f->items[i];
        if (a->refused[0] || !a->file_json)
            continue;
        json_t *file = json_loads(a->file_json, 0, NULL), *hook = json_loads(a->hook_json, 0, NULL);
        json_array_append_new(list, json_pack("{s:o, s:o, s:s}", "file", file ? file : json_object(),
                                              "hook", hook ? hook : json_object(), "sha256", a->sha256));
    }
    return dumps_or_empty(list);
}

long long bk_mail_files_per_conversation(const bk_mail_files *f)
{
    return f->site.per_conversation;
}

/* ---- 4. what the script did not keep goes ---------------------------------------------------- */

void bk_mail_files_settle(bk_mail_files *f, bk_server *server, const char *unkept_json)
{
    json_t *unkept = unkept_json ? json_loads(unkept_json, 0, NULL) : NULL;
    for (size_t i = 0; i < f->count; i++) {
        attachment *a = &f->items[i];
        if (!a->taken.stored)
            continue;
        int keep = unkept_json != NULL && !a->refused[0];
        size_t at;
        json_t *id;
        json_array_foreach(unkept, at, id)
            if (json_is_string(id) && strcmp(json_string_value(id), a->taken.file_id) == 0)
                keep = 0;
        if (!keep)
            bk_file_store_remove(server->files, a->taken.file_id, NULL, NULL);
    }
    json_decref(unkept);
}
