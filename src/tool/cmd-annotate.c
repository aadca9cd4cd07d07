/* cmd-annotate.c: "naclip annotate", NACLIP on recorded video.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * naclip annotate [--model M] (--classes LIST | --classes-file F)
 *     [--<naclipseg property> VALUE...] -o DIR [--overlay mp4|none]
 *     [--labels none|png|mov] [--stats jsonl|csv|none] [--skip-existing]
 *     VIDEO|DIR...
 *
 * Each video goes through the naclipseg element in sync mode, so every
 * frame gets its own result, in a pipeline of its own (annotate-job.c):
 * the overlay video, the label maps (annotate-labels.c) and the per-frame
 * statistics (annotate-stats.c) are written to DIR as <name>-overlay.mp4,
 * <name>-labels/ or <name>-labels.mov, and <name>-stats.jsonl or .csv.
 * The element's properties are options of the same names
 * (element-options.c); the plugin is the one built with this program
 * (plugin-dir.c).
 *
 * Before the first video, one naclipseg element with the options is
 * started alone: it checks the properties (the element's own refusals,
 * posted as warnings), loads the model and encodes the classes, so that a
 * bad model or class list fails once, before anything is written. It
 * stays started until the end: the element shares a loaded model among
 * the running elements of the process (gstnaclipseg.c, "Models are
 * shared"), so each video's element finds it loaded.
 *
 * A video that cannot be read or decoded is reported on stderr, naming
 * it, and the batch goes on. stdout has one line per finished video and a
 * summary. Exit status 0 when every video was annotated (or skipped), 1
 * when one failed or the model, classes or plugin are unusable, 2 on a
 * usage error.
 */

#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <glib/gstdio.h>
#include <gst/gst.h>

#include "annotate-job.h"
#include "batch-inputs.h"
#include "element-options.h"
#include "naclip-tool.h"
#include "plugin-dir.h"
#include "precision-option.h"

/* Properties annotate sets itself: the output follows --overlay, results
 * are computed on the streaming thread for every frame, and nobody reads
 * the bus messages. */
static const char *const fixed_properties[]
    = { "output", "async", "post-messages", NULL };

/* The element refuses a property value with a warning "Property NAME:
 * why; keeping the previous value"; annotate names the option and stops
 * instead. */
#define REFUSAL_PREFIX "Property "
#define KEEPING_SUFFIX "; keeping the previous value"

/* A naclipseg element with the options and annotate's fixed properties,
 * added to @bin first when not NULL (so that a refused value is posted on
 * its bus). */
static GstElement *
make_seg (const NaclipElementOptions *options, gboolean overlay, GstBin *bin,
    GError **error)
{
  GstElement *seg
      = naclip_annotate_make_element ("naclipseg", "naclipseg", error);

  if (seg == NULL)
    return NULL;
  if (bin != NULL)
    gst_bin_add (bin, seg);
  naclip_element_options_apply (options, seg);
  gst_util_set_object_arg (
      G_OBJECT (seg), "output", overlay ? "overlay" : "passthrough");
  g_object_set (seg, "async", FALSE, "post-messages", FALSE, NULL);
  return seg;
}

/* Starts the element alone (see the top of the file). Returns the
 * running pipeline holding it and the element's threads in *@threads; NULL
 * with @error set and *@usage TRUE for a refused property, FALSE for a
 * model or class failure. */
