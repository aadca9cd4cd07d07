/* cmd-segment.c: "naclip segment", NACLIP on images.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * naclip segment --model M (--classes "a,b|b2,c" | --classes-file F)
 *     [--background-classes "x|y"] [--queries Q.npy] [options] IMAGE|DIR...
 *     [-o OUT.png] [--overlay OVERLAY.png [--alpha A]] [--dump-dir D]
 *
 * The segmentation options (segment-options.c) are named like the element
 * properties of the same knobs and default to naclip_params_default ();
 * the label map has the image's size unless --output-size processing. The
 * image is decoded through
 * GStreamer (image-io.c), segmented with one NaclipContext, and written as
 * a colour label PNG (naclip_palette_color) with -o. With --dump-dir each
 * stage is written as a little-endian .npy file by the context's dump
 * callback: input, block, features, queries, logits, refined, probs,
 * labels (see README.md, "Stage dumps"); tests/reference/naclip_ref.py
 * writes the same files. --overlay writes the image blended with the label
 * colours and a legend of the classes present (overlay.c). Several images,
 * or a directory (its image files, sorted; batch-inputs.c), are
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

#include <glib/gstdio.h>
#include <gst/gst.h>

#include "batch-inputs.h"
#include "image-io.h"
#include "naclip-tool.h"
#include "overlay.h"
#include "precision-option.h"
#include "progress.h"
#include "segment-batch.h"
#include "segment-options.h"

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

int
naclip_cmd_segment (int argc, char **argv)
{
  NaclipParams params = naclip_params_default ();
  NaclipSegmentOptions so;
  char *model_path = NULL, *queries_path = NULL, *dump_dir = NULL;
  char *output = NULL, *overlay = NULL, *class_colors = NULL;
  double alpha = 0.5;
  gboolean frame_size = TRUE;
  GOptionEntry entries[] = {
    { "model", 0, 0, G_OPTION_ARG_FILENAME, &model_path,
        "CLIP checkpoint (directory or .safetensors)", "M" },
    { "queries", 0, 0, G_OPTION_ARG_FILENAME, &queries_path,
        "Query embeddings [Q, E] (.npy) instead of the text tower", "Q.npy" },
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
    { "class-colors", 0, 0, G_OPTION_ARG_STRING, &class_colors,
        "Colours of classes by name in -o and --overlay, "
        "\"name:#RRGGBB,...\" (the palette for the rest)",
        "LIST" },
    { NULL, 0, 0, 0, NULL, NULL, NULL },
  };
  g_autoptr (GOptionContext) context = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (NaclipModel) model = NULL;
  g_autoptr (NaclipClasses) classes = NULL;
  g_autoptr (NaclipTemplates) templates = NULL;
  g_autoptr (NaclipQueries) queries = NULL;
  g_autoptr (NaclipClassColors) class_colours = NULL;
  g_auto (GStrv) unmatched = NULL;
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

  naclip_segment_options_init (&so);
  context = g_option_context_new ("IMAGE|DIR...");
  g_option_context_set_summary (context,
      "Segments IMAGE (PNG, JPEG, ...) with NACLIP into the given classes;\n"
      "several images or directories are segmented one after the other.\n"
      "Labels: 0 is background (the --background-classes names and pixels\n"
      "below the threshold), the classes are 1..N in order. Options default\n"
      "to the paper's settings; the label map has the image's size\n"
      "(--output-size frame).");
  g_option_context_add_main_entries (context, entries, NULL);
  naclip_segment_options_add (&so, context,
      NACLIP_SEGMENT_OPTIONS_CLASSES | NACLIP_SEGMENT_OPTIONS_BACKGROUND
          | NACLIP_SEGMENT_OPTIONS_TEMPLATES | NACLIP_SEGMENT_OPTIONS_METHOD
          | NACLIP_SEGMENT_OPTIONS_COMPUTE
          | NACLIP_SEGMENT_OPTIONS_OUTPUT_SIZE);
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
  if (model_path == NULL || (so.classes == NULL) == (so.classes_file == NULL)) {
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
  if (class_colors != NULL
      && (class_colours = naclip_class_colors_parse (class_colors, &error))
             == NULL) {
    fprintf (stderr, "naclip segment: --class-colors: %s\n", error->message);
    goto out;
  }
  inputs = naclip_batch_expand (argv + 1, (guint)argc - 1,
      naclip_batch_image_extensions, "image to segment", &error);
  if (inputs == NULL) {
    fprintf (stderr, "naclip segment: %s\n", error->message);
    goto out;
  }
  batch = argc > 2 || g_file_test (argv[1], G_FILE_TEST_IS_DIR);
  if (batch && dump_dir != NULL) {
    fprintf (stderr, "naclip segment: --dump-dir takes a single IMAGE\n");
    goto out;
  }
  if (!naclip_segment_options_apply (&so, &params, &error)
      || !naclip_segment_options_output_frame (
          &so, TRUE, &frame_size, &error)) {
    fprintf (stderr, "naclip segment: %s\n", error->message);
    goto out;
  }

  status = 1;
  if (!naclip_precision_option_resolve (params.precision, NULL, &error))
    goto fail;
  if (!gst_init_check (NULL, NULL, &error))
    goto fail;
  if (so.classes != NULL)
    classes = naclip_classes_parse (so.classes, so.background_classes, &error);
  else
    classes
        = naclip_classes_load (so.classes_file, so.background_classes, &error);
  if (classes == NULL)
    goto fail;
  unmatched = naclip_class_colors_unmatched (class_colours, classes);
  for (guint i = 0; unmatched != NULL && unmatched[i] != NULL; i++)
    fprintf (stderr,
        "naclip segment: --class-colors: '%s' is not a name of the "
        "classes\n",
        unmatched[i]);
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
        so.templates != NULL ? so.templates : "imagenet80", &error);
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
        label_path = naclip_batch_output (output, input, "-labels.png");
      if (overlay != NULL)
        overlay_path = naclip_batch_output (overlay, input, "-overlay.png");
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

    if (frame_size) {
      out_w = width;
      out_h = height;
    } else {
      naclip_context_get_processing_size (ctx, width, height, &out_w, &out_h);
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
      naclip_overlay_colorize (labels, out_w, out_w, out_h, classes,
          class_colours, colors, (gsize)out_w * 3);
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
            height, labels, out_w, out_h, classes, class_colours, (float)alpha,
            &error))
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
  naclip_segment_options_clear (&so);
  g_free (model_path);
  g_free (queries_path);
  g_free (dump_dir);
  g_free (output);
  g_free (overlay);
  g_free (class_colors);
  return status;
}
