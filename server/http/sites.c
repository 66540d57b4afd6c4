/* sites.c - site settings over REST and from the shell, and origin normalisation. */
#include "http/sites.h"

#include "cli/agent_cli.h"
#include "http/api.h"
#include "base/ids.h"
#include "base/log.h"
#include "base/map.h"
#include "store/redis_reply.h"
#include "store/redis_shapes.h"
#include "lua/embedded.h"
#include "transport/fetch.h"
#include "workers/webhooks.h"

#include <beckon/protocol.h>
#include <beckon/rules.h>
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ORIGIN_MAX   256
#define ORIGINS_MAX  32
#define SITE_FIELDS_MAX 32  /* every field a site has, with room to grow */

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
    const char *text;
    size_t len;
    json_t *list = bk_redis_reply_unpack(reply, BK_SHAPE_TEXT, &text, &len) == 0 ? json_loadb(text, len, 0, NULL)
                                                                                : NULL;
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
    long long changed;
    const char *missing;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_INTEGER, &changed) == 0)
        bk_api_respond_json(request, 200, json_pack("{s:b}", "ok", 1));
    else if ((missing = bk_redis_reply_refusal(reply, BK_ERR_NOT_FOUND)))
        bk_api_respond_error(request, 404, BK_ERR_NOT_FOUND, missing);
    else
        bk_api_respond_error(request, 503, BK_ERR_UNAVAILABLE, "storage is unavailable; try again");
}

/* The save script's (field, value) pairs, in order; values are copies. */
typedef struct site_fields {
    int count;
    const char *names[SITE_FIELDS_MAX];
    char *values[SITE_FIELDS_MAX];
    int overflow;
} site_fields;

static void fields_add(site_fields *fields, const char *name, const char *value)
{
    if (fields->count < SITE_FIELDS_MAX) {
        fields->names[fields->count] = name;
        fields->values[fields->count++] = strdup(value);
    } else {
        fields->overflow = 1;  /* a new field outgrew SITE_FIELDS_MAX: refuse, never drop */
    }
}

static void fields_close(site_fields *fields)
{
    for (int i = 0; i < fields->count; i++)
        free(fields->values[i]);
    fields->count = 0;
}

static const char *seconds_check(json_t *body, const char *name, site_fields *fields)
{
    json_t *value = json_object_get(body, name);
    if (!value)
        return NULL;
    if (json_is_null(value)) {
        fields_add(fields, name, "");  /* back to the server's default */
        return NULL;
    }
    if (!json_is_integer(value) || json_integer_value(value) < 1 || json_integer_value(value) > 86400)
        return "auto_ack_seconds and offer_email_seconds: 1 to 86400, or null for the server's default";
    char text[16];
    snprintf(text, sizeof text, "%lld", (long long)json_integer_value(value));
    fields_add(fields, name, text);
    return NULL;
}

/* abandoned_queued_minutes, idle_active_minutes: minutes, fractions allowed, 0 = never; null =
 * the server's abandoned-queued-minutes / idle-active-minutes. */
static const char *minutes_check(json_t *body, const char *name, site_fields *fields)
{
    json_t *value = json_object_get(body, name);
    if (!value)
        return NULL;
    if (json_is_null(value)) {
        fields_add(fields, name, "");
        return NULL;
    }
    if (!json_is_number(value) || json_number_value(value) < 0 || json_number_value(value) > 10080)
        return "abandoned_queued_minutes and idle_active_minutes: 0 (never) to 10080 minutes, fractions allowed, "
               "or null for the server's default";
    char text[32];
    snprintf(text, sizeof text, "%.6g", json_number_value(value));
    fields_add(fields, name, text);
    return NULL;
}

