/* gstnaclipsegproperties.c: the properties of naclipseg: their specs and
 * docs, their storage, and the checks a new value goes through.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 *   - The specs: real limits (NACLIP_MAX_* from naclip.h), defaults read
 *     from naclip_params_default() for the library's parameters, a
 *     GstNaclipSeg:<name>: block for each non-trivial property. Tunables
 *     are GST_PARAM_MUTABLE_PLAYING; model-file, check-weights and async
 *     are GST_PARAM_MUTABLE_READY, which the element enforces itself:
 *     above READY a change is refused.
 *   - The storage (GstNaclipSegSettings) and the checks: a bad value (not
 *     UTF-8, a class list or template set that does not parse, library
 *     parameters naclip_params_validate() refuses, a precision this CPU
 *     cannot run) is refused with a warning on the bus and the old value
 *     kept. Checks parse strings and read small files, never encode.
 *   - The copies the element works from: the class job (for encoding) and
 *     the per-frame snapshot.
 *
 * Lock domain: the settings live under the element's object lock. set
 * and get take it themselves; nothing is posted on the bus while it is
 * held. Callers: the element (gstnaclipseg.c).
 */

#include "config.h"

#include "gstnaclipsegproperties.h"

#include <math.h>
#include <string.h>

#define GST_CAT_DEFAULT gst_naclip_seg_debug

#define DEFAULT_OUTPUT GST_NACLIP_SEG_OUTPUT_OVERLAY
#define DEFAULT_OUTPUT_SIZE GST_NACLIP_SEG_OUTPUT_SIZE_PROCESSING
#define DEFAULT_ALPHA 0.5
#define DEFAULT_INFERENCE_INTERVAL 1
#define DEFAULT_EXPIRE_RESULTS 0
#define DEFAULT_ASYNC GST_NACLIP_SEG_ASYNC_MODE_AUTO
#define DEFAULT_TEMPORAL_SMOOTHING 0.0
#define DEFAULT_POST_MESSAGES TRUE
#define DEFAULT_CHECK_WEIGHTS TRUE

#define TUNABLE                                                                \
  (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING)
#define READY_ONLY                                                             \
  (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY)
#define STATS (G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)

/* ------------------------------------------------------------------ */
/* The specs                                                           */

static char *
format_dilations (const NaclipParams *p)
{
  GString *s = g_string_new (NULL);

  for (guint i = 0; i < p->n_pamr_dilations; i++)
    g_string_append_printf (s, "%s%u", i ? "," : "", p->pamr_dilations[i]);
  return g_string_free (s, FALSE);
}

