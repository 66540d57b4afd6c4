/* hello.c - a visitor's and an agent's hello: who the socket is, and the welcome.
 *
 * No push may slip past a socket between the snapshot its welcome is built from (the hello
 * script) and its first push. A node receives only the bus channels it subscribes to, so:
 * - the socket joins its visitor's or agent's sessions (chat_peers_join, which subscribes this
 *   node to their channel when it is the first) as soon as the id is known;
 * - when the id is known before the script (a visitor's token; an agent's session token, whose
 *   agent a GET reads first), the script runs only once Redis has confirmed the subscription
 *   (chat_after_subscribed). Confirmation and script are on two connections, so sending both at
 *   once would not order them in Redis: waiting for the confirmation does. Whatever is
 *   published after the confirmation reaches this node; what was published before it is in
 *   the script's snapshot, or (messages) in the stream the client resumes from;
 * - when the id is known only from the script's reply (a fresh visitor, or a token whose
 *   visitor was erased: a new id), nothing can have been published for it yet: only the
 *   welcome tells anyone the id, and it waits for the confirmation too;
 * - what the bus brings while the hello is in flight is held and sent right after the welcome
 *   (chat_held_add), so a push published after the snapshot but arriving before the script's
 *   reply is not dropped either.
 * An agent waits for all agents' channel as well (subscribed while this node has an agent
 * socket). docs/architecture.md, "The bus", says the same.
 *
 * Slots (base/keys.h): a visitor's hello reads the global slot first (global_state.lua: the
 * agents online, whether any site exists), which decides the visitor's slot and so the tag of
 * its ids and of its channel; then the script runs in that slot. A visitor of before the key
 * layout (a token naming an id of no tag) is in the slot of site "", where `beckon keys migrate`
 * moved its keys: once sites exist, its site and origin are checked in the site's slot first
 * (visitor_site.lua), then its hello runs in its own slot. An agent's hello reads its
 * session and presence in the global slot (agent_hello.lua), then its conversations and the
 * queue in each site slot (agent_lists.lua), merged; its channels are in every slot. */
#include "chat/chat_internal.h"

#include "protocol/errors.h"

#include "base/auth.h"
#include "base/ids.h"
#include "base/log.h"
#include "sites/origin.h"
#include "sites/site_hours.h"
#include "store/redis_reply.h"
#include "store/redis_shapes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A visitor's hello that failed: no reply, storage trouble, or a refusal. */
static void visitor_hello_failed(chat_call *c, const redisReply *reply)
{
    chat_session *s = c->session;
    s->hello = HELLO_NONE;
    chat_send_store_error(s, c->req, reply);
    /* a site or origin that is not allowed: no second try on this socket */
    if (bk_redis_reply_refusal(reply, BK_ERR_FORBIDDEN))
        bk_conn_close(s->conn, BK_CLOSE_POLICY, "origin not allowed");
    /* The hello deadline passed while this hello was in flight (the deadline leaves a
     * pending hello alone): there is no second try now, or the socket would idle forever. */
    else if (!bk_list_linked(&s->waiting))
        bk_conn_close(s->conn, BK_CLOSE_POLICY, "hello timeout");
}

static void visitor_welcome_send(chat_call *c);
static void visitor_hello_run(chat_call *c);

/* One of a hello's kept script arguments replaced; 0, or -1 when out of memory. */
static int hello_arg_set(chat_call *c, int i, const char *value)
{
    char *copy = strdup(value);
    if (!copy)
        return -1;
    free(c->args[i]);
    c->args[i] = copy;
    return 0;
}

/* A visitor of no tag that the slot of site "" does not hold (erased, or never moved there) is a
 * new visitor, in its site's own slot, under the fresh id drawn for that slot. Nothing can have
 * been published for the new id yet: no need to wait for its channel (its welcome does). */
