/* flow.c - checking a quick-reply flow: every field, then the graph (flow.h).
 *
 * Fields are checked in the order they are written, so the first problem reported is the first
 * one a marketer meets reading the document; the graph is checked only once every field is
 * right (a button's `next` naming no step is a field's problem, reported at that field). */
#include "flows/flow.h"

#include "base/utf8.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int fail(bk_flow_error *err, const char *path, const char *format, ...)
{
    snprintf(err->path, sizeof err->path, "%s", path);
    va_list args;
    va_start(args, format);
    vsnprintf(err->message, sizeof err->message, format, args);
    va_end(args);
    bk_utf8_repair(err->message);  /* a cut, or jansson quoting raw bytes, must not reach JSON */
    bk_utf8_repair(err->path);
    return -1;
}

/* out = "BASE.KEY" or "BASE[i]"-style text; paths are short (ids are at most 64 bytes), and
 * one cut short still names where to look. */
#define PATH_SIZE 256
static const char *path_printf(char out[PATH_SIZE], const char *format, ...)
{
    va_list args;
    va_start(args, format);
    if (vsnprintf(out, PATH_SIZE, format, args) >= PATH_SIZE)
        out[PATH_SIZE - 1] = '\0';
    va_end(args);
    return out;
}

/* Characters (not bytes) of UTF-8 text: jansson hands out valid UTF-8 only. */
static size_t characters(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static int is_id(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_' ||
              *s == '-'))
            return 0;
    return 1;
}

/* Text shown to visitors: 1..max characters, line breaks and tabs but no other control character. */
static int text_check(const json_t *value, const char *path, size_t max, bk_flow_error *err)
{
    if (!json_is_string(value))
        return fail(err, path, "expected text");
    const char *s = json_string_value(value);
    size_t len = json_string_length(value), count = characters(s);
    if (strlen(s) != len)
        return fail(err, path, "must not contain a NUL character");
    if (count == 0)
        return fail(err, path, "must not be empty");
    if (count > max)
        return fail(err, path, "at most %zu characters (this has %zu)", max, count);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++)
        if ((*c < 0x20 && *c != '\n' && *c != '\t') || *c == 0x7F)
            return fail(err, path, "must not contain control characters");
    return 0;
}

static int id_check(const json_t *value, const char *path, size_t max, const char *what, bk_flow_error *err)
{
    if (!json_is_string(value) || !is_id(json_string_value(value), max))
        return fail(err, path, "expected %s: 1-%zu of A-Z a-z 0-9 _ -", what, max);
    return 0;
}

/* Only the keys named in `allowed` ("a b c"): a typo never silently drops part of a flow. */
static int keys_check(const json_t *object, const char *path, const char *allowed, bk_flow_error *err)
{
    const char *key;
    const json_t *value;
    json_object_foreach((json_t *)object, key, value) {
        size_t n = strlen(key);
        int found = 0;
        for (const char *at = allowed; *at && !found; at += strcspn(at, " "), at += *at == ' ') {
            size_t word = strcspn(at, " ");
            found = n > 0 && word == n && memcmp(at, key, n) == 0;
        }
        if (!found) {
            char here[PATH_SIZE];
            path_printf(here, "%s%s%s", path, path[0] ? "." : "", key);
            return fail(err, here, "unknown key (expected %s)", allowed);
        }
    }
    return 0;
}

