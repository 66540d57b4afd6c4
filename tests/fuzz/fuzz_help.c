/* fuzz_help.c - libFuzzer target for help articles (server/help/): the Markdown a marketer
 * writes, parsed into the whitelist visitors get, and the same bytes as a visitor's query.
 *
 * Properties checked besides "no crash, no sanitizer report, no leak":
 *   - the blocks hold only the whitelist: block types h, p, ul, ol, pre, hr; inline types em,
 *     strong, code, a, img, br or a string; every link's href http(s)://, every image's src a
 *     path on the site (not "//") or http(s)://, and no string holds a "javascript:" href;
 *   - the text for the index and the blocks, for valid UTF-8 input, are valid UTF-8 (jansson
 *     needs it, and a reply is JSON);
 *   - a search of any bytes (as typed and not) returns at most the number asked, best first,
 *     relevance within 0..1; an index built with the input as an article too. */
#include "fuzz_util.h"

#include "help/help_index.h"
#include "help/help_markdown.h"
#include "help/help_text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CHECK(cond)                                                                             \
    do {                                                                                        \
        if (!(cond)) {                                                                          \
            fprintf(stderr, "fuzz_help: property failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
            abort();                                                                            \
        }                                                                                       \
    } while (0)

static void inlines_check(json_t *items, int depth);

static void inline_check(json_t *item, int depth)
{
    CHECK(depth < 200);
    if (json_is_string(item))
        return;
    const char *t = json_string_value(json_object_get(item, "t"));
    CHECK(t != NULL);
    if (strcmp(t, "em") == 0 || strcmp(t, "strong") == 0) {
        inlines_check(json_object_get(item, "c"), depth + 1);
    } else if (strcmp(t, "a") == 0) {
        const char *href = json_string_value(json_object_get(item, "href"));
        CHECK(href && (strncasecmp(href, "http://", 7) == 0 || strncasecmp(href, "https://", 8) == 0));
        inlines_check(json_object_get(item, "c"), depth + 1);
    } else if (strcmp(t, "img") == 0) {
        const char *src = json_string_value(json_object_get(item, "src"));
        CHECK(src && ((src[0] == '/' && src[1] != '/' && src[1] != '\\') || strncasecmp(src, "http://", 7) == 0 ||
                      strncasecmp(src, "https://", 8) == 0));
    } else {
        CHECK(strcmp(t, "code") == 0 || strcmp(t, "br") == 0);
    }
}

static void inlines_check(json_t *items, int depth)
{
    CHECK(json_is_array(items));
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item)
        inline_check(item, depth);
}

static void blocks_check(json_t *blocks, int depth)
{
    CHECK(json_is_array(blocks) && depth <= BK_HELP_DEPTH_MAX + 1);
    size_t i;
    json_t *block;
    json_array_foreach(blocks, i, block) {
        const char *t = json_string_value(json_object_get(block, "t"));
        CHECK(t != NULL);
        if (strcmp(t, "h") == 0 || strcmp(t, "p") == 0) {
            inlines_check(json_object_get(block, "c"), 0);
        } else if (strcmp(t, "ul") == 0 || strcmp(t, "ol") == 0) {
            size_t k;
            json_t *item;
            json_array_foreach(json_object_get(block, "items"), k, item)
                blocks_check(item, depth + 1);
        } else {
            CHECK(strcmp(t, "pre") == 0 || strcmp(t, "hr") == 0);
        }
    }
}

static void search_check(bk_help_index *index, const char *q, size_t len, int typing, size_t max)
{
    bk_help_hit hits[16];
    size_t n = bk_help_index_search(index, q, len, typing, NULL, hits, max);
    CHECK(n <= max);
    for (size_t i = 0; i < n; i++) {
        CHECK(hits[i].relevance >= 0 && hits[i].relevance <= 1 && hits[i].doc < bk_help_index_count(index));
        CHECK(i == 0 || hits[i - 1].score >= hits[i].score);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bk_help_stemmer *stemmer;
    if (!stemmer)
        stemmer = bk_help_stemmer_new("en");  /* kept: libstemmer's state is per stemmer */
    if (size > BK_HELP_BODY_MAX)
        return 0;
    const char *text = (const char *)data;
    static const char *const origins[] = { "https://shop.example", NULL };
    bk_help_parsed parsed;
    int rc = bk_help_markdown_parse(text, size, origins, &parsed);
    if (rc == 0) {
        blocks_check(parsed.blocks, 0);
        CHECK(strlen(parsed.text) == parsed.text_len);
        if (fuzz_check_utf8() && fuzz_utf8_valid(data, size)) {
            CHECK(fuzz_utf8_valid((const uint8_t *)parsed.text, parsed.text_len));
            char *dumped = json_dumps(parsed.blocks, JSON_COMPACT);
            CHECK(dumped != NULL);
            free(dumped);
        }
    }
    bk_help_index *index = bk_help_index_new(stemmer);
    bk_help_index_add(index, "Track your order", "Orders", "Open my orders and choose track.", 32);
    bk_help_index_add(index, "Refunds", "", "We refund within five days.", 27);
    if (rc == 0)
        bk_help_index_add(index, "From the input", "x", parsed.text, parsed.text_len);
    bk_help_index_finish(index);
    search_check(index, text, size, 0, 10);
    search_check(index, text, size, 1, 3);
    bk_help_index_free(index);
    bk_help_parsed_free(&parsed);
    return 0;
}
