/* proto.c - request parsing and validation, driven by one table of request shapes. */
#include "protocol/proto.h"

#include "base/auth.h"
#include "base/ids.h"
#include "transport/mail.h"
#include "base/utf8.h"

#include <beckon/protocol.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

typedef enum {
    FIELD_STRING,     /* any non-empty string up to max bytes */
    FIELD_TEXT,       /* message text: non-empty; the frame limit bounds it */
    FIELD_ID,         /* [A-Za-z0-9_-]{1,64} */
    FIELD_STREAM_ID,  /* "ms-seq" or "0" */
    FIELD_BOOL,
    FIELD_SCORE,      /* integer 1..5 */
    FIELD_OBJECT,     /* accepted, not interpreted here (e.g. page) */
    FIELD_ANY_STRING, /* a string of any content up to max bytes; anything else is absent */
    FIELD_PROPS,      /* an object of at most 32 members, each a string, number or bool */
    FIELD_DEVICE,     /* desktop, mobile or tablet */
    FIELD_MAYBE_EMPTY,/* like FIELD_STRING, but "" is fine (a direct visit has no referrer) */
    FIELD_EMAIL,      /* a string with an '@', at most max bytes */
    FIELD_STATUS,     /* online or away */
    FIELD_MAILBOX,    /* an address mail may be sent to: bk_mail_address_valid, strictly */
    FIELD_QUERY,      /* a search's text: "" or any string up to max bytes (its length goes to query_len) */
} field_kind;

typedef struct field {
    const char *name;
    field_kind kind;
    int required;
    size_t max;
    size_t offset;    /* into bk_request; for FIELD_TEXT the length goes to text_len */
} field;

#define F(n, k, req, max, member) { n, k, req, max, offsetof(bk_request, member) }
#define NO_FIELD { NULL, 0, 0, 0, 0 }

typedef struct shape {
    const char *name;
    bk_request_type type;
    int roles;
    field fields[7];
} shape;

