/* triggers.h - proactive invitations: browsing events in, rule evaluation, invitations out.
 *
 * Every visitor socket has a tracker holding what the rules look at (its profile, kept compact:
 * profile.h; as Redis last returned it, and the socket's page views since applied here: Redis
 * answers those with the profile only when something else changed it, track.lua). A tracker evaluates the node's rule set on a
 * page view, on a custom event and when its next check falls due; the engine says when that
 * is, so nothing is polled. One timer serves every tracker of the node. Rules live in Redis;
 * a change published on the bus makes every node reload them and re-evaluate its visitors at
 * once.
 *
 * The module's files: triggers.c, tracker.c, tracking.c, trigger_context.c, rule_counters.c,
 * rule_set_loader.c; what they share is in triggers_internal.h, which nothing else includes. */
#ifndef BK_TRIGGERS_H
#define BK_TRIGGERS_H

#include "protocol/proto.h"
#include "server.h"

#include <beckon/rules.h>

typedef struct bk_triggers bk_triggers;
typedef struct bk_tracker bk_tracker;

bk_triggers *bk_triggers_new(bk_server *server);
void bk_triggers_shutdown(bk_triggers *triggers);  /* closes timers, on the running loop */
void bk_triggers_free(bk_triggers *triggers);      /* after the loop has stopped */

/* The visitor said hello; profile_json is the profile the hello script returned. The
 * tracker holds a reference to conn until bk_tracker_close. */
bk_tracker *bk_tracker_new(bk_triggers *triggers, bk_conn *conn, const char *visitor,
                           const char *profile_json);
void bk_tracker_close(bk_tracker *tracker);

/* page_view, event, invite_shown|accepted|dismissed; hello's page counts as a page_view. */
void bk_triggers_request(bk_triggers *triggers, bk_tracker *tracker, const bk_request *request);

/* The visitor's profile changed by other means (identify): keep it, and evaluate again. */
void bk_tracker_profile_changed(bk_tracker *tracker, const char *profile_json, size_t len);

/* Whether the visitor has consented to tracking (consent {granted: true}). */
int bk_tracker_consented(const bk_tracker *tracker);

/* The page views and events this socket sent wait in the node's batch of events until the loop
 * iteration ends: its other requests send them first, so that none overtakes them (a consent
 * withdrawn after a page view). */
void bk_tracker_flush(bk_tracker *tracker);

/* The visitor opened a conversation (a message was stored): no invitations meanwhile. */
void bk_tracker_conversation_opened(bk_tracker *tracker, const char *conversation);

/* A node control message from the bus ("rules": the rule set changed). */
void bk_triggers_control(bk_triggers *triggers, const char *what);

/* The UTC day of ms as YYYYMMDD, the key of the daily stats. */
void bk_day_string(int64_t ms, char out[9]);

/* Stores a page_view or event for a visitor with no socket here (navigator.sendBeacon), in the
 * node's batch of events: fn receives its element of track.lua's answer (BK_SHAPE_TRACK,
 * without a profile), or NULL when Redis did not answer. 0, or -1 when out of memory. */
int bk_triggers_track(bk_triggers *triggers, const char *visitor, const bk_request *request,
                      bk_store_reply_fn fn, void *data);

/* For the marketer's dry run: the live rule set and settings, and a rules context built
 * from a profile (the visitor hash as JSON, as the scripts return it). */
typedef struct bk_trigger_context bk_trigger_context;
const bk_rule_set *bk_triggers_rules(const bk_triggers *triggers);
const bk_rules_settings *bk_triggers_settings(const bk_triggers *triggers);
bk_trigger_context *bk_trigger_context_new(void);
void bk_trigger_context_free(bk_trigger_context *context);
const bk_rules_context *bk_trigger_context_fill(bk_trigger_context *context, json_t *profile,
                                                int agents_available, const char *event_name,
                                                json_t *event_props, int64_t now);

/* Copies the percent-decoded value of query parameter name in url into out, or "". */
void bk_url_query_value(const char *url, const char *name, char *out, size_t size);

#endif
