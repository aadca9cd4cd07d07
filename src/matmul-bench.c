/* matmul-bench.c: timing one matrix product on one backend, for
 * diagnostics.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The encoders spend most of their time in the linear layers: out (m, n) =
 * x (m, k) . w (n, k)^T + bias, with w stored [out, in] as checkpoints
 * store it. naclip_matmul_benchmark() runs that product through the seam
 * of matmul.c exactly as the towers do (a NaclipMatmul handle on a weight
 * cache of its own), so that a program (naclip bench --gemm) can compare
 * the backends and precisions of this build on this CPU without reaching
 * into the library. The data are seeded uniform random numbers (x in
 * [-1, 1], w in [-0.05, 0.05], bias in [-0.1, 0.1]): products of this
 * size take the same time whatever the values, as long as none is
 * subnormal.
 */

#include "config.h"

#include "naclip-private.h"

/* Fills @x (@n floats) with uniform values in [-@scale, @scale]. */
static void
fill_uniform (GRand *rand, float *x, gsize n, double scale)
{
  for (gsize i = 0; i < n; i++)
    x[i] = (float)g_rand_double_range (rand, -scale, scale);
}

gboolean
naclip_matmul_benchmark (NaclipMatmulBackend backend, NaclipPrecision precision,
    guint threads, guint m, guint n, guint k, guint n_runs, double *times_ms,
    GError **error)
{
  g_autoptr (GRand) rand = NULL;
  NaclipMatmulCache *cache = NULL;
  NaclipMatmul *mm = NULL;
  g_autofree float *x = NULL;
  g_autofree float *w = NULL;
  g_autofree float *bias = NULL;
  g_autofree float *out = NULL;
  NaclipLinear lin;
  gboolean ok = FALSE;

  g_return_val_if_fail (m > 0 && n > 0 && k > 0, FALSE);
  g_return_val_if_fail (n_runs > 0 && times_ms != NULL, FALSE);

  cache = naclip_matmul_cache_new (NULL, 0);
  mm = naclip_matmul_new (cache, precision, backend, threads, error);
  if (mm == NULL)
    goto out;
  x = g_try_new (float, (gsize)m *k);
  w = g_try_new (float, (gsize)n *k);
  bias = g_try_new (float, n);
  out = g_try_new (float, (gsize)m *n);
  if (x == NULL || w == NULL || bias == NULL || out == NULL) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_NO_MEMORY,
        "cannot allocate the operands of a %u x %u x %u product", m, n, k);
    goto out;
  }
  rand = g_rand_new_with_seed (42);
  fill_uniform (rand, x, (gsize)m * k, 1.0);
  fill_uniform (rand, w, (gsize)n * k, 0.05);
  fill_uniform (rand, bias, n, 0.1);
  lin = (NaclipLinear){ w, bias, n, k };

  /* The first call packs the weight and creates the primitive. */
  naclip_matmul_linear_post (
      mm, out, n, x, k, &lin, m, NACLIP_MATMUL_POST_NONE);
  for (guint i = 0; i < n_runs; i++) {
    gint64 t0 = g_get_monotonic_time ();
    naclip_matmul_linear_post (
        mm, out, n, x, k, &lin, m, NACLIP_MATMUL_POST_NONE);
    times_ms[i] = (double)(g_get_monotonic_time () - t0) / 1000.0;
  }
  ok = TRUE;

out:
  naclip_matmul_free (mm); /* before its cache */
  naclip_matmul_cache_free (cache);
  return ok;
}
