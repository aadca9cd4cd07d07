/* gstnaclipseg.h: the naclipseg element (NACLIP open-vocabulary semantic
 * segmentation as a GstVideoFilter).
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#ifndef GST_NACLIP_SEG_H
#define GST_NACLIP_SEG_H

#include <gst/gst.h>
#include <gst/video/gstvideofilter.h>

#include "gstnaclipsegenums.h"
#include "naclip.h"

G_BEGIN_DECLS

#define GST_TYPE_NACLIP_SEG (gst_naclip_seg_get_type ())
G_DECLARE_FINAL_TYPE (
    GstNaclipSeg, gst_naclip_seg, GST, NACLIP_SEG, GstVideoFilter)

GST_ELEMENT_REGISTER_DECLARE (naclipseg);

/* For the element's other files (gstnaclipseg*.c). */

GST_DEBUG_CATEGORY_EXTERN (gst_naclip_seg_debug);

/* What a frame needs from the properties, copied under the object lock. */
typedef struct
{
  NaclipParams params;
  GstNaclipSegOutput output;
  GstNaclipSegOutputSize output_size;
  guint8 alpha; /* 0..255 */
  guint inference_interval;
  GstClockTime expire_results;
  double temporal_smoothing;
  gboolean post_messages;
  char *selected_classes; /* owned */
  char *class_colors;     /* owned */
} GstNaclipSegSnapshot;

/* Copies what a frame needs from the properties of @self (takes the
 * object lock). Any thread. */
void gst_naclip_seg_snapshot_properties (
    GstNaclipSeg *self, GstNaclipSegSnapshot *snap);
/* Frees the strings of @snap. */
void gst_naclip_seg_snapshot_clear (GstNaclipSegSnapshot *snap);

G_END_DECLS

#endif /* GST_NACLIP_SEG_H */
