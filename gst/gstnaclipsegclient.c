/* gstnaclipsegclient.c: the inference client of naclipseg: the model, the
 * class lists, and a frame in, a labelled and measured result out.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * As ext/onnx keeps its inference client apart from the element, this file
 * holds what the element asks of the naclip library:
 *   - model path resolution and the models shared between elements;
 *   - class lists: checking them without the model (set_property) and
 *     encoding them (start(), the worker);
 *   - the one conversion of a GstVideoFrame into a NaclipImage;
 *   - segmentation: the context, the probabilities, temporal smoothing, the
 *     labels and statistics (all computed by the library: this file only
 *     decides when the smoothing average restarts), packed into a
 *     GstNaclipSegPublished result.
 *
 * Lock domain: the client has no lock. The element's start() and stop()
 * load and free it while no other thread uses it; in between the model is
 * read-only (class encoding in any thread) and the context, probabilities
 * and smoothing belong to the one thread that segments (the streaming
 * thread in sync mode, the worker in async mode: gstnaclipsegscheduler.c).
 * `stopping` (atomic), the cancellable and naclip_context_cancel() are the
 * thread-safe part. The shared-model table has its own lock. Callers: the
 * element and the scheduler.
 */

#include "config.h"

#include "gstnaclipsegclient.h"

#include <string.h>

#define GST_CAT_DEFAULT gst_naclip_seg_debug

struct _GstNaclipSegClient
{
  GstElement *element; /* the owner, borrowed: names the client in logs */

  /* Any thread. */
  gint stopping;             /* atomic: refuse to segment, see set_stopping() */
  GCancellable *cancellable; /* stops class encodings */

  /* Loaded and freed by start() and stop(); read-only in between. */
  NaclipModel *model;
  char *model_path; /* the key model was acquired with */
  guint patch_size; /* px */

  /* The thread that segments. */
  NaclipContext *ctx;
  NaclipParams params; /* applied to ctx */
  float *probs;        /* (n_classes + 1, h, w) of the last segment call */
  gsize probs_len;     /* floats */
  NaclipSmoothing *smoothing;
  guint64 smooth_class_set; /* class set the average belongs to */
  guint smooth_gen;         /* flush generation the average belongs to */
  guint reuse_gen;          /* stream generation the reused tokens are of */
};

/* ------------------------------------------------------------------ */
/* Results and class jobs                                              */

static void
published_clear (gpointer data)
{
  GstNaclipSegPublished *pub = data;

  gst_naclip_seg_result_unref (pub->result);
  naclip_queries_unref (pub->queries);
  g_free (pub->stats);
}

GstNaclipSegPublished *
gst_naclip_seg_published_ref (GstNaclipSegPublished *pub)
{
  return g_atomic_rc_box_acquire (pub);
}

void
gst_naclip_seg_published_unref (GstNaclipSegPublished *pub)
{
  if (pub != NULL)
    g_atomic_rc_box_release_full (pub, published_clear);
}

void
gst_naclip_seg_class_job_free (GstNaclipSegClassJob *job)
{
  if (job == NULL)
    return;
  g_free (job->classes);
  g_free (job->classes_file);
  g_free (job->background);
  g_free (job->templates);
  g_free (job);
}

/* The class list of @job: classes, else classes-file; NULL without an
 * error when neither is set. */
static NaclipClasses *
load_classes (const GstNaclipSegClassJob *job, GError **error)
{
  if (job->classes != NULL && job->classes[0] != '\0')
    return naclip_classes_parse (job->classes, job->background, error);
  if (job->classes_file != NULL && job->classes_file[0] != '\0')
    return naclip_classes_load (job->classes_file, job->background, error);
  return NULL;
}

static NaclipTemplates *
load_templates (const GstNaclipSegClassJob *job, GError **error)
{
  return naclip_templates_load (job->templates != NULL
                                    ? job->templates
                                    : GST_NACLIP_SEG_DEFAULT_TEMPLATES,
      error);
}

