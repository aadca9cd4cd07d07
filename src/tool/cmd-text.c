/* cmd-text.c: "naclip tokenize" and "naclip embed", the text side.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 *   naclip tokenize [--merges F | --model M] [--context N] [--truncate]
 *       TEXT...
 *     prints the ids of each TEXT on one line, separated by spaces: SOT,
 *     the tokens, EOT (no padding). Without --merges or --model it reads
 *     the merges of $NACLIP_MERGES. A merges file alone is read as CLIP's
 *     (48894 merges); --model uses as many as its vocabulary holds.
 *   naclip embed --model M (--classes "a,b|b2" | --classes-file F)
 *       [--background-classes "x|y"] [--templates imagenet80|single|FILE]
 *       [--no-cache] [--cache-dir D] [--truncate] [--threads N]
 *       [--precision auto|fp32|bf16] -o OUT.npy
 *     writes the query embeddings [Q, E] (float32 .npy) in query order
 *     (background names first) and prints on stderr the precision it ran
 *     at and the time it took.
 * Exit status 0 on success, 1 on an error (message on stderr), 2 on a
 * usage error.
 */

#include "config.h"

#include <stdio.h>

#include "naclip-tool.h"
#include "precision-option.h"
#include "segment-options.h"

int
naclip_cmd_tokenize (int argc, char **argv)
{
  char *merges = NULL, *model_path = NULL;
  gint context = 0;
  gboolean truncate = FALSE;
  /* Raw bytes (FILENAME_ARRAY: no locale conversion); GLib drops a "--"
   * that ends the options, so "-- -x" tokenizes "-x". */
  g_auto (GStrv) texts = NULL;
  GOptionEntry entries[] = {
    { "merges", 0, 0, G_OPTION_ARG_FILENAME, &merges,
        "CLIP's merges.txt or bpe_simple_vocab_16e6.txt.gz", "F" },
    { "model", 0, 0, G_OPTION_ARG_FILENAME, &model_path,
        "Use the merges of checkpoint M", "M" },
    { "context", 0, 0, G_OPTION_ARG_INT, &context,
        "Context length (default: unlimited up to 4096)", "N" },
    { "truncate", 0, 0, G_OPTION_ARG_NONE, &truncate,
        "Truncate texts longer than the context (EOT kept last)", NULL },
    { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &texts, NULL,
        "TEXT..." },
    { NULL, 0, 0, 0, NULL, NULL, NULL },
  };
  g_autoptr (GOptionContext) octx = g_option_context_new (NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (NaclipModel) model = NULL;
  NaclipTokenizer *own = NULL, *tok = NULL;
  g_autofree gint32 *ids = NULL;
  int status = 0;

  g_option_context_set_summary (
      octx, "Prints the CLIP token ids of each TEXT, one line per text.");
  g_option_context_add_main_entries (octx, entries, NULL);
  if (!g_option_context_parse (octx, &argc, &argv, &error)) {
    fprintf (stderr, "naclip tokenize: %s\n", error->message);
    status = 2;
    goto out;
  }
  if (texts == NULL || (merges != NULL && model_path != NULL) || context < 0
      || context == 1 || context > 4096) {
    fprintf (stderr, "naclip tokenize: expected TEXT... and at most one of "
                     "--merges and --model, --context 2..4096 (see --help)\n");
    status = 2;
    goto out;
  }
  if (merges == NULL && model_path == NULL)
    merges = g_strdup (g_getenv ("NACLIP_MERGES"));
  if (model_path != NULL) {
    model = naclip_model_load (model_path, FALSE, &error);
    tok = model != NULL ? naclip_model_get_tokenizer (model) : NULL;
    if (model != NULL && tok == NULL)
      g_set_error (&error, NACLIP_ERROR, NACLIP_ERROR_MODEL,
          "%s has no merges file", model_path);
  } else if (merges != NULL) {
    tok = own = naclip_tokenizer_load (merges, NACLIP_CLIP_N_MERGES, &error);
  } else {
    g_set_error (&error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
        "no merges: give --merges, --model or $NACLIP_MERGES");
  }
  if (error != NULL) {
    fprintf (stderr, "naclip tokenize: %s\n", error->message);
    status = 1;
    goto out;
  }
  if (context == 0)
    context = 4096;
  ids = g_new (gint32, context);
  for (guint i = 0; texts[i] != NULL; i++) {
    gint eot = naclip_tokenizer_encode (
        tok, texts[i], -1, truncate, ids, (guint)context, &error);
    if (eot < 0) {
      fprintf (stderr, "naclip tokenize: text %u: %s\n", i + 1, error->message);
      g_clear_error (&error);
      status = 1;
      continue;
    }
    for (gint k = 0; k <= eot; k++)
      printf ("%s%d", k ? " " : "", ids[k]);
    printf ("\n");
  }

out:
  naclip_tokenizer_free (own);
  g_free (merges);
  g_free (model_path);
  return status;
}

int
naclip_cmd_embed (int argc, char **argv)
{
  char *model_path = NULL, *cache_dir = NULL, *output = NULL;
  gboolean no_cache = FALSE, truncate = FALSE;
  NaclipSegmentOptions so;
  GOptionEntry entries[] = {
    { "model", 0, 0, G_OPTION_ARG_FILENAME, &model_path, "CLIP checkpoint",
        "M" },
    { "no-cache", 0, 0, G_OPTION_ARG_NONE, &no_cache,
        "Neither read nor write the embedding cache", NULL },
    { "cache-dir", 0, 0, G_OPTION_ARG_FILENAME, &cache_dir,
        "Cache directory (default $XDG_CACHE_HOME/naclipseg)", "D" },
    { "truncate", 0, 0, G_OPTION_ARG_NONE, &truncate,
        "Truncate prompts longer than the context", NULL },
    { "output", 'o', 0, G_OPTION_ARG_FILENAME, &output,
        "Output .npy file [Q, E]", "OUT" },
    { NULL, 0, 0, 0, NULL, NULL, NULL },
  };
  g_autoptr (GOptionContext) octx = g_option_context_new (NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (NaclipModel) model = NULL;
  g_autoptr (NaclipClasses) classes = NULL;
  g_autoptr (NaclipTemplates) templates = NULL;
  g_autoptr (NaclipQueries) queries = NULL;
  NaclipEncodeOptions options = naclip_encode_options_default ();
  NaclipParams params = naclip_params_default ();
  NaclipPrecision resolved;
  g_autofree char *precision_desc = NULL;
  gint64 t0;
  int status = 1;

  g_option_context_set_summary (octx,
      "Writes the query embeddings of a class list (CLIP's prompt "
      "ensembling).");
  naclip_segment_options_init (&so);
  g_option_context_add_main_entries (octx, entries, NULL);
  naclip_segment_options_add (&so, octx,
      NACLIP_SEGMENT_OPTIONS_CLASSES | NACLIP_SEGMENT_OPTIONS_BACKGROUND
          | NACLIP_SEGMENT_OPTIONS_TEMPLATES | NACLIP_SEGMENT_OPTIONS_COMPUTE);
  if (!g_option_context_parse (octx, &argc, &argv, &error)) {
    fprintf (stderr, "naclip embed: %s\n", error->message);
    status = 2;
    goto out;
  }
  if (argc != 1 || model_path == NULL || output == NULL
      || (so.classes == NULL) == (so.classes_file == NULL)) {
    fprintf (stderr, "naclip embed: expected --model, -o and one of "
                     "--classes and --classes-file (see --help)\n");
    status = 2;
    goto out;
  }
  if (!naclip_segment_options_apply (&so, &params, &error)) {
    fprintf (stderr, "naclip embed: %s\n", error->message);
    status = 2;
    goto out;
  }
  options.threads = params.threads;
  options.precision = params.precision;
  if (naclip_precision_option_resolve (options.precision, &resolved, &error))
    model = naclip_model_load (model_path, TRUE, &error);
  if (model != NULL)
    classes = so.classes_file != NULL ? naclip_classes_load (
                  so.classes_file, so.background_classes, &error)
                                      : naclip_classes_parse (so.classes,
                                          so.background_classes, &error);
  if (classes != NULL)
    templates = naclip_templates_load (
        so.templates != NULL ? so.templates : "imagenet80", &error);
  if (templates != NULL) {
    options.use_cache = !no_cache;
    options.cache_dir = cache_dir;
    options.truncate = truncate;
    precision_desc
        = naclip_precision_option_describe (resolved, options.precision);
    fprintf (stderr, "naclip embed: precision: %s\n", precision_desc);
    t0 = g_get_monotonic_time ();
    queries
        = naclip_queries_encode (model, classes, templates, &options, &error);
    if (queries != NULL)
      fprintf (stderr,
          "naclip embed: %u queries x %u templates in %.3f s (cache %s)\n",
          naclip_queries_get_n (queries), naclip_templates_get_n (templates),
          (g_get_monotonic_time () - t0) / 1e6, no_cache ? "off" : "on");
  }
  if (queries != NULL) {
    gsize shape[2]
        = { naclip_queries_get_n (queries), naclip_queries_get_dim (queries) };
    if (naclip_npy_write (output, shape, 2, FALSE,
            naclip_queries_get_embeddings (queries), &error))
      status = 0;
  }
  if (status != 0)
    fprintf (stderr, "naclip embed: %s\n", error->message);

out:
  naclip_segment_options_clear (&so);
  g_free (model_path);
  g_free (cache_dir);
  g_free (output);
  return status;
}
