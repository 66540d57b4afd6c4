/* mail_text.c - the pure pieces of a mail: address check, encodings, the SMTP reply reader.
 * No I/O: the fuzzers and unit tests link it alone. */
#include "transport/mail.h"

#include "base/utf8.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- a growable buffer ------------------------------------------------------------------ */

typedef struct buf {
    char *data;
    size_t len, cap;
    int failed;
} buf;

static void buf_add(buf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *grown = realloc(b->data, cap);
        if (!grown) {
            b->failed = 1;
            return;
        }
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void buf_str(buf *b, const char *s)
{
    buf_add(b, s, strlen(s));
}

/* Returns the text (the caller frees it), or NULL when memory ran out. */
static char *buf_take(buf *b, size_t *len)
{
    if (b->failed || !b->data) {
        free(b->data);
        return NULL;
    }
    if (len)
        *len = b->len;
    return b->data;
}

/* ---- addresses ---------------------------------------------------------------------------- */

static int is_atext(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+/=?^_`{|}~-", c));
}

static int is_let_dig(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

int bk_mail_address_valid(const char *address)
{
    if (!address)
        return 0;
    size_t len = strlen(address);
    const char *at = strchr(address, '@');
    if (len < 6 || len > 254 || !at || strchr(at + 1, '@'))
        return 0;
    size_t local_len = (size_t)(at - address);
    if (local_len == 0 || local_len > 64)
        return 0;
    /* dot-atom: no leading, trailing or doubled dot */
    for (size_t i = 0; i < local_len; i++) {
        unsigned char c = (unsigned char)address[i];
        if (c == '.') {
            if (i == 0 || i == local_len - 1 || address[i - 1] == '.')
                return 0;
        } else if (!is_atext(c)) {
            return 0;
        }
    }
    const char *domain = at + 1;
    int labels = 0;
    for (const char *label = domain;;) {
        const char *end = strchr(label, '.');
        size_t n = end ? (size_t)(end - label) : strlen(label);
        if (n == 0 || n > 63 || !is_let_dig((unsigned char)label[0]) ||
            !is_let_dig((unsigned char)label[n - 1]))
            return 0;
        for (size_t i = 0; i < n; i++)
            if (!is_let_dig((unsigned char)label[i]) && label[i] != '-')
                return 0;
        labels++;
        if (!end)
            break;
        label = end + 1;
    }
    return labels >= 2;
}

/* ---- encodings ---------------------------------------------------------------------------- */

static const char base64_digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void base64_add(buf *b, const unsigned char *in, size_t len)
{
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)in[i] << 16;
        if (i + 1 < len)
            v |= (unsigned)in[i + 1] << 8;
        if (i + 2 < len)
            v |= in[i + 2];
        char out[4] = { base64_digits[(v >> 18) & 63], base64_digits[(v >> 12) & 63],
                        i + 1 < len ? base64_digits[(v >> 6) & 63] : '=',
                        i + 2 < len ? base64_digits[v & 63] : '=' };
        buf_add(b, out, 4);
    }
}

/* Bytes of UTF-8 text per encoded word: "=?UTF-8?B?" + 60 base64 digits + "?=" is 72, within
 * the 75 RFC 2047 allows, and each folded line stays short. */
#define WORD_BYTES 45

char *bk_mail_header_encode(const char *value)
{
    buf b = { 0 };
    size_t len = strlen(value);
    int plain = len <= 900;
    for (size_t i = 0; i < len && plain; i++)
        if ((unsigned char)value[i] < 0x20 || (unsigned char)value[i] > 0x7e)
            plain = 0;
    /* text that merely looks like an encoded word must not be decoded as one */
    if (plain && !strstr(value, "=?")) {
        buf_add(&b, value, len);
        if (!b.data)
            buf_add(&b, "", 0);
        return buf_take(&b, NULL);
    }
    size_t i = 0;
    if (len == 0)
        buf_add(&b, "", 0);
    while (i < len) {
        size_t n = len - i < WORD_BYTES ? len - i : WORD_BYTES;
        /* never split a character: back up to the start of one */
        if (i + n < len)
            while (n > 1 && ((unsigned char)value[i + n] & 0xC0) == 0x80)
                n--;
        if (i > 0)
            buf_str(&b, "\r\n ");
        buf_str(&b, "=?UTF-8?B?");
        base64_add(&b, (const unsigned char *)value + i, n);
        buf_str(&b, "?=");
        i += n;
    }
    return buf_take(&b, NULL);
}

/* The line ending at text[i] (CR, LF or CRLF): its length, or 0 when text[i] ends no line. */
static size_t line_end_at(const char *text, size_t len, size_t i)
{
    if (text[i] == '\n')
        return 1;
    if (text[i] == '\r')
        return i + 1 < len && text[i + 1] == '\n' ? 2 : 1;
    return 0;
}

char *bk_mail_qp_encode(const char *text, size_t len, size_t *out_len)
{
    static const char hex[] = "0123456789ABCDEF";
    buf b = { 0 };
    size_t column = 0;
    buf_add(&b, "", 0);
    for (size_t i = 0; i < len; i++) {
        size_t eol = line_end_at(text, len, i);
        if (eol) {
            buf_str(&b, "\r\n");
            column = 0;
            i += eol - 1;
            continue;
        }
        unsigned char c = (unsigned char)text[i];
        int at_line_end = i + 1 == len || line_end_at(text, len, i + 1);
        char token[3];
        size_t n = 1;
        if ((c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !at_line_end)) {
            token[0] = (char)c;
        } else {
            token[0] = '=';
            token[1] = hex[c >> 4];
            token[2] = hex[c & 15];
            n = 3;
        }
        /* a soft break ("=" CRLF) keeps every line within 76 bytes, the '=' included */
        if (column + n > 75) {
            buf_str(&b, "=\r\n");
            column = 0;
        }
        buf_add(&b, token, n);
        column += n;
    }
    return buf_take(&b, out_len);
}

char *bk_mail_dot_stuff(const char *text, size_t len, size_t *out_len)
{
    buf b = { 0 };
    buf_add(&b, "", 0);
    int line_start = 1;
    for (size_t i = 0; i < len; i++) {
        if (line_start && text[i] == '.')
            buf_add(&b, ".", 1);
        buf_add(&b, text + i, 1);
        line_start = text[i] == '\n' && i > 0 && text[i - 1] == '\r';
    }
    if (len < 2 || text[len - 2] != '\r' || text[len - 1] != '\n')
        buf_str(&b, "\r\n");
    buf_str(&b, ".\r\n");
    return buf_take(&b, out_len);
}

void bk_mail_date(int64_t ms, char out[40])
{
    static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
    static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    /* by hand: strftime's names follow the locale */
    snprintf(out, 40, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday % 7], tm.tm_mday,
             months[tm.tm_mon % 12], (tm.tm_year + 1900) % 10000, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* An optional header's value: absent (NULL), or one line within max bytes. */
static int line_ok(const char *value, size_t max)
{
    return !value || (!strpbrk(value, "\r\n") && strlen(value) <= max);
}

/* A display name as RFC 2047 words whatever it holds: quotes, commas and angle brackets in a
 * visitor-facing name are text, never address syntax. */
static void name_add(buf *b, const char *name)
{
    size_t len = strlen(name), i = 0;
    while (i < len) {
        size_t n = len - i < WORD_BYTES ? len - i : WORD_BYTES;
        if (i + n < len)
            while (n > 1 && ((unsigned char)name[i + n] & 0xC0) == 0x80)
                n--;
        buf_str(b, i ? "\r\n =?UTF-8?B?" : "=?UTF-8?B?");
        base64_add(b, (const unsigned char *)name + i, n);
        buf_str(b, "?=");
        i += n;
    }
}

static void header_add(buf *b, const char *name, const char *value)
{
    if (!value)
        return;
    buf_str(b, "\r\n");
    buf_str(b, name);
    buf_str(b, ": ");
    buf_str(b, value);
}

char *bk_mail_message_format(const bk_mail_message *m, size_t *out_len)
{
    if (!bk_mail_address_valid(m->from) || !bk_mail_address_valid(m->to) ||
        strpbrk(m->message_id, "\r\n") || strlen(m->message_id) > BK_MAIL_MESSAGE_ID_MAX ||
        (m->reply_to && !bk_mail_address_valid(m->reply_to)) || !line_ok(m->in_reply_to, BK_MAIL_REFERENCES_MAX) ||
        !line_ok(m->references, BK_MAIL_REFERENCES_MAX) ||
        (m->conversation && (strlen(m->conversation) > 64 ||
                             strspn(m->conversation, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") !=
                             strlen(m->conversation))))
        return NULL;
    char date[40];
    bk_mail_date(m->date_ms, date);
    char *subject = bk_mail_header_encode(m->subject);
    size_t body_len = 0;
    char *body = bk_mail_qp_encode(m->body, strlen(m->body), &body_len);
    buf b = { 0 };
    if (subject && body) {
        buf_str(&b, "From: ");
        if (m->from_name && m->from_name[0]) {
            name_add(&b, m->from_name);
            buf_str(&b, " <");
            buf_str(&b, m->from);
            buf_str(&b, ">");
        } else {
            buf_str(&b, m->from);
        }
        header_add(&b, "Reply-To", m->reply_to);
        buf_str(&b, "\r\nTo: ");
        buf_str(&b, m->to);
        buf_str(&b, "\r\nSubject: ");
        buf_str(&b, subject);
        buf_str(&b, "\r\nDate: ");
        buf_str(&b, date);
        buf_str(&b, "\r\nMessage-ID: ");
        buf_str(&b, m->message_id);
        header_add(&b, "In-Reply-To", m->in_reply_to);
        header_add(&b, "References", m->references);
        header_add(&b, "X-Beckon-Conversation", m->conversation);
        buf_str(&b, "\r\nMIME-Version: 1.0\r\n"
                    "Content-Type: text/plain; charset=utf-8\r\n"
                    "Content-Transfer-Encoding: quoted-printable\r\n");
        buf_str(&b, m->written_by_person ? "\r\n" : "Auto-Submitted: auto-generated\r\n\r\n");
        buf_add(&b, body, body_len);
    } else {
        b.failed = 1;
    }
    free(subject);
    free(body);
    return buf_take(&b, out_len);
}

/* ---- the reply reader --------------------------------------------------------------------- */

void bk_smtp_reader_reset(bk_smtp_reader *r)
{
    r->line_len = 0;
    r->code = 0;
    r->text_len = 0;
    r->text[0] = '\0';
}

/* One whole line (CRLF or LF removed): 1 when it was the reply's last, 0 when more follow,
 * -1 when it is not a reply line. */
static int reader_line(bk_smtp_reader *r)
{
    const char *l = r->line;
    size_t n = r->line_len;
    if (n < 3 || l[0] < '2' || l[0] > '5' || l[1] < '0' || l[1] > '9' || l[2] < '0' || l[2] > '9')
        return -1;
    if (n > 3 && l[3] != ' ' && l[3] != '-')
        return -1;
    int code = (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0');
    if (r->code && r->code != code)
        return -1;
    r->code = code;
    size_t text = n > 4 ? n - 4 : 0;
    if (r->text_len && r->text_len + 1 < sizeof r->text)
        r->text[r->text_len++] = '\n';
    if (text > sizeof r->text - 1 - r->text_len)
        text = sizeof r->text - 1 - r->text_len;
    memcpy(r->text + r->text_len, l + 4, text);
    r->text_len += text;
    r->text[r->text_len] = '\0';
    return n > 3 && l[3] == '-' ? 0 : 1;
}

int bk_smtp_reader_feed(bk_smtp_reader *r, const char *data, size_t len, size_t *used)
{
    for (size_t i = 0; i < len; i++) {
        char c = data[i];
        if (c != '\n') {
            if (r->line_len + 1 >= sizeof r->line)
                return -1;
            r->line[r->line_len++] = c;
            continue;
        }
        if (r->line_len && r->line[r->line_len - 1] == '\r')
            r->line_len--;
        int rc = reader_line(r);
        r->line_len = 0;
        if (rc < 0)
            return -1;
        if (rc == 1) {
            *used = i + 1;
            return 1;
        }
    }
    *used = len;
    return 0;
}

size_t bk_mail_base64(const void *in, size_t len, char *out, size_t out_size)
{
    buf b = { 0 };
    base64_add(&b, in, len);
    size_t n = 0;
    char *text = buf_take(&b, &n);
    if (!text || n + 1 > out_size) {
        free(text);
        return 0;
    }
    memcpy(out, text, n + 1);
    free(text);
    return n;
}
