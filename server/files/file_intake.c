/* file_intake.c - a spooled file checked, stored and described (file_intake.h). */
#include "files/file_intake.h"

#include "files/file_link.h"
#include "files/file_type.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct intake {
    uv_loop_t *loop;
    bk_file_store *store;
    char path[PATH_MAX];
    char tag[BK_KEYS_TAG_LEN + 1];
    bk_file_verdict verdict;
    bk_file_intake_result result;
    bk_file_intake_done done;
    void *data;
} intake;

static void on_unlinked(uv_fs_t *fs)
{
    uv_fs_req_cleanup(fs);
    free(fs);
}

static void unlink_later(uv_loop_t *loop, const char *path)
{
    uv_fs_t *fs = malloc(sizeof *fs);
    if (!fs || uv_fs_unlink(loop, fs, path, on_unlinked) != 0)
        free(fs);
}

/* The end, whatever the outcome: what the check wrote beside the spooled file goes. */
static void intake_finish(intake *in)
{
    if (in->verdict.stored_path[0] && strcmp(in->verdict.stored_path, in->path) != 0)
        unlink_later(in->loop, in->verdict.stored_path);
    if (in->verdict.thumb_path[0])
        unlink_later(in->loop, in->verdict.thumb_path);
    in->done(&in->result, in->data);
    free(in);
}

static void intake_refuse(intake *in, const char *code, const char *message)
{
    in->result.refusal = code;
    snprintf(in->result.message, sizeof in->result.message, "%s", message);
    intake_finish(in);
}

static void on_thumb_stored(int status, void *data)
{
    intake *in = data;
    in->result.thumb = status == 0;  /* no thumbnail is no reason to refuse the file */
    intake_finish(in);
}

static void on_file_stored(int status, void *data)
{
    intake *in = data;
    if (status != 0) {
        intake_refuse(in, BK_ERR_UNAVAILABLE, "the file could not be stored now; send it again");
        return;
    }
    in->result.stored = 1;
    if (in->verdict.thumb_path[0])
        bk_file_store_put(in->store, in->result.file_id, "thumb", in->verdict.thumb_path, on_thumb_stored, in);
    else
        intake_finish(in);
}

static void on_checked(const bk_file_verdict *verdict, void *data)
{
    intake *in = data;
    in->verdict = *verdict;
    if (verdict->refusal) {
        intake_refuse(in, verdict->refusal, verdict->message);
        return;
    }
    bk_file_intake_result *r = &in->result;
    snprintf(r->type, sizeof r->type, "%s", verdict->type);
    r->image = verdict->image;
    r->width = verdict->width;
    r->height = verdict->height;
    r->size = verdict->stored_bytes;
    if (bk_keys_id_generate("f_", in->tag, r->file_id, sizeof r->file_id) != 0) {
        intake_refuse(in, BK_ERR_INTERNAL, "no random id could be made");
        return;
    }
    bk_file_store_put(in->store, r->file_id, "file", verdict->stored_path, on_file_stored, in);
}

static void on_timer_closed(uv_handle_t *handle)
{
    free(handle);
}

/* A refusal before any check, still answered after the call returns (as file_check.h's). */
static void on_refused_now(uv_timer_t *timer)
{
    intake *in = timer->data;
    uv_close((uv_handle_t *)timer, on_timer_closed);
    intake_finish(in);
}