/* Opening hours and their zone come together, checked by the rule engine's own parser. */
static const char *hours_check(json_t *body, site_fields *fields, char *why, size_t why_size)
{
    json_t *hours = json_object_get(body, "hours");
    json_t *tz = json_object_get(body, "tz");
    if (!hours && !tz)
        return NULL;
    if (json_is_null(hours) || (json_is_string(hours) && !json_string_value(hours)[0])) {
        fields_add(fields, "hours", "");  /* open around the clock */
        fields_add(fields, "tz", "");
        return NULL;
    }
    if (!json_is_string(hours) || !json_is_string(tz))
        return "hours and tz: give both, e.g. \"mon-fri 09:00-17:00\" and \"Europe/Copenhagen\" (hours null: always open)";
    bk_opening_hours *compiled;
    bk_rules_error err;
    if (bk_opening_hours_new(json_string_value(hours), json_string_value(tz), &compiled, &err) != BK_RULES_OK) {
        snprintf(why, why_size, "%s: %s", err.path, err.message);
        return why;
    }
    bk_opening_hours_free(compiled);
    fields_add(fields, "hours", json_string_value(hours));
    fields_add(fields, "tz", json_string_value(tz));
    return NULL;
}

/* webhook_url: http(s) URL, or null or "" to remove the webhook (its undelivered events go);
 * webhook_secret: 16 to 128 characters; a URL given without one gets a generated secret unless
 * the site has one; webhook_events: names from bk_webhook_events, null or [] for all. */
static const char *webhook_check(json_t *body, site_fields *fields)
{
    json_t *url = json_object_get(body, "webhook_url");
    json_t *secret = json_object_get(body, "webhook_secret");
    json_t *events = json_object_get(body, "webhook_events");
    if (url && (json_is_null(url) || (json_is_string(url) && !json_string_value(url)[0]))) {
        fields_add(fields, "webhook_url", "");
    } else if (url) {
        bk_url parsed;
        if (!json_is_string(url) || strlen(json_string_value(url)) > 1000 ||
            bk_url_parse(json_string_value(url), &parsed) != 0)
            return "webhook_url: an http:// or https:// URL (no user info, no fragment), or null to remove it";
        fields_add(fields, "webhook_url", json_string_value(url));
        if (!secret) {
            uint8_t raw[24];
            char generated[49];
            bk_random_bytes(raw, sizeof raw);
            bk_hex_encode(raw, sizeof raw, generated);
            fields_add(fields, "webhook_secret?", generated);
        }
    }
    if (secret && (!json_is_string(secret) || strlen(json_string_value(secret)) < 16 ||
                   strlen(json_string_value(secret)) > 128))
        return "webhook_secret: 16 to 128 characters";
    if (secret)
        fields_add(fields, "webhook_secret", json_string_value(secret));
    if (events && !json_is_null(events) && !json_is_array(events))
        return "webhook_events: a list of event names, or null for all";
    if (events) {
        char list[256] = "";
        size_t i;
        json_t *name;
        json_array_foreach(events, i, name) {
            int known = 0;
            for (const char *const *e = bk_webhook_events; *e && json_is_string(name); e++)
                known |= strcmp(*e, json_string_value(name)) == 0;
            if (!known)
                return "webhook_events: each one of conversation.started, message, conversation.closed, "
                       "conversation.rated, message.left, invitation.accepted";
            size_t used = strlen(list);
            snprintf(list + used, sizeof list - used, "%s%s", used ? "," : "", json_string_value(name));
        }
        fields_add(fields, "webhook_events", list);
    }
    return NULL;
}

/* Checks a site's settings object into the save script's (field, value) pairs. Returns NULL
 * or the problem (possibly written into why). */
