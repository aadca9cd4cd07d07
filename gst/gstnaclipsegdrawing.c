/* gstnaclipsegdrawing.c: what naclipseg draws: the overlay and the GRAY8
 * label frames.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Colours are the library's: a class's class-colors colour, else the
 * palette's (naclip_class_colors_lookup), kept per label in RGB and in the
 * YUV of the stream's colorimetry, computed again when the caps, the class
 * set or class-colors change. A label map of any size covers the whole
 * frame: frame pixel (x, y) takes the label at (x * width / W,
 * y * height / H), through per-column and per-row maps kept while the
 * sizes stay. The overlay blends the colour of
 * each drawn label (selected-classes; never label 0) over the frame in its
 * own format, alpha in 1/255, rounded; in I420 and NV12 a chroma sample
 * takes the label of its top-left pixel. A row is blended in two passes:
 * the labels are looked up into a row of colours and one of weights (the
 * alpha of a drawn label's bytes, 0 elsewhere), a 4-byte word of each a
 * pixel, made again only when the label row changes, then one loop over
 * the bytes that the compiler vectorises.
 *
 * Lock domain: none. The state belongs to the streaming thread (set_info,
 * the transform functions); stop() resets it after the pads are
 * deactivated. The element (gstnaclipseg.c) is the only caller.
 */

#include "config.h"

#include "gstnaclipsegdrawing.h"

#include <math.h>
#include <string.h>

#include "gstnaclipseg.h"
#include "naclip.h"

#define GST_CAT_DEFAULT gst_naclip_seg_debug

struct _GstNaclipSegDrawing
{
  guint32 *xmap, *ymap;      /* frame column/row -> label map column/row */
  guint map_fw, map_fh;      /* frame size the maps are for, px */
  guint map_lw, map_lh;      /* label map size they are for, px */
  guint8 *colour_row;        /* (4 * map_fw): colours of a frame row */
  guint8 *weight_row;        /* (4 * map_fw): their weights, 0..255 */
  double kr, kb;             /* the stream's YUV matrix */
  gboolean full_range;       /* and range */
  guint8 rgb[256][3];        /* colour of each label */
  guint8 yuv[256][3];        /* the same in the stream's YUV */
  gboolean colours_valid;    /* rgb and yuv are for the keys below */
  guint64 colours_class_set; /* class set the colours were made for */
  char *colours_spec;        /* class-colors they were made for */
  guint8 draw_mask[256];     /* 1: the label is drawn */
  guint64 mask_class_set;    /* class set draw_mask was made for */
  char *mask_selected;       /* selected-classes draw_mask was made for */
};

GstNaclipSegDrawing *
gst_naclip_seg_drawing_new (void)
{
  return g_new0 (GstNaclipSegDrawing, 1);
}

void
gst_naclip_seg_drawing_free (GstNaclipSegDrawing *d)
{
  if (d == NULL)
    return;
  gst_naclip_seg_drawing_reset (d);
  g_free (d);
}

void
gst_naclip_seg_drawing_reset (GstNaclipSegDrawing *d)
{
  g_clear_pointer (&d->xmap, g_free);
  g_clear_pointer (&d->ymap, g_free);
  g_clear_pointer (&d->colour_row, g_free);
  g_clear_pointer (&d->weight_row, g_free);
  d->map_fw = d->map_fh = d->map_lw = d->map_lh = 0;
  g_clear_pointer (&d->mask_selected, g_free);
  d->mask_class_set = 0;
  g_clear_pointer (&d->colours_spec, g_free);
  d->colours_valid = FALSE;
}

void
gst_naclip_seg_drawing_set_info (
    GstNaclipSegDrawing *d, const GstVideoInfo *info)
{
  if (!gst_video_color_matrix_get_Kr_Kb (
          info->colorimetry.matrix, &d->kr, &d->kb)) {
    d->kr = 0.299;
    d->kb = 0.114;
  }
  d->full_range = info->colorimetry.range == GST_VIDEO_COLOR_RANGE_0_255;
  d->colours_valid = FALSE;
}

