/* test_rules.c - table-driven tests of the rule engine.
 *
 * Most tables go through the public API (include/beckon/rules.h). The glob
 * matcher and the time zone reader are also tested directly, through their
 * private headers, because their edge cases are easier to state there. */
#include "beckon/rules.h"
#include "rules/glob.h"
#include "rules/tz.h"

#include "check.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SECOND 1000LL
#define MINUTE (60 * SECOND)
#define HOUR (60 * MINUTE)
#define DAY (24 * HOUR)

/* ---- helpers ------------------------------------------------------ */

/* Milliseconds since the epoch of a UTC civil time (timegm ignores TZ). */
static int64_t utc(int year, int month, int day, int hour, int minute, int second)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = minute;
    tm.tm_sec = second;
    return (int64_t)timegm(&tm) * SECOND;
}

/* Monday 2026-03-30 08:30 UTC, 10:30 in Copenhagen (CEST, the day after
 * the spring change). */
static int64_t NOW;

static bk_rule_set *set_from(const char *json_array)
{
    bk_rule_set *set = bk_rule_set_new();
    bk_rules_error err;
    int rc = bk_rule_set_load_json(set, json_array, strlen(json_array), &err);
    if (rc != BK_RULES_OK)
        printf("# load failed: %s: %s\n", err.path, err.message);
    return set;
}

/* A rule around a `when`, with a zone so time.* conditions are allowed. */
static bk_rule_set *set_with_when(const char *when)
{
    char json[4096];
    snprintf(json, sizeof json,
             "[{\"id\":\"r\",\"when\":%s,\"only\":{\"tz\":\"Europe/Copenhagen\"},"
             "\"then\":{\"invite\":{\"text\":\"Hej\"}}}]",
             when);
    return set_from(json);
}

static const bk_rules_attr full_attrs[] = {
    {"plan", {BK_RULES_VALUE_STRING, "pro", 0, false}},
    {"seats", {BK_RULES_VALUE_NUMBER, NULL, 12, false}},
    {"trial", {BK_RULES_VALUE_BOOL, NULL, 0, true}},
    {"company", {BK_RULES_VALUE_STRING, "Blåbær ApS", 0, false}},
};

static const bk_rules_attr full_props[] = {
    {"value", {BK_RULES_VALUE_NUMBER, NULL, 499.5, false}},
    {"sku", {BK_RULES_VALUE_STRING, "A-1", 0, false}},
};

/* A visitor about whom everything is known. */
static bk_rules_context full_context(void)
{
    bk_rules_context c;
    bk_rules_context_init(&c);
    c.site = "demo";
    c.page_url = "https://shop.example.dk/pricing/teams?plan=pro#faq";
    c.page_title = "Priser – Kan jeg hjælpe? æøå";
    c.page_started_ms = NOW - 45 * SECOND;
    c.visit_started_ms = NOW - 300 * SECOND;
    c.visit_pages = 4;
    c.referrer = "https://www.google.com/";
    c.utm_source = "newsletter";
    c.utm_medium = "email";
    c.utm_campaign = "forår-2026";
    c.utm_term = "crm";
    c.utm_content = "banner";
    c.visits = 3;
    c.chats = 1;
    c.last_chat_ms = NOW - 10 * DAY;
    c.lang = "da-DK";
    c.device = "mobile";
    c.attrs = full_attrs;
    c.attr_count = sizeof full_attrs / sizeof full_attrs[0];
    c.event_name = "cart_add";
    c.event_props = full_props;
    c.event_prop_count = sizeof full_props / sizeof full_props[0];
    c.last_event_ms = NOW - 20 * SECOND;
    c.conversation_open = false;
    c.agents_available = true;
    return c;
}

static const char *evaluate_id(const bk_rule_set *set, const bk_rules_context *ctx, int64_t now,
                               const bk_rules_settings *settings, int64_t *next_check)
{
    bk_rules_result result;
    int rc = bk_rule_set_evaluate(set, ctx, now, settings, &result);
    if (rc != BK_RULES_OK)
        return "(error)";
    if (next_check)
        *next_check = result.next_check_ms;
    return result.rule_id;
}

/* ---- every field and operator ------------------------------------- */

enum { FULL, EMPTY };

typedef struct field_row {
    const char *when;
    int context;
    bool fires;
} field_row;

static const field_row field_rows[] = {
    /* page.url: the full URL, query and fragment included */
    {"{\"page.url\":\"https://shop.example.dk/pricing/teams?plan=pro#faq\"}", FULL, true},
    {"{\"page.url\":{\"contains\":\"/pricing/\"}}", FULL, true},
    {"{\"page.url\":{\"contains\":\"/Pricing/\"}}", FULL, false},
    {"{\"page.url\":{\"starts_with\":\"https://shop.\"}}", FULL, true},
    {"{\"page.url\":{\"starts_with\":\"http://shop.\"}}", FULL, false},
    {"{\"page.url\":{\"glob\":\"*/pricing/*\"}}", FULL, true},
    {"{\"page.url\":{\"glob\":\"/pricing*\"}}", FULL, false},
    {"{\"page.url\":{\"regex\":\"plan=(pro|team)\"}}", FULL, true},
    {"{\"page.url\":{\"!=\":\"https://shop.example.dk/\"}}", FULL, true},
    {"{\"page.url\":{\"exists\":true}}", FULL, true},
    /* page.path, derived from the URL when not given */
    {"{\"page.path\":\"/pricing/teams\"}", FULL, true},
    {"{\"page.path\":{\"glob\":\"/pricing*\"}}", FULL, true},
    {"{\"page.path\":{\"glob\":\"/pricing\"}}", FULL, false},
    {"{\"page.path\":{\"glob\":\"/pricing/????s\"}}", FULL, true},
    {"{\"page.path\":{\"starts_with\":\"/pricing\"}}", FULL, true},
    {"{\"page.path\":{\"regex\":\"^/pricing/(teams|solo)$\"}}", FULL, true},
    {"{\"page.path\":{\"regex\":\"^/pricing$\"}}", FULL, false},
    {"{\"page.path\":{\"in\":[\"/\",\"/pricing/teams\"]}}", FULL, true},
    {"{\"page.path\":{\"in\":[\"/\",\"/pricing\"]}}", FULL, false},
    /* page.title with UTF-8 */
    {"{\"page.title\":{\"contains\":\"hjælpe\"}}", FULL, true},
    {"{\"page.title\":{\"contains\":\"Hjælpe\"}}", FULL, false},
    {"{\"page.title\":{\"contains\":\"æøå\"}}", FULL, true},
    {"{\"page.title\":{\"starts_with\":\"Priser – Kan\"}}", FULL, true},
    {"{\"page.title\":{\"starts_with\":\"Kan jeg hjælpe\"}}", FULL, false},
    {"{\"page.title\":{\"glob\":\"*æø?\"}}", FULL, true},
    {"{\"page.title\":{\"glob\":\"*æ??\"}}", FULL, true},
    {"{\"page.title\":{\"glob\":\"*æ???\"}}", FULL, false},
    {"{\"page.title\":{\"regex\":\"Kan jeg hjælpe\"}}", FULL, true},
    {"{\"page.title\":\"Priser – Kan jeg hjælpe? æøå\"}", FULL, true},
    /* page.seconds = 45: every comparison at its boundary */
    {"{\"page.seconds\":{\">=\":45}}", FULL, true},
    {"{\"page.seconds\":{\">=\":46}}", FULL, false},
    {"{\"page.seconds\":{\">\":45}}", FULL, false},
    {"{\"page.seconds\":{\">\":44.5}}", FULL, true},
    {"{\"page.seconds\":{\"<=\":45}}", FULL, true},
    {"{\"page.seconds\":{\"<\":45}}", FULL, false},
    {"{\"page.seconds\":{\"<\":46}}", FULL, true},
    {"{\"page.seconds\":45}", FULL, true},
    {"{\"page.seconds\":{\"!=\":45}}", FULL, false},
    {"{\"page.seconds\":{\"in\":[10,45]}}", FULL, true},
    {"{\"page.seconds\":{\">=\":30,\"<\":60}}", FULL, true},
    {"{\"page.seconds\":{\">=\":30,\"<\":45}}", FULL, false},
    /* visit */
    {"{\"visit.seconds\":{\">=\":300}}", FULL, true},
    {"{\"visit.seconds\":{\">\":300}}", FULL, false},
    {"{\"visit.pages\":{\">=\":3}}", FULL, true},
    {"{\"visit.pages\":4}", FULL, true},
    {"{\"visit.pages\":{\"<\":4}}", FULL, false},
    {"{\"visit.referrer\":{\"contains\":\"google\"}}", FULL, true},
    {"{\"visit.referrer\":{\"glob\":\"https://*.bing.com/*\"}}", FULL, false},
    {"{\"visit.utm.source\":\"newsletter\"}", FULL, true},
    {"{\"visit.utm.medium\":\"email\"}", FULL, true},
    {"{\"visit.utm.campaign\":\"forår-2026\"}", FULL, true},
    {"{\"visit.utm.campaign\":{\"starts_with\":\"forår\"}}", FULL, true},
    {"{\"visit.utm.term\":\"crm\"}", FULL, true},
    {"{\"visit.utm.content\":{\"in\":[\"banner\",\"footer\"]}}", FULL, true},
    /* visitor */
    {"{\"visitor.visits\":{\">=\":2}}", FULL, true},
    {"{\"visitor.visits\":{\">=\":4}}", FULL, false},
    {"{\"visitor.chats\":1}", FULL, true},
    {"{\"visitor.days_since_last_chat\":{\">=\":10}}", FULL, true},
    {"{\"visitor.days_since_last_chat\":{\">=\":11}}", FULL, false},
    {"{\"visitor.lang\":{\"starts_with\":\"da\"}}", FULL, true},
    {"{\"visitor.lang\":{\"in\":[\"da-DK\",\"en\"]}}", FULL, true},
    {"{\"visitor.lang\":{\"!=\":\"da\"}}", FULL, true},
    {"{\"visitor.device\":\"mobile\"}", FULL, true},
    {"{\"visitor.device\":{\"in\":[\"desktop\",\"tablet\"]}}", FULL, false},
    /* site-set attributes: strings, numbers, booleans */
    {"{\"visitor.attrs.plan\":\"pro\"}", FULL, true},
    {"{\"visitor.attrs.plan\":{\"in\":[\"team\",\"pro\"]}}", FULL, true},
    {"{\"visitor.attrs.plan\":{\"contains\":\"r\"}}", FULL, true},
    {"{\"visitor.attrs.seats\":{\">\":10}}", FULL, true},
    {"{\"visitor.attrs.seats\":12}", FULL, true},
    {"{\"visitor.attrs.seats\":\"12\"}", FULL, false},
    {"{\"visitor.attrs.seats\":{\"contains\":\"1\"}}", FULL, false},
    {"{\"visitor.attrs.trial\":true}", FULL, true},
    {"{\"visitor.attrs.trial\":{\"!=\":true}}", FULL, false},
    {"{\"visitor.attrs.company\":{\"glob\":\"Blåbær*\"}}", FULL, true},
    {"{\"visitor.attrs.company\":{\"regex\":\"^Blåbær ApS$\"}}", FULL, true},
    {"{\"visitor.attrs.unknown\":{\"exists\":false}}", FULL, true},
    {"{\"visitor.attrs.unknown\":{\"!=\":\"x\"}}", FULL, true},
    {"{\"visitor.attrs.unknown\":{\">\":0}}", FULL, false},
    /* events */
    {"{\"event.name\":\"cart_add\"}", FULL, true},
    {"{\"event.name\":{\"in\":[\"signup\",\"cart_add\"]}}", FULL, true},
    {"{\"event.name\":\"signup\"}", FULL, false},
    {"{\"event.props.value\":{\">=\":499.5}}", FULL, true},
    {"{\"event.props.value\":{\">\":499.5}}", FULL, false},
    {"{\"event.props.sku\":{\"glob\":\"A-?\"}}", FULL, true},
    /* the clock, in the rule's zone (10:30 CEST on a Monday) */
    {"{\"time.weekday\":\"mon\"}", FULL, true},
    {"{\"time.weekday\":{\"in\":[\"sat\",\"sun\"]}}", FULL, false},
    {"{\"time.weekday\":{\"!=\":\"sun\"}}", FULL, true},
    {"{\"time.hour\":10}", FULL, true},
    {"{\"time.hour\":{\">=\":9,\"<\":17}}", FULL, true},
    {"{\"time.hour\":8}", FULL, false},
    /* conversation and idle */
    {"{\"conversation.open\":false}", FULL, true},
    {"{\"conversation.open\":true}", FULL, false},
    {"{\"conversation.open\":{\"!=\":true}}", FULL, true},
    {"{\"idle.seconds\":{\">=\":20}}", FULL, true},
    {"{\"idle.seconds\":{\">\":20}}", FULL, false},
    /* combinators */
    {"{\"all\":[]}", FULL, true},
    {"{\"all\":[{\"visit.pages\":{\">=\":3}},{\"page.seconds\":{\">=\":30}}]}", FULL, true},
    {"{\"all\":[{\"visit.pages\":{\">=\":3}},{\"page.seconds\":{\">=\":60}}]}", FULL, false},
    {"{\"any\":[{\"visit.pages\":{\">=\":30}},{\"page.seconds\":{\">=\":30}}]}", FULL, true},
    {"{\"any\":[{\"visit.pages\":{\">=\":30}},{\"page.seconds\":{\">=\":60}}]}", FULL, false},
    {"{\"not\":{\"visitor.device\":\"mobile\"}}", FULL, false},
    {"{\"not\":{\"not\":{\"visitor.device\":\"mobile\"}}}", FULL, true},
    {"{\"all\":[{\"any\":[{\"page.path\":{\"glob\":\"/x*\"}},{\"page.path\":{\"glob\":\"/pricing*\"}}]},"
     "{\"not\":{\"conversation.open\":true}}]}", FULL, true},
    /* missing values: comparisons are false, except != and exists:false */
    {"{\"page.url\":{\"exists\":false}}", EMPTY, true},
    {"{\"page.url\":{\"exists\":true}}", EMPTY, false},
    {"{\"page.url\":\"x\"}", EMPTY, false},
    {"{\"page.url\":{\"!=\":\"x\"}}", EMPTY, true},
    {"{\"page.url\":{\"contains\":\"\"}}", EMPTY, false},
    {"{\"page.url\":{\"glob\":\"*\"}}", EMPTY, false},
    {"{\"page.url\":{\"regex\":\".*\"}}", EMPTY, false},
    {"{\"page.path\":{\"in\":[\"/\"]}}", EMPTY, false},
    {"{\"page.seconds\":{\">=\":0}}", EMPTY, false},
    {"{\"page.seconds\":{\"<\":100}}", EMPTY, false},
    {"{\"visit.seconds\":{\"exists\":false}}", EMPTY, true},
    {"{\"visitor.visits\":{\">=\":0}}", EMPTY, false},
    {"{\"visitor.visits\":{\"!=\":1}}", EMPTY, true},
    {"{\"visitor.days_since_last_chat\":{\"<\":30}}", EMPTY, false},
    {"{\"visitor.attrs.plan\":{\"!=\":\"pro\"}}", EMPTY, true},
    {"{\"event.name\":{\"exists\":false}}", EMPTY, true},
    {"{\"idle.seconds\":{\">=\":0}}", EMPTY, false},
    {"{\"conversation.open\":false}", EMPTY, true},
    {"{\"not\":{\"page.url\":{\"contains\":\"x\"}}}", EMPTY, true},
};

