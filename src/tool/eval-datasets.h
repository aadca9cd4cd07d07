/* eval-datasets.h: the eight benchmarks of the paper (and a folder of
 * one's own), their directory layouts, label numberings and protocol
 * presets, and the mIoU metric.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Three label numberings meet here:
 *   ours     the library's labels: 0 background (background names and
 *            thresholded pixels), 1..N the classes of the list in order;
 *   file     the values stored in the dataset's annotation PNGs;
 *   eval     what mmseg's IoUMetric compares: the file values after the
 *            dataset's reduce_zero_label (0 -> 255, v -> v - 1); 255 is
 *            ignored; the classes are 0..n_classes-1.
 * Predictions are written in the file numbering (as mmseg's IoUMetric
 * output_dir does, which adds 1 back for reduce_zero_label datasets), so a
 * prediction PNG compares directly with the annotation PNG beside it.
 */

#ifndef NACLIP_EVAL_DATASETS_H
#define NACLIP_EVAL_DATASETS_H

#include "naclip.h"

#include "eval-metric.h"

typedef struct
{
  const char *name;       /* --dataset value, e.g. "voc21" */
  const char *title;      /* for humans */
  const char *class_file; /* data/classes/<class_file>.txt; NULL: the
                           * user's list (--classes) is required */
  const char *img_dir;    /* relative to --root */
  const char *seg_dir;    /* relative to --root */
  const char *split;      /* list of image ids, relative to --root; NULL:
                           * every image under img_dir, recursively */
  const char *img_suffix; /* image file = id + img_suffix */
  const char *seg_suffix; /* annotation file = id + seg_suffix */
  gboolean reduce_zero_label;
  /* The class list has background names and eval class 0 is background:
   * our label k is eval class k. Otherwise our label k is eval class k-1
   * and our background (0, thresholded pixels) is no class at all. */
  gboolean list_has_background;
  guint n_classes; /* classes in the eval numbering; 0: those of the
                    * user's list, plus background */
  /* Protocol preset (the authors' configs/cfg_*.py). */
  guint inference_size; /* short side, px */
  guint slide_crop;     /* 0: whole image */
  guint slide_stride;
  float class_confidence_threshold; /* prob_thd */
  float published_miou;             /* the paper's table (arXiv
                                     * 2404.08181), %, PAMR on; NaN: none */
} NaclipEvalDataset;

/* The table of datasets; @n receives its length. */
const NaclipEvalDataset *naclip_eval_datasets (guint *n);

/* The dataset called @name ('_' and '-' are interchangeable), or NULL. */
const NaclipEvalDataset *naclip_eval_dataset_find (const char *name);

typedef struct
{
  char *image; /* path of the image */
  char *label; /* path of its annotation */
  char *stem;  /* image file name without directory and extension, used to
                * name its prediction */
} NaclipEvalItem;

/* Lists the images of @ds under @root in mmseg's order (the split file's
 * order, or sorted by image path), without checking that the files exist.
 * Returns a GPtrArray of NaclipEvalItem (freed with the array), or NULL
 * with NACLIP_ERROR_IO naming the missing directory or split file, or
 * _INVALID_ARGUMENT if it lists no image. */
GPtrArray *naclip_eval_dataset_list (
    const NaclipEvalDataset *ds, const char *root, GError **error);

/* Our label -> the dataset's file numbering (see the top of this file). */
guint8 naclip_eval_ours_to_file (const NaclipEvalDataset *ds, guint8 label);

/* File numbering -> eval numbering (reduce_zero_label when the dataset has
 * it; 255 stays 255). */
guint8 naclip_eval_file_to_eval (const NaclipEvalDataset *ds, guint8 value);

/* Our label of eval class @cls (for names), the inverse of the mapping. */
guint naclip_eval_class_to_ours (const NaclipEvalDataset *ds, guint cls);

#endif /* NACLIP_EVAL_DATASETS_H */
