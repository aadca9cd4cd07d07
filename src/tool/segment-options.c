/* segment-options.c: the segmentation options of the naclip commands (see
 * segment-options.h).
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * One table, `specs`, holds every option once: its name (the element's
 * property name), group, type, the field of NaclipSegmentOptions that
 * receives it and its help text (the property's blurb, where it fits a
 * command line). An earlier spelling is a hidden row storing into the same
 * field. Parsing stores raw values; naclip_segment_options_apply() turns
 * them into NaclipParams with the library's word parsers and validation,
 * so that every command reports a bad value in the same words.
 */

#include "config.h"

#include <math.h>
#include <string.h>

#include "precision-option.h"
#include "segment-options.h"

typedef struct
{
  const char *name;
  char short_name;
  gint flags; /* G_OPTION_FLAG_HIDDEN on earlier spellings */
  GOptionArg arg;
  gsize offset; /* of the field in NaclipSegmentOptions */
  NaclipSegmentOptionGroups group;
  const char *description;
  const char *arg_description;
} OptionSpec;

#define FIELD(f) G_STRUCT_OFFSET (NaclipSegmentOptions, f)

static const OptionSpec specs[] = {
  { "classes", 0, 0, G_OPTION_ARG_STRING, FIELD (classes),
      NACLIP_SEGMENT_OPTIONS_CLASSES,
      "Classes, comma-separated, '|' between synonyms (\"sky,road,"
      "person|man|woman\"); labels 1..N in order",
      "LIST" },
  { "classes-file", 0, 0, G_OPTION_ARG_FILENAME, FIELD (classes_file),
      NACLIP_SEGMENT_OPTIONS_CLASSES,
      "File with one class per line, synonyms separated by \", \", or a "
      "built-in list (voc21, context60, ade20k, ...)",
      "F" },
  { "background-classes", 0, 0, G_OPTION_ARG_STRING, FIELD (background_classes),
      NACLIP_SEGMENT_OPTIONS_BACKGROUND,
      "Names whose pixels get label 0 (separated by ',' or '|')", "NAMES" },
  { "background", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_STRING,
      FIELD (background_classes), NACLIP_SEGMENT_OPTIONS_BACKGROUND, NULL,
      NULL },
  { "templates", 0, 0, G_OPTION_ARG_FILENAME, FIELD (templates),
      NACLIP_SEGMENT_OPTIONS_TEMPLATES,
      "Prompt templates: imagenet80 (the 80 CLIP ImageNet templates), single "
      "(\"a photo of a {}.\") or a file with one template per line",
      "T" },
  { "inference-size", 0, 0, G_OPTION_ARG_INT, FIELD (inference_size),
      NACLIP_SEGMENT_OPTIONS_METHOD,
      "Short side of the processed image, px; 0 keeps the image size", "PX" },
  { "slide-crop", 0, 0, G_OPTION_ARG_INT, FIELD (slide_crop),
      NACLIP_SEGMENT_OPTIONS_METHOD,
      "Sliding-window crop, px; 0 encodes the whole image at once", "PX" },
  { "slide-stride", 0, 0, G_OPTION_ARG_INT, FIELD (slide_stride),
      NACLIP_SEGMENT_OPTIONS_METHOD, "Sliding-window stride, px", "PX" },
  { "attention", 0, 0, G_OPTION_ARG_STRING, FIELD (attention),
      NACLIP_SEGMENT_OPTIONS_METHOD,
      "Attention of the last vision block: naclip, kk, nonly, csa, vanilla",
      "A" },
  { "arch", 0, 0, G_OPTION_ARG_STRING, FIELD (arch),
      NACLIP_SEGMENT_OPTIONS_METHOD,
      "Structure of the last vision block: reduced, vanilla", "ARCH" },
  { "gaussian-std", 0, 0, G_OPTION_ARG_DOUBLE, FIELD (gaussian_std),
      NACLIP_SEGMENT_OPTIONS_METHOD,
      "Sigma of the Gaussian neighbourhood bias, patches", "S" },
  { "pamr-steps", 0, 0, G_OPTION_ARG_INT, FIELD (pamr_steps),
      NACLIP_SEGMENT_OPTIONS_METHOD,
      "Pixel-adaptive mask refinement iterations; 0 disables PAMR", "N" },
  { "pamr-dilations", 0, 0, G_OPTION_ARG_STRING, FIELD (pamr_dilations),
      NACLIP_SEGMENT_OPTIONS_METHOD, "Comma-separated PAMR dilations, px",
      "D,D" },
  { "class-confidence-threshold", 0, 0, G_OPTION_ARG_DOUBLE,
      FIELD (class_confidence_threshold), NACLIP_SEGMENT_OPTIONS_METHOD,
      "Pixels whose best class probability is below this get label 0", "P" },
  { "logit-scale", 0, 0, G_OPTION_ARG_DOUBLE, FIELD (logit_scale),
      NACLIP_SEGMENT_OPTIONS_METHOD,
      "Softmax temperature applied to the cosine logits", "S" },
  { "output-size", 0, 0, G_OPTION_ARG_STRING, FIELD (output_size),
      NACLIP_SEGMENT_OPTIONS_OUTPUT_SIZE,
      "Resolution of the label map and of PAMR: frame (the image's) or "
      "processing (cheaper)",
      "S" },
  { "threads", 't', 0, G_OPTION_ARG_INT, FIELD (threads),
      NACLIP_SEGMENT_OPTIONS_COMPUTE, "Worker threads of the library", "N" },
  { "precision", 0, 0, G_OPTION_ARG_STRING, FIELD (precision),
      NACLIP_SEGMENT_OPTIONS_COMPUTE,
      "Arithmetic of the matrix products: auto, fp32, bf16 or int8", "P" },
  { "reuse-threshold", 0, 0, G_OPTION_ARG_DOUBLE, FIELD (reuse_threshold),
      NACLIP_SEGMENT_OPTIONS_REUSE,
      "Token reuse between frames: recompute a patch when its input or "
      "attention moved by this relative L2 change; 0 = off",
      "T" },
  { "reuse-refresh", 0, 0, G_OPTION_ARG_INT, FIELD (reuse_refresh),
      NACLIP_SEGMENT_OPTIONS_REUSE,
      "Token reuse: recompute every patch every N frames; 0 = never", "N" },
};