gboolean
gst_naclip_seg_class_job_check (
    const GstNaclipSegClassJob *job, gboolean templates, GError **error)
{
  NaclipTemplates *t = NULL;
  NaclipClasses *classes = NULL;
  GError *local = NULL;
  gboolean ok;

  if (templates) {
    t = load_templates (job, error);
    ok = t != NULL;
  } else {
    classes = load_classes (job, &local);
    ok = local == NULL;
    if (!ok)
      g_propagate_error (error, local);
  }
  naclip_templates_free (t);
  naclip_classes_free (classes);
  return ok;
}

/* ------------------------------------------------------------------ */
/* Models                                                              */

/* Models are shared by every element of the process that uses the same
 * path while at least one of them runs (NaclipModel is immutable and
 * thread-safe): a second element costs no load time and no second copy of
 * widened weights. The entry goes when its last user stops, so a model file
 * replaced on disk is read again by the next element that starts alone. */
typedef struct
{
  NaclipModel *model;
  guint n_users;
} SharedModel;

G_LOCK_DEFINE_STATIC (shared_models);
static GHashTable *shared_models; /* path -> SharedModel */

static void
shared_model_free (gpointer data)
{
  SharedModel *shared = data;

  naclip_model_unref (shared->model);
  g_free (shared);
}

/* Returns a new reference to the model at @path, loading it if no running
 * element uses it; NULL with @error set on failure. */
static NaclipModel *
acquire_model (const char *path, gboolean check_weights, GError **error)
{
  SharedModel *shared;
  NaclipModel *model = NULL;

  G_LOCK (shared_models);
  if (shared_models == NULL)
    shared_models = g_hash_table_new_full (
        g_str_hash, g_str_equal, g_free, shared_model_free);
  shared = g_hash_table_lookup (shared_models, path);
  if (shared == NULL) {
    model = naclip_model_load (path, check_weights, error);
    if (model != NULL) {
      shared = g_new0 (SharedModel, 1);
      shared->model = model;
      g_hash_table_insert (shared_models, g_strdup (path), shared);
    }
  }
  if (shared != NULL) {
    shared->n_users++;
    model = naclip_model_ref (shared->model);
  }
  if (g_hash_table_size (shared_models) == 0)
    g_clear_pointer (&shared_models, g_hash_table_unref);
  G_UNLOCK (shared_models);
  return model;
}

/* Drops @model, acquired for @path, and its use. Accepts NULL. */
static void
release_model (const char *path, NaclipModel *model)
{
  SharedModel *shared;

  if (model == NULL)
    return;
  G_LOCK (shared_models);
  shared = shared_models ? g_hash_table_lookup (shared_models, path) : NULL;
  if (shared != NULL && shared->model == model && --shared->n_users == 0)
    g_hash_table_remove (shared_models, path);
  if (shared_models != NULL && g_hash_table_size (shared_models) == 0)
    g_clear_pointer (&shared_models, g_hash_table_unref);
  G_UNLOCK (shared_models);
  naclip_model_unref (model);
}

char *
gst_naclip_seg_default_model_path (void)
{
  return g_build_filename (
      g_get_user_data_dir (), GST_NACLIP_SEG_DEFAULT_MODEL_SUBDIR, NULL);
}

char *
gst_naclip_seg_resolve_model_path (const char *model_file)
{
  const char *env = g_getenv ("NACLIP_MODEL");

  if (model_file != NULL && model_file[0] != '\0')
    return g_strdup (model_file);
  if (env != NULL && env[0] != '\0')
    return g_strdup (env);
  return gst_naclip_seg_default_model_path ();
}

/* ------------------------------------------------------------------ */
/* The client                                                          */

GstNaclipSegClient *
gst_naclip_seg_client_new (GstElement *element)
{
  GstNaclipSegClient *client = g_new0 (GstNaclipSegClient, 1);

  client->element = element;
  client->cancellable = g_cancellable_new ();
  return client;
}

void
gst_naclip_seg_client_free (GstNaclipSegClient *client)
{
  if (client == NULL)
    return;
  gst_naclip_seg_client_close (client);
  g_object_unref (client->cancellable);
  g_free (client);
}