static int link_check(const json_t *link, const char *path, bk_flow_error *err)
{
    char here[PATH_SIZE];
    if (!json_is_object(link))
        return fail(err, path, "expected an object {url, label}");
    if (keys_check(link, path, "url label", err))
        return -1;
    const json_t *url = json_object_get(link, "url");
    path_printf(here, "%s.url", path);
    if (!url)
        return fail(err, here, "required");
    const char *u = json_string_value(url);
    if (!u || (strncmp(u, "https://", 8) != 0 && strncmp(u, "http://", 7) != 0))
        return fail(err, here, "expected an http(s) address");
    if (json_string_length(url) > BK_FLOW_URL_MAX)
        return fail(err, here, "at most %d bytes", BK_FLOW_URL_MAX);
    const char *host = strstr(u, "//") + 2;
    if (!*host || *host == '/')
        return fail(err, here, "expected a host after %.*s", (int)(host - u), u);
    for (const unsigned char *c = (const unsigned char *)u; *c; c++)
        if (*c <= 0x20 || *c == 0x7F)
            return fail(err, here, "must not contain spaces or control characters");
    path_printf(here, "%s.label", path);
    const json_t *label = json_object_get(link, "label");
    return label ? text_check(label, here, BK_FLOW_LABEL_MAX, err) : 0;
}

static int buttons_check(const json_t *steps, const json_t *buttons, const char *path, bk_flow_error *err)
{
    char here[PATH_SIZE];
    if (!json_is_array(buttons))
        return fail(err, path, "expected an array of buttons");
    size_t count = json_array_size(buttons);
    if (count == 0 || count > BK_FLOW_BUTTONS_MAX)
        return fail(err, path, "expected 1 to %d buttons", BK_FLOW_BUTTONS_MAX);
    for (size_t i = 0; i < count; i++) {
        const json_t *button = json_array_get(buttons, i);
        char at[PATH_SIZE];
        path_printf(at, "%s[%zu]", path, i);
        if (!json_is_object(button))
            return fail(err, at, "expected a button {id, label, next}");
        if (keys_check(button, at, "id label next", err))
            return -1;
        static const char *const required[] = { "id", "label", "next" };
        for (size_t r = 0; r < 3; r++) {
            path_printf(here, "%s.%s", at, required[r]);
            if (!json_object_get(button, required[r]))
                return fail(err, here, "required");
        }
        path_printf(here, "%s.id", at);
        if (id_check(json_object_get(button, "id"), here, BK_FLOW_BUTTON_ID_MAX, "a button id", err))
            return -1;
        const char *id = json_string_value(json_object_get(button, "id"));
        for (size_t j = 0; j < i; j++)
            if (strcmp(id, json_string_value(json_object_get(json_array_get(buttons, j), "id"))) == 0)
                return fail(err, here, "button '%s' twice in this step (also [%zu])", id, j);
        path_printf(here, "%s.label", at);
        if (text_check(json_object_get(button, "label"), here, BK_FLOW_LABEL_MAX, err))
            return -1;
        path_printf(here, "%s.next", at);
        const json_t *next = json_object_get(button, "next");
        if (id_check(next, here, BK_FLOW_STEP_ID_MAX, "a step id", err))
            return -1;
        if (!json_object_get(steps, json_string_value(next)))
            return fail(err, here, "no step '%s'", json_string_value(next));
    }
    return 0;
}

static int step_check(const json_t *steps, const char *name, const json_t *step, bk_flow_error *err)
{
    char path[PATH_SIZE], here[PATH_SIZE];
    path_printf(path, "steps.%s", name);
    if (!is_id(name, BK_FLOW_STEP_ID_MAX))
        return fail(err, path, "a step id is 1-%d of A-Z a-z 0-9 _ -", BK_FLOW_STEP_ID_MAX);
    if (!json_is_object(step))
        return fail(err, path, "expected a step {text, buttons | end | handoff}");
    if (keys_check(step, path, "text article link buttons end handoff team", err))
        return -1;
    path_printf(here, "%s.text", path);
    const json_t *text = json_object_get(step, "text");
    if (!text)
        return fail(err, here, "required");
    if (text_check(text, here, BK_FLOW_TEXT_MAX, err))
        return -1;
    const json_t *article = json_object_get(step, "article");
    path_printf(here, "%s.article", path);
    if (article && id_check(article, here, BK_FLOW_ARTICLE_MAX, "an article id", err))
        return -1;
    const json_t *link = json_object_get(step, "link");
    path_printf(here, "%s.link", path);
    if (link && link_check(link, here, err))
        return -1;
    /* what comes after the text: exactly one of buttons, end, handoff */
    static const char *const ways[] = { "buttons", "end", "handoff" };
    const char *first = NULL;
    for (size_t w = 0; w < 3; w++) {
        const json_t *value = json_object_get(step, ways[w]);
        if (!value)
            continue;
        path_printf(here, "%s.%s", path, ways[w]);
        if (first)
            return fail(err, here, "a step has one of buttons, end, handoff (this one has %s already)", first);
        first = ways[w];
        if (w == 0 && buttons_check(steps, value, here, err))
            return -1;
        if (w > 0 && !json_is_true(value))
            return fail(err, here, "expected true (leave it out otherwise)");
    }
    if (!first)
        return fail(err, path, "needs buttons, \"end\": true or \"handoff\": true");
    /* a hand-off may name the team the chat goes to (docs/teams.md) */
    const json_t *team = json_object_get(step, "team");
    path_printf(here, "%s.team", path);
    if (team && strcmp(first, "handoff") != 0)
        return fail(err, here, "only a hand-off step names a team");
    if (team && id_check(team, here, 64, "a team's name", err))
        return -1;
    return 0;
}

