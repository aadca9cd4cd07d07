/* gstnaclipsegmessages.h: the bus messages and metadata of naclipseg (see
 * gstnaclipsegmessages.c).
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#ifndef GST_NACLIP_SEG_MESSAGES_H
#define GST_NACLIP_SEG_MESSAGES_H

#include <gst/gst.h>

#include "gstnaclipsegclient.h"
#include "naclip.h"

G_BEGIN_DECLS

/* Posts an error or a warning (@type) for @error, a NaclipError, with the
 * user-facing @text and error->message as the debug text: I/O problems are
 * RESOURCE/OPEN_READ, allocation failures RESOURCE/NO_SPACE_LEFT, bad
 * models LIBRARY/INIT, bad settings and texts LIBRARY/SETTINGS,
 * cancellation LIBRARY/SHUTDOWN, anything else LIBRARY/FAILED. */
void gst_naclip_seg_post_error (GstElement *element, GstMessageType type,
    const GError *error, const char *text);
/* Posts "naclipseg-classes-changed": class-set and the names of classes
 * 1..N of @queries. */
void gst_naclip_seg_post_classes_changed (
    GstElement *element, NaclipQueries *queries, guint64 class_set);
/* Posts "naclipseg" for an inferred frame: its times, latency (ns from
 * the frame's arrival to its result), class-set, background-coverage,
 * the arrays classes, coverage, confidence and present (index i is label
 * i + 1), and stage-times, a "naclipseg-stage-times" structure of ns:
 * the library's stages (preprocess, encoder, logits, pamr, labels:
 * NaclipTimings) and statistics, the element's temporal smoothing and
 * per-class statistics. */
void gst_naclip_seg_post_result (
    GstElement *element, const GstNaclipSegPublished *pub);
/* Attaches @pub's result (GstNaclipSegMeta, @fresh when computed from
 * this very frame) and one ROI meta per present class (ids 0..k-1 in label
 * order, boxes scaled to the @fw x @fh frame, @age the running time since
 * the result's frame, ns) to the writable @buffer. */
void gst_naclip_seg_attach_metas (const GstNaclipSegPublished *pub,
    GstBuffer *buffer, guint fw, guint fh, gboolean fresh, GstClockTime age);

G_END_DECLS

#endif /* GST_NACLIP_SEG_MESSAGES_H */
