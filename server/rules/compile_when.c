/* compile_when.c - compiling conditions (when, unless): leaves, all/any/not, several operators. */
#include "rules/compile_internal.h"

#include "rules/regex_guard.h"

#include <math.h>
#include <string.h>

/* ---- leaves ------------------------------------------------------- */

static const char *const weekday_names[7] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

static bool op_allowed(bk_field_kind kind, bk_op op)
{
    switch (kind) {
    case BK_KIND_STRING:
        return op == BK_OP_EQ || op == BK_OP_NE || op == BK_OP_CONTAINS || op == BK_OP_STARTS_WITH ||
               op == BK_OP_GLOB || op == BK_OP_REGEX || op == BK_OP_IN || op == BK_OP_EXISTS;
    case BK_KIND_NUMBER:
        return op == BK_OP_EQ || op == BK_OP_NE || op == BK_OP_LT || op == BK_OP_LE || op == BK_OP_GT ||
               op == BK_OP_GE || op == BK_OP_IN || op == BK_OP_EXISTS;
    case BK_KIND_BOOL:
        return op == BK_OP_EQ || op == BK_OP_NE || op == BK_OP_EXISTS;
    case BK_KIND_WEEKDAY:
        return op == BK_OP_EQ || op == BK_OP_NE || op == BK_OP_IN || op == BK_OP_EXISTS;
    case BK_KIND_DYNAMIC:
        return true;
    }
    return false;
}

static const char *kind_ops(bk_field_kind kind)
{
    switch (kind) {
    case BK_KIND_STRING: return "= != contains starts_with glob regex in exists";
    case BK_KIND_NUMBER: return "= != < <= > >= in exists";
    case BK_KIND_BOOL: return "= != exists";
    case BK_KIND_WEEKDAY: return "= != in exists";
    case BK_KIND_DYNAMIC: break;
    }
    return "any operator";
}

/* Which JSON type an operand of `op` on a field of `kind` must have. */
static bk_rules_value_type operand_type(bk_field_kind kind, bk_op op, json_t *value)
{
    switch (op) {
    case BK_OP_LT: case BK_OP_LE: case BK_OP_GT: case BK_OP_GE:
        return BK_RULES_VALUE_NUMBER;
    case BK_OP_CONTAINS: case BK_OP_STARTS_WITH: case BK_OP_GLOB: case BK_OP_REGEX:
        return BK_RULES_VALUE_STRING;
    default:
        break;
    }
    switch (kind) {
    case BK_KIND_STRING: case BK_KIND_WEEKDAY: return BK_RULES_VALUE_STRING;
    case BK_KIND_NUMBER: return BK_RULES_VALUE_NUMBER;
    case BK_KIND_BOOL: return BK_RULES_VALUE_BOOL;
    case BK_KIND_DYNAMIC: break;
    }
    /* Attributes and properties compare with whatever scalar is given. */
    if (json_is_number(value))
        return BK_RULES_VALUE_NUMBER;
    if (json_is_boolean(value))
        return BK_RULES_VALUE_BOOL;
    return BK_RULES_VALUE_STRING;
}

/* Compiles one operand (or one `in` element) into `out`. */
static bool compile_operand(compiler *c, const bk_field_info *field, bk_op op, json_t *json, bk_value *out)
{
    memset(out, 0, sizeof *out);
    bk_rules_value_type type = operand_type(field->kind, op, json);
    out->type = type;
    switch (type) {
    case BK_RULES_VALUE_NUMBER:
        return compiler_get_number(c, json, &out->number);
    case BK_RULES_VALUE_BOOL:
        return compiler_get_bool(c, json, &out->boolean);
    case BK_RULES_VALUE_STRING:
    default:
        break;
    }
    if (field->kind == BK_KIND_WEEKDAY) {
        /* Weekdays are held as numbers 0..6 so hour and day share code. */
        for (int i = 0; i < 7; i++) {
            if (json_is_string(json) && strcmp(json_string_value(json), weekday_names[i]) == 0) {
                out->type = BK_RULES_VALUE_NUMBER;
                out->number = i;
                return true;
            }
        }
        return compiler_fail(c, "expected a weekday (mon, tue, wed, thu, fri, sat, sun)");
    }
    bool pattern = op == BK_OP_GLOB || op == BK_OP_REGEX;
    if (!compiler_get_string(c, json, pattern ? BK_RULES_MAX_PATTERN : BK_RULES_MAX_STRING, &out->string,
                             &out->length))
        return false;
    if (op == BK_OP_GLOB && out->length > 0) {
        /* A trailing lone backslash escapes nothing: surely a typo. */
        size_t backslashes = 0;
        for (size_t i = out->length; i > 0 && out->string[i - 1] == '\\'; i--)
            backslashes++;
        if (backslashes % 2 == 1)
            return compiler_fail(c, "glob ends with a lone backslash");
    }
    return true;
}

