/* annotate-job.c: one video file through naclip annotate's pipeline (see
 * annotate-job.h).
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The main thread starts the pipeline and polls its bus every
 * POLL_INTERVAL for the end, errors and warnings, advancing the progress
 * bar from the count of frames that the probe on naclipseg's source pad
 * keeps. The probe runs on the streaming thread: it writes the statistics
 * rows and pushes the label frames. Errors name the input; those raised
 * inside the decoding part (filesrc, decodebin and its children) read
 * "cannot decode".
 */

#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <glib/gstdio.h>
#include <gst/video/video.h>

#include "annotate-job.h"
#include "batch-inputs.h"
#include "progress.h"

#define POLL_INTERVAL (100 * GST_MSECOND)

/* Packages of Debian 12 that hold the elements the outputs use. */
static const struct
{
  const char *factory;
  const char *package;
} element_packages[] = {
  { "x264enc", "gstreamer1.0-plugins-ugly" },
  { "mp4mux", "gstreamer1.0-plugins-good" },
  { "qtmux", "gstreamer1.0-plugins-good" },
  { "pngenc", "gstreamer1.0-plugins-good" },
  { "multifilesink", "gstreamer1.0-plugins-good" },
};

typedef struct
{
  const char *input;
  GstElement *pipeline;
  GstElement *decoder; /* decodebin */
  GstElement *convert; /* decodebin's video pad is linked to it */
  GstElement *seg;
  NaclipStatsWriter *stats; /* streaming thread */
  const char *stats_path;   /* its file */
  NaclipLabelSink *labels;  /* streaming thread */
  GstSegment segment;       /* of naclipseg's output */
  gint frames;              /* atomic: frames out of naclipseg */
  guint64 rows;
  gboolean stats_error_posted;
} Job;

void
naclip_annotate_set_sink (GstElement *sink)
{
  g_object_set (sink, "sync", FALSE, "async", FALSE, NULL);
}

GstElement *
naclip_annotate_make_element (
    const char *factory, const char *name, GError **error)
{
  GstElement *element = gst_element_factory_make (factory, name);

  if (element == NULL) {
    const char *package = "gstreamer1.0-plugins-base";
    for (gsize i = 0; i < G_N_ELEMENTS (element_packages); i++) {
      if (strcmp (element_packages[i].factory, factory) == 0)
        package = element_packages[i].package;
    }
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_IO,
        "the GStreamer element %s (%s) is missing; it is in the Debian "
        "package %s",
        factory, name, package);
  }
  return element;
}

void
naclip_annotate_paths_init (NaclipAnnotatePaths *paths, const char *dir,
    const char *input, const NaclipAnnotateOutputs *outputs)
{
  memset (paths, 0, sizeof (*paths));
  if (outputs->overlay)
    paths->overlay = naclip_batch_output (dir, input, "-overlay.mp4");
  if (outputs->labels == NACLIP_LABELS_PNG)
    paths->labels = naclip_batch_output (dir, input, "-labels");
  else if (outputs->labels == NACLIP_LABELS_MOV)
    paths->labels = naclip_batch_output (dir, input, "-labels.mov");
  if (outputs->stats != NACLIP_STATS_NONE) {
    g_autofree char *suffix = g_strconcat (
        "-stats", naclip_stats_format_extension (outputs->stats), NULL);
    paths->stats = naclip_batch_output (dir, input, suffix);
  }
}

void
naclip_annotate_paths_clear (NaclipAnnotatePaths *paths)
{
  g_clear_pointer (&paths->overlay, g_free);
  g_clear_pointer (&paths->labels, g_free);
  g_clear_pointer (&paths->stats, g_free);
}

gboolean
naclip_annotate_paths_exist (const NaclipAnnotatePaths *paths)
{
  const char *all[] = { paths->overlay, paths->labels, paths->stats };

  for (gsize i = 0; i < G_N_ELEMENTS (all); i++) {
    if (all[i] != NULL && !g_file_test (all[i], G_FILE_TEST_EXISTS))
      return FALSE;
  }
  return TRUE;
}

