/* annotate-labels.c: the label-map outputs of naclip annotate (see
 * annotate-labels.h).
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Label frames come from a GstVideoBufferPool sized for the current caps,
 * so frames are not allocated one by one; the appsrc queue holds at most
 * MAX_QUEUED of them and blocks the streaming thread beyond, which keeps
 * memory flat when the encoder is slower than the element. The appsrc is
 * driven through its action signals (no gstreamer-app dependency, as in
 * image-io.c).
 */

#include "config.h"

#include <string.h>

#include <gst/video/video.h>

#include "annotate-job.h"
#include "annotate-labels.h"
#include "naclipmeta.h"

#define MAX_QUEUED 4

struct _NaclipLabelSink
{
  GstElement *src; /* appsrc, owned by the pipeline */
  GstBufferPool *pool;
  GstVideoInfo info; /* GRAY8 at the frame size */
  gboolean have_info;
};

gboolean
naclip_labels_format_from_string (const char *text, NaclipLabelsFormat *format)
{
  if (strcmp (text, "none") == 0)
    *format = NACLIP_LABELS_NONE;
  else if (strcmp (text, "png") == 0)
    *format = NACLIP_LABELS_PNG;
  else if (strcmp (text, "mov") == 0)
    *format = NACLIP_LABELS_MOV;
  else
    return FALSE;
  return TRUE;
}

NaclipLabelSink *
naclip_label_sink_new (GstBin *pipeline, NaclipLabelsFormat format,
    const char *path, GError **error)
{
  const char *names[] = { "appsrc", "pngenc", NULL, NULL };
  const char *roles[] = { "labels-source", "labels-encoder", NULL, NULL };
  GstElement *chain[4] = { NULL };
  NaclipLabelSink *sink;
  guint n = 2;

  g_return_val_if_fail (format != NACLIP_LABELS_NONE, NULL);
  if (format == NACLIP_LABELS_PNG) {
    names[n] = "multifilesink";
    roles[n++] = "labels-sink";
  } else {
    names[n] = "qtmux";
    roles[n++] = "labels-muxer";
    names[n] = "filesink";
    roles[n++] = "labels-sink";
  }
  /* What is added belongs to @pipeline, also on a failure. */
  for (guint i = 0; i < n; i++) {
    chain[i] = naclip_annotate_make_element (names[i], roles[i], error);
    if (chain[i] == NULL)
      return NULL;
    gst_bin_add (pipeline, chain[i]);
    if (i > 0 && !gst_element_link (chain[i - 1], chain[i])) {
      g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_IO, "cannot link %s to %s",
          roles[i - 1], roles[i]);
      return NULL;
    }
  }
  if (format == NACLIP_LABELS_PNG) {
    g_autofree char *pattern = g_build_filename (path, "%06d.png", NULL);
    g_object_set (chain[n - 1], "location", pattern, NULL);
  } else {
    g_object_set (chain[n - 1], "location", path, NULL);
  }
  naclip_annotate_set_sink (chain[n - 1]);
  g_object_set (chain[0], "format", GST_FORMAT_TIME, "block", TRUE,
      "max-buffers", (guint64)MAX_QUEUED, NULL);

  sink = g_new0 (NaclipLabelSink, 1);
  sink->src = chain[0];
  return sink;
}

void
naclip_label_sink_set_caps (NaclipLabelSink *sink, GstCaps *caps)
{
  GstVideoInfo in;
  g_autoptr (GstCaps) out = NULL;
  GstStructure *config;

  if (!gst_video_info_from_caps (&in, caps))
    return;
  gst_video_info_set_format (&sink->info, GST_VIDEO_FORMAT_GRAY8,
      GST_VIDEO_INFO_WIDTH (&in), GST_VIDEO_INFO_HEIGHT (&in));
  sink->info.fps_n = in.fps_n;
  sink->info.fps_d = in.fps_d;
  sink->info.par_n = in.par_n;
  sink->info.par_d = in.par_d;
  out = gst_video_info_to_caps (&sink->info);
  g_object_set (sink->src, "caps", out, NULL);

  if (sink->pool != NULL) {
    gst_buffer_pool_set_active (sink->pool, FALSE);
    gst_object_unref (sink->pool);
  }
  sink->pool = gst_video_buffer_pool_new ();
  config = gst_buffer_pool_get_config (sink->pool);
  gst_buffer_pool_config_set_params (
      config, out, (guint)GST_VIDEO_INFO_SIZE (&sink->info), 2, 0);
  sink->have_info = gst_buffer_pool_set_config (sink->pool, config)
                    && gst_buffer_pool_set_active (sink->pool, TRUE);
}

/* Writes the labels of @meta (or zeros without one) into @frame. */
static void
fill_labels (GstVideoFrame *frame, const GstNaclipSegMeta *meta)
{
  guint w = GST_VIDEO_FRAME_WIDTH (frame), h = GST_VIDEO_FRAME_HEIGHT (frame);
  guint8 *data = GST_VIDEO_FRAME_PLANE_DATA (frame, 0);
  gint stride = GST_VIDEO_FRAME_PLANE_STRIDE (frame, 0);

  for (guint y = 0; y < h; y++) {
    guint8 *row = data + (gsize)y * stride;
    if (meta == NULL) {
      memset (row, 0, w);
      continue;
    }
    for (guint x = 0; x < w; x++)
      row[x] = gst_naclip_seg_meta_get_label (meta, x, y, w, h);
  }
}

gboolean
naclip_label_sink_push (NaclipLabelSink *sink, GstBuffer *frame)
{
  GstBuffer *buffer = NULL;
  GstVideoFrame vframe;
  GstFlowReturn flow = GST_FLOW_OK;

  if (!sink->have_info
      || gst_buffer_pool_acquire_buffer (sink->pool, &buffer, NULL)
             != GST_FLOW_OK)
    return FALSE;
  if (!gst_video_frame_map (&vframe, &sink->info, buffer, GST_MAP_WRITE)) {
    gst_buffer_unref (buffer);
    return FALSE;
  }
  fill_labels (&vframe, gst_buffer_get_naclip_seg_meta (frame));
  gst_video_frame_unmap (&vframe);
  GST_BUFFER_PTS (buffer) = GST_BUFFER_PTS (frame);
  GST_BUFFER_DTS (buffer) = GST_BUFFER_PTS (frame);
  GST_BUFFER_DURATION (buffer) = GST_BUFFER_DURATION (frame);
  g_signal_emit_by_name (sink->src, "push-buffer", buffer, &flow);
  gst_buffer_unref (buffer);
  return flow == GST_FLOW_OK;
}

void
naclip_label_sink_end (NaclipLabelSink *sink)
{
  GstFlowReturn flow;

  g_signal_emit_by_name (sink->src, "end-of-stream", &flow);
}

void
naclip_label_sink_free (NaclipLabelSink *sink)
{
  if (sink == NULL)
    return;
  if (sink->pool != NULL) {
    gst_buffer_pool_set_active (sink->pool, FALSE);
    gst_object_unref (sink->pool);
  }
  g_free (sink);
}