static int new_node(compiler *c, bk_node_kind kind)
{
    if (c->node_count == BK_RULES_MAX_NODES) {
        compiler_fail(c, "rule too complex (max %d conditions and groups)", BK_RULES_MAX_NODES);
        return -1;
    }
    bk_node *node = &c->nodes[c->node_count];
    memset(node, 0, sizeof *node);
    node->kind = (uint8_t)kind;
    return (int)c->node_count++;
}

/* The rough cost of testing an operator, so cheap tests run first. */
static unsigned leaf_cost(const bk_node *leaf)
{
    switch (leaf->op) {
    case BK_OP_REGEX: return 40;
    case BK_OP_GLOB: return 6;
    case BK_OP_CONTAINS: return 5;
    case BK_OP_IN: return 2 + (unsigned)leaf->list_count / 4;
    default: break;
    }
    /* Time-independent tests first: when one fails, the rule is settled. */
    return leaf->field->time == BK_TIME_CLOCK ? 8 : leaf->field->time == BK_TIME_ELAPSED ? 2 : 1;
}

/* One `field: {op: operand}` comparison; the path ends with the op. */
static int compile_leaf(compiler *c, const char *condition_path, const bk_field_info *field,
                        const char *field_name, size_t key_offset, const char *op_name, json_t *operand)
{
    int op = bk_op_lookup(op_name);
    if (op < 0) {
        compiler_fail(c,
                      "unknown operator (expected = != < <= > >= contains starts_with glob regex in exists)");
        return -1;
    }
    if (!op_allowed(field->kind, (bk_op)op)) {
        compiler_fail(c, "operator %s does not apply to %s (use %s)", op_name, field_name,
                      kind_ops(field->kind));
        return -1;
    }
    if (++c->condition_count > BK_RULES_MAX_CONDITIONS) {
        compiler_fail(c, "too many conditions (max %d per rule)", BK_RULES_MAX_CONDITIONS);
        return -1;
    }
    int index = new_node(c, BK_NODE_LEAF);
    if (index < 0)
        return -1;
    bk_node *leaf = &c->nodes[index];
    leaf->field = field;
    leaf->field_id = (uint8_t)field->field;
    leaf->time = (uint8_t)field->time;
    leaf->op = (uint8_t)op;
    leaf->path = condition_path;
    leaf->field_name = field_name;
    leaf->time_dependent = field->time != BK_TIME_NONE;
    if (field->prefix) {
        leaf->key = field_name + key_offset;
        leaf->key_length = strlen(leaf->key);
    }
    c->uses_clock = c->uses_clock || field->time == BK_TIME_CLOCK;

    if (op == BK_OP_EXISTS) {
        leaf->value.type = BK_RULES_VALUE_BOOL;
        if (!compiler_get_bool(c, operand, &leaf->value.boolean))
            return -1;
    } else if (op == BK_OP_IN) {
        size_t n = json_array_size(operand);
        if (!json_is_array(operand)) {
            compiler_fail(c, "expected an array");
            return -1;
        }
        if (n == 0 || n > BK_RULES_MAX_LIST) {
            compiler_fail(c, "expected 1 to %d values", BK_RULES_MAX_LIST);
            return -1;
        }
        bk_value *list = bk_arena_alloc(&c->rule->arena, n * sizeof *list);
        if (!list) {
            compiler_fail_memory(c);
            return -1;
        }
        for (size_t i = 0; i < n; i++) {
            size_t saved = compiler_push_index(c, i);
            json_t *item = json_array_get(operand, i);
            if (field->kind == BK_KIND_DYNAMIC && !json_is_string(item) && !json_is_number(item) &&
                !json_is_boolean(item)) {
                compiler_fail(c, "expected a string, number or boolean");
                return -1;
            }
            if (!compile_operand(c, field, (bk_op)op, item, &list[i]))
                return -1;
            compiler_pop(c, saved);
        }
        leaf->list = list;
        leaf->list_count = (uint16_t)n;
    } else {
        if (field->kind == BK_KIND_DYNAMIC && (op == BK_OP_EQ || op == BK_OP_NE) && !json_is_string(operand) &&
            !json_is_number(operand) && !json_is_boolean(operand)) {
            compiler_fail(c, "expected a string, number or boolean");
            return -1;
        }
        if (json_is_array(operand) && (op == BK_OP_EQ || op == BK_OP_NE)) {
            compiler_fail(c, "expected a single value; use {\"in\": [...]} for a list");
            return -1;
        }
        if (!compile_operand(c, field, (bk_op)op, operand, &leaf->value))
            return -1;
    }

    if (field->time == BK_TIME_ELAPSED && op >= BK_OP_LT && op <= BK_OP_GE) {
        /* Elapsed fields are whole numbers, so "page.seconds > 29.5" flips
         * when the count reaches 30, and "< 30" stops holding at 30. */
        double c = leaf->value.number;
        leaf->boundary = (int64_t)(op == BK_OP_GE || op == BK_OP_LT ? ceil(c) : floor(c) + 1);
    }
    if (op == BK_OP_REGEX) {
        const char *unsafe = bk_regex_unsafe(leaf->value.string);
        if (unsafe) {
            compiler_fail(c, "regex refused: %s", unsafe);
            return -1;
        }
        regex_t *regex = bk_arena_alloc(&c->rule->arena, sizeof *regex);
        if (!regex) {
            compiler_fail_memory(c);
            return -1;
        }
        int rc = regcomp(regex, leaf->value.string, REG_EXTENDED | REG_NOSUB);
        if (rc != 0) {
            char why[128];
            regerror(rc, regex, why, sizeof why);
            compiler_fail(c, "invalid regex: %s", why);
            return -1;
        }
        c->regexes[c->regex_count++] = regex;
        leaf->regex = regex;
    }
    leaf->cost = leaf_cost(leaf);
    return index;
}

