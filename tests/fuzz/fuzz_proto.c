/* fuzz_proto.c - libFuzzer target for the client frame parser (server/protocol/proto.c).
 *
 * Every input is parsed as a visitor frame and as an agent frame. The server only hands the
 * parser valid UTF-8 text, but the parser must not crash on any byte string, so the input is
 * passed as is (not NUL-terminated: libFuzzer's buffer ends exactly at `size`, so ASan sees a
 * read past the frame).
 *
 * Besides "no crash", it checks what callers rely on:
 *   - on success every string field the request exposes is NUL-terminated, text_len is the
 *     length of text, ids are valid ids, enums hold allowed values, and the parsed JSON is
 *     at most BK_JSON_DEPTH_MAX deep;
 *   - on failure err.code is set and err.message is a terminated string, and valid UTF-8
 *     whenever the frame was (chat/ sends it with json_string(), which returns NULL for
 *     invalid UTF-8: the error reply would go out without its "message");
 *   - bk_request_release leaves the request zeroed. */
#include "fuzz_util.h"
#include "base/ids.h"
#include "protocol/proto.h"

#include <beckon/protocol.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "fuzz_proto: property failed: %s (%s:%d)\n", #cond, __FILE__, \
                    __LINE__);                                                             \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

static int json_depth(const json_t *json)
{
    int deepest = 0;
    if (json_is_object(json)) {
        const char *key;
        json_t *value;
        json_object_foreach((json_t *)json, key, value) {
            int d = json_depth(value);
            if (d > deepest)
                deepest = d;
        }
        return deepest + 1;
    }
    if (json_is_array(json)) {
        size_t i;
        json_t *value;
        json_array_foreach(json, i, value) {
            int d = json_depth(value);
            if (d > deepest)
                deepest = d;
        }
        return deepest + 1;
    }
    return 0;
}

static volatile size_t sink;

static void touch(const char *s)
{
    if (s)
        sink += strlen(s);
}

static void check_ok(bk_role role, const bk_request *r)
{
    CHECK(r->root && json_is_object(r->root));
    CHECK(json_depth(r->root) <= BK_JSON_DEPTH_MAX);
    CHECK(r->type_name != NULL);
    CHECK(r->type >= BK_REQ_HELLO && r->type <= BK_REQ_LEFT_MESSAGES);
    const char *strings[] = {r->site, r->token, r->lang, r->conversation, r->cmid, r->up_to,
                             r->since, r->comment, r->url, r->title, r->referrer, r->device,
                             r->event_name, r->invitation, r->name, r->email, r->to, r->status,
                             r->visitor};
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++)
        touch(strings[i]);
    if (r->text) {
        CHECK(strlen(r->text) > 0);
        /* text_len is set for FIELD_TEXT (message, note, leave_message) only; an agent's
         * "invite" text is a FIELD_STRING and leaves it 0 (chat/tools.c uses strlen there). */
        if (r->type == BK_REQ_INVITE)
            CHECK(r->text_len == 0);
        else
            CHECK(strlen(r->text) == r->text_len);
    }
    if (r->site) CHECK(bk_id_valid(r->site));
    if (r->conversation) CHECK(bk_id_valid(r->conversation));
    if (r->invitation) CHECK(bk_id_valid(r->invitation));
    if (r->to) CHECK(bk_id_valid(r->to));
    if (r->visitor) CHECK(bk_id_valid(r->visitor));
    if (r->event_name) CHECK(bk_id_valid(r->event_name));
    if (r->up_to) CHECK(bk_stream_id_valid(r->up_to));
    if (r->since) CHECK(bk_stream_id_valid(r->since));
    if (r->type == BK_REQ_RESUME) CHECK(r->since != NULL);
    if (r->type == BK_REQ_RATE) CHECK(r->score >= 1 && r->score <= 5);
    if (r->cmid) CHECK(strlen(r->cmid) >= 1 && strlen(r->cmid) <= BK_CMID_MAX);
    if (r->email) CHECK(strchr(r->email, '@') && strlen(r->email) <= BK_EMAIL_MAX);
    if (r->status) CHECK(!strcmp(r->status, "online") || !strcmp(r->status, "away"));
    if (r->device)
        CHECK(!strcmp(r->device, "desktop") || !strcmp(r->device, "mobile") || !strcmp(r->device, "tablet"));
    if (r->url) CHECK(strlen(r->url) <= BK_URL_MAX);
    if (r->props) CHECK(json_is_object(r->props) && json_object_size(r->props) <= BK_PROPS_MAX);
    if (r->attrs) CHECK(json_is_object(r->attrs) && json_object_size(r->attrs) <= BK_PROPS_MAX);
    if (r->page) CHECK(json_is_object(r->page));
    if (r->req) CHECK(json_is_integer(r->req) || json_is_string(r->req));
    /* Agent-only requests must never come out of a visitor parse, and vice versa. */
    if (role == BK_ROLE_VISITOR)
        CHECK(r->type != BK_REQ_ACCEPT && r->type != BK_REQ_NOTE && r->type != BK_REQ_TRANSFER &&
              r->type != BK_REQ_STATUS && r->type != BK_REQ_VISITOR && r->type != BK_REQ_VISITORS &&
              r->type != BK_REQ_INVITE && r->type != BK_REQ_LEFT_MESSAGES);
    else
        CHECK(r->type != BK_REQ_PAGE_VIEW && r->type != BK_REQ_EVENT && r->type != BK_REQ_IDENTIFY &&
              r->type != BK_REQ_LEAVE_MESSAGE && r->type != BK_REQ_RATE &&
              r->type != BK_REQ_INVITE_SHOWN && r->type != BK_REQ_INVITE_ACCEPTED &&
              r->type != BK_REQ_INVITE_DISMISSED);
}

static void parse_one(bk_role role, const char *text, size_t len)
{
    bk_request request;
    bk_error err;
    memset(&err, 0x5a, sizeof err); /* no accidental terminator */
    int rc = bk_request_parse(role, text, len, &request, &err);
    if (rc == 0) {
        check_ok(role, &request);
    } else {
        CHECK(rc == -1);
        CHECK(err.code != NULL);
        CHECK(memchr(err.message, '\0', sizeof err.message) != NULL);
        if (fuzz_check_utf8() && fuzz_utf8_valid((const uint8_t *)text, len) && !fuzz_utf8_valid_str(err.message)) {
            fprintf(stderr, "fuzz_proto: error message is not UTF-8: %s\n", err.message);
            CHECK(!"valid UTF-8 frame, invalid UTF-8 error message");
        }
        if (request.req)
            CHECK(json_is_integer(request.req) || json_is_string(request.req));
    }
    bk_request_release(&request);
    static const bk_request zero;
    CHECK(memcmp(&request, &zero, sizeof zero) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Frames beyond the server's largest max-message-bytes are refused before parsing. */
    if (size > 1 << 24)
        return -1;
    parse_one(BK_ROLE_VISITOR, (const char *)data, size);
    parse_one(BK_ROLE_AGENT, (const char *)data, size);
    return 0;
}