static int closed_check(const json_t *closed, bk_flow_error *err)
{
    if (!json_is_object(closed))
        return fail(err, "closed", "expected an object {text, collect_email, thanks}");
    if (keys_check(closed, "closed", "text collect_email thanks", err))
        return -1;
    const json_t *text = json_object_get(closed, "text");
    if (!text)
        return fail(err, "closed.text", "required");
    if (text_check(text, "closed.text", BK_FLOW_TEXT_MAX, err))
        return -1;
    const json_t *collect = json_object_get(closed, "collect_email");
    if (collect && !json_is_boolean(collect))
        return fail(err, "closed.collect_email", "expected true or false");
    const json_t *thanks = json_object_get(closed, "thanks");
    return thanks ? text_check(thanks, "closed.thanks", BK_FLOW_TEXT_MAX, err) : 0;
}

/* ---- the graph ----------------------------------------------------------------------- */

typedef struct graph {
    const char *names[BK_FLOW_STEPS_MAX];
    int next[BK_FLOW_STEPS_MAX][BK_FLOW_BUTTONS_MAX];
    int next_count[BK_FLOW_STEPS_MAX];
    int count;
} graph;

static int graph_index(const graph *g, const char *name)
{
    for (int i = 0; i < g->count; i++)
        if (strcmp(g->names[i], name) == 0)
            return i;
    return -1;
}

/* A step from which no end nor hand-off can be reached: say the loop it is caught in, following
 * its first buttons until a step comes again ("a → b → a"). */
static int cycle_fail(const graph *g, int from, bk_flow_error *err)
{
    char path[PATH_SIZE], loop[200] = "";
    int seen[BK_FLOW_STEPS_MAX] = { 0 }, order = 0, at = from;
    while (!seen[at]) {
        seen[at] = ++order;
        at = g->next[at][0];
    }
    /* the loop starts at `at`: write it from there back to `at` */
    size_t used = 0;
    int step = at;
    do {
        used += (size_t)snprintf(loop + used, used < sizeof loop ? sizeof loop - used : 0, "%s → ", g->names[step]);
        step = g->next[step][0];
    } while (step != at && used < sizeof loop);
    if (used < sizeof loop)
        snprintf(loop + used, sizeof loop - used, "%s", g->names[at]);
    path_printf(path, "steps.%s.buttons", g->names[from]);
    return fail(err, path, "never reaches an end or a hand-off: every way out loops (%s)", loop);
}

