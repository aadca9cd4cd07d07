/* gstnaclipseg.c: the naclipseg element.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A GstVideoFilter around the naclip library: it adds video concerns only
 * (formats, scheduling, threads, drawing, metadata), no algorithm. This
 * file is the element itself: the instance struct, the properties,
 * class_init/init/finalize, state changes, caps, the transform functions,
 * events and queries. Beside it, one file per job:
 *   gstnaclipsegenums.c      the GTypes of the enumerated properties
 *   gstnaclipsegclient.c     model sharing, class lists, frame to image,
 *                            segmentation (GstNaclipSegClient)
 *   gstnaclipsegscheduler.c  the worker thread, sync and async processing,
 *                            QoS, expiry, the per-stream reset, statistics
 *                            (GstNaclipSegScheduler)
 *   gstnaclipsegmessages.c   bus messages, NaclipError -> GStreamer error,
 *                            the metas
 *   gstnaclipsegdrawing.c    colours, the overlay, GRAY8 label frames
 *                            (GstNaclipSegDrawing)
 *
 * Threads and locks
 *   - Properties live under the object lock. The streaming thread (and the
 *     worker) snapshot what a frame needs (GstNaclipSegSnapshot) and release
 *     the lock before any inference; set_property never runs inference or
 *     text encoding.
 *   - The client, the scheduler and the drawing state each own their
 *     fields and document their lock domain: the scheduler's lock is taken
 *     after the object lock, never before, and nothing is posted on the
 *     bus while it is held; the client is used by one segmenting thread at
 *     a time; the drawing state by the streaming thread.
 *   - start() loads the model and starts the worker; stop() joins it and
 *     frees everything; PAUSED->READY first cancels what runs.
 *
 * Results
 *   Each inference yields a GstNaclipSegResult (naclipmeta.h) plus the
 *   statistics of each label, boxes included (GstNaclipSegPublished); frames
 *   that reuse it attach the same result with fresh = FALSE. A class-list
 *   change, caps change or flush drops the latest result so labels of two
 *   class sets are never mixed.
 *
 * Base class details
 *   transform_ip is overridden (instead of transform_frame_ip) so that
 *   output=passthrough maps frames read-only: GstVideoFilter would map them
 *   writable, which copies shared memory. transform_frame serves
 *   output=labels (GRAY8 out). GstVideoFilter's QoS is switched off: late
 *   frames are not dropped but reuse the last result (counted in
 *   frames-skipped), which keeps every frame of a recording.
 */

#include "config.h"

#include "gstnaclipseg.h"
#include "gstnaclipsegclient.h"
#include "gstnaclipsegdrawing.h"
#include "gstnaclipsegenums.h"
#include "gstnaclipsegmessages.h"
#include "gstnaclipsegscheduler.h"

#include <math.h>
#include <string.h>

#include <gst/video/video.h>

#include "naclip.h"
#include "naclipmeta.h"

GST_DEBUG_CATEGORY (gst_naclip_seg_debug);
#define GST_CAT_DEFAULT gst_naclip_seg_debug

/* ------------------------------------------------------------------ */
/* State                                                               */

struct _GstNaclipSeg
{
  GstVideoFilter parent;

  /* Properties (object lock). */
  char *model_file;
  gboolean check_weights;
  char *classes;
  char *classes_file;
  char *background_classes;
  char *templates;
  char *selected_classes;
  char *pamr_dilations;
  NaclipParams params;
  GstNaclipSegOutput output;
  GstNaclipSegOutputSize output_size;
  double alpha;
  guint inference_interval;
  GstClockTime expire_results;
  gboolean async;
  double temporal_smoothing;
  gboolean post_messages;

  /* Each with its own lock domain (see each file). */
  GstNaclipSegClient *client;       /* model, context, cancellation */
  GstNaclipSegScheduler *scheduler; /* worker, results, QoS, statistics */
  GstNaclipSegDrawing *drawing;     /* streaming thread */
};

enum
{
  PROP_0,
  PROP_MODEL_FILE,
  PROP_CHECK_WEIGHTS,
  PROP_CLASSES,
  PROP_CLASSES_FILE,
  PROP_BACKGROUND_CLASSES,
  PROP_TEMPLATES,
  PROP_CLASS_CONFIDENCE_THRESHOLD,
  PROP_INFERENCE_SIZE,
  PROP_SLIDE_CROP,
  PROP_SLIDE_STRIDE,
  PROP_ATTENTION,
  PROP_ARCH,
  PROP_GAUSSIAN_STD,
  PROP_LOGIT_SCALE,
  PROP_PAMR_STEPS,
  PROP_PAMR_DILATIONS,
  PROP_THREADS,
  PROP_PRECISION,
  PROP_OUTPUT,
  PROP_OUTPUT_SIZE,
  PROP_ALPHA,
  PROP_SELECTED_CLASSES,
  PROP_INFERENCE_INTERVAL,
  PROP_EXPIRE_RESULTS,
  PROP_ASYNC,
  PROP_TEMPORAL_SMOOTHING,
  PROP_POST_MESSAGES,
  PROP_FRAMES_PROCESSED,
  PROP_FRAMES_REUSED,
  PROP_FRAMES_SKIPPED,
  PROP_FRAMES_TOO_SMALL,
  PROP_CLASS_SET,
};

#define DEFAULT_OUTPUT GST_NACLIP_SEG_OUTPUT_OVERLAY
#define DEFAULT_OUTPUT_SIZE GST_NACLIP_SEG_OUTPUT_SIZE_PROCESSING
#define DEFAULT_ALPHA 0.5
#define DEFAULT_INFERENCE_INTERVAL 1
#define DEFAULT_EXPIRE_RESULTS 0
#define DEFAULT_ASYNC FALSE
#define DEFAULT_TEMPORAL_SMOOTHING 0.0
#define DEFAULT_POST_MESSAGES TRUE
#define DEFAULT_CHECK_WEIGHTS TRUE
/* Largest frame side accepted: keeps label maps and size math bounded. */

#define VIDEO_FORMATS                                                          \
  "{ RGB, BGR, RGBx, BGRx, xRGB, xBGR, RGBA, BGRA, ARGB, ABGR, I420, NV12 }"

static GstStaticPadTemplate sink_template
    = GST_STATIC_PAD_TEMPLATE ("sink", GST_PAD_SINK, GST_PAD_ALWAYS,
        GST_STATIC_CAPS (GST_VIDEO_CAPS_MAKE (VIDEO_FORMATS)));

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (
        GST_VIDEO_CAPS_MAKE (VIDEO_FORMATS) ";" GST_VIDEO_CAPS_MAKE ("GRAY8")));

#define gst_naclip_seg_parent_class parent_class
G_DEFINE_TYPE (GstNaclipSeg, gst_naclip_seg, GST_TYPE_VIDEO_FILTER);
GST_ELEMENT_REGISTER_DEFINE (
    naclipseg, "naclipseg", GST_RANK_NONE, GST_TYPE_NACLIP_SEG);

