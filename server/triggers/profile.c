/* profile.c - the visitor profile: a one-pass reader of the scripts' JSON into one block. */
#include "triggers/profile.h"

#include "base/utf8.h"

#include <beckon/protocol.h>
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The reader refuses exactly what json_loadb(text, len, 0, ...) refuses (tests/fuzz/fuzz_profile.c
 * compares the two on arbitrary input), so that a reply is never read one way here and another
 * way by the code that uses jansson. That includes jansson's limits: values nested deeper than
 * JSON_PARSER_MAX_DEPTH, integers outside int64_t, reals that overflow a double. One quirk is
 * not copied: jansson 2.14 skips a single raw NUL byte after a number or true/false/null; here
 * every raw NUL is refused (docs/fuzzing.md). */
#define JSON_DEPTH_MAX 2048

struct bk_profile {
    int64_t numbers[BK_PROFILE_NUMBER_COUNT];
    uint32_t have_numbers;                     /* bit per number field */
    uint32_t strings[BK_PROFILE_STRING_COUNT]; /* offsets into the text; 0 is "" */
    uint32_t cap_count;
    uint32_t text_size;
    bool conversation_open;
    bool consented;
    /* then cap_count bk_profile_cap, then text_size bytes of text */
};

static bk_profile_cap *profile_caps(const bk_profile *p)
{
    return (bk_profile_cap *)(void *)(p + 1);
}

static const char *profile_text(const bk_profile *p)
{
    return (const char *)(profile_caps(p) + p->cap_count);
}

/* ---- reading -------------------------------------------------------------------------- */

/* Decoded strings go to a pool that never outgrows the input: a string's text plus its NUL
 * is never longer than its JSON form with the quotes. Offset 0 holds the empty string. */
typedef struct reader {
    const char *p, *end;
    char *pool;
    size_t used;
} reader;

typedef struct cap_entry {
    size_t rule;             /* offset of the rule id in the pool */
    int64_t visit, count, last_ms;
    bool has_visit;
} cap_entry;

/* The rules the cap hash names, in the order of their first key. Looked up by a small hash
 * table: the hash has two keys per rule, and a linear search would make a long one quadratic. */
typedef struct cap_list {
    cap_entry *entries;
    size_t count, size;
    uint32_t *slots;         /* entry index + 1; 0 is free */
    size_t slot_count;       /* a power of two, more than twice count */
} cap_list;

static void ws_skip(reader *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
        r->p++;
}

static int expect(reader *r, char c)
{
    ws_skip(r);
    if (r->p >= r->end || *r->p != c)
        return -1;
    r->p++;
    return 0;
}

static int peek(reader *r)
{
    ws_skip(r);
    return r->p < r->end ? (unsigned char)*r->p : -1;
}

/* The next character after white space, consumed; -1 at the end. */
static int next_take(reader *r)
{
    int c = peek(r);
    if (c >= 0)
        r->p++;
    return c;
}

static long hex4(reader *r)
{
    if (r->end - r->p < 4)
        return -1;
    long v = 0;
    for (int i = 0; i < 4; i++) {
        char c = *r->p++;
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

static void utf8_put(reader *r, long cp)
{
    char *o = r->pool + r->used;
    if (cp < 0x80) {
        o[0] = (char)cp;
        r->used += 1;
    } else if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        r->used += 2;
    } else if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        r->used += 3;
    } else {
        o[0] = (char)(0xF0 | (cp >> 18));
        o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[3] = (char)(0x80 | (cp & 0x3F));
        r->used += 4;
    }
}

/* Decodes the string at the reader (after white space) into the pool, NUL-terminated, and
 * returns its offset; -1 when malformed. Refuses what jansson refuses by default: raw control
 * characters, unknown escapes, lone surrogates and \u0000. */
static long string_read(reader *r)
{
    if (expect(r, '"') != 0)
        return -1;
    size_t start = r->used;
    while (r->p < r->end) {
        unsigned char c = (unsigned char)*r->p++;
        if (c == '"') {
            r->pool[r->used++] = '\0';
            return (long)start;
        }
        if (c < 0x20)
            return -1;
        if (c != '\\') {
            r->pool[r->used++] = (char)c;
            continue;
        }
        if (r->p >= r->end)
            return -1;
        c = (unsigned char)*r->p++;
        switch (c) {
        case '"': case '\\': case '/': r->pool[r->used++] = (char)c; break;
        case 'b': r->pool[r->used++] = '\b'; break;
        case 'f': r->pool[r->used++] = '\f'; break;
        case 'n': r->pool[r->used++] = '\n'; break;
        case 'r': r->pool[r->used++] = '\r'; break;
        case 't': r->pool[r->used++] = '\t'; break;
        case 'u': {
            long cp = hex4(r);
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (r->end - r->p < 2 || r->p[0] != '\\' || r->p[1] != 'u')
                    return -1;
                r->p += 2;
                long low = hex4(r);
                if (low < 0xDC00 || low > 0xDFFF)
                    return -1;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                return -1;
            }
            if (cp <= 0)
                return -1;
            utf8_put(r, cp);
            break;
        }
        default:
            return -1;
        }
    }
    return -1;
}