static void visitor_hello_restart(chat_call *c)
{
    chat_session *s = c->session;
    chat_peers_leave(s);
    c->hello_unsited = 0;
    snprintf(s->id, sizeof s->id, "%s", c->args[8]);
    bk_keys_id_tag(s->id, s->tag);
    bk_keys_site_prefix(s->chat->server->config->prefix, s->tag, s->prefix);
    if (hello_arg_set(c, 0, s->prefix) != 0 || hello_arg_set(c, 1, s->id) != 0 || hello_arg_set(c, 7, "0") != 0) {
        s->hello = HELLO_NONE;
        chat_send_error(s, c->req, BK_ERR_INTERNAL, "out of memory");
        chat_call_free(c);
        return;
    }
    free(c->args[--c->arg_count]);  /* the settings admitted: the site's slot checks them itself */
    chat_peers_join(s);
    visitor_hello_run(c);
}

static void on_visitor_hello(redisReply *reply, void *data)
{
    chat_call *c = data;
    chat_session *s = c->session;
    const char *cid, *state, *agent, *last_id, *profile, *site_json, *visitor;
    long long agents_online;
    if (chat_call_orphaned(c))
        goto done;
    int unpacked = bk_redis_reply_unpack(reply, BK_SHAPE_VISITOR_HELLO, &cid, &state, &agent, &last_id, &agents_online,
                                         &profile, &site_json, &visitor);
    if (unpacked == 0 && c->hello_unsited && !visitor[0]) {
        visitor_hello_restart(c);
        return;
    }
    if (unpacked != 0 || !bk_id_valid(visitor)) {
        chat_peers_leave(s);
        visitor_hello_failed(c, reply);
        goto done;
    }
    if (strcmp(s->id, visitor) != 0) {
        /* The token's visitor was erased: this socket is a new visitor now. Nothing can have
         * been published for the new id yet, so joining after the script loses nothing (the
         * welcome, the first to name the id, waits for the subscription below). */
        chat_peers_leave(s);
        snprintf(s->id, sizeof s->id, "%s", visitor);
        chat_peers_join(s);
    }
    json_t *site = json_loads(site_json, 0, NULL);
    const char *site_id = json_string_value(json_object_get(site, "id"));
    snprintf(s->site, sizeof s->site, "%s", site_id && site_id[0] ? site_id : c->hello_site ? c->hello_site : "");
    snprintf(s->identity_secret, sizeof s->identity_secret, "%s",
             json_string_value(json_object_get(site, "identity_secret")) ?
             json_string_value(json_object_get(site, "identity_secret")) : "");
    s->enforce_identity = json_is_true(json_object_get(site, "enforce_identity"));
    s->consent_required = json_is_true(json_object_get(site, "consent_required"));
    snprintf(s->lang, sizeof s->lang, "%s", c->hello_lang);
    json_t *hours = bk_site_hours_state(s->chat->hours, json_string_value(json_object_get(site, "id")),
                                        json_string_value(json_object_get(site, "hours")),
                                        json_string_value(json_object_get(site, "tz")), bk_now_ms());
    json_decref(site);
    char token[BK_TOKEN_MAX];
    bk_token_sign(s->chat->server->secret, s->id, token, sizeof token);
    json_t *welcome = bk_reply_new("welcome", c->req);
    json_object_set_new(welcome, "visitor", json_string(s->id));
    json_object_set_new(welcome, "token", json_string(token));
    if (cid[0]) {
        json_object_set_new(welcome, "conversation",
                            json_pack("{s:s, s:s, s:o, s:s}", "id", cid, "state", state,
                                      "agent", agent[0] ? json_string(agent) : json_null(),
                                      "last_id", last_id));
    } else {
        json_object_set_new(welcome, "conversation", json_null());
    }
    json_object_set_new(welcome, "agents_online", json_integer(agents_online));
    json_object_set_new(welcome, "consent_required", json_boolean(s->consent_required));
    if (s->chat->server->mail)
        json_object_set_new(welcome, "transcript_email", json_true());
    json_object_set_new(welcome, "hours", hours ? hours : json_null());
    c->welcome = welcome;
    c->profile = strdup(profile);
    if (c->team[0])
        chat_visitor_team_store(s, c->team);
    chat_after_subscribed(c, visitor_welcome_send);
    return;
done:
    chat_call_free(c);
}

