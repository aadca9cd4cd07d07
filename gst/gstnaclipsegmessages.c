/* gstnaclipsegmessages.c: what naclipseg tells the application: bus
 * messages and buffer metadata.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 *   - the one mapping of a NaclipError to a GStreamer error domain and code,
 *     for the errors and warnings the element posts;
 *   - the element messages "naclipseg-classes-changed" (a new class list is
 *     active) and "naclipseg" (one per inferred frame, like `level`'s);
 *   - the metadata of a frame with a result: GstNaclipSegMeta (naclipmeta.h)
 *     and one GstVideoRegionOfInterestMeta per present class.
 *
 * No state and no lock of its own. Callers (the element and its scheduler)
 * must not hold the scheduler's lock: a bus handler may call back into the
 * element. Any thread.
 */

#include "config.h"

#include "gstnaclipsegmessages.h"

#include <math.h>

#include <gst/video/video.h>

void
gst_naclip_seg_post_error (GstElement *element, GstMessageType type,
    const GError *error, const char *text)
{
  GQuark domain = GST_LIBRARY_ERROR;
  gint code = GST_LIBRARY_ERROR_FAILED;

  if (error != NULL && error->domain == NACLIP_ERROR) {
    switch ((NaclipError)error->code) {
      case NACLIP_ERROR_IO:
        domain = GST_RESOURCE_ERROR;
        code = GST_RESOURCE_ERROR_OPEN_READ;
        break;
      case NACLIP_ERROR_FORMAT:
      case NACLIP_ERROR_UNSUPPORTED:
      case NACLIP_ERROR_MODEL:
        code = GST_LIBRARY_ERROR_INIT;
        break;
      case NACLIP_ERROR_INVALID_ARGUMENT:
      case NACLIP_ERROR_TEXT:
        code = GST_LIBRARY_ERROR_SETTINGS;
        break;
      case NACLIP_ERROR_NO_MEMORY:
        domain = GST_RESOURCE_ERROR;
        code = GST_RESOURCE_ERROR_NO_SPACE_LEFT;
        break;
      case NACLIP_ERROR_CANCELLED:
        code = GST_LIBRARY_ERROR_SHUTDOWN;
        break;
    }
  }
  gst_element_message_full (element, type, domain, code, g_strdup (text),
      g_strdup (error != NULL ? error->message : NULL), __FILE__, GST_FUNCTION,
      __LINE__);
}

void
gst_naclip_seg_post_classes_changed (
    GstElement *element, NaclipQueries *queries, guint64 class_set)
{
  const NaclipClasses *classes = naclip_queries_get_classes (queries);
  GValue names = G_VALUE_INIT;
  GstStructure *s;

  gst_value_array_init (&names, naclip_classes_get_n_classes (classes));
  for (guint l = 1; l <= naclip_classes_get_n_classes (classes); l++) {
    GValue v = G_VALUE_INIT;
    g_value_init (&v, G_TYPE_STRING);
    g_value_set_string (&v, naclip_classes_get_name (classes, l));
    gst_value_array_append_and_take_value (&names, &v);
  }
  s = gst_structure_new (
      "naclipseg-classes-changed", "class-set", G_TYPE_UINT64, class_set, NULL);
  gst_structure_take_value (s, "classes", &names);
  gst_element_post_message (
      element, gst_message_new_element (GST_OBJECT (element), s));
}

static guint64
ms_to_ns (double ms)
{
  return (guint64)llround (ms * GST_MSECOND);
}

/* "naclipseg-stage-times": where the time of @pub went, ns. */
static GstStructure *
stage_times (const GstNaclipSegPublished *pub)
{
  const NaclipTimings *t = &pub->timings;

  return gst_structure_new ("naclipseg-stage-times", "preprocess",
      G_TYPE_UINT64, ms_to_ns (t->preprocess_ms), "encoder", G_TYPE_UINT64,
      ms_to_ns (t->encoder_ms), "logits", G_TYPE_UINT64,
      ms_to_ns (t->logits_ms), "pamr", G_TYPE_UINT64, ms_to_ns (t->pamr_ms),
      "labels", G_TYPE_UINT64, ms_to_ns (t->labels_ms), "statistics",
      G_TYPE_UINT64, ms_to_ns (pub->statistics_ms), NULL);
}

