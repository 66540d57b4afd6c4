/* rule_set.h - the set's insides, shared by rule_set.c and explain.c. */
#ifndef BK_RULES_RULE_SET_H
#define BK_RULES_RULE_SET_H

#include "rules/rule.h"
#include "rules/rule_index.h"
#include "rules/strmap.h"

struct bk_rule_set {
    bk_rule **rules;      /* highest priority first, ties by id: the explain order */
    size_t count;
    size_t capacity;
    bk_strmap by_id;      /* id -> bk_rule* */
    bk_rule_index index;
    bk_tz_cache zones;    /* zones the rules point at; freed with the set */
};

/* True when rule `a` wins over rule `b`. */
bool bk_rule_outranks(const bk_rule *a, const bk_rule *b);

#endif
