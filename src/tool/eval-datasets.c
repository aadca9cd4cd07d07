/* eval-datasets.c: the eight benchmarks of the NACLIP paper as mmseg and
 * the authors' configurations define them, and a folder layout of one's
 * own.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Sources: the authors' configs/cfg_<dataset>.py and custom_datasets.py
 * (github.com/sinahmr/NACLIP), mmseg 1.x's dataset classes
 * (mmseg/datasets/{voc,pascal_context,coco_stuff,cityscapes,ade}.py) and
 * BaseSegDataset.load_data_list, LoadAnnotations (reduce_zero_label).
 *
 *   voc21       PascalVOCDataset: JPEGImages/<id>.jpg,
 *               SegmentationClass/<id>.png (palette PNG, 0 background,
 *               1..20, 255 object borders), ids from
 *               ImageSets/Segmentation/val.txt (1449 images). 21 classes,
 *               the list's background first. Whole image, prob_thd 0.1.
 *   voc20       PascalVOC20Dataset (authors' custom_datasets.py): the same
 *               files, reduce_zero_label=True, so background pixels are
 *               ignored and 1..20 become 0..19. 20 classes, no background
 *               names. Whole image, prob_thd 0.
 *   context60   PascalContext60Dataset: JPEGImages/<id>.jpg,
 *               SegmentationClassContext/<id>.png (0 background, 1..59;
 *               mmseg's tools/dataset_converters/pascal_context.py output),
 *               ids from ImageSets/SegmentationContext/val.txt (5105
 *               images). 60 classes, background first. Slide 224/112,
 *               prob_thd 0.1.
 *   context59   PascalContext59Dataset: the same files with
 *               reduce_zero_label=True (background ignored). 59 classes.
 *               Slide 224/112.
 *   coco-object COCOObjectDataset (authors' custom_datasets.py, after
 *               GroupViT/TCL): images/val2017/<name>.jpg,
 *               annotations/val2017/<name>_instanceTrainIds.png written by
 *               the authors' datasets/cvt_coco_object.py from COCO-Stuff's
 *               raw maps (0 background: every stuff class and also the
 *               unlabeled 255, so nothing is ignored; 1..80 things). 81
 *               classes, background first. Slide, prob_thd 0.1. No split
 *               file: every image, sorted by path (5000).
 *   coco-stuff  COCOStuffDataset: images/val2017/<name>.jpg,
 *               annotations/val2017/<name>_labelTrainIds.png (0..170, 255;
 *               mmseg's coco_stuff164k.py converter). 171 classes. Slide.
 *   cityscapes  CityscapesDataset:
 *               leftImg8bit/val/<city>/<name>_leftImg8bit.png,
 *               gtFine/val/<city>/<name>_gtFine_labelTrainIds.png (0..18,
 *               255; cityscapesscripts' createTrainIdLabelImgs). 19 classes.
 *               Short side 560, slide (500 images).
 *   ade20k      ADE20KDataset: images/validation/<name>.jpg,
 *               annotations/validation/<name>.png (0 "other", 1..150),
 *               reduce_zero_label=True. 150 classes. Slide (2000 images).
 *   folder      not a benchmark: images/<name>.png and
 *               annotations/<name>.png (0 background, k the class k of
 *               the --classes list, 255 ignored), for datasets of one's
 *               own (the colour-model tests). The classes come from
 *               --classes, background first: as many eval classes as the
 *               list has classes, plus one. The library's defaults (short
 *               side 336, whole image, threshold 0).
 *
 * Without a split file mmseg lists img_dir recursively, keeps the files
 * ending in img_suffix, derives the annotation path by swapping the
 * suffix, and sorts by image path (Python string order = byte order of
 * UTF-8); so does naclip_eval_dataset_list().
 */

#include "config.h"

#include <math.h>
#include <string.h>

#include <glib/gstdio.h>

#include "batch-inputs.h"
#include "eval-datasets.h"

/* Directory depth the recursive listing descends (guards symlink loops). */
#define MAX_DEPTH 16

