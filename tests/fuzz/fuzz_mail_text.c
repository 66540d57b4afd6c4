/* fuzz_mail_text.c - libFuzzer target for the pure pieces of a mail (server/transport/mail_text.c).
 *
 * Input: byte 0 picks the operation, byte 1 how the SMTP reader's input is cut into pieces,
 * the rest is the text. Every text is handed over in an exact-size heap copy, so ASan sees
 * any read past it. Checked, per operation:
 *   0 bk_mail_address_valid: agrees with a reference written from mail.h's description (and
 *     an accepted address has one '@', no CR, LF, NUL, space or other control character,
 *     only ASCII, at most 254 bytes);
 *   1 bk_smtp_reader_feed: the replies (code, text) and the point of failure do not depend on
 *     how the bytes are cut into reads, and agree with a reference reading of the whole text
 *     (lines end at LF, one CR before it dropped; "DDD-" continues, "DDD " or "DDD" ends; a
 *     line over BK_SMTP_LINE_MAX - 1 bytes, a line without a code or another code within a
 *     reply is an error; the text is the lines' texts joined by '\n', cut at
 *     BK_SMTP_TEXT_MAX - 1 bytes, where empty texts before the first non-empty one add no
 *     '\n');
 *   2 bk_mail_header_encode: no CR or LF except CRLF + space (folding); plain output is the
 *     input unchanged (printable ASCII, at most 900 bytes, no "=?"); otherwise every line is
 *     one RFC 2047 word of at most 75 bytes, the words decode to the input, and for valid
 *     UTF-8 input each word holds whole characters;
 *   3 bk_mail_qp_encode: lines of at most 76 bytes ending in CRLF, only printable ASCII,
 *     space and tab, no trailing white space, '=' only as "=XX" or a soft break; it decodes
 *     to the input with every line end (CR, LF, CRLF) turned into CRLF;
 *   4 bk_mail_dot_stuff: ends with CRLF "." CRLF, un-stuffs to the input (plus CRLF), and for
 *     input without bare CR or LF no earlier line is a lone ".";
 *   5 bk_mail_message_format, fields split at 0xFF bytes (from, to, subject, message id,
 *     body): NULL exactly when an address is invalid or the id holds CR/LF; else no bare CR
 *     or LF, header lines at most 998 bytes, only "Name: value" lines and continuations
 *     before the blank line. */
#include "transport/mail.h"

#include "fuzz_util.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                            \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "fuzz_mail_text: property failed: %s (%s:%d)\n", #cond, __FILE__, \
                    __LINE__);                                                                 \
            abort();                                                                           \
        }                                                                                      \
    } while (0)

