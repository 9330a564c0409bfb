#include "image_codecs.h"

#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>

static void set_message(char *message, size_t size, const char *text) {
    if (message && size > 0) {
        snprintf(message, size, "%s", text ? text : "unknown error");
    }
}

void mt_free(void *pointer) { free(pointer); }

/* ---- PNG, through libpng's simplified API (no longjmp in our code) ---- */

int mt_png_encode_rgb(const uint8_t *rgb, int width, int height, uint8_t **out, size_t *out_size,
                      char *message, size_t message_size) {
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    image.width = (png_uint_32)width;
    image.height = (png_uint_32)height;
    image.format = PNG_FORMAT_RGB;
    png_alloc_size_t size = 0;
    if (!png_image_write_to_memory(&image, NULL, &size, 0, rgb, 0, NULL)) {
        set_message(message, message_size, image.message);
        png_image_free(&image);
        return -1;
    }
    uint8_t *buffer = malloc(size);
    if (!buffer) {
        set_message(message, message_size, "out of memory");
        return -2;
    }
    if (!png_image_write_to_memory(&image, buffer, &size, 0, rgb, 0, NULL)) {
        set_message(message, message_size, image.message);
        png_image_free(&image);
        free(buffer);
        return -1;
    }
    *out = buffer;
    *out_size = size;
    return 0;
}

int mt_png_decode_rgb(const uint8_t *data, size_t size, uint8_t **rgb, int *width, int *height,
                      char *message, size_t message_size) {
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&image, data, size)) {
        set_message(message, message_size, image.message);
        png_image_free(&image);
        return -1;
    }
    image.format = PNG_FORMAT_RGB;
    if (image.width == 0 || image.height == 0 || image.width > 20000 || image.height > 20000) {
        set_message(message, message_size, "image dimensions out of range");
        png_image_free(&image);
        return -3;
    }
    size_t bytes = PNG_IMAGE_SIZE(image);
    uint8_t *buffer = malloc(bytes);
    if (!buffer) {
        png_image_free(&image);
        set_message(message, message_size, "out of memory");
        return -2;
    }
    if (!png_image_finish_read(&image, NULL, buffer, 0, NULL)) {
        set_message(message, message_size, image.message);
        png_image_free(&image);
        free(buffer);
        return -1;
    }
    *rgb = buffer;
    *width = (int)image.width;
    *height = (int)image.height;
    return 0;
}

/* ---- JPEG, through libjpeg; its fatal errors longjmp back here, never into Swift ---- */

struct mt_jpeg_error {
    struct jpeg_error_mgr base;
    jmp_buf jump;
    char text[JMSG_LENGTH_MAX];
};

static void mt_jpeg_error_exit(j_common_ptr info) {
    struct mt_jpeg_error *error = (struct mt_jpeg_error *)info->err;
    (*info->err->format_message)(info, error->text);
    longjmp(error->jump, 1);
}

static void mt_jpeg_silence(j_common_ptr info) { (void)info; }

int mt_jpeg_encode_rgb(const uint8_t *rgb, int width, int height, int quality, uint8_t **out,
                       size_t *out_size, char *message, size_t message_size) {
    struct jpeg_compress_struct info;
    struct mt_jpeg_error error;
    unsigned char *buffer = NULL;
    unsigned long size = 0;
    info.err = jpeg_std_error(&error.base);
    error.base.error_exit = mt_jpeg_error_exit;
    error.base.output_message = mt_jpeg_silence;
    if (setjmp(error.jump)) {
        set_message(message, message_size, error.text);
        jpeg_destroy_compress(&info);
        free(buffer);
        return -1;
    }
    jpeg_create_compress(&info);
    jpeg_mem_dest(&info, &buffer, &size);
    info.image_width = (JDIMENSION)width;
    info.image_height = (JDIMENSION)height;
    info.input_components = 3;
    info.in_color_space = JCS_RGB;
    jpeg_set_defaults(&info);
    jpeg_set_quality(&info, quality, TRUE);
    jpeg_start_compress(&info, TRUE);
    while (info.next_scanline < info.image_height) {
        JSAMPROW row = (JSAMPROW)(rgb + (size_t)info.next_scanline * (size_t)width * 3);
        jpeg_write_scanlines(&info, &row, 1);
    }
    jpeg_finish_compress(&info);
    jpeg_destroy_compress(&info);
    *out = buffer;
    *out_size = size;
    return 0;
}

int mt_jpeg_decode_rgb(const uint8_t *data, size_t size, uint8_t **rgb, int *width, int *height,
                       char *message, size_t message_size) {
    struct jpeg_decompress_struct info;
    struct mt_jpeg_error error;
    uint8_t *volatile buffer = NULL;
    info.err = jpeg_std_error(&error.base);
    error.base.error_exit = mt_jpeg_error_exit;
    error.base.output_message = mt_jpeg_silence;
    if (setjmp(error.jump)) {
        set_message(message, message_size, error.text);
        jpeg_destroy_decompress(&info);
        free(buffer);
        return -1;
    }
    jpeg_create_decompress(&info);
    jpeg_mem_src(&info, data, (unsigned long)size);
    jpeg_read_header(&info, TRUE);
    info.out_color_space = JCS_RGB;
    jpeg_start_decompress(&info);
    if (info.output_width == 0 || info.output_height == 0 || info.output_width > 20000 ||
        info.output_height > 20000 || info.output_components != 3) {
        set_message(message, message_size, "image dimensions or components out of range");
        jpeg_destroy_decompress(&info);
        return -3;
    }
    size_t stride = (size_t)info.output_width * 3;
    buffer = malloc(stride * info.output_height);
    if (!buffer) {
        jpeg_destroy_decompress(&info);
        set_message(message, message_size, "out of memory");
        return -2;
    }
    while (info.output_scanline < info.output_height) {
        JSAMPROW row = (JSAMPROW)(buffer + (size_t)info.output_scanline * stride);
        jpeg_read_scanlines(&info, &row, 1);
    }
    jpeg_finish_decompress(&info);
    *width = (int)info.output_width;
    *height = (int)info.output_height;
    jpeg_destroy_decompress(&info);
    *rgb = buffer;
    return 0;
}
