/* test_flow.c - the flow validator (server/flows/flow.c): every field, dangling steps, cycles
 * with no way out, each refusal with the path of the wrong field. */
#include "check.h"
#include "flows/flow.h"

#include <stdlib.h>

/* A valid flow; the cases below each break one thing of it. */
#define GOOD_STEPS \
    "\"greeting\": {\"text\": \"Hi! What can we help with?\", \"buttons\": [" \
    "  {\"id\": \"track\", \"label\": \"Track my order\", \"next\": \"track\"}," \
    "  {\"id\": \"returns\", \"label\": \"Returns\", \"next\": \"returns\"}," \
    "  {\"id\": \"person\", \"label\": \"Talk to a person\", \"next\": \"person\"}]}," \
    "\"track\": {\"text\": \"See your order\", \"link\": {\"url\": \"https://shop.example/orders\", \"label\": \"My orders\"}, \"end\": true}," \
    "\"returns\": {\"text\": \"Our policy\", \"article\": \"returns-policy\", \"buttons\": [" \
    "  {\"id\": \"more\", \"label\": \"Still need help\", \"next\": \"person\"}," \
    "  {\"id\": \"menu\", \"label\": \"Back\", \"next\": \"greeting\"}]}," \
    "\"person\": {\"text\": \"Connecting you…\", \"handoff\": true}"

static const char *good = "{\"name\": \"Shop\", \"enabled\": true, \"start\": \"greeting\", \"steps\": {" GOOD_STEPS "},"
                          " \"closed\": {\"text\": \"We are closed; leave your email\", \"collect_email\": true,"
                          " \"thanks\": \"Thanks!\"}}";

typedef struct bad_case {
    const char *json;
    const char *path;
    const char *message;  /* NULL: any message */
} bad_case;

