/* compile.c - validating a JSON rule and compiling it into a bk_rule.
 *
 * Validation and compilation are one pass: every value is checked where it
 * is turned into its compiled form, so the two can never disagree. The
 * compiler keeps the JSON path of the value at hand in a buffer (pushed and
 * popped as it descends), and every error reports that path. */
#include "base/utf8.h"
#include "rules/rule.h"

#include "rules/civil.h"
#include "rules/glob.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct compiler {
    bk_rule *rule;
    bk_rules_error *err;
    int status;

    char path[BK_RULES_PATH_MAX];
    size_t path_length;
    size_t prefix_length; /* "[3]" when compiling rule 3 of an array */

    bk_node nodes[BK_RULES_MAX_NODES];
    size_t node_count;
    size_t condition_count;
    bool uses_clock;  /* time.hour or time.weekday appear: a zone is needed */

    regex_t *regexes[BK_RULES_MAX_CONDITIONS];
    size_t regex_count;
} compiler;

/* ---- errors and paths --------------------------------------------- */

static bool fail(compiler *c, const char *format, ...) __attribute__((format(printf, 2, 3)));

static bool fail(compiler *c, const char *format, ...)
{
    c->status = BK_RULES_ERR_INVALID;
    if (c->err) {
        snprintf(c->err->path, sizeof c->err->path, "%s", c->path);
        va_list args;
        va_start(args, format);
        vsnprintf(c->err->message, sizeof c->err->message, format, args);
        va_end(args);
        /* both quote what the marketer typed, cut to fixed buffers */
        bk_utf8_repair(c->err->path);
        bk_utf8_repair(c->err->message);
    }
    return false;
}

static bool fail_memory(compiler *c)
{
    fail(c, "out of memory");
    c->status = BK_RULES_ERR_NO_MEMORY;
    return false;
}

/* The current path as stored in a compiled node: without the array
 * position, since explanations name the rule separately. */
static const char *node_path(compiler *c, size_t length)
{
    size_t skip = c->prefix_length;
    if (skip < length && c->path[skip] == '.')
        skip++;
    if (skip > length)
        skip = length;
    return bk_arena_strndup(&c->rule->arena, c->path + skip, length - skip);
}

/* Appends ".key" (or "key" at the root) and returns the length to restore. */
static size_t push_key(compiler *c, const char *key)
{
    size_t saved = c->path_length;
    int n = snprintf(c->path + c->path_length, sizeof c->path - c->path_length, "%s%s",
                     c->path_length ? "." : "", key);
    if (n > 0)
        c->path_length += (size_t)n < sizeof c->path - c->path_length ? (size_t)n
                                                                      : sizeof c->path - c->path_length - 1;
    return saved;
}

static size_t push_index(compiler *c, size_t index)
{
    size_t saved = c->path_length;
    int n = snprintf(c->path + c->path_length, sizeof c->path - c->path_length, "[%zu]", index);
    if (n > 0)
        c->path_length += (size_t)n < sizeof c->path - c->path_length ? (size_t)n
                                                                      : sizeof c->path - c->path_length - 1;
    return saved;
}

static void pop(compiler *c, size_t saved)
{
    c->path_length = saved;
    c->path[saved] = '\0';
}

/* Rejects keys outside `allowed` (a NULL-terminated list) with the list. */
static bool check_keys(compiler *c, json_t *object, const char *const *allowed)
{
    const char *key;
    json_t *value;
    json_object_foreach(object, key, value) {
        bool known = false;
        for (size_t i = 0; allowed[i]; i++)
            known = known || strcmp(key, allowed[i]) == 0;
        if (!known) {
            char list[160] = "";
            size_t used = 0;
            for (size_t i = 0; allowed[i] && used < sizeof list; i++) {
                int n = snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", allowed[i]);
                if (n < 0)
                    break;
                used += (size_t)n;
            }
            size_t saved = push_key(c, key);
            fail(c, "unknown key (expected %s)", list);
            pop(c, saved);
            return false;
        }
    }
    return true;
}

/* ---- small value checks ------------------------------------------- */

