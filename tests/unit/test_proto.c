/* test_proto.c - client frames -> validated requests (docs/protocol.md, "Requests" and "Errors").
 *
 * Every row parses one frame and compares one rendered line, so a failure shows the whole
 * outcome: "MESSAGE(message) cmid=m-1 text=Hi text_len=2" or "bad_request: message.text: required".
 * CHECK evaluates its condition twice, so calls are made first and only results checked. */
#include "check.h"

#include "protocol/proto.h"

#include <beckon/protocol.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define V BK_ROLE_VISITOR
#define A BK_ROLE_AGENT

#define X10 "xxxxxxxxxx"
#define X35 X10 X10 X10 "xxxxx"
#define X64 X10 X10 X10 X10 X10 X10 "xxxx"
#define X100 X10 X10 X10 X10 X10 X10 X10 X10 X10 X10
#define X159 X100 X10 X10 X10 X10 X10 "xxxxxxxxx"
#define X1000 X100 X100 X100 X100 X100 X100 X100 X100 X100 X100
#define HEX64 "3a0c3a0c3a0c3a0c3a0c3a0c3a0c3a0c3a0c3a0c3a0c3a0c3a0c3a0c3a0c3a0c"

static const char *type_enum_name(bk_request_type t)
{
    switch (t) {
    case BK_REQ_HELLO: return "HELLO";
    case BK_REQ_MESSAGE: return "MESSAGE";
    case BK_REQ_TYPING: return "TYPING";
    case BK_REQ_READ: return "READ";
    case BK_REQ_RESUME: return "RESUME";
    case BK_REQ_CLOSE: return "CLOSE";
    case BK_REQ_RATE: return "RATE";
    case BK_REQ_ACCEPT: return "ACCEPT";
    default: return "OTHER";   /* request types added later have rows of their own elsewhere */
    }
}

/* "ENUM(type_name) field=value ...": every string field that was set, then on/score for the
 * requests that carry them. On failure: "code: message". */
static void render(int rc, const bk_request *r, const bk_error *e, char *out, size_t size)
{
    if (rc != 0) {
        snprintf(out, size, "%s: %s", e->code ? e->code : "(no code)", e->message);
        return;
    }
    size_t o = (size_t)snprintf(out, size, "%s(%s)", type_enum_name(r->type), r->type_name ? r->type_name : "");
    const struct {
        const char *name;
        const char *value;
    } strings[] = {
        { "site", r->site }, { "token", r->token }, { "lang", r->lang },
        { "conversation", r->conversation }, { "cmid", r->cmid }, { "text", r->text },
        { "up_to", r->up_to }, { "since", r->since }, { "comment", r->comment },
    };
    for (size_t i = 0; i < sizeof strings / sizeof strings[0] && o < size; i++) {
        if (strings[i].value)
            o += (size_t)snprintf(out + o, size - o, " %s=%s", strings[i].name, strings[i].value);
        if (strings[i].value && strings[i].value == r->text && o < size)
            o += (size_t)snprintf(out + o, size - o, " text_len=%zu", r->text_len);
    }
    if (r->type == BK_REQ_TYPING && o < size)
        o += (size_t)snprintf(out + o, size - o, " on=%d", r->on);
    if (r->type == BK_REQ_RATE && o < size)
        snprintf(out + o, size - o, " score=%d", r->score);
}

typedef struct row {
    const char *name;
    bk_role role;
    const char *json;
    const char *want;   /* rendered; a trailing '*' makes it a prefix (for jansson's own messages) */
} row;

static int matches(const char *got, const char *want)
{
    size_t n = strlen(want);
    if (n > 0 && want[n - 1] == '*')
        return strncmp(got, want, n - 1) == 0;
    return strcmp(got, want) == 0;
}

static void parse_and_check(const char *group, const char *name, bk_role role, const char *json,
                            size_t len, const char *want)
{
    bk_request r;
    bk_error e = { 0 };
    static char got[4096];
    int rc = bk_request_parse(role, json, len, &r, &e);
    render(rc, &r, &e, got, sizeof got);
    int ok = matches(got, want);
    CHECK(ok, "%s: %s: %s", group, role == A ? "agent" : "visitor", name);
    if (!ok)
        printf("#   got  \"%s\"\n#   want \"%s\"\n", got, want);
    bk_request_release(&r);
}

static void check_rows(const char *group, const row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++)
        parse_and_check(group, rows[i].name, rows[i].role, rows[i].json, strlen(rows[i].json), rows[i].want);
}

#define ROWS(a) (a), sizeof(a) / sizeof((a)[0])

