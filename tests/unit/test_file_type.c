/* test_file_type.c - a file's type comes from its content, and a site's rules judge it.
 *
 * Real files, made here: images drawn by libvips, a PDF, text, HTML and SVG as a browser would
 * save them, this machine's own /bin/true as a program. libmagic reads each; the judge then
 * answers as a visitor would read it. */
#include "check.h"
#include "file_fixtures.h"

#include "files/file_image.h"
#include "files/file_type.h"

#include <beckon/protocol.h>

static bk_file_magic *magic;

/* The type libmagic finds in a file. */
static const char *type_of(const char *path)
{
    static char type[BK_FILE_TYPE_MAX];
    char err[256];
    if (bk_file_magic_type(magic, path, type, sizeof type, err, sizeof err) != 0)
        snprintf(type, sizeof type, "(error: %.100s)", err);
    return type;
}

static void content_decides_the_type(void)
{
    static const char html[] = "<!DOCTYPE html>\n<html><head><title>cat</title></head>"
                               "<body><script>alert(document.cookie)</script></body></html>\n";
    static const char svg[] = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" height=\"10\">"
                              "<script>alert(1)</script></svg>\n";
    static const char gif[] = "GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00"
                              "!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;";
    struct {
        const char *what, *path, *type;
    } rows[] = {
        { "a PNG drawn by libvips", fixture_image("photo.png", 64, 48, 3, 0), "image/png" },
        { "a JPEG", fixture_image("photo.jpg", 64, 48, 3, 0), "image/jpeg" },
        { "a WebP", fixture_image("photo.webp", 64, 48, 3, 0), "image/webp" },
        { "a GIF of 43 bytes", fixture_bytes("dot.gif", gif, sizeof gif - 1), "image/gif" },
        { "a PDF", fixture_text("report.pdf", fixture_pdf), "application/pdf" },
        { "plain text in UTF-8", fixture_text("notes.txt", "Grüße aus Köln – 10 €\n"), "text/plain" },
        { "HTML saved as .png", fixture_text("cat.png", html), "text/html" },
        { "SVG with a script", fixture_text("logo.svg", svg), "image/svg+xml" },
        { "a shell script", fixture_text("run.txt", "#!/bin/sh\nrm -rf ~\n"), "text/x-shellscript" },
        { "zero bytes", fixture_bytes("empty.txt", "", 0), "inode/x-empty" },
        { "a program (ELF)", "/bin/true", "application/x-pie-executable" },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
    {
        const char *found = type_of(rows[i].path);
        CHECK(strcmp(found, rows[i].type) == 0, "libmagic: %s is %s", rows[i].what, rows[i].type);
        if (strcmp(found, rows[i].type) != 0)
            printf("#   found %s\n", found);
    }
}

static void judge_says_why(void)
{
    static const char *const images_only[] = { "image/*", NULL };
    static const char *const pdf_only[] = { "application/pdf", NULL };
    struct {
        const char *what, *type, *name;
        const char *const *types;
        const char *message;  /* NULL: accepted */
    } rows[] = {
        { "a PNG named .png", "image/png", "cat.png", NULL, NULL },
        { "a JPEG named .JPEG (case does not matter)", "image/jpeg", "IMG_0001.JPEG", NULL, NULL },
        { "a PDF with no extension", "application/pdf", "invoice", NULL, NULL },
        { "text named .csv", "text/plain", "orders.csv", NULL, NULL },
        { "text with an unknown extension", "text/plain", "config.ini", NULL, NULL },
        { "a UTF-8 name", "text/plain", "résumé – notes.txt", NULL, NULL },
        { "a name with control characters (not the judge's to clean)", "text/plain", "a\x01\x7f" "b.txt", NULL, NULL },
        { "a dot file is no extension", "text/plain", ".bashrc", NULL, NULL },
        { "the lying extension", "image/png", "report.pdf", NULL,
          "the file's content is a PNG image but its name ends in .pdf" },
        { "text named as a script to run", "text/plain", "install.js", NULL,
          "the file's content is plain text but its name ends in .js" },
        { "a PDF named .exe", "application/pdf", "invoice.pdf.exe", NULL,
          "the file's content is a PDF document but its name ends in .exe" },
        { "a PDF named .HTML", "application/pdf", "x.HTML", NULL,
          "the file's content is a PDF document but its name ends in .html" },
        { "HTML saved as .png", "text/html", "cat.png", NULL,
          "the file's content is an HTML document but its name ends in .png; this is never accepted" },
        { "SVG", "image/svg+xml", "logo.svg", images_only,
          "the file's content is an SVG image, which is never accepted" },
        { "a program", "application/x-pie-executable", "tool", NULL,
          "the file's content is a program, which is never accepted" },
        { "a Windows program", "application/x-dosexec", "setup.exe", NULL,
          "the file's content is a Windows program, which is never accepted" },
        { "any script", "text/x-script.python", "x.py", NULL,
          "the file's content is a Python script, which is never accepted" },
        { "any XML-based type", "application/rss+xml", "feed", NULL,
          "the file's content is a file of type application/rss+xml, which is never accepted" },
        { "a ZIP by default", "application/zip", "photos.zip", NULL,
          "the file's content is a ZIP archive, which this site does not accept" },
        { "a PDF on a site of images", "application/pdf", "x.pdf", images_only,
          "the file's content is a PDF document, which this site does not accept" },
        { "a PNG on a site of PDFs", "image/png", "x.png", pdf_only,
          "the file's content is a PNG image, which this site does not accept" },
        { "a TIFF under image/*", "image/tiff", "scan.tif", images_only,
          "the file's content is a TIFF image; images are accepted as PNG, JPEG, GIF or WebP only" },
        { "a WebP under image/*", "image/webp", "x.webp", images_only, NULL },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char message[256] = "";
        const char *code = bk_file_type_judge(rows[i].type, rows[i].name, rows[i].types, message, sizeof message);
        if (!rows[i].message) {
            CHECK(code == NULL, "accepted: %s", rows[i].what);
            if (code)
                printf("#   refused: %s\n", message);
        } else {
            CHECK_STR(code, BK_ERR_UNSUPPORTED_TYPE, "refused unsupported_type: %s", rows[i].what);
            CHECK_STR(message, rows[i].message, "  with the words for it");
        }
    }
}

static void site_lists_are_checked(void)
{
    static const char *many[BK_FILE_TYPES_MAX + 2];
    for (int i = 0; i <= BK_FILE_TYPES_MAX; i++)
        many[i] = "image/png";
    struct {
        const char *what;
        const char *const *types;
        const char *err;  /* NULL: valid */
    } rows[] = {
        { "the defaults", bk_file_types_default, NULL },
        { "no list", NULL, NULL },
        { "an empty list (no files)", (const char *const[]){ NULL }, NULL },
        { "a family", (const char *const[]){ "image/*", "text/plain", NULL }, NULL },
        { "office documents and archives", (const char *const[]){ "application/zip",
          "application/vnd.openxmlformats-officedocument.wordprocessingml.document", NULL }, NULL },
        { "HTML", (const char *const[]){ "image/png", "text/html", NULL },
          "files_types: text/html is never accepted: it can carry scripts that run when it is opened" },
        { "SVG", (const char *const[]){ "image/svg+xml", NULL },
          "files_types: image/svg+xml is never accepted: it can carry scripts that run when it is opened" },
        { "XML by family", (const char *const[]){ "application/atom+xml", NULL },
          "files_types: application/atom+xml is never accepted: it can carry scripts that run when it is opened" },
        { "a program", (const char *const[]){ "application/x-executable", NULL },
          "files_types: application/x-executable is never accepted: it is a program or a script" },
        { "a script", (const char *const[]){ "text/x-shellscript", NULL },
          "files_types: text/x-shellscript is never accepted: it is a program or a script" },
        { "JavaScript", (const char *const[]){ "application/javascript", NULL },
          "files_types: application/javascript is never accepted: it is a program or a script" },
        { "an image type that is not re-encoded", (const char *const[]){ "image/tiff", NULL },
          "files_types: image/tiff cannot be accepted: images are re-encoded before anyone sees them, "
          "which Beckon does for PNG, JPEG, GIF and WebP only" },
        { "everything", (const char *const[]){ "*/*", NULL },
          "files_types: '*/*' is not a lowercase MIME type like image/png or image/*" },
        { "capitals", (const char *const[]){ "Image/PNG", NULL },
          "files_types: 'Image/PNG' is not a lowercase MIME type like image/png or image/*" },
        { "no subtype", (const char *const[]){ "image", NULL },
          "files_types: 'image' is not a lowercase MIME type like image/png or image/*" },
        { "empty", (const char *const[]){ "", NULL },
          "files_types: '' is not a lowercase MIME type like image/png or image/*" },
        { "parameters", (const char *const[]){ "text/plain; charset=utf-8", NULL },
          "files_types: 'text/plain; charset=utf-8' is not a lowercase MIME type like image/png or image/*" },
        { "too many", many, "files_types: at most 64 types" },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char err[256] = "";
        int rc = bk_file_types_check(rows[i].types, err, sizeof err);
        if (!rows[i].err) {
            CHECK(rc == 0, "site list valid: %s", rows[i].what);
            if (rc)
                printf("#   %s\n", err);
        } else {
            CHECK(rc == -1, "site list refused: %s", rows[i].what);
            CHECK_STR(err, rows[i].err, "  with the reason");
        }
    }
}

static void extensions_and_families(void)
{
    CHECK_STR(bk_file_type_extension("image/jpeg"), "jpg", "a JPEG should end in .jpg");
    CHECK_STR(bk_file_type_extension("text/plain"), "txt", "text should end in .txt");
    CHECK(bk_file_type_extension("application/x-unknown") == NULL, "an unknown type has no extension");
    CHECK(bk_file_type_image("image/gif") && !bk_file_type_image("image/tiff") && !bk_file_type_image("image/svg+xml"),
          "re-encoded image types: PNG, JPEG, GIF, WebP");
    CHECK(bk_file_type_never("text/html") && bk_file_type_never("text/x-script.python") &&
          !bk_file_type_never("text/plain") && !bk_file_type_never("application/pdf"),
          "the never-list");
}

int main(void)
{
    char err[256];
    if (bk_file_image_start(err, sizeof err) != 0 || !(magic = bk_file_magic_new(err, sizeof err))) {
        printf("Bail out! %s\n", err);
        return 1;
    }
    fixtures_open();
    content_decides_the_type();
    judge_says_why();
    site_lists_are_checked();
    extensions_and_families();
    bk_file_magic_free(magic);
    fixtures_close();
    return check_done();
}
