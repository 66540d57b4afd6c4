/* test_mail_in.c - inbound mails as real clients write them (tests/integration/mail/), read by
 * GMime and our extraction: the reply, the quote cut off, charsets, HTML, automatic mail,
 * attachments; the reply token and our Message-IDs. */
#include "check.h"

#include "mail/mail_in.h"
#include "mail/mail_thread.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *corpus(const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/tests/integration/mail/%s", BK_SOURCE_ROOT, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *raw = malloc(1 << 20);
    size_t n = fread(raw, 1, (1 << 20) - 1, f);
    fclose(f);
    raw[n] = '\0';
    *len = n;
    return raw;
}

static int parse(const char *name, const char *sender, bk_mail_in *in)
{
    size_t len = 0;
    char err[256] = "";
    char *raw = corpus(name, &len);
    int rc = raw ? bk_mail_in_parse(raw, len, sender, in, err, sizeof err) : -1;
    if (rc != 0)
        printf("# %s: %s\n", name, raw ? err : "cannot read it");
    free(raw);
    return rc;
}

static void clients(void)
{
    bk_mail_in in;
    CHECK(parse("gmail_alternative.eml", "ann.visitor@gmail.example", &in) == 0, "Gmail: parsed");
    CHECK_STR(in.text, "Thanks! The blue one, size M, would be perfect \xe2\x80\x94 can you ship it tomorrow?",
              "Gmail: text/plain chosen, quoted-printable decoded, 'On ... wrote:' and '> ' cut");
    CHECK(strstr(in.original, "we have it in blue") != NULL, "Gmail: the original keeps the quote");
    CHECK_STR(in.from, "ann.visitor@gmail.example", "Gmail: From");
    CHECK_STR(in.from_name, "Ann Visitor", "Gmail: the name");
    CHECK(in.automatic == NULL && !in.from_html && in.attachment_count == 0, "Gmail: a person's, no attachment");
    CHECK(in.reference_count == 0, "Gmail: the corpus's placeholders are no Message-IDs");
    bk_mail_in_free(&in);

    CHECK(parse("outlook_html_only.eml", "soren@outlook.example", &in) == 0, "Outlook: parsed");
    CHECK_STR(in.text, "Hej,\n\nPr\xc3\xb8v venligst igen p\xc3\xa5 fredag \xe2\x80\x93 jeg er hjemme efter kl. 16.\n\n"
              "Mvh S\xc3\xb8ren", "Outlook: HTML only in windows-1252 made into text, the divRplyFwdMsg block cut");
    CHECK(in.from_html, "Outlook: says its text came from HTML");
    CHECK_STR(in.from_name, "S\xc3\xb8ren Kj\xc3\xa6r", "Outlook: an RFC 2047 ISO-8859-1 name");
    bk_mail_in_free(&in);

    CHECK(parse("apple_mail_danish.eml", NULL, &in) == 0, "Apple Mail: parsed");
    CHECK_STR(in.text, "Hej igen,\n\nTak for svaret. Jeg vil gerne bytte \xc3\xa6" "blerne til p\xc3\xa6rer, hvis det "
              "g\xc3\xa5r.\n\nVenlig hilsen\n\xc3\x85se", "Apple Mail: ISO-8859-1 quoted-printable, 'Den ... skrev' cut");
    bk_mail_in_free(&in);

    CHECK(parse("norwegian_base64.eml", NULL, &in) == 0, "Norwegian: parsed");
    CHECK_STR(in.text, "Hei!\n\nKan dere sende en ny faktura? Den gamle har feil adresse: \xc3\x98vre Slottsgate 2, Oslo.",
              "Norwegian: base64 UTF-8, the '-- ' signature and the quote cut");
    CHECK_STR(in.from_name, "\xc3\x98ystein \xc3\x85s", "Norwegian: a UTF-8 B-word name");
    bk_mail_in_free(&in);

    CHECK(parse("with_attachment.eml", NULL, &in) == 0, "attachment: parsed");
    CHECK_STR(in.text, "Here is a photo of the broken part.", "attachment: the text");
    CHECK(in.attachment_count == 1 && strcmp(in.attachments[0].name, "broken part.png") == 0 &&
          strcmp(in.attachments[0].type, "image/png") == 0 && in.attachments[0].size == 70,
          "attachment: listed with its name, type and decoded size");
    bk_mail_in_free(&in);
}

