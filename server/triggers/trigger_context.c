/* trigger_context.c - a rules context filled from a visitor's profile, live or for the dry run. */
#include "triggers/triggers_internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_CAPS          BK_PROFILE_CAPS_MAX  /* rules with cap state per visitor, as evaluated */

void bk_day_string(int64_t ms, char out[9])
{
    time_t seconds = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&seconds, &tm);
    strftime(out, 9, "%Y%m%d", &tm);
}

static int64_t next_midnight_ms(int64_t ms)
{
    const int64_t day = 86400000;
    return (ms / day + 1) * day;
}

/* A rules context and what it points into besides the profile. */
struct bk_trigger_context {
    bk_rules_context ctx;
    bk_profile *profile;            /* the dry run's profile, converted from JSON */
    json_t *attrs_json;             /* the profile's "attrs", parsed */
    bk_rules_attr attrs[BK_PROPS_MAX];
    bk_rules_cap_state caps[MAX_CAPS];
    bk_rules_attr props[BK_PROPS_MAX];
};

bk_trigger_context *bk_trigger_context_new(void)
{
    return calloc(1, sizeof(bk_trigger_context));
}

void bk_trigger_context_free(bk_trigger_context *context)
{
    if (context) {
        json_decref(context->attrs_json);
        bk_profile_free(context->profile);
    }
    free(context);
}

/* Fills out[] from a JSON object of scalars; returns how many. */
static size_t attrs_fill(json_t *object, bk_rules_attr *out, size_t max)
{
    const char *key;
    json_t *value;
    size_t n = 0;
    json_object_foreach(object, key, value) {
        if (n == max)
            break;
        out[n].key = key;
        if (json_is_string(value)) {
            out[n].value.type = BK_RULES_VALUE_STRING;
            out[n].value.string = json_string_value(value);
        } else if (json_is_number(value)) {
            out[n].value.type = BK_RULES_VALUE_NUMBER;
            out[n].value.number = json_number_value(value);
        } else if (json_is_boolean(value)) {
            out[n].value.type = BK_RULES_VALUE_BOOL;
            out[n].value.boolean = json_is_true(value);
        } else {
            continue;
        }
        n++;
    }
    return n;
}

/* Fills the context from a tracker's profile; its strings point into the profile. */
const bk_rules_context *triggers_context_fill(bk_trigger_context *storage,
                                              const bk_profile *profile, int agents_available,
                                              const char *event_name, json_t *event_props,
                                              int64_t now)
{
    bk_rules_context *ctx = &storage->ctx;
    bk_rules_cap_state *caps = storage->caps;
    bk_rules_attr *props = storage->props;
    bk_rules_context_init(ctx);
    ctx->site = bk_profile_string(profile, BK_PROFILE_SITE);
    ctx->page_url = bk_profile_string(profile, BK_PROFILE_PAGE_URL);
    ctx->page_title = bk_profile_string(profile, BK_PROFILE_PAGE_TITLE);
    ctx->page_started_ms = bk_profile_number(profile, BK_PROFILE_PAGE_STARTED, 0);
    ctx->visit_started_ms = bk_profile_number(profile, BK_PROFILE_VISIT_STARTED, 0);
    ctx->visit_pages = bk_profile_number(profile, BK_PROFILE_VISIT_PAGES, -1);
    ctx->referrer = bk_profile_string(profile, BK_PROFILE_VISIT_REFERRER);
    ctx->utm_source = bk_profile_string(profile, BK_PROFILE_UTM_SOURCE);
    ctx->utm_medium = bk_profile_string(profile, BK_PROFILE_UTM_MEDIUM);
    ctx->utm_campaign = bk_profile_string(profile, BK_PROFILE_UTM_CAMPAIGN);
    ctx->utm_term = bk_profile_string(profile, BK_PROFILE_UTM_TERM);
    ctx->utm_content = bk_profile_string(profile, BK_PROFILE_UTM_CONTENT);
    ctx->visits = bk_profile_number(profile, BK_PROFILE_VISITS, -1);
    ctx->chats = bk_profile_number(profile, BK_PROFILE_CHATS, 0);
    ctx->last_chat_ms = bk_profile_number(profile, BK_PROFILE_LAST_CHAT, 0);
    ctx->lang = bk_profile_string(profile, BK_PROFILE_LANG);
    ctx->device = bk_profile_string(profile, BK_PROFILE_DEVICE);
    ctx->last_event_ms = bk_profile_number(profile, BK_PROFILE_LAST_EVENT, 0);
    ctx->conversation_open = bk_profile_conversation_open(profile);
    const char *attrs = bk_profile_string(profile, BK_PROFILE_ATTRS);
    json_decref(storage->attrs_json);
    storage->attrs_json = attrs ? json_loads(attrs, 0, NULL) : NULL;
    if (json_is_object(storage->attrs_json)) {
        ctx->attrs = storage->attrs;
        ctx->attr_count = attrs_fill(storage->attrs_json, storage->attrs, BK_PROPS_MAX);
    }
    ctx->agents_available = agents_available != 0;
    char today[9];
    bk_day_string(now, today);
    const char *day = bk_profile_string(profile, BK_PROFILE_INV_DAY);
    ctx->invitations_today = day && strcmp(day, today) == 0
                           ? bk_profile_number(profile, BK_PROFILE_INV_TODAY, 0) : 0;
    ctx->day_ends_ms = next_midnight_ms(now);
    ctx->last_dismissed_ms = bk_profile_number(profile, BK_PROFILE_LAST_DISMISSED, 0);

    /* caps: the count applies only to the visit it was made in */
    const bk_profile_cap *entries;
    size_t n = bk_profile_caps(profile, &entries);
    for (size_t i = 0; i < n; i++) {
        caps[i].rule_id = entries[i].rule;
        caps[i].invitations_this_visit = entries[i].visit == ctx->visits ? entries[i].count : 0;
        caps[i].last_invited_ms = entries[i].last_ms;
    }
    ctx->caps = caps;
    ctx->cap_count = n;

    if (event_name) {
        ctx->event_name = event_name;
        if (event_props) {
            ctx->event_props = props;
            ctx->event_prop_count = attrs_fill(event_props, props, BK_PROPS_MAX);
        }
    }
    return ctx;
}

const bk_rules_context *bk_trigger_context_fill(bk_trigger_context *storage, json_t *profile,
                                                int agents_available, const char *event_name,
                                                json_t *event_props, int64_t now)
{
    /* The dry run's profile is made rarely: through text, so both paths read it alike. */
    char *text = json_dumps(profile, JSON_COMPACT);
    bk_profile_free(storage->profile);
    storage->profile = text ? bk_profile_parse(text, strlen(text)) : NULL;
    free(text);
    return triggers_context_fill(storage, storage->profile, agents_available, event_name,
                                 event_props, now);
}