static const NaclipEvalDataset datasets[] = {
  { "voc21", "PASCAL VOC 2012 val, 21 classes (with background)", "voc21",
      "JPEGImages", "SegmentationClass", "ImageSets/Segmentation/val.txt",
      ".jpg", ".png", FALSE, TRUE, 21, 336, 0, 112, 0.1f, 64.07f },
  { "voc20", "PASCAL VOC 2012 val, 20 classes (background ignored)", "voc20",
      "JPEGImages", "SegmentationClass", "ImageSets/Segmentation/val.txt",
      ".jpg", ".png", TRUE, FALSE, 20, 336, 0, 112, 0.0f, 83.03f },
  { "context60", "PASCAL Context val, 60 classes (with background)",
      "context60", "JPEGImages", "SegmentationClassContext",
      "ImageSets/SegmentationContext/val.txt", ".jpg", ".png", FALSE, TRUE, 60,
      336, 224, 112, 0.1f, 34.99f },
  { "context59", "PASCAL Context val, 59 classes (background ignored)",
      "context59", "JPEGImages", "SegmentationClassContext",
      "ImageSets/SegmentationContext/val.txt", ".jpg", ".png", TRUE, FALSE, 59,
      336, 224, 112, 0.0f, 38.35f },
  { "coco-object", "COCO-Object val2017, 81 classes (with background)",
      "coco-object", "images/val2017", "annotations/val2017", NULL, ".jpg",
      "_instanceTrainIds.png", FALSE, TRUE, 81, 336, 224, 112, 0.1f, 36.19f },
  { "coco-stuff", "COCO-Stuff164k val2017, 171 classes", "coco-stuff",
      "images/val2017", "annotations/val2017", NULL, ".jpg",
      "_labelTrainIds.png", FALSE, FALSE, 171, 336, 224, 112, 0.0f, 25.69f },
  { "cityscapes", "Cityscapes val, 19 classes", "cityscapes", "leftImg8bit/val",
      "gtFine/val", NULL, "_leftImg8bit.png", "_gtFine_labelTrainIds.png",
      FALSE, FALSE, 19, 560, 224, 112, 0.0f, 38.27f },
  { "ade20k", "ADE20K val, 150 classes", "ade20k", "images/validation",
      "annotations/validation", NULL, ".jpg", ".png", TRUE, FALSE, 150, 336,
      224, 112, 0.0f, 19.05f },
  { "folder", "images/*.png with annotations/*.png, classes from --classes",
      NULL, "images", "annotations", NULL, ".png", ".png", FALSE, TRUE, 0, 336,
      0, 112, 0.0f, NAN },
};

const NaclipEvalDataset *
naclip_eval_datasets (guint *n)
{
  g_return_val_if_fail (n != NULL, NULL);
  *n = G_N_ELEMENTS (datasets);
  return datasets;
}

const NaclipEvalDataset *
naclip_eval_dataset_find (const char *name)
{
  g_autofree char *norm = NULL;

  g_return_val_if_fail (name != NULL, NULL);
  norm = g_ascii_strdown (name, -1);
  g_strdelimit (norm, "_", '-');
  for (gsize i = 0; i < G_N_ELEMENTS (datasets); i++) {
    if (strcmp (norm, datasets[i].name) == 0)
      return &datasets[i];
  }
  return NULL;
}

static void
item_free (gpointer data)
{
  NaclipEvalItem *item = data;

  g_free (item->image);
  g_free (item->label);
  g_free (item->stem);
  g_free (item);
}

static NaclipEvalItem *
item_new (const NaclipEvalDataset *ds, const char *root, const char *id)
{
  NaclipEvalItem *item = g_new0 (NaclipEvalItem, 1);
  g_autofree char *img_name = g_strconcat (id, ds->img_suffix, NULL);
  g_autofree char *seg_name = g_strconcat (id, ds->seg_suffix, NULL);

  item->image = g_build_filename (root, ds->img_dir, img_name, NULL);
  item->label = g_build_filename (root, ds->seg_dir, seg_name, NULL);
  item->stem = naclip_batch_stem (item->image);
  return item;
}

/* Collects into @ids every file under @dir (relative name @rel) whose
 * relative path ends in @suffix, with the suffix removed. */