static void visitor_welcome_send(chat_call *c)
{
    chat_session *s = c->session;
    if (chat_call_orphaned(c))
        goto done;
    s->hello = HELLO_DONE;
    bk_list_remove(&s->waiting);
    chat_send_json(s, c->welcome);
    c->welcome = NULL;
    chat_held_flush(s);
    s->tracker = bk_tracker_new(s->chat->server->triggers, s->conn, s->id, c->profile ? c->profile : "{}");
    if (s->tracker && c->page && (!s->consent_required || bk_tracker_consented(s->tracker))) {
        bk_request page;
        memset(&page, 0, sizeof page);
        page.type = BK_REQ_PAGE_VIEW;
        page.url = json_string_value(json_object_get(c->page, "url"));
        page.title = json_string_value(json_object_get(c->page, "title"));
        page.referrer = json_string_value(json_object_get(c->page, "referrer"));
        if (page.url && page.url[0])
            bk_triggers_request(s->chat->server->triggers, s->tracker, &page);
    }
done:
    chat_call_free(c);
}

static void visitor_hello_run(chat_call *c)
{
    chat_session *s = c->session;
    bk_chat *chat = s->chat;
    if (chat_call_orphaned(c)) {
        chat_call_free(c);
        return;
    }
    if (bk_store_script(chat->server->store, chat->scripts[SCRIPT_VISITOR_HELLO], on_visitor_hello, c, 0,
                        c->arg_count, (const char **)c->args, NULL) != 0) {
        chat_peers_leave(s);
        visitor_hello_failed(c, NULL);
        chat_call_free(c);
    }
}

/* A visitor of before the key layout on a server with sites: its site and origin are checked in
 * the site's own slot (visitor_site.lua), then its hello runs in its own slot, that of site "",
 * with the settings admitted (the hello's twelfth argument). */
static void on_visitor_site(redisReply *reply, void *data)
{
    chat_call *c = data;
    const char *text;
    size_t len;
    if (chat_call_orphaned(c)) {
        chat_call_free(c);
        return;
    }
    if (bk_redis_reply_unpack(reply, BK_SHAPE_TEXT, &text, &len) != 0 || hello_arg_set(c, 11, text) != 0) {
        chat_peers_leave(c->session);
        visitor_hello_failed(c, reply);
        chat_call_free(c);
        return;
    }
    visitor_hello_run(c);
}

static void visitor_site_run(chat_call *c)
{
    chat_session *s = c->session;
    if (chat_call_orphaned(c)) {
        chat_call_free(c);
        return;
    }
    char site_prefix[BK_KEYS_PREFIX_SIZE];
    bk_keys_prefix_of_site(s->chat->server->config->prefix, c->hello_site, site_prefix);
    const char *argv[] = { site_prefix, c->hello_site, c->args[6] };  /* args[6]: the origin */
    if (bk_store_script(s->chat->server->store, s->chat->scripts[SCRIPT_VISITOR_SITE], on_visitor_site, c, 0, 3,
                        argv, NULL) != 0) {
        chat_peers_leave(s);
        visitor_hello_failed(c, NULL);
        chat_call_free(c);
    }
}

/* The hello's second step, in the visitor's slot: whether any site is configured (the global
 * slot's answer to the first step) decides the slot - with none (development: any site name
 * goes) every visitor is of the site "" - and the visitor's ids carry its tag. */
