/* fuzz_rules.c - libFuzzer target for the rule engine (server/rules/, include/beckon/rules.h).
 *
 * The input is rule JSON as the rules editor would send it: a rule object (or, when it is an
 * array, a whole rule list for bk_rule_set_load_json). It is validated, compiled into a set
 * that already holds a few fixed rules (so the fuzzed rule shares the index and competes on
 * priority), then evaluated against fixed visitor contexts at fixed instants (a rich one, a
 * sparse one, and one with a URL and title at the protocol's length limits), indexed and
 * with scan_all, explained, and finally removed again. run.sh's -timeout turns a rule that
 * takes seconds to compile or evaluate into a reported failure.
 *
 * Properties checked besides "no crash, no sanitizer report, no leak":
 *   - bk_rule_validate_json and bk_rule_set_add_json agree on valid/invalid (rules.h: "the
 *     same checks, and the same errors"), and report the same path and message;
 *   - error path/message are NUL-terminated; an unchanged set on error;
 *   - the index never changes an answer: indexed and scan_all evaluation pick the same rule;
 *   - explain hands out the same result as evaluate, calls back once per rule, and marks
 *     exactly the winner as "fires";
 *   - next_check_ms is 0 or after now;
 *   - for valid UTF-8 input, error paths and messages and explanation paths and details are
 *     valid UTF-8 too (rules_api.c and rules_dry_run.c put them in JSON strings, which fail on
 *     invalid UTF-8: the API would answer 500 "{}" instead of the error, and the dry run
 *     would silently drop the rule's explanation). */
#include "fuzz_util.h"

#include <beckon/rules.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "fuzz_rules: property failed: %s (%s:%d)\n", #cond, __FILE__, \
                    __LINE__);                                                             \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

/* Fixed rules that stay in the set: an indexed one (event), a path-prefix one, an unindexed
 * one with caps and hours in UTC. No zone files, to keep every execution cheap. */
static const char base_rules[] =
    "[{\"id\":\"base-event\",\"priority\":5,\"when\":{\"all\":[{\"event.name\":\"cart_add\"},"
    "{\"event.props.value\":{\">=\":100}}]},\"then\":{\"invite\":{\"text\":\"Big cart!\"}}},"
    "{\"id\":\"base-path\",\"priority\":10,\"when\":{\"all\":[{\"page.path\":{\"glob\":\"/pricing*\"}},"
    "{\"page.seconds\":{\">=\":30}}]},\"unless\":{\"conversation.open\":true},"
    "\"only\":{\"agents_available\":true,\"site\":[\"demo\",\"shop\"]},"
    "\"cap\":{\"per_visit\":2,\"cooldown_days\":0.5},"
    "\"then\":{\"invite\":{\"text\":\"Hi\",\"delay_seconds\":2,\"agent\":\"Mette\"}}},"
    "{\"id\":\"base-any\",\"priority\":-1,\"when\":{\"any\":[{\"idle.seconds\":{\">=\":45}},"
    "{\"visitor.attrs.plan\":{\"in\":[\"team\",\"business\"]}}]},"
    "\"only\":{\"hours\":\"mon-fri 09:00-17:00\",\"tz\":\"UTC\"},"
    "\"then\":{\"invite\":{\"text\":\"Hello there\"}}}]";

#define NOW INT64_C(1763816400000) /* 2025-11-22 13:00:00 UTC, a Saturday */
#define SECOND INT64_C(1000)
#define DAY (86400 * SECOND)

static const int64_t instants[] = {
    NOW,
    NOW + 2 * DAY + 3600 * SECOND,  /* Monday 14:00 UTC */
    INT64_C(1774747800000),         /* 2026-03-29 01:30 UTC, half an hour after the EU switch to DST */
};

static bk_rules_attr attrs[] = {
    {"plan", {BK_RULES_VALUE_STRING, "team", 0, false}},
    {"seats", {BK_RULES_VALUE_NUMBER, NULL, 25, false}},
    {"vip", {BK_RULES_VALUE_BOOL, NULL, 0, true}},
    {"empty", {BK_RULES_VALUE_STRING, "", 0, false}},
    {"missing", {BK_RULES_VALUE_MISSING, NULL, 0, false}},
};

