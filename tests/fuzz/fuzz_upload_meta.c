/* fuzz_upload_meta.c - libFuzzer target for what an upload's client says about its file
 * (server/files/file_name.c) and the links files are served from (server/files/file_link.c).
 *
 * 1. The query of POST /api/files: bk_file_upload_meta_parse on the input (NUL-terminated, as
 *    the net hands it). Accepted, the result must keep the promises the route relies on: a cmid
 *    of 1-64 bytes without spaces or control characters, valid UTF-8; a conversation that is ""
 *    or a valid "c_" id; a name as in 2.
 * 2. Any name (the input as raw bytes): bk_file_name_sanitize gives, when it accepts, a name of
 *    1 to 200 bytes, valid UTF-8, with no '/', '\\', '"', C0/C1 control or DEL, no bidirectional
 *    override or line separator, not starting or ending with '.' or ' ' (never "..", never
 *    hidden); sanitizing it again changes nothing (a fixed point).
 * 3. Its Content-Disposition (bk_file_disposition): one line of printable ASCII, the quoted
 *    filename holding no '"' or '\\', the extended one only RFC 8187 attr-chars and %XX.
 * 4. Link checks on the input as exp and sig: bk_file_link_verify never accepts what
 *    bk_file_link_make did not produce for that id and variant. */
#include "base/auth.h"
#include "base/ids.h"
#include "base/utf8.h"
#include "files/file_link.h"
#include "files/file_name.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                               \
    do {                                                                                          \
        if (!(cond)) {                                                                            \
            fprintf(stderr, "fuzz_upload_meta: property failed: %s (%s:%d)\n", #cond, __FILE__, \
                    __LINE__);                                                                    \
            abort();                                                                              \
        }                                                                                         \
    } while (0)

static const uint8_t secret[BK_SECRET_SIZE] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                                17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32 };

static void name_is_safe(const char *name)
{
    size_t len = strlen(name);
    CHECK(len >= 1 && len <= BK_FILE_NAME_MAX);
    CHECK(bk_utf8_valid(name, len));
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        CHECK(c >= 0x20 && c != 0x7f && c != '/' && c != '\\' && c != '"');
        if (c == 0xc2 && i + 1 < len)
            CHECK((unsigned char)name[i + 1] >= 0xa0);  /* no C1 control */
        if (c == 0xe2 && i + 2 < len && (unsigned char)name[i + 1] == 0x80)
            CHECK((unsigned char)name[i + 2] < 0xa8 || (unsigned char)name[i + 2] > 0xae);
    }
    CHECK(name[0] != '.' && name[0] != ' ' && name[len - 1] != '.' && name[len - 1] != ' ');
    char again[BK_FILE_NAME_MAX + 1];
    CHECK(bk_file_name_sanitize(name, len, again) == 0 && strcmp(again, name) == 0);
    char disposition[BK_FILE_DISPOSITION_MAX];
    CHECK(bk_file_disposition("attachment", name, disposition, sizeof disposition) == 0);
    const char *quoted = strstr(disposition, "filename=\"") + 10;
    const char *end = strstr(quoted, "\"; filename*=UTF-8''");
    CHECK(end != NULL);
    for (const char *c = disposition; *c; c++)
        CHECK(*c >= 0x20 && *c < 0x7f);
    for (const char *c = quoted; c < end; c++)
        CHECK(*c != '"' && *c != '\\');
    for (const char *c = end + 20; *c; c++)
        CHECK((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              strchr("!#$&+-.^_`|~%", *c));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    CHECK(text != NULL);
    memcpy(text, data, size);
    text[size] = '\0';

    bk_file_upload_meta meta;
    char why[128];
    if (bk_file_upload_meta_parse(text, &meta, why, sizeof why) == 0) {
        size_t cmid_len = strlen(meta.cmid);
        CHECK(cmid_len >= 1 && cmid_len <= BK_CMID_MAX && bk_utf8_valid(meta.cmid, cmid_len));
        for (size_t i = 0; i < cmid_len; i++)
            CHECK((unsigned char)meta.cmid[i] > 0x20 && meta.cmid[i] != 0x7f);
        CHECK(meta.conversation[0] == '\0' || (bk_id_valid(meta.conversation) &&
                                               strncmp(meta.conversation, "c_", 2) == 0));
        name_is_safe(meta.name);
    } else {
        CHECK(why[0] != '\0');
    }

    char name[BK_FILE_NAME_MAX + 1];
    if (bk_file_name_sanitize((const char *)data, size, name) == 0)
        name_is_safe(name);

    /* the input as "EXP SIG" against a real link's id */
    const char *space = memchr(text, ' ', size);
    char exp[32] = "", sig[128] = "";
    if (space && (size_t)(space - text) < sizeof exp && strlen(space + 1) < sizeof sig) {
        memcpy(exp, text, (size_t)(space - text));
        snprintf(sig, sizeof sig, "%s", space + 1);
        char expected[65];
        long long when = strtoll(exp, NULL, 10);
        bk_file_link_sign(secret, "f_e3b0_0123456789abcdef01234567", "file", when, expected);
        bk_file_link_check check = bk_file_link_verify(secret, "f_e3b0_0123456789abcdef01234567", "file", exp, sig, 0);
        if (check != BK_FILE_LINK_FORGED)
            CHECK(strcmp(sig, expected) == 0);
    }
    free(text);
    return 0;
}
