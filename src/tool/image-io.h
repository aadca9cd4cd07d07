/* image-io.h: decoding images and writing colour PNGs through GStreamer.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The tool reads photographs (PNG, JPEG, anything decodebin handles) and
 * writes RGB PNGs with the GStreamer elements every installation has, so
 * that the library itself never links an image codec.
 */

#ifndef NACLIP_IMAGE_IO_H
#define NACLIP_IMAGE_IO_H

#include "naclip.h"

/* Decodes the first frame of @path with
 * filesrc ! decodebin ! videoconvert ! video/x-raw,format=RGB ! appsink
 * (gst_init() must have been called). Returns packed RGB (stride = 3 *
 * width; g_free) and its size, or NULL with NACLIP_ERROR_IO (cannot read
 * or decode, naming the file and GStreamer's message) or _NO_MEMORY. */
guint8 *naclip_image_io_load_rgb (
    const char *path, guint *width, guint *height, GError **error);

/* Writes @rgb (packed R, G, B; @height rows of @stride bytes) as a PNG to
 * @path with appsrc ! videoconvert ! pngenc ! filesink. FALSE with
 * NACLIP_ERROR_IO. */
gboolean naclip_image_io_save_png (const char *path, const guint8 *rgb,
    guint width, guint height, gsize stride, GError **error);

#endif /* NACLIP_IMAGE_IO_H */
