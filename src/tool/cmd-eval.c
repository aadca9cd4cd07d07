/* cmd-eval.c: "naclip eval", mIoU on the paper's benchmarks.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Reproduces the authors' evaluation (github.com/sinahmr/NACLIP eval.py
 * with configs/cfg_<dataset>.py: mmseg's test loop and IoUMetric) without
 * Python: the dataset's images are listed in mmseg's order
 * (eval-datasets.c), each one is segmented at its own size with the
 * dataset's protocol preset (short side 336 or 560, whole image or
 * 224/112 windows, prob_thd, PAMR 10 steps at dilations 8 and 16), our
 * labels are mapped to the dataset's numbering and compared with its
 * annotation in mmseg's confusion counts (eval-metric.c). Any knob given
 * on the command line overrides the preset. The "folder" layout takes any
 * class list (--classes-file) and counts its classes from it.
 *
 * Output: progress on stderr (a bar on a terminal); on stdout the protocol
 * (with the precision run at and the one requested), the per-class table,
 * aAcc, mAcc and the line "mIoU: <value in %>"; optionally a JSON
 * report (--json) and the predictions as PNGs in the dataset's file
 * numbering (--predictions). Exit status 0, 1 on any error (a missing or
 * unreadable file stops the run, as it stops mmseg), 2 on a usage error.
 *
 * Known differences from the authors' run: images are decoded by
 * GStreamer's decoders (libjpeg-turbo through jpegdec) instead of OpenCV,
 * and resized in float without rounding to uint8 (naclip.h); EXIF
 * orientation is not applied (OpenCV applies it; the benchmarks' images
 * carry none that matters).
 */

#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <glib/gstdio.h>
#include <gst/gst.h>
#include <json-glib/json-glib.h>

#include <errno.h>

#include "eval-datasets.h"
#include "image-io.h"
#include "label-png.h"
#include "naclip-tool.h"
#include "precision-option.h"
#include "progress.h"
#include "segment-options.h"

typedef struct
{
  char *model;
  char *dataset;
  char *root;
  gint limit;
  char *json;
  char *predictions;
  char *classes_file;
  char *cache_dir;
  gboolean no_cache;
  gboolean no_check_weights;
  /* The knobs and --templates; unset means "the dataset's preset". */
  NaclipSegmentOptions seg;
} Options;

static void
options_clear (Options *o)
{
  g_free (o->model);
  g_free (o->dataset);
  g_free (o->root);
  g_free (o->json);
  g_free (o->predictions);
  g_free (o->classes_file);
  g_free (o->cache_dir);
  naclip_segment_options_clear (&o->seg);
}

/* The dataset's preset with the user's knobs applied on top. */
static gboolean
make_params (const NaclipEvalDataset *ds, const Options *o, NaclipParams *p,
    GError **error)
{
  if (o->limit < 0) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
        "--limit %d must be >= 0", o->limit);
    return FALSE;
  }
  *p = naclip_params_default ();
  p->inference_size = ds->inference_size;
  p->slide_crop = ds->slide_crop;
  p->slide_stride = ds->slide_stride;
  p->class_confidence_threshold = ds->class_confidence_threshold;
  return naclip_segment_options_apply (&o->seg, p, error);
}

/* The protocol line; @resolved is the precision p->precision runs at. */
static char *
describe_params (const NaclipParams *p, NaclipPrecision resolved)
{
  g_autofree char *precision = NULL;
  GString *s = g_string_new (NULL);

  g_string_append_printf (s, "short side %u, ", p->inference_size);
  if (p->slide_crop == 0)
    g_string_append (s, "whole image, ");
  else
    g_string_append_printf (s, "slide %u/%u, ", p->slide_crop, p->slide_stride);
  g_string_append_printf (
      s, "threshold %g, ", (double)p->class_confidence_threshold);
  if (p->pamr_steps == 0) {
    g_string_append (s, "PAMR off, ");
  } else {
    g_string_append_printf (s, "PAMR %u steps (", p->pamr_steps);
    for (guint i = 0; i < p->n_pamr_dilations; i++)
      g_string_append_printf (
          s, "%s%u", i > 0 ? "," : "", p->pamr_dilations[i]);
    g_string_append (s, "), ");
  }
  precision = naclip_precision_option_describe (resolved, p->precision);
  g_string_append_printf (s,
      "attention %s, arch %s, gaussian std %g, logit scale %g, %u threads, "
      "precision %s",
      naclip_attention_to_string (p->attention),
      naclip_arch_to_string (p->arch), (double)p->gaussian_std,
      (double)p->logit_scale, p->threads, precision);
  return g_string_free (s, FALSE);
}

