/* gstnaclipseg.c: the naclipseg element.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A GstVideoFilter around the naclip library: it adds video concerns only
 * (formats, scheduling, threads, drawing, metadata), no algorithm. This
 * file is the element itself: the instance struct, class_init/init/
 * finalize, state changes, caps, the transform functions, events and
 * queries. Beside it, one file per job:
 *   gstnaclipsegproperties.c the property specs and docs, their storage
 *                            (GstNaclipSegSettings) and checks
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
 *   class sets are never mixed. Token reuse (reuse-threshold) starts again
 *   on a caps change, a flush or a DISCONT buffer, not on a class change
 *   (the scheduler's reuse generation).
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
#include "gstnaclipsegproperties.h"
#include "gstnaclipsegscheduler.h"

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

  GstNaclipSegSettings settings; /* the properties (object lock) */

  /* Each with its own lock domain (see each file). */
  GstNaclipSegClient *client;       /* model, context, cancellation */
  GstNaclipSegScheduler *scheduler; /* worker, results, QoS, statistics */
  GstNaclipSegDrawing *drawing;     /* streaming thread */
};

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

void
gst_naclip_seg_snapshot_properties (
    GstNaclipSeg *self, GstNaclipSegSnapshot *snap)
{
  GST_OBJECT_LOCK (self);
  gst_naclip_seg_settings_snapshot (&self->settings, snap);
  GST_OBJECT_UNLOCK (self);
}

void
gst_naclip_seg_snapshot_clear (GstNaclipSegSnapshot *snap)
{
  g_clear_pointer (&snap->selected_classes, g_free);
  g_clear_pointer (&snap->class_colors, g_free);
}

/* Hands the class properties to the worker, if running, to encode. Takes
 * the object lock: of two changes, the later one queues the later
 * values. */
