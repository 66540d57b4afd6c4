/* file_image.c - images decoded and re-encoded by libvips, through four loaders only. */
#include "files/file_image.h"

#include "base/log.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <vips/vips.h>

/* The loaders Beckon uses, by their GObject class names; every other one is blocked. */
static const char *const allowed_loaders[] = {
    "VipsForeignLoadJpeg", "VipsForeignLoadPng", "VipsForeignLoadNsgif", "VipsForeignLoadWebp",
};

/* libvips warns on stderr about each odd image ("error in tile 0 x 104"): a stranger's broken
 * file would fill the log. The refusal says what matters; the warnings go to the debug log. */
static void vips_warning_quiet(const gchar *domain, GLogLevelFlags level, const gchar *message, gpointer data)
{
    (void)domain;
    (void)level;
    (void)data;
    bk_debug("libvips: %s", message);
}

int bk_file_image_start(char *err, size_t err_size)
{
    static int started;  /* libvips is process-wide: started once, never shut down */
    if (started)
        return 0;
    if (VIPS_INIT("beckon") != 0) {
        snprintf(err, err_size, "libvips: %s", vips_error_buffer());
        vips_error_clear();
        return -1;
    }
    /* One vips worker a job: files are checked on libuv's thread pool, whose size is the
     * concurrency; more vips threads would only fight for the same cores. */
    vips_concurrency_set(1);
    /* No operation cache: every image is a stranger's, used once; a cache would only keep
     * decoded pixels and open files alive. */
    vips_cache_set_max(0);
    vips_cache_set_max_mem(0);
    vips_cache_set_max_files(0);
    g_log_set_handler("VIPS", G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO | G_LOG_LEVEL_DEBUG,
                      vips_warning_quiet, NULL);
    vips_operation_block_set("VipsForeignLoad", TRUE);
    for (size_t i = 0; i < sizeof allowed_loaders / sizeof allowed_loaders[0]; i++)
        vips_operation_block_set(allowed_loaders[i], FALSE);
    started = 1;
    return 0;
}

const char *bk_file_image_output_type(const char *type)
{
    if (strcmp(type, "image/gif") == 0)
        return "image/png";  /* one frame, in a format that keeps every colour */
    if (strcmp(type, "image/png") == 0 || strcmp(type, "image/jpeg") == 0 || strcmp(type, "image/webp") == 0)
        return type;
    return NULL;
}

const char *bk_file_image_output_extension(const char *type)
{
    const char *output = bk_file_image_output_type(type);
    if (!output)
        return NULL;
    return strcmp(output, "image/png") == 0 ? "png" : strcmp(output, "image/jpeg") == 0 ? "jpg" : "webp";
}

/* libvips's error text (a buffer shared by all threads: another job's words may be mixed in,
 * which is why it only goes to the log). */
static void detail_take(bk_file_image *out)
{
    char *text = vips_error_buffer_copy();
    size_t length = strlen(text);
    while (length && text[length - 1] == '\n')
        text[--length] = '\0';
    for (char *p = text; *p; p++)
        if (*p == '\n')
            *p = ' ';
    snprintf(out->detail, sizeof out->detail, "%s", text);
    g_free(text);
}

/* The named loader for type; fail_on error: a truncated or corrupt image fails when its pixels
 * are read, instead of coming out grey. */
static int image_load(const char *type, const char *path, VipsAccess access, VipsImage **image)
{
    if (strcmp(type, "image/jpeg") == 0)
        return vips_jpegload(path, image, "access", access, "fail_on", VIPS_FAIL_ON_ERROR, NULL);
    if (strcmp(type, "image/png") == 0)
        return vips_pngload(path, image, "access", access, "fail_on", VIPS_FAIL_ON_ERROR, NULL);
    if (strcmp(type, "image/gif") == 0)
        return vips_gifload(path, image, "access", access, "fail_on", VIPS_FAIL_ON_ERROR, "n", 1, NULL);
    if (strcmp(type, "image/webp") == 0)
        return vips_webpload(path, image, "access", access, "fail_on", VIPS_FAIL_ON_ERROR, "n", 1, NULL);
    vips_error("beckon", "no loader for %s", type);
    return -1;
}

/* Replaces *image by what an operation made of it (rc -1: it failed, *image stays). out is read
 * through a pointer: as a plain argument it could be read before the operation has set it. */
static int image_step(VipsImage **image, int rc, VipsImage **out)
{
    if (rc != 0)
        return -1;
    g_object_unref(*image);
    *image = *out;
    return 0;
}