/* Every request type a visitor may send, with its fields as parsed. */
static const row visitor_valid[] = {
    { "hello with nothing else", V, "{\"type\":\"hello\"}", "HELLO(hello)" },
    { "hello with every field", V,
      "{\"type\":\"hello\",\"req\":1,\"site\":\"demo\",\"token\":\"v1.v_3f.Qm9\",\"lang\":\"da\","
      "\"page\":{\"url\":\"https://shop.example/pricing\",\"title\":\"Pricing\"}}",
      "HELLO(hello) site=demo token=v1.v_3f.Qm9 lang=da" },
    /* The documented example hello has referrer "" (document.referrer on a direct visit):
     * an empty page.referrer or page.title is accepted. */
    { "hello exactly as in docs/protocol.md (empty referrer)", V,
      "{\"type\": \"hello\", \"req\": 1, \"site\": \"demo\", \"token\": \"v1.v_3f\", \"lang\": \"da\",\n"
      " \"page\": {\"url\": \"https://shop.example/pricing\", \"title\": \"Pricing\", \"referrer\": \"\"}}",
      "HELLO(hello) site=demo token=v1.v_3f lang=da" },
    { "hello with null optional fields", V,
      "{\"type\":\"hello\",\"site\":null,\"token\":null,\"lang\":null,\"page\":null}", "HELLO(hello)" },
    { "hello with an empty page", V, "{\"type\":\"hello\",\"page\":{}}", "HELLO(hello)" },
    { "hello with 35-byte lang and 159-byte token", V,
      "{\"type\":\"hello\",\"lang\":\"" X35 "\",\"token\":\"" X159 "\"}",
      "HELLO(hello) token=" X159 " lang=" X35 },
    { "message", V, "{\"type\":\"message\",\"cmid\":\"m-1\",\"text\":\"Hi\"}",
      "MESSAGE(message) cmid=m-1 text=Hi text_len=2" },
    { "message: text_len counts UTF-8 bytes", V,
      "{\"type\":\"message\",\"cmid\":\"m-2\",\"text\":\"Hej p\\u00e5 dig \xe2\x9c\x93\"}",
      "MESSAGE(message) cmid=m-2 text=Hej p\xc3\xa5 dig \xe2\x9c\x93 text_len=15" },
    { "message: 64-byte cmid of any characters", V,
      "{\"type\":\"message\",\"cmid\":\"" X64 "\",\"text\":\" \"}",
      "MESSAGE(message) cmid=" X64 " text=  text_len=1" },
    { "message: members in any order", V, "{\"text\":\"Hi\",\"cmid\":\"c\",\"type\":\"message\"}",
      "MESSAGE(message) cmid=c text=Hi text_len=2" },
    { "message: unknown members are ignored", V,
      "{\"type\":\"message\",\"cmid\":\"c\",\"text\":\"Hi\",\"extra\":[1,{}],\"conversation\":\"c_1\"}",
      "MESSAGE(message) cmid=c text=Hi text_len=2" },
    { "message: white space around the JSON", V,
      " \n\t{ \"type\" : \"message\" , \"cmid\" : \"c\" , \"text\" : \"Hi\" }\r\n ",
      "MESSAGE(message) cmid=c text=Hi text_len=2" },
    { "typing on", V, "{\"type\":\"typing\",\"on\":true}", "TYPING(typing) on=1" },
    { "typing off", V, "{\"type\":\"typing\",\"on\":false}", "TYPING(typing) on=0" },
    { "read up to a message id", V, "{\"type\":\"read\",\"up_to\":\"1763846400000-0\"}",
      "READ(read) up_to=1763846400000-0" },
    { "read up to \"0\"", V, "{\"type\":\"read\",\"up_to\":\"0\"}", "READ(read) up_to=0" },
    { "read up to a 41-byte id (20 digits each side)", V,
      "{\"type\":\"read\",\"up_to\":\"18446744073709551615-18446744073709551615\"}",
      "READ(read) up_to=18446744073709551615-18446744073709551615" },
    { "resume with since", V, "{\"type\":\"resume\",\"conversation\":\"c_91\",\"since\":\"1763846400000-5\"}",
      "RESUME(resume) conversation=c_91 since=1763846400000-5" },
    { "resume without since starts at \"0\"", V, "{\"type\":\"resume\",\"conversation\":\"c_91\"}",
      "RESUME(resume) conversation=c_91 since=0" },
    { "resume with null since starts at \"0\"", V,
      "{\"type\":\"resume\",\"conversation\":\"c_91\",\"since\":null}",
      "RESUME(resume) conversation=c_91 since=0" },
    { "close", V, "{\"type\":\"close\"}", "CLOSE(close)" },
    { "close ignores a conversation (a visitor has one)", V,
      "{\"type\":\"close\",\"conversation\":\"../x\"}", "CLOSE(close)" },
    { "rate with a score only", V, "{\"type\":\"rate\",\"score\":5}", "RATE(rate) score=5" },
    { "rate with every field", V,
      "{\"type\":\"rate\",\"score\":1,\"comment\":\"slow\",\"conversation\":\"c_91\"}",
      "RATE(rate) conversation=c_91 comment=slow score=1" },
    { "rate with a 1000-byte comment", V, "{\"type\":\"rate\",\"score\":3,\"comment\":\"" X1000 "\"}",
      "RATE(rate) comment=" X1000 " score=3" },
    { "rate with null optional fields", V,
      "{\"type\":\"rate\",\"score\":2,\"comment\":null,\"conversation\":null}", "RATE(rate) score=2" },
};