/* ------------------------------------------------------------------ */
/* Snapshots of the properties                                         */

/* Call with the object lock held. */
static GstNaclipSegClassJob *
snapshot_class_job (GstNaclipSeg *self)
{
  GstNaclipSegClassJob *job = g_new0 (GstNaclipSegClassJob, 1);

  job->classes = g_strdup (self->classes);
  job->classes_file = g_strdup (self->classes_file);
  job->background = g_strdup (self->background_classes);
  job->templates = g_strdup (self->templates);
  job->threads = self->params.threads;
  job->precision = self->params.precision;
  return job;
}

/* Refuses a property value: keeps the old one, logs and posts a warning. */
static void
refuse_property (GstNaclipSeg *self, const GParamSpec *pspec, const char *why)
{
  char *text = g_strdup_printf (
      "Property %s: %s; keeping the previous value", pspec->name, why);

  GST_WARNING_OBJECT (self, "%s", text);
  gst_element_message_full (GST_ELEMENT (self), GST_MESSAGE_WARNING,
      GST_LIBRARY_ERROR, GST_LIBRARY_ERROR_SETTINGS, text, NULL, __FILE__,
      GST_FUNCTION, __LINE__);
}

void
gst_naclip_seg_snapshot_properties (
    GstNaclipSeg *self, GstNaclipSegSnapshot *snap)
{
  GST_OBJECT_LOCK (self);
  snap->params = self->params;
  snap->output = self->output;
  snap->output_size = self->output_size;
  snap->alpha = (guint8)lround (self->alpha * 255.0);
  snap->inference_interval = self->inference_interval;
  snap->expire_results = self->expire_results;
  snap->temporal_smoothing = self->temporal_smoothing;
  snap->post_messages = self->post_messages;
  snap->selected_classes = g_strdup (self->selected_classes);
  GST_OBJECT_UNLOCK (self);
}

/* Hands a class change to the worker, if running. Object lock held. */
static void
queue_class_job (GstNaclipSeg *self)
{
  gst_naclip_seg_scheduler_queue_class_job (
      self->scheduler, snapshot_class_job (self));
}

/* ------------------------------------------------------------------ */
/* start / stop                                                        */

static gboolean
gst_naclip_seg_start (GstBaseTransform *trans)
{
  GstNaclipSeg *self = GST_NACLIP_SEG (trans);
  g_autofree char *path = NULL;
  g_autofree char *default_path = gst_naclip_seg_default_model_path ();
  GError *error = NULL;
  GstNaclipSegClassJob *job = NULL;
  NaclipQueries *queries = NULL;
  NaclipParams params;
  gboolean check_weights, async;

  GST_OBJECT_LOCK (self);
  path = gst_naclip_seg_resolve_model_path (self->model_file);
  check_weights = self->check_weights;
  async = self->async;
  params = self->params;
  job = snapshot_class_job (self);
  GST_OBJECT_UNLOCK (self);
  gst_naclip_seg_scheduler_prepare (self->scheduler, async);

  if (!g_file_test (path, G_FILE_TEST_EXISTS)) {
    GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND,
        ("No NACLIP model at \"%s\". Set the model-file property or "
         "$NACLIP_MODEL to a CLIP model directory (model.safetensors, "
         "config.json, merges.txt), or run naclip-download-model, which "
         "installs one in \"%s\".",
            path, default_path),
        ("model-file unset or missing; looked at %s", path));
    goto fail;
  }
  if (!gst_naclip_seg_client_load_model (
          self->client, path, check_weights, &error)) {
    g_autofree char *text = g_strdup_printf (
        "Could not load the NACLIP model \"%s\": %s. Get a model with "
        "naclip-download-model (installs in \"%s\") and point model-file "
        "or $NACLIP_MODEL at it.",
        path, error->message, default_path);
    gst_naclip_seg_post_error (
        GST_ELEMENT (self), GST_MESSAGE_ERROR, error, text);
    goto fail;
  }
  if (!gst_naclip_seg_client_new_context (self->client, &params, &error)) {
    gst_naclip_seg_post_error (GST_ELEMENT (self), GST_MESSAGE_ERROR, error,
        "Could not create the segmentation context");
    goto fail;
  }
  queries = gst_naclip_seg_client_encode_classes (self->client, job, &error);
  if (queries == NULL) {
    g_autofree char *text
        = g_strdup_printf ("Could not use the classes: %s", error->message);
    gst_naclip_seg_post_error (
        GST_ELEMENT (self), GST_MESSAGE_ERROR, error, text);
    goto fail;
  }
  gst_naclip_seg_class_job_free (job);
  gst_naclip_seg_scheduler_start (self->scheduler, queries);
  return TRUE;

fail:
  g_clear_error (&error);
  gst_naclip_seg_class_job_free (job);
  gst_naclip_seg_client_close (self->client);
  return FALSE;
}

static gboolean
gst_naclip_seg_stop (GstBaseTransform *trans)
{
  GstNaclipSeg *self = GST_NACLIP_SEG (trans);

  gst_naclip_seg_scheduler_stop (self->scheduler);
  gst_naclip_seg_client_close (self->client);
  gst_naclip_seg_drawing_reset (self->drawing);
  return TRUE;
}

/* ------------------------------------------------------------------ */
/* Caps                                                                */

static GstCaps *
gst_naclip_seg_transform_caps (GstBaseTransform *trans,
    GstPadDirection direction, GstCaps *caps, GstCaps *filter)
{
  GstNaclipSeg *self = GST_NACLIP_SEG (trans);
  gboolean labels;
  GstCaps *ret;

  GST_OBJECT_LOCK (self);
  labels = self->output == GST_NACLIP_SEG_OUTPUT_LABELS;
  GST_OBJECT_UNLOCK (self);

  if (!labels) {
    ret = gst_caps_ref (caps);
  } else {
    GstCaps *formats = gst_static_pad_template_get_caps (&sink_template);
    const GValue *sink_formats = gst_structure_get_value (
        gst_caps_get_structure (formats, 0), "format");

    ret = gst_caps_new_empty ();
    for (guint i = 0; i < gst_caps_get_size (caps); i++) {
      GstStructure *s = gst_structure_copy (gst_caps_get_structure (caps, i));
      GstCapsFeatures *f = gst_caps_get_features (caps, i);
      gst_structure_remove_fields (
          s, "format", "colorimetry", "chroma-site", NULL);
      if (direction == GST_PAD_SINK)
        gst_structure_set (s, "format", G_TYPE_STRING, "GRAY8", NULL);
      else
        gst_structure_set_value (s, "format", sink_formats);
      ret = gst_caps_merge_structure_full (
          ret, s, f != NULL ? gst_caps_features_copy (f) : NULL);
    }
    gst_caps_unref (formats);
  }
  if (filter != NULL) {
    GstCaps *tmp
        = gst_caps_intersect_full (filter, ret, GST_CAPS_INTERSECT_FIRST);
    gst_caps_unref (ret);
    ret = tmp;
  }
  GST_DEBUG_OBJECT (self, "%" GST_PTR_FORMAT " -> %" GST_PTR_FORMAT, caps, ret);
  return ret;
}

