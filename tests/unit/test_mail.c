/* test_mail.c - the pure parts of sending email (server/transport/mail.h): which addresses may go near a
 * header or an RCPT, how headers and bodies are encoded, SMTP's dot-stuffing, and reading replies. */
#include "check.h"

#include "transport/mail.h"

#include <stdlib.h>
#include <string.h>

/* Decodes the base64 of one "=?UTF-8?B?...?=" word into out; returns its length or -1. */
static int word_decode(const char *word, size_t len, char *out)
{
    static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (len < 12 || strncmp(word, "=?UTF-8?B?", 10) != 0 || strncmp(word + len - 2, "?=", 2) != 0)
        return -1;
    int n = 0;
    unsigned acc = 0, bits = 0;
    for (size_t i = 10; i < len - 2 && word[i] != '='; i++) {
        const char *d = strchr(digits, word[i]);
        if (!d)
            return -1;
        acc = (acc << 6) | (unsigned)(d - digits);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (char)((acc >> bits) & 0xff);
        }
    }
    return n;
}

/* Every word of a folded encoded header, decoded and joined. */
static void header_decode(const char *value, char *out, size_t size, int *max_line, int *words_ok)
{
    size_t o = 0;
    *max_line = 0;
    *words_ok = 1;
    for (const char *p = value; *p;) {
        const char *end = strstr(p, "\r\n ");
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if ((int)n > *max_line)
            *max_line = (int)n;
        char word[128];
        int w = n < 200 ? word_decode(p, n, word) : -1;
        if (w < 0 || o + (size_t)w >= size)
            *words_ok = 0;
        else {
            memcpy(out + o, word, (size_t)w);
            o += (size_t)w;
        }
        p = end ? end + 3 : p + n;
    }
    out[o] = '\0';
}

static int lines_within(const char *text, size_t limit)
{
    for (const char *p = text; *p;) {
        const char *end = strstr(p, "\r\n");
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n > limit)
            return 0;
        p = end ? end + 2 : p + n;
    }
    return 1;
}

