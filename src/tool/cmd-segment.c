/* cmd-segment.c: "naclip segment", NACLIP on images.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * naclip segment --model M (--classes "a,b|b2,c" | --classes-file F)
 *     [--background "x|y"] [--queries Q.npy] [options] IMAGE|DIR...
 *     [-o OUT.png] [--overlay OVERLAY.png [--alpha A]] [--dump-dir D]
 *
 * Every option is named like the element property of the same knob and
 * defaults to naclip_params_default (). The image is decoded through
 * GStreamer (image-io.c), segmented with one NaclipContext, and written as
 * a colour label PNG (naclip_palette_color) with -o. With --dump-dir each
 * stage is written as a little-endian .npy file by the context's dump
 * callback: input, block, features, queries, logits, refined, probs,
 * labels (see README.md, "Stage dumps"); tests/reference/naclip_ref.py
 * writes the same files. --overlay writes the image blended with the label
 * colours and a legend of the classes present (overlay.c). Several images,
 * or a directory (its image files, sorted; segment-batch.c), are
 * segmented one after the other with the same context: -o and --overlay
 * then name directories that receive <name>-labels.png and
 * <name>-overlay.png, and a progress bar runs on stderr (progress.c).
 * Before segmenting, one line on stderr names the precision the context
 * runs at and the requested one ("precision: bf16 (requested auto)");
 * stdout keeps what scripts read.
 * Exit status 0 on success, 1 on a failure (message on stderr; a batch
 * stops at the first image that fails), 2 on a usage error.
 */

#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <glib/gstdio.h>
#include <gst/gst.h>

#include "image-io.h"
#include "naclip-tool.h"
#include "overlay.h"
#include "precision-option.h"
#include "progress.h"
#include "segment-batch.h"

typedef struct
{
  const char *dir;
  GError *error; /* the first failed write */
} DumpState;

static void
dump_stage (const char *name, const gsize *shape, guint n_dims,
    gboolean is_int32, const void *data, gpointer user_data)
{
  DumpState *state = user_data;
  g_autofree char *file = g_strconcat (name, ".npy", NULL);
  g_autofree char *path = g_build_filename (state->dir, file, NULL);

  if (state->error != NULL)
    return;
  naclip_npy_write (path, shape, n_dims, is_int32, data, &state->error);
}

/* Reads --queries: float32 [Q, E] for @classes. */
static NaclipQueries *
load_queries (const char *path, const NaclipClasses *classes, GError **error)
{
  gsize shape[NACLIP_NPY_MAX_DIMS];
  guint n_dims = 0;
  g_autofree float *data = naclip_npy_read_f32 (path, shape, &n_dims, error);

  if (data == NULL)
    return NULL;
  if (n_dims != 2 || shape[0] > G_MAXUINT || shape[1] > G_MAXUINT) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
        "%s: expected a [Q, E] array, got %u dimensions", path, n_dims);
    return NULL;
  }
  return naclip_queries_new (
      classes, data, (guint)shape[0], (guint)shape[1], error);
}

/* Stores an option value that must be >= 0 into @out. */
static gboolean
check_unsigned (const char *option, int value, guint *out)
{
  if (value < 0) {
    fprintf (stderr, "naclip segment: --%s %d must be >= 0\n", option, value);
    return FALSE;
  }
  *out = (guint)value;
  return TRUE;
}

