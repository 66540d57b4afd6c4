/* router.c - the table of REST routes with the roles each allows, and the one authorization.
 *
 * A route is found by its path and method; routes that need a login are authorized here (own
 * origin, then the session script), and only then does the handler run, with the login name.
 * Handlers live one group a file (accounts.c, sites.c, ...) and answer through reply.h. */
#include "http/router.h"

#include "http/accounts.h"
#include "http/beacon.h"
#include "http/canned.h"
#include "http/files.h"
#include "http/help_api.h"
#include "http/monitoring.h"
#include "http/privacy.h"
#include "http/reply.h"
#include "http/request.h"
#include "http/rules_api.h"
#include "http/flows_api.h"
#include "http/rules_dry_run.h"
#include "http/rules_stats.h"
#include "http/service_api.h"
#include "http/sites.h"
#include "http/webhook_api.h"
#include "http/teams_api.h"

#include "base/keys.h"
#include "base/auth.h"
#include "base/metrics.h"
#include "lua/embedded.h"
#include "sites/origin.h"
#include "store/redis_reply.h"
#include "store/redis_shapes.h"

#include <beckon/protocol.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct bk_router {
    bk_server *server;
    int authorize_script;
    bk_accounts *accounts;
    bk_privacy *privacy;
    bk_rules_api *rules;
    bk_flows_api *flows;
    bk_rules_dry_run *rules_dry_run;
    bk_rules_stats *rules_stats;
    bk_service_api *service;
    bk_sites *sites;
    bk_webhook_api *webhook;
    bk_teams_api *teams;
    bk_files_api *files;
    bk_help_api *help;
};

/* ---- the handlers, as the table calls them ------------------------------------------------ */

/* who: the login name on routes that need one, NULL on public routes (and for a visitor on a
 * route that takes visitors too). */
typedef void (*route_fn)(bk_router *router, bk_http *request, const char *who);
/* The same for a route that needs the login's role too. */
typedef void (*route_role_fn)(bk_router *router, bk_http *request, const char *who, int role);

/* Agent, marketer and admin routes are for Beckon's own pages (and for scripts, which send no
 * Origin): a browser page elsewhere is refused even before its token is looked at. */
static int own_origin(bk_http *request)
{
    return bk_origin_is_own(bk_http_header(request, "origin"), bk_http_header(request, "host"));
}

static void health(bk_router *router, bk_http *request, const char *who)
{
    (void)who;
    bk_monitoring_health(router->server, request);
}

static void metrics(bk_router *router, bk_http *request, const char *who)
{
    (void)who;
    bk_monitoring_metrics(router->server, request);
}

static void login(bk_router *router, bk_http *request, const char *who)
{
    (void)who;
    if (!own_origin(request))
        bk_api_reply_error(request, 403, BK_ERR_FORBIDDEN, "log in from Beckon's own pages");
    else
        bk_accounts_login(router->accounts, request);
}

static void beacon(bk_router *router, bk_http *request, const char *who)
{
    (void)who;
    bk_beacon_handle(router->server, request);
}

static void accounts(bk_router *router, bk_http *request, const char *who)
{
    (void)who;
    bk_accounts_handle(router->accounts, request);
}

static void sites(bk_router *router, bk_http *request, const char *who)
{
    (void)who;
    bk_sites_handle(router->sites, request);
}

/* /api/sites/{id}/webhook and /api/sites/{id}/webhook/test */
static void webhook(bk_router *router, bk_http *request, const char *who)
{
    (void)who;
    char site[BK_ID_MAX + 1];
    const char *rest;
    if (bk_api_request_id(request, strlen("/api/sites/"), site, &rest) != 0)
        bk_api_reply_error(request, 404, BK_ERR_NOT_FOUND, "site ids are [A-Za-z0-9_-]{1,64}");
    else
        bk_webhook_api_handle(router->webhook, request, site, rest + strlen("/webhook"));
}

/* /api/sites/{id}/teams and /api/sites/{id}/teams/{name} */
static void teams(bk_router *router, bk_http *request, const char *who)
{
    (void)who;
    char site[BK_ID_MAX + 1];
    const char *rest;
    if (bk_api_request_id(request, strlen("/api/sites/"), site, &rest) != 0)
        bk_api_reply_error(request, 404, BK_ERR_NOT_FOUND, "site ids are [A-Za-z0-9_-]{1,64}");
    else
        bk_teams_api_handle(router->teams, request, site, rest + strlen("/teams"));
}