/* Every request type an agent may send: each names its conversation. */
static const row agent_valid[] = {
    { "hello with a session token", A, "{\"type\":\"hello\",\"req\":1,\"token\":\"" HEX64 "\"}",
      "HELLO(hello) token=" HEX64 },
    /* An agent's token is judged by chat (unauthorized + close 1008), not here: hello never
     * fails for its token, and a token that is not a string of at most 1024 bytes is absent. */
    { "hello without token", A, "{\"type\":\"hello\"}", "HELLO(hello)" },
    { "hello with empty token", A, "{\"type\":\"hello\",\"token\":\"\"}", "HELLO(hello) token=" },
    { "hello with a 65-byte token", A, "{\"type\":\"hello\",\"token\":\"" HEX64 "0\"}",
      "HELLO(hello) token=" HEX64 "0" },
    { "hello with a 1024-byte token", A, "{\"type\":\"hello\",\"token\":\"" X1000 X10 X10 "xxxx\"}",
      "HELLO(hello) token=" X1000 X10 X10 "xxxx" },
    { "hello with a 1025-byte token: absent", A, "{\"type\":\"hello\",\"token\":\"" X1000 X10 X10 "xxxxx\"}",
      "HELLO(hello)" },
    { "hello with a number token: absent", A, "{\"type\":\"hello\",\"token\":42}", "HELLO(hello)" },
    { "hello with an object token: absent", A, "{\"type\":\"hello\",\"token\":{}}", "HELLO(hello)" },
    { "message", A, "{\"type\":\"message\",\"conversation\":\"c_91\",\"cmid\":\"a-1\",\"text\":\"Hello!\"}",
      "MESSAGE(message) conversation=c_91 cmid=a-1 text=Hello! text_len=6" },
    { "message to a 64-char conversation id", A,
      "{\"type\":\"message\",\"conversation\":\"" X64 "\",\"cmid\":\"a\",\"text\":\"t\"}",
      "MESSAGE(message) conversation=" X64 " cmid=a text=t text_len=1" },
    { "typing", A, "{\"type\":\"typing\",\"conversation\":\"c_91\",\"on\":true}",
      "TYPING(typing) conversation=c_91 on=1" },
    { "read", A, "{\"type\":\"read\",\"conversation\":\"c_91\",\"up_to\":\"1-0\"}",
      "READ(read) conversation=c_91 up_to=1-0" },
    { "resume without since", A, "{\"type\":\"resume\",\"conversation\":\"c_91\"}",
      "RESUME(resume) conversation=c_91 since=0" },
    { "resume with since", A, "{\"type\":\"resume\",\"conversation\":\"c_91\",\"since\":\"0-1\"}",
      "RESUME(resume) conversation=c_91 since=0-1" },
    { "close", A, "{\"type\":\"close\",\"conversation\":\"c_91\"}", "CLOSE(close) conversation=c_91" },
    { "accept", A, "{\"type\":\"accept\",\"conversation\":\"c_91\"}", "ACCEPT(accept) conversation=c_91" },
    { "conversation ids use [A-Za-z0-9_-]", A, "{\"type\":\"accept\",\"conversation\":\"Az09_-\"}",
      "ACCEPT(accept) conversation=Az09_-" },
};

/* Frames that are not one JSON object: bad_json. */
static const row bad_json_rows[] = {
    { "not JSON", V, "hello", "bad_json: invalid JSON at line 1*" },
    { "empty frame", V, "", "bad_json: invalid JSON*" },
    { "only white space", V, "  ", "bad_json: invalid JSON*" },
    { "truncated object", V, "{\"type\":\"hello\"", "bad_json: invalid JSON*" },
    { "trailing data after the object", V, "{\"type\":\"close\"} {}", "bad_json: invalid JSON*" },
    { "single quotes", V, "{'type':'close'}", "bad_json: invalid JSON*" },
    { "trailing comma", V, "{\"type\":\"close\",}", "bad_json: invalid JSON*" },
    { "invalid UTF-8", V, "{\"type\":\"message\",\"cmid\":\"c\",\"text\":\"\xff\"}", "bad_json: invalid JSON*" },
    { "an array", V, "[{\"type\":\"hello\"}]", "bad_json: expected a JSON object" },
    { "an empty array", A, "[]", "bad_json: expected a JSON object" },
    /* jansson itself refuses a top-level scalar (no JSON_DECODE_ANY), in its own words. */
    { "a string", V, "\"hello\"", "bad_json: invalid JSON*" },
    { "a number", V, "42", "bad_json: invalid JSON*" },
    { "null", A, "null", "bad_json: invalid JSON*" },
    { "true", V, "true", "bad_json: invalid JSON*" },
    { "duplicate type", V, "{\"type\":\"close\",\"type\":\"close\"}", "bad_json: invalid JSON*" },
    { "duplicate field", V, "{\"type\":\"message\",\"cmid\":\"a\",\"text\":\"x\",\"text\":\"y\"}",
      "bad_json: invalid JSON*" },
    { "duplicate req", A, "{\"type\":\"accept\",\"req\":1,\"req\":2,\"conversation\":\"c\"}",
      "bad_json: invalid JSON*" },
    { "duplicate key inside page", V, "{\"type\":\"hello\",\"page\":{\"url\":\"a\",\"url\":\"b\"}}",
      "bad_json: invalid JSON*" },
};