static GstElement *
start_model_holder (const NaclipElementOptions *options, guint *threads,
    gboolean *usage, GError **error)
{
  GstElement *pipeline = gst_pipeline_new ("naclip-annotate-model");
  g_autoptr (GstBus) bus = gst_element_get_bus (pipeline);
  g_autoptr (GstMessage) msg = NULL;
  g_autoptr (GError) gst_error = NULL;
  GstElement *seg;

  *usage = FALSE;
  seg = make_seg (options, FALSE, GST_BIN (pipeline), error);
  if (seg == NULL)
    goto fail;
  /* A refused value was posted as a warning while it was being set. */
  msg = gst_bus_pop_filtered (bus, GST_MESSAGE_WARNING);
  if (msg != NULL) {
    char *text;
    gst_message_parse_warning (msg, &gst_error, NULL);
    text = gst_error->message;
    if (g_str_has_suffix (text, KEEPING_SUFFIX))
      text[strlen (text) - strlen (KEEPING_SUFFIX)] = '\0';
    if (g_str_has_prefix (text, REFUSAL_PREFIX))
      g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT, "--%s",
          text + strlen (REFUSAL_PREFIX));
    else
      g_set_error (
          error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT, "%s", text);
    *usage = TRUE;
    goto fail;
  }
  if (gst_element_set_state (pipeline, GST_STATE_PAUSED)
      == GST_STATE_CHANGE_FAILURE) {
    msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
    if (msg != NULL) {
      gst_message_parse_error (msg, &gst_error, NULL);
      g_set_error (
          error, NACLIP_ERROR, NACLIP_ERROR_IO, "%s", gst_error->message);
    } else {
      g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_IO,
          "the naclipseg element does not start");
    }
    goto fail;
  }
  g_object_get (seg, "threads", threads, NULL);
  return pipeline;

fail:
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (pipeline);
  return NULL;
}

/* Every element the chosen outputs need is installed. */
static gboolean
check_output_elements (const NaclipAnnotateOutputs *outputs, GError **error)
{
  const char *needed[4] = { NULL };
  guint n = 0;

  if (outputs->overlay) {
    needed[n++] = "x264enc";
    needed[n++] = "mp4mux";
  }
  if (outputs->labels != NACLIP_LABELS_NONE)
    needed[n++] = "pngenc";
  if (outputs->labels == NACLIP_LABELS_PNG)
    needed[n++] = "multifilesink";
  else if (outputs->labels == NACLIP_LABELS_MOV)
    needed[n++] = "qtmux";
  for (guint i = 0; i < n; i++) {
    GstElement *e = naclip_annotate_make_element (needed[i], needed[i], error);
    if (e == NULL)
      return FALSE;
    gst_object_unref (e);
  }
  return TRUE;
}