static bk_rules_attr props[] = {
    {"value", {BK_RULES_VALUE_NUMBER, NULL, 2500.5, false}},
    {"sku", {BK_RULES_VALUE_STRING, "SKU-42", 0, false}},
    {"gift", {BK_RULES_VALUE_BOOL, NULL, 0, false}},
};

static bk_rules_cap_state caps[] = {
    {"base-path", 1, NOW - 3 * 3600 * SECOND},
    {"r", 5, NOW - DAY},
    {"a", 0, NOW - 400 * DAY},
};

static void context_rich(bk_rules_context *ctx, int64_t now)
{
    bk_rules_context_init(ctx);
    ctx->site = "demo";
    ctx->page_url = "https://shop.example/pricing/teams?x=1#top";
    ctx->page_title = "Priser - Kan jeg hj\xc3\xa6lpe?";
    ctx->page_started_ms = now - 42 * SECOND - 500;
    ctx->visit_started_ms = now - 600 * SECOND;
    ctx->visit_pages = 4;
    ctx->referrer = "https://www.google.com/";
    ctx->utm_source = "newsletter";
    ctx->utm_medium = "email";
    ctx->utm_campaign = "spring-2026";
    ctx->utm_term = "chat";
    ctx->utm_content = "banner";
    ctx->visits = 3;
    ctx->chats = 1;
    ctx->last_chat_ms = now - 10 * DAY;
    ctx->lang = "da-DK";
    ctx->device = "desktop";
    ctx->attrs = attrs;
    ctx->attr_count = sizeof attrs / sizeof attrs[0];
    ctx->event_name = "cart_add";
    ctx->event_props = props;
    ctx->event_prop_count = sizeof props / sizeof props[0];
    ctx->last_event_ms = now - 50 * SECOND;
    ctx->conversation_open = false;
    ctx->agents_available = true;
    ctx->caps = caps;
    ctx->cap_count = sizeof caps / sizeof caps[0];
    ctx->invitations_today = 1;
    ctx->day_ends_ms = now + 5 * 3600 * SECOND;
    ctx->last_dismissed_ms = now - 20 * SECOND;
}

/* A page view on a fresh visit with only the path known. */
static void context_sparse(bk_rules_context *ctx, int64_t now)
{
    bk_rules_context_init(ctx);
    ctx->page_path = "/pricing";
    ctx->page_started_ms = now - 1;
    ctx->visit_pages = 1;
    ctx->event_name = "page_view";
}

/* A visitor at the protocol's limits: a page URL of BK_URL_MAX (2048) bytes and a title of
 * BK_TITLE_MAX (512), as any visitor may send them. Regexes and globs run against these on
 * the event loop, so a rule must not take long to evaluate on them (libFuzzer's -timeout). */
static char long_url[2049], long_title[513], long_path[1025];

static void context_long(bk_rules_context *ctx, int64_t now)
{
    if (!long_url[0]) {
        memcpy(long_url, "https://shop.example/", 21);
        memset(long_url + 21, 'a', sizeof long_url - 22);
        memset(long_title, 'a', sizeof long_title - 1);
        long_path[0] = '/';
        memset(long_path + 1, 'a', sizeof long_path - 2);
    }
    context_rich(ctx, now);
    ctx->page_url = long_url;
    ctx->page_path = NULL; /* derived from the URL */
    ctx->page_title = long_title;
    ctx->referrer = long_path;
    ctx->event_name = NULL;
}

typedef struct explain_tally {
    size_t calls, fires;
    const char *fired_id;
} explain_tally;

static bool input_is_utf8;

static void on_explain(const bk_rules_explanation *e, void *userdata)
{
    explain_tally *t = userdata;
    if (input_is_utf8 && (!fuzz_utf8_valid_str(e->path) || !fuzz_utf8_valid_str(e->detail))) {
        fprintf(stderr, "fuzz_rules: explanation of %s is not UTF-8: %s: %s\n", e->rule_id, e->path, e->detail);
        CHECK(!"explanation is not valid UTF-8");
    }
    t->calls++;
    CHECK(e->rule_id != NULL);
    CHECK(memchr(e->path, '\0', sizeof e->path) != NULL);
    CHECK(memchr(e->detail, '\0', sizeof e->detail) != NULL);
    CHECK(e->outcome >= BK_RULES_OUTCOME_FIRES && e->outcome <= BK_RULES_OUTCOME_CAP);
    (void)strlen(bk_rules_outcome_name(e->outcome));
    if (e->outcome == BK_RULES_OUTCOME_FIRES) {
        t->fires++;
        t->fired_id = e->rule_id;
    }
}

