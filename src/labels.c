/* labels.c: from class probabilities to labels, their smoothing over time
 * and the statistics of a label map.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The label rule is the authors' postprocess_result (naclip.py): a pixel
 * takes the first class of highest probability (torch.argmax picks the
 * first of equal maxima), background first, and label 0 when that
 * probability is below prob_thd (class_confidence_threshold). A NaN
 * probability never wins (every comparison with it is false), and a pixel
 * without a number among its probabilities gets 0. naclip_context_segment()
 * applies the rule as it computes the probabilities; the element applies it
 * again to probabilities averaged over frames (naclip_smoothing_update(),
 * its temporal-smoothing property).
 *
 * Layouts: probabilities are planar float (n_labels, height, width), row 0
 * background; label maps are guint8, height rows of a stride in bytes.
 */

#include "config.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#include "naclip-private.h"
#include "kernels.h"

struct _NaclipSmoothing
{
  float *average; /* (n_labels, height, width) */
  gsize capacity; /* floats allocated at average */
  guint n_labels; /* of the average; 0 when there is none */
  guint width;    /* px */
  guint height;   /* px */
};

guint
naclip_probs_pick_label (
    const float *probs, guint n_labels, gsize stride, float threshold)
{
  float best = -INFINITY;
  guint label = 0;

  g_return_val_if_fail (probs != NULL && n_labels > 0, 0);

  for (guint k = 0; k < n_labels; k++) {
    if (probs[k * stride] > best) {
      best = probs[k * stride];
      label = k;
    }
  }
  return best >= threshold ? label : 0;
}

void
naclip_probs_to_labels (const float *probs, guint n_labels, guint width,
    guint height, float threshold, guint8 *labels, gsize labels_stride)
{
  gsize plane = (gsize)width * height;

  g_return_if_fail (probs != NULL && labels != NULL);
  g_return_if_fail (n_labels > 0 && n_labels <= NACLIP_MAX_CLASSES + 1);
  g_return_if_fail (labels_stride >= width);

  for (guint y = 0; y < height; y++) {
    const float *row = probs + (gsize)y * width;
    guint8 *out = labels + (gsize)y * labels_stride;
    for (guint x = 0; x < width; x++)
      out[x] = (guint8)naclip_probs_pick_label (
          row + x, n_labels, plane, threshold);
  }
}

NaclipSmoothing *
naclip_smoothing_new (void)
{
  return g_new0 (NaclipSmoothing, 1);
}

void
naclip_smoothing_free (NaclipSmoothing *smoothing)
{
  if (smoothing == NULL)
    return;
  g_free (smoothing->average);
  g_free (smoothing);
}

void
naclip_smoothing_reset (NaclipSmoothing *smoothing)
{
  g_return_if_fail (smoothing != NULL);

  smoothing->n_labels = 0;
}

const float *
naclip_smoothing_update (NaclipSmoothing *smoothing, const float *probs,
    guint n_labels, guint width, guint height, float weight, GError **error)
{
  float *avg;
  gsize n = 0;

  g_return_val_if_fail (smoothing != NULL && probs != NULL, NULL);
  g_return_val_if_fail (n_labels > 0 && width > 0 && height > 0, NULL);
  g_return_val_if_fail (weight >= 0.0f && weight <= 1.0f, NULL);

  avg = smoothing->average;
  if (smoothing->n_labels == n_labels && smoothing->width == width
      && smoothing->height == height) {
    n = (gsize)n_labels * width * height;
    for (gsize i = 0; i < n; i++)
      avg[i] = weight * avg[i] + (1.0f - weight) * probs[i];
    return avg;
  }

  smoothing->n_labels = 0;
  if (!g_size_checked_mul (&n, (gsize)width * height, n_labels))
    n = G_MAXSIZE;
  if (!naclip_buffer_grow ((gpointer *)&smoothing->average,
          &smoothing->capacity, n, sizeof (float))) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_NO_MEMORY,
        "cannot allocate the average of %u probability maps of %ux%u", n_labels,
        width, height);
    return NULL;
  }
  memcpy (smoothing->average, probs, n * sizeof (float));
  smoothing->n_labels = n_labels;
  smoothing->width = width;
  smoothing->height = height;
  return smoothing->average;
}

