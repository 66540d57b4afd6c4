/* tracking.c - what a visitor's page sends: page views, custom events, answers to invitations. */
#include "triggers/triggers_internal.h"

#include "base/ids.h"
#include "store/redis_reply.h"
#include "store/redis_shapes.h"

#include <beckon/protocol.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_EVENTS        1000   /* per visitor stream, trimmed approximately */

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

static void on_tracked(redisReply *reply, void *data)
{
    triggers_call *c = data;
    bk_tracker *t = c->tracker;
    const char *profile;
    size_t len;
    if (t->closed)
        goto done;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_TEXT, &profile, &len) != 0) {
        if (c->req)
            triggers_tracker_reply_error(t, c->req, reply);
        goto done;
    }
    triggers_tracker_profile_set(t, profile, len);
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

/* Stores a page view or custom event and updates the visit; fn gets the new profile. */
static int track_send(bk_triggers *triggers, const char *visitor, const bk_request *request,
                      bk_store_reply_fn fn, void *data)
{
    const bk_config *config = triggers->server->config;
    int is_page = request->type != BK_REQ_EVENT;
    char now[24], gap[24], retention[24], max_events[16];
    char utm[5][BK_PROP_VALUE_MAX + 1];
    static const char *const utm_names[5] = { "utm_source", "utm_medium", "utm_campaign", "utm_term",
                                              "utm_content" };
    const char *url = request->url ? request->url : "";
    for (int i = 0; i < 5; i++)
        bk_url_query_value(url, utm_names[i], utm[i], sizeof utm[i]);
    long long now_ms = (long long)bk_now_ms();
    snprintf(now, sizeof now, "%lld", now_ms);
    snprintf(gap, sizeof gap, "%lld", (long long)config->visit_gap_minutes * 60000);
    snprintf(retention, sizeof retention, "%lld", (long long)config->event_retention_days * 86400);
    snprintf(max_events, sizeof max_events, "%d", MAX_EVENTS);
    const char *title = request->title ? request->title : "";
    char *props = request->props ? json_dumps(request->props, JSON_COMPACT) : NULL;
    char *update = is_page ? visitor_update_head(visitor, url, title, now_ms) : NULL;
    if (is_page && !update) {
        free(props);
        return -1;
    }
    const char *argv[] = { config->prefix, visitor, now, gap, is_page ? "page" : "event", url,
                           title, request->referrer ? request->referrer : "",
                           utm[0], utm[1], utm[2], utm[3], utm[4],
                           request->event_name ? request->event_name : "", props ? props : "{}",
                           retention, max_events, update ? update : "" };
    int rc = bk_store_script(triggers->server->store, triggers->scripts[SCRIPT_TRACK], fn, data, 0, 18,
                             argv, NULL);
    free(props);
    free(update);
    return rc;
}

int bk_triggers_track(bk_triggers *triggers, const char *visitor, const bk_request *request,
                      bk_store_reply_fn fn, void *data)
{
    return track_send(triggers, visitor, request, fn, data);
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
    if (track_send(t->triggers, t->visitor, request, on_tracked, c) != 0) {
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
    if (bk_id_generate("c_", cid, sizeof cid) != 0) {
        triggers_call_free(c);
        return;
    }
    const char *argv[] = { t->triggers->server->config->prefix, t->visitor, request->invitation, kind, now,
                           day, cid };
    if (triggers_call_script(c, SCRIPT_INVITE_REPLY, on_invite_reply, 7, argv) != 0) {
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
