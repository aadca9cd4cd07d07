/* segment.c: the per-frame pipeline of a segmentation context.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The authors' naclip.py (predict,
 * forward_feature, forward_slide, postprocess_result). For one image:
 *
 *   input     preprocess to the processing size (ph, pw): mmseg's short
 *             side rule (inference_size; 0 keeps the size), normalised,
 *             planar (3, ph, pw)
 *   windows   the whole image, or the sliding windows of forward_slide
 *             (crop c, stride s; all min(c, ph) x min(c, pw)), copied into
 *             one batch (n_windows, 3, ch, cw) and encoded in ONE
 *             naclip_vision_encode () call
 *   logits    per window: cosine logits (Q, gh * gw) = queries (Q, E) .
 *             features (gh * gw, E)^T, bilinearly upsampled to (Q, ch, cw)
 *             (the encoded size, not gh * P), summed into place in
 *             (Q, ph, pw) and divided by the per-pixel window count
 *   output    resized to the caller's output size (Q, oh, ow); at the
 *             processing size (the element's default) the logits are
 *             computed in place and the input is the PAMR guide, without
 *             a copy
 *   PAMR      on the normalised input resized to (3, oh, ow)
 *   labels    probs_q = softmax over q of (logits * logit_scale); a class's
 *             probability is the max over its queries (row 0: background
 *             names, 0 without them); label = first argmax over 0..N, and
 *             0 where that max is below class_confidence_threshold
 *             (naclip_labels_from_logits ())
 *
 * The pixel stages (image.c, pamr.c, labels.c) run 16-float vectors per
 * CPU level; each has a plain-C twin the tests compare it with.
 *
 * Planar float layouts (channels, rows, cols) throughout. Buffers belong to
 * the context and only grow: a call whose sizes fit what earlier calls
 * allocated allocates nothing (naclip_context_get_n_allocations () counts
 * the (re)allocations, for the tests).
 */

#include "config.h"

#include <math.h>
#include <string.h>

#include "naclip-private.h"

typedef struct
{
  float *data;
  gsize capacity; /* floats */
} Buffer;

struct _NaclipContext
{
  NaclipModel *model; /* referenced */
  NaclipParams params;
  NaclipDumpFunc dump_func;
  gpointer dump_data;
  NaclipVisionScratch *vision;
  NaclipMatmul *mm;      /* params.precision and params.threads */
  NaclipReuse *reuse;    /* params.reuse_threshold and reuse_refresh */
  gint cancelled;        /* atomic: naclip_context_cancel() */
  guint64 n_allocations; /* buffer (re)allocations so far */
  NaclipTimings timings; /* of the last call */

  Buffer input;         /* (3, ph, pw) normalised processed image */
  Buffer batch;         /* (n_windows, 3, ch, cw) sliding windows */
  Buffer features;      /* (n_windows, gh * gw, E) */
  Buffer block;         /* (gh * gw + 1, D), first window, dumps only */
  Buffer patch_logits;  /* (Q, gh * gw) */
  Buffer crop_logits;   /* (Q, ch, cw), sliding windows only */
  Buffer acc;           /* (Q, ph, pw) logits, when resized */
  Buffer count;         /* (ph, pw) windows covering each pixel */
  Buffer out_logits;    /* (Q, oh, ow) */
  Buffer out_image;     /* (3, oh, ow) PAMR guide, when resized */
  Buffer pamr_work;     /* naclip_pamr_work_size () */
  Buffer pixel_tmp;     /* naclip_labels_scratch_size () per thread */
  Buffer probs;         /* (n_labels, oh, ow), dumps without caller probs */
  Buffer labels_i32;    /* (oh, ow), dumps only */
  guint8 *query_labels; /* (Q): the label of each query */
  gsize query_labels_capacity;
};