void
naclip_labels_compute_stats (const guint8 *labels, gsize labels_stride,
    guint width, guint height, const float *probs, guint n_labels,
    NaclipLabelStats *stats)
{
  gsize plane = (gsize)width * height;
  double sum[NACLIP_MAX_CLASSES + 1] = { 0 };

  g_return_if_fail (labels != NULL && probs != NULL && stats != NULL);
  g_return_if_fail (n_labels > 0 && n_labels <= NACLIP_MAX_CLASSES + 1);
  g_return_if_fail (labels_stride >= width);

  memset (stats, 0, n_labels * sizeof (*stats));
  for (guint l = 0; l < n_labels; l++) {
    stats[l].x0 = G_MAXUINT;
    stats[l].y0 = G_MAXUINT;
  }
  /* A run of equal labels at a time: the count and the box once a run,
   * the probabilities summed pixel by pixel in row-major order. */
  for (guint y = 0; y < height; y++) {
    const guint8 *row = labels + (gsize)y * labels_stride;
    guint x = 0;
    while (x < width) {
      guint8 v = row[x];
      guint l = MIN (v, n_labels - 1), end = x + 1;
      const float *p = probs + l * plane + (gsize)y * width;
      NaclipLabelStats *s = &stats[l];
      double acc = sum[l];
      while (end < width && row[end] == v)
        end++;
      for (guint i = x; i < end; i++)
        acc += p[i];
      sum[l] = acc;
      s->n_pixels += end - x;
      s->x0 = MIN (s->x0, x);
      s->y0 = MIN (s->y0, y);
      s->x1 = MAX (s->x1, end);
      s->y1 = y + 1;
      x = end;
    }
  }
  for (guint l = 0; l < n_labels; l++) {
    NaclipLabelStats *s = &stats[l];
    if (s->n_pixels == 0) {
      memset (s, 0, sizeof (*s));
      continue;
    }
    s->coverage = (float)((double)s->n_pixels / (double)plane);
    s->confidence = (float)(sum[l] / (double)s->n_pixels);
  }
}

/* ------------------------------------------------------------------ */
/* From logits: the probabilities and the labels of a frame            */

gsize
naclip_labels_scratch_size (guint n_queries, guint n_labels)
{
  return ((gsize)n_queries + n_labels) * LANES;
}

/* The pixel (x, y) of @job: the softmax over the queries of the scaled
 * logits, each label's probability the max over its queries, the label
 * rule. @tmp holds n_queries + n_labels floats. The reference's order of
 * operations; the vectors below keep it. */
static void
label_pixel (const NaclipLabelsJob *job, guint y, guint x, float *tmp)
{
  gsize plane = (gsize)job->width * job->height;
  gsize p = (gsize)y * job->width + x;
  float *qp = tmp, *cp = tmp + job->n_queries;
  float max_v = -INFINITY, sum = 0.0f;
  guint label;

  for (guint q = 0; q < job->n_queries; q++) {
    qp[q] = job->logits[q * plane + p] * job->logit_scale;
    max_v = MAX (max_v, qp[q]);
  }
  for (guint q = 0; q < job->n_queries; q++) {
    qp[q] = expf (qp[q] - max_v);
    sum += qp[q];
  }
  for (guint k = 0; k < job->n_labels; k++)
    cp[k] = 0.0f;
  for (guint q = 0; q < job->n_queries; q++) {
    guint k = job->query_labels[q];
    cp[k] = MAX (cp[k], qp[q] / sum);
  }
  label = naclip_probs_pick_label (cp, job->n_labels, 1, job->threshold);
  job->labels[(gsize)y * job->labels_stride + x] = (guint8)label;
  if (job->labels_i32 != NULL)
    job->labels_i32[p] = (gint32)label;
  if (job->probs != NULL) {
    for (guint k = 0; k < job->n_labels; k++)
      job->probs[k * plane + p] = cp[k];
  }
}

/* label_pixel() on the LANES pixels from (x, y) on, the
 * exponential exp_lanes(). @tmp holds
 * naclip_labels_scratch_size() floats. */
