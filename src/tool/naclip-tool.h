/* naclip-tool.h: the subcommands of the naclip command-line tool.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Each subcommand parses its own options from argv (argv[0] is its name)
 * and returns the process exit status. They print results to stdout and
 * errors to stderr.
 */

#ifndef NACLIP_TOOL_H
#define NACLIP_TOOL_H

#include "naclip.h"

int naclip_cmd_info (int argc, char **argv);
int naclip_cmd_tokenize (int argc, char **argv);
int naclip_cmd_embed (int argc, char **argv);
int naclip_cmd_bench (int argc, char **argv);
int naclip_cmd_make_colour_model (int argc, char **argv);
#if HAVE_GST
int naclip_cmd_segment (int argc, char **argv);
int naclip_cmd_eval (int argc, char **argv);
int naclip_cmd_annotate (int argc, char **argv);
#endif

/* The median of @n values (sorted in place); naclip bench's statistic. */
double naclip_bench_median (double *v, guint n);

#endif /* NACLIP_TOOL_H */
