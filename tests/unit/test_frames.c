/* test_frames.c - a message's compact bus record (lua/prelude.lua, append()) made into the JSON
 * frame clients get (chat/frames.c): the same members and values cjson made, whatever the text
 * holds; a frame that is JSON already passes untouched; a record that cannot be read is NULL. */
#include "check.h"

#include "chat/chat_internal.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The record as append() writes it. */
static size_t record(char *out, size_t size, const char *cid, const char *id, const char *from, const char *author,
                     const char *cmid, const char *text, size_t text_len)
{
    int n = snprintf(out, size, "~message %s %s %s %zu %s %zu %s ", cid, id, from, strlen(author), author,
                     strlen(cmid), cmid);
    memcpy(out + n, text, text_len);
    return (size_t)n + text_len;
}

static void expands_to(bk_chat *chat, const char *name, const char *author, const char *cmid, const char *text,
                       size_t text_len)
{
    char in[4096];
    size_t len = record(in, sizeof in, "c_abc", "1733600000123-7", "visitor", author, cmid, text, text_len);
    const char *out = chat_frame_expand(chat, in, &len);
    json_error_t error;
    json_t *got = out ? json_loadb(out, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &error) : NULL;
    json_t *want = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s%, s:I}", "type", "message", "conversation", "c_abc",
                             "id", "1733600000123-7", "from", "visitor", "author", author, "text", text, text_len,
                             "ts", (json_int_t)1733600000123LL);
    if (cmid[0])
        json_object_set_new(want, "cmid", json_string(cmid));
    CHECK(got && json_equal(got, want), "%s: the frame has the members and values cjson gave it", name);
    if (got && !json_equal(got, want))
        printf("#   got %.*s\n", (int)len, out);
    json_decref(got);
    json_decref(want);
}

int main(void)
{
    bk_chat chat;
    memset(&chat, 0, sizeof chat);
    expands_to(&chat, "plain", "v_1", "cm-1", "Hej", 3);
    expands_to(&chat, "no cmid (system)", "", "", "alice joined the chat", 21);
    expands_to(&chat, "a cmid with spaces and quotes", "v_1", "a \"b\" c", "x", 1);
    expands_to(&chat, "escapes", "v_1", "c", "quote \" backslash \\ slash / newline \n tab \t cr \r", 45);
    const char controls[] = { 'a', 0x01, 0x1f, 0x7f, 'b', '\0', 'c' };
    expands_to(&chat, "control bytes and a NUL", "v_1", "c", controls, sizeof controls);
    expands_to(&chat, "UTF-8", "v_1", "c", "Hvordan kan jeg hjælpe? 😀", strlen("Hvordan kan jeg hjælpe? 😀"));
    expands_to(&chat, "a text that looks like a record", "v_1", "c", "~message c_x 1-0 agent 1 a 1 b ", 31);
    expands_to(&chat, "an empty text", "v_1", "c", "", 0);
    static char big[3000];
    memset(big, '"', sizeof big);
    expands_to(&chat, "a long text of escapes (the buffer grows)", "v_1", "c", big, sizeof big);

    const char *json = "{\"type\":\"typing\"}";
    size_t len = strlen(json);
    CHECK(chat_frame_expand(&chat, json, &len) == json && len == strlen(json), "a JSON frame passes untouched");
    static const char *const broken[] = {
        "~message ", "~message c_1 1-0 visitor", "~message c_1 1-0 visitor 3 v_1 0 ",
        "~message c_1 1-0 visitor 9 v_1 0  text", "~message c_1 1-0 visitor x v_1 0  text",
        "~message c_1 1-0 visitor 3 v_1 5 ab",
    };
    for (size_t i = 0; i < sizeof broken / sizeof broken[0]; i++) {
        len = strlen(broken[i]);
        CHECK(chat_frame_expand(&chat, broken[i], &len) == NULL, "unreadable record \"%s\" is NULL", broken[i]);
    }
    free(chat.frame);
    return check_done();
}