NaclipContext *
naclip_context_new (NaclipModel *model, GError **error)
{
  NaclipContext *ctx;

  g_return_val_if_fail (model != NULL, NULL);

  ctx = g_try_new0 (NaclipContext, 1);
  if (ctx == NULL) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_NO_MEMORY,
        "cannot allocate a segmentation context");
    return NULL;
  }
  ctx->model = naclip_model_ref (model);
  ctx->params = naclip_params_default ();
  ctx->vision = naclip_vision_scratch_new ();
  ctx->reuse = naclip_reuse_new ();
  ctx->mm = naclip_matmul_new (naclip_model_get_matmul_cache (model),
      ctx->params.precision, NACLIP_MATMUL_BACKEND_AUTO, ctx->params.threads,
      error);
  if (ctx->mm == NULL)
    g_clear_pointer (&ctx, naclip_context_free);
  return ctx;
}

static void
clear_buffer (Buffer *b)
{
  g_clear_pointer (&b->data, g_free);
  b->capacity = 0;
}

void
naclip_context_free (NaclipContext *ctx)
{
  if (ctx == NULL)
    return;
  clear_buffer (&ctx->input);
  clear_buffer (&ctx->batch);
  clear_buffer (&ctx->features);
  clear_buffer (&ctx->block);
  clear_buffer (&ctx->patch_logits);
  clear_buffer (&ctx->crop_logits);
  clear_buffer (&ctx->acc);
  clear_buffer (&ctx->count);
  clear_buffer (&ctx->out_logits);
  clear_buffer (&ctx->out_image);
  clear_buffer (&ctx->pamr_work);
  clear_buffer (&ctx->pixel_tmp);
  clear_buffer (&ctx->probs);
  clear_buffer (&ctx->labels_i32);
  g_free (ctx->query_labels);
  naclip_vision_scratch_free (ctx->vision);
  naclip_reuse_free (ctx->reuse);
  naclip_matmul_free (ctx->mm);
  naclip_model_unref (ctx->model);
  g_free (ctx);
}

gboolean
naclip_context_set_params (
    NaclipContext *ctx, const NaclipParams *params, GError **error)
{
  guint patch;

  g_return_val_if_fail (ctx != NULL && params != NULL, FALSE);

  if (!naclip_params_validate (params, error))
    return FALSE;
  patch = naclip_model_get_info (ctx->model)->patch_size;
  if (params->slide_crop != 0 && params->slide_crop < patch) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
        "slide-crop %u is smaller than the model's patch size (%u px)",
        params->slide_crop, patch);
    return FALSE;
  }
  if (params->slide_crop != 0 && params->slide_stride > params->slide_crop) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
        "slide-stride %u is larger than slide-crop %u: the windows would "
        "leave pixels uncovered",
        params->slide_stride, params->slide_crop);
    return FALSE;
  }
  if (params->precision != ctx->params.precision) {
    NaclipMatmul *mm = naclip_matmul_new (
        naclip_model_get_matmul_cache (ctx->model), params->precision,
        NACLIP_MATMUL_BACKEND_AUTO, params->threads, error);
    if (mm == NULL)
      return FALSE;
    naclip_matmul_free (ctx->mm);
    ctx->mm = mm;
  } else {
    naclip_matmul_set_threads (ctx->mm, params->threads);
  }
  naclip_reuse_set (
      ctx->reuse, params->reuse_threshold, params->reuse_refresh, TRUE);
  ctx->params = *params;
  return TRUE;
}

NaclipPrecision
naclip_context_get_precision (const NaclipContext *ctx)
{
  g_return_val_if_fail (ctx != NULL, NACLIP_PRECISION_FP32);
  return naclip_matmul_get_precision (ctx->mm);
}

void
naclip_context_cancel (NaclipContext *ctx)
{
  g_return_if_fail (ctx != NULL);
  g_atomic_int_set (&ctx->cancelled, 1);
}

void
naclip_context_set_dump_func (
    NaclipContext *ctx, NaclipDumpFunc func, gpointer user_data)
{
  g_return_if_fail (ctx != NULL);
  ctx->dump_func = func;
  ctx->dump_data = user_data;
}

void
naclip_context_get_processing_size (const NaclipContext *ctx, guint width,
    guint height, guint *out_width, guint *out_height)
{
  g_return_if_fail (ctx != NULL);
  naclip_image_scaled_size (
      width, height, ctx->params.inference_size, out_width, out_height);
}

void
naclip_context_get_timings (const NaclipContext *ctx, NaclipTimings *timings)
{
  g_return_if_fail (ctx != NULL && timings != NULL);
  *timings = ctx->timings;
}