/* The class list of @ds: --classes-file, else the built-in list
 * data/classes/<class_file>.txt. */
static NaclipClasses *
load_classes (const NaclipEvalDataset *ds, const Options *o, GError **error)
{
  const char *path = o->classes_file != NULL ? o->classes_file : ds->class_file;
  NaclipClasses *classes;
  guint n, expected;

  if (path == NULL) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
        "--dataset %s needs a class list (--classes-file FILE)", ds->name);
    return NULL;
  }
  classes = naclip_classes_load (path, NULL, error);
  if (classes == NULL)
    return NULL;

  n = naclip_classes_get_n_classes (classes);
  expected = ds->list_has_background ? ds->n_classes - 1 : ds->n_classes;
  if (ds->n_classes != 0 && n != expected) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
        "%s: %u classes, but %s has %u%s", path, n, ds->name, expected,
        ds->list_has_background ? " besides the background" : "");
    naclip_classes_free (classes);
    return NULL;
  }
  if (ds->n_classes == 0 && n >= NACLIP_EVAL_IGNORE) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
        "%s: %u classes; the %s layout takes at most %u (annotation value "
        "%u marks ignored pixels)",
        path, n, ds->name, NACLIP_EVAL_IGNORE - 1, NACLIP_EVAL_IGNORE);
    naclip_classes_free (classes);
    return NULL;
  }
  return classes;
}

static void
json_add_number_or_null (JsonBuilder *b, const char *key, double v)
{
  json_builder_set_member_name (b, key);
  if (isnan (v))
    json_builder_add_null_value (b);
  else
    json_builder_add_double_value (b, v);
}

