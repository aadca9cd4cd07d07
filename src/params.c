/* params.c: the error domain, the parameters and their names.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Defaults are the authors' evaluation settings (NACLIP configs/base_config
 * and configs/cfg_*.py); every consumer (the tool, the element)
 * reads them from naclip_params_default () instead of retyping them.
 */

#include "config.h"

#include <math.h>
#include <string.h>

#include "naclip-private.h"

G_DEFINE_QUARK (naclip - error - quark, naclip_error)

NaclipParams
naclip_params_default (void)
{
  NaclipParams p = {
    .inference_size = 336,
    .slide_crop = 0,
    .slide_stride = 112,
    .attention = NACLIP_ATTENTION_NACLIP,
    .arch = NACLIP_ARCH_REDUCED,
    .gaussian_std = 5.0f,
    .logit_scale = 40.0f,
    .pamr_steps = 10,
    .pamr_dilations = { 8, 16 },
    .n_pamr_dilations = 2,
    .class_confidence_threshold = 0.0f,
    .threads = 2,
    .precision = NACLIP_PRECISION_AUTO,
    .reuse_threshold = 0.0f,
    .reuse_refresh = 30,
  };
  return p;
}

gboolean
naclip_params_validate (const NaclipParams *p, GError **error)
{
  g_return_val_if_fail (p != NULL, FALSE);

  if (p->inference_size > NACLIP_MAX_SIDE_PX) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
        "inference-size %u is out of range (0 or 1..%u)", p->inference_size,
        NACLIP_MAX_SIDE_PX);
    return FALSE;
  }
  if (p->slide_crop > NACLIP_MAX_SIDE_PX) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
        "slide-crop %u is out of range (0 = whole image, or up to %u)",
        p->slide_crop, NACLIP_MAX_SIDE_PX);
    return FALSE;
  }
  if (p->slide_stride < 1 || p->slide_stride > NACLIP_MAX_SIDE_PX) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
        "slide-stride %u is out of range (1..%u)", p->slide_stride,
        NACLIP_MAX_SIDE_PX);
    return FALSE;
  }
  if ((guint)p->attention > NACLIP_ATTENTION_VANILLA) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
        "attention %d is not a NaclipAttention", (int)p->attention);
    return FALSE;
  }
  if ((guint)p->arch > NACLIP_ARCH_VANILLA) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
        "arch %d is not a NaclipArch", (int)p->arch);
    return FALSE;
  }
  if (!isfinite (p->gaussian_std) || p->gaussian_std <= 0.0f
      || p->gaussian_std > NACLIP_MAX_GAUSSIAN_STD) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
        "gaussian-std %g is out of range (> 0 and <= %g)",
        (double)p->gaussian_std, (double)NACLIP_MAX_GAUSSIAN_STD);
    return FALSE;
  }
  if (!isfinite (p->logit_scale) || p->logit_scale <= 0.0f
      || p->logit_scale > NACLIP_MAX_LOGIT_SCALE) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
        "logit-scale %g is out of range (> 0 and <= %g)",
        (double)p->logit_scale, (double)NACLIP_MAX_LOGIT_SCALE);
    return FALSE;
  }
  if (p->pamr_steps > NACLIP_MAX_PAMR_STEPS) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
        "pamr-steps %u is out of range (0..%u)", p->pamr_steps,
        NACLIP_MAX_PAMR_STEPS);
    return FALSE;
  }
  if (p->pamr_steps > 0
      && (p->n_pamr_dilations < 1
          || p->n_pamr_dilations > NACLIP_MAX_PAMR_DILATIONS)) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
        "pamr-dilations: PAMR needs 1..%d dilations, got %u",
        NACLIP_MAX_PAMR_DILATIONS, p->n_pamr_dilations);
    return FALSE;
  }
  for (guint i = 0; i < p->n_pamr_dilations && i < NACLIP_MAX_PAMR_DILATIONS;
       i++) {
    if (p->pamr_dilations[i] < 1 || p->pamr_dilations[i] > NACLIP_MAX_SIDE_PX) {
      g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
          "pamr-dilations: dilation %u is out of range (1..%u)",
          p->pamr_dilations[i], NACLIP_MAX_SIDE_PX);
      return FALSE;
    }
  }
  if (!isfinite (p->class_confidence_threshold)
      || p->class_confidence_threshold < 0.0f
      || p->class_confidence_threshold > 1.0f) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
        "class-confidence-threshold %g is out of range (0..1)",
        (double)p->class_confidence_threshold);
    return FALSE;
  }
  if (p->threads < 1 || p->threads > NACLIP_MAX_THREADS) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
        "threads %u is out of range (1..%u)", p->threads, NACLIP_MAX_THREADS);
    return FALSE;
  }
  if ((guint)p->precision > NACLIP_PRECISION_INT8) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
        "precision %d is not a NaclipPrecision", (int)p->precision);
    return FALSE;
  }
  if (!isfinite (p->reuse_threshold) || p->reuse_threshold < 0.0f
      || p->reuse_threshold > NACLIP_MAX_REUSE_THRESHOLD) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
        "reuse-threshold %g is out of range (0 = off, or up to %g)",
        (double)p->reuse_threshold, (double)NACLIP_MAX_REUSE_THRESHOLD);
    return FALSE;
  }
  return TRUE;
}