int main(void)
{
    /* ---- addresses ---- */
    static const struct { const char *address; int valid; const char *why; } addresses[] = {
        { "ida@example.dk", 1, "a plain address" },
        { "first.last+tag@mail.shop.example", 1, "dots and + in the local part, a subdomain" },
        { "o'brien@example.ie", 1, "an apostrophe is atext" },
        { "x@ex-ample.com", 1, "an inner hyphen in a label" },
        { "ida@example.dk\r\nBcc: victim@example.com", 0, "CR LF: header injection" },
        { "ida@example.dk\nBcc: x@y.z", 0, "a bare LF" },
        { "ida@example.dk>\r\nRCPT TO:<x@y.z", 0, "closing the RCPT's angle bracket" },
        { "ida.example.dk", 0, "no @" },
        { "ida@@example.dk", 0, "two @ in a row" },
        { "a@b@example.dk", 0, "two @" },
        { "@example.dk", 0, "an empty local part" },
        { "ida@", 0, "an empty domain" },
        { "ida@localhost", 0, "a domain of one label" },
        { "ida@example..dk", 0, "an empty label" },
        { "ida@-example.dk", 0, "a label starting with a hyphen" },
        { "ida@example-.dk", 0, "a label ending with a hyphen" },
        { ".ida@example.dk", 0, "a leading dot" },
        { "ida.@example.dk", 0, "a trailing dot in the local part" },
        { "i..da@example.dk", 0, "a doubled dot" },
        { "\"ida\"@example.dk", 0, "quoted local parts are not accepted" },
        { "ida jensen@example.dk", 0, "a space" },
        { "ida@exa mple.dk", 0, "a space in the domain" },
        { "Ida <ida@example.dk>", 0, "a display name" },
        { "idä@example.dk", 0, "non-ASCII (SMTPUTF8 is not spoken)" },
        { "ida@exämple.dk", 0, "a non-ASCII domain (use its xn-- form)" },
        { "ida@[127.0.0.1]", 0, "an address literal" },
        { "ida@example.dk\t", 0, "a tab" },
        { "", 0, "empty" },
    };
    for (size_t i = 0; i < sizeof addresses / sizeof addresses[0]; i++)
        CHECK(bk_mail_address_valid(addresses[i].address) == addresses[i].valid, "address %s: %s",
              addresses[i].valid ? "accepted" : "refused", addresses[i].why);
    char local65[80], long_domain[300];
    memset(local65, 'a', 65);
    strcpy(local65 + 65, "@example.dk");
    CHECK(!bk_mail_address_valid(local65), "address refused: a local part over 64 bytes");
    strcpy(long_domain, "ida@");
    for (int i = 0; i < 25; i++)
        strcat(long_domain, "abcdefghij");
    strcat(long_domain, ".dk");
    CHECK(!bk_mail_address_valid(long_domain), "address refused: a label over 63 bytes / a total over 254");
    CHECK(!bk_mail_address_valid(NULL), "address refused: NULL");

    /* ---- header encoding ---- */
    char *h = bk_mail_header_encode("Transcript of your chat");
    CHECK_STR(h, "Transcript of your chat", "header: printable ASCII stays as it is");
    free(h);
    h = bk_mail_header_encode("Udskrift af din chat \xe2\x80\x93 bl\xc3\xa5" "b\xc3\xa6r");
    char decoded[512];
    int max_line, words_ok;
    header_decode(h, decoded, sizeof decoded, &max_line, &words_ok);
    CHECK(h && strncmp(h, "=?UTF-8?B?", 10) == 0, "header: non-ASCII becomes an encoded word");
    CHECK(words_ok, "header: every folded piece is one encoded word");
    CHECK_STR(decoded, "Udskrift af din chat \xe2\x80\x93 bl\xc3\xa5" "b\xc3\xa6r", "header: it decodes to the text");
    free(h);
    /* 40 two-byte characters (80 bytes): several words, none splitting a character */
    char many[200] = "";
    for (int i = 0; i < 40; i++)
        strcat(many, "\xc3\xa6");
    h = bk_mail_header_encode(many);
    header_decode(h, decoded, sizeof decoded, &max_line, &words_ok);
    CHECK(words_ok && strcmp(decoded, many) == 0, "header: a long value folds into words that decode back");
    CHECK(max_line <= 75, "header: each encoded word is at most 75 bytes (got %d)", max_line);
    int whole = 1;
    for (const char *p = h; p && (p = strstr(p, "=?UTF-8?B?")); p += 10) {
        char w[128];
        const char *end = strstr(p, "?=");
        int n = end ? word_decode(p, (size_t)(end - p + 2), w) : -1;
        if (n < 0 || n % 2 != 0)
            whole = 0;
    }
    CHECK(whole, "header: no word splits a UTF-8 character");
    free(h);
    h = bk_mail_header_encode("Hi\r\nBcc: victim@example.com");
    CHECK(h && !strchr(h, '\n') && strncmp(h, "=?UTF-8?B?", 10) == 0,
          "header: CR LF in a value is encoded, never written as a line end");
    free(h);
    h = bk_mail_header_encode("=?UTF-8?B?SGk=?=");
    CHECK(h && strcmp(h, "=?UTF-8?B?SGk=?=") != 0, "header: text that looks like an encoded word is encoded itself");
    free(h);

    /* ---- quoted-printable ---- */
    static const struct { const char *in, *want, *why; } qp[] = {
        { "Hello", "Hello", "ASCII stays" },
        { "a=b", "a=3Db", "'=' is encoded" },
        { "bl\xc3\xa5", "bl=C3=A5", "UTF-8 bytes are encoded" },
        { "one\ntwo", "one\r\ntwo", "LF becomes CRLF" },
        { "one\r\ntwo\rthree", "one\r\ntwo\r\nthree", "CRLF stays, a lone CR becomes CRLF" },
        { "end \nnext", "end=20\r\nnext", "a space before a line end is encoded" },
        { "tab\t", "tab=09", "a tab at the very end is encoded" },
        { "in between", "in between", "inner spaces stay" },
        { "\x1b[31m", "=1B[31m", "control bytes are encoded" },
        { ".\n.", ".\r\n.", "a lone dot stays (dot-stuffing is SMTP's job)" },
    };
    for (size_t i = 0; i < sizeof qp / sizeof qp[0]; i++) {
        size_t n = 0;
        char *out = bk_mail_qp_encode(qp[i].in, strlen(qp[i].in), &n);
        CHECK_STR(out, qp[i].want, "quoted-printable: %s", qp[i].why);
        free(out);
    }
    char longline[1200];
    memset(longline, 'x', 1000);
    memcpy(longline + 1000, "\xc3\xa6\xc3\xa6=", 5);
    longline[1005] = '\0';
    size_t qlen = 0;
    char *q = bk_mail_qp_encode(longline, strlen(longline), &qlen);
    CHECK(q && lines_within(q, 76), "quoted-printable: a 1000-byte line becomes lines of at most 76 bytes");
    /* undoing the soft breaks gives the encoding of the whole line back */
    char joined[2000];
    size_t o = 0;
    for (size_t i = 0; q && i < qlen; i++) {
        if (q[i] == '=' && i + 2 < qlen && q[i + 1] == '\r' && q[i + 2] == '\n') {
            i += 2;
            continue;
        }
        joined[o++] = q[i];
    }
    joined[o] = '\0';
    CHECK(o == 1000 + 15 && strcmp(joined + 1000, "=C3=A6=C3=A6=3D") == 0,
          "quoted-printable: soft breaks never split an =XX triplet");
    free(q);

    /* ---- dot-stuffing ---- */
    static const struct { const char *in, *want, *why; } dots[] = {
        { "Hello\r\n", "Hello\r\n.\r\n", "a message ends with CRLF . CRLF" },
        { "Hello", "Hello\r\n.\r\n", "a missing last CRLF is added" },
        { ".\r\n", "..\r\n.\r\n", "a lone dot line would end DATA: it gets another dot" },
        { "a\r\n.\r\nb\r\n", "a\r\n..\r\nb\r\n.\r\n", "a lone dot in the middle" },
        { "a\r\n.hidden\r\n", "a\r\n..hidden\r\n.\r\n", "a line starting with a dot" },
        { "a.b\r\n", "a.b\r\n.\r\n", "a dot inside a line stays" },
        { "..\r\n", "...\r\n.\r\n", "two dots get a third" },
    };
    for (size_t i = 0; i < sizeof dots / sizeof dots[0]; i++) {
        size_t n = 0;
        char *out = bk_mail_dot_stuff(dots[i].in, strlen(dots[i].in), &n);
        CHECK_STR(out, dots[i].want, "dot-stuffing: %s", dots[i].why);
        free(out);
    }

    /* ---- base64 (AUTH) ---- */
    char b64[64];
    CHECK(bk_mail_base64("\0beckon\0s3cret pass", 19, b64, sizeof b64) == 28 &&
          strcmp(b64, "AGJlY2tvbgBzM2NyZXQgcGFzcw==") == 0, "base64: AUTH PLAIN's \\0user\\0password");
    CHECK(bk_mail_base64("ab", 2, b64, sizeof b64) == 4 && strcmp(b64, "YWI=") == 0, "base64: one '=' of padding");
    CHECK(bk_mail_base64("abcdef", 6, b64, 8) == 0, "base64: 0 when the output does not fit");

    /* ---- date ---- */
    char date[40];
    bk_mail_date(1738332123000LL, date);
    CHECK_STR(date, "Fri, 31 Jan 2025 14:02:03 +0000", "date: RFC 5322, in UTC, English names");
    bk_mail_date(0, date);
    CHECK_STR(date, "Thu, 01 Jan 1970 00:00:00 +0000", "date: the epoch");

    /* ---- a whole message ---- */
    bk_mail_message m = { .from = "chat@shop.example", .to = "ida@example.dk",
                          .subject = "Udskrift af din chat \xe2\x80\x93 demo",
                          .body = "14:02  Du: Hvad koster \xc3\xa6" "bler?\n.\n14:03  alice: 5 kr.",
                          .message_id = "<abc.1@shop.example>", .date_ms = 1738332123000LL };
    size_t mlen = 0;
    char *msg = bk_mail_message_format(&m, &mlen);
    CHECK(msg && strncmp(msg, "From: chat@shop.example\r\nTo: ida@example.dk\r\nSubject: =?UTF-8?B?", 64) == 0,
          "message: From, To and an encoded Subject first");
    CHECK(msg && strstr(msg, "\r\nDate: Fri, 31 Jan 2025 14:02:03 +0000\r\n"), "message: Date");
    CHECK(msg && strstr(msg, "\r\nMessage-ID: <abc.1@shop.example>\r\n"), "message: Message-ID");
    CHECK(msg && strstr(msg, "\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
                             "Content-Transfer-Encoding: quoted-printable\r\n"), "message: MIME headers");
    CHECK(msg && strstr(msg, "\r\n\r\n14:02  Du: Hvad koster =C3=A6bler?\r\n.\r\n14:03  alice: 5 kr."),
          "message: a blank line, then the body in quoted-printable with CRLF");
    CHECK(msg && lines_within(msg, 998), "message: no line over 998 bytes");
    size_t slen = 0;
    char *stuffed = msg ? bk_mail_dot_stuff(msg, mlen, &slen) : NULL;
    CHECK(stuffed && strstr(stuffed, "?\r\n..\r\n14:03") && strcmp(stuffed + slen - 5, "\r\n.\r\n") == 0,
          "message: stuffed for DATA, the visitor's lone dot doubled, one terminator at the end");
    free(stuffed);
    free(msg);
    bk_mail_message bad = m;
    bad.to = "ida@example.dk\r\nBcc: x@example.com";
    msg = bk_mail_message_format(&bad, &mlen);
    CHECK(msg == NULL, "message: refuses a To that is not a strict address");
    free(msg);

    /* ---- an agent's answer: the headers of a person's mail, nothing injected ---- */
    bk_mail_message answer = m;
    answer.from_name = "Shop \"Demo\" <evil@x.example>\r\nBcc: victim@example.com";
    answer.reply_to = "reply+c_e3b0_1.abcdef0123456789@support.example";
    answer.in_reply_to = "<CAF3x@mail.gmail.example>";
    answer.references = "<CAF3x@mail.gmail.example>";
    answer.conversation = "c_e3b0_1";
    answer.written_by_person = 1;
    msg = bk_mail_message_format(&answer, &mlen);
    CHECK(msg && strncmp(msg, "From: =?UTF-8?B?", 16) == 0 && strstr(msg, "?= <chat@shop.example>\r\n"),
          "answer: the display name in RFC 2047 words whatever it holds, then the address");
    CHECK(msg && !strstr(msg, "\r\nBcc:") && !strstr(msg, "evil@x.example"), "answer: nothing of the name is syntax");
    CHECK(msg && strstr(msg, "\r\nReply-To: reply+c_e3b0_1.abcdef0123456789@support.example\r\n") &&
          strstr(msg, "\r\nIn-Reply-To: <CAF3x@mail.gmail.example>\r\nReferences: <CAF3x@mail.gmail.example>\r\n") &&
          strstr(msg, "\r\nX-Beckon-Conversation: c_e3b0_1\r\n"), "answer: Reply-To, In-Reply-To, References, X-Beckon-Conversation");
    CHECK(msg && !strstr(msg, "Auto-Submitted"), "answer: a person's mail is not auto-generated");
    CHECK(msg && lines_within(msg, 998), "answer: no line over 998 bytes");
    free(msg);
    static const struct { const char *reply_to, *in_reply_to, *conversation, *what; } injected[] = {
        { "reply@x.example\r\nBcc: y@example.com", NULL, NULL, "a Reply-To with CRLF" },
        { NULL, "<a@b>\r\nBcc: y@example.com", NULL, "an In-Reply-To with CRLF" },
        { NULL, NULL, "c_1\nBcc: y@example.com", "a conversation that is not an id" },
    };
    for (size_t i = 0; i < sizeof injected / sizeof *injected; i++) {
        bk_mail_message b = answer;
        b.reply_to = injected[i].reply_to ? injected[i].reply_to : answer.reply_to;
        b.in_reply_to = injected[i].in_reply_to ? injected[i].in_reply_to : answer.in_reply_to;
        b.conversation = injected[i].conversation ? injected[i].conversation : answer.conversation;
        msg = bk_mail_message_format(&b, &mlen);
        CHECK(msg == NULL, "answer: refuses %s", injected[i].what);
        free(msg);
    }

    /* ---- reading replies ---- */
    bk_smtp_reader r;
    size_t used;
    bk_smtp_reader_reset(&r);
    const char *greeting = "220 mail.example ESMTP ready\r\n";
    CHECK(bk_smtp_reader_feed(&r, greeting, strlen(greeting), &used) == 1 && r.code == 220 &&
          used == strlen(greeting) && strcmp(r.text, "mail.example ESMTP ready") == 0,
          "reply: one line, code and text");
    bk_smtp_reader_reset(&r);
    const char *ehlo = "250-mail.example\r\n250-SIZE 10240000\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n";
    CHECK(bk_smtp_reader_feed(&r, ehlo, strlen(ehlo), &used) == 1 && r.code == 250 &&
          strcmp(r.text, "mail.example\nSIZE 10240000\nAUTH PLAIN LOGIN\n8BITMIME") == 0,
          "reply: a multi-line reply is one reply, its lines joined");
    /* byte by byte, as a slow server might send it */
    bk_smtp_reader_reset(&r);
    int rc = 0;
    size_t fed = 0;
    for (; fed < strlen(ehlo) && rc == 0; fed++)
        rc = bk_smtp_reader_feed(&r, ehlo + fed, 1, &used);
    CHECK(rc == 1 && fed == strlen(ehlo) && r.code == 250, "reply: split across reads at any byte");
    bk_smtp_reader_reset(&r);
    const char *two = "250 OK\r\n354 go ahead\r\n";
    rc = bk_smtp_reader_feed(&r, two, strlen(two), &used);
    CHECK(rc == 1 && r.code == 250 && used == 8, "reply: stops after the first reply (%zu bytes used)", used);
    bk_smtp_reader_reset(&r);
    rc = bk_smtp_reader_feed(&r, two + used, strlen(two) - used, &used);
    CHECK(rc == 1 && r.code == 354, "reply: the rest is the next reply");
    static const struct { const char *in; int want; const char *why; } replies[] = {
        { "250\r\n", 1, "a code alone" },
        { "550 5.1.1 no such user\n", 1, "a bare LF ends a line too" },
        { "250-first\r\n", 0, "a continuation line waits for more" },
        { "250-first\r\n550 last\r\n", -1, "lines of one reply with different codes" },
        { "hello\r\n", -1, "no code" },
        { "25\r\n", -1, "a short code" },
        { "250x\r\n", -1, "junk after the code" },
        { "650 what\r\n", -1, "a code outside 2xx-5xx" },
    };
    for (size_t i = 0; i < sizeof replies / sizeof replies[0]; i++) {
        bk_smtp_reader_reset(&r);
        CHECK(bk_smtp_reader_feed(&r, replies[i].in, strlen(replies[i].in), &used) == replies[i].want,
              "reply: %s", replies[i].why);
    }
    char flood[3000];
    memset(flood, 'x', sizeof flood);
    memcpy(flood, "250 ", 4);
    bk_smtp_reader_reset(&r);
    CHECK(bk_smtp_reader_feed(&r, flood, sizeof flood, &used) == -1, "reply: a line over 1024 bytes is refused");
    return check_done();
}