static size_t utf8_characters(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

static bool get_string(compiler *c, json_t *value, size_t max_bytes, const char **out, size_t *length)
{
    if (!json_is_string(value))
        return fail(c, "expected a string");
    size_t len = json_string_length(value);
    if (len > max_bytes)
        return fail(c, "too long (max %zu bytes)", max_bytes);
    *out = bk_arena_strndup(&c->rule->arena, json_string_value(value), len);
    if (!*out)
        return fail_memory(c);
    if (length)
        *length = len;
    return true;
}

static bool get_number(compiler *c, json_t *value, double *out)
{
    if (!json_is_number(value))
        return fail(c, "expected a number");
    double n = json_number_value(value);
    if (!isfinite(n) || fabs(n) > BK_RULES_MAX_NUMBER)
        return fail(c, "number out of range (max magnitude 1e15)");
    *out = n;
    return true;
}

static bool get_integer(compiler *c, json_t *value, int64_t min, int64_t max, int64_t *out)
{
    if (!json_is_integer(value))
        return fail(c, "expected an integer");
    json_int_t n = json_integer_value(value);
    if (n < min || n > max)
        return fail(c, "must be between %lld and %lld", (long long)min, (long long)max);
    *out = (int64_t)n;
    return true;
}

static bool get_bool(compiler *c, json_t *value, bool *out)
{
    if (!json_is_boolean(value))
        return fail(c, "expected true or false");
    *out = json_is_true(value);
    return true;
}

static bool is_name_char(char ch, bool allow_dot)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' ||
           ch == '-' || (allow_dot && ch == '.');
}

static bool valid_name(const char *s, size_t len, size_t max, bool allow_dot)
{
    if (len == 0 || len > max)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!is_name_char(s[i], allow_dot))
            return false;
    return true;
}

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
        return get_number(c, json, &out->number);
    case BK_RULES_VALUE_BOOL:
        return get_bool(c, json, &out->boolean);
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
        return fail(c, "expected a weekday (mon, tue, wed, thu, fri, sat, sun)");
    }
    bool pattern = op == BK_OP_GLOB || op == BK_OP_REGEX;
    if (!get_string(c, json, pattern ? BK_RULES_MAX_PATTERN : BK_RULES_MAX_STRING, &out->string, &out->length))
        return false;
    if (op == BK_OP_GLOB && out->length > 0) {
        /* A trailing lone backslash escapes nothing: surely a typo. */
        size_t backslashes = 0;
        for (size_t i = out->length; i > 0 && out->string[i - 1] == '\\'; i--)
            backslashes++;
        if (backslashes % 2 == 1)
            return fail(c, "glob ends with a lone backslash");
    }
    return true;
}