/* @a and @b are the same existing directory. */
static gboolean
is_same_directory (const char *a, const char *b)
{
  GStatBuf sa, sb;

  return g_stat (a, &sa) == 0 && g_stat (b, &sb) == 0 && S_ISDIR (sa.st_mode)
         && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* "out/a-overlay.mp4, out/a-stats.jsonl" */
static char *
describe_paths (const NaclipAnnotatePaths *paths)
{
  const char *all[] = { paths->overlay, paths->labels, paths->stats };
  GString *s = g_string_new (NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (all); i++) {
    if (all[i] != NULL)
      g_string_append_printf (s, "%s%s", s->len > 0 ? ", " : "", all[i]);
  }
  return g_string_free (s, FALSE);
}

int
naclip_cmd_annotate (int argc, char **argv)
{
  char *out_dir = NULL, *overlay = NULL, *labels = NULL, *stats = NULL;
  gboolean skip_existing = FALSE;
  GOptionEntry entries[] = {
    { "output", 'o', 0, G_OPTION_ARG_FILENAME, &out_dir,
        "Directory that receives the outputs of every video (created if "
        "missing)",
        "DIR" },
    { "overlay", 0, 0, G_OPTION_ARG_STRING, &overlay,
        "mp4 (default): <name>-overlay.mp4, the video with the class colours "
        "blended in, H.264 in MP4; none",
        "mp4|none" },
    { "labels", 0, 0, G_OPTION_ARG_STRING, &labels,
        "Label maps (pixel = label, 0 background), lossless: png, "
        "<name>-labels/000000.png...; mov, <name>-labels.mov (grayscale PNG "
        "frames); none (default)",
        "none|png|mov" },
    { "stats", 0, 0, G_OPTION_ARG_STRING, &stats,
        "Per-frame statistics, a row per frame and class present: jsonl "
        "(default), <name>-stats.jsonl; csv, <name>-stats.csv; none",
        "jsonl|csv|none" },
    { "skip-existing", 0, 0, G_OPTION_ARG_NONE, &skip_existing,
        "Skip a video whose outputs all exist (to resume a batch)", NULL },
    { NULL, 0, 0, 0, NULL, NULL, NULL },
  };
  g_autofree char *plugin_dir = NULL;
  g_autoptr (NaclipElementOptions) options = NULL;
  g_autoptr (GOptionContext) context = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) inputs = NULL;
  NaclipAnnotateOutputs outputs
      = { TRUE, NACLIP_LABELS_NONE, NACLIP_STATS_JSONL, 0 };
  NaclipPrecision requested = naclip_params_default ().precision;
  g_autofree char *precision_desc = NULL;
  const GValue *value;
  GstElement *holder = NULL;
  gboolean usage = FALSE;
  guint n_done = 0, n_failed = 0, n_skipped = 0, threads = 0;
  guint64 total_frames = 0;
  gint64 start_us = g_get_monotonic_time ();
  int status = 1;

  plugin_dir = naclip_plugin_dir_setup ();
  if (!gst_init_check (NULL, NULL, &error)
      || !naclip_plugin_dir_check (plugin_dir, &error))
    goto fail;
  options = naclip_element_options_new ("naclipseg", fixed_properties, &error);
  if (options == NULL)
    goto fail;
  naclip_element_options_add_alias (options, "model", "model-file",
      "CLIP checkpoint, directory or .safetensors (the element's "
      "model-file)");

  context = g_option_context_new ("VIDEO|DIR...");
  g_option_context_set_main_group (
      context, naclip_element_options_group (options, entries));
  g_option_context_set_summary (context,
      "Segments every frame of each VIDEO (or of the videos in each DIR:\n"
      "mp4, mkv, mov, webm, avi, ogv, ts...) with the naclipseg element and\n"
      "writes an overlay video, label maps and per-frame statistics to DIR.\n"
      "Options after --skip-existing are the element's properties (see\n"
      "gst-inspect-1.0 naclipseg), with their defaults.");
  if (!g_option_context_parse (context, &argc, &argv, &error)) {
    status = 2;
    goto fail;
  }

  status = 2;
  if (argc < 2) {
    fprintf (stderr,
        "naclip annotate: expected VIDEO or DIR arguments (see --help)\n");
    goto out;
  }
  if (out_dir == NULL) {
    fprintf (stderr, "naclip annotate: -o DIR is required\n");
    goto out;
  }
  if (overlay != NULL && strcmp (overlay, "mp4") != 0
      && strcmp (overlay, "none") != 0) {
    fprintf (stderr,
        "naclip annotate: --overlay '%s' is neither mp4 nor none\n", overlay);
    goto out;
  }
  outputs.overlay = overlay == NULL || strcmp (overlay, "mp4") == 0;
  if (labels != NULL
      && !naclip_labels_format_from_string (labels, &outputs.labels)) {
    fprintf (stderr, "naclip annotate: --labels '%s' is not none, png or mov\n",
        labels);
    goto out;
  }
  if (stats != NULL
      && !naclip_stats_format_from_string (stats, &outputs.stats)) {
    fprintf (stderr,
        "naclip annotate: --stats '%s' is not jsonl, csv or none\n", stats);
    goto out;
  }
  if (!outputs.overlay && outputs.labels == NACLIP_LABELS_NONE
      && outputs.stats == NACLIP_STATS_NONE) {
    fprintf (stderr, "naclip annotate: nothing to write: --overlay, --labels "
                     "and --stats are all none\n");
    goto out;
  }
  if (!naclip_element_options_resolve (options, &error))
    goto fail;
  if (naclip_element_options_lookup (options, "classes") == NULL
      && naclip_element_options_lookup (options, "classes-file") == NULL) {
    fprintf (
        stderr, "naclip annotate: --classes or --classes-file is required\n");
    goto out;
  }
  for (int i = 1; i < argc; i++) {
    if (is_same_directory (argv[i], out_dir)) {
      fprintf (stderr,
          "naclip annotate: -o %s is also an input directory: a later run "
          "would read the outputs as videos; choose another directory\n",
          out_dir);
      goto out;
    }
  }
  inputs = naclip_batch_expand (argv + 1, (guint)argc - 1,
      naclip_batch_video_extensions, "video to annotate", &error);
  if (inputs == NULL || !naclip_batch_check_names (inputs, &error))
    goto fail;
  value = naclip_element_options_lookup (options, "precision");
  if (value != NULL)
    requested = g_value_get_enum (value);

  status = 1;
  {
    NaclipPrecision resolved;
    if (!naclip_precision_option_resolve (requested, &resolved, &error))
      goto fail;
    precision_desc = naclip_precision_option_describe (resolved, requested);
  }
  if (!check_output_elements (&outputs, &error))
    goto fail;
  holder = start_model_holder (options, &threads, &usage, &error);
  if (holder == NULL) {
    status = usage ? 2 : 1;
    goto fail;
  }
  fprintf (stderr, "naclip annotate: precision: %s\n", precision_desc);
  if (g_mkdir_with_parents (out_dir, 0755) != 0) {
    int err = errno;
    g_set_error (&error, NACLIP_ERROR, NACLIP_ERROR_IO,
        "%s: cannot create the directory: %s", out_dir, g_strerror (err));
    goto fail;
  }
  outputs.encoder_threads = threads;

  for (guint i = 0; i < inputs->len; i++) {
    const char *input = g_ptr_array_index (inputs, i);
    g_autofree char *base = g_path_get_basename (input);
    g_autofree char *label
        = g_strdup_printf ("%s (%u/%u)", base, i + 1, inputs->len);
    g_autofree char *written = NULL;
    g_autoptr (GError) job_error = NULL;
    NaclipAnnotatePaths paths;
    NaclipAnnotateReport report;
    GstElement *seg;

    naclip_annotate_paths_init (&paths, out_dir, input, &outputs);
    written = describe_paths (&paths);
    if (skip_existing && naclip_annotate_paths_exist (&paths)) {
      printf ("%s: skipped, %s exist\n", input, written);
      n_skipped++;
    } else if ((seg = make_seg (options, outputs.overlay, NULL, &job_error))
                   == NULL
               || !naclip_annotate_run (
                   input, seg, &outputs, &paths, label, &report, &job_error)) {
      fprintf (stderr, "naclip annotate: %s\n", job_error->message);
      n_failed++;
    } else {
      printf ("%s: %u frames in %.1f s (%.2f frames/s) -> %s\n", input,
          report.frames, report.seconds,
          report.seconds > 0.0 ? report.frames / report.seconds : 0.0, written);
      total_frames += report.frames;
      n_done++;
    }
    fflush (stdout);
    naclip_annotate_paths_clear (&paths);
  }
  printf (
      "%u of %u videos annotated (%u failed, %u skipped), %" G_GUINT64_FORMAT
      " frames in %.1f s\n",
      n_done, inputs->len, n_failed, n_skipped, total_frames,
      (g_get_monotonic_time () - start_us) / 1e6);
  status = n_failed > 0 ? 1 : 0;
  goto out;

fail:
  fprintf (stderr, "naclip annotate: %s\n", error->message);
out:
  if (holder != NULL) {
    gst_element_set_state (holder, GST_STATE_NULL);
    gst_object_unref (holder);
  }
  g_free (out_dir);
  g_free (overlay);
  g_free (labels);
  g_free (stats);
  return status;
}
