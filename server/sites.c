/* sites.c - site settings over REST and from the shell, and origin normalisation. */
#include "sites.h"

#include "agent_cli.h"
#include "api.h"
#include "ids.h"
#include "log.h"
#include "scripts.h"

#include <beckon/protocol.h>
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ORIGIN_MAX   256
#define ORIGINS_MAX  32

enum { SCRIPT_SAVE, SCRIPT_DELETE, SCRIPT_LIST, SCRIPT_COUNT };

struct bk_sites {
    bk_server *server;
    int scripts[SCRIPT_COUNT];
};

int bk_origin_normalize(const char *in, char *out, size_t out_size)
{
    size_t len = strlen(in);
    if (len == 0 || len >= ORIGIN_MAX || len >= out_size)
        return -1;
    for (size_t i = 0; i <= len; i++)
        out[i] = (char)tolower((unsigned char)in[i]);
    const char *host;
    if (strncmp(out, "https://", 8) == 0)
        host = out + 8;
    else if (strncmp(out, "http://", 7) == 0)
        host = out + 7;
    else
        return -1;
    const char *port = NULL;
    const char *end;
    if (host[0] == '[') {  /* [::1] */
        end = strchr(host, ']');
        if (!end || end == host + 1 || strspn(host + 1, "0123456789abcdef:") != (size_t)(end - host - 1))
            return -1;
        end++;
    } else {
        end = host + strspn(host, "abcdefghijklmnopqrstuvwxyz0123456789.-");
        if (end == host || end[-1] == '.' || end[-1] == '-' || host[0] == '.' || host[0] == '-' ||
            strstr(host, ".."))
            return -1;
    }
    if (*end == ':') {
        port = end + 1;
        size_t digits = strspn(port, "0123456789");
        if (digits == 0 || digits > 5 || port[digits] != '\0' || atoi(port) == 0 || atoi(port) > 65535)
            return -1;
        return 0;
    }
    return *end == '\0' ? 0 : -1;
}

int bk_origin_is_own(const char *origin, const char *host)
{
    if (!origin[0])
        return 1;
    const char *rest = strncmp(origin, "https://", 8) == 0 ? origin + 8
                     : strncmp(origin, "http://", 7) == 0 ? origin + 7 : NULL;
    return rest && host[0] && strcasecmp(rest, host) == 0;
}

/* ---- REST --------------------------------------------------------------------------- */

static void on_listed(redisReply *reply, void *data)
{
    bk_http *request = data;
    json_t *list = reply && reply->type == REDIS_REPLY_STRING ? json_loadb(reply->str, reply->len, 0, NULL) : NULL;
    if (!list) {
        bk_api_respond_error(request, 503, BK_ERR_UNAVAILABLE, "storage is unavailable; try again");
        return;
    }
    /* Lua's cjson writes an empty list as {}: give it back as the array it is. */
    size_t i;
    json_t *site;
    json_array_foreach(list, i, site)
        if (!json_is_array(json_object_get(site, "origins")))
            json_object_set_new(site, "origins", json_array());
    bk_api_respond_json(request, 200, json_pack("{s:o}", "sites", list));
}

static void on_changed(redisReply *reply, void *data)
{
    bk_http *request = data;
    if (reply && reply->type == REDIS_REPLY_INTEGER)
        bk_api_respond_json(request, 200, json_pack("{s:b}", "ok", 1));
    else if (reply && reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "not_found ", 10) == 0)
        bk_api_respond_error(request, 404, BK_ERR_NOT_FOUND, reply->str + 10);
    else
        bk_api_respond_error(request, 503, BK_ERR_UNAVAILABLE, "storage is unavailable; try again");
}

/* Checks a site's settings object into the save script's arguments. Returns NULL or the
 * problem. origins_json is malloc'd into *origins_out. */
static const char *settings_check(json_t *body, char **origins_out, char secret[65], char *enforce,
                                  char *consent, char retention[12])
{
    json_t *origins = json_object_get(body, "origins");
    json_t *secret_value = json_object_get(body, "identity_secret");
    json_t *enforce_value = json_object_get(body, "enforce_identity");
    json_t *consent_value = json_object_get(body, "consent_required");
    json_t *retention_value = json_object_get(body, "retention_days");
    *origins_out = NULL;
    if (origins) {
        if (!json_is_array(origins) || json_array_size(origins) > ORIGINS_MAX)
            return "origins: expected an array of at most 32 origins";
        json_t *normalized = json_array();
        size_t i;
        json_t *origin;
        json_array_foreach(origins, i, origin) {
            char out[ORIGIN_MAX];
            if (!json_is_string(origin) || bk_origin_normalize(json_string_value(origin), out, sizeof out) != 0) {
                json_decref(normalized);
                return "origins: each must be scheme://host[:port], e.g. https://shop.example";
            }
            json_array_append_new(normalized, json_string(out));
        }
        *origins_out = json_dumps(normalized, JSON_COMPACT);
        json_decref(normalized);
    }
    if (secret_value && (!json_is_string(secret_value) || strlen(json_string_value(secret_value)) < 16 ||
                         strlen(json_string_value(secret_value)) > 64))
        return "identity_secret: 16 to 64 characters";
    snprintf(secret, 65, "%s", secret_value ? json_string_value(secret_value) : "");
    if (enforce_value && !json_is_boolean(enforce_value))
        return "enforce_identity: true or false";
    *enforce = enforce_value ? (json_is_true(enforce_value) ? '1' : '0') : '\0';
    if (consent_value && !json_is_boolean(consent_value))
        return "consent_required: true or false";
    *consent = consent_value ? (json_is_true(consent_value) ? '1' : '0') : '\0';
    if (retention_value && (!json_is_integer(retention_value) || json_integer_value(retention_value) < 1 ||
                            json_integer_value(retention_value) > 3650))
        return "retention_days: 1 to 3650";
    if (retention_value)
        snprintf(retention, 12, "%lld", (long long)json_integer_value(retention_value));
    else
        retention[0] = '\0';
    return NULL;
}