static int new_node(compiler *c, bk_node_kind kind)
{
    if (c->node_count == BK_RULES_MAX_NODES) {
        fail(c, "rule too complex (max %d conditions and groups)", BK_RULES_MAX_NODES);
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

/* glibc's regcomp and regexec put no limit on bounded repetition: "((a{1,100}){1,100}){1,100}"
 * takes seconds and a gigabyte to compile, and "(.{0,80}){0,80}#" over a long URL takes
 * minutes to match. Rules are compiled and evaluated on the event loop, so a pattern that can
 * explode is refused before regcomp sees it: repetition bounds above REGEX_BOUND_MAX, a
 * repeated group that itself repeats something, and back-references. Returns why, or NULL. */
#define REGEX_BOUND_MAX 32
#define REGEX_DEPTH_MAX 16

static const char *regex_unsafe(const char *pattern)
{
    int repeats[REGEX_DEPTH_MAX + 1] = { 0 }; /* per open group: does it contain a repetition? */
    int depth = 0;
    int last_group_repeats = -1;              /* the group just closed, if the atom before is one */
    for (const char *p = pattern; *p; p++) {
        int closed_group = last_group_repeats;
        last_group_repeats = -1;
        switch (*p) {
        case '\\':
            if (p[1] >= '1' && p[1] <= '9')
                return "back-references are not allowed";
            if (p[1])
                p++;
            break;
        case '[':                               /* a bracket expression is one atom */
            p++;
            if (*p == '^')
                p++;
            if (*p == ']')
                p++;
            while (*p && *p != ']')
                p++;
            if (!*p)
                return NULL;                    /* regcomp reports the syntax error */
            break;
        case '(':
            if (++depth > REGEX_DEPTH_MAX)
                return "groups nested too deep";
            repeats[depth] = 0;
            break;
        case ')':
            if (depth == 0)
                return NULL;
            last_group_repeats = repeats[depth];
            depth--;
            if (last_group_repeats)
                repeats[depth] = 1;
            break;
        case '*': case '+': case '?': case '{': {
            if (*p == '{') {
                char *end;
                long low = strtol(p + 1, &end, 10), high = low;
                if (end == p + 1)
                    break;                      /* a literal brace */
                if (*end == ',') {
                    high = end[1] == '}' ? -1 : strtol(end + 1, &end, 10);
                    if (high == -1)
                        end++;
                }
                if (low > REGEX_BOUND_MAX || high > REGEX_BOUND_MAX)
                    return "repetition bounds above 32 are not allowed";
                while (*p && *p != '}')
                    p++;
                if (!*p)
                    return NULL;
            }
            if (closed_group == 1)
                return "a repeated group may not itself contain a repetition";
            repeats[depth] = 1;
            break;
        }
        default:
            break;
        }
    }
    return NULL;
}

static int compile_leaf(compiler *c, const char *condition_path, const bk_field_info *field,
                        const char *field_name, size_t key_offset, const char *op_name, json_t *operand)
{
    int op = bk_op_lookup(op_name);
    if (op < 0) {
        fail(c, "unknown operator (expected = != < <= > >= contains starts_with glob regex in exists)");
        return -1;
    }
    if (!op_allowed(field->kind, (bk_op)op)) {
        fail(c, "operator %s does not apply to %s (use %s)", op_name, field_name, kind_ops(field->kind));
        return -1;
    }
    if (++c->condition_count > BK_RULES_MAX_CONDITIONS) {
        fail(c, "too many conditions (max %d per rule)", BK_RULES_MAX_CONDITIONS);
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
        if (!get_bool(c, operand, &leaf->value.boolean))
            return -1;
    } else if (op == BK_OP_IN) {
        size_t n = json_array_size(operand);
        if (!json_is_array(operand)) {
            fail(c, "expected an array");
            return -1;
        }
        if (n == 0 || n > BK_RULES_MAX_LIST) {
            fail(c, "expected 1 to %d values", BK_RULES_MAX_LIST);
            return -1;
        }
        bk_value *list = bk_arena_alloc(&c->rule->arena, n * sizeof *list);
        if (!list) {
            fail_memory(c);
            return -1;
        }
        for (size_t i = 0; i < n; i++) {
            size_t saved = push_index(c, i);
            json_t *item = json_array_get(operand, i);
            if (field->kind == BK_KIND_DYNAMIC && !json_is_string(item) && !json_is_number(item) &&
                !json_is_boolean(item)) {
                fail(c, "expected a string, number or boolean");
                return -1;
            }
            if (!compile_operand(c, field, (bk_op)op, item, &list[i]))
                return -1;
            pop(c, saved);
        }
        leaf->list = list;
        leaf->list_count = (uint16_t)n;
    } else {
        if (field->kind == BK_KIND_DYNAMIC && (op == BK_OP_EQ || op == BK_OP_NE) && !json_is_string(operand) &&
            !json_is_number(operand) && !json_is_boolean(operand)) {
            fail(c, "expected a string, number or boolean");
            return -1;
        }
        if (json_is_array(operand) && (op == BK_OP_EQ || op == BK_OP_NE)) {
            fail(c, "expected a single value; use {\"in\": [...]} for a list");
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
        const char *unsafe = regex_unsafe(leaf->value.string);
        if (unsafe) {
            fail(c, "regex refused: %s", unsafe);
            return -1;
        }
        regex_t *regex = bk_arena_alloc(&c->rule->arena, sizeof *regex);
        if (!regex) {
            fail_memory(c);
            return -1;
        }
        int rc = regcomp(regex, leaf->value.string, REG_EXTENDED | REG_NOSUB);
        if (rc != 0) {
            char why[128];
            regerror(rc, regex, why, sizeof why);
            fail(c, "invalid regex: %s", why);
            return -1;
        }
        c->regexes[c->regex_count++] = regex;
        leaf->regex = regex;
    }
    leaf->cost = leaf_cost(leaf);
    return index;
}

static int compile_condition(compiler *c, json_t *json, int depth);

/* Children of all/any, or the one child of not. */
static int compile_group(compiler *c, bk_node_kind kind, json_t *value, int depth)
{
    if (depth >= BK_RULES_MAX_DEPTH) {
        fail(c, "nested too deeply (max %d levels of all/any/not)", BK_RULES_MAX_DEPTH);
        return -1;
    }
    const char *path = node_path(c, c->path_length);
    if (!path) {
        fail_memory(c);
        return -1;
    }
    json_t *single[1] = {value};
    size_t count = 1;
    if (kind != BK_NODE_NOT) {
        if (!json_is_array(value)) {
            fail(c, "expected an array of conditions");
            return -1;
        }
        count = json_array_size(value);
        if (kind == BK_NODE_ANY && count == 0) {
            fail(c, "must contain at least one condition");
            return -1;
        }
    }
    uint16_t *children = bk_arena_alloc(&c->rule->arena, (count ? count : 1) * sizeof *children);
    uint16_t *order = bk_arena_alloc(&c->rule->arena, (count ? count : 1) * sizeof *order);
    if (!children || !order) {
        fail_memory(c);
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        size_t saved = kind == BK_NODE_NOT ? c->path_length : push_index(c, i);
        int child = compile_condition(c, kind == BK_NODE_NOT ? single[0] : json_array_get(value, i), depth + 1);
        if (child < 0)
            return -1;
        pop(c, saved);
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
        fail(c, "unknown field");
        return -1;
    }
    if (field->prefix && !valid_name(field_name + key_offset, strlen(field_name + key_offset), 64, true)) {
        fail(c, "expected a name after \"%s\" (1-64 of A-Z a-z 0-9 _ - .)", field->name);
        return -1;
    }
    /* The condition object's path, without the field, is what explanations
     * show: "when.all[1]". The field is already on c->path; cut it off. */
    size_t field_length = strlen(field_name);
    size_t condition_length = c->path_length > field_length ? c->path_length - field_length : 0;
    if (condition_length > 0 && c->path[condition_length - 1] == '.')
        condition_length--; /* the '.' before the field */
    const char *condition_path = node_path(c, condition_length);
    const char *name = bk_arena_strndup(&c->rule->arena, field_name, strlen(field_name));
    if (!condition_path || !name) {
        fail_memory(c);
        return -1;
    }

    if (!json_is_object(spec))
        return compile_leaf(c, condition_path, field, name, key_offset, "=", spec);

    size_t op_count = json_object_size(spec);
    if (op_count == 0) {
        fail(c, "expected at least one operator");
        return -1;
    }
    int leaves[16];
    size_t leaf_count = 0;
    const char *op_name;
    json_t *operand;
    json_object_foreach(spec, op_name, operand) {
        if (leaf_count == sizeof leaves / sizeof leaves[0]) {
            fail(c, "too many operators on one field");
            return -1;
        }
        size_t saved = push_key(c, op_name);
        int leaf = compile_leaf(c, condition_path, field, name, key_offset, op_name, operand);
        if (leaf < 0)
            return -1;
        pop(c, saved);
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
        fail_memory(c);
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

static int compile_condition(compiler *c, json_t *json, int depth)
{
    if (!json_is_object(json)) {
        fail(c, "expected a condition object");
        return -1;
    }
    if (json_object_size(json) != 1) {
        fail(c, json_object_size(json) == 0 ? "empty condition"
                                            : "a condition has exactly one key; combine several with \"all\"");
        return -1;
    }
    const char *key;
    json_t *value;
    int result = -1;
    json_object_foreach(json, key, value) {
        size_t saved = push_key(c, key);
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
        pop(c, saved);
    }
    return result;
}

/* ---- the parts of a rule ------------------------------------------ */

static bool compile_only(compiler *c, json_t *only, const char **hours_text, const char **tz_name)
{
    static const char *const keys[] = {"agents_available", "hours", "tz", "site", NULL};
    if (!json_is_object(only))
        return fail(c, "expected an object");
    if (!check_keys(c, only, keys))
        return false;
    bk_rule *rule = c->rule;
    json_t *v;
    size_t saved;

    if ((v = json_object_get(only, "agents_available"))) {
        bool required = false;
        saved = push_key(c, "agents_available");
        if (!get_bool(c, v, &required))
            return false;
        pop(c, saved);
        rule->screen.agents_required = (int8_t)(required ? 1 : 0);
    }
    if ((v = json_object_get(only, "hours"))) {
        saved = push_key(c, "hours");
        if (!get_string(c, v, 512, hours_text, NULL))
            return false;
        pop(c, saved);
    }
    if ((v = json_object_get(only, "tz"))) {
        saved = push_key(c, "tz");
        if (!get_string(c, v, 64, tz_name, NULL))
            return false;
        pop(c, saved);
    }
    if ((v = json_object_get(only, "site"))) {
        saved = push_key(c, "site");
        size_t n = json_is_array(v) ? json_array_size(v) : 1;
        if (!json_is_array(v) && !json_is_string(v))
            return fail(c, "expected a string or an array of strings");
        if (n == 0 || n > BK_RULES_MAX_LIST)
            return fail(c, "expected 1 to %d sites", BK_RULES_MAX_LIST);
        const char **sites = bk_arena_alloc(&rule->arena, n * sizeof *sites);
        if (!sites)
            return fail_memory(c);
        for (size_t i = 0; i < n; i++) {
            size_t item_saved = json_is_array(v) ? push_index(c, i) : c->path_length;
            json_t *item = json_is_array(v) ? json_array_get(v, i) : v;
            size_t len = 0;
            if (!get_string(c, item, 200, &sites[i], &len))
                return false;
            if (len == 0)
                return fail(c, "must not be empty");
            pop(c, item_saved);
        }
        rule->sites = sites;
        rule->site_count = n;
        pop(c, saved);
    }
    return true;
}

static bool compile_cap(compiler *c, json_t *cap)
{
    static const char *const keys[] = {"per_visit", "cooldown_days", NULL};
    if (!json_is_object(cap))
        return fail(c, "expected an object");
    if (!check_keys(c, cap, keys))
        return false;
    json_t *v;
    size_t saved;
    if ((v = json_object_get(cap, "per_visit"))) {
        saved = push_key(c, "per_visit");
        if (!get_integer(c, v, 1, 1000, &c->rule->per_visit))
            return false;
        pop(c, saved);
    }
    if ((v = json_object_get(cap, "cooldown_days"))) {
        double days = 0;
        saved = push_key(c, "cooldown_days");
        if (!get_number(c, v, &days))
            return false;
        if (days < 0 || days > 3650)
            return fail(c, "must be between 0 and 3650");
        pop(c, saved);
        c->rule->cooldown_ms = (int64_t)llround(days * (double)BK_MS_PER_DAY);
    }
    return true;
}

static bool plain_text(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if ((ch < 0x20 && ch != '\n' && ch != '\t') || ch == 0x7F)
            return false;
    }
    return true;
}

static bool compile_then(compiler *c, json_t *then)
{
    static const char *const then_keys[] = {"invite", NULL};
    static const char *const invite_keys[] = {"text", "delay_seconds", "agent", NULL};
    if (!json_is_object(then))
        return fail(c, "expected an object");
    if (!check_keys(c, then, then_keys))
        return false;
    json_t *invite = json_object_get(then, "invite");
    size_t saved = push_key(c, "invite");
    if (!invite)
        return fail(c, "required");
    if (!json_is_object(invite))
        return fail(c, "expected an object");
    if (!check_keys(c, invite, invite_keys))
        return false;

    bk_rule *rule = c->rule;
    json_t *v = json_object_get(invite, "text");
    size_t inner = push_key(c, "text");
    size_t len;
    if (!v)
        return fail(c, "required");
    if (!get_string(c, v, BK_RULES_MAX_INVITE_TEXT * 4, &rule->invite_text, &len))
        return false;
    if (utf8_characters(rule->invite_text, len) > BK_RULES_MAX_INVITE_TEXT)
        return fail(c, "too long (max %d characters)", BK_RULES_MAX_INVITE_TEXT);
    if (len == 0 || strspn(rule->invite_text, " \t\n") == len)
        return fail(c, "must not be empty");
    if (!plain_text(rule->invite_text, len))
        return fail(c, "must be plain text (no control characters)");
    pop(c, inner);

    if ((v = json_object_get(invite, "delay_seconds"))) {
        inner = push_key(c, "delay_seconds");
        if (!get_integer(c, v, 0, 3600, &rule->invite_delay_seconds))
            return false;
        pop(c, inner);
    }
    if ((v = json_object_get(invite, "agent"))) {
        inner = push_key(c, "agent");
        if (!get_string(c, v, 64, &rule->invite_agent, &len))
            return false;
        if (len == 0)
            return fail(c, "must not be empty");
        pop(c, inner);
    }
    pop(c, saved);
    return true;
}

/* Copies what the screen can check without the rule's nodes: plain
 * comparisons of fields time cannot change become gates (and are marked,
 * so that judging skips them), rising thresholds become screen thresholds. */
static void add_to_screen(bk_rule *rule, bk_node *leaf, bool expect)
{
    bk_rule_screen *screen = &rule->screen;
    if (leaf->kind != BK_NODE_LEAF)
        return;
    if (expect && bk_leaf_is_threshold(leaf) && (leaf->op == BK_OP_GE || leaf->op == BK_OP_GT) &&
        screen->threshold_count < BK_RULES_MAX_SCREEN_THRESHOLDS) {
        bk_screen_threshold *threshold = &screen->thresholds[screen->threshold_count++];
        threshold->field = leaf->field_id;
        threshold->boundary = leaf->boundary;
        return;
    }
    bk_field field = (bk_field)leaf->field_id;
    if (screen->gate_count == BK_RULES_MAX_GATES || leaf->op > BK_OP_GE)
        return;
    if (field != BK_FIELD_VISIT_PAGES && field != BK_FIELD_VISITOR_VISITS && field != BK_FIELD_VISITOR_CHATS &&
        field != BK_FIELD_CONVERSATION_OPEN)
        return;
    bk_gate *gate = &screen->gates[screen->gate_count++];
    gate->field = (uint8_t)field;
    gate->op = leaf->op;
    gate->expect = expect;
    gate->boolean = leaf->value.boolean;
    gate->number = leaf->value.number;
    leaf->screened = true;
}

/* Only children every firing needs qualify: those of the top `all` of
 * `when`, and those of a top `any` of `unless`, each of which blocks. */
static void build_screen(bk_rule *rule, bk_node *nodes)
{
    bk_node *when = &nodes[rule->when_root];
    if (when->kind == BK_NODE_ALL) {
        for (uint16_t i = 0; i < when->child_count; i++)
            add_to_screen(rule, &nodes[when->children[i]], true);
    } else {
        add_to_screen(rule, when, true);
    }
    if (rule->unless_root < 0)
        return;
    bk_node *unless = &nodes[rule->unless_root];
    if (unless->kind == BK_NODE_ANY) {
        for (uint16_t i = 0; i < unless->child_count; i++)
            add_to_screen(rule, &nodes[unless->children[i]], false);
    } else {
        add_to_screen(rule, unless, false);
    }
}

static bool compile_rule(compiler *c, json_t *root, bk_tz_cache *zones)
{
    static const char *const keys[] = {"id", "name", "description", "enabled", "priority", "when",
                                       "unless", "only", "cap", "then", NULL};
    bk_rule *rule = c->rule;
    if (!json_is_object(root))
        return fail(c, "expected a rule object");
    if (!check_keys(c, root, keys))
        return false;

    json_t *v;
    size_t saved, len = 0;

    saved = push_key(c, "id");
    if (!(v = json_object_get(root, "id")))
        return fail(c, "required");
    if (!get_string(c, v, BK_RULES_MAX_STRING, &rule->id, &len))
        return false;
    if (!valid_name(rule->id, len, 64, false))
        return fail(c, "must be 1-64 characters of A-Z a-z 0-9 _ -");
    rule->id_bit = bk_id_bit(rule->id);
    pop(c, saved);

    rule->name = "";
    if ((v = json_object_get(root, "name"))) {
        saved = push_key(c, "name");
        if (!get_string(c, v, 200, &rule->name, NULL))
            return false;
        pop(c, saved);
    }
    if ((v = json_object_get(root, "description"))) {
        const char *ignored;
        saved = push_key(c, "description");
        if (!get_string(c, v, 2000, &ignored, NULL))
            return false;
        pop(c, saved);
    }
    rule->screen.enabled = true;
    if ((v = json_object_get(root, "enabled"))) {
        saved = push_key(c, "enabled");
        if (!get_bool(c, v, &rule->screen.enabled))
            return false;
        pop(c, saved);
    }
    if ((v = json_object_get(root, "priority"))) {
        saved = push_key(c, "priority");
        if (!get_integer(c, v, -1000000, 1000000, &rule->priority))
            return false;
        pop(c, saved);
    }

    saved = push_key(c, "when");
    if (!(v = json_object_get(root, "when")))
        return fail(c, "required");
    if ((rule->when_root = compile_condition(c, v, 0)) < 0)
        return false;
    pop(c, saved);

    rule->unless_root = -1;
    if ((v = json_object_get(root, "unless"))) {
        saved = push_key(c, "unless");
        if ((rule->unless_root = compile_condition(c, v, 0)) < 0)
            return false;
        pop(c, saved);
    }

    rule->screen.agents_required = -1;
    const char *hours_text = NULL, *tz_name = NULL;
    if ((v = json_object_get(root, "only"))) {
        saved = push_key(c, "only");
        if (!compile_only(c, v, &hours_text, &tz_name))
            return false;
        pop(c, saved);
    }

    rule->per_visit = 1;
    if ((v = json_object_get(root, "cap"))) {
        saved = push_key(c, "cap");
        if (!compile_cap(c, v))
            return false;
        pop(c, saved);
    }

    saved = push_key(c, "then");
    if (!(v = json_object_get(root, "then")))
        return fail(c, "required");
    if (!compile_then(c, v))
        return false;
    pop(c, saved);

    /* Zones last: an unknown zone is reported after structural mistakes,
     * and no file is read for a rule that is wrong anyway. */
    if (hours_text || c->uses_clock) {
        if (!tz_name) {
            saved = push_key(c, "only");
            push_key(c, "tz");
            fail(c, "required when %s (e.g. \"Europe/Copenhagen\" or \"UTC\")",
                 hours_text ? "only.hours is set" : "time.hour or time.weekday is used");
            pop(c, saved);
            return false;
        }
    }
    if (tz_name) {
        char why[128];
        saved = push_key(c, "only");
        push_key(c, "tz");
        rule->tz = bk_tz_cache_get(zones, tz_name, why, sizeof why);
        if (!rule->tz)
            return fail(c, "%s", why);
        pop(c, saved);
    }
    if (hours_text) {
        char why[160];
        bk_hours *hours = bk_arena_alloc(&rule->arena, sizeof *hours);
        if (!hours)
            return fail_memory(c);
        saved = push_key(c, "only");
        push_key(c, "hours");
        if (!bk_hours_parse(hours_text, &rule->arena, hours, why, sizeof why))
            return fail(c, "%s", why);
        pop(c, saved);
        rule->hours = hours;
    }

    bk_node *nodes = bk_arena_alloc(&rule->arena, c->node_count * sizeof *nodes);
    regex_t **regexes = bk_arena_alloc(&rule->arena, (c->regex_count ? c->regex_count : 1) * sizeof *regexes);
    if (!nodes || !regexes)
        return fail_memory(c);
    memcpy(nodes, c->nodes, c->node_count * sizeof *nodes);
    memcpy(regexes, c->regexes, c->regex_count * sizeof *regexes);
    rule->nodes = nodes;
    rule->node_count = c->node_count;
    rule->regexes = regexes;
    rule->regex_count = c->regex_count;
    c->regex_count = 0; /* the rule owns them now */
    rule->repeats_weekly = c->uses_clock || rule->hours;
    build_screen(rule, nodes);
    return true;
}

int bk_rule_compile_object(json_t *root, const char *path_prefix, bk_tz_cache *zones, bk_rule **out,
                           bk_rules_error *err)
{
    *out = NULL;
    compiler *c = calloc(1, sizeof *c);
    bk_arena arena = {NULL};
    bk_rule *rule = bk_arena_alloc(&arena, sizeof *rule);
    if (rule)
        rule->arena = arena;
    if (!c || !rule) {
        free(c);
        bk_arena_free(&arena);
        bk_rules_error_set(err, path_prefix, "out of memory");
        return BK_RULES_ERR_NO_MEMORY;
    }
    c->rule = rule;
    c->err = err;
    c->status = BK_RULES_OK;
    snprintf(c->path, sizeof c->path, "%s", path_prefix);
    c->path_length = strlen(c->path);
    c->prefix_length = c->path_length;

    if (!compile_rule(c, root, zones)) {
        for (size_t i = 0; i < c->regex_count; i++)
            regfree(c->regexes[i]);
        int status = c->status;
        free(c);
        bk_rule_free(rule);
        return status;
    }
    free(c);
    *out = rule;
    return BK_RULES_OK;
}

int bk_rule_compile(const char *json, size_t len, const char *path_prefix, bk_tz_cache *zones, bk_rule **out,
                    bk_rules_error *err)
{
    json_error_t parse_error;
    *out = NULL;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &parse_error);
    if (!root) {
        bk_rules_error_set(err, path_prefix, "invalid JSON at line %d column %d: %s", parse_error.line,
                           parse_error.column, parse_error.text);
        return BK_RULES_ERR_INVALID;
    }
    int status = bk_rule_compile_object(root, path_prefix, zones, out, err);
    json_decref(root);
    return status;
}

void bk_rule_free(bk_rule *rule)
{
    if (!rule)
        return;
    for (size_t i = 0; i < rule->regex_count; i++)
        regfree(rule->regexes[i]);
    bk_arena arena = rule->arena; /* the rule lives in its own arena */
    bk_arena_free(&arena);
}

/* ---- the zone cache ----------------------------------------------- */

const bk_tz *bk_tz_cache_get(bk_tz_cache *cache, const char *name, char *why, size_t why_size)
{
    for (size_t i = 0; i < cache->count; i++)
        if (strcmp(bk_tz_name(cache->zones[i]), name) == 0)
            return cache->zones[i];
    if (cache->count == cache->capacity) {
        size_t capacity = cache->capacity ? cache->capacity * 2 : 4;
        bk_tz **zones = realloc(cache->zones, capacity * sizeof *zones);
        if (!zones) {
            snprintf(why, why_size, "out of memory");
            return NULL;
        }
        cache->zones = zones;
        cache->capacity = capacity;
    }
    bk_tz *tz = bk_tz_load(BK_RULES_ZONEINFO_DIR, name, why, why_size);
    if (!tz)
        return NULL;
    cache->zones[cache->count++] = tz;
    return tz;
}

void bk_tz_cache_free(bk_tz_cache *cache)
{
    for (size_t i = 0; i < cache->count; i++)
        bk_tz_free(cache->zones[i]);
    free(cache->zones);
    cache->zones = NULL;
    cache->count = cache->capacity = 0;
}
