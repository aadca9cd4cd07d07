/* segment-batch.c: input expansion, output naming and overlays for
 * "naclip segment" on several files or directories.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * With one image the outputs are the files named by -o / --overlay; with
 * several (or a directory) they are OUTDIR/<name>-labels.png and
 * OUTDIR/<name>-overlay.png, <name> being the image's base name without
 * extension, and a progress bar runs on stderr (progress.c).
 */

#include "config.h"

#include <string.h>

#include "image-io.h"
#include "overlay.h"
#include "segment-batch.h"

static const char *const image_extensions[]
    = { ".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp" };

static gboolean
is_image_name (const char *name)
{
  g_autofree char *lower = g_ascii_strdown (name, -1);

  if (name[0] == '.')
    return FALSE;
  for (gsize i = 0; i < G_N_ELEMENTS (image_extensions); i++) {
    if (g_str_has_suffix (lower, image_extensions[i]))
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
naclip_segment_batch_expand (char **args, guint n_args, GError **error)
{
  g_autoptr (GPtrArray) paths = g_ptr_array_new_with_free_func (g_free);

  g_return_val_if_fail (args != NULL || n_args == 0, NULL);

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
        if (is_image_name (name) && g_file_test (path, G_FILE_TEST_IS_REGULAR))
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
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
        "no image to segment (directories are searched for .jpg, .jpeg, "
        ".png, .bmp, .gif, .tif, .tiff, .webp)");
    return NULL;
  }
  return g_steal_pointer (&paths);
}

char *
naclip_segment_batch_output (
    const char *dir, const char *input, const char *suffix)
{
  g_autofree char *base = g_path_get_basename (input);
  g_autofree char *name = NULL;
  char *dot = strrchr (base, '.');

  if (dot != NULL && dot != base)
    *dot = '\0';
  name = g_strconcat (base, suffix, NULL);
  return g_build_filename (dir, name, NULL);
}

gboolean
naclip_segment_batch_write_overlay (const char *path, const guint8 *rgb,
    guint width, guint height, const guint8 *labels, guint lw, guint lh,
    const NaclipClasses *classes, float alpha, GError **error)
{
  g_autofree guint8 *scaled = NULL;
  g_autofree guint8 *canvas = NULL;
  const guint8 *map = labels;
  guint cw = 0, ch = 0;

  g_return_val_if_fail (
      rgb != NULL && labels != NULL && classes != NULL, FALSE);

  if (lw != width || lh != height) {
    /* Nearest neighbour, pixel centres: src = floor((dst + 0.5) * in/out). */
    scaled = g_malloc ((gsize)width * height);
    for (guint y = 0; y < height; y++) {
      guint sy
          = MIN ((guint)(((guint64)y * 2 + 1) * lh / (2 * height)), lh - 1);
      for (guint x = 0; x < width; x++) {
        guint sx
            = MIN ((guint)(((guint64)x * 2 + 1) * lw / (2 * width)), lw - 1);
        scaled[(gsize)y * width + x] = labels[(gsize)sy * lw + sx];
      }
    }
    map = scaled;
  }
  canvas = naclip_overlay_render (rgb, (gsize)width * 3, width, height, map,
      width, classes, alpha, &cw, &ch);
  return naclip_image_io_save_png (path, canvas, cw, ch, (gsize)cw * 3, error);
}
