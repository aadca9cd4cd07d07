/* gstnaclipsegdrawing.h: the overlay and label frames of naclipseg (see
 * gstnaclipsegdrawing.c).
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#ifndef GST_NACLIP_SEG_DRAWING_H
#define GST_NACLIP_SEG_DRAWING_H

#include <gst/video/video.h>

#include "naclip.h"
#include "naclipmeta.h"

G_BEGIN_DECLS

/* Colours, label masks and the frame-to-label-map pixel maps of one
 * element. Streaming thread only. */
typedef struct _GstNaclipSegDrawing GstNaclipSegDrawing;

GstNaclipSegDrawing *gst_naclip_seg_drawing_new (void);
/* Accepts NULL. */
void gst_naclip_seg_drawing_free (GstNaclipSegDrawing *d);
/* Frees what the frames of a stream made (pixel maps, label mask). */
void gst_naclip_seg_drawing_reset (GstNaclipSegDrawing *d);
/* Takes the YUV matrix and range of frames of @info for the colours. */
void gst_naclip_seg_drawing_set_info (
    GstNaclipSegDrawing *d, const GstVideoInfo *info);
/* Blends the colours of the labels of @r named in @selected (a
 * comma-separated list of class names; NULL or empty: every class) over
 * the writable @frame, in its own format; @alpha 0..255. A label's colour
 * is the one @class_colors (a class-colors value, NULL for none) gives
 * its class of @classes, the class list of @r, else the palette's. */
void gst_naclip_seg_drawing_overlay (GstNaclipSegDrawing *d,
    GstVideoFrame *frame, const GstNaclipSegResult *r,
    const NaclipClasses *classes, const char *selected,
    const char *class_colors, guint alpha);
/* Writes the label of every pixel of the GRAY8 @out from @r; 0 everywhere
 * when @r is NULL. */
void gst_naclip_seg_drawing_labels (
    GstNaclipSegDrawing *d, GstVideoFrame *out, const GstNaclipSegResult *r);

G_END_DECLS

#endif /* GST_NACLIP_SEG_DRAWING_H */
