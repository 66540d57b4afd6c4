/* fuzz_flow.c - libFuzzer target for the flow validator (server/flows/flow.c).
 *
 * The input is a flow document as the Flows page sends it. Properties checked besides "no
 * crash, no sanitizer report, no leak":
 *   - the error's path and message are terminated and, for valid UTF-8 input, valid UTF-8
 *     (flows_api.c puts them in JSON strings);
 *   - validating the text and validating the parsed value agree, and so does a second run;
 *   - a valid flow stays valid written out again (what the store keeps is what was checked);
 *   - what the scripts that run a flow trust of a valid one holds, checked here on its own:
 *     `start` and every button's `next` name a step, and each step has exactly one of
 *     buttons, end, handoff. */
#include "fuzz_util.h"

#include "flows/flow.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                             \
    do {                                                                                        \
        if (!(cond)) {                                                                          \
            fprintf(stderr, "fuzz_flow: property failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
            abort();                                                                            \
        }                                                                                       \
    } while (0)

static void check_error(const bk_flow_error *err, bool utf8)
{
    CHECK(memchr(err->path, '\0', sizeof err->path) != NULL);
    CHECK(memchr(err->message, '\0', sizeof err->message) != NULL);
    CHECK(err->message[0] != '\0');
    if (utf8) {
        CHECK(fuzz_utf8_valid_str(err->path));
        CHECK(fuzz_utf8_valid_str(err->message));
    }
}

/* What lua/flow_run.lua relies on, read again independently of flow.c. */
static void check_trusted(const json_t *flow)
{
    const json_t *steps = json_object_get(flow, "steps");
    CHECK(json_is_object(steps) && json_object_size(steps) > 0);
    CHECK(json_object_get(steps, json_string_value(json_object_get(flow, "start"))) != NULL);
    const char *name;
    const json_t *step;
    json_object_foreach((json_t *)steps, name, step) {
        const json_t *buttons = json_object_get(step, "buttons");
        int ways = (buttons != NULL) + json_is_true(json_object_get(step, "end")) +
                   json_is_true(json_object_get(step, "handoff"));
        CHECK(ways == 1);
        CHECK(json_is_string(json_object_get(step, "text")));
        for (size_t i = 0; i < json_array_size(buttons); i++) {
            const json_t *next = json_object_get(json_array_get(buttons, i), "next");
            CHECK(json_is_string(next) && json_object_get(steps, json_string_value(next)) != NULL);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024)
        return -1;
    bool utf8 = fuzz_check_utf8() && fuzz_utf8_valid(data, size);
    bk_flow_error err, again;
    memset(&err, 0x5a, sizeof err);
    int result = bk_flow_validate_json((const char *)data, size, &err);
    CHECK(result == 0 || result == -1);
    if (result != 0)
        check_error(&err, utf8);
    memset(&again, 0x5a, sizeof again);
    CHECK(bk_flow_validate_json((const char *)data, size, &again) == result);
    if (result != 0)
        CHECK(strcmp(err.path, again.path) == 0 && strcmp(err.message, again.message) == 0);

    json_t *flow = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (flow) {
        memset(&again, 0x5a, sizeof again);
        CHECK(bk_flow_validate(flow, &again) == result);
        if (result != 0)
            CHECK(strcmp(err.path, again.path) == 0 && strcmp(err.message, again.message) == 0);
        if (result == 0) {
            check_trusted(flow);
            char *text = json_dumps(flow, JSON_COMPACT | JSON_ENCODE_ANY);
            CHECK(text != NULL);
            CHECK(bk_flow_validate_json(text, strlen(text), &again) == 0);
            free(text);
        }
        json_decref(flow);
    }
    return 0;
}