static const char *const attention_names[] = {
  [NACLIP_ATTENTION_NACLIP] = "naclip",
  [NACLIP_ATTENTION_KK] = "kk",
  [NACLIP_ATTENTION_NONLY] = "nonly",
  [NACLIP_ATTENTION_CSA] = "csa",
  [NACLIP_ATTENTION_VANILLA] = "vanilla",
};

static const char *const arch_names[] = {
  [NACLIP_ARCH_REDUCED] = "reduced",
  [NACLIP_ARCH_VANILLA] = "vanilla",
};

static const char *const precision_names[] = {
  [NACLIP_PRECISION_AUTO] = "auto",
  [NACLIP_PRECISION_FP32] = "fp32",
  [NACLIP_PRECISION_BF16] = "bf16",
  [NACLIP_PRECISION_INT8] = "int8",
};

static gboolean
find_name (const char *const *names, guint n_names, const char *s, guint *out)
{
  if (s == NULL)
    return FALSE;
  for (guint i = 0; i < n_names; i++) {
    if (strcmp (names[i], s) == 0) {
      *out = i;
      return TRUE;
    }
  }
  return FALSE;
}

gboolean
naclip_attention_from_string (const char *s, NaclipAttention *out)
{
  guint v;
  if (!find_name (attention_names, G_N_ELEMENTS (attention_names), s, &v))
    return FALSE;
  *out = (NaclipAttention)v;
  return TRUE;
}

const char *
naclip_attention_to_string (NaclipAttention a)
{
  g_return_val_if_fail ((guint)a < G_N_ELEMENTS (attention_names), NULL);
  return attention_names[a];
}

gboolean
naclip_arch_from_string (const char *s, NaclipArch *out)
{
  guint v;
  if (!find_name (arch_names, G_N_ELEMENTS (arch_names), s, &v))
    return FALSE;
  *out = (NaclipArch)v;
  return TRUE;
}

const char *
naclip_arch_to_string (NaclipArch a)
{
  g_return_val_if_fail ((guint)a < G_N_ELEMENTS (arch_names), NULL);
  return arch_names[a];
}

gboolean
naclip_precision_from_string (const char *s, NaclipPrecision *out)
{
  guint v;
  if (!find_name (precision_names, G_N_ELEMENTS (precision_names), s, &v))
    return FALSE;
  *out = (NaclipPrecision)v;
  return TRUE;
}

const char *
naclip_precision_to_string (NaclipPrecision p)
{
  g_return_val_if_fail ((guint)p < G_N_ELEMENTS (precision_names), NULL);
  return precision_names[p];
}

gboolean
naclip_parse_dilations (const char *s, guint out[NACLIP_MAX_PAMR_DILATIONS],
    guint *n_out, GError **error)
{
  g_auto (GStrv) parts = NULL;
  guint n = 0;

  g_return_val_if_fail (s != NULL && out != NULL && n_out != NULL, FALSE);

  parts = g_strsplit (s, ",", -1);
  for (guint i = 0; parts[i] != NULL; i++) {
    const char *item = g_strstrip (parts[i]);
    guint64 v = 0;
    if (n == NACLIP_MAX_PAMR_DILATIONS) {
      g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
          "pamr-dilations \"%s\": more than %d dilations", s,
          NACLIP_MAX_PAMR_DILATIONS);
      return FALSE;
    }
    if (!g_ascii_string_to_unsigned (
            item, 10, 1, NACLIP_MAX_SIDE_PX, &v, NULL)) {
      g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
          "pamr-dilations \"%s\": \"%s\" is not an integer in 1..%u", s, item,
          NACLIP_MAX_SIDE_PX);
      return FALSE;
    }
    out[n++] = (guint)v;
  }
  if (n == 0) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
        "pamr-dilations \"%s\": no dilation given", s);
    return FALSE;
  }
  *n_out = n;
  return TRUE;
}
