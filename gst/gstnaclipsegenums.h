/* gstnaclipsegenums.h: the enumerations of the naclipseg properties.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#ifndef GST_NACLIP_SEG_ENUMS_H
#define GST_NACLIP_SEG_ENUMS_H

#include <glib-object.h>

G_BEGIN_DECLS

/* What the element outputs (property output). */
typedef enum
{
  GST_NACLIP_SEG_OUTPUT_OVERLAY,
  GST_NACLIP_SEG_OUTPUT_PASSTHROUGH,
  GST_NACLIP_SEG_OUTPUT_LABELS,
} GstNaclipSegOutput;

/* The size of the label map (property output-size). */
typedef enum
{
  GST_NACLIP_SEG_OUTPUT_SIZE_PROCESSING,
  GST_NACLIP_SEG_OUTPUT_SIZE_FRAME,
} GstNaclipSegOutputSize;

/* Which thread segments (property async). SYNC and ASYNC are 0 and 1 so
 * that the boolean this property was (FALSE, TRUE) keeps its meaning. */
typedef enum
{
  GST_NACLIP_SEG_ASYNC_MODE_SYNC,  /* the streaming thread, every due frame */
  GST_NACLIP_SEG_ASYNC_MODE_ASYNC, /* a worker, the newest frame */
  GST_NACLIP_SEG_ASYNC_MODE_AUTO,  /* async when upstream is live */
} GstNaclipSegAsyncMode;

#define GST_TYPE_NACLIP_SEG_OUTPUT (gst_naclip_seg_output_get_type ())
GType gst_naclip_seg_output_get_type (void);
#define GST_TYPE_NACLIP_SEG_OUTPUT_SIZE (gst_naclip_seg_output_size_get_type ())
GType gst_naclip_seg_output_size_get_type (void);
#define GST_TYPE_NACLIP_SEG_ASYNC_MODE (gst_naclip_seg_async_mode_get_type ())
GType gst_naclip_seg_async_mode_get_type (void);
/* The library's NaclipAttention, NaclipArch and NaclipPrecision. */
#define GST_TYPE_NACLIP_SEG_ATTENTION (gst_naclip_seg_attention_get_type ())
GType gst_naclip_seg_attention_get_type (void);
#define GST_TYPE_NACLIP_SEG_ARCH (gst_naclip_seg_arch_get_type ())
GType gst_naclip_seg_arch_get_type (void);
#define GST_TYPE_NACLIP_SEG_PRECISION (gst_naclip_seg_precision_get_type ())
GType gst_naclip_seg_precision_get_type (void);

G_END_DECLS

#endif /* GST_NACLIP_SEG_ENUMS_H */
