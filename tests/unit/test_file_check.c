/* test_file_check.c - the verdict an upload gets, through the whole pipeline on a real loop
 * (no virus scanner here: test_clamd has one).
 *
 * Each row is a file as a visitor might send it and the verdict they get: accepted with the
 * bytes to keep, or refused with the code and the words they read. */
#include "check.h"
#include "file_fixtures.h"

#include "base/config.h"
#include "files/file_check.h"

#include <beckon/protocol.h>

static uv_loop_t loop;

typedef struct outcome {
    int calls;
    int returned;        /* bk_file_check had returned when done came */
    int *returned_flag;
    bk_file_verdict verdict;
} outcome;

static void on_verdict(const bk_file_verdict *verdict, void *data)
{
    outcome *o = data;
    o->calls++;
    o->returned = *o->returned_flag;
    o->verdict = *verdict;
}

static outcome check_file(bk_file_checker *checker, const char *path, const char *name, const bk_file_rules *rules)
{
    outcome o = { 0 };
    int returned = 0;
    o.returned_flag = &returned;
    bk_file_check(checker, path, name, rules, on_verdict, &o);
    returned = 1;
    uv_run(&loop, UV_RUN_DEFAULT);
    return o;
}

static void verdicts(bk_file_checker *checker)
{
    static const char *const images_only[] = { "image/*", NULL };
    static const char html[] = "<!DOCTYPE html><html><body><script>alert(1)</script></body></html>\n";
    static const char svg[] = "<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>\n";
    const bk_file_rules small = { NULL, 1000 };
    const bk_file_rules images = { images_only, 0 };
    char *large = malloc(1500000);
    memset(large, 'a', 1500000);
    struct {
        const char *what, *path, *name;
        const bk_file_rules *rules;
        const char *refusal, *message, *type;
        int image;
    } rows[] = {
        { "a photo", fixture_image("photo.jpg", 1200, 900, 3, 1), "photo.jpg", NULL, NULL, "", "image/jpeg", 1 },
        { "a PDF", fixture_text("invoice.pdf", fixture_pdf), "invoice.pdf", NULL, NULL, "", "application/pdf", 0 },
        { "text with a UTF-8 name", fixture_text("notes.txt", "hello\n"), "Grüße – notes.txt", NULL, NULL, "",
          "text/plain", 0 },
        { "zero bytes", fixture_bytes("empty.txt", "", 0), "empty.txt", NULL, BK_ERR_BAD_REQUEST, "the file is empty", "", 0 },
        { "over the site's limit", fixture_bytes("large.txt", large, 1500000), "large.txt", NULL, NULL, "",
          "text/plain", 0 },
        { "over a limit of 1000 bytes", fixture_bytes("large2.txt", large, 1500000), "large.txt", &small,
          BK_ERR_TOO_LARGE, "the file is 1.4 MB; this site accepts files up to 1 KB", "", 0 },
        { "HTML saved as .png", fixture_text("cat.png", html), "cat.png", NULL, BK_ERR_UNSUPPORTED_TYPE,
          "the file's content is an HTML document but its name ends in .png; this is never accepted", "text/html", 0 },
        { "SVG with a script", fixture_text("logo.svg", svg), "logo.svg", &images, BK_ERR_UNSUPPORTED_TYPE,
          "the file's content is an SVG image, which is never accepted", "image/svg+xml", 0 },
        { "a program", "/bin/true", "true", NULL, BK_ERR_UNSUPPORTED_TYPE,
          "the file's content is a program, which is never accepted", "application/x-pie-executable", 0 },
        { "a lying extension", fixture_image("chart.png", 64, 64, 3, 0), "report.pdf", NULL, BK_ERR_UNSUPPORTED_TYPE,
          "the file's content is a PNG image but its name ends in .pdf", "image/png", 0 },
        { "a PDF where only images are allowed", fixture_text("x.pdf", fixture_pdf), "x.pdf", &images,
          BK_ERR_UNSUPPORTED_TYPE, "the file's content is a PDF document, which this site does not accept",
          "application/pdf", 0 },
        { "a decompression bomb", fixture_png_bomb("bomb.png", 20000, 20000), "bomb.png", NULL, BK_ERR_TOO_LARGE,
          "the image is 20000 × 20000 pixels; images may have at most 50 megapixels and 16384 pixels a side",
          "image/png", 0 },
        { "a truncated JPEG", fixture_truncated("half.jpg", fixture_image("whole.jpg", 300, 300, 3, 0)), "half.jpg",
          NULL, BK_ERR_UNSUPPORTED_TYPE, "the file's content starts as a JPEG image but does not decode as one",
          "image/jpeg", 0 },
    };
    free(large);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        outcome o = check_file(checker, rows[i].path, rows[i].name, rows[i].rules);
        const bk_file_verdict *v = &o.verdict;
        CHECK(o.calls == 1 && o.returned, "%s: done called once, after bk_file_check returned", rows[i].what);
        if (!rows[i].refusal) {
            CHECK(v->refusal == NULL, "  accepted");
            if (v->refusal)
                printf("#   refused %s: %s\n", v->refusal, v->message);
        } else {
            CHECK_STR(v->refusal, rows[i].refusal, "  refused %s", rows[i].refusal);
            CHECK_STR(v->message, rows[i].message, "  in words");
            CHECK(!v->stored_path[0] && !v->thumb_path[0], "  with no bytes to keep");
        }
        CHECK_STR(v->type, rows[i].type, "  its type from the content");
        if (!rows[i].refusal && rows[i].image) {
            char clean[600], thumb[600];
            snprintf(clean, sizeof clean, "%s.clean.jpg", rows[i].path);
            snprintf(thumb, sizeof thumb, "%s.thumb.jpg", rows[i].path);
            CHECK(v->image && v->width == 900 && v->height == 1200, "  re-encoded upright, 900 × 1200 (%d × %d)",
                  v->width, v->height);
            CHECK_STR(v->stored_path, clean, "  kept bytes: PATH.clean.jpg");
            CHECK_STR(v->thumb_path, thumb, "  thumbnail: PATH.thumb.jpg");
            CHECK(fixture_exists(clean) && fixture_exists(thumb) && (long)v->stored_bytes == fixture_size(clean),
                  "  both written, stored_bytes is the clean file's size");
            unlink(clean);
            unlink(thumb);
        } else if (!rows[i].refusal) {
            CHECK(!v->image && !v->thumb_path[0] && strcmp(v->stored_path, rows[i].path) == 0 &&
                  (long)v->stored_bytes == fixture_size(rows[i].path), "  the upload itself is kept, as it is");
        }
    }
}

