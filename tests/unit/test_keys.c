/* test_keys.c - base/keys: the hash tags of sites and ids, and the prefixes of both kinds of keys. */
#include "check.h"

#include "base/ids.h"
#include "base/keys.h"

#include <string.h>

/* A site's tag is 4 hex digits of SHA-256 of its id (checked against Python's hashlib). */
static void test_site_tag(void)
{
    static const struct {
        const char *site, *tag;
    } rows[] = {
        { "", "e3b0" },     /* the development mode without sites */
        { "shop", "8d90" },
        { "demo", "2a97" },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char tag[BK_KEYS_TAG_LEN + 1];
        bk_keys_site_tag(rows[i].site, tag);
        CHECK_STR(tag, rows[i].tag, "site tag of \"%s\"", rows[i].site);
    }
}

/* An id carries its tag between its kind and its random part; any other id has none. */
static void test_id_tag(void)
{
    static const struct {
        const char *id, *tag;
        int rc;
    } rows[] = {
        { "v_8d90_0123456789abcdef01234567", "8d90", 0 },
        { "c_e3b0_0123456789abcdef01234567", "e3b0", 0 },
        { "v_0123456789abcdef01234567", "", -1 },   /* made before ids had tags */
        { "c_nothere", "", -1 },
        { "c_8D90_0123", "", -1 },                  /* upper case: not ours */
        { "c_8d90_", "", -1 },                      /* no random part */
        { "c_8d9_x", "", -1 },
        { "_8d90_x", "", -1 },
        { "", "", -1 },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char tag[BK_KEYS_TAG_LEN + 1] = "zzzz";
        int rc = bk_keys_id_tag(rows[i].id, tag);
        CHECK(rc == rows[i].rc, "id tag of \"%s\": returns %d", rows[i].id, rows[i].rc);
        CHECK_STR(tag, rows[i].tag, "id tag of \"%s\"", rows[i].id);
    }
    CHECK(bk_keys_id_has_tag("v_8d90_01", "8d90"), "has_tag: its own tag");
    CHECK(!bk_keys_id_has_tag("v_8d90_01", "2a97"), "has_tag: another site's tag");
    CHECK(!bk_keys_id_has_tag("v_0123456789abcdef01234567", "e3b0"), "has_tag: an id of no tag");
}

/* A new id carries the tag, is a valid id, and is read back to the same tag. */
static void test_id_generate(void)
{
    char id[64], tag[BK_KEYS_TAG_LEN + 1];
    CHECK(bk_keys_id_generate("v_", "8d90", id, sizeof id) == 0, "generate: ok");
    CHECK(strncmp(id, "v_8d90_", 7) == 0 && strlen(id) == 7 + 24, "generate: v_8d90_ + 24 hex (%s)", id);
    CHECK(bk_id_valid(id), "generate: a valid id");
    CHECK(bk_keys_id_tag(id, tag) == 0 && strcmp(tag, "8d90") == 0, "generate: its tag reads back");
    CHECK(bk_keys_id_generate("c_", "8d90", id, 10) == -1, "generate: too small a buffer");
    CHECK(bk_keys_id_generate("c_", "8d9", id, sizeof id) == -1, "generate: not a tag");
}

static void test_prefixes(void)
{
    char out[BK_KEYS_PREFIX_SIZE];
    bk_keys_site_prefix("bk:", "8d90", out);
    CHECK_STR(out, "bk:{8d90}:", "site prefix");
    bk_keys_prefix_of_site("bk:", "shop", out);
    CHECK_STR(out, "bk:{8d90}:", "prefix of a site");
    bk_keys_prefix_of_site("bk:", "", out);
    CHECK_STR(out, "bk:{e3b0}:", "prefix of the development mode");
    bk_keys_prefix_of_id("bk:", "c_2a97_00ff", out);
    CHECK_STR(out, "bk:{2a97}:", "prefix of an id");
    bk_keys_prefix_of_id("bk:", "c_nothere", out);
    CHECK_STR(out, "bk:{e3b0}:", "prefix of an id of no tag: the slot of site \"\"");
    bk_keys_global_prefix("bk:", out);
    CHECK_STR(out, "bk:{g}:", "global prefix");
    bk_keys_global_prefix("0123456789012345678901234567890", out);
    CHECK(strlen(out) == 31 + 4, "the longest prefix fits with its tag");
    bk_keys_site_prefix("0123456789012345678901234567890", "8d90", out);
    CHECK(strlen(out) == 31 + 7, "the longest prefix fits with a site tag");
}

int main(void)
{
    test_site_tag();
    test_id_tag();
    test_id_generate();
    test_prefixes();
    return check_done();
}