static const char *settings_check(json_t *body, site_fields *fields, char *why, size_t why_size)
{
    json_t *origins = json_object_get(body, "origins");
    json_t *secret_value = json_object_get(body, "identity_secret");
    json_t *enforce_value = json_object_get(body, "enforce_identity");
    json_t *consent_value = json_object_get(body, "consent_required");
    json_t *retention_value = json_object_get(body, "retention_days");
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
        char *text = json_dumps(normalized, JSON_COMPACT);
        json_decref(normalized);
        if (!text)
            return "out of memory";
        fields_add(fields, "origins", text);
        free(text);
    }
    if (secret_value && (!json_is_string(secret_value) || strlen(json_string_value(secret_value)) < 16 ||
                         strlen(json_string_value(secret_value)) > 64))
        return "identity_secret: 16 to 64 characters";
    if (secret_value)
        fields_add(fields, "identity_secret", json_string_value(secret_value));
    if (enforce_value && !json_is_boolean(enforce_value))
        return "enforce_identity: true or false";
    if (enforce_value)
        fields_add(fields, "enforce_identity", json_is_true(enforce_value) ? "1" : "0");
    if (consent_value && !json_is_boolean(consent_value))
        return "consent_required: true or false";
    if (consent_value)
        fields_add(fields, "consent_required", json_is_true(consent_value) ? "1" : "0");
    if (retention_value && (!json_is_integer(retention_value) || json_integer_value(retention_value) < 1 ||
                            json_integer_value(retention_value) > 3650))
        return "retention_days: 1 to 3650";
    if (retention_value) {
        char text[16];
        snprintf(text, sizeof text, "%lld", (long long)json_integer_value(retention_value));
        fields_add(fields, "retention_days", text);
    }
    const char *problem = hours_check(body, fields, why, why_size);
    if (!problem)
        problem = seconds_check(body, "auto_ack_seconds", fields);
    if (!problem)
        problem = seconds_check(body, "offer_email_seconds", fields);
    if (!problem)
        problem = minutes_check(body, "abandoned_queued_minutes", fields);
    if (!problem)
        problem = minutes_check(body, "idle_active_minutes", fields);
    if (!problem)
        problem = webhook_check(body, fields);
    return problem;
}

/* The secret a save generated for a new webhook ("webhook_secret?", set only when the site
 * has none), or NULL. */
static const char *generated_webhook_secret(const site_fields *fields)
{
    for (int i = 0; i < fields->count; i++)
        if (strcmp(fields->names[i], "webhook_secret?") == 0)
            return fields->values[i];
    return NULL;
}

typedef struct webhook_saved {
    bk_http *request;
    char secret[65];
} webhook_saved;

/* The save script answers 2 when the generated secret was stored: it is shown this once. */
static void on_saved_with_secret(redisReply *reply, void *data)
{
    webhook_saved *saved = data;
    long long changed;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_INTEGER, &changed) == 0 && changed == 2)
        bk_api_respond_json(saved->request, 200, json_pack("{s:b, s:s}", "ok", 1, "webhook_secret", saved->secret));
    else
        on_changed(reply, saved->request);
    free(saved);
}

/* Runs the save script with prefix, id and the pairs. */
static int fields_save(bk_sites *sites, const char *id, site_fields *fields, bk_store_reply_fn fn, void *data)
{
    const char *argv[2 + 2 * SITE_FIELDS_MAX];
    int argc = 0;
    if (fields->overflow)
        return -1;
    argv[argc++] = sites->server->config->prefix;
    argv[argc++] = id;
    for (int i = 0; i < fields->count; i++) {
        argv[argc++] = fields->names[i];
        argv[argc++] = fields->values[i];
    }
    return bk_store_script(sites->server->store, sites->scripts[SCRIPT_SAVE], fn, data, 0, argc, argv, NULL);
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
    site_fields fields = { 0 };
    char why[BK_RULES_PATH_MAX + BK_RULES_MESSAGE_MAX + 4];
    const char *problem = json_is_object(body) ? settings_check(body, &fields, why, sizeof why)
                                               : "expected a JSON object";
    json_decref(body);
    const char *generated = problem ? NULL : generated_webhook_secret(&fields);
    webhook_saved *saved = generated ? calloc(1, sizeof *saved) : NULL;
    if (saved) {
        saved->request = request;
        snprintf(saved->secret, sizeof saved->secret, "%s", generated);
    }
    if (problem)
        bk_api_respond_error(request, 400, BK_ERR_BAD_REQUEST, problem);
    else if (saved ? fields_save(sites, id, &fields, on_saved_with_secret, saved) != 0
                   : fields_save(sites, id, &fields, on_changed, request) != 0) {
        free(saved);
        bk_api_respond_error(request, 503, BK_ERR_UNAVAILABLE, "storage is unavailable; try again");
    } else {
        bk_info("site %s saved", id);
    }
    fields_close(&fields);
}