void
gst_naclip_seg_post_result (
    GstElement *element, const GstNaclipSegPublished *pub)
{
  const GstNaclipSegResult *r = pub->result;
  GValue names = G_VALUE_INIT, coverage = G_VALUE_INIT,
         confidence = G_VALUE_INIT, present = G_VALUE_INIT,
         times = G_VALUE_INIT;
  GstStructure *s;

  gst_value_array_init (&names, r->n_classes);
  gst_value_array_init (&coverage, r->n_classes);
  gst_value_array_init (&confidence, r->n_classes);
  gst_value_array_init (&present, r->n_classes);
  for (guint l = 1; l <= r->n_classes; l++) {
    GValue v = G_VALUE_INIT;
    g_value_init (&v, G_TYPE_STRING);
    g_value_set_string (&v, r->class_names[l]);
    gst_value_array_append_and_take_value (&names, &v);
    g_value_init (&v, G_TYPE_DOUBLE);
    g_value_set_double (&v, r->coverage[l]);
    gst_value_array_append_and_take_value (&coverage, &v);
    g_value_init (&v, G_TYPE_DOUBLE);
    g_value_set_double (&v, r->confidence[l]);
    gst_value_array_append_and_take_value (&confidence, &v);
    g_value_init (&v, G_TYPE_BOOLEAN);
    g_value_set_boolean (&v, r->coverage[l] > 0.0f);
    gst_value_array_append_and_take_value (&present, &v);
  }
  s = gst_structure_new ("naclipseg", "timestamp", G_TYPE_UINT64, r->pts,
      "stream-time", G_TYPE_UINT64, pub->times.stream_time, "running-time",
      G_TYPE_UINT64, pub->times.running_time, "duration", G_TYPE_UINT64,
      pub->times.duration, "latency", G_TYPE_UINT64, pub->latency, "class-set",
      G_TYPE_UINT64, r->class_set, "background-coverage", G_TYPE_DOUBLE,
      (double)r->coverage[0], "reuse-computed", G_TYPE_DOUBLE,
      pub->reuse_computed, "reuse-refreshed", G_TYPE_BOOLEAN,
      pub->reuse_refreshed, NULL);
  gst_structure_take_value (s, "classes", &names);
  gst_structure_take_value (s, "coverage", &coverage);
  gst_structure_take_value (s, "confidence", &confidence);
  gst_structure_take_value (s, "present", &present);
  g_value_init (&times, GST_TYPE_STRUCTURE);
  g_value_take_boxed (&times, stage_times (pub));
  gst_structure_take_value (s, "stage-times", &times);
  gst_element_post_message (
      element, gst_message_new_element (GST_OBJECT (element), s));
}

void
gst_naclip_seg_attach_metas (const GstNaclipSegPublished *pub,
    GstBuffer *buffer, guint fw, guint fh, gboolean fresh, GstClockTime age)
{
  const GstNaclipSegResult *r = pub->result;
  gint id = 0;

  gst_buffer_add_naclip_seg_meta (buffer, pub->result, fresh);
  for (guint l = 1; l <= r->n_classes; l++) {
    GstVideoRegionOfInterestMeta *roi;
    guint x0, y0, x1, y1;

    if (r->coverage[l] <= 0.0f)
      continue;
    x0 = (guint)((guint64)pub->stats[l].x0 * fw / r->width);
    y0 = (guint)((guint64)pub->stats[l].y0 * fh / r->height);
    x1 = (guint)(((guint64)pub->stats[l].x1 * fw + r->width - 1) / r->width);
    y1 = (guint)(((guint64)pub->stats[l].y1 * fh + r->height - 1) / r->height);
    roi = gst_buffer_add_video_region_of_interest_meta (
        buffer, r->class_names[l], x0, y0, x1 - x0, y1 - y0);
    roi->id = id++;
    roi->parent_id = -1;
    gst_video_region_of_interest_meta_add_param (roi,
        gst_structure_new ("naclip-class", "label", G_TYPE_UINT, l,
            "class-name", G_TYPE_STRING, r->class_names[l], "coverage",
            G_TYPE_DOUBLE, (double)r->coverage[l], "confidence", G_TYPE_DOUBLE,
            (double)r->confidence[l], "class-set", G_TYPE_UINT64, r->class_set,
            "fresh", G_TYPE_BOOLEAN, fresh, "age", G_TYPE_UINT64, age, NULL));
  }
}