/* Pixels in sRGB: through the embedded ICC profile when there is one (a CMYK JPEG, a wide-gamut
 * photo), since the profile itself is not kept. */
static int image_srgb(VipsImage **image)
{
    VipsImage *out = NULL;
    if (vips_image_get_typeof(*image, VIPS_META_ICC_NAME)) {
        if (image_step(image, vips_icc_transform(*image, &out, "srgb", "embedded", TRUE, NULL), &out) == 0)
            return 0;
        vips_error_clear();  /* a broken profile: convert by the interpretation instead */
    }
    VipsInterpretation interpretation = vips_image_guess_interpretation(*image);
    if (interpretation == VIPS_INTERPRETATION_CMYK || interpretation == VIPS_INTERPRETATION_LAB ||
        interpretation == VIPS_INTERPRETATION_scRGB)
        return image_step(image, vips_colourspace(*image, &out, VIPS_INTERPRETATION_sRGB, NULL), &out);
    return 0;
}

/* Every metadata field off a copy of the image: "strip" should be enough, but libvips 8.14's
 * WebP writer adds an EXIF chunk even when stripping, built from the fields it finds. With the
 * fields gone, what it adds holds only what it makes up itself (orientation 1, a resolution). */
static int metadata_remove(VipsImage **image)
{
    VipsImage *copy = NULL;
    if (image_step(image, vips_copy(*image, &copy, NULL), &copy) != 0)
        return -1;
    char **fields = vips_image_get_fields(*image);
    for (char **field = fields; *field; field++)
        if (strncmp(*field, "exif", 4) == 0 || strncmp(*field, "xmp", 3) == 0 || strncmp(*field, "iptc", 4) == 0 ||
            strncmp(*field, "icc", 3) == 0 || strcmp(*field, "orientation") == 0 || strncmp(*field, "png-comment", 11) == 0 ||
            strncmp(*field, "gif-comment", 11) == 0)
            vips_image_remove(*image, *field);
    g_strfreev(fields);
    return 0;
}

/* Written with strip: no metadata block of any kind goes out. */
static int image_save(const char *output_type, VipsImage *image, const char *path, int quality)
{
    if (strcmp(output_type, "image/jpeg") == 0)
        return vips_jpegsave(image, path, "Q", quality, "strip", TRUE, NULL);
    if (strcmp(output_type, "image/png") == 0)
        return vips_pngsave(image, path, "strip", TRUE, "compression", 6, NULL);
    return vips_webpsave(image, path, "Q", quality, "strip", TRUE, NULL);
}

/* A failure while pixels flowed from the loader to the file is the image's fault (a decoder
 * complained, and the writer then failed for want of pixels) unless only the file could not be
 * written (a full disk is ours to report, not the visitor's). */
static bk_file_image_result failure_kind(const bk_file_image *out)
{
    static const char *const decoders[] = { "VipsJpeg", "jpegload", "vipspng", "pngload", "spng", "libpng",
                                            "gifload", "nsgif", "webp", "VipsForeignLoad", "Premature" };
    for (size_t i = 0; i < sizeof decoders / sizeof decoders[0]; i++)
        if (strstr(out->detail, decoders[i]))
            return BK_FILE_IMAGE_UNDECODABLE;
    return strstr(out->detail, "unable to write") || strstr(out->detail, "No space left") ||
                   strstr(out->detail, "unable to open") ? BK_FILE_IMAGE_FAILED : BK_FILE_IMAGE_UNDECODABLE;
}

/* The thumbnail, from the clean image just written (upright, sRGB, no metadata): JPEG and WebP
 * are shrunk while they are decoded, so a 12 MP photo is never decoded whole a second time. */