gboolean
gst_naclip_seg_client_load_model (GstNaclipSegClient *client, const char *path,
    gboolean check_weights, GError **error)
{
  client->model = acquire_model (path, check_weights, error);
  client->model_path = g_strdup (path);
  if (client->model == NULL)
    return FALSE;
  client->patch_size = naclip_model_get_info (client->model)->patch_size;
  return TRUE;
}

gboolean
gst_naclip_seg_client_new_context (
    GstNaclipSegClient *client, const NaclipParams *params, GError **error)
{
  client->params = *params;
  client->smoothing = naclip_smoothing_new ();
  client->ctx = naclip_context_new (client->model, error);
  if (client->ctx == NULL
      || !naclip_context_set_params (client->ctx, &client->params, error))
    return FALSE;
  GST_INFO_OBJECT (client->element, "matrix products in %s on %u threads",
      naclip_precision_to_string (naclip_context_get_precision (client->ctx)),
      client->params.threads);
  return TRUE;
}

void
gst_naclip_seg_client_close (GstNaclipSegClient *client)
{
  g_clear_pointer (&client->ctx, naclip_context_free);
  g_clear_pointer (&client->probs, g_free);
  client->probs_len = 0;
  g_clear_pointer (&client->smoothing, naclip_smoothing_free);
  release_model (client->model_path, client->model);
  client->model = NULL;
  g_clear_pointer (&client->model_path, g_free);
}

guint
gst_naclip_seg_client_get_patch_size (const GstNaclipSegClient *client)
{
  return client->patch_size;
}

void
gst_naclip_seg_client_cancel (GstNaclipSegClient *client)
{
  if (client->ctx != NULL)
    naclip_context_cancel (client->ctx);
}

void
gst_naclip_seg_client_set_stopping (
    GstNaclipSegClient *client, gboolean stopping)
{
  g_atomic_int_set (&client->stopping, stopping);
  if (!stopping) {
    g_cancellable_reset (client->cancellable);
    return;
  }
  g_cancellable_cancel (client->cancellable);
  gst_naclip_seg_client_cancel (client);
}

NaclipQueries *
gst_naclip_seg_client_encode_classes (
    GstNaclipSegClient *client, const GstNaclipSegClassJob *job, GError **error)
{
  NaclipClasses *classes = NULL;
  NaclipTemplates *templates = NULL;
  NaclipQueries *queries = NULL;
  NaclipEncodeOptions options = naclip_encode_options_default ();
  GError *local = NULL;

  classes = load_classes (job, &local);
  if (classes == NULL && local == NULL)
    g_set_error (&local, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
        "no classes: set the classes property (e.g. classes=\"sky,road,car\")"
        " or classes-file");
  if (classes == NULL) {
    g_propagate_error (error, local);
    goto out;
  }
  templates = load_templates (job, error);
  if (templates == NULL)
    goto out;
  options.threads = job->threads;
  options.precision = job->precision;
  options.truncate = TRUE;
  options.cancellable = client->cancellable;
  queries = naclip_queries_encode (
      client->model, classes, templates, &options, error);

out:
  naclip_templates_free (templates);
  naclip_classes_free (classes);
  return queries;
}

/* ------------------------------------------------------------------ */
/* Segmentation                                                        */

/* The only conversion from a GstVideoFrame to a NaclipImage: planes and
 * strides come from the frame (so GstVideoMeta strides and offsets are
 * honoured), the YUV matrix from its colorimetry. */