static const shape shapes[] = {
    { "hello", BK_REQ_HELLO, BK_ROLE_VISITOR, {
        F("site", FIELD_ID, 0, BK_ID_MAX, site),
        F("token", FIELD_STRING, 0, BK_TOKEN_MAX - 1, token),
        F("lang", FIELD_STRING, 0, 35, lang),
        F("page", FIELD_OBJECT, 0, 0, page),
        F("device", FIELD_DEVICE, 0, 0, device),
        F("team", FIELD_ID, 0, BK_ID_MAX, team), NO_FIELD } },
    /* An agent's token is checked by chat (unauthorized + close), not as a bad request. */
    { "hello", BK_REQ_HELLO, BK_ROLE_AGENT, {
        F("token", FIELD_ANY_STRING, 0, 1024, token), NO_FIELD } },
    { "message", BK_REQ_MESSAGE, BK_ROLE_VISITOR, {
        F("cmid", FIELD_STRING, 1, BK_CMID_MAX, cmid),
        F("text", FIELD_TEXT, 1, 0, text), NO_FIELD } },
    { "message", BK_REQ_MESSAGE, BK_ROLE_AGENT, {
        F("conversation", FIELD_ID, 1, BK_ID_MAX, conversation),
        F("cmid", FIELD_STRING, 1, BK_CMID_MAX, cmid),
        F("text", FIELD_TEXT, 1, 0, text), NO_FIELD } },
    { "typing", BK_REQ_TYPING, BK_ROLE_VISITOR, {
        F("on", FIELD_BOOL, 1, 0, on), NO_FIELD } },
    { "typing", BK_REQ_TYPING, BK_ROLE_AGENT, {
        F("conversation", FIELD_ID, 1, BK_ID_MAX, conversation),
        F("on", FIELD_BOOL, 1, 0, on), NO_FIELD } },
    { "read", BK_REQ_READ, BK_ROLE_VISITOR, {
        F("up_to", FIELD_STREAM_ID, 1, 41, up_to), NO_FIELD } },
    { "read", BK_REQ_READ, BK_ROLE_AGENT, {
        F("conversation", FIELD_ID, 1, BK_ID_MAX, conversation),
        F("up_to", FIELD_STREAM_ID, 1, 41, up_to), NO_FIELD } },
    { "resume", BK_REQ_RESUME, BK_ROLE_VISITOR | BK_ROLE_AGENT, {
        F("conversation", FIELD_ID, 1, BK_ID_MAX, conversation),
        F("since", FIELD_STREAM_ID, 0, 41, since), NO_FIELD } },
    { "close", BK_REQ_CLOSE, BK_ROLE_VISITOR, { NO_FIELD } },
    { "close", BK_REQ_CLOSE, BK_ROLE_AGENT, {
        F("conversation", FIELD_ID, 1, BK_ID_MAX, conversation), NO_FIELD } },
    { "rate", BK_REQ_RATE, BK_ROLE_VISITOR, {
        F("score", FIELD_SCORE, 1, 0, score),
        F("comment", FIELD_STRING, 0, BK_COMMENT_MAX, comment),
        F("conversation", FIELD_ID, 0, BK_ID_MAX, conversation), NO_FIELD } },
    { "accept", BK_REQ_ACCEPT, BK_ROLE_AGENT, {
        F("conversation", FIELD_ID, 1, BK_ID_MAX, conversation), NO_FIELD } },
    { "page_view", BK_REQ_PAGE_VIEW, BK_ROLE_VISITOR, {
        F("url", FIELD_STRING, 1, BK_URL_MAX, url),
        F("title", FIELD_MAYBE_EMPTY, 0, BK_TITLE_MAX, title),
        F("referrer", FIELD_MAYBE_EMPTY, 0, BK_URL_MAX, referrer), NO_FIELD } },
    { "event", BK_REQ_EVENT, BK_ROLE_VISITOR, {
        F("name", FIELD_ID, 1, BK_ID_MAX, event_name),
        F("props", FIELD_PROPS, 0, 0, props), NO_FIELD } },
    { "invite_shown", BK_REQ_INVITE_SHOWN, BK_ROLE_VISITOR, {
        F("invitation", FIELD_ID, 1, BK_ID_MAX, invitation), NO_FIELD } },
    { "invite_accepted", BK_REQ_INVITE_ACCEPTED, BK_ROLE_VISITOR, {
        F("invitation", FIELD_ID, 1, BK_ID_MAX, invitation), NO_FIELD } },
    { "invite_dismissed", BK_REQ_INVITE_DISMISSED, BK_ROLE_VISITOR, {
        F("invitation", FIELD_ID, 1, BK_ID_MAX, invitation), NO_FIELD } },
    { "identify", BK_REQ_IDENTIFY, BK_ROLE_VISITOR, {
        F("name", FIELD_STRING, 0, BK_NAME_MAX, name),
        F("email", FIELD_EMAIL, 0, BK_EMAIL_MAX, email),
        F("attrs", FIELD_PROPS, 0, 0, attrs),
        F("id", FIELD_STRING, 0, BK_USER_ID_MAX, user_id),
        F("hash", FIELD_STRING, 0, 128, user_hash), NO_FIELD } },
    { "consent", BK_REQ_CONSENT, BK_ROLE_VISITOR, {
        F("granted", FIELD_BOOL, 1, 0, granted), NO_FIELD } },
    { "leave_message", BK_REQ_LEAVE_MESSAGE, BK_ROLE_VISITOR, {
        F("email", FIELD_EMAIL, 1, BK_EMAIL_MAX, email),
        F("text", FIELD_TEXT, 1, 0, text),
        F("name", FIELD_STRING, 0, BK_NAME_MAX, name), NO_FIELD } },
    { "note", BK_REQ_NOTE, BK_ROLE_AGENT, {
        F("conversation", FIELD_ID, 1, BK_ID_MAX, conversation),
        F("cmid", FIELD_STRING, 1, BK_CMID_MAX, cmid),
        F("text", FIELD_TEXT, 1, 0, text), NO_FIELD } },
    { "transfer", BK_REQ_TRANSFER, BK_ROLE_AGENT, {
        F("conversation", FIELD_ID, 1, BK_ID_MAX, conversation),
        F("to", FIELD_ID, 1, BK_ID_MAX, to), NO_FIELD } },
    { "status", BK_REQ_STATUS, BK_ROLE_AGENT, {
        F("status", FIELD_STATUS, 1, 0, status), NO_FIELD } },
    { "visitor", BK_REQ_VISITOR, BK_ROLE_AGENT, {
        F("visitor", FIELD_ID, 1, BK_ID_MAX, visitor), NO_FIELD } },
    { "visitors", BK_REQ_VISITORS, BK_ROLE_AGENT, { NO_FIELD } },
    { "invite", BK_REQ_INVITE, BK_ROLE_AGENT, {
        F("visitor", FIELD_ID, 1, BK_ID_MAX, visitor),
        F("text", FIELD_STRING, 1, BK_INVITE_TEXT_MAX, text), NO_FIELD } },
    { "left_messages", BK_REQ_LEFT_MESSAGES, BK_ROLE_AGENT, { NO_FIELD } },
    { "transcript", BK_REQ_TRANSCRIPT, BK_ROLE_VISITOR, {
        F("email", FIELD_MAILBOX, 1, BK_EMAIL_MAX, email),
        F("conversation", FIELD_ID, 0, BK_ID_MAX, conversation), NO_FIELD } },
    { "email_reply", BK_REQ_EMAIL_REPLY, BK_ROLE_AGENT, {
        F("conversation", FIELD_ID, 0, BK_ID_MAX, conversation),
        F("left", FIELD_STREAM_ID, 0, 41, left),
        F("visitor", FIELD_ID, 0, BK_ID_MAX, visitor),
        F("cmid", FIELD_STRING, 1, BK_CMID_MAX, cmid),
        F("text", FIELD_TEXT, 1, 0, text), NO_FIELD } },
    { "flow_start", BK_REQ_FLOW_START, BK_ROLE_VISITOR, { NO_FIELD } },
    { "flow_choose", BK_REQ_FLOW_CHOOSE, BK_ROLE_VISITOR, {
        F("message", FIELD_STREAM_ID, 1, 41, message_id),
        F("button", FIELD_ID, 1, BK_ID_MAX, button), NO_FIELD } },
    { "flow_email", BK_REQ_FLOW_EMAIL, BK_ROLE_VISITOR, {
        F("message", FIELD_STREAM_ID, 1, 41, message_id),
        F("email", FIELD_MAILBOX, 1, BK_EMAIL_MAX, email), NO_FIELD } },
    { "offer_accept", BK_REQ_OFFER_ACCEPT, BK_ROLE_AGENT, {
        F("conversation", FIELD_ID, 1, BK_ID_MAX, conversation), NO_FIELD } },
    { "offer_decline", BK_REQ_OFFER_DECLINE, BK_ROLE_AGENT, {
        F("conversation", FIELD_ID, 1, BK_ID_MAX, conversation), NO_FIELD } },
    /* Any text is a query (help/help_text.h: words, never a pattern); "" lists the articles. */
    { "help_search", BK_REQ_HELP_SEARCH, BK_ROLE_VISITOR, {
        F("query", FIELD_QUERY, 0, BK_HELP_QUERY_BYTES, query),
        F("category", FIELD_STRING, 0, 64, category),
        F("lang", FIELD_STRING, 0, 35, lang),
        F("suggest", FIELD_BOOL, 0, 0, suggest),
        F("typing", FIELD_BOOL, 0, 0, typing), NO_FIELD } },
    { "help_article", BK_REQ_HELP_ARTICLE, BK_ROLE_VISITOR, {
        F("article", FIELD_ID, 1, BK_ID_MAX, article),
        F("suggested", FIELD_BOOL, 0, 0, suggested), NO_FIELD } },
    { "help_feedback", BK_REQ_HELP_FEEDBACK, BK_ROLE_VISITOR, {
        F("article", FIELD_ID, 1, BK_ID_MAX, article),
        F("helped", FIELD_BOOL, 1, 0, helped),
        F("suggested", FIELD_BOOL, 0, 0, suggested), NO_FIELD } },
};