static void test_fields(void)
{
    for (size_t i = 0; i < sizeof field_rows / sizeof field_rows[0]; i++) {
        const field_row *row = &field_rows[i];
        bk_rule_set *set = set_with_when(row->when);
        bk_rules_context ctx;
        if (row->context == FULL) {
            ctx = full_context();
        } else {
            bk_rules_context_init(&ctx);
        }
        const char *id = evaluate_id(set, &ctx, NOW, NULL, NULL);
        CHECK((id != NULL) == row->fires && bk_rule_set_count(set) == 1, "field %s on %s context %s", row->when,
              row->context == FULL ? "full" : "empty", row->fires ? "fires" : "does not fire");
        bk_rule_set_free(set);
    }
}

/* ---- page.path from page.url -------------------------------------- */

typedef struct path_row {
    const char *url;
    const char *path;
    const char *pattern;
    bool fires;
} path_row;

static const path_row path_rows[] = {
    {"https://shop.dk", NULL, "/", true},
    {"https://shop.dk?x=1", NULL, "/", true},
    {"https://shop.dk/a/b?q=1#f", NULL, "/a/b", true},
    {"https://shop.dk/a/b#f", NULL, "/a/b", true},
    {"/a/b?q", NULL, "/a/b", true},
    {"https://shop.dk/a", "/explicit", "/explicit", true},
    {"https://shop.dk/a", "", "/a", true},
    {"https://shop.dk:8443/a", NULL, "/a", true},
};

static void test_paths(void)
{
    for (size_t i = 0; i < sizeof path_rows / sizeof path_rows[0]; i++) {
        const path_row *row = &path_rows[i];
        char when[256];
        snprintf(when, sizeof when, "{\"page.path\":\"%s\"}", row->pattern);
        bk_rule_set *set = set_with_when(when);
        bk_rules_context ctx;
        bk_rules_context_init(&ctx);
        ctx.page_url = row->url;
        ctx.page_path = row->path;
        const char *id = evaluate_id(set, &ctx, NOW, NULL, NULL);
        CHECK((id != NULL) == row->fires, "page.path of url %s (path %s) is %s", row->url,
              row->path ? row->path : "unset", row->pattern);
        bk_rule_set_free(set);
    }
}

/* ---- globs -------------------------------------------------------- */

typedef struct glob_row {
    const char *pattern;
    const char *subject;
    bool matches;
} glob_row;

