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
#include <string.h>

#include "naclip-private.h"

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
  for (guint y = 0; y < height; y++) {
    const guint8 *row = labels + (gsize)y * labels_stride;
    for (guint x = 0; x < width; x++) {
      guint l = MIN (row[x], n_labels - 1);
      NaclipLabelStats *s = &stats[l];
      s->n_pixels++;
      sum[l] += probs[l * plane + (gsize)y * width + x];
      s->x0 = MIN (s->x0, x);
      s->y0 = MIN (s->y0, y);
      s->x1 = MAX (s->x1, x + 1);
      s->y1 = MAX (s->y1, y + 1);
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
