/* file_fixtures.h - the files the files/ tests check, made by the tests themselves: images drawn
 * by libvips (or written byte by byte where a malformed one is the point), documents and programs
 * as their first bytes. Everything goes into one temp folder, removed at the end. */
#ifndef BK_TEST_FILE_FIXTURES_H
#define BK_TEST_FILE_FIXTURES_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vips/vips.h>

static char fixture_dir[64];

static inline void fixtures_open(void)
{
    snprintf(fixture_dir, sizeof fixture_dir, "/tmp/bk-files-XXXXXX");
    if (!mkdtemp(fixture_dir)) {
        perror("mkdtemp");
        exit(2);
    }
}

static inline void fixtures_close(void)
{
    char command[128];
    snprintf(command, sizeof command, "rm -rf '%s'", fixture_dir);
    if (system(command) != 0)
        fprintf(stderr, "# could not remove %s\n", fixture_dir);
}

/* fixture_dir/name, in a rotating set of buffers (a table of rows may hold 32 at once). */
static inline const char *fixture_path(const char *name)
{
    static char paths[32][512];
    static int next;
    char *path = paths[next++ % 32];
    snprintf(path, sizeof paths[0], "%s/%s", fixture_dir, name);
    return path;
}

static inline const char *fixture_bytes(const char *name, const void *bytes, size_t length)
{
    const char *path = fixture_path(name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(bytes, 1, length, f) != length || fclose(f) != 0) {
        perror(path);
        exit(2);
    }
    return path;
}

static inline const char *fixture_text(const char *name, const char *text)
{
    return fixture_bytes(name, text, strlen(text));
}

static inline int fixture_exists(const char *path)
{
    struct stat status;
    return path && path[0] && stat(path, &status) == 0;
}

static inline long fixture_size(const char *path)
{
    struct stat status;
    return stat(path, &status) == 0 ? (long)status.st_size : -1;
}

/* Does the file hold these bytes anywhere? */
static inline int fixture_contains(const char *path, const void *needle, size_t length)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *data = malloc((size_t)size + 1);
    int found = data && fread(data, 1, (size_t)size, f) == (size_t)size &&
                memmem(data, (size_t)size, needle, length) != NULL;
    free(data);
    fclose(f);
    return found;
}

/* A width × height picture of noise (encoders get real work; a 12 MP one is a camera's size),
 * with bands bands (1 grey, 3 RGB, 4 RGBA), saved by the saver for its extension; with EXIF (a
 * camera's make, a GPS position, an orientation) when gps is set. */
static inline const char *fixture_image(const char *name, int width, int height, int bands, int gps)
{
    const char *path = fixture_path(name);
    VipsImage *noise = NULL, *grey = NULL, *image = NULL, *copy = NULL;
    int rc = vips_gaussnoise(&noise, width, height, "mean", 128.0, "sigma", 40.0, NULL);
    if (rc == 0)
        rc = vips_cast_uchar(noise, &grey, NULL);
    if (rc == 0) {
        VipsImage *parts[4] = { grey, grey, grey, grey };
        rc = vips_bandjoin(parts, &image, bands, NULL);
    }
    if (rc == 0)
        rc = vips_copy(image, &copy, "interpretation", bands >= 3 ? VIPS_INTERPRETATION_sRGB : VIPS_INTERPRETATION_B_W,
                       NULL);
    if (rc == 0 && gps) {
        vips_image_set_string(copy, "exif-ifd0-Make", "Beckon Phone");
        vips_image_set_string(copy, "exif-ifd3-GPSLatitudeRef", "N");
        vips_image_set_string(copy, "exif-ifd3-GPSLatitude", "48/1 51/1 2964/100");
        vips_image_set_string(copy, "exif-ifd3-GPSLongitudeRef", "E");
        vips_image_set_string(copy, "exif-ifd3-GPSLongitude", "2/1 17/1 4035/100");
        vips_image_set_int(copy, "orientation", 6);  /* taken sideways: turn 90° clockwise to show */
    }
    if (rc == 0)
        rc = vips_image_write_to_file(copy, path, NULL);  /* saving our own picture, not loading */
    if (rc != 0) {
        fprintf(stderr, "# fixture %s: %s\n", name, vips_error_buffer());
        exit(2);
    }
    g_object_unref(noise);
    g_object_unref(grey);
    g_object_unref(image);
    g_object_unref(copy);
    return path;
}

/* PNG's CRC over a chunk's type and data. */
static inline uint32_t fixture_crc(const unsigned char *bytes, size_t length)
{
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < length; i++) {
        crc ^= bytes[i];
        for (int bit = 0; bit < 8; bit++)
            crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
    }
    return crc ^ 0xffffffffu;
}

static inline void put32(unsigned char *at, uint32_t value)
{
    at[0] = (unsigned char)(value >> 24);
    at[1] = (unsigned char)(value >> 16);
    at[2] = (unsigned char)(value >> 8);
    at[3] = (unsigned char)value;
}

/* A decompression bomb: a PNG of a few dozen bytes whose header (valid, CRC and all) claims
 * width × height pixels of RGB, with a scrap of compressed data after it. */
static inline const char *fixture_png_bomb(const char *name, uint32_t width, uint32_t height)
{
    unsigned char png[128];
    size_t n = 0;
    memcpy(png, "\x89PNG\r\n\x1a\n", 8);
    n = 8;
    put32(png + n, 13);
    memcpy(png + n + 4, "IHDR", 4);
    put32(png + n + 8, width);
    put32(png + n + 12, height);
    memcpy(png + n + 16, "\x08\x02\x00\x00\x00", 5);  /* 8 bits, RGB, deflate, no filter, no interlace */
    put32(png + n + 21, fixture_crc(png + n + 4, 17));
    n += 25;
    static const unsigned char idat[] = { 0x78, 0x9c, 0xed, 0xc1, 0x01, 0x0d, 0x00, 0x00, 0x00, 0xc2, 0xa0 };
    put32(png + n, sizeof idat);
    memcpy(png + n + 4, "IDAT", 4);
    memcpy(png + n + 8, idat, sizeof idat);
    put32(png + n + 8 + sizeof idat, fixture_crc(png + n + 4, 4 + sizeof idat));
    n += 12 + sizeof idat;
    put32(png + n, 0);
    memcpy(png + n + 4, "IEND", 4);
    put32(png + n + 8, fixture_crc(png + n + 4, 4));
    n += 12;
    return fixture_bytes(name, png, n);
}

/* The first half of a file, as a dropped upload would leave it. */
static inline const char *fixture_truncated(const char *name, const char *from)
{
    FILE *f = fopen(from, "rb");
    long size = fixture_size(from);
    char *data = malloc((size_t)size);
    if (!f || !data || fread(data, 1, (size_t)size, f) != (size_t)size) {
        perror(from);
        exit(2);
    }
    fclose(f);
    const char *path = fixture_bytes(name, data, (size_t)size / 2);
    free(data);
    return path;
}

static const char fixture_pdf[] =
    "%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
    "2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
    "trailer << /Root 1 0 R >>\n%%EOF\n";

#endif
