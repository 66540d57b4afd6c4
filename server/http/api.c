/* api.c - REST: health and agent login. Password checks run on libuv's thread pool:
 * yescrypt is slow on purpose, and the loop must never wait for it. */
#include "http/api.h"

#include "http/accounts.h"
#include "http/beacon.h"
#include "http/canned.h"
#include "http/monitoring.h"
#include "http/privacy.h"
#include "http/rules_api.h"
#include "http/service_api.h"
#include "http/sites.h"
#include "http/webhook_api.h"

#include "base/ids.h"
#include "base/log.h"
#include "base/metrics.h"
#include "sites/origin.h"
#include "store/redis_reply.h"
#include "store/redis_shapes.h"
#include "lua/scripts.h"

#include <beckon/protocol.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

enum { ROLE_AGENT = 1, ROLE_MARKETER = 2, ROLE_ADMIN = 4 };

struct bk_api {
    bk_server *server;
    int authorize_script;
    bk_rules_api *rules;
    bk_accounts *accounts;
    bk_privacy *privacy;
    bk_sites *sites;
    bk_service_api *service;
    bk_webhook_api *webhook;
};

void bk_api_respond_json(bk_http *request, int status, json_t *body)
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

void bk_api_respond_error(bk_http *request, int status, const char *code, const char *message)
{
    bk_api_respond_json(request, status,
                        json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", message));
}

/* ---- authorization ----------------------------------------------------------------- */

typedef void (*authorized_fn)(bk_server *server, bk_http *request, const char *agent);

typedef struct authorization {
    bk_server *server;
    bk_http *request;
    int roles;
    authorized_fn fn;
} authorization;

static int role_bit(const char *role)
{
    return strcmp(role, "admin") == 0 ? ROLE_ADMIN : strcmp(role, "marketer") == 0 ? ROLE_MARKETER
                                                                                   : ROLE_AGENT;
}

static void on_authorized(redisReply *reply, void *data)
{
    authorization *a = data;
    const char *agent, *role;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_AUTHORIZE, &agent, &role) == 0) {
        if (!(role_bit(role) & a->roles))
            bk_api_respond_error(a->request, 403, BK_ERR_FORBIDDEN, "your role may not do this");
        else
            a->fn(a->server, a->request, agent);
    } else if (bk_redis_reply_refusal(reply, BK_ERR_UNAUTHORIZED)) {
        bk_api_respond_error(a->request, 401, BK_ERR_UNAUTHORIZED, "log in again: the session is unknown or expired");
    } else {
        /* No reply, Redis's own error (LOADING, BUSY, NOSCRIPT, ...) or an odd one: the session
         * may be fine, so no 401 - a client signs out on that. */
        if (bk_redis_reply_error(reply))
            bk_warn("redis refused an authorization: %.200s", bk_redis_reply_error(reply));
        bk_api_respond_error(a->request, 503, BK_ERR_UNAVAILABLE, "storage is unavailable; try again");
    }
    free(a);
}

/* Agent, marketer and admin routes are for Beckon's own pages (and for scripts, which send no
 * Origin): a browser page elsewhere is refused even before its token is looked at. */
static int own_origin(bk_http *request)
{
    return bk_origin_is_own(bk_http_header(request, "origin"), bk_http_header(request, "host"));
}

static void authorize(bk_server *server, bk_http *request, int roles, authorized_fn fn)
{
    if (!own_origin(request)) {
        bk_api_respond_error(request, 403, BK_ERR_FORBIDDEN, "this route accepts only Beckon's own origin");
        return;
    }
    const char *header = bk_http_header(request, "authorization");
    const char *token = strncmp(header, "Bearer ", 7) == 0 ? header + 7 : "";
    if (strlen(token) != BK_SESSION_TOKEN_SIZE - 1 ||
        strspn(token, "0123456789abcdef") != BK_SESSION_TOKEN_SIZE - 1) {
        bk_api_respond_error(request, 401, BK_ERR_UNAUTHORIZED, "Authorization: Bearer TOKEN (from /api/login) required");
        return;
    }
    authorization *a = calloc(1, sizeof *a);
    if (!a) {
        bk_api_respond_error(request, 500, BK_ERR_INTERNAL, "out of memory");
        return;
    }
    *a = (authorization){ server, request, roles, fn };
    char digest[BK_SESSION_TOKEN_SIZE];
    bk_session_token_digest(token, digest);
    const char *argv[] = { server->config->prefix, digest };
    if (bk_store_script(server->store, server->api->authorize_script, on_authorized, a, 0, 2, argv, NULL) != 0) {
        bk_api_respond_error(request, 503, BK_ERR_UNAVAILABLE, "storage is unavailable; try again");
        free(a);
    }
}

static void accounts_route(bk_server *server, bk_http *request, const char *agent)
{
    (void)agent;
    bk_accounts_handle(server->api->accounts, request);
}