void bk_sites_handle(bk_sites *sites, bk_http *request)
{
    bk_server *server = sites->server;
    const char *method = bk_http_method(request);
    const char *path = bk_http_path(request);
    const char *prefix = server->config->prefix;
    if (strcmp(path, "/api/sites") == 0) {
        const char *argv[] = { prefix };
        if (strcmp(method, "GET") != 0)
            bk_api_respond_error(request, 405, BK_ERR_BAD_REQUEST, "use GET, or PUT /api/sites/{id}");
        else if (bk_store_script(server->store, sites->scripts[SCRIPT_LIST], on_listed, request, 0, 1, argv, NULL))
            bk_api_respond_error(request, 503, BK_ERR_UNAVAILABLE, "storage is unavailable; try again");
        return;
    }
    const char *id = path + strlen("/api/sites/");
    if (!bk_id_valid(id)) {
        bk_api_respond_error(request, 404, BK_ERR_NOT_FOUND, "site ids are [A-Za-z0-9_-]{1,64}");
        return;
    }
    if (strcmp(method, "DELETE") == 0) {
        const char *argv[] = { prefix, id };
        if (bk_store_script(server->store, sites->scripts[SCRIPT_DELETE], on_changed, request, 0, 2, argv, NULL))
            bk_api_respond_error(request, 503, BK_ERR_UNAVAILABLE, "storage is unavailable; try again");
        return;
    }
    if (strcmp(method, "PUT") != 0) {
        bk_api_respond_error(request, 405, BK_ERR_BAD_REQUEST, "use PUT or DELETE");
        return;
    }
    size_t len;
    const char *text = bk_http_body(request, &len);
    json_t *body = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    char *origins = NULL, secret[65], enforce, consent, retention[12];
    const char *problem = json_is_object(body) ? settings_check(body, &origins, secret, &enforce, &consent, retention)
                                               : "expected a JSON object";
    json_decref(body);
    if (problem) {
        free(origins);
        bk_api_respond_error(request, 400, BK_ERR_BAD_REQUEST, problem);
        return;
    }
    char enforce_text[2] = { enforce, 0 }, consent_text[2] = { consent, 0 };
    const char *argv[] = { prefix, id, origins ? origins : "", secret, enforce_text, consent_text, retention };
    if (bk_store_script(server->store, sites->scripts[SCRIPT_SAVE], on_changed, request, 0, 7, argv, NULL))
        bk_api_respond_error(request, 503, BK_ERR_UNAVAILABLE, "storage is unavailable; try again");
    else
        bk_info("site %s saved", id);
    free(origins);
}

bk_sites *bk_sites_new(bk_server *server)
{
    bk_sites *sites = calloc(1, sizeof *sites);
    if (!sites)
        return NULL;
    sites->server = server;
    sites->scripts[SCRIPT_SAVE] = bk_store_script_add(server->store, BK_LUA(BK_LUA_SITE_SAVE));
    sites->scripts[SCRIPT_DELETE] = bk_store_script_add(server->store, BK_LUA(BK_LUA_SITE_DELETE));
    sites->scripts[SCRIPT_LIST] = bk_store_script_add(server->store, BK_LUA(BK_LUA_SITES_LIST));
    return sites;
}

void bk_sites_free(bk_sites *sites)
{
    free(sites);
}

/* ---- the shell ---------------------------------------------------------------------- */

static int site_usage(void)
{
    fprintf(stderr, "usage: beckon site add ID ORIGIN... | site list | site remove ID |\n"
                    "       beckon site set ID origins|identity-secret|enforce-identity|consent|retention-days VALUE\n");
    return 2;
}

