/* help_markdown.h - an article's Markdown body, parsed by cmark (CommonMark) into the small
 * whitelist the widget draws with createElement and textContent: no HTML ever leaves here.
 *
 * Blocks: {"t":"h","level":1-6,"c":INLINES}, {"t":"p","c":INLINES}, {"t":"ul","items":[BLOCKS,...]},
 * {"t":"ol","start":N,"items":[BLOCKS,...]}, {"t":"pre","text":"..."}, {"t":"hr"}. A block quote
 * gives its blocks in place. Inlines: a string (text), {"t":"em"|"strong","c":INLINES},
 * {"t":"code","text":"..."}, {"t":"a","href":"http(s)://...","c":INLINES}, {"t":"img","src","alt"},
 * {"t":"br"}.
 * Left out, and named in `removed`: raw HTML (script, iframe, anything in angle brackets: block or
 * inline), links that are not http(s) (javascript:, data:, ...: their text stays, as text), images
 * not from the site's own files (a path on the site, "/img/a.png", or an address on one of the
 * site's origins), nesting deeper than BK_HELP_DEPTH_MAX (its text stays as a paragraph).
 * No I/O. */
#ifndef BK_HELP_MARKDOWN_H
#define BK_HELP_MARKDOWN_H

#include <jansson.h>
#include <stddef.h>

#define BK_HELP_BODY_MAX  (32 * 1024)  /* bytes of Markdown an article's body may have: a PUT fits the
                                         * 64 KiB an HTTP body may have, JSON-escaped */
#define BK_HELP_DEPTH_MAX 8            /* lists in lists (and quotes) kept as structure */
#define BK_HELP_URL_MAX   2048

typedef struct bk_help_parsed {
    json_t *blocks;    /* an array of blocks (above) */
    char *text;        /* the words a search reads: the text of every block, a line each */
    size_t text_len;
    json_t *removed;   /* what was left out, each said once: "raw HTML", "a javascript: link", ... */
} bk_help_parsed;

/* Parses body[0..len) (UTF-8; the caller checks it and the size). origins: the site's origins
 * ("https://shop.example"), NULL-terminated, or NULL: images only by path. 0, or -1 (out of
 * memory). Either way call bk_help_parsed_free. */
int bk_help_markdown_parse(const char *body, size_t len, const char *const *origins, bk_help_parsed *out);
void bk_help_parsed_free(bk_help_parsed *parsed);

#endif
