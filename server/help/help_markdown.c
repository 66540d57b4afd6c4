/* help_markdown.c - cmark's tree to the whitelist of help_markdown.h. */
#include "help/help_markdown.h"

#include <cmark.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct walk {
    const char *const *origins;
    char *text;
    size_t text_len, text_size;
    json_t *removed;
    int failed;
} walk;

static void text_add(walk *w, const char *s, size_t n)
{
    if (w->failed || n == 0)
        return;
    if (w->text_len + n + 1 > w->text_size) {
        size_t size = w->text_size ? w->text_size : 1024;
        while (size < w->text_len + n + 1)
            size *= 2;
        char *grown = realloc(w->text, size);
        if (!grown) {
            w->failed = 1;
            return;
        }
        w->text = grown;
        w->text_size = size;
    }
    memcpy(w->text + w->text_len, s, n);
    w->text_len += n;
    w->text[w->text_len] = '\0';
}

static void removed_add(walk *w, const char *what)
{
    size_t i;
    json_t *seen;
    json_array_foreach(w->removed, i, seen)
        if (strcmp(json_string_value(seen), what) == 0)
            return;
    json_array_append_new(w->removed, json_string(what));
}

/* Text appended to an inline list: joined with a string just before it. */
static void inline_text(walk *w, json_t *list, const char *s, size_t n)
{
    if (n == 0)
        return;
    text_add(w, s, n);
    json_t *last = json_array_get(list, json_array_size(list) - 1);
    if (json_is_string(last)) {
        size_t old = json_string_length(last);
        char *joined = malloc(old + n + 1);
        if (!joined) {
            w->failed = 1;
            return;
        }
        memcpy(joined, json_string_value(last), old);
        memcpy(joined + old, s, n);
        json_string_setn_nocheck(last, joined, old + n);
        free(joined);
        return;
    }
    json_array_append_new(list, json_stringn_nocheck(s, n));
}

static const char *literal(cmark_node *node)
{
    const char *s = cmark_node_get_literal(node);
    return s ? s : "";
}

static int has_scheme(const char *url, const char *scheme)
{
    return strncasecmp(url, scheme, strlen(scheme)) == 0;
}

/* http(s) with a host, no spaces or control characters, not too long. */
static int web_address(const char *url)
{
    if (!url || strlen(url) > BK_HELP_URL_MAX)
        return 0;
    const char *rest = has_scheme(url, "https://") ? url + 8 : has_scheme(url, "http://") ? url + 7 : NULL;
    if (!rest || !*rest || *rest == '/')
        return 0;
    for (const unsigned char *c = (const unsigned char *)url; *c; c++)
        if (*c <= ' ' || *c == 0x7F || *c == '"' || *c == '<' || *c == '>' || *c == '\\')
            return 0;
    return 1;
}

/* The site's own files: a path on the site ("/img/a.png", not "//elsewhere"), or an address
 * whose origin is one of the site's. */
static int own_file(walk *w, const char *url)
{
    if (!url || strlen(url) > BK_HELP_URL_MAX)
        return 0;
    for (const unsigned char *c = (const unsigned char *)url; *c; c++)
        if (*c <= ' ' || *c == 0x7F || *c == '"' || *c == '<' || *c == '>' || *c == '\\')
            return 0;
    if (url[0] == '/' && url[1] != '/' && url[1] != '\\')
        return 1;
    if (!web_address(url) || !w->origins)
        return 0;
    for (const char *const *origin = w->origins; *origin; origin++) {
        size_t n = strlen(*origin);
        if (n && strncasecmp(url, *origin, n) == 0 && (url[n] == '/' || url[n] == '\0'))
            return 1;
    }
    return 0;
}

static void inlines_of(walk *w, cmark_node *parent, json_t *list, int depth);

