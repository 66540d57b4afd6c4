/* test_profile.c - bk_profile: the visitor profile read from the scripts' JSON, kept compact. */
#include "check.h"

#include "triggers/profile.h"

#include <beckon/protocol.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bk_profile *parse(const char *json)
{
    return bk_profile_parse(json, strlen(json));
}

/* s with control and non-ASCII bytes as \xNN, so that a TAP line stays one line. */
static const char *shown(const char *s)
{
    static char out[512];
    size_t o = 0;
    for (; *s && o + 5 < sizeof out; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c >= 0x7f)
            o += (size_t)snprintf(out + o, sizeof out - o, "\\x%02x", c);
        else
            out[o++] = (char)c;
    }
    out[o] = '\0';
    return out;
}

/* What the scripts return (cjson: every hash value a string, "/" escaped, caps an object). */
static const char *const full =
    "{\"created\":\"1763846400000\",\"site\":\"shop\",\"lang\":\"da\",\"device\":\"mobile\","
    "\"page_url\":\"https:\\/\\/shop.example\\/pricing?utm_source=x\",\"page_title\":\"Priser\","
    "\"page_started\":\"1763846405000\",\"visit_started\":\"1763846400000\",\"visit_pages\":\"3\","
    "\"visit_referrer\":\"https:\\/\\/search.example\\/\",\"utm_source\":\"news\",\"utm_medium\":\"mail\","
    "\"utm_campaign\":\"spring\",\"utm_term\":\"shoes\",\"utm_content\":\"top\",\"visits\":\"4\","
    "\"chats\":\"2\",\"last_chat\":\"1763000000000\",\"last_event\":\"1763846405000\","
    "\"inv_day\":\"20251122\",\"inv_today\":\"1\",\"last_dismissed\":\"1763846000000\","
    "\"conv\":\"c_1\",\"consent\":\"1\",\"name\":\"Ann\",\"email\":\"ann@example.com\","
    "\"attrs\":\"{\\\"plan\\\":\\\"pro\\\",\\\"seats\\\":5}\","
    "\"caps\":{\"r1:visit\":\"4 2\",\"r1:last\":\"1763846300000\",\"r2:last\":\"5\",\"r2:visit\":\"3 1\"}}";

/* Every field the rules read comes back as the hash held it. */
static void test_full(void)
{
    bk_profile *p = parse(full);
    CHECK(p != NULL, "full: parsed");
    static const struct { bk_profile_string_field f; const char *want; } strings[] = {
        { BK_PROFILE_SITE, "shop" }, { BK_PROFILE_PAGE_URL, "https://shop.example/pricing?utm_source=x" },
        { BK_PROFILE_PAGE_TITLE, "Priser" }, { BK_PROFILE_VISIT_REFERRER, "https://search.example/" },
        { BK_PROFILE_UTM_SOURCE, "news" }, { BK_PROFILE_UTM_MEDIUM, "mail" },
        { BK_PROFILE_UTM_CAMPAIGN, "spring" }, { BK_PROFILE_UTM_TERM, "shoes" },
        { BK_PROFILE_UTM_CONTENT, "top" }, { BK_PROFILE_LANG, "da" }, { BK_PROFILE_DEVICE, "mobile" },
        { BK_PROFILE_ATTRS, "{\"plan\":\"pro\",\"seats\":5}" }, { BK_PROFILE_INV_DAY, "20251122" },
    };
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++)
        CHECK_STR(bk_profile_string(p, strings[i].f), strings[i].want, "full: string field %d", (int)strings[i].f);
    static const struct { bk_profile_number_field f; int64_t want; } numbers[] = {
        { BK_PROFILE_PAGE_STARTED, 1763846405000 }, { BK_PROFILE_VISIT_STARTED, 1763846400000 },
        { BK_PROFILE_VISIT_PAGES, 3 }, { BK_PROFILE_VISITS, 4 }, { BK_PROFILE_CHATS, 2 },
        { BK_PROFILE_LAST_CHAT, 1763000000000 }, { BK_PROFILE_LAST_EVENT, 1763846405000 },
        { BK_PROFILE_INV_TODAY, 1 }, { BK_PROFILE_LAST_DISMISSED, 1763846000000 },
    };
    for (size_t i = 0; i < sizeof numbers / sizeof numbers[0]; i++)
        CHECK(bk_profile_number(p, numbers[i].f, -7) == numbers[i].want, "full: number field %d", (int)numbers[i].f);
    CHECK(bk_profile_conversation_open(p), "full: conv set -> a conversation is open");
    CHECK(bk_profile_consented(p), "full: consent \"1\" -> consented");
    const bk_profile_cap *caps;
    size_t n = bk_profile_caps(p, &caps);
    CHECK(n == 2, "full: two rules with cap state (got %zu)", n);
    if (n == 2) {
        CHECK_STR(caps[0].rule, "r1", "caps: first rule");
        CHECK(caps[0].visit == 4 && caps[0].count == 2 && caps[0].last_ms == 1763846300000,
              "caps: r1 visit 4, count 2, last");
        CHECK_STR(caps[1].rule, "r2", "caps: second rule, its :last listed before its :visit");
        CHECK(caps[1].visit == 3 && caps[1].count == 1 && caps[1].last_ms == 5, "caps: r2 paired");
    }
    /* one block, only what the rules read: far below the ~1.9 KB a jansson tree of it took */
    CHECK(bk_profile_size(p) < 600, "full: %zu bytes", bk_profile_size(p));
    bk_profile_free(p);
}

