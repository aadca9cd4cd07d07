/* naclipmeta.c: GstNaclipSegMeta and its reference-counted result.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The meta only points at a GstNaclipSegResult: naclipseg computes one
 * result per inferred frame and every buffer that reuses it shares it, so
 * attaching the meta costs a reference, not a copy of the label map. The
 * transform function keeps the meta on copies and on scaling (the label map
 * covers the whole frame whatever its resolution) and drops it on any other
 * transformation, which would need the map itself to be moved.
 */

#include "naclipmeta.h"

#include <gst/video/video.h>

GstNaclipSegResult *
gst_naclip_seg_result_new (guint width, guint height, guint n_classes)
{
  GstNaclipSegResult *result = NULL;
  gsize n_pixels = 0;

  if (width == 0 || height == 0
      || !g_size_checked_mul (&n_pixels, width, height))
    return NULL;
  result = g_atomic_rc_box_new0 (GstNaclipSegResult);
  result->width = width;
  result->height = height;
  result->stride = width;
  result->n_classes = n_classes;
  result->labels = g_try_malloc0 (n_pixels);
  result->class_names = g_new0 (gchar *, (gsize)n_classes + 2);
  result->coverage = g_new0 (float, (gsize)n_classes + 1);
  result->confidence = g_new0 (float, (gsize)n_classes + 1);
  result->pts = GST_CLOCK_TIME_NONE;
  if (result->labels == NULL) {
    gst_naclip_seg_result_unref (result);
    return NULL;
  }
  return result;
}

GstNaclipSegResult *
gst_naclip_seg_result_ref (GstNaclipSegResult *result)
{
  g_return_val_if_fail (result != NULL, NULL);
  return g_atomic_rc_box_acquire (result);
}

static void
clear_result (gpointer data)
{
  GstNaclipSegResult *result = data;

  g_free (result->labels);
  g_strfreev (result->class_names);
  g_free (result->coverage);
  g_free (result->confidence);
}

void
gst_naclip_seg_result_unref (GstNaclipSegResult *result)
{
  if (result != NULL)
    g_atomic_rc_box_release_full (result, clear_result);
}

GType
gst_naclip_seg_meta_api_get_type (void)
{
  static GType type = 0;
  static const gchar *tags[] = { GST_META_TAG_VIDEO_STR,
    GST_META_TAG_VIDEO_SIZE_STR, GST_META_TAG_VIDEO_ORIENTATION_STR, NULL };

  if (g_once_init_enter (&type)) {
    GType t = gst_meta_api_type_register ("GstNaclipSegMetaAPI", tags);
    g_once_init_leave (&type, t);
  }
  return type;
}

static gboolean
init_meta (GstMeta *meta, G_GNUC_UNUSED gpointer params,
    G_GNUC_UNUSED GstBuffer *buffer)
{
  GstNaclipSegMeta *seg = (GstNaclipSegMeta *)meta;

  seg->result = NULL;
  seg->fresh = FALSE;
  return TRUE;
}

static void
free_meta (GstMeta *meta, G_GNUC_UNUSED GstBuffer *buffer)
{
  GstNaclipSegMeta *seg = (GstNaclipSegMeta *)meta;

  gst_naclip_seg_result_unref (seg->result);
  seg->result = NULL;
}

static gboolean
transform_meta (GstBuffer *dest, GstMeta *meta, G_GNUC_UNUSED GstBuffer *src,
    GQuark type, G_GNUC_UNUSED gpointer data)
{
  GstNaclipSegMeta *seg = (GstNaclipSegMeta *)meta;

  if (!GST_META_TRANSFORM_IS_COPY (type)
      && !GST_VIDEO_META_TRANSFORM_IS_SCALE (type))
    return FALSE;
  if (gst_buffer_get_naclip_seg_meta (dest) != NULL)
    return TRUE;
  return gst_buffer_add_naclip_seg_meta (dest, seg->result, seg->fresh) != NULL;
}

const GstMetaInfo *
gst_naclip_seg_meta_get_info (void)
{
  static const GstMetaInfo *info = NULL;

  if (g_once_init_enter ((GstMetaInfo **)&info)) {
    const GstMetaInfo *i
        = gst_meta_register (GST_NACLIP_SEG_META_API_TYPE, "GstNaclipSegMeta",
            sizeof (GstNaclipSegMeta), init_meta, free_meta, transform_meta);
    g_once_init_leave ((GstMetaInfo **)&info, (GstMetaInfo *)i);
  }
  return info;
}

GstNaclipSegMeta *
gst_buffer_add_naclip_seg_meta (
    GstBuffer *buffer, GstNaclipSegResult *result, gboolean fresh)
{
  GstNaclipSegMeta *seg;

  g_return_val_if_fail (GST_IS_BUFFER (buffer), NULL);
  g_return_val_if_fail (result != NULL, NULL);

  seg = (GstNaclipSegMeta *)gst_buffer_add_meta (
      buffer, GST_NACLIP_SEG_META_INFO, NULL);
  if (seg == NULL)
    return NULL;
  seg->result = gst_naclip_seg_result_ref (result);
  seg->fresh = fresh;
  return seg;
}

guint8
gst_naclip_seg_meta_get_label (const GstNaclipSegMeta *meta, guint x, guint y,
    guint frame_width, guint frame_height)
{
  const GstNaclipSegResult *r;
  guint64 lx, ly;

  g_return_val_if_fail (meta != NULL && meta->result != NULL, 0);
  g_return_val_if_fail (x < frame_width && y < frame_height, 0);

  r = meta->result;
  lx = (guint64)x * r->width / frame_width;
  ly = (guint64)y * r->height / frame_height;
  return r->labels[ly * r->stride + lx];
}