/* ------------------------------------------------------------------ */
/* Streaming thread                                                    */

/* Ends the run with an error once the statistics cannot be written. */
static void
post_stats_error (Job *job, int err)
{
  g_autoptr (GError) error = NULL;

  if (job->stats_error_posted)
    return;
  job->stats_error_posted = TRUE;
  g_set_error (&error, NACLIP_ERROR, NACLIP_ERROR_IO, "%s: cannot write: %s",
      job->stats_path, g_strerror (err));
  gst_element_post_message (job->pipeline,
      gst_message_new_error (GST_OBJECT (job->pipeline), error, NULL));
}

static GstPadProbeReturn
on_seg_output (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  Job *job = data;

  if (info->type & GST_PAD_PROBE_TYPE_BUFFER) {
    GstBuffer *buffer = GST_PAD_PROBE_INFO_BUFFER (info);
    guint frame = (guint)g_atomic_int_add (&job->frames, 1);
    if (job->stats != NULL) {
      GstClockTime time = gst_segment_to_stream_time (
          &job->segment, GST_FORMAT_TIME, GST_BUFFER_PTS (buffer));
      job->rows += naclip_stats_writer_add (job->stats, frame, time, buffer);
      if (naclip_stats_writer_get_errno (job->stats) != 0)
        post_stats_error (job, naclip_stats_writer_get_errno (job->stats));
    }
    if (job->labels != NULL)
      naclip_label_sink_push (job->labels, buffer);
    return GST_PAD_PROBE_OK;
  }
  if (info->type & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM) {
    GstEvent *event = GST_PAD_PROBE_INFO_EVENT (info);
    switch (GST_EVENT_TYPE (event)) {
      case GST_EVENT_CAPS:
        if (job->labels != NULL) {
          GstCaps *caps;
          gst_event_parse_caps (event, &caps);
          naclip_label_sink_set_caps (job->labels, caps);
        }
        break;
      case GST_EVENT_SEGMENT:
        gst_event_copy_segment (event, &job->segment);
        break;
      case GST_EVENT_EOS:
        if (job->labels != NULL)
          naclip_label_sink_end (job->labels);
        break;
      default:
        break;
    }
  }
  (void)pad;
  return GST_PAD_PROBE_OK;
}

/* decodebin's first video pad goes to the converter; others (audio,
 * further video streams) stay unlinked. */
static void
on_pad_added (GstElement *decoder, GstPad *pad, gpointer data)
{
  Job *job = data;
  g_autoptr (GstCaps) caps = gst_pad_get_current_caps (pad);
  g_autoptr (GstPad) sinkpad
      = gst_element_get_static_pad (job->convert, "sink");

  if (caps == NULL)
    caps = gst_pad_query_caps (pad, NULL);
  if (gst_caps_is_empty (caps)
      || !g_str_has_prefix (
          gst_structure_get_name (gst_caps_get_structure (caps, 0)), "video/")
      || gst_pad_is_linked (sinkpad))
    return;
  if (gst_pad_link (pad, sinkpad) != GST_PAD_LINK_OK)
    GST_ELEMENT_ERROR (decoder, CORE, NEGOTIATION,
        ("cannot link the video stream to the converter"), (NULL));
}

static void
on_no_more_pads (GstElement *decoder, gpointer data)
{
  Job *job = data;
  g_autoptr (GstPad) sinkpad
      = gst_element_get_static_pad (job->convert, "sink");

  if (!gst_pad_is_linked (sinkpad))
    GST_ELEMENT_ERROR (
        decoder, STREAM, WRONG_TYPE, ("no video stream in the file"), (NULL));
}

/* ------------------------------------------------------------------ */
/* Building                                                            */

/* Adds @factory named @name to the pipeline and links it after @prev (if
 * not NULL). */
static GstElement *
add (Job *job, const char *factory, const char *name, GstElement *prev,
    GError **error)
{
  GstElement *element = naclip_annotate_make_element (factory, name, error);

  if (element == NULL)
    return NULL;
  gst_bin_add (GST_BIN (job->pipeline), element);
  if (prev != NULL && !gst_element_link (prev, element)) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_IO, "cannot link %s to %s",
        GST_OBJECT_NAME (prev), name);
    return NULL;
  }
  return element;
}

