/* bench_rules.c - how long one evaluation takes as the rule set grows.
 *
 * Builds sets of 10, 100, 1 000 and 10 000 rules with a mix like a real
 * site's, then evaluates a stream of visitor events against each and prints
 * microseconds per event, with the index and (for comparison) without it.
 *
 * The mix, per 100 rules:
 *   50  a product or content section: a glob on page.path ("/shop/cat17/...")
 *       or on page.url ("https://shop.dk/shop/cat17/..."), with page.seconds
 *       and visit.pages or visitor.visits thresholds
 *   10  an exact page: page.path "/pricing/plan3" (or an `in` of two)
 *   20  a custom event: event.name = "evt12" with an event.props number
 *   12  any/all nesting: any of two section globs, not an English visitor,
 *       visitor.visits threshold
 *    5  anchored regexes on page.url ("^https://shop\.dk/blog/2017/[0-9a-z-]+$")
 *    3  sitewide rules (no page or event requirement): visit.seconds,
 *       visitor.visits, idle.seconds, conversation.open
 * and, taking the place of one rule in 200, an unanchored regex on
 * page.title, which no index can narrow.
 * The event stream: 70 % page views on a random page, 20 % custom events,
 * 10 % timer wake-ups (no event).
 *
 * Build and run:  ninja -C <build> tests/bench/bench_rules && <build>/tests/bench/bench_rules [sizes...] */
#include "beckon/rules.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t rng_state = 0x2545F4914F6CDD1DULL;

static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 2685821657736338717ULL) >> 33) % n;
}

/* CPU time of this thread, not wall time: on a shared machine the result
 * should not depend on what else is running. */
static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define THEN ",\"then\":{\"invite\":{\"text\":\"Hej! Kan jeg hjælpe?\"}}"

/* Sections and events grow with the set, as they would on a bigger site. */
static unsigned sections_for(int rules)
{
    return rules / 8 > 4 ? (unsigned)rules / 8 : 4;
}

static unsigned events_for(int rules)
{
    return rules / 20 > 3 ? (unsigned)rules / 20 : 3;
}

static size_t write_rule(char *out, size_t size, int i, int rules)
{
    unsigned sections = sections_for(rules), events = events_for(rules);
    unsigned kind = rnd(1000) / 10; /* 0..99, with one in 200 rules an unanchored regex */
    bool unanchored = rnd(200) == 0;
    char when[768];
    if (unanchored) {
        snprintf(when, sizeof when,
                 "{\"all\":[{\"page.seconds\":{\">=\":%u}},{\"page.title\":{\"regex\":\"(tilbud|udsalg|sale) [0-9]+%%\"}}]}",
                 5 + rnd(30));
    } else if (kind < 25) {
        snprintf(when, sizeof when,
                 "{\"all\":[{\"page.path\":{\"glob\":\"/shop/cat%u/*\"}},{\"page.seconds\":{\">=\":%u}},"
                 "{\"visit.pages\":{\">=\":%u}}]}",
                 rnd(sections), 10 + rnd(50), 1 + rnd(4));
    } else if (kind < 50) {
        snprintf(when, sizeof when,
                 "{\"all\":[{\"page.url\":{\"glob\":\"https://shop.dk/shop/cat%u/*\"}},{\"page.seconds\":{\">=\":%u}},"
                 "{\"visitor.visits\":{\">=\":%u}}]}",
                 rnd(sections), 10 + rnd(50), 1 + rnd(4));
    } else if (kind < 60) {
        if (rnd(2))
            snprintf(when, sizeof when, "{\"all\":[{\"page.path\":\"/pricing/plan%u\"},{\"page.seconds\":{\">=\":20}}]}",
                     rnd(sections));
        else
            snprintf(when, sizeof when, "{\"page.path\":{\"in\":[\"/pricing/plan%u\",\"/pricing/plan%u\"]}}",
                     rnd(sections), rnd(sections));
    } else if (kind < 80) {
        snprintf(when, sizeof when, "{\"all\":[{\"event.name\":\"evt%u\"},{\"event.props.value\":{\">\":%u}}]}",
                 rnd(events), rnd(1000));
    } else if (kind < 92) {
        snprintf(when, sizeof when,
                 "{\"all\":[{\"any\":[{\"page.path\":{\"glob\":\"/shop/cat%u/*\"}},"
                 "{\"page.path\":{\"glob\":\"/blog/%u/*\"}}]},"
                 "{\"not\":{\"visitor.lang\":{\"starts_with\":\"en\"}}},{\"visitor.visits\":{\">=\":%u}}]}",
                 rnd(sections), 2000 + rnd(sections), 1 + rnd(3));
    } else if (kind < 97) {
        snprintf(when, sizeof when,
                 "{\"all\":[{\"page.url\":{\"regex\":\"^https://shop\\\\.dk/blog/%u/[0-9a-z-]+$\"}},"
                 "{\"page.seconds\":{\">=\":%u}}]}",
                 2000 + rnd(sections), 20 + rnd(40));
    } else {
        snprintf(when, sizeof when,
                 "{\"all\":[{\"visit.seconds\":{\">=\":%u}},{\"visitor.visits\":{\">=\":%u}},"
                 "{\"idle.seconds\":{\">=\":%u}},{\"conversation.open\":false}]}",
                 60 + rnd(600), 2 + rnd(5), 10 + rnd(50));
    }
    return (size_t)snprintf(out, size,
                            "%s{\"id\":\"rule-%05d\",\"priority\":%u,\"when\":%s,"
                            "\"unless\":{\"conversation.open\":true},\"cap\":{\"per_visit\":1,\"cooldown_days\":7}" THEN "}",
                            i ? "," : "", i, rnd(20), when);
}

