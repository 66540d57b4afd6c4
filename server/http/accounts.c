/* accounts.c - login with throttling, sessions, and account administration. */
#include "http/accounts.h"

#include "http/reply.h"
#include "http/request.h"
#include "base/ids.h"
#include "base/keys.h"
#include "base/log.h"
#include "store/redis_reply.h"
#include "store/redis_shapes.h"
#include "lua/embedded.h"

#include <beckon/protocol.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define FAILURES_PER_NAME  5     /* failed logins per account ... */
#define FAILURES_PER_IP    20    /* ... and per address ... */
#define FAILURE_WINDOW_S   900   /* ... within 15 minutes, then 429 until the window ends */

enum {
    SCRIPT_LOGIN_BEGIN, SCRIPT_LOGIN_FAILED, SCRIPT_SESSION_OPEN, SCRIPT_SAVE, SCRIPT_DELETE,
    SCRIPT_LIST, SCRIPT_COUNT
};

struct bk_accounts {
    bk_server *server;
    int scripts[SCRIPT_COUNT];
};

/* Verified against when the account does not exist, so that a wrong name costs as much time
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

static int role_valid(const char *role)
{
    return strcmp(role, "agent") == 0 || strcmp(role, "marketer") == 0 || strcmp(role, "admin") == 0;
}

/* One request that needs the thread pool (a hash to check or to make) and then Redis. */
typedef struct job {
    bk_accounts *accounts;
    bk_http *request;
    uv_work_t work;
    char name[BK_ID_MAX + 1];
    char ip[64];
    char *password;
    char hash[BK_PASSWORD_HASH_MAX];
    char role[16];
    char max_chats[12];  /* "": keep; "0": back to agent-max-chats; else the agent's own (routing) */
    int known;
    int verified;
    int create;
    char token[BK_SESSION_TOKEN_SIZE];
} job;

static job *job_new(bk_accounts *accounts, bk_http *request, const char *name, const char *password)
{
    job *j = calloc(1, sizeof *j);
    if (!j || (password && !(j->password = strdup(password)))) {
        free(j);
        bk_api_reply_error(request, 500, BK_ERR_INTERNAL, "out of memory");
        return NULL;
    }
    j->accounts = accounts;
    j->request = request;
    snprintf(j->name, sizeof j->name, "%s", name);
    /* Stored in the throttle's keys: truncated to /24 or /48, as every address Beckon keeps. */
    bk_ip_truncate(bk_http_peer(request), j->ip, sizeof j->ip);
    return j;
}

static void job_free(job *j)
{
    if (j->password) {
        explicit_bzero(j->password, strlen(j->password));
        free(j->password);
    }
    free(j);
}

static int job_script(job *j, int script, bk_store_reply_fn fn, int argc, const char **argv)
{
    bk_accounts *a = j->accounts;
    return bk_store_script(a->server->store, a->scripts[script], fn, j, 0, argc, argv, NULL);
}

/* ---- login ------------------------------------------------------------------------------ */

static void on_session_opened(redisReply *reply, void *data)
{
    job *j = data;
    long long opened;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_INTEGER, &opened) != 0) {
        bk_api_reply_store_error(j->request, reply, NULL, BK_STORAGE_WRITE);
    } else {
        int hours = j->accounts->server->config->session_hours;
        bk_api_reply_json(j->request, 200,
                          json_pack("{s:s, s:{s:s, s:s}, s:I}", "token", j->token, "agent", "name", j->name,
                                    "role", j->role,
                                    "expires", (json_int_t)(bk_now_ms() + (int64_t)hours * 3600 * 1000)));
        bk_info("%s %s logged in", j->role, j->name);
    }
    job_free(j);
}

static void login_check(uv_work_t *work)
{
    job *j = work->data;
    if (!j->known)
        pthread_once(&decoy_once, decoy_make);
    int ok = bk_password_verify(j->password, j->known ? j->hash : decoy_hash) == 0;
    j->verified = ok && j->known;
}

