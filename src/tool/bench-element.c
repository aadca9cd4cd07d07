/* bench-element.c: "naclip bench --element", the naclipseg element's frame
 * time against its stages (see bench-element.h).
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The pipeline is
 *   videotestsrc num-buffers=N ! video/x-raw,format=F,width=W,height=H
 *     ! naclipseg async=sync output=overlay ... ! fakesink sync=false
 * in this process, with the naclipseg plugin of this build
 * (plugin-dir.c). A probe on naclipseg's sink pad stamps each buffer as it
 * enters, one on its source pad as it leaves: the difference is the frame
 * time, everything the element does for the frame (conversion, the
 * library's stages, statistics, metadata, overlay). The element's
 * "naclipseg" message of the frame gives the library's stages
 * (stage-times). Sync mode and an unsynchronised sink: every frame is
 * segmented, one after the other, on the streaming thread.
 */

#include "config.h"

#include <stdio.h>
#include <string.h>

#include <gst/gst.h>

#include "bench-element.h"
#include "naclip-tool.h"
#include "plugin-dir.h"

/* Frames run and discarded before the timed ones: the first creates the
 * primitives and packs the weights, the second still finds cold caches. */
#define WARM_UP 2

static const char *const stage_names[]
    = { "preprocess", "encoder", "logits", "pamr", "labels", "statistics" };

#define N_STAGES G_N_ELEMENTS (stage_names)

typedef struct
{
  gint64 entered;     /* us, the frame in the element; streaming thread */
  GArray *frame_ms;   /* double: each frame's time in the element */
  GArray *stage_ms;   /* double: N_STAGES per segmented frame */
  guint64 n_messages; /* "naclipseg" messages read */
} Timing;

static GstPadProbeReturn
on_enter (G_GNUC_UNUSED GstPad *pad, G_GNUC_UNUSED GstPadProbeInfo *info,
    gpointer data)
{
  Timing *t = data;

  t->entered = g_get_monotonic_time ();
  return GST_PAD_PROBE_OK;
}

static GstPadProbeReturn
on_leave (G_GNUC_UNUSED GstPad *pad, G_GNUC_UNUSED GstPadProbeInfo *info,
    gpointer data)
{
  Timing *t = data;
  double ms = (g_get_monotonic_time () - t->entered) / 1000.0;

  g_array_append_val (t->frame_ms, ms);
  return GST_PAD_PROBE_OK;
}

/* Appends the stage times of a "naclipseg" message to @t. */
static void
read_stage_times (Timing *t, const GstStructure *s)
{
  const GstStructure *times;
  const GValue *v = gst_structure_get_value (s, "stage-times");

  if (v == NULL || !GST_VALUE_HOLDS_STRUCTURE (v))
    return;
  times = gst_value_get_structure (v);
  for (gsize i = 0; i < N_STAGES; i++) {
    guint64 ns = 0;
    double ms;
    gst_structure_get_uint64 (times, stage_names[i], &ns);
    ms = ns / 1e6;
    g_array_append_val (t->stage_ms, ms);
  }
  t->n_messages++;
}

/* The median of the @n values of @v that lie @step apart from @v on,
 * after the first @skip of them. */
static double
median_of (const double *v, guint n, guint step, guint skip)
{
  g_autofree double *w = NULL;

  if (n <= skip)
    return 0.0;
  w = g_new (double, n - skip);
  for (guint i = skip; i < n; i++)
    w[i - skip] = v[(gsize)i * step];
  return naclip_bench_median (w, n - skip);
}

/* Sets the element's properties from @o, as gst-launch-1.0 would. */
static void
set_properties (GstElement *seg, const NaclipBenchElement *o)
{
  const NaclipParams *p = &o->params;
  g_autoptr (GString) classes = g_string_new (NULL);
  g_autoptr (GString) dilations = g_string_new (NULL);
  char buf[G_ASCII_DTOSTR_BUF_SIZE];

  for (guint c = 0; c < o->n_classes; c++)
    g_string_append_printf (classes, "%sclass %u", c > 0 ? "," : "", c + 1);
  for (guint i = 0; i < p->n_pamr_dilations; i++)
    g_string_append_printf (
        dilations, "%s%u", i > 0 ? "," : "", p->pamr_dilations[i]);
  gst_util_set_object_arg (G_OBJECT (seg), "model-file", o->model);
  gst_util_set_object_arg (G_OBJECT (seg), "classes", classes->str);
  if (o->templates != NULL)
    gst_util_set_object_arg (G_OBJECT (seg), "templates", o->templates);
  gst_util_set_object_arg (G_OBJECT (seg), "async", "sync");
  gst_util_set_object_arg (G_OBJECT (seg), "output", "overlay");
  g_object_set (seg, "inference-size", p->inference_size, "slide-crop",
      p->slide_crop, "slide-stride", p->slide_stride, "pamr-steps",
      p->pamr_steps, "threads", p->threads, NULL);
  gst_util_set_object_arg (
      G_OBJECT (seg), "attention", naclip_attention_to_string (p->attention));
  gst_util_set_object_arg (
      G_OBJECT (seg), "arch", naclip_arch_to_string (p->arch));
  gst_util_set_object_arg (
      G_OBJECT (seg), "precision", naclip_precision_to_string (p->precision));
  gst_util_set_object_arg (G_OBJECT (seg), "pamr-dilations", dilations->str);
  gst_util_set_object_arg (G_OBJECT (seg), "gaussian-std",
      g_ascii_dtostr (buf, sizeof (buf), p->gaussian_std));
  gst_util_set_object_arg (G_OBJECT (seg), "logit-scale",
      g_ascii_dtostr (buf, sizeof (buf), p->logit_scale));
  gst_util_set_object_arg (G_OBJECT (seg), "class-confidence-threshold",
      g_ascii_dtostr (buf, sizeof (buf), p->class_confidence_threshold));
}

