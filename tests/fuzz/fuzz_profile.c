/* fuzz_profile.c - libFuzzer target for the visitor profile reader (server/triggers/profile.c),
 * differentially against jansson.
 *
 * bk_profile_parse replaced `json_loadb(json, len, 0, NULL)` plus lookups in the tree
 * (triggers.c before the compact profile). So every input is parsed both ways, and the two
 * must agree:
 *   - on accept/refuse: the profile is non-NULL exactly when jansson returns an object
 *     (same flags as the server used: 0, so duplicate keys are allowed and the last wins,
 *     nesting up to 2048 levels, integers must fit int64_t, reals must not overflow), with
 *     one exception: raw NUL bytes (see below);
 *   - on every value the profile exposes, read from jansson's tree as profile.h documents it:
 *     strings (missing, non-string and "" read as NULL), numbers (strtoll of a non-empty
 *     string, else `missing`), "conv" non-empty, "consent" == "1", and the cap entries
 *     (rules named by "RULE:visit"/"RULE:last" keys of "caps", in the order of their first
 *     key, kept when ":visit" is "VISIT COUNT", at most BK_PROFILE_CAPS_MAX).
 * The input is passed as is (not NUL-terminated, in libFuzzer's exact-size buffer), so ASan
 * sees any read past it. */
#include "triggers/profile.h"

#include <beckon/protocol.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                          \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "fuzz_profile: property failed: %s (%s:%d)\n", #cond, __FILE__, \
                    __LINE__);                                                               \
            abort();                                                                         \
        }                                                                                    \
    } while (0)

static const char *const string_names[BK_PROFILE_STRING_COUNT] = {
    [BK_PROFILE_SITE] = "site", [BK_PROFILE_PAGE_URL] = "page_url",
    [BK_PROFILE_PAGE_TITLE] = "page_title", [BK_PROFILE_VISIT_REFERRER] = "visit_referrer",
    [BK_PROFILE_UTM_SOURCE] = "utm_source", [BK_PROFILE_UTM_MEDIUM] = "utm_medium",
    [BK_PROFILE_UTM_CAMPAIGN] = "utm_campaign", [BK_PROFILE_UTM_TERM] = "utm_term",
    [BK_PROFILE_UTM_CONTENT] = "utm_content", [BK_PROFILE_LANG] = "lang",
    [BK_PROFILE_DEVICE] = "device", [BK_PROFILE_ATTRS] = "attrs", [BK_PROFILE_INV_DAY] = "inv_day",
};

static const char *const number_names[BK_PROFILE_NUMBER_COUNT] = {
    [BK_PROFILE_PAGE_STARTED] = "page_started", [BK_PROFILE_VISIT_STARTED] = "visit_started",
    [BK_PROFILE_VISIT_PAGES] = "visit_pages", [BK_PROFILE_VISITS] = "visits",
    [BK_PROFILE_CHATS] = "chats", [BK_PROFILE_LAST_CHAT] = "last_chat",
    [BK_PROFILE_LAST_EVENT] = "last_event", [BK_PROFILE_INV_TODAY] = "inv_today",
    [BK_PROFILE_LAST_DISMISSED] = "last_dismissed",
};

/* A member as the old code read it: a non-empty string, else NULL. */
static const char *ref_string(json_t *root, const char *name)
{
    const char *s = json_string_value(json_object_get(root, name));
    return s && s[0] ? s : NULL;
}

static void fail_diff(const char *what, const char *got, const char *want)
{
    fprintf(stderr, "fuzz_profile: %s differs: profile \"%s\", jansson \"%s\"\n", what,
            got ? got : "(null)", want ? want : "(null)");
    CHECK(!"bk_profile and jansson disagree");
}

typedef struct ref_cap {
    char rule[BK_ID_MAX + 1];
    int has_visit;
    long long visit, count, last_ms;
} ref_cap;

/* The cap entries read from jansson's "caps" object (keys in their first-seen order, each
 * with its last value). */
static size_t ref_caps(json_t *root, ref_cap **out)
{
    json_t *caps = json_object_get(root, "caps");
    size_t n = 0;
    *out = NULL;
    if (!json_is_object(caps))
        return 0;
    ref_cap *list = calloc(json_object_size(caps) + 1, sizeof *list);
    CHECK(list != NULL);
    const char *key;
    json_t *value;
    json_object_foreach(caps, key, value) {
        const char *colon = strrchr(key, ':');
        if (!colon || (strcmp(colon, ":visit") != 0 && strcmp(colon, ":last") != 0))
            continue;
        size_t rule_len = (size_t)(colon - key);
        if (rule_len > BK_ID_MAX)
            continue;
        size_t i = 0;
        while (i < n && !(strlen(list[i].rule) == rule_len && memcmp(list[i].rule, key, rule_len) == 0))
            i++;
        if (i == n) {
            memcpy(list[n].rule, key, rule_len);
            list[n].rule[rule_len] = '\0';
            n++;
        }
        const char *text = json_string_value(value);
        if (strcmp(colon, ":visit") == 0) {
            long long visit, count;
            if (text && sscanf(text, "%lld %lld", &visit, &count) == 2) {
                list[i].has_visit = 1;
                list[i].visit = visit;
                list[i].count = count;
            }
        } else if (text) {
            list[i].last_ms = strtoll(text, NULL, 10);
        }
    }
    size_t kept = 0;
    for (size_t i = 0; i < n; i++)
        if (list[i].has_visit && kept < BK_PROFILE_CAPS_MAX)
            list[kept++] = list[i];
    *out = list;
    return kept;
}