void bk_file_intake(uv_loop_t *loop, bk_file_checker *checker, bk_file_store *store, const char *path,
                    const char *name, const char *tag, const bk_file_rules *rules, bk_file_intake_done done,
                    void *data)
{
    intake *in = calloc(1, sizeof *in);
    uv_timer_t *later = checker ? NULL : malloc(sizeof *later);
    if (!in || (!checker && !later)) {
        free(in);
        free(later);
        bk_file_intake_result out_of_memory = { .refusal = BK_ERR_INTERNAL, .message = "out of memory" };
        done(&out_of_memory, data);
        return;
    }
    in->loop = loop;
    in->store = store;
    in->done = done;
    in->data = data;
    snprintf(in->path, sizeof in->path, "%s", path);
    snprintf(in->tag, sizeof in->tag, "%s", tag);
    if (!checker) {  /* shutting down */
        in->result.refusal = BK_ERR_UNAVAILABLE;
        snprintf(in->result.message, sizeof in->result.message, "the server is shutting down; send the file again");
        uv_timer_init(loop, later);
        later->data = in;
        uv_timer_start(later, on_refused_now, 0, 0);
        return;
    }
    bk_file_check(checker, path, name, rules, on_checked, in);
}

int bk_file_intake_json(const bk_file_intake_result *r, const char *name, const uint8_t secret[BK_SECRET_SIZE],
                        long long link_expiry, const char *public_url, char **file_json, char **hook_json)
{
    *file_json = *hook_json = NULL;
    json_t *file = json_pack("{s:s, s:s, s:s, s:I}", "id", r->file_id, "name", name, "type", r->type,
                             "size", (json_int_t)r->size);
    if (!file)
        return -1;
    if (r->image && r->width > 0 && r->height > 0) {
        json_object_set_new(file, "width", json_integer(r->width));
        json_object_set_new(file, "height", json_integer(r->height));
    }
    if (r->thumb)
        json_object_set_new(file, "thumb", json_true());
    json_t *hook = json_deep_copy(file);
    bk_file_links_add(hook, secret, link_expiry);
    if (public_url[0])  /* a webhook's receiver has no page of ours */
        bk_file_links_absolute(hook, public_url);
    *file_json = json_dumps(file, JSON_COMPACT);
    *hook_json = hook ? json_dumps(hook, JSON_COMPACT) : NULL;
    json_decref(file);
    json_decref(hook);
    if (!*file_json || !*hook_json) {
        free(*file_json);
        free(*hook_json);
        *file_json = *hook_json = NULL;
        return -1;
    }
    return 0;
}

int bk_file_site_rules_read(const char *json, size_t len, bk_file_site_rules *out)
{
    memset(out, 0, sizeof *out);
    out->rules.max_bytes = BK_FILE_MAX_BYTES_DEFAULT;
    out->per_conversation = BK_FILE_PER_CONVERSATION_DEFAULT;
    json_t *begin = json_loadb(json, len, 0, NULL);
    if (!json_is_object(begin)) {
        json_decref(begin);
        return -1;
    }
    int rc = 0;
    json_t *types = json_object_get(begin, "types");
    if (json_is_array(types)) {
        out->types = calloc(json_array_size(types) + 1, sizeof *out->types);
        size_t i, at = 0;
        json_t *type;
        json_array_foreach(types, i, type) {
            const char *t = json_string_value(type);
            if (out->types && t && !(out->types[at++] = strdup(t)))
                rc = -1;
        }
        if (!out->types)
            rc = -1;
        out->rules.types = (const char *const *)out->types;
    }
    json_t *max = json_object_get(begin, "max_bytes");
    if (json_is_integer(max) && json_integer_value(max) > 0)
        out->rules.max_bytes = (uint64_t)json_integer_value(max);
    if (out->rules.max_bytes > BK_FILE_MAX_BYTES_LIMIT)
        out->rules.max_bytes = BK_FILE_MAX_BYTES_LIMIT;
    json_t *per = json_object_get(begin, "per_conversation");
    if (json_is_integer(per) && json_integer_value(per) > 0)
        out->per_conversation = json_integer_value(per);
    out->files = json_integer_value(json_object_get(begin, "files"));
    out->visitors = json_is_true(json_object_get(begin, "visitors"));
    json_decref(begin);
    return rc;
}

void bk_file_site_rules_close(bk_file_site_rules *rules)
{
    if (rules->types) {
        for (char **t = rules->types; *t; t++)
            free(*t);
        free(rules->types);
    }
    memset(rules, 0, sizeof *rules);
}
