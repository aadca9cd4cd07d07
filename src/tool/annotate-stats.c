/* annotate-stats.c: the per-frame statistics file of naclip annotate (see
 * annotate-stats.h for the rows).
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Rows are written with stdio from the streaming thread; numbers are
 * formatted with g_ascii_formatd (a '.' whatever the locale). Class names
 * are quoted once per class list (the ROI parameters' class-set counter)
 * and kept by label, so a frame costs no allocation.
 */

#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <gst/video/video.h>
#include <json-glib/json-glib.h>

#include "annotate-stats.h"

#define MAX_LABELS 256

struct _NaclipStatsWriter
{
  FILE *file;
  char *path;
  NaclipStatsFormat format;
  int write_errno;          /* first failed write, 0 if none */
  guint64 class_set;        /* of the quoted names below */
  char *quoted[MAX_LABELS]; /* class names as written, by label */
};

gboolean
naclip_stats_format_from_string (const char *text, NaclipStatsFormat *format)
{
  if (strcmp (text, "none") == 0)
    *format = NACLIP_STATS_NONE;
  else if (strcmp (text, "jsonl") == 0)
    *format = NACLIP_STATS_JSONL;
  else if (strcmp (text, "csv") == 0)
    *format = NACLIP_STATS_CSV;
  else
    return FALSE;
  return TRUE;
}

const char *
naclip_stats_format_extension (NaclipStatsFormat format)
{
  return format == NACLIP_STATS_CSV ? ".csv" : ".jsonl";
}

NaclipStatsWriter *
naclip_stats_writer_new (
    const char *path, NaclipStatsFormat format, GError **error)
{
  NaclipStatsWriter *w;
  FILE *file;

  g_return_val_if_fail (format != NACLIP_STATS_NONE, NULL);
  file = fopen (path, "w");
  if (file == NULL) {
    int err = errno;
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_IO, "%s: cannot create: %s",
        path, g_strerror (err));
    return NULL;
  }
  w = g_new0 (NaclipStatsWriter, 1);
  w->file = file;
  w->path = g_strdup (path);
  w->format = format;
  if (format == NACLIP_STATS_CSV
      && fputs ("frame,time,label,class,coverage,confidence,x,y,width,height,"
                "fresh\n",
             file)
             == EOF)
    w->write_errno = errno;
  return w;
}

/* @name as a JSON string or a CSV field. Caller frees. */
static char *
quote_name (NaclipStatsFormat format, const char *name)
{
  if (format == NACLIP_STATS_JSONL) {
    g_autoptr (JsonNode) node = json_node_new (JSON_NODE_VALUE);
    json_node_set_string (node, name);
    return json_to_string (node, FALSE);
  }
  if (strpbrk (name, ",\"\r\n") == NULL)
    return g_strdup (name);
  {
    GString *s = g_string_new ("\"");
    for (const char *c = name; *c != '\0'; c++) {
      if (*c == '"')
        g_string_append_c (s, '"');
      g_string_append_c (s, *c);
    }
    g_string_append_c (s, '"');
    return g_string_free (s, FALSE);
  }
}

static const char *
name_of (NaclipStatsWriter *w, guint64 class_set, guint label, const char *name)
{
  if (class_set != w->class_set) {
    for (guint i = 0; i < MAX_LABELS; i++)
      g_clear_pointer (&w->quoted[i], g_free);
    w->class_set = class_set;
  }
  if (w->quoted[label] == NULL)
    w->quoted[label] = quote_name (w->format, name);
  return w->quoted[label];
}

guint
naclip_stats_writer_add (
    NaclipStatsWriter *w, guint64 frame, GstClockTime time, GstBuffer *buffer)
{
  GstVideoRegionOfInterestMeta *roi;
  gpointer state = NULL;
  char time_buf[G_ASCII_DTOSTR_BUF_SIZE] = "";
  char cov_buf[G_ASCII_DTOSTR_BUF_SIZE], conf_buf[G_ASCII_DTOSTR_BUF_SIZE];
  guint rows = 0;

  g_return_val_if_fail (w != NULL && buffer != NULL, 0);
  if (GST_CLOCK_TIME_IS_VALID (time))
    g_ascii_formatd (
        time_buf, sizeof time_buf, "%.6f", (double)time / GST_SECOND);
  while (
      (roi = (GstVideoRegionOfInterestMeta *)gst_buffer_iterate_meta_filtered (
           buffer, &state, GST_VIDEO_REGION_OF_INTEREST_META_API_TYPE))
      != NULL) {
    GstStructure *p
        = gst_video_region_of_interest_meta_get_param (roi, "naclip-class");
    const char *name, *quoted;
    guint label = 0;
    guint64 class_set = 0;
    double coverage = 0.0, confidence = 0.0;
    gboolean fresh = FALSE;
    int n;

    if (p == NULL
        || !gst_structure_get (p, "label", G_TYPE_UINT, &label, "coverage",
            G_TYPE_DOUBLE, &coverage, "confidence", G_TYPE_DOUBLE, &confidence,
            "class-set", G_TYPE_UINT64, &class_set, "fresh", G_TYPE_BOOLEAN,
            &fresh, NULL)
        || label >= MAX_LABELS
        || (name = gst_structure_get_string (p, "class-name")) == NULL)
      continue;
    quoted = name_of (w, class_set, label, name);
    g_ascii_formatd (cov_buf, sizeof cov_buf, "%.6f", coverage);
    g_ascii_formatd (conf_buf, sizeof conf_buf, "%.6f", confidence);
    if (w->format == NACLIP_STATS_CSV)
      n = fprintf (w->file,
          "%" G_GUINT64_FORMAT ",%s,%u,%s,%s,%s,%u,%u,%u,%u,%s\n", frame,
          time_buf, label, quoted, cov_buf, conf_buf, roi->x, roi->y, roi->w,
          roi->h, fresh ? "true" : "false");
    else
      n = fprintf (w->file,
          "{\"frame\":%" G_GUINT64_FORMAT ",\"time\":%s,\"label\":%u,"
          "\"class\":%s,\"coverage\":%s,\"confidence\":%s,"
          "\"box\":[%u,%u,%u,%u],\"fresh\":%s}\n",
          frame, time_buf[0] != '\0' ? time_buf : "null", label, quoted,
          cov_buf, conf_buf, roi->x, roi->y, roi->w, roi->h,
          fresh ? "true" : "false");
    if (n < 0 && w->write_errno == 0)
      w->write_errno = errno;
    rows++;
  }
  return rows;
}

int
naclip_stats_writer_get_errno (const NaclipStatsWriter *w)
{
  return w->write_errno;
}

gboolean
naclip_stats_writer_close (NaclipStatsWriter *w, GError **error)
{
  int err;

  if (w == NULL)
    return TRUE;
  err = w->write_errno;
  if (fclose (w->file) != 0 && err == 0)
    err = errno;
  if (err != 0)
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_IO, "%s: cannot write: %s",
        w->path, g_strerror (err));
  for (guint i = 0; i < MAX_LABELS; i++)
    g_free (w->quoted[i]);
  g_free (w->path);
  g_free (w);
  return err == 0;
}