static gboolean
gst_naclip_seg_set_info (GstVideoFilter *filter, GstCaps *incaps,
    GstVideoInfo *in_info, GstCaps *outcaps, GstVideoInfo *out_info)
{
  GstNaclipSeg *self = GST_NACLIP_SEG (filter);
  gboolean labels = GST_VIDEO_INFO_FORMAT (out_info) == GST_VIDEO_FORMAT_GRAY8;

  GST_DEBUG_OBJECT (
      self, "in %" GST_PTR_FORMAT " out %" GST_PTR_FORMAT, incaps, outcaps);
  if (GST_VIDEO_INFO_WIDTH (in_info) > NACLIP_MAX_SIDE_PX
      || GST_VIDEO_INFO_HEIGHT (in_info) > NACLIP_MAX_SIDE_PX) {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT,
        ("Frames of %dx%d are too large (at most %dx%d)",
            GST_VIDEO_INFO_WIDTH (in_info), GST_VIDEO_INFO_HEIGHT (in_info),
            NACLIP_MAX_SIDE_PX, NACLIP_MAX_SIDE_PX),
        (NULL));
    return FALSE;
  }
  if (GST_VIDEO_INFO_IS_INTERLACED (in_info)) {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT,
        ("Interlaced video is not supported; deinterlace first"), (NULL));
    return FALSE;
  }
  gst_base_transform_set_in_place (GST_BASE_TRANSFORM (self), !labels);
  gst_naclip_seg_drawing_set_info (self->drawing, in_info);
  gst_naclip_seg_scheduler_set_info (self->scheduler, in_info);
  return TRUE;
}

/* ------------------------------------------------------------------ */
/* Per frame                                                           */

/* The running or stream time of @buf's PTS, NONE without a TIME segment. */
static GstClockTime
time_of (GstNaclipSeg *self, GstBuffer *buf, gboolean stream)
{
  GstSegment *segment = &GST_BASE_TRANSFORM (self)->segment;

  if (segment->format != GST_FORMAT_TIME
      || !GST_CLOCK_TIME_IS_VALID (GST_BUFFER_PTS (buf)))
    return GST_CLOCK_TIME_NONE;
  if (stream)
    return gst_segment_to_stream_time (
        segment, GST_FORMAT_TIME, GST_BUFFER_PTS (buf));
  return gst_segment_to_running_time (
      segment, GST_FORMAT_TIME, GST_BUFFER_PTS (buf));
}

/* Everything a frame goes through. @out_frame is the GRAY8 output in
 * labels mode, NULL in place; @writable says whether @in_frame may be drawn
 * on. */
static GstFlowReturn
process_frame (GstNaclipSeg *self, GstVideoFrame *in_frame, GstBuffer *inbuf,
    GstVideoFrame *out_frame, GstBuffer *outbuf, gboolean writable)
{
  GstNaclipSegSnapshot snap = { 0 };
  GstNaclipSegPublished *pub = NULL;
  gboolean fresh = FALSE;
  GstFlowReturn ret = GST_FLOW_OK;
  GstNaclipSegTimes times = {
    .pts = GST_BUFFER_PTS (inbuf),
    .running_time = time_of (self, inbuf, FALSE),
    .stream_time = time_of (self, inbuf, TRUE),
    .duration = GST_BUFFER_DURATION (inbuf),
  };

  gst_naclip_seg_snapshot_properties (self, &snap);
  ret = gst_naclip_seg_scheduler_process (
      self->scheduler, in_frame, &snap, &times, &pub, &fresh);
  if (ret != GST_FLOW_OK)
    goto out;

  if (out_frame != NULL)
    gst_naclip_seg_drawing_labels (
        self->drawing, out_frame, pub != NULL ? pub->result : NULL);
  if (pub == NULL)
    goto out;
  gst_naclip_seg_attach_metas (pub, outbuf, GST_VIDEO_FRAME_WIDTH (in_frame),
      GST_VIDEO_FRAME_HEIGHT (in_frame), fresh);
  if (out_frame == NULL && writable
      && snap.output == GST_NACLIP_SEG_OUTPUT_OVERLAY) {
    gst_naclip_seg_drawing_overlay (self->drawing, in_frame, pub->result,
        snap.selected_classes, snap.alpha);
  }

out:
  gst_naclip_seg_published_unref (pub);
  g_free (snap.selected_classes);
  return ret;
}

static GstFlowReturn
gst_naclip_seg_transform_ip (GstBaseTransform *trans, GstBuffer *buf)
{
  GstNaclipSeg *self = GST_NACLIP_SEG (trans);
  GstVideoFilter *filter = GST_VIDEO_FILTER (trans);
  GstVideoFrame frame;
  GstMapFlags flags = GST_MAP_READ | GST_VIDEO_FRAME_MAP_FLAG_NO_REF;
  GstFlowReturn ret;
  gboolean draw;

  if (!filter->negotiated) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, (NULL), ("no caps"));
    return GST_FLOW_NOT_NEGOTIATED;
  }
  GST_OBJECT_LOCK (self);
  draw = self->output == GST_NACLIP_SEG_OUTPUT_OVERLAY;
  GST_OBJECT_UNLOCK (self);
  if (draw)
    flags |= GST_MAP_WRITE;
  if (!gst_video_frame_map (&frame, &filter->in_info, buf, flags)) {
    GST_ELEMENT_WARNING (self, STREAM, FORMAT, (NULL),
        ("invalid video buffer received (%" G_GSIZE_FORMAT " bytes)",
            gst_buffer_get_size (buf)));
    return GST_FLOW_OK;
  }
  ret = process_frame (self, &frame, buf, NULL, buf, draw);
  gst_video_frame_unmap (&frame);
  return ret;
}

static GstFlowReturn
gst_naclip_seg_transform_frame (
    GstVideoFilter *filter, GstVideoFrame *in_frame, GstVideoFrame *out_frame)
{
  return process_frame (GST_NACLIP_SEG (filter), in_frame, in_frame->buffer,
      out_frame, out_frame->buffer, FALSE);
}

/* ------------------------------------------------------------------ */
/* Events and queries                                                  */

static gboolean
gst_naclip_seg_src_event (GstBaseTransform *trans, GstEvent *event)
{
  GstNaclipSeg *self = GST_NACLIP_SEG (trans);

  if (GST_EVENT_TYPE (event) == GST_EVENT_QOS) {
    GstQOSType type;
    gdouble proportion;
    GstClockTimeDiff diff;
    GstClockTime timestamp;

    gst_event_parse_qos (event, &type, &proportion, &diff, &timestamp);
    gst_naclip_seg_scheduler_qos (self->scheduler, timestamp, diff);
  }
  return GST_BASE_TRANSFORM_CLASS (parent_class)->src_event (trans, event);
}