static gboolean
build (Job *job, GstElement *seg, const NaclipAnnotateOutputs *outputs,
    const char *overlay_tmp, const char *labels_tmp, GError **error)
{
  GstElement *src, *e;
  g_autoptr (GstPad) srcpad = NULL;

  job->pipeline = gst_pipeline_new ("naclip-annotate");
  if ((src = add (job, "filesrc", "source", NULL, error)) == NULL
      || (job->decoder = add (job, "decodebin", "decoder", src, error)) == NULL
      || (job->convert = add (job, "videoconvert", "converter", NULL, error))
             == NULL)
    return FALSE;
  g_object_set (src, "location", job->input, NULL);
  g_signal_connect (job->decoder, "pad-added", G_CALLBACK (on_pad_added), job);
  g_signal_connect (
      job->decoder, "no-more-pads", G_CALLBACK (on_no_more_pads), job);
  job->seg = seg;
  gst_bin_add (GST_BIN (job->pipeline), seg);
  if (!gst_element_link (job->convert, seg)) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_IO,
        "cannot link the converter to naclipseg");
    return FALSE;
  }

  if (outputs->overlay) {
    g_autoptr (GstCaps) i420 = gst_caps_from_string ("video/x-raw,format=I420");
    if ((e = add (job, "videoconvert", "overlay-converter", seg, error)) == NULL
        || (e = add (job, "capsfilter", "overlay-format", e, error)) == NULL)
      return FALSE;
    g_object_set (e, "caps", i420, NULL);
    if ((e = add (job, "x264enc", "overlay-encoder", e, error)) == NULL)
      return FALSE;
    g_object_set (e, "threads", outputs->encoder_threads, NULL);
    if ((e = add (job, "mp4mux", "overlay-muxer", e, error)) == NULL
        || (e = add (job, "filesink", "overlay-sink", e, error)) == NULL)
      return FALSE;
    g_object_set (e, "location", overlay_tmp, NULL);
  } else if ((e = add (job, "fakesink", "discard", seg, error)) == NULL) {
    return FALSE;
  }
  naclip_annotate_set_sink (e);

  if (outputs->labels != NACLIP_LABELS_NONE) {
    job->labels = naclip_label_sink_new (
        GST_BIN (job->pipeline), outputs->labels, labels_tmp, error);
    if (job->labels == NULL)
      return FALSE;
  }
  gst_segment_init (&job->segment, GST_FORMAT_TIME);
  srcpad = gst_element_get_static_pad (seg, "src");
  gst_pad_add_probe (srcpad,
      GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM,
      on_seg_output, job, NULL);
  return TRUE;
}

/* ------------------------------------------------------------------ */
/* Running                                                             */

/* The frames the stream should have, from its duration and frame rate;
 * 0 while unknown. */
static guint
estimate_frames (Job *job)
{
  gint64 duration = -1;
  g_autoptr (GstPad) pad = gst_element_get_static_pad (job->seg, "src");
  g_autoptr (GstCaps) caps = gst_pad_get_current_caps (pad);
  GstVideoInfo info;

  if (caps == NULL || !gst_video_info_from_caps (&info, caps) || info.fps_n <= 0
      || info.fps_d <= 0
      || !gst_element_query_duration (job->pipeline, GST_FORMAT_TIME, &duration)
      || duration <= 0)
    return 0;
  return (guint)MIN (gst_util_uint64_scale_round ((guint64)duration,
                         (guint64)info.fps_n, (guint64)info.fps_d * GST_SECOND),
      G_MAXUINT);
}

