/* file_type.c - types from content (libmagic), the never-list, names against types. */
#include "files/file_type.h"

#include <beckon/protocol.h>
#include <ctype.h>
#include <magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

const char *const bk_file_types_default[] = {
    "image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", "text/plain", NULL,
};

/* Why a type is never accepted; named in the refusal of a site's list. */
#define RUNS_SCRIPTS "it can carry scripts that run when it is opened"
#define RUNS "it is a program or a script"

typedef struct known_type {
    const char *type;
    const char *extensions;  /* space-separated, the usual one first; "" for none */
    const char *words;       /* the content in words: "a PNG image" */
    const char *never;       /* why it is never accepted; NULL: a site may accept it */
} known_type;

/* The types Beckon names. An extension listed here belongs to its type: a name that ends in it
 * while the content is of another type is refused. */
static const known_type known_types[] = {
    { "image/png", "png", "a PNG image", NULL },
    { "image/jpeg", "jpg jpeg jpe jfif", "a JPEG image", NULL },
    { "image/gif", "gif", "a GIF image", NULL },
    { "image/webp", "webp", "a WebP image", NULL },
    { "image/tiff", "tif tiff", "a TIFF image", NULL },
    { "image/bmp", "bmp", "a BMP image", NULL },
    { "image/x-ms-bmp", "bmp", "a BMP image", NULL },
    { "image/vnd.microsoft.icon", "ico", "an icon", NULL },
    { "image/heic", "heic heif", "a HEIC image", NULL },
    { "image/avif", "avif", "an AVIF image", NULL },
    { "application/pdf", "pdf", "a PDF document", NULL },
    { "text/plain", "txt text log csv tsv md", "plain text", NULL },
    { "application/zip", "zip", "a ZIP archive", NULL },
    { "application/gzip", "gz tgz", "a gzip archive", NULL },
    { "application/x-7z-compressed", "7z", "a 7-Zip archive", NULL },
    { "application/x-rar", "rar", "a RAR archive", NULL },
    { "application/x-tar", "tar", "a tar archive", NULL },
    { "application/msword", "doc", "a Word document", NULL },
    { "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx", "a Word document", NULL },
    { "application/vnd.ms-excel", "xls", "an Excel spreadsheet", NULL },
    { "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx", "an Excel spreadsheet", NULL },
    { "application/vnd.openxmlformats-officedocument.presentationml.presentation", "pptx", "a PowerPoint presentation", NULL },
    { "application/vnd.oasis.opendocument.text", "odt", "an OpenDocument text", NULL },
    { "application/vnd.oasis.opendocument.spreadsheet", "ods", "an OpenDocument spreadsheet", NULL },
    { "text/html", "html htm shtml", "an HTML document", RUNS_SCRIPTS },
    { "application/xhtml+xml", "xhtml xht", "an XHTML document", RUNS_SCRIPTS },
    { "image/svg+xml", "svg svgz", "an SVG image", RUNS_SCRIPTS },
    { "text/xml", "xml xsl xslt", "an XML document", RUNS_SCRIPTS },
    { "application/xml", "xml", "an XML document", RUNS_SCRIPTS },
    { "text/javascript", "js mjs cjs", "a JavaScript program", RUNS },
    { "application/javascript", "js", "a JavaScript program", RUNS },
    { "application/x-executable", "elf bin", "a program", RUNS },
    { "application/x-pie-executable", "", "a program", RUNS },
    { "application/x-sharedlib", "so", "a shared library", RUNS },
    { "application/x-object", "o", "an object file", RUNS },
    { "application/x-mach-binary", "dylib", "a macOS program", RUNS },
    { "application/x-dosexec", "exe dll com scr cpl sys", "a Windows program", RUNS },
    { "application/vnd.microsoft.portable-executable", "exe", "a Windows program", RUNS },
    { "application/x-msi", "msi", "a Windows installer", RUNS },
    { "application/x-ms-shortcut", "lnk", "a Windows shortcut", RUNS },
    { "application/hta", "hta", "an HTML application", RUNS },
    { "text/x-msdos-batch", "bat cmd", "a batch script", RUNS },
    { "application/java-archive", "jar", "a Java program", RUNS },
    { "application/vnd.android.package-archive", "apk", "an Android app", RUNS },
    { "text/x-shellscript", "sh bash zsh ksh csh", "a shell script", RUNS },
    { "text/x-script.python", "py pyw", "a Python script", RUNS },
    { "text/x-python", "py", "a Python script", RUNS },
    { "text/x-perl", "pl pm", "a Perl script", RUNS },
    { "text/x-php", "php phtml", "a PHP script", RUNS },
    { "application/x-php", "php", "a PHP script", RUNS },
    { "text/x-ruby", "rb", "a Ruby script", RUNS },
    { "text/x-lua", "lua", "a Lua script", RUNS },
    { "text/x-tcl", "tcl", "a Tcl script", RUNS },
    { "text/x-awk", "awk", "an awk script", RUNS },
    /* Extensions that run when opened on Windows, whatever libmagic calls their content. */
    { "application/x-ms-script", "vbs vbe jse wsf wsh ps1 psm1 reg msc", "a Windows script", RUNS },
};
#define KNOWN_COUNT (sizeof known_types / sizeof known_types[0])

