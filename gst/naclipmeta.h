/* naclipmeta.h: the segmentation metadata the naclipseg element attaches.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Every buffer leaving naclipseg with a result carries one
 * GstNaclipSegMeta (C applications: link gstnaclipmeta-1.0, pkg-config
 * name "gstnaclipmeta-1.0") and one GstVideoRegionOfInterestMeta per class
 * present in the label map (any language through GObject introspection; see
 * the element documentation).
 *
 * Layout of a result (GstNaclipSegResult)
 *   labels      height rows of `stride` bytes, one guint8 per pixel.
 *               0 is background (background names, and pixels whose best
 *               class probability is below class-confidence-threshold);
 *               1..n_classes are the classes in the order they were given.
 *               The map always covers the whole frame: its size is the
 *               processing size or the frame size (element property
 *               output-size), so pixel (x, y) of a W x H frame has the
 *               label at (x * width / W, y * height / H).
 *   class_names n_classes + 1 names, [0] = "background", NULL-terminated.
 *   coverage    n_classes + 1 fractions of the label map (sum 1).
 *   confidence  n_classes + 1 mean probabilities of the class over the
 *               pixels carrying its label (0 when absent).
 *   class_set   a counter that changes whenever the class list changes:
 *               labels of two results can only be compared when their
 *               class_set values are equal.
 * A result is immutable once attached and shared (reference counted) by
 * every buffer that reuses it; GstNaclipSegMeta.fresh says whether the
 * result was computed from this very frame.
 *
 * Transformations: the meta survives buffer copies and scaling (the label
 * map is resolution independent); any other transformation (crop, flip,
 * rotation) drops it.
 *
 * Forward compatibility: GStreamer 1.26 added GstAnalyticsSegmentationMtd;
 * a later version may attach it too, next to this meta, which keeps its
 * API.
 */

#ifndef GST_NACLIP_META_H
#define GST_NACLIP_META_H

#include <gst/gst.h>

G_BEGIN_DECLS

#if defined(GST_NACLIP_META_COMPILATION)
#define GST_NACLIP_META_API __attribute__ ((visibility ("default")))
#else
#define GST_NACLIP_META_API
#endif

typedef struct
{
  guint64 class_set;   /* class-list counter, see above */
  guint width;         /* label map width, px */
  guint height;        /* label map height, px */
  gsize stride;        /* bytes per label map row (>= width) */
  guint8 *labels;      /* height * stride bytes */
  guint n_classes;     /* N: labels 1..N */
  gchar **class_names; /* N + 1 names, NULL-terminated */
  float *coverage;     /* N + 1 fractions in 0..1 */
  float *confidence;   /* N + 1 mean probabilities in 0..1 */
  GstClockTime pts;    /* timestamp of the frame it was computed from */
  /*< private >*/
  gpointer _gst_reserved[GST_PADDING];
} GstNaclipSegResult;

/* A zeroed result for a @width x @height label map (stride = width) and
 * @n_classes classes: class_names holds n_classes + 2 NULL pointers, the
 * caller stores g_strdup'ed names in the first n_classes + 1 (they are
 * g_free'd with the result). Returns NULL if the sizes overflow or the
 * allocation fails. Free with gst_naclip_seg_result_unref(). */
GST_NACLIP_META_API GstNaclipSegResult *gst_naclip_seg_result_new (
    guint width, guint height, guint n_classes);
GST_NACLIP_META_API GstNaclipSegResult *gst_naclip_seg_result_ref (
    GstNaclipSegResult *result);
/* Drops a reference; accepts NULL. */
GST_NACLIP_META_API void gst_naclip_seg_result_unref (
    GstNaclipSegResult *result);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (GstNaclipSegResult, gst_naclip_seg_result_unref)

typedef struct
{
  GstMeta meta;
  GstNaclipSegResult *result; /* borrowed for the meta's lifetime */
  gboolean fresh;             /* computed from this buffer's frame */
} GstNaclipSegMeta;

#define GST_NACLIP_SEG_META_API_TYPE (gst_naclip_seg_meta_api_get_type ())
#define GST_NACLIP_SEG_META_INFO (gst_naclip_seg_meta_get_info ())

GST_NACLIP_META_API GType gst_naclip_seg_meta_api_get_type (void);
GST_NACLIP_META_API const GstMetaInfo *gst_naclip_seg_meta_get_info (void);

/* Attaches @result (a reference is taken) to the writable @buffer.
 * Returns the meta, owned by the buffer. */
GST_NACLIP_META_API GstNaclipSegMeta *gst_buffer_add_naclip_seg_meta (
    GstBuffer *buffer, GstNaclipSegResult *result, gboolean fresh);

/* The meta of @buffer, or NULL. Borrowed until the buffer is freed. */
#define gst_buffer_get_naclip_seg_meta(b)                                      \
  ((GstNaclipSegMeta *)gst_buffer_get_meta ((b), GST_NACLIP_SEG_META_API_TYPE))

/* The label of frame pixel (@x, @y) in a @frame_width x @frame_height
 * frame (nearest label map pixel). */
GST_NACLIP_META_API guint8 gst_naclip_seg_meta_get_label (
    const GstNaclipSegMeta *meta, guint x, guint y, guint frame_width,
    guint frame_height);

G_END_DECLS

#endif /* GST_NACLIP_META_H */