static void
queue_class_job (GstNaclipSeg *self)
{
  GST_OBJECT_LOCK (self);
  gst_naclip_seg_scheduler_queue_class_job (
      self->scheduler, gst_naclip_seg_settings_class_job (&self->settings));
  GST_OBJECT_UNLOCK (self);
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
  GstNaclipSegAsyncMode async;
  gboolean check_weights;

  GST_OBJECT_LOCK (self);
  path = gst_naclip_seg_resolve_model_path (self->settings.model_file);
  check_weights = self->settings.check_weights;
  async = self->settings.async;
  params = self->settings.params;
  job = gst_naclip_seg_settings_class_job (&self->settings);
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
  labels = self->settings.output == GST_NACLIP_SEG_OUTPUT_LABELS;
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

/* Whether upstream is live, asking it with a LATENCY query (FALSE when
 * nobody answers). */
static gboolean
upstream_is_live (GstNaclipSeg *self)
{
  GstQuery *query = gst_query_new_latency ();
  gboolean live = FALSE;

  if (gst_pad_peer_query (GST_BASE_TRANSFORM_SINK_PAD (self), query))
    gst_query_parse_latency (query, &live, NULL, NULL);
  gst_query_unref (query);
  return live;
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
  if (gst_naclip_seg_scheduler_wants_liveness (self->scheduler))
    gst_naclip_seg_scheduler_set_live (
        self->scheduler, upstream_is_live (self));
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

/* How old the result @pub is for a frame at @times: the running time
 * between their frames, ns (0 for its own frame, NONE when unknown). */
static GstClockTime
result_age (const GstNaclipSegPublished *pub, const GstNaclipSegTimes *times,
    gboolean fresh)
{
  GstClockTime now = times->running_time, then = pub->times.running_time;

  if (fresh)
    return 0;
  if (!GST_CLOCK_TIME_IS_VALID (now) || !GST_CLOCK_TIME_IS_VALID (then))
    return GST_CLOCK_TIME_NONE;
  return now > then ? now - then : 0;
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
    .arrival = g_get_monotonic_time (),
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
      GST_VIDEO_FRAME_HEIGHT (in_frame), fresh,
      result_age (pub, &times, fresh));
  if (out_frame == NULL && writable
      && snap.output == GST_NACLIP_SEG_OUTPUT_OVERLAY) {
    gst_naclip_seg_drawing_overlay (self->drawing, in_frame, pub->result,
        naclip_queries_get_classes (pub->queries), snap.selected_classes,
        snap.class_colors, snap.alpha);
  }

out:
  gst_naclip_seg_published_unref (pub);
  gst_naclip_seg_snapshot_clear (&snap);
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
  draw = self->settings.output == GST_NACLIP_SEG_OUTPUT_OVERLAY;
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

/* Upstream's answer decides async=auto (if the first caps have not yet).
 * In sync mode the element holds each frame for one inference: the
 * longest seen so far is added to the upstream latency; in async mode
 * frames are not held and nothing is added. */
static gboolean
gst_naclip_seg_query (
    GstBaseTransform *trans, GstPadDirection direction, GstQuery *query)
{
  GstNaclipSeg *self = GST_NACLIP_SEG (trans);
  GstClockTime ours;
  gboolean live;
  GstClockTime min, max;
  gboolean ret = GST_BASE_TRANSFORM_CLASS (parent_class)
                     ->query (trans, direction, query);

  if (!ret || direction != GST_PAD_SRC
      || GST_QUERY_TYPE (query) != GST_QUERY_LATENCY)
    return ret;
  gst_query_parse_latency (query, &live, &min, &max);
  gst_naclip_seg_scheduler_set_live (self->scheduler, live);
  if (gst_naclip_seg_scheduler_get_latency (self->scheduler, &ours)) {
    min += ours;
    if (GST_CLOCK_TIME_IS_VALID (max))
      max += ours;
    gst_query_set_latency (query, live, min, max);
    GST_DEBUG_OBJECT (self, "latency +%" GST_TIME_FORMAT, GST_TIME_ARGS (ours));
  }
  return ret;
}

/* ------------------------------------------------------------------ */
/* Properties (gstnaclipsegproperties.c)                               */

static void
gst_naclip_seg_set_property (
    GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  GstNaclipSeg *self = GST_NACLIP_SEG (object);
  GstNaclipSegChange change = gst_naclip_seg_settings_set (
      GST_ELEMENT (self), &self->settings, prop_id, value, pspec);

  if (change & GST_NACLIP_SEG_CHANGED_CLASSES)
    queue_class_job (self);
  if (change & GST_NACLIP_SEG_CHANGED_CAPS)
    gst_base_transform_reconfigure_src (GST_BASE_TRANSFORM (self));
}

static void
gst_naclip_seg_get_property (
    GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  GstNaclipSeg *self = GST_NACLIP_SEG (object);
  GstNaclipSegCounts counts;

  if (gst_naclip_seg_settings_get (
          GST_ELEMENT (self), &self->settings, prop_id, value))
    return;
  gst_naclip_seg_scheduler_get_counts (self->scheduler, &counts);
  switch (prop_id) {
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
}

/* ------------------------------------------------------------------ */
/* GObject                                                             */

static void
gst_naclip_seg_finalize (GObject *object)
{
  GstNaclipSeg *self = GST_NACLIP_SEG (object);

  gst_naclip_seg_settings_clear (&self->settings);
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

static void
gst_naclip_seg_init (GstNaclipSeg *self)
{
  gst_naclip_seg_settings_init (&self->settings);
  self->client = gst_naclip_seg_client_new (GST_ELEMENT (self));
  self->scheduler = gst_naclip_seg_scheduler_new (self, self->client);
  self->drawing = gst_naclip_seg_drawing_new ();
  gst_base_transform_set_qos_enabled (GST_BASE_TRANSFORM (self), FALSE);
}

static void
gst_naclip_seg_class_init (GstNaclipSegClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);
  GstVideoFilterClass *filter_class = GST_VIDEO_FILTER_CLASS (klass);

  GST_DEBUG_CATEGORY_INIT (gst_naclip_seg_debug, "naclipseg", 0,
      "NACLIP open-vocabulary segmentation");

  gobject_class->set_property = gst_naclip_seg_set_property;
  gobject_class->get_property = gst_naclip_seg_get_property;
  gobject_class->finalize = gst_naclip_seg_finalize;
  element_class->change_state = GST_DEBUG_FUNCPTR (gst_naclip_seg_change_state);

  gst_naclip_seg_properties_install (gobject_class);

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
   * A fixed camera can skip the patches that did not change since the last
   * inferred frame (reuse-threshold, README "Token reuse"):
   * |[
   * gst-launch-1.0 v4l2src ! videoconvert ! naclipseg classes="person,car" reuse-threshold=0.2 ! videoconvert ! autovideosink
   * ]|
   */
  gst_element_class_set_static_metadata (element_class, "NACLIP segmentation",
      "Filter/Analyzer/Video",
      "Open-vocabulary semantic segmentation (NACLIP on CLIP ViT). Labels: "
      "0 background, 1..N the classes in order. Metadata: GstNaclipSegMeta "
      "(label map; header gst/naclip/naclipmeta.h, library "
      "gstnaclipmeta-1.0) and one GstVideoRegionOfInterestMeta per present "
      "class (ids 0..k-1, params \"naclip-class\": label, class-name, "
      "coverage, confidence, class-set, fresh, age). Frames smaller than one "
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
  gst_type_mark_as_plugin_api (GST_TYPE_NACLIP_SEG_ASYNC_MODE, 0);
  gst_type_mark_as_plugin_api (GST_TYPE_NACLIP_SEG_ATTENTION, 0);
  gst_type_mark_as_plugin_api (GST_TYPE_NACLIP_SEG_ARCH, 0);
  gst_type_mark_as_plugin_api (GST_TYPE_NACLIP_SEG_PRECISION, 0);
}
