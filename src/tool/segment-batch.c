/* segment-batch.c: overlays for "naclip segment" on several files or
 * directories.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * With one image the outputs are the files named by -o / --overlay; with
 * several (or a directory) they are OUTDIR/<name>-labels.png and
 * OUTDIR/<name>-overlay.png, <name> being the image's base name without
 * extension, and a progress bar runs on stderr (progress.c).
 */

#include "config.h"

#include "image-io.h"
#include "overlay.h"
#include "segment-batch.h"

gboolean
naclip_segment_batch_write_overlay (const char *path, const guint8 *rgb,
    guint width, guint height, const guint8 *labels, guint lw, guint lh,
    const NaclipClasses *classes, const NaclipClassColors *colors, float alpha,
    GError **error)
{
  g_autofree guint8 *scaled = NULL;
  g_autofree guint8 *canvas = NULL;
  const guint8 *map = labels;
  guint cw = 0, ch = 0;

  g_return_val_if_fail (
      rgb != NULL && labels != NULL && classes != NULL, FALSE);

  if (lw != width || lh != height) {
    /* Nearest neighbour, pixel centres: src = floor((dst + 0.5) * in/out). */
    scaled = g_malloc ((gsize)width * height);
    for (guint y = 0; y < height; y++) {
      guint sy
          = MIN ((guint)(((guint64)y * 2 + 1) * lh / (2 * height)), lh - 1);
      for (guint x = 0; x < width; x++) {
        guint sx
            = MIN ((guint)(((guint64)x * 2 + 1) * lw / (2 * width)), lw - 1);
        scaled[(gsize)y * width + x] = labels[(gsize)sy * lw + sx];
      }
    }
    map = scaled;
  }
  canvas = naclip_overlay_render (rgb, (gsize)width * 3, width, height, map,
      width, classes, colors, alpha, &cw, &ch);
  return naclip_image_io_save_png (path, canvas, cw, ch, (gsize)cw * 3, error);
}