static const glob_row glob_rows[] = {
    {"", "", true},
    {"", "a", false},
    {"*", "", true},
    {"*", "/any/thing", true},
    {"**", "x", true},
    {"*?", "", false},
    {"?", "", false},
    {"?", "a", true},
    {"?", "æ", true},       /* one character, two bytes */
    {"??", "æ", false},
    {"?", "€", true},       /* three bytes */
    {"?", "😀", true},      /* four bytes */
    {"a?c", "abc", true},
    {"a?c", "ac", false},
    {"a*", "a", true},
    {"*a", "ba", true},
    {"*a", "ab", false},
    {"/pricing*", "/pricing", true},
    {"/pricing*", "/pricing/teams", true},
    {"/pricing*", "/about/pricing", false},
    {"/p*/x", "/p/a/b/x", true},  /* * crosses '/' */
    {"*.html", "/a.html", true},
    {"*.html", "/a.htm", false},
    {"*.html", "/a.html.bak", false},
    {"a*b*c", "aXbYbZc", true},
    {"a*b*c", "aXbYbZ", false},
    {"*x*", "xxxx", true},
    {"*ab", "aab", true},
    {"*aab", "aaab", true},
    {"\\*", "*", true},
    {"\\*", "a", false},
    {"a\\?", "a?", true},
    {"a\\?", "ab", false},
    {"\\\\", "\\", true},
    {"[a]", "[a]", true},         /* no bracket classes: literal */
    {"[a]", "a", false},
    {"*æøå", "Blåbær æøå", true},
    {"Bl?bær*", "Blåbær ApS", true},
    {"a*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
    {"/PRICING*", "/pricing", false},
};

static void test_globs(void)
{
    for (size_t i = 0; i < sizeof glob_rows / sizeof glob_rows[0]; i++) {
        const glob_row *row = &glob_rows[i];
        bool got = bk_glob_match(row->pattern, strlen(row->pattern), row->subject, strlen(row->subject));
        CHECK(got == row->matches, "glob \"%s\" %s \"%s\"", row->pattern, row->matches ? "matches" : "rejects",
              row->subject);
    }
}

/* ---- validation errors, each with its exact path ------------------ */

typedef struct error_row {
    const char *json;
    int status;
    const char *path;
    const char *message; /* exact, or a prefix when it ends in '*' */
} error_row;

#define THEN ",\"then\":{\"invite\":{\"text\":\"Hej\"}}"
#define RULE(body) "{\"id\":\"r\"," body "}"
#define WHEN_OK "\"when\":{\"page.seconds\":{\">=\":1}}"

static const error_row error_rows[] = {
    {"not json", BK_RULES_ERR_INVALID, "", "invalid JSON at line 1 column *"},
    {"{\"id\":\"a\",\"id\":\"b\"}", BK_RULES_ERR_INVALID, "", "invalid JSON at line 1 column *"},
    {"[]", BK_RULES_ERR_INVALID, "", "expected a rule object"},
    {"{" WHEN_OK THEN "}", BK_RULES_ERR_INVALID, "id", "required"},
    {"{\"id\":5," WHEN_OK THEN "}", BK_RULES_ERR_INVALID, "id", "expected a string"},
    {"{\"id\":\"bad id!\"," WHEN_OK THEN "}", BK_RULES_ERR_INVALID, "id",
     "must be 1-64 characters of A-Z a-z 0-9 _ -"},
    {"{\"id\":\"\"," WHEN_OK THEN "}", BK_RULES_ERR_INVALID, "id", "must be 1-64 characters of A-Z a-z 0-9 _ -"},
    {"{\"id\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"," WHEN_OK THEN "}",
     BK_RULES_ERR_INVALID, "id", "must be 1-64 characters of A-Z a-z 0-9 _ -"},
    {RULE("\"whem\":{}," WHEN_OK THEN), BK_RULES_ERR_INVALID, "whem",
     "unknown key (expected id, name, description, enabled, priority, when, unless, only, cap, then)"},
    {RULE("\"name\":5," WHEN_OK THEN), BK_RULES_ERR_INVALID, "name", "expected a string"},
    {RULE("\"enabled\":\"yes\"," WHEN_OK THEN), BK_RULES_ERR_INVALID, "enabled", "expected true or false"},
    {RULE("\"priority\":1.5," WHEN_OK THEN), BK_RULES_ERR_INVALID, "priority", "expected an integer"},
    {RULE("\"priority\":2000000," WHEN_OK THEN), BK_RULES_ERR_INVALID, "priority",
     "must be between -1000000 and 1000000"},
    {RULE("\"x\":1" THEN), BK_RULES_ERR_INVALID, "x", "unknown key *"},
    {RULE("\"name\":\"n\"" THEN), BK_RULES_ERR_INVALID, "when", "required"},
    {RULE("\"when\":[]" THEN), BK_RULES_ERR_INVALID, "when", "expected a condition object"},
    {RULE("\"when\":{}" THEN), BK_RULES_ERR_INVALID, "when", "empty condition"},
    {RULE("\"when\":{\"page.seconds\":1,\"visit.pages\":2}" THEN), BK_RULES_ERR_INVALID, "when",
     "a condition has exactly one key; combine several with \"all\""},
    {RULE("\"when\":{\"all\":{}}" THEN), BK_RULES_ERR_INVALID, "when.all", "expected an array of conditions"},
    {RULE("\"when\":{\"any\":[]}" THEN), BK_RULES_ERR_INVALID, "when.any", "must contain at least one condition"},
    {RULE("\"when\":{\"all\":[{\"visit.pages\":1},{\"visit.pages\":2},{\"page.seconds\":{\">=\":\"x\"}}]}" THEN),
     BK_RULES_ERR_INVALID, "when.all[2].page.seconds.>=", "expected a number"},
    {RULE("\"when\":{\"all\":[{\"page.seconds\":\"30\"}]}" THEN), BK_RULES_ERR_INVALID, "when.all[0].page.seconds",
     "expected a number"},
    {RULE("\"when\":{\"all\":[{\"page.ur\":\"/\"}]}" THEN), BK_RULES_ERR_INVALID, "when.all[0].page.ur",
     "unknown field"},
    {RULE("\"when\":{\"page.url\":{\"globb\":\"/\"}}" THEN), BK_RULES_ERR_INVALID, "when.page.url.globb",
     "unknown operator (expected = != < <= > >= contains starts_with glob regex in exists)"},
    {RULE("\"when\":{\"page.url\":{}}" THEN), BK_RULES_ERR_INVALID, "when.page.url", "expected at least one operator"},
    {RULE("\"when\":{\"page.url\":{\"<\":5}}" THEN), BK_RULES_ERR_INVALID, "when.page.url.<",
     "operator < does not apply to page.url (use = != contains starts_with glob regex in exists)"},
    {RULE("\"when\":{\"page.seconds\":{\"contains\":\"3\"}}" THEN), BK_RULES_ERR_INVALID,
     "when.page.seconds.contains", "operator contains does not apply to page.seconds (use = != < <= > >= in exists)"},
    {RULE("\"when\":{\"conversation.open\":{\">\":0}}" THEN), BK_RULES_ERR_INVALID, "when.conversation.open.>",
     "operator > does not apply to conversation.open (use = != exists)"},
    {RULE("\"when\":{\"conversation.open\":\"yes\"}" THEN), BK_RULES_ERR_INVALID, "when.conversation.open",
     "expected true or false"},
    {RULE("\"when\":{\"visitor.lang\":{\"in\":\"da\"}}" THEN), BK_RULES_ERR_INVALID, "when.visitor.lang.in",
     "expected an array"},
    {RULE("\"when\":{\"visitor.lang\":{\"in\":[]}}" THEN), BK_RULES_ERR_INVALID, "when.visitor.lang.in",
     "expected 1 to 100 values"},
    {RULE("\"when\":{\"visitor.lang\":{\"in\":[\"da\",5]}}" THEN), BK_RULES_ERR_INVALID, "when.visitor.lang.in[1]",
     "expected a string"},
    {RULE("\"when\":{\"visitor.attrs.plan\":{\"in\":[\"a\",{}]}}" THEN), BK_RULES_ERR_INVALID,
     "when.visitor.attrs.plan.in[1]", "expected a string, number or boolean"},
    {RULE("\"when\":{\"visitor.lang\":[\"da\",\"en\"]}" THEN), BK_RULES_ERR_INVALID, "when.visitor.lang",
     "expected a single value; use {\"in\": [...]} for a list"},
    {RULE("\"when\":{\"visitor.attrs.plan\":null}" THEN), BK_RULES_ERR_INVALID, "when.visitor.attrs.plan",
     "expected a string, number or boolean"},
    {RULE("\"when\":{\"visitor.attrs.\":1}" THEN), BK_RULES_ERR_INVALID, "when.visitor.attrs.",
     "expected a name after \"visitor.attrs.\" (1-64 of A-Z a-z 0-9 _ - .)"},
    {RULE("\"when\":{\"event.props.a b\":1}" THEN), BK_RULES_ERR_INVALID, "when.event.props.a b",
     "expected a name after \"event.props.\" (1-64 of A-Z a-z 0-9 _ - .)"},
    {RULE("\"when\":{\"page.url\":{\"exists\":\"yes\"}}" THEN), BK_RULES_ERR_INVALID, "when.page.url.exists",
     "expected true or false"},
    {RULE("\"when\":{\"page.url\":{\"regex\":\"(\"}}" THEN), BK_RULES_ERR_INVALID, "when.page.url.regex",
     "invalid regex: *"},
    {RULE("\"when\":{\"any\":[{\"page.url\":{\"regex\":\"a{2,1}\"}}]}" THEN), BK_RULES_ERR_INVALID,
     "when.any[0].page.url.regex", "invalid regex: *"},
    {RULE("\"when\":{\"page.url\":{\"regex\":\"[a-\"}}" THEN), BK_RULES_ERR_INVALID, "when.page.url.regex",
     "invalid regex: *"},
    {RULE("\"when\":{\"page.url\":{\"regex\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}}" THEN),
     BK_RULES_ERR_INVALID, "when.page.url.regex", "too long (max 256 bytes)"},
    {RULE("\"when\":{\"page.path\":{\"glob\":\"/a\\\\\"}}" THEN), BK_RULES_ERR_INVALID, "when.page.path.glob",
     "glob ends with a lone backslash"},
    {RULE("\"when\":{\"page.seconds\":{\">\":1e16}}" THEN), BK_RULES_ERR_INVALID, "when.page.seconds.>",
     "number out of range (max magnitude 1e15)"},
    {RULE("\"when\":{\"time.weekday\":\"monday\"},\"only\":{\"tz\":\"UTC\"}" THEN), BK_RULES_ERR_INVALID,
     "when.time.weekday", "expected a weekday (mon, tue, wed, thu, fri, sat, sun)"},
    {RULE("\"when\":{\"time.weekday\":{\"<\":\"fri\"}},\"only\":{\"tz\":\"UTC\"}" THEN), BK_RULES_ERR_INVALID,
     "when.time.weekday.<", "operator < does not apply to time.weekday (use = != in exists)"},
    {RULE("\"when\":{\"time.hour\":9}" THEN), BK_RULES_ERR_INVALID, "only.tz",
     "required when time.hour or time.weekday is used (e.g. \"Europe/Copenhagen\" or \"UTC\")"},
    {RULE(WHEN_OK ",\"only\":{\"hours\":\"mon-fri 09:00-17:00\"}" THEN), BK_RULES_ERR_INVALID, "only.tz",
     "required when only.hours is set (e.g. \"Europe/Copenhagen\" or \"UTC\")"},
    {RULE(WHEN_OK ",\"only\":{\"tz\":\"Mars/Olympus_Mons\"}" THEN), BK_RULES_ERR_INVALID, "only.tz",
     "unknown time zone"},
    {RULE(WHEN_OK ",\"only\":{\"tz\":\"../../etc/passwd\"}" THEN), BK_RULES_ERR_INVALID, "only.tz",
     "invalid time zone name"},
    {RULE(WHEN_OK ",\"only\":{\"tz\":\"Europe\"}" THEN), BK_RULES_ERR_INVALID, "only.tz", "cannot read time zone: *"},
    {RULE(WHEN_OK ",\"only\":{\"tz\":5}" THEN), BK_RULES_ERR_INVALID, "only.tz", "expected a string"},
    {RULE(WHEN_OK ",\"only\":{\"hours\":\"mon-fri 9-17\",\"tz\":\"UTC\"}" THEN), BK_RULES_ERR_INVALID,
     "only.hours", "expected a time HH:MM at \"9-17\""},
    {RULE(WHEN_OK ",\"only\":{\"hours\":\"mon-fri 17:00-09:00\",\"tz\":\"UTC\"}" THEN), BK_RULES_ERR_INVALID,
     "only.hours", "closing time must be after opening time (split ranges at midnight) at \"17:00-09:00\""},
    {RULE(WHEN_OK ",\"only\":{\"hours\":\"xyz 09:00-10:00\",\"tz\":\"UTC\"}" THEN), BK_RULES_ERR_INVALID,
     "only.hours", "expected a day (mon..sun) at \"xyz 09:00-10:00\""},
    {RULE(WHEN_OK ",\"only\":{\"hours\":\"mon 09:00-25:00\",\"tz\":\"UTC\"}" THEN), BK_RULES_ERR_INVALID,
     "only.hours", "time out of range at \"25:00\""},
    {RULE(WHEN_OK ",\"only\":{\"hours\":\"mon\",\"tz\":\"UTC\"}" THEN), BK_RULES_ERR_INVALID, "only.hours",
     "expected a time range HH:MM-HH:MM at end of text"},
    {RULE(WHEN_OK ",\"only\":{\"hours\":\"mon 09:00-17:00,\",\"tz\":\"UTC\"}" THEN), BK_RULES_ERR_INVALID,
     "only.hours", "expected a day (mon..sun) at end of text"},
    {RULE(WHEN_OK ",\"only\":{\"site\":[]}" THEN), BK_RULES_ERR_INVALID, "only.site", "expected 1 to 100 sites"},
    {RULE(WHEN_OK ",\"only\":{\"site\":[\"a\",\"\"]}" THEN), BK_RULES_ERR_INVALID, "only.site[1]",
     "must not be empty"},
    {RULE(WHEN_OK ",\"only\":{\"site\":5}" THEN), BK_RULES_ERR_INVALID, "only.site",
     "expected a string or an array of strings"},
    {RULE(WHEN_OK ",\"only\":{\"agents_available\":\"yes\"}" THEN), BK_RULES_ERR_INVALID, "only.agents_available",
     "expected true or false"},
    {RULE(WHEN_OK ",\"only\":{\"agents\":true}" THEN), BK_RULES_ERR_INVALID, "only.agents",
     "unknown key (expected agents_available, hours, tz, site)"},
    {RULE(WHEN_OK ",\"cap\":{\"per_visit\":0}" THEN), BK_RULES_ERR_INVALID, "cap.per_visit",
     "must be between 1 and 1000"},
    {RULE(WHEN_OK ",\"cap\":{\"per_visit\":1.5}" THEN), BK_RULES_ERR_INVALID, "cap.per_visit",
     "expected an integer"},
    {RULE(WHEN_OK ",\"cap\":{\"cooldown_days\":-1}" THEN), BK_RULES_ERR_INVALID, "cap.cooldown_days",
     "must be between 0 and 3650"},
    {RULE(WHEN_OK ",\"cap\":{\"per_vist\":1}" THEN), BK_RULES_ERR_INVALID, "cap.per_vist",
     "unknown key (expected per_visit, cooldown_days)"},
    {RULE(WHEN_OK), BK_RULES_ERR_INVALID, "then", "required"},
    {RULE(WHEN_OK ",\"then\":{}"), BK_RULES_ERR_INVALID, "then.invite", "required"},
    {RULE(WHEN_OK ",\"then\":{\"email\":{}}"), BK_RULES_ERR_INVALID, "then.email", "unknown key (expected invite)"},
    {RULE(WHEN_OK ",\"then\":{\"invite\":\"Hej\"}"), BK_RULES_ERR_INVALID, "then.invite", "expected an object"},
    {RULE(WHEN_OK ",\"then\":{\"invite\":{}}"), BK_RULES_ERR_INVALID, "then.invite.text", "required"},
    {RULE(WHEN_OK ",\"then\":{\"invite\":{\"text\":\"\"}}"), BK_RULES_ERR_INVALID, "then.invite.text",
     "must not be empty"},
    {RULE(WHEN_OK ",\"then\":{\"invite\":{\"text\":\"  \\n \"}}"), BK_RULES_ERR_INVALID, "then.invite.text",
     "must not be empty"},
    {RULE(WHEN_OK ",\"then\":{\"invite\":{\"text\":\"Hej\\u0007\"}}"), BK_RULES_ERR_INVALID, "then.invite.text",
     "must be plain text (no control characters)"},
    {RULE(WHEN_OK ",\"then\":{\"invite\":{\"text\":\"Hej\",\"delay_seconds\":-1}}"), BK_RULES_ERR_INVALID,
     "then.invite.delay_seconds", "must be between 0 and 3600"},
    {RULE(WHEN_OK ",\"then\":{\"invite\":{\"text\":\"Hej\",\"agent\":\"\"}}"), BK_RULES_ERR_INVALID,
     "then.invite.agent", "must not be empty"},
    {RULE(WHEN_OK ",\"then\":{\"invite\":{\"text\":\"Hej\",\"html\":\"<b>\"}}"), BK_RULES_ERR_INVALID,
     "then.invite.html", "unknown key (expected text, delay_seconds, agent)"},
    {RULE(WHEN_OK ",\"unless\":{\"nope\":1}" THEN), BK_RULES_ERR_INVALID, "unless.nope", "unknown field"},
};

static bool message_matches(const char *got, const char *want)
{
    size_t n = strlen(want);
    if (n > 0 && want[n - 1] == '*')
        return strncmp(got, want, n - 1) == 0;
    return strcmp(got, want) == 0;
}

static void test_errors(void)
{
    for (size_t i = 0; i < sizeof error_rows / sizeof error_rows[0]; i++) {
        const error_row *row = &error_rows[i];
        bk_rules_error err;
        memset(&err, 0, sizeof err);
        int rc = bk_rule_validate_json(row->json, strlen(row->json), &err);
        bool ok = rc == row->status && strcmp(err.path, row->path) == 0 && message_matches(err.message, row->message);
        CHECK(ok, "error %s: %s", row->path[0] ? row->path : "(document)", row->message);
        if (!ok)
            printf("#   got rc %d, %s: %s\n", rc, err.path, err.message);
    }
}