static void automatic(void)
{
    bk_mail_in in;
    CHECK(parse("auto_reply.eml", "ann.visitor@gmail.example", &in) == 0 && in.automatic &&
          strcmp(in.automatic, "Auto-Submitted") == 0, "an auto-reply is automatic (Auto-Submitted)");
    bk_mail_in_free(&in);
    CHECK(parse("dsn_bounce.eml", "", &in) == 0 && in.automatic != NULL, "a DSN bounce is automatic");
    bk_mail_in_free(&in);
    CHECK(parse("gmail_alternative.eml", "", &in) == 0 && in.automatic != NULL,
          "a person's mail from the null sender is automatic (a bounce)");
    bk_mail_in_free(&in);
    const char *precedence = "From: a@b.example\r\nTo: c@d.example\r\nPrecedence: list\r\n\r\nhi\r\n";
    char err[128];
    CHECK(bk_mail_in_parse(precedence, strlen(precedence), NULL, &in, err, sizeof err) == 0 && in.automatic,
          "Precedence: list is automatic");
    bk_mail_in_free(&in);
    const char *ours = "From: a@b.example\r\nX-Beckon-Conversation: c_1\r\n\r\nhi\r\n";
    CHECK(bk_mail_in_parse(ours, strlen(ours), NULL, &in, err, sizeof err) == 0 && in.has_beckon_header,
          "an X-Beckon- header is seen");
    bk_mail_in_free(&in);
}

static void quotes(void)
{
    static const struct { const char *in, *want, *what; } cases[] = {
        { "Yes please.\n\n-----Original Message-----\nFrom: x\n", "Yes please.", "Outlook's Original Message" },
        { "Ja tak.\n\nFra: Support <s@x.example>\nSendt: 4. marts 2025\nTil: a\n", "Ja tak.", "Outlook in Danish" },
        { "Fine.\n________________________________\nFrom: x\n", "Fine.", "Outlook's rule" },
        { "Ok\n\nOn Tue, 4 Mar 2025 at 10:12, Demo Support <reply@x.example>\nwrote:\n> hi\n", "Ok",
          "Gmail's folded attribution" },
        { "> question?\nanswer below\n", "answer below", "a bottom-post keeps the answer" },
        { "Thanks\n\nSent from my iPhone\n", "Thanks", "Sent from my iPhone" },
        { "> only a quote\n", "> only a quote", "nothing left: the whole text" },
        { "Line one\n--\nsig\n", "Line one", "a '--' signature" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *out = bk_mail_quote_cut(cases[i].in);
        CHECK_STR(out, cases[i].want, "quote: %s", cases[i].what);
        free(out);
    }
    char *t = bk_mail_html_text("<p>A &amp; B&nbsp;&lt;3</p><script>x()</script><ul><li>one</li><li>two</li></ul>"
                                "<blockquote>old</blockquote>", 200);
    CHECK_STR(t, "A & B <3\n\n- one\n- two", "HTML: entities, script dropped, list items, blockquote cut");
    free(t);
}

static void threading(void)
{
    uint8_t secret[BK_SECRET_SIZE] = { 1, 2, 3 };
    char address[BK_MAIL_ADDRESS_MAX], conv[BK_ID_MAX + 1];
    const char *cid = "c_e3b0_0123456789abcdef01234567";
    CHECK(bk_mail_reply_address(secret, "reply@support.example", cid, address, sizeof address) == 0,
          "a reply address is made");
    CHECK(strncmp(address, "reply+c_e3b0_0123456789abcdef01234567.", 38) == 0 && strlen(address) <= 254,
          "it is reply+CONVERSATION.SIGNATURE@domain: %s", address);
    CHECK(bk_mail_reply_token_check(secret, "reply@support.example", address, conv) == 1 && strcmp(conv, cid) == 0,
          "its token is ours and names the conversation");
    for (char *c = address; *c; c++)
        if (*c >= 'a' && *c <= 'z')
            *c = (char)(*c - 'a' + 'A');
    CHECK(bk_mail_reply_token_check(secret, "reply@support.example", address, conv) == 1,
          "in capitals too (an MTA that changed the case)");
    char forged[BK_MAIL_ADDRESS_MAX];
    snprintf(forged, sizeof forged, "reply+c_e3b0_0123456789abcdef01234568.%.16s@support.example", address + 38);
    CHECK(bk_mail_reply_token_check(secret, "reply@support.example", forged, conv) == -1,
          "another conversation with that signature is forged");
    CHECK(bk_mail_reply_token_check(secret, "reply@support.example", "reply+nothing@support.example", conv) == -1,
          "a tag that is no token is forged");
    CHECK(bk_mail_reply_token_check(secret, "reply@support.example", "reply@support.example", conv) == 0,
          "the bare address has no token");
    CHECK(bk_mail_reply_token_check(secret, "reply@support.example", "other+x.y@support.example", conv) == 0,
          "another address is not ours");
    CHECK(bk_mail_reply_address(secret, "a-very-long-name@support.example", cid, address, sizeof address) == -1,
          "a base address whose local part leaves no room is refused");
    char id[300];
    CHECK(bk_mail_message_id_new(cid, "shop.example", id, sizeof id) == 0 && id[0] == '<', "a Message-ID: %s", id);
    id[strlen(id) - 1] = '\0';
    CHECK(bk_mail_message_id_conversation(id + 1, conv) == 0 && strcmp(conv, cid) == 0,
          "our Message-ID names its conversation");
    CHECK(bk_mail_message_id_conversation("CAF3x7Hq@mail.gmail.example", conv) == -1, "another's names none");
}

int main(void)
{
    bk_mail_in_init();
    clients();
    automatic();
    quotes();
    threading();
    return check_done();
}