/* jansson refuses a real that strtod turns into +-HUGE_VAL ("real number overflow"); it reads
 * it with the locale's decimal point, and so does this. Out of memory counts as refused. */
static int real_overflows(const char *text, size_t len)
{
    char small[64];
    char *copy = len < sizeof small ? small : malloc(len + 1);
    if (!copy)
        return 1;
    memcpy(copy, text, len);
    copy[len] = '\0';
    const char *point = localeconv()->decimal_point;
    char *dot = strchr(copy, '.');
    if (dot && point[0] && point[0] != '.')
        *dot = point[0];
    errno = 0;
    double value = strtod(copy, NULL);
    int overflow = (value == HUGE_VAL || value == -HUGE_VAL) && errno == ERANGE;
    if (copy != small)
        free(copy);
    return overflow;
}

/* A number as JSON writes it: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?, and within
 * jansson's range: an integer must fit int64_t ("too big integer"), a real must not overflow. */
static int number_skip(reader *r)
{
    const char *start = r->p, *p = r->p, *end = r->end;
    bool negative = p < end && *p == '-', real = false;
    if (negative)
        p++;
    const char *digits = p;
    if (p >= end || *p < '0' || *p > '9')
        return -1;
    if (*p == '0')
        p++;
    else
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    size_t digit_count = (size_t)(p - digits);
    if (p < end && *p == '.') {
        real = true;
        if (++p >= end || *p < '0' || *p > '9')
            return -1;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        real = true;
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p >= end || *p < '0' || *p > '9')
            return -1;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    if (real) {
        if (real_overflows(start, (size_t)(p - start)))
            return -1;
    } else if (digit_count > 19 ||
               (digit_count == 19 &&
                memcmp(digits, negative ? "9223372036854775808" : "9223372036854775807", 19) > 0)) {
        return -1;  /* no leading zeros in JSON: more digits is bigger */
    }
    r->p = p;
    return 0;
}

static int word_skip(reader *r, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0)
        return -1;
    r->p += n;
    return 0;
}

/* A member's name and its colon, checked and dropped from the pool. */
static int name_skip(reader *r)
{
    size_t mark = r->used;
    int rc = string_read(r) < 0 || expect(r, ':') != 0 ? -1 : 0;
    r->used = mark;
    return rc;
}

/* Checks and passes over any JSON value whose nesting depth is `depth` (the text's top level
 * is 1, as jansson counts). No recursion: up to JSON_DEPTH_MAX containers can be open, one bit
 * each (set: an object). The pool is left as it was. */
static int value_skip(reader *r, int depth)
{
    unsigned char objects[JSON_DEPTH_MAX / 8 + 1];
    int open = 0, rc = -1;
    size_t mark = r->used;
    for (;;) {
        /* one value, at depth + open */
        if (depth + open > JSON_DEPTH_MAX)
            goto out;
        int c = peek(r);
        if (c == '{' || c == '[') {
            r->p++;
            unsigned char bit = (unsigned char)(1u << (open % 8));
            objects[open / 8] = c == '{' ? objects[open / 8] | bit : objects[open / 8] & (unsigned char)~bit;
            open++;
            if (peek(r) != (c == '{' ? '}' : ']')) {
                if (c == '{' && name_skip(r) != 0)
                    goto out;
                continue;  /* to the first element */
            }
            r->p++;
            open--;
        } else if (c == '"') {
            if (string_read(r) < 0)
                goto out;
            r->used = mark;
        } else if (c == 't' || c == 'f' || c == 'n') {
            if (word_skip(r, c == 't' ? "true" : c == 'f' ? "false" : "null") != 0)
                goto out;
        } else if (number_skip(r) != 0) {
            goto out;
        }
        /* the value ended: close the containers it ends, or go on to the next element */
        for (;;) {
            if (open == 0) {
                rc = 0;
                goto out;
            }
            bool in_object = objects[(open - 1) / 8] >> ((open - 1) % 8) & 1;
            int next = next_take(r);
            if (next == ',') {
                if (in_object && name_skip(r) != 0)
                    goto out;
                break;
            }
            if (next != (in_object ? '}' : ']'))
                goto out;
            open--;
        }
    }
out:
    r->used = mark;
    return rc;
}