/* Sets @error from an ERROR message of the pipeline. */
static void
error_from_message (Job *job, GstMessage *msg, GError **error)
{
  g_autoptr (GError) gst_error = NULL;
  g_autofree char *debug = NULL;
  GstObject *origin = GST_MESSAGE_SRC (msg);

  gst_message_parse_error (msg, &gst_error, &debug);
  if (origin == GST_OBJECT (job->pipeline))
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_IO, "%s: %s", job->input,
        gst_error->message);
  else if (gst_object_has_as_ancestor (origin, GST_OBJECT (job->decoder))
           || strcmp (GST_OBJECT_NAME (origin), "source") == 0) {
    const char *missing
        = debug != NULL ? strstr (debug, "Missing decoder: ") : NULL;
    int len = missing != NULL ? (int)strcspn (missing, "\n(") : 0;
    while (len > 0 && missing[len - 1] == ' ')
      len--;
    if (missing != NULL)
      g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_IO,
          "%s: cannot decode: %s (%.*s; H.264 and H.265 need the Debian "
          "package gstreamer1.0-libav)",
          job->input, gst_error->message, len, missing);
    else
      g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_IO,
          "%s: cannot decode: %s", job->input, gst_error->message);
  } else
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_IO, "%s: %s: %s", job->input,
        GST_OBJECT_NAME (origin), gst_error->message);
}

/* Plays the pipeline to its end. */
static gboolean
play (Job *job, const char *label, NaclipAnnotateReport *report, GError **error)
{
  g_autoptr (GstBus) bus = gst_element_get_bus (job->pipeline);
  NaclipProgress *progress = naclip_progress_new (stderr, 0, "frame");
  gboolean ok = FALSE, estimated = FALSE;
  guint total = 0;

  if (gst_element_set_state (job->pipeline, GST_STATE_PLAYING)
      == GST_STATE_CHANGE_FAILURE) {
    g_autoptr (GstMessage) msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
    if (msg != NULL)
      error_from_message (job, msg, error);
    else
      g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_IO,
          "%s: the pipeline does not start", job->input);
    goto out;
  }
  for (;;) {
    g_autoptr (GstMessage) msg = gst_bus_timed_pop_filtered (bus, POLL_INTERVAL,
        GST_MESSAGE_EOS | GST_MESSAGE_ERROR | GST_MESSAGE_WARNING);
    guint frames = (guint)g_atomic_int_get (&job->frames);

    if (!estimated) {
      total = estimate_frames (job);
      estimated = total > 0;
      naclip_progress_set_total (progress, total);
    } else if (total > 0 && frames > total) {
      /* The estimate was short (variable frame rate): no ETA any more. */
      total = 0;
      naclip_progress_set_total (progress, 0);
    }
    if (msg != NULL && GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
      error_from_message (job, msg, error);
      break;
    }
    if (msg != NULL && GST_MESSAGE_TYPE (msg) == GST_MESSAGE_WARNING) {
      g_autoptr (GError) warning = NULL;
      gst_message_parse_warning (msg, &warning, NULL);
      fprintf (stderr, "naclip annotate: %s: warning: %s\n", job->input,
          warning->message);
    }
    if (msg != NULL && GST_MESSAGE_TYPE (msg) == GST_MESSAGE_EOS) {
      naclip_progress_set_total (progress, frames);
      naclip_progress_update (progress, frames, label);
      ok = TRUE;
      break;
    }
    naclip_progress_tick (progress, frames, label);
  }
  report->seconds = naclip_progress_elapsed (progress);
out:
  gst_element_set_state (job->pipeline, GST_STATE_NULL);
  naclip_progress_free (progress);
  report->frames = (guint)g_atomic_int_get (&job->frames);
  report->rows = job->rows;
  if (ok && report->frames == 0) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_IO,
        "%s: no video frame in the file", job->input);
    ok = FALSE;
  }
  return ok;
}

/* ------------------------------------------------------------------ */
/* Outputs                                                             */

/* Removes the directory @path and the files in it; with @frames_only,
 * only the files of a PNG sequence (six or more digits, .png), failing if
 * others remain. */