bk_sites *bk_sites_new(bk_server *server)
{
    bk_sites *sites = calloc(1, sizeof *sites);
    if (!sites)
        return NULL;
    sites->server = server;
    sites->scripts[SCRIPT_SAVE] = bk_store_script_add(server->store, bk_lua_site_save);
    sites->scripts[SCRIPT_DELETE] = bk_store_script_add(server->store, bk_lua_site_delete);
    sites->scripts[SCRIPT_LIST] = bk_store_script_add(server->store, bk_lua_sites_list);
    return sites;
}

void bk_sites_free(bk_sites *sites)
{
    free(sites);
}

/* ---- opening hours ------------------------------------------------------------------ */

typedef struct hours_entry {
    char *hours, *tz;
    bk_opening_hours *compiled;
} hours_entry;

struct bk_site_hours {
    bk_map *sites;  /* site id -> hours_entry */
};

bk_site_hours *bk_site_hours_new(void)
{
    bk_site_hours *cache = calloc(1, sizeof *cache);
    if (cache && !(cache->sites = bk_map_new())) {
        free(cache);
        return NULL;
    }
    return cache;
}

static void hours_entry_free(hours_entry *entry)
{
    if (!entry)
        return;
    bk_opening_hours_free(entry->compiled);
    free(entry->hours);
    free(entry->tz);
    free(entry);
}

static void hours_entry_free_each(const char *key, void *value, void *data)
{
    (void)key, (void)data;
    hours_entry_free(value);
}

void bk_site_hours_free(bk_site_hours *cache)
{
    if (!cache)
        return;
    bk_map_each(cache->sites, hours_entry_free_each, NULL);
    bk_map_free(cache->sites);
    free(cache);
}

static json_t *instant_or_null(int64_t ms)
{
    return ms == INT64_MAX ? json_null() : json_integer(ms);
}

/* The site's entry for these hours, compiled once; NULL (and no entry) when it keeps none. */
static hours_entry *hours_update(bk_site_hours *cache, const char *site, const char *hours, const char *tz)
{
    if (!cache || !site || !site[0])
        return NULL;
    if (!hours || !hours[0] || !tz || !tz[0]) {
        hours_entry_free(bk_map_remove(cache->sites, site));
        return NULL;
    }
    hours_entry *entry = bk_map_get(cache->sites, site);
    if (!entry || strcmp(entry->hours, hours) != 0 || strcmp(entry->tz, tz) != 0) {
        hours_entry_free(bk_map_remove(cache->sites, site));
        entry = calloc(1, sizeof *entry);
        if (!entry)
            return NULL;
        entry->hours = strdup(hours);
        entry->tz = strdup(tz);
        bk_rules_error err;
        /* Saved hours were checked; a zone file that vanished since reads as "always open". */
        if (bk_opening_hours_new(hours, tz, &entry->compiled, &err) != BK_RULES_OK)
            bk_warn("site %s: opening hours no longer compile (%s: %s)", site, err.path, err.message);
        if (!entry->hours || !entry->tz || bk_map_set(cache->sites, site, entry) != 0) {
            hours_entry_free(entry);
            return NULL;
        }
    }
    return entry;
}

json_t *bk_site_hours_state(bk_site_hours *cache, const char *site, const char *hours, const char *tz,
                            int64_t now_ms)
{
    hours_entry *entry = hours_update(cache, site, hours, tz);
    if (!entry || !entry->compiled)
        return NULL;
    bool open = bk_opening_hours_open(entry->compiled, now_ms);
    int64_t change = open ? bk_opening_hours_next_closing(entry->compiled, now_ms)
                          : bk_opening_hours_next_opening(entry->compiled, now_ms);
    /* changes_in_ms: from the server's clock, so a visitor's wrong clock cannot move it */
    return json_pack("{s:b, s:o, s:o, s:o, s:s}", "open", open,
                     "opens_at", open ? json_null() : instant_or_null(change),
                     "closes_at", open ? instant_or_null(change) : json_null(),
                     "changes_in_ms", change == INT64_MAX ? json_null() : json_integer(change - now_ms),
                     "tz", tz);
}