/* The words of an inline's children, as plain text (an image's alt). */
static void plain_of(cmark_node *parent, char *out, size_t size, size_t *at)
{
    for (cmark_node *n = cmark_node_first_child(parent); n; n = cmark_node_next(n)) {
        cmark_node_type type = cmark_node_get_type(n);
        if (type == CMARK_NODE_TEXT || type == CMARK_NODE_CODE) {
            const char *s = literal(n);
            size_t len = strlen(s);
            if (*at + len >= size)
                len = size - 1 - *at;
            memcpy(out + *at, s, len);
            *at += len;
            out[*at] = '\0';
        } else if (type == CMARK_NODE_SOFTBREAK || type == CMARK_NODE_LINEBREAK) {
            if (*at + 1 < size) {
                out[(*at)++] = ' ';
                out[*at] = '\0';
            }
        } else {
            plain_of(n, out, size, at);
        }
    }
}

static json_t *tagged(const char *t)
{
    return json_pack("{s:s}", "t", t);
}

static void inline_one(walk *w, cmark_node *n, json_t *list, int depth)
{
    switch (cmark_node_get_type(n)) {
    case CMARK_NODE_TEXT: {
        const char *s = literal(n);
        inline_text(w, list, s, strlen(s));
        break;
    }
    case CMARK_NODE_SOFTBREAK:
        inline_text(w, list, " ", 1);
        break;
    case CMARK_NODE_LINEBREAK:
        text_add(w, " ", 1);
        json_array_append_new(list, tagged("br"));
        break;
    case CMARK_NODE_CODE: {
        const char *s = literal(n);
        text_add(w, s, strlen(s));
        json_array_append_new(list, json_pack("{s:s, s:s}", "t", "code", "text", s));
        break;
    }
    case CMARK_NODE_EMPH:
    case CMARK_NODE_STRONG: {
        json_t *children = json_array();
        inlines_of(w, n, children, depth + 1);
        json_array_append_new(list, json_pack("{s:s, s:o}", "t",
                                              cmark_node_get_type(n) == CMARK_NODE_EMPH ? "em" : "strong",
                                              "c", children));
        break;
    }
    case CMARK_NODE_LINK: {
        const char *url = cmark_node_get_url(n);
        if (!web_address(url)) {
            removed_add(w, url && has_scheme(url, "javascript:") ? "a javascript: link" : "a link that is not http(s)");
            inlines_of(w, n, list, depth + 1);  /* its text stays */
            break;
        }
        json_t *children = json_array();
        inlines_of(w, n, children, depth + 1);
        json_array_append_new(list, json_pack("{s:s, s:s, s:o}", "t", "a", "href", url, "c", children));
        break;
    }
    case CMARK_NODE_IMAGE: {
        char alt[512] = "";
        size_t at = 0;
        plain_of(n, alt, sizeof alt, &at);
        text_add(w, alt, at);
        if (!own_file(w, cmark_node_get_url(n))) {
            removed_add(w, "an image not from the site's own files");
            break;
        }
        json_array_append_new(list, json_pack("{s:s, s:s, s:s}", "t", "img", "src", cmark_node_get_url(n),
                                              "alt", alt));
        break;
    }
    case CMARK_NODE_HTML_INLINE:
        removed_add(w, "raw HTML");
        break;
    default:
        break;
    }
}

static void inlines_of(walk *w, cmark_node *parent, json_t *list, int depth)
{
    for (cmark_node *n = cmark_node_first_child(parent); n && !w->failed; n = cmark_node_next(n)) {
        if (depth > 4 * BK_HELP_DEPTH_MAX) {  /* emphasis in emphasis ...: its text, flat */
            char flat[1024] = "";
            size_t at = 0;
            plain_of(n, flat, sizeof flat, &at);
            inline_text(w, list, flat, at);
            continue;
        }
        inline_one(w, n, list, depth);
    }
}

static void blocks_of(walk *w, cmark_node *parent, json_t *blocks, int depth);

