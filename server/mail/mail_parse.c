/* mail_parse.c - an inbound message through GMime: headers, the text part, attachments. */
#include "mail/mail_in.h"

#include "base/utf8.h"

#include <gmime/gmime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void bk_mail_in_init(void)
{
    static int done;
    if (!done) {
        done = 1;
        g_mime_init();
    }
}

static char *copy(const char *s)
{
    return strdup(s ? s : "");
}

/* The text as valid UTF-8 at most BK_MAIL_IN_TEXT_MAX bytes: a part that claims a charset it
 * is not in (or none) is read as windows-1252, which maps every byte, before bytes are
 * replaced. */
static char *text_utf8(const char *s)
{
    size_t len = strlen(s);
    char *out;
    if (bk_utf8_valid(s, len)) {
        out = strdup(s);
    } else {
        gsize written = 0;
        gchar *converted = g_convert(s, (gssize)len, "UTF-8", "WINDOWS-1252", NULL, &written, NULL);
        out = strdup(converted ? converted : s);
        g_free(converted);
    }
    if (!out)
        return NULL;
    if (strlen(out) > BK_MAIL_IN_TEXT_MAX)
        out[BK_MAIL_IN_TEXT_MAX] = '\0';  /* a character cut short at the end is dropped below */
    bk_utf8_repair(out);
    /* CRLF and lone CR to LF, and no NUL or other controls but tab and line ends */
    char *w = out;
    for (const char *r = out; *r; r++) {
        if (*r == '\r') {
            *w++ = '\n';
            if (r[1] == '\n')
                r++;
        } else if ((unsigned char)*r < 0x20 && *r != '\n' && *r != '\t') {
            continue;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
    return out;
}

static int header_is(GMimeObject *object, const char *name, const char *const *values)
{
    const char *v = g_mime_object_get_header(object, name);
    if (!v)
        return 0;
    while (*v == ' ' || *v == '\t')
        v++;
    for (; *values; values++)
        if (strncasecmp(v, *values, strlen(*values)) == 0)
            return 1;
    return 0;
}

/* RFC 3834 and what auto-responders and bounce senders do besides: never a person's reply. */
static const char *automatic_why(GMimeMessage *message, const char *envelope_sender, const char *from)
{
    GMimeObject *o = GMIME_OBJECT(message);
    const char *auto_submitted = g_mime_object_get_header(o, "Auto-Submitted");
    if (auto_submitted) {
        while (*auto_submitted == ' ')
            auto_submitted++;
        if (strncasecmp(auto_submitted, "no", 2) != 0 || (auto_submitted[2] && auto_submitted[2] != ' ' &&
                                                           auto_submitted[2] != ';'))
            return "Auto-Submitted";
    }
    if (envelope_sender && !envelope_sender[0])
        return "the null sender (a bounce)";
    const char *return_path = g_mime_object_get_header(o, "Return-Path");
    if (return_path && strstr(return_path, "<>"))
        return "Return-Path <> (a bounce)";
    static const char *const any[] = { "", NULL };
    if (header_is(o, "X-Autoreply", any) || header_is(o, "X-Autorespond", any) ||
        header_is(o, "X-Auto-Response", any))
        return "an auto-responder's header";
    static const char *const precedence[] = { "bulk", "junk", "list", "auto_reply", NULL };
    if (header_is(o, "Precedence", precedence))
        return "Precedence";
    static const char *const list[] = { "", NULL };
    if (header_is(o, "List-Id", list))
        return "a mailing list";
    GMimeObject *body = g_mime_message_get_mime_part(message);
    if (body) {
        GMimeContentType *type = g_mime_object_get_content_type(body);
        if (type && (g_mime_content_type_is_type(type, "multipart", "report") ||
                     g_mime_content_type_is_type(type, "message", "delivery-status")))
            return "a delivery report";
    }
    if (strncasecmp(from, "mailer-daemon@", 14) == 0 || strncasecmp(from, "postmaster@", 11) == 0)
        return "a mailer daemon";
    return NULL;
}

static void addresses_add(bk_mail_in *in, InternetAddressList *list)
{
    if (!list)
        return;
    int n = internet_address_list_length(list);
    for (int i = 0; i < n && in->recipient_count < BK_MAIL_IN_RECIPIENTS_MAX; i++) {
        InternetAddress *a = internet_address_list_get_address(list, i);
        if (INTERNET_ADDRESS_IS_MAILBOX(a)) {
            const char *addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(a));
            if (addr && *addr)
                in->recipients[in->recipient_count++] = copy(addr);
        } else if (INTERNET_ADDRESS_IS_GROUP(a)) {
            addresses_add(in, internet_address_group_get_members(INTERNET_ADDRESS_GROUP(a)));
        }
    }
}

static void header_addresses_add(bk_mail_in *in, GMimeObject *o, const char *name)
{
    const char *v = g_mime_object_get_header(o, name);
    if (!v)
        return;
    InternetAddressList *list = internet_address_list_parse(NULL, v);
    addresses_add(in, list);
    if (list)
        g_object_unref(list);
}

static void references_add(bk_mail_in *in, const char *value, int newest_first)
{
    if (!value)
        return;
    GMimeReferences *refs = g_mime_references_parse(NULL, value);
    if (!refs)
        return;
    int n = g_mime_references_length(refs);
    for (int k = 0; k < n && in->reference_count < BK_MAIL_IN_REFERENCES_MAX; k++) {
        const char *id = g_mime_references_get_message_id(refs, newest_first ? n - 1 - k : k);
        if (id && *id)
            in->references[in->reference_count++] = copy(id);
    }
    g_mime_references_free(refs);
}

/* ---- the body ------------------------------------------------------------------------------ */

typedef struct walk {
    GMimeTextPart *plain, *html;
    int parts;
} walk;

/* The decoded bytes of a part (malloc'd, *size of them), or NULL. Bounded by the mail itself:
 * a transfer encoding never decodes to more bytes than it has, and the mail is at most
 * mail-max-bytes (checked before the parse). */
static char *decoded_bytes(GMimePart *part, size_t *size)
{
    *size = 0;
    GMimeDataWrapper *content = g_mime_part_get_content(part);
    if (!content)
        return NULL;
    GByteArray *array = g_byte_array_new();
    GMimeStream *sink = g_mime_stream_mem_new_with_byte_array(array);
    g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(sink), FALSE);
    ssize_t n = g_mime_data_wrapper_write_to_stream(content, sink);
    g_object_unref(sink);
    char *bytes = NULL;
    if (n > 0 && (bytes = malloc(array->len ? array->len : 1)) != NULL) {
        memcpy(bytes, array->data, array->len);
        *size = array->len;
    }
    g_byte_array_free(array, TRUE);
    return bytes;
}

