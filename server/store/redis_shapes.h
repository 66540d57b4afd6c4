/* redis_shapes.h - the shape (redis_reply.h) of every Redis reply Beckon reads, named by what sends it.
 *
 * One list, so that the fuzz target (tests/fuzz/fuzz_replies.c) runs every reader's shape and
 * a test checks that each is well formed. When a script's return value changes (server/lua/,
 * "-> ..." in its header), its shape here changes with it: a reply that no longer fits is
 * answered "unavailable" and logged as odd. A group's shape ({...}) is named too, and the
 * reader walks the groups with that same name. */
#ifndef BK_REDIS_SHAPES_H
#define BK_REDIS_SHAPES_H

/* Commands and scripts that answer a number: HSET, HDEL, ZCARD, the "-> 1" scripts, a rule's
 * new version, the count of what an erasure deleted. */
#define BK_SHAPE_INTEGER "i"
/* Scripts that answer one string: an id (leave_message.lua, hooks_ping.lua), a visitor's
 * profile (identify.lua, consent.lua, invite.lua, profile.lua). */
#define BK_SHAPE_STRING "s"
/* ... and those whose string is a JSON document read with its length: lists, exports, status. */
#define BK_SHAPE_TEXT "s%"

/* authorize.lua: {agent, role} */
#define BK_SHAPE_AUTHORIZE "[ss]"
/* login_begin.lua: {password_hash|nil, role|nil, blocked}: the hash is copied, by its length */
#define BK_SHAPE_LOGIN_BEGIN "[n%ni]"

/* visitor_hello.lua: {conversation, state, agent, last_id, agents_online, profile_json, site_json,
 * visitor} */
#define BK_SHAPE_VISITOR_HELLO "[ssssisss]"
/* agent_hello.lua: {agent, welcome_json} */
#define BK_SHAPE_AGENT_HELLO "[ss]"
/* messages.lua: one element per message of the batch, in order, each a message's result or its
 * refusal (an error reply); a message's result: {conversation, id, duplicate, opened} */
#define BK_SHAPE_MESSAGES "[{*}]"
#define BK_SHAPE_MESSAGE "[ssii]"
/* email_reply.lua: {conversation, id, duplicate, mail_sent, email, lang, site, subject, message_id,
 * in_reply_to, history_json} */
#define BK_SHAPE_EMAIL_REPLY "[ssiisssssss%]"
/* history.lua: {state, gap, complete, messages_json, next, visitor_read, agent_read, accepted} */
#define BK_SHAPE_HISTORY "[siissssi]"
/* sites_hours.lua: (site, hours, tz) triples */
#define BK_SHAPE_SITE_HOURS "sss"
#define BK_SHAPE_SITES_HOURS "[{" BK_SHAPE_SITE_HOURS "}]"

/* track.lua: one element per event, BK_SHAPE_TRACK or its refusal (an error) */
#define BK_SHAPE_TRACKS "[{*}]"
/* ... each: {profile_json ("" when the caller's was current), profile_rev, visits, visit_started,
 * visit_pages} */
#define BK_SHAPE_TRACK "[s%iiii]"
/* invite_reply.lua: {conversation ("" unless accepted), profile_json} */
#define BK_SHAPE_INVITE_REPLY "[ss%]"
/* transcript.lua: {conversation, site, lang, messages_json, cut} */
#define BK_SHAPE_TRANSCRIPT "[ssss%i]"

/* HGETALL of a hash of JSON values (canned responses, rules): field, value pairs */
#define BK_SHAPE_HASH_FIELD "ss%"
#define BK_SHAPE_HASH "[{" BK_SHAPE_HASH_FIELD "}]"
/* LRANGE of JSON entries (a rule's versions) */
#define BK_SHAPE_LIST_ENTRY "s%"
#define BK_SHAPE_LIST "[{" BK_SHAPE_LIST_ENTRY "}]"

/* rules_get.lua: (id, rule_json, meta_json) triples */
#define BK_SHAPE_RULE "sss"
#define BK_SHAPE_RULES "[{" BK_SHAPE_RULE "}]"
/* rule_revert.lua: {new_version, rule_json} */
#define BK_SHAPE_RULE_REVERT "[is]"
/* stats.lua: (day, counters_json) pairs */
#define BK_SHAPE_STATS_DAY "s%s"
#define BK_SHAPE_STATS "[{" BK_SHAPE_STATS_DAY "}]"

/* service_stats.lua: per day {day, shown, accepted, chats, row, row, ...} */
#define BK_SHAPE_SERVICE_ROW "s%"
#define BK_SHAPE_SERVICE_DAY "[siiis{" BK_SHAPE_SERVICE_ROW "}]"
#define BK_SHAPE_SERVICE_STATS "[{" BK_SHAPE_SERVICE_DAY "}]"

/* hooks_claim.lua and hooks_done.lua: rows of {site, id, event, body, url, secret} */
#define BK_SHAPE_HOOK_ROW "ssss%ss"
#define BK_SHAPE_HOOK_ROWS "[{" BK_SHAPE_HOOK_ROW "}]"

