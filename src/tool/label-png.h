/* label-png.h: label maps as PNG files (ground truth in, predictions out).
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Segmentation benchmarks store their label maps as single-channel PNGs:
 * palette images whose palette *indices* are the labels (PASCAL VOC) or
 * 8-bit greyscale (Cityscapes labelTrainIds, ADE20K, COCO-Stuff). A decoder
 * that expands palettes to RGB (GStreamer's pngdec does) loses the labels,
 * so the tool reads them here, the way mmseg's LoadAnnotations reads them
 * (Pillow, flag "unchanged", then astype(uint8)).
 */

#ifndef NACLIP_LABEL_PNG_H
#define NACLIP_LABEL_PNG_H

#include "naclip.h"

/* Largest label map the reader accepts: width and height each at most
 * this many pixels. */
#define NACLIP_LABEL_PNG_MAX_SIDE 32768

/* Reads the label map of @path: a non-interlaced PNG of colour type 0
 * (greyscale, bit depth 1, 2, 4, 8 or 16) or 3 (palette, bit depth 1, 2, 4
 * or 8). The result holds one byte per pixel, rows packed (stride =
 * width): the palette index, the grey value, or for 16-bit grey the value
 * modulo 256 (numpy's astype(uint8), as mmseg does). Chunk CRCs are
 * checked. Returns the map (g_free) and sets @width, @height, or NULL with
 * NACLIP_ERROR_IO (cannot read), _FORMAT (not a PNG, bad CRC, truncated or
 * corrupt data, naming the file) or _UNSUPPORTED (colour images,
 * interlacing), or _NO_MEMORY. */
guint8 *naclip_label_png_read (
    const char *path, guint *width, guint *height, GError **error);

/* Writes @labels (@height rows of @stride bytes, @width used) as an 8-bit
 * greyscale PNG to @path (through a temporary file renamed at the end).
 * FALSE with NACLIP_ERROR_IO. */
gboolean naclip_label_png_write (const char *path, const guint8 *labels,
    guint width, guint height, gsize stride, GError **error);

#endif /* NACLIP_LABEL_PNG_H */
