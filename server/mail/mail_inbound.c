/* mail_inbound.c - one inbound mail judged, its script's arguments, and the MTA's answer. */
#include "mail/mail_inbound.h"

#include "base/ids.h"
#include "base/keys.h"
#include "base/log.h"
#include "mail/mail_thread.h"
#include "protocol/errors.h"
#include "store/redis_reply.h"
#include "store/redis_shapes.h"
#include "transport/mail.h"

#include <jansson.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREVIEW_BYTES 140   /* as chat/conversation.c's */

int bk_mail_inbound_config_check(const bk_config *config, char *err, size_t err_size)
{
    if (!config->mail_reply_address[0]) {
        if (config->lmtp_socket[0]) {
            snprintf(err, err_size, "lmtp-socket: needs mail-reply-address (where replies are addressed)");
            return -1;
        }
        return 0;
    }
    char probe[BK_MAIL_ADDRESS_MAX];
    if (!bk_mail_address_valid(config->mail_reply_address) || strchr(config->mail_reply_address, '+')) {
        snprintf(err, err_size, "mail-reply-address: expected a plain address without '+', like reply@support.example");
        return -1;
    }
    static const uint8_t zero[BK_SECRET_SIZE];
    /* the longest conversation id there is: the token must fit in 64 bytes of local part */
    if (bk_mail_reply_address(zero, config->mail_reply_address, "c_0000_000000000000000000000000", probe,
                              sizeof probe) != 0) {
        snprintf(err, err_size, "mail-reply-address: its local part leaves no room for the token "
                 "(at most 15 characters before the @)");
        return -1;
    }
    return 0;
}

static void refuse(bk_mail_inbound *in, const char *code, const char *why)
{
    in->code = code;
    snprintf(in->why, sizeof in->why, "%s", why);
}

static void drop(bk_mail_inbound *in, const char *why)
{
    in->dropped = 1;
    snprintf(in->why, sizeof in->why, "dropped: %s", why);
}

/* Where it goes: the token of the recipient, else our Message-ID it answers. */
static void conversation_find(bk_mail_inbound *in, const bk_config *config, const uint8_t secret[BK_SECRET_SIZE],
                              const char *recipient)
{
    const char *base = config->mail_reply_address;
    const char *candidates[BK_MAIL_IN_RECIPIENTS_MAX + 1];
    size_t count = 0;
    if (recipient)
        candidates[count++] = recipient;
    else
        for (size_t i = 0; i < in->in.recipient_count; i++)
            candidates[count++] = in->in.recipients[i];
    int forged = 0;
    for (size_t i = 0; i < count; i++) {
        int rc = bk_mail_reply_token_check(secret, base, candidates[i], in->conversation);
        if (rc == 1) {
            snprintf(in->recipient, sizeof in->recipient, "%s", candidates[i]);
            return;
        }
        if (rc < 0 && !forged) {
            forged = 1;
            snprintf(in->recipient, sizeof in->recipient, "%s", candidates[i]);
        }
    }
    if (forged) {
        /* never threaded by its headers instead: a bad token is someone guessing */
        refuse(in, BK_ERR_NOT_FOUND, "no such reply address (its token is not one we signed)");
        in->conversation[0] = '\0';
        return;
    }
    for (size_t i = 0; i < in->in.reference_count; i++)
        if (bk_mail_message_id_conversation(in->in.references[i], in->conversation) == 0 &&
            strlen(in->in.references[i]) < sizeof in->thread_id) {
            snprintf(in->thread_id, sizeof in->thread_id, "%s", in->in.references[i]);
            return;
        }
    in->conversation[0] = '\0';
    refuse(in, BK_ERR_NOT_FOUND, "no conversation: the mail has no reply token and answers no mail of ours");
}

static void message_key_make(bk_mail_inbound *in, const char *raw, size_t len)
{
    const char *id = in->in.message_id;
    if (id[0] && strlen(id) + 1 < sizeof in->message_key && !strpbrk(id, " \r\n")) {
        snprintf(in->message_key, sizeof in->message_key, "%s", id);
        return;
    }
    /* no usable Message-ID: the same bytes handed over twice are still one message */
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)raw, len, digest);
    memcpy(in->message_key, "sha256:", 7);
    bk_hex_encode(digest, sizeof digest, in->message_key + 7);
}

char *bk_mail_inbound_attachments_json(const bk_mail_in *m, const char *why)
{
    json_t *list = json_array();
    for (size_t i = 0; i < m->attachment_count; i++)
        json_array_append_new(list, json_pack("{s:s, s:s, s:I, s:s}", "name", m->attachments[i].name,
                                              "type", m->attachments[i].type, "size", (json_int_t)m->attachments[i].size,
                                              "refused", why));
    if (m->attachments_more)
        json_array_append_new(list, json_pack("{s:s, s:I, s:s}", "name", "", "more", (json_int_t)m->attachments_more,
                                              "refused", "too many attachments"));
    char *out = json_array_size(list) ? json_dumps(list, JSON_COMPACT) : strdup("");
    json_decref(list);
    return out;
}