void
naclip_context_reset_reuse (NaclipContext *ctx)
{
  g_return_if_fail (ctx != NULL);
  naclip_reuse_reset (ctx->reuse);
}

void
naclip_context_get_reuse_stats (
    const NaclipContext *ctx, NaclipReuseStats *stats)
{
  g_return_if_fail (ctx != NULL && stats != NULL);
  memset (stats, 0, sizeof (*stats));
  stats->active = ctx->params.reuse_threshold > 0.0f;
  if (stats->active)
    naclip_reuse_get_stats (
        ctx->reuse, &stats->refreshed, &stats->n_rows, &stats->n_computed);
}

guint64
naclip_context_get_n_allocations (const NaclipContext *ctx)
{
  g_return_val_if_fail (ctx != NULL, 0);
  return ctx->n_allocations;
}

/* Windows per column and per row of forward_slide:
 * max (size - crop + stride - 1, 0) // stride + 1. */
static guint
count_windows (guint size, guint crop, guint stride)
{
  return size + stride - 1 > crop ? (size + stride - 1 - crop) / stride + 1 : 1;
}

guint
naclip_segment_n_windows (guint height, guint width, guint crop, guint stride)
{
  g_return_val_if_fail (height > 0 && width > 0, 0);
  g_return_val_if_fail (crop == 0 || stride > 0, 0);

  if (crop == 0)
    return 1;
  return count_windows (height, crop, stride)
         * count_windows (width, crop, stride);
}

void
naclip_segment_window (guint height, guint width, guint crop, guint stride,
    guint index, NaclipWindow *window)
{
  guint cols, y1, x1, y2, x2;

  g_return_if_fail (window != NULL);
  g_return_if_fail (
      index < naclip_segment_n_windows (height, width, crop, stride));

  if (crop == 0) {
    *window = (NaclipWindow){ 0, 0, height, width };
    return;
  }
  cols = count_windows (width, crop, stride);
  y1 = (index / cols) * stride;
  x1 = (index % cols) * stride;
  y2 = MIN (y1 + crop, height);
  x2 = MIN (x1 + crop, width);
  y1 = y2 > crop ? y2 - crop : 0;
  x1 = x2 > crop ? x2 - crop : 0;
  *window = (NaclipWindow){ y1, x1, y2, x2 };
}

/* Makes @b hold at least @n floats; @what names it in the error. */
static gboolean
ensure_buffer (
    NaclipContext *ctx, Buffer *b, gsize n, const char *what, GError **error)
{
  if (b->capacity >= n)
    return TRUE;
  if (!naclip_buffer_grow (
          (gpointer *)&b->data, &b->capacity, n, sizeof (float))) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_NO_MEMORY,
        "cannot allocate the %s buffer (%" G_GSIZE_FORMAT " MiB)", what,
        n / (1024 * 1024 / sizeof (float)));
    return FALSE;
  }
  ctx->n_allocations++;
  return TRUE;
}

/* *out = a * b * c, FALSE (with an error naming @what) on overflow. */
static gboolean
checked_size (
    gsize *out, gsize a, gsize b, gsize c, const char *what, GError **error)
{
  if (!g_size_checked_mul (out, a, b) || !g_size_checked_mul (out, *out, c)) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_NO_MEMORY,
        "the %s buffer (%" G_GSIZE_FORMAT " x %" G_GSIZE_FORMAT
        " x %" G_GSIZE_FORMAT " floats) is too large",
        what, a, b, c);
    return FALSE;
  }
  return TRUE;
}

static void
dump (const NaclipContext *ctx, const char *name, gsize d0, gsize d1, gsize d2,
    guint n_dims, gboolean is_int32, const void *data)
{
  gsize shape[3] = { d0, d1, d2 };
  if (ctx->dump_func != NULL)
    ctx->dump_func (name, shape, n_dims, is_int32, data, ctx->dump_data);
}