static const known_type *known_find(const char *type)
{
    for (size_t i = 0; i < KNOWN_COUNT; i++)
        if (strcmp(known_types[i].type, type) == 0)
            return &known_types[i];
    return NULL;
}

/* Is word one of the space-separated words of list? */
static int word_in(const char *list, const char *word)
{
    size_t length = strlen(word);
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, " ");
        if (n == length && memcmp(p, word, n) == 0)
            return 1;
        p += n;
        p += strspn(p, " ");
    }
    return 0;
}

/* Why type is never accepted, or NULL. Besides the table, families of types are never
 * accepted: anything XML-based (it may be shown as a document with scripts) and any script. */
static const char *never_reason(const char *type)
{
    const known_type *known = known_find(type);
    if (known && known->never)
        return known->never;
    const char *slash = strchr(type, '/');
    size_t length = strlen(type);
    if (length >= 4 && (strcmp(type + length - 4, "+xml") == 0 || strcmp(type + length - 4, "/xml") == 0))
        return RUNS_SCRIPTS;
    if (slash && strstr(slash, "script"))
        return RUNS;
    return NULL;
}

int bk_file_type_never(const char *type)
{
    return never_reason(type) != NULL;
}

int bk_file_type_image(const char *type)
{
    return strcmp(type, "image/png") == 0 || strcmp(type, "image/jpeg") == 0 ||
           strcmp(type, "image/gif") == 0 || strcmp(type, "image/webp") == 0;
}

const char *bk_file_type_extension(const char *type)
{
    static _Thread_local char first[16];
    const known_type *known = known_find(type);
    if (!known || !known->extensions[0])
        return NULL;
    size_t n = strcspn(known->extensions, " ");
    snprintf(first, sizeof first, "%.*s", (int)n, known->extensions);
    return first;
}

/* A name of RFC 6838's characters, lowercase. */
static int token_ok(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!(islower((unsigned char)p[i]) || isdigit((unsigned char)p[i]) || strchr("!#$&^_.+-", p[i])))
            return 0;
    return n > 0;
}

/* "type/subtype" or a family "type/\*". */
static int type_syntax_ok(const char *type)
{
    const char *slash = strchr(type, '/');
    if (!slash || strlen(type) >= BK_FILE_TYPE_MAX || !token_ok(type, (size_t)(slash - type)))
        return 0;
    return strcmp(slash + 1, "*") == 0 || token_ok(slash + 1, strlen(slash + 1));
}

int bk_file_types_check(const char *const *types, char *err, size_t err_size)
{
    size_t count = 0;
    for (const char *const *t = types; t && *t; t++, count++) {
        const char *type = *t;
        const char *reason;
        if (count == BK_FILE_TYPES_MAX) {
            snprintf(err, err_size, "files_types: at most %d types", BK_FILE_TYPES_MAX);
            return -1;
        }
        if (!type_syntax_ok(type)) {
            snprintf(err, err_size, "files_types: '%.*s' is not a lowercase MIME type like image/png or image/*",
                     BK_FILE_TYPE_MAX, type);
            return -1;
        }
        if ((reason = never_reason(type)) != NULL) {
            snprintf(err, err_size, "files_types: %s is never accepted: %s", type, reason);
            return -1;
        }
        if (strncmp(type, "image/", 6) == 0 && strcmp(type, "image/*") != 0 && !bk_file_type_image(type)) {
            snprintf(err, err_size, "files_types: %s cannot be accepted: images are re-encoded before anyone "
                     "sees them, which Beckon does for PNG, JPEG, GIF and WebP only", type);
            return -1;
        }
    }
    return 0;
}

/* Is type in the allowed list (an entry "image/\*" takes the whole family)? */
static int allowed(const char *type, const char *const *types)
{
    const char *slash = strchr(type, '/');
    for (const char *const *t = types ? types : bk_file_types_default; *t; t++) {
        size_t length = strlen(*t);
        if (strcmp(*t, type) == 0)
            return 1;
        if (slash && length >= 2 && strcmp(*t + length - 2, "/*") == 0 &&
            length - 1 == (size_t)(slash - type) + 1 && memcmp(*t, type, length - 1) == 0)
            return 1;
    }
    return 0;
}

