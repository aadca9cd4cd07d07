/* annotate-stats.h: the per-frame statistics file of naclip annotate.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * One row per frame and class present in it (background, label 0, is not
 * a class), in frame order, read from the metadata naclipseg attaches to
 * each buffer (a GstVideoRegionOfInterestMeta per present class, whose
 * "naclip-class" parameters carry the numbers):
 *   frame       0-based index of the frame in the file
 *   time        its stream time, seconds (empty / null when unknown)
 *   label       1..N, the class's position in the class list
 *   class       the class's first name
 *   coverage    fraction of the label map with this label, 0..1
 *   confidence  mean class probability over those pixels, 0..1
 *   x, y, width, height
 *               bounding box of those pixels, frame pixels
 *   fresh       true when the result was computed from this frame, false
 *               when reused (inference-interval > 1)
 * CSV: a header line, then the fields above in that order (RFC 4180
 * quoting). JSON Lines: one object per row, the box as "box": [x, y,
 * width, height].
 */

#ifndef NACLIP_ANNOTATE_STATS_H
#define NACLIP_ANNOTATE_STATS_H

#include <gst/gst.h>

#include "naclip.h"

typedef enum
{
  NACLIP_STATS_NONE,
  NACLIP_STATS_JSONL,
  NACLIP_STATS_CSV,
} NaclipStatsFormat;

typedef struct _NaclipStatsWriter NaclipStatsWriter;

/* Parses "none", "jsonl" or "csv". FALSE if @text is none of them. */
gboolean naclip_stats_format_from_string (
    const char *text, NaclipStatsFormat *format);

/* The file extension of @format (".jsonl", ".csv"). */
const char *naclip_stats_format_extension (NaclipStatsFormat format);

/* Creates @path (truncating it) and writes the CSV header. NULL with
 * NACLIP_ERROR_IO naming @path. Free with naclip_stats_writer_close(). */
NaclipStatsWriter *naclip_stats_writer_new (
    const char *path, NaclipStatsFormat format, GError **error);

/* Writes the rows of frame @frame at stream time @time (or
 * GST_CLOCK_TIME_NONE) from the metadata of @buffer; none when it carries
 * no result. Returns the number of rows. A write error is kept for
 * naclip_stats_writer_close(); naclip_stats_writer_get_errno() tells it. */
guint naclip_stats_writer_add (NaclipStatsWriter *writer, guint64 frame,
    GstClockTime time, GstBuffer *buffer);

/* The errno of the first failed write, 0 while none has failed. */
int naclip_stats_writer_get_errno (const NaclipStatsWriter *writer);

/* Closes the file and frees @writer (accepts NULL). FALSE with
 * NACLIP_ERROR_IO naming the file when a write or the close failed. */
gboolean naclip_stats_writer_close (NaclipStatsWriter *writer, GError **error);

#endif /* NACLIP_ANNOTATE_STATS_H */