/* The type member: required, a string, and one this role may send. */
static const row type_rows[] = {
    { "empty object", V, "{}", "bad_request: type: required" },
    { "no type, other fields", A, "{\"conversation\":\"c_1\"}", "bad_request: type: required" },
    { "type null", V, "{\"type\":null}", "bad_request: type: expected a string" },
    { "type number", V, "{\"type\":5}", "bad_request: type: expected a string" },
    { "type array", A, "{\"type\":[\"hello\"]}", "bad_request: type: expected a string" },
    { "type object", V, "{\"type\":{}}", "bad_request: type: expected a string" },
    { "unknown type", V, "{\"type\":\"nope\"}", "unknown_type: unknown type 'nope' for visitor connections" },
    { "unknown type", A, "{\"type\":\"nope\"}", "unknown_type: unknown type 'nope' for agent connections" },
    { "empty type", V, "{\"type\":\"\"}", "unknown_type: unknown type '' for visitor connections" },
    { "type is case-sensitive", V, "{\"type\":\"Hello\"}",
      "unknown_type: unknown type 'Hello' for visitor connections" },
    { "agent-only accept", V, "{\"type\":\"accept\",\"conversation\":\"c_1\"}",
      "unknown_type: unknown type 'accept' for visitor connections" },
    { "visitor-only rate", A, "{\"type\":\"rate\",\"score\":5,\"conversation\":\"c_1\"}",
      "unknown_type: unknown type 'rate' for agent connections" },
    { "a server push type", V, "{\"type\":\"welcome\"}",
      "unknown_type: unknown type 'welcome' for visitor connections" },
    { "a long type is quoted to 64 bytes", V, "{\"type\":\"" X100 "\"}",
      "unknown_type: unknown type '" X64 "' for visitor connections" },
};

