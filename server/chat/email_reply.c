/* email_reply.c - the `email_reply` request: store in Redis, compose, mail, answer. */
#include "chat/email_reply.h"

#include "base/ids.h"
#include "base/keys.h"
#include "base/log.h"
#include "lua/embedded.h"
#include "mail/mail_thread.h"
#include "protocol/errors.h"
#include "store/redis_reply.h"
#include "store/redis_shapes.h"
#include "transport/mail.h"

#include <beckon/protocol.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

struct bk_email_replies {
    bk_server *server;
    int script, sent_script;
};

typedef struct pending {
    bk_email_replies *replies;
    bk_conn *conn;
    json_t *req;
    char conversation[BK_ID_MAX + 1];
    char id[64];
    char cmid[BK_CMID_MAX + 1];
    char agent[BK_ID_MAX + 1];
    char *text;              /* the answer, for the mail */
    int duplicate;
} pending;

#define IN_REPLY_TO_MAX 320  /* "<" Message-ID ">" of the visitor's last mail */

bk_email_replies *bk_email_replies_new(bk_server *server)
{
    bk_email_replies *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->server = server;
    r->script = bk_store_script_add(server->store, bk_lua_email_reply);
    r->sent_script = bk_store_script_add(server->store, bk_lua_email_sent);
    return r;
}

void bk_email_replies_free(bk_email_replies *replies)
{
    free(replies);
}

/* ---- the text ----------------------------------------------------------------------------- */

typedef struct words {
    const char *subject, *you, *earlier, *utc, *answer;
} words;

static const words english = {
    "Your conversation with ", "You", "Earlier in this conversation", "times in UTC",
    "Reply to this email to answer: your reply goes straight into the conversation.",
};
static const words danish = {
    "Din samtale med ", "Du", "Tidligere i samtalen", "tider i UTC",
    "Svar p\xc3\xa5 denne e-mail: dit svar g\xc3\xa5r direkte ind i samtalen.",
};
static const words norwegian = {
    "Samtalen din med ", "Du", "Tidligere i samtalen", "tider i UTC",
    "Svar p\xc3\xa5 denne e-posten: svaret ditt g\xc3\xa5r rett inn i samtalen.",
};

/* The reading of a language tag that transcripts and the acknowledgement use. */
static const words *words_for(const char *lang)
{
    if (lang && strncasecmp(lang, "da", 2) == 0)
        return &danish;
    if (lang && (strncasecmp(lang, "nb", 2) == 0 || strncasecmp(lang, "no", 2) == 0 || strncasecmp(lang, "nn", 2) == 0))
        return &norwegian;
    return &english;
}

typedef struct text {
    char *data;
    size_t len, cap;
    int failed;
} text;

static void add_n(text *t, const char *s, size_t n)
{
    if (t->failed)
        return;
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 1024;
        while (cap < t->len + n + 1)
            cap *= 2;
        char *grown = realloc(t->data, cap);
        if (!grown) {
            t->failed = 1;
            return;
        }
        t->data = grown;
        t->cap = cap;
    }
    memcpy(t->data + t->len, s, n);
    t->len += n;
    t->data[t->len] = '\0';
}

static void add(text *t, const char *s)
{
    add_n(t, s, strlen(s));
}

/* Each line of s behind "> ". */
static void add_quoted(text *t, const char *s)
{
    while (*s) {
        size_t n = strcspn(s, "\n");
        add(t, "> ");
        add_n(t, s, n);
        add(t, "\n");
        s += n + (s[n] == '\n');
    }
}

