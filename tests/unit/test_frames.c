/* test_frames.c - a message's compact bus record (lua/prelude.lua, append()) made into the JSON
 * frame clients get (chat/frames.c): the same members and values cjson made, whatever the text
 * holds; a file's record gets its file with links signed on the node; a frame that is JSON
 * already passes untouched; a record that cannot be read is NULL. */
#include "check.h"

#include "base/ids.h"
#include "chat/chat_internal.h"
#include "files/file_link.h"
#include "server.h"

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

    /* a file's message */
    bk_config config;
    bk_config_init(&config);
    bk_server server;
    memset(&server, 0, sizeof server);
    server.config = &config;
    memset(server.secret, 7, sizeof server.secret);
    chat.server = &server;
    const char *file_record = "~file c_abc 1733600000123-7 visitor 3 v_1 2 f1 f_e3b0_0123 image/png 51234 640 480 1 "
                              "sk\u00e6rm \"1\".png";
    len = strlen(file_record);
    const char *out = chat_frame_expand(&chat, file_record, &len);
    json_t *frame = out ? json_loadb(out, len, JSON_REJECT_DUPLICATES, NULL) : NULL;
    json_t *file = json_object_get(frame, "file");
    const char *text = json_string_value(json_object_get(frame, "text"));
    CHECK(text && strcmp(text, "sk\u00e6rm \"1\".png") == 0, "a file's message: its text is the name");
    CHECK(json_is_object(file) && strcmp(json_string_value(json_object_get(file, "id")), "f_e3b0_0123") == 0 &&
          strcmp(json_string_value(json_object_get(file, "name")), "sk\u00e6rm \"1\".png") == 0 &&
          strcmp(json_string_value(json_object_get(file, "type")), "image/png") == 0 &&
          json_integer_value(json_object_get(file, "size")) == 51234 &&
          json_integer_value(json_object_get(file, "width")) == 640 &&
          json_integer_value(json_object_get(file, "height")) == 480, "a file's message: id, name, type, size, width, height");
    const char *url = json_string_value(json_object_get(file, "url"));
    const char *thumb = json_string_value(json_object_get(file, "thumb_url"));
    char exp[24] = "", sig[80] = "";
    if (url)
        sscanf(url, "/files/f_e3b0_0123?exp=%23[0-9]&sig=%79s", exp, sig);
    CHECK(url && bk_file_link_verify(server.secret, "f_e3b0_0123", "file", exp, sig, bk_now_ms() / 1000) == BK_FILE_LINK_OK,
          "a file's url is signed with the server's secret and valid now");
    CHECK(thumb && strncmp(thumb, "/files/f_e3b0_0123/thumb?exp=", 29) == 0, "an image's thumb_url");
    CHECK(url && bk_file_link_verify(server.secret, "f_e3b0_0123", "thumb", exp, sig, bk_now_ms() / 1000) != BK_FILE_LINK_OK,
          "a file's signature is not its thumbnail's");
    json_decref(frame);
    const char *plain_file = "~file c_abc 1-0 agent 5 alice 0  f_e3b0_0124 text/plain 12 0 0 0 a.txt";
    len = strlen(plain_file);
    out = chat_frame_expand(&chat, plain_file, &len);
    frame = out ? json_loadb(out, len, JSON_REJECT_DUPLICATES, NULL) : NULL;
    file = json_object_get(frame, "file");
    CHECK(json_is_object(file) && !json_object_get(file, "width") && !json_object_get(file, "thumb_url") &&
          json_object_get(file, "url"), "a file that is no image: no size in pixels, no thumbnail");
    json_decref(frame);
    static const char *const broken_files[] = {
        "~file c_1 1-0 visitor 3 v_1 0  f_1 text/plain", "~file c_1 1-0 visitor 3 v_1 0  f_1 text/plain x 0 0 0 a",
        "~file c_1 1-0 visitor 3 v_1 0  f_1 text/plain 1 0 0 ",
    };
    for (size_t i = 0; i < sizeof broken_files / sizeof broken_files[0]; i++) {
        len = strlen(broken_files[i]);
        CHECK(chat_frame_expand(&chat, broken_files[i], &len) == NULL, "unreadable file record \"%s\" is NULL",
              broken_files[i]);
    }
    free(chat.frame);
    return check_done();
}
