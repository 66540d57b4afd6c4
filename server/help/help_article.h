/* help_article.h - an article as marketers send it (REST, import), checked and made into what
 * Redis keeps: {"id","title","body","lang","category","state"}. No I/O. */
#ifndef BK_HELP_ARTICLE_H
#define BK_HELP_ARTICLE_H

#include <jansson.h>

typedef struct bk_help_refusal {
    int status;             /* 400, or 413 for a body over the limit */
    const char *code;       /* "invalid_article" or "too_large" */
    char path[96];          /* the field: "title", "articles[3].body" */
    char message[200];
} bk_help_refusal;

/* article: the object sent; id: the one in the URL (the object's own "id" may be left out, or
 * must match). path_prefix: "" or "articles[3]." for an import. The stored article (a new
 * reference), or NULL with refusal filled. Members the API answers with (version, by, at,
 * blocks, removed) are taken and ignored, so a GET can be PUT back; any other is refused. */
json_t *bk_help_article_check(json_t *article, const char *id, const char *path_prefix, bk_help_refusal *refusal);

#endif
