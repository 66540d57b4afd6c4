/* socket.c - the net's WebSocket handlers: a session per socket, the rate limits, the hello
 * deadline. */
#include "chat/chat_internal.h"

#include "base/log.h"
#include "base/metrics.h"

#include <stdio.h>

/* An agent's panel legitimately sends bursts (a resume and a visitor request per open chat
 * when it connects): agents get this many times the visitors' rate and burst. */
#define AGENT_RATE_FACTOR   5

/* Sockets that never say hello hold memory and a descriptor for nothing: close them. The
 * list is in opening order, so only its head can be overdue first. */
void chat_hello_deadline(uv_timer_t *timer)
{
    bk_chat *chat = timer->data;
    uint64_t now = uv_now(chat->server->loop);
    uint64_t limit = (uint64_t)chat->server->config->hello_timeout_seconds * 1000;
    bk_list *node;
    while ((node = bk_list_first(&chat->waiting))) {
        chat_session *s = bk_list_entry(node, chat_session, waiting);
        if (s->opened_ms + limit > now)
            break;
        bk_list_remove(node);
        if (s->hello == HELLO_NONE) {
            bk_metrics_now.hello_timeouts++;
            chat_send_error(s, NULL, BK_ERR_HELLO_REQUIRED, "no hello in time; closing");
            bk_conn_close(s->conn, BK_CLOSE_POLICY, "hello timeout");
        }
    }
}

void bk_chat_opened(bk_conn *conn, void *data)
{
    bk_chat *chat = ((bk_server *)data)->chat;
    chat_session *s = chat_session_new(chat, conn);
    if (!s) {
        bk_conn_close(conn, 1011, "out of memory");
        return;
    }
    s->opened_ms = uv_now(chat->server->loop);
    s->tokens = (double)chat->server->config->rate_burst * (s->role == BK_ROLE_AGENT ? AGENT_RATE_FACTOR : 1);
    s->tokens_ms = s->opened_ms;
    bk_conn_set_user(conn, s);
    bk_list_push_back(&chat->waiting, &s->waiting);
    if (s->role == BK_ROLE_AGENT)
        bk_metrics_now.agents_connected++;
    else
        bk_metrics_now.visitors_connected++;
    if (s->role == BK_ROLE_AGENT)
        chat_agents_join(s);
}

/* A token bucket per socket: rate-burst at once, rate-messages-per-second sustained. */
static int rate_allows(bk_chat *chat, chat_session *s)
{
    const bk_config *config = chat->server->config;
    double factor = s->role == BK_ROLE_AGENT ? AGENT_RATE_FACTOR : 1;
    double burst = config->rate_burst * factor;
    uint64_t now = uv_now(chat->server->loop);
    s->tokens += (double)(now - s->tokens_ms) * config->rate_messages_per_second * factor / 1000.0;
    if (s->tokens > burst)
        s->tokens = burst;
    s->tokens_ms = now;
    if (s->tokens < 1.0)
        return 0;
    s->tokens -= 1.0;
    return 1;
}

/* Browsing events cost a Redis write each: at most events-per-minute per socket. */
static int events_allow(bk_chat *chat, chat_session *s)
{
    uint64_t now = uv_now(chat->server->loop);
    if (now - s->events_window_ms >= 60000) {
        s->events_window_ms = now;
        s->events_in_window = 0;
    }
    return ++s->events_in_window <= chat->server->config->events_per_minute;
}

void bk_chat_received(bk_conn *conn, bk_rx_status status, const char *text, size_t len, void *data)
{
    bk_chat *chat = ((bk_server *)data)->chat;
    chat_session *s = bk_conn_user(conn);
    if (!s)
        return;
    if (status == BK_RX_TOO_LARGE) {
        char message[96];
        snprintf(message, sizeof message, "message over %d bytes", chat->server->config->max_message_bytes);
        chat_send_error(s, NULL, BK_ERR_TOO_LARGE, message);
        return;
    }
    if (status == BK_RX_BINARY) {
        chat_send_error(s, NULL, BK_ERR_BAD_JSON, "binary frames are not accepted: send JSON text");
        return;
    }
    bk_metrics_now.frames_received++;
    bk_request request;
    bk_error err;
    int parsed = bk_request_parse(s->role, text, len, &request, &err) == 0;
    /* Parsed first, so that even a refusal names the request it refuses (its req). */
    if (!rate_allows(chat, s)) {
        bk_metrics_now.rate_limited++;
        chat_send_error(s, request.req, BK_ERR_RATE_LIMITED, "too many requests; slow down");
    } else if (!parsed) {
        chat_send_error(s, request.req, err.code, err.message);
    } else if ((request.type == BK_REQ_PAGE_VIEW || request.type == BK_REQ_EVENT) && !events_allow(chat, s)) {
        bk_metrics_now.rate_limited++;
        chat_send_error(s, request.req, BK_ERR_RATE_LIMITED, "too many page views and events this minute");
    } else {
        chat_request_dispatch(s, &request);
    }
    bk_request_release(&request);
}

/* This node's entry only: the agent may still be connected through another node. */
static void presence_remove(bk_chat *chat, const char *agent)
{
    char key[96], member[2 * BK_ID_MAX + 2];
    snprintf(key, sizeof key, "%spresence", chat->global_prefix);
    snprintf(member, sizeof member, "%s@%s", agent, chat->node);
    const char *argv[] = { "ZREM", key, member };
    /* Best effort: if Redis is away, the entry expires with its TTL anyway. */
    bk_store_command(chat->server->store, NULL, NULL, 3, argv, NULL);
}

void bk_chat_closed(bk_conn *conn, void *data)
{
    bk_chat *chat = ((bk_server *)data)->chat;
    chat_session *s = bk_conn_user(conn);
    if (!s)
        return;
    bk_conn_set_user(conn, NULL);
    bk_list_remove(&s->waiting);
    if (s->role == BK_ROLE_AGENT)
        bk_metrics_now.agents_connected--;
    else
        bk_metrics_now.visitors_connected--;
    bk_tracker_close(s->tracker);
    s->tracker = NULL;
    chat_subscribing_cancel(s);
    chat_agents_leave(s);  /* a visitor's was never on the list: nothing happens */
    /* A session not (or no longer) among its peers leaves nothing: a visitor whose hello
     * failed, an agent whose hello failed or never came. */
    if (chat_peers_leave(s) && s->role == BK_ROLE_AGENT) {
        presence_remove(chat, s->id);
        bk_info("agent %s disconnected", s->id);
    }
    chat_session_unref(s);
}