void bk_mail_inbound_judge(const bk_config *config, const uint8_t secret[BK_SECRET_SIZE], const char *raw,
                           size_t len, const char *envelope_sender, const char *recipient, bk_mail_inbound *out)
{
    memset(out, 0, sizeof *out);
    char err[256];
    if (!config->mail_reply_address[0]) {
        refuse(out, BK_ERR_NOT_FOUND, "replies by email are not set up here (mail-reply-address)");
        return;
    }
    if (len > (size_t)config->mail_max_bytes) {
        snprintf(err, sizeof err, "the mail is larger than %d bytes", config->mail_max_bytes);
        refuse(out, BK_ERR_TOO_LARGE, err);
        return;
    }
    bk_mail_in_init();
    if (bk_mail_in_parse(raw, len, envelope_sender, &out->in, err, sizeof err) != 0) {
        refuse(out, BK_ERR_BAD_REQUEST, err);
        return;
    }
    out->parsed = 1;
    if (out->in.automatic) {
        snprintf(err, sizeof err, "an automatic mail (%s)", out->in.automatic);
        drop(out, err);
        return;
    }
    if (out->in.has_beckon_header || bk_mail_message_id_ours(out->in.message_id)) {
        drop(out, "a mail of ours came back (a loop)");
        return;
    }
    conversation_find(out, config, secret, recipient);
    if (out->code)
        return;
    message_key_make(out, raw, len);
    /* the server takes them as files (mail/mail_files.h) and lists them anew */
    out->attachments_json = bk_mail_inbound_attachments_json(
        &out->in, "files by email are taken only when the server reads the mail (lmtp-socket)");
    if (!out->attachments_json)
        refuse(out, BK_ERR_INTERNAL, "out of memory");
}

void bk_mail_inbound_free(bk_mail_inbound *in)
{
    if (in->parsed)
        bk_mail_in_free(&in->in);
    free(in->attachments_json);
    free(in->files_json);
    free(in->unkept_json);
    in->attachments_json = in->files_json = in->unkept_json = NULL;
    in->parsed = 0;
}

static size_t preview_length(const char *text)
{
    size_t n = strlen(text);
    if (n <= PREVIEW_BYTES)
        return n;
    n = PREVIEW_BYTES;
    while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80)
        n--;
    return n;
}

void bk_mail_inbound_args(const bk_mail_inbound *in, const bk_config *config, bk_mail_inbound_buffers *b,
                          const char *argv[BK_MAIL_INBOUND_ARGC],
                          size_t lengths[BK_MAIL_INBOUND_ARGC])
{
    int64_t now = bk_now_ms();
    bk_keys_prefix_of_id(config->prefix, in->conversation, b->prefix);
    snprintf(b->now, sizeof b->now, "%lld", (long long)now);
    snprintf(b->limit, sizeof b->limit, "%d", config->mail_per_sender_hour);
    snprintf(b->hour, sizeof b->hour, "%lld", (long long)(now / 3600000));
    snprintf(b->preview, sizeof b->preview, "%zu", preview_length(in->in.text));
    snprintf(b->per_conversation, sizeof b->per_conversation, "%lld",
             in->per_conversation > 0 ? in->per_conversation : 0);
    /* the whole text only when the cut one differs: most mails need one copy */
    const char *original = strcmp(in->in.text, in->in.original) != 0 ? in->in.original : "";
    const char *values[BK_MAIL_INBOUND_ARGC] = {
        b->prefix, in->conversation, in->thread_id, in->message_key, in->in.from, in->in.from_name,
        in->in.subject, in->in.text, original, in->attachments_json, b->now, b->limit, b->hour, b->preview,
        in->files_json ? in->files_json : "", b->per_conversation,
    };
    for (int i = 0; i < BK_MAIL_INBOUND_ARGC; i++) {
        argv[i] = values[i];
        lengths[i] = strlen(values[i]);
    }
}

void bk_mail_inbound_stored(bk_mail_inbound *in, const redisReply *reply, char id[64])
{
    const char *conversation, *stored, *unkept;
    long long duplicate, reopened;
    size_t unkept_len;
    id[0] = '\0';
    if (bk_redis_reply_unpack(reply, BK_SHAPE_MAIL_INBOUND, &conversation, &stored, &duplicate, &reopened, &unkept,
                              &unkept_len) == 0) {
        snprintf(id, 64, "%s", stored);
        free(in->unkept_json);
        in->unkept_json = strndup(unkept, unkept_len);
        snprintf(in->why, sizeof in->why, "%s %s as %s%s", duplicate ? "already stored in" : "stored in",
                 in->conversation, stored, reopened ? " (reopened)" : "");
        return;
    }
    bk_error err;
    bk_error_from_store(&err, reply, BK_REFUSALS(BK_ERR_NOT_FOUND, BK_ERR_INVALID_TOKEN, BK_ERR_RATE_LIMITED),
                        BK_STORAGE_WRITE);
    in->code = err.code;
    snprintf(in->why, sizeof in->why, "%s", err.message);
}

void bk_mail_inbound_answer(const bk_mail_inbound *in, int *exit_code, char *lmtp, size_t lmtp_size)
{
    const char *sender = in->parsed ? in->in.from : "";
    if (in->code)
        bk_warn("mail from <%.100s> to <%.100s> refused (%s): %s", sender, in->recipient, in->code, in->why);
    else
        bk_info("mail from <%.100s> %s", sender, in->why);
    bk_error_mail_delivery(in->code, in->code ? in->why : in->dropped ? in->why : "delivered", exit_code, lmtp,
                           lmtp_size);
}