/* agents_busy.lua: one count per agent asked */
#define BK_SHAPE_COUNT "i"
#define BK_SHAPE_COUNTS "[{" BK_SHAPE_COUNT "}]"

/* CLUSTER SLOTS (redis_cluster.c): ranges of {first, last, master, replicas...}; a node is
 * {endpoint or nil, port, then its id and, since Redis 7, its other endpoints} */
#define BK_SHAPE_CLUSTER_NODE "[ni{*}]"
#define BK_SHAPE_CLUSTER_RANGE "[ii{" BK_SHAPE_CLUSTER_NODE "}]"
#define BK_SHAPE_CLUSTER_SLOTS "[{" BK_SHAPE_CLUSTER_RANGE "}]"

/* The bus link's replies (bus_link.c), told apart by their first element: {"smessage", channel,
 * payload}, {"ssubscribe" or "sunsubscribe", channel, count}, {"pong", ""} */
#define BK_SHAPE_BUS_ELEMENT "*"
#define BK_SHAPE_BUS_REPLY "[s{" BK_SHAPE_BUS_ELEMENT "}]"
#define BK_SHAPE_BUS_SMESSAGE "[*s%s%]"
#define BK_SHAPE_BUS_CONFIRMATION "[*s%i]"
/* HGET flows SITE: the site's flow, or nil (chat/flow.c) */
#define BK_SHAPE_FLOW_READ "n"
/* flow.lua: {conversation, duplicate} */
#define BK_SHAPE_FLOW "[si]"
/* flows_get.lua: {site, flow_json, meta_json, ...} (http/flows_api.c) */
#define BK_SHAPE_FLOW_ENTRY "sss"
#define BK_SHAPE_FLOWS "[{" BK_SHAPE_FLOW_ENTRY "}]"
/* flow_revert.lua: {new_version, flow_json} */
#define BK_SHAPE_FLOW_REVERT "[is]"
/* GET session:{digest}: the agent a session token belongs to, or nil (chat/hello.c) */
#define BK_SHAPE_SESSION_AGENT "n"

/* file_message.lua: {conversation, id, duplicate, opened, file_json} (http/files.c) */
#define BK_SHAPE_FILE_MESSAGE "[ssiis%]"
/* mail_inbound.lua: {conversation, id, duplicate, reopened, unkept_json (the ids of the files it
 * did not keep)} (mail/mail_inbound.c) */
#define BK_SHAPE_MAIL_INBOUND "[ssiis%]"
/* file_get.lua: {name, type, size, thumb} (http/file_serve.c) */
#define BK_SHAPE_FILE_GET "[ssii]"
/* files_expired.lua: the ids of files whose bytes may go (http/files_api.c) */
#define BK_SHAPE_FILE_ID "s"
#define BK_SHAPE_FILE_IDS "[{" BK_SHAPE_FILE_ID "}]"

/* Every shape above that a reader starts with (groups are reached through them). */
#define BK_REDIS_SHAPES(X)                                                                       \
    X(INTEGER) X(STRING) X(TEXT) X(AUTHORIZE) X(LOGIN_BEGIN) X(VISITOR_HELLO) X(AGENT_HELLO)     \
    X(MESSAGES) X(MESSAGE) X(HISTORY) X(SITES_HOURS) X(TRACKS) X(TRACK) X(INVITE_REPLY)          \
    X(TRANSCRIPT)                                                                                \
    X(HASH) X(LIST) X(RULES) X(RULE_REVERT) X(STATS) X(SERVICE_STATS) X(HOOK_ROWS) X(BUS_REPLY)  \
    X(BUS_SMESSAGE) X(BUS_CONFIRMATION) X(SESSION_AGENT) X(CLUSTER_SLOTS)     \
    X(COUNTS) X(FILE_MESSAGE) X(MAIL_INBOUND) X(FILE_GET) X(FILE_IDS) X(FLOW_READ) X(FLOW) X(FLOWS) X(FLOW_REVERT)
/* The groups, as the readers name them when they walk them (bk_redis_reply_unpack_next). */
#define BK_REDIS_GROUPS(X)                                                                       \
    X(SITE_HOURS, SITES_HOURS) X(HASH_FIELD, HASH) X(LIST_ENTRY, LIST) X(RULE, RULES)           \
    X(STATS_DAY, STATS) X(SERVICE_DAY, SERVICE_STATS) X(SERVICE_ROW, SERVICE_DAY)                \
    X(HOOK_ROW, HOOK_ROWS) X(BUS_ELEMENT, BUS_REPLY) X(CLUSTER_RANGE, CLUSTER_SLOTS)             \
    X(CLUSTER_NODE, CLUSTER_RANGE) X(COUNT, COUNTS) X(FILE_ID, FILE_IDS) X(FLOW_ENTRY, FLOWS)

#endif