/* The colour of every label of @classes (class set @class_set) in RGB and
 * YUV. Recomputed when the caps, the class set or class-colors change. */
static void
update_colours (GstNaclipSegDrawing *d, guint64 class_set,
    const NaclipClasses *classes, const char *class_colors)
{
  g_autoptr (NaclipClassColors) colors = NULL;
  g_auto (GStrv) unmatched = NULL;
  gboolean full = d->full_range;
  double kr = d->kr, kb = d->kb;

  if (d->colours_valid && d->colours_class_set == class_set
      && g_strcmp0 (d->colours_spec, class_colors) == 0)
    return;
  /* The property checked the value: it parses. */
  if (class_colors != NULL)
    colors = naclip_class_colors_parse (class_colors, NULL);
  unmatched = naclip_class_colors_unmatched (colors, classes);
  if (unmatched != NULL) {
    g_autofree char *names = g_strjoinv ("\", \"", unmatched);
    GST_WARNING ("class-colors: no class is named \"%s\"", names);
  }
  for (guint l = 0; l < 256; l++) {
    double r, g, b, y, cb, cr;
    naclip_class_colors_lookup (colors, classes, l, d->rgb[l]);
    r = d->rgb[l][0] / 255.0;
    g = d->rgb[l][1] / 255.0;
    b = d->rgb[l][2] / 255.0;
    y = kr * r + (1.0 - kr - kb) * g + kb * b;
    cb = (b - y) / (2.0 * (1.0 - kb));
    cr = (r - y) / (2.0 * (1.0 - kr));
    d->yuv[l][0]
        = (guint8)CLAMP (lround (full ? 255.0 * y : 16.0 + 219.0 * y), 0, 255);
    d->yuv[l][1]
        = (guint8)CLAMP (lround (128.0 + (full ? 255.0 : 224.0) * cb), 0, 255);
    d->yuv[l][2]
        = (guint8)CLAMP (lround (128.0 + (full ? 255.0 : 224.0) * cr), 0, 255);
  }
  g_free (d->colours_spec);
  d->colours_spec = g_strdup (class_colors);
  d->colours_class_set = class_set;
  d->colours_valid = TRUE;
}

static void
ensure_maps (GstNaclipSegDrawing *d, guint fw, guint fh, guint lw, guint lh)
{
  if (d->map_fw == fw && d->map_fh == fh && d->map_lw == lw && d->map_lh == lh)
    return;
  g_free (d->xmap);
  g_free (d->ymap);
  g_free (d->colour_row);
  g_free (d->weight_row);
  d->xmap = g_new (guint32, fw);
  d->ymap = g_new (guint32, fh);
  /* The widest row, four bytes a pixel, and 3 more: the 4-byte word of
   * a narrower last pixel reaches past the row. */
  d->colour_row = g_new (guint8, (gsize)4 * fw + 3);
  d->weight_row = g_new (guint8, (gsize)4 * fw + 3);
  for (guint x = 0; x < fw; x++)
    d->xmap[x] = (guint32)((guint64)x * lw / fw);
  for (guint y = 0; y < fh; y++)
    d->ymap[y] = (guint32)((guint64)y * lh / fh);
  d->map_fw = fw;
  d->map_fh = fh;
  d->map_lw = lw;
  d->map_lh = lh;
}

/* Which labels are drawn: selected-classes names (all when empty). Label 0
 * is never drawn. Recomputed when the class set or the selection changes. */