static void
image_from_frame (const GstVideoFrame *frame, NaclipImage *image)
{
  const GstVideoInfo *info = &frame->info;
  gboolean full = info->colorimetry.range == GST_VIDEO_COLOR_RANGE_0_255;
  gboolean bt709 = info->colorimetry.matrix == GST_VIDEO_COLOR_MATRIX_BT709;

  memset (image, 0, sizeof (*image));
  switch (GST_VIDEO_INFO_FORMAT (info)) {
    case GST_VIDEO_FORMAT_RGB:
      image->format = NACLIP_PIXEL_RGB;
      break;
    case GST_VIDEO_FORMAT_BGR:
      image->format = NACLIP_PIXEL_BGR;
      break;
    case GST_VIDEO_FORMAT_RGBx:
      image->format = NACLIP_PIXEL_RGBX;
      break;
    case GST_VIDEO_FORMAT_BGRx:
      image->format = NACLIP_PIXEL_BGRX;
      break;
    case GST_VIDEO_FORMAT_xRGB:
      image->format = NACLIP_PIXEL_XRGB;
      break;
    case GST_VIDEO_FORMAT_xBGR:
      image->format = NACLIP_PIXEL_XBGR;
      break;
    case GST_VIDEO_FORMAT_RGBA:
      image->format = NACLIP_PIXEL_RGBA;
      break;
    case GST_VIDEO_FORMAT_BGRA:
      image->format = NACLIP_PIXEL_BGRA;
      break;
    case GST_VIDEO_FORMAT_ARGB:
      image->format = NACLIP_PIXEL_ARGB;
      break;
    case GST_VIDEO_FORMAT_ABGR:
      image->format = NACLIP_PIXEL_ABGR;
      break;
    case GST_VIDEO_FORMAT_I420:
      image->format = NACLIP_PIXEL_I420;
      break;
    case GST_VIDEO_FORMAT_NV12:
      image->format = NACLIP_PIXEL_NV12;
      break;
    default:
      g_assert_not_reached ();
  }
  image->width = GST_VIDEO_FRAME_WIDTH (frame);
  image->height = GST_VIDEO_FRAME_HEIGHT (frame);
  for (guint p = 0; p < GST_VIDEO_FRAME_N_PLANES (frame) && p < 3; p++) {
    image->data[p] = GST_VIDEO_FRAME_PLANE_DATA (frame, p);
    image->stride[p] = (gsize)GST_VIDEO_FRAME_PLANE_STRIDE (frame, p);
  }
  if (bt709)
    image->yuv_matrix = full ? NACLIP_YUV_BT709_FULL : NACLIP_YUV_BT709_LIMITED;
  else
    image->yuv_matrix = full ? NACLIP_YUV_BT601_FULL : NACLIP_YUV_BT601_LIMITED;
}

/* Makes *buf hold at least @n floats (contents not kept). */
static gboolean
ensure_floats (float **buf, gsize *len, gsize n)
{
  if (*len >= n)
    return TRUE;
  g_free (*buf);
  *len = 0;
  *buf = g_try_new (float, n);
  if (*buf == NULL)
    return FALSE;
  *len = n;
  return TRUE;
}

/* Applies temporal-smoothing to the probabilities of @r and labels @r
 * again from their average. Returns the probabilities the statistics use. */
static const float *
smooth_result (GstNaclipSegClient *client, GstNaclipSegResult *r,
    double smoothing, float threshold, guint gen, guint64 class_set)
{
  const float *avg;
  GError *error = NULL;

  if (smoothing <= 0.0)
    return client->probs;
  if (client->smooth_class_set != class_set || client->smooth_gen != gen) {
    naclip_smoothing_reset (client->smoothing);
    client->smooth_class_set = class_set;
    client->smooth_gen = gen;
  }
  avg = naclip_smoothing_update (client->smoothing, client->probs,
      r->n_classes + 1, r->width, r->height, (float)smoothing, &error);
  if (avg == NULL) {
    GST_WARNING_OBJECT (
        client->element, "no temporal smoothing: %s", error->message);
    g_clear_error (&error);
    return client->probs;
  }
  naclip_probs_to_labels (avg, r->n_classes + 1, r->width, r->height, threshold,
      r->labels, r->stride);
  return avg;
}

/* Fills coverage, confidence and the statistics from labels and @probs. */
static void
compute_statistics (GstNaclipSegPublished *pub, const float *probs)
{
  GstNaclipSegResult *r = pub->result;

  naclip_labels_compute_stats (r->labels, r->stride, r->width, r->height, probs,
      r->n_classes + 1, pub->stats);
  for (guint l = 0; l <= r->n_classes; l++) {
    r->coverage[l] = pub->stats[l].coverage;
    r->confidence[l] = pub->stats[l].confidence;
  }
}

