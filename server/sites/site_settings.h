/* site_settings.h - what a site's settings may be: the checks behind PUT /api/sites/{id} and
 * "beckon site set", so the shell and REST share one set of rules and one wording.
 *
 * A settings object (origins, identity_secret, enforce_identity, consent_required,
 * retention_days, hours and tz, auto_ack_seconds, offer_email_seconds,
 * abandoned_queued_minutes, idle_active_minutes, webhook_url, webhook_secret, webhook_events,
 * files_visitors, files_types, files_max_bytes, files_per_conversation)
 * becomes the (field, value) pairs the site_save script stores (lua/site_save.lua). */
#ifndef BK_SITE_SETTINGS_H
#define BK_SITE_SETTINGS_H

#include <beckon/rules.h>
#include <jansson.h>
#include <stddef.h>

#define BK_SITE_FIELDS_MAX 32  /* every field a site has, with room to grow */
#define BK_SITE_WHY_MAX    (BK_RULES_PATH_MAX + BK_RULES_MESSAGE_MAX + 4)

/* The save script's (field, value) pairs, in order; values are copies. Start it zeroed
 * ({ 0 }) and close it with bk_site_settings_close whatever the check said. */
typedef struct bk_site_settings {
    int count;
    const char *names[BK_SITE_FIELDS_MAX];
    char *values[BK_SITE_FIELDS_MAX];
    int overflow;
} bk_site_settings;

/* Checks a settings object into pairs. NULL, or the problem (possibly written into why,
 * BK_SITE_WHY_MAX bytes). */
const char *bk_site_settings_check(json_t *body, bk_site_settings *settings, char *why, size_t why_size);
void bk_site_settings_close(bk_site_settings *settings);

/* The SITE_SAVE script's arguments: prefix, id, then the pairs. argv holds
 * 2 + 2 * BK_SITE_FIELDS_MAX; the count, or -1 when a field did not fit (refuse, never drop). */
int bk_site_settings_argv(const bk_site_settings *settings, const char *prefix, const char *id, const char **argv);

/* The secret a save generated for a new webhook ("webhook_secret?", stored only when the site
 * has none: the script then answers 2), or NULL. */
const char *bk_site_settings_generated_secret(const bk_site_settings *settings);

/* A fresh random secret, 48 hex digits: what "generate" gives a webhook or an identity. */
#define BK_SITE_SECRET_SIZE 49  /* with its NUL */
void bk_site_secret_generate(char out[BK_SITE_SECRET_SIZE]);

/* The events a site may choose (webhook_events), NULL-terminated. */
extern const char *const bk_webhook_events[];

#endif