static void
update_draw_mask (
    GstNaclipSegDrawing *d, const GstNaclipSegResult *r, const char *selected)
{
  g_auto (GStrv) names = NULL;

  if (d->mask_class_set == r->class_set
      && g_strcmp0 (d->mask_selected, selected) == 0)
    return;
  memset (d->draw_mask, 0, sizeof (d->draw_mask));
  if (selected == NULL || selected[0] == '\0') {
    for (guint l = 1; l <= r->n_classes; l++)
      d->draw_mask[l] = 1;
  } else {
    names = g_strsplit (selected, ",", -1);
    for (guint i = 0; names[i] != NULL; i++) {
      const char *name = g_strstrip (names[i]);
      for (guint l = 1; l <= r->n_classes; l++)
        if (g_strcmp0 (r->class_names[l], name) == 0)
          d->draw_mask[l] = 1;
    }
  }
  g_free (d->mask_selected);
  d->mask_selected = g_strdup (selected);
  d->mask_class_set = r->class_set;
}

/* The pixel of each label as a 4-byte word, @pstride (at most 4) bytes of
 * it a pixel: @colour[l] has the colours @table[l][first..first + n_off)
 * at the byte offsets @off[0..n_off), @weight[l] @alpha there when the
 * label is drawn; every other byte 0. */
static void
make_words (const GstNaclipSegDrawing *d, const guint *off, guint n_off,
    const guint8 (*table)[3], guint first, guint alpha, guint32 colour[256],
    guint32 weight[256])
{
  for (guint l = 0; l < 256; l++) {
    guint8 c[4] = { 0 }, w[4] = { 0 };
    for (guint k = 0; k < n_off; k++) {
      c[off[k]] = table[l][first + k];
      w[off[k]] = d->draw_mask[l] ? (guint8)alpha : 0;
    }
    memcpy (&colour[l], c, sizeof c);
    memcpy (&weight[l], w, sizeof w);
  }
}

/* The bytes of @n pixels of @pstride bytes into colour_row and
 * weight_row: pixel i takes the words of the label lrow[xmap[i * step]],
 * each stored whole (the bytes past the pixel are the next pixel's, or
 * the rows' slack after the last). */
static void
expand_row (GstNaclipSegDrawing *d, const guint8 *lrow, guint n, guint step,
    guint pstride, const guint32 *colour, const guint32 *weight)
{
  for (guint i = 0; i < n; i++) {
    guint l = lrow[d->xmap[i * step]];
    memcpy (d->colour_row + (gsize)i * pstride, &colour[l], 4);
    memcpy (d->weight_row + (gsize)i * pstride, &weight[l], 4);
  }
}

/* dst[i] <- (colour * w + dst * (255 - w) + 127) / 255 for the @n bytes of
 * colour_row and weight_row (w = 0 leaves dst as it is), in 16 bits. */
static void
blend_row (const GstNaclipSegDrawing *d, guint8 *dst, gsize n)
{
  const guint8 *colour = d->colour_row, *weight = d->weight_row;

  for (gsize i = 0; i < n; i++) {
    guint16 w = weight[i];
    dst[i] = (guint8)((guint16)(colour[i] * w + dst[i] * (guint16)(255u - w)
                                + 127u)
                      / 255u);
  }
}

/* Blends rows 0..@n_rows of the plane at @data (@stride bytes a row) of
 * @n_px pixels of @pstride bytes; row y and pixel i take the label at
 * (ymap[y * step], xmap[i * step]) (@step 2: chroma) and the colours
 * @table[l][first..] at byte offsets @off. */
static void
blend_plane (GstNaclipSegDrawing *d, const GstNaclipSegResult *r, guint8 *data,
    gint stride, guint n_rows, guint n_px, guint step, guint pstride,
    const guint *off, guint n_off, const guint8 (*table)[3], guint first,
    guint alpha)
{
  gint64 expanded = -1; /* the label row the row buffers hold */
  guint32 colour[256], weight[256];

  make_words (d, off, n_off, table, first, alpha, colour, weight);
  for (guint y = 0; y < n_rows; y++) {
    guint ly = d->ymap[y * step];
    if (ly != expanded) {
      expand_row (d, r->labels + (gsize)ly * r->stride, n_px, step, pstride,
          colour, weight);
      expanded = ly;
    }
    blend_row (d, data + (gsize)y * stride, (gsize)n_px * pstride);
  }
}