static void attachment_add(bk_mail_in *in, GMimeObject *object, const char *name, GMimePart *part)
{
    if (in->attachment_count >= BK_MAIL_IN_ATTACHMENTS_MAX) {
        in->attachments_more++;
        return;
    }
    GMimeContentType *type = g_mime_object_get_content_type(object);
    char *mime = type ? g_mime_content_type_get_mime_type(type) : NULL;
    bk_mail_attachment *a = &in->attachments[in->attachment_count++];
    a->name = text_utf8(name ? name : "");
    a->type = text_utf8(mime ? mime : "application/octet-stream");
    a->bytes = part ? decoded_bytes(part, &a->size) : NULL;
    g_free(mime);
}

static void body_walk(bk_mail_in *in, walk *w, GMimeObject *object, int depth)
{
    if (!object || ++w->parts > BK_MAIL_IN_PARTS_MAX || depth > BK_MAIL_IN_DEPTH_MAX)
        return;
    if (GMIME_IS_MULTIPART(object)) {
        GMimeMultipart *multi = GMIME_MULTIPART(object);
        int n = g_mime_multipart_get_count(multi);
        for (int i = 0; i < n; i++)
            body_walk(in, w, g_mime_multipart_get_part(multi, i), depth + 1);
        return;
    }
    if (GMIME_IS_MESSAGE_PART(object)) {  /* a forwarded mail: an attachment of its own */
        attachment_add(in, object, "message.eml", NULL);
        return;
    }
    if (!GMIME_IS_PART(object))
        return;
    GMimePart *part = GMIME_PART(object);
    GMimeContentDisposition *disposition = g_mime_object_get_content_disposition(object);
    int attached = disposition && g_mime_content_disposition_is_attachment(disposition);
    GMimeContentType *type = g_mime_object_get_content_type(object);
    if (!attached && GMIME_IS_TEXT_PART(object) && type) {
        if (!w->plain && g_mime_content_type_is_type(type, "text", "plain")) {
            w->plain = GMIME_TEXT_PART(object);
            return;
        }
        if (!w->html && g_mime_content_type_is_type(type, "text", "html")) {
            w->html = GMIME_TEXT_PART(object);
            return;
        }
    }
    /* what is not the text: an alternative we did not choose is not an attachment */
    if (!attached && type && g_mime_content_type_is_type(type, "text", "*"))
        return;
    attachment_add(in, object, g_mime_part_get_filename(part), part);
}

