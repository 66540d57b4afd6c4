/* flow.h - a site's quick-reply flow (docs/flows.md): the document marketers save, checked
 * completely before it is stored, with the path of the first wrong field named.
 *
 * A flow is steps joined by buttons: each step says a text (with an article id and a link,
 * optionally) and then offers buttons, ends (an answer reached) or hands the chat to a person.
 * The scripts that run a flow (lua/flow_run.lua) trust what this module let through: every
 * button leads to a step, every step is reachable from `start`, and from every step an end or
 * a hand-off can be reached, so no visitor is ever left in a loop without a way out. No I/O. */
#ifndef BK_FLOW_H
#define BK_FLOW_H

#include <jansson.h>
#include <stddef.h>

#define BK_FLOW_STEPS_MAX    50
#define BK_FLOW_BUTTONS_MAX  6
#define BK_FLOW_TEXT_MAX     1000   /* characters of a step's text */
#define BK_FLOW_LABEL_MAX    60     /* characters of a button's label */
#define BK_FLOW_STEP_ID_MAX  64
#define BK_FLOW_BUTTON_ID_MAX 32
#define BK_FLOW_ARTICLE_MAX  64     /* an article's id, opaque here (the articles' own module) */
#define BK_FLOW_URL_MAX      2048
#define BK_FLOW_BYTES_MAX    (256 * 1024)  /* a saved flow's JSON */

typedef struct bk_flow_error {
    char path[256];     /* "steps.returns.buttons[1].next"; "" for the whole document */
    char message[256];  /* "no step 'refund'" */
} bk_flow_error;

/* 0 when the flow (a parsed JSON value) is valid; else -1 with err naming the first problem. */
int bk_flow_validate(const json_t *flow, bk_flow_error *err);

/* The same for JSON text (duplicate keys refused, like rules): 0 or -1. */
int bk_flow_validate_json(const char *text, size_t len, bk_flow_error *err);

#endif