static void privacy(bk_router *router, bk_http *request, const char *who)
{
    bk_privacy_handle(router->privacy, request, who);
}

static void canned(bk_router *router, bk_http *request, const char *who)
{
    (void)who;
    bk_canned_handle(router->server, request);
}

static void rules(bk_router *router, bk_http *request, const char *who)
{
    bk_rules_api_handle(router->rules, request, who);
}

static void flows(bk_router *router, bk_http *request, const char *who)
{
    bk_flows_api_handle(router->flows, request, who);
}

static void help_articles(bk_router *router, bk_http *request, const char *who)
{
    bk_help_api_handle(router->help, request, who);
}

static void help_stats(bk_router *router, bk_http *request, const char *who)
{
    (void)who;
    bk_help_api_stats(router->help, request);
}

static void rules_dry_run(bk_router *router, bk_http *request, const char *who)
{
    (void)who;
    bk_rules_dry_run_handle(router->rules_dry_run, request);
}

static void rules_stats(bk_router *router, bk_http *request, const char *who)
{
    (void)who;
    bk_rules_stats_handle(router->rules_stats, request);
}

static void service_stats(bk_router *router, bk_http *request, const char *who)
{
    (void)who;
    bk_service_api_handle(router->service, request);
}

static void file_upload(bk_router *router, bk_http *request, const char *who, int role);

static void file_serve(bk_router *router, bk_http *request, const char *who)
{
    (void)who;
    bk_files_serve(router->files, request);
}

/* ---- the table ---------------------------------------------------------------------------- */

/* VISITOR: the route takes "Authorization: Visitor TOKEN" too; it checks the token (and the
 * visitor's Origin against its site) itself, and runs with who NULL. */
enum { PUBLIC = 0, AGENT = 1, MARKETER = 2, ADMIN = 4, ANYONE_LOGGED_IN = AGENT | MARKETER | ADMIN, VISITOR = 8 };

/* path: exact, but "{id}" is any one segment and a trailing "/..." the path itself or anything
 * below it. method: NULL when the handler takes several and checks them itself. The first
 * route whose path and method match is taken; a path that matches with another method only is
 * answered 405 "use METHOD" (after authorization, like the route would be). */
typedef struct route {
    const char *path;
    const char *method;
    int roles;
    route_fn handler;
    route_role_fn role_handler;  /* instead of handler, for a route that needs the role */
    uint64_t spool;              /* a body streamed to a file, at most this many bytes (net.h) */
} route;

static const route routes[] = {
    { "/healthz",                     "GET",   PUBLIC,            health, NULL, 0 },
    { "/metrics",                     "GET",   PUBLIC,            metrics, NULL, 0 },
    { "/api/login",                   "POST",  PUBLIC,            login, NULL, 0 },
    { "/api/events",                  "POST",  PUBLIC,            beacon, NULL, 0 },
    { "/api/agents/...",              NULL,    ADMIN,             accounts, NULL, 0 },
    { "/api/sites/{id}/webhook/...",  NULL,    ADMIN,             webhook, NULL, 0 },
    { "/api/sites/{id}/teams/...",    NULL,    ADMIN,             teams, NULL, 0 },
    { "/api/sites/...",               NULL,    ADMIN,             sites, NULL, 0 },
    { "/api/visitors/...",            NULL,    ADMIN,             privacy, NULL, 0 },
    { "/api/canned/...",              NULL,    ANYONE_LOGGED_IN,  canned, NULL, 0 },
    { "/api/rules/test",              "POST",  MARKETER | ADMIN,  rules_dry_run, NULL, 0 },
    { "/api/rules/...",               NULL,    MARKETER | ADMIN,  rules, NULL, 0 },
    { "/api/flows/...",               NULL,    MARKETER | ADMIN,  flows, NULL, 0 },
    { "/api/stats/rules",             "GET",   MARKETER | ADMIN,  rules_stats, NULL, 0 },
    { "/api/help/...",                NULL,    MARKETER | ADMIN,  help_articles, NULL, 0 },
    { "/api/stats/help",              "GET",   ANYONE_LOGGED_IN,  help_stats, NULL, 0 },
    { "/api/stats/help.csv",          "GET",   ANYONE_LOGGED_IN,  help_stats, NULL, 0 },
    { "/api/stats/service",           "GET",   ANYONE_LOGGED_IN,  service_stats, NULL, 0 },
    { "/api/stats/service.csv",       "GET",   ANYONE_LOGGED_IN,  service_stats, NULL, 0 },
    { "/api/files",                   "POST",  ANYONE_LOGGED_IN | VISITOR, NULL, file_upload, BK_FILES_CEILING_BYTES },
    { "/files/...",                   "GET",   PUBLIC,            file_serve, NULL, 0 },
};

