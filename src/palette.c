/* palette.c: the default colours of label maps.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The PASCAL VOC colour map, the one VOC's ground-truth PNGs and most
 * segmentation tools use: the bits of the label are dealt out in turn to
 * R, G and B, from the most significant bit of each channel downwards
 * (label 0 black, 1 (128,0,0), 2 (0,128,0), 3 (128,128,0), ...). The
 * mapping is a bijection on 0..2^24-1, so labels below 2^24 get distinct
 * colours; with VOC21's background-first list the colours are VOC's own.
 */

#include "config.h"

#include "naclip-private.h"

void
naclip_palette_color (guint label, guint8 rgb[3])
{
  guint r = 0, g = 0, b = 0;

  g_return_if_fail (rgb != NULL);

  for (guint bit = 0; bit < 8; bit++) {
    r |= ((label >> 0) & 1u) << (7 - bit);
    g |= ((label >> 1) & 1u) << (7 - bit);
    b |= ((label >> 2) & 1u) << (7 - bit);
    label >>= 3;
  }
  rgb[0] = (guint8)r;
  rgb[1] = (guint8)g;
  rgb[2] = (guint8)b;
}
