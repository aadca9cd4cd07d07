/* precision-option.c: the --precision option of the naclip commands (see
 * precision-option.h).
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The words and the resolution are the library's
 * (naclip_precision_from_string, naclip_precision_resolve); this file only
 * puts the option's name into the messages, so that every command reports
 * an unknown or unsupported precision the same way.
 */

#include "config.h"

#include "precision-option.h"

gboolean
naclip_precision_option_parse (
    const char *value, NaclipPrecision *out, GError **error)
{
  if (value == NULL) {
    *out = NACLIP_PRECISION_AUTO;
    return TRUE;
  }
  if (naclip_precision_from_string (value, out))
    return TRUE;
  g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
      "--precision '%s' is not one of auto, fp32, bf16, int8", value);
  return FALSE;
}

gboolean
naclip_precision_option_resolve (
    NaclipPrecision requested, NaclipPrecision *resolved, GError **error)
{
  NaclipPrecision p;

  if (naclip_precision_resolve (requested, &p, error)) {
    if (resolved != NULL)
      *resolved = p;
    return TRUE;
  }
  g_prefix_error (error, "--precision %s cannot run here: ",
      naclip_precision_to_string (requested));
  return FALSE;
}

char *
naclip_precision_option_describe (
    NaclipPrecision resolved, NaclipPrecision requested)
{
  return g_strdup_printf ("%s (requested %s)",
      naclip_precision_to_string (resolved),
      naclip_precision_to_string (requested));
}