static void on_hello_global(redisReply *reply, void *data)
{
    chat_call *c = data;
    chat_session *s = c->session;
    bk_chat *chat = s->chat;
    const char *text;
    size_t len;
    if (chat_call_orphaned(c)) {
        chat_call_free(c);
        return;
    }
    json_t *state = bk_redis_reply_unpack(reply, BK_SHAPE_TEXT, &text, &len) == 0 ? json_loadb(text, len, 0, NULL)
                                                                                 : NULL;
    json_t *online = json_object_get(state, "agents_online"), *sites = json_object_get(state, "sites_count");
    if (!json_is_integer(online) || !json_is_integer(sites)) {
        json_decref(state);
        visitor_hello_failed(c, state ? NULL : reply);
        chat_call_free(c);
        return;
    }
    chat->server->agents_online = json_integer_value(online);
    chat->sites_configured = json_integer_value(sites) > 0;
    json_decref(state);
    const char *site = c->hello_site;
    char site_tag[BK_KEYS_TAG_LEN + 1], known_tag[BK_KEYS_TAG_LEN + 1];
    bk_keys_site_tag(chat->sites_configured ? site : "", site_tag);
    int from_token = s->id[0] != '\0', unsited = 0;
    if (from_token && bk_keys_id_tag(s->id, known_tag) != 0) {
        /* An id of no tag: a visitor of before the key layout, whose keys `beckon keys migrate`
         * moved to the slot of site "" (bk_keys_prefix_of_id reads such ids there), and which
         * stays there: its conversations, channel and events too. */
        bk_keys_site_tag("", s->tag);
        unsited = strcmp(s->tag, site_tag) != 0;
    } else {
        memcpy(s->tag, site_tag, sizeof site_tag);
    }
    bk_keys_site_prefix(chat->server->config->prefix, s->tag, s->prefix);
    /* A fresh id is drawn even with a token: the script takes it instead when the token's
     * visitor was erased, so that the old id is never written again. It is of the site's slot,
     * also for a visitor of no tag (visitor_hello_restart). */
    char fresh[BK_ID_MAX + 1];
    if (bk_keys_id_generate("v_", site_tag, fresh, sizeof fresh) != 0) {
        s->hello = HELLO_NONE;
        chat_send_error(s, c->req, BK_ERR_INTERNAL, "no randomness for a visitor id");
        chat_call_free(c);
        return;
    }
    if (!from_token) {
        snprintf(s->id, sizeof s->id, "%s", fresh);
    } else if (bk_keys_id_tag(s->id, known_tag) == 0 && strcmp(known_tag, s->tag) != 0) {
        /* refused before Redis: the id's keys are in another site's slot */
        s->id[0] = '\0';
        s->hello = HELLO_NONE;
        chat_send_error(s, c->req, BK_ERR_INVALID_TOKEN,
                        "this visitor token belongs to another site; say hello without a token");
        chat_call_free(c);
        return;
    }
    /* Join the fan-out before asking Redis: the node subscribes to the visitor's channel, and
     * a visitor known by its token waits for that before the script (see the top). */
    chat_peers_join(s);
    char now[24], online_text[24];
    snprintf(now, sizeof now, "%lld", (long long)bk_now_ms());
    /* Compared exactly against the site's normalised list; what does not normalise ("null",
     * a path, junk) is passed as it came and matches nothing. */
    char origin[256];
    if (bk_origin_normalize(bk_conn_origin(s->conn), origin, sizeof origin) != 0)
        snprintf(origin, sizeof origin, "%s", bk_conn_origin(s->conn));
    const char *argv[] = { s->prefix, s->id, now, site, c->hello_lang, c->hello_device, origin, from_token ? "1" : "0",
                           fresh, chat_agents_online(chat, online_text), chat->sites_configured ? "1" : "0",
                           "" /* an unsited visitor's site settings, once admitted */ };
    if (chat_call_keep_args(c, unsited ? 12 : 11, argv) != 0) {
        chat_peers_leave(s);
        s->hello = HELLO_NONE;
        chat_send_error(s, c->req, BK_ERR_INTERNAL, "out of memory");
        chat_call_free(c);
        return;
    }
    /* A fresh id is nobody's yet: the script need not wait (its welcome does). */
    c->hello_unsited = unsited;
    if (unsited)
        chat_after_subscribed(c, visitor_site_run);
    else if (from_token)
        chat_after_subscribed(c, visitor_hello_run);
    else
        visitor_hello_run(c);
}

