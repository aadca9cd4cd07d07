/* batch-inputs.h: the input files and output names of the commands that
 * run over many files (naclip segment, naclip annotate).
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#ifndef NACLIP_BATCH_INPUTS_H
#define NACLIP_BATCH_INPUTS_H

#include "naclip.h"

/* The extensions naclip segment looks for in a directory (.jpg, .png, ...)
 * and those naclip annotate looks for (.mp4, .mkv, ...); NULL-terminated. */
extern const char *const naclip_batch_image_extensions[];
extern const char *const naclip_batch_video_extensions[];

/* Expands file and directory arguments: a file is kept as given; a
 * directory contributes its files whose names end with one of
 * @extensions (any case; hidden files and subdirectories are skipped),
 * sorted by name. @what names an input in the message for an empty result
 * ("image to segment"). Returns the paths (GPtrArray of char *, freed with
 * the array), or NULL with NACLIP_ERROR_IO (an argument that does not
 * exist, an unreadable directory) or _INVALID_ARGUMENT (nothing found). */
GPtrArray *naclip_batch_expand (char **args, guint n_args,
    const char *const *extensions, const char *what, GError **error);

/* The base name of @input without its last extension
 * (os.path.splitext). Caller frees. */
char *naclip_batch_stem (const char *input);

/* OUTDIR/<input's base name without extension><suffix> ("-labels.png").
 * Caller frees. */
char *naclip_batch_output (
    const char *dir, const char *input, const char *suffix);

/* FALSE with NACLIP_ERROR_INVALID_ARGUMENT naming both files when two of
 * @inputs have the same base name without extension (their outputs in one
 * directory would overwrite each other). */
gboolean naclip_batch_check_names (const GPtrArray *inputs, GError **error);

#endif /* NACLIP_BATCH_INPUTS_H */