/* Errors whose JSON is easier to build than to write out. */
static void test_generated_errors(void)
{
    char json[8192];
    bk_rules_error err;
    int rc;

    /* 16 levels of nesting are fine, 17 are not. */
    for (int levels = 16; levels <= 17; levels++) {
        size_t used = (size_t)snprintf(json, sizeof json, "{\"id\":\"r\",\"when\":");
        char path[512] = "when";
        for (int i = 0; i < levels; i++) {
            used += (size_t)snprintf(json + used, sizeof json - used, "{\"not\":");
            strcat(path, ".not");
        }
        used += (size_t)snprintf(json + used, sizeof json - used, "{\"visit.pages\":1}");
        for (int i = 0; i < levels; i++)
            used += (size_t)snprintf(json + used, sizeof json - used, "}");
        snprintf(json + used, sizeof json - used, THEN "}");
        rc = bk_rule_validate_json(json, strlen(json), &err);
        if (levels == 16) {
            CHECK(rc == BK_RULES_OK, "16 levels of nesting are allowed");
        } else {
            CHECK(rc == BK_RULES_ERR_INVALID && strcmp(err.path, path) == 0 &&
                      strcmp(err.message, "nested too deeply (max 16 levels of all/any/not)") == 0,
                  "17 levels of nesting: %s: %s", err.path, err.message);
        }
    }

    /* 64 conditions are fine, 65 are not. */
    for (int count = 64; count <= 65; count++) {
        size_t used = (size_t)snprintf(json, sizeof json, "{\"id\":\"r\",\"when\":{\"all\":[");
        for (int i = 0; i < count; i++)
            used += (size_t)snprintf(json + used, sizeof json - used, "%s{\"visit.pages\":%d}", i ? "," : "", i);
        snprintf(json + used, sizeof json - used, "]}" THEN "}");
        rc = bk_rule_validate_json(json, strlen(json), &err);
        if (count == 64)
            CHECK(rc == BK_RULES_OK, "64 conditions are allowed");
        else
            CHECK(rc == BK_RULES_ERR_INVALID && strcmp(err.path, "when.all[64].visit.pages") == 0 &&
                      strcmp(err.message, "too many conditions (max 64 per rule)") == 0,
                  "65 conditions: %s: %s", err.path, err.message);
    }

    /* Invitation text: 500 characters (1000 bytes of æ) pass, 501 do not. */
    for (int chars = 500; chars <= 501; chars++) {
        size_t used = (size_t)snprintf(json, sizeof json, "{\"id\":\"r\"," WHEN_OK ",\"then\":{\"invite\":{\"text\":\"");
        for (int i = 0; i < chars; i++)
            used += (size_t)snprintf(json + used, sizeof json - used, "æ");
        snprintf(json + used, sizeof json - used, "\"}}}");
        rc = bk_rule_validate_json(json, strlen(json), &err);
        if (chars == 500)
            CHECK(rc == BK_RULES_OK, "500 characters of invitation text are allowed");
        else
            CHECK(rc == BK_RULES_ERR_INVALID && strcmp(err.path, "then.invite.text") == 0 &&
                      strcmp(err.message, "too long (max 500 characters)") == 0,
                  "501 characters: %s: %s", err.path, err.message);
    }

    /* Loading an array: errors carry the rule's position. */
    bk_rule_set *set = bk_rule_set_new();
    const char *bad_array = "[" RULE(WHEN_OK THEN) ",{\"id\":\"s\"," WHEN_OK ",\"then\":{\"invite\":{}}}]";
    rc = bk_rule_set_load_json(set, bad_array, strlen(bad_array), &err);
    CHECK(rc == BK_RULES_ERR_INVALID && strcmp(err.path, "[1].then.invite.text") == 0 &&
              strcmp(err.message, "required") == 0 && bk_rule_set_count(set) == 0,
          "array load error names [1].then.invite.text and adds nothing");
    const char *twice = "[" RULE(WHEN_OK THEN) "," RULE(WHEN_OK THEN) "]";
    rc = bk_rule_set_load_json(set, twice, strlen(twice), &err);
    CHECK(rc == BK_RULES_ERR_DUPLICATE && strcmp(err.path, "[1].id") == 0 &&
              strcmp(err.message, "a rule with id \"r\" already exists") == 0 && bk_rule_set_count(set) == 0,
          "array load with a repeated id fails as a whole");
    const char *object = RULE(WHEN_OK THEN);
    rc = bk_rule_set_load_json(set, object, strlen(object), &err);
    CHECK(rc == BK_RULES_ERR_INVALID && strcmp(err.path, "") == 0 &&
              strcmp(err.message, "expected an array of rules") == 0,
          "load_json wants an array");
    bk_rule_set_free(set);
}

/* ---- set management ----------------------------------------------- */

static void test_set_management(void)
{
    /* CHECK evaluates its condition twice, so calls with side effects are
     * made first and only their results checked. */
    bk_rules_error err;
    bk_rule_set *set = bk_rule_set_new();
    const char *a = RULE(WHEN_OK THEN);
    const char *b = "{\"id\":\"b\"," WHEN_OK THEN "}";
    int rc;

    rc = bk_rule_set_add_json(set, a, strlen(a), &err);
    CHECK(rc == BK_RULES_OK && bk_rule_set_count(set) == 1, "add a rule");
    rc = bk_rule_set_add_json(set, a, strlen(a), &err);
    CHECK(rc == BK_RULES_ERR_DUPLICATE && strcmp(err.path, "id") == 0 &&
              strcmp(err.message, "a rule with id \"r\" already exists") == 0 && bk_rule_set_count(set) == 1,
          "adding the same id again is refused");
    rc = bk_rule_set_add_json(set, b, strlen(b), NULL);
    CHECK(rc == BK_RULES_OK && bk_rule_set_count(set) == 2, "add a second rule, without an error struct");
    const char *arr = "[{\"id\":\"c\"," WHEN_OK THEN "},{\"id\":\"b\"," WHEN_OK THEN "}]";
    rc = bk_rule_set_load_json(set, arr, strlen(arr), &err);
    CHECK(rc == BK_RULES_ERR_DUPLICATE && strcmp(err.path, "[1].id") == 0 && bk_rule_set_count(set) == 2,
          "an array clashing with the set adds nothing");
    rc = bk_rule_set_remove(set, "r");
    CHECK(rc == BK_RULES_OK && bk_rule_set_count(set) == 1, "remove by id");
    rc = bk_rule_set_remove(set, "r");
    CHECK(rc == BK_RULES_ERR_NOT_FOUND, "removing twice reports not found");
    rc = bk_rule_set_add_json(set, a, strlen(a), &err);
    CHECK(rc == BK_RULES_OK, "a removed id can be added again");

    bk_rules_context ctx;
    bk_rules_context_init(&ctx);
    ctx.page_started_ms = NOW - 5 * SECOND;
    bk_rules_result result;
    rc = bk_rule_set_evaluate(set, &ctx, NOW, NULL, &result);
    CHECK(rc == BK_RULES_OK && result.rule_id && strcmp(result.rule_id, "b") == 0 &&
              strcmp(result.invite_text, "Hej") == 0 && strcmp(result.rule_name, "") == 0,
          "evaluate after changes picks the smallest id among equals");
    rc = bk_rule_set_evaluate(NULL, &ctx, NOW, NULL, &result);
    CHECK(rc == BK_RULES_ERR_ARGUMENT, "NULL set is an argument error");
    rc = bk_rule_set_evaluate(set, NULL, NOW, NULL, &result);
    CHECK(rc == BK_RULES_ERR_ARGUMENT, "NULL context is an argument error");
    rc = bk_rule_set_add_json(NULL, a, strlen(a), &err);
    CHECK(rc == BK_RULES_ERR_ARGUMENT, "NULL set on add");
    CHECK_STR(bk_rules_status_name(BK_RULES_ERR_DUPLICATE), "duplicate rule id", "status names");
    CHECK_STR(bk_rules_outcome_name(BK_RULES_OUTCOME_CAP), "cap", "outcome names");
    bk_rule_set_free(set);
    bk_rule_set_free(NULL);
    CHECK(bk_rule_set_count(NULL) == 0, "count of NULL is 0");

    /* A replacement set is built on the side and swapped in whole. */
    bk_rule_set *old_set = set_from("[" RULE(WHEN_OK THEN) "]");
    bk_rule_set *new_set = set_from("[{\"id\":\"new\"," WHEN_OK THEN "}]");
    const char *before = evaluate_id(old_set, &ctx, NOW, NULL, NULL);
    bool old_ok = before && strcmp(before, "r") == 0;
    bk_rule_set_free(old_set);
    const char *after = evaluate_id(new_set, &ctx, NOW, NULL, NULL);
    CHECK(old_ok && after && strcmp(after, "new") == 0, "sets are independent and swappable");
    bk_rule_set_free(new_set);

    /* A rule is not fooled by a JSON document with trailing garbage. */
    const char *trailing = RULE(WHEN_OK THEN) " x";
    rc = bk_rule_validate_json(trailing, strlen(trailing), &err);
    CHECK(rc == BK_RULES_ERR_INVALID, "trailing garbage");
    /* Length is honoured: the text need not be NUL-terminated. */
    char buffer[256];
    size_t len = strlen(a);
    memcpy(buffer, a, len);
    memset(buffer + len, '}', sizeof buffer - len);
    rc = bk_rule_validate_json(buffer, len, &err);
    CHECK(rc == BK_RULES_OK, "validate reads only len bytes");
}

/* ---- caps, budget, quiet time ------------------------------------- */

typedef struct cap_row {
    const char *name;
    const char *cap;            /* the rule's cap object */
    int64_t invitations_this_visit;
    int64_t last_invited_ago;   /* 0 = never */
    int64_t invitations_today;
    int64_t day_ends_in;        /* 0 = unknown */
    int64_t last_dismissed_ago; /* 0 = never */
    int64_t daily_budget;
    int64_t quiet_seconds;
    bool fires;
    int64_t next_check_in;      /* expected next_check_ms - NOW, or -1 for 0 */
} cap_row;

static const cap_row cap_rows[] = {
    {"no history fires", "{}", 0, 0, 0, 0, 0, 0, 0, true, -1},
    {"default per_visit is 1", "{}", 1, 0, 0, 0, 0, 0, 0, false, -1},
    {"per_visit 1 used up", "{\"per_visit\":1}", 1, HOUR, 0, 0, 0, 0, 0, false, -1},
    {"per_visit 2 with 1 used", "{\"per_visit\":2}", 1, HOUR, 0, 0, 0, 0, 0, true, -1},
    {"per_visit 2 with 2 used", "{\"per_visit\":2}", 2, HOUR, 0, 0, 0, 0, 0, false, -1},
    {"cooldown running", "{\"cooldown_days\":7}", 0, 6 * DAY, 0, 0, 0, 0, 0, false, DAY},
    {"cooldown over", "{\"cooldown_days\":7}", 0, 8 * DAY, 0, 0, 0, 0, 0, true, -1},
    {"cooldown exactly over", "{\"cooldown_days\":7}", 0, 7 * DAY, 0, 0, 0, 0, 0, true, -1},
    {"half-day cooldown", "{\"cooldown_days\":0.5}", 0, 2 * HOUR, 0, 0, 0, 0, 0, false, 10 * HOUR},
    {"budget left", "{}", 0, 0, 2, 0, 0, 3, 0, true, -1},
    {"budget used, reset unknown", "{}", 0, 0, 3, 0, 0, 3, 0, false, -1},
    {"budget used, resets at midnight", "{}", 0, 0, 3, 5 * HOUR, 0, 3, 0, false, 5 * HOUR},
    {"no budget means unlimited", "{}", 0, 0, 50, 0, 0, 0, 0, true, -1},
    {"quiet after dismissal", "{}", 0, 0, 0, 0, 100 * SECOND, 0, 300, false, 200 * SECOND},
    {"quiet time over", "{}", 0, 0, 0, 0, 400 * SECOND, 0, 300, true, -1},
    {"dismissal without quiet setting", "{}", 0, 0, 0, 0, 10 * SECOND, 0, 0, true, -1},
    {"cooldown and quiet: the later wins", "{\"cooldown_days\":1}", 0, 23 * HOUR, 0, 0, 10 * SECOND, 0, 600,
     false, HOUR},
};