void chat_visitor_hello(chat_session *s, const bk_request *request)
{
    bk_chat *chat = s->chat;
    s->id[0] = '\0';
    if (request->token && bk_token_verify(chat->server->secret, request->token, s->id, sizeof s->id) != 0) {
        s->id[0] = '\0';
        chat_send_error(s, request->req, BK_ERR_INVALID_TOKEN,
                        "this visitor token was not issued by this server; say hello without a token");
        return;
    }
    chat_call *c = chat_call_new(s, request);
    if (!c)
        return;
    c->hello_site = strdup(request->site ? request->site : "");
    c->hello_lang = strdup(request->lang ? request->lang : "");
    snprintf(c->team, sizeof c->team, "%s", request->team ? request->team : "");
    c->hello_device = strdup(request->device ? request->device : "");
    if (!c->hello_site || !c->hello_lang || !c->hello_device) {
        chat_send_error(s, request->req, BK_ERR_INTERNAL, "out of memory");
        chat_call_free(c);
        return;
    }
    s->hello = HELLO_PENDING;
    if (request->page)
        c->page = json_incref(request->page);
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)bk_now_ms());
    const char *argv[] = { chat->global_prefix, now, "0" };
    if (bk_store_script(chat->server->store, chat->scripts[SCRIPT_GLOBAL_STATE], on_hello_global, c, 0, 3, argv,
                        NULL) != 0) {
        visitor_hello_failed(c, NULL);
        chat_call_free(c);
    }
}

/* Only the script's "unauthorized" signs the agent out (close 4001); anything else is storage
 * trouble - no reply, LOADING, BUSY, OOM, READONLY, NOSCRIPT, an odd reply - and a socket that
 * cannot say hello is of no use: close 1013, and the panel reconnects with backoff. */
static void agent_hello_failed(chat_session *s, json_t *req, const redisReply *reply)
{
    chat_peers_leave(s);
    s->hello = HELLO_NONE;
    const char *refusal = bk_redis_reply_refusal(reply, BK_ERR_UNAUTHORIZED);
    if (refusal) {
        chat_send_error(s, req, BK_ERR_UNAUTHORIZED, refusal);
        bk_conn_close(s->conn, BK_CLOSE_UNAUTHORIZED, "unauthorized");
        return;
    }
    bk_error err;
    bk_error_from_store(&err, reply, NULL, BK_STORAGE_READ);  /* logs Redis's own errors */
    chat_send_error(s, req, err.code, err.message);
    bk_conn_close(s->conn, BK_CLOSE_TRY_AGAIN, "try again later");
}

static void agent_welcome_send(chat_call *c);

/* An agent's hello in two steps: the global slot (who the session is, presence), then each
 * site slot this node knows of (its conversations there and the slot's queue), merged. */
typedef struct agent_lists {
    chat_call *call;
    json_t *welcome;     /* status; queue and conversations as the slots answer */
    size_t waiting;      /* slots not answered yet */
    int failed;
} agent_lists;

static int queue_entry_order(const void *a, const void *b)
{
    json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a, "created"));
    json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b, "created"));
    return x < y ? -1 : x > y;
}

/* The slots' queues as one, oldest first, the first 200 (as one slot's list is). */
static json_t *queue_merged(json_t *queue)
{
    size_t n = json_array_size(queue);
    json_t **entries = malloc((n + 1) * sizeof *entries);
    json_t *out = json_array();
    if (!entries || !out) {
        free(entries);
        return out;
    }
    for (size_t i = 0; i < n; i++)
        entries[i] = json_array_get(queue, i);
    qsort(entries, n, sizeof *entries, queue_entry_order);
    for (size_t i = 0; i < n && i < 200; i++)
        json_array_append(out, entries[i]);
    free(entries);
    return out;
}

