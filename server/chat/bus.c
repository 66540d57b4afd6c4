/* bus.c - the bus fan-out: what Redis publishes, to the sockets of this node it is for. */
#include "chat/chat_internal.h"

#include "base/ids.h"
#include "base/log.h"
#include "base/map.h"
#include "workers/webhooks.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* To the sessions on peers (chat_peers; NULL: none) whose hello is done. `except` is a
 * connection of this node that must not get the frame (its sender), or 0. */
static void peers_send(const bk_list *peers, const char *text, size_t len, unsigned long except)
{
    if (!peers)
        return;
    bk_list_each(node, peers) {
        chat_session *s = bk_list_entry(node, chat_session, peer);
        if (s->hello == HELLO_DONE && (!except || bk_conn_id(s->conn) != except))
            chat_send_text(s, text, len);
    }
}

/* "0", "1", or "0>NODE:CONNECTION" (bus_except): the connection to skip when NODE is this one. */
static unsigned long bus_except_connection(const bk_chat *chat, const char *all)
{
    const char *sender = strchr(all, '>');
    size_t node_len = strlen(chat->node);
    if (!sender || strncmp(sender + 1, chat->node, node_len) != 0 || sender[1 + node_len] != ':')
        return 0;
    return strtoul(sender + 2 + node_len, NULL, 10);
}

/* An account's password changed or the account was removed: its sockets here are closed. */
static void agent_sessions_end(bk_chat *chat, const char *agent)
{
    bk_list *peers = chat_peers(chat, BK_ROLE_AGENT, agent);
    if (!peers)
        return;
    bk_list_each(node, peers) {
        chat_session *s = bk_list_entry(node, chat_session, peer);
        chat_send_error(s, NULL, BK_ERR_UNAUTHORIZED, "your session ended (password changed or account removed)");
        bk_conn_close(s->conn, BK_CLOSE_UNAUTHORIZED, "session ended");
    }
}

/* The visitor was erased: its sockets here are closed (the widget starts afresh). */
static void visitor_sessions_end(bk_chat *chat, const char *visitor)
{
    bk_list *peers = chat_peers(chat, BK_ROLE_VISITOR, visitor);
    if (!peers)
        return;
    bk_list_each(node, peers)
        bk_conn_close(bk_list_entry(node, chat_session, peer)->conn, BK_CLOSE_POLICY, "visitor data erased");
}

/* The queue's order, published once per change by whichever node's sweep saw it first:
 * tell this node's waiting visitors where they stand. */
static void queue_positions_tell(bk_chat *chat, const char *text, size_t len)
{
    json_t *announcement = json_loadb(text, len, 0, NULL);
    json_t *order = json_object_get(announcement, "order");
    size_t waiting = json_array_size(order) / 2;
    json_int_t online = json_integer_value(json_object_get(announcement, "online"));
    json_t *average = json_object_get(announcement, "average_wait_ms");
    for (size_t i = 0; i < waiting; i++) {
        const char *visitor = json_string_value(json_array_get(order, 2 * i));
        const char *conversation = json_string_value(json_array_get(order, 2 * i + 1));
        bk_list *peers = visitor ? chat_peers(chat, BK_ROLE_VISITOR, visitor) : NULL;
        if (!peers || !conversation)
            continue;
        json_t *expected = json_is_number(average) && online > 0
            ? json_integer((json_int_t)(json_number_value(average) * (double)(i + 1) / (double)online / 1000.0 + 0.5))
            : json_null();
        json_t *frame = json_pack("{s:s, s:s, s:I, s:I, s:I, s:o}", "type", "queue_position",
                                  "conversation", conversation, "position", (json_int_t)(i + 1),
                                  "waiting", (json_int_t)waiting, "agents_online", online,
                                  "expected_wait_seconds", expected);
        char *out = json_dumps(frame, JSON_COMPACT);
        json_decref(frame);
        if (out)
            peers_send(peers, out, strlen(out), 0);
        free(out);
    }
    json_decref(announcement);
}

/* Copies a short bus payload into buf (BK_ID_MAX + 1 bytes) and returns it. */
static const char *text_copy(const char *text, size_t len, char *buf)
{
    size_t n = len < BK_ID_MAX ? len : BK_ID_MAX;
    memcpy(buf, text, n);
    buf[n] = '\0';
    return buf;
}

