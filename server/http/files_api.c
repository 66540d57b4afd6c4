/* files_api.c - the files API's module: its scripts and the sweep that removes the
 * bytes of expired and erased files.
 *
 * The sweep: a conversation's files expire and are erased with it in its scripts (lua/files.lua);
 * the redis file store's bytes are keys that go in the same step, but a folder's files are not
 * in Redis. So those scripts enter each such file in its slot's `files:expiring` (an erased one
 * due at once), and every SWEEP_MS each node takes what is due there (files_expired.lua, which
 * removes what it answers: one node removes each) and deletes the bytes. Run for the redis
 * store too, where the keys are gone already, so that the set does not grow. */
#include "http/files_internal.h"

#include "base/log.h"
#include <beckon/protocol.h>
#include "base/ids.h"
#include "lua/embedded.h"
#include "store/redis_reply.h"
#include "store/redis_shapes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SWEEP_MS    10000
#define SWEEP_LIMIT "200"   /* files a slot gives per sweep */

struct bk_files_api {
    bk_server *server;
    int scripts[FILES_SCRIPT_COUNT];
    uv_timer_t sweep;
    int sweep_started;
};

bk_server *files_server(const bk_files_api *api) { return api->server; }
bk_file_store *files_store(const bk_files_api *api) { return api->server->files; }
int files_script(const bk_files_api *api, int which) { return api->scripts[which]; }

long long files_link_expiry(const bk_files_api *api)
{
    return (long long)(bk_now_ms() / 1000) + 3600LL * api->server->config->file_link_hours;
}

/* ---- the sweep ---------------------------------------------------------------------------- */

static void on_expired(redisReply *reply, void *data)
{
    bk_files_api *api = data;
    const redisReply *ids;
    size_t at;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_FILE_IDS, &ids, &at) != 0)
        return;  /* asked again at the next sweep */
    const char *id;
    while (bk_redis_reply_unpack_next(ids, &at, BK_SHAPE_FILE_ID, &id) == 0)
        bk_file_store_remove(api->server->files, id, NULL, NULL);
}

void bk_files_sweep(bk_files_api *api)
{
    bk_server *server = api->server;
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)bk_now_ms());
    for (size_t i = 0; i < server->slot_count; i++) {
        char prefix[BK_KEYS_PREFIX_SIZE];
        bk_keys_site_prefix(server->config->prefix, server->slot_tags[i], prefix);
        const char *argv[] = { prefix, now, SWEEP_LIMIT };
        bk_store_script(server->store, api->scripts[FILES_SCRIPT_EXPIRED], on_expired, api, 0, 3, argv, NULL);
    }
}

static void on_sweep_timer(uv_timer_t *timer)
{
    bk_files_sweep(timer->data);
}

/* ---- the module --------------------------------------------------------------------------- */

bk_files_api *bk_files_api_new(bk_server *server)
{
    bk_files_api *api = calloc(1, sizeof *api);
    if (!api)
        return NULL;
    api->server = server;
    api->scripts[FILES_SCRIPT_BEGIN] = bk_store_script_add(server->store, bk_lua_file_begin);
    api->scripts[FILES_SCRIPT_MESSAGE] = bk_store_script_add(server->store, bk_lua_file_message);
    api->scripts[FILES_SCRIPT_GET] = bk_store_script_add(server->store, bk_lua_file_get);
    api->scripts[FILES_SCRIPT_EXPIRED] = bk_store_script_add(server->store, bk_lua_files_expired);
    uv_timer_init(server->loop, &api->sweep);
    api->sweep.data = api;
    uv_timer_start(&api->sweep, on_sweep_timer, SWEEP_MS, SWEEP_MS);
    api->sweep_started = 1;
    return api;
}

void bk_files_api_shutdown(bk_files_api *api)
{
    if (api && api->sweep_started) {
        api->sweep_started = 0;
        uv_close((uv_handle_t *)&api->sweep, NULL);
    }
}

void bk_files_api_free(bk_files_api *api)
{
    free(api);
}