static const bad_case bad[] = {
    { "[]", "", "expected a flow object {start, steps, ...}" },
    { "{\"start\": \"a\", \"steps\": {\"a\": {\"text\": \"x\", \"end\": true}}, \"colour\": 1}", "colour", NULL },
    { "{\"start\": \"a\"}", "steps", "required" },
    { "{\"start\": \"a\", \"steps\": []}", "steps", NULL },
    { "{\"start\": \"a\", \"steps\": {}}", "steps", NULL },
    { "{\"steps\": {\"a\": {\"text\": \"x\", \"end\": true}}}", "start", "required" },
    { "{\"start\": \"b\", \"steps\": {\"a\": {\"text\": \"x\", \"end\": true}}}", "start", "no step 'b'" },
    { "{\"start\": \"a b\", \"steps\": {\"a\": {\"text\": \"x\", \"end\": true}}}", "start", NULL },
    { "{\"enabled\": 1, \"start\": \"a\", \"steps\": {\"a\": {\"text\": \"x\", \"end\": true}}}", "enabled", NULL },
    { "{\"name\": \"\", \"start\": \"a\", \"steps\": {\"a\": {\"text\": \"x\", \"end\": true}}}", "name", "must not be empty" },
    { "{\"start\": \"a\", \"steps\": {\"a\": 3}}", "steps.a", NULL },
    { "{\"start\": \"a\", \"steps\": {\"a\": {\"end\": true}}}", "steps.a.text", "required" },
    { "{\"start\": \"a\", \"steps\": {\"a\": {\"text\": \"\", \"end\": true}}}", "steps.a.text", "must not be empty" },
    { "{\"start\": \"a\", \"steps\": {\"a\": {\"text\": 5, \"end\": true}}}", "steps.a.text", "expected text" },
    { "{\"start\": \"a\", \"steps\": {\"a\": {\"text\": \"x\\u0007\", \"end\": true}}}", "steps.a.text", NULL },
    { "{\"start\": \"a\", \"steps\": {\"a\": {\"text\": \"x\\u0000y\", \"end\": true}}}", "", NULL },  /* jansson refuses NUL */
    { "{\"start\": \"a\", \"steps\": {\"a\": {\"text\": \"x\", \"end\": true, \"colour\": 2}}}", "steps.a.colour", NULL },
    { "{\"start\": \"a\", \"steps\": {\"a\": {\"text\": \"x\"}}}", "steps.a", NULL },
    { "{\"start\": \"a\", \"steps\": {\"a\": {\"text\": \"x\", \"end\": false}}}", "steps.a.end", NULL },
    { "{\"start\": \"a\", \"steps\": {\"a\": {\"text\": \"x\", \"end\": true, \"handoff\": true}}}", "steps.a.handoff", NULL },
    { "{\"start\": \"a\", \"steps\": {\"a\": {\"text\": \"x\", \"article\": \"no spaces\", \"end\": true}}}", "steps.a.article", NULL },
    { "{\"start\": \"a\", \"steps\": {\"a\": {\"text\": \"x\", \"link\": \"https://x\", \"end\": true}}}", "steps.a.link", NULL },
    { "{\"start\": \"a\", \"steps\": {\"a\": {\"text\": \"x\", \"link\": {\"label\": \"l\"}, \"end\": true}}}", "steps.a.link.url", "required" },
    { "{\"start\": \"a\", \"steps\": {\"a\": {\"text\": \"x\", \"link\": {\"url\": \"javascript:alert(1)\"}, \"end\": true}}}", "steps.a.link.url", "expected an http(s) address" },
    { "{\"start\": \"a\", \"steps\": {\"a\": {\"text\": \"x\", \"link\": {\"url\": \"https://\"}, \"end\": true}}}", "steps.a.link.url", NULL },
    { "{\"start\": \"a\", \"steps\": {\"a\": {\"text\": \"x\", \"link\": {\"url\": \"https://a b\"}, \"end\": true}}}", "steps.a.link.url", NULL },
    { "{\"start\": \"a\", \"steps\": {\"a\": {\"text\": \"x\", \"link\": {\"url\": \"https://a\", \"label\": \"\"}, \"end\": true}}}", "steps.a.link.label", NULL },
    { "{\"start\": \"a\", \"steps\": {\"a\": {\"text\": \"x\", \"link\": {\"url\": \"https://a\", \"target\": 1}, \"end\": true}}}", "steps.a.link.target", NULL },
    { "{\"start\": \"a\", \"steps\": {\"a\": {\"text\": \"x\", \"buttons\": []}}}", "steps.a.buttons", NULL },
    { "{\"start\": \"a\", \"steps\": {\"a\": {\"text\": \"x\", \"buttons\": {}}}}", "steps.a.buttons", NULL },
    { "{\"start\": \"a\", \"steps\": {\"a\": {\"text\": \"x\", \"buttons\": [1]}}}", "steps.a.buttons[0]", NULL },
    { "{\"start\": \"a\", \"steps\": {\"a\": {\"text\": \"x\", \"buttons\": [{\"label\": \"l\", \"next\": \"a\"}]}}}", "steps.a.buttons[0].id", "required" },
    { "{\"start\": \"a\", \"steps\": {\"a\": {\"text\": \"x\", \"buttons\": [{\"id\": \"b\", \"next\": \"a\"}]}}}", "steps.a.buttons[0].label", "required" },
    { "{\"start\": \"a\", \"steps\": {\"a\": {\"text\": \"x\", \"buttons\": [{\"id\": \"b\", \"label\": \"l\"}]}}}", "steps.a.buttons[0].next", "required" },
    { "{\"start\": \"a\", \"steps\": {\"a\": {\"text\": \"x\", \"buttons\": [{\"id\": \"b c\", \"label\": \"l\", \"next\": \"a\"}]}}}", "steps.a.buttons[0].id", NULL },
    { "{\"start\": \"a\", \"steps\": {\"a\": {\"text\": \"x\", \"buttons\": [{\"id\": \"b\", \"label\": \"l\", \"next\": \"e\", \"style\": 1}]}, \"e\": {\"text\": \"y\", \"end\": true}}}", "steps.a.buttons[0].style", NULL },
    { "{\"start\": \"a\", \"steps\": {\"a\": {\"text\": \"x\", \"buttons\": [{\"id\": \"b\", \"label\": \"l\", \"next\": \"e\"}, {\"id\": \"b\", \"label\": \"m\", \"next\": \"e\"}]}, \"e\": {\"text\": \"y\", \"end\": true}}}", "steps.a.buttons[1].id", NULL },
    { "{\"start\": \"a\", \"steps\": {\"a\": {\"text\": \"x\", \"buttons\": [{\"id\": \"b\", \"label\": \"0123456789012345678901234567890123456789012345678901234567890\", \"next\": \"a\"}]}}}", "steps.a.buttons[0].label", NULL },
    { "{\"start\": \"a\", \"steps\": {\"a\": {\"text\": \"x\", \"buttons\": [{\"id\": \"b\", \"label\": \"l\", \"next\": 3}]}}}", "steps.a.buttons[0].next", NULL },
    { "{\"start\": \"a\", \"steps\": {\"a\": {\"text\": \"x\", \"buttons\": [{\"id\": \"b\", \"label\": \"l\", \"next\": \"e\"}, {\"id\": \"c\", \"label\": \"l\", \"next\": \"refund\"}]}, \"e\": {\"text\": \"y\", \"end\": true}}}", "steps.a.buttons[1].next", "no step 'refund'" },
    { "{\"start\": \"a\", \"steps\": {\"a b\": {\"text\": \"x\", \"end\": true}}}", "start", NULL },
    { "{\"start\": \"a\", \"steps\": {\"a\": {\"text\": \"x\", \"end\": true}, \"a b\": {\"text\": \"x\", \"end\": true}}}", "steps.a b", NULL },
    /* the graph */
    { "{\"start\": \"a\", \"steps\": {\"a\": {\"text\": \"x\", \"end\": true}, \"old\": {\"text\": \"y\", \"end\": true}}}", "steps.old", "dangling: no button leads here from the start ('a')" },
    { "{\"start\": \"a\", \"steps\": {\"a\": {\"text\": \"x\", \"buttons\": [{\"id\": \"b\", \"label\": \"l\", \"next\": \"a\"}]}}}", "steps.a.buttons", "never reaches an end or a hand-off: every way out loops (a → a)" },
    { "{\"start\": \"a\", \"steps\": {\"a\": {\"text\": \"x\", \"buttons\": [{\"id\": \"b\", \"label\": \"l\", \"next\": \"b\"}, {\"id\": \"e\", \"label\": \"l\", \"next\": \"e\"}]},"
      " \"b\": {\"text\": \"y\", \"buttons\": [{\"id\": \"c\", \"label\": \"l\", \"next\": \"c\"}]},"
      " \"c\": {\"text\": \"z\", \"buttons\": [{\"id\": \"b\", \"label\": \"l\", \"next\": \"b\"}]}, \"e\": {\"text\": \"w\", \"end\": true}}}",
      "steps.b.buttons", "never reaches an end or a hand-off: every way out loops (b → c → b)" },
    /* closed */
    { "{\"start\": \"a\", \"steps\": {\"a\": {\"text\": \"x\", \"end\": true}}, \"closed\": true}", "closed", NULL },
    { "{\"start\": \"a\", \"steps\": {\"a\": {\"text\": \"x\", \"end\": true}}, \"closed\": {}}", "closed.text", "required" },
    { "{\"start\": \"a\", \"steps\": {\"a\": {\"text\": \"x\", \"end\": true}}, \"closed\": {\"text\": \"t\", \"collect_email\": \"yes\"}}", "closed.collect_email", NULL },
    { "{\"start\": \"a\", \"steps\": {\"a\": {\"text\": \"x\", \"end\": true}}, \"closed\": {\"text\": \"t\", \"thanks\": \"\"}}", "closed.thanks", NULL },
    { "{\"start\": \"a\", \"steps\": {\"a\": {\"text\": \"x\", \"end\": true}}, \"closed\": {\"text\": \"t\", \"email\": 1}}", "closed.email", NULL },
    /* JSON itself */
    { "{\"start\": \"a\", \"start\": \"a\", \"steps\": {\"a\": {\"text\": \"x\", \"end\": true}}}", "", NULL },
    { "{", "", NULL },
};

