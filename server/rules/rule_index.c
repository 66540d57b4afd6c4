/* rule_index.c - see rule_index.h. */
#include "rules/rule_index.h"

#include "rules/glob.h"

#include <stdlib.h>
#include <string.h>

/* ---- lists -------------------------------------------------------- */

static bool list_add(bk_rule_list *list, const bk_rule *rule)
{
    if (list->count == list->capacity) {
        size_t capacity = list->capacity ? list->capacity * 2 : 4;
        bk_rule_entry *items = realloc(list->items, capacity * sizeof *items);
        if (!items)
            return false;
        list->items = items;
        list->capacity = capacity;
    }
    list->items[list->count].rule = rule;
    list->items[list->count].screen = rule->screen;
    list->count++;
    return true;
}

static void list_remove(bk_rule_list *list, const bk_rule *rule)
{
    for (size_t i = 0; i < list->count; i++) {
        if (list->items[i].rule == rule) {
            list->items[i] = list->items[--list->count];
            return;
        }
    }
}

/* ---- tries -------------------------------------------------------- */

static bool trie_init(bk_trie *trie)
{
    trie->nodes = calloc(16, sizeof *trie->nodes);
    trie->count = trie->nodes ? 1 : 0;
    trie->capacity = trie->nodes ? 16 : 0;
    return trie->nodes != NULL;
}

static void trie_free(bk_trie *trie)
{
    for (size_t i = 0; i < trie->count; i++)
        free(trie->nodes[i].rules.items);
    free(trie->nodes);
    memset(trie, 0, sizeof *trie);
}

static uint32_t trie_child(const bk_trie *trie, uint32_t node, unsigned char byte)
{
    for (uint32_t c = trie->nodes[node].first_child; c; c = trie->nodes[c].next_sibling)
        if (trie->nodes[c].byte == byte)
            return c;
    return 0;
}

/* The node for `key`, created on the way when `create` is set; 0 if absent. */
static uint32_t trie_find(bk_trie *trie, const char *key, size_t length, bool create)
{
    if (trie->count == 0 && (!create || !trie_init(trie)))
        return 0;
    uint32_t node = 0;
    for (size_t i = 0; i < length; i++) {
        unsigned char byte = (unsigned char)key[i];
        uint32_t child = trie_child(trie, node, byte);
        if (!child) {
            if (!create)
                return 0;
            if (trie->count == trie->capacity) {
                size_t capacity = trie->capacity * 2;
                bk_trie_node *nodes = realloc(trie->nodes, capacity * sizeof *nodes);
                if (!nodes)
                    return 0;
                trie->nodes = nodes;
                trie->capacity = capacity;
            }
            child = (uint32_t)trie->count++;
            memset(&trie->nodes[child], 0, sizeof trie->nodes[child]);
            trie->nodes[child].byte = byte;
            trie->nodes[child].next_sibling = trie->nodes[node].first_child;
            trie->nodes[node].first_child = child;
        }
        node = child;
    }
    return node;
}

/* Rules live wherever their arenas were allocated, so walking a long list
 * is a chain of cache misses; asking for the next rules ahead of time
 * overlaps those misses with judging the current one. */
#if defined(__GNUC__)
#define PREFETCH(address) __builtin_prefetch(address)
#else
#define PREFETCH(address) ((void)(address))
#endif

static size_t list_visit(const bk_rule_list *list, const bk_eval_env *env, const int64_t *horizon_ms,
                         bk_rule_visit_fn visit, void *userdata)
{
    const size_t n = list->count;
    const bk_rule_entry *items = list->items;
    for (size_t i = 0; i < n; i++) {
        if (!bk_rule_screen_passes(&items[i].screen, env, *horizon_ms))
            continue;
        if (i + 2 < n)
            PREFETCH(items[i + 2].rule);
        visit(items[i].rule, userdata);
    }
    return n;
}

static size_t trie_visit(const bk_trie *trie, const char *subject, size_t length, const bk_eval_env *env,
                         const int64_t *horizon_ms, bk_rule_visit_fn visit, void *userdata)
{
    size_t seen = 0;
    if (trie->count == 0)
        return 0;
    uint32_t node = 0;
    for (size_t i = 0; i < length; i++) {
        node = trie_child(trie, node, (unsigned char)subject[i]);
        if (!node)
            break;
        seen += list_visit(&trie->nodes[node].rules, env, horizon_ms, visit, userdata);
    }
    return seen;
}

/* ---- keys --------------------------------------------------------- */

typedef struct key_set {
    bool usable;
    size_t count;
    bk_index_key keys[BK_RULES_MAX_INDEX_KEYS];
} key_set;