static void test_caps(void)
{
    for (size_t i = 0; i < sizeof cap_rows / sizeof cap_rows[0]; i++) {
        const cap_row *row = &cap_rows[i];
        char json[512];
        snprintf(json, sizeof json, "[{\"id\":\"capped\",\"when\":{\"visit.pages\":{\">=\":1}},\"cap\":%s" THEN "}]",
                 row->cap);
        bk_rule_set *set = set_from(json);
        bk_rules_context ctx;
        bk_rules_context_init(&ctx);
        ctx.visit_pages = 2;
        bk_rules_cap_state state = {"capped", row->invitations_this_visit,
                                    row->last_invited_ago ? NOW - row->last_invited_ago : 0};
        bk_rules_cap_state other = {"other-rule", 99, NOW};
        bk_rules_cap_state states[2] = {other, state};
        ctx.caps = states;
        ctx.cap_count = 2;
        ctx.invitations_today = row->invitations_today;
        ctx.day_ends_ms = row->day_ends_in ? NOW + row->day_ends_in : 0;
        ctx.last_dismissed_ms = row->last_dismissed_ago ? NOW - row->last_dismissed_ago : 0;
        bk_rules_settings settings = {row->daily_budget, row->quiet_seconds, false};
        int64_t next = -5;
        const char *id = evaluate_id(set, &ctx, NOW, &settings, &next);
        int64_t want_next = row->next_check_in < 0 ? 0 : NOW + row->next_check_in;
        CHECK((id != NULL) == row->fires && next == want_next, "cap: %s", row->name);
        if (next != want_next)
            printf("#   next_check %" PRId64 " want %" PRId64 "\n", next, want_next);
        bk_rule_set_free(set);
    }
}

/* ---- only: site and agents ---------------------------------------- */

typedef struct only_row {
    const char *only;
    const char *site;
    bool agents;
    bool fires;
} only_row;

static const only_row only_rows[] = {
    {"{\"site\":\"demo\"}", "demo", true, true},
    {"{\"site\":\"demo\"}", "other", true, false},
    {"{\"site\":\"demo\"}", NULL, true, false},
    {"{\"site\":[\"a\",\"demo\"]}", "demo", true, true},
    {"{\"agents_available\":true}", "demo", true, true},
    {"{\"agents_available\":true}", "demo", false, false},
    {"{\"agents_available\":false}", "demo", false, true},
    {"{\"agents_available\":false}", "demo", true, false},
    {"{}", NULL, false, true},
};

static void test_only(void)
{
    for (size_t i = 0; i < sizeof only_rows / sizeof only_rows[0]; i++) {
        const only_row *row = &only_rows[i];
        char json[512];
        snprintf(json, sizeof json, "[{\"id\":\"o\",\"when\":{\"all\":[]},\"only\":%s" THEN "}]", row->only);
        bk_rule_set *set = set_from(json);
        bk_rules_context ctx;
        bk_rules_context_init(&ctx);
        ctx.site = row->site;
        ctx.agents_available = row->agents;
        const char *id = evaluate_id(set, &ctx, NOW, NULL, NULL);
        CHECK((id != NULL) == row->fires, "only %s with site %s, agents %s", row->only, row->site ? row->site : "missing",
              row->agents ? "available" : "away");
        bk_rule_set_free(set);
    }
}

/* ---- priority and tie-break --------------------------------------- */

typedef struct priority_row {
    const char *rules;
    const char *winner;
} priority_row;

#define PRULE(id, prio) "{\"id\":\"" id "\",\"priority\":" #prio ",\"when\":{\"all\":[]}" THEN "}"

static const priority_row priority_rows[] = {
    {"[" PRULE("a", 5) "," PRULE("b", 10) "," PRULE("c", 10) "]", "b"},
    {"[" PRULE("c", 10) "," PRULE("b", 10) "," PRULE("a", 5) "]", "b"},
    {"[" PRULE("z", 0) "," PRULE("y", -1) "]", "z"},
    {"[" PRULE("B", 1) "," PRULE("a", 1) "]", "B"}, /* byte order: 'B' < 'a' */
    {"[" PRULE("a-2", 3) "," PRULE("a-10", 3) "]", "a-10"},
    {"[{\"id\":\"top\",\"priority\":99,\"enabled\":false,\"when\":{\"all\":[]}" THEN "}," PRULE("low", 1) "]", "low"},
    {"[{\"id\":\"top\",\"priority\":99,\"when\":{\"visit.pages\":{\">\":100}}" THEN "}," PRULE("low", 1) "]", "low"},
};

static void test_priority(void)
{
    for (size_t i = 0; i < sizeof priority_rows / sizeof priority_rows[0]; i++) {
        bk_rule_set *set = set_from(priority_rows[i].rules);
        bk_rules_context ctx;
        bk_rules_context_init(&ctx);
        ctx.visit_pages = 1;
        const char *id = evaluate_id(set, &ctx, NOW, NULL, NULL);
        CHECK_STR(id, priority_rows[i].winner, "priority: %s wins", priority_rows[i].winner);
        bk_rule_set_free(set);
    }
}

/* ---- regexes that could freeze the loop are refused at compile time ---- */

static void test_regex_safety(void)
{
    static const struct { const char *pattern; bool accepted; const char *why; } rows[] = {
        { "^/pricing/(teams|solo)$", true, "alternation in a group" },
        { "plan=(pro|team)", true, "a plain group" },
        { "^/blog/[0-9]{4}/", true, "a small bound" },
        { "a{32}", true, "a bound of 32" },
        { "(ab)+", true, "a repeated group without repetition inside" },
        { "[(]+x", true, "a parenthesis in a bracket is a literal" },
        { "\\(a+\\)+", true, "escaped parentheses are literals" },
        { "((a{1,100}){1,100}){1,100}", false, "the regcomp bomb" },
        { "(.{0,80}){0,80}#", false, "the regexec explosion on long URLs" },
        { "(a+)+", false, "a repeated group that repeats" },
        { "(x(a*))*", false, "repetition deeper inside a repeated group" },
        { "a{33}", false, "a bound above 32" },
        { "a{1,1000}", false, "an upper bound above 32" },
        { "(a)\\1", false, "a back-reference" },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char json[512];
        char escaped[128];
        size_t o = 0;
        for (const char *p = rows[i].pattern; *p && o + 2 < sizeof escaped; p++) {
            if (*p == '\\' || *p == '"')
                escaped[o++] = '\\';
            escaped[o++] = *p;
        }
        escaped[o] = '\0';
        snprintf(json, sizeof json,
                 "{\"id\":\"r\",\"when\":{\"page.url\":{\"regex\":\"%s\"}},"
                 "\"then\":{\"invite\":{\"text\":\"Hej\"}}}", escaped);
        bk_rules_error err;
        int rc = bk_rule_validate_json(json, strlen(json), &err);
        CHECK((rc == BK_RULES_OK) == rows[i].accepted, "regex %s: %s (%s)", rows[i].accepted ? "accepted" : "refused",
              rows[i].pattern, rows[i].why);
        if (!rows[i].accepted)
            CHECK(strstr(err.message, "regex refused") != NULL || strstr(err.message, "invalid regex") != NULL,
                  "regex refusal explains itself: %s", err.message);
    }
}

/* ---- the observer behind the per-rule "evaluated" and "matched" stats ---- */

typedef struct observed {
    int calls;
    int matched_low, matched_high, judged_other;
    const char *high_id;
} observed;

static void observe(const char *rule_id, bool matches, void *data)
{
    observed *o = data;
    o->calls++;
    if (strcmp(rule_id, "low") == 0 && matches)
        o->matched_low++;
    else if (strcmp(rule_id, "high") == 0 && matches) {
        o->matched_high++;
        o->high_id = rule_id;
    } else if (strcmp(rule_id, "other") == 0)
        o->judged_other += matches ? 100 : 1;
}

static void test_observer(void)
{
    /* Two rules match (the higher priority wins, the other is outranked); an event rule is
     * never judged for a page view, because the index does not let it through. */
    bk_rule_set *set = set_from(
        "[{\"id\":\"low\",\"priority\":1,\"when\":{\"page.path\":{\"glob\":\"/p*\"}},"
        "\"then\":{\"invite\":{\"text\":\"a\"}}},"
        "{\"id\":\"high\",\"priority\":9,\"when\":{\"page.path\":{\"glob\":\"/p*\"}},"
        "\"then\":{\"invite\":{\"text\":\"b\"}}},"
        "{\"id\":\"other\",\"when\":{\"event.name\":\"cart_add\"},"
        "\"then\":{\"invite\":{\"text\":\"c\"}}}]");
    bk_rules_context ctx;
    bk_rules_context_init(&ctx);
    ctx.page_url = "https://shop.example/pricing";
    ctx.event_name = "page_view";
    observed o = {0};
    bk_rules_result result;
    int rc = bk_rule_set_evaluate_observed(set, &ctx, NOW, NULL, observe, &o, &result);
    CHECK(rc == BK_RULES_OK, "observer: evaluation succeeds");
    CHECK_STR(result.rule_id, "high", "observer: the result is unchanged (high wins)");
    CHECK(o.matched_low == 1 && o.matched_high == 1, "observer: both matching rules are reported as matching");
    CHECK(o.judged_other == 0, "observer: the event rule is not judged for a page view");
    CHECK(o.calls == (int)result.rules_evaluated, "observer: one call per judged rule (%d, %zu)", o.calls,
          result.rules_evaluated);
    CHECK(o.high_id == result.rule_id, "observer: the id pointer is the result's pointer");
    int found = 0;
    for (size_t i = 0; i < bk_rule_set_count(set); i++)
        found += bk_rule_set_id_at(set, i) == result.rule_id;
    CHECK(found == 1 && bk_rule_set_id_at(set, 3) == NULL, "observer: bk_rule_set_id_at hands out the same pointers");
    bk_rule_set_free(set);
}

/* ---- business hours across daylight saving time ------------------- */

typedef struct hours_row {
    const char *name;
    const char *hours;
    const char *tz;
    int64_t at;
    bool open;
    int64_t next_check; /* 0 when open */
} hours_row;

static hours_row hours_rows[32];
static size_t hours_row_count;

static void add_hours_row(const char *name, const char *hours, const char *tz, int64_t at, bool open,
                          int64_t next_check)
{
    hours_rows[hours_row_count++] = (hours_row){name, hours, tz, at, open, next_check};
}

