/* cmd-bench.c: "naclip bench", timings of the pipeline and of its products.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 *   naclip bench --gemm [--precision P] [--threads N] [--repeat N]
 *     times the matrix products of a ViT-B/16 block (the four linear
 *     shapes at M = 197 tokens and M = 1182, six 224 crops batched) through
 *     the matmul seam with every backend available, weights packed before
 *     timing, and prints ms and GFLOP/s (medians).
 *
 * Medians of --repeat runs after one warm-up run, wall clock
 * (g_get_monotonic_time). Output is one line per measurement, columns
 * separated by spaces, so that tests/bench/ can parse it.
 */

#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "naclip-private.h"
#include "naclip-tool.h"

static int
compare_double (const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* The median of @n values (sorted in place). */
static double
median (double *v, guint n)
{
  qsort (v, n, sizeof (double), compare_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static double
now_ms (void)
{
  return (double)g_get_monotonic_time () / 1000.0;
}

typedef struct
{
  const char *name;
  guint m, n, k;
} GemmShape;

static const GemmShape vit_b16_shapes[] = {
  { "qkv", 197, 2304, 768 },
  { "out", 197, 768, 768 },
  { "fc1", 197, 3072, 768 },
  { "fc2", 197, 768, 3072 },
  { "qkv", 1182, 2304, 768 },
  { "out", 1182, 768, 768 },
  { "fc1", 1182, 3072, 768 },
  { "fc2", 1182, 768, 3072 },
};

static int
bench_gemm (NaclipPrecision precision, guint threads, guint repeat)
{
  struct
  {
    const char *name;
    NaclipPrecision precision;
    NaclipMatmulBackend backend;
  } runs[] = {
    { "openblas-fp32", NACLIP_PRECISION_FP32, NACLIP_MATMUL_BACKEND_OPENBLAS },
    { "onednn-fp32", NACLIP_PRECISION_FP32, NACLIP_MATMUL_BACKEND_DNNL },
    { "onednn-bf16", NACLIP_PRECISION_BF16, NACLIP_MATMUL_BACKEND_DNNL },
  };
  GRand *rand = g_rand_new_with_seed (42);
  NaclipMatmulCache *cache = naclip_matmul_cache_new (NULL, 0);
  double *times = g_new (double, repeat);
  gsize max_m = 1182, max_n = 3072, max_k = 3072;
  float *x = g_new (float, max_m *max_k);
  float *out = g_new (float, max_m *max_n);
  /* one weight and bias per distinct (n, k) */
  float *w[G_N_ELEMENTS (vit_b16_shapes)];
  float *b = g_new (float, max_n);

  for (gsize i = 0; i < max_m * max_k; i++)
    x[i] = (float)g_rand_double_range (rand, -1.0, 1.0);
  for (gsize i = 0; i < max_n; i++)
    b[i] = (float)g_rand_double_range (rand, -0.1, 0.1);
  for (gsize s = 0; s < G_N_ELEMENTS (vit_b16_shapes); s++) {
    gsize nk = (gsize)vit_b16_shapes[s].n * vit_b16_shapes[s].k;
    w[s] = g_new (float, nk);
    for (gsize i = 0; i < nk; i++)
      w[s][i] = (float)g_rand_double_range (rand, -0.05, 0.05);
  }

  g_autofree char *desc = naclip_precision_describe ();
  printf ("# auto precision: %s\n", desc);
  printf ("# %-14s %-5s %5s %5s %5s %10s %10s\n", "backend", "op", "m", "n",
      "k", "ms", "GFLOP/s");
  for (gsize r = 0; r < G_N_ELEMENTS (runs); r++) {
    if (precision != NACLIP_PRECISION_AUTO && runs[r].precision != precision)
      continue;
    g_autoptr (GError) error = NULL;
    NaclipMatmul *mm = naclip_matmul_new (
        cache, runs[r].precision, runs[r].backend, threads, &error);
    if (mm == NULL) {
      printf ("# %s: skipped (%s)\n", runs[r].name, error->message);
      continue;
    }
    for (gsize s = 0; s < G_N_ELEMENTS (vit_b16_shapes); s++) {
      const GemmShape *sh = &vit_b16_shapes[s];
      NaclipLinear lin = { w[s], b, sh->n, sh->k };
      naclip_matmul_linear_post (
          mm, out, sh->n, x, sh->k, &lin, sh->m, NACLIP_MATMUL_POST_NONE);
      for (guint i = 0; i < repeat; i++) {
        double t0 = now_ms ();
        naclip_matmul_linear_post (
            mm, out, sh->n, x, sh->k, &lin, sh->m, NACLIP_MATMUL_POST_NONE);
        times[i] = now_ms () - t0;
      }
      double ms = median (times, repeat);
      double gflop = 2.0 * sh->m * sh->n * sh->k / 1e9;
      printf ("%-16s %-5s %5u %5u %5u %10.3f %10.1f\n", runs[r].name, sh->name,
          sh->m, sh->n, sh->k, ms, gflop / (ms / 1000.0));
      fflush (stdout);
    }
    naclip_matmul_free (mm);
  }

  for (gsize s = 0; s < G_N_ELEMENTS (vit_b16_shapes); s++)
    g_free (w[s]);
  g_free (b);
  g_free (x);
  g_free (out);
  g_free (times);
  naclip_matmul_cache_free (cache);
  g_rand_free (rand);
  return 0;
}

int
naclip_cmd_bench (int argc, char **argv)
{
  gboolean gemm = FALSE;
  char *precision_s = NULL;
  gint threads = 2, repeat = 10;
  GOptionEntry entries[] = {
    { "gemm", 0, 0, G_OPTION_ARG_NONE, &gemm,
        "Time the ViT-B/16 matrix products of each backend", NULL },
    { "precision", 0, 0, G_OPTION_ARG_STRING, &precision_s,
        "fp32, bf16 or auto (default auto: every one available with --gemm)",
        "P" },
    { "threads", 0, 0, G_OPTION_ARG_INT, &threads, "Threads (default 2)", "N" },
    { "repeat", 0, 0, G_OPTION_ARG_INT, &repeat,
        "Timed runs after one warm-up (default 10)", "N" },
    { NULL, 0, 0, 0, NULL, NULL, NULL },
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("- timings");
  g_autoptr (GError) error = NULL;
  NaclipPrecision precision = NACLIP_PRECISION_AUTO;
  int status = 2;

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error)) {
    fprintf (stderr, "naclip bench: %s\n", error->message);
    goto out;
  }
  if (precision_s != NULL
      && !naclip_precision_from_string (precision_s, &precision)) {
    fprintf (stderr, "naclip bench: unknown precision '%s'\n", precision_s);
    goto out;
  }
  if (threads < 1 || threads > 1024 || repeat < 1 || repeat > 100000) {
    fprintf (stderr, "naclip bench: --threads 1..1024, --repeat 1..100000\n");
    goto out;
  }
  if (!gemm) {
    fprintf (stderr, "naclip bench: give --gemm\n");
    goto out;
  }
  status = bench_gemm (precision, (guint)threads, (guint)repeat);
out:
  g_free (precision_s);
  return status;
}