/* hello's "page": the same fields as a page_view. */
static const shape page_shape = { "hello.page", BK_REQ_HELLO, BK_ROLE_VISITOR, {
    F("url", FIELD_MAYBE_EMPTY, 0, BK_URL_MAX, url),
    F("title", FIELD_MAYBE_EMPTY, 0, BK_TITLE_MAX, title),
    F("referrer", FIELD_MAYBE_EMPTY, 0, BK_URL_MAX, referrer), NO_FIELD } };

void bk_error_set(bk_error *err, const char *code, const char *fmt, ...)
{
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    /* the message quotes client text (a type name, jansson's view of bad JSON) */
    bk_utf8_repair(err->message);
}

/* jansson accepts 2048 levels; we want far fewer, and want to say so before parsing. */
static int depth_within(const char *text, size_t len, int limit)
{
    int depth = 0, in_string = 0;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = 0;
        } else if (c == '"') {
            in_string = 1;
        } else if (c == '{' || c == '[') {
            if (++depth > limit)
                return 0;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return 1;
}

static int field_check(const shape *s, const field *f, json_t *value, bk_request *out, bk_error *err)
{
    void *slot = (char *)out + f->offset;
    switch (f->kind) {
    case FIELD_QUERY:
        if (!json_is_string(value) || json_string_length(value) > f->max ||
            strlen(json_string_value(value)) != json_string_length(value)) {
            bk_error_set(err, BK_ERR_BAD_REQUEST, "%s.%s: expected a string of at most %zu bytes", s->name,
                         f->name, f->max);
            return -1;
        }
        *(const char **)slot = json_string_value(value);
        out->query_len = json_string_length(value);
        return 0;
    case FIELD_STRING:
    case FIELD_MAYBE_EMPTY:
    case FIELD_TEXT:
    case FIELD_ID:
    case FIELD_STREAM_ID: {
        if (!json_is_string(value)) {
            bk_error_set(err, BK_ERR_BAD_REQUEST, "%s.%s: expected a string", s->name, f->name);
            return -1;
        }
        const char *str = json_string_value(value);
        size_t len = json_string_length(value);
        if (len == 0 && f->kind != FIELD_MAYBE_EMPTY) {
            bk_error_set(err, BK_ERR_BAD_REQUEST, "%s.%s: must not be empty", s->name, f->name);
            return -1;
        }
        if (strlen(str) != len) {
            bk_error_set(err, BK_ERR_BAD_REQUEST, "%s.%s: contains a NUL character", s->name, f->name);
            return -1;
        }
        if (f->max && len > f->max) {
            bk_error_set(err, BK_ERR_BAD_REQUEST, "%s.%s: longer than %zu bytes", s->name, f->name, f->max);
            return -1;
        }
        if (f->kind == FIELD_ID && !bk_id_valid(str)) {
            bk_error_set(err, BK_ERR_BAD_REQUEST, "%s.%s: not a valid id", s->name, f->name);
            return -1;
        }
        if (f->kind == FIELD_STREAM_ID && !bk_stream_id_valid(str)) {
            bk_error_set(err, BK_ERR_BAD_REQUEST, "%s.%s: expected a message id like \"1763846400000-0\"",
                         s->name, f->name);
            return -1;
        }
        *(const char **)slot = str;
        if (f->kind == FIELD_TEXT)
            out->text_len = len;
        return 0;
    }
    case FIELD_BOOL:
        if (!json_is_boolean(value)) {
            bk_error_set(err, BK_ERR_BAD_REQUEST, "%s.%s: expected true or false", s->name, f->name);
            return -1;
        }
        *(int *)slot = json_is_true(value);
        return 0;
    case FIELD_SCORE:
        if (!json_is_integer(value) || json_integer_value(value) < 1 || json_integer_value(value) > 5) {
            bk_error_set(err, BK_ERR_BAD_REQUEST, "%s.%s: expected a whole number from 1 to 5",
                         s->name, f->name);
            return -1;
        }
        *(int *)slot = (int)json_integer_value(value);
        return 0;
    case FIELD_ANY_STRING:
        if (json_is_string(value) && json_string_length(value) <= f->max &&
            strlen(json_string_value(value)) == json_string_length(value))
            *(const char **)slot = json_string_value(value);
        return 0;
    case FIELD_OBJECT:
        if (!json_is_object(value)) {
            bk_error_set(err, BK_ERR_BAD_REQUEST, "%s.%s: expected an object", s->name, f->name);
            return -1;
        }
        *(json_t **)slot = value;
        return 0;
    case FIELD_PROPS: {
        if (!json_is_object(value) || json_object_size(value) > BK_PROPS_MAX) {
            bk_error_set(err, BK_ERR_BAD_REQUEST, "%s.%s: expected an object of at most %d members",
                         s->name, f->name, BK_PROPS_MAX);
            return -1;
        }
        const char *key;
        json_t *member;
        json_object_foreach(value, key, member) {
            if (!bk_id_valid(key)) {
                bk_error_set(err, BK_ERR_BAD_REQUEST, "%s.%s: member names are [A-Za-z0-9_-]{1,64}",
                             s->name, f->name);
                return -1;
            }
            if (!(json_is_number(member) || json_is_boolean(member) ||
                  (json_is_string(member) && json_string_length(member) <= BK_PROP_VALUE_MAX))) {
                bk_error_set(err, BK_ERR_BAD_REQUEST, "%s.%s.%s: expected a string (at most %d bytes), "
                             "a number or a bool", s->name, f->name, key, BK_PROP_VALUE_MAX);
                return -1;
            }
        }
        *(json_t **)slot = value;
        return 0;
    }
    case FIELD_EMAIL:
        if (!json_is_string(value) || json_string_length(value) > f->max ||
            !strchr(json_string_value(value), '@') || json_string_length(value) < 3 ||
            strlen(json_string_value(value)) != json_string_length(value)) {
            bk_error_set(err, BK_ERR_BAD_REQUEST, "%s.%s: expected an email address (at most %zu bytes)",
                         s->name, f->name, f->max);
            return -1;
        }
        *(const char **)slot = json_string_value(value);
        return 0;
    case FIELD_MAILBOX:
        if (!json_is_string(value) || strlen(json_string_value(value)) != json_string_length(value) ||
            !bk_mail_address_valid(json_string_value(value))) {
            bk_error_set(err, BK_ERR_BAD_REQUEST, "%s.%s: expected a plain address like name@example.com",
                         s->name, f->name);
            return -1;
        }
        *(const char **)slot = json_string_value(value);
        return 0;
    case FIELD_STATUS:
        if (!json_is_string(value) || (strcmp(json_string_value(value), "online") != 0 &&
                                       strcmp(json_string_value(value), "away") != 0)) {
            bk_error_set(err, BK_ERR_BAD_REQUEST, "%s.%s: expected online or away", s->name, f->name);
            return -1;
        }
        *(const char **)slot = json_string_value(value);
        return 0;
    case FIELD_DEVICE:
        if (!json_is_string(value) || (strcmp(json_string_value(value), "desktop") != 0 &&
                                       strcmp(json_string_value(value), "mobile") != 0 &&
                                       strcmp(json_string_value(value), "tablet") != 0)) {
            bk_error_set(err, BK_ERR_BAD_REQUEST, "%s.%s: expected desktop, mobile or tablet",
                         s->name, f->name);
            return -1;
        }
        *(const char **)slot = json_string_value(value);
        return 0;
    }
    return -1;
}