/* Everything a frame needs, derived from the sizes and parameters. */
typedef struct
{
  guint pw, ph; /* processing size */
  guint ow, oh; /* output size */
  guint cw, ch; /* encoded window size */
  guint gw, gh; /* patch grid of a window */
  guint n_windows;
  guint n_queries, embed_dim, width, patch;
  guint n_labels; /* n_classes + 1 */
  gboolean sliding;
  gboolean resized; /* output size other than the processing size */
} Geometry;

static gboolean
check_inputs (NaclipContext *ctx, NaclipQueries *queries,
    const NaclipImage *image, guint out_width, guint out_height,
    gsize labels_stride, Geometry *g, GError **error)
{
  const NaclipModelInfo *info = naclip_model_get_info (ctx->model);
  const NaclipClasses *classes = naclip_queries_get_classes (queries);

  if (!naclip_image_validate (image, error))
    return FALSE;
  if (out_width == 0 || out_height == 0 || out_width > NACLIP_MAX_SIDE_PX
      || out_height > NACLIP_MAX_SIDE_PX) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
        "output size %ux%u is out of range (1..%u on each side)", out_width,
        out_height, NACLIP_MAX_SIDE_PX);
    return FALSE;
  }
  if (labels_stride < out_width) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
        "label stride %" G_GSIZE_FORMAT " is smaller than the output width %u",
        labels_stride, out_width);
    return FALSE;
  }
  memset (g, 0, sizeof (*g));
  g->n_queries = naclip_queries_get_n (queries);
  g->embed_dim = info->embed_dim;
  g->width = info->vision.width;
  g->patch = info->patch_size;
  g->n_labels = naclip_classes_get_n_classes (classes) + 1;
  if (g->n_queries == 0 || naclip_queries_get_dim (queries) != g->embed_dim) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
        "query embeddings are [%u, %u], the model needs [Q >= 1, %u]",
        g->n_queries, naclip_queries_get_dim (queries), g->embed_dim);
    return FALSE;
  }
  naclip_context_get_processing_size (
      ctx, image->width, image->height, &g->pw, &g->ph);
  if (g->pw < g->patch || g->ph < g->patch) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
        "image %ux%u (processed at %ux%u) is smaller than one patch "
        "(%u px)",
        image->width, image->height, g->pw, g->ph, g->patch);
    return FALSE;
  }
  g->ow = out_width;
  g->oh = out_height;
  g->sliding = ctx->params.slide_crop != 0;
  g->resized = g->ow != g->pw || g->oh != g->ph;
  g->cw = g->sliding ? MIN (ctx->params.slide_crop, g->pw) : g->pw;
  g->ch = g->sliding ? MIN (ctx->params.slide_crop, g->ph) : g->ph;
  g->gw = g->cw / g->patch;
  g->gh = g->ch / g->patch;
  g->n_windows = naclip_segment_n_windows (
      g->ph, g->pw, ctx->params.slide_crop, ctx->params.slide_stride);
  return TRUE;
}