static int site_command(redisContext *c, const bk_config *config, int argc, char **argv)
{
    const char *prefix = config->prefix;
    const char *verb = argc > 1 ? argv[1] : "";
    if (strcmp(verb, "list") == 0 && argc == 2) {
        const char *args[] = { prefix };
        redisReply *r = bk_cli_script(c, BK_LUA(BK_LUA_SITES_LIST), 1, args);
        json_t *list = r && r->type == REDIS_REPLY_STRING ? json_loads(r->str, 0, NULL) : NULL;
        freeReplyObject(r);
        size_t i;
        json_t *site;
        json_array_foreach(list, i, site) {
            char *origins = json_dumps(json_object_get(site, "origins"), JSON_COMPACT);
            printf("%s\torigins=%s identity=%s%s consent=%s retention-days=%lld\n",
                   json_string_value(json_object_get(site, "id")), origins ? origins : "[]",
                   json_is_true(json_object_get(site, "identity_secret_set")) ? "secret set" : "no secret",
                   json_is_true(json_object_get(site, "enforce_identity")) ? ", enforced" : "",
                   json_is_true(json_object_get(site, "consent_required")) ? "required" : "optional",
                   (long long)json_integer_value(json_object_get(site, "retention_days")));
            free(origins);
        }
        json_decref(list);
        return 0;
    }
    if (argc < 3 || !bk_id_valid(argv[2]))
        return site_usage();
    const char *id = argv[2];
    const char *origins = "", *secret = "", *enforce = "", *consent = "", *retention = "";
    char *origins_json = NULL;
    char generated[65];
    if (strcmp(verb, "remove") == 0 && argc == 3) {
        const char *args[] = { prefix, id };
        redisReply *r = bk_cli_script(c, BK_LUA(BK_LUA_SITE_DELETE), 2, args);
        int failed = !r || r->type == REDIS_REPLY_ERROR;
        if (failed)
            fprintf(stderr, "beckon: no site named %s\n", id);
        else
            printf("removed site %s\n", id);
        freeReplyObject(r);
        return failed;
    }
    json_t *list = json_array();
    int first_origin = 0;
    if (strcmp(verb, "add") == 0 && argc >= 4)
        first_origin = 3;
    else if (strcmp(verb, "set") == 0 && argc == 5 && strcmp(argv[3], "origins") == 0)
        first_origin = 4;
    if (first_origin) {
        for (int i = first_origin; i < argc; i++) {
            /* "set ID origins a,b" and "add ID a b" both work */
            char *copy = strdup(argv[i]);
            for (char *part = strtok(copy, ", "); part; part = strtok(NULL, ", ")) {
                char out[ORIGIN_MAX];
                if (bk_origin_normalize(part, out, sizeof out) != 0) {
                    fprintf(stderr, "beckon: '%s' is not an origin like https://shop.example\n", part);
                    free(copy);
                    json_decref(list);
                    return 2;
                }
                json_array_append_new(list, json_string(out));
            }
            free(copy);
        }
        origins = origins_json = json_dumps(list, JSON_COMPACT);
    } else if (strcmp(verb, "set") == 0 && argc == 5) {
        const char *key = argv[3], *value = argv[4];
        if (strcmp(key, "identity-secret") == 0) {
            if (strcmp(value, "generate") == 0) {
                uint8_t raw[32];
                bk_random_bytes(raw, sizeof raw);
                bk_hex_encode(raw, sizeof raw, generated);
                value = generated;
                printf("identity secret of %s: %s\n", id, generated);
            }
            if (strlen(value) < 16 || strlen(value) > 64) {
                fprintf(stderr, "beckon: an identity secret has 16 to 64 characters (or say 'generate')\n");
                json_decref(list);
                return 2;
            }
            secret = value;
        } else if (strcmp(key, "enforce-identity") == 0 || strcmp(key, "consent") == 0) {
            int on = strcmp(value, "on") == 0 || strcmp(value, "required") == 0;
            int off = strcmp(value, "off") == 0 || strcmp(value, "optional") == 0;
            if (!on && !off) {
                json_decref(list);
                return site_usage();
            }
            *(strcmp(key, "consent") == 0 ? &consent : &enforce) = on ? "1" : "0";
        } else if (strcmp(key, "retention-days") == 0) {
            if (atoi(value) < 1 || atoi(value) > 3650) {
                fprintf(stderr, "beckon: retention-days is 1 to 3650\n");
                json_decref(list);
                return 2;
            }
            retention = value;
        } else {
            json_decref(list);
            return site_usage();
        }
    } else {
        json_decref(list);
        return site_usage();
    }
    json_decref(list);
    const char *args[] = { prefix, id, origins, secret, enforce, consent, retention };
    redisReply *r = bk_cli_script(c, BK_LUA(BK_LUA_SITE_SAVE), 7, args);
    int failed = !r || r->type == REDIS_REPLY_ERROR;
    if (failed)
        fprintf(stderr, "beckon: redis refused: %s\n", r ? r->str : "no reply");
    else
        printf("saved site %s\n", id);
    freeReplyObject(r);
    free(origins_json);
    return failed;
}

int bk_site_cli(const bk_config *config, int argc, char **argv)
{
    return bk_cli_run(config, argc, argv, site_command);
}