/* The name's extension, lowercased ASCII ("" for none; a leading dot alone is not one). */
static void extension_of(const char *name, char *out, size_t out_size)
{
    out[0] = '\0';
    const char *dot = strrchr(name, '.');
    if (!dot || dot == name || dot[1] == '\0' || strlen(dot + 1) >= out_size)
        return;
    size_t i = 0;
    for (const char *p = dot + 1; *p; p++)
        out[i++] = (char)tolower((unsigned char)*p);
    out[i] = '\0';
}

/* The type an extension belongs to, other than type itself (a .jpeg is a JPEG), or NULL. */
static const known_type *extension_owner(const char *extension, const char *type)
{
    const known_type *own = known_find(type);
    if (!extension[0] || (own && word_in(own->extensions, extension)))
        return NULL;
    for (size_t i = 0; i < KNOWN_COUNT; i++)
        if (word_in(known_types[i].extensions, extension))
            return &known_types[i];
    return NULL;
}

const char *bk_file_type_judge(const char *type, const char *name, const char *const *types,
                               char *message, size_t message_size)
{
    const known_type *known = known_find(type);
    char words[BK_FILE_TYPE_MAX + 32];
    if (known)
        snprintf(words, sizeof words, "%s", known->words);
    else
        snprintf(words, sizeof words, "a file of type %.*s", BK_FILE_TYPE_MAX, type);
    char extension[16];
    extension_of(name, extension, sizeof extension);
    const known_type *owner = extension_owner(extension, type);

    if (never_reason(type)) {
        if (owner)
            snprintf(message, message_size, "the file's content is %s but its name ends in .%s; "
                     "this is never accepted", words, extension);
        else
            snprintf(message, message_size, "the file's content is %s, which is never accepted", words);
        return BK_ERR_UNSUPPORTED_TYPE;
    }
    if (!allowed(type, types)) {
        snprintf(message, message_size, "the file's content is %s, which this site does not accept", words);
        return BK_ERR_UNSUPPORTED_TYPE;
    }
    if (strncmp(type, "image/", 6) == 0 && !bk_file_type_image(type)) {
        snprintf(message, message_size, "the file's content is %s; images are accepted as PNG, JPEG, GIF "
                 "or WebP only", words);
        return BK_ERR_UNSUPPORTED_TYPE;
    }
    if (owner) {
        snprintf(message, message_size, "the file's content is %s but its name ends in .%s", words, extension);
        return BK_ERR_UNSUPPORTED_TYPE;
    }
    return NULL;
}

struct bk_file_magic {
    magic_t cookie;
    uv_mutex_t lock;  /* a magic_t keeps state between calls: one caller at a time */
};

bk_file_magic *bk_file_magic_new(char *err, size_t err_size)
{
    bk_file_magic *magic = calloc(1, sizeof *magic);
    if (!magic) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    /* MIME type only; no decompression (MAGIC_COMPRESS off) and symlinks not followed. */
    magic->cookie = magic_open(MAGIC_MIME_TYPE);
    if (!magic->cookie || magic_load(magic->cookie, NULL) != 0) {
        snprintf(err, err_size, "libmagic: cannot load its database: %s",
                 magic->cookie ? magic_error(magic->cookie) : "magic_open failed");
        if (magic->cookie)
            magic_close(magic->cookie);
        free(magic);
        return NULL;
    }
    /* libmagic 5.44 reads up to 7 MiB of each file into memory; the types Beckon tells apart
     * show in the first bytes, and 1 MiB keeps a check's memory small whatever the file's size. */
    size_t bytes_max = 1024 * 1024;
    magic_setparam(magic->cookie, MAGIC_PARAM_BYTES_MAX, &bytes_max);
    uv_mutex_init(&magic->lock);
    return magic;
}

void bk_file_magic_free(bk_file_magic *magic)
{
    if (!magic)
        return;
    magic_close(magic->cookie);
    uv_mutex_destroy(&magic->lock);
    free(magic);
}

int bk_file_magic_type(bk_file_magic *magic, const char *path, char *type, size_t type_size,
                       char *err, size_t err_size)
{
    uv_mutex_lock(&magic->lock);
    const char *found = magic_file(magic->cookie, path);
    if (found)
        snprintf(type, type_size, "%s", found);
    else
        snprintf(err, err_size, "libmagic: %s", magic_error(magic->cookie));
    uv_mutex_unlock(&magic->lock);
    return found ? 0 : -1;
}