int
naclip_cmd_segment (int argc, char **argv)
{
  NaclipParams params = naclip_params_default ();
  char *model_path = NULL, *classes_str = NULL, *classes_file = NULL;
  char *background = NULL, *queries_path = NULL, *templates_name = NULL;
  char *attention = NULL, *arch = NULL, *precision = NULL;
  char *dilations = NULL, *output_size = NULL, *dump_dir = NULL;
  char *output = NULL, *overlay = NULL;
  double alpha = 0.5;
  int inference_size = (int)params.inference_size;
  int slide_crop = (int)params.slide_crop;
  int slide_stride = (int)params.slide_stride;
  int pamr_steps = (int)params.pamr_steps;
  int threads = (int)params.threads;
  double gaussian_std = params.gaussian_std;
  double threshold = params.class_confidence_threshold;
  double logit_scale = params.logit_scale;
  GOptionEntry entries[] = {
    { "model", 0, 0, G_OPTION_ARG_FILENAME, &model_path,
        "CLIP checkpoint (directory or .safetensors)", "M" },
    { "classes", 0, 0, G_OPTION_ARG_STRING, &classes_str,
        "Classes: ',' between classes, '|' between a class's names", "LIST" },
    { "classes-file", 0, 0, G_OPTION_ARG_FILENAME, &classes_file,
        "Class file: one class per line, names separated by ', '", "F" },
    { "background", 0, 0, G_OPTION_ARG_STRING, &background,
        "Names whose pixels get label 0, separated by '|'", "NAMES" },
    { "queries", 0, 0, G_OPTION_ARG_FILENAME, &queries_path,
        "Query embeddings [Q, E] (.npy) instead of the text tower", "Q.npy" },
    { "templates", 0, 0, G_OPTION_ARG_STRING, &templates_name,
        "Prompt templates: imagenet80 (default), single, or a file", "T" },
    { "inference-size", 0, 0, G_OPTION_ARG_INT, &inference_size,
        "Short side of the processed image, px; 0 keeps the size", "PX" },
    { "slide-crop", 0, 0, G_OPTION_ARG_INT, &slide_crop,
        "Sliding-window crop, px; 0 encodes the whole image", "PX" },
    { "slide-stride", 0, 0, G_OPTION_ARG_INT, &slide_stride,
        "Sliding-window stride, px", "PX" },
    { "attention", 0, 0, G_OPTION_ARG_STRING, &attention,
        "Last-block attention: naclip, kk, nonly, csa, vanilla", "A" },
    { "arch", 0, 0, G_OPTION_ARG_STRING, &arch,
        "Last-block architecture: reduced, vanilla", "ARCH" },
    { "gaussian-std", 0, 0, G_OPTION_ARG_DOUBLE, &gaussian_std,
        "Sigma of the Gaussian neighbourhood bias, patches", "S" },
    { "pamr-steps", 0, 0, G_OPTION_ARG_INT, &pamr_steps,
        "PAMR iterations; 0 disables PAMR", "N" },
    { "pamr-dilations", 0, 0, G_OPTION_ARG_STRING, &dilations,
        "PAMR dilations, px (default 8,16)", "D,D" },
    { "class-confidence-threshold", 0, 0, G_OPTION_ARG_DOUBLE, &threshold,
        "Pixels whose best class probability is below get label 0", "P" },
    { "logit-scale", 0, 0, G_OPTION_ARG_DOUBLE, &logit_scale,
        "Softmax temperature of the cosine logits", "S" },
    { "threads", 0, 0, G_OPTION_ARG_INT, &threads, "Worker threads", "N" },
    { "precision", 0, 0, G_OPTION_ARG_STRING, &precision, "auto, fp32 or bf16",
        "P" },
    { "output-size", 0, 0, G_OPTION_ARG_STRING, &output_size,
        "Label map size: original (default; PAMR at the image size) or "
        "processing (cheaper)",
        "S" },
    { "dump-dir", 0, 0, G_OPTION_ARG_FILENAME, &dump_dir,
        "Write every stage as .npy files into D", "D" },
    { "output", 'o', 0, G_OPTION_ARG_FILENAME, &output,
        "Write the colour label map PNG to OUT (with several images: a "
        "directory, OUT/<name>-labels.png)",
        "OUT.png" },
    { "overlay", 0, 0, G_OPTION_ARG_FILENAME, &overlay,
        "Write the image blended with the label colours, with a legend, to "
        "OUT (with several images: a directory, OUT/<name>-overlay.png)",
        "OUT.png" },
    { "alpha", 0, 0, G_OPTION_ARG_DOUBLE, &alpha,
        "Opacity of the label colours in --overlay, 0..1 (default 0.5)", "A" },
    { NULL, 0, 0, 0, NULL, NULL, NULL },
  };
  g_autoptr (GOptionContext) context = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (NaclipModel) model = NULL;
  g_autoptr (NaclipClasses) classes = NULL;
  g_autoptr (NaclipTemplates) templates = NULL;
  g_autoptr (NaclipQueries) queries = NULL;
  g_autoptr (NaclipContext) ctx = NULL;
  g_autofree guint8 *rgb = NULL;
  g_autofree guint8 *labels = NULL;
  g_autofree guint8 *colors = NULL;
  g_autoptr (GPtrArray) inputs = NULL;
  NaclipProgress *progress = NULL;
  gboolean batch = FALSE;
  gint64 start_us = g_get_monotonic_time ();
  DumpState dump = { NULL, NULL };
  NaclipImage image = { 0 };
  guint width = 0, height = 0, out_w = 0, out_h = 0;
  NaclipTimings timings;
  g_autofree char *precision_desc = NULL;
  int status = 1;

  context = g_option_context_new ("IMAGE|DIR...");
  g_option_context_set_summary (context,
      "Segments IMAGE (PNG, JPEG, ...) with NACLIP into the given classes;\n"
      "several images or directories are segmented one after the other.\n"
      "Labels: 0 is background (the --background names and pixels below\n"
      "the threshold), the classes are 1..N in order.");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error)) {
    fprintf (stderr, "naclip segment: %s\n", error->message);
    status = 2;
    goto out;
  }
  status = 2;
  if (argc < 2) {
    fprintf (stderr,
        "naclip segment: expected IMAGE or DIR arguments (see --help)\n");
    goto out;
  }
  if (model_path == NULL || (classes_str == NULL) == (classes_file == NULL)) {
    fprintf (stderr, "naclip segment: --model and exactly one of --classes "
                     "and --classes-file are required\n");
    goto out;
  }
  if (output == NULL && overlay == NULL && dump_dir == NULL) {
    fprintf (stderr, "naclip segment: nothing to write: give -o, --overlay "
                     "and/or --dump-dir\n");
    goto out;
  }
  if (!(alpha >= 0.0 && alpha <= 1.0)) {
    fprintf (stderr, "naclip segment: --alpha %g is not in 0..1\n", alpha);
    goto out;
  }
  inputs = naclip_segment_batch_expand (argv + 1, (guint)argc - 1, &error);
  if (inputs == NULL) {
    fprintf (stderr, "naclip segment: %s\n", error->message);
    goto out;
  }
  batch = argc > 2 || g_file_test (argv[1], G_FILE_TEST_IS_DIR);
  if (batch && dump_dir != NULL) {
    fprintf (stderr, "naclip segment: --dump-dir takes a single IMAGE\n");
    goto out;
  }
  if (!check_unsigned ("inference-size", inference_size, &params.inference_size)
      || !check_unsigned ("slide-crop", slide_crop, &params.slide_crop)
      || !check_unsigned ("slide-stride", slide_stride, &params.slide_stride)
      || !check_unsigned ("pamr-steps", pamr_steps, &params.pamr_steps)
      || !check_unsigned ("threads", threads, &params.threads))
    goto out;
  params.gaussian_std = (float)gaussian_std;
  params.class_confidence_threshold = (float)threshold;
  params.logit_scale = (float)logit_scale;
  if (attention != NULL
      && !naclip_attention_from_string (attention, &params.attention)) {
    fprintf (stderr, "naclip segment: unknown --attention '%s'\n", attention);
    goto out;
  }
  if (arch != NULL && !naclip_arch_from_string (arch, &params.arch)) {
    fprintf (stderr, "naclip segment: unknown --arch '%s'\n", arch);
    goto out;
  }
  if (!naclip_precision_option_parse (precision, &params.precision, &error)) {
    fprintf (stderr, "naclip segment: %s\n", error->message);
    goto out;
  }
  if (output_size != NULL && strcmp (output_size, "original") != 0
      && strcmp (output_size, "processing") != 0) {
    fprintf (stderr,
        "naclip segment: --output-size '%s' is neither original nor "
        "processing\n",
        output_size);
    goto out;
  }
  if (dilations != NULL
      && !naclip_parse_dilations (
          dilations, params.pamr_dilations, &params.n_pamr_dilations, &error)) {
    fprintf (stderr, "naclip segment: %s\n", error->message);
    goto out;
  }
  if (!naclip_params_validate (&params, &error)) {
    fprintf (stderr, "naclip segment: %s\n", error->message);
    goto out;
  }

  status = 1;
  if (!naclip_precision_option_resolve (params.precision, NULL, &error))
    goto fail;
  if (!gst_init_check (NULL, NULL, &error))
    goto fail;
  if (classes_str != NULL)
    classes = naclip_classes_parse (classes_str, background, &error);
  else
    classes = naclip_classes_load (classes_file, background, &error);
  if (classes == NULL)
    goto fail;
  model = naclip_model_load (model_path, TRUE, &error);
  if (model == NULL)
    goto fail;
  if (queries_path != NULL) {
    queries = load_queries (queries_path, classes, &error);
  } else {
    NaclipEncodeOptions options = naclip_encode_options_default ();
    options.threads = params.threads;
    options.precision = params.precision;
    templates = naclip_templates_load (
        templates_name != NULL ? templates_name : "imagenet80", &error);
    if (templates == NULL)
      goto fail;
    queries
        = naclip_queries_encode (model, classes, templates, &options, &error);
  }
  if (queries == NULL)
    goto fail;

  ctx = naclip_context_new (model, &error);
  if (ctx == NULL || !naclip_context_set_params (ctx, &params, &error))
    goto fail;
  precision_desc = naclip_precision_option_describe (
      naclip_context_get_precision (ctx), params.precision);
  fprintf (stderr, "naclip segment: precision: %s\n", precision_desc);
  if (dump_dir != NULL) {
    if (g_mkdir_with_parents (dump_dir, 0755) != 0) {
      int err = errno;
      g_set_error (&error, NACLIP_ERROR, NACLIP_ERROR_IO,
          "%s: cannot create the directory: %s", dump_dir, g_strerror (err));
      goto fail;
    }
    dump.dir = dump_dir;
    naclip_context_set_dump_func (ctx, dump_stage, &dump);
  }
  if (batch) {
    for (guint i = 0; i < 2; i++) {
      const char *dir = i == 0 ? output : overlay;
      if (dir != NULL && g_mkdir_with_parents (dir, 0755) != 0) {
        int err = errno;
        g_set_error (&error, NACLIP_ERROR, NACLIP_ERROR_IO,
            "%s: cannot create the directory: %s", dir, g_strerror (err));
        goto fail;
      }
    }
    progress = naclip_progress_new (stderr, inputs->len, "img");
  }

  for (guint i = 0; i < inputs->len; i++) {
    const char *input = g_ptr_array_index (inputs, i);
    g_autofree char *label_path = NULL;
    g_autofree char *overlay_path = NULL;

    g_clear_pointer (&rgb, g_free);
    g_clear_pointer (&labels, g_free);
    g_clear_pointer (&colors, g_free);
    if (batch) {
      if (output != NULL)
        label_path = naclip_segment_batch_output (output, input, "-labels.png");
      if (overlay != NULL)
        overlay_path
            = naclip_segment_batch_output (overlay, input, "-overlay.png");
    } else {
      label_path = g_strdup (output);
      overlay_path = g_strdup (overlay);
    }

    rgb = naclip_image_io_load_rgb (input, &width, &height, &error);
    if (rgb == NULL)
      goto fail;
    image.format = NACLIP_PIXEL_RGB;
    image.width = width;
    image.height = height;
    image.data[0] = rgb;
    image.stride[0] = (gsize)width * 3;

    if (output_size != NULL && strcmp (output_size, "processing") == 0) {
      naclip_context_get_processing_size (ctx, width, height, &out_w, &out_h);
    } else {
      out_w = width;
      out_h = height;
    }
    labels = g_malloc ((gsize)out_w * out_h);
    if (!naclip_context_segment (
            ctx, queries, &image, out_w, out_h, labels, out_w, NULL, &error))
      goto fail;
    if (dump.error != NULL) {
      g_propagate_error (&error, g_steal_pointer (&dump.error));
      goto fail;
    }
    if (output != NULL) {
      colors = g_malloc ((gsize)out_w * out_h * 3);
      naclip_overlay_colorize (
          labels, out_w, out_w, out_h, colors, (gsize)out_w * 3);
      if (!naclip_image_io_save_png (
              label_path, colors, out_w, out_h, (gsize)out_w * 3, &error))
        goto fail;
    }
    if (!batch) {
      naclip_context_get_timings (ctx, &timings);
      printf ("%s: %ux%u -> %ux%u labels, %u classes, %u queries\n", input,
          width, height, out_w, out_h, naclip_classes_get_n_classes (classes),
          naclip_queries_get_n (queries));
      printf ("time: %.1f ms (pre-processing %.1f, encoder %.1f, logits %.1f, "
              "PAMR %.1f, labels %.1f)\n",
          timings.total_ms, timings.preprocess_ms, timings.encoder_ms,
          timings.logits_ms, timings.pamr_ms, timings.labels_ms);
    }
    if (overlay_path != NULL
        && !naclip_segment_batch_write_overlay (overlay_path, rgb, width,
            height, labels, out_w, out_h, classes, (float)alpha, &error))
      goto fail;
    if (progress != NULL)
      naclip_progress_update (progress, i + 1, input);
  }
  if (batch)
    printf ("%u images segmented in %.1f s\n", inputs->len,
        (g_get_monotonic_time () - start_us) / 1e6);
  naclip_progress_free (g_steal_pointer (&progress));
  status = 0;
  goto out;

fail:
  naclip_progress_free (g_steal_pointer (&progress));
  fprintf (stderr, "naclip segment: %s\n", error->message);
out:
  g_clear_error (&dump.error);
  g_free (model_path);
  g_free (classes_str);
  g_free (classes_file);
  g_free (background);
  g_free (queries_path);
  g_free (templates_name);
  g_free (attention);
  g_free (arch);
  g_free (precision);
  g_free (dilations);
  g_free (output_size);
  g_free (dump_dir);
  g_free (output);
  g_free (overlay);
  return status;
}