int main(void)
{
    bk_flow_error err;
    CHECK(bk_flow_validate_json(good, strlen(good), &err) == 0, "the example flow is valid (%s: %s)", err.path, err.message);
    /* a cycle with a way out is fine: returns -> greeting -> person */
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&err, 0, sizeof err);
        int result = bk_flow_validate_json(bad[i].json, strlen(bad[i].json), &err);
        CHECK(result == -1, "case %zu refused", i);
        CHECK_STR(err.path, bad[i].path, "case %zu: the path names the field (%s)", i, err.message);
        if (bad[i].message)
            CHECK_STR(err.message, bad[i].message, "case %zu: the message", i);
    }
    /* limits: 51 steps, 7 buttons, 1001 characters of text (æ counts once) */
    char *big = malloc(64 * 1024);
    size_t n = (size_t)sprintf(big, "{\"start\": \"s0\", \"steps\": {");
    for (int i = 0; i <= BK_FLOW_STEPS_MAX; i++)
        n += (size_t)sprintf(big + n, "%s\"s%d\": {\"text\": \"x\", \"end\": true}", i ? "," : "", i);
    sprintf(big + n, "}}");
    CHECK(bk_flow_validate_json(big, strlen(big), &err) == -1 && strcmp(err.path, "steps") == 0,
          "at most %d steps (%s: %s)", BK_FLOW_STEPS_MAX, err.path, err.message);
    n = (size_t)sprintf(big, "{\"start\": \"a\", \"steps\": {\"e\": {\"text\": \"y\", \"end\": true}, \"a\": {\"text\": \"x\", \"buttons\": [");
    for (int i = 0; i <= BK_FLOW_BUTTONS_MAX; i++)
        n += (size_t)sprintf(big + n, "%s{\"id\": \"b%d\", \"label\": \"l\", \"next\": \"e\"}", i ? "," : "", i);
    sprintf(big + n, "]}}}");
    CHECK(bk_flow_validate_json(big, strlen(big), &err) == -1 && strcmp(err.path, "steps.a.buttons") == 0,
          "at most %d buttons (%s: %s)", BK_FLOW_BUTTONS_MAX, err.path, err.message);
    for (int chars = BK_FLOW_TEXT_MAX; chars <= BK_FLOW_TEXT_MAX + 1; chars++) {
        n = (size_t)sprintf(big, "{\"start\": \"a\", \"steps\": {\"a\": {\"end\": true, \"text\": \"");
        for (int i = 0; i < chars; i++)
            n += (size_t)sprintf(big + n, "æ");
        sprintf(big + n, "\"}}}");
        int result = bk_flow_validate_json(big, strlen(big), &err);
        CHECK(chars == BK_FLOW_TEXT_MAX ? result == 0 : result == -1 && strcmp(err.path, "steps.a.text") == 0,
              "a text of %d characters (2 bytes each) is %s", chars, chars == BK_FLOW_TEXT_MAX ? "fine" : "refused");
    }
    /* invalid UTF-8 in the document: jansson's refusal quotes it, repaired for JSON */
    const char raw[] = "{\"start\": \"\xff\xfe\"}";
    CHECK(bk_flow_validate_json(raw, sizeof raw - 1, &err) == -1 && err.path[0] == '\0', "invalid UTF-8 is invalid JSON");
    free(big);
    return check_done();
}
