/* site_cli.c - "beckon site ...": the sites' settings from a shell, through the same checks
 * (site_settings) and the same scripts as PUT /api/sites/{id}. */
#include "cli/site_cli.h"

#include "cli/cli.h"
#include "base/ids.h"
#include "base/keys.h"
#include "protocol/errors.h"
#include "store/redis_reply.h"
#include "store/redis_shapes.h"
#include "lua/embedded.h"
#include "sites/site_settings.h"

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    { "files-visitors", "files_visitors", VALUE_SWITCH, NULL },
    { "files-types", "files_types", VALUE_LIST, "default" },
    { "files-max-bytes", "files_max_bytes", VALUE_NUMBER, "default" },
    { "files-per-conversation", "files_per_conversation", VALUE_NUMBER, "default" },
};

static int site_usage(void)
{
    fprintf(stderr, "usage: beckon site add ID ORIGIN... | site list | site remove ID | site set ID KEY VALUE\n"
                    "  KEY VALUE: origins ORIGIN,... | identity-secret SECRET|generate | enforce-identity on|off |\n"
                    "    consent required|optional | retention-days DAYS | hours 'mon-fri 09:00-17:00' [ZONE] | hours off |\n"
                    "    auto-ack-seconds|offer-email-seconds SECONDS|default |\n"
                    "    abandoned-queued-minutes|idle-active-minutes MINUTES|default |\n"
                    "    webhook URL|off | webhook-secret SECRET|generate | webhook-events EVENT,...|all |\n"
                    "    files-visitors on|off | files-types TYPE,...|default | files-max-bytes BYTES|default |\n"
                    "    files-per-conversation COUNT|default\n");
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
            char secret[BK_SITE_SECRET_SIZE];
            bk_site_secret_generate(secret);
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

/* A site's settings go into its own slot, then the global one (the list of sites and a copy of
 * the settings: http/sites.c says why); the first slot's reply is the command's. */
static redisReply *site_script(bk_cli_redis *c, const bk_config *config, const char *source, const char *id,
                               int count, const char **args)
{
    char site_prefix[BK_KEYS_PREFIX_SIZE], global_prefix[BK_KEYS_PREFIX_SIZE];
    bk_keys_prefix_of_site(config->prefix, id, site_prefix);
    bk_keys_global_prefix(config->prefix, global_prefix);
    args[0] = site_prefix;
    redisReply *r = bk_cli_script(c, source, count, args);
    if (r && r->type != REDIS_REPLY_ERROR) {
        args[0] = global_prefix;
        freeReplyObject(bk_cli_script(c, source, count, args));
    }
    return r;
}

static int site_command(bk_cli_redis *c, const bk_config *config, int argc, char **argv)
{
    char prefix[BK_KEYS_PREFIX_SIZE];
    bk_keys_global_prefix(config->prefix, prefix);
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
        redisReply *r = site_script(c, config, bk_lua_site_delete, id, 2, args);
        long long removed;
        char missing[96];
        snprintf(missing, sizeof missing, "no site named %s", id);
        int failed = bk_redis_reply_unpack(r, BK_SHAPE_INTEGER, &removed) != 0;
        if (failed)
            bk_cli_store_error(r, BK_REFUSALS(BK_ERR_NOT_FOUND), missing);
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
    bk_site_settings fields = { 0 };
    char why[BK_SITE_WHY_MAX];
    const char *problem = bk_site_settings_check(body, &fields, why, sizeof why);
    json_decref(body);
    if (problem) {
        fprintf(stderr, "beckon: %s\n", problem);
        bk_site_settings_close(&fields);
        return 2;
    }
    const char *args[2 + 2 * BK_SITE_FIELDS_MAX];
    int count = bk_site_settings_argv(&fields, prefix, id, args);
    redisReply *r = site_script(c, config, bk_lua_site_save, id, count, args);
    long long saved;
    int failed = bk_redis_reply_unpack(r, BK_SHAPE_INTEGER, &saved) != 0;
    if (failed)
        bk_cli_store_error(r, NULL, NULL);
    else
        printf("saved site %s\n", id);
    if (!failed && saved == 2 && bk_site_settings_generated_secret(&fields))
        printf("webhook secret of %s: %s\n", id, bk_site_settings_generated_secret(&fields));
    freeReplyObject(r);
    bk_site_settings_close(&fields);
    return failed;
}

int bk_site_cli(const bk_config *config, int argc, char **argv)
{
    return bk_cli_run(config, argc, argv, site_command);
}
