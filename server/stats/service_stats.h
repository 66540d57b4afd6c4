/* service_stats.h - service KPIs from the fact rows of closed conversations; no I/O.
 *
 * Closing a conversation writes one anonymous fact row into svc:{YYYYMMDD} (the UTC day of
 * closing; server/lua/conversation_close.lua): {created, accepted, first_response, closed, agent, site,
 * rule, rating, first_response_channel}, times in ms, absent = null. A first response given by
 * email (first_response_channel "email") counts as answered, and its time is reported apart
 * (email_first_response_*): an answer by mail hours later is not a slow chat. This module turns such rows into the figures of
 * GET /api/stats/service (docs/protocol.md, "Service KPIs"): per day, per agent, in total, as
 * JSON or CSV. It does no I/O, so the figures can be checked by hand in unit tests. */
#ifndef BK_SERVICE_STATS_H
#define BK_SERVICE_STATS_H

#include <beckon/protocol.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define BK_SERVICE_NONE   INT64_MIN  /* a time that is absent, or a figure without a sample */
#define BK_SERVICE_DAYS_MAX 366      /* the longest range one request may ask for */

typedef struct bk_service_fact {
    int64_t created, accepted, first_response, closed;  /* ms since the epoch, or BK_SERVICE_NONE */
    int rating;                                         /* 1-5, 0 = not rated */
    int first_by_email;                                 /* the first response went by email */
    int day;                                            /* index of its day in the report's range */
    char agent[BK_ID_MAX + 1];                          /* "" = nobody accepted it */
    char site[BK_ID_MAX + 1];
    char rule[BK_ID_MAX + 1];                           /* the invitation's rule, or "" */
    char team[BK_ID_MAX + 1];                           /* the team that had it (docs/teams.md), or "" */
    int64_t wait_target, first_response_target;         /* that team's targets then (ms), 0 = none */
} bk_service_fact;

/* NULL or "" = any. An agent filter keeps only that agent's chats: a chat nobody accepted
 * belongs to no agent and is left out. */
typedef struct bk_service_filter {
    const char *agent;
    const char *site;
} bk_service_filter;

/* The self-service figures (docs/help.md, "The figures"), as the JSON and the CSV name them
 * ("help_" and the name): searches, those that found nothing, suggestions shown, articles
 * viewed, "helped" and "did not help" answers, chats avoided. */
#define BK_SERVICE_HELP_COUNT 7
extern const char *const bk_service_help_names[BK_SERVICE_HELP_COUNT];

typedef struct bk_service_figures {
    long chats, missed, answered;
    long answered_by_email;      /* of answered: the first response went by email */
    /* ms, BK_SERVICE_NONE without a sample; percentiles are nearest-rank */
    int64_t waiting_p50, waiting_p90, first_response_p50, first_response_p90, handling_avg, handling_p50;
    int64_t email_first_response_p50, email_first_response_p90;
    long ratings, ratings_good;  /* good: 4 or 5 */
    double csat;                 /* ratings_good / ratings, < 0 without ratings */
    long invitations_shown, invitations_accepted, invitation_chats;  /* < 0: not known for this slice */
    /* quick-reply flows (docs/flows.md): started, an answer reached, handed to the queue, an
     * email left outside hours; < 0: not known for this slice (an agent's) */
    long flows_started, flows_completed, flows_handed_off, flows_emails;
    /* self-service (docs/help.md), in the order of bk_service_help_names; < 0: not known for
     * this slice (an agent's) */
    long help[BK_SERVICE_HELP_COUNT];
} bk_service_figures;

/* Invitation counters of one day, summed over rules (stats:rules:{day}), and the flows'
 * counters of that day (flows:stats:{day}), of the site filtered for or of every site. */
typedef struct bk_service_invitations {
    long shown, accepted, chats;
    long flows_started, flows_completed, flows_handed_off, flows_emails;
    long help[BK_SERVICE_HELP_COUNT];  /* the self-service counters of that day (help:stats:{day}) */
} bk_service_invitations;

typedef struct bk_service_agent {
    char name[BK_ID_MAX + 1];
    bk_service_figures figures;
} bk_service_agent;

/* A team's share of chats within its targets: of the chats that had a waiting target, those
 * accepted within it; of those with a first-response target, those answered within it (both
 * counted from the chat's creation, as the waiting and first-response figures are). */
typedef struct bk_service_team {
    char name[BK_ID_MAX + 1];
    long chats;
    long wait_targeted, wait_within, first_response_targeted, first_response_within;
} bk_service_team;

typedef struct bk_service_report {
    int64_t from_ms;                 /* midnight UTC of the first day */
    int days;                        /* 1..BK_SERVICE_DAYS_MAX */
    char agent[BK_ID_MAX + 1];       /* the filter, "" = none */
    char site[BK_ID_MAX + 1];
    bk_service_figures totals;
    bk_service_figures *per_day;     /* [days] */
    bk_service_agent *agents;        /* sorted by name; only agents with chats in the slice */
    size_t agent_count;
    bk_service_team *teams;          /* sorted by name; only teams with chats in the slice */
    size_t team_count;
} bk_service_report;

/* "YYYY-MM-DD" (a real calendar date, 2000-2199) -> ms at midnight UTC. 0, or -1 when invalid. */
int bk_service_date_parse(const char *text, int64_t *ms);
/* ms -> "YYYY-MM-DD" of its UTC day. */
void bk_service_date_format(int64_t ms, char out[11]);

/* Parses one fact row (JSON object). Returns 0, or -1 when it is not a fact row. */
int bk_service_fact_parse(const char *json, size_t len, int day, bk_service_fact *out);

/* The figures of the facts that pass filter and, when day >= 0, lie on that day. Invitation
 * figures are set to -1 (unknown): the caller adds them where they apply. 0, or -1 when out
 * of memory. */
int bk_service_figures_compute(const bk_service_fact *facts, size_t count, const bk_service_filter *filter,
                               int day, bk_service_figures *out);

/* Builds the whole report. invitations has one entry per day (NULL: none known). The
 * invitation counters name neither agent nor site, so with a filter they stay unknown (-1);
 * the flows' name a site, so only an agent filter leaves them unknown.
 * 0, or -1 when out of memory (the report is then empty but may be freed). */
int bk_service_report_build(bk_service_report *report, int64_t from_ms, int days,
                            const bk_service_filter *filter, const bk_service_fact *facts, size_t count,
                            const bk_service_invitations *invitations);
void bk_service_report_free(bk_service_report *report);

/* {"from","to","agent","site","totals":{…},"days":[{"day",…}],"agents":[{"agent",…}],
 *  "teams":[{"team","chats","wait_target_chats","within_wait_target","wait_target_share",
 *  "first_response_target_chats","within_first_response_target","first_response_target_share"}]};
 * times in seconds (ms precision), null without a sample. NULL when out of memory. */
json_t *bk_service_report_json(const bk_service_report *report);
/* The same per day as CSV: a header line, one line per day, a "total" line (CRLF line ends,
 * empty cells for null). Returns a malloc'd string, NULL when out of memory. */
char *bk_service_report_csv(const bk_service_report *report);

#endif
