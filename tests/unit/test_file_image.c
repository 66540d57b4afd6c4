/* test_file_image.c - images come out re-encoded, upright, without metadata, with a thumbnail;
 * bombs and broken images do not come out at all.
 *
 * The images are drawn by libvips here; the bomb and the broken ones are written byte by byte. */
#include "check.h"
#include "file_fixtures.h"

#include "files/file_image.h"

#include <sys/resource.h>
#include <time.h>

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* Does the image at path (of type) carry any metadata block? Read by the named loader. */
static int has_metadata(const char *type, const char *path, char *which, size_t which_size)
{
    VipsImage *image = NULL;
    int rc = strcmp(type, "image/jpeg") == 0  ? vips_jpegload(path, &image, NULL)
             : strcmp(type, "image/png") == 0 ? vips_pngload(path, &image, NULL)
                                              : vips_webpload(path, &image, NULL);
    if (rc != 0) {
        snprintf(which, which_size, "does not load: %s", vips_error_buffer());
        vips_error_clear();
        return 1;
    }
    /* libvips 8.14 writes a WebP with an EXIF block of its own making (orientation 1, a
     * resolution) however it is asked: for WebP, what counts is that nothing of the upload's is
     * in it. */
    static const char *const blocks[] = { VIPS_META_EXIF_NAME, VIPS_META_XMP_NAME, VIPS_META_IPTC_NAME,
                                          VIPS_META_ICC_NAME, "exif-ifd3-GPSLatitude", "exif-ifd0-Make" };
    int webp = strcmp(type, "image/webp") == 0;
    int found = 0;
    which[0] = '\0';
    for (size_t i = 0; i < sizeof blocks / sizeof blocks[0]; i++)
        if (vips_image_get_typeof(image, blocks[i]) && !(webp && i == 0)) {
            snprintf(which, which_size, "%s", blocks[i]);
            found = 1;
        }
    g_object_unref(image);
    return found;
}

static void image_size(const char *type, const char *path, int *width, int *height)
{
    VipsImage *image = NULL;
    *width = *height = -1;
    int rc = strcmp(type, "image/jpeg") == 0 ? vips_jpegload(path, &image, NULL)
             : strcmp(type, "image/png") == 0 ? vips_pngload(path, &image, NULL) : vips_webpload(path, &image, NULL);
    if (rc == 0) {
        *width = vips_image_get_width(image);
        *height = vips_image_get_height(image);
        g_object_unref(image);
    }
    vips_error_clear();
}

static void photo_with_gps_comes_out_clean_and_upright(void)
{
    const char *in = fixture_image("phone.jpg", 640, 480, 3, 1);
    char which[128];
    CHECK(has_metadata("image/jpeg", in, which, sizeof which), "the photo as taken has EXIF with a GPS position");
    CHECK(fixture_contains(in, "Exif\0\0", 6), "  (an APP1 Exif block in its bytes)");
    const char *clean = fixture_path("phone.clean.jpg"), *thumb = fixture_path("phone.thumb.jpg");
    bk_file_image out;
    bk_file_image_result result = bk_file_image_process("image/jpeg", in, clean, thumb, &out);
    CHECK(result == BK_FILE_IMAGE_OK, "a phone photo with GPS is accepted");
    if (result != BK_FILE_IMAGE_OK)
        printf("#   %s (%s)\n", out.message, out.detail);
    CHECK(!has_metadata("image/jpeg", clean, which, sizeof which), "the re-encoded photo has no metadata block");
    if (which[0])
        printf("#   found %s\n", which);
    CHECK(!fixture_contains(clean, "Exif\0\0", 6) && !fixture_contains(clean, "Beckon Phone", 12),
          "  and no Exif block nor the camera's name in its bytes");
    CHECK(out.width == 480 && out.height == 640, "it was turned upright by its orientation: 480 × 640 (got %d × %d)",
          out.width, out.height);
    int width, height;
    image_size("image/jpeg", thumb, &width, &height);
    CHECK(width == 240 && height == 320, "its thumbnail is a JPEG of 240 × 320 (got %d × %d)", width, height);
    CHECK(!has_metadata("image/jpeg", thumb, which, sizeof which), "  without metadata either");
}

