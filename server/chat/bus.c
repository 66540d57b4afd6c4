/* bus.c - the bus fan-out: what Redis publishes, to the sockets of this node it is for. */
#include "chat/chat_internal.h"

#include "base/ids.h"
#include "base/log.h"
#include "base/map.h"
#include "help/help.h"
#include "workers/webhooks.h"

#include <stdlib.h>
#include <string.h>

/* ---- channels: one per recipient ---------------------------------------------------- */

int chat_bus_channel(const char *slot_prefix, chat_recipient to, const char *id, char out[CHANNEL_MAX])
{
    static const char *const kinds[] = {
        [CHAT_TO_VISITOR] = "v", [CHAT_TO_AGENT] = "a", [CHAT_TO_AGENTS] = "agents",
        [CHAT_TO_NODES] = "nodes", [CHAT_TO_NODE] = "node",
    };
    int n = snprintf(out, CHANNEL_MAX, "%sto:%s%s%s", slot_prefix, kinds[to], id ? ":" : "", id ? id : "");
    return n > 0 && (size_t)n < CHANNEL_MAX ? 0 : -1;
}

int chat_bus_slot_channels_each(bk_chat *chat, const char *slot_prefix, chat_recipient to, const char *id,
                                chat_channel_fn *fn)
{
    char channel[CHANNEL_MAX];
    if (chat_bus_channel(slot_prefix, to, id, channel) != 0)
        return -1;
    return fn(chat, channel);
}

int chat_bus_channels_each(bk_chat *chat, chat_recipient to, const char *id, chat_channel_fn *fn)
{
    const char *prefix = chat->server->config->prefix;
    char slot[BK_KEYS_PREFIX_SIZE];
    if (to == CHAT_TO_VISITOR) {
        bk_keys_prefix_of_id(prefix, id, slot);
        return chat_bus_slot_channels_each(chat, slot, to, id, fn);
    }
    int result = chat_bus_slot_channels_each(chat, chat->global_prefix, to, id, fn);
    if (to == CHAT_TO_NODE)
        return result;
    for (size_t i = 0; i < chat->tag_count && result == 0; i++) {
        bk_keys_site_prefix(prefix, chat->tags[i], slot);
        result = chat_bus_slot_channels_each(chat, slot, to, id, fn);
    }
    return result;
}

/* The recipient a channel of this node names (chat_bus_channel backwards, whatever its slot's
 * tag): 0 with *to and id set (id empty for all agents, all nodes), or -1 for a channel not ours. */
static int channel_recipient(const bk_chat *chat, const char *channel, size_t len, chat_recipient *to,
                             char id[BK_ID_MAX + 1])
{
    static const struct { const char *name; chat_recipient to; int has_id; } kinds[] = {
        { "v:", CHAT_TO_VISITOR, 1 }, { "a:", CHAT_TO_AGENT, 1 }, { "agents", CHAT_TO_AGENTS, 0 },
        { "nodes", CHAT_TO_NODES, 0 }, { "node:", CHAT_TO_NODE, 1 },
    };
    const char *prefix = chat->server->config->prefix;
    size_t prefix_len = strlen(prefix);
    if (len < prefix_len + 1 || memcmp(channel, prefix, prefix_len) != 0 || channel[prefix_len] != '{')
        return -1;
    const char *close = memchr(channel + prefix_len, '}', len - prefix_len);
    if (!close || (size_t)(close - channel) > prefix_len + 1 + BK_KEYS_TAG_LEN)
        return -1;
    size_t slot_len = (size_t)(close - channel) + 2;  /* "PREFIX{TAG}:" */
    if (len < slot_len + 3 || channel[slot_len - 1] != ':' || memcmp(channel + slot_len, "to:", 3) != 0)
        return -1;
    const char *kind = channel + slot_len + 3;
    size_t rest = len - slot_len - 3;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        size_t kind_len = strlen(kinds[i].name);
        if (rest < kind_len || memcmp(kind, kinds[i].name, kind_len) != 0 || (!kinds[i].has_id && rest != kind_len))
            continue;
        size_t id_len = rest - kind_len;
        if (kinds[i].has_id && (id_len == 0 || id_len > BK_ID_MAX))
            return -1;
        memcpy(id, kind + kind_len, id_len);
        id[id_len] = '\0';
        *to = kinds[i].to;
        return 0;
    }
    return -1;
}

/* ---- sending to this node's sockets ------------------------------------------------------ */

/* To a session: at once when its hello is done; held for after its welcome while its hello is
 * under way (chat_held_add: it may have been published after the snapshot its welcome is built
 * from); not at all before its hello. */
static void session_send(chat_session *s, const char *text, size_t len)
{
    if (s->hello == HELLO_DONE)
        chat_send_text(s, text, len);
    else if (s->hello == HELLO_PENDING)
        chat_held_add(s, text, len);
}

/* To the sessions on peers (chat_peers; NULL: none). `except` is a connection of this node
 * that must not get the frame (its sender), or 0. */
static void peers_send(const bk_list *peers, const char *text, size_t len, unsigned long except)
{
    if (!peers)
        return;
    bk_list_each(node, peers) {
        chat_session *s = bk_list_entry(node, chat_session, peer);
        if (!except || bk_conn_id(s->conn) != except)
            session_send(s, text, len);
    }
}

