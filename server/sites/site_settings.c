/* site_settings.c - checking a site's settings into the save script's pairs. */
#include "sites/site_settings.h"

#include "base/ids.h"
#include "files/file_type.h"
#include "sites/origin.h"
#include "transport/fetch.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ORIGINS_MAX 32

const char *const bk_webhook_events[] = {
    "conversation.started", "message", "conversation.closed", "conversation.rated",
    "message.left", "invitation.accepted", "conversation.breach", NULL,
};

void bk_site_secret_generate(char out[BK_SITE_SECRET_SIZE])
{
    uint8_t raw[(BK_SITE_SECRET_SIZE - 1) / 2];
    bk_random_bytes(raw, sizeof raw);
    bk_hex_encode(raw, sizeof raw, out);
}

static void fields_add(bk_site_settings *fields, const char *name, const char *value)
{
    if (fields->count < BK_SITE_FIELDS_MAX) {
        fields->names[fields->count] = name;
        fields->values[fields->count++] = strdup(value);
    } else {
        fields->overflow = 1;  /* a new field outgrew BK_SITE_FIELDS_MAX: refuse, never drop */
    }
}

void bk_site_settings_close(bk_site_settings *fields)
{
    for (int i = 0; i < fields->count; i++)
        free(fields->values[i]);
    fields->count = 0;
}

static const char *seconds_check(json_t *body, const char *name, bk_site_settings *fields)
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
static const char *minutes_check(json_t *body, const char *name, bk_site_settings *fields)
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

/* Files in chat: files_visitors (bool), files_types (a list of MIME types or families, checked
 * by files/file_type.h: never HTML, SVG, scripts or programs; null or [] for the defaults),
 * files_max_bytes (1 B to 100 MiB, null for 10 MiB), files_per_conversation (1 to 10000, null
 * for 50). */
static const char *files_check(json_t *body, bk_site_settings *fields, char *why, size_t why_size)
{
    json_t *visitors = json_object_get(body, "files_visitors");
    json_t *types = json_object_get(body, "files_types");
    json_t *max = json_object_get(body, "files_max_bytes");
    json_t *per = json_object_get(body, "files_per_conversation");
    if (visitors && !json_is_boolean(visitors))
        return "files_visitors: true or false";
    if (visitors)
        fields_add(fields, "files_visitors", json_is_true(visitors) ? "1" : "0");
    if (types && (json_is_null(types) || (json_is_array(types) && json_array_size(types) == 0))) {
        fields_add(fields, "files_types", "");  /* the defaults */
    } else if (types) {
        if (!json_is_array(types) || json_array_size(types) > BK_FILE_TYPES_MAX)
            return "files_types: a list of MIME types, e.g. [\"image/png\", \"application/pdf\"], or null for the defaults";
        const char *list[BK_FILE_TYPES_MAX + 1];
        size_t i;
        json_t *type;
        json_array_foreach(types, i, type) {
            if (!json_is_string(type))
                return "files_types: a list of MIME types, e.g. [\"image/png\", \"application/pdf\"], or null for the defaults";
            list[i] = json_string_value(type);
        }
        list[json_array_size(types)] = NULL;
        char err[BK_SITE_WHY_MAX - 16];
        if (bk_file_types_check(list, err, sizeof err) != 0) {
            snprintf(why, why_size, "files_types: %s", err);
            return why;
        }
        char *text = json_dumps(types, JSON_COMPACT);
        if (!text)
            return "out of memory";
        fields_add(fields, "files_types", text);
        free(text);
    }
    if (max && !json_is_null(max) && (!json_is_integer(max) || json_integer_value(max) < 1 ||
                                      (uint64_t)json_integer_value(max) > BK_FILE_MAX_BYTES_LIMIT))
        return "files_max_bytes: 1 to 104857600 (100 MiB), or null for 10 MiB";
    if (per && !json_is_null(per) && (!json_is_integer(per) || json_integer_value(per) < 1 ||
                                      json_integer_value(per) > 10000))
        return "files_per_conversation: 1 to 10000, or null for 50";
    json_t *numbers[] = { max, per };
    const char *names[] = { "files_max_bytes", "files_per_conversation" };
    for (int n = 0; n < 2; n++) {
        if (!numbers[n])
            continue;
        char text[24] = "";
        if (!json_is_null(numbers[n]))
            snprintf(text, sizeof text, "%lld", (long long)json_integer_value(numbers[n]));
        fields_add(fields, names[n], text);
    }
    return NULL;
}

/* Opening hours and their zone come together, checked by the rule engine's own parser. */
static const char *hours_check(json_t *body, bk_site_settings *fields, char *why, size_t why_size)
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
static const char *webhook_check(json_t *body, bk_site_settings *fields)
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
            char generated[BK_SITE_SECRET_SIZE];
            bk_site_secret_generate(generated);
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
                       "conversation.rated, message.left, invitation.accepted, conversation.breach";
            size_t used = strlen(list);
            snprintf(list + used, sizeof list - used, "%s%s", used ? "," : "", json_string_value(name));
        }
        fields_add(fields, "webhook_events", list);
    }
    return NULL;
}

/* Checks a site's settings object into the save script's (field, value) pairs. Returns NULL
 * or the problem (possibly written into why). */
const char *bk_site_settings_check(json_t *body, bk_site_settings *fields, char *why, size_t why_size)
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
            char out[BK_ORIGIN_MAX];
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
    if (!problem)
        problem = files_check(body, fields, why, why_size);
    return problem;
}

/* The secret a save generated for a new webhook ("webhook_secret?", set only when the site
 * has none), or NULL. */
const char *bk_site_settings_generated_secret(const bk_site_settings *fields)
{
    for (int i = 0; i < fields->count; i++)
        if (strcmp(fields->names[i], "webhook_secret?") == 0)
            return fields->values[i];
    return NULL;
}

int bk_site_settings_argv(const bk_site_settings *fields, const char *prefix, const char *id, const char **argv)
{
    if (fields->overflow)
        return -1;
    int argc = 0;
    argv[argc++] = prefix;
    argv[argc++] = id;
    for (int i = 0; i < fields->count; i++) {
        argv[argc++] = fields->names[i];
        argv[argc++] = fields->values[i];
    }
    return argc;
}