GstNaclipSegPublished *
gst_naclip_seg_client_segment (GstNaclipSegClient *client,
    const GstVideoFrame *frame, const GstNaclipSegSnapshot *snap,
    NaclipQueries *queries, guint64 class_set, guint gen, guint reuse_gen,
    const GstNaclipSegTimes *times, gboolean *too_small, GError **error)
{
  const NaclipClasses *classes = naclip_queries_get_classes (queries);
  guint n_classes = naclip_classes_get_n_classes (classes);
  guint pw = 0, ph = 0, ow, oh;
  gsize n_probs = 0;
  GstNaclipSegResult *r = NULL;
  GstNaclipSegPublished *pub = NULL;
  const float *probs;
  NaclipImage image;
  NaclipTimings t;
  NaclipReuseStats reuse;
  gint64 t0;

  *too_small = FALSE;
  if (g_atomic_int_get (&client->stopping)) {
    g_set_error (
        error, NACLIP_ERROR, NACLIP_ERROR_CANCELLED, "the element is stopping");
    return NULL;
  }
  if (memcmp (&client->params, &snap->params, sizeof (NaclipParams)) != 0) {
    if (!naclip_context_set_params (client->ctx, &snap->params, error))
      return NULL;
    client->params = snap->params;
  }
  if (client->reuse_gen != reuse_gen) {
    naclip_context_reset_reuse (client->ctx);
    client->reuse_gen = reuse_gen;
  }
  image_from_frame (frame, &image);
  naclip_context_get_processing_size (
      client->ctx, image.width, image.height, &pw, &ph);
  if (pw < client->patch_size || ph < client->patch_size) {
    *too_small = TRUE;
    return NULL;
  }
  ow = snap->output_size == GST_NACLIP_SEG_OUTPUT_SIZE_FRAME ? image.width : pw;
  oh = snap->output_size == GST_NACLIP_SEG_OUTPUT_SIZE_FRAME ? image.height
                                                             : ph;
  r = gst_naclip_seg_result_new (ow, oh, n_classes);
  if (r == NULL || !g_size_checked_mul (&n_probs, (gsize)ow * oh, n_classes + 1)
      || !ensure_floats (&client->probs, &client->probs_len, n_probs)) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_NO_MEMORY,
        "cannot allocate a %ux%u label map with %u classes", ow, oh, n_classes);
    goto fail;
  }
  if (!naclip_context_segment (client->ctx, queries, &image, ow, oh, r->labels,
          r->stride, client->probs, error))
    goto fail;
  naclip_context_get_timings (client->ctx, &t);
  naclip_context_get_reuse_stats (client->ctx, &reuse);
  GST_DEBUG_OBJECT (client->element,
      "%ux%u -> %ux%u in %.1f ms (preprocess %.1f, encoder %.1f, logits "
      "%.1f, pamr %.1f, labels %.1f); tokens computed %" G_GUINT64_FORMAT
      " of %" G_GUINT64_FORMAT,
      image.width, image.height, ow, oh, t.total_ms, t.preprocess_ms,
      t.encoder_ms, t.logits_ms, t.pamr_ms, t.labels_ms, reuse.n_computed,
      reuse.n_rows);
  r->class_set = class_set;
  r->pts = times->pts;
  for (guint l = 0; l <= n_classes; l++)
    r->class_names[l] = g_strdup (naclip_classes_get_name (classes, l));
  t0 = g_get_monotonic_time ();
  probs = smooth_result (client, r, snap->temporal_smoothing,
      snap->params.class_confidence_threshold, gen, class_set);
  pub = g_atomic_rc_box_new0 (GstNaclipSegPublished);
  pub->result = r;
  pub->queries = naclip_queries_ref (queries);
  pub->stats = g_new (NaclipLabelStats, n_classes + 1);
  pub->times = *times;
  pub->reuse_computed = reuse.active && reuse.n_rows > 0
                            ? (double)reuse.n_computed / (double)reuse.n_rows
                            : 1.0;
  pub->reuse_refreshed = reuse.active && reuse.refreshed;
  pub->timings = t;
  compute_statistics (pub, probs);
  pub->statistics_ms = (g_get_monotonic_time () - t0) / 1000.0;
  pub->latency
      = (GstClockTime)MAX (g_get_monotonic_time () - times->arrival, 0) * 1000;
  return pub;

fail:
  gst_naclip_seg_result_unref (r);
  return NULL;
}