/* Missing, empty and non-string members all read as missing. */
static void test_missing(void)
{
    bk_profile *p = parse("{\"site\":\"\",\"visits\":\"\",\"chats\":7,\"lang\":null,\"conv\":\"\","
                          "\"consent\":\"0\",\"caps\":{}}");
    CHECK(p != NULL, "missing: parsed");
    CHECK(bk_profile_string(p, BK_PROFILE_SITE) == NULL, "missing: \"\" string is NULL");
    CHECK(bk_profile_string(p, BK_PROFILE_LANG) == NULL, "missing: null is NULL");
    CHECK(bk_profile_string(p, BK_PROFILE_DEVICE) == NULL, "missing: absent is NULL");
    CHECK(bk_profile_number(p, BK_PROFILE_VISITS, -1) == -1, "missing: \"\" number is the default");
    CHECK(bk_profile_number(p, BK_PROFILE_CHATS, 0) == 0, "missing: a JSON number is not a hash value");
    CHECK(!bk_profile_conversation_open(p), "missing: conv \"\" -> none open");
    CHECK(!bk_profile_consented(p), "missing: consent \"0\" -> not consented");
    const bk_profile_cap *caps;
    CHECK(bk_profile_caps(p, &caps) == 0, "missing: empty caps");
    bk_profile_set_conversation_open(p);
    CHECK(bk_profile_conversation_open(p), "set_conversation_open: now open");
    bk_profile_free(p);

    CHECK(bk_profile_string(NULL, BK_PROFILE_SITE) == NULL && bk_profile_number(NULL, BK_PROFILE_VISITS, -1) == -1 &&
          !bk_profile_conversation_open(NULL) && !bk_profile_consented(NULL) && bk_profile_caps(NULL, &caps) == 0,
          "NULL: reads as the empty profile");
    bk_profile_set_conversation_open(NULL);
    bk_profile_free(NULL);
}

/* JSON escapes decode to the same bytes jansson gives. */
static void test_escapes(void)
{
    static const struct { const char *json; const char *want; } rows[] = {
        { "\"a\\\"b\\\\c\\/d\"", "a\"b\\c/d" },
        { "\"\\b\\f\\n\\r\\t\"", "\b\f\n\r\t" },
        { "\"\\u00e6\\u20AC\"", "\xc3\xa6\xe2\x82\xac" },
        { "\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80" },
        { "\"raw \xc3\xa6 \xf0\x9f\x98\x80\"", "raw \xc3\xa6 \xf0\x9f\x98\x80" },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char json[256];
        snprintf(json, sizeof json, "{\"page_title\":%s}", rows[i].json);
        bk_profile *p = parse(json);
        CHECK_STR(bk_profile_string(p, BK_PROFILE_PAGE_TITLE), rows[i].want, "escapes: %s", shown(rows[i].json));
        json_t *j = json_loads(json, 0, NULL);
        CHECK_STR(bk_profile_string(p, BK_PROFILE_PAGE_TITLE), json_string_value(json_object_get(j, "page_title")),
                  "escapes: same as jansson for %s", shown(rows[i].json));
        json_decref(j);
        bk_profile_free(p);
    }
}