static void test_hours(void)
{
    const char *weekdays = "mon-fri 09:00-17:00";
    const char *cph = "Europe/Copenhagen";
    hours_row_count = 0;
    add_hours_row("Fri 2026-03-27 08:30 UTC is 09:30 CET: open", weekdays, cph, utc(2026, 3, 27, 8, 30, 0), true, 0);
    add_hours_row("Fri 2026-03-27 07:30 UTC is 08:30 CET: closed until 08:00 UTC", weekdays, cph,
                  utc(2026, 3, 27, 7, 30, 0), false, utc(2026, 3, 27, 8, 0, 0));
    add_hours_row("Mon 2026-03-30 08:30 UTC is 10:30 CEST: open", weekdays, cph, utc(2026, 3, 30, 8, 30, 0), true, 0);
    add_hours_row("Mon 2026-03-30 07:30 UTC is 09:30 CEST: open (08:30 in winter)", weekdays, cph,
                  utc(2026, 3, 30, 7, 30, 0), true, 0);
    add_hours_row("Mon 2026-03-30 06:30 UTC is 08:30 CEST: opens 07:00 UTC", weekdays, cph,
                  utc(2026, 3, 30, 6, 30, 0), false, utc(2026, 3, 30, 7, 0, 0));
    add_hours_row("Mon 2026-03-30 15:30 UTC is 17:30 CEST: closed until Tuesday 07:00 UTC", weekdays, cph,
                  utc(2026, 3, 30, 15, 30, 0), false, utc(2026, 3, 31, 7, 0, 0));
    add_hours_row("Sat 2026-03-28 10:00 UTC: closed across the spring change until Mon 07:00 UTC", weekdays, cph,
                  utc(2026, 3, 28, 10, 0, 0), false, utc(2026, 3, 30, 7, 0, 0));
    add_hours_row("Fri 2026-10-23 14:30 UTC is 16:30 CEST: open", weekdays, cph, utc(2026, 10, 23, 14, 30, 0), true, 0);
    add_hours_row("Fri 2026-10-23 15:30 UTC is 17:30 CEST: closed", weekdays, cph, utc(2026, 10, 23, 15, 30, 0), false,
                  utc(2026, 10, 26, 8, 0, 0));
    add_hours_row("Mon 2026-10-26 15:30 UTC is 16:30 CET: open", weekdays, cph, utc(2026, 10, 26, 15, 30, 0), true, 0);
    add_hours_row("Mon 2026-10-26 16:00 UTC is 17:00 CET: closed", weekdays, cph, utc(2026, 10, 26, 16, 0, 0), false,
                  utc(2026, 10, 27, 8, 0, 0));
    add_hours_row("Sun 2026-10-25 00:30 UTC is 02:30 CEST, before the autumn change", "sun 02:00-03:00", cph,
                  utc(2026, 10, 25, 0, 30, 0), true, 0);
    add_hours_row("Sun 2026-10-25 01:30 UTC is 02:30 CET, the repeated hour", "sun 02:00-03:00", cph,
                  utc(2026, 10, 25, 1, 30, 0), true, 0);
    add_hours_row("Sat 10:00 UTC with a Saturday clause", "mon-fri 09:00-17:00, sat 10:00-14:00", cph,
                  utc(2026, 3, 28, 10, 0, 0), true, 0);
    add_hours_row("Sat 13:30 UTC is 14:30 CET: closed", "mon-fri 09:00-17:00, sat 10:00-14:00", cph,
                  utc(2026, 3, 28, 13, 30, 0), false, utc(2026, 3, 30, 7, 0, 0));
    add_hours_row("split day, lunch break", "mon-fri 09:00-12:00 13:00-17:00", cph, utc(2026, 3, 30, 10, 30, 0), false,
                  utc(2026, 3, 30, 11, 0, 0));
    add_hours_row("wrapping day range fri-mon on Sunday", "fri-mon 10:00-11:00", "UTC", utc(2026, 3, 29, 10, 30, 0),
                  true, 0);
    add_hours_row("daily, 24:00 end", "daily 20:00-24:00", "UTC", utc(2026, 3, 29, 23, 59, 0), true, 0);
    add_hours_row("daily at 00:00 closed until 20:00", "daily 20:00-24:00", "UTC", utc(2026, 3, 30, 0, 0, 0), false,
                  utc(2026, 3, 30, 20, 0, 0));
    add_hours_row("New York 09:30 EDT", weekdays, "America/New_York", utc(2026, 3, 30, 13, 30, 0), true, 0);
    add_hours_row("New York 08:30 EDT", weekdays, "America/New_York", utc(2026, 3, 30, 12, 30, 0), false,
                  utc(2026, 3, 30, 13, 0, 0));
    add_hours_row("Copenhagen in 2100 (TZ footer), July: 10:30 CEST", weekdays, cph, utc(2100, 7, 1, 8, 30, 0), true, 0);
    add_hours_row("Copenhagen in 2100 (TZ footer), July: 08:30 CEST", weekdays, cph, utc(2100, 7, 1, 6, 30, 0), false,
                  utc(2100, 7, 1, 7, 0, 0));

    for (size_t i = 0; i < hours_row_count; i++) {
        const hours_row *row = &hours_rows[i];
        char json[512];
        snprintf(json, sizeof json,
                 "[{\"id\":\"h\",\"when\":{\"all\":[]},\"only\":{\"hours\":\"%s\",\"tz\":\"%s\"}" THEN "}]", row->hours,
                 row->tz);
        bk_rule_set *set = set_from(json);
        bk_rules_context ctx;
        bk_rules_context_init(&ctx);
        int64_t next = -1;
        const char *id = evaluate_id(set, &ctx, row->at, NULL, &next);
        CHECK((id != NULL) == row->open && next == row->next_check, "hours: %s", row->name);
        if (next != row->next_check)
            printf("#   next_check %" PRId64 " want %" PRId64 "\n", next, row->next_check);
        bk_rule_set_free(set);
    }
}

/* ---- the time zone reader directly -------------------------------- */

typedef struct tz_row {
    const char *zone;
    int year, month, day, hour;
    int32_t offset;
} tz_row;

static const tz_row tz_rows[] = {
    {"Europe/Copenhagen", 2026, 3, 29, 0, 3600},    /* just before 01:00 UTC */
    {"Europe/Copenhagen", 2026, 3, 29, 1, 7200},    /* the spring change */
    {"Europe/Copenhagen", 2026, 10, 25, 0, 7200},
    {"Europe/Copenhagen", 2026, 10, 25, 1, 3600},   /* the autumn change */
    {"Europe/Copenhagen", 1990, 7, 1, 12, 7200},
    {"Europe/Copenhagen", 2037, 7, 1, 12, 7200},
    {"Europe/Copenhagen", 2050, 1, 15, 12, 3600},   /* footer rule territory */
    {"Europe/Copenhagen", 2100, 7, 1, 12, 7200},
    {"America/New_York", 2100, 1, 15, 12, -18000},
    {"America/New_York", 2100, 7, 1, 12, -14400},
    {"Australia/Sydney", 2100, 1, 15, 12, 39600},   /* southern summer */
    {"Australia/Sydney", 2100, 7, 1, 12, 36000},
    {"Asia/Kathmandu", 2026, 3, 30, 0, 20700},      /* +05:45 */
    {"Asia/Tokyo", 2026, 7, 1, 0, 32400},
    {"UTC", 2026, 7, 1, 0, 0},
};

static void test_tz(void)
{
    for (size_t i = 0; i < sizeof tz_rows / sizeof tz_rows[0]; i++) {
        const tz_row *row = &tz_rows[i];
        char why[128] = "";
        bk_tz *tz = bk_tz_load(BK_RULES_ZONEINFO_DIR, row->zone, why, sizeof why);
        int64_t t = utc(row->year, row->month, row->day, row->hour, 0, 0) / SECOND;
        int32_t got = tz ? bk_tz_offset(tz, t) : -1;
        CHECK(got == row->offset, "tz %s at %04d-%02d-%02d %02d:00 UTC is %+d s", row->zone, row->year, row->month,
              row->day, row->hour, row->offset);
        if (got != row->offset)
            printf("#   got %d (%s)\n", got, why);
        bk_tz_free(tz);
    }
    char why[128];
    bk_tz *cph = bk_tz_load(BK_RULES_ZONEINFO_DIR, "Europe/Copenhagen", why, sizeof why);
    CHECK(cph && bk_tz_next_transition(cph, utc(2026, 3, 1, 0, 0, 0) / SECOND) == utc(2026, 3, 29, 1, 0, 0) / SECOND,
          "next transition after 2026-03-01 is 2026-03-29 01:00 UTC");
    CHECK(cph && bk_tz_next_transition(cph, utc(2099, 11, 1, 0, 0, 0) / SECOND) == utc(2100, 3, 28, 1, 0, 0) / SECOND,
          "footer transitions: 2100-03-28 01:00 UTC");
    bk_local_time local = bk_tz_local_time(cph, utc(2026, 3, 30, 8, 30, 0) / SECOND);
    CHECK(local.weekday == 0 && local.hour == 10 && local.minute == 30, "2026-03-30 08:30 UTC is Monday 10:30 local");
    bk_tz_free(cph);
}

/* ---- next_check_ms for time thresholds ---------------------------- */

typedef struct next_row {
    const char *name;
    const char *rules;         /* a JSON array */
    int64_t page_ago, visit_ago, idle_ago, chat_ago;
    const char *fires;         /* expected rule id, or NULL */
    int64_t next_in;           /* expected next_check - NOW, or -1 for 0 */
} next_row;

#define NR(id, when) "{\"id\":\"" id "\",\"when\":" when ",\"only\":{\"tz\":\"UTC\"}" THEN "}"
#define NR_UNLESS(id, when, unless) "{\"id\":\"" id "\",\"when\":" when ",\"unless\":" unless THEN "}"

static const next_row next_rows[] = {
    {"page.seconds >= 30 at 12 s", "[" NR("r", "{\"page.seconds\":{\">=\":30}}") "]", 12 * SECOND, 0, 0, 0, NULL,
     18 * SECOND},
    {"millisecond precision", "[" NR("r", "{\"page.seconds\":{\">=\":30}}") "]", 12345, 0, 0, 0, NULL, 17655},
    {"page.seconds > 29.5 means 30", "[" NR("r", "{\"page.seconds\":{\">\":29.5}}") "]", 12 * SECOND, 0, 0, 0, NULL,
     18 * SECOND},
    {"page.seconds = 40", "[" NR("r", "{\"page.seconds\":40}") "]", 12 * SECOND, 0, 0, 0, NULL, 28 * SECOND},
    {"page.seconds in [5, 40]", "[" NR("r", "{\"page.seconds\":{\"in\":[5,40]}}") "]", 12 * SECOND, 0, 0, 0, NULL,
     28 * SECOND},
    {"a failing non-time condition in all: never", "[" NR("r", "{\"all\":[{\"page.path\":{\"glob\":\"/nope*\"}},"
                                                               "{\"page.seconds\":{\">=\":30}}]}") "]",
     12 * SECOND, 0, 0, 0, NULL, -1},
    {"page.seconds < 10 at 12 s: never", "[" NR("r", "{\"page.seconds\":{\"<\":10}}") "]", 12 * SECOND, 0, 0, 0, NULL, -1},
    {"unknown page start: never", "[" NR("r", "{\"page.seconds\":{\">=\":30}}") "]", 0, 0, 0, 0, NULL, -1},
    {"any: the earlier alternative", "[" NR("r", "{\"any\":[{\"page.seconds\":{\">=\":30}},"
                                                 "{\"visit.seconds\":{\">=\":600}}]}") "]",
     12 * SECOND, 590 * SECOND, 0, 0, NULL, 10 * SECOND},
    {"any with a dead alternative", "[" NR("r", "{\"any\":[{\"page.path\":\"/x\"},{\"page.seconds\":{\">=\":30}}]}") "]",
     12 * SECOND, 0, 0, 0, NULL, 18 * SECOND},
    {"all: the later threshold", "[" NR("r", "{\"all\":[{\"page.seconds\":{\">=\":30}},{\"idle.seconds\":{\">=\":20}}]}") "]",
     12 * SECOND, 0, 5 * SECOND, 0, NULL, 18 * SECOND},
    {"all: idle is later", "[" NR("r", "{\"all\":[{\"page.seconds\":{\">=\":30}},{\"idle.seconds\":{\">=\":40}}]}") "]",
     12 * SECOND, 0, 5 * SECOND, 0, NULL, 35 * SECOND},
    {"not (page.seconds < 60)", "[" NR("r", "{\"not\":{\"page.seconds\":{\"<\":60}}}") "]", 12 * SECOND, 0, 0, 0, NULL,
     48 * SECOND},
    {"not of a window: true again when it closes",
     "[" NR("r", "{\"not\":{\"all\":[{\"page.seconds\":{\">=\":10}},{\"page.seconds\":{\"<\":20}}]}}") "]", 15 * SECOND,
     0, 0, 0, NULL, 5 * SECOND},
    {"a window not yet open", "[" NR("r", "{\"page.seconds\":{\">=\":30,\"<\":40}}") "]", 12 * SECOND, 0, 0, 0, NULL,
     18 * SECOND},
    {"a window already closed", "[" NR("r", "{\"page.seconds\":{\">=\":30,\"<\":40}}") "]", 50 * SECOND, 0, 0, 0, NULL,
     -1},
    {"unless blocks until a threshold", "[" NR_UNLESS("r", "{\"visit.pages\":{\">=\":1}}", "{\"page.seconds\":{\"<\":60}}") "]",
     12 * SECOND, 0, 0, 0, NULL, 48 * SECOND},
    {"unless later blocks for good", "[" NR_UNLESS("r", "{\"page.seconds\":{\">=\":30}}", "{\"page.seconds\":{\">=\":20}}") "]",
     12 * SECOND, 0, 0, 0, NULL, -1},
    {"days since last chat", "[" NR("r", "{\"visitor.days_since_last_chat\":{\">=\":30}}") "]", 0, 0, 0, 10 * DAY, NULL,
     20 * DAY},
    {"time.hour >= 14 at 08:30 UTC", "[" NR("r", "{\"time.hour\":{\">=\":14}}") "]", 0, 0, 0, 0, NULL,
     5 * HOUR + 30 * MINUTE},
    {"time.weekday = wed on a Monday", "[" NR("r", "{\"time.weekday\":\"wed\"}") "]", 0, 0, 0, 0, NULL,
     DAY + 15 * HOUR + 30 * MINUTE},
    {"time.hour = 8 now fires", "[" NR("r", "{\"time.hour\":8}") "]", 0, 0, 0, 0, "r", -1},
    {"one rule fires, another is timed",
     "[" NR("now", "{\"visit.pages\":{\">=\":1}}") "," NR("later", "{\"page.seconds\":{\">=\":30}}") "]", 12 * SECOND, 0,
     0, 0, "now", 18 * SECOND},
    {"the earliest of several rules",
     "[" NR("a", "{\"page.seconds\":{\">=\":60}}") "," NR("b", "{\"page.seconds\":{\">=\":30}}") ","
         NR("c", "{\"visit.seconds\":{\">=\":600}}") "]",
     12 * SECOND, 100 * SECOND, 0, 0, NULL, 18 * SECOND},
};