/* Missing, mistyped, empty, too long or malformed fields: bad_request naming "type.field". */
static const row visitor_field_errors[] = {
    { "message without cmid", V, "{\"type\":\"message\",\"text\":\"Hi\"}", "bad_request: message.cmid: required" },
    { "message without text", V, "{\"type\":\"message\",\"cmid\":\"c\"}", "bad_request: message.text: required" },
    { "message with null text", V, "{\"type\":\"message\",\"cmid\":\"c\",\"text\":null}",
      "bad_request: message.text: required" },
    { "message with number text", V, "{\"type\":\"message\",\"cmid\":\"c\",\"text\":5}",
      "bad_request: message.text: expected a string" },
    { "message with array text", V, "{\"type\":\"message\",\"cmid\":\"c\",\"text\":[\"Hi\"]}",
      "bad_request: message.text: expected a string" },
    { "message with empty text", V, "{\"type\":\"message\",\"cmid\":\"c\",\"text\":\"\"}",
      "bad_request: message.text: must not be empty" },
    { "message with empty cmid", V, "{\"type\":\"message\",\"cmid\":\"\",\"text\":\"Hi\"}",
      "bad_request: message.cmid: must not be empty" },
    { "message with number cmid", V, "{\"type\":\"message\",\"cmid\":42,\"text\":\"Hi\"}",
      "bad_request: message.cmid: expected a string" },
    { "message with 65-byte cmid", V, "{\"type\":\"message\",\"cmid\":\"" X64 "x\",\"text\":\"Hi\"}",
      "bad_request: message.cmid: longer than 64 bytes" },
    /* \u0000 is valid JSON, so the frame is not bad_json: the field check refuses the text
     * and names the field. */
    { "message text with an embedded NUL (\\u0000)", V,
      "{\"type\":\"message\",\"cmid\":\"c\",\"text\":\"a\\u0000b\"}",
      "bad_request: message.text: contains a NUL character" },
    { "typing without on", V, "{\"type\":\"typing\"}", "bad_request: typing.on: required" },
    { "typing with on 1", V, "{\"type\":\"typing\",\"on\":1}", "bad_request: typing.on: expected true or false" },
    { "typing with on \"true\"", V, "{\"type\":\"typing\",\"on\":\"true\"}",
      "bad_request: typing.on: expected true or false" },
    { "read without up_to", V, "{\"type\":\"read\"}", "bad_request: read.up_to: required" },
    { "read with empty up_to", V, "{\"type\":\"read\",\"up_to\":\"\"}", "bad_request: read.up_to: must not be empty" },
    { "read with number up_to", V, "{\"type\":\"read\",\"up_to\":1763846400000}",
      "bad_request: read.up_to: expected a string" },
    { "read with 42-byte up_to", V, "{\"type\":\"read\",\"up_to\":\"118446744073709551615-18446744073709551615\"}",
      "bad_request: read.up_to: longer than 41 bytes" },
    { "resume without conversation", V, "{\"type\":\"resume\",\"since\":\"0\"}",
      "bad_request: resume.conversation: required" },
    { "resume with conversation \"../x\"", V, "{\"type\":\"resume\",\"conversation\":\"../x\"}",
      "bad_request: resume.conversation: not a valid id" },
    { "resume with empty since", V, "{\"type\":\"resume\",\"conversation\":\"c\",\"since\":\"\"}",
      "bad_request: resume.since: must not be empty" },
    { "rate without score", V, "{\"type\":\"rate\",\"comment\":\"ok\"}", "bad_request: rate.score: required" },
    { "rate with score 0", V, "{\"type\":\"rate\",\"score\":0}", "bad_request: rate.score: expected a whole number from 1 to 5" },
    { "rate with score 6", V, "{\"type\":\"rate\",\"score\":6}", "bad_request: rate.score: expected a whole number from 1 to 5" },
    { "rate with score -1", V, "{\"type\":\"rate\",\"score\":-1}", "bad_request: rate.score: expected a whole number from 1 to 5" },
    { "rate with score 3.5", V, "{\"type\":\"rate\",\"score\":3.5}", "bad_request: rate.score: expected a whole number from 1 to 5" },
    { "rate with score 5.0", V, "{\"type\":\"rate\",\"score\":5.0}", "bad_request: rate.score: expected a whole number from 1 to 5" },
    { "rate with score \"5\"", V, "{\"type\":\"rate\",\"score\":\"5\"}", "bad_request: rate.score: expected a whole number from 1 to 5" },
    { "rate with score true", V, "{\"type\":\"rate\",\"score\":true}", "bad_request: rate.score: expected a whole number from 1 to 5" },
    { "rate with a huge score", V, "{\"type\":\"rate\",\"score\":4294967297}",
      "bad_request: rate.score: expected a whole number from 1 to 5" },
    { "rate with empty comment", V, "{\"type\":\"rate\",\"score\":5,\"comment\":\"\"}",
      "bad_request: rate.comment: must not be empty" },
    { "rate with 1001-byte comment", V, "{\"type\":\"rate\",\"score\":5,\"comment\":\"" X1000 "x\"}",
      "bad_request: rate.comment: longer than 1000 bytes" },
    { "rate with conversation \"../x\"", V, "{\"type\":\"rate\",\"score\":5,\"conversation\":\"../x\"}",
      "bad_request: rate.conversation: not a valid id" },
    { "hello with site \"my site\"", V, "{\"type\":\"hello\",\"site\":\"my site\"}",
      "bad_request: hello.site: not a valid id" },
    { "hello with page \"x\"", V, "{\"type\":\"hello\",\"page\":\"x\"}", "bad_request: hello.page: expected an object" },
    { "hello with page []", V, "{\"type\":\"hello\",\"page\":[]}", "bad_request: hello.page: expected an object" },
    { "hello with 36-byte lang", V, "{\"type\":\"hello\",\"lang\":\"" X35 "x\"}",
      "bad_request: hello.lang: longer than 35 bytes" },
    { "hello with 160-byte token", V, "{\"type\":\"hello\",\"token\":\"" X159 "x\"}",
      "bad_request: hello.token: longer than 159 bytes" },
    { "hello with number token", V, "{\"type\":\"hello\",\"token\":5}", "bad_request: hello.token: expected a string" },
};

static const row agent_field_errors[] = {
    { "message without conversation (checked first)", A, "{\"type\":\"message\"}",
      "bad_request: message.conversation: required" },
    { "message without text", A, "{\"type\":\"message\",\"conversation\":\"c\",\"cmid\":\"m\"}",
      "bad_request: message.text: required" },
    { "typing without on", A, "{\"type\":\"typing\",\"conversation\":\"c\"}", "bad_request: typing.on: required" },
    { "read without up_to", A, "{\"type\":\"read\",\"conversation\":\"c\"}", "bad_request: read.up_to: required" },
    { "close without conversation", A, "{\"type\":\"close\"}", "bad_request: close.conversation: required" },
    { "accept without conversation", A, "{\"type\":\"accept\"}", "bad_request: accept.conversation: required" },
    { "accept with number conversation", A, "{\"type\":\"accept\",\"conversation\":7}",
      "bad_request: accept.conversation: expected a string" },
    { "accept with empty conversation", A, "{\"type\":\"accept\",\"conversation\":\"\"}",
      "bad_request: accept.conversation: must not be empty" },
    { "accept with 65-char conversation", A, "{\"type\":\"accept\",\"conversation\":\"" X64 "x\"}",
      "bad_request: accept.conversation: longer than 64 bytes" },
};

