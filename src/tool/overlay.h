/* overlay.h: label maps drawn over their image, with a legend.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#ifndef NACLIP_OVERLAY_H
#define NACLIP_OVERLAY_H

#include "naclip.h"

/* Draws @labels (height rows of @labels_stride bytes; our numbering) over
 * the RGB image @rgb (packed R, G, B; height rows of @rgb_stride bytes):
 * each pixel of class k >= 1 becomes (1 - @alpha) * image + @alpha *
 * the colour of k (naclip_class_colors_lookup (@colors, @classes, k):
 * @colors, NULL for none, then the palette); background (0) is left as it
 * is. To the right
 * a white legend panel lists, for every class present in the map, a colour
 * swatch, the class name (@classes, naclip_classes_get_name(); characters
 * outside printable ASCII are drawn as '?') and its share of the pixels.
 * The canvas grows downwards when the legend is taller than the image.
 * Returns the canvas (packed RGB, stride = 3 * *out_width; g_free) and its
 * size. */
guint8 *naclip_overlay_render (const guint8 *rgb, gsize rgb_stride, guint width,
    guint height, const guint8 *labels, gsize labels_stride,
    const NaclipClasses *classes, const NaclipClassColors *colors, float alpha,
    guint *out_width, guint *out_height);

/* Fills @rgb (packed, @stride bytes per row) with the colours of
 * @labels (as naclip_overlay_render() colours them): the colour label
 * map. */
void naclip_overlay_colorize (const guint8 *labels, gsize labels_stride,
    guint width, guint height, const NaclipClasses *classes,
    const NaclipClassColors *colors, guint8 *rgb, gsize stride);

#endif /* NACLIP_OVERLAY_H */