static int fields_check(const shape *s, json_t *object, bk_request *out, bk_error *err)
{
    for (const field *f = s->fields; f->name; f++) {
        json_t *value = json_object_get(object, f->name);
        if (!value || json_is_null(value)) {
            if (f->required) {
                bk_error_set(err, BK_ERR_BAD_REQUEST, "%s.%s: required", s->name, f->name);
                return -1;
            }
            continue;
        }
        if (field_check(s, f, value, out, err) != 0)
            return -1;
    }
    return 0;
}

int bk_request_parse(bk_role role, const char *text, size_t len, bk_request *out, bk_error *err)
{
    memset(out, 0, sizeof *out);
    if (!depth_within(text, len, BK_JSON_DEPTH_MAX)) {
        bk_error_set(err, BK_ERR_BAD_JSON, "JSON nested deeper than %d levels", BK_JSON_DEPTH_MAX);
        return -1;
    }
    json_error_t json_error;
    /* JSON_ALLOW_NUL: a "\u0000" inside a string is valid JSON; the field checks refuse it
     * with a message that names the field. */
    out->root = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &json_error);
    if (!out->root) {
        bk_error_set(err, BK_ERR_BAD_JSON, "invalid JSON at line %d, column %d: %s",
                     json_error.line, json_error.column, json_error.text);
        return -1;
    }
    if (!json_is_object(out->root)) {
        bk_error_set(err, BK_ERR_BAD_JSON, "expected a JSON object");
        return -1;
    }
    json_t *req = json_object_get(out->root, "req");
    if (req) {
        if (!(json_is_integer(req) || (json_is_string(req) && json_string_length(req) <= BK_REQ_MAX))) {
            bk_error_set(err, BK_ERR_BAD_REQUEST, "req: expected an integer or a string of at most %d bytes",
                         BK_REQ_MAX);
            return -1;
        }
        out->req = req;
    }
    json_t *type = json_object_get(out->root, "type");
    if (!type) {
        bk_error_set(err, BK_ERR_BAD_REQUEST, "type: required");
        return -1;
    }
    if (!json_is_string(type)) {
        bk_error_set(err, BK_ERR_BAD_REQUEST, "type: expected a string");
        return -1;
    }
    const char *name = json_string_value(type);
    const shape *s = NULL;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        if (strcmp(shapes[i].name, name) == 0 && (shapes[i].roles & (int)role)) {
            s = &shapes[i];
            break;
        }
    }
    if (!s) {
        bk_error_set(err, BK_ERR_UNKNOWN_TYPE, "unknown type '%.64s' for %s connections", name,
                     role == BK_ROLE_AGENT ? "agent" : "visitor");
        return -1;
    }
    out->type = s->type;
    out->type_name = s->name;
    if (fields_check(s, out->root, out, err) != 0)
        return -1;
    if (out->page && fields_check(&page_shape, out->page, out, err) != 0)
        return -1;
    if (s->type == BK_REQ_RESUME && !out->since)
        out->since = "0";
    return 0;
}

void bk_request_release(bk_request *request)
{
    if (request->root)
        json_decref(request->root);
    memset(request, 0, sizeof *request);
}

json_t *bk_reply_new(const char *type, json_t *req)
{
    json_t *obj = json_object();
    json_object_set_new(obj, "type", json_string(type));
    if (req)
        json_object_set(obj, "req", req);
    return obj;
}

json_t *bk_reply_error(json_t *req, const char *code, const char *message)
{
    json_t *obj = bk_reply_new("error", req);
    json_object_set_new(obj, "code", json_string(code));
    json_object_set_new(obj, "message", json_string(message));
    return obj;
}
