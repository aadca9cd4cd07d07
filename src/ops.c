/* ops.c: the element-wise and row-wise kernels of both towers.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * LayerNorm, max-subtracted softmax, the MLP activations (QuickGELU of
 * OpenAI's clip/model.py, exact GELU for Hugging Face configs that ask for
 * it, as 0.5 x erfc (-x / sqrt 2), which keeps its precision for negative
 * x where 1 + erf (x / sqrt 2) cancels), row L2 normalisation and a
 * residual add, on row-major f32 tensors.
 * Matrix products are not here: they go through matmul.c.
 *
 * Each kernel splits its rows over @n_threads OpenMP threads (inputs below
 * PARALLEL_MIN floats stay on the calling thread) and vectorises its inner
 * loops with `omp simd`. exp() is Cephes' expf polynomial (within 2 ulp of
 * libm) on 4-float vectors (GCC/clang vector extensions). Every kernel has a plain serial
 * *_ref twin using libm and double accumulation; tests/test-ops.c compares
 * the two on seeded random data.
 */

#include "config.h"

#include <math.h>
#include <string.h>

#include "naclip-private.h"

/* Below this many floats a kernel runs on the calling thread. */
#define PARALLEL_MIN 32768

/* Cephes expf constants: x = n ln2 + r with ln2 split in two parts. */
#define EXP_HI 88.0f
#define EXP_LO -87.3365478515625f /* ln (2^-126): smallest normal result */
#define LOG2E 1.44269504088896341f
#define LN2_HI 0.693359375f
#define LN2_LO -2.12194440e-4f
#define ROUND_MAGIC 12582912.0f /* 1.5 * 2^23: adding it rounds to integer */

/* Four floats. GCC/clang vector extensions: exp() is written on these
 * explicitly because, with the default -ftrapping-math, GCC will not
 * if-convert the clamps of a scalar version, so `omp simd` cannot vectorise
 * it. 16 bytes is the x86-64 baseline (SSE2). */
typedef float v4sf __attribute__ ((vector_size (16)));
typedef gint32 v4si __attribute__ ((vector_size (16)));

/* mask ? a : b, lane-wise (mask lanes are 0 or -1) */
static inline v4sf
select_v4 (v4si mask, v4sf a, v4sf b)
{
  return (v4sf)((mask & (v4si)a) | (~mask & (v4si)b));
}

/* Cephes expf, lane-wise: exp (x) within 2 ulp of libm on [EXP_LO,
 * EXP_HI]; 0 below, +Inf above. */
static inline v4sf
exp_v4 (v4sf x)
{
  const v4sf lo = { EXP_LO, EXP_LO, EXP_LO, EXP_LO };
  const v4sf hi = { EXP_HI, EXP_HI, EXP_HI, EXP_HI };
  const v4sf zero = { 0.0f, 0.0f, 0.0f, 0.0f };
  const v4sf inf = { INFINITY, INFINITY, INFINITY, INFINITY };
  v4sf xc = select_v4 (x < lo, lo, x);
  xc = select_v4 (xc > hi, hi, xc);
  v4sf n = (xc * LOG2E + ROUND_MAGIC) - ROUND_MAGIC;
  v4sf r = xc - n * LN2_HI;
  r = r - n * LN2_LO;
  v4sf p = r * 1.9875691500e-4f + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  v4si bits = (__builtin_convertvector(n, v4si) + 127) << 23;
  v4sf y = p * (v4sf)bits;
  y = select_v4 (x < lo, zero, y);
  return select_v4 (x > hi, inf, y);
}

/* Loads/stores the first @n (< 4) lanes; the others load as 0. */
static inline v4sf
load_partial (const float *p, gsize n)
{
  v4sf v = { 0.0f, 0.0f, 0.0f, 0.0f };
  memcpy (&v, p, n * sizeof (float));
  return v;
}

static inline void
store_partial (float *p, v4sf v, gsize n)
{
  memcpy (p, &v, n * sizeof (float));
}

static inline int
threads_for (gsize n_floats, guint n_threads)
{
  return n_floats < PARALLEL_MIN || n_threads < 1 ? 1 : (int)n_threads;
}