/* Conversation ids are [A-Za-z0-9_-]{1,64}: safe inside Redis keys. */
static const row invalid_id_rows[] = {
    { "\"../x\"", A, "{\"type\":\"accept\",\"conversation\":\"../x\"}", "bad_request: accept.conversation: not a valid id" },
    { "\"c/1\"", A, "{\"type\":\"accept\",\"conversation\":\"c/1\"}", "bad_request: accept.conversation: not a valid id" },
    { "\"c 1\"", A, "{\"type\":\"close\",\"conversation\":\"c 1\"}", "bad_request: close.conversation: not a valid id" },
    { "\"c:1\" (a Redis key separator)", A, "{\"type\":\"message\",\"conversation\":\"c:1\",\"cmid\":\"m\",\"text\":\"t\"}",
      "bad_request: message.conversation: not a valid id" },
    { "\"c.1\"", A, "{\"type\":\"typing\",\"conversation\":\"c.1\",\"on\":true}", "bad_request: typing.conversation: not a valid id" },
    { "\"c*\" (a Redis pattern)", A, "{\"type\":\"read\",\"conversation\":\"c*\",\"up_to\":\"0\"}",
      "bad_request: read.conversation: not a valid id" },
    { "\"c\\n1\"", A, "{\"type\":\"accept\",\"conversation\":\"c\\n1\"}", "bad_request: accept.conversation: not a valid id" },
    { "non-ASCII", A, "{\"type\":\"accept\",\"conversation\":\"c\\u00e7\"}", "bad_request: accept.conversation: not a valid id" },
    { "\"../x\" from a visitor", V, "{\"type\":\"resume\",\"conversation\":\"../x\"}",
      "bad_request: resume.conversation: not a valid id" },
};

/* Stream ids are "ms-seq" of 1..20 digits each, or "0". */
#define STREAM_ERR(field) "bad_request: " field ": expected a message id like \"1763846400000-0\""
static const row invalid_stream_id_rows[] = {
    { "\"abc\"", V, "{\"type\":\"read\",\"up_to\":\"abc\"}", STREAM_ERR("read.up_to") },
    { "\"123\" without a dash", V, "{\"type\":\"read\",\"up_to\":\"123\"}", STREAM_ERR("read.up_to") },
    { "\"00\"", V, "{\"type\":\"read\",\"up_to\":\"00\"}", STREAM_ERR("read.up_to") },
    { "\"-1\"", V, "{\"type\":\"read\",\"up_to\":\"-1\"}", STREAM_ERR("read.up_to") },
    { "\"1-\"", V, "{\"type\":\"read\",\"up_to\":\"1-\"}", STREAM_ERR("read.up_to") },
    { "\"1-2-3\"", V, "{\"type\":\"read\",\"up_to\":\"1-2-3\"}", STREAM_ERR("read.up_to") },
    { "\"1.5-0\"", V, "{\"type\":\"read\",\"up_to\":\"1.5-0\"}", STREAM_ERR("read.up_to") },
    { "\" 1-0\"", V, "{\"type\":\"read\",\"up_to\":\" 1-0\"}", STREAM_ERR("read.up_to") },
    { "\"+1-0\"", A, "{\"type\":\"read\",\"conversation\":\"c\",\"up_to\":\"+1-0\"}", STREAM_ERR("read.up_to") },
    { "21-digit ms part", V, "{\"type\":\"read\",\"up_to\":\"123456789012345678901-0\"}", STREAM_ERR("read.up_to") },
    { "\"$\" (Redis's newest)", V, "{\"type\":\"resume\",\"conversation\":\"c\",\"since\":\"$\"}",
      STREAM_ERR("resume.since") },
    { "\"-\" (Redis's oldest)", A, "{\"type\":\"resume\",\"conversation\":\"c\",\"since\":\"-\"}",
      STREAM_ERR("resume.since") },
    { "number since", A, "{\"type\":\"resume\",\"conversation\":\"c\",\"since\":0}",
      "bad_request: resume.since: expected a string" },
};

/* "req" is echoed in the reply, so it is kept even when the request itself is refused;
 * only an integer or a string of at most 64 bytes is accepted. */