static gboolean
ensure_buffers (
    NaclipContext *ctx, const Geometry *g, gboolean want_probs, GError **error)
{
  gboolean dumping = ctx->dump_func != NULL;
  gsize n_patches = (gsize)g->gh * g->gw;
  gsize n;

  if (!checked_size (&n, 3, g->ph, g->pw, "input", error)
      || !ensure_buffer (ctx, &ctx->input, n, "input", error))
    return FALSE;
  if (g->sliding
      && (!checked_size (
              &n, (gsize)3 * g->n_windows, g->ch, g->cw, "window", error)
          || !ensure_buffer (ctx, &ctx->batch, n, "window", error)))
    return FALSE;
  if (!checked_size (
          &n, g->n_windows, n_patches, g->embed_dim, "feature", error)
      || !ensure_buffer (ctx, &ctx->features, n, "feature", error))
    return FALSE;
  if (dumping
      && (!checked_size (&n, 1, n_patches + 1, g->width, "block", error)
          || !ensure_buffer (ctx, &ctx->block, n, "block", error)))
    return FALSE;
  if (!checked_size (&n, 1, g->n_queries, n_patches, "patch logit", error)
      || !ensure_buffer (ctx, &ctx->patch_logits, n, "patch logit", error))
    return FALSE;
  if (g->sliding
      && (!checked_size (&n, g->n_queries, g->ch, g->cw, "window logit", error)
          || !ensure_buffer (ctx, &ctx->crop_logits, n, "window logit", error)
          || !checked_size (&n, 1, g->ph, g->pw, "window count", error)
          || !ensure_buffer (ctx, &ctx->count, n, "window count", error)))
    return FALSE;
  if (g->resized
      && (!checked_size (&n, g->n_queries, g->ph, g->pw, "logit", error)
          || !ensure_buffer (ctx, &ctx->acc, n, "logit", error)))
    return FALSE;
  if (!checked_size (&n, g->n_queries, g->oh, g->ow, "output logit", error)
      || !ensure_buffer (ctx, &ctx->out_logits, n, "output logit", error))
    return FALSE;
  if (ctx->params.pamr_steps > 0) {
    n = naclip_pamr_work_size (g->n_queries, g->oh, g->ow,
        ctx->params.pamr_dilations, ctx->params.n_pamr_dilations);
    if (n == 0) {
      g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_NO_MEMORY,
          "the PAMR work buffer for %u queries at %ux%u is too large",
          g->n_queries, g->ow, g->oh);
      return FALSE;
    }
    if (!ensure_buffer (ctx, &ctx->pamr_work, n, "PAMR work", error))
      return FALSE;
    if (g->resized
        && (!checked_size (&n, 3, g->oh, g->ow, "PAMR image", error)
            || !ensure_buffer (ctx, &ctx->out_image, n, "PAMR image", error)))
      return FALSE;
  }
  if (!checked_size (&n, ctx->params.threads,
          naclip_labels_scratch_size (g->n_queries, g->n_labels), 1, "softmax",
          error)
      || !ensure_buffer (ctx, &ctx->pixel_tmp, n, "softmax", error))
    return FALSE;
  if (ctx->query_labels_capacity < g->n_queries) {
    if (!naclip_buffer_grow ((gpointer *)&ctx->query_labels,
            &ctx->query_labels_capacity, g->n_queries, 1)) {
      g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_NO_MEMORY,
          "cannot allocate the labels of %u queries", g->n_queries);
      return FALSE;
    }
    ctx->n_allocations++;
  }
  if (dumping && !want_probs
      && (!checked_size (&n, g->n_labels, g->oh, g->ow, "probability", error)
          || !ensure_buffer (ctx, &ctx->probs, n, "probability", error)))
    return FALSE;
  if (dumping
      && (!checked_size (&n, 1, g->oh, g->ow, "label", error)
          || !ensure_buffer (ctx, &ctx->labels_i32, n, "label", error)))
    return FALSE;
  return TRUE;
}

/* The windows of the frame: the whole input, or its crops copied into the
 * batch. Returns the pixels to encode. */
static const float *
gather_windows (NaclipContext *ctx, const Geometry *g)
{
  gsize in_plane = (gsize)g->ph * g->pw;
  gsize crop_plane = (gsize)g->ch * g->cw;
  NaclipWindow win;

  if (!g->sliding)
    return ctx->input.data;
  for (guint w = 0; w < g->n_windows; w++) {
    float *dst = ctx->batch.data + (gsize)w * 3 * crop_plane;
    naclip_segment_window (g->ph, g->pw, ctx->params.slide_crop,
        ctx->params.slide_stride, w, &win);
    for (guint c = 0; c < 3; c++) {
      for (guint y = 0; y < g->ch; y++) {
        memcpy (dst + c * crop_plane + (gsize)y * g->cw,
            ctx->input.data + c * in_plane + (gsize)(win.y1 + y) * g->pw
                + win.x1,
            g->cw * sizeof (float));
      }
    }
  }
  return ctx->batch.data;
}

/* logits (Q, ph, pw) <- the logits of every window, averaged where
 * windows overlap (forward_feature / forward_slide). */