static gboolean
gst_naclip_seg_sink_event (GstBaseTransform *trans, GstEvent *event)
{
  GstNaclipSeg *self = GST_NACLIP_SEG (trans);

  /* A flush drops the frame being segmented: stop it (the context lives
   * from start() to stop(), which never run while pads are active). */
  if (GST_EVENT_TYPE (event) == GST_EVENT_FLUSH_START)
    gst_naclip_seg_client_cancel (self->client);
  if (GST_EVENT_TYPE (event) == GST_EVENT_FLUSH_STOP)
    gst_naclip_seg_scheduler_flush (self->scheduler);
  return GST_BASE_TRANSFORM_CLASS (parent_class)->sink_event (trans, event);
}

/* In sync mode the element holds each frame for one inference: the longest
 * seen so far is added to the upstream latency. */
static gboolean
gst_naclip_seg_query (
    GstBaseTransform *trans, GstPadDirection direction, GstQuery *query)
{
  GstNaclipSeg *self = GST_NACLIP_SEG (trans);
  GstClockTime ours;
  gboolean ret = GST_BASE_TRANSFORM_CLASS (parent_class)
                     ->query (trans, direction, query);

  if (ret && direction == GST_PAD_SRC
      && GST_QUERY_TYPE (query) == GST_QUERY_LATENCY
      && gst_naclip_seg_scheduler_get_latency (self->scheduler, &ours)) {
    gboolean live;
    GstClockTime min, max;

    gst_query_parse_latency (query, &live, &min, &max);
    min += ours;
    if (GST_CLOCK_TIME_IS_VALID (max))
      max += ours;
    gst_query_set_latency (query, live, min, max);
    GST_DEBUG_OBJECT (self, "latency +%" GST_TIME_FORMAT, GST_TIME_ARGS (ours));
  }
  return ret;
}

/* ------------------------------------------------------------------ */
/* Properties                                                          */

static gboolean
is_running (GstNaclipSeg *self)
{
  return GST_STATE (self) > GST_STATE_READY
         || GST_STATE_PENDING (self) > GST_STATE_READY;
}

/* Stores a string property, refusing invalid UTF-8. Object lock held.
 * Returns TRUE if the value changed. */
static gboolean
store_string (GstNaclipSeg *self, const GParamSpec *pspec, char **field,
    const GValue *value)
{
  const char *s = g_value_get_string (value);

  if (s != NULL && !g_utf8_validate (s, -1, NULL)) {
    GST_OBJECT_UNLOCK (self);
    refuse_property (self, pspec, "not valid UTF-8");
    GST_OBJECT_LOCK (self);
    return FALSE;
  }
  if (g_strcmp0 (*field, s) == 0)
    return FALSE;
  GST_DEBUG_OBJECT (self, "%s: \"%s\" -> \"%s\"", pspec->name,
      GST_STR_NULL (*field), GST_STR_NULL (s));
  g_free (*field);
  *field = g_strdup (s);
  return TRUE;
}

/* Sets one field of the library params through a trial copy; refuses it if
 * naclip_params_validate() does. Object lock held. */
static void
store_params (GstNaclipSeg *self, const GParamSpec *pspec, NaclipParams *trial)
{
  GError *error = NULL;

  if (!naclip_params_validate (trial, &error)) {
    GST_OBJECT_UNLOCK (self);
    refuse_property (self, pspec, error->message);
    g_clear_error (&error);
    GST_OBJECT_LOCK (self);
    return;
  }
  GST_DEBUG_OBJECT (self, "%s changed", pspec->name);
  self->params = *trial;
}

/* Checks a new value of classes, classes-file, background-classes or
 * templates together with the current values of the others (parsing and
 * small file reads only, no encoding). Call without the object lock. */
static gboolean
validate_class_properties (
    GstNaclipSeg *self, guint prop_id, const char *value, GError **error)
{
  GstNaclipSegClassJob *job;
  char **field = NULL;
  gboolean ok;

  if (value != NULL && !g_utf8_validate (value, -1, NULL)) {
    g_set_error (
        error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT, "not valid UTF-8");
    return FALSE;
  }
  GST_OBJECT_LOCK (self);
  job = snapshot_class_job (self);
  GST_OBJECT_UNLOCK (self);
  if (prop_id == PROP_CLASSES)
    field = &job->classes;
  else if (prop_id == PROP_CLASSES_FILE)
    field = &job->classes_file;
  else if (prop_id == PROP_BACKGROUND_CLASSES)
    field = &job->background;
  else
    field = &job->templates;
  g_free (*field);
  *field = g_strdup (value);
  ok = gst_naclip_seg_class_job_check (job, prop_id == PROP_TEMPLATES, error);
  gst_naclip_seg_class_job_free (job);
  return ok;
}