static void each_family_keeps_its_format(void)
{
    static const char gif[] = "GIF89a\x02\x00\x01\x00\x80\x00\x00\xff\x00\x00\x00\x00\xff"
                              ",\x00\x00\x00\x00\x02\x00\x01\x00\x00\x02\x02\x44\x0a\x00;";
    struct {
        const char *what, *type, *path, *output, *extension;
        int width, height, thumb_width, thumb_height;
    } rows[] = {
        { "a PNG with transparency stays a PNG", "image/png", fixture_image("alpha.png", 1000, 500, 4, 0),
          "image/png", "png", 1000, 500, 320, 160 },
        { "a grey JPEG stays a JPEG", "image/jpeg", fixture_image("grey.jpg", 300, 200, 1, 0),
          "image/jpeg", "jpg", 300, 200, 300, 200 },
        { "a WebP stays a WebP (and loses its GPS, turned upright)", "image/webp",
          fixture_image("photo.webp", 800, 600, 3, 1), "image/webp", "webp", 600, 800, 240, 320 },
        { "a PNG saved with EXIF (GPS) loses it", "image/png", fixture_image("gps.png", 100, 50, 3, 1),
          "image/png", "png", 100, 50, 100, 50 },
        { "a GIF becomes a PNG of its first frame", "image/gif", fixture_bytes("dot.gif", gif, sizeof gif - 1),
          "image/png", "png", 2, 1, 2, 1 },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char clean_name[64], thumb_name[64], which[128];
        snprintf(clean_name, sizeof clean_name, "out%zu.%s", i, rows[i].extension);
        snprintf(thumb_name, sizeof thumb_name, "out%zu.thumb.jpg", i);
        const char *clean = fixture_path(clean_name), *thumb = fixture_path(thumb_name);
        bk_file_image out;
        bk_file_image_result result = bk_file_image_process(rows[i].type, rows[i].path, clean, thumb, &out);
        CHECK(result == BK_FILE_IMAGE_OK && strcmp(bk_file_image_output_type(rows[i].type), rows[i].output) == 0 &&
              strcmp(bk_file_image_output_extension(rows[i].type), rows[i].extension) == 0, "%s", rows[i].what);
        if (result != BK_FILE_IMAGE_OK)
            printf("#   %s (%s)\n", out.message, out.detail);
        int width, height;
        image_size(rows[i].output, clean, &width, &height);
        CHECK(width == rows[i].width && height == rows[i].height && out.width == width && out.height == height,
              "  %d × %d (read back %d × %d)", rows[i].width, rows[i].height, width, height);
        CHECK(!has_metadata(rows[i].output, clean, which, sizeof which), "  with no metadata");
        if (which[0])
            printf("#   found %s\n", which);
        image_size("image/jpeg", thumb, &width, &height);
        CHECK(width == rows[i].thumb_width && height == rows[i].thumb_height,
              "  thumbnail %d × %d, at most 320 a side and never enlarged (got %d × %d)", rows[i].thumb_width,
              rows[i].thumb_height, width, height);
    }
}

static long peak_rss_kb(void)
{
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_maxrss;
}