/* A frame to the sockets of its recipient here. */
static void recipient_send(bk_chat *chat, chat_recipient to, const char *id, const char *text, size_t len,
                           unsigned long except)
{
    switch (to) {
    case CHAT_TO_VISITOR:
        peers_send(chat_peers(chat, BK_ROLE_VISITOR, id), text, len, except);
        break;
    case CHAT_TO_AGENT:
        peers_send(chat_peers(chat, BK_ROLE_AGENT, id), text, len, except);
        break;
    case CHAT_TO_AGENTS:
        bk_list_each(node, &chat->all_agents)
            session_send(bk_list_entry(node, chat_session, agent), text, len);
        break;
    case CHAT_TO_NODES:
    case CHAT_TO_NODE:
        break;  /* the nodes' channels carry "!what" alone */
    }
}

/* "-", or "NODE:CONNECTION" (bus_except): the connection to skip when NODE is this one. */
static unsigned long sender_connection(const bk_chat *chat, const char *sender)
{
    size_t node_len = strlen(chat->node);
    if (strncmp(sender, chat->node, node_len) != 0 || sender[node_len] != ':')
        return 0;
    return strtoul(sender + node_len + 1, NULL, 10);
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

/* The next field of a bus message, up to a space, into out: 0, or -1 when there is none or it
 * does not fit (no message the scripts publish has one that long: a field is an id, a node's
 * connection or a command). */
static int bus_field(const char **at, const char *end, char *out, size_t size)
{
    const char *start = *at;
    size_t n = 0;
    while (start + n < end && start[n] != ' ' && start[n] != '\0')
        n++;
    if (n == 0 || n >= size)
        return -1;
    memcpy(out, start, n);
    out[n] = '\0';
    *at = start + n < end ? start + n + 1 : end;
    return 0;
}

/* "!what ARGUMENT": for the node itself, never for clients (lua/prelude.lua). */
static void node_command(bk_chat *chat, chat_recipient to, const char *id, const char *at, const char *end)
{
    char what[16], argument[BK_ID_MAX + 1];
    if (bus_field(&at, end, what, sizeof what) != 0)
        return;
    if (to == CHAT_TO_VISITOR && strcmp(what, "!forget") == 0) {
        visitor_sessions_end(chat, id);
    } else if (to == CHAT_TO_AGENT && strcmp(what, "!logout") == 0) {
        agent_sessions_end(chat, id);
    } else if (to == CHAT_TO_NODE && strcmp(what, "!ping") == 0) {
        if (strcmp(id, chat->node) == 0)
            chat->bus_heard_ms = uv_now(chat->server->loop);
    } else if (to == CHAT_TO_NODES && strcmp(what, "!queue") == 0) {
        queue_positions_tell(chat, at, (size_t)(end - at));
    } else if (to == CHAT_TO_NODES && strcmp(what, "!hooks") == 0) {
        if (bus_field(&at, end, argument, sizeof argument) == 0)
            bk_webhooks_wake(chat->server->webhooks, argument);
    } else if (to == CHAT_TO_NODES && strcmp(what, "!help") == 0) {
        if (bus_field(&at, end, argument, sizeof argument) == 0 && chat->server->help)
            bk_help_reload(chat->server->help, argument);
    } else if (to == CHAT_TO_NODES) {
        bk_triggers_control(chat->server->triggers, what + 1);  /* "!rules" */
    }
}

/* A message on one of this node's channels (lua/prelude.lua): "SENDER FRAME", or "!what ...". */
void chat_bus_received(const char *channel, size_t channel_len, const char *payload, size_t len, void *data)
{
    bk_chat *chat = data;
    chat_recipient to;
    char id[BK_ID_MAX + 1], sender[SENDER_MAX];
    if (channel_recipient(chat, channel, channel_len, &to, id) != 0 || len == 0)
        return;
    const char *at = payload, *end = payload + len;
    if (payload[0] == '!') {
        node_command(chat, to, id, at, end);
        return;
    }
    if (bus_field(&at, end, sender, sizeof sender) != 0)
        return;
    /* The one place a FRAME goes to sockets: as the script made it, or, for a message's
     * compact record, as the JSON frame the node builds from it (frames.c). */
    size_t frame_len = (size_t)(end - at);
    const char *frame = chat_frame_expand(chat, at, &frame_len);
    if (frame)
        recipient_send(chat, to, id, frame, frame_len, sender_connection(chat, sender));
}

/* While the bus link was down, pushes for this node's sockets were lost (pub/sub does not
 * keep them). The streams have everything: tell every client to resume (a socket still saying
 * hello hears it after its welcome). */
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
        bk_list_each(node, &chat->all_agents)
            session_send(bk_list_entry(node, chat_session, agent), resync, sizeof resync - 1);
    }
    /* The help indexes are loaded when the bus is up, first and after every outage: a change
     * announced while it was down reached no node. */
    if (bus_up && !chat->bus_up && chat->server->help)
        bk_help_reload_all(chat->server->help);
    if (bus_up)
        chat->bus_was_up = 1;
    chat->bus_up = bus_up;
    /* Hellos waiting for their channels: with the bus down they go on (the resync above
     * covers them when it is back); with it up, some may be confirmed now. */
    chat_subscriptions_settled(chat);
    /* Before any sweep on the new link: after a long outage the visitors' confirmations are old,
     * and their chats must not look abandoned (commands on one link run in order). */
    if (command_up) {
        chat_global_read(chat);
        chat_visitors_seen(chat, bk_now_ms());
    }
}

void chat_bus_subscribed(const char *channel, void *data)
{
    bk_chat *chat = data;
    chat_recipient to;
    char id[BK_ID_MAX + 1];
    if (channel_recipient(chat, channel, strlen(channel), &to, id) == 0)
        chat_subscription_confirmed(chat, to, id);
}