static void compare(const bk_profile *p, json_t *root)
{
    for (int i = 0; i < BK_PROFILE_STRING_COUNT; i++) {
        const char *got = bk_profile_string(p, (bk_profile_string_field)i);
        const char *want = ref_string(root, string_names[i]);
        if ((got == NULL) != (want == NULL) || (got && strcmp(got, want) != 0))
            fail_diff(string_names[i], got, want);
    }
    for (int i = 0; i < BK_PROFILE_NUMBER_COUNT; i++) {
        const char *text = ref_string(root, number_names[i]);
        /* two different defaults, so that "missing" cannot pass for a value */
        int64_t got1 = bk_profile_number(p, (bk_profile_number_field)i, INT64_MIN);
        int64_t got2 = bk_profile_number(p, (bk_profile_number_field)i, INT64_MAX);
        if (text) {
            long long want = strtoll(text, NULL, 10);
            if (got1 != want || got2 != want) {
                fprintf(stderr, "fuzz_profile: %s: profile %lld, jansson \"%s\" -> %lld\n",
                        number_names[i], (long long)got1, text, want);
                CHECK(!"number differs");
            }
        } else if (got1 != INT64_MIN || got2 != INT64_MAX) {
            fprintf(stderr, "fuzz_profile: %s: profile %lld, jansson missing\n", number_names[i],
                    (long long)got1);
            CHECK(!"number differs");
        }
    }
    CHECK(!!bk_profile_conversation_open(p) == (ref_string(root, "conv") != NULL));
    const char *consent = ref_string(root, "consent");
    CHECK(!!bk_profile_consented(p) == (consent && strcmp(consent, "1") == 0));

    const bk_profile_cap *caps;
    size_t n = bk_profile_caps(p, &caps);
    ref_cap *want;
    size_t want_n = ref_caps(root, &want);
    if (n != want_n) {
        fprintf(stderr, "fuzz_profile: %zu cap entries, jansson %zu\n", n, want_n);
        CHECK(!"cap count differs");
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(caps[i].rule, want[i].rule) != 0)
            fail_diff("cap rule", caps[i].rule, want[i].rule);
        if (caps[i].visit != want[i].visit || caps[i].count != want[i].count ||
            caps[i].last_ms != want[i].last_ms) {
            fprintf(stderr, "fuzz_profile: cap %s: profile %lld %lld last %lld, jansson %lld %lld last %lld\n",
                    want[i].rule, (long long)caps[i].visit, (long long)caps[i].count,
                    (long long)caps[i].last_ms, want[i].visit, want[i].count, want[i].last_ms);
            CHECK(!"cap entry differs");
        }
    }
    free(want);
    CHECK(bk_profile_size(p) > 0);
    /* the conversation flag is the one thing the tracker changes in place */
    bk_profile_set_conversation_open((bk_profile *)p);
    CHECK(bk_profile_conversation_open(p));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Redis replies are capped by the store long before this. */
    if (size > 1 << 20)
        return -1;
    json_error_t error;
    json_t *root = json_loadb((const char *)data, size, 0, &error);
    bk_profile *p = bk_profile_parse((const char *)data, size);
    /* The one deliberate difference: jansson 2.14 skips a single NUL byte right after a
     * number or true/false/null (its lexer's push-back slot reads 0 as empty), so it accepts
     * {"n":1<NUL>}. The profile refuses raw NUL bytes everywhere; the scripts send none. */
    int want_object = json_is_object(root) && !memchr(data, '\0', size);
    if ((p != NULL) != want_object) {
        fprintf(stderr, "fuzz_profile: profile %s, jansson %s (%s, column %d)\n",
                p ? "accepts" : "refuses", want_object ? "accepts" : "refuses",
                json_is_object(root) ? "an object" : root ? "not an object" : error.text,
                root ? 0 : error.column);
        CHECK(!"accept/refuse differs");
    }
    if (p)
        compare(p, root);
    bk_profile_free(p);
    json_decref(root);
    return 0;
}