static gboolean
write_json (const char *path, const NaclipEvalDataset *ds, const Options *o,
    const NaclipParams *p, NaclipPrecision resolved,
    const NaclipClasses *classes, guint n_images, const NaclipIouMetric *m,
    const NaclipIouResult *r, double seconds, double segment_seconds,
    GError **error)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  g_autoptr (JsonNode) root = NULL;
  g_autofree char *protocol = describe_params (p, resolved);

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "dataset");
  json_builder_add_string_value (b, ds->name);
  json_builder_set_member_name (b, "root");
  json_builder_add_string_value (b, o->root);
  json_builder_set_member_name (b, "model");
  json_builder_add_string_value (b, o->model);
  json_builder_set_member_name (b, "images");
  json_builder_add_int_value (b, n_images);
  json_builder_set_member_name (b, "protocol");
  json_builder_add_string_value (b, protocol);
  json_builder_set_member_name (b, "params");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "inference_size");
  json_builder_add_int_value (b, p->inference_size);
  json_builder_set_member_name (b, "slide_crop");
  json_builder_add_int_value (b, p->slide_crop);
  json_builder_set_member_name (b, "slide_stride");
  json_builder_add_int_value (b, p->slide_stride);
  json_builder_set_member_name (b, "class_confidence_threshold");
  json_builder_add_double_value (b, p->class_confidence_threshold);
  json_builder_set_member_name (b, "pamr_steps");
  json_builder_add_int_value (b, p->pamr_steps);
  json_builder_set_member_name (b, "pamr_dilations");
  json_builder_begin_array (b);
  for (guint i = 0; i < p->n_pamr_dilations; i++)
    json_builder_add_int_value (b, p->pamr_dilations[i]);
  json_builder_end_array (b);
  json_builder_set_member_name (b, "attention");
  json_builder_add_string_value (b, naclip_attention_to_string (p->attention));
  json_builder_set_member_name (b, "arch");
  json_builder_add_string_value (b, naclip_arch_to_string (p->arch));
  json_builder_set_member_name (b, "gaussian_std");
  json_builder_add_double_value (b, p->gaussian_std);
  json_builder_set_member_name (b, "logit_scale");
  json_builder_add_double_value (b, p->logit_scale);
  json_builder_set_member_name (b, "precision");
  json_builder_add_string_value (b, naclip_precision_to_string (resolved));
  json_builder_set_member_name (b, "requested_precision");
  json_builder_add_string_value (b, naclip_precision_to_string (p->precision));
  json_builder_end_object (b);

  json_builder_set_member_name (b, "classes");
  json_builder_begin_array (b);
  for (guint c = 0; c < m->n_classes; c++) {
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "name");
    json_builder_add_string_value (b,
        naclip_classes_get_name (classes, naclip_eval_class_to_ours (ds, c)));
    json_add_number_or_null (b, "iou", r->iou[c]);
    json_add_number_or_null (b, "acc", r->acc[c]);
    json_builder_set_member_name (b, "intersect");
    json_builder_add_int_value (b, (gint64)r->intersect[c]);
    json_builder_set_member_name (b, "union");
    json_builder_add_int_value (b, (gint64)r->union_[c]);
    json_builder_set_member_name (b, "pred_area");
    json_builder_add_int_value (b, (gint64)r->pred_area[c]);
    json_builder_set_member_name (b, "label_area");
    json_builder_add_int_value (b, (gint64)r->label_area[c]);
    json_builder_end_object (b);
  }
  json_builder_end_array (b);

  json_add_number_or_null (b, "mIoU", r->miou);
  json_add_number_or_null (b, "mAcc", r->macc);
  json_add_number_or_null (b, "aAcc", r->aacc);
  json_builder_set_member_name (b, "classes_in_mean");
  json_builder_add_int_value (b, r->n_valid);
  json_builder_set_member_name (b, "mean_rule");
  json_builder_add_string_value (b,
      "nanmean over classes: a class absent from both the ground truth and "
      "the predictions (empty union) is NaN and excluded (mmseg IoUMetric)");
  json_builder_set_member_name (b, "pixels");
  json_builder_add_int_value (b, (gint64)m->n_pixels);
  json_builder_set_member_name (b, "ignored_pixels");
  json_builder_add_int_value (b, (gint64)m->n_ignored);
  json_builder_set_member_name (b, "stray_label_pixels");
  json_builder_add_int_value (b, (gint64)m->n_stray_gt);
  json_add_number_or_null (b, "published_mIoU", ds->published_miou / 100.0);
  json_builder_set_member_name (b, "seconds");
  json_builder_add_double_value (b, seconds);
  json_builder_set_member_name (b, "segment_seconds_per_image");
  json_builder_add_double_value (b, segment_seconds / MAX (n_images, 1u));
  json_builder_end_object (b);

  root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  json_generator_set_pretty (gen, TRUE);
  if (!json_generator_to_file (gen, path, error))
    return FALSE;
  return TRUE;
}

static void
print_table (const NaclipEvalDataset *ds, const NaclipClasses *classes,
    const NaclipIouResult *r, guint n_classes)
{
  guint name_w = 5;

  for (guint c = 0; c < n_classes; c++) {
    const char *name
        = naclip_classes_get_name (classes, naclip_eval_class_to_ours (ds, c));
    name_w = MAX (name_w, (guint)g_utf8_strlen (name, -1));
  }
  printf ("per class results:\n");
  printf ("%-*s %7s %7s\n", (int)name_w, "Class", "IoU", "Acc");
  for (guint c = 0; c < n_classes; c++) {
    const char *name
        = naclip_classes_get_name (classes, naclip_eval_class_to_ours (ds, c));
    /* Pad by characters, not bytes, for non-ASCII names. */
    guint pad = name_w - (guint)g_utf8_strlen (name, -1);
    printf ("%s%*s %7.2f %7.2f\n", name, (int)pad, "", 100.0 * r->iou[c],
        100.0 * r->acc[c]);
  }
}