void
gst_naclip_seg_properties_install (GObjectClass *gobject_class)
{
  NaclipParams d = naclip_params_default ();
  g_autofree char *dilations = format_dilations (&d);

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
  /**
   * GstNaclipSeg:precision:
   *
   * The arithmetic of the matrix products: `fp32` everywhere, `bf16` with
   * oneDNN on AVX512-BF16 or AMX, `int8` (opt-in: 8-bit linear layers
   * through oneDNN, everything else in bf16 or fp32) with oneDNN, `auto`
   * (bf16 where it runs, else fp32; never int8). A precision the CPU or
   * the build cannot run is refused with a warning and the previous one
   * kept; `naclip info` lists the ones that run.
   */
  g_object_class_install_property (gobject_class, PROP_PRECISION,
      g_param_spec_enum ("precision", "Precision",
          "Arithmetic of the matrix products", GST_TYPE_NACLIP_SEG_PRECISION,
          d.precision, TUNABLE));
  /**
   * GstNaclipSeg:reuse-threshold:
   *
   * Token reuse between inferred frames (Eventful Transformers): 0 (the
   * default) computes every frame in full. Above 0, each vision block but
   * the last computes again only the patches whose input or attention
   * output moved by at least this relative L2 change since they were last
   * computed, and keeps its earlier output for the others. It helps where
   * most of the picture stands still between inferred frames: a fixed
   * camera (surveillance, traffic, retail, a desk webcam) with small moving
   * objects: 3.1-3.3x (fp32), 2.6-2.8x (bf16) or 2.25x (int8) less encoder
   * time for ViT-B/16 with 99 % of the labels of the full forward at 0.2 on
   * 2 cores (README, "Token reuse"); little for ViT-B/32 at 224, whose
   * patches are each a large part of the picture. It does not help when
   * the whole picture changes: a moving or shaking camera, a zoom, a light
   * change, scene cuts, a large inference-interval; there, when more than
   * half the patches move, the frame is computed in full at the cost of
   * one comparison. Larger values skip more and drift more (refreshed
   * every reuse-refresh frames); the "naclipseg" message tells the share
   * computed (reuse-computed). Reuse starts again after a caps change, a
   * flush (a seek), a discontinuity and a new threshold, not after a class
   * change. Costs six arrays of activations per block and five more
   * (44 MB for ViT-B/16 at 224).
   */
  g_object_class_install_property (gobject_class, PROP_REUSE_THRESHOLD,
      g_param_spec_float ("reuse-threshold", "Reuse threshold",
          "Token reuse between frames: recompute a patch when its input or "
          "attention moved by this relative L2 change; 0 = off (helps static "
          "cameras, not pans)",
          0.0f, NACLIP_MAX_REUSE_THRESHOLD, d.reuse_threshold, TUNABLE));
  /**
   * GstNaclipSeg:reuse-refresh:
   *
   * With reuse-threshold above 0: every this many inferred frames all
   * patches are computed, which bounds the drift of the reused ones. 0
   * refreshes only on caps changes, flushes and discontinuities.
   */
  g_object_class_install_property (gobject_class, PROP_REUSE_REFRESH,
      g_param_spec_uint ("reuse-refresh", "Reuse refresh",
          "With token reuse: compute every patch every N inferred frames; 0 = "
          "only on caps changes, flushes and discontinuities",
          0, G_MAXUINT, d.reuse_refresh, TUNABLE));
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
   * GstNaclipSeg:class-colors:
   *
   * The colour each class is drawn with in overlay mode:
   * "person:#ff0000,car:#00ff00", a name as in classes (any of a class's
   * synonyms, compared case-folded) and a colour #RRGGBB per item. Classes
   * without one keep the PASCAL VOC palette colour of their label. The same
   * syntax as naclip segment --class-colors (naclip_class_colors_parse()).
   * A malformed value is refused with a warning naming the item and the
   * previous one kept; a name that matches no class is ignored (logged).
   */
  g_object_class_install_property (gobject_class, PROP_CLASS_COLORS,
      g_param_spec_string ("class-colors", "Class colours",
          "Overlay colour of classes by name, \"name:#RRGGBB,...\" (unset: "
          "the PASCAL VOC palette)",
          NULL, TUNABLE));
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
   * Which thread segments. sync: the streaming thread segments every due
   * frame (inference-interval) and each frame waits for its own result, so
   * a recording is labelled frame by frame; the element adds its longest
   * inference to the LATENCY answer. async: a worker segments the newest
   * frame while frames keep flowing with the latest finished result, never
   * waiting; no latency is added. Unless expire-results is set, a result
   * is dropped once it is older than a steady stream can make it: L +
   * max (L, G), L the longest time from a frame's arrival to its result
   * and G the longest gap between frames, over the last 8 of each. So a
   * frame never carries a result older than two inference times (one
   * inference and one frame when inference is faster than the frames);
   * when inference slows down, frames pass without the stale result. The
   * metadata (ROI param age) and the "naclipseg" message (latency) say how
   * old results are. auto (the default): async when
   * upstream is live (the LATENCY query: cameras, live sources), else sync
   * (files), decided when the stream starts. "true" and "false" still mean
   * async and sync.
   */
  g_object_class_install_property (gobject_class, PROP_ASYNC,
      g_param_spec_enum ("async", "Asynchronous",
          "Who segments: sync (streaming thread, every frame its own "
          "result), async (a worker, frames never wait), auto (async when "
          "upstream is live)",
          GST_TYPE_NACLIP_SEG_ASYNC_MODE, DEFAULT_ASYNC, READY_ONLY));
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
   * timestamp, stream-time, running-time, duration, latency (ns from the
   * frame's arrival in the element to its result), class-set,
   * background-coverage, reuse-computed (the share of vision tokens the
   * frame computed, 1 without reuse-threshold), reuse-refreshed (all of them
   * were), arrays classes, coverage, confidence and present (index i =
   * label i + 1), and stage-times, a structure "naclipseg-stage-times"
   * saying where the time of the inference went, ns: preprocess, encoder,
   * logits, pamr, labels (the library's stages) and statistics (temporal
   * smoothing and the per-class statistics).
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
}

/* ------------------------------------------------------------------ */
/* Storage                                                             */

void
gst_naclip_seg_settings_init (GstNaclipSegSettings *s)
{
  memset (s, 0, sizeof (*s));
  s->params = naclip_params_default ();
  s->pamr_dilations = format_dilations (&s->params);
  s->check_weights = DEFAULT_CHECK_WEIGHTS;
  s->templates = g_strdup (GST_NACLIP_SEG_DEFAULT_TEMPLATES);
  s->output = DEFAULT_OUTPUT;
  s->output_size = DEFAULT_OUTPUT_SIZE;
  s->alpha = DEFAULT_ALPHA;
  s->inference_interval = DEFAULT_INFERENCE_INTERVAL;
  s->expire_results = DEFAULT_EXPIRE_RESULTS;
  s->async = DEFAULT_ASYNC;
  s->temporal_smoothing = DEFAULT_TEMPORAL_SMOOTHING;
  s->post_messages = DEFAULT_POST_MESSAGES;
}

void
gst_naclip_seg_settings_clear (GstNaclipSegSettings *s)
{
  g_clear_pointer (&s->model_file, g_free);
  g_clear_pointer (&s->classes, g_free);
  g_clear_pointer (&s->classes_file, g_free);
  g_clear_pointer (&s->background_classes, g_free);
  g_clear_pointer (&s->templates, g_free);
  g_clear_pointer (&s->selected_classes, g_free);
  g_clear_pointer (&s->class_colors, g_free);
  g_clear_pointer (&s->pamr_dilations, g_free);
}

GstNaclipSegClassJob *
gst_naclip_seg_settings_class_job (const GstNaclipSegSettings *s)
{
  GstNaclipSegClassJob *job = g_new0 (GstNaclipSegClassJob, 1);

  job->classes = g_strdup (s->classes);
  job->classes_file = g_strdup (s->classes_file);
  job->background = g_strdup (s->background_classes);
  job->templates = g_strdup (s->templates);
  job->threads = s->params.threads;
  job->precision = s->params.precision;
  return job;
}

void
gst_naclip_seg_settings_snapshot (
    const GstNaclipSegSettings *s, GstNaclipSegSnapshot *snap)
{
  snap->params = s->params;
  snap->output = s->output;
  snap->output_size = s->output_size;
  snap->alpha = (guint8)lround (s->alpha * 255.0);
  snap->inference_interval = s->inference_interval;
  snap->expire_results = s->expire_results;
  snap->temporal_smoothing = s->temporal_smoothing;
  snap->post_messages = s->post_messages;
  snap->selected_classes = g_strdup (s->selected_classes);
  snap->class_colors = g_strdup (s->class_colors);
}

/* ------------------------------------------------------------------ */
/* Checks and changes                                                  */

static gboolean
is_running (GstElement *element)
{
  return GST_STATE (element) > GST_STATE_READY
         || GST_STATE_PENDING (element) > GST_STATE_READY;
}

/* Refuses a property value: keeps the old one, logs and posts a warning.
 * Call without the object lock. */
static void
refuse_property (GstElement *element, const GParamSpec *pspec, const char *why)
{
  char *text = g_strdup_printf (
      "Property %s: %s; keeping the previous value", pspec->name, why);

  GST_WARNING_OBJECT (element, "%s", text);
  gst_element_message_full (element, GST_MESSAGE_WARNING, GST_LIBRARY_ERROR,
      GST_LIBRARY_ERROR_SETTINGS, text, NULL, __FILE__, GST_FUNCTION, __LINE__);
}

/* Stores a string property, refusing invalid UTF-8. Object lock held.
 * Returns TRUE if the value changed. */
static gboolean
store_string (GstElement *element, const GParamSpec *pspec, char **field,
    const GValue *value)
{
  const char *s = g_value_get_string (value);

  if (s != NULL && !g_utf8_validate (s, -1, NULL)) {
    GST_OBJECT_UNLOCK (element);
    refuse_property (element, pspec, "not valid UTF-8");
    GST_OBJECT_LOCK (element);
    return FALSE;
  }
  if (g_strcmp0 (*field, s) == 0)
    return FALSE;
  GST_DEBUG_OBJECT (element, "%s: \"%s\" -> \"%s\"", pspec->name,
      GST_STR_NULL (*field), GST_STR_NULL (s));
  g_free (*field);
  *field = g_strdup (s);
  return TRUE;
}

/* Sets one field of the library params through a trial copy; refuses it if
 * naclip_params_validate() does. Object lock held. */
static void
store_params (GstElement *element, GstNaclipSegSettings *s,
    const GParamSpec *pspec, NaclipParams *trial)
{
  GError *error = NULL;

  if (!naclip_params_validate (trial, &error)) {
    GST_OBJECT_UNLOCK (element);
    refuse_property (element, pspec, error->message);
    g_clear_error (&error);
    GST_OBJECT_LOCK (element);
    return;
  }
  GST_DEBUG_OBJECT (element, "%s changed", pspec->name);
  s->params = *trial;
}

/* Checks a new value of classes, classes-file, background-classes or
 * templates together with the current values of the others (parsing and
 * small file reads only, no encoding). Call without the object lock. */
static gboolean
validate_class_properties (GstElement *element, const GstNaclipSegSettings *s,
    guint prop_id, const char *value, GError **error)
{
  GstNaclipSegClassJob *job;
  char **field = NULL;
  gboolean ok;

  if (value != NULL && !g_utf8_validate (value, -1, NULL)) {
    g_set_error (
        error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT, "not valid UTF-8");
    return FALSE;
  }
  GST_OBJECT_LOCK (element);
  job = gst_naclip_seg_settings_class_job (s);
  GST_OBJECT_UNLOCK (element);
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

GstNaclipSegChange
gst_naclip_seg_settings_set (GstElement *element, GstNaclipSegSettings *s,
    guint prop_id, const GValue *value, GParamSpec *pspec)
{
  GstNaclipSegChange change = GST_NACLIP_SEG_CHANGED_VALUE;
  NaclipParams trial;

  if (prop_id == PROP_CLASSES || prop_id == PROP_CLASSES_FILE
      || prop_id == PROP_BACKGROUND_CLASSES || prop_id == PROP_TEMPLATES) {
    GError *error = NULL;
    if (!validate_class_properties (
            element, s, prop_id, g_value_get_string (value), &error)) {
      refuse_property (element, pspec, error->message);
      g_clear_error (&error);
      return change;
    }
  }

  GST_OBJECT_LOCK (element);
  trial = s->params;
  switch (prop_id) {
    case PROP_MODEL_FILE:
      if (is_running (element)) {
        GST_OBJECT_UNLOCK (element);
        refuse_property (element, pspec,
            "the model can only change in the NULL or READY state");
        return change;
      }
      store_string (element, pspec, &s->model_file, value);
      break;
    case PROP_CHECK_WEIGHTS:
      if (is_running (element)) {
        GST_OBJECT_UNLOCK (element);
        refuse_property (element, pspec,
            "check-weights only applies when the model is loaded, in the "
            "NULL or READY state");
        return change;
      }
      s->check_weights = g_value_get_boolean (value);
      break;
    case PROP_CLASSES:
      if (store_string (element, pspec, &s->classes, value))
        change = GST_NACLIP_SEG_CHANGED_CLASSES;
      break;
    case PROP_CLASSES_FILE:
      if (store_string (element, pspec, &s->classes_file, value))
        change = GST_NACLIP_SEG_CHANGED_CLASSES;
      break;
    case PROP_BACKGROUND_CLASSES:
      if (store_string (element, pspec, &s->background_classes, value))
        change = GST_NACLIP_SEG_CHANGED_CLASSES;
      break;
    case PROP_TEMPLATES:
      if (g_value_get_string (value) == NULL) {
        GST_OBJECT_UNLOCK (element);
        refuse_property (
            element, pspec, "a template set name or file is needed");
        return change;
      }
      if (store_string (element, pspec, &s->templates, value))
        change = GST_NACLIP_SEG_CHANGED_CLASSES;
      break;
    case PROP_CLASS_CONFIDENCE_THRESHOLD:
      trial.class_confidence_threshold = g_value_get_float (value);
      store_params (element, s, pspec, &trial);
      break;
    case PROP_INFERENCE_SIZE:
      trial.inference_size = g_value_get_uint (value);
      store_params (element, s, pspec, &trial);
      break;
    case PROP_SLIDE_CROP:
      trial.slide_crop = g_value_get_uint (value);
      store_params (element, s, pspec, &trial);
      break;
    case PROP_SLIDE_STRIDE:
      trial.slide_stride = g_value_get_uint (value);
      store_params (element, s, pspec, &trial);
      break;
    case PROP_ATTENTION:
      trial.attention = g_value_get_enum (value);
      store_params (element, s, pspec, &trial);
      break;
    case PROP_ARCH:
      trial.arch = g_value_get_enum (value);
      store_params (element, s, pspec, &trial);
      break;
    case PROP_GAUSSIAN_STD:
      trial.gaussian_std = g_value_get_float (value);
      store_params (element, s, pspec, &trial);
      break;
    case PROP_LOGIT_SCALE:
      trial.logit_scale = g_value_get_float (value);
      store_params (element, s, pspec, &trial);
      break;
    case PROP_PAMR_STEPS:
      trial.pamr_steps = g_value_get_uint (value);
      store_params (element, s, pspec, &trial);
      break;
    case PROP_PAMR_DILATIONS: {
      const char *str = g_value_get_string (value);
      GError *error = NULL;
      if (str == NULL
          || !naclip_parse_dilations (
              str, trial.pamr_dilations, &trial.n_pamr_dilations, &error)) {
        GST_OBJECT_UNLOCK (element);
        refuse_property (element, pspec,
            error != NULL ? error->message
                          : "a list such as \"8,16\" is needed");
        g_clear_error (&error);
        return change;
      }
      store_params (element, s, pspec, &trial);
      if (memcmp (&trial, &s->params, sizeof (trial)) == 0) {
        g_free (s->pamr_dilations);
        s->pamr_dilations = g_strdup (str);
      }
      break;
    }
    case PROP_THREADS:
      trial.threads = g_value_get_uint (value);
      store_params (element, s, pspec, &trial);
      break;
    case PROP_PRECISION: {
      NaclipPrecision resolved;
      GError *error = NULL;
      trial.precision = g_value_get_enum (value);
      /* bf16 on a CPU or build without it is refused here, with the
       * reason, rather than failing every frame */
      if (!naclip_precision_resolve (trial.precision, &resolved, &error)) {
        GST_OBJECT_UNLOCK (element);
        refuse_property (element, pspec, error->message);
        g_clear_error (&error);
        GST_OBJECT_LOCK (element);
        break;
      }
      store_params (element, s, pspec, &trial);
      break;
    }
    case PROP_REUSE_THRESHOLD:
      trial.reuse_threshold = g_value_get_float (value);
      store_params (element, s, pspec, &trial);
      break;
    case PROP_REUSE_REFRESH:
      trial.reuse_refresh = g_value_get_uint (value);
      store_params (element, s, pspec, &trial);
      break;
    case PROP_OUTPUT:
      if (s->output != (GstNaclipSegOutput)g_value_get_enum (value)
          && (s->output == GST_NACLIP_SEG_OUTPUT_LABELS
              || g_value_get_enum (value) == GST_NACLIP_SEG_OUTPUT_LABELS))
        change = GST_NACLIP_SEG_CHANGED_CAPS;
      s->output = g_value_get_enum (value);
      break;
    case PROP_OUTPUT_SIZE:
      s->output_size = g_value_get_enum (value);
      break;
    case PROP_ALPHA:
      s->alpha = g_value_get_double (value);
      break;
    case PROP_SELECTED_CLASSES:
      store_string (element, pspec, &s->selected_classes, value);
      break;
    case PROP_CLASS_COLORS: {
      const char *str = g_value_get_string (value);
      NaclipClassColors *colors = NULL;
      GError *error = NULL;
      if (str != NULL
          && (colors = naclip_class_colors_parse (str, &error)) == NULL) {
        GST_OBJECT_UNLOCK (element);
        refuse_property (element, pspec, error->message);
        g_clear_error (&error);
        return change;
      }
      naclip_class_colors_free (colors);
      store_string (element, pspec, &s->class_colors, value);
      break;
    }
    case PROP_INFERENCE_INTERVAL:
      s->inference_interval = g_value_get_uint (value);
      break;
    case PROP_EXPIRE_RESULTS:
      s->expire_results = g_value_get_uint64 (value);
      break;
    case PROP_ASYNC:
      if (is_running (element)) {
        GST_OBJECT_UNLOCK (element);
        refuse_property (
            element, pspec, "async can only change in the NULL or READY state");
        return change;
      }
      s->async = g_value_get_enum (value);
      break;
    case PROP_TEMPORAL_SMOOTHING:
      s->temporal_smoothing = g_value_get_double (value);
      break;
    case PROP_POST_MESSAGES:
      s->post_messages = g_value_get_boolean (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (element, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (element);
  return change;
}

gboolean
gst_naclip_seg_settings_get (GstElement *element, const GstNaclipSegSettings *s,
    guint prop_id, GValue *value)
{
  gboolean known = TRUE;

  GST_OBJECT_LOCK (element);
  switch (prop_id) {
    case PROP_MODEL_FILE:
      g_value_set_string (value, s->model_file);
      break;
    case PROP_CHECK_WEIGHTS:
      g_value_set_boolean (value, s->check_weights);
      break;
    case PROP_CLASSES:
      g_value_set_string (value, s->classes);
      break;
    case PROP_CLASSES_FILE:
      g_value_set_string (value, s->classes_file);
      break;
    case PROP_BACKGROUND_CLASSES:
      g_value_set_string (value, s->background_classes);
      break;
    case PROP_TEMPLATES:
      g_value_set_string (value, s->templates);
      break;
    case PROP_CLASS_CONFIDENCE_THRESHOLD:
      g_value_set_float (value, s->params.class_confidence_threshold);
      break;
    case PROP_INFERENCE_SIZE:
      g_value_set_uint (value, s->params.inference_size);
      break;
    case PROP_SLIDE_CROP:
      g_value_set_uint (value, s->params.slide_crop);
      break;
    case PROP_SLIDE_STRIDE:
      g_value_set_uint (value, s->params.slide_stride);
      break;
    case PROP_ATTENTION:
      g_value_set_enum (value, s->params.attention);
      break;
    case PROP_ARCH:
      g_value_set_enum (value, s->params.arch);
      break;
    case PROP_GAUSSIAN_STD:
      g_value_set_float (value, s->params.gaussian_std);
      break;
    case PROP_LOGIT_SCALE:
      g_value_set_float (value, s->params.logit_scale);
      break;
    case PROP_PAMR_STEPS:
      g_value_set_uint (value, s->params.pamr_steps);
      break;
    case PROP_PAMR_DILATIONS:
      g_value_set_string (value, s->pamr_dilations);
      break;
    case PROP_THREADS:
      g_value_set_uint (value, s->params.threads);
      break;
    case PROP_PRECISION:
      g_value_set_enum (value, s->params.precision);
      break;
    case PROP_REUSE_THRESHOLD:
      g_value_set_float (value, s->params.reuse_threshold);
      break;
    case PROP_REUSE_REFRESH:
      g_value_set_uint (value, s->params.reuse_refresh);
      break;
    case PROP_OUTPUT:
      g_value_set_enum (value, s->output);
      break;
    case PROP_OUTPUT_SIZE:
      g_value_set_enum (value, s->output_size);
      break;
    case PROP_ALPHA:
      g_value_set_double (value, s->alpha);
      break;
    case PROP_SELECTED_CLASSES:
      g_value_set_string (value, s->selected_classes);
      break;
    case PROP_CLASS_COLORS:
      g_value_set_string (value, s->class_colors);
      break;
    case PROP_INFERENCE_INTERVAL:
      g_value_set_uint (value, s->inference_interval);
      break;
    case PROP_EXPIRE_RESULTS:
      g_value_set_uint64 (value, s->expire_results);
      break;
    case PROP_ASYNC:
      g_value_set_enum (value, s->async);
      break;
    case PROP_TEMPORAL_SMOOTHING:
      g_value_set_double (value, s->temporal_smoothing);
      break;
    case PROP_POST_MESSAGES:
      g_value_set_boolean (value, s->post_messages);
      break;
    default:
      known = FALSE;
      break;
  }
  GST_OBJECT_UNLOCK (element);
  return known;
}