static void file_upload(bk_router *router, bk_http *request, const char *who, int role)
{
    bk_files_upload(router->files, request, who, role == ADMIN);
}

static int path_matches(const char *pattern, const char *path)
{
    for (;;) {
        if (strcmp(pattern, "/...") == 0)
            return *path == '\0' || *path == '/';
        if (*pattern == '{') {
            size_t segment = strcspn(path, "/");
            if (segment == 0)
                return 0;
            pattern += strcspn(pattern, "}") + 1;
            path += segment;
            continue;
        }
        if (*pattern != *path)
            return 0;
        if (!*pattern)
            return 1;
        pattern++;
        path++;
    }
}

/* ---- authorization ------------------------------------------------------------------------ */

typedef struct authorization {
    bk_router *router;
    bk_http *request;
    const route *route;
    int method_matches;
} authorization;

/* The route's handler, or 405 when only its path matched. */
static void route_run(bk_router *router, bk_http *request, const route *r, int method_matches, const char *who,
                      int role)
{
    if (method_matches) {
        if (r->role_handler)
            r->role_handler(router, request, who, role);
        else
            r->handler(router, request, who);
        return;
    }
    char message[32];
    snprintf(message, sizeof message, "use %s", r->method);
    bk_api_reply_error(request, 405, BK_ERR_BAD_REQUEST, message);
}

static int role_bit(const char *role)
{
    return strcmp(role, "admin") == 0 ? ADMIN : strcmp(role, "marketer") == 0 ? MARKETER : AGENT;
}

static void on_authorized(redisReply *reply, void *data)
{
    authorization *a = data;
    const char *agent, *role;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_AUTHORIZE, &agent, &role) == 0) {
        if (!(role_bit(role) & a->route->roles))
            bk_api_reply_error(a->request, 403, BK_ERR_FORBIDDEN, "your role may not do this");
        else
            route_run(a->router, a->request, a->route, a->method_matches, agent, role_bit(role));
    } else if (bk_redis_reply_refusal(reply, BK_ERR_UNAUTHORIZED)) {
        bk_api_reply_error(a->request, 401, BK_ERR_UNAUTHORIZED, "log in again: the session is unknown or expired");
    } else {
        /* No reply, Redis's own error (LOADING, BUSY, NOSCRIPT, ...) or an odd one: the session
         * may be fine, so no 401 - a client signs out on that. */
        bk_api_reply_store_error(a->request, reply, NULL, BK_STORAGE_READ);
    }
    free(a);
}

/* A visitor route is called by the widget from the site's pages, another origin than ours, with
 * the visitor's token in Authorization: the browser lets the page read the answer only if we
 * name its origin, and sends such a request only after a preflight (OPTIONS). Any well-formed
 * origin is named: the token is what authorizes, and the route checks the visitor's Origin
 * against its site itself; cookies are never allowed along. */
static void cors_allow(bk_http *request, const char *methods)
{
    char origin[BK_ORIGIN_MAX];
    if (bk_origin_normalize(bk_http_header(request, "origin"), origin, sizeof origin) == 0)
        bk_http_cors(request, origin, methods);
}

/* The preflight of a visitor route: 204 with what may follow, or 0 when path is no such route. */
static int preflight(bk_http *request, const char *path)
{
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if ((routes[i].roles & VISITOR) && routes[i].method && path_matches(routes[i].path, path)) {
            cors_allow(request, routes[i].method);
            bk_http_respond(request, 204, "text/plain", "", 0);
            return 1;
        }
    }
    return 0;
}

/* Runs the route once the request may: at once on a public route, else when the session
 * script has named a login whose role the route allows. */
