/* image-io.c: decoding images and writing colour PNGs through GStreamer.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Two short pipelines (see image-io.h). The appsink and appsrc are driven
 * through their action signals, so the tool needs gstreamer-video only
 * (no gstreamer-app). Errors posted on the bus become GErrors naming the
 * file; decoding polls the bus between short sample waits so that a
 * failing decoder cannot leave the tool waiting for a sample forever.
 */

#include "config.h"

#include <string.h>

#include <gst/gst.h>
#include <gst/video/video.h>

#include "image-io.h"

/* How long one wait for the decoded sample lasts before the bus is
 * checked again. */
#define SAMPLE_POLL_NS (100 * GST_MSECOND)

/* Sets @error from the first ERROR message on @pipeline's bus, or to
 * @fallback if there is none. */
static void
set_bus_error (GstElement *pipeline, const char *path, const char *fallback,
    GError **error)
{
  g_autoptr (GstBus) bus = gst_element_get_bus (pipeline);
  g_autoptr (GstMessage) msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  g_autoptr (GError) gst_error = NULL;
  g_autofree char *debug = NULL;

  if (msg == NULL) {
    g_set_error (
        error, NACLIP_ERROR, NACLIP_ERROR_IO, "%s: %s", path, fallback);
    return;
  }
  gst_message_parse_error (msg, &gst_error, &debug);
  g_set_error (
      error, NACLIP_ERROR, NACLIP_ERROR_IO, "%s: %s", path, gst_error->message);
}

/* Waits for the sample of @sink while watching the bus for errors and
 * end-of-stream. NULL with @error set on failure. */
static GstSample *
wait_for_sample (
    GstElement *pipeline, GstElement *sink, const char *path, GError **error)
{
  g_autoptr (GstBus) bus = gst_element_get_bus (pipeline);

  for (;;) {
    GstSample *sample = NULL;
    g_autoptr (GstMessage) msg = NULL;

    g_signal_emit_by_name (sink, "try-pull-sample", SAMPLE_POLL_NS, &sample);
    if (sample != NULL)
      return sample;
    msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR | GST_MESSAGE_EOS);
    if (msg != NULL && GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
      g_autoptr (GError) gst_error = NULL;
      g_autofree char *debug = NULL;
      gst_message_parse_error (msg, &gst_error, &debug);
      g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_IO,
          "%s: cannot decode: %s", path, gst_error->message);
      return NULL;
    }
    if (msg != NULL) {
      g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_IO,
          "%s: no image in the file", path);
      return NULL;
    }
  }
}

guint8 *
naclip_image_io_load_rgb (
    const char *path, guint *width, guint *height, GError **error)
{
  g_autoptr (GError) parse_error = NULL;
  GstElement *pipeline = NULL;
  g_autoptr (GstElement) src = NULL;
  g_autoptr (GstElement) sink = NULL;
  g_autoptr (GstSample) sample = NULL;
  GstVideoInfo info;
  GstVideoFrame frame;
  guint8 *rgb = NULL;

  g_return_val_if_fail (path != NULL && width != NULL && height != NULL, NULL);

  if (!g_file_test (path, G_FILE_TEST_IS_REGULAR)) {
    g_set_error (
        error, NACLIP_ERROR, NACLIP_ERROR_IO, "%s: no such file", path);
    return NULL;
  }
  pipeline = gst_parse_launch ("filesrc name=src ! decodebin ! videoconvert ! "
                               "video/x-raw,format=RGB ! "
                               "appsink name=sink sync=false max-buffers=1",
      &parse_error);
  if (pipeline == NULL) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_IO,
        "%s: cannot build the decoding pipeline: %s", path,
        parse_error->message);
    return NULL;
  }
  src = gst_bin_get_by_name (GST_BIN (pipeline), "src");
  sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
  g_object_set (src, "location", path, NULL);

  if (gst_element_set_state (pipeline, GST_STATE_PLAYING)
      == GST_STATE_CHANGE_FAILURE) {
    set_bus_error (pipeline, path, "cannot start decoding", error);
    goto out;
  }
  sample = wait_for_sample (pipeline, sink, path, error);
  if (sample == NULL)
    goto out;
  if (!gst_video_info_from_caps (&info, gst_sample_get_caps (sample))
      || !gst_video_frame_map (
          &frame, &info, gst_sample_get_buffer (sample), GST_MAP_READ)) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_IO,
        "%s: the decoder produced an unreadable frame", path);
    goto out;
  }
  rgb = g_try_malloc ((gsize)info.width * info.height * 3);
  if (rgb == NULL) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_NO_MEMORY,
        "%s: cannot allocate a %dx%d image", path, info.width, info.height);
  } else {
    for (int y = 0; y < info.height; y++) {
      memcpy (rgb + (gsize)y * info.width * 3,
          (const guint8 *)GST_VIDEO_FRAME_PLANE_DATA (&frame, 0)
              + (gsize)y * GST_VIDEO_FRAME_PLANE_STRIDE (&frame, 0),
          (gsize)info.width * 3);
    }
    *width = (guint)info.width;
    *height = (guint)info.height;
  }
  gst_video_frame_unmap (&frame);