/* What jansson refuses, the profile refuses (the tracker then keeps the profile it had), and
 * the other way round. */
static void test_refused(void)
{
    static const char *const bad[] = {
        "", "[]", "\"x\"", "1", "null", "{", "{\"site\":\"a\"", "{\"site\":\"a\"} x", "{\"site\" \"a\"}",
        "{\"site\":\"a\",}", "{,}", "{\"site\":\"a\x01\"}", "{\"site\":\"\\x\"}", "{\"site\":\"\\ud800\"}",
        "{\"site\":\"\\udc00\"}", "{\"site\":\"\\ud83d\\u0041\"}", "{\"site\":\"\\u0000\"}", "{\"site\":\"\\u12\"}",
        "{\"site\":\"\xff\"}", "{\"site\":\"\xc3\"}", "{\"x\":tru}", "{\"x\":01}", "{\"x\":1.}", "{\"x\":-}",
        "{\"x\":[1,]}", "{\"x\":{\"a\"}}", "{\"caps\":{\"r:visit\":\"1 1\",}}", "{\"caps\":{\"r:visit\"}}",
        "{\"site\":\"a\"}}", "{\"site\":'a'}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bk_profile *p = parse(bad[i]);
        CHECK(p == NULL, "refused: %s", shown(bad[i]));
        json_t *j = json_loads(bad[i], 0, NULL);
        CHECK(!json_is_object(j), "jansson refuses it too: %s", shown(bad[i]));
        json_decref(j);
        bk_profile_free(p);
    }
    static const char *const good[] = {
        "{}", " { } ", "{\"x\":1}", "{\"x\":-0.5e+3,\"y\":true,\"z\":false,\"w\":null}",
        "{\"x\":[1,[2,{\"a\":[]}],{}],\"site\":\"s\"}", "{\"caps\":{\"r:visit\":5,\"q:last\":[1]}}",
        "{\"caps\":\"none\"}", "\n{\"site\" : \"s\" ,\t\"lang\":\"en\"}\r\n",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        bk_profile *p = parse(good[i]);
        CHECK(p != NULL, "accepted: %s", shown(good[i]));
        json_t *j = json_loads(good[i], 0, NULL);
        CHECK(json_is_object(j), "jansson accepts it too: %s", shown(good[i]));
        json_decref(j);
        bk_profile_free(p);
    }
}

/* parse() and jansson agree on text; returns the profile for more checks. */
static bk_profile *parse_as_jansson(const char *what, const char *json, size_t len, int accepted)
{
    bk_profile *p = bk_profile_parse(json, len);
    json_t *j = json_loadb(json, len, 0, NULL);
    CHECK((p != NULL) == accepted && json_is_object(j) == accepted, "%s: %s by both", what,
          accepted ? "accepted" : "refused");
    json_decref(j);
    return p;
}

/* jansson's limits are the profile's too (tests/fuzz/regressions/fuzz_profile/ holds the
 * inputs the differential fuzzer checks them with). */