/* Children of all/any, or the one child of not. */
static int compile_group(compiler *c, bk_node_kind kind, json_t *value, int depth)
{
    if (depth >= BK_RULES_MAX_DEPTH) {
        compiler_fail(c, "nested too deeply (max %d levels of all/any/not)", BK_RULES_MAX_DEPTH);
        return -1;
    }
    const char *path = compiler_node_path(c, c->path_length);
    if (!path) {
        compiler_fail_memory(c);
        return -1;
    }
    json_t *single[1] = {value};
    size_t count = 1;
    if (kind != BK_NODE_NOT) {
        if (!json_is_array(value)) {
            compiler_fail(c, "expected an array of conditions");
            return -1;
        }
        count = json_array_size(value);
        if (kind == BK_NODE_ANY && count == 0) {
            compiler_fail(c, "must contain at least one condition");
            return -1;
        }
    }
    uint16_t *children = bk_arena_alloc(&c->rule->arena, (count ? count : 1) * sizeof *children);
    uint16_t *order = bk_arena_alloc(&c->rule->arena, (count ? count : 1) * sizeof *order);
    if (!children || !order) {
        compiler_fail_memory(c);
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        size_t saved = kind == BK_NODE_NOT ? c->path_length : compiler_push_index(c, i);
        int child = compiler_add_condition(c, kind == BK_NODE_NOT ? single[0] : json_array_get(value, i),
                                           depth + 1);
        if (child < 0)
            return -1;
        compiler_pop(c, saved);
        children[i] = (uint16_t)child;
    }
    int index = new_node(c, kind);
    if (index < 0)
        return -1;
    bk_node *node = &c->nodes[index];
    node->path = path;
    node->child_count = (uint16_t)count;
    node->children = children;
    node->eval_order = order;
    unsigned cost = 1;
    for (size_t i = 0; i < count; i++) {
        const bk_node *child = &c->nodes[children[i]];
        node->time_dependent = node->time_dependent || child->time_dependent;
        cost += child->cost;
        order[i] = children[i];
    }
    node->cost = cost;
    /* Insertion sort by cost, stable so equal costs keep document order. */
    for (size_t i = 1; i < count; i++) {
        uint16_t moving = order[i];
        size_t j = i;
        while (j > 0 && c->nodes[order[j - 1]].cost > c->nodes[moving].cost) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = moving;
    }
    return index;
}

