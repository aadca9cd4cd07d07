/* segment-batch.h: "naclip segment" on several files or directories.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#ifndef NACLIP_SEGMENT_BATCH_H
#define NACLIP_SEGMENT_BATCH_H

#include "naclip.h"

/* Writes the overlay PNG of @labels (@lw x @lh, packed, our numbering)
 * over the packed RGB image @rgb (@width x @height): the labels are
 * scaled to the image with nearest-neighbour sampling when their size
 * differs (--output-size processing), then drawn by
 * naclip_overlay_render() with @alpha and a legend of @classes. FALSE
 * with NACLIP_ERROR_IO. */
gboolean naclip_segment_batch_write_overlay (const char *path,
    const guint8 *rgb, guint width, guint height, const guint8 *labels,
    guint lw, guint lh, const NaclipClasses *classes,
    const NaclipClassColors *colors, float alpha, GError **error);

#endif /* NACLIP_SEGMENT_BATCH_H */