/* Nothing is left in the fixture folder but what the test wrote itself. */
static void refusals_leave_nothing(void)
{
    char command[256];
    snprintf(command, sizeof command, "ls '%s' | grep -q -e '\\.clean\\.' -e '\\.thumb\\.'", fixture_dir);
    CHECK(system(command) != 0, "no .clean. or .thumb. file is left by a refusal");
}

/* Freed with checks in flight: each is answered unavailable, once; the loop then ends. */
static void free_with_checks_in_flight(const bk_config *config)
{
    char err[256];
    bk_file_checker *checker = bk_file_checker_new(&loop, config, err, sizeof err);
    outcome o[4] = { 0 };
    int returned = 1;
    const char *photo = fixture_image("busy.jpg", 2000, 1500, 3, 0);
    for (int i = 0; i < 4; i++) {
        o[i].returned_flag = &returned;
        bk_file_check(checker, photo, "busy.jpg", NULL, on_verdict, &o[i]);
    }
    bk_file_checker_free(checker);
    uv_run(&loop, UV_RUN_DEFAULT);
    int answered = 1;
    for (int i = 0; i < 4; i++)
        answered = answered && o[i].calls == 1 && o[i].verdict.refusal &&
                   strcmp(o[i].verdict.refusal, BK_ERR_UNAVAILABLE) == 0;
    CHECK(answered, "a checker freed with 4 checks in flight answers each unavailable, once");
    CHECK(!fixture_exists(fixture_path("busy.jpg.clean.jpg")) && !fixture_exists(fixture_path("busy.jpg.thumb.jpg")),
          "  and the files its workers wrote are removed when they return");
}

int main(void)
{
    uv_loop_init(&loop);
    bk_config config;
    bk_config_init(&config);
    CHECK(config.file_check_seconds == 30 && config.clamd_socket[0] == '\0',
          "defaults: file-check-seconds 30, no clamd-socket (no scan)");
    char err[256];
    bk_file_checker *checker = bk_file_checker_new(&loop, &config, err, sizeof err);
    if (!checker) {
        printf("Bail out! %s\n", err);
        return 1;
    }
    fixtures_open();
    verdicts(checker);
    refusals_leave_nothing();
    bk_file_checker_free(checker);
    uv_run(&loop, UV_RUN_DEFAULT);
    free_with_checks_in_flight(&config);
    fixtures_close();
    CHECK(uv_loop_close(&loop) == 0, "every handle closed");
    vips_thread_shutdown();
    return check_done();
}