static void
compute_logits (NaclipContext *ctx, NaclipQueries *queries, const Geometry *g,
    float *logits)
{
  const float *q = naclip_queries_get_embeddings (queries);
  gsize n_patches = (gsize)g->gh * g->gw;
  gsize plane = (gsize)g->ph * g->pw;
  gsize crop_plane = (gsize)g->ch * g->cw;

  if (g->sliding) {
    memset (logits, 0, g->n_queries * plane * sizeof (float));
    memset (ctx->count.data, 0, plane * sizeof (float));
  }
  for (guint w = 0; w < g->n_windows; w++) {
    const float *feat
        = ctx->features.data + (gsize)w * n_patches * g->embed_dim;
    NaclipWindow win;

    /* patch_logits (Q, N) = queries (Q, E) . features (N, E)^T */
    NaclipGemmLayout layout = { .n_outer = 1,
      .n_inner = 1,
      .lda = g->embed_dim,
      .ldb = g->embed_dim,
      .ldc = n_patches };
    naclip_matmul_gemm (ctx->mm, &layout, TRUE, g->n_queries, n_patches,
        g->embed_dim, 1.0f, q, feat, 0.0f, ctx->patch_logits.data);
    if (!g->sliding) {
      naclip_image_resize_bilinear (ctx->patch_logits.data, g->n_queries, g->gh,
          g->gw, logits, g->ph, g->pw, ctx->params.threads);
      continue;
    }
    naclip_image_resize_bilinear (ctx->patch_logits.data, g->n_queries, g->gh,
        g->gw, ctx->crop_logits.data, g->ch, g->cw, ctx->params.threads);
    naclip_segment_window (g->ph, g->pw, ctx->params.slide_crop,
        ctx->params.slide_stride, w, &win);
    for (guint c = 0; c < g->n_queries; c++) {
      for (guint y = 0; y < g->ch; y++) {
        const float *src
            = ctx->crop_logits.data + c * crop_plane + (gsize)y * g->cw;
        float *dst = logits + c * plane + (gsize)(win.y1 + y) * g->pw + win.x1;
        for (guint x = 0; x < g->cw; x++)
          dst[x] += src[x];
      }
    }
    for (guint y = win.y1; y < win.y2; y++) {
      for (guint x = win.x1; x < win.x2; x++)
        ctx->count.data[(gsize)y * g->pw + x] += 1.0f;
    }
  }
  if (g->sliding) {
    for (guint c = 0; c < g->n_queries; c++) {
      float *a = logits + c * plane;
      for (gsize i = 0; i < plane; i++)
        a[i] /= ctx->count.data[i];
    }
  }
}

/* labels and probs from out_logits (naclip.py postprocess_result). */
static void
compute_labels (NaclipContext *ctx, NaclipQueries *queries, const Geometry *g,
    guint8 *labels, gsize labels_stride, float *probs)
{
  const NaclipClasses *classes = naclip_queries_get_classes (queries);
  NaclipLabelsJob job = {
    .logits = ctx->out_logits.data,
    .n_queries = g->n_queries,
    .query_labels = ctx->query_labels,
    .n_labels = g->n_labels,
    .width = g->ow,
    .height = g->oh,
    .logit_scale = ctx->params.logit_scale,
    .threshold = ctx->params.class_confidence_threshold,
    .labels = labels,
    .labels_stride = labels_stride,
    .probs = probs,
    .labels_i32
    = ctx->dump_func != NULL ? (gint32 *)ctx->labels_i32.data : NULL,
    .scratch = ctx->pixel_tmp.data,
  };

  G_STATIC_ASSERT (sizeof (gint32) == sizeof (float));

  for (guint q = 0; q < g->n_queries; q++) {
    guint k = naclip_classes_get_query_label (classes, q);
    g_assert (k < g->n_labels);
    ctx->query_labels[q] = (guint8)k;
  }
  naclip_labels_from_logits (&job, ctx->params.threads);
}