static bk_rule_set *build_set(int rules)
{
    size_t size = (size_t)rules * 1024 + 16;
    char *json = malloc(size);
    if (!json)
        return NULL;
    size_t used = (size_t)snprintf(json, size, "[");
    for (int i = 0; i < rules; i++)
        used += write_rule(json + used, size - used, i, rules);
    snprintf(json + used, size - used, "]");
    bk_rule_set *set = bk_rule_set_new();
    bk_rules_error err;
    if (bk_rule_set_load_json(set, json, strlen(json), &err) != BK_RULES_OK) {
        fprintf(stderr, "bench: rules do not compile: %s: %s\n", err.path, err.message);
        bk_rule_set_free(set);
        set = NULL;
    }
    free(json);
    return set;
}

typedef struct visitor_event {
    char url[128];
    char path[96];
    char event[32];
    bool has_event;
    int64_t page_ago, visit_ago, idle_ago;
    int64_t pages, visits;
    const char *lang;
    double value;
    bool chatting;
} visitor_event;

static void make_event(visitor_event *e, int rules)
{
    unsigned sections = sections_for(rules), events = events_for(rules);
    unsigned page = rnd(10);
    if (page < 5)
        snprintf(e->path, sizeof e->path, "/shop/cat%u/item%u", rnd(sections), rnd(500));
    else if (page < 7)
        snprintf(e->path, sizeof e->path, "/blog/%u/indlaeg-%u", 2000 + rnd(sections), rnd(100));
    else if (page < 8)
        snprintf(e->path, sizeof e->path, "/pricing/plan%u", rnd(sections));
    else
        snprintf(e->path, sizeof e->path, "/%s", rnd(2) ? "" : "kontakt");
    snprintf(e->url, sizeof e->url, "https://shop.dk%s%s", e->path, rnd(4) ? "" : "?utm_source=news");
    unsigned trigger = rnd(10);
    e->has_event = trigger < 9;
    if (trigger < 7)
        snprintf(e->event, sizeof e->event, "page_view");
    else
        snprintf(e->event, sizeof e->event, "evt%u", rnd(events));
    e->page_ago = trigger < 7 ? 0 : (int64_t)rnd(120) * 1000;
    e->visit_ago = (int64_t)rnd(1200) * 1000 + e->page_ago;
    e->idle_ago = trigger < 9 ? 0 : (int64_t)rnd(60) * 1000;
    e->pages = 1 + rnd(8);
    e->visits = 1 + rnd(6);
    e->lang = rnd(3) ? "da" : "en-GB";
    e->value = rnd(1200);
    e->chatting = rnd(20) == 0;
}

