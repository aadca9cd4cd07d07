/* batch-inputs.c: input expansion and output naming for the commands that
 * run over many files (see batch-inputs.h).
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Outputs of a batch go to one directory as <name><suffix>, <name> being
 * an input's base name without extension; directories are not searched
 * recursively (the README shows find and GNU parallel for trees).
 */

#include "config.h"

#include <string.h>

#include "batch-inputs.h"

const char *const naclip_batch_image_extensions[] = { ".jpg", ".jpeg", ".png",
  ".bmp", ".gif", ".tif", ".tiff", ".webp", NULL };
const char *const naclip_batch_video_extensions[]
    = { ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".ogv", ".ogg", ".ts",
        ".mts", ".m2ts", ".mpg", ".mpeg", ".flv", ".wmv", ".3gp", NULL };

static gboolean
has_extension (const char *name, const char *const *extensions)
{
  g_autofree char *lower = g_ascii_strdown (name, -1);

  if (name[0] == '.')
    return FALSE;
  for (gsize i = 0; extensions[i] != NULL; i++) {
    if (g_str_has_suffix (lower, extensions[i]))
      return TRUE;
  }
  return FALSE;
}

static gint
compare_paths (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *)a, *(char *const *)b);
}

GPtrArray *
naclip_batch_expand (char **args, guint n_args, const char *const *extensions,
    const char *what, GError **error)
{
  g_autoptr (GPtrArray) paths = g_ptr_array_new_with_free_func (g_free);

  g_return_val_if_fail (args != NULL || n_args == 0, NULL);
  g_return_val_if_fail (extensions != NULL && what != NULL, NULL);

  for (guint i = 0; i < n_args; i++) {
    const char *arg = args[i];
    if (g_file_test (arg, G_FILE_TEST_IS_DIR)) {
      g_autoptr (GPtrArray) found = g_ptr_array_new_with_free_func (g_free);
      GError *local = NULL;
      GDir *dir = g_dir_open (arg, 0, &local);
      const char *name;
      if (dir == NULL) {
        g_set_error (
            error, NACLIP_ERROR, NACLIP_ERROR_IO, "%s", local->message);
        g_error_free (local);
        return NULL;
      }
      while ((name = g_dir_read_name (dir)) != NULL) {
        g_autofree char *path = g_build_filename (arg, name, NULL);
        if (has_extension (name, extensions)
            && g_file_test (path, G_FILE_TEST_IS_REGULAR))
          g_ptr_array_add (found, g_steal_pointer (&path));
      }
      g_dir_close (dir);
      g_ptr_array_sort (found, compare_paths);
      for (guint k = 0; k < found->len; k++)
        g_ptr_array_add (paths, g_strdup (g_ptr_array_index (found, k)));
    } else if (g_file_test (arg, G_FILE_TEST_EXISTS)) {
      g_ptr_array_add (paths, g_strdup (arg));
    } else {
      g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_IO,
          "%s: no such file or directory", arg);
      return NULL;
    }
  }
  if (paths->len == 0) {
    g_autofree char *list = g_strjoinv (", ", (char **)extensions);
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
        "no %s (directories are searched for %s)", what, list);
    return NULL;
  }
  return g_steal_pointer (&paths);
}

char *
naclip_batch_stem (const char *input)
{
  char *base = g_path_get_basename (input);
  char *dot = strrchr (base, '.');

  if (dot != NULL && dot != base)
    *dot = '\0';
  return base;
}

char *
naclip_batch_output (const char *dir, const char *input, const char *suffix)
{
  g_autofree char *stem = naclip_batch_stem (input);
  g_autofree char *name = g_strconcat (stem, suffix, NULL);

  return g_build_filename (dir, name, NULL);
}

gboolean
naclip_batch_check_names (const GPtrArray *inputs, GError **error)
{
  g_autoptr (GHashTable) seen
      = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  for (guint i = 0; i < inputs->len; i++) {
    const char *input = g_ptr_array_index (inputs, i);
    char *stem = naclip_batch_stem (input);
    const char *other = g_hash_table_lookup (seen, stem);
    if (other != NULL) {
      g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
          "%s and %s would write the same outputs (%s-*); run them with "
          "different output directories",
          other, input, stem);
      g_free (stem);
      return FALSE;
    }
    g_hash_table_insert (seen, stem, (gpointer)input);
  }
  return TRUE;
}