KERNEL_BODY void
label_lanes (const NaclipLabelsJob *job, guint y, guint x, float *tmp)
{
  typedef guint8 vec_u8 __attribute__ ((vector_size (LANES)));
  const vec_f zero = { 0.0f };
  gsize plane = (gsize)job->width * job->height;
  gsize p = (gsize)y * job->width + x;
  vec_fu *qp = (vec_fu *)tmp;
  vec_fu *cp = qp + job->n_queries;
  vec_f v, max_v = zero - INFINITY, sum = zero, best;
  vec_i label = { 0 }, gt;
  vec_u8 bytes;

  for (guint q = 0; q < job->n_queries; q++) {
    memcpy (&v, job->logits + q * plane + p, sizeof v);
    qp[q] = v * job->logit_scale;
    max_v = VMAX (max_v, qp[q]);
  }
  for (guint q = 0; q < job->n_queries; q++) {
    qp[q] -= max_v;
    exp_lanes ((float *)(qp + q), 0.0f);
    sum += qp[q];
  }
  for (guint k = 0; k < job->n_labels; k++)
    cp[k] = zero;
  for (guint q = 0; q < job->n_queries; q++) {
    guint k = job->query_labels[q];
    v = qp[q] / sum;
    cp[k] = VMAX (cp[k], v);
  }
  /* naclip_probs_pick_label (): the first label of highest probability,
   * a NaN never winning; 0 below the threshold or without a number. */
  best = zero - INFINITY;
  for (guint k = 0; k < job->n_labels; k++) {
    gt = cp[k] > best;
    best = SELECT (gt, cp[k], best);
    label = (gt & (gint32)k) | (~gt & label);
  }
  label &= best >= job->threshold;
  bytes = __builtin_convertvector(label, vec_u8);
  memcpy (
      job->labels + (gsize)y * job->labels_stride + x, &bytes, sizeof bytes);
  if (job->labels_i32 != NULL)
    memcpy (job->labels_i32 + p, &label, sizeof label);
  if (job->probs != NULL) {
    for (guint k = 0; k < job->n_labels; k++)
      memcpy (job->probs + k * plane + p, &cp[k], sizeof cp[k]);
  }
}

KERNEL_BODY void
label_row_body (const NaclipLabelsJob *job, guint y, float *tmp)
{
  guint x = 0;

  for (; x + LANES <= job->width; x += LANES)
    label_lanes (job, y, x, tmp);
  for (; x < job->width; x++)
    label_pixel (job, y, x, tmp);
}

DEFINE_CLONES (void, label_row,
    (const NaclipLabelsJob *job, guint y, float *tmp), (job, y, tmp))

void
naclip_labels_from_logits (const NaclipLabelsJob *job, guint n_threads)
{
  __typeof__ (label_row_baseline) *label_row
      = PICK (kernel_level (), label_row);
  gsize scratch = naclip_labels_scratch_size (job->n_queries, job->n_labels);
  /* About 30 operations per pixel and query (exp). */
  gboolean parallel = (gsize)job->width * job->height * job->n_queries * 30
                      >= NACLIP_PARALLEL_MIN_OPS;

  g_return_if_fail (
      job->n_labels > 0 && job->n_labels <= NACLIP_MAX_CLASSES + 1);
  g_return_if_fail (job->labels_stride >= job->width);

#pragma omp parallel num_threads(MAX(n_threads, 1u)) if (parallel)
  {
    float *tmp = job->scratch + (gsize)omp_get_thread_num () * scratch;
#pragma omp for schedule(static)
    for (guint y = 0; y < job->height; y++)
      label_row (job, y, tmp);
  }
}

void
naclip_labels_from_logits_ref (const NaclipLabelsJob *job)
{
  g_autofree float *tmp = g_new (float, (gsize)job->n_queries + job->n_labels);

  g_return_if_fail (
      job->n_labels > 0 && job->n_labels <= NACLIP_MAX_CLASSES + 1);
  g_return_if_fail (job->labels_stride >= job->width);

  for (guint y = 0; y < job->height; y++) {
    for (guint x = 0; x < job->width; x++)
      label_pixel (job, y, x, tmp);
  }
}