out:
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (pipeline);
  return rgb;
}

gboolean
naclip_image_io_save_png (const char *path, const guint8 *rgb, guint width,
    guint height, gsize stride, GError **error)
{
  g_autoptr (GError) parse_error = NULL;
  GstElement *pipeline = NULL;
  g_autoptr (GstElement) src = NULL;
  g_autoptr (GstElement) sink = NULL;
  g_autoptr (GstCaps) caps = NULL;
  g_autoptr (GstBus) bus = NULL;
  g_autoptr (GstMessage) msg = NULL;
  GstVideoInfo info;
  GstBuffer *buffer;
  GstMapInfo map;
  GstFlowReturn flow = GST_FLOW_OK;
  gboolean ok = FALSE;

  g_return_val_if_fail (path != NULL && rgb != NULL, FALSE);

  pipeline = gst_parse_launch ("appsrc name=src format=time ! videoconvert ! "
                               "pngenc ! filesink name=sink",
      &parse_error);
  if (pipeline == NULL) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_IO,
        "%s: cannot build the PNG pipeline: %s", path, parse_error->message);
    return FALSE;
  }
  src = gst_bin_get_by_name (GST_BIN (pipeline), "src");
  sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
  bus = gst_element_get_bus (pipeline);
  gst_video_info_set_format (&info, GST_VIDEO_FORMAT_RGB, width, height);
  info.fps_n = 0;
  info.fps_d = 1;
  caps = gst_video_info_to_caps (&info);
  g_object_set (src, "caps", caps, NULL);
  g_object_set (sink, "location", path, NULL);

  if (gst_element_set_state (pipeline, GST_STATE_PLAYING)
      == GST_STATE_CHANGE_FAILURE) {
    set_bus_error (pipeline, path, "cannot start writing", error);
    goto out;
  }
  buffer = gst_buffer_new_allocate (NULL, info.size, NULL);
  gst_buffer_map (buffer, &map, GST_MAP_WRITE);
  for (guint y = 0; y < height; y++) {
    memcpy (map.data + (gsize)y * info.stride[0], rgb + (gsize)y * stride,
        (gsize)width * 3);
  }
  gst_buffer_unmap (buffer, &map);
  GST_BUFFER_PTS (buffer) = 0;
  g_signal_emit_by_name (src, "push-buffer", buffer, &flow);
  gst_buffer_unref (buffer);
  g_signal_emit_by_name (src, "end-of-stream", &flow);

  msg = gst_bus_timed_pop_filtered (
      bus, GST_CLOCK_TIME_NONE, GST_MESSAGE_ERROR | GST_MESSAGE_EOS);
  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
    g_autoptr (GError) gst_error = NULL;
    g_autofree char *debug = NULL;
    gst_message_parse_error (msg, &gst_error, &debug);
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_IO, "%s: cannot write: %s",
        path, gst_error->message);
    goto out;
  }
  ok = TRUE;

out:
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (pipeline);
  return ok;
}