/* The next field of a bus line, read as sscanf's %s would (spaces before it skipped) into out:
 * 0, or -1 when there is none or it does not fit (no line the scripts publish has one that
 * long: the sizes of the fields are those of the ids they carry). */
static int bus_field(const char **at, const char *end, char *out, size_t size)
{
    const char *start = *at;
    while (start < end && isspace((unsigned char)*start))
        start++;
    size_t n = 0;
    while (start + n < end && start[n] != '\0' && !isspace((unsigned char)start[n]))
        n++;
    if (n == 0 || n >= size)
        return -1;
    memcpy(out, start, n);
    out[n] = '\0';
    *at = start + n;
    return 0;
}

/* "VISITOR AGENT ALL FRAME" (lua/prelude.lua); FRAME may be a message's compact record (frames.c). */
void chat_bus_received(const char *payload, size_t len, void *data)
{
    bk_chat *chat = data;
    char visitor[BK_ID_MAX + 1], agent[BK_ID_MAX + 1], all_field[SENDER_MAX + 3];
    const char *at = payload, *end = payload + len;
    if (bus_field(&at, end, visitor, sizeof visitor) != 0 || bus_field(&at, end, agent, sizeof agent) != 0 ||
        bus_field(&at, end, all_field, sizeof all_field) != 0)
        return;
    while (at < end && isspace((unsigned char)*at))
        at++;
    int all = all_field[0] == '1';
    unsigned long except = bus_except_connection(chat, all_field);
    const char *text = at;
    size_t text_len = (size_t)(end - at);
    if (visitor[0] == '!') {  /* "!what NAME 0 ...": for the nodes, not for clients */
        if (strcmp(visitor, "!logout") == 0)
            agent_sessions_end(chat, agent);
        else if (strcmp(visitor, "!queue") == 0)
            queue_positions_tell(chat, text, text_len);
        else if (strcmp(visitor, "!ping") == 0) {
            if (strcmp(agent, chat->node) == 0)  /* agent: the node that sent it */
                chat->bus_heard_ms = uv_now(chat->server->loop);
        }
        else if (strcmp(visitor, "!hooks") == 0)
            bk_webhooks_wake(chat->server->webhooks, agent);  /* agent: the site */
        else if (strcmp(visitor, "!forget") == 0) {
            char erased[BK_ID_MAX + 1];
            if (bk_id_valid(text_copy(text, text_len, erased)))
                visitor_sessions_end(chat, erased);
        }
        else
            bk_triggers_control(chat->server->triggers, visitor + 1);
        return;
    }
    if (!(text = chat_frame_expand(chat, text, &text_len)))
        return;
    if (strcmp(visitor, "-") != 0)
        peers_send(chat_peers(chat, BK_ROLE_VISITOR, visitor), text, text_len, except);
    if (all) {
        bk_list_each(node, &chat->all_agents) {
            chat_session *s = bk_list_entry(node, chat_session, agent);
            if (s->hello == HELLO_DONE)
                chat_send_text(s, text, text_len);
            else if (s->hello == HELLO_PENDING)
                chat_held_add(s, text, text_len);
        }
    } else if (strcmp(agent, "-") != 0) {
        peers_send(chat_peers(chat, BK_ROLE_AGENT, agent), text, text_len, except);
    }
}

/* While the bus link was down, pushes for this node's sockets were lost (pub/sub does not
 * keep them). The streams have everything: tell every client to resume. */
static void resync_peers(const char *id, void *peers, void *frame)
{
    (void)id;
    peers_send(peers, frame, strlen(frame), 0);
}

void chat_store_state_changed(int command_up, int bus_up, void *data)
{
    bk_chat *chat = data;
    bk_info("redis: commands %s, bus %s", command_up ? "up" : "down", bus_up ? "up" : "down");
    if (bus_up && !chat->bus_up && chat->bus_was_up) {
        static const char resync[] = "{\"type\":\"resync\"}";
        bk_info("bus is back: asking this node's clients to resume");
        bk_map_each(chat->visitors, resync_peers, (void *)resync);
        bk_map_each(chat->agents, resync_peers, (void *)resync);
    }
    if (bus_up)
        chat->bus_was_up = 1;
    chat->bus_up = bus_up;
    /* Before any sweep on the new link: after a long outage the visitors' confirmations are old,
     * and their chats must not look abandoned (commands on one link run in order). */
    if (command_up)
        chat_visitors_seen(chat, bk_now_ms());
}