static int body_read(bk_mail_in *in, GMimeMessage *message, char *err, size_t err_size)
{
    walk w = { 0 };
    body_walk(in, &w, g_mime_message_get_mime_part(message), 0);
    GMimeTextPart *chosen = w.plain ? w.plain : w.html;
    char *raw = chosen ? g_mime_text_part_get_text(chosen) : NULL;
    char *text = raw ? text_utf8(raw) : NULL;
    g_free(raw);
    if (!text && in->attachment_count > 0)   /* the files are the message */
        text = copy("");
    if (!text) {
        snprintf(err, err_size, "the message has no text");
        return -1;
    }
    if (!w.plain && chosen) {
        char *plain = bk_mail_html_text(text, strlen(text));
        free(text);
        if (!plain) {
            snprintf(err, err_size, "out of memory");
            return -1;
        }
        text = plain;
        in->from_html = 1;
    }
    in->original = text;
    in->text = bk_mail_quote_cut(text);
    if (!in->text) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    return 0;
}

int bk_mail_in_parse(const char *raw, size_t len, const char *envelope_sender, bk_mail_in *out,
                     char *err, size_t err_size)
{
    memset(out, 0, sizeof *out);
    GMimeStream *stream = g_mime_stream_mem_new_with_buffer(raw, len);
    GMimeParser *parser = g_mime_parser_new_with_stream(stream);
    g_object_unref(stream);
    GMimeMessage *message = g_mime_parser_construct_message(parser, NULL);
    g_object_unref(parser);
    if (!message) {
        snprintf(err, err_size, "not a mail message (no headers could be read)");
        return -1;
    }
    GMimeObject *o = GMIME_OBJECT(message);
    out->message_id = copy(g_mime_message_get_message_id(message));
    const char *subject = g_mime_message_get_subject(message);
    out->subject = text_utf8(subject ? subject : "");
    InternetAddressList *from = g_mime_message_get_from(message);
    InternetAddress *first = from && internet_address_list_length(from) > 0
                             ? internet_address_list_get_address(from, 0) : NULL;
    out->from = text_utf8(first && INTERNET_ADDRESS_IS_MAILBOX(first) &&
                          internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(first))
                          ? internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(first)) : "");
    out->from_name = text_utf8(first && internet_address_get_name(first) ? internet_address_get_name(first) : "");
    references_add(out, g_mime_object_get_header(o, "In-Reply-To"), 0);
    references_add(out, g_mime_object_get_header(o, "References"), 1);
    header_addresses_add(out, o, "Delivered-To");
    header_addresses_add(out, o, "X-Original-To");
    addresses_add(out, g_mime_message_get_addresses(message, GMIME_ADDRESS_TYPE_TO));
    addresses_add(out, g_mime_message_get_addresses(message, GMIME_ADDRESS_TYPE_CC));
    out->automatic = automatic_why(message, envelope_sender, out->from ? out->from : "");
    for (int i = 0; i < g_mime_header_list_get_count(g_mime_object_get_header_list(o)); i++) {
        GMimeHeader *h = g_mime_header_list_get_header_at(g_mime_object_get_header_list(o), i);
        if (strncasecmp(g_mime_header_get_name(h), "X-Beckon-", 9) == 0)
            out->has_beckon_header = 1;
    }
    int rc = 0;
    if (!out->message_id || !out->subject || !out->from || !out->from_name) {
        snprintf(err, err_size, "out of memory");
        rc = -1;
    } else if (!out->automatic) {
        /* an automatic mail is dropped unread: its body is not worth the work */
        rc = body_read(out, message, err, err_size);
    }
    g_object_unref(message);
    if (rc != 0)
        bk_mail_in_free(out);
    return rc;
}

void bk_mail_in_free(bk_mail_in *in)
{
    free(in->message_id);
    free(in->from);
    free(in->from_name);
    free(in->subject);
    for (size_t i = 0; i < in->reference_count; i++)
        free(in->references[i]);
    for (size_t i = 0; i < in->recipient_count; i++)
        free(in->recipients[i]);
    for (size_t i = 0; i < in->attachment_count; i++) {
        free(in->attachments[i].name);
        free(in->attachments[i].type);
        free(in->attachments[i].bytes);
    }
    free(in->text);
    free(in->original);
    memset(in, 0, sizeof *in);
}