int bk_email_reply_compose(const char *lang, const char *site, const char *agent, const char *body_text,
                           const char *subject, const json_t *history, char **subject_out, char **body_out)
{
    const words *w = words_for(lang);
    text s = { 0 }, b = { 0 };
    if (subject[0]) {
        int re = strncasecmp(subject, "re:", 3) == 0 || strncasecmp(subject, "sv:", 3) == 0 ||
                 strncasecmp(subject, "aw:", 3) == 0;
        if (!re)
            add(&s, "Re: ");
        add(&s, subject);
    } else {
        add(&s, w->subject);
        add(&s, site);
    }
    add(&b, body_text);
    add(&b, "\n\n");
    add(&b, agent);
    add(&b, ", ");
    add(&b, site);
    add(&b, "\n");
    if (json_array_size(history) > 0) {
        add(&b, "\n");
        add(&b, w->earlier);
        add(&b, " (");
        add(&b, w->utc);
        add(&b, "):\n");
        size_t i;
        json_t *m;
        json_array_foreach(history, i, m) {
            const char *from = json_string_value(json_object_get(m, "from"));
            const char *author = json_string_value(json_object_get(m, "author"));
            const char *said = json_string_value(json_object_get(m, "text"));
            if (!from || !said)
                continue;
            time_t seconds = (time_t)(json_integer_value(json_object_get(m, "ts")) / 1000);
            struct tm tm;
            gmtime_r(&seconds, &tm);
            char line[160];
            snprintf(line, sizeof line, "%04d-%02d-%02d %02d:%02d %.80s:", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min,
                     strcmp(from, "visitor") == 0 ? w->you : author && author[0] ? author : site);
            add(&b, "> ");
            add(&b, line);
            add(&b, "\n");
            add_quoted(&b, said);
            add(&b, ">\n");
        }
    }
    add(&b, "\n-- \n");
    add(&b, w->answer);
    add(&b, "\n");
    if (s.failed || b.failed) {
        free(s.data);
        free(b.data);
        return -1;
    }
    *subject_out = s.data;
    *body_out = b.data;
    return 0;
}

/* ---- the request -------------------------------------------------------------------------- */

static void pending_free(pending *p)
{
    if (p->req)
        json_decref(p->req);
    bk_conn_unref(p->conn);
    free(p->text);
    free(p);
}

/* The ack of a stored message, and what became of its mail. */
static void ack_send(pending *p, const char *mail, const char *why)
{
    json_t *ack = bk_reply_new("ack", p->req);
    json_object_set_new(ack, "conversation", json_string(p->conversation));
    json_object_set_new(ack, "id", json_string(p->id));
    json_object_set_new(ack, "cmid", json_string(p->cmid));
    json_object_set_new(ack, "ts", json_integer(strtoll(p->id, NULL, 10)));
    json_object_set_new(ack, "duplicate", json_boolean(p->duplicate));
    json_object_set_new(ack, "channel", json_string("email"));
    json_object_set_new(ack, "mail", json_string(mail));
    if (why)
        json_object_set_new(ack, "mail_error", json_string(why));
    bk_reply_send(p->conn, ack);
}

static void on_sent(int status, const char *message, void *data)
{
    pending *p = data;
    bk_email_replies *r = p->replies;
    const char *state = status == BK_MAIL_SENT ? "sent" : status == BK_MAIL_NOT_SENT ? "not_sent" : "unsure";
    char prefix[BK_KEYS_PREFIX_SIZE];
    bk_keys_prefix_of_id(r->server->config->prefix, p->conversation, prefix);
    const char *argv[] = { prefix, p->conversation, p->id, state };
    if (bk_store_script(r->server->store, r->sent_script, NULL, NULL, 0, 4, argv, NULL) != 0)
        bk_warn("email reply %s: could not record that its mail was %s (redis is away)", p->id, state);
    ack_send(p, state, status == BK_MAIL_SENT ? NULL : message);
    pending_free(p);
}

static void on_stored(redisReply *reply, void *data)
{
    pending *p = data;
    bk_email_replies *r = p->replies;
    const bk_config *config = r->server->config;
    const char *conversation, *id, *email, *lang, *site, *subject, *message_id, *in_reply_to, *history_json;
    size_t history_len;
    long long duplicate, sent;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_EMAIL_REPLY, &conversation, &id, &duplicate, &sent, &email, &lang, &site,
                              &subject, &message_id, &in_reply_to, &history_json, &history_len) != 0) {
        bk_error err;
        bk_error_from_store(&err, reply, BK_REFUSALS(BK_ERR_NOT_FOUND, BK_ERR_FORBIDDEN, BK_ERR_WRONG_STATE),
                            BK_STORAGE_WRITE);
        bk_reply_send(p->conn, bk_error_frame(p->req, err.code, err.message));
        pending_free(p);
        return;
    }
    snprintf(p->id, sizeof p->id, "%s", id);
    snprintf(p->conversation, sizeof p->conversation, "%s", conversation);  /* a left message's */
    p->duplicate = duplicate == 1;
    if (sent == 1) {
        ack_send(p, "sent", NULL);
        pending_free(p);
        return;
    }
    const char *at = strchr(config->smtp_from, '@');
    const char *shop = site[0] ? site : at ? at + 1 : config->smtp_from;
    char reply_to[BK_MAIL_ADDRESS_MAX], in_reply_to_header[IN_REPLY_TO_MAX] = "", err[256];
    json_t *history = json_loadb(history_json, history_len, 0, NULL);
    char *subject_out = NULL, *body = NULL;
    int failed = !json_is_array(history) ||
                 bk_mail_reply_address(r->server->secret, config->mail_reply_address, conversation, reply_to,
                                       sizeof reply_to) != 0;
    if (in_reply_to[0] && strlen(in_reply_to) + 3 < sizeof in_reply_to_header)
        snprintf(in_reply_to_header, sizeof in_reply_to_header, "<%s>", in_reply_to);
    if (!failed)
        failed = bk_email_reply_compose(lang, shop, p->agent, p->text, subject, history,
                                        &subject_out, &body) != 0;
    json_decref(history);
    if (failed) {
        ack_send(p, "not_sent", "could not write the email");
        pending_free(p);
        return;
    }
    bk_mail_message m = { .to = email, .subject = subject_out, .body = body, .message_id = message_id,
                          .date_ms = bk_now_ms(), .from_name = shop, .reply_to = reply_to,
                          .in_reply_to = in_reply_to_header[0] ? in_reply_to_header : NULL,
                          .references = in_reply_to_header[0] ? in_reply_to_header : NULL,
                          .conversation = conversation, .written_by_person = 1 };
    if (bk_mail_send_message(r->server->mail, &m, on_sent, p, err, sizeof err) != 0) {
        ack_send(p, "not_sent", err);
        pending_free(p);
    }
    free(subject_out);
    free(body);
}