static void test_next_check(void)
{
    for (size_t i = 0; i < sizeof next_rows / sizeof next_rows[0]; i++) {
        const next_row *row = &next_rows[i];
        bk_rule_set *set = set_from(row->rules);
        bk_rules_context ctx;
        bk_rules_context_init(&ctx);
        ctx.visit_pages = 1;
        ctx.page_started_ms = row->page_ago ? NOW - row->page_ago : 0;
        ctx.visit_started_ms = row->visit_ago ? NOW - row->visit_ago : 0;
        ctx.last_event_ms = row->idle_ago ? NOW - row->idle_ago : 0;
        ctx.last_chat_ms = row->chat_ago ? NOW - row->chat_ago : 0;
        int64_t next = -1;
        const char *id = evaluate_id(set, &ctx, NOW, NULL, &next);
        int64_t want = row->next_in < 0 ? 0 : NOW + row->next_in;
        bool id_ok = row->fires ? id && strcmp(id, row->fires) == 0 : id == NULL;
        CHECK(id_ok && next == want, "next_check: %s", row->name);
        if (next != want)
            printf("#   next_check %+" PRId64 " ms from now, want %+" PRId64 "\n", next ? next - NOW : 0,
                   row->next_in);
        bk_rule_set_free(set);
    }

    /* Opening hours and a threshold together: whichever comes last. */
    const char *combined = "[{\"id\":\"r\",\"when\":{\"page.seconds\":{\">=\":30}},"
                           "\"only\":{\"hours\":\"mon-fri 09:00-17:00\",\"tz\":\"Europe/Copenhagen\"}" THEN "}]";
    bk_rule_set *set = set_from(combined);
    bk_rules_context ctx;
    bk_rules_context_init(&ctx);
    int64_t at = utc(2026, 3, 30, 6, 59, 50); /* 08:59:50 CEST */
    int64_t next = 0;
    ctx.page_started_ms = at - 10 * SECOND;
    evaluate_id(set, &ctx, at, NULL, &next);
    CHECK(next == at + 20 * SECOND, "hours open at 07:00 UTC, threshold at 07:00:10 UTC: the threshold");
    ctx.page_started_ms = at - 25 * SECOND;
    evaluate_id(set, &ctx, at, NULL, &next);
    CHECK(next == utc(2026, 3, 30, 7, 0, 0), "threshold at 06:59:55 UTC, hours at 07:00 UTC: the opening");
    bk_rule_set_free(set);
}

/* ---- explain ------------------------------------------------------ */

typedef struct collected {
    size_t count;
    bk_rules_explanation items[16];
} collected;

static void collect(const bk_rules_explanation *explanation, void *userdata)
{
    collected *c = userdata;
    if (c->count < 16)
        c->items[c->count++] = *explanation;
}

static const bk_rules_explanation *find_explanation(const collected *c, const char *id)
{
    for (size_t i = 0; i < c->count; i++)
        if (strcmp(c->items[i].rule_id, id) == 0)
            return &c->items[i];
    return NULL;
}

typedef struct explain_row {
    const char *id;
    bk_rules_outcome outcome;
    const char *path;
    const char *detail;
} explain_row;

static const char explain_rules[] =
    "[{\"id\":\"pricing-help\",\"priority\":10,"
    "\"when\":{\"all\":[{\"page.path\":{\"glob\":\"/pricing*\"}},{\"page.seconds\":{\">=\":30}},"
    "{\"visit.pages\":{\">=\":3}}]}" THEN "},"
    "{\"id\":\"wins\",\"priority\":5,\"when\":{\"visit.pages\":{\">=\":1}}" THEN "},"
    "{\"id\":\"loses\",\"priority\":1,\"when\":{\"visit.pages\":{\">=\":1}}" THEN "},"
    "{\"id\":\"off\",\"enabled\":false,\"when\":{\"all\":[]}" THEN "},"
    "{\"id\":\"chatting\",\"when\":{\"all\":[]},\"unless\":{\"any\":[{\"conversation.open\":true}]}" THEN "},"
    "{\"id\":\"language\",\"when\":{\"any\":[{\"visitor.lang\":\"en\"},{\"visitor.lang\":\"de\"}]}" THEN "},"
    "{\"id\":\"closed\",\"when\":{\"all\":[]},\"only\":{\"hours\":\"sat-sun 10:00-14:00\",\"tz\":\"Europe/Copenhagen\"}" THEN "},"
    "{\"id\":\"used\",\"when\":{\"all\":[]}" THEN "},"
    "{\"id\":\"neg\",\"when\":{\"not\":{\"page.title\":{\"contains\":\"hjælpe\"}}}" THEN "},"
    "{\"id\":\"other-site\",\"when\":{\"all\":[]},\"only\":{\"site\":\"shop\"}" THEN "}]";

static const explain_row explain_rows[] = {
    {"pricing-help", BK_RULES_OUTCOME_WHEN, "when.all[1]", "page.seconds >= 30: actual 12"},
    {"wins", BK_RULES_OUTCOME_FIRES, "", ""},
    {"loses", BK_RULES_OUTCOME_OUTRANKED, "", "outranked by \"wins\""},
    {"off", BK_RULES_OUTCOME_DISABLED, "enabled", "the rule is disabled"},
    {"chatting", BK_RULES_OUTCOME_UNLESS, "unless.any[0]", "conversation.open = true: actual true"},
    {"language", BK_RULES_OUTCOME_WHEN, "when.any",
     "none of 2 alternatives holds; first: when.any[0] visitor.lang = \"en\": actual \"da-DK\""},
    {"closed", BK_RULES_OUTCOME_ONLY, "only.hours", "closed: local time Mon 10:30 Europe/Copenhagen"},
    {"used", BK_RULES_OUTCOME_CAP, "cap.per_visit", "1 of 1 invitations this visit used"},
    {"neg", BK_RULES_OUTCOME_WHEN, "when.not", "page.title contains \"hjælpe\": actual \"Kan jeg hjælpe?\""},
    {"other-site", BK_RULES_OUTCOME_ONLY, "only.site", "site \"demo\" is not listed"},
};

static void test_explain(void)
{
    bk_rule_set *set = set_from(explain_rules);
    bk_rules_context ctx;
    bk_rules_context_init(&ctx);
    ctx.site = "demo";
    ctx.page_url = "https://shop.dk/pricing";
    ctx.page_title = "Kan jeg hjælpe?";
    ctx.page_started_ms = NOW - 12 * SECOND;
    ctx.visit_pages = 4;
    ctx.lang = "da-DK";
    ctx.conversation_open = true;
    bk_rules_cap_state used = {"used", 1, NOW - MINUTE};
    ctx.caps = &used;
    ctx.cap_count = 1;

    collected c = {0};
    bk_rules_result result;
    int rc = bk_rule_set_explain(set, &ctx, NOW, NULL, collect, &c, &result);
    CHECK(rc == BK_RULES_OK && c.count == 10 && result.rule_id && strcmp(result.rule_id, "wins") == 0,
          "explain reports every rule and the same winner");
    CHECK(c.count > 0 && strcmp(c.items[0].rule_id, "pricing-help") == 0, "explain goes by priority");
    for (size_t i = 0; i < sizeof explain_rows / sizeof explain_rows[0]; i++) {
        const explain_row *row = &explain_rows[i];
        const bk_rules_explanation *e = find_explanation(&c, row->id);
        bool ok = e && e->outcome == row->outcome && strcmp(e->path, row->path) == 0 &&
                  strcmp(e->detail, row->detail) == 0;
        CHECK(ok, "explain %s: %s %s %s", row->id, bk_rules_outcome_name(row->outcome), row->path, row->detail);
        if (!ok && e)
            printf("#   got %s \"%s\" \"%s\"\n", bk_rules_outcome_name(e->outcome), e->path, e->detail);
    }
    const bk_rules_explanation *pricing = find_explanation(&c, "pricing-help");
    CHECK(pricing && pricing->could_fire_ms == NOW + 18 * SECOND, "explain says when pricing-help could fire");
    const bk_rules_explanation *closed = find_explanation(&c, "closed");
    CHECK(closed && closed->could_fire_ms == utc(2026, 4, 4, 8, 0, 0), "explain says when opening hours begin");
    CHECK(bk_rule_set_explain(set, &ctx, NOW, NULL, NULL, NULL, NULL) == BK_RULES_ERR_ARGUMENT,
          "explain needs a callback");
    bk_rule_set_free(set);
}

/* ---- the index against a full scan -------------------------------- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;

static uint32_t rnd(uint32_t n)
{
    /* xorshift64*: deterministic, so a failure reproduces. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 2685821657736338717ULL) >> 33) % n;
}

static const char *const random_paths[] = {"/", "/pricing", "/pricing/teams", "/pricing/solo", "/blog/a",
                                           "/blog/b/c", "/shop/cart", "/shop/checkout", "/da/kontakt", "/docs"};
static const char *const random_events[] = {"page_view", "cart_add", "signup", "video_play", "download"};

/* One random condition; `depth` bounds the nesting. */
static size_t random_condition(char *out, size_t size, int depth)
{
    uint32_t kind = depth > 2 ? rnd(14) : rnd(17);
    const char *path = random_paths[rnd(10)];
    const char *event = random_events[rnd(5)];
    switch (kind) {
    case 0: return (size_t)snprintf(out, size, "{\"page.path\":{\"glob\":\"%s*\"}}", path);
    case 1: return (size_t)snprintf(out, size, "{\"page.path\":\"%s\"}", path);
    case 2: return (size_t)snprintf(out, size, "{\"page.path\":{\"starts_with\":\"%s\"}}", path);
    case 3: return (size_t)snprintf(out, size, "{\"page.url\":{\"regex\":\"^https://shop\\\\.dk%s\"}}", path);
    case 4: return (size_t)snprintf(out, size, "{\"event.name\":\"%s\"}", event);
    case 5: return (size_t)snprintf(out, size, "{\"event.name\":{\"in\":[\"%s\",\"%s\"]}}", event, random_events[rnd(5)]);
    case 6: return (size_t)snprintf(out, size, "{\"page.seconds\":{\">=\":%u}}", rnd(90));
    case 7: return (size_t)snprintf(out, size, "{\"visit.seconds\":{\"<\":%u}}", rnd(900));
    case 8: return (size_t)snprintf(out, size, "{\"visit.pages\":{\">=\":%u}}", rnd(6));
    case 9: return (size_t)snprintf(out, size, "{\"idle.seconds\":{\">\":%u}}", rnd(60));
    case 10: return (size_t)snprintf(out, size, "{\"visitor.lang\":{\"starts_with\":\"%s\"}}", rnd(2) ? "da" : "en");
    case 11: return (size_t)snprintf(out, size, "{\"page.path\":{\"glob\":\"*%s\"}}", rnd(2) ? "/c" : "cart");
    case 12: return (size_t)snprintf(out, size, "{\"page.path\":{\"in\":[\"%s\",\"%s\"]}}", path, random_paths[rnd(10)]);
    case 13: return (size_t)snprintf(out, size, "{\"time.hour\":{\">=\":%u}}", rnd(24));
    default: {
        static const char *const groups[] = {"all", "any", "not"};
        const char *group = groups[kind - 14];
        size_t used;
        if (strcmp(group, "not") == 0) {
            used = (size_t)snprintf(out, size, "{\"not\":");
            used += random_condition(out + used, size - used, depth + 1);
            used += (size_t)snprintf(out + used, size - used, "}");
            return used;
        }
        used = (size_t)snprintf(out, size, "{\"%s\":[", group);
        uint32_t n = 1 + rnd(3);
        for (uint32_t i = 0; i < n; i++) {
            if (i)
                used += (size_t)snprintf(out + used, size - used, ",");
            used += random_condition(out + used, size - used, depth + 1);
        }
        used += (size_t)snprintf(out + used, size - used, "]}");
        return used;
    }
    }
}