/* How well a key narrows the candidates: events beat prefixes, and longer
 * prefixes beat shorter ones. A set is as weak as its weakest key. */
static size_t key_set_score(const key_set *set)
{
    size_t score = SIZE_MAX;
    for (size_t i = 0; i < set->count; i++) {
        size_t s = set->keys[i].kind == BK_INDEX_EVENT ? 1000 : (set->keys[i].length < 100 ? set->keys[i].length : 100);
        if (s < score)
            score = s;
    }
    return score;
}

/* The literal start of an ERE that begins with '^', or 0 bytes: the text up
 * to the first metacharacter, with escaped metacharacters ("\\.") taken
 * literally. Patterns with '|' anywhere are skipped, since an alternative
 * need not share the start. */
static size_t regex_literal_prefix(const char *re, size_t length, char *out)
{
    if (length == 0 || re[0] != '^' || memchr(re, '|', length))
        return 0;
    size_t n = 0;
    for (size_t i = 1; i < length; i++) {
        char ch = re[i];
        if (ch == '\\' && i + 1 < length && strchr(".[]()*+?{}|\\^$/-", re[i + 1])) {
            /* An escaped metacharacter stands for itself. */
            out[n++] = re[++i];
            continue;
        }
        if (strchr(".[]()*+?{}|\\^$", ch)) {
            if (ch == '*' || ch == '?' || ch == '{') {
                /* The quantifier makes the previous character optional:
                 * drop it, whole, whether the locale reads bytes or UTF-8. */
                while (n > 0 && ((unsigned char)out[n - 1] & 0xC0) == 0x80)
                    n--;
                if (n > 0)
                    n--;
            }
            break;
        }
        out[n++] = ch;
    }
    return n;
}

static bool add_key(bk_rule *rule, key_set *set, bk_index_key_kind kind, const char *text, size_t length)
{
    if (length == 0 || set->count == BK_RULES_MAX_INDEX_KEYS)
        return false;
    char *copy = bk_arena_strndup(&rule->arena, text, length);
    if (!copy)
        return false;
    set->keys[set->count].kind = kind;
    set->keys[set->count].text = copy;
    set->keys[set->count].length = length;
    set->count++;
    return true;
}

static void leaf_keys(bk_rule *rule, const bk_node *leaf, key_set *set)
{
    bk_field field = leaf->field->field;
    set->usable = false;
    set->count = 0;
    if (field != BK_FIELD_EVENT_NAME && field != BK_FIELD_PAGE_PATH && field != BK_FIELD_PAGE_URL)
        return;
    bk_index_key_kind kind = field == BK_FIELD_EVENT_NAME ? BK_INDEX_EVENT
                             : field == BK_FIELD_PAGE_PATH ? BK_INDEX_PATH_PREFIX
                                                           : BK_INDEX_URL_PREFIX;
    const bk_value *v = &leaf->value;
    char prefix[BK_RULES_MAX_PATTERN];
    switch ((bk_op)leaf->op) {
    case BK_OP_EQ:
        set->usable = add_key(rule, set, kind, v->string, v->length);
        break;
    case BK_OP_IN:
        set->usable = true;
        for (size_t i = 0; i < leaf->list_count && set->usable; i++)
            set->usable = add_key(rule, set, kind, leaf->list[i].string, leaf->list[i].length);
        break;
    case BK_OP_STARTS_WITH:
        if (kind != BK_INDEX_EVENT)
            set->usable = add_key(rule, set, kind, v->string, v->length);
        break;
    case BK_OP_GLOB:
        if (kind == BK_INDEX_EVENT && bk_glob_is_literal(v->string, v->length))
            set->usable = add_key(rule, set, kind, prefix, bk_glob_literal_prefix(v->string, v->length, prefix));
        else if (kind != BK_INDEX_EVENT)
            set->usable = add_key(rule, set, kind, prefix, bk_glob_literal_prefix(v->string, v->length, prefix));
        break;
    case BK_OP_REGEX:
        if (kind != BK_INDEX_EVENT)
            set->usable = add_key(rule, set, kind, prefix, regex_literal_prefix(v->string, v->length, prefix));
        break;
    default:
        break;
    }
}