static gboolean
walk (const char *dir, const char *rel, const char *suffix, guint depth,
    GPtrArray *ids, GError **error)
{
  GDir *d;
  const char *name;
  GError *local = NULL;

  d = g_dir_open (dir, 0, &local);
  if (d == NULL) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_IO, "%s", local->message);
    g_error_free (local);
    return FALSE;
  }
  while ((name = g_dir_read_name (d)) != NULL) {
    g_autofree char *path = g_build_filename (dir, name, NULL);
    g_autofree char *sub
        = rel != NULL ? g_build_filename (rel, name, NULL) : g_strdup (name);
    if (g_file_test (path, G_FILE_TEST_IS_DIR)) {
      if (depth < MAX_DEPTH
          && !walk (path, sub, suffix, depth + 1, ids, error)) {
        g_dir_close (d);
        return FALSE;
      }
    } else if (g_str_has_suffix (sub, suffix)) {
      g_ptr_array_add (ids, g_strndup (sub, strlen (sub) - strlen (suffix)));
    }
  }
  g_dir_close (d);
  return TRUE;
}

static gint
compare_items (gconstpointer a, gconstpointer b)
{
  const NaclipEvalItem *x = *(NaclipEvalItem *const *)a;
  const NaclipEvalItem *y = *(NaclipEvalItem *const *)b;

  return strcmp (x->image, y->image);
}

GPtrArray *
naclip_eval_dataset_list (
    const NaclipEvalDataset *ds, const char *root, GError **error)
{
  g_autoptr (GPtrArray) items = g_ptr_array_new_with_free_func (item_free);
  g_autoptr (GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *img_dir = NULL;

  g_return_val_if_fail (ds != NULL && root != NULL, NULL);

  img_dir = g_build_filename (root, ds->img_dir, NULL);
  if (!g_file_test (img_dir, G_FILE_TEST_IS_DIR)) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_IO,
        "%s: no such directory (the %s layout expects %s/ and %s/ under "
        "--root)",
        img_dir, ds->name, ds->img_dir, ds->seg_dir);
    return NULL;
  }

  if (ds->split != NULL) {
    g_autofree char *split = g_build_filename (root, ds->split, NULL);
    g_autofree char *text = NULL;
    g_auto (GStrv) lines = NULL;
    GError *local = NULL;

    if (!g_file_get_contents (split, &text, NULL, &local)) {
      g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_IO,
          "%s (the split file of %s)", local->message, ds->name);
      g_error_free (local);
      return NULL;
    }
    lines = g_strsplit (text, "\n", -1);
    for (guint i = 0; lines[i] != NULL; i++) {
      char *id = g_strstrip (lines[i]); /* mmseg: line.strip() */
      if (*id != '\0')
        g_ptr_array_add (items, item_new (ds, root, id));
    }
  } else {
    if (!walk (img_dir, NULL, ds->img_suffix, 0, ids, error))
      return NULL;
    for (guint i = 0; i < ids->len; i++) {
      NaclipEvalItem *item = item_new (ds, root, g_ptr_array_index (ids, i));
      g_ptr_array_add (items, item);
    }
    g_ptr_array_sort (items, compare_items);
  }

  if (items->len == 0) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
        "%s lists no image for %s (expected files *%s under %s)", root,
        ds->name, ds->img_suffix, img_dir);
    return NULL;
  }
  return g_steal_pointer (&items);
}

guint8
naclip_eval_ours_to_file (const NaclipEvalDataset *ds, guint8 label)
{
  /* Lists with background, and reduce_zero_label datasets (whose file
   * value 0 is the ignored background / "other"), number like we do. */
  if (ds->list_has_background || ds->reduce_zero_label)
    return label;
  return label == 0 ? NACLIP_EVAL_IGNORE : (guint8)(label - 1);
}

guint8
naclip_eval_file_to_eval (const NaclipEvalDataset *ds, guint8 value)
{
  if (!ds->reduce_zero_label)
    return value;
  /* LoadAnnotations: 0 -> 255, v -> v - 1, and 255 - 1 = 254 -> 255. */
  if (value == 0 || value == NACLIP_EVAL_IGNORE)
    return NACLIP_EVAL_IGNORE;
  return (guint8)(value - 1);
}

guint
naclip_eval_class_to_ours (const NaclipEvalDataset *ds, guint cls)
{
  return ds->list_has_background ? cls : cls + 1;
}
