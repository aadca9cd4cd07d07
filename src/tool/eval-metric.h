/* eval-metric.h: mIoU exactly as mmseg's IoUMetric computes it.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * mmseg (mmseg/evaluation/metrics/iou_metric.py) drops ground-truth pixels
 * equal to the ignore index (255), histograms intersection, prediction and
 * ground truth over 0..n_classes-1 (values outside that range fall out of
 * torch.histc), sums them over the dataset, and takes per class
 * IoU = intersect / (pred + label - intersect) and Acc = intersect / label.
 * mIoU is np.nanmean over the classes: a class whose union is empty (absent
 * from both the ground truth and the predictions) is NaN and is left out of
 * the mean; a class predicted but absent from the ground truth counts as 0.
 */

#ifndef NACLIP_EVAL_METRIC_H
#define NACLIP_EVAL_METRIC_H

#include <glib.h>

/* mmseg's ignore_index. */
#define NACLIP_EVAL_IGNORE 255

/* The metric's state: a confusion matrix over all evaluated pixels
 * ((n_classes + 1)^2; index n_classes collects values outside
 * 0..n_classes-1 that are not the ignore index: a prediction of "no class"
 * or a stray annotation value). */
typedef struct
{
  guint n_classes;
  guint64 *confusion; /* [gt][pred], (n_classes + 1)^2 */
  guint64 n_ignored;  /* ground-truth pixels equal to 255 */
  guint64 n_stray_gt; /* ground-truth values >= n_classes, != 255 */
  guint64 n_pixels;   /* pixels compared (not ignored) */
} NaclipIouMetric;

typedef struct
{
  double *iou;         /* per class, NaN when the union is empty */
  double *acc;         /* per class, NaN when the class has no gt pixel */
  guint64 *intersect;  /* per class */
  guint64 *union_;     /* per class */
  guint64 *pred_area;  /* per class */
  guint64 *label_area; /* per class */
  double miou;         /* nanmean(iou) */
  double macc;         /* nanmean(acc) */
  double aacc;         /* sum(intersect) / sum(label_area) */
  guint n_valid;       /* classes with a non-empty union (in the mean) */
} NaclipIouResult;

/* A zeroed metric for @n_classes (1..255). Free with
 * naclip_iou_metric_free(). */
NaclipIouMetric *naclip_iou_metric_new (guint n_classes);
void naclip_iou_metric_free (NaclipIouMetric *m);

/* Adds one image: @pred and @gt in the eval numbering, @n pixels each. */
void naclip_iou_metric_add (
    NaclipIouMetric *m, const guint8 *pred, const guint8 *gt, gsize n);

/* The metrics of everything added so far, as mmseg's
 * IoUMetric.total_area_to_metrics computes them (ratios, not %). Free
 * with naclip_iou_result_free(). */
NaclipIouResult *naclip_iou_metric_compute (const NaclipIouMetric *m);
void naclip_iou_result_free (NaclipIouResult *r);

#endif /* NACLIP_EVAL_METRIC_H */
