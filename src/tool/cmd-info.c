/* cmd-info.c: "naclip info [MODEL]", the architecture of a checkpoint and
 * what this CPU runs.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Loads the model exactly as the element would (all validation included)
 * and prints one "key: value" line per fact of NaclipModelInfo, so that
 * scripts can grep it; then the CPU level the library uses and what
 * precision auto resolves to (these lines alone without MODEL). Exit
 * status 0 on success, 1 if the model cannot be loaded (the error goes to
 * stderr), 2 on a usage error.
 */

#include "config.h"

#include <stdio.h>

#include "naclip-tool.h"

static const char *
dtype_name (NaclipDtype dtype)
{
  switch (dtype) {
    case NACLIP_DTYPE_F32:
      return "F32";
    case NACLIP_DTYPE_F16:
      return "F16";
    case NACLIP_DTYPE_BF16:
      return "BF16";
  }
  return "unknown";
}

static const char *
activation_name (NaclipActivation act)
{
  return act == NACLIP_ACTIVATION_GELU ? "gelu" : "quick_gelu";
}

static void
print_tower (const char *tower, const NaclipTowerInfo *info)
{
  printf ("%s width: %u\n", tower, info->width);
  printf ("%s layers: %u\n", tower, info->n_layers);
  printf ("%s heads: %u\n", tower, info->n_heads);
  printf ("%s head dim: %u\n", tower, info->width / info->n_heads);
  printf ("%s mlp width: %u\n", tower, info->mlp_width);
  printf ("%s activation: %s\n", tower, activation_name (info->activation));
  printf ("%s layer norm eps: %g\n", tower, (double)info->layer_norm_eps);
  printf ("%s parameters: %" G_GUINT64_FORMAT "\n", tower, info->n_params);
}

/* Prints the facts of the model at @path; 0, or 1 if it cannot be loaded. */
static int
print_model (const char *path, gboolean check_weights)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (NaclipModel) model = NULL;
  const NaclipModelInfo *info;

  model = naclip_model_load (path, check_weights, &error);
  if (model == NULL) {
    fprintf (stderr, "naclip info: %s\n", error->message);
    return 1;
  }
  info = naclip_model_get_info (model);

  printf ("model: %s\n", naclip_model_get_path (model));
  printf ("key layout: %s\n",
      info->key_layout == NACLIP_KEY_LAYOUT_HF ? "hf" : "openai");
  printf ("stored dtype: %s\n", dtype_name (info->dtype));
  printf ("parameters: %" G_GUINT64_FORMAT "\n", info->n_params);
  printf ("embed dim: %u\n", info->embed_dim);
  if (info->logit_scale > 0.0f)
    printf ("logit scale: %g\n", (double)info->logit_scale);
  else
    printf ("logit scale: absent\n");
  printf ("towers: %s\n", info->has_text ? "vision, text" : "vision");
  print_tower ("vision", &info->vision);
  printf ("patch size: %u\n", info->patch_size);
  printf ("image size: %u\n", info->image_size);
  printf ("pretrained grid: %ux%u\n", info->grid_size, info->grid_size);
  if (info->has_text) {
    print_tower ("text", &info->text);
    printf ("context length: %u\n", info->context_length);
    printf ("vocab size: %u\n", info->vocab_size);
  }
  return 0;
}

/* "precisions: fp32 bf16", the precisions this build runs on this CPU,
 * then a "precision P: why" line for each of the others. */
static void
print_precisions (void)
{
  const NaclipPrecision all[]
      = { NACLIP_PRECISION_FP32, NACLIP_PRECISION_BF16, NACLIP_PRECISION_INT8 };
  g_autoptr (GString) why = g_string_new (NULL);
  NaclipPrecision p;

  printf ("precisions:");
  for (guint i = 0; i < G_N_ELEMENTS (all); i++) {
    g_autoptr (GError) error = NULL;
    if (naclip_precision_resolve (all[i], &p, &error))
      printf (" %s", naclip_precision_to_string (all[i]));
    else
      g_string_append_printf (why, "%s\n", error->message);
  }
  printf ("\n%s", why->str);
}

int
naclip_cmd_info (int argc, char **argv)
{
  gboolean no_check_weights = FALSE;
  GOptionEntry entries[] = {
    { "no-check-weights", 0, 0, G_OPTION_ARG_NONE, &no_check_weights,
        "Skip the NaN/Inf scan of the weights", NULL },
    { NULL, 0, 0, 0, NULL, NULL, NULL },
  };
  g_autoptr (GOptionContext) context = NULL;
  g_autoptr (GError) error = NULL;

  context = g_option_context_new ("[MODEL]");
  g_option_context_set_summary (context,
      "Describes the CLIP checkpoint MODEL: a directory (model.safetensors,\n"
      "config.json, merges.txt) or a .safetensors file with merges.txt\n"
      "beside it, and the CPU level and precision this machine runs.\n"
      "Prints one \"key: value\" line per fact.");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error)) {
    fprintf (stderr, "naclip info: %s\n", error->message);
    return 2;
  }
  if (argc > 2) {
    fprintf (stderr, "naclip info: expected at most one MODEL (see --help)\n");
    return 2;
  }
  if (argc == 2 && print_model (argv[1], !no_check_weights) != 0)
    return 1;
  NaclipCpuIsa detected, isa = naclip_cpu_get_isa (&detected);
  printf ("cpu isa: %s\n", naclip_cpu_isa_to_string (detected));
  printf ("cpu isa used: %s\n", naclip_cpu_isa_to_string (isa));
  g_autofree char *precision = naclip_precision_describe ();
  printf ("precision auto: %s\n", precision);
  print_precisions ();
  return 0;
}
