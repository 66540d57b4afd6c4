/* rule_index.h - which rules can possibly fire for a given context.
 *
 * Most rules are narrow: they need a particular custom event
 * (event.name = "cart_add") or a particular part of the site
 * (page.path glob "/pricing*"). When a rule's `when` requires such a thing
 * in every way it can be true, the rule is filed under it ("index keys"):
 *
 *   event buckets   event name -> rules that need that event
 *   path trie       literal page.path prefixes -> rules that need them
 *   url trie        literal page.url prefixes -> rules that need them
 *   always          every other rule
 *
 * Evaluating a context then looks only at `always`, the bucket of the
 * current event, and the trie nodes along the current path and URL. A rule
 * outside those can neither match now nor become true by time passing,
 * since events are instants and the page does not change by itself.
 *
 * Keys come from the `when` tree: a comparison gives keys (=, in,
 * starts_with, a glob's text before its first wildcard, a regex's literal
 * text after a leading ^); `all` takes its most selective child's keys;
 * `any` takes the union of its children's keys, but only if every child
 * has some; `not` gives none. */
#ifndef BK_RULES_RULE_INDEX_H
#define BK_RULES_RULE_INDEX_H

#include "rules/rule.h"
#include "rules/strmap.h"

#include <stdint.h>

/* A rule with a copy of its screen beside it (see bk_rule_screen). */
typedef struct bk_rule_entry {
    const bk_rule *rule;
    bk_rule_screen screen;
} bk_rule_entry;

typedef struct bk_rule_list {
    bk_rule_entry *items;
    size_t count;
    size_t capacity;
} bk_rule_list;

typedef struct bk_trie_node {
    uint32_t first_child;  /* 0 = none (the root is never anybody's child) */
    uint32_t next_sibling;
    unsigned char byte;
    bk_rule_list rules;    /* rules whose key ends here */
} bk_trie_node;

typedef struct bk_trie {
    bk_trie_node *nodes;   /* nodes[0] is the root */
    size_t count;
    size_t capacity;
} bk_trie;

typedef struct bk_rule_index {
    bk_rule_list always;
    bk_strmap events;      /* event name -> bk_rule_list* */
    bk_trie paths;
    bk_trie urls;
} bk_rule_index;

void bk_rule_index_init(bk_rule_index *index);
void bk_rule_index_free(bk_rule_index *index);

/* Works out the rule's keys (stored in the rule) and files it.
 * Returns BK_RULES_OK or BK_RULES_ERR_NO_MEMORY (index unchanged). */
int bk_rule_index_add(bk_rule_index *index, bk_rule *rule);

/* Unfiles a rule previously added. */
void bk_rule_index_remove(bk_rule_index *index, const bk_rule *rule);

typedef void (*bk_rule_visit_fn)(const bk_rule *rule, void *userdata);

/* Calls `visit` for every rule that might fire in `env` before *horizon_ms:
 * those filed under the context's keys, minus those their screen turns
 * away. The caller may lower *horizon_ms from `visit` as it learns of
 * earlier moments. Narrow buckets (event, path, URL) come before the
 * `always` list, so that the horizon is tight by the time the broad rules
 * are screened. A rule filed under several matching keys is visited once
 * per key; callers must not mind. Returns how many rules the keys let
 * through, screened or not. */
size_t bk_rule_index_visit(const bk_rule_index *index, const bk_eval_env *env, const int64_t *horizon_ms,
                           bk_rule_visit_fn visit, void *userdata);

#endif