static void test_index_agrees(void)
{
    enum { RULES = 300, CONTEXTS = 3000 };
    static char json[RULES * 700];
    size_t used = (size_t)snprintf(json, sizeof json, "[");
    for (int i = 0; i < RULES; i++) {
        char when[600];
        random_condition(when, sizeof when, 0);
        used += (size_t)snprintf(json + used, sizeof json - used,
                                 "%s{\"id\":\"r%03d\",\"priority\":%u,\"when\":%s,%s\"only\":{\"tz\":\"Europe/Copenhagen\"%s}"
                                 THEN "}",
                                 i ? "," : "", i, rnd(5), when,
                                 rnd(8) == 0 ? "\"unless\":{\"idle.seconds\":{\"<\":10}}," : "",
                                 rnd(10) == 0 ? ",\"hours\":\"mon-fri 09:00-17:00\"" : "");
    }
    snprintf(json + used, sizeof json - used, "]");
    bk_rule_set *set = set_from(json);
    CHECK(bk_rule_set_count(set) == RULES, "random set of %d rules compiles", RULES);

    int disagreements = 0;
    size_t indexed = 0, scanned = 0;
    bk_rules_settings scan = {0, 0, true};
    for (int i = 0; i < CONTEXTS; i++) {
        bk_rules_context ctx;
        bk_rules_context_init(&ctx);
        char url[128];
        const char *path = random_paths[rnd(10)];
        snprintf(url, sizeof url, "https://shop.dk%s%s", path, rnd(3) == 0 ? "?utm_source=x" : "");
        ctx.page_url = url;
        if (rnd(2))
            ctx.page_path = path;
        ctx.event_name = rnd(4) == 0 ? NULL : random_events[rnd(5)];
        int64_t now = NOW + (int64_t)rnd(7 * 24) * HOUR;
        ctx.page_started_ms = now - (int64_t)rnd(120) * SECOND - rnd(1000);
        ctx.visit_started_ms = ctx.page_started_ms - (int64_t)rnd(900) * SECOND;
        ctx.last_event_ms = now - (int64_t)rnd(90) * SECOND;
        ctx.visit_pages = rnd(8);
        ctx.lang = rnd(2) ? "da" : "en-GB";

        bk_rules_result with_index, without;
        bk_rule_set_evaluate(set, &ctx, now, NULL, &with_index);
        bk_rule_set_evaluate(set, &ctx, now, &scan, &without);
        indexed += with_index.rules_evaluated;
        scanned += without.rules_evaluated;
        bool same = (with_index.rule_id == without.rule_id ||
                     (with_index.rule_id && without.rule_id && strcmp(with_index.rule_id, without.rule_id) == 0)) &&
                    with_index.next_check_ms == without.next_check_ms;
        if (!same && disagreements++ == 0)
            printf("# context %d: index %s/%" PRId64 ", scan %s/%" PRId64 "\n", i,
                   with_index.rule_id ? with_index.rule_id : "-", with_index.next_check_ms,
                   without.rule_id ? without.rule_id : "-", without.next_check_ms);

    }
    CHECK(disagreements == 0, "index and full scan agree on %d random contexts (%d differ)", CONTEXTS, disagreements);
    CHECK(indexed < scanned, "the index looks at fewer rules (%zu vs %zu)", indexed, scanned);
    bk_rule_set_free(set);
}

static void test_index_buckets(void)
{
    const char *rules =
        "[{\"id\":\"cart\",\"when\":{\"all\":[{\"event.name\":\"cart_add\"},{\"event.props.value\":{\">\":100}}]}" THEN "},"
        "{\"id\":\"signup\",\"when\":{\"event.name\":{\"in\":[\"signup\",\"register\"]}}" THEN "},"
        "{\"id\":\"pricing\",\"when\":{\"page.path\":{\"glob\":\"/pricing*\"}}" THEN "},"
        "{\"id\":\"blog\",\"when\":{\"page.url\":{\"regex\":\"^https://shop\\\\.dk/blog/\"}}" THEN "},"
        "{\"id\":\"either\",\"when\":{\"any\":[{\"page.path\":\"/x\"},{\"event.name\":\"x\"}]}" THEN "},"
        "{\"id\":\"sitewide\",\"priority\":-1,\"when\":{\"visit.pages\":{\">=\":99}}" THEN "}]";
    bk_rule_set *set = set_from(rules);
    typedef struct {
        const char *url, *event;
        const char *winner;
        size_t evaluated;
    } row;
    static const bk_rules_attr big[] = {{"value", {BK_RULES_VALUE_NUMBER, NULL, 250, false}}};
    const row rows[] = {
        {"https://shop.dk/pricing/teams", "page_view", "pricing", 2},
        {"https://shop.dk/about", "cart_add", "cart", 2},
        {"https://shop.dk/about", "register", "signup", 2},
        {"https://shop.dk/blog/post", NULL, "blog", 2},
        {"https://shop.dk/x", NULL, "either", 2},
        {"https://shop.dk/b", "x", "either", 2},
        {"https://shop.dk/b", "page_view", NULL, 1},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        bk_rules_context ctx;
        bk_rules_context_init(&ctx);
        ctx.page_url = rows[i].url;
        ctx.event_name = rows[i].event;
        ctx.event_props = big;
        ctx.event_prop_count = 1;
        ctx.visit_pages = 1;
        bk_rules_result result;
        bk_rule_set_evaluate(set, &ctx, NOW, NULL, &result);
        bool ok = (rows[i].winner ? result.rule_id && strcmp(result.rule_id, rows[i].winner) == 0 : !result.rule_id) &&
                  result.rules_evaluated == rows[i].evaluated;
        CHECK(ok, "index: %s on %s looks at %zu rules and picks %s", rows[i].event ? rows[i].event : "timer",
              rows[i].url, rows[i].evaluated, rows[i].winner ? rows[i].winner : "none");
        if (!ok)
            printf("#   got %s after %zu\n", result.rule_id ? result.rule_id : "none", result.rules_evaluated);
    }
    bk_rule_set_free(set);
}

/* Small random sets, where nothing firing now is common: check that
 * next_check_ms is honest (nothing fires before it, something fires at it)
 * and that the index agrees with a full scan on it. */
static void test_next_check_honest(void)
{
    enum { SETS = 1500 };
    int timed = 0, dishonest = 0, early = 0, disagreements = 0;
    bk_rules_settings scan = {0, 0, true};
    for (int s = 0; s < SETS; s++) {
        char json[4096];
        size_t used = (size_t)snprintf(json, sizeof json, "[");
        int count = 1 + (int)rnd(3);
        for (int i = 0; i < count; i++) {
            char when[1500];
            random_condition(when, sizeof when, 1);
            used += (size_t)snprintf(json + used, sizeof json - used,
                                     "%s{\"id\":\"r%d\",\"when\":%s,%s\"only\":{\"tz\":\"Europe/Copenhagen\"%s},"
                                     "\"cap\":{\"cooldown_days\":1}" THEN "}",
                                     i ? "," : "", i, when,
                                     rnd(4) == 0 ? "\"unless\":{\"idle.seconds\":{\"<\":30}}," : "",
                                     rnd(4) == 0 ? ",\"hours\":\"mon-fri 09:00-17:00, sat 10:00-12:00\"" : "");
        }
        snprintf(json + used, sizeof json - used, "]");
        bk_rule_set *set = set_from(json);

        bk_rules_context ctx;
        bk_rules_context_init(&ctx);
        char url[128];
        const char *path = random_paths[rnd(10)];
        snprintf(url, sizeof url, "https://shop.dk%s", path);
        ctx.page_url = url;
        /* Around the spring change, so hours cross it now and then. */
        int64_t now = utc(2026, 3, 27, 0, 0, 0) + (int64_t)rnd(5 * 24 * 60) * MINUTE + rnd(60000);
        ctx.page_started_ms = now - (int64_t)rnd(60) * SECOND - rnd(1000);
        ctx.visit_started_ms = ctx.page_started_ms - (int64_t)rnd(900) * SECOND;
        ctx.last_event_ms = now - (int64_t)rnd(40) * SECOND;
        ctx.visit_pages = rnd(8);
        ctx.lang = rnd(2) ? "da" : "en-GB";
        bk_rules_cap_state cap = {"r0", 0, now - (int64_t)rnd(30) * HOUR};
        ctx.caps = &cap;
        ctx.cap_count = rnd(2);

        bk_rules_result result, scanned;
        bk_rule_set_evaluate(set, &ctx, now, NULL, &result);
        bk_rule_set_evaluate(set, &ctx, now, &scan, &scanned);
        if (result.next_check_ms != scanned.next_check_ms || (result.rule_id == NULL) != (scanned.rule_id == NULL))
            disagreements++;
        if (!result.rule_id && result.next_check_ms) {
            timed++;
            bk_rules_result before, middle, at;
            bk_rule_set_evaluate(set, &ctx, result.next_check_ms - 1, NULL, &before);
            bk_rule_set_evaluate(set, &ctx, now + (result.next_check_ms - now) / 2, NULL, &middle);
            bk_rule_set_evaluate(set, &ctx, result.next_check_ms, NULL, &at);
            if ((before.rule_id || middle.rule_id) && dishonest++ == 0)
                printf("# set %d fires before next_check: %s\n", s, json);
            if (!at.rule_id && early++ == 0)
                printf("# set %d does not fire at next_check: %s now %" PRId64 " next %" PRId64 " visit %" PRId64 " page %" PRId64 " idle %" PRId64 " cap %zu %" PRId64 "\n", s, json, now, result.next_check_ms, ctx.visit_started_ms, ctx.page_started_ms, ctx.last_event_ms, ctx.cap_count, cap.last_invited_ms);
        }
        bk_rule_set_free(set);
    }
    CHECK(disagreements == 0, "index and scan agree on next_check for %d small sets", SETS);
    CHECK(dishonest == 0, "no rule fires before next_check (%d timed cases)", timed);
    CHECK(early == 0 && timed > 100, "a rule fires exactly at next_check (%d of %d early)", early, timed);
}

/* ---- the shipped examples ----------------------------------------- */

static char *read_examples(void)
{
    /* __FILE__ is ".../tests/unit/test_rules.c", absolute or relative to the
     * build directory; try it from here and from a tests/ subdirectory. */
    char base[1024];
    snprintf(base, sizeof base, "%s", __FILE__);
    char *cut = strstr(base, "tests/unit/test_rules.c");
    if (!cut)
        return NULL;
    *cut = '\0';
    const char *prefixes[] = {"", "../", "../../"};
    for (size_t i = 0; i < 3; i++) {
        char path[1200];
        if (base[0] == '/' && i > 0)
            break;
        snprintf(path, sizeof path, "%s%sexamples/rules.json", base[0] == '/' ? "" : prefixes[i], base);
        FILE *f = fopen(path, "rb");
        if (!f)
            continue;
        static char text[65536];
        size_t n = fread(text, 1, sizeof text - 1, f);
        fclose(f);
        text[n] = '\0';
        return text;
    }
    return NULL;
}

static void test_examples(void)
{
    char *text = read_examples();
    if (!text) {
        printf("ok %d - # SKIP examples/rules.json not found from here\n", ++check_count);
        return;
    }
    bk_rule_set *set = bk_rule_set_new();
    bk_rules_error err = {"", ""};
    int rc = bk_rule_set_load_json(set, text, strlen(text), &err);
    CHECK(rc == BK_RULES_OK && bk_rule_set_count(set) >= 8, "examples/rules.json compiles (%zu rules) %s%s",
          bk_rule_set_count(set), err.path, err.message);

    /* The headline example: a returning visitor 30 s into pricing. */
    bk_rules_context ctx;
    bk_rules_context_init(&ctx);
    ctx.site = "demo";
    ctx.page_url = "https://demo.beckon.dk/pricing";
    ctx.page_started_ms = NOW - 31 * SECOND;
    ctx.visit_started_ms = NOW - 200 * SECOND;
    ctx.visit_pages = 3;
    ctx.visits = 2;
    ctx.lang = "da";
    ctx.agents_available = true;
    ctx.last_event_ms = NOW - 31 * SECOND;
    const char *id = evaluate_id(set, &ctx, NOW, NULL, NULL);
    CHECK_STR(id, "pricing-help", "examples: a returning visitor on pricing gets pricing-help");
    bk_rule_set_free(set);
}

int main(void)
{
    NOW = utc(2026, 3, 30, 8, 30, 0);
    test_fields();
    test_paths();
    test_globs();
    test_errors();
    test_generated_errors();
    test_set_management();
    test_caps();
    test_only();
    test_priority();
    test_hours();
    test_tz();
    test_next_check();
    test_explain();
    test_index_buckets();
    test_index_agrees();
    test_next_check_honest();
    test_examples();
    test_observer();
    test_regex_safety();
    return check_done();
}