static void agent_lists_done(agent_lists *l)
{
    chat_call *c = l->call;
    chat_session *s = c->session;
    json_t *lists = l->welcome;
    int failed = l->failed;
    free(l);
    if (chat_call_orphaned(c))
        goto done;
    if (failed) {
        bk_warn("agent hello: could not read the agent's lists from redis");
        agent_hello_failed(s, c->req, NULL);
        goto done;
    }
    json_object_set_new(lists, "queue", queue_merged(json_object_get(lists, "queue")));
    json_t *welcome = bk_reply_new("welcome", c->req);
    json_object_set_new(welcome, "agent", json_pack("{s:s}", "name", s->id));
    json_object_update(welcome, lists);
    json_decref(lists);
    c->welcome = welcome;
    chat_after_subscribed(c, agent_welcome_send);
    return;
done:
    json_decref(lists);
    chat_call_free(c);
}

static void on_agent_lists(redisReply *reply, void *data)
{
    agent_lists *l = data;
    const char *text;
    size_t len;
    json_t *lists = NULL;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_TEXT, &text, &len) == 0)
        lists = json_loadb(text, len, 0, NULL);
    if (!json_is_array(json_object_get(lists, "queue")) || !json_is_array(json_object_get(lists, "conversations")))
        l->failed = 1;
    else {
        json_array_extend(json_object_get(l->welcome, "queue"), json_object_get(lists, "queue"));
        json_array_extend(json_object_get(l->welcome, "conversations"), json_object_get(lists, "conversations"));
    }
    json_decref(lists);
    if (--l->waiting == 0)
        agent_lists_done(l);
}

static void on_agent_hello(redisReply *reply, void *data)
{
    chat_call *c = data;
    chat_session *s = c->session;
    bk_chat *chat = s->chat;
    const char *agent, *welcome_json;
    if (chat_call_orphaned(c))
        goto done;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_AGENT_HELLO, &agent, &welcome_json) != 0) {
        agent_hello_failed(s, c->req, reply);
        goto done;
    }
    json_t *state = json_loads(welcome_json, 0, NULL);
    agent_lists *l = calloc(1, sizeof *l);
    if (!state || !l || !bk_id_valid(agent) || !json_is_integer(json_object_get(state, "agents_online"))) {
        json_decref(state);
        free(l);
        bk_warn("agent hello: could not read the agent's state from redis");
        agent_hello_failed(s, c->req, NULL);
        goto done;
    }
    if (strcmp(s->id, agent) != 0) {
        /* The GET found no agent for the token and the script does (a session made in
         * between): too rare for a path of its own; the panel says hello again. */
        json_decref(state);
        free(l);
        bk_warn("agent hello: the session token's agent changed during the hello");
        agent_hello_failed(s, c->req, NULL);
        goto done;
    }
    chat->server->agents_online = json_integer_value(json_object_get(state, "agents_online"));
    json_object_del(state, "agents_online");
    json_object_set_new(state, "queue", json_array());
    json_object_set_new(state, "conversations", json_array());
    l->call = c;
    l->welcome = state;
    l->waiting = chat->tag_count + 1;  /* one more, dropped below: no slot answers before the last is asked */
    for (size_t i = 0; i < chat->tag_count; i++) {
        char prefix[BK_KEYS_PREFIX_SIZE];
        bk_keys_site_prefix(chat->server->config->prefix, chat->tags[i], prefix);
        const char *argv[] = { prefix, s->id };
        if (bk_store_script(chat->server->store, chat->scripts[SCRIPT_AGENT_LISTS], on_agent_lists, l, 0, 2, argv,
                            NULL) != 0) {
            l->failed = 1;
            l->waiting--;
        }
    }
    if (--l->waiting == 0)
        agent_lists_done(l);
    return;
done:
    chat_call_free(c);
}

