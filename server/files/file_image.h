/* file_image.h - an uploaded image, decoded and re-encoded without its metadata, and its thumbnail.
 *
 * libvips does the work, through its PNG, JPEG, GIF and WebP loaders only, each called by name
 * for the type libmagic found: libvips can also reach ImageMagick, librsvg, PDF and a dozen
 * other parsers, which Beckon never wants to run on a stranger's bytes. bk_file_image_start
 * enforces it for the whole process: every other loader is blocked, so that even a generic
 * vips_image_new_from_file would refuse them.
 *
 * An image is judged by its header first: more than BK_FILE_IMAGE_PIXELS_MAX pixels or
 * BK_FILE_IMAGE_SIDE_MAX a side is a decompression bomb, refused before a pixel is decoded. Then
 * it is decoded (a decoding error fails it), turned upright by its EXIF orientation, converted to
 * sRGB by its ICC profile, and written anew with no metadata at all (EXIF, GPS, XMP, IPTC, ICC,
 * comments): JPEG as JPEG, PNG as PNG, GIF as PNG (the first frame), WebP as WebP (the first
 * frame). The thumbnail is a JPEG at most BK_FILE_IMAGE_THUMB_SIDE on its long side. */
#ifndef BK_FILE_IMAGE_H
#define BK_FILE_IMAGE_H

#include <stddef.h>

#define BK_FILE_IMAGE_PIXELS_MAX 50000000  /* 50 megapixels: a 12 MP phone photo fits 4 times */
#define BK_FILE_IMAGE_SIDE_MAX 16384
#define BK_FILE_IMAGE_THUMB_SIDE 320

typedef enum bk_file_image_result {
    BK_FILE_IMAGE_OK = 0,
    BK_FILE_IMAGE_UNDECODABLE,  /* not a valid image of its type: refuse (unsupported_type) */
    BK_FILE_IMAGE_BOMB,         /* too many pixels for its size: refuse (too_large) */
    BK_FILE_IMAGE_FAILED,       /* our side failed (a file could not be written): unavailable */
} bk_file_image_result;

/* Starts libvips for the process, once (later calls do nothing): its cache off, one vips thread
 * a job (the jobs' concurrency is libuv's thread pool), every loader but the four blocked. Call
 * on the loop's thread before any bk_file_image_process. 0, or -1 with err. */
int bk_file_image_start(char *err, size_t err_size);

/* The type an image of this type is re-encoded to ("image/png" for a GIF) and that type's
 * extension ("png"); NULL for a type that is not re-encoded (bk_file_type_image). */
const char *bk_file_image_output_type(const char *type);
const char *bk_file_image_output_extension(const char *type);

typedef struct bk_file_image {
    int width, height;           /* of the re-encoded image (upright) */
    int thumb_width, thumb_height;
    char message[256];           /* why it was refused, for the client (UNDECODABLE, BOMB) */
    char detail[256];            /* what libvips said, for the log */
} bk_file_image;

/* Blocking, for a worker thread: reads the image of type at in_path, writes the re-encoded image
 * to clean_path and the thumbnail to thumb_path. On anything but OK neither file is left. */
bk_file_image_result bk_file_image_process(const char *type, const char *in_path, const char *clean_path,
                                           const char *thumb_path, bk_file_image *out);

#endif