static void authorize(bk_router *router, bk_http *request, const route *r, int method_matches)
{
    if (r->roles == PUBLIC) {
        route_run(router, request, r, method_matches, NULL, PUBLIC);
        return;
    }
    if ((r->roles & VISITOR) && strncmp(bk_http_header(request, "authorization"), "Visitor ", 8) == 0) {
        cors_allow(request, NULL);
        route_run(router, request, r, method_matches, NULL, VISITOR);
        return;
    }
    if (!own_origin(request)) {
        bk_api_reply_error(request, 403, BK_ERR_FORBIDDEN, "this route accepts only Beckon's own origin");
        return;
    }
    const char *header = bk_http_header(request, "authorization");
    const char *token = strncmp(header, "Bearer ", 7) == 0 ? header + 7 : "";
    if (strlen(token) != BK_SESSION_TOKEN_SIZE - 1 ||
        strspn(token, "0123456789abcdef") != BK_SESSION_TOKEN_SIZE - 1) {
        bk_api_reply_error(request, 401, BK_ERR_UNAUTHORIZED, "Authorization: Bearer TOKEN (from /api/login) required");
        return;
    }
    authorization *a = calloc(1, sizeof *a);
    if (!a) {
        bk_api_reply_error(request, 500, BK_ERR_INTERNAL, "out of memory");
        return;
    }
    *a = (authorization){ router, request, r, method_matches };
    char digest[BK_SESSION_TOKEN_SIZE];
    bk_session_token_digest(token, digest);
    char prefix[BK_KEYS_PREFIX_SIZE];
    bk_keys_global_prefix(router->server->config->prefix, prefix);
    const char *argv[] = { prefix, digest };
    if (bk_store_script(router->server->store, router->authorize_script, on_authorized, a, 0, 2, argv, NULL) != 0) {
        free(a);
        bk_api_reply_store_error(request, NULL, NULL, BK_STORAGE_READ);
    }
}

/* ---- routing ------------------------------------------------------------------------------ */

void bk_router_handle(bk_http *request, void *data)
{
    bk_server *server = data;
    bk_router *router = server->router;
    const char *method = bk_http_method(request);
    const char *path = bk_http_path(request);
    const route *other_method = NULL;
    bk_metrics_now.http_requests++;
    if (strcmp(method, "OPTIONS") == 0 && preflight(request, path))
        return;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        const route *r = &routes[i];
        if (!path_matches(r->path, path))
            continue;
        if (r->method && strcmp(r->method, method) != 0) {
            other_method = other_method ? other_method : r;
            continue;
        }
        authorize(router, request, r, 1);
        return;
    }
    if (other_method)
        authorize(router, request, other_method, 0);
    else
        bk_api_reply_error(request, 404, BK_ERR_NOT_FOUND, "no such route");
}

uint64_t bk_router_spool(const bk_http *request, void *data)
{
    (void)data;
    const char *path = bk_http_path(request), *method = bk_http_method(request);
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (routes[i].spool && path_matches(routes[i].path, path) && strcmp(routes[i].method, method) == 0)
            return routes[i].spool;
    return 0;
}

bk_router *bk_router_new(bk_server *server)
{
    bk_router *router = calloc(1, sizeof *router);
    if (!router)
        return NULL;
    router->server = server;
    router->authorize_script = bk_store_script_add(server->store, bk_lua_authorize);
    router->accounts = bk_accounts_new(server);
    router->privacy = bk_privacy_new(server);
    router->rules = bk_rules_api_new(server);
    router->flows = bk_flows_api_new(server);
    router->rules_dry_run = bk_rules_dry_run_new(server);
    router->rules_stats = bk_rules_stats_new(server);
    router->service = bk_service_api_new(server);
    router->sites = bk_sites_new(server);
    router->webhook = bk_webhook_api_new(server);
    router->teams = bk_teams_api_new(server);
    router->files = bk_files_api_new(server);
    router->help = bk_help_api_new(server);
    return router;
}

void bk_router_shutdown(bk_router *router)
{
    bk_rules_api_shutdown(router->rules);
    bk_files_api_shutdown(router->files);
}

void bk_router_free(bk_router *router)
{
    if (!router)
        return;
    bk_accounts_free(router->accounts);
    bk_privacy_free(router->privacy);
    bk_rules_api_free(router->rules);
    bk_flows_api_free(router->flows);
    bk_rules_dry_run_free(router->rules_dry_run);
    bk_rules_stats_free(router->rules_stats);
    bk_service_api_free(router->service);
    bk_sites_free(router->sites);
    bk_webhook_api_free(router->webhook);
    bk_teams_api_free(router->teams);
    bk_files_api_free(router->files);
    bk_help_api_free(router->help);
    free(router);
}