static void node_keys(bk_rule *rule, int index, key_set *set)
{
    const bk_node *node = &rule->nodes[index];
    set->usable = false;
    set->count = 0;
    switch ((bk_node_kind)node->kind) {
    case BK_NODE_LEAF:
        leaf_keys(rule, node, set);
        return;
    case BK_NODE_NOT:
        return;
    case BK_NODE_ALL: {
        key_set child;
        for (uint16_t i = 0; i < node->child_count; i++) {
            node_keys(rule, node->children[i], &child);
            if (!child.usable)
                continue;
            size_t score = key_set_score(&child);
            size_t best = set->usable ? key_set_score(set) : 0;
            if (!set->usable || score > best || (score == best && child.count < set->count))
                *set = child;
        }
        return;
    }
    case BK_NODE_ANY: {
        key_set child;
        for (uint16_t i = 0; i < node->child_count; i++) {
            node_keys(rule, node->children[i], &child);
            if (!child.usable || set->count + child.count > BK_RULES_MAX_INDEX_KEYS) {
                set->usable = false;
                set->count = 0;
                return;
            }
            memcpy(&set->keys[set->count], child.keys, child.count * sizeof child.keys[0]);
            set->count += child.count;
        }
        set->usable = node->child_count > 0;
        return;
    }
    }
}

/* ---- the index ---------------------------------------------------- */

void bk_rule_index_init(bk_rule_index *index)
{
    memset(index, 0, sizeof *index);
}

static bk_rule_list *bucket_for(bk_rule_index *index, const bk_index_key *key, bool create)
{
    if (key->kind == BK_INDEX_EVENT) {
        bk_rule_list *list = bk_strmap_get(&index->events, key->text, key->length);
        if (list || !create)
            return list;
        list = calloc(1, sizeof *list);
        if (list && !bk_strmap_put(&index->events, key->text, key->length, list)) {
            free(list);
            return NULL;
        }
        return list;
    }
    bk_trie *trie = key->kind == BK_INDEX_PATH_PREFIX ? &index->paths : &index->urls;
    uint32_t node = trie_find(trie, key->text, key->length, create);
    return node ? &trie->nodes[node].rules : NULL;
}

int bk_rule_index_add(bk_rule_index *index, bk_rule *rule)
{
    key_set set;
    node_keys(rule, rule->when_root, &set);
    if (!set.usable || set.count == 0) {
        rule->index_keys = NULL;
        rule->index_key_count = 0;
        return list_add(&index->always, rule) ? BK_RULES_OK : BK_RULES_ERR_NO_MEMORY;
    }
    bk_index_key *keys = bk_arena_alloc(&rule->arena, set.count * sizeof *keys);
    if (!keys)
        return BK_RULES_ERR_NO_MEMORY;
    memcpy(keys, set.keys, set.count * sizeof *keys);
    rule->index_keys = keys;
    rule->index_key_count = 0;
    for (size_t i = 0; i < set.count; i++) {
        bk_rule_list *list = bucket_for(index, &keys[i], true);
        if (!list || !list_add(list, rule)) {
            bk_rule_index_remove(index, rule); /* undo the keys filed so far */
            return BK_RULES_ERR_NO_MEMORY;
        }
        rule->index_key_count = i + 1;
    }
    return BK_RULES_OK;
}

void bk_rule_index_remove(bk_rule_index *index, const bk_rule *rule)
{
    if (rule->index_key_count == 0) {
        list_remove(&index->always, rule);
        return;
    }
    for (size_t i = 0; i < rule->index_key_count; i++) {
        bk_rule_list *list = bucket_for(index, &rule->index_keys[i], false);
        if (list)
            list_remove(list, rule);
    }
}

void bk_rule_index_free(bk_rule_index *index)
{
    free(index->always.items);
    for (size_t i = 0; i < index->events.capacity; i++) {
        bk_rule_list *list = index->events.slots[i].key ? index->events.slots[i].value : NULL;
        if (list) {
            free(list->items);
            free(list);
        }
    }
    bk_strmap_free(&index->events);
    trie_free(&index->paths);
    trie_free(&index->urls);
    memset(index, 0, sizeof *index);
}

size_t bk_rule_index_visit(const bk_rule_index *index, const bk_eval_env *env, const int64_t *horizon_ms,
                           bk_rule_visit_fn visit, void *userdata)
{
    size_t seen = 0;
    if (env->event_name) {
        const bk_rule_list *list = bk_strmap_get(&index->events, env->event_name, env->event_name_length);
        if (list)
            seen += list_visit(list, env, horizon_ms, visit, userdata);
    }
    if (env->path)
        seen += trie_visit(&index->paths, env->path, env->path_length, env, horizon_ms, visit, userdata);
    if (env->ctx->page_url && *env->ctx->page_url)
        seen += trie_visit(&index->urls, env->ctx->page_url, strlen(env->ctx->page_url), env, horizon_ms, visit,
                           userdata);
    seen += list_visit(&index->always, env, horizon_ms, visit, userdata);
    return seen;
}