static void block_one(walk *w, cmark_node *n, json_t *blocks, int depth)
{
    json_t *children;
    switch (cmark_node_get_type(n)) {
    case CMARK_NODE_HEADING:
    case CMARK_NODE_PARAGRAPH: {
        children = json_array();
        inlines_of(w, n, children, 0);
        text_add(w, "\n", 1);
        if (json_array_size(children) == 0) {
            json_decref(children);  /* a paragraph of nothing but raw HTML */
            break;
        }
        if (cmark_node_get_type(n) == CMARK_NODE_HEADING)
            json_array_append_new(blocks, json_pack("{s:s, s:i, s:o}", "t", "h", "level",
                                                    cmark_node_get_heading_level(n), "c", children));
        else
            json_array_append_new(blocks, json_pack("{s:s, s:o}", "t", "p", "c", children));
        break;
    }
    case CMARK_NODE_LIST: {
        if (depth >= BK_HELP_DEPTH_MAX) {
            removed_add(w, "nesting deeper than 8 levels (kept as text)");
            char flat[4096] = "";
            size_t at = 0;
            plain_of(n, flat, sizeof flat, &at);
            text_add(w, flat, at);
            text_add(w, "\n", 1);
            json_array_append_new(blocks, json_pack("{s:s, s:[s]}", "t", "p", "c", flat));
            break;
        }
        json_t *items = json_array();
        for (cmark_node *item = cmark_node_first_child(n); item; item = cmark_node_next(item)) {
            json_t *item_blocks = json_array();
            blocks_of(w, item, item_blocks, depth + 1);
            json_array_append_new(items, item_blocks);
        }
        if (cmark_node_get_list_type(n) == CMARK_ORDERED_LIST)
            json_array_append_new(blocks, json_pack("{s:s, s:i, s:o}", "t", "ol", "start",
                                                    cmark_node_get_list_start(n), "items", items));
        else
            json_array_append_new(blocks, json_pack("{s:s, s:o}", "t", "ul", "items", items));
        break;
    }
    case CMARK_NODE_CODE_BLOCK: {
        const char *s = literal(n);
        text_add(w, s, strlen(s));
        text_add(w, "\n", 1);
        json_array_append_new(blocks, json_pack("{s:s, s:s}", "t", "pre", "text", s));
        break;
    }
    case CMARK_NODE_BLOCK_QUOTE:
        if (depth >= BK_HELP_DEPTH_MAX) {
            removed_add(w, "nesting deeper than 8 levels (kept as text)");
            break;
        }
        blocks_of(w, n, blocks, depth + 1);
        break;
    case CMARK_NODE_THEMATIC_BREAK:
        json_array_append_new(blocks, tagged("hr"));
        break;
    case CMARK_NODE_HTML_BLOCK:
        removed_add(w, "raw HTML");
        break;
    default:
        break;
    }
}

static void blocks_of(walk *w, cmark_node *parent, json_t *blocks, int depth)
{
    for (cmark_node *n = cmark_node_first_child(parent); n && !w->failed; n = cmark_node_next(n))
        block_one(w, n, blocks, depth);
}

int bk_help_markdown_parse(const char *body, size_t len, const char *const *origins, bk_help_parsed *out)
{
    memset(out, 0, sizeof *out);
    walk w = { .origins = origins, .removed = json_array() };
    out->blocks = json_array();
    /* cmark's safe mode acts in its renderers only; the tree keeps raw HTML and every link, and
     * this walk is what leaves them out. */
    cmark_node *document = cmark_parse_document(body, len, CMARK_OPT_DEFAULT);
    if (!document || !out->blocks || !w.removed) {
        cmark_node_free(document);
        out->removed = w.removed;
        return -1;
    }
    blocks_of(&w, document, out->blocks, 0);
    cmark_node_free(document);
    if (!w.text && !w.failed)
        w.text = calloc(1, 1);  /* a body of nothing searchable */
    out->text = w.text;
    out->text_len = w.text_len;
    out->removed = w.removed;
    return w.failed || !out->text ? -1 : 0;
}

void bk_help_parsed_free(bk_help_parsed *parsed)
{
    json_decref(parsed->blocks);
    json_decref(parsed->removed);
    free(parsed->text);
    memset(parsed, 0, sizeof *parsed);
}