static void on_observe(const char *rule_id, bool matches, void *userdata)
{
    (void)matches;
    CHECK(rule_id != NULL);
    ++*(size_t *)userdata;
}

static void check_result(const bk_rules_result *r, int64_t now)
{
    CHECK(r->next_check_ms == 0 || r->next_check_ms > now);
    if (r->rule_id) {
        CHECK(r->rule_name != NULL && r->invite_text != NULL);
        (void)strlen(r->rule_id);
        (void)strlen(r->rule_name);
        (void)strlen(r->invite_text);
        if (r->invite_agent)
            (void)strlen(r->invite_agent);
    }
}

static int same_id(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

static void evaluate_all(const bk_rule_set *set)
{
    static const bk_rules_settings indexed = {.daily_budget = 3, .dismiss_quiet_seconds = 10};
    static const bk_rules_settings full = {.daily_budget = 3, .dismiss_quiet_seconds = 10, .scan_all = true};
    size_t count = bk_rule_set_count(set);
    for (size_t i = 0; i < sizeof instants / sizeof instants[0]; i++) {
        for (int which = 0; which < 3; which++) {
            int64_t now = instants[i];
            bk_rules_context ctx;
            if (which == 2 && i > 0)
                continue; /* long strings: one instant is enough */
            if (which == 0)
                context_rich(&ctx, now);
            else if (which == 1)
                context_sparse(&ctx, now);
            else
                context_long(&ctx, now);

            bk_rules_result a, b, c, d;
            CHECK(bk_rule_set_evaluate(set, &ctx, now, &indexed, &a) == BK_RULES_OK);
            CHECK(bk_rule_set_evaluate(set, &ctx, now, &full, &b) == BK_RULES_OK);
            check_result(&a, now);
            check_result(&b, now);
            if (!same_id(a.rule_id, b.rule_id)) {
                fprintf(stderr, "fuzz_rules: indexed: %s, scan_all: %s (instant %zu, context %d)\n",
                        a.rule_id ? a.rule_id : "(none)", b.rule_id ? b.rule_id : "(none)", i, which);
                CHECK(!"the index changed the answer");
            }

            size_t observed = 0;
            CHECK(bk_rule_set_evaluate_observed(set, &ctx, now, NULL, on_observe, &observed, &c) ==
                  BK_RULES_OK);
            check_result(&c, now);

            explain_tally tally = {0, 0, NULL};
            CHECK(bk_rule_set_explain(set, &ctx, now, &indexed, on_explain, &tally, &d) == BK_RULES_OK);
            check_result(&d, now);
            CHECK(tally.calls == count);
            CHECK(same_id(d.rule_id, a.rule_id));
            CHECK(tally.fires == (a.rule_id ? 1u : 0u));
            if (a.rule_id)
                CHECK(same_id(tally.fired_id, a.rule_id));
        }
    }
}

static void check_error(const bk_rules_error *err)
{
    CHECK(memchr(err->path, '\0', sizeof err->path) != NULL);
    CHECK(memchr(err->message, '\0', sizeof err->message) != NULL);
    if (input_is_utf8 && (!fuzz_utf8_valid_str(err->path) || !fuzz_utf8_valid_str(err->message))) {
        fprintf(stderr, "fuzz_rules: error is not UTF-8: %s: %s\n", err->path, err->message);
        CHECK(!"error path or message is not valid UTF-8");
    }
}

static bk_rule_set *base_set(void)
{
    bk_rule_set *set = bk_rule_set_new();
    CHECK(set != NULL);
    bk_rules_error err;
    int rc = bk_rule_set_load_json(set, base_rules, strlen(base_rules), &err);
    if (rc != BK_RULES_OK)
        fprintf(stderr, "fuzz_rules: base rules: %s: %s\n", err.path, err.message);
    CHECK(rc == BK_RULES_OK);
    return set;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024)
        return -1;
    /* Copy to an exact-size heap buffer (no NUL): the API takes (json, len). */
    char *json = malloc(size ? size : 1);
    if (!json)
        return 0;
    memcpy(json, data, size);

    size_t first = 0;
    while (first < size && (json[first] == ' ' || json[first] == '\n' || json[first] == '\t' ||
                            json[first] == '\r'))
        first++;
    int is_array = first < size && json[first] == '[';
    input_is_utf8 = fuzz_check_utf8() && fuzz_utf8_valid(data, size);

    bk_rule_set *set = base_set();
    size_t base_count = bk_rule_set_count(set);
    bk_rules_error err;

    if (is_array) {
        memset(&err, 0x5a, sizeof err);
        int rc = bk_rule_set_load_json(set, json, size, &err);
        if (rc != BK_RULES_OK) {
            check_error(&err);
            CHECK(bk_rule_set_count(set) == base_count);
        }
        (void)strlen(bk_rules_status_name(rc));
        evaluate_all(set);
        /* Remove every rule, highest priority first, evaluating once half-way. */
        size_t half = bk_rule_set_count(set) / 2;
        while (bk_rule_set_count(set) > 0) {
            char id[128];
            CHECK(bk_rule_set_id_at(set, 0) != NULL);
            snprintf(id, sizeof id, "%s", bk_rule_set_id_at(set, 0));
            CHECK(bk_rule_set_remove(set, id) == BK_RULES_OK);
            if (bk_rule_set_count(set) == half)
                evaluate_all(set);
        }
        CHECK(bk_rule_set_id_at(set, 0) == NULL);
    } else {
        bk_rules_error verr;
        memset(&verr, 0x5a, sizeof verr);
        int vrc = bk_rule_validate_json(json, size, &verr);
        CHECK(vrc == BK_RULES_OK || vrc == BK_RULES_ERR_INVALID || vrc == BK_RULES_ERR_NO_MEMORY);
        if (vrc != BK_RULES_OK)
            check_error(&verr);

        memset(&err, 0x5a, sizeof err);
        int rc = bk_rule_set_add_json(set, json, size, &err);
        if (rc == BK_RULES_OK) {
            CHECK(bk_rule_set_count(set) == base_count + 1);
        } else {
            check_error(&err);
            CHECK(bk_rule_set_count(set) == base_count);
        }
        /* Same verdict, same explanation (a duplicate id is add's business only). */
        if (rc != BK_RULES_ERR_DUPLICATE) {
            if (rc != vrc) {
                fprintf(stderr, "fuzz_rules: validate: %d (%s: %s), add: %d (%s: %s)\n", vrc,
                        vrc ? verr.path : "", vrc ? verr.message : "", rc, rc ? err.path : "",
                        rc ? err.message : "");
                CHECK(!"validate and add disagree");
            }
            if (rc == BK_RULES_ERR_INVALID) {
                CHECK(strcmp(verr.path, err.path) == 0);
                CHECK(strcmp(verr.message, err.message) == 0);
            }
        } else {
            CHECK(strcmp(err.path, "id") == 0);
        }
        evaluate_all(set);

        /* Remove the fuzzed rule again (whatever its id, the base ones stay). */
        if (rc == BK_RULES_OK) {
            for (size_t i = 0; i < bk_rule_set_count(set); i++) {
                const char *id = bk_rule_set_id_at(set, i);
                if (strncmp(id, "base-", 5) != 0 ||
                    (strcmp(id, "base-event") && strcmp(id, "base-path") && strcmp(id, "base-any"))) {
                    char copy[128];
                    snprintf(copy, sizeof copy, "%s", id);
                    CHECK(bk_rule_set_remove(set, copy) == BK_RULES_OK);
                    break;
                }
            }
            CHECK(bk_rule_set_count(set) == base_count);
            evaluate_all(set);
        }
    }
    CHECK(bk_rule_set_remove(set, "no-such-rule") == BK_RULES_ERR_NOT_FOUND);
    bk_rule_set_free(set);
    free(json);
    return 0;
}