/* ------------------------------------------------------------------ */
/* LayerNorm                                                           */

static void
layer_norm_row (float *out, const float *x, const float *w, const float *b,
    guint width, float eps)
{
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (guint i = 0; i < width; i++)
    sum += x[i];
  float mean = sum / (float)width;
  float sq = 0.0f;
#pragma omp simd reduction(+ : sq)
  for (guint i = 0; i < width; i++)
    sq += (x[i] - mean) * (x[i] - mean);
  float rstd = 1.0f / sqrtf (sq / (float)width + eps);
#pragma omp simd
  for (guint i = 0; i < width; i++)
    out[i] = (x[i] - mean) * rstd * w[i] + b[i];
}

void
naclip_ops_layer_norm (float *out, const float *x, const NaclipNorm *norm,
    gsize n_rows, guint width, float eps, guint n_threads)
{
  /* x, out: (n_rows, width); norm: (width) */
  int nt = threads_for (n_rows * width, n_threads);
#pragma omp parallel for num_threads(nt) schedule(static)
  for (gsize r = 0; r < n_rows; r++)
    layer_norm_row (
        out + r * width, x + r * width, norm->weight, norm->bias, width, eps);
}

void
naclip_ops_layer_norm_ref (float *out, const float *x, const NaclipNorm *norm,
    gsize n_rows, guint width, float eps)
{
  for (gsize r = 0; r < n_rows; r++) {
    const float *xr = x + r * width;
    double mean = 0.0, var = 0.0;
    for (guint i = 0; i < width; i++)
      mean += xr[i];
    mean /= width;
    for (guint i = 0; i < width; i++)
      var += (xr[i] - mean) * (xr[i] - mean);
    var /= width;
    double rstd = 1.0 / sqrt (var + eps);
    for (guint i = 0; i < width; i++)
      out[r * width + i]
          = (float)((xr[i] - mean) * rstd * norm->weight[i] + norm->bias[i]);
  }
}

/* ------------------------------------------------------------------ */
/* Softmax                                                             */

/* The limits of softmax for rows whose max is +Inf or -Inf. */
static void
softmax_row_nonfinite (float *row, gsize n, float max)
{
  if (max > 0.0f) {
    gsize n_inf = 0;
    for (gsize i = 0; i < n; i++)
      n_inf += row[i] == INFINITY;
    for (gsize i = 0; i < n; i++)
      row[i] = row[i] == INFINITY ? 1.0f / (float)n_inf : 0.0f;
  } else {
    for (gsize i = 0; i < n; i++)
      row[i] = isnan (row[i]) ? row[i] : 1.0f / (float)n;
  }
}

static void
softmax_row (float *row, gsize n)
{
  float max = -INFINITY;
#pragma omp simd reduction(max : max)
  for (gsize i = 0; i < n; i++)
    max = row[i] > max ? row[i] : max;
  if (!isfinite (max)) {
    softmax_row_nonfinite (row, n, max);
    return;
  }
  v4sf acc = { 0.0f, 0.0f, 0.0f, 0.0f };
  gsize i = 0;
  for (; i + 4 <= n; i += 4) {
    v4sf e = exp_v4 (load_partial (row + i, 4) - max);
    store_partial (row + i, e, 4);
    acc += e;
  }
  if (i < n) {
    v4sf e = exp_v4 (load_partial (row + i, n - i) - max);
    store_partial (row + i, e, n - i);
    for (gsize lane = 0; lane < n - i; lane++)
      acc[lane] += e[lane];
  }
  float sum = (acc[0] + acc[1]) + (acc[2] + acc[3]);
  float inv = 1.0f / sum;
#pragma omp simd
  for (gsize j = 0; j < n; j++)
    row[j] *= inv;
}

void
naclip_ops_softmax_rows (
    float *x, gsize n_rows, gsize n_cols, gsize ld, guint n_threads)
{
  /* x: (n_rows, n_cols), row stride ld */
  int nt = threads_for (n_rows * n_cols, n_threads);
#pragma omp parallel for num_threads(nt) schedule(static)
  for (gsize r = 0; r < n_rows; r++)
    softmax_row (x + r * ld, n_cols);
}

