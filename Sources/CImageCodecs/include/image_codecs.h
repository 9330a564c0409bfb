#ifndef MOONTUNE_IMAGE_CODECS_H
#define MOONTUNE_IMAGE_CODECS_H

#include <stddef.h>
#include <stdint.h>

/// Thin wrappers over the system's libpng (simplified API) and libjpeg, for 8-bit RGB pixels.
/// Each returns 0 on success and a negative number on failure; on failure `message` (if given)
/// holds a description. Buffers returned through `out` are freed with mt_free.

int mt_png_encode_rgb(const uint8_t *rgb, int width, int height, uint8_t **out, size_t *out_size,
                      char *message, size_t message_size);
int mt_png_decode_rgb(const uint8_t *data, size_t size, uint8_t **rgb, int *width, int *height,
                      char *message, size_t message_size);
int mt_jpeg_encode_rgb(const uint8_t *rgb, int width, int height, int quality, uint8_t **out,
                       size_t *out_size, char *message, size_t message_size);
int mt_jpeg_decode_rgb(const uint8_t *data, size_t size, uint8_t **rgb, int *width, int *height,
                       char *message, size_t message_size);
void mt_free(void *pointer);

#endif