void bk_email_reply_request(bk_email_replies *r, bk_conn *conn, const char *agent, const char *sender,
                            const bk_request *request)
{
    const bk_config *config = r ? r->server->config : NULL;
    if (!r || !r->server->mail || !config->mail_reply_address[0]) {
        bk_reply_send(conn, bk_error_frame(request->req, BK_ERR_UNAVAILABLE,
                                           "email is not set up on this server (smtp-host and mail-reply-address)"));
        return;
    }
    /* a conversation, or a left message with its visitor (the conversation it will become
     * carries the visitor's tag, so it is in the left message's slot) */
    int left = request->left != NULL;
    if (left == (request->conversation != NULL) || left != (request->visitor != NULL)) {
        bk_reply_send(conn, bk_error_frame(request->req, BK_ERR_BAD_REQUEST,
                                           "email_reply: give conversation, or left and visitor (a message left)"));
        return;
    }
    pending *p = calloc(1, sizeof *p);
    char random[25], tag[BK_KEYS_TAG_LEN + 1];
    if (!p || !(p->text = malloc(request->text_len + 1)) || bk_id_generate("", random, sizeof random) != 0 ||
        (left && (bk_keys_id_tag(request->visitor, tag) != 0 ||
                  bk_keys_id_generate("c_", tag, p->conversation, sizeof p->conversation) != 0))) {
        if (p)
            free(p->text);
        free(p);
        bk_reply_send(conn, bk_error_frame(request->req, left ? BK_ERR_NOT_FOUND : BK_ERR_INTERNAL,
                                           left ? "no such left message" : "out of memory"));
        return;
    }
    memcpy(p->text, request->text, request->text_len);
    p->text[request->text_len] = '\0';
    p->replies = r;
    p->conn = conn;
    bk_conn_ref(conn);
    if (request->req)
        p->req = json_incref(request->req);
    if (!left)
        snprintf(p->conversation, sizeof p->conversation, "%s", request->conversation);
    snprintf(p->cmid, sizeof p->cmid, "%s", request->cmid);
    snprintf(p->agent, sizeof p->agent, "%s", agent);
    const char *at = strchr(config->smtp_from, '@');   /* checked at start: it has one */
    char now[24], history[8], prefix[BK_KEYS_PREFIX_SIZE];
    snprintf(now, sizeof now, "%lld", (long long)bk_now_ms());
    snprintf(history, sizeof history, "%d", BK_EMAIL_REPLY_HISTORY);
    bk_keys_prefix_of_id(config->prefix, left ? request->visitor : p->conversation, prefix);
    const char *argv[] = { prefix, p->conversation, agent, p->cmid, p->text, random, at ? at + 1 : "beckon.invalid",
                           now, history, sender, left ? request->left : "", left ? request->visitor : "" };
    size_t lengths[12];
    for (int i = 0; i < 12; i++)
        lengths[i] = i == 4 ? request->text_len : strlen(argv[i]);
    if (bk_store_script(r->server->store, r->script, on_stored, p, 0, 12, argv, lengths) != 0) {
        bk_error err;
        bk_error_from_store(&err, NULL, NULL, BK_STORAGE_WRITE);
        bk_reply_send(conn, bk_error_frame(request->req, err.code, err.message));
        pending_free(p);
    }
}