void
gst_naclip_seg_drawing_overlay (GstNaclipSegDrawing *d, GstVideoFrame *frame,
    const GstNaclipSegResult *r, const NaclipClasses *classes,
    const char *selected, const char *class_colors, guint alpha)
{
  guint fw = GST_VIDEO_FRAME_WIDTH (frame);
  guint fh = GST_VIDEO_FRAME_HEIGHT (frame);
  GstVideoFormat format = GST_VIDEO_FRAME_FORMAT (frame);

  update_draw_mask (d, r, selected);
  update_colours (d, r->class_set, classes, class_colors);
  ensure_maps (d, fw, fh, r->width, r->height);
  if (format == GST_VIDEO_FORMAT_I420 || format == GST_VIDEO_FORMAT_NV12) {
    static const guint luma[1] = { 0 }, uv[2] = { 0, 1 };
    guint cw = (fw + 1) / 2, ch = (fh + 1) / 2;

    blend_plane (d, r, GST_VIDEO_FRAME_PLANE_DATA (frame, 0),
        GST_VIDEO_FRAME_PLANE_STRIDE (frame, 0), fh, fw, 1, 1, luma, 1, d->yuv,
        0, alpha);
    if (format == GST_VIDEO_FORMAT_NV12) {
      blend_plane (d, r, GST_VIDEO_FRAME_PLANE_DATA (frame, 1),
          GST_VIDEO_FRAME_PLANE_STRIDE (frame, 1), ch, cw, 2, 2, uv, 2, d->yuv,
          1, alpha);
      return;
    }
    for (guint p = 1; p <= 2; p++)
      blend_plane (d, r, GST_VIDEO_FRAME_PLANE_DATA (frame, p),
          GST_VIDEO_FRAME_PLANE_STRIDE (frame, p), ch, cw, 2, 1, luma, 1,
          d->yuv, p, alpha);
  } else {
    /* Offsets inside a pixel (COMP_OFFSET would add the plane offset,
     * which PLANE_DATA already includes). */
    const GstVideoFormatInfo *finfo = frame->info.finfo;
    guint off[3] = { GST_VIDEO_FORMAT_INFO_POFFSET (finfo, GST_VIDEO_COMP_R),
      GST_VIDEO_FORMAT_INFO_POFFSET (finfo, GST_VIDEO_COMP_G),
      GST_VIDEO_FORMAT_INFO_POFFSET (finfo, GST_VIDEO_COMP_B) };

    blend_plane (d, r, GST_VIDEO_FRAME_PLANE_DATA (frame, 0),
        GST_VIDEO_FRAME_PLANE_STRIDE (frame, 0), fh, fw, 1,
        GST_VIDEO_FRAME_COMP_PSTRIDE (frame, 0), off, 3, d->rgb, 0, alpha);
  }
}

void
gst_naclip_seg_drawing_labels (
    GstNaclipSegDrawing *d, GstVideoFrame *out, const GstNaclipSegResult *r)
{
  guint fw = GST_VIDEO_FRAME_WIDTH (out), fh = GST_VIDEO_FRAME_HEIGHT (out);
  guint8 *data = GST_VIDEO_FRAME_PLANE_DATA (out, 0);
  gint stride = GST_VIDEO_FRAME_PLANE_STRIDE (out, 0);

  if (r == NULL) {
    for (guint y = 0; y < fh; y++)
      memset (data + (gsize)y * stride, 0, fw);
    return;
  }
  ensure_maps (d, fw, fh, r->width, r->height);
  for (guint y = 0; y < fh; y++) {
    const guint8 *lrow = r->labels + (gsize)d->ymap[y] * r->stride;
    guint8 *row = data + (gsize)y * stride;
    for (guint x = 0; x < fw; x++)
      row[x] = lrow[d->xmap[x]];
  }
}
