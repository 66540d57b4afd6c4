/* Service KPIs (server/stats/service_stats.h) on a scripted day of chats: every figure below is
 * computed by hand in the comments and asserted exactly. */
#include "check.h"
#include "stats/service_stats.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NONE BK_SERVICE_NONE
#define S(x) ((int64_t)((x) * 1000))  /* seconds -> ms */

/* The range: 2026-11-01 .. 2026-11-03; the chats all close on the 2nd (day 1). */
static int64_t day0;

static bk_service_fact fact(int day, int64_t accepted, int64_t first, int64_t closed, const char *agent,
                            const char *site, const char *rule, int rating)
{
    /* every chat opens at 09:00 of its day; the other times are offsets from that */
    int64_t created = day0 + day * 86400000LL + S(9 * 3600);
    bk_service_fact f;
    memset(&f, 0, sizeof f);
    f.day = day;
    f.created = created;
    f.accepted = accepted == NONE ? NONE : created + accepted;
    f.first_response = first == NONE ? NONE : created + first;
    f.closed = created + closed;
    snprintf(f.agent, sizeof f.agent, "%s", agent ? agent : "");
    snprintf(f.site, sizeof f.site, "%s", site);
    snprintf(f.rule, sizeof f.rule, "%s", rule ? rule : "");
    f.rating = rating;
    return f;
}

static bk_service_fact day_facts[11];
static const size_t fact_count = 11;

static void script_the_day(void)
{
    /*  #   agent  accepted  first    closed      rating  site
     *  1   alice  10 s      25 s     300 s       5       demo
     *  2   alice  20 s      30 s     200 s       4       demo
     *  3   alice  30 s      90 s     600 s       2       demo
     *  4   bob     5 s       8 s     100 s       -       demo
     *  5   bob    40 s     100 s     400 s       5       demo
     *  6   bob    60 s       -        70 s       -       demo   accepted, never answered: missed
     *  7   -       -         -        45 s       -       demo   left before anyone accepted: missed
     *  8   -       -         -        15 s       1       demo   the same, and rated 1
     *  9   alice  15 s      16.5 s  1000.250 s   -       other
     * 10   bob    25 s      45 s     145 s       3       demo   from an invitation (rule pricing-help)
     * 11   alice on day 3 (outside the range): ignored */
    day_facts[0] = fact(1, S(10), S(25), S(300), "alice", "demo", NULL, 5);
    day_facts[1] = fact(1, S(20), S(30), S(200), "alice", "demo", NULL, 4);
    day_facts[2] = fact(1, S(30), S(90), S(600), "alice", "demo", NULL, 2);
    day_facts[3] = fact(1, S(5), S(8), S(100), "bob", "demo", NULL, 0);
    day_facts[4] = fact(1, S(40), S(100), S(400), "bob", "demo", NULL, 5);
    day_facts[5] = fact(1, S(60), NONE, S(70), "bob", "demo", NULL, 0);
    day_facts[6] = fact(1, NONE, NONE, S(45), NULL, "demo", NULL, 0);
    day_facts[7] = fact(1, NONE, NONE, S(15), NULL, "demo", NULL, 1);
    day_facts[8] = fact(1, S(15), 16500, 1000250, "alice", "other", NULL, 0);
    day_facts[9] = fact(1, S(25), S(45), S(145), "bob", "demo", "pricing-help", 3);
    day_facts[10] = fact(3, S(1), S(2), S(3), "alice", "demo", NULL, 5);
}

