/* UTF-8 checks and repairs: what error messages pass through before they become JSON. */
#include "check.h"

#include "base/utf8.h"

int main(void)
{
    static const struct { const char *in, *want, *why; } repairs[] = {
        { "plain ascii", "plain ascii", "ASCII is left alone" },
        { "Kan jeg hjælpe? æøå", "Kan jeg hjælpe? æøå", "valid UTF-8 is left alone" },
        { "cut \xc3", "cut ", "a two-byte character cut after its first byte is dropped" },
        { "cut \xe2\x82", "cut ", "a three-byte character cut after two bytes is dropped" },
        { "bad \xff byte", "bad ? byte", "a byte that starts nothing becomes '?'" },
        { "lone \x80 continuation", "lone ? continuation", "a stray continuation byte becomes '?'" },
        { "overlong \xc0\xaf", "overlong ??", "an overlong form is not UTF-8" },
        { "surrogate \xed\xa0\x80", "surrogate ???", "UTF-16 surrogates are not UTF-8" },
        { "\xc3 then more", "? then more", "a cut character in the middle becomes '?'" },
    };
    for (size_t i = 0; i < sizeof repairs / sizeof repairs[0]; i++) {
        char buf[64];
        snprintf(buf, sizeof buf, "%s", repairs[i].in);
        bk_utf8_repair(buf);
        CHECK_STR(buf, repairs[i].want, "repair: %s", repairs[i].why);
        CHECK(bk_utf8_valid(buf, strlen(buf)), "repair: the result is valid (%s)", repairs[i].why);
    }
    CHECK(!bk_utf8_valid("\xf4\x90\x80\x80", 4), "valid: past U+10FFFF is refused");
    CHECK(bk_utf8_valid("\xf0\x9f\x98\x80", 4), "valid: an emoji (4 bytes) is fine");
    CHECK(bk_utf8_valid("", 0), "valid: empty is valid");
    return check_done();
}