static void login_checked(uv_work_t *work, int status)
{
    job *j = work->data;
    char prefix[BK_KEYS_PREFIX_SIZE];
    bk_keys_global_prefix(j->accounts->server->config->prefix, prefix);
    if (status != 0 || !j->verified) {
        char window[16];
        snprintf(window, sizeof window, "%d", FAILURE_WINDOW_S);
        const char *argv[] = { prefix, j->name, j->ip, window };
        bk_store_script(j->accounts->server->store, j->accounts->scripts[SCRIPT_LOGIN_FAILED], NULL, NULL, 0,
                        4, argv, NULL);
        bk_info("failed login for the name '%s'", j->name);
        bk_api_reply_error(j->request, 401, BK_ERR_UNAUTHORIZED, "wrong name or password");
        job_free(j);
        return;
    }
    char digest[BK_SESSION_TOKEN_SIZE], seconds[16];
    if (bk_session_token_new(j->token) != 0) {
        bk_api_reply_error(j->request, 500, BK_ERR_INTERNAL, "no randomness for a session");
        job_free(j);
        return;
    }
    bk_session_token_digest(j->token, digest);
    snprintf(seconds, sizeof seconds, "%d", j->accounts->server->config->session_hours * 3600);
    const char *argv[] = { prefix, digest, j->name, seconds };
    if (job_script(j, SCRIPT_SESSION_OPEN, on_session_opened, 4, argv) != 0)
        on_session_opened(NULL, j);
}

static void on_login_begun(redisReply *reply, void *data)
{
    job *j = data;
    const char *hash, *role;
    size_t hash_len;
    long long blocked;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_LOGIN_BEGIN, &hash, &hash_len, &role, &blocked) != 0) {
        bk_api_reply_store_error(j->request, reply, NULL, BK_STORAGE_READ);
        job_free(j);
        return;
    }
    if (blocked == 1) {
        bk_warn("login for '%s' refused: too many failures for the name or the address", j->name);
        bk_api_reply_error(j->request, 429, BK_ERR_RATE_LIMITED,
                           "too many failed logins; try again in 15 minutes");
        job_free(j);
        return;
    }
    if (hash && hash_len < sizeof j->hash) {
        memcpy(j->hash, hash, hash_len + 1);
        j->known = 1;
    }
    snprintf(j->role, sizeof j->role, "%s", role ? role : "agent");
    j->work.data = j;
    if (uv_queue_work(j->accounts->server->loop, &j->work, login_check, login_checked) != 0) {
        bk_api_reply_error(j->request, 500, BK_ERR_INTERNAL, "could not check the password");
        job_free(j);
    }
}

void bk_accounts_login(bk_accounts *accounts, bk_http *request)
{
    size_t len;
    const char *body = bk_http_body(request, &len);
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    const char *name = NULL, *password = NULL;
    if (!root || json_unpack(root, "{s:s, s:s}", "name", &name, "password", &password) != 0) {
        json_decref(root);
        bk_api_reply_error(request, 400, BK_ERR_BAD_REQUEST, "expected {\"name\": ..., \"password\": ...}");
        return;
    }
    if (!bk_id_valid(name) || strlen(password) == 0 || strlen(password) > 1024) {
        json_decref(root);
        bk_api_reply_error(request, 401, BK_ERR_UNAUTHORIZED, "wrong name or password");
        return;
    }
    job *j = job_new(accounts, request, name, password);
    json_decref(root);
    if (!j)
        return;
    char per_name[8], per_ip[8];
    snprintf(per_name, sizeof per_name, "%d", FAILURES_PER_NAME);
    snprintf(per_ip, sizeof per_ip, "%d", FAILURES_PER_IP);
    char prefix[BK_KEYS_PREFIX_SIZE];
    bk_keys_global_prefix(accounts->server->config->prefix, prefix);
    const char *argv[] = { prefix, j->name, j->ip, per_name, per_ip };
    if (job_script(j, SCRIPT_LOGIN_BEGIN, on_login_begun, 5, argv) != 0) {
        bk_api_reply_store_error(request, NULL, NULL, BK_STORAGE_READ);
        job_free(j);
    }
}