static void
gst_naclip_seg_set_property (
    GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  GstNaclipSeg *self = GST_NACLIP_SEG (object);
  NaclipParams trial;
  gboolean reconfigure = FALSE;

  if (prop_id == PROP_CLASSES || prop_id == PROP_CLASSES_FILE
      || prop_id == PROP_BACKGROUND_CLASSES || prop_id == PROP_TEMPLATES) {
    GError *error = NULL;
    if (!validate_class_properties (
            self, prop_id, g_value_get_string (value), &error)) {
      refuse_property (self, pspec, error->message);
      g_clear_error (&error);
      return;
    }
  }

  GST_OBJECT_LOCK (self);
  trial = self->params;
  switch (prop_id) {
    case PROP_MODEL_FILE:
      if (is_running (self)) {
        GST_OBJECT_UNLOCK (self);
        refuse_property (self, pspec,
            "the model can only change in the NULL or READY state");
        return;
      }
      store_string (self, pspec, &self->model_file, value);
      break;
    case PROP_CHECK_WEIGHTS:
      if (is_running (self)) {
        GST_OBJECT_UNLOCK (self);
        refuse_property (self, pspec,
            "check-weights only applies when the model is loaded, in the "
            "NULL or READY state");
        return;
      }
      self->check_weights = g_value_get_boolean (value);
      break;
    case PROP_CLASSES:
      if (store_string (self, pspec, &self->classes, value))
        queue_class_job (self);
      break;
    case PROP_CLASSES_FILE:
      if (store_string (self, pspec, &self->classes_file, value))
        queue_class_job (self);
      break;
    case PROP_BACKGROUND_CLASSES:
      if (store_string (self, pspec, &self->background_classes, value))
        queue_class_job (self);
      break;
    case PROP_TEMPLATES:
      if (g_value_get_string (value) == NULL) {
        GST_OBJECT_UNLOCK (self);
        refuse_property (self, pspec, "a template set name or file is needed");
        return;
      }
      if (store_string (self, pspec, &self->templates, value))
        queue_class_job (self);
      break;
    case PROP_CLASS_CONFIDENCE_THRESHOLD:
      trial.class_confidence_threshold = g_value_get_float (value);
      store_params (self, pspec, &trial);
      break;
    case PROP_INFERENCE_SIZE:
      trial.inference_size = g_value_get_uint (value);
      store_params (self, pspec, &trial);
      break;
    case PROP_SLIDE_CROP:
      trial.slide_crop = g_value_get_uint (value);
      store_params (self, pspec, &trial);
      break;
    case PROP_SLIDE_STRIDE:
      trial.slide_stride = g_value_get_uint (value);
      store_params (self, pspec, &trial);
      break;
    case PROP_ATTENTION:
      trial.attention = g_value_get_enum (value);
      store_params (self, pspec, &trial);
      break;
    case PROP_ARCH:
      trial.arch = g_value_get_enum (value);
      store_params (self, pspec, &trial);
      break;
    case PROP_GAUSSIAN_STD:
      trial.gaussian_std = g_value_get_float (value);
      store_params (self, pspec, &trial);
      break;
    case PROP_LOGIT_SCALE:
      trial.logit_scale = g_value_get_float (value);
      store_params (self, pspec, &trial);
      break;
    case PROP_PAMR_STEPS:
      trial.pamr_steps = g_value_get_uint (value);
      store_params (self, pspec, &trial);
      break;
    case PROP_PAMR_DILATIONS: {
      const char *s = g_value_get_string (value);
      GError *error = NULL;
      if (s == NULL
          || !naclip_parse_dilations (
              s, trial.pamr_dilations, &trial.n_pamr_dilations, &error)) {
        GST_OBJECT_UNLOCK (self);
        refuse_property (self, pspec,
            error != NULL ? error->message
                          : "a list such as \"8,16\" is needed");
        g_clear_error (&error);
        return;
      }
      store_params (self, pspec, &trial);
      if (memcmp (&trial, &self->params, sizeof (trial)) == 0) {
        g_free (self->pamr_dilations);
        self->pamr_dilations = g_strdup (s);
      }
      break;
    }
    case PROP_THREADS:
      trial.threads = g_value_get_uint (value);
      store_params (self, pspec, &trial);
      break;
    case PROP_PRECISION: {
      NaclipPrecision resolved;
      GError *error = NULL;
      trial.precision = g_value_get_enum (value);
      /* bf16 on a CPU or build without it is refused here, with the
       * reason, rather than failing every frame */
      if (!naclip_precision_resolve (trial.precision, &resolved, &error)) {
        GST_OBJECT_UNLOCK (self);
        refuse_property (self, pspec, error->message);
        g_clear_error (&error);
        GST_OBJECT_LOCK (self);
        break;
      }
      store_params (self, pspec, &trial);
      break;
    }
    case PROP_OUTPUT:
      reconfigure
          = self->output != (GstNaclipSegOutput)g_value_get_enum (value)
            && (self->output == GST_NACLIP_SEG_OUTPUT_LABELS
                || g_value_get_enum (value) == GST_NACLIP_SEG_OUTPUT_LABELS);
      self->output = g_value_get_enum (value);
      break;
    case PROP_OUTPUT_SIZE:
      self->output_size = g_value_get_enum (value);
      break;
    case PROP_ALPHA:
      self->alpha = g_value_get_double (value);
      break;
    case PROP_SELECTED_CLASSES:
      store_string (self, pspec, &self->selected_classes, value);
      break;
    case PROP_INFERENCE_INTERVAL:
      self->inference_interval = g_value_get_uint (value);
      break;
    case PROP_EXPIRE_RESULTS:
      self->expire_results = g_value_get_uint64 (value);
      break;
    case PROP_ASYNC:
      if (is_running (self)) {
        GST_OBJECT_UNLOCK (self);
        refuse_property (
            self, pspec, "async can only change in the NULL or READY state");
        return;
      }
      self->async = g_value_get_boolean (value);
      break;
    case PROP_TEMPORAL_SMOOTHING:
      self->temporal_smoothing = g_value_get_double (value);
      break;
    case PROP_POST_MESSAGES:
      self->post_messages = g_value_get_boolean (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
  if (reconfigure)
    gst_base_transform_reconfigure_src (GST_BASE_TRANSFORM (self));
}

static void
gst_naclip_seg_get_property (
    GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  GstNaclipSeg *self = GST_NACLIP_SEG (object);
  GstNaclipSegCounts counts;

  gst_naclip_seg_scheduler_get_counts (self->scheduler, &counts);
  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_MODEL_FILE:
      g_value_set_string (value, self->model_file);
      break;
    case PROP_CHECK_WEIGHTS:
      g_value_set_boolean (value, self->check_weights);
      break;
    case PROP_CLASSES:
      g_value_set_string (value, self->classes);
      break;
    case PROP_CLASSES_FILE:
      g_value_set_string (value, self->classes_file);
      break;
    case PROP_BACKGROUND_CLASSES:
      g_value_set_string (value, self->background_classes);
      break;
    case PROP_TEMPLATES:
      g_value_set_string (value, self->templates);
      break;
    case PROP_CLASS_CONFIDENCE_THRESHOLD:
      g_value_set_float (value, self->params.class_confidence_threshold);
      break;
    case PROP_INFERENCE_SIZE:
      g_value_set_uint (value, self->params.inference_size);
      break;
    case PROP_SLIDE_CROP:
      g_value_set_uint (value, self->params.slide_crop);
      break;
    case PROP_SLIDE_STRIDE:
      g_value_set_uint (value, self->params.slide_stride);
      break;
    case PROP_ATTENTION:
      g_value_set_enum (value, self->params.attention);
      break;
    case PROP_ARCH:
      g_value_set_enum (value, self->params.arch);
      break;
    case PROP_GAUSSIAN_STD:
      g_value_set_float (value, self->params.gaussian_std);
      break;
    case PROP_LOGIT_SCALE:
      g_value_set_float (value, self->params.logit_scale);
      break;
    case PROP_PAMR_STEPS:
      g_value_set_uint (value, self->params.pamr_steps);
      break;
    case PROP_PAMR_DILATIONS:
      g_value_set_string (value, self->pamr_dilations);
      break;
    case PROP_THREADS:
      g_value_set_uint (value, self->params.threads);
      break;
    case PROP_PRECISION:
      g_value_set_enum (value, self->params.precision);
      break;
    case PROP_OUTPUT:
      g_value_set_enum (value, self->output);
      break;
    case PROP_OUTPUT_SIZE:
      g_value_set_enum (value, self->output_size);
      break;
    case PROP_ALPHA:
      g_value_set_double (value, self->alpha);
      break;
    case PROP_SELECTED_CLASSES:
      g_value_set_string (value, self->selected_classes);
      break;
    case PROP_INFERENCE_INTERVAL:
      g_value_set_uint (value, self->inference_interval);
      break;
    case PROP_EXPIRE_RESULTS:
      g_value_set_uint64 (value, self->expire_results);
      break;
    case PROP_ASYNC:
      g_value_set_boolean (value, self->async);
      break;
    case PROP_TEMPORAL_SMOOTHING:
      g_value_set_double (value, self->temporal_smoothing);
      break;
    case PROP_POST_MESSAGES:
      g_value_set_boolean (value, self->post_messages);
      break;
    case PROP_FRAMES_PROCESSED:
      g_value_set_uint64 (value, counts.processed);
      break;
    case PROP_FRAMES_REUSED:
      g_value_set_uint64 (value, counts.reused);
      break;
    case PROP_FRAMES_SKIPPED:
      g_value_set_uint64 (value, counts.skipped);
      break;
    case PROP_FRAMES_TOO_SMALL:
      g_value_set_uint64 (value, counts.too_small);
      break;
    case PROP_CLASS_SET:
      g_value_set_uint64 (
          value, gst_naclip_seg_scheduler_get_class_set (self->scheduler));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

/* ------------------------------------------------------------------ */
/* GObject                                                             */

static void
gst_naclip_seg_finalize (GObject *object)
{
  GstNaclipSeg *self = GST_NACLIP_SEG (object);

  g_free (self->model_file);
  g_free (self->classes);
  g_free (self->classes_file);
  g_free (self->background_classes);
  g_free (self->templates);
  g_free (self->selected_classes);
  g_free (self->pamr_dilations);
  gst_naclip_seg_scheduler_free (self->scheduler);
  gst_naclip_seg_client_free (self->client);
  gst_naclip_seg_drawing_free (self->drawing);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

/* PAUSED->READY first cancels what runs (the streaming thread may be in an
 * inference, holding the stream lock the pad deactivation waits for; the
 * worker may be in one that stop() joins), so that PLAYING->NULL takes at
 * most one transformer block or PAMR iteration more. */
static GstStateChangeReturn
gst_naclip_seg_change_state (GstElement *element, GstStateChange transition)
{
  GstNaclipSeg *self = GST_NACLIP_SEG (element);

  switch (transition) {
    case GST_STATE_CHANGE_READY_TO_PAUSED:
      gst_naclip_seg_client_set_stopping (self->client, FALSE);
      break;
    case GST_STATE_CHANGE_PAUSED_TO_READY:
      gst_naclip_seg_client_set_stopping (self->client, TRUE);
      break;
    default:
      break;
  }
  return GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);
}

static char *
format_dilations (const NaclipParams *p)
{
  GString *s = g_string_new (NULL);

  for (guint i = 0; i < p->n_pamr_dilations; i++)
    g_string_append_printf (s, "%s%u", i ? "," : "", p->pamr_dilations[i]);
  return g_string_free (s, FALSE);
}

static void
gst_naclip_seg_init (GstNaclipSeg *self)
{
  self->params = naclip_params_default ();
  self->pamr_dilations = format_dilations (&self->params);
  self->check_weights = DEFAULT_CHECK_WEIGHTS;
  self->templates = g_strdup (GST_NACLIP_SEG_DEFAULT_TEMPLATES);
  self->output = DEFAULT_OUTPUT;
  self->output_size = DEFAULT_OUTPUT_SIZE;
  self->alpha = DEFAULT_ALPHA;
  self->inference_interval = DEFAULT_INFERENCE_INTERVAL;
  self->expire_results = DEFAULT_EXPIRE_RESULTS;
  self->async = DEFAULT_ASYNC;
  self->temporal_smoothing = DEFAULT_TEMPORAL_SMOOTHING;
  self->post_messages = DEFAULT_POST_MESSAGES;
  self->client = gst_naclip_seg_client_new (GST_ELEMENT (self));
  self->scheduler = gst_naclip_seg_scheduler_new (self, self->client);
  self->drawing = gst_naclip_seg_drawing_new ();
  gst_base_transform_set_qos_enabled (GST_BASE_TRANSFORM (self), FALSE);
}

#define TUNABLE                                                                \
  (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING)
#define READY_ONLY                                                             \
  (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY)
#define STATS (G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)

static void
gst_naclip_seg_class_init (GstNaclipSegClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);
  GstVideoFilterClass *filter_class = GST_VIDEO_FILTER_CLASS (klass);
  NaclipParams d = naclip_params_default ();
  g_autofree char *dilations = format_dilations (&d);

  GST_DEBUG_CATEGORY_INIT (gst_naclip_seg_debug, "naclipseg", 0,
      "NACLIP open-vocabulary segmentation");

  gobject_class->set_property = gst_naclip_seg_set_property;
  gobject_class->get_property = gst_naclip_seg_get_property;
  gobject_class->finalize = gst_naclip_seg_finalize;
  element_class->change_state = GST_DEBUG_FUNCPTR (gst_naclip_seg_change_state);

  /**
   * GstNaclipSeg:model-file:
   *
   * A Hugging Face CLIP model directory (model.safetensors, config.json,
   * merges.txt) or a .safetensors file with config.json and merges.txt
   * beside it. When unset: $NACLIP_MODEL, then the location
   * naclip-download-model installs to. Changes above READY are refused.
   */
  g_object_class_install_property (gobject_class, PROP_MODEL_FILE,
      g_param_spec_string ("model-file", "Model file",
          "CLIP model directory or .safetensors file (unset: $NACLIP_MODEL, "
          "then $XDG_DATA_HOME/" GST_NACLIP_SEG_DEFAULT_MODEL_SUBDIR
          " as installed by naclip-download-model)",
          NULL, READY_ONLY));
  g_object_class_install_property (gobject_class, PROP_CHECK_WEIGHTS,
      g_param_spec_boolean ("check-weights", "Check weights",
          "Scan the weights for NaN/Inf when loading the model",
          DEFAULT_CHECK_WEIGHTS, READY_ONLY));
  /**
   * GstNaclipSeg:classes:
   *
   * The classes to find: commas separate classes, '|' separates synonyms
   * of one class ("sky,road,person|man|woman"). Labels are 1..N in this
   * order; 0 is background. Changes while PLAYING are encoded by a worker
   * thread; frames keep the old classes until the new ones are ready, then
   * the element posts "naclipseg-classes-changed" and the class-set counter
   * moves. Takes precedence over classes-file.
   */
  g_object_class_install_property (gobject_class, PROP_CLASSES,
      g_param_spec_string ("classes", "Classes",
          "Classes, comma-separated, '|' between synonyms "
          "(\"sky,road,person|man|woman\"); labels 1..N in order",
          NULL, TUNABLE));
  g_object_class_install_property (gobject_class, PROP_CLASSES_FILE,
      g_param_spec_string ("classes-file", "Classes file",
          "File with one class per line, synonyms separated by \", \"; a "
          "first line \"background: ...\" lists background names (used when "
          "classes is unset)",
          NULL, TUNABLE));
  g_object_class_install_property (gobject_class, PROP_BACKGROUND_CLASSES,
      g_param_spec_string ("background-classes", "Background classes",
          "Names whose pixels get label 0 (separated by ',' or '|')", NULL,
          TUNABLE));
  g_object_class_install_property (gobject_class, PROP_TEMPLATES,
      g_param_spec_string ("templates", "Prompt templates",
          "\"imagenet80\" (the 80 CLIP ImageNet templates), \"single\" "
          "(\"a photo of a {}.\"), or a file with one template per line "
          "containing \"{}\"",
          GST_NACLIP_SEG_DEFAULT_TEMPLATES, TUNABLE));
  g_object_class_install_property (gobject_class,
      PROP_CLASS_CONFIDENCE_THRESHOLD,
      g_param_spec_float ("class-confidence-threshold",
          "Class confidence threshold",
          "Pixels whose best class probability is below this get label 0 "
          "(reference: prob_thd)",
          0.0f, 1.0f, d.class_confidence_threshold, TUNABLE));
  g_object_class_install_property (gobject_class, PROP_INFERENCE_SIZE,
      g_param_spec_uint ("inference-size", "Inference size",
          "Short side of the processed image in px; 0 keeps the frame size", 0,
          NACLIP_MAX_SIDE_PX, d.inference_size, TUNABLE));
  g_object_class_install_property (gobject_class, PROP_SLIDE_CROP,
      g_param_spec_uint ("slide-crop", "Slide crop",
          "Sliding-window crop in px; 0 encodes the whole image at once", 0,
          NACLIP_MAX_SIDE_PX, d.slide_crop, TUNABLE));
  g_object_class_install_property (gobject_class, PROP_SLIDE_STRIDE,
      g_param_spec_uint ("slide-stride", "Slide stride",
          "Sliding-window stride in px", 1, NACLIP_MAX_SIDE_PX, d.slide_stride,
          TUNABLE));
  g_object_class_install_property (gobject_class, PROP_ATTENTION,
      g_param_spec_enum ("attention", "Attention",
          "Attention of the last vision block", GST_TYPE_NACLIP_SEG_ATTENTION,
          d.attention, TUNABLE));
  g_object_class_install_property (gobject_class, PROP_ARCH,
      g_param_spec_enum ("arch", "Architecture",
          "Structure of the last vision block", GST_TYPE_NACLIP_SEG_ARCH,
          d.arch, TUNABLE));
  g_object_class_install_property (gobject_class, PROP_GAUSSIAN_STD,
      g_param_spec_float ("gaussian-std", "Gaussian std",
          "Sigma of the Gaussian neighbourhood bias, in patches", 0.001f,
          NACLIP_MAX_GAUSSIAN_STD, d.gaussian_std, TUNABLE));
  g_object_class_install_property (gobject_class, PROP_LOGIT_SCALE,
      g_param_spec_float ("logit-scale", "Logit scale",
          "Softmax temperature applied to the cosine logits", 0.001f,
          NACLIP_MAX_LOGIT_SCALE, d.logit_scale, TUNABLE));
  g_object_class_install_property (gobject_class, PROP_PAMR_STEPS,
      g_param_spec_uint ("pamr-steps", "PAMR steps",
          "Pixel-adaptive mask refinement iterations; 0 disables PAMR", 0,
          NACLIP_MAX_PAMR_STEPS, d.pamr_steps, TUNABLE));
  /**
   * GstNaclipSeg:pamr-dilations:
   *
   * Comma-separated dilations in px, each 1..16384, at most 8 ("8,16" in
   * the paper). A malformed list is refused and the previous one kept.
   */
  g_object_class_install_property (gobject_class, PROP_PAMR_DILATIONS,
      g_param_spec_string ("pamr-dilations", "PAMR dilations",
          "Comma-separated PAMR dilations in px (reference: pamr_stride)",
          dilations, TUNABLE));
  g_object_class_install_property (gobject_class, PROP_THREADS,
      g_param_spec_uint ("threads", "Threads", "Worker threads of the library",
          1, NACLIP_MAX_THREADS, d.threads, TUNABLE));
  g_object_class_install_property (gobject_class, PROP_PRECISION,
      g_param_spec_enum ("precision", "Precision",
          "Arithmetic of the matrix products", GST_TYPE_NACLIP_SEG_PRECISION,
          d.precision, TUNABLE));
  /**
   * GstNaclipSeg:output:
   *
   * overlay blends the class colours over the frame (natively in every
   * format); passthrough leaves frames untouched; labels outputs GRAY8
   * frames of the same size whose pixels are labels. Metadata is attached
   * in every mode. Switching to or from labels renegotiates.
   */
  g_object_class_install_property (gobject_class, PROP_OUTPUT,
      g_param_spec_enum ("output", "Output", "What the element outputs",
          GST_TYPE_NACLIP_SEG_OUTPUT, DEFAULT_OUTPUT, TUNABLE));
  /**
   * GstNaclipSeg:output-size:
   *
   * processing computes the label map (and runs PAMR) at the processing
   * size, cheap for video; frame computes it at the frame size like the
   * paper. Either way the map covers the whole frame.
   */
  g_object_class_install_property (gobject_class, PROP_OUTPUT_SIZE,
      g_param_spec_enum ("output-size", "Output size",
          "Resolution of the label map (and of PAMR)",
          GST_TYPE_NACLIP_SEG_OUTPUT_SIZE, DEFAULT_OUTPUT_SIZE, TUNABLE));
  g_object_class_install_property (gobject_class, PROP_ALPHA,
      g_param_spec_double ("alpha", "Alpha",
          "Opacity of the class colours in overlay mode", 0.0, 1.0,
          DEFAULT_ALPHA, TUNABLE));
  g_object_class_install_property (gobject_class, PROP_SELECTED_CLASSES,
      g_param_spec_string ("selected-classes", "Selected classes",
          "Comma-separated class names to draw (unset: all classes)", NULL,
          TUNABLE));
  /**
   * GstNaclipSeg:inference-interval:
   *
   * Segment every Nth frame; the frames in between carry the last result
   * (fresh = FALSE in the metadata) as long as it is not older than
   * expire-results.
   */
  g_object_class_install_property (gobject_class, PROP_INFERENCE_INTERVAL,
      g_param_spec_uint ("inference-interval", "Inference interval",
          "Segment every Nth frame, others reuse the last result", 1, G_MAXUINT,
          DEFAULT_INFERENCE_INTERVAL, TUNABLE));
  /**
   * GstNaclipSeg:expire-results:
   *
   * A result older than this (running time between its frame and the
   * current one) is not reused: in sync mode the frame is segmented, in
   * async mode it passes without result. 0 keeps results forever.
   */
  g_object_class_install_property (gobject_class, PROP_EXPIRE_RESULTS,
      g_param_spec_uint64 ("expire-results", "Expire results",
          "Results older than this (running time, ns) are not reused; 0 = "
          "never expire",
          0, G_MAXUINT64, DEFAULT_EXPIRE_RESULTS, TUNABLE));
  /**
   * GstNaclipSeg:async:
   *
   * A worker thread segments the newest frame while frames keep flowing
   * with the latest finished result: the streaming thread never waits for
   * an inference. Without it, the element answers the LATENCY query with
   * its longest inference time.
   */
  g_object_class_install_property (gobject_class, PROP_ASYNC,
      g_param_spec_boolean ("async", "Asynchronous",
          "Segment on a worker thread; frames carry the latest result",
          DEFAULT_ASYNC, READY_ONLY));
  /**
   * GstNaclipSeg:temporal-smoothing:
   *
   * Exponential moving average of the class probabilities over inferred
   * frames: p = s * p_previous + (1 - s) * p_new, labels re-taken from p
   * (argmax, then class-confidence-threshold). Reset on caps changes,
   * flushes and class changes. 0 disables it.
   */
  g_object_class_install_property (gobject_class, PROP_TEMPORAL_SMOOTHING,
      g_param_spec_double ("temporal-smoothing", "Temporal smoothing",
          "Weight of the previous class probabilities in an exponential "
          "moving average between inferred frames; 0 = off",
          0.0, 0.99, DEFAULT_TEMPORAL_SMOOTHING, TUNABLE));
  /**
   * GstNaclipSeg:post-messages:
   *
   * Posts an element message "naclipseg" per inferred frame with
   * timestamp, stream-time, running-time, duration, class-set, and arrays
   * classes, coverage, confidence and present (index i = label i + 1).
   */
  g_object_class_install_property (gobject_class, PROP_POST_MESSAGES,
      g_param_spec_boolean ("post-messages", "Post messages",
          "Post a \"naclipseg\" element message per inferred frame",
          DEFAULT_POST_MESSAGES, TUNABLE));
  g_object_class_install_property (gobject_class, PROP_FRAMES_PROCESSED,
      g_param_spec_uint64 ("frames-processed", "Frames processed",
          "Frames segmented since the element started", 0, G_MAXUINT64, 0,
          STATS));
  g_object_class_install_property (gobject_class, PROP_FRAMES_REUSED,
      g_param_spec_uint64 ("frames-reused", "Frames reused",
          "Frames that carried an earlier result", 0, G_MAXUINT64, 0, STATS));
  g_object_class_install_property (gobject_class, PROP_FRAMES_SKIPPED,
      g_param_spec_uint64 ("frames-skipped", "Frames skipped",
          "Frames not segmented because they were late (QoS)", 0, G_MAXUINT64,
          0, STATS));
  g_object_class_install_property (gobject_class, PROP_FRAMES_TOO_SMALL,
      g_param_spec_uint64 ("frames-too-small", "Frames too small",
          "Frames smaller than one patch after scaling (passed unsegmented)", 0,
          G_MAXUINT64, 0, STATS));
  g_object_class_install_property (gobject_class, PROP_CLASS_SET,
      g_param_spec_uint64 ("class-set", "Class set",
          "Counter of the active class list (in the metadata too)", 0,
          G_MAXUINT64, 0, STATS));

  /**
   * SECTION:element-naclipseg
   *
   * Open-vocabulary semantic segmentation with NACLIP (training-free, on a
   * CLIP ViT checkpoint): name the classes, get a label per pixel.
   *
   * ## Examples
   * |[
   * gst-launch-1.0 v4l2src ! videoconvert ! naclipseg classes="sky,road,car" ! videoconvert ! autovideosink
   * gst-launch-1.0 filesrc location=in.mp4 ! decodebin ! videoconvert ! naclipseg classes="person,car,tree" inference-size=224 ! videoconvert ! x264enc ! mp4mux ! filesink location=out.mp4
   * gst-launch-1.0 filesrc location=in.mp4 ! decodebin ! videoconvert ! naclipseg classes="person,car" output=labels output-size=frame ! pngenc ! multifilesink location=mask-%05d.png
   * ]|
   */
  gst_element_class_set_static_metadata (element_class, "NACLIP segmentation",
      "Filter/Analyzer/Video",
      "Open-vocabulary semantic segmentation (NACLIP on CLIP ViT). Labels: "
      "0 background, 1..N the classes in order. Metadata: GstNaclipSegMeta "
      "(label map; header gst/naclip/naclipmeta.h, library "
      "gstnaclipmeta-1.0) and one GstVideoRegionOfInterestMeta per present "
      "class (ids 0..k-1, params \"naclip-class\": label, class-name, "
      "coverage, confidence, class-set, fresh). Frames smaller than one "
      "patch after scaling pass unsegmented (one warning, frames-too-small "
      "counts them); late frames (QoS) reuse the last result "
      "(frames-skipped). Examples:\n"
      "  camera to screen: gst-launch-1.0 v4l2src ! videoconvert ! "
      "naclipseg classes=\"sky,road,car\" ! videoconvert ! autovideosink\n"
      "  file to annotated MP4: gst-launch-1.0 filesrc location=in.mp4 ! "
      "decodebin ! videoconvert ! naclipseg classes=\"person,car,tree\" "
      "inference-size=224 ! videoconvert ! x264enc ! mp4mux ! filesink "
      "location=out.mp4\n"
      "  file to PNG masks: gst-launch-1.0 filesrc location=in.mp4 ! "
      "decodebin ! videoconvert ! naclipseg classes=\"person,car\" "
      "output=labels output-size=frame ! pngenc ! multifilesink "
      "location=mask-%05d.png",
      "The naclipseg authors");
  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);

  trans_class->start = GST_DEBUG_FUNCPTR (gst_naclip_seg_start);
  trans_class->stop = GST_DEBUG_FUNCPTR (gst_naclip_seg_stop);
  trans_class->transform_caps
      = GST_DEBUG_FUNCPTR (gst_naclip_seg_transform_caps);
  trans_class->transform_ip = GST_DEBUG_FUNCPTR (gst_naclip_seg_transform_ip);
  trans_class->src_event = GST_DEBUG_FUNCPTR (gst_naclip_seg_src_event);
  trans_class->sink_event = GST_DEBUG_FUNCPTR (gst_naclip_seg_sink_event);
  trans_class->query = GST_DEBUG_FUNCPTR (gst_naclip_seg_query);
  filter_class->set_info = GST_DEBUG_FUNCPTR (gst_naclip_seg_set_info);
  filter_class->transform_frame
      = GST_DEBUG_FUNCPTR (gst_naclip_seg_transform_frame);

  gst_type_mark_as_plugin_api (GST_TYPE_NACLIP_SEG_OUTPUT, 0);
  gst_type_mark_as_plugin_api (GST_TYPE_NACLIP_SEG_OUTPUT_SIZE, 0);
  gst_type_mark_as_plugin_api (GST_TYPE_NACLIP_SEG_ATTENTION, 0);
  gst_type_mark_as_plugin_api (GST_TYPE_NACLIP_SEG_ARCH, 0);
  gst_type_mark_as_plugin_api (GST_TYPE_NACLIP_SEG_PRECISION, 0);
}
