/* transcript.c - the `transcript` request: check and count in Redis, compose, mail, answer. */
#include "chat/transcript.h"

#include "base/ids.h"
#include "base/keys.h"
#include "base/log.h"
#include "files/file_link.h"
#include "files/file_name.h"
#include "transport/mail.h"
#include "store/redis_reply.h"
#include "store/redis_shapes.h"
#include "lua/embedded.h"
#include "protocol/errors.h"
#include "triggers/triggers.h"

#include <beckon/protocol.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct bk_transcripts {
    bk_server *server;
    int script, refund;
};

/* One request on its way through Redis and the mail relay. */
typedef struct pending {
    bk_transcripts *transcripts;
    bk_conn *conn;
    json_t *req;
    char visitor[BK_ID_MAX + 1];
    char conversation[BK_ID_MAX + 1];
    char email[BK_EMAIL_MAX + 1];
    char day[9];
    char host[256];  /* the socket's Host: where the transcript's links to files point */
} pending;

bk_transcripts *bk_transcripts_new(bk_server *server)
{
    bk_transcripts *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->server = server;
    t->script = bk_store_script_add(server->store, bk_lua_transcript);
    t->refund = bk_store_script_add(server->store, bk_lua_transcript_refund);
    return t;
}

void bk_transcripts_free(bk_transcripts *transcripts)
{
    free(transcripts);
}

/* ---- the text ----------------------------------------------------------------------------- */

typedef struct words {
    const char *subject, *you, *support, *utc, *asked, *ignore, *cut;
} words;

static const words english = {
    "Transcript of your chat", "You", "Support", "times in UTC",
    "You asked for this transcript in the chat on ", ". If that was not you, you can ignore this email.",
    "(The transcript stops here: the conversation is longer than one email can hold.)",
};
static const words danish = {
    "Udskrift af din chat", "Du", "Support", "tider i UTC",
    "Du bad om denne udskrift i chatten på ", ". Hvis det ikke var dig, kan du se bort fra denne e-mail.",
    "(Udskriften slutter her: samtalen er længere, end en e-mail kan rumme.)",
};
static const words norwegian = {
    "Utskrift av chatten din", "Du", "Support", "tider i UTC",
    "Du ba om denne utskriften i chatten på ", ". Hvis det ikke var deg, kan du se bort fra denne e-posten.",
    "(Utskriften slutter her: samtalen er lengre enn en e-post kan romme.)",
};

/* The same reading of a language tag as the automatic acknowledgement's (server/lua/queue_sweep.lua). */
static const words *words_for(const char *lang)
{
    char two[3] = { 0 };
    for (int i = 0; i < 2 && lang && lang[i]; i++)
        two[i] = (char)(lang[i] >= 'A' && lang[i] <= 'Z' ? lang[i] - 'A' + 'a' : lang[i]);
    if (strcmp(two, "da") == 0)
        return &danish;
    if (strcmp(two, "nb") == 0 || strcmp(two, "no") == 0 || strcmp(two, "nn") == 0)
        return &norwegian;
    return &english;
}

typedef struct text {
    char *data;
    size_t len, cap;
    int failed;
} text;

static void add(text *t, const char *s)
{
    size_t n = strlen(s);
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
    memcpy(t->data + t->len, s, n + 1);
    t->len += n;
}

static void utc_parts(json_int_t ms, char day[40], char clock[24])
{
    time_t seconds = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&seconds, &tm);
    snprintf(day, 40, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
    snprintf(clock, 24, "%02d:%02d", tm.tm_hour, tm.tm_min);
}

