/* server.h - what one Beckon process is made of, shared by its modules. */
#ifndef BK_SERVER_H
#define BK_SERVER_H

#include "base/auth.h"
#include "base/config.h"
#include "base/keys.h"
#include "transport/net.h"
#include "store/store.h"

#include <uv.h>

typedef struct bk_chat bk_chat;
typedef struct bk_triggers bk_triggers;
typedef struct bk_router bk_router;
typedef struct bk_webhooks bk_webhooks;
typedef struct bk_mail bk_mail;
typedef struct bk_file_store bk_file_store;
typedef struct bk_file_checker bk_file_checker;

typedef struct bk_server {
    uv_loop_t *loop;
    const bk_config *config;
    uint8_t secret[BK_SECRET_SIZE];
    bk_store *store;
    bk_net *net;
    bk_chat *chat;
    bk_triggers *triggers;
    bk_router *router;
    bk_webhooks *webhooks;
    bk_mail *mail;       /* NULL: email is not set up (no smtp-host) */
    bk_file_store *files; /* where files in chat live (files/file_store.h) */
    bk_file_checker *checker;  /* what an upload is checked by (files/file_check.h) */
    /* The agents online as the global slot last said (chat/sweeps.c reads it every second):
     * what a site's scripts are given, as they cannot read the global keys (base/keys.h). */
    long long agents_online;
    /* The tags of the site slots this node knows of (the slot of site "" first), for what reads
     * or sweeps every site; chat/sweeps.c reads them every second with the sites. */
    const char (*slot_tags)[BK_KEYS_TAG_LEN + 1];
    size_t slot_count;
} bk_server;

#endif