gboolean
naclip_context_segment (NaclipContext *ctx, NaclipQueries *queries,
    const NaclipImage *image, guint out_width, guint out_height, guint8 *labels,
    gsize labels_stride, float *probs, GError **error)
{
  const NaclipParams *params;
  Geometry g;
  const float *pixels;
  float *dump_probs;
  gint64 t0, t1, t2, t3, t4, t5;

  g_return_val_if_fail (ctx != NULL && queries != NULL, FALSE);
  g_return_val_if_fail (image != NULL && labels != NULL, FALSE);

  params = &ctx->params;
  g_atomic_int_set (&ctx->cancelled, 0);
  memset (&ctx->timings, 0, sizeof (ctx->timings));
  t0 = g_get_monotonic_time ();
  if (!check_inputs (
          ctx, queries, image, out_width, out_height, labels_stride, &g, error)
      || !ensure_buffers (ctx, &g, probs != NULL, error))
    return FALSE;

  naclip_image_preprocess (image, g.pw, g.ph, ctx->input.data, params->threads);
  dump (ctx, "input", 3, g.ph, g.pw, 3, FALSE, ctx->input.data);

  pixels = gather_windows (ctx, &g);
  t1 = g_get_monotonic_time ();
  ctx->timings.preprocess_ms = (t1 - t0) / 1000.0;
  /* a call without reuse leaves the caches behind its frame */
  if (params->reuse_threshold <= 0.0f)
    naclip_reuse_reset (ctx->reuse);
  if (!naclip_vision_encode (ctx->model, ctx->vision, ctx->mm,
          params->reuse_threshold > 0.0f ? ctx->reuse : NULL, params, pixels,
          g.n_windows, g.ch, g.cw, ctx->features.data,
          ctx->dump_func != NULL ? ctx->block.data : NULL, &ctx->cancelled,
          error))
    return FALSE;
  dump (ctx, "block", (gsize)g.gh * g.gw + 1, g.width, 0, 2, FALSE,
      ctx->block.data);
  dump (ctx, "features", (gsize)g.gh * g.gw, g.embed_dim, 0, 2, FALSE,
      ctx->features.data);
  dump (ctx, "queries", g.n_queries, g.embed_dim, 0, 2, FALSE,
      naclip_queries_get_embeddings (queries));

  t2 = g_get_monotonic_time ();
  ctx->timings.encoder_ms = (t2 - t1) / 1000.0;
  /* At the processing size the logits are the output's: no copy. */
  compute_logits (
      ctx, queries, &g, g.resized ? ctx->acc.data : ctx->out_logits.data);
  if (g.resized)
    naclip_image_resize_bilinear (ctx->acc.data, g.n_queries, g.ph, g.pw,
        ctx->out_logits.data, g.oh, g.ow, params->threads);
  dump (ctx, "logits", g.n_queries, g.oh, g.ow, 3, FALSE, ctx->out_logits.data);

  t3 = g_get_monotonic_time ();
  ctx->timings.logits_ms = (t3 - t2) / 1000.0;
  if (params->pamr_steps > 0) {
    /* The guide is the normalised input at the output size. */
    const float *guide = ctx->input.data;
    if (g.resized) {
      naclip_image_resize_bilinear (ctx->input.data, 3, g.ph, g.pw,
          ctx->out_image.data, g.oh, g.ow, params->threads);
      guide = ctx->out_image.data;
    }
    if (!naclip_pamr (guide, ctx->out_logits.data, g.n_queries, g.oh, g.ow,
            params->pamr_steps, params->pamr_dilations,
            params->n_pamr_dilations, params->threads, ctx->pamr_work.data,
            &ctx->cancelled)) {
      g_set_error (
          error, NACLIP_ERROR, NACLIP_ERROR_CANCELLED, "PAMR: cancelled");
      return FALSE;
    }
  }
  dump (
      ctx, "refined", g.n_queries, g.oh, g.ow, 3, FALSE, ctx->out_logits.data);

  t4 = g_get_monotonic_time ();
  ctx->timings.pamr_ms = params->pamr_steps > 0 ? (t4 - t3) / 1000.0 : 0.0;
  dump_probs = probs != NULL
                   ? probs
                   : (ctx->dump_func != NULL ? ctx->probs.data : NULL);
  compute_labels (ctx, queries, &g, labels, labels_stride, dump_probs);
  dump (ctx, "probs", g.n_labels, g.oh, g.ow, 3, FALSE, dump_probs);
  dump (ctx, "labels", g.oh, g.ow, 0, 2, TRUE, ctx->labels_i32.data);
  t5 = g_get_monotonic_time ();
  ctx->timings.labels_ms = (t5 - t4) / 1000.0;
  ctx->timings.total_ms = (t5 - t0) / 1000.0;
  return TRUE;
}