static void sites_route(bk_server *server, bk_http *request, const char *agent)
{
    (void)agent;
    /* /api/sites/{id}/webhook[/test]: the webhook's delivery state and a test event */
    const char *id = bk_http_path(request) + strlen("/api/sites/");
    const char *slash = strchr(id, '/');
    char site[BK_ID_MAX + 1];
    if (slash && strncmp(slash, "/webhook", 8) == 0 && (size_t)(slash - id) < sizeof site) {
        memcpy(site, id, (size_t)(slash - id));
        site[slash - id] = '\0';
        if (bk_id_valid(site)) {
            bk_webhook_api_handle(server->api->webhook, request, site, slash + 8);
            return;
        }
    }
    bk_sites_handle(server->api->sites, request);
}

static void privacy_route(bk_server *server, bk_http *request, const char *agent)
{
    bk_privacy_handle(server->api->privacy, request, agent);
}

static void rules_route(bk_server *server, bk_http *request, const char *agent)
{
    bk_rules_api_handle(server->api->rules, request, agent);
}

static void service_route(bk_server *server, bk_http *request, const char *agent)
{
    (void)agent;
    bk_service_api_handle(server->api->service, request);
}

static void canned_route(bk_server *server, bk_http *request, const char *agent)
{
    (void)agent;
    bk_canned_handle(server, request);
}

/* ---- routing ------------------------------------------------------------------------- */

void bk_api_handle(bk_http *request, void *data)
{
    bk_server *server = data;
    const char *method = bk_http_method(request);
    const char *path = bk_http_path(request);
    bk_metrics_now.http_requests++;
    if (strcmp(path, "/healthz") == 0 && strcmp(method, "GET") == 0) {
        bk_monitoring_health(server, request);
    } else if (strcmp(path, "/metrics") == 0 && strcmp(method, "GET") == 0) {
        bk_monitoring_metrics(server, request);
    } else if (strcmp(path, "/api/login") == 0) {
        if (strcmp(method, "POST") != 0)
            bk_api_respond_error(request, 405, BK_ERR_BAD_REQUEST, "use POST");
        else if (!own_origin(request))
            bk_api_respond_error(request, 403, BK_ERR_FORBIDDEN, "log in from Beckon's own pages");
        else
            bk_accounts_login(server->api->accounts, request);
    } else if (strcmp(path, "/api/events") == 0) {
        if (strcmp(method, "POST") == 0)
            bk_beacon_handle(server, request);
        else
            bk_api_respond_error(request, 405, BK_ERR_BAD_REQUEST, "use POST");
    } else if (strcmp(path, "/api/agents") == 0 || strncmp(path, "/api/agents/", 12) == 0) {
        authorize(server, request, ROLE_ADMIN, accounts_route);
    } else if (strcmp(path, "/api/sites") == 0 || strncmp(path, "/api/sites/", 11) == 0) {
        authorize(server, request, ROLE_ADMIN, sites_route);
    } else if (strncmp(path, "/api/visitors/", 14) == 0) {
        authorize(server, request, ROLE_ADMIN, privacy_route);
    } else if (strcmp(path, "/api/canned") == 0 || strncmp(path, "/api/canned/", 12) == 0) {
        authorize(server, request, ROLE_AGENT | ROLE_MARKETER | ROLE_ADMIN, canned_route);
    } else if (strcmp(path, "/api/rules") == 0 || strncmp(path, "/api/rules/", 11) == 0 ||
               strcmp(path, "/api/stats/rules") == 0) {
        authorize(server, request, ROLE_MARKETER | ROLE_ADMIN, rules_route);
    } else if (strcmp(path, "/api/stats/service") == 0 || strcmp(path, "/api/stats/service.csv") == 0) {
        authorize(server, request, ROLE_AGENT | ROLE_MARKETER | ROLE_ADMIN, service_route);
    } else {
        bk_api_respond_error(request, 404, BK_ERR_NOT_FOUND, "no such route");
    }
}

bk_api *bk_api_new(bk_server *server)
{
    bk_api *api = calloc(1, sizeof *api);
    if (!api)
        return NULL;
    api->server = server;
    api->authorize_script = bk_store_script_add(server->store, BK_LUA(BK_LUA_AUTHORIZE));
    api->rules = bk_rules_api_new(server);
    api->accounts = bk_accounts_new(server);
    api->privacy = bk_privacy_new(server);
    api->sites = bk_sites_new(server);
    api->service = bk_service_api_new(server);
    api->webhook = bk_webhook_api_new(server);
    return api;
}

void bk_api_shutdown(bk_api *api)
{
    bk_rules_api_shutdown(api->rules);
}

void bk_api_free(bk_api *api)
{
    if (!api)
        return;
    bk_rules_api_free(api->rules);
    bk_accounts_free(api->accounts);
    bk_privacy_free(api->privacy);
    bk_sites_free(api->sites);
    bk_service_api_free(api->service);
    bk_webhook_api_free(api->webhook);
    free(api);
}
