/* self_service.c - a visitor's help requests: searching (as they type, and for suggestions),
 * reading an article, saying whether it helped. Answered from the node's indexes (help/help.h),
 * never waiting on Redis; what the visitor saw is written beside, for the agent. */
#include "chat/chat_internal.h"

#include "help/help.h"

#include <stdio.h>
#include <string.h>

#define SEARCH_RESULTS   10
/* Searches as the visitor types (the widget waits 250 ms after a key): 5 a second, 10 at once,
 * on top of the socket's own limit, since a search costs the node more than a frame. */
#define HELP_RATE        5.0
#define HELP_BURST       10.0

static int help_rate_allows(chat_session *s)
{
    uint64_t now = uv_now(s->chat->server->loop);
    if (s->help_tokens_ms == 0)
        s->help_tokens = HELP_BURST;
    else
        s->help_tokens += (double)(now - s->help_tokens_ms) * HELP_RATE / 1000.0;
    if (s->help_tokens > HELP_BURST)
        s->help_tokens = HELP_BURST;
    s->help_tokens_ms = now;
    if (s->help_tokens < 1.0)
        return 0;
    s->help_tokens -= 1.0;
    return 1;
}

static bk_help *help_of(chat_session *s, const bk_request *request)
{
    bk_help *help = s->chat->server->help;
    if (!help)
        chat_send_error(s, request->req, BK_ERR_UNAVAILABLE, "help articles are not available on this server");
    return help;
}

void chat_help_search(chat_session *s, const bk_request *request)
{
    bk_help *help = help_of(s, request);
    if (!help)
        return;
    if (!help_rate_allows(s)) {
        chat_send_error(s, request->req, BK_ERR_RATE_LIMITED, "too many searches; wait a moment");
        return;
    }
    json_t *found = bk_help_search(help, s->site, request->lang ? request->lang : s->lang, request->query,
                                   request->query ? request->query_len : 0, request->category, request->suggest,
                                   request->typing, SEARCH_RESULTS);
    if (!found) {
        chat_send_error(s, request->req, BK_ERR_INTERNAL, "out of memory");
        return;
    }
    json_t *reply = bk_reply_new("help_results", request->req);
    json_object_update(reply, found);
    json_object_set_new(reply, "suggest", json_boolean(request->suggest));
    json_decref(found);
    if (request->suggest) {
        size_t i;
        json_t *result;
        json_array_foreach(json_object_get(reply, "results"), i, result)
            bk_help_seen(help, s->prefix, s->id, s->site, json_string_value(json_object_get(result, "id")),
                         "suggested", 1);
    }
    chat_send_json(s, reply);
}

void chat_help_article(chat_session *s, const bk_request *request)
{
    bk_help *help = help_of(s, request);
    if (!help)
        return;
    json_t *article = bk_help_article(help, s->site, request->article, 1);
    if (!article) {
        chat_send_error(s, request->req, BK_ERR_NOT_FOUND, "no such article");
        return;
    }
    bk_help_seen(help, s->prefix, s->id, s->site, request->article, "viewed", request->suggested);
    json_t *reply = bk_reply_new("help_article", request->req);
    json_object_set_new(reply, "article", article);
    chat_send_json(s, reply);
}

void chat_help_feedback(chat_session *s, const bk_request *request)
{
    bk_help *help = help_of(s, request);
    if (!help)
        return;
    if (!bk_help_title(help, s->site, request->article)) {
        chat_send_error(s, request->req, BK_ERR_NOT_FOUND, "no such article");
        return;
    }
    bk_help_count(help, s->site, request->helped ? "helped" : "not_helped");
    bk_help_seen(help, s->prefix, s->id, s->site, request->article, request->helped ? "helped" : "not_helped",
                 request->suggested);
    chat_send_ok(s, request->req);
}