/* ---- administration --------------------------------------------------------------------- */

static void on_saved(redisReply *reply, void *data)
{
    job *j = data;
    long long saved;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_INTEGER, &saved) == 0) {
        bk_info("account %s %s", j->name, j->create ? "created" : "changed");
        bk_api_reply_json(j->request, j->create ? 201 : 200, json_pack("{s:s}", "name", j->name));
    } else {
        bk_api_reply_store_error(j->request, reply, BK_REFUSALS(BK_ERR_NOT_FOUND, BK_ERR_WRONG_STATE),
                                 BK_STORAGE_WRITE);
    }
    job_free(j);
}

static void save(job *j)
{
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)bk_now_ms());
    char prefix[BK_KEYS_PREFIX_SIZE];
    bk_keys_global_prefix(j->accounts->server->config->prefix, prefix);
    const char *argv[] = { prefix, j->name, j->hash, j->role, now,
                           j->create ? "1" : "0", j->max_chats };
    if (job_script(j, SCRIPT_SAVE, on_saved, 7, argv) != 0)
        on_saved(NULL, j);
}

static void hash_make(uv_work_t *work)
{
    job *j = work->data;
    j->verified = bk_password_hash(j->password, j->hash, sizeof j->hash) == 0;
}

static void hash_made(uv_work_t *work, int status)
{
    job *j = work->data;
    if (status != 0 || !j->verified) {
        bk_api_reply_error(j->request, 500, BK_ERR_INTERNAL, "could not hash the password");
        job_free(j);
        return;
    }
    save(j);
}

/* POST (create) or PUT (change): {"name"?, "password"?, "role"?}. */
static void account_save(bk_accounts *accounts, bk_http *request, const char *path_name)
{
    size_t len;
    const char *body = bk_http_body(request, &len);
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(root)) {
        json_decref(root);
        bk_api_reply_error(request, 400, BK_ERR_BAD_JSON, "expected a JSON object");
        return;
    }
    int create = path_name == NULL;
    json_t *name = json_object_get(root, "name"), *password = json_object_get(root, "password"),
           *role = json_object_get(root, "role"), *max_chats = json_object_get(root, "max_chats");
    const char *problem = NULL;
    if (create && (!json_is_string(name) || !bk_id_valid(json_string_value(name))))
        problem = "name: 1-64 letters, digits, '_' or '-'";
    else if (create && !password)
        problem = "password: required";
    else if (password && (!json_is_string(password) || json_string_length(password) < BK_PASSWORD_MIN ||
                          json_string_length(password) > 1024))
        problem = "password: 8 to 1024 characters";
    else if (role && (!json_is_string(role) || !role_valid(json_string_value(role))))
        problem = "role: agent, marketer or admin";
    else if (max_chats && !json_is_null(max_chats) &&
             (!json_is_integer(max_chats) || json_integer_value(max_chats) < 1 || json_integer_value(max_chats) > 100))
        problem = "max_chats: 1 to 100 concurrent chats, or null for the agent-max-chats setting";
    else if (!create && !password && !role && !max_chats)
        problem = "nothing to change: give password, role and/or max_chats";
    if (problem) {
        json_decref(root);
        bk_api_reply_error(request, 400, BK_ERR_BAD_REQUEST, problem);
        return;
    }
    job *j = job_new(accounts, request, create ? json_string_value(name) : path_name,
                     password ? json_string_value(password) : NULL);
    if (j) {
        j->create = create;
        snprintf(j->role, sizeof j->role, "%s", role ? json_string_value(role) : create ? "agent" : "");
        if (max_chats)
            snprintf(j->max_chats, sizeof j->max_chats, "%lld",
                     json_is_integer(max_chats) ? (long long)json_integer_value(max_chats) : 0LL);
    }
    json_decref(root);
    if (!j)
        return;
    if (!j->password) {
        save(j);
        return;
    }
    j->work.data = j;
    if (uv_queue_work(accounts->server->loop, &j->work, hash_make, hash_made) != 0) {
        bk_api_reply_error(request, 500, BK_ERR_INTERNAL, "could not hash the password");
        job_free(j);
    }
}