typedef struct hours_sync {
    bk_map *listed;  /* the sites the sync named */
    bk_map *gone;    /* entries to drop, collected while iterating */
} hours_sync;

static void hours_collect_gone(const char *key, void *value, void *data)
{
    hours_sync *sync = data;
    (void)value;
    if (!bk_map_get(sync->listed, key))
        bk_map_set(sync->gone, key, (void *)1);
}

static void hours_drop(const char *key, void *value, void *data)
{
    (void)value;
    hours_entry_free(bk_map_remove(data, key));
}

void bk_site_hours_sync(bk_site_hours *cache, const char *const *flat, size_t count)
{
    if (!cache)
        return;
    hours_sync sync = { bk_map_new(), bk_map_new() };
    if (!sync.listed || !sync.gone) {
        bk_map_free(sync.listed);
        bk_map_free(sync.gone);
        return;
    }
    for (size_t i = 0; i + 3 <= count; i += 3) {
        hours_update(cache, flat[i], flat[i + 1], flat[i + 2]);
        bk_map_set(sync.listed, flat[i], (void *)1);
    }
    bk_map_each(cache->sites, hours_collect_gone, &sync);
    bk_map_each(sync.gone, hours_drop, cache->sites);
    bk_map_free(sync.listed);
    bk_map_free(sync.gone);
}

typedef struct closed_list {
    int64_t now_ms;
    char *out;
    size_t size, used;
} closed_list;

static void hours_add_closed(const char *key, void *value, void *data)
{
    const hours_entry *entry = value;
    closed_list *list = data;
    if (!entry->compiled || bk_opening_hours_open(entry->compiled, list->now_ms))
        return;
    size_t need = strlen(key) + 1 + (list->used ? 0 : 1);
    if (list->used + need + 1 > list->size)
        return;  /* the argument is full: those sites just get the usual acknowledgement */
    list->used += (size_t)snprintf(list->out + list->used, list->size - list->used, "%s%s,", list->used ? "" : ",", key);
}

void bk_site_hours_closed(const bk_site_hours *cache, int64_t now_ms, char *out, size_t out_size)
{
    closed_list list = { now_ms, out, out_size, 0 };
    if (out_size)
        out[0] = '\0';
    if (cache)
        bk_map_each(cache->sites, hours_add_closed, &list);
}

/* ---- the shell ---------------------------------------------------------------------- */

/* "beckon site set ID KEY VALUE": each key is a field of PUT /api/sites/{id}, and its value
 * becomes the JSON that route would get, so the shell and REST share one set of checks. */
typedef enum {
    VALUE_TEXT,     /* a string; `none` sends null */
    VALUE_SWITCH,   /* on|required -> true, off|optional -> false */
    VALUE_NUMBER,   /* a JSON number as typed ("0.5"); `none` sends null */
    VALUE_LIST,     /* "a,b c" -> ["a", "b", "c"]; `none` sends [] */
    VALUE_SECRET,   /* a string, or "generate": a fresh one, printed */
    VALUE_HOURS,    /* hours, then an optional zone (UTC); `none` sends null */
} value_kind;

static const struct {
    const char *key, *field;
    value_kind kind;
    const char *none;
} cli_settings[] = {
    { "origins", "origins", VALUE_LIST, NULL },
    { "identity-secret", "identity_secret", VALUE_SECRET, NULL },
    { "enforce-identity", "enforce_identity", VALUE_SWITCH, NULL },
    { "consent", "consent_required", VALUE_SWITCH, NULL },
    { "retention-days", "retention_days", VALUE_NUMBER, NULL },
    { "hours", "hours", VALUE_HOURS, "off" },
    { "auto-ack-seconds", "auto_ack_seconds", VALUE_NUMBER, "default" },
    { "offer-email-seconds", "offer_email_seconds", VALUE_NUMBER, "default" },
    { "abandoned-queued-minutes", "abandoned_queued_minutes", VALUE_NUMBER, "default" },
    { "idle-active-minutes", "idle_active_minutes", VALUE_NUMBER, "default" },
    { "webhook", "webhook_url", VALUE_TEXT, "off" },
    { "webhook-secret", "webhook_secret", VALUE_SECRET, NULL },
    { "webhook-events", "webhook_events", VALUE_LIST, "all" },
};

