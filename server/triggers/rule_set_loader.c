/* rule_set_loader.c - the node's rule set: loaded from Redis, reloaded when the bus says so. */
#include "triggers/triggers_internal.h"

#include "base/keys.h"
#include "base/log.h"
#include "store/redis_reply.h"
#include "store/redis_shapes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void triggers_evaluate_all(bk_triggers *triggers)
{
    bk_list_each(node, &triggers->trackers)
        triggers_tracker_evaluate(bk_list_entry(node, bk_tracker, link), NULL, NULL);
}

static void on_rules_loaded(redisReply *reply, void *data)
{
    bk_triggers *triggers = data;
    triggers->rules_loading = 0;
    /* The load that just finished may have read Redis before the latest change: go again. */
    if (triggers->rules_stale) {
        triggers->rules_stale = 0;
        triggers_rules_reload(triggers);
    }
    const redisReply *fields;
    size_t at;
    if (bk_redis_reply_unpack(reply, BK_SHAPE_HASH, &fields, &at) != 0) {
        bk_warn("could not load the rules from redis; keeping the %zu rules in use",
                triggers->rules ? bk_rule_set_count(triggers->rules) : (size_t)0);
        return;
    }
    bk_rule_set *set = bk_rule_set_new();
    if (!set)
        return;
    const char *id, *value;
    size_t len;
    while (bk_redis_reply_unpack_next(fields, &at, BK_SHAPE_HASH_FIELD, &id, &value, &len) == 0) {
        /* The hash field is the rule's id, whatever the JSON says (or omits). */
        json_t *rule = json_loadb(value, len, 0, NULL);
        char *text = NULL;
        if (json_is_object(rule) && json_object_set_new(rule, "id", json_string(id)) == 0)
            text = json_dumps(rule, JSON_COMPACT);
        json_decref(rule);
        bk_rules_error err;
        if (!text)
            bk_warn("rule %s in redis is not a JSON object, skipped", id);
        else if (bk_rule_set_add_json(set, text, strlen(text), &err) != BK_RULES_OK)
            bk_warn("rule %s in redis is invalid, skipped: %s: %s", id, err.path, err.message);
        free(text);
    }
    triggers_counters_rebuild(triggers, set);
    bk_rule_set_free(triggers->rules);
    triggers->rules = set;
    triggers->rules_loaded = 1;
    bk_info("rules loaded: %zu", bk_rule_set_count(set));
    triggers_evaluate_all(triggers);
}

void triggers_rules_reload(bk_triggers *triggers)
{
    if (triggers->rules_loading) {
        triggers->rules_stale = 1;
        return;
    }
    char key[64], prefix[BK_KEYS_PREFIX_SIZE];
    bk_keys_global_prefix(triggers->server->config->prefix, prefix);
    snprintf(key, sizeof key, "%srules", prefix);
    const char *argv[] = { "HGETALL", key };
    if (bk_store_command(triggers->server->store, on_rules_loaded, triggers, 2, argv, NULL) == 0)
        triggers->rules_loading = 1;
}

const bk_rule_set *bk_triggers_rules(const bk_triggers *triggers)
{
    return triggers->rules;
}

const bk_rules_settings *bk_triggers_settings(const bk_triggers *triggers)
{
    return &triggers->settings;
}

void bk_triggers_control(bk_triggers *triggers, const char *what)
{
    if (strcmp(what, "rules") == 0)
        triggers_rules_reload(triggers);
}