static const char *const string_names[BK_PROFILE_STRING_COUNT] = {
    "site", "page_url", "page_title", "visit_referrer", "utm_source", "utm_medium", "utm_campaign",
    "utm_term", "utm_content", "lang", "device", "attrs", "inv_day",
};

static const char *const number_names[BK_PROFILE_NUMBER_COUNT] = {
    "page_started", "visit_started", "visit_pages", "visits", "chats", "last_chat", "last_event",
    "inv_today", "last_dismissed", "profile_rev",
};

static uint32_t name_hash(const char *s)
{
    uint32_t h = 2166136261u;  /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* The entry of the rule whose id is at `rule` in the pool, added (*added set) when it is new.
 * NULL when memory ran out. */
static cap_entry *cap_find(cap_list *l, const char *pool, size_t rule, bool *added)
{
    if (2 * (l->count + 1) >= l->slot_count) {
        size_t n = l->slot_count ? 2 * l->slot_count : 16;
        uint32_t *slots = calloc(n, sizeof *slots);
        if (!slots)
            return NULL;
        for (size_t i = 0; i < l->count; i++) {
            size_t s = name_hash(pool + l->entries[i].rule) & (n - 1);
            while (slots[s])
                s = (s + 1) & (n - 1);
            slots[s] = (uint32_t)i + 1;
        }
        free(l->slots);
        l->slots = slots;
        l->slot_count = n;
    }
    size_t s = name_hash(pool + rule) & (l->slot_count - 1);
    for (; l->slots[s]; s = (s + 1) & (l->slot_count - 1)) {
        cap_entry *e = &l->entries[l->slots[s] - 1];
        if (strcmp(pool + e->rule, pool + rule) == 0) {
            *added = false;
            return e;
        }
    }
    if (l->count == l->size) {
        size_t size = l->size ? 2 * l->size : 8;
        cap_entry *grown = realloc(l->entries, size * sizeof *grown);
        if (!grown)
            return NULL;
        l->entries = grown;
        l->size = size;
    }
    l->entries[l->count] = (cap_entry){ .rule = rule };
    l->slots[s] = (uint32_t)++l->count;
    *added = true;
    return &l->entries[l->count - 1];
}

static void cap_list_clear(cap_list *l)
{
    l->count = 0;
    if (l->slots)
        memset(l->slots, 0, l->slot_count * sizeof *l->slots);
}

/* The cap hash: pairs "RULE:visit" and "RULE:last" by rule. A rule is listed where its first
 * key is, whatever that key's value; each key's last value counts (jansson keeps a repeated
 * key at its first place with its last value). A value that is not a string is missing. */
static int caps_read(reader *r, cap_list *caps)
{
    if (expect(r, '{') != 0)
        return -1;
    if (peek(r) == '}') {
        r->p++;
        return 0;
    }
    for (;;) {
        size_t mark = r->used;
        long key = string_read(r);
        if (key < 0 || expect(r, ':') != 0)
            return -1;
        long value = -1;
        if (peek(r) == '"') {
            value = string_read(r);
            if (value < 0)
                return -1;
        } else if (value_skip(r, 3) != 0) {
            return -1;
        }
        char *name = r->pool + key;
        char *colon = strrchr(name, ':');
        bool is_visit = colon && strcmp(colon, ":visit") == 0;
        bool is_last = colon && strcmp(colon, ":last") == 0;
        size_t rule_len = colon ? (size_t)(colon - name) : 0;
        size_t keep = mark;
        if ((is_visit || is_last) && rule_len <= BK_ID_MAX) {
            *colon = '\0';
            bool added;
            cap_entry *e = cap_find(caps, r->pool, (size_t)key, &added);
            if (!e)
                return -1;
            const char *text = value >= 0 ? r->pool + value : NULL;
            if (is_visit) {
                long long visit = 0, n = 0;
                e->has_visit = text && sscanf(text, "%lld %lld", &visit, &n) == 2;
                e->visit = visit;
                e->count = n;
            } else {
                e->last_ms = text ? strtoll(text, NULL, 10) : 0;
            }
            if (added)
                keep = (size_t)key + rule_len + 1;  /* the rule id of a new entry, nothing else */
        }
        r->used = keep;
        int next = next_take(r);
        if (next == '}')
            return 0;
        if (next != ',')
            return -1;
    }
}

/* Applies one top-level member whose value is the string at offset value (-1: not a
 * string, which counts as missing). Returns 1 when the pool must keep the value. */
static int member_apply(bk_profile *p, const char *name, const char *pool, long value)
{
    const char *text = value >= 0 ? pool + value : "";
    for (int i = 0; i < BK_PROFILE_STRING_COUNT; i++) {
        if (strcmp(name, string_names[i]) == 0) {
            p->strings[i] = value >= 0 && text[0] ? (uint32_t)value : 0;
            return p->strings[i] != 0;
        }
    }
    for (int i = 0; i < BK_PROFILE_NUMBER_COUNT; i++) {
        if (strcmp(name, number_names[i]) == 0) {
            if (text[0]) {
                p->numbers[i] = strtoll(text, NULL, 10);
                p->have_numbers |= 1u << i;
            } else {
                p->have_numbers &= ~(1u << i);
            }
            return 0;
        }
    }
    if (strcmp(name, "conv") == 0)
        p->conversation_open = text[0] != '\0';
    else if (strcmp(name, "consent") == 0)
        p->consented = strcmp(text, "1") == 0;
    return 0;
}

static int object_read(reader *r, bk_profile *p, cap_list *caps)
{
    if (expect(r, '{') != 0)
        return -1;
    if (peek(r) == '}') {
        r->p++;
        return 0;
    }
    for (;;) {
        size_t mark = r->used;
        long key = string_read(r);
        if (key < 0 || expect(r, ':') != 0)
            return -1;
        int c = peek(r);
        if (strcmp(r->pool + key, "caps") == 0) {
            r->used = mark;
            cap_list_clear(caps);  /* a repeated member replaces the earlier one, even a non-object */
            if ((c == '{' ? caps_read(r, caps) : value_skip(r, 2)) != 0)
                return -1;
        } else if (c == '"') {
            /* Names are short: copy it, so that the value can go where the name was. */
            char name[32];
            snprintf(name, sizeof name, "%s", r->pool + key);
            r->used = mark;
            long value = string_read(r);
            if (value < 0)
                return -1;
            if (!member_apply(p, name, r->pool, value))
                r->used = mark;
        } else {
            char name[32];
            snprintf(name, sizeof name, "%s", r->pool + key);
            r->used = mark;
            if (value_skip(r, 2) != 0)
                return -1;
            member_apply(p, name, r->pool, -1);
        }
        int next = next_take(r);
        if (next == '}')
            return 0;
        if (next != ',')
            return -1;
    }
}

bk_profile *bk_profile_parse(const char *json, size_t len)
{
    if (!json || len > UINT32_MAX / 2 || !bk_utf8_valid(json, len))
        return NULL;
    bk_profile head;
    memset(&head, 0, sizeof head);
    reader r = { .p = json, .end = json + len, .pool = malloc(len + 2), .used = 1 };
    cap_list caps = { 0 };
    bk_profile *p = NULL;
    if (!r.pool)
        return NULL;
    r.pool[0] = '\0';
    if (object_read(&r, &head, &caps) != 0)
        goto done;
    ws_skip(&r);
    if (r.p != r.end)
        goto done;
    size_t kept = 0;
    for (size_t i = 0; i < caps.count; i++)
        if (caps.entries[i].has_visit && kept < BK_PROFILE_CAPS_MAX)
            caps.entries[kept++] = caps.entries[i];
    head.cap_count = (uint32_t)kept;
    head.text_size = (uint32_t)r.used;
    p = malloc(sizeof *p + kept * sizeof(bk_profile_cap) + r.used);
    if (!p)
        goto done;
    *p = head;
    char *text = (char *)profile_text(p);
    memcpy(text, r.pool, r.used);
    bk_profile_cap *out = profile_caps(p);
    for (size_t i = 0; i < kept; i++)
        out[i] = (bk_profile_cap){ .rule = text + caps.entries[i].rule, .visit = caps.entries[i].visit,
                                   .count = caps.entries[i].count, .last_ms = caps.entries[i].last_ms };
done:
    free(r.pool);
    free(caps.entries);
    free(caps.slots);
    return p;
}

void bk_profile_free(bk_profile *profile)
{
    free(profile);
}

/* ---- a page view applied ------------------------------------------------------------------ */

/* The same block as bk_profile_parse makes, from strings (NULL or "": missing) and the cap
 * entries of an earlier profile. */
static bk_profile *profile_build(const bk_profile *head, const char *const *strings, const bk_profile_cap *caps)
{
    size_t text_size = 1;
    for (int i = 0; i < BK_PROFILE_STRING_COUNT; i++)
        text_size += strings[i] && strings[i][0] ? strlen(strings[i]) + 1 : 0;
    for (uint32_t i = 0; i < head->cap_count; i++)
        text_size += strlen(caps[i].rule) + 1;
    if (text_size > UINT32_MAX)
        return NULL;
    bk_profile *p = malloc(sizeof *p + head->cap_count * sizeof(bk_profile_cap) + text_size);
    if (!p)
        return NULL;
    *p = *head;
    p->text_size = (uint32_t)text_size;
    char *text = (char *)profile_text(p);
    size_t used = 1;
    text[0] = '\0';
    for (int i = 0; i < BK_PROFILE_STRING_COUNT; i++) {
        p->strings[i] = 0;
        if (strings[i] && strings[i][0]) {
            p->strings[i] = (uint32_t)used;
            used += (size_t)sprintf(text + used, "%s", strings[i]) + 1;
        }
    }
    bk_profile_cap *out = profile_caps(p);
    for (uint32_t i = 0; i < head->cap_count; i++) {
        out[i] = caps[i];
        out[i].rule = text + used;
        used += (size_t)sprintf(text + used, "%s", caps[i].rule) + 1;
    }
    return p;
}

static void number_set(bk_profile *p, bk_profile_number_field field, int64_t value)
{
    p->numbers[field] = value;
    p->have_numbers |= 1u << field;
}

bk_profile *bk_profile_tracked_new(const bk_profile *profile, const bk_profile_tracked *event)
{
    bk_profile head = { 0 };
    if (profile)
        head = *profile;
    const char *strings[BK_PROFILE_STRING_COUNT];
    for (int i = 0; i < BK_PROFILE_STRING_COUNT; i++)
        strings[i] = bk_profile_string(profile, (bk_profile_string_field)i);
    const bk_profile_cap *caps;
    head.cap_count = (uint32_t)bk_profile_caps(profile, &caps);
    number_set(&head, BK_PROFILE_LAST_EVENT, event->now);
    number_set(&head, BK_PROFILE_REV, event->rev);
    number_set(&head, BK_PROFILE_VISITS, event->visits);
    number_set(&head, BK_PROFILE_VISIT_STARTED, event->visit_started);
    if (event->visit_pages >= 0)
        number_set(&head, BK_PROFILE_VISIT_PAGES, event->visit_pages);
    else
        head.have_numbers &= ~(1u << BK_PROFILE_VISIT_PAGES);
    if (event->visit_started == event->now) {
        strings[BK_PROFILE_VISIT_REFERRER] = event->referrer;
        for (int i = 0; i < 5; i++)
            strings[BK_PROFILE_UTM_SOURCE + i] = event->utm[i];
    }
    if (event->page_url) {
        strings[BK_PROFILE_PAGE_URL] = event->page_url;
        strings[BK_PROFILE_PAGE_TITLE] = event->page_title;
        number_set(&head, BK_PROFILE_PAGE_STARTED, event->now);
    }
    return profile_build(&head, strings, caps);
}

/* ---- reading it back ------------------------------------------------------------------------ */

const char *bk_profile_string(const bk_profile *p, bk_profile_string_field field)
{
    if (!p || (unsigned)field >= BK_PROFILE_STRING_COUNT || !p->strings[field])
        return NULL;
    return profile_text(p) + p->strings[field];
}

int64_t bk_profile_number(const bk_profile *p, bk_profile_number_field field, int64_t missing)
{
    if (!p || (unsigned)field >= BK_PROFILE_NUMBER_COUNT || !(p->have_numbers & (1u << field)))
        return missing;
    return p->numbers[field];
}

int bk_profile_conversation_open(const bk_profile *p)
{
    return p && p->conversation_open;
}

void bk_profile_set_conversation_open(bk_profile *p)
{
    if (p)
        p->conversation_open = true;
}

int bk_profile_consented(const bk_profile *p)
{
    return p && p->consented;
}

size_t bk_profile_caps(const bk_profile *p, const bk_profile_cap **caps)
{
    *caps = p ? profile_caps(p) : NULL;
    return p ? p->cap_count : 0;
}

size_t bk_profile_size(const bk_profile *p)
{
    return p ? sizeof *p + p->cap_count * sizeof(bk_profile_cap) + p->text_size : 0;
}