static void test_req(void)
{
    static const struct {
        const char *name;
        bk_role role;
        const char *json;
        const char *want;   /* "rc=N code=C req=JSON" */
    } rows[] = {
        { "integer req", V, "{\"type\":\"close\",\"req\":7}", "rc=0 code=- req=7" },
        { "negative integer req", V, "{\"type\":\"close\",\"req\":-3}", "rc=0 code=- req=-3" },
        { "string req", A, "{\"type\":\"accept\",\"req\":\"r-1\",\"conversation\":\"c\"}", "rc=0 code=- req=\"r-1\"" },
        { "empty string req", V, "{\"type\":\"close\",\"req\":\"\"}", "rc=0 code=- req=\"\"" },
        { "64-byte string req", V, "{\"type\":\"close\",\"req\":\"" X64 "\"}", "rc=0 code=- req=\"" X64 "\"" },
        { "no req", V, "{\"type\":\"close\"}", "rc=0 code=- req=(none)" },
        { "integer req kept when a field is missing", V, "{\"type\":\"message\",\"req\":7,\"cmid\":\"c\"}",
          "rc=-1 code=bad_request req=7" },
        { "string req kept when a field is invalid", A, "{\"req\":\"r\",\"type\":\"accept\",\"conversation\":\"../x\"}",
          "rc=-1 code=bad_request req=\"r\"" },
        { "req kept when the type is unknown", V, "{\"type\":\"accept\",\"req\":9}", "rc=-1 code=unknown_type req=9" },
        { "req kept when the type is missing", V, "{\"req\":10}", "rc=-1 code=bad_request req=10" },
        { "req kept when the type is not a string", A, "{\"req\":\"x\",\"type\":1}", "rc=-1 code=bad_request req=\"x\"" },
        { "65-byte string req refused", V, "{\"type\":\"close\",\"req\":\"" X64 "x\"}", "rc=-1 code=bad_request req=(none)" },
        { "fractional req refused", V, "{\"type\":\"close\",\"req\":1.5}", "rc=-1 code=bad_request req=(none)" },
        { "null req refused", V, "{\"type\":\"close\",\"req\":null}", "rc=-1 code=bad_request req=(none)" },
        { "boolean req refused", V, "{\"type\":\"close\",\"req\":true}", "rc=-1 code=bad_request req=(none)" },
        { "object req refused", A, "{\"type\":\"accept\",\"conversation\":\"c\",\"req\":{}}", "rc=-1 code=bad_request req=(none)" },
        { "array req refused", V, "{\"type\":\"close\",\"req\":[1]}", "rc=-1 code=bad_request req=(none)" },
        { "req not available from an array frame", V, "[{\"req\":1}]", "rc=-1 code=bad_json req=(none)" },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        bk_request r;
        bk_error e = { 0 };
        int rc = bk_request_parse(rows[i].role, rows[i].json, strlen(rows[i].json), &r, &e);
        char *req = r.req ? json_dumps(r.req, JSON_ENCODE_ANY) : NULL;
        char got[256];
        snprintf(got, sizeof got, "rc=%d code=%s req=%s", rc, rc ? e.code : "-", req ? req : "(none)");
        free(req);
        CHECK_STR(got, rows[i].want, "req: %s", rows[i].name);
        bk_request_release(&r);
    }

    /* The message for a refused req is exact. */
    parse_and_check("req", "65-byte string req: message", V, "{\"type\":\"close\",\"req\":\"" X64 "x\"}",
                    strlen("{\"type\":\"close\",\"req\":\"" X64 "x\"}"),
                    "bad_request: req: expected an integer or a string of at most 64 bytes");
    parse_and_check("req", "fractional req: message", A, "{\"type\":\"close\",\"req\":0.5}",
                    strlen("{\"type\":\"close\",\"req\":0.5}"),
                    "bad_request: req: expected an integer or a string of at most 64 bytes");
}