static gboolean
remove_dir (const char *path, gboolean frames_only, GError **error)
{
  GDir *dir = g_dir_open (path, 0, NULL);
  const char *name;

  if (dir != NULL) {
    while ((name = g_dir_read_name (dir)) != NULL) {
      g_autofree char *file = g_build_filename (path, name, NULL);
      gsize len = strlen (name);
      if (frames_only
          && !(len >= 10 && g_str_has_suffix (name, ".png")
               && strspn (name, "0123456789") == len - 4))
        continue;
      g_unlink (file);
    }
    g_dir_close (dir);
  }
  if (g_rmdir (path) != 0) {
    int err = errno;
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_IO,
        "%s: cannot replace the directory: %s", path,
        err == ENOTEMPTY || err == EEXIST
            ? "it holds files naclip annotate did not write"
            : g_strerror (err));
    return FALSE;
  }
  return TRUE;
}

/* Moves @tmp to @final, replacing an earlier output. */
static gboolean
commit (const char *tmp, const char *final, gboolean is_dir, GError **error)
{
  if (is_dir && g_file_test (final, G_FILE_TEST_IS_DIR)
      && !remove_dir (final, TRUE, error))
    return FALSE;
  if (g_rename (tmp, final) != 0) {
    int err = errno;
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_IO,
        "%s: cannot rename to %s: %s", tmp, final, g_strerror (err));
    return FALSE;
  }
  return TRUE;
}

gboolean
naclip_annotate_run (const char *input, GstElement *seg,
    const NaclipAnnotateOutputs *outputs, const NaclipAnnotatePaths *paths,
    const char *label, NaclipAnnotateReport *report, GError **error)
{
  Job job = { 0 };
  g_autofree char *overlay_tmp = NULL;
  g_autofree char *labels_tmp = NULL;
  g_autofree char *stats_tmp = NULL;
  gboolean labels_dir = outputs->labels == NACLIP_LABELS_PNG;
  gboolean ok = FALSE;

  g_return_val_if_fail (input != NULL && GST_IS_ELEMENT (seg), FALSE);
  memset (report, 0, sizeof (*report));
  job.input = input;
  gst_object_ref_sink (seg);
  if (paths->overlay != NULL)
    overlay_tmp = g_strconcat (paths->overlay, ".part", NULL);
  if (paths->stats != NULL)
    stats_tmp = g_strconcat (paths->stats, ".part", NULL);
  if (labels_dir) {
    labels_tmp = g_strconcat (paths->labels, ".part-XXXXXX", NULL);
    if (g_mkdtemp_full (labels_tmp, 0755) == NULL) {
      int err = errno;
      g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_IO,
          "%s: cannot create: %s", labels_tmp, g_strerror (err));
      g_clear_pointer (&labels_tmp, g_free);
      goto out;
    }
  } else if (paths->labels != NULL) {
    labels_tmp = g_strconcat (paths->labels, ".part", NULL);
  }
  if (stats_tmp != NULL) {
    job.stats = naclip_stats_writer_new (stats_tmp, outputs->stats, error);
    job.stats_path = stats_tmp;
    if (job.stats == NULL)
      goto out;
  }
  if (!build (&job, seg, outputs, overlay_tmp, labels_tmp, error)
      || !play (&job, label, report, error))
    goto out;
  ok = naclip_stats_writer_close (g_steal_pointer (&job.stats), error)
       && (stats_tmp == NULL || commit (stats_tmp, paths->stats, FALSE, error))
       && (labels_tmp == NULL
           || commit (labels_tmp, paths->labels, labels_dir, error))
       && (overlay_tmp == NULL
           || commit (overlay_tmp, paths->overlay, FALSE, error));

out:
  if (job.pipeline != NULL) {
    gst_element_set_state (job.pipeline, GST_STATE_NULL);
    gst_object_unref (job.pipeline);
  }
  naclip_label_sink_free (job.labels);
  naclip_stats_writer_close (job.stats, NULL);
  gst_object_unref (seg);
  if (!ok) {
    const char *files[]
        = { overlay_tmp, stats_tmp, labels_dir ? NULL : labels_tmp };
    for (gsize i = 0; i < G_N_ELEMENTS (files); i++) {
      if (files[i] != NULL)
        g_unlink (files[i]);
    }
    if (labels_dir && labels_tmp != NULL)
      remove_dir (labels_tmp, FALSE, NULL);
  }
  return ok;
}
