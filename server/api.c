/* api.c - REST: health and agent login. Password checks run on libuv's thread pool:
 * yescrypt is slow on purpose, and the loop must never wait for it. */
#include "api.h"

#include "ids.h"
#include "log.h"

#include <beckon/protocol.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Verified against when the agent does not exist, so that a wrong name costs as much time
 * as a wrong password and names cannot be told apart by timing. Made once, on the pool. */
static char decoy_hash[BK_PASSWORD_HASH_MAX];
static pthread_once_t decoy_once = PTHREAD_ONCE_INIT;

static void decoy_make(void)
{
    char password[33];
    uint8_t raw[16];
    bk_random_bytes(raw, sizeof raw);
    bk_hex_encode(raw, sizeof raw, password);
    bk_password_hash(password, decoy_hash, sizeof decoy_hash);
}

static void respond_json(bk_http *request, int status, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!text) {
        bk_http_respond(request, 500, "application/json", "{}", 2);
        return;
    }
    bk_http_respond(request, status, "application/json", text, strlen(text));
    free(text);
}

static void respond_error(bk_http *request, int status, const char *code, const char *message)
{
    respond_json(request, status, json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", message));
}

static void health(bk_server *server, bk_http *request)
{
    int up = bk_store_is_up(server->store);
    respond_json(request, up ? 200 : 503,
                 json_pack("{s:s, s:s, s:f, s:s}", "status", up ? "ok" : "degraded",
                           "redis", up ? "up" : "down",
                           "redis_latency_ms", bk_store_last_latency_ms(server->store),
                           "version", BK_VERSION));
}

/* ---- login --------------------------------------------------------------------------- */

typedef struct login {
    bk_server *server;
    bk_http *request;
    uv_work_t work;
    char name[BK_ID_MAX + 1];
    char *password;
    char hash[BK_PASSWORD_HASH_MAX];
    int known;
    int verified;
    char token[BK_SESSION_TOKEN_SIZE];
} login;

static void login_free(login *l)
{
    if (l->password) {
        explicit_bzero(l->password, strlen(l->password));
        free(l->password);
    }
    free(l);
}

static void on_session_stored(redisReply *reply, void *data)
{
    login *l = data;
    if (!reply || reply->type == REDIS_REPLY_ERROR) {
        respond_error(l->request, 503, BK_ERR_UNAVAILABLE, "storage is unavailable; try again");
    } else {
        int hours = l->server->config->session_hours;
        respond_json(l->request, 200,
                     json_pack("{s:s, s:{s:s}, s:I}", "token", l->token, "agent", "name", l->name,
                               "expires", (json_int_t)(bk_now_ms() + (int64_t)hours * 3600 * 1000)));
        bk_info("agent %s logged in", l->name);
    }
    login_free(l);
}

static void login_check(uv_work_t *work)
{
    login *l = work->data;
    if (!l->known)
        pthread_once(&decoy_once, decoy_make);
    int ok = bk_password_verify(l->password, l->known ? l->hash : decoy_hash) == 0;
    l->verified = ok && l->known;
}

static void login_checked(uv_work_t *work, int status)
{
    login *l = work->data;
    if (status != 0 || !l->verified) {
        bk_info("failed login for agent name '%s'", l->name);
        respond_error(l->request, 401, BK_ERR_UNAUTHORIZED, "wrong name or password");
        login_free(l);
        return;
    }
    char digest[BK_SESSION_TOKEN_SIZE], key[160], seconds[16];
    if (bk_session_token_new(l->token) != 0) {
        respond_error(l->request, 500, BK_ERR_INTERNAL, "no randomness for a session");
        login_free(l);
        return;
    }
    bk_session_token_digest(l->token, digest);
    snprintf(key, sizeof key, "%ssession:%s", l->server->config->prefix, digest);
    snprintf(seconds, sizeof seconds, "%d", l->server->config->session_hours * 3600);
    const char *argv[] = { "SET", key, l->name, "EX", seconds };
    if (bk_store_command(l->server->store, on_session_stored, l, 5, argv, NULL) != 0)
        on_session_stored(NULL, l);
}

static void on_agent_loaded(redisReply *reply, void *data)
{
    login *l = data;
    if (!reply || reply->type == REDIS_REPLY_ERROR) {
        respond_error(l->request, 503, BK_ERR_UNAVAILABLE, "storage is unavailable; try again");
        login_free(l);
        return;
    }
    if (reply->type == REDIS_REPLY_STRING && reply->len < sizeof l->hash) {
        memcpy(l->hash, reply->str, reply->len + 1);
        l->known = 1;
    }
    l->work.data = l;
    if (uv_queue_work(l->server->loop, &l->work, login_check, login_checked) != 0) {
        respond_error(l->request, 500, BK_ERR_INTERNAL, "could not check the password");
        login_free(l);
    }
}

static void login_start(bk_server *server, bk_http *request)
{
    size_t len;
    const char *body = bk_http_body(request, &len);
    json_error_t error;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &error);
    const char *name = NULL, *password = NULL;
    if (!root || json_unpack(root, "{s:s, s:s}", "name", &name, "password", &password) != 0) {
        json_decref(root);
        respond_error(request, 400, BK_ERR_BAD_REQUEST, "expected {\"name\": ..., \"password\": ...}");
        return;
    }
    if (!bk_id_valid(name) || strlen(password) == 0 || strlen(password) > 1024) {
        json_decref(root);
        respond_error(request, 401, BK_ERR_UNAUTHORIZED, "wrong name or password");
        return;
    }
    login *l = calloc(1, sizeof *l);
    if (!l || !(l->password = strdup(password))) {
        free(l);
        json_decref(root);
        respond_error(request, 500, BK_ERR_INTERNAL, "out of memory");
        return;
    }
    l->server = server;
    l->request = request;
    snprintf(l->name, sizeof l->name, "%s", name);
    json_decref(root);
    char key[160];
    snprintf(key, sizeof key, "%sagent:%s", server->config->prefix, l->name);
    const char *argv[] = { "HGET", key, "password" };
    if (bk_store_command(server->store, on_agent_loaded, l, 3, argv, NULL) != 0) {
        respond_error(request, 503, BK_ERR_UNAVAILABLE, "storage is unavailable; try again");
        login_free(l);
    }
}

/* ---- routing ------------------------------------------------------------------------- */

void bk_api_handle(bk_http *request, void *data)
{
    bk_server *server = data;
    const char *method = bk_http_method(request);
    const char *path = bk_http_path(request);
    if (strcmp(path, "/healthz") == 0 && strcmp(method, "GET") == 0) {
        health(server, request);
    } else if (strcmp(path, "/api/login") == 0) {
        if (strcmp(method, "POST") == 0)
            login_start(server, request);
        else
            respond_error(request, 405, BK_ERR_BAD_REQUEST, "use POST");
    } else {
        respond_error(request, 404, BK_ERR_NOT_FOUND, "no such route");
    }
}