void
naclip_ops_softmax_rows_ref (float *x, gsize n_rows, gsize n_cols, gsize ld)
{
  for (gsize r = 0; r < n_rows; r++) {
    float *row = x + r * ld;
    float max = -INFINITY;
    for (gsize i = 0; i < n_cols; i++)
      max = fmaxf (max, row[i]);
    if (!isfinite (max)) {
      softmax_row_nonfinite (row, n_cols, max);
      continue;
    }
    double sum = 0.0;
    for (gsize i = 0; i < n_cols; i++) {
      row[i] = expf (row[i] - max);
      sum += row[i];
    }
    for (gsize i = 0; i < n_cols; i++)
      row[i] = (float)(row[i] / sum);
  }
}

/* ------------------------------------------------------------------ */
/* Activations                                                         */

/* Chunk of the activation's work given to one thread at a time. */
#define ACTIVATION_CHUNK 4096

void
naclip_ops_activation (float *x, gsize n, NaclipActivation act, guint n_threads)
{
  /* x: (n), in place */
  gsize n_chunks = (n + ACTIVATION_CHUNK - 1) / ACTIVATION_CHUNK;
  int nt = threads_for (n, n_threads);
#pragma omp parallel for num_threads(nt) schedule(static)
  for (gsize c = 0; c < n_chunks; c++) {
    float *xc = x + c * ACTIVATION_CHUNK;
    gsize len = MIN (ACTIVATION_CHUNK, n - c * ACTIVATION_CHUNK);
    if (act == NACLIP_ACTIVATION_QUICK_GELU) {
      for (gsize i = 0; i < len; i += 4) {
        gsize k = MIN (4, len - i);
        v4sf v = load_partial (xc + i, k);
        store_partial (xc + i, v / (1.0f + exp_v4 (v * -1.702f)), k);
      }
    } else {
      for (gsize i = 0; i < len; i++)
        xc[i] = 0.5f * xc[i] * erfcf (-xc[i] * (float)M_SQRT1_2);
    }
  }
}

void
naclip_ops_activation_ref (float *x, gsize n, NaclipActivation act)
{
  for (gsize i = 0; i < n; i++) {
    double v = x[i];
    if (act == NACLIP_ACTIVATION_QUICK_GELU)
      x[i] = (float)(v / (1.0 + exp (-1.702f * x[i])));
    else
      x[i] = (float)(0.5 * v * erfc (-v * M_SQRT1_2));
  }
}

/* ------------------------------------------------------------------ */
/* L2 normalisation and residual add                                   */

void
naclip_ops_l2_normalize_rows (
    float *x, gsize n_rows, guint dim, float eps, guint n_threads)
{
  /* x: (n_rows, dim), in place */
  int nt = threads_for (n_rows * dim, n_threads);
#pragma omp parallel for num_threads(nt) schedule(static)
  for (gsize r = 0; r < n_rows; r++) {
    float *row = x + r * dim;
    float sq = 0.0f;
#pragma omp simd reduction(+ : sq)
    for (guint i = 0; i < dim; i++)
      sq += row[i] * row[i];
    float inv = 1.0f / fmaxf (sqrtf (sq), eps);
#pragma omp simd
    for (guint i = 0; i < dim; i++)
      row[i] *= inv;
  }
}

void
naclip_ops_l2_normalize_rows_ref (float *x, gsize n_rows, guint dim, float eps)
{
  for (gsize r = 0; r < n_rows; r++) {
    float *row = x + r * dim;
    double sq = 0.0;
    for (guint i = 0; i < dim; i++)
      sq += (double)row[i] * row[i];
    double norm = fmax (sqrt (sq), eps);
    for (guint i = 0; i < dim; i++)
      row[i] = (float)(row[i] / norm);
  }
}

void
naclip_ops_add (float *x, const float *y, gsize n, guint n_threads)
{
  /* x, y: (n) */
  int nt = threads_for (n, n_threads);
#pragma omp parallel for simd num_threads(nt) schedule(static)
  for (gsize i = 0; i < n; i++)
    x[i] += y[i];
}

void
naclip_ops_add_ref (float *x, const float *y, gsize n)
{
  for (gsize i = 0; i < n; i++)
    x[i] += y[i];
}
