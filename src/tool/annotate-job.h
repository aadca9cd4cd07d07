/* annotate-job.h: one video file through naclip annotate's pipeline.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 *   filesrc ! decodebin ! videoconvert ! naclipseg
 *       ! videoconvert ! I420 ! x264enc ! mp4mux ! filesink    overlay
 *       (or fakesink without the overlay video)
 *   and, fed from a probe on naclipseg's output:
 *       statistics rows (annotate-stats.c)
 *       appsrc ! pngenc ! multifilesink | qtmux ! filesink     label maps
 *                                                  (annotate-labels.c)
 * Outputs are written under temporary names, <final>.part (a
 * <final>.part-XXXXXX directory for a PNG sequence), and renamed to their
 * final names only when the whole file has gone through; on a failure they
 * are removed. Only the first video stream of a file is used; audio is not
 * copied.
 */

#ifndef NACLIP_ANNOTATE_JOB_H
#define NACLIP_ANNOTATE_JOB_H

#include <gst/gst.h>

#include "annotate-labels.h"
#include "annotate-stats.h"
#include "naclip.h"

/* What to write for each input. */
typedef struct
{
  gboolean overlay;          /* <name>-overlay.mp4, H.264 in MP4 */
  NaclipLabelsFormat labels; /* <name>-labels/ or <name>-labels.mov */
  NaclipStatsFormat stats;   /* <name>-stats.jsonl or .csv */
  guint encoder_threads;     /* x264enc threads; 0: x264's own choice */
} NaclipAnnotateOutputs;

/* The final output paths of one input; NULL for an output not asked for. */
typedef struct
{
  char *overlay;
  char *labels;
  char *stats;
} NaclipAnnotatePaths;

/* What a successful run did. */
typedef struct
{
  guint frames;   /* frames that left naclipseg (= frames of every output) */
  guint64 rows;   /* statistics rows */
  double seconds; /* wall time, from the start of the pipeline */
} NaclipAnnotateReport;

/* gst_element_factory_make() with a message naming the element, its role
 * and, for the encoders and muxers, the Debian package that has it. NULL
 * with NACLIP_ERROR_IO. */
GstElement *naclip_annotate_make_element (
    const char *factory, const char *name, GError **error);

/* Makes @sink write as fast as it receives (no clock) and leave the
 * pipeline's preroll: a sink waiting for its first buffer in PAUSED would
 * block the label branch's appsrc and with it the streaming thread before
 * x264enc's look-ahead lets the overlay sink preroll. */
void naclip_annotate_set_sink (GstElement *sink);

/* The output paths of @input in @dir for @outputs. Free with
 * naclip_annotate_paths_clear(). */
void naclip_annotate_paths_init (NaclipAnnotatePaths *paths, const char *dir,
    const char *input, const NaclipAnnotateOutputs *outputs);

void naclip_annotate_paths_clear (NaclipAnnotatePaths *paths);

/* TRUE when every output of @paths exists (a finished earlier run). */
gboolean naclip_annotate_paths_exist (const NaclipAnnotatePaths *paths);

/* Runs @input through the pipeline above with @seg, a configured naclipseg
 * element not yet in a bin (a floating reference is taken over; its
 * "output" must be overlay when @outputs->overlay, else passthrough),
 * writing @paths.
 * Progress goes to stderr (progress.c) as "@label", frames counted
 * against the total estimated from the stream's duration and frame rate.
 * FALSE with NACLIP_ERROR_IO and a message starting with @input when the
 * file cannot be read or decoded ("cannot decode: ..."), has no video
 * stream or no frame, or an output cannot be written; nothing is then left
 * under the final names. */
gboolean naclip_annotate_run (const char *input, GstElement *seg,
    const NaclipAnnotateOutputs *outputs, const NaclipAnnotatePaths *paths,
    const char *label, NaclipAnnotateReport *report, GError **error);

#endif /* NACLIP_ANNOTATE_JOB_H */
