/* naclip.c: entry point of the naclip command-line tool.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Dispatches "naclip COMMAND ..." to the subcommands of naclip-tool.h.
 */

#include "config.h"

#include <stdio.h>
#include <string.h>

#include "naclip-tool.h"

typedef struct
{
  const char *name;
  int (*run) (int argc, char **argv);
  const char *summary;
} Command;

static const Command commands[] = {
  { "info", naclip_cmd_info, "describe the architecture of a checkpoint" },
  { "tokenize", naclip_cmd_tokenize, "print the CLIP token ids of texts" },
  { "embed", naclip_cmd_embed, "write the query embeddings of classes" },
  { "bench", naclip_cmd_bench, "time the pipeline stages and matrix products" },
  { "make-colour-model", naclip_cmd_make_colour_model,
      "write a small model that knows colour names (not CLIP)" },
#if HAVE_GST
  { "segment", naclip_cmd_segment, "segment an image into classes" },
  { "eval", naclip_cmd_eval, "mIoU on a segmentation benchmark" },
  { "annotate", naclip_cmd_annotate,
      "segment every frame of videos: overlay, label maps, statistics" },
#endif
};

static void
print_usage (FILE *out)
{
  fprintf (out, "Usage: naclip COMMAND [OPTIONS...]\n\nCommands:\n");
  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    fprintf (out, "  %-18s %s\n", commands[i].name, commands[i].summary);
  fprintf (out, "\nRun 'naclip COMMAND --help' for the options of one.\n");
}

int
main (int argc, char **argv)
{
  if (argc < 2) {
    print_usage (stderr);
    return 2;
  }
  if (strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0) {
    print_usage (stdout);
    return 0;
  }
  if (strcmp (argv[1], "--version") == 0) {
    printf ("naclip %s\n", PACKAGE_VERSION);
    return 0;
  }
  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++) {
    if (strcmp (argv[1], commands[i].name) == 0)
      return commands[i].run (argc - 1, argv + 1);
  }
  fprintf (stderr, "naclip: unknown command '%s'\n\n", argv[1]);
  print_usage (stderr);
  return 2;
}
