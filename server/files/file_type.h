/* file_type.h - what a file is, from its content, and whether a site may accept it.
 *
 * The type comes from libmagic reading the bytes, never from the name or the type the browser
 * declared. A type is then judged against a site's allowed list and the never-list: types that
 * can carry scripts or be run (HTML, XHTML, XML, SVG, JavaScript and other scripts, programs for
 * Linux, Windows and macOS, Java and Android packages) are never accepted, whatever a site says,
 * because a file is shown to other people: an agent who opens it, a visitor it is sent to. A
 * name whose extension belongs to another known type is refused too (a PNG named .pdf, text
 * named .js): the name is what a browser or desktop goes by once the file is saved. */
#ifndef BK_FILE_TYPE_H
#define BK_FILE_TYPE_H

#include <stddef.h>
#include <stdint.h>

#define BK_FILE_MAX_BYTES_DEFAULT ((uint64_t)10 * 1024 * 1024)
#define BK_FILE_MAX_BYTES_LIMIT ((uint64_t)100 * 1024 * 1024)  /* the most a site may set */
#define BK_FILE_PER_CONVERSATION_DEFAULT 50   /* files a conversation takes, unless the site says */
#define BK_FILE_TYPES_MAX 64      /* entries in a site's list */
#define BK_FILE_TYPE_MAX 128      /* bytes of a MIME type, with its terminator */

/* A site's allowed types when it sets none: PNG, JPEG, GIF, WebP, PDF, plain text. */
extern const char *const bk_file_types_default[];

/* Checks a site's files_types list (NULL-terminated) before it is stored: each entry is a
 * lowercase MIME type ("application/pdf") or a family ("image/\*"), none is never-allowed and no
 * image type is one that cannot be re-encoded. 0, or -1 with err naming the entry and why. */
int bk_file_types_check(const char *const *types, char *err, size_t err_size);

/* 1 when type may never be accepted (see above). */
int bk_file_type_never(const char *type);

/* 1 for the image types that are decoded and re-encoded (PNG, JPEG, GIF, WebP). */
int bk_file_type_image(const char *type);

/* The extension a file of this type should have ("png", "jpg", "pdf", "txt"); NULL when the
 * type is not one Beckon knows. */
const char *bk_file_type_extension(const char *type);

/* Judges a type decided from the content, for a file called name, against a site's allowed
 * types (NULL: the defaults; "image/\*" allowed; the never-list wins over any entry). NULL when
 * acceptable; else the refusal's error code (unsupported_type) with message filled, e.g. "the
 * file's content is a PNG image but its name ends in .pdf". */
const char *bk_file_type_judge(const char *type, const char *name, const char *const *types,
                               char *message, size_t message_size);

/* libmagic's database, loaded once. A magic_t is not thread-safe: bk_file_magic_type takes a
 * lock, so one bk_file_magic serves every worker thread. */
typedef struct bk_file_magic bk_file_magic;

bk_file_magic *bk_file_magic_new(char *err, size_t err_size);
void bk_file_magic_free(bk_file_magic *magic);

/* The MIME type of the file at path ("image/png", "inode/x-empty" for no bytes), from its first
 * bytes (libmagic reads up to 1 MiB); blocking: call it on a worker thread. 0, or -1 with err. */
int bk_file_magic_type(bk_file_magic *magic, const char *path, char *type, size_t type_size,
                       char *err, size_t err_size);

#endif