static void agent_welcome_send(chat_call *c)
{
    chat_session *s = c->session;
    if (!chat_call_orphaned(c)) {
        s->hello = HELLO_DONE;
        bk_list_remove(&s->waiting);
        chat_send_json(s, c->welcome);
        c->welcome = NULL;
        chat_held_flush(s);
        bk_info("agent %s connected (connection %lu)", s->id, bk_conn_id(s->conn));
    }
    chat_call_free(c);
}

static void agent_hello_run(chat_call *c)
{
    chat_session *s = c->session;
    bk_chat *chat = s->chat;
    if (chat_call_orphaned(c)) {
        chat_call_free(c);
        return;
    }
    if (bk_store_script(chat->server->store, chat->scripts[SCRIPT_AGENT_HELLO], on_agent_hello, c, 0,
                        c->arg_count, (const char **)c->args, NULL) != 0) {
        agent_hello_failed(s, c->req, NULL);
        chat_call_free(c);
    }
}

/* The agent a session token belongs to, read before the hello script so that the agent's
 * channel is subscribed before it (see the top). No agent: the script says why. */
static void on_agent_session(redisReply *reply, void *data)
{
    chat_call *c = data;
    chat_session *s = c->session;
    const char *agent;
    if (chat_call_orphaned(c)) {
        chat_call_free(c);
        return;
    }
    if (bk_redis_reply_unpack(reply, BK_SHAPE_SESSION_AGENT, &agent) != 0) {
        agent_hello_failed(s, c->req, reply);
        chat_call_free(c);
        return;
    }
    if (!agent || !bk_id_valid(agent)) {
        agent_hello_run(c);
        return;
    }
    snprintf(s->id, sizeof s->id, "%s", agent);
    chat_peers_join(s);
    chat_after_subscribed(c, agent_hello_run);
}

static int session_token_shaped(const char *token)
{
    if (!token || strlen(token) != BK_SESSION_TOKEN_SIZE - 1)
        return 0;
    return strspn(token, "0123456789abcdef") == BK_SESSION_TOKEN_SIZE - 1;
}

/* The agent panel is served by Beckon itself: a browser page elsewhere must not drive an
 * agent's socket. Origin absent (not a browser) or this server's own origin. */
static int agent_origin_allowed(const chat_session *s)
{
    return bk_origin_is_own(bk_conn_origin(s->conn), bk_conn_host(s->conn));
}

void chat_agent_hello(chat_session *s, const bk_request *request)
{
    bk_chat *chat = s->chat;
    if (!agent_origin_allowed(s)) {
        chat_send_error(s, request->req, BK_ERR_UNAUTHORIZED, "agent sockets accept only this server's own origin");
        bk_conn_close(s->conn, BK_CLOSE_POLICY, "origin not allowed");
        return;
    }
    if (!session_token_shaped(request->token)) {
        chat_send_error(s, request->req, BK_ERR_UNAUTHORIZED,
                        "a session token from POST /api/login is required");
        bk_conn_close(s->conn, BK_CLOSE_UNAUTHORIZED, "unauthorized");
        return;
    }
    chat_call *c = chat_call_new(s, request);
    if (!c)
        return;
    s->hello = HELLO_PENDING;
    char digest[BK_SESSION_TOKEN_SIZE], now[24], ttl[24];
    bk_session_token_digest(request->token, digest);
    snprintf(now, sizeof now, "%lld", (long long)bk_now_ms());
    snprintf(ttl, sizeof ttl, "%d", PRESENCE_TTL_MS);
    const char *argv[] = { chat->global_prefix, digest, now, ttl, chat->node };
    char key[BK_KEYS_PREFIX_SIZE + sizeof "session:" + BK_SESSION_TOKEN_SIZE];
    snprintf(key, sizeof key, "%ssession:%s", chat->global_prefix, digest);
    const char *get[] = { "GET", key };
    if (chat_call_keep_args(c, 5, argv) != 0 ||
        bk_store_command(chat->server->store, on_agent_session, c, 2, get, NULL) != 0) {
        agent_hello_failed(s, c->req, NULL);
        chat_call_free(c);
    }
}