/* Nesting is capped at 32 levels before jansson parses; brackets inside strings do not count. */
static void test_depth(void)
{
    static const struct {
        const char *name;
        int depth;
        int arrays;   /* nest arrays inside page instead of objects */
        const char *want;
    } rows[] = {
        { "depth 2 (page)", 2, 0, "HELLO(hello)" },
        { "depth 31", 31, 0, "HELLO(hello)" },
        { "depth 32 (the limit)", 32, 0, "HELLO(hello)" },
        { "depth 32 in arrays", 32, 1, "HELLO(hello)" },
        { "depth 33", 33, 0, "bad_json: JSON nested deeper than 32 levels" },
        { "depth 33 in arrays", 33, 1, "bad_json: JSON nested deeper than 32 levels" },
        { "depth 40", 40, 0, "bad_json: JSON nested deeper than 32 levels" },
        { "depth 40 in arrays", 40, 1, "bad_json: JSON nested deeper than 32 levels" },
        { "depth 5000 (beyond jansson's own limit)", 5000, 1, "bad_json: JSON nested deeper than 32 levels" },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        int inner = rows[i].depth - 2;   /* levels inside page */
        size_t size = 64 + (size_t)inner * 8;
        char *json = malloc(size);
        size_t o = (size_t)snprintf(json, size, "{\"type\":\"hello\",\"page\":{\"a\":");
        for (int k = 0; k < inner; k++)
            o += (size_t)snprintf(json + o, size - o, rows[i].arrays ? "[" : "{\"a\":");
        o += (size_t)snprintf(json + o, size - o, "0");
        for (int k = 0; k < inner; k++)
            o += (size_t)snprintf(json + o, size - o, rows[i].arrays ? "]" : "}");
        snprintf(json + o, size - o, "}}");
        parse_and_check("depth", rows[i].name, V, json, strlen(json), rows[i].want);
        free(json);
    }

    static const row string_rows[] = {
        { "40 brackets inside a string", V,
          "{\"type\":\"message\",\"cmid\":\"c\",\"text\":\"[[[[[[[[[[{{{{{{{{{{[[[[[[[[[[{{{{{{{{{{\"}",
          "MESSAGE(message) cmid=c text=[[[[[[[[[[{{{{{{{{{{[[[[[[[[[[{{{{{{{{{{ text_len=40" },
        { "an escaped quote does not end the string", V,
          "{\"type\":\"message\",\"cmid\":\"c\",\"text\":\"\\\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"}",
          "MESSAGE(message) cmid=c text=\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[ text_len=41" },
        { "an escaped backslash does end the string", V,
          "{\"type\":\"message\",\"cmid\":\"c\\\\\",\"text\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"}",
          "MESSAGE(message) cmid=c\\ text=[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[ text_len=40" },
        { "brackets in keys do not count", V,
          "{\"type\":\"hello\",\"page\":{\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\":1}}", "HELLO(hello)" },
    };
    check_rows("depth", ROWS(string_rows));
}

/* The frame is len bytes, not a C string: no NUL terminator is needed, and nothing past len is read. */
static void test_lengths(void)
{
    static const char frame[] = "{\"type\":\"message\",\"cmid\":\"c\",\"text\":\"Hi\"}";
    char *exact = malloc(sizeof frame - 1);   /* no room for a NUL: ASan catches any overread */
    memcpy(exact, frame, sizeof frame - 1);
    parse_and_check("length", "frame without a NUL terminator", V, exact, sizeof frame - 1,
                    "MESSAGE(message) cmid=c text=Hi text_len=2");
    free(exact);

    static const char prefix[] = "{\"type\":\"close\"}garbage that is not parsed";
    parse_and_check("length", "bytes after len are ignored", V, prefix, strlen("{\"type\":\"close\"}"), "CLOSE(close)");
    parse_and_check("length", "len cut inside the object", V, prefix, 10, "bad_json: invalid JSON*");
    parse_and_check("length", "len 0", V, prefix, 0, "bad_json: invalid JSON*");

    static const char raw_nul[] = "{\"type\":\"message\",\"cmid\":\"c\",\"text\":\"a\0b\"}";
    parse_and_check("length", "a raw NUL byte inside a string is not JSON", V, raw_nul, sizeof raw_nul - 1,
                    "bad_json: invalid JSON*");
    static const char nul_after[] = "{\"type\":\"close\"}\0{\"type\":\"close\"}";
    parse_and_check("length", "a raw NUL byte after the object is not JSON", V, nul_after, sizeof nul_after - 1,
                    "bad_json: invalid JSON*");
}

/* bk_request_release drops the JSON and clears the request, after success or failure,
 * and a released (or failed-early) request can be released again. */
static void test_release(void)
{
    bk_request r;
    bk_error e = { 0 };
    static const char ok_frame[] = "{\"type\":\"close\",\"req\":1}";
    int rc = bk_request_parse(V, ok_frame, strlen(ok_frame), &r, &e);
    bk_request_release(&r);
    CHECK(rc == 0 && r.root == NULL && r.req == NULL && r.type_name == NULL, "release: clears a parsed request");
    bk_request_release(&r);
    CHECK(1, "release: a second release is harmless");

    static const char bad_frame[] = "not json";
    rc = bk_request_parse(V, bad_frame, strlen(bad_frame), &r, &e);
    CHECK(rc == -1 && r.root == NULL && r.req == NULL, "release: a frame that is not JSON leaves nothing to free");
    bk_request_release(&r);

    /* Leaks in any row above are reported by LeakSanitizer in the sanitize build. */
}

int main(void)
{
    check_rows("valid", ROWS(visitor_valid));
    check_rows("valid", ROWS(agent_valid));
    check_rows("bad_json", ROWS(bad_json_rows));
    check_rows("type", ROWS(type_rows));
    check_rows("field", ROWS(visitor_field_errors));
    check_rows("field", ROWS(agent_field_errors));
    check_rows("id", ROWS(invalid_id_rows));
    check_rows("stream id", ROWS(invalid_stream_id_rows));
    test_req();
    test_depth();
    test_lengths();
    test_release();
    return check_done();
}