static void test_limits(void)
{
    static const struct { const char *json; int accepted; } rows[] = {
        { "{\"n\":9223372036854775807}", 1 },
        { "{\"n\":9223372036854775808}", 0 },
        { "{\"n\":-9223372036854775808}", 1 },
        { "{\"n\":-9223372036854775809}", 0 },
        { "{\"n\":12345678901234567890123}", 0 },
        { "{\"n\":1.7976931348623157e308}", 1 },
        { "{\"n\":1e309}", 0 },
        { "{\"n\":-1e400}", 0 },
        { "{\"n\":1e-400}", 1 },  /* underflow is no error to jansson */
        { "{\"caps\":{\"r:visit\":[9223372036854775808]}}", 0 },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        bk_profile_free(parse_as_jansson(rows[i].json, rows[i].json, strlen(rows[i].json), rows[i].accepted));

    /* jansson refuses a value nested deeper than 2048 levels (the object itself is level 1) */
    size_t size = 8 + 2 * 2048 + 8;
    char *deep = malloc(size);
    for (int levels = 2047; levels <= 2049; levels++) {
        for (int scalar = 0; scalar <= 1; scalar++) {
            size_t n = 0;
            n += (size_t)snprintf(deep, size, "{\"x\":");
            for (int i = 2; i <= levels; i++)
                deep[n++] = '[';
            if (scalar)
                deep[n++] = '1';
            for (int i = 2; i <= levels; i++)
                deep[n++] = ']';
            deep[n++] = '}';
            char what[64];
            snprintf(what, sizeof what, "nesting: %d levels%s", levels, scalar ? " and a number" : "");
            int accepted = levels + scalar <= 2048;
            bk_profile_free(parse_as_jansson(what, deep, n, accepted));
        }
    }
    free(deep);

    /* The one deliberate difference: jansson 2.14 drops a single NUL byte right after a number
     * or true/false/null (and accepts {"n":1<NUL>}); the profile refuses every raw NUL. */
    static const char nul[] = "{\"n\":1\0}";
    bk_profile *p = bk_profile_parse(nul, sizeof nul - 1);
    CHECK(p == NULL, "a raw NUL after a number is refused (jansson takes it)");
    bk_profile_free(p);
}

/* Members the rules do not read are skipped, whatever their shape; the rest is still read. */
static void test_skipped(void)
{
    bk_profile *p = parse("{\"a_very_long_member_name_that_is_no_field_at_all_x\":\"x\",\"x\":[1,{\"site\":\"no\"}],"
                          "\"site\":\"yes\",\"attrsx\":\"no\",\"n\":-12.5e3,\"visits\":\"9\"}");
    CHECK_STR(bk_profile_string(p, BK_PROFILE_SITE), "yes", "skipped: a nested \"site\" is not the profile's");
    CHECK(bk_profile_string(p, BK_PROFILE_ATTRS) == NULL, "skipped: a name that only starts like a field");
    CHECK(bk_profile_number(p, BK_PROFILE_VISITS, -1) == 9, "skipped: read on after them");
    bk_profile_free(p);
}

/* A repeated member: the last one counts, as with jansson. */
static void test_repeated(void)
{
    bk_profile *p = parse("{\"site\":\"one\",\"visits\":\"1\",\"site\":\"two\",\"visits\":\"\",\"conv\":\"c\",\"conv\":\"\","
                          "\"caps\":{\"a:visit\":\"1 1\"},\"caps\":{\"b:visit\":\"1 1\"}}");
    CHECK_STR(bk_profile_string(p, BK_PROFILE_SITE), "two", "repeated: last string wins");
    CHECK(bk_profile_number(p, BK_PROFILE_VISITS, -1) == -1, "repeated: last number wins, even when empty");
    CHECK(!bk_profile_conversation_open(p), "repeated: last conv wins");
    const bk_profile_cap *caps;
    size_t n = bk_profile_caps(p, &caps);
    CHECK(n == 1 && strcmp(caps[0].rule, "b") == 0, "repeated: the last caps object replaces the first");
    bk_profile_free(p);

    p = parse("{\"caps\":{\"a:visit\":\"1 1\"},\"caps\":5}");
    CHECK(p && bk_profile_caps(p, &caps) == 0, "repeated: caps replaced by a number means no caps");
    bk_profile_free(p);
    p = parse("{\"caps\":{\"a:visit\":\"1 1\"},\"caps\":\"x\"}");
    CHECK(p && bk_profile_caps(p, &caps) == 0, "repeated: caps replaced by a string means no caps");
    bk_profile_free(p);
    p = parse("{\"caps\":{\"a:visit\":\"2 3\",\"a:last\":\"9\",\"a:visit\":\"x\"}}");
    CHECK(p && bk_profile_caps(p, &caps) == 0, "repeated: a malformed last \":visit\" drops the rule");
    bk_profile_free(p);
    p = parse("{\"caps\":{\"a:visit\":\"2 3\",\"a:last\":\"9\",\"a:last\":null}}");
    n = bk_profile_caps(p, &caps);
    CHECK(n == 1 && caps[0].last_ms == 0, "repeated: a last \":last\" that is not a string reads as none");
    bk_profile_free(p);
    /* jansson keeps a repeated key where it first was: the rule's place is its first key's */
    p = parse("{\"caps\":{\"b:last\":5,\"a:visit\":\"1 1\",\"b:visit\":\"1 2\",\"b:last\":\"7\"}}");
    n = bk_profile_caps(p, &caps);
    CHECK(n == 2 && strcmp(caps[0].rule, "b") == 0 && caps[0].last_ms == 7 && strcmp(caps[1].rule, "a") == 0,
          "repeated: a rule is listed where its first key is, even one that is not a string");
    bk_profile_free(p);
}

/* Cap entries: only well-formed ":visit" entries make a rule's state. */
static void test_caps(void)
{
    char long_rule[BK_ID_MAX + 2];
    memset(long_rule, 'r', sizeof long_rule - 1);
    long_rule[sizeof long_rule - 1] = '\0';
    char json[512];
    snprintf(json, sizeof json,
             "{\"caps\":{\"only:last\":\"9\",\"bad:visit\":\"x\",\"half:visit\":\"7\",\"a:b:visit\":\"2 3\","
             "\"%s:visit\":\"1 1\",\"novisit\":\"1 1\",\"ok:visit\":\" 5  6 \",\"ok:other\":\"1\"}}", long_rule);
    bk_profile *p = parse(json);
    const bk_profile_cap *caps;
    size_t n = bk_profile_caps(p, &caps);
    CHECK(n == 2, "caps: two usable entries (got %zu)", n);
    if (n == 2) {
        CHECK(strcmp(caps[0].rule, "a:b") == 0 && caps[0].visit == 2 && caps[0].count == 3 && caps[0].last_ms == 0,
              "caps: the rule id is everything before the last colon; no :last -> 0");
        CHECK(strcmp(caps[1].rule, "ok") == 0 && caps[1].visit == 5 && caps[1].count == 6,
              "caps: spaces around the numbers are fine");
    }
    bk_profile_free(p);

    /* more rules than the cap: the first BK_PROFILE_CAPS_MAX are kept */
    size_t size = 32 + (BK_PROFILE_CAPS_MAX + 10) * 24;
    char *big = malloc(size);
    size_t used = (size_t)snprintf(big, size, "{\"caps\":{");
    for (int i = 0; i < BK_PROFILE_CAPS_MAX + 10; i++)
        used += (size_t)snprintf(big + used, size - used, "%s\"r%d:visit\":\"1 %d\"", i ? "," : "", i, i);
    snprintf(big + used, size - used, "}}");
    p = parse(big);
    n = bk_profile_caps(p, &caps);
    CHECK(n == BK_PROFILE_CAPS_MAX, "caps: at most %d kept (got %zu)", BK_PROFILE_CAPS_MAX, n);
    CHECK(n > 0 && caps[n - 1].count == BK_PROFILE_CAPS_MAX - 1, "caps: the first ones, in order");
    bk_profile_free(p);
    free(big);

    /* many rules without a usable ":visit" first: a later one with it is still kept */
    size = 32 + 3 * BK_PROFILE_CAPS_MAX * 20;
    big = malloc(size);
    used = (size_t)snprintf(big, size, "{\"caps\":{");
    for (int i = 0; i < 3 * BK_PROFILE_CAPS_MAX; i++)
        used += (size_t)snprintf(big + used, size - used, "\"r%d:last\":\"1\",", i);
    snprintf(big + used, size - used, "\"x:visit\":\"1 1\"}}");
    p = parse(big);
    n = bk_profile_caps(p, &caps);
    CHECK(n == 1 && strcmp(caps[0].rule, "x") == 0, "caps: found after %d rules without one", 3 * BK_PROFILE_CAPS_MAX);
    bk_profile_free(p);
    free(big);
}

/* The profile of a visitor who said hello and nothing else (the idle benchmark's visitors). */
static void test_small(void)
{
    bk_profile *p = parse("{\"created\":\"1763846400000\",\"last_seen\":\"1763846400000\",\"site\":\"bench\","
                          "\"lang\":\"en\",\"caps\":{}}");
    CHECK(p != NULL && bk_profile_size(p) <= 200, "small: %zu bytes for a hello-only visitor", bk_profile_size(p));
    bk_profile_free(p);
}

/* A page view or event applied on the node (track.lua answered without the profile): what
 * the script wrote changes, everything else stays, caps included. */
static void test_tracked(void)
{
    bk_profile *old = parse(full);
    const int64_t now = 1763846500000;
    bk_profile_tracked page = { .now = now, .rev = 8, .visits = 4, .visit_started = 1763846400000,
                                .visit_pages = 4, .page_url = "https://shop.example/cart", .page_title = "Kurv",
                                .referrer = "https://elsewhere.example/", .utm = { "ad", "", "", "", "" } };
    bk_profile *p = bk_profile_tracked_new(old, &page);
    CHECK(p != NULL, "tracked: made");
    CHECK_STR(bk_profile_string(p, BK_PROFILE_PAGE_URL), "https://shop.example/cart", "tracked: page url");
    CHECK_STR(bk_profile_string(p, BK_PROFILE_PAGE_TITLE), "Kurv", "tracked: page title");
    CHECK(bk_profile_number(p, BK_PROFILE_PAGE_STARTED, 0) == now && bk_profile_number(p, BK_PROFILE_LAST_EVENT, 0) == now,
          "tracked: page_started and last_event are the event's time");
    CHECK(bk_profile_number(p, BK_PROFILE_VISIT_PAGES, 0) == 4 && bk_profile_number(p, BK_PROFILE_REV, 0) == 8,
          "tracked: visit_pages and profile_rev as answered");
    CHECK_STR(bk_profile_string(p, BK_PROFILE_VISIT_REFERRER), "https://search.example/",
              "tracked: the visit goes on: its referrer stays");
    CHECK_STR(bk_profile_string(p, BK_PROFILE_UTM_CAMPAIGN), "spring", "tracked: ... and its utm");
    CHECK_STR(bk_profile_string(p, BK_PROFILE_ATTRS), "{\"plan\":\"pro\",\"seats\":5}", "tracked: attrs stay");
    CHECK(bk_profile_conversation_open(p) && bk_profile_consented(p) && bk_profile_number(p, BK_PROFILE_CHATS, 0) == 2,
          "tracked: conversation, consent and chats stay");
    const bk_profile_cap *caps;
    size_t n = bk_profile_caps(p, &caps);
    CHECK(n == 2 && strcmp(caps[1].rule, "r2") == 0 && caps[1].visit == 3 && caps[1].last_ms == 5,
          "tracked: the caps stay (%zu)", n);

    /* a visit starting now takes the event's referrer and utm ("" is missing) */
    page.visit_started = now;
    page.visits = 5;
    page.visit_pages = 1;
    bk_profile *q = bk_profile_tracked_new(p, &page);
    CHECK_STR(bk_profile_string(q, BK_PROFILE_VISIT_REFERRER), "https://elsewhere.example/", "tracked: new visit: referrer");
    CHECK_STR(bk_profile_string(q, BK_PROFILE_UTM_SOURCE), "ad", "tracked: new visit: utm_source");
    CHECK(bk_profile_string(q, BK_PROFILE_UTM_CAMPAIGN) == NULL, "tracked: new visit: an utm it lacks is missing");
    CHECK(bk_profile_number(q, BK_PROFILE_VISITS, 0) == 5 && bk_profile_number(q, BK_PROFILE_VISIT_STARTED, 0) == now,
          "tracked: new visit: visits and its start");
    bk_profile_free(p);

    /* a custom event: the page stays; visit_pages -1 is none stored */
    bk_profile_tracked event = { .now = now + 1, .rev = 9, .visits = 5, .visit_started = now, .visit_pages = -1,
                                 .referrer = "", .utm = { "", "", "", "", "" } };
    p = bk_profile_tracked_new(q, &event);
    CHECK_STR(bk_profile_string(p, BK_PROFILE_PAGE_URL), "https://shop.example/cart", "tracked: event: the page stays");
    CHECK(bk_profile_number(p, BK_PROFILE_PAGE_STARTED, 0) == now, "tracked: event: page_started stays");
    CHECK(bk_profile_number(p, BK_PROFILE_VISIT_PAGES, -1) == -1, "tracked: event: visit_pages -1 is missing");
    CHECK_STR(bk_profile_string(p, BK_PROFILE_UTM_SOURCE), "ad", "tracked: event in the same visit: utm stays");
    bk_profile_free(p);
    bk_profile_free(q);

    /* on the empty profile (NULL) */
    p = bk_profile_tracked_new(NULL, &event);
    CHECK(p && bk_profile_number(p, BK_PROFILE_VISITS, 0) == 5 && bk_profile_string(p, BK_PROFILE_SITE) == NULL,
          "tracked: from no profile");
    bk_profile_free(p);
    bk_profile_free(old);
}

int main(void)
{
    test_full();
    test_missing();
    test_escapes();
    test_refused();
    test_limits();
    test_skipped();
    test_repeated();
    test_caps();
    test_small();
    test_tracked();
    return check_done();
}