void
naclip_segment_options_init (NaclipSegmentOptions *options)
{
  memset (options, 0, sizeof *options);
  options->inference_size = NACLIP_SEGMENT_OPTIONS_UNSET;
  options->slide_crop = NACLIP_SEGMENT_OPTIONS_UNSET;
  options->slide_stride = NACLIP_SEGMENT_OPTIONS_UNSET;
  options->pamr_steps = NACLIP_SEGMENT_OPTIONS_UNSET;
  options->threads = NACLIP_SEGMENT_OPTIONS_UNSET;
  options->gaussian_std = NAN;
  options->logit_scale = NAN;
  options->class_confidence_threshold = NAN;
  options->reuse_threshold = NAN;
  options->reuse_refresh = NACLIP_SEGMENT_OPTIONS_UNSET;
}

void
naclip_segment_options_clear (NaclipSegmentOptions *options)
{
  g_free (options->attention);
  g_free (options->arch);
  g_free (options->pamr_dilations);
  g_free (options->precision);
  g_free (options->templates);
  g_free (options->classes);
  g_free (options->classes_file);
  g_free (options->background_classes);
  g_free (options->output_size);
  naclip_segment_options_init (options);
}

void
naclip_segment_options_add (NaclipSegmentOptions *options,
    GOptionContext *context, NaclipSegmentOptionGroups groups)
{
  GOptionEntry entries[G_N_ELEMENTS (specs) + 1];
  guint n = 0;

  for (gsize i = 0; i < G_N_ELEMENTS (specs); i++) {
    const OptionSpec *s = &specs[i];
    if (!(groups & s->group))
      continue;
    entries[n++] = (GOptionEntry){ s->name, s->short_name, s->flags, s->arg,
      (char *)options + s->offset, s->description, s->arg_description };
  }
  entries[n] = (GOptionEntry){ NULL, 0, 0, 0, NULL, NULL, NULL };
  g_option_context_add_main_entries (context, entries, NULL);
}

/* Stores a count that was given into @out; FALSE when it is negative. */
static gboolean
apply_count (const char *option, gint value, guint *out, GError **error)
{
  if (value == NACLIP_SEGMENT_OPTIONS_UNSET)
    return TRUE;
  if (value < 0) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
        "--%s %d must be >= 0", option, value);
    return FALSE;
  }
  *out = (guint)value;
  return TRUE;
}

/* Stores a number that was given into @out. */
static void
apply_number (double value, float *out)
{
  if (!isnan (value))
    *out = (float)value;
}

gboolean
naclip_segment_options_apply (
    const NaclipSegmentOptions *options, NaclipParams *params, GError **error)
{
  const NaclipSegmentOptions *o = options;

  if (!apply_count (
          "inference-size", o->inference_size, &params->inference_size, error)
      || !apply_count ("slide-crop", o->slide_crop, &params->slide_crop, error)
      || !apply_count (
          "slide-stride", o->slide_stride, &params->slide_stride, error)
      || !apply_count ("pamr-steps", o->pamr_steps, &params->pamr_steps, error)
      || !apply_count ("threads", o->threads, &params->threads, error)
      || !apply_count (
          "reuse-refresh", o->reuse_refresh, &params->reuse_refresh, error))
    return FALSE;
  apply_number (o->gaussian_std, &params->gaussian_std);
  apply_number (o->logit_scale, &params->logit_scale);
  apply_number (
      o->class_confidence_threshold, &params->class_confidence_threshold);
  apply_number (o->reuse_threshold, &params->reuse_threshold);
  if (o->attention != NULL
      && !naclip_attention_from_string (o->attention, &params->attention)) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
        "--attention '%s' is not one of naclip, kk, nonly, csa, vanilla",
        o->attention);
    return FALSE;
  }
  if (o->arch != NULL && !naclip_arch_from_string (o->arch, &params->arch)) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
        "--arch '%s' is not one of reduced, vanilla", o->arch);
    return FALSE;
  }
  if (o->precision != NULL
      && !naclip_precision_option_parse (
          o->precision, &params->precision, error))
    return FALSE;
  if (o->pamr_dilations != NULL
      && !naclip_parse_dilations (o->pamr_dilations, params->pamr_dilations,
          &params->n_pamr_dilations, error))
    return FALSE;
  return naclip_params_validate (params, error);
}

gboolean
naclip_segment_options_output_frame (const NaclipSegmentOptions *options,
    gboolean default_frame, gboolean *frame, GError **error)
{
  const char *s = options->output_size;

  if (s == NULL) {
    *frame = default_frame;
  } else if (strcmp (s, "frame") == 0 || strcmp (s, "original") == 0) {
    *frame = TRUE;
  } else if (strcmp (s, "processing") == 0) {
    *frame = FALSE;
  } else {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
        "--output-size '%s' is neither frame nor processing", s);
    return FALSE;
  }
  return TRUE;
}
