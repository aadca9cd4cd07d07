/* annotate-labels.h: the label-map outputs of naclip annotate.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * For every frame leaving naclipseg, one GRAY8 frame of the same size
 * whose pixels are labels (0 background, 1..N the classes; 0 everywhere
 * for a frame without a result), read from the frame's GstNaclipSegMeta
 * with gst_naclip_seg_meta_get_label() (the nearest label-map pixel, as
 * the element's output=labels draws it), is pushed through
 *   appsrc ! pngenc ! multifilesink location=DIR/%06d.png   (png)
 *   appsrc ! pngenc ! qtmux ! filesink location=FILE.mov    (mov)
 * Both are lossless: a PNG sequence numbered from 000000 by frame, or a
 * QuickTime video of grayscale PNG frames (qtdemux ! pngdec reads it
 * back).
 */

#ifndef NACLIP_ANNOTATE_LABELS_H
#define NACLIP_ANNOTATE_LABELS_H

#include <gst/gst.h>

#include "naclip.h"

typedef enum
{
  NACLIP_LABELS_NONE,
  NACLIP_LABELS_PNG,
  NACLIP_LABELS_MOV,
} NaclipLabelsFormat;

typedef struct _NaclipLabelSink NaclipLabelSink;

/* Parses "none", "png" or "mov". FALSE if @text is none of them. */
gboolean naclip_labels_format_from_string (
    const char *text, NaclipLabelsFormat *format);

/* Adds the branch of @format writing to @path (a directory for png, which
 * must exist; a file for mov) to @pipeline, unlinked from the rest. NULL
 * with NACLIP_ERROR_IO naming a missing GStreamer element. Free with
 * naclip_label_sink_free() once @pipeline is in the NULL state. */
NaclipLabelSink *naclip_label_sink_new (GstBin *pipeline,
    NaclipLabelsFormat format, const char *path, GError **error);

/* The caps of the frames leaving naclipseg changed to @caps (raw video):
 * label frames take their size and frame rate. Streaming thread. */
void naclip_label_sink_set_caps (NaclipLabelSink *sink, GstCaps *caps);

/* Pushes the label frame of @frame (a buffer leaving naclipseg), with its
 * timestamps. Blocks while the branch is a few frames behind. FALSE when
 * the branch no longer accepts frames (flushing or failed; its error is on
 * the bus). Streaming thread. */
gboolean naclip_label_sink_push (NaclipLabelSink *sink, GstBuffer *frame);

/* Ends the branch's stream (end-of-stream). Streaming thread. */
void naclip_label_sink_end (NaclipLabelSink *sink);

/* Accepts NULL. */
void naclip_label_sink_free (NaclipLabelSink *sink);

#endif /* NACLIP_ANNOTATE_LABELS_H */