static int graph_check(const json_t *steps, const char *start, bk_flow_error *err)
{
    graph g = { .count = 0 };
    int terminal[BK_FLOW_STEPS_MAX] = { 0 };
    const char *name;
    const json_t *step;
    json_object_foreach((json_t *)steps, name, step)
        g.names[g.count++] = name;
    for (int i = 0; i < g.count; i++) {
        step = json_object_get(steps, g.names[i]);
        const json_t *buttons = json_object_get(step, "buttons");
        terminal[i] = !buttons;
        for (size_t b = 0; b < json_array_size(buttons); b++)
            g.next[i][g.next_count[i]++] =
                graph_index(&g, json_string_value(json_object_get(json_array_get(buttons, b), "next")));
    }
    /* dangling: every step reachable from start */
    int reached[BK_FLOW_STEPS_MAX] = { 0 }, queue[BK_FLOW_STEPS_MAX], head = 0, tail = 0;
    queue[tail++] = graph_index(&g, start);
    reached[queue[0]] = 1;
    while (head < tail) {
        int at = queue[head++];
        for (int b = 0; b < g.next_count[at]; b++)
            if (!reached[g.next[at][b]]) {
                reached[g.next[at][b]] = 1;
                queue[tail++] = g.next[at][b];
            }
    }
    for (int i = 0; i < g.count; i++)
        if (!reached[i]) {
            char path[PATH_SIZE];
            path_printf(path, "steps.%s", g.names[i]);
            return fail(err, path, "dangling: no button leads here from the start ('%s')", start);
        }
    /* a way out from every step: what reaches an end or a hand-off, grown until it stops growing */
    int out[BK_FLOW_STEPS_MAX];
    memcpy(out, terminal, sizeof out);
    for (int grew = 1; grew;) {
        grew = 0;
        for (int i = 0; i < g.count; i++)
            for (int b = 0; !out[i] && b < g.next_count[i]; b++)
                if (out[g.next[i][b]])
                    out[i] = grew = 1;
    }
    for (int i = 0; i < g.count; i++)
        if (!out[i])
            return cycle_fail(&g, i, err);
    return 0;
}

int bk_flow_validate(const json_t *flow, bk_flow_error *err)
{
    if (!json_is_object(flow))
        return fail(err, "", "expected a flow object {start, steps, ...}");
    if (keys_check(flow, "", "name enabled start steps closed", err))
        return -1;
    const json_t *name = json_object_get(flow, "name");
    if (name && text_check(name, "name", 200, err))
        return -1;
    const json_t *enabled = json_object_get(flow, "enabled");
    if (enabled && !json_is_boolean(enabled))
        return fail(err, "enabled", "expected true or false");
    const json_t *steps = json_object_get(flow, "steps");
    if (!steps)
        return fail(err, "steps", "required");
    if (!json_is_object(steps))
        return fail(err, "steps", "expected an object of steps by id");
    size_t count = json_object_size(steps);
    if (count == 0 || count > BK_FLOW_STEPS_MAX)
        return fail(err, "steps", "expected 1 to %d steps (this has %zu)", BK_FLOW_STEPS_MAX, count);
    const json_t *start = json_object_get(flow, "start");
    if (!start)
        return fail(err, "start", "required");
    if (id_check(start, "start", BK_FLOW_STEP_ID_MAX, "a step id", err))
        return -1;
    if (!json_object_get(steps, json_string_value(start)))
        return fail(err, "start", "no step '%s'", json_string_value(start));
    const char *key;
    const json_t *step;
    json_object_foreach((json_t *)steps, key, step)
        if (step_check(steps, key, step, err))
            return -1;
    const json_t *closed = json_object_get(flow, "closed");
    if (closed && closed_check(closed, err))
        return -1;
    return graph_check(steps, json_string_value(start), err);
}

int bk_flow_validate_json(const char *text, size_t len, bk_flow_error *err)
{
    if (len > BK_FLOW_BYTES_MAX)
        return fail(err, "", "a flow is at most %d bytes", BK_FLOW_BYTES_MAX);
    json_error_t error;
    json_t *flow = json_loadb(text, len, JSON_REJECT_DUPLICATES, &error);
    if (!flow)
        return fail(err, "", "invalid JSON at line %d column %d: %s", error.line, error.column, error.text);
    int result = bk_flow_validate(flow, err);
    json_decref(flow);
    return result;
}
