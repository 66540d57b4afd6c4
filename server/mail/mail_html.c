/* mail_html.c - the text of an HTML-only mail. Not a browser: enough to read what a person
 * wrote in a mail client (paragraphs, line breaks, lists, entities) and to leave out what it
 * quotes. The output is text for the chat, never HTML again. */
#include "mail/mail_in.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct out {
    char *data;
    size_t len, cap;
    int failed;
} out;

static void put(out *o, const char *s, size_t n)
{
    if (o->failed)
        return;
    if (o->len + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 256;
        while (cap < o->len + n + 1)
            cap *= 2;
        char *grown = realloc(o->data, cap);
        if (!grown) {
            o->failed = 1;
            return;
        }
        o->data = grown;
        o->cap = cap;
    }
    memcpy(o->data + o->len, s, n);
    o->len += n;
    o->data[o->len] = '\0';
}

static void newline(out *o)
{
    put(o, "\n", 1);
}

static void utf8_put(out *o, unsigned long c)
{
    char b[4];
    size_t n;
    if (c == 0 || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        c = 0xFFFD;
    if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7F)
        c = ' ';   /* "&#27;" is no way to put a control character into the chat */
    if (c < 0x80) {
        b[0] = (char)c;
        n = 1;
    } else if (c < 0x800) {
        b[0] = (char)(0xC0 | (c >> 6));
        b[1] = (char)(0x80 | (c & 0x3F));
        n = 2;
    } else if (c < 0x10000) {
        b[0] = (char)(0xE0 | (c >> 12));
        b[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        b[2] = (char)(0x80 | (c & 0x3F));
        n = 3;
    } else {
        b[0] = (char)(0xF0 | (c >> 18));
        b[1] = (char)(0x80 | ((c >> 12) & 0x3F));
        b[2] = (char)(0x80 | ((c >> 6) & 0x3F));
        b[3] = (char)(0x80 | (c & 0x3F));
        n = 4;
    }
    put(o, b, n);
}

static const struct { const char *name; unsigned long code; } entities[] = {
    { "amp", '&' }, { "lt", '<' }, { "gt", '>' }, { "quot", '"' }, { "apos", '\'' }, { "nbsp", ' ' },
    { "aelig", 0xE6 }, { "AElig", 0xC6 }, { "oslash", 0xF8 }, { "Oslash", 0xD8 }, { "aring", 0xE5 },
    { "Aring", 0xC5 }, { "auml", 0xE4 }, { "ouml", 0xF6 }, { "uuml", 0xFC }, { "eacute", 0xE9 },
    { "hellip", 0x2026 }, { "ndash", 0x2013 }, { "mdash", 0x2014 }, { "rsquo", 0x2019 }, { "lsquo", 0x2018 },
    { "rdquo", 0x201D }, { "ldquo", 0x201C }, { "euro", 0x20AC }, { "copy", 0xA9 },
};

/* An entity at s (after '&'): its length up to and with ';', and its character; 0 when none. */
static size_t entity_read(const char *s, const char *end, unsigned long *c)
{
    const char *semi = memchr(s, ';', (size_t)(end - s) < 12 ? (size_t)(end - s) : 12);
    if (!semi || semi == s)
        return 0;
    size_t n = (size_t)(semi - s);
    if (s[0] == '#') {
        char digits[12];
        memcpy(digits, s + 1, n - 1);
        digits[n - 1] = '\0';
        char *stop;
        int hex = digits[0] == 'x' || digits[0] == 'X';
        *c = strtoul(digits + hex, &stop, hex ? 16 : 10);
        return *stop || stop == digits + hex ? 0 : n + 1;
    }
    for (size_t i = 0; i < sizeof entities / sizeof *entities; i++)
        if (strlen(entities[i].name) == n && memcmp(entities[i].name, s, n) == 0) {
            *c = entities[i].code;
            return n + 1;
        }
    return 0;
}

static int name_is(const char *tag, size_t n, const char *name)
{
    return strlen(name) == n && strncasecmp(tag, name, n) == 0;
}

/* Whether the tag's attributes mark what a mail client quotes. */
static int quotes(const char *attributes, size_t n)
{
    static const char *const marks[] = { "gmail_quote", "divRplyFwdMsg", "type=\"cite\"", "type=cite",
                                         "moz-cite-prefix", "yahoo_quoted", "OutlookMessageHeader" };
    for (size_t i = 0; i < sizeof marks / sizeof *marks; i++) {
        size_t m = strlen(marks[i]);
        for (size_t k = 0; k + m <= n; k++)
            if (strncasecmp(attributes + k, marks[i], m) == 0)
                return 1;
    }
    return 0;
}

char *bk_mail_html_text(const char *html, size_t len)
{
    out o = { 0 };
    put(&o, "", 0);
    const char *s = html, *end = html + len;
    int space = 0;   /* whitespace seen since the last word */
    int pre = 0;
    while (s < end) {
        if (*s == '<') {
            if (end - s >= 4 && memcmp(s, "<!--", 4) == 0) {
                const char *close = NULL;
                for (const char *k = s + 4; k + 3 <= end; k++)
                    if (memcmp(k, "-->", 3) == 0) {
                        close = k;
                        break;
                    }
                s = close ? close + 3 : end;
                continue;
            }
            const char *gt = memchr(s, '>', (size_t)(end - s));
            if (!gt)
                break;
            const char *name = s + 1;
            int closing = *name == '/';
            if (closing)
                name++;
            size_t n = strcspn(name, " \t\r\n/>");
            if (name + n > gt)
                n = (size_t)(gt - name);
            const char *attributes = name + n;
            s = gt + 1;
            if (!closing && (name_is(name, n, "script") || name_is(name, n, "style") || name_is(name, n, "head") ||
                             name_is(name, n, "title"))) {
                /* skip to its closing tag */
                char close[16] = "</";
                memcpy(close + 2, name, n < 10 ? n : 10);
                size_t cl = 2 + (n < 10 ? n : 10);
                const char *k = s;
                while (k + cl <= end && strncasecmp(k, close, cl) != 0)
                    k++;
                const char *after = k + cl <= end ? memchr(k, '>', (size_t)(end - k)) : NULL;
                s = after ? after + 1 : end;
                continue;
            }
            if (!closing && (name_is(name, n, "blockquote") || quotes(attributes, (size_t)(gt - attributes)))) {
                break;  /* what follows is the quoted mail: the reply is above it */
            }
            if (name_is(name, n, "br")) {
                newline(&o);
                space = 0;
            } else if (name_is(name, n, "p") || name_is(name, n, "div") || name_is(name, n, "tr") ||
                       name_is(name, n, "li") || name_is(name, n, "h1") || name_is(name, n, "h2") ||
                       name_is(name, n, "h3") || name_is(name, n, "table") || name_is(name, n, "ul") ||
                       name_is(name, n, "ol") || name_is(name, n, "hr")) {
                if (o.len && o.data[o.len - 1] != '\n')
                    newline(&o);
                if (!closing && name_is(name, n, "li"))
                    put(&o, "- ", 2);
                if (closing && name_is(name, n, "p"))
                    newline(&o);
                space = 0;
            } else if (name_is(name, n, "pre")) {
                pre = !closing;
            }
            continue;
        }
        if (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n') {
            if (pre)
                put(&o, *s == '\r' ? "" : s, *s == '\r' ? 0 : 1);
            else
                space = 1;
            s++;
            continue;
        }
        if (space && o.len && o.data[o.len - 1] != '\n')
            put(&o, " ", 1);
        space = 0;
        unsigned long c;
        size_t n;
        if (*s == '&' && (n = entity_read(s + 1, end, &c)) > 0) {
            utf8_put(&o, c);
            s += 1 + n;
            continue;
        }
        put(&o, s, 1);
        s++;
    }
    if (o.failed) {
        free(o.data);
        return NULL;
    }
    /* no more than one blank line in a row, none at the ends */
    char *w = o.data, *r = o.data;
    while (*r == '\n')
        r++;
    int newlines = 0;
    for (; *r; r++) {
        if (*r == '\n') {
            if (++newlines > 2)
                continue;
        } else {
            newlines = 0;
        }
        *w++ = *r;
    }
    while (w > o.data && (w[-1] == '\n' || w[-1] == ' '))
        w--;
    *w = '\0';
    return o.data;
}
