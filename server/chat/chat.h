/* chat.h - conversations between visitors and agents: the v1 protocol's behaviour.
 *
 * chat turns requests into atomic Redis scripts (server/lua/), answers the sender only from
 * Redis's reply, and fans the bus out to the sockets of this node. It keeps no
 * conversation state of its own: Redis is the system of record. */
#ifndef BK_CHAT_H
#define BK_CHAT_H

#include "server.h"

#include "base/keys.h"

bk_chat *bk_chat_new(bk_server *server);
void bk_chat_free(bk_chat *chat);
/* Stops the presence heartbeat; call when shutting down, before the loop drains. */
void bk_chat_shutdown(bk_chat *chat);
/* A site was saved or removed through this node: read the sites anew (their slots). */
void bk_chat_sites_changed(bk_chat *chat);
/* The site slots this node knows of (base/keys.h; the slot of site "" first, always there),
 * for what reads every site: how many, and the prefix of the i-th. */
size_t bk_chat_slot_count(const bk_chat *chat);
void bk_chat_slot_prefix(const bk_chat *chat, size_t i, char out[BK_KEYS_PREFIX_SIZE]);

/* The net's WebSocket handlers; server is the bk_server. */
void bk_chat_opened(bk_conn *conn, void *server);
void bk_chat_received(bk_conn *conn, bk_rx_status status, const char *text, size_t len, void *server);
void bk_chat_closed(bk_conn *conn, void *server);

#endif