static void bombs_and_broken_images_are_refused(void)
{
    const char *whole = fixture_image("whole.jpg", 256, 256, 3, 0);
    struct {
        const char *what, *type, *path;
        bk_file_image_result result;
        const char *message;
    } rows[] = {
        { "a PNG whose header claims 20000 × 20000 (a 65-byte bomb)", "image/png",
          fixture_png_bomb("bomb.png", 20000, 20000), BK_FILE_IMAGE_BOMB,
          "the image is 20000 × 20000 pixels; images may have at most 50 megapixels and 16384 pixels a side" },
        { "a PNG wider than 16384 though small in pixels", "image/png", fixture_png_bomb("wide.png", 20000, 1),
          BK_FILE_IMAGE_BOMB,
          "the image is 20000 × 1 pixels; images may have at most 50 megapixels and 16384 pixels a side" },
        { "a PNG of 8000 × 8000 (64 megapixels)", "image/png", fixture_png_bomb("big.png", 8000, 8000),
          BK_FILE_IMAGE_BOMB,
          "the image is 8000 × 8000 pixels; images may have at most 50 megapixels and 16384 pixels a side" },
        { "a JPEG cut in half", "image/jpeg", fixture_truncated("half.jpg", whole), BK_FILE_IMAGE_UNDECODABLE,
          "the file's content is not a valid image of its type" },
        { "a PNG whose header is fine but whose data is not", "image/png", fixture_png_bomb("broken.png", 64, 64),
          BK_FILE_IMAGE_UNDECODABLE, "the file's content is not a valid image of its type" },
        { "garbage after a PNG signature", "image/png",
          fixture_bytes("garbage.png", "\x89PNG\r\n\x1a\n garbage garbage garbage", 33), BK_FILE_IMAGE_UNDECODABLE,
          "the file's content is not a valid image of its type" },
        { "a JPEG said to be a WebP", "image/webp", whole, BK_FILE_IMAGE_UNDECODABLE,
          "the file's content is not a valid image of its type" },
        { "a type that is not re-encoded", "image/tiff", whole, BK_FILE_IMAGE_UNDECODABLE,
          "the file's content is not a valid image of its type" },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const char *clean = fixture_path("refused.clean.png"), *thumb = fixture_path("refused.thumb.jpg");
        bk_file_image out;
        long rss_before = peak_rss_kb();
        double started = now_ms();
        bk_file_image_result result = bk_file_image_process(rows[i].type, rows[i].path, clean, thumb, &out);
        double took = now_ms() - started;
        CHECK(result == rows[i].result, "refused: %s", rows[i].what);
        CHECK_STR(out.message, rows[i].message, "  in words");
        if (out.detail[0])
            printf("#   libvips: %s\n", out.detail);
        CHECK(!fixture_exists(clean) && !fixture_exists(thumb), "  and nothing is left behind");
        if (rows[i].result == BK_FILE_IMAGE_BOMB)
            CHECK(took < 200 && peak_rss_kb() - rss_before < 20 * 1024,
                  "  before decoding: %.1f ms, peak memory +%ld KiB", took, peak_rss_kb() - rss_before);
    }
}

/* libvips can reach ImageMagick, librsvg and other parsers; after bk_file_image_start it must not
 * reach them even through its generic loader. */
static void other_loaders_are_blocked(void)
{
    const char *svg = fixture_text("logo.svg", "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"8\" height=\"8\">"
                                               "<rect width=\"8\" height=\"8\"/></svg>\n");
    VipsImage *image = vips_image_new_from_file(svg, NULL);
    CHECK(image == NULL, "the generic loader refuses an SVG (svgload blocked)");
    if (image)
        g_object_unref(image);
    vips_error_clear();
    const char *tiff = fixture_path("scan.tif");
    VipsImage *picture = NULL;
    vips_black(&picture, 8, 8, NULL);
    vips_image_write_to_file(picture, tiff, NULL);
    g_object_unref(picture);
    image = vips_image_new_from_file(tiff, NULL);
    CHECK(image == NULL, "the generic loader refuses a TIFF (tiffload and magickload blocked)");
    if (image)
        g_object_unref(image);
    vips_error_clear();
    const char *png = fixture_image("allowed.png", 8, 8, 3, 0);
    image = vips_image_new_from_file(png, NULL);
    CHECK(image != NULL, "the four loaders still work (a PNG)");
    if (image)
        g_object_unref(image);
    vips_error_clear();
}

int main(void)
{
    char err[256];
    if (bk_file_image_start(err, sizeof err) != 0 || bk_file_image_start(err, sizeof err) != 0) {
        printf("Bail out! %s\n", err);
        return 1;
    }
    fixtures_open();
    photo_with_gps_comes_out_clean_and_upright();
    each_family_keeps_its_format();
    bombs_and_broken_images_are_refused();
    other_loaders_are_blocked();
    fixtures_close();
    vips_thread_shutdown();
    return check_done();
}
