/* precision-option.h: the --precision option of the naclip commands.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * embed, segment, eval and bench take --precision auto|fp32|bf16|int8,
 * the library's words (naclip_precision_from_string). A command resolves
 * it before loading anything, fails when this build or CPU cannot run it,
 * and names what it runs at as "bf16 (requested auto)".
 */

#ifndef NACLIP_PRECISION_OPTION_H
#define NACLIP_PRECISION_OPTION_H

#include "naclip.h"

/* Parses the value of --precision into @out; NULL (not given) is auto.
 * FALSE with NACLIP_ERROR_INVALID_ARGUMENT naming the value otherwise. */
gboolean naclip_precision_option_parse (
    const char *value, NaclipPrecision *out, GError **error);

/* naclip_precision_resolve() with an error that names --precision: FALSE
 * with NACLIP_ERROR_UNSUPPORTED and what is missing when @requested cannot
 * run in this build on this CPU. @resolved may be NULL (a check only). */
gboolean naclip_precision_option_resolve (
    NaclipPrecision requested, NaclipPrecision *resolved, GError **error);

/* "bf16 (requested auto)". Caller frees. */
char *naclip_precision_option_describe (
    NaclipPrecision resolved, NaclipPrecision requested);

#endif /* NACLIP_PRECISION_OPTION_H */
