/* pyhelper.c: run Python parity snippets and compare arrays (pyhelper.h).
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <glib/gstdio.h>
#include <math.h>

#include "naclip-private.h"
#include "pyhelper.h"

char *
pyhelper_scratch_dir (const char *name)
{
  const char *root = g_getenv ("NACLIP_BUILD_ROOT");
  g_autofree char *base = NULL;
  char *dir;

  if (root != NULL)
    base = g_build_filename (root, "tests", NULL);
  else
    base = g_strdup (g_get_tmp_dir ());
  dir = g_strdup_printf ("%s/tmp-%s", base, name);
  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  return dir;
}

void
pyhelper_run (const char *dir, const char *script)
{
  const char *python = g_getenv ("NACLIP_PYTHON");
  const char *argv[]
      = { python != NULL ? python : "/usr/bin/python3", "-c", script, NULL };
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  GError *error = NULL;
  int status = 0;

  if (!g_spawn_sync (dir, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL,
          &out, &err, &status, &error))
    g_error ("cannot run %s: %s", argv[0], error->message);
  if (!g_spawn_check_wait_status (status, NULL))
    g_error ("python snippet failed:\n%s\n--- stderr:\n%s", script, err);
}

void
pyhelper_write (const char *dir, const char *file, const float *data,
    const gsize *shape, guint n_dims)
{
  g_autofree char *path = g_build_filename (dir, file, NULL);
  GError *error = NULL;

  if (!naclip_npy_write (path, shape, n_dims, FALSE, data, &error))
    g_error ("%s", error->message);
}

float *
pyhelper_read (const char *dir, const char *file, gsize n)
{
  g_autofree char *path = g_build_filename (dir, file, NULL);
  GError *error = NULL;
  gsize shape[8];
  guint n_dims = 0;
  gsize total = 1;
  float *data = naclip_npy_read_f32 (path, shape, &n_dims, &error);

  if (data == NULL)
    g_error ("%s", error->message);
  for (guint i = 0; i < n_dims; i++)
    total *= shape[i];
  g_assert_cmpuint (total, ==, n);
  return data;
}

void
pyhelper_assert_close (const char *what, const float *got, const float *want,
    gsize n, double atol, double rtol)
{
  double max_diff = 0.0;
  gsize n_bad = 0;

  for (gsize i = 0; i < n; i++) {
    double d = fabs ((double)got[i] - (double)want[i]);
    if (!(d <= atol + rtol * fabs ((double)want[i]))) {
      if (n_bad < 5)
        g_printerr ("%s[%" G_GSIZE_FORMAT "]: got %.9g, want %.9g\n", what, i,
            (double)got[i], (double)want[i]);
      n_bad++;
    }
    if (!(d <= max_diff))
      max_diff = isnan (d) ? INFINITY : d;
  }
  if (n_bad > 0)
    g_error ("%s: %" G_GSIZE_FORMAT " of %" G_GSIZE_FORMAT
             " values differ (max abs diff %g; atol %g, rtol %g)",
        what, n_bad, n, max_diff, atol, rtol);
  g_test_message (
      "%s: max abs diff %g over %" G_GSIZE_FORMAT " values", what, max_diff, n);
}
