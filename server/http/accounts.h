/* accounts.h - logins, sessions and the accounts of agents, marketers and admins.
 *
 * POST /api/login checks a yescrypt password on libuv's thread pool (slow on purpose; the
 * loop never waits for it), refuses further attempts after repeated failures for one name
 * or one address, and opens a session whose token only the client ever sees. Admins manage
 * accounts over /api/agents; changing a password or removing an account ends its sessions
 * and closes its sockets on every node. */
#ifndef BK_ACCOUNTS_H
#define BK_ACCOUNTS_H

#include "server.h"

typedef struct bk_accounts bk_accounts;

/* Registers the scripts: call before bk_store_start. */
bk_accounts *bk_accounts_new(bk_server *server);
void bk_accounts_free(bk_accounts *accounts);

void bk_accounts_login(bk_accounts *accounts, bk_http *request);

/* /api/agents and /api/agents/{name}; the caller has checked the admin role. */
void bk_accounts_handle(bk_accounts *accounts, bk_http *request);

#define BK_PASSWORD_MIN 8

#endif