static void on_listed(redisReply *reply, void *data)
{
    bk_http *request = data;
    const char *text;
    size_t len;
    json_t *list = bk_redis_reply_unpack(reply, BK_SHAPE_TEXT, &text, &len) == 0 ? json_loadb(text, len, 0, NULL)
                                                                                : NULL;
    if (!list)
        bk_api_reply_store_error(request, reply, NULL, BK_STORAGE_READ);
    else
        bk_api_reply_json(request, 200, json_pack("{s:o}", "agents", list));
}

void bk_accounts_handle(bk_accounts *accounts, bk_http *request)
{
    const char *method = bk_http_method(request);
    const char *path = bk_http_path(request);
    char prefix[BK_KEYS_PREFIX_SIZE];
    bk_keys_global_prefix(accounts->server->config->prefix, prefix);
    if (strcmp(path, "/api/agents") == 0) {
        if (strcmp(method, "GET") == 0) {
            char now[24];
            snprintf(now, sizeof now, "%lld", (long long)bk_now_ms());
            const char *argv[] = { prefix, now };
            if (bk_store_script(accounts->server->store, accounts->scripts[SCRIPT_LIST], on_listed, request, 0, 2,
                                argv, NULL) != 0)
                bk_api_reply_store_error(request, NULL, NULL, BK_STORAGE_READ);
        } else if (strcmp(method, "POST") == 0) {
            account_save(accounts, request, NULL);
        } else {
            bk_api_reply_error(request, 405, BK_ERR_BAD_REQUEST, "use GET or POST");
        }
        return;
    }
    char name[BK_ID_MAX + 1];
    const char *rest;
    if (bk_api_request_id(request, strlen("/api/agents/"), name, &rest) != 0 || rest[0]) {
        bk_api_reply_error(request, 404, BK_ERR_NOT_FOUND, "no such account");
        return;
    }
    if (strcmp(method, "PUT") == 0) {
        account_save(accounts, request, name);
    } else if (strcmp(method, "DELETE") == 0) {
        job *j = job_new(accounts, request, name, NULL);
        if (!j)
            return;
        j->create = 0;
        const char *argv[] = { prefix, name };
        if (job_script(j, SCRIPT_DELETE, on_saved, 2, argv) != 0)
            on_saved(NULL, j);
    } else {
        bk_api_reply_error(request, 405, BK_ERR_BAD_REQUEST, "use PUT or DELETE");
    }
}

bk_accounts *bk_accounts_new(bk_server *server)
{
    bk_accounts *accounts = calloc(1, sizeof *accounts);
    if (!accounts)
        return NULL;
    const char *const sources[SCRIPT_COUNT] = {
        [SCRIPT_LOGIN_BEGIN]  = bk_lua_login_begin,
        [SCRIPT_LOGIN_FAILED] = bk_lua_login_failed,
        [SCRIPT_SESSION_OPEN] = bk_lua_session_open,
        [SCRIPT_SAVE]         = bk_lua_account_save,
        [SCRIPT_DELETE]       = bk_lua_account_delete,
        [SCRIPT_LIST]         = bk_lua_accounts_list,
    };
    accounts->server = server;
    for (int i = 0; i < SCRIPT_COUNT; i++)
        accounts->scripts[i] = bk_store_script_add(server->store, sources[i]);
    return accounts;
}

void bk_accounts_free(bk_accounts *accounts)
{
    free(accounts);
}
