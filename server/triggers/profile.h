/* profile.h - a visitor's profile as the trigger rules read it: small, and parsed once.
 *
 * Every visitor socket keeps its visitor's profile between events, so its size is paid by
 * every idle connection. The scripts return the profile as JSON text: the visitor hash (every
 * value a string) plus "caps", the cap hash (docs/architecture.md, "Redis keys").
 * bk_profile_parse reads that text straight into one allocation that holds only what the
 * rules look at: a few numbers, a few strings and the cap state, without building a JSON
 * tree. Fields the rules do not read (name, email, created, ...) are skipped. A page view that
 * Redis answers without the profile is applied to the kept one with bk_profile_tracked_new. */
#ifndef BK_PROFILE_H
#define BK_PROFILE_H

#include <stddef.h>
#include <stdint.h>

#define BK_PROFILE_CAPS_MAX 256  /* rules with cap state kept per visitor */

typedef struct bk_profile bk_profile;

/* The hash fields kept as text. */
typedef enum {
    BK_PROFILE_SITE,
    BK_PROFILE_PAGE_URL,
    BK_PROFILE_PAGE_TITLE,
    BK_PROFILE_VISIT_REFERRER,
    BK_PROFILE_UTM_SOURCE,
    BK_PROFILE_UTM_MEDIUM,
    BK_PROFILE_UTM_CAMPAIGN,
    BK_PROFILE_UTM_TERM,
    BK_PROFILE_UTM_CONTENT,
    BK_PROFILE_LANG,
    BK_PROFILE_DEVICE,
    BK_PROFILE_ATTRS,    /* the site's attributes, JSON text as stored */
    BK_PROFILE_INV_DAY,  /* YYYYMMDD of inv_today */
    BK_PROFILE_STRING_COUNT
} bk_profile_string_field;

/* The hash fields kept as numbers (the hash stores them as decimal text). */
typedef enum {
    BK_PROFILE_PAGE_STARTED,
    BK_PROFILE_VISIT_STARTED,
    BK_PROFILE_VISIT_PAGES,
    BK_PROFILE_VISITS,
    BK_PROFILE_CHATS,
    BK_PROFILE_LAST_CHAT,
    BK_PROFILE_LAST_EVENT,
    BK_PROFILE_INV_TODAY,
    BK_PROFILE_LAST_DISMISSED,
    BK_PROFILE_REV,      /* profile_rev: changes with what the rules read, but the page and visit */
    BK_PROFILE_NUMBER_COUNT
} bk_profile_number_field;

/* One rule's entry in the cap hash: "RULE:visit" = "VISIT COUNT", "RULE:last" = ms. Only
 * rules with a well-formed ":visit" entry are kept; last_ms is 0 without a ":last". */
typedef struct bk_profile_cap {
    const char *rule;
    int64_t visit;    /* the visit the count belongs to */
    int64_t count;    /* invitations of the rule in that visit */
    int64_t last_ms;  /* when the rule last invited the visitor, 0 = never */
} bk_profile_cap;

/* What a page view or custom event changed, when track.lua answers with that instead of the
 * whole profile (its header says when). The strings are what the event carried. */
typedef struct bk_profile_tracked {
    int64_t now;               /* the event's time (ms), as sent */
    int64_t rev, visits, visit_started, visit_pages;  /* as answered; visit_pages -1: none */
    const char *page_url, *page_title;  /* NULL for a custom event: the page stays */
    const char *referrer;      /* the visit's referrer and utm, taken when it starts now */
    const char *utm[5];        /* source, medium, campaign, term, content */
} bk_profile_tracked;

/* Parses the scripts' profile JSON (len bytes, no NUL needed). NULL when the text is not
 * a JSON object, not valid UTF-8 or JSON, or memory ran out: the caller keeps what it had.
 * A member that is not a string counts as missing. Free with bk_profile_free. */
bk_profile *bk_profile_parse(const char *json, size_t len);
void bk_profile_free(bk_profile *profile);

/* A new profile: `profile` as track.lua left it after the event (a visit started when its start
 * is the event's time). NULL when memory ran out. */
bk_profile *bk_profile_tracked_new(const bk_profile *profile, const bk_profile_tracked *event);

/* Every accessor takes NULL as the empty profile. */

/* The field's text, or NULL when it is missing or "". Valid while the profile lives. */
const char *bk_profile_string(const bk_profile *profile, bk_profile_string_field field);

/* The field as a number (strtoll of its text), or `missing` when it is missing or "". */
int64_t bk_profile_number(const bk_profile *profile, bk_profile_number_field field, int64_t missing);

/* "conv" is set: the visitor has an open conversation. */
int bk_profile_conversation_open(const bk_profile *profile);
void bk_profile_set_conversation_open(bk_profile *profile);

/* "consent" is "1": the visitor agreed to tracking. */
int bk_profile_consented(const bk_profile *profile);

/* The cap entries, in the order the JSON first names each rule. */
size_t bk_profile_caps(const bk_profile *profile, const bk_profile_cap **caps);

/* Bytes the profile occupies (for the memory figures). */
size_t bk_profile_size(const bk_profile *profile);

#endif