static void test_dates(void)
{
    struct tm tm = { .tm_year = 126, .tm_mon = 10, .tm_mday = 1 };
    int64_t ms = 0;
    CHECK(bk_service_date_parse("2026-11-01", &ms) == 0 && ms == (int64_t)timegm(&tm) * 1000,
          "2026-11-01 is midnight UTC of that day");
    char out[11];
    bk_service_date_format(ms + 86400000LL - 1, out);
    CHECK_STR(out, "2026-11-01", "the last ms of a day formats as that day");
    CHECK(bk_service_date_parse("2024-02-29", &ms) == 0, "a leap day is a date");
    bk_service_date_format(ms, out);
    CHECK_STR(out, "2024-02-29", "and formats back");
    static const char *bad[] = { "2026-02-29", "2100-02-29", "2026-02-30", "2026-13-01", "2026-00-10", "2026-2-03",
                                 "2026-11-01x", "", "1999-12-31", "26-11-01", "2026/11/01", "2026-11-0a" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(bk_service_date_parse(bad[i], &ms) != 0, "not a date: \"%s\"", bad[i]);
}

static void test_fact_parse(void)
{
    bk_service_fact f;
    const char *row = "{\"created\":1793610000000,\"accepted\":null,\"first_response\":null,"
                      "\"closed\":1793610045000,\"agent\":null,\"site\":\"demo\",\"rule\":null,\"rating\":null}";
    CHECK(bk_service_fact_parse(row, strlen(row), 2, &f) == 0, "a row as conversation_close.lua writes it parses");
    CHECK(f.created == 1793610000000LL && f.accepted == NONE && f.first_response == NONE &&
          f.closed == 1793610045000LL && f.agent[0] == '\0' && strcmp(f.site, "demo") == 0 && f.rating == 0 &&
          f.day == 2, "with null as absent");
    row = "{\"created\":1,\"accepted\":2,\"first_response\":3,\"closed\":4,\"agent\":\"bob\",\"site\":null,"
          "\"rule\":\"r1\",\"rating\":4}";
    CHECK(bk_service_fact_parse(row, strlen(row), 0, &f) == 0 && f.accepted == 2 && f.first_response == 3 &&
          strcmp(f.agent, "bob") == 0 && strcmp(f.rule, "r1") == 0 && f.rating == 4, "a full row");
    static const char *bad[] = { "[]", "{\"created\":\"x\"}", "{\"rating\":7}", "{\"rating\":0}", "{\"agent\":5}", "nope" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(bk_service_fact_parse(bad[i], strlen(bad[i]), 0, &f) != 0, "not a fact row: %s", bad[i]);
}

/* Percentiles are nearest-rank: the sample at rank ceil(p/100 * n), counting from 1. */
static void test_percentiles(void)
{
    bk_service_fact f[11];
    bk_service_figures out;
    for (int i = 0; i < 11; i++)
        f[i] = fact(0, S(i + 1), S(i + 1), S(100), "a", "s", NULL, 0);  /* waits 1 s, 2 s, ... */
    CHECK(bk_service_figures_compute(f, 1, NULL, -1, &out) == 0 && out.waiting_p50 == S(1) && out.waiting_p90 == S(1),
          "n=1: p50 = p90 = the one sample");
    bk_service_figures_compute(f, 2, NULL, -1, &out);
    CHECK(out.waiting_p50 == S(1) && out.waiting_p90 == S(2), "n=2: p50 rank 1 (1 s), p90 rank 2 (2 s)");
    bk_service_figures_compute(f, 10, NULL, -1, &out);
    CHECK(out.waiting_p50 == S(5) && out.waiting_p90 == S(9), "n=10: p50 rank 5 (5 s), p90 rank 9 (9 s)");
    bk_service_figures_compute(f, 11, NULL, -1, &out);
    CHECK(out.waiting_p50 == S(6) && out.waiting_p90 == S(10), "n=11: p50 rank 6 (6 s), p90 rank ceil(9.9) = 10");
    CHECK(bk_service_figures_compute(f, 0, NULL, -1, &out) == 0 && out.chats == 0 && out.waiting_p50 == NONE &&
          out.first_response_p90 == NONE && out.handling_avg == NONE && out.csat < 0, "no facts: zeros and no samples");
    /* a first response stamped by Redis a little before a node's own clock said "created" */
    f[0].first_response = f[0].created - 3;
    bk_service_figures_compute(f, 1, NULL, -1, &out);
    CHECK(out.first_response_p50 == 0, "a negative span between two clocks counts as 0");
}

static void check_totals(const bk_service_figures *t, const char *what)
{
    /* chats 10 (#11 is outside the range); missed: #6, #7, #8 */
    CHECK(t->chats == 10 && t->missed == 3 && t->answered == 7, "%s: 10 chats, 3 missed, 7 answered", what);
    /* waits of the 8 accepted chats, sorted: 5 10 15 20 25 30 40 60; p50 = rank 4, p90 = rank ceil(7.2) = 8 */
    CHECK(t->waiting_p50 == S(20) && t->waiting_p90 == S(60), "%s: waiting p50 20 s, p90 60 s", what);
    /* first responses of the 7 answered, sorted: 8 16.5 25 30 45 90 100; p50 = rank 4, p90 = rank ceil(6.3) = 7 */
    CHECK(t->first_response_p50 == S(30) && t->first_response_p90 == S(100),
          "%s: first response p50 30 s, p90 100 s", what);
    /* handling (closed - accepted) of the 8 accepted, sorted: 10 95 120 180 290 360 570 985.25;
     * p50 = rank 4 = 180 s; average 2610.25 s / 8 = 326.28125 s -> 326.281 s (whole ms) */
    CHECK(t->handling_p50 == S(180) && t->handling_avg == 326281, "%s: handling p50 180 s, average 326.281 s", what);
    /* ratings 5 4 2 5 1 3: six, of which 5 4 5 are good: CSAT 3/6 */
    CHECK(t->ratings == 6 && t->ratings_good == 3 && t->csat == 0.5, "%s: 6 ratings, CSAT 0.5", what);
}

static void test_the_day(void)
{
    bk_service_figures t;
    CHECK(bk_service_figures_compute(day_facts, fact_count, NULL, 1, &t) == 0, "figures of day 1");
    check_totals(&t, "day 1");
    CHECK(t.invitations_shown == -1, "invitation counters are the report's to add");

    bk_service_filter bob = { "bob", NULL };
    bk_service_figures_compute(day_facts, fact_count, &bob, -1, &t);
    /* bob: #4 #5 #6 #10; #6 missed. waits 5 25 40 60 -> p50 rank 2 = 25, p90 rank 4 = 60.
     * first 8 45 100 -> p50 rank ceil(1.5) = 2 = 45, p90 rank 3 = 100. handling 10 95 120 360 ->
     * p50 rank 2 = 95, average 585 / 4 = 146.25 s. ratings 5 3 -> CSAT 1/2. The two chats nobody
     * accepted (#7, #8) belong to no agent: not counted. */
    CHECK(t.chats == 4 && t.missed == 1 && t.answered == 3, "bob: 4 chats, 1 missed");
    CHECK(t.waiting_p50 == S(25) && t.waiting_p90 == S(60), "bob: waiting p50 25 s, p90 60 s");
    CHECK(t.first_response_p50 == S(45) && t.first_response_p90 == S(100), "bob: first response p50 45 s, p90 100 s");
    CHECK(t.handling_p50 == S(95) && t.handling_avg == 146250, "bob: handling p50 95 s, average 146.25 s");
    CHECK(t.ratings == 2 && t.csat == 0.5, "bob: 2 ratings, CSAT 0.5");

    bk_service_filter other = { NULL, "other" };
    bk_service_figures_compute(day_facts, fact_count, &other, -1, &t);
    /* only #9: wait 15 s, first response 16.5 s, handling 1000.25 - 15 = 985.25 s */
    CHECK(t.chats == 1 && t.waiting_p90 == S(15) && t.first_response_p50 == 16500 && t.handling_avg == 985250 &&
          t.ratings == 0 && t.csat < 0, "site other: one chat, 16.5 s to answer, no ratings (CSAT null)");
}

static void test_report(void)
{
    bk_service_invitations inv[3] = { { 3, 1, 1, 4, 1, 2, 1 }, { 5, 2, 2, 0, 0, 0, 0 }, { 0, 0, 0, 1, 1, 0, 0 } };
    bk_service_report r;
    CHECK(bk_service_report_build(&r, day0, 3, NULL, day_facts, fact_count, inv) == 0, "the report builds");
    check_totals(&r.totals, "report totals");
    check_totals(&r.per_day[1], "report day 2026-11-02");
    CHECK(r.per_day[0].chats == 0 && r.per_day[0].waiting_p50 == NONE && r.per_day[2].chats == 0 &&
          r.per_day[2].handling_avg == NONE, "the empty days are there, with zeros and no samples");
    CHECK(r.totals.invitations_shown == 8 && r.totals.invitations_accepted == 3 && r.totals.invitation_chats == 3 &&
          r.per_day[0].invitations_shown == 3 && r.per_day[1].invitation_chats == 2,
          "invitations: per day as given, totals their sums (8 shown, 3 accepted, 3 chats)");
    CHECK(r.totals.flows_started == 5 && r.totals.flows_completed == 2 && r.totals.flows_handed_off == 2 &&
          r.totals.flows_emails == 1 && r.per_day[0].flows_started == 4 && r.per_day[2].flows_completed == 1,
          "flows: per day as given, totals their sums (5 started, 2 completed, 2 handed off, 1 email)");
    CHECK(r.agent_count == 2 && strcmp(r.agents[0].name, "alice") == 0 && strcmp(r.agents[1].name, "bob") == 0,
          "agents: alice and bob, by name; nobody's chats make no row");
    /* alice: #1 #2 #3 #9. waits 10 15 20 30 -> p50 15, p90 30. first 16.5 25 30 90 -> p50 25, p90 90.
     * handling 180 290 570 985.25 -> p50 290, average 2025.25 / 4 = 506.3125 -> 506.313 s (half up).
     * ratings 5 4 2 -> CSAT 2/3. */
    const bk_service_figures *a = &r.agents[0].figures;
    CHECK(a->chats == 4 && a->missed == 0 && a->waiting_p50 == S(15) && a->waiting_p90 == S(30) &&
          a->first_response_p50 == S(25) && a->first_response_p90 == S(90) && a->handling_p50 == S(290) &&
          a->handling_avg == 506313 && a->ratings == 3 && a->ratings_good == 2, "alice's row");

    json_t *j = bk_service_report_json(&r);
    char *text = json_dumps(json_object_get(j, "totals"), JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(12));
    CHECK_STR(text, "{\"answered\":7,\"answered_by_email\":0,\"chats\":10,\"csat\":0.5,\"email_first_response_p50\":null,\"email_first_response_p90\":null,\"first_response_p50\":30.0,\"first_response_p90\":100.0,"
                    "\"flows_completed\":2,\"flows_emails\":1,\"flows_handed_off\":2,\"flows_started\":5,"
                    "\"handling_avg\":326.281,\"handling_p50\":180.0,\"invitation_chats\":3,\"invitations_accepted\":3,"
                    "\"invitations_shown\":8,\"missed\":3,\"ratings\":6,\"waiting_p50\":20.0,\"waiting_p90\":60.0}",
              "JSON totals: seconds with ms precision");
    free(text);
    json_t *days = json_object_get(j, "days");
    CHECK(json_array_size(days) == 3 &&
          strcmp(json_string_value(json_object_get(json_array_get(days, 0), "day")), "2026-11-01") == 0 &&
          json_is_null(json_object_get(json_array_get(days, 2), "waiting_p50")) &&
          json_is_null(json_object_get(json_array_get(days, 2), "csat")),
          "JSON days: every day of the range, null where there is no sample");
    CHECK_STR(json_string_value(json_object_get(j, "to")), "2026-11-03", "JSON to");
    CHECK(json_is_null(json_object_get(j, "agent")) && json_is_null(json_object_get(j, "site")), "no filters: null");
    json_t *alice = json_array_get(json_object_get(j, "agents"), 0);
    CHECK(json_real_value(json_object_get(alice, "csat")) == 0.6667 && !json_object_get(alice, "invitations_shown"),
          "JSON agents: CSAT to 4 decimals (2/3 -> 0.6667), no invitation figures");
    json_decref(j);

    char *csv = bk_service_report_csv(&r);
    CHECK_STR(csv,
              "day,chats,missed,answered,waiting_p50,waiting_p90,first_response_p50,first_response_p90,"
              "handling_avg,handling_p50,ratings,csat,invitations_shown,invitations_accepted,invitation_chats,"
              "flows_started,flows_completed,flows_handed_off,flows_emails,"
              "answered_by_email,email_first_response_p50,email_first_response_p90\r\n"
              "2026-11-01,0,0,0,,,,,,,0,,3,1,1,4,1,2,1,0,,\r\n"
              "2026-11-02,10,3,7,20.000,60.000,30.000,100.000,326.281,180.000,6,0.5000,5,2,2,0,0,0,0,0,,\r\n"
              "2026-11-03,0,0,0,,,,,,,0,,0,0,0,1,1,0,0,0,,\r\n"
              "total,10,3,7,20.000,60.000,30.000,100.000,326.281,180.000,6,0.5000,8,3,3,5,2,2,1,0,,\r\n",
              "CSV: header, one line per day, the total");
    free(csv);
    bk_service_report_free(&r);

    bk_service_filter bob = { "bob", NULL };
    CHECK(bk_service_report_build(&r, day0, 3, &bob, day_facts, fact_count, inv) == 0, "the report for bob builds");
    CHECK(r.totals.chats == 4 && r.per_day[1].chats == 4 && r.agent_count == 1 && strcmp(r.agents[0].name, "bob") == 0,
          "agent=bob: totals, days and the agents table hold bob's chats only");
    CHECK(r.totals.invitations_shown == -1 && r.per_day[0].invitations_shown == -1,
          "agent=bob: invitation counters name no agent, so they are unknown (null)");
    j = bk_service_report_json(&r);
    CHECK_STR(json_string_value(json_object_get(j, "agent")), "bob", "JSON names the agent filter");
    CHECK(json_is_null(json_object_get(json_object_get(j, "totals"), "invitations_shown")), "JSON: null invitations");
    json_decref(j);
    csv = bk_service_report_csv(&r);
    CHECK(csv && strstr(csv, "\r\ntotal,4,1,3,25.000,60.000,45.000,100.000,146.250,95.000,2,0.5000,,,,,,,,0,,\r\n"),
          "CSV for bob: empty invitation and flow cells");
    free(csv);
    bk_service_report_free(&r);

    CHECK(bk_service_report_build(&r, day0, 1, NULL, NULL, 0, NULL) == 0 && r.totals.chats == 0 && r.agent_count == 0 &&
          r.totals.invitations_shown == -1, "a report without facts or counters");
    bk_service_report_free(&r);
}

int main(void)
{
    if (bk_service_date_parse("2026-11-01", &day0) != 0)
        return 1;
    script_the_day();
    test_dates();
    test_fact_parse();
    test_percentiles();
    test_the_day();
    test_report();
    return check_done();
}