static int site_usage(void)
{
    fprintf(stderr, "usage: beckon site add ID ORIGIN... | site list | site remove ID | site set ID KEY VALUE\n"
                    "  KEY VALUE: origins ORIGIN,... | identity-secret SECRET|generate | enforce-identity on|off |\n"
                    "    consent required|optional | retention-days DAYS | hours 'mon-fri 09:00-17:00' [ZONE] | hours off |\n"
                    "    auto-ack-seconds|offer-email-seconds SECONDS|default |\n"
                    "    abandoned-queued-minutes|idle-active-minutes MINUTES|default |\n"
                    "    webhook URL|off | webhook-secret SECRET|generate | webhook-events EVENT,...|all\n");
    return 2;
}

static json_t *words_to_list(int count, char **words)
{
    json_t *list = json_array();
    for (int i = 0; i < count; i++) {
        char *copy = strdup(words[i]);
        for (char *save = NULL, *part = copy ? strtok_r(copy, ", ", &save) : NULL; part; part = strtok_r(NULL, ", ", &save))
            json_array_append_new(list, json_string(part));
        free(copy);
    }
    return list;
}

/* The PUT body for "set ID KEY VALUE [ZONE]", or NULL when the words do not fit (usage). */
static json_t *cli_body(const char *id, int argc, char **argv)
{
    const char *key = argv[3], *value = argv[4];
    for (size_t i = 0; i < sizeof cli_settings / sizeof cli_settings[0]; i++) {
        if (strcmp(key, cli_settings[i].key) != 0)
            continue;
        value_kind kind = cli_settings[i].kind;
        if (argc != 5 && !(argc == 6 && kind == VALUE_HOURS))
            return NULL;
        const char *field = cli_settings[i].field;
        int none = cli_settings[i].none && strcmp(value, cli_settings[i].none) == 0;
        json_t *body = json_object(), *v = NULL;
        if (kind == VALUE_LIST)
            v = none ? json_array() : words_to_list(1, argv + 4);
        else if (none)
            v = json_null();
        else if (kind == VALUE_SWITCH && (strcmp(value, "on") == 0 || strcmp(value, "required") == 0))
            v = json_true();
        else if (kind == VALUE_SWITCH && (strcmp(value, "off") == 0 || strcmp(value, "optional") == 0))
            v = json_false();
        else if (kind == VALUE_NUMBER)  /* what does not parse is checked as the string it is */
            v = (v = json_loads(value, JSON_DECODE_ANY, NULL)) && json_is_number(v) ? v : (json_decref(v), json_string(value));
        else if (kind == VALUE_SECRET && strcmp(value, "generate") == 0) {
            uint8_t raw[24];
            char secret[2 * sizeof raw + 1];
            bk_random_bytes(raw, sizeof raw);
            bk_hex_encode(raw, sizeof raw, secret);
            printf("%s of %s: %s\n", key, id, secret);
            v = json_string(secret);
        } else if (kind != VALUE_SWITCH)
            v = json_string(value);
        if (!v) {
            json_decref(body);
            return NULL;
        }
        json_object_set_new(body, field, v);
        if (kind == VALUE_HOURS)
            json_object_set_new(body, "tz", none ? json_null() : json_string(argc == 6 ? argv[5] : "UTC"));
        return body;
    }
    return NULL;
}