static int thumbnail_write(const char *output_type, const char *clean_path, const char *thumb_path,
                           int width, int height, bk_file_image *out)
{
    int long_side = width > height ? width : height;
    VipsImage *image = NULL, *next = NULL;
    int rc;
    if (strcmp(output_type, "image/jpeg") == 0) {
        int shrink = 1;
        while (shrink < 8 && long_side / (shrink * 2) >= BK_FILE_IMAGE_THUMB_SIDE)
            shrink *= 2;
        rc = vips_jpegload(clean_path, &image, "access", VIPS_ACCESS_SEQUENTIAL, "shrink", shrink, NULL);
    } else if (strcmp(output_type, "image/webp") == 0) {
        double scale = long_side > BK_FILE_IMAGE_THUMB_SIDE ? (double)BK_FILE_IMAGE_THUMB_SIDE / long_side : 1.0;
        rc = vips_webpload(clean_path, &image, "access", VIPS_ACCESS_SEQUENTIAL, "scale", scale, NULL);
    } else {
        rc = vips_pngload(clean_path, &image, "access", VIPS_ACCESS_SEQUENTIAL, NULL);
    }
    if (rc != 0)
        return -1;
    rc = image_step(&image, vips_thumbnail_image(image, &next, BK_FILE_IMAGE_THUMB_SIDE, "height",
                                                 BK_FILE_IMAGE_THUMB_SIDE, "size", VIPS_SIZE_DOWN, NULL), &next);
    if (rc == 0 && vips_image_hasalpha(image)) {
        /* JPEG has no transparency: what was see-through shows as white, as on a page. */
        VipsArrayDouble *white = vips_array_double_newv(1, 255.0);
        rc = image_step(&image, vips_flatten(image, &next, "background", white, NULL), &next);
        vips_area_unref(VIPS_AREA(white));
    }
    if (rc == 0 && vips_image_get_interpretation(image) != VIPS_INTERPRETATION_B_W)
        rc = image_step(&image, vips_colourspace(image, &next, VIPS_INTERPRETATION_sRGB, NULL), &next);
    if (rc == 0) {
        out->thumb_width = vips_image_get_width(image);
        out->thumb_height = vips_image_get_height(image);
        rc = image_save("image/jpeg", image, thumb_path, 80);
    }
    g_object_unref(image);
    return rc;
}

bk_file_image_result bk_file_image_process(const char *type, const char *in_path, const char *clean_path,
                                           const char *thumb_path, bk_file_image *out)
{
    memset(out, 0, sizeof *out);
    const char *output_type = bk_file_image_output_type(type);
    bk_file_image_result result = BK_FILE_IMAGE_UNDECODABLE;
    VipsImage *image = NULL;
    if (!output_type || image_load(type, in_path, VIPS_ACCESS_SEQUENTIAL, &image) != 0) {
        detail_take(out);
        snprintf(out->message, sizeof out->message, "the file's content is not a valid image of its type");
        goto done;
    }
    /* Only the header has been read so far: a bomb is refused before any pixel is decoded. */
    int width = vips_image_get_width(image), height = vips_image_get_height(image);
    if (width > BK_FILE_IMAGE_SIDE_MAX || height > BK_FILE_IMAGE_SIDE_MAX ||
        (int64_t)width * height > BK_FILE_IMAGE_PIXELS_MAX) {
        snprintf(out->message, sizeof out->message, "the image is %d × %d pixels; images may have at most "
                 "%d megapixels and %d pixels a side", width, height, BK_FILE_IMAGE_PIXELS_MAX / 1000000,
                 BK_FILE_IMAGE_SIDE_MAX);
        result = BK_FILE_IMAGE_BOMB;
        goto done;
    }
    /* A photo taken sideways says so in EXIF, which is about to go: turn its pixels instead.
     * Turning needs the whole image (not a top-down stream), so it is loaded again for that. */
    VipsImage *next = NULL;
    if (vips_image_get_orientation(image) > 1) {
        g_object_unref(image);
        image = NULL;
        if (image_load(type, in_path, VIPS_ACCESS_RANDOM, &image) != 0 ||
            image_step(&image, vips_autorot(image, &next, NULL), &next) != 0) {
            detail_take(out);
            snprintf(out->message, sizeof out->message, "the file's content is not a valid image of its type");
            goto done;
        }
    }
    if (image_srgb(&image) != 0 || metadata_remove(&image) != 0 || image_save(output_type, image, clean_path, 85) != 0) {
        detail_take(out);
        result = failure_kind(out);
        snprintf(out->message, sizeof out->message, result == BK_FILE_IMAGE_FAILED
                 ? "the image could not be stored" : "the file's content is not a valid image of its type");
        goto done;
    }
    out->width = vips_image_get_width(image);
    out->height = vips_image_get_height(image);
    if (thumbnail_write(output_type, clean_path, thumb_path, out->width, out->height, out) != 0) {
        /* The clean image decoded a moment ago: a failure now is ours. */
        detail_take(out);
        result = BK_FILE_IMAGE_FAILED;
        snprintf(out->message, sizeof out->message, "the image's thumbnail could not be made");
        goto done;
    }
    result = BK_FILE_IMAGE_OK;
done:
    if (image)
        g_object_unref(image);
    if (result != BK_FILE_IMAGE_OK) {
        unlink(clean_path);
        unlink(thumb_path);
    }
    /* Frees this thread's libvips buffers now; pool threads live as long as the process. */
    vips_thread_shutdown();
    return result;
}