/* An exact-size, NUL-terminated heap copy. */
static char *copy_str(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    CHECK(s != NULL);
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* ---- 0: addresses ------------------------------------------------------------------------- */

static int ref_atext(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+/=?^_`{|}~-", c) != NULL);
}

static int ref_letdig(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* mail.h: local@domain, at most 254 bytes; local part dot-separated atoms, at most 64 bytes;
 * domain at least two dot-separated labels of letters, digits and inner hyphens (each at
 * most 63 bytes, RFC 1035). The code also wants 6 bytes at least ("a@b.co"): no top-level
 * domain has one letter. */
static int ref_address_valid(const char *s)
{
    size_t len = strlen(s);
    if (len < 6 || len > 254)
        return 0;
    const char *at = strchr(s, '@');
    if (!at || strchr(at + 1, '@'))
        return 0;
    size_t local = (size_t)(at - s);
    if (local < 1 || local > 64)
        return 0;
    size_t atom = 0;
    for (size_t i = 0; i <= local; i++) {
        if (i == local || s[i] == '.') {
            if (atom == 0)
                return 0;  /* empty atom: a leading, trailing or doubled dot */
            atom = 0;
        } else if (!ref_atext((unsigned char)s[i])) {
            return 0;
        } else {
            atom++;
        }
    }
    const char *d = at + 1;
    size_t dlen = strlen(d), label = 0;
    int labels = 0;
    for (size_t i = 0; i <= dlen; i++) {
        if (i == dlen || d[i] == '.') {
            if (label == 0 || label > 63 || d[i - 1] == '-')
                return 0;
            labels++;
            label = 0;
        } else if (ref_letdig((unsigned char)d[i]) || (d[i] == '-' && label > 0)) {
            label++;
        } else {
            return 0;
        }
    }
    return labels >= 2;
}

static void op_address(const uint8_t *data, size_t size)
{
    char *s = copy_str(data, size);
    int ok = bk_mail_address_valid(s);
    CHECK(ok == 0 || ok == 1);
    if (ok != ref_address_valid(s)) {
        fprintf(stderr, "fuzz_mail_text: address \"%s\": bk_mail_address_valid %d, reference %d\n", s, ok, !ok);
        CHECK(!"address check differs from the reference");
    }
    if (ok) {
        size_t len = strlen(s);
        CHECK(len <= 254);
        CHECK(strchr(s, '@') && strchr(s, '@') == strrchr(s, '@'));
        for (size_t i = 0; i < len; i++)
            CHECK((unsigned char)s[i] > 0x20 && (unsigned char)s[i] < 0x7f);
    }
    free(s);
}

/* ---- 1: the SMTP reply reader --------------------------------------------------------------- */

#define REPLIES_MAX 64

typedef struct reply {
    int code;
    size_t text_len;
    char text[BK_SMTP_TEXT_MAX];
} reply;

typedef struct outcome {
    reply replies[REPLIES_MAX];
    int count;
    int error;     /* the bytes stopped being SMTP */
    int pending;   /* a reply (or line) was begun and not finished */
} outcome;

static void outcome_add(outcome *o, int code, const char *text, size_t text_len)
{
    CHECK(text_len < BK_SMTP_TEXT_MAX);
    if (o->count < REPLIES_MAX) {
        o->replies[o->count].code = code;
        o->replies[o->count].text_len = text_len;
        memcpy(o->replies[o->count].text, text, text_len);
    }
    o->count++;
}

/* Feeds the text to the reader in pieces of the sizes `piece` gives (0: all at once), each
 * in its own exact-size heap copy. */
static void reader_run(const uint8_t *data, size_t size, unsigned piece_seed, outcome *o)
{
    memset(o, 0, sizeof *o);
    bk_smtp_reader *r = malloc(sizeof *r);
    CHECK(r != NULL);
    memset(r, 0x5a, sizeof *r);
    bk_smtp_reader_reset(r);
    size_t at = 0;
    unsigned state = piece_seed;
    while (at < size) {
        size_t n = size - at;
        if (piece_seed) {
            state = state * 1103515245u + 12345u;
            size_t want = 1 + (state >> 16) % (piece_seed % 37 + 1);
            if (want < n)
                n = want;
        }
        char *piece = malloc(n);
        CHECK(piece != NULL);
        memcpy(piece, data + at, n);
        const char *p = piece;
        size_t left = n;
        for (;;) {
            size_t used = (size_t)-1;
            int rc = bk_smtp_reader_feed(r, p, left, &used);
            CHECK(rc >= -1 && rc <= 1);
            CHECK(r->line_len < BK_SMTP_LINE_MAX);
            CHECK(r->text_len < BK_SMTP_TEXT_MAX && r->text[r->text_len] == '\0');
            if (rc < 0) {
                o->error = 1;
                free(piece);
                free(r);
                return;
            }
            CHECK(used <= left);
            if (rc == 0) {
                CHECK(used == left);
                break;
            }
            CHECK(used >= 1 && p[used - 1] == '\n');
            CHECK(r->code >= 200 && r->code <= 599);
            outcome_add(o, r->code, r->text, r->text_len);
            bk_smtp_reader_reset(r);
            p += used;
            left -= used;
            if (left == 0)
                break;
        }
        free(piece);
        at += n;
    }
    o->pending = r->line_len > 0 || r->code != 0;
    free(r);
}

/* The same reading, written plainly: whole lines of the whole text. */
static void reader_reference(const uint8_t *data, size_t size, outcome *o)
{
    memset(o, 0, sizeof *o);
    char *joined = malloc(size + 1);
    CHECK(joined != NULL);
    size_t joined_len = 0;
    int code = 0;
    size_t start = 0;
    while (start < size) {
        const uint8_t *lf = memchr(data + start, '\n', size - start);
        size_t n = (lf ? (size_t)(lf - data) : size) - start;
        if (n > BK_SMTP_LINE_MAX - 1) {  /* the reader holds 1023 bytes, CR included */
            o->error = 1;
            break;
        }
        if (!lf) {
            o->pending = 1;
            break;
        }
        const char *l = (const char *)data + start;
        if (n > 0 && l[n - 1] == '\r')
            n--;
        int line_code = n >= 3 && l[0] >= '2' && l[0] <= '5' && l[1] >= '0' && l[1] <= '9' &&
                        l[2] >= '0' && l[2] <= '9' ? (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0') : 0;
        if (!line_code || (n > 3 && l[3] != ' ' && l[3] != '-') || (code && line_code != code)) {
            o->error = 1;
            break;
        }
        if (joined_len)  /* the reader joins only once there is text: no leading '\n' */
            joined[joined_len++] = '\n';
        code = line_code;
        if (n > 4) {
            memcpy(joined + joined_len, l + 4, n - 4);
            joined_len += n - 4;
        }
        start += (size_t)(lf - (data + start)) + 1;
        if (n <= 3 || l[3] == ' ') {
            /* the reader keeps the first BK_SMTP_TEXT_MAX - 1 bytes */
            outcome_add(o, code, joined, joined_len < BK_SMTP_TEXT_MAX ? joined_len : BK_SMTP_TEXT_MAX - 1);
            code = 0;
            joined_len = 0;
        }
    }
    if (!o->error && code)
        o->pending = 1;
    free(joined);
}

static void outcome_compare(const outcome *a, const outcome *b, const char *what)
{
    if (a->count != b->count || a->error != b->error || (!a->error && a->pending != b->pending)) {
        fprintf(stderr, "fuzz_mail_text: %s: %d replies, error %d, pending %d; against %d, %d, %d\n", what,
                a->count, a->error, a->pending, b->count, b->error, b->pending);
        CHECK(!"SMTP reader outcomes differ");
    }
    for (int i = 0; i < a->count && i < REPLIES_MAX; i++) {
        const reply *x = &a->replies[i], *y = &b->replies[i];
        if (x->code != y->code || x->text_len != y->text_len || memcmp(x->text, y->text, x->text_len) != 0) {
            fprintf(stderr, "fuzz_mail_text: %s: reply %d: %d \"%.*s\" against %d \"%.*s\"\n", what, i, x->code,
                    (int)x->text_len, x->text, y->code, (int)y->text_len, y->text);
            CHECK(!"SMTP reply differs");
        }
    }
}

static outcome whole, pieces, reference;

static void op_reader(const uint8_t *data, size_t size, unsigned piece_seed)
{
    reader_run(data, size, 0, &whole);
    reader_run(data, size, piece_seed | 1, &pieces);
    reader_reference(data, size, &reference);
    outcome_compare(&pieces, &whole, "in pieces against at once");
    outcome_compare(&whole, &reference, "at once against the reference");
}

/* ---- 2: header values ------------------------------------------------------------------------ */

static int base64_value(char c)
{
    static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *d = c ? strchr(digits, c) : NULL;
    return d ? (int)(d - digits) : -1;
}

/* Decodes one "=?UTF-8?B?...?=" word (exactly len bytes) onto out; -1 when it is not one. */
static long word_decode(const char *w, size_t len, char *out)
{
    if (len < 12 || memcmp(w, "=?UTF-8?B?", 10) != 0 || memcmp(w + len - 2, "?=", 2) != 0)
        return -1;
    const char *b = w + 10;
    size_t n = len - 12;
    if (n % 4 != 0)
        return -1;
    long o = 0;
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            if (b[i + k] == '=' && i + 4 == n && k >= 2) {
                v[k] = 0;
                pad++;
            } else {
                if (pad)
                    return -1;
                v[k] = base64_value(b[i + k]);
                if (v[k] < 0)
                    return -1;
            }
        }
        unsigned x = (unsigned)(v[0] << 18 | v[1] << 12 | v[2] << 6 | v[3]);
        out[o++] = (char)(x >> 16);
        if (pad < 2)
            out[o++] = (char)(x >> 8 & 0xff);
        if (pad < 1)
            out[o++] = (char)(x & 0xff);
    }
    return o;
}

static void op_header(const uint8_t *data, size_t size)
{
    char *value = copy_str(data, size);
    size_t len = strlen(value);
    char *out = bk_mail_header_encode(value);
    CHECK(out != NULL);
    size_t out_len = strlen(out);
    for (size_t i = 0; i < out_len; i++) {
        if (out[i] == '\r')
            CHECK(out[i + 1] == '\n' && out[i + 2] == ' ');
        if (out[i] == '\n')
            CHECK(i > 0 && out[i - 1] == '\r');
    }
    int plain = len <= 900 && !strstr(value, "=?");
    for (size_t i = 0; i < len && plain; i++)
        plain = (unsigned char)value[i] >= 0x20 && (unsigned char)value[i] <= 0x7e;
    if (plain) {
        CHECK(strcmp(out, value) == 0);
    } else {
        char *decoded = malloc(len + 1);
        CHECK(decoded != NULL);
        size_t d = 0;
        int utf8 = fuzz_utf8_valid((const uint8_t *)value, len);
        for (const char *line = out; *line;) {
            const char *end = strstr(line, "\r\n ");
            size_t n = end ? (size_t)(end - line) : strlen(line);
            CHECK(n <= 75);
            char word[80];
            long got = word_decode(line, n, word);
            CHECK(got > 0 && d + (size_t)got <= len);
            if (utf8)
                CHECK(fuzz_utf8_valid((const uint8_t *)word, (size_t)got));
            memcpy(decoded + d, word, (size_t)got);
            d += (size_t)got;
            line = end ? end + 3 : line + n;
        }
        CHECK(d == len && memcmp(decoded, value, len) == 0);
        free(decoded);
    }
    free(out);
    free(value);
}

/* ---- 3: quoted-printable ---------------------------------------------------------------------- */

static int hex_value(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static void op_qp(const uint8_t *data, size_t size)
{
    char *text = malloc(size ? size : 1);
    CHECK(text != NULL);
    memcpy(text, data, size);
    size_t out_len = (size_t)-1;
    char *out = bk_mail_qp_encode(text, size, &out_len);
    CHECK(out != NULL && out_len == strlen(out));

    /* the input with each line end as CRLF */
    char *want = malloc(2 * size + 1);
    CHECK(want != NULL);
    size_t w = 0;
    for (size_t i = 0; i < size; i++) {
        if (text[i] == '\r' || text[i] == '\n') {
            if (text[i] == '\r' && i + 1 < size && text[i + 1] == '\n')
                i++;
            want[w++] = '\r';
            want[w++] = '\n';
        } else {
            want[w++] = text[i];
        }
    }
    char *got = malloc(out_len + 1);
    CHECK(got != NULL);
    size_t g = 0, column = 0;
    for (size_t i = 0; i < out_len; i++) {
        char c = out[i];
        if (c == '\r') {  /* a line end of the text */
            CHECK(i + 1 < out_len && out[i + 1] == '\n');
            CHECK(i == 0 || (out[i - 1] != ' ' && out[i - 1] != '\t'));  /* no trailing white space */
            got[g++] = '\r';
            got[g++] = '\n';
            i++;
            column = 0;
            continue;
        }
        CHECK(c != '\n');
        CHECK((c >= 33 && c <= 126) || c == ' ' || c == '\t');
        if (c == '=' && i + 1 < out_len && out[i + 1] == '\r') {  /* a soft break: the line goes on */
            CHECK(column + 1 <= 76);
            CHECK(i + 3 < out_len && out[i + 2] == '\n');  /* and something follows it */
            i += 2;
            column = 0;
            continue;
        }
        if (c == '=') {
            CHECK(i + 2 < out_len && hex_value(out[i + 1]) >= 0 && hex_value(out[i + 2]) >= 0);
            got[g++] = (char)(hex_value(out[i + 1]) << 4 | hex_value(out[i + 2]));
            i += 2;
            column += 3;
        } else {
            got[g++] = c;
            column++;
        }
        CHECK(column <= 76);
    }
    CHECK(out_len == 0 || (out[out_len - 1] != ' ' && out[out_len - 1] != '\t'));
    if (g != w || memcmp(got, want, w) != 0) {
        fprintf(stderr, "fuzz_mail_text: quoted-printable does not decode to its input\n");
        CHECK(!"quoted-printable round trip");
    }
    free(got);
    free(want);
    free(out);
    free(text);
}

/* ---- 4: dot-stuffing -------------------------------------------------------------------------- */

static void op_dot_stuff(const uint8_t *data, size_t size)
{
    char *text = malloc(size ? size : 1);
    CHECK(text != NULL);
    memcpy(text, data, size);
    size_t out_len = (size_t)-1;
    char *out = bk_mail_dot_stuff(text, size, &out_len);
    CHECK(out != NULL && out_len >= 5 && out[out_len] == '\0');
    CHECK(memcmp(out + out_len - 5, "\r\n.\r\n", 5) == 0);

    /* un-stuff: a line that starts with ".." loses one dot */
    char *got = malloc(out_len);
    CHECK(got != NULL);
    size_t g = 0;
    int line_start = 1;
    for (size_t i = 0; i + 3 < out_len; i++) {  /* up to the final "." CRLF */
        if (line_start) {
            if (out[i] == '.') {
                CHECK(out[i + 1] == '.');  /* every line starting with '.' was stuffed */
                i++;
            }
        }
        got[g++] = out[i];
        line_start = out[i] == '\n' && i > 0 && out[i - 1] == '\r';
    }
    int ends_crlf = size >= 2 && text[size - 2] == '\r' && text[size - 1] == '\n';
    CHECK(g == size + (ends_crlf ? 0 : 2));
    CHECK(memcmp(got, text, size) == 0);
    if (!ends_crlf)
        CHECK(memcmp(got + size, "\r\n", 2) == 0);

    /* input with CRLF line ends only: the terminator is the first lone "." line */
    int bare = 0;
    for (size_t i = 0; i < size; i++)
        if ((text[i] == '\r' && (i + 1 == size || text[i + 1] != '\n')) || (text[i] == '\n' && (i == 0 || text[i - 1] != '\r')))
            bare = 1;
    if (!bare) {
        char *first = memmem(out, out_len, "\r\n.\r\n", 5);
        CHECK(first == out + out_len - 5);
        CHECK(!(out_len > 5 && memcmp(out, ".\r\n", 3) == 0));
    }
    free(got);
    free(out);
    free(text);
}

/* ---- 5: the whole message --------------------------------------------------------------------- */

static void op_message(const uint8_t *data, size_t size)
{
    char *fields[5] = { 0 };
    size_t at = 0;
    for (int i = 0; i < 5; i++) {
        const uint8_t *sep = at < size ? memchr(data + at, 0xFF, size - at) : NULL;
        size_t end = i < 4 && sep ? (size_t)(sep - data) : size;
        if (at > size)
            at = size;
        fields[i] = copy_str(data + at, end - at);
        at = end + 1;
    }
    bk_mail_message m = { .from = fields[0], .to = fields[1], .subject = fields[2],
                          .message_id = fields[3], .body = fields[4], .date_ms = 1763846400123 };
    size_t len = (size_t)-1;
    char *out = bk_mail_message_format(&m, &len);
    int valid = bk_mail_address_valid(m.from) && bk_mail_address_valid(m.to) &&
                !strpbrk(m.message_id, "\r\n") && strlen(m.message_id) <= BK_MAIL_MESSAGE_ID_MAX;
    CHECK((out != NULL) == valid);
    if (out) {
        CHECK(len == strlen(out));
        char *blank = strstr(out, "\r\n\r\n");
        CHECK(blank != NULL);
        size_t header_end = (size_t)(blank - out) + 2;
        size_t line = 0;
        for (size_t i = 0; i < len; i++) {
            if (out[i] == '\r')
                CHECK(i + 1 < len && out[i + 1] == '\n');
            if (out[i] == '\n') {
                CHECK(i > 0 && out[i - 1] == '\r');
                size_t line_len = i - 1 - line;
                if (line < header_end) {
                    CHECK(line_len <= 998);
                    if (line_len > 0)
                        CHECK(out[line] == ' ' || memchr(out + line, ':', line_len) != NULL);
                } else {
                    CHECK(line_len <= 76);
                }
                line = i + 1;
            }
        }
        CHECK(strncmp(out, "From: ", 6) == 0);
        free(out);
    }
    for (int i = 0; i < 5; i++)
        free(fields[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2 || size > 1 << 16)
        return -1;
    const uint8_t *text = data + 2;
    size_t len = size - 2;
    switch (data[0] % 6) {
    case 0: op_address(text, len); break;
    case 1: op_reader(text, len, data[1]); break;
    case 2: op_header(text, len); break;
    case 3: op_qp(text, len); break;
    case 4: op_dot_stuff(text, len); break;
    case 5: op_message(text, len); break;
    }
    return 0;
}
