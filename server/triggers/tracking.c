/* tracking.c - what a visitor's page sends: page views, custom events, answers to invitations. */
#include "triggers/triggers_internal.h"

#include "base/ids.h"
#include "base/keys.h"
#include "store/redis_reply.h"
#include "store/redis_shapes.h"

#include <beckon/protocol.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Copies the value of parameter name from the query of url into out (percent-decoded), or "". */
void bk_url_query_value(const char *url, const char *name, char *out, size_t size)
{
    out[0] = '\0';
    const char *query = strchr(url, '?');
    if (!query)
        return;
    size_t name_len = strlen(name);
    for (const char *p = query + 1; *p && *p != '#';) {
        const char *end = p + strcspn(p, "&#");
        if ((size_t)(end - p) > name_len && strncmp(p, name, name_len) == 0 && p[name_len] == '=') {
            size_t o = 0;
            for (const char *v = p + name_len + 1; v < end && o + 1 < size; v++) {
                if (*v == '+') {
                    out[o++] = ' ';
                } else if (*v == '%' && v + 2 < end) {
                    char hex[3] = { v[1], v[2], 0 };
                    char *stop;
                    long c = strtol(hex, &stop, 16);
                    if (*stop == '\0' && c > 0) {
                        out[o++] = (char)c;
                        v += 2;
                    } else {
                        out[o++] = *v;
                    }
                } else {
                    out[o++] = *v;
                }
            }
            out[o] = '\0';
            return;
        }
        p = *end == '&' ? end + 1 : end;
    }
}

/* What one page view or custom event sends track.lua, kept until its answer is applied: the
 * strings (the page, and the referrer and utm a visit starting now takes) follow the struct in
 * one allocation. NULL when out of memory. */
static bk_profile_tracked *tracked_new(const bk_request *request, int64_t now)
{
    static const char *const utm_names[5] = { "utm_source", "utm_medium", "utm_campaign", "utm_term",
                                              "utm_content" };
    int is_page = request->type != BK_REQ_EVENT;
    const char *url = request->url ? request->url : "", *title = request->title ? request->title : "";
    const char *referrer = request->referrer ? request->referrer : "";
    char utm[5][BK_PROP_VALUE_MAX + 1];
    size_t size = sizeof(bk_profile_tracked) + strlen(url) + strlen(title) + strlen(referrer) + 3;
    for (int i = 0; i < 5; i++) {
        bk_url_query_value(url, utm_names[i], utm[i], sizeof utm[i]);
        size += strlen(utm[i]) + 1;
    }
    bk_profile_tracked *e = malloc(size);
    if (!e)
        return NULL;
    *e = (bk_profile_tracked){ .now = now };
    char *text = (char *)(e + 1);
    const char **slots[8] = { &e->page_url, &e->page_title, &e->referrer, &e->utm[0], &e->utm[1], &e->utm[2],
                              &e->utm[3], &e->utm[4] };
    const char *values[8] = { url, title, referrer, utm[0], utm[1], utm[2], utm[3], utm[4] };
    for (int i = 0; i < 8; i++) {
        *slots[i] = text;
        text += sprintf(text, "%s", values[i]) + 1;
    }
    if (!is_page)
        e->page_url = e->page_title = NULL;  /* sent as "": the page stays */
    return e;
}

static void on_tracked(redisReply *reply, void *data)
{
    triggers_call *c = data;
    bk_tracker *t = c->tracker;
    const char *profile;
    size_t len;
    long long rev, visits, visit_started, visit_pages;
    if (t->closed)
        goto done;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_TRACK, &profile, &len, &rev, &visits, &visit_started,
                              &visit_pages) != 0) {
        if (c->req)
            triggers_tracker_reply_error(t, c->req, reply);
        goto done;
    }
    if (len > 0) {
        triggers_tracker_profile_set(t, profile, len);
    } else {
        /* the profile kept here was current: what the event changed is known on this side */
        c->tracked->rev = rev;
        c->tracked->visits = visits;
        c->tracked->visit_started = visit_started;
        c->tracked->visit_pages = visit_pages;
        bk_profile *next = bk_profile_tracked_new(t->profile, c->tracked);
        if (next) {
            bk_profile_free(t->profile);
            t->profile = next;
        }
    }
    if (c->req)
        triggers_tracker_send(t, json_pack("{s:s, s:O}", "type", "ok", "req", c->req));
    /* What the event changed (page, counts) is in the profile now; rules on the event's
     * name see it through the copy kept in the call. */
    triggers_tracker_evaluate(t, c->event_name, c->props);
done:
    triggers_call_free(c);
}

/* The agents' visitor_update frame for a page view, open at its end: track.lua adds what only
 * Redis knows (the visit's pages and start, the visitor's name) and the two closing braces.
 * Built here because JSON encoded in a script costs Redis CPU, the one CPU every node shares.
 * NULL when out of memory. */
static char *visitor_update_head(const char *visitor, const char *url, const char *title, long long now)
{
    json_t *frame = json_pack("{s:s, s:{s:s, s:s, s:s, s:I}}", "type", "visitor_update", "visitor", "id", visitor,
                              "page_url", url, "page_title", title, "page_since", (json_int_t)now);
    char *text = frame ? json_dumps(frame, JSON_COMPACT) : NULL;
    json_decref(frame);
    size_t len = text ? strlen(text) : 0;
    if (len < 2 || strcmp(text + len - 2, "}}") != 0) {
        free(text);
        return NULL;
    }
    text[len - 2] = '\0';
    return text;
}

/* Adds a page view or custom event (e, from tracked_new) to the node's batch (track_batch.c):
 * it is stored and the visit updated; fn gets track.lua's answer for it. rev: the profile_rev
 * of the caller's profile, "" when it keeps none (track.lua). 0, or -1 out of memory. */