int bk_transcript_compose(const char *lang, const char *site, const json_t *messages, int cut,
                          char **subject, char **out)
{
    const words *w = words_for(lang);
    text s = { 0 }, b = { 0 };
    add(&s, w->subject);
    add(&s, " \xe2\x80\x93 ");  /* an en dash */
    add(&s, site);
    add(&b, s.data ? s.data : "");
    add(&b, "\n");
    char day[40] = "", clock[24], last_day[40] = "";
    size_t i;
    json_t *m;
    json_array_foreach(messages, i, m) {
        const char *from = json_string_value(json_object_get(m, "from"));
        const char *author = json_string_value(json_object_get(m, "author"));
        const char *body = json_string_value(json_object_get(m, "text"));
        if (!from || !body)
            continue;
        utc_parts(json_integer_value(json_object_get(m, "ts")), day, clock);
        if (strcmp(day, last_day) != 0) {
            add(&b, "\n");
            add(&b, day);
            add(&b, " (");
            add(&b, w->utc);
            add(&b, ")\n");
            memcpy(last_day, day, sizeof day);
        }
        add(&b, clock);
        add(&b, "  ");
        if (strcmp(from, "system") == 0) {
            add(&b, "\xe2\x80\x94 ");  /* an em dash: something that happened, not something said */
        } else {
            add(&b, strcmp(from, "visitor") == 0 ? w->you : author && author[0] ? author : w->support);
            add(&b, ": ");
        }
        json_t *file = json_object_get(m, "file");
        if (json_is_object(file)) {  /* [file] NAME (TYPE, SIZE) URL */
            char size[32];
            bk_file_size_words((uint64_t)json_integer_value(json_object_get(file, "size")), size, sizeof size);
            const char *type = json_string_value(json_object_get(file, "type"));
            const char *url = json_string_value(json_object_get(file, "url"));
            add(&b, "[file] ");
            add(&b, body);
            add(&b, " (");
            add(&b, type ? type : "");
            add(&b, ", ");
            add(&b, size);
            add(&b, ") ");
            add(&b, url ? url : "");
        } else {
            add(&b, body);
        }
        add(&b, "\n");
    }
    if (cut) {
        add(&b, "\n");
        add(&b, w->cut);
        add(&b, "\n");
    }
    add(&b, "\n-- \n");
    add(&b, w->asked);
    add(&b, site);
    add(&b, w->ignore);
    add(&b, "\n");
    if (s.failed || b.failed) {
        free(s.data);
        free(b.data);
        return -1;
    }
    *subject = s.data;
    *out = b.data;
    return 0;
}

/* ---- the request -------------------------------------------------------------------------- */

/* The check script refuses a conversation that is not the visitor's or still open, and
 * requests past the limits. */
static void store_error_send(bk_conn *conn, json_t *req, const redisReply *reply)
{
    bk_error err;
    bk_error_from_store(&err, reply,
                        BK_REFUSALS(BK_ERR_NOT_FOUND, BK_ERR_WRONG_STATE, BK_ERR_RATE_LIMITED,
                                    BK_ERR_INVALID_TOKEN),  /* erased meanwhile */
                        BK_STORAGE_WRITE);
    bk_reply_send(conn, bk_error_frame(req, err.code, err.message));
}

static void pending_free(pending *p)
{
    if (p->req)
        json_decref(p->req);
    bk_conn_unref(p->conn);
    free(p);
}

/* Nothing was sent: the request does not count against the limits. Best effort. */
static void refund(pending *p)
{
    bk_transcripts *t = p->transcripts;
    char prefix[BK_KEYS_PREFIX_SIZE];
    bk_keys_prefix_of_id(t->server->config->prefix, p->visitor, prefix);
    const char *argv[] = { prefix, p->visitor, p->conversation, p->day };
    if (bk_store_script(t->server->store, t->refund, NULL, NULL, 0, 4, argv, NULL) != 0)
        bk_warn("transcript of %s: could not give the attempt back (redis is away)", p->conversation);
}

static void on_sent(int status, const char *message, void *data)
{
    pending *p = data;
    char text[400];
    if (status == BK_MAIL_SENT) {
        bk_info("transcript of %s sent", p->conversation);
        json_t *ok = bk_reply_new("ok", p->req);
        json_object_set_new(ok, "conversation", json_string(p->conversation));
        bk_reply_send(p->conn, ok);
    } else if (status == BK_MAIL_NOT_SENT) {
        refund(p);
        snprintf(text, sizeof text, "the email could not be sent: %s", message);
        bk_reply_send(p->conn, bk_error_frame(p->req, BK_ERR_UNAVAILABLE, text));
    } else {
        /* it may have been delivered: it keeps counting, so that retries cannot flood a mailbox */
        snprintf(text, sizeof text, "the mail server stopped answering after it got the email; "
                 "it may still arrive (%s)", message);
        bk_reply_send(p->conn, bk_error_frame(p->req, BK_ERR_UNAVAILABLE, text));
    }
    pending_free(p);
}

/* The files' links in a transcript are absolute (a mail has no page to be relative to): at
 * public-url when set, else this server as the visitor's socket reached it, https unless that
 * was a loopback address (development); valid file-link-hours from now like any link. */
