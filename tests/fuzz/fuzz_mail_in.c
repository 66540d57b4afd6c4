/* fuzz_mail_in.c - libFuzzer target for inbound mail (server/mail/): GMime's parse and our
 * extraction, over any bytes as a whole message.
 *
 * Properties: nothing crashes or leaks; every string a parsed mail gives (From, its name, the
 * subject, the reply, the original, each attachment's name and type) is valid UTF-8 with no
 * control character but tab and LF, at most BK_MAIL_IN_TEXT_MAX bytes for the texts, and the
 * reply is never longer than the original; the quote cutter and the HTML converter keep valid
 * UTF-8 valid and never grow it; and no recipient of the mail passes the reply-token check
 * unless it is exactly the address we would sign for its conversation. */
#include "mail/mail_in.h"
#include "mail/mail_thread.h"

#include "base/utf8.h"
#include "fuzz_util.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CHECK(cond)                                                                          \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "fuzz_mail_in: property failed: %s (%s:%d)\n", #cond, __FILE__, \
                    __LINE__);                                                               \
            abort();                                                                         \
        }                                                                                    \
    } while (0)

static const uint8_t secret[BK_SECRET_SIZE] = { 7, 7, 7 };

static void clean_text(const char *s, size_t max)
{
    size_t n = strlen(s);
    CHECK(n <= max);
    CHECK(bk_utf8_valid(s, n));
    for (size_t i = 0; i < n; i++)
        CHECK((unsigned char)s[i] >= 0x20 || s[i] == '\n' || s[i] == '\t');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        bk_mail_in_init();
        ready = 1;
    }
    bk_mail_in in;
    char err[256];
    if (bk_mail_in_parse((const char *)data, size, NULL, &in, err, sizeof err) == 0) {
        clean_text(in.from, 4096);
        clean_text(in.from_name, BK_MAIL_IN_TEXT_MAX);
        clean_text(in.subject, BK_MAIL_IN_TEXT_MAX);
        if (!in.automatic) {
            clean_text(in.text, BK_MAIL_IN_TEXT_MAX);
            clean_text(in.original, BK_MAIL_IN_TEXT_MAX);
            CHECK(strlen(in.text) <= strlen(in.original));
        }
        for (size_t i = 0; i < in.attachment_count; i++) {
            clean_text(in.attachments[i].name, BK_MAIL_IN_TEXT_MAX);
            clean_text(in.attachments[i].type, 4096);
        }
        for (size_t i = 0; i < in.recipient_count; i++) {
            char conversation[BK_ID_MAX + 1], expected[BK_MAIL_ADDRESS_MAX];
            if (bk_mail_reply_token_check(secret, "reply@support.example", in.recipients[i], conversation) == 1) {
                CHECK(bk_mail_reply_address(secret, "reply@support.example", conversation, expected,
                                            sizeof expected) == 0);
                CHECK(strcasecmp(expected, in.recipients[i]) == 0);
            }
        }
        bk_mail_in_free(&in);
    }
    /* the text pieces alone, on the input as text when it is valid UTF-8 */
    if (bk_utf8_valid((const char *)data, size) && !memchr(data, 0, size)) {
        char *text = malloc(size + 1);
        memcpy(text, data, size);
        text[size] = '\0';
        char *cut = bk_mail_quote_cut(text);
        CHECK(cut && strlen(cut) <= size && bk_utf8_valid(cut, strlen(cut)));
        char *plain = bk_mail_html_text(text, size);
        CHECK(plain && strlen(plain) <= size && bk_utf8_valid(plain, strlen(plain)));
        free(cut);
        free(plain);
        free(text);
    }
    return 0;
}