static double run(const bk_rule_set *set, const visitor_event *events, int count, bool scan_all, double *candidates,
                  double *fired)
{
    const int64_t now = 1774859400000LL; /* 2026-03-30 08:30 UTC */
    bk_rules_settings settings = {3, 300, scan_all};
    size_t evaluated = 0, hits = 0;
    volatile int64_t sink = 0;
    double start = now_seconds();
    for (int i = 0; i < count; i++) {
        const visitor_event *e = &events[i];
        bk_rules_attr props[1] = {{"value", {BK_RULES_VALUE_NUMBER, NULL, e->value, false}}};
        bk_rules_cap_state caps[1] = {{"rule-00003", 1, now - 3600 * 1000}};
        bk_rules_context ctx;
        bk_rules_context_init(&ctx);
        ctx.site = "shop";
        ctx.page_url = e->url;
        ctx.page_path = e->path;
        ctx.page_title = "Forårsudsalg 30% på alt";
        ctx.page_started_ms = now - e->page_ago;
        ctx.visit_started_ms = now - e->visit_ago;
        ctx.visit_pages = e->pages;
        ctx.visits = e->visits;
        ctx.lang = e->lang;
        ctx.event_name = e->has_event ? e->event : NULL;
        ctx.event_props = props;
        ctx.event_prop_count = 1;
        ctx.last_event_ms = now - e->idle_ago;
        ctx.conversation_open = e->chatting;
        ctx.agents_available = true;
        ctx.caps = caps;
        ctx.cap_count = 1;
        ctx.invitations_today = 1;
        bk_rules_result result;
        bk_rule_set_evaluate(set, &ctx, now, &settings, &result);
        evaluated += result.rules_evaluated;
        hits += result.rule_id != NULL;
        sink += result.next_check_ms;
    }
    double elapsed = now_seconds() - start;
    (void)sink;
    *candidates = (double)evaluated / count;
    *fired = 100.0 * (double)hits / count;
    return elapsed * 1e6 / count;
}

int main(int argc, char **argv)
{
    /* Sizes may be given on the command line: bench_rules 1000 */
    int sizes[8] = {10, 100, 1000, 10000};
    size_t size_count = 4;
    if (argc > 1) {
        size_count = 0;
        for (int i = 1; i < argc && size_count < 8; i++)
            if (atoi(argv[i]) > 0)
                sizes[size_count++] = atoi(argv[i]);
    }
    enum { EVENTS = 200000 };
    visitor_event *events = malloc(EVENTS * sizeof *events);
    if (!events)
        return 1;

    printf("beckon rule engine: microseconds per evaluated event\n\n");
    printf("%8s  %10s  %12s  %10s  %12s  %14s\n", "rules", "compile ms", "candidates", "fired %", "us/event",
           "no index us");
    printf("%8s  %10s  %12s  %10s  %12s  %14s\n", "--------", "----------", "------------", "----------",
           "------------", "--------------");
    for (size_t s = 0; s < size_count; s++) {
        int rules = sizes[s];
        double start = now_seconds();
        bk_rule_set *set = build_set(rules);
        double compile_ms = (now_seconds() - start) * 1e3;
        if (!set)
            return 1;
        for (int i = 0; i < EVENTS; i++)
            make_event(&events[i], rules);

        double candidates, fired, scan_candidates, scan_fired;
        run(set, events, EVENTS / 10, false, &candidates, &fired); /* warm caches */
        /* Fewer events for the big sets keep the whole run under a minute. */
        int indexed_events = rules >= 10000 ? EVENTS / 10 : EVENTS;
        int scan_events = rules >= 10000 ? 500 : rules >= 1000 ? EVENTS / 20 : EVENTS;
        /* Best of three: the least disturbed run is the closest to the cost. */
        double us = run(set, events, indexed_events, false, &candidates, &fired);
        for (int repeat = 0; repeat < 2; repeat++) {
            double again = run(set, events, indexed_events, false, &candidates, &fired);
            if (again < us)
                us = again;
        }
        double scan_us = run(set, events, scan_events, true, &scan_candidates, &scan_fired);
        printf("%8d  %10.1f  %12.1f  %10.1f  %12.3f  %14.3f\n", rules, compile_ms, candidates, fired, us, scan_us);
        bk_rule_set_free(set);
    }
    printf("\ncandidates: rules the index let through per event (a rule under two matching\n"
           "keys counts twice); no index: every rule judged (settings.scan_all).\n");
    free(events);
    return 0;
}