static void transcript_links(bk_transcripts *t, const pending *p, json_t *messages)
{
    const bk_config *config = t->server->config;
    long long exp = (long long)(bk_now_ms() / 1000) + 3600LL * config->file_link_hours;
    bk_file_links_add_all(messages, t->server->secret, exp);
    char base[300];
    if (config->public_url[0]) {
        snprintf(base, sizeof base, "%s", config->public_url);
    } else {
        int loopback = strncmp(p->host, "localhost", 9) == 0 || strncmp(p->host, "127.", 4) == 0 ||
                       strncmp(p->host, "[::1]", 5) == 0;
        snprintf(base, sizeof base, "%s://%s", loopback ? "http" : "https", p->host);
    }
    size_t i;
    json_t *m;
    json_array_foreach(messages, i, m)
        bk_file_links_absolute(json_object_get(m, "file"), base);
}

static void on_checked(redisReply *reply, void *data)
{
    pending *p = data;
    bk_transcripts *t = p->transcripts;
    const char *conversation, *site, *lang, *messages_json;
    size_t messages_len;
    long long cut;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_TRANSCRIPT, &conversation, &site, &lang, &messages_json, &messages_len,
                              &cut) != 0) {
        store_error_send(p->conn, p->req, reply);
        pending_free(p);
        return;
    }
    snprintf(p->conversation, sizeof p->conversation, "%s", conversation);
    json_t *messages = json_loadb(messages_json, messages_len, 0, NULL);
    transcript_links(t, p, messages);
    /* without a site, the sender's domain names where the chat was */
    const char *from = t->server->config->smtp_from, *at = strchr(from, '@');
    char *subject = NULL, *body = NULL, err[256];
    if (!json_is_array(messages) ||
        bk_transcript_compose(lang, site[0] ? site : at ? at + 1 : from, messages, cut == 1, &subject, &body) != 0) {
        refund(p);
        bk_reply_send(p->conn, bk_error_frame(p->req, BK_ERR_INTERNAL, "could not write the transcript"));
        pending_free(p);
    } else if (bk_mail_send(t->server->mail, p->email, subject, body, on_sent, p, err, sizeof err) != 0) {
        refund(p);
        char text[300];
        snprintf(text, sizeof text, "the email could not be sent: %s", err);
        bk_reply_send(p->conn, bk_error_frame(p->req, BK_ERR_UNAVAILABLE, text));
        pending_free(p);
    }
    json_decref(messages);
    free(subject);
    free(body);
}

void bk_transcript_request(bk_transcripts *t, bk_conn *conn, const char *visitor, const bk_request *request)
{
    if (!t || !t->server->mail) {
        bk_reply_send(conn, bk_error_frame(request->req, BK_ERR_UNAVAILABLE,
                                           "email is not set up on this server"));
        return;
    }
    /* proto checked it already (transcript.email); the relay must never see anything else */
    if (!request->email || !bk_mail_address_valid(request->email)) {
        bk_reply_send(conn, bk_error_frame(request->req, BK_ERR_BAD_REQUEST,
                                           "transcript.email: not an address we can send to"));
        return;
    }
    pending *p = calloc(1, sizeof *p);
    if (!p) {
        bk_reply_send(conn, bk_error_frame(request->req, BK_ERR_INTERNAL, "out of memory"));
        return;
    }
    p->transcripts = t;
    p->conn = conn;
    bk_conn_ref(conn);
    if (request->req)
        p->req = json_incref(request->req);
    snprintf(p->visitor, sizeof p->visitor, "%s", visitor);
    snprintf(p->conversation, sizeof p->conversation, "%s", request->conversation ? request->conversation : "");
    snprintf(p->email, sizeof p->email, "%s", request->email);
    snprintf(p->host, sizeof p->host, "%s", bk_conn_host(conn));
    bk_day_string(bk_now_ms(), p->day);
    char per_conversation[8], per_day[8], max_messages[16], max_bytes[16];
    snprintf(per_conversation, sizeof per_conversation, "%d", BK_TRANSCRIPTS_PER_CONVERSATION);
    snprintf(per_day, sizeof per_day, "%d", BK_TRANSCRIPTS_PER_DAY);
    snprintf(max_messages, sizeof max_messages, "%d", BK_TRANSCRIPT_MAX_MESSAGES);
    snprintf(max_bytes, sizeof max_bytes, "%d", BK_TRANSCRIPT_MAX_BYTES);
    char prefix[BK_KEYS_PREFIX_SIZE];
    bk_keys_prefix_of_id(t->server->config->prefix, p->visitor, prefix);
    const char *argv[] = { prefix, p->visitor, p->conversation, p->day,
                           per_conversation, per_day, max_messages, max_bytes };
    if (bk_store_script(t->server->store, t->script, on_checked, p, 0, 8, argv, NULL) != 0) {
        store_error_send(conn, request->req, NULL);
        pending_free(p);
    }
}