int
naclip_cmd_eval (int argc, char **argv)
{
  Options o = { 0 };
  GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &o.model,
        "CLIP checkpoint (directory or .safetensors; default $NACLIP_MODEL, "
        "then naclip-download-model's directory)",
        "M" },
    { "dataset", 'd', 0, G_OPTION_ARG_STRING, &o.dataset,
        "voc21, voc20, context60, context59, coco-object, coco-stuff, "
        "cityscapes, ade20k, or folder (images/*.png, annotations/*.png, "
        "--classes-file)",
        "NAME" },
    { "root", 'r', 0, G_OPTION_ARG_FILENAME, &o.root,
        "The dataset's directory (mmseg's data_root)", "DIR" },
    { "limit", 'n', 0, G_OPTION_ARG_INT, &o.limit,
        "Evaluate only the first N images", "N" },
    { "json", 0, 0, G_OPTION_ARG_FILENAME, &o.json,
        "Write a JSON report to REPORT", "REPORT" },
    { "predictions", 0, 0, G_OPTION_ARG_FILENAME, &o.predictions,
        "Write each prediction as DIR/<image name>.png, in the dataset's "
        "label numbering",
        "DIR" },
    { "classes-file", 0, 0, G_OPTION_ARG_FILENAME, &o.classes_file,
        "Class list file (or built-in name) instead of the dataset's", "FILE" },
    { "classes", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_FILENAME,
        &o.classes_file, NULL, NULL },
    { "cache-dir", 0, 0, G_OPTION_ARG_FILENAME, &o.cache_dir,
        "Directory of the text-embedding cache", "DIR" },
    { "no-cache", 0, 0, G_OPTION_ARG_NONE, &o.no_cache,
        "Do not read or write the text-embedding cache", NULL },
    { "no-check-weights", 0, 0, G_OPTION_ARG_NONE, &o.no_check_weights,
        "Skip the NaN/Inf scan of the weights", NULL },
    { NULL, 0, 0, 0, NULL, NULL, NULL },
  };
  g_autoptr (GOptionContext) context = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (NaclipModel) model = NULL;
  g_autoptr (NaclipClasses) classes = NULL;
  g_autoptr (NaclipTemplates) templates = NULL;
  g_autoptr (NaclipQueries) queries = NULL;
  g_autoptr (NaclipContext) ctx = NULL;
  g_autoptr (GPtrArray) items = NULL;
  NaclipIouMetric *metric = NULL;
  NaclipIouResult *result = NULL;
  NaclipProgress *progress = NULL;
  const NaclipEvalDataset *ds;
  NaclipEncodeOptions enc;
  NaclipParams params;
  NaclipPrecision resolved;
  g_autofree char *protocol = NULL;
  guint8 *labels = NULL, *pred = NULL, *gt_eval = NULL;
  gsize buf_pixels = 0;
  double segment_seconds = 0.0, seconds;
  guint n_images, n_classes;
  int status = 1;

  o.limit = G_MAXINT; /* all images */
  naclip_segment_options_init (&o.seg);

  context = g_option_context_new ("- mIoU on a segmentation benchmark");
  g_option_context_set_summary (context,
      "Segments every image of a benchmark with the authors' protocol for it\n"
      "and prints mmseg's per-class IoU table and the line \"mIoU: <%>\".\n"
      "mIoU is the mean over the classes present in the ground truth or in\n"
      "the predictions; a class absent from both has no IoU (NaN) and is\n"
      "left out of the mean, as mmseg's IoUMetric does. The segmentation\n"
      "options default to the dataset's preset (the authors' config).");
  g_option_context_add_main_entries (context, entries, NULL);
  naclip_segment_options_add (&o.seg, context,
      NACLIP_SEGMENT_OPTIONS_TEMPLATES | NACLIP_SEGMENT_OPTIONS_METHOD
          | NACLIP_SEGMENT_OPTIONS_COMPUTE);
  if (!g_option_context_parse (context, &argc, &argv, &error)) {
    fprintf (stderr, "naclip eval: %s\n", error->message);
    status = 2;
    goto out;
  }
  if (argc != 1 || o.dataset == NULL || o.root == NULL) {
    fprintf (stderr,
        "naclip eval: --dataset and --root are required and no other "
        "argument is expected (see --help)\n");
    status = 2;
    goto out;
  }
  if (o.model == NULL) {
    /* The element's default: $NACLIP_MODEL, then where
     * naclip-download-model puts the model. */
    const char *env = g_getenv ("NACLIP_MODEL");
    o.model = env != NULL && env[0] != '\0'
                  ? g_strdup (env)
                  : g_build_filename (g_get_user_data_dir (), "naclipseg",
                      "models", "clip-vit-base-patch16", NULL);
  }
  gst_init (NULL, NULL);
  ds = naclip_eval_dataset_find (o.dataset);
  if (ds == NULL) {
    guint n;
    const NaclipEvalDataset *all = naclip_eval_datasets (&n);
    fprintf (stderr, "naclip eval: unknown dataset '%s'; known:", o.dataset);
    for (guint i = 0; i < n; i++)
      fprintf (stderr, " %s", all[i].name);
    fprintf (stderr, "\n");
    status = 2;
    goto out;
  }
  if (!make_params (ds, &o, &params, &error)) {
    fprintf (stderr, "naclip eval: %s\n", error->message);
    status = 2;
    goto out;
  }
  if (!naclip_precision_option_resolve (params.precision, &resolved, &error))
    goto fail;

  items = naclip_eval_dataset_list (ds, o.root, &error);
  if (items == NULL)
    goto fail;
  if ((guint)o.limit < items->len)
    g_ptr_array_set_size (items, o.limit);
  n_images = items->len;
  if (n_images == 0) {
    fprintf (stderr, "naclip eval: --limit 0 leaves no image\n");
    status = 2;
    goto out;
  }
  if (o.predictions != NULL
      && g_mkdir_with_parents (o.predictions, 0755) != 0) {
    fprintf (stderr, "naclip eval: cannot create %s: %s\n", o.predictions,
        g_strerror (errno));
    goto out;
  }

  model = naclip_model_load (o.model, !o.no_check_weights, &error);
  if (model == NULL)
    goto fail;
  classes = load_classes (ds, &o, &error);
  if (classes == NULL)
    goto fail;
  n_classes = ds->n_classes != 0 ? ds->n_classes
                                 : naclip_classes_get_n_classes (classes) + 1;
  templates = naclip_templates_load (
      o.seg.templates != NULL ? o.seg.templates : "imagenet80", &error);
  if (templates == NULL)
    goto fail;

  protocol = describe_params (&params, resolved);
  printf ("dataset: %s (%s), %u images under %s\n", ds->name, ds->title,
      n_images, o.root);
  printf ("protocol: %s\n", protocol);
  fflush (stdout);

  enc = naclip_encode_options_default ();
  enc.use_cache = !o.no_cache;
  enc.cache_dir = o.cache_dir;
  enc.threads = params.threads;
  enc.precision = params.precision;
  fprintf (stderr, "naclip eval: embedding %u names x %u templates...\n",
      naclip_classes_get_n_queries (classes),
      naclip_templates_get_n (templates));
  queries = naclip_queries_encode (model, classes, templates, &enc, &error);
  if (queries == NULL)
    goto fail;
  ctx = naclip_context_new (model, &error);
  if (ctx == NULL || !naclip_context_set_params (ctx, &params, &error))
    goto fail;

  metric = naclip_iou_metric_new (n_classes);
  progress = naclip_progress_new (stderr, n_images, "img");
  for (guint i = 0; i < n_images; i++) {
    const NaclipEvalItem *item = g_ptr_array_index (items, i);
    g_autofree guint8 *rgb = NULL;
    g_autofree guint8 *gt = NULL;
    NaclipImage image = { 0 };
    guint gt_w = 0, gt_h = 0, w = 0, h = 0;
    gsize n;
    gint64 t0;

    rgb = naclip_image_io_load_rgb (item->image, &w, &h, &error);
    if (rgb == NULL)
      goto fail;
    image.format = NACLIP_PIXEL_RGB;
    image.width = w;
    image.height = h;
    image.data[0] = rgb;
    image.stride[0] = (gsize)w * 3;
    gt = naclip_label_png_read (item->label, &gt_w, &gt_h, &error);
    if (gt == NULL)
      goto fail;
    if (gt_w != w || gt_h != h) {
      g_set_error (&error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
          "%s is %ux%u but its image %s is %ux%u", item->label, gt_w, gt_h,
          item->image, w, h);
      goto fail;
    }
    n = (gsize)w * h;
    if (n > buf_pixels) {
      g_free (labels);
      g_free (pred);
      g_free (gt_eval);
      labels = g_try_malloc (n);
      pred = g_try_malloc (n);
      gt_eval = g_try_malloc (n);
      buf_pixels = n;
      if (labels == NULL || pred == NULL || gt_eval == NULL) {
        g_set_error (&error, NACLIP_ERROR, NACLIP_ERROR_NO_MEMORY,
            "cannot allocate label maps of %ux%u for %s", w, h, item->image);
        goto fail;
      }
    }

    t0 = g_get_monotonic_time ();
    if (!naclip_context_segment (
            ctx, queries, &image, w, h, labels, w, NULL, &error)) {
      g_prefix_error (&error, "%s: ", item->image);
      goto fail;
    }
    segment_seconds += (double)(g_get_monotonic_time () - t0) / 1e6;

    for (gsize k = 0; k < n; k++)
      pred[k] = naclip_eval_ours_to_file (ds, labels[k]);
    if (o.predictions != NULL) {
      g_autofree char *name = g_strconcat (item->stem, ".png", NULL);
      g_autofree char *path = g_build_filename (o.predictions, name, NULL);
      if (!naclip_label_png_write (path, pred, w, h, w, &error))
        goto fail;
    }
    for (gsize k = 0; k < n; k++) {
      pred[k] = naclip_eval_file_to_eval (ds, pred[k]);
      gt_eval[k] = naclip_eval_file_to_eval (ds, gt[k]);
    }
    naclip_iou_metric_add (metric, pred, gt_eval, n);
    naclip_progress_update (progress, i + 1, item->stem);
  }
  seconds = naclip_progress_elapsed (progress);
  g_clear_pointer (&progress, naclip_progress_free);

  result = naclip_iou_metric_compute (metric);
  print_table (ds, classes, result, n_classes);
  printf ("aAcc: %.2f\n", 100.0 * result->aacc);
  printf ("mAcc: %.2f\n", 100.0 * result->macc);
  printf ("mIoU: %.2f\n", 100.0 * result->miou);
  printf ("classes in the mean: %u of %u (a class absent from both the "
          "ground truth and the predictions is NaN and left out, as in "
          "mmseg's IoUMetric)\n",
      result->n_valid, n_classes);
  if (metric->n_stray_gt > 0)
    printf ("warning: %" G_GUINT64_FORMAT " annotation pixels hold values "
            "above the %u classes (not 255); is this the %s layout?\n",
        metric->n_stray_gt, n_classes, ds->name);
  if (!isnan (ds->published_miou))
    printf ("published (NACLIP, ViT-B/16, full val set): %.2f\n",
        (double)ds->published_miou);
  printf ("time: %.1f s, %.3f s/image segmenting\n", seconds,
      segment_seconds / n_images);
  fflush (stdout);

  if (o.json != NULL
      && !write_json (o.json, ds, &o, &params, resolved, classes, n_images,
          metric, result, seconds, segment_seconds, &error))
    goto fail;
  status = 0;
  goto out;

fail:
  g_clear_pointer (&progress, naclip_progress_free);
  fprintf (stderr, "naclip eval: %s\n", error->message);
  status = 1;
out:
  naclip_progress_free (progress);
  naclip_iou_result_free (result);
  naclip_iou_metric_free (metric);
  g_free (labels);
  g_free (pred);
  g_free (gt_eval);
  options_clear (&o);
  return status;
}
