/* replay.c: runs a libFuzzer target over corpus files without libFuzzer.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 *   replay-NAME DIR_OR_FILE...
 *
 * Every file (directories are read one level deep, in name order) is
 * copied into a buffer of exactly its size, so that sanitizers and
 * valgrind see any read past the input, and passed to
 * LLVMFuzzerTestOneInput (). Built with the normal compiler in every
 * build: the seed corpus and any crash reproducer added to it run as part
 * of the suite. Exit status 0 if every input ran and at least one did.
 */

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static gboolean
run_file (const char *path)
{
  g_autofree char *contents = NULL;
  g_autofree guint8 *exact = NULL;
  gsize len = 0;
  GError *error = NULL;

  if (!g_file_get_contents (path, &contents, &len, &error)) {
    fprintf (stderr, "replay: %s\n", error->message);
    g_error_free (error);
    return FALSE;
  }
  exact = g_malloc (MAX (len, 1));
  memcpy (exact, contents, len);
  LLVMFuzzerTestOneInput (exact, len);
  return TRUE;
}

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *)a, *(char *const *)b);
}

int
main (int argc, char **argv)
{
  guint n_run = 0;

  for (int i = 1; i < argc; i++) {
    if (g_file_test (argv[i], G_FILE_TEST_IS_DIR)) {
      g_autoptr (GDir) dir = g_dir_open (argv[i], 0, NULL);
      g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
      const char *name;

      if (dir == NULL) {
        fprintf (stderr, "replay: cannot open %s\n", argv[i]);
        return 1;
      }
      while ((name = g_dir_read_name (dir)) != NULL)
        g_ptr_array_add (names, g_build_filename (argv[i], name, NULL));
      g_ptr_array_sort (names, compare_names);
      for (guint j = 0; j < names->len; j++) {
        if (!run_file (names->pdata[j]))
          return 1;
        n_run++;
      }
    } else {
      if (!run_file (argv[i]))
        return 1;
      n_run++;
    }
  }
  printf ("replay: %u inputs ran\n", n_run);
  return n_run > 0 ? 0 : 1;
}