/* Runs the pipeline to its end, reading the element's messages. */
static gboolean
run_pipeline (GstElement *pipeline, Timing *t, GError **error)
{
  g_autoptr (GstBus) bus = gst_element_get_bus (pipeline);
  gboolean ok = FALSE;

  if (gst_element_set_state (pipeline, GST_STATE_PLAYING)
      == GST_STATE_CHANGE_FAILURE) {
    g_autoptr (GstMessage) msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
    g_autoptr (GError) gst_error = NULL;
    if (msg != NULL)
      gst_message_parse_error (msg, &gst_error, NULL);
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_IO,
        "the pipeline does not start: %s",
        gst_error != NULL ? gst_error->message : "no error message");
    return FALSE;
  }
  for (;;) {
    g_autoptr (GstMessage) msg
        = gst_bus_timed_pop_filtered (bus, GST_CLOCK_TIME_NONE,
            GST_MESSAGE_EOS | GST_MESSAGE_ERROR | GST_MESSAGE_ELEMENT);
    if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_EOS) {
      ok = TRUE;
      break;
    }
    if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
      g_autoptr (GError) gst_error = NULL;
      g_autofree char *debug = NULL;
      gst_message_parse_error (msg, &gst_error, &debug);
      g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_IO, "%s (%s)",
          gst_error->message, debug != NULL ? debug : "");
      break;
    }
    if (gst_message_has_name (msg, "naclipseg"))
      read_stage_times (t, gst_message_get_structure (msg));
  }
  gst_element_set_state (pipeline, GST_STATE_NULL);
  return ok;
}

int
naclip_bench_element (const NaclipBenchElement *o)
{
  g_autofree char *plugin_dir = NULL;
  g_autofree char *description = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GstElement) pipeline = NULL;
  g_autoptr (GstElement) seg = NULL;
  g_autoptr (GstPad) sink = NULL, src = NULL;
  Timing t = { 0 };
  guint n_frames = WARM_UP + o->repeat;
  int status = 1;

  t.frame_ms = g_array_new (FALSE, FALSE, sizeof (double));
  t.stage_ms = g_array_new (FALSE, FALSE, sizeof (double));
  plugin_dir = naclip_plugin_dir_setup ();
  if (!gst_init_check (NULL, NULL, &error)
      || !naclip_plugin_dir_check (plugin_dir, &error))
    goto out;
  description = g_strdup_printf (
      "videotestsrc num-buffers=%u ! video/x-raw,format=%s,width=%u,"
      "height=%u ! naclipseg name=seg ! fakesink sync=false",
      n_frames, o->format, o->width, o->height);
  pipeline = gst_parse_launch (description, &error);
  if (pipeline == NULL)
    goto out;
  seg = gst_bin_get_by_name (GST_BIN (pipeline), "seg");
  set_properties (seg, o);
  sink = gst_element_get_static_pad (seg, "sink");
  src = gst_element_get_static_pad (seg, "src");
  gst_pad_add_probe (sink, GST_PAD_PROBE_TYPE_BUFFER, on_enter, &t, NULL);
  gst_pad_add_probe (src, GST_PAD_PROBE_TYPE_BUFFER, on_leave, &t, NULL);

  printf ("# element: videotestsrc %ux%u %s ! naclipseg (inference-size %u, "
          "%s, %u classes, PAMR %u steps, output overlay, sync) ! fakesink; "
          "precision %s, %u threads, median of %u frames after %u\n",
      o->width, o->height, o->format, o->params.inference_size,
      o->params.slide_crop == 0 ? "whole" : "slide", o->n_classes,
      o->params.pamr_steps, naclip_precision_to_string (o->params.precision),
      o->params.threads, o->repeat, WARM_UP);
  if (!run_pipeline (pipeline, &t, &error))
    goto out;
  if (t.frame_ms->len != n_frames || t.n_messages != n_frames) {
    g_set_error (&error, NACLIP_ERROR, NACLIP_ERROR_IO,
        "%u frames left the element and %" G_GUINT64_FORMAT
        " were segmented, expected %u of each",
        t.frame_ms->len, t.n_messages, n_frames);
    goto out;
  }

  double encoder = 0.0;
  for (gsize i = 0; i < N_STAGES; i++) {
    double ms = median_of (
        (const double *)t.stage_ms->data + i, n_frames, N_STAGES, WARM_UP);
    printf ("%s %.3f\n", stage_names[i], ms);
    if (strcmp (stage_names[i], "encoder") == 0)
      encoder = ms;
  }
  double frame
      = median_of ((const double *)t.frame_ms->data, n_frames, 1, WARM_UP);
  printf ("frame %.3f\n", frame);
  printf ("frame_over_encoder %.3f\n", encoder > 0.0 ? frame / encoder : 0.0);
  printf ("fps %.2f\n", frame > 0.0 ? 1000.0 / frame : 0.0);
  status = 0;

out:
  if (error != NULL)
    fprintf (stderr, "naclip bench: %s\n", error->message);
  g_array_unref (t.frame_ms);
  g_array_unref (t.stage_ms);
  return status;
}