static void site_print(json_t *site)
{
    char *origins = json_dumps(json_object_get(site, "origins"), JSON_COMPACT);
    const char *hours = json_string_value(json_object_get(site, "hours"));
    const char *webhook = json_string_value(json_object_get(json_object_get(site, "webhook"), "url"));
    const char *tz = json_string_value(json_object_get(site, "tz"));
    printf("%s\torigins=%s identity=%s%s consent=%s retention-days=%lld hours=%s%s%s%s webhook=%s\n",
           json_string_value(json_object_get(site, "id")), origins ? origins : "[]",
           json_is_true(json_object_get(site, "identity_secret_set")) ? "secret set" : "no secret",
           json_is_true(json_object_get(site, "enforce_identity")) ? ", enforced" : "",
           json_is_true(json_object_get(site, "consent_required")) ? "required" : "optional",
           (long long)json_integer_value(json_object_get(site, "retention_days")),
           hours ? "'" : "always", hours ? hours : "", hours ? "' " : "", hours && tz ? tz : "",
           webhook ? webhook : "none");
    free(origins);
}

static int site_command(redisContext *c, const bk_config *config, int argc, char **argv)
{
    const char *prefix = config->prefix;
    const char *verb = argc > 1 ? argv[1] : "";
    if (strcmp(verb, "list") == 0 && argc == 2) {
        const char *args[] = { prefix };
        redisReply *r = bk_cli_script(c, bk_lua_sites_list, 1, args);
        const char *text;
        size_t len;
        json_t *list = bk_redis_reply_unpack(r, BK_SHAPE_TEXT, &text, &len) == 0 ? json_loadb(text, len, 0, NULL)
                                                                              : NULL;
        freeReplyObject(r);
        size_t i;
        json_t *site;
        json_array_foreach(list, i, site)
            site_print(site);
        json_decref(list);
        return 0;
    }
    if (argc < 3 || !bk_id_valid(argv[2]))
        return site_usage();
    const char *id = argv[2];
    if (strcmp(verb, "remove") == 0 && argc == 3) {
        const char *args[] = { prefix, id };
        redisReply *r = bk_cli_script(c, bk_lua_site_delete, 2, args);
        long long removed;
        int failed = bk_redis_reply_unpack(r, BK_SHAPE_INTEGER, &removed) != 0;
        if (failed)
            fprintf(stderr, "beckon: no site named %s\n", id);
        else
            printf("removed site %s\n", id);
        freeReplyObject(r);
        return failed;
    }
    json_t *body = NULL;
    if (strcmp(verb, "add") == 0 && argc >= 4)  /* "add ID a b" and "add ID a,b" */
        body = json_pack("{s:o}", "origins", words_to_list(argc - 3, argv + 3));
    else if (strcmp(verb, "set") == 0 && argc >= 5)
        body = cli_body(id, argc, argv);
    if (!body)
        return site_usage();
    site_fields fields = { 0 };
    char why[BK_RULES_PATH_MAX + BK_RULES_MESSAGE_MAX + 4];
    const char *problem = settings_check(body, &fields, why, sizeof why);
    json_decref(body);
    if (problem) {
        fprintf(stderr, "beckon: %s\n", problem);
        fields_close(&fields);
        return 2;
    }
    const char *args[2 + 2 * SITE_FIELDS_MAX] = { prefix, id };
    int count = 2;
    for (int i = 0; i < fields.count; i++) {
        args[count++] = fields.names[i];
        args[count++] = fields.values[i];
    }
    redisReply *r = bk_cli_script(c, bk_lua_site_save, count, args);
    long long saved;
    int failed = bk_redis_reply_unpack(r, BK_SHAPE_INTEGER, &saved) != 0;
    if (failed)
        fprintf(stderr, "beckon: redis refused: %s\n", bk_redis_reply_error(r) ? bk_redis_reply_error(r)
                                                       : r ? "an unexpected reply" : "no reply");
    else
        printf("saved site %s\n", id);
    if (!failed && saved == 2 && generated_webhook_secret(&fields))
        printf("webhook secret of %s: %s\n", id, generated_webhook_secret(&fields));
    freeReplyObject(r);
    fields_close(&fields);
    return failed;
}

int bk_site_cli(const bk_config *config, int argc, char **argv)
{
    return bk_cli_run(config, argc, argv, site_command);
}