static int track_send(bk_triggers *triggers, bk_tracker *tracker, const char *visitor, const bk_request *request,
                      const bk_profile_tracked *e, const char *rev, bk_store_reply_fn fn, void *data)
{
    int is_page = e->page_url != NULL;
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)e->now);
    char *props = request->props ? json_dumps(request->props, JSON_COMPACT) : NULL;
    char *update = is_page ? visitor_update_head(visitor, e->page_url, e->page_title, (long long)e->now) : NULL;
    int rc = -1;
    if (!is_page || update) {
        const char *values[TRACK_ARGS_PER_EVENT] = {
            visitor, now, is_page ? "page" : "event", is_page ? e->page_url : "", is_page ? e->page_title : "",
            e->referrer, e->utm[0], e->utm[1], e->utm[2], e->utm[3], e->utm[4],
            request->event_name ? request->event_name : "", props ? props : "{}", update ? update : "", rev
        };
        rc = triggers_track_batch_add(triggers->track_batch, tracker, values, fn, data);
    }
    free(props);
    free(update);
    return rc;
}

int bk_triggers_track(bk_triggers *triggers, const char *visitor, const bk_request *request,
                      bk_store_reply_fn fn, void *data)
{
    bk_profile_tracked *e = tracked_new(request, bk_now_ms());
    int rc = e ? track_send(triggers, NULL, visitor, request, e, "", fn, data) : -1;
    free(e);
    return rc;
}

static void track(bk_tracker *t, const bk_request *request)
{
    triggers_call *c = triggers_call_new(t, request);
    if (!c)
        return;
    int is_page = request->type != BK_REQ_EVENT;
    c->event_name = strdup(is_page ? "page_view" : request->event_name);
    if (!is_page && request->props)
        c->props = json_incref(request->props);
    c->tracked = tracked_new(request, bk_now_ms());
    /* "?": a profile without a revision (none came with the hello) is never current */
    char rev[24] = "?";
    int64_t known = bk_profile_number(t->profile, BK_PROFILE_REV, -1);
    if (known >= 0)
        snprintf(rev, sizeof rev, "%lld", (long long)known);
    /* on_tracked may run before this returns (a batch that could not be sent): c is its own */
    if (!c->event_name || !c->tracked ||
        track_send(t->triggers, t, t->visitor, request, c->tracked, rev, on_tracked, c) != 0) {
        if (c->req)
            triggers_tracker_reply_error(t, c->req, NULL);
        triggers_call_free(c);
    }
}

static void on_invite_reply(redisReply *reply, void *data)
{
    triggers_call *c = data;
    bk_tracker *t = c->tracker;
    const char *conversation, *profile;
    size_t len;
    if (t->closed)
        goto done;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_INVITE_REPLY, &conversation, &profile, &len) != 0) {
        triggers_tracker_reply_error(t, c->req, reply);
        goto done;
    }
    triggers_tracker_profile_set(t, profile, len);
    if (c->type != BK_REQ_INVITE_SHOWN && strcmp(t->invitation, c->invitation) == 0)
        t->invitation[0] = '\0';
    json_t *ok = json_pack("{s:s}", "type", "ok");
    if (c->req)
        json_object_set(ok, "req", c->req);
    if (conversation[0])
        json_object_set_new(ok, "conversation", json_string(conversation));
    triggers_tracker_send(t, ok);
    if (c->type == BK_REQ_INVITE_DISMISSED)
        triggers_tracker_evaluate(t, NULL, NULL);  /* arms the timer for the end of the quiet time */
done:
    triggers_call_free(c);
}

static void invite_reply(bk_tracker *t, const bk_request *request)
{
    triggers_call *c = triggers_call_new(t, request);
    if (!c)
        return;
    snprintf(c->invitation, sizeof c->invitation, "%s", request->invitation);
    const char *kind = request->type == BK_REQ_INVITE_SHOWN ? "shown"
                     : request->type == BK_REQ_INVITE_ACCEPTED ? "accepted" : "dismissed";
    char now[24], day[9], cid[BK_ID_MAX + 1];
    int64_t now_ms = bk_now_ms();
    snprintf(now, sizeof now, "%lld", (long long)now_ms);
    bk_day_string(now_ms, day);
    char tag[BK_KEYS_TAG_LEN + 1], prefix[BK_KEYS_PREFIX_SIZE], online[24];
    bk_keys_id_tag(t->visitor, tag);
    if (bk_keys_id_generate("c_", tag, cid, sizeof cid) != 0) {
        triggers_call_free(c);
        return;
    }
    bk_keys_prefix_of_id(t->triggers->server->config->prefix, t->visitor, prefix);
    snprintf(online, sizeof online, "%lld", t->triggers->server->agents_online);
    const char *argv[] = { prefix, t->visitor, request->invitation, kind, now, day, cid, online };
    if (triggers_call_script(c, SCRIPT_INVITE_REPLY, on_invite_reply, 8, argv) != 0) {
        triggers_tracker_reply_error(t, c->req, NULL);
        triggers_call_free(c);
    }
}

void bk_triggers_request(bk_triggers *triggers, bk_tracker *t, const bk_request *request)
{
    (void)triggers;
    if (!t)
        return;
    switch (request->type) {
    case BK_REQ_HELLO:
    case BK_REQ_PAGE_VIEW:
    case BK_REQ_EVENT:
        track(t, request);
        break;
    case BK_REQ_INVITE_SHOWN:
    case BK_REQ_INVITE_ACCEPTED:
    case BK_REQ_INVITE_DISMISSED:
        invite_reply(t, request);
        break;
    default:
        break;
    }
}
