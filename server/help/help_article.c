/* help_article.c - the checks behind PUT /api/help/{site}/articles/{id} and the import. */
#include "help/help_article.h"

#include "help/help.h"
#include "help/help_markdown.h"
#include "help/help_text.h"
#include "base/ids.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static json_t *refuse(bk_help_refusal *r, int status, const char *prefix, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static json_t *refuse(bk_help_refusal *r, int status, const char *prefix, const char *field, const char *fmt, ...)
{
    r->status = status;
    r->code = status == 413 ? "too_large" : "invalid_article";
    snprintf(r->path, sizeof r->path, "%s%s", prefix, field);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->message, sizeof r->message, fmt, ap);
    va_end(ap);
    return NULL;
}

/* No control characters but tab and line ends (a title: none at all). */
static int plain_text(const char *s, int lines)
{
    for (const unsigned char *c = (const unsigned char *)s; *c; c++)
        if ((*c < 0x20 && !(lines && (*c == '\n' || *c == '\r' || *c == '\t'))) || *c == 0x7F)
            return 0;
    return 1;
}

json_t *bk_help_article_check(json_t *article, const char *id, const char *prefix, bk_help_refusal *r)
{
    static const char *const known[] = { "id", "title", "body", "lang", "category", "state",
                                         "version", "by", "at", "blocks", "removed", NULL };
    if (!json_is_object(article))
        return refuse(r, 400, prefix, "", "expected an article object");
    const char *key;
    json_t *value;
    json_object_foreach(article, key, value) {
        int found = 0;
        for (size_t i = 0; known[i] && !found; i++)
            found = strcmp(known[i], key) == 0;
        if (!found)
            return refuse(r, 400, prefix, key, "unknown key (expected id, title, body, lang, category, state)");
    }
    json_t *own_id = json_object_get(article, "id");
    if (own_id && (!json_is_string(own_id) || strcmp(json_string_value(own_id), id) != 0))
        return refuse(r, 400, prefix, "id", "must match the id in the URL");
    const char *title = json_string_value(json_object_get(article, "title"));
    if (!json_object_get(article, "title"))
        return refuse(r, 400, prefix, "title", "required");
    if (!title)
        return refuse(r, 400, prefix, "title", "expected a string");
    if (!title[0] || strlen(title) != json_string_length(json_object_get(article, "title")))
        return refuse(r, 400, prefix, "title", "must not be empty");
    if (strlen(title) > BK_HELP_TITLE_MAX)
        return refuse(r, 400, prefix, "title", "longer than %d bytes", BK_HELP_TITLE_MAX);
    if (!plain_text(title, 0))
        return refuse(r, 400, prefix, "title", "contains a control character");
    json_t *body = json_object_get(article, "body");
    if (!body)
        return refuse(r, 400, prefix, "body", "required");
    if (!json_is_string(body))
        return refuse(r, 400, prefix, "body", "expected a string of Markdown");
    if (json_string_length(body) > BK_HELP_BODY_MAX)
        return refuse(r, 413, prefix, "body", "%zu bytes: an article's body may have at most %d bytes (%d KiB)",
                      json_string_length(body), BK_HELP_BODY_MAX, BK_HELP_BODY_MAX / 1024);
    if (strlen(json_string_value(body)) != json_string_length(body) || !plain_text(json_string_value(body), 1))
        return refuse(r, 400, prefix, "body", "contains a control character");
    const char *lang_tag = json_string_value(json_object_get(article, "lang"));
    char lang[4];
    bk_help_lang_normalize(lang_tag, lang);
    if (!json_object_get(article, "lang"))
        return refuse(r, 400, prefix, "lang", "required");
    if (!lang[0] || strlen(lang_tag) > 16)
        return refuse(r, 400, prefix, "lang", "expected a language like en, da, nb, sv or de");
    json_t *category = json_object_get(article, "category");
    if (category && !json_is_null(category)) {
        if (!json_is_string(category))
            return refuse(r, 400, prefix, "category", "expected a string");
        if (json_string_length(category) > BK_HELP_CATEGORY_MAX)
            return refuse(r, 400, prefix, "category", "longer than %d bytes", BK_HELP_CATEGORY_MAX);
        if (strlen(json_string_value(category)) != json_string_length(category) ||
            !plain_text(json_string_value(category), 0))
            return refuse(r, 400, prefix, "category", "contains a control character");
    }
    const char *state = json_string_value(json_object_get(article, "state"));
    if (json_object_get(article, "state") &&
        (!state || (strcmp(state, "published") != 0 && strcmp(state, "draft") != 0)))
        return refuse(r, 400, prefix, "state", "expected published or draft");
    return json_pack("{s:s, s:s, s:O, s:s, s:s, s:s}", "id", id, "title", title, "body", body, "lang", lang,
                     "category", json_is_string(category) ? json_string_value(category) : "",
                     "state", state ? state : "draft");
}