/* `{"page.seconds": {">=": 30, "<": 60}}` or the shorthand `{"page.path": "/"}`. */
static int compile_field(compiler *c, const char *field_name, json_t *spec)
{
    size_t key_offset = 0;
    const bk_field_info *field = bk_field_lookup(field_name, &key_offset);
    if (!field) {
        compiler_fail(c, "unknown field");
        return -1;
    }
    if (field->prefix &&
        !compiler_name_valid(field_name + key_offset, strlen(field_name + key_offset), 64, true)) {
        compiler_fail(c, "expected a name after \"%s\" (1-64 of A-Z a-z 0-9 _ - .)", field->name);
        return -1;
    }
    /* The condition object's path, without the field, is what explanations
     * show: "when.all[1]". The field is already on c->path; cut it off. */
    size_t field_length = strlen(field_name);
    size_t condition_length = c->path_length > field_length ? c->path_length - field_length : 0;
    if (condition_length > 0 && c->path[condition_length - 1] == '.')
        condition_length--; /* the '.' before the field */
    const char *condition_path = compiler_node_path(c, condition_length);
    const char *name = bk_arena_strndup(&c->rule->arena, field_name, strlen(field_name));
    if (!condition_path || !name) {
        compiler_fail_memory(c);
        return -1;
    }

    if (!json_is_object(spec))
        return compile_leaf(c, condition_path, field, name, key_offset, "=", spec);

    size_t op_count = json_object_size(spec);
    if (op_count == 0) {
        compiler_fail(c, "expected at least one operator");
        return -1;
    }
    int leaves[16];
    size_t leaf_count = 0;
    const char *op_name;
    json_t *operand;
    json_object_foreach(spec, op_name, operand) {
        if (leaf_count == sizeof leaves / sizeof leaves[0]) {
            compiler_fail(c, "too many operators on one field");
            return -1;
        }
        size_t saved = compiler_push_key(c, op_name);
        int leaf = compile_leaf(c, condition_path, field, name, key_offset, op_name, operand);
        if (leaf < 0)
            return -1;
        compiler_pop(c, saved);
        leaves[leaf_count++] = leaf;
    }
    if (leaf_count == 1)
        return leaves[0];

    /* Several operators on one field: an implicit `all`. */
    int index = new_node(c, BK_NODE_ALL);
    if (index < 0)
        return -1;
    uint16_t *children = bk_arena_alloc(&c->rule->arena, leaf_count * sizeof *children);
    uint16_t *order = bk_arena_alloc(&c->rule->arena, leaf_count * sizeof *order);
    if (!children || !order) {
        compiler_fail_memory(c);
        return -1;
    }
    bk_node *node = &c->nodes[index];
    node->path = condition_path;
    node->child_count = (uint16_t)leaf_count;
    node->children = children;
    node->eval_order = order;
    node->cost = 1;
    for (size_t i = 0; i < leaf_count; i++) {
        children[i] = order[i] = (uint16_t)leaves[i];
        node->time_dependent = node->time_dependent || c->nodes[leaves[i]].time_dependent;
        node->cost += c->nodes[leaves[i]].cost;
    }
    return index;
}

int compiler_add_condition(compiler *c, json_t *json, int depth)
{
    if (!json_is_object(json)) {
        compiler_fail(c, "expected a condition object");
        return -1;
    }
    if (json_object_size(json) != 1) {
        compiler_fail(c, json_object_size(json) == 0 ? "empty condition"
                                            : "a condition has exactly one key; combine several with \"all\"");
        return -1;
    }
    const char *key;
    json_t *value;
    int result = -1;
    json_object_foreach(json, key, value) {
        size_t saved = compiler_push_key(c, key);
        if (strcmp(key, "all") == 0)
            result = compile_group(c, BK_NODE_ALL, value, depth);
        else if (strcmp(key, "any") == 0)
            result = compile_group(c, BK_NODE_ANY, value, depth);
        else if (strcmp(key, "not") == 0)
            result = compile_group(c, BK_NODE_NOT, value, depth);
        else
            result = compile_field(c, key, value);
        if (result < 0)
            return -1;
        compiler_pop(c, saved);
    }
    return result;
}

