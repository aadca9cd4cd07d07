/* eval-metric.c: mIoU exactly as mmseg's IoUMetric computes it (see
 * eval-metric.h for the rules and the reference).
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Counts are 64-bit integers (mmseg sums float32 histograms per image
 * into float64 totals; integer counts are exact for any dataset size).
 */

#include "config.h"

#include <math.h>

#include "eval-metric.h"

NaclipIouMetric *
naclip_iou_metric_new (guint n_classes)
{
  NaclipIouMetric *m;

  g_return_val_if_fail (n_classes >= 1 && n_classes <= 255, NULL);
  m = g_new0 (NaclipIouMetric, 1);
  m->n_classes = n_classes;
  m->confusion = g_new0 (guint64, (gsize)(n_classes + 1) * (n_classes + 1));
  return m;
}

void
naclip_iou_metric_free (NaclipIouMetric *m)
{
  if (m == NULL)
    return;
  g_free (m->confusion);
  g_free (m);
}

void
naclip_iou_metric_add (
    NaclipIouMetric *m, const guint8 *pred, const guint8 *gt, gsize n)
{
  guint nc;

  g_return_if_fail (m != NULL && pred != NULL && gt != NULL);
  nc = m->n_classes;
  for (gsize i = 0; i < n; i++) {
    guint g = gt[i], p = pred[i];
    if (g == NACLIP_EVAL_IGNORE) {
      m->n_ignored++;
      continue;
    }
    if (g >= nc) {
      g = nc;
      m->n_stray_gt++;
    }
    if (p >= nc)
      p = nc;
    m->confusion[(gsize)g * (nc + 1) + p]++;
    m->n_pixels++;
  }
}

static double
nanmean (const double *v, guint n, guint *n_valid)
{
  double sum = 0.0;
  guint k = 0;

  for (guint i = 0; i < n; i++) {
    if (!isnan (v[i])) {
      sum += v[i];
      k++;
    }
  }
  if (n_valid != NULL)
    *n_valid = k;
  return k > 0 ? sum / k : NAN;
}

NaclipIouResult *
naclip_iou_metric_compute (const NaclipIouMetric *m)
{
  NaclipIouResult *r;
  guint nc;
  guint64 total_intersect = 0, total_label = 0;

  g_return_val_if_fail (m != NULL, NULL);
  nc = m->n_classes;
  r = g_new0 (NaclipIouResult, 1);
  r->iou = g_new (double, nc);
  r->acc = g_new (double, nc);
  r->intersect = g_new0 (guint64, nc);
  r->union_ = g_new0 (guint64, nc);
  r->pred_area = g_new0 (guint64, nc);
  r->label_area = g_new0 (guint64, nc);

  for (guint g = 0; g <= nc; g++) {
    for (guint p = 0; p <= nc; p++) {
      guint64 count = m->confusion[(gsize)g * (nc + 1) + p];
      if (g < nc)
        r->label_area[g] += count;
      if (p < nc)
        r->pred_area[p] += count;
      if (g == p && g < nc)
        r->intersect[g] += count;
    }
  }
  for (guint c = 0; c < nc; c++) {
    r->union_[c] = r->pred_area[c] + r->label_area[c] - r->intersect[c];
    r->iou[c] = r->union_[c] > 0
                    ? (double)r->intersect[c] / (double)r->union_[c]
                    : NAN;
    r->acc[c] = r->label_area[c] > 0
                    ? (double)r->intersect[c] / (double)r->label_area[c]
                    : NAN;
    total_intersect += r->intersect[c];
    total_label += r->label_area[c];
  }
  r->miou = nanmean (r->iou, nc, &r->n_valid);
  r->macc = nanmean (r->acc, nc, NULL);
  r->aacc
      = total_label > 0 ? (double)total_intersect / (double)total_label : NAN;
  return r;
}

void
naclip_iou_result_free (NaclipIouResult *r)
{
  if (r == NULL)
    return;
  g_free (r->iou);
  g_free (r->acc);
  g_free (r->intersect);
  g_free (r->union_);
  g_free (r->pred_area);
  g_free (r->label_area);
  g_free (r);
}
