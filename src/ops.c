/* ops.c: the element-wise and row-wise kernels of both towers.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * LayerNorm, max-subtracted softmax, the MLP activations (QuickGELU of
 * OpenAI's clip/model.py, exact GELU for Hugging Face configs that ask for
 * it, as 0.5 x erfc (-x / sqrt 2), which keeps its precision for negative
 * x where 1 + erf (x / sqrt 2) cancels), row L2 normalisation, a
 * residual add and the rounding to bf16 of the activations that feed bf16
 * products, on row-major f32 tensors.
 * Matrix products are not here: they go through matmul.c.
 *
 * Each kernel splits its rows over @n_threads OpenMP threads (inputs below
 * PARALLEL_MIN floats stay on the calling thread) and vectorises its inner
 * loops with `omp simd`. exp() is Cephes' expf polynomial (within 2 ulp of
 * libm) on 8-float vectors (GCC/clang vector extensions), with an AVX2
 * clone of the exp-heavy kernels. Every kernel has a plain serial
 * *_ref twin using libm and double accumulation; tests/test-ops.c compares
 * the two on seeded random data.
 */

#include "config.h"

#include <math.h>
#include <string.h>

#include "naclip-private.h"

/* Below this many floats a kernel runs on the calling thread. Not
 * NACLIP_PARALLEL_MIN_OPS: it counts floats (0.03 to 0.7 M operations in
 * these kernels), and is lower because the kernels run between matrix
 * products on the same OpenMP threads, still awake: a 442 x 768 layer norm
 * takes 0.16 ms on one thread and 0.08 ms on two (with OMP_WAIT_POLICY
 * PASSIVE, the same on both). */
#define PARALLEL_MIN 32768

/* Cephes expf constants: x = n ln2 + r with ln2 split in two parts. */
#define EXP_HI 88.0f
#define EXP_LO -87.3365478515625f /* ln (2^-126): smallest normal result */
#define LOG2E 1.44269504088896341f
#define LN2_HI 0.693359375f
#define LN2_LO -2.12194440e-4f
#define ROUND_MAGIC 12582912.0f /* 1.5 * 2^23: adding it rounds to integer */

/* Eight floats. GCC/clang vector extensions: exp() is written on these
 * explicitly because, with the default -ftrapping-math, GCC will not
 * if-convert the clamps of a scalar version, so `omp simd` cannot vectorise
 * it. The exp-heavy kernels are compiled twice (below): with AVX2 one
 * vector is one register, on the x86-64 baseline the compiler splits it
 * into two SSE2 halves. Vectors
 * never cross a function boundary (memory in, memory out): 32-byte vector
 * arguments have a different ABI with and without AVX, which clang
 * rejects in the baseline clone. */
#define LANES 8
typedef float vec_f __attribute__ ((vector_size (4 * LANES)));
typedef gint32 vec_i __attribute__ ((vector_size (4 * LANES)));

/* The exp-heavy kernels are written once as always-inline bodies and
 * compiled twice: a baseline function and, on x86-64, one with AVX2
 * enabled. The caller picks one per call from naclip_cpu_get_isa(), so
 * that NACLIP_MAX_CPU_ISA reaches them (GCC's target_clones would ask the
 * CPU itself). */
#define KERNEL_BODY static inline __attribute__ ((always_inline))
#if defined(__x86_64__)
#define HAVE_AVX2_CLONES 1
#define DEFINE_CLONES(name, params, args)                                      \
  static void name##_baseline params                                           \
  {                                                                            \
    name##_body args;                                                          \
  }                                                                            \
  __attribute__ ((target ("avx2"))) static void name##_avx2 params             \
  {                                                                            \
    name##_body args;                                                          \
  }
#else
#define HAVE_AVX2_CLONES 0
#define DEFINE_CLONES(name, params, args)                                      \
  static void name##_baseline params                                           \
  {                                                                            \
    name##_body args;                                                          \
  }
#endif

/* TRUE when the AVX2 clones may run. */
static gboolean
use_avx2 (void)
{
  return HAVE_AVX2_CLONES && naclip_cpu_get_isa (NULL) >= NACLIP_CPU_ISA_AVX2;
}

/* mask ? a : b, lane-wise (mask lanes are 0 or -1) */
#define SELECT(mask, a, b)                                                     \
  ((vec_f)(((mask) & (vec_i)(a)) | (~(mask) & (vec_i)(b))))

/* x[0..LANES) <- exp (x - shift), Cephes expf lane-wise: within 2 ulp of
 * libm on [EXP_LO, EXP_HI]; 0 below, +Inf above. */
KERNEL_BODY void
exp_lanes (float *x, float shift)
{
  const vec_f zero = { 0.0f };
  const vec_f lo = zero + EXP_LO, hi = zero + EXP_HI;
  const vec_f inf = zero + INFINITY;
  vec_f v;
  memcpy (&v, x, sizeof v);
  v = v - shift;
  vec_f xc = SELECT (v < lo, lo, v);
  xc = SELECT (xc > hi, hi, xc);
  vec_f n = (xc * LOG2E + ROUND_MAGIC) - ROUND_MAGIC;
  vec_f r = xc - n * LN2_HI;
  r = r - n * LN2_LO;
  vec_f p = r * 1.9875691500e-4f + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  vec_i bits = (__builtin_convertvector(n, vec_i) + 127) << 23;
  vec_f y = p * (vec_f)bits;
  y = SELECT (v < lo, zero, y);
  y = SELECT (v > hi, inf, y);
  memcpy (x, &y, sizeof y);
}

/* x[0..LANES) <- x * sigmoid (1.702 x), as x / (1 + exp (-1.702 x)). */
KERNEL_BODY void
quick_gelu_lanes (float *x)
{
  vec_f v, e;
  memcpy (&v, x, sizeof v);
  e = v * -1.702f;
  memcpy (x, &e, sizeof e);
  exp_lanes (x, 0.0f);
  memcpy (&e, x, sizeof e);
  v = v / (1.0f + e);
  memcpy (x, &v, sizeof v);
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

KERNEL_BODY void
softmax_row_body (float *row, gsize n)
{
  /* the max on vectors: an `omp simd` max reduction is not vectorised by
   * clang without -ffast-math (NaN lanes are skipped either way) */
  const vec_f zero = { 0.0f };
  vec_f lanes_max = zero - INFINITY;
  gsize b = 0;
  for (; b + LANES <= n; b += LANES) {
    vec_f v;
    memcpy (&v, row + b, sizeof v);
    lanes_max = SELECT (v > lanes_max, v, lanes_max);
  }
  float max = -INFINITY;
  for (int lane = 0; lane < LANES; lane++)
    max = lanes_max[lane] > max ? lanes_max[lane] : max;
  for (; b < n; b++)
    max = row[b] > max ? row[b] : max;
  if (!isfinite (max)) {
    softmax_row_nonfinite (row, n, max);
    return;
  }
  gsize i = 0;
  for (; i + LANES <= n; i += LANES)
    exp_lanes (row + i, max);
  if (i < n) {
    float tail[LANES] = { 0.0f };
    memcpy (tail, row + i, (n - i) * sizeof (float));
    exp_lanes (tail, max);
    memcpy (row + i, tail, (n - i) * sizeof (float));
  }
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (gsize j = 0; j < n; j++)
    sum += row[j];
  float inv = 1.0f / sum;
#pragma omp simd
  for (gsize j = 0; j < n; j++)
    row[j] *= inv;
}

DEFINE_CLONES (softmax_row, (float *row, gsize n), (row, n))

void
naclip_ops_softmax_rows (
    float *x, gsize n_rows, gsize n_cols, gsize ld, guint n_threads)
{
  /* x: (n_rows, n_cols), row stride ld */
  int nt = threads_for (n_rows * n_cols, n_threads);
  void (*softmax_row) (float *, gsize)
      = use_avx2 () ? softmax_row_avx2 : softmax_row_baseline;
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

/* x (n) <- x * sigmoid (1.702 x), as x / (1 + exp (-1.702 x)). */
KERNEL_BODY void
quick_gelu_body (float *x, gsize n)
{
  gsize i = 0;
  for (; i + LANES <= n; i += LANES)
    quick_gelu_lanes (x + i);
  if (i < n) {
    float tail[LANES] = { 0.0f };
    memcpy (tail, x + i, (n - i) * sizeof (float));
    quick_gelu_lanes (tail);
    memcpy (x + i, tail, (n - i) * sizeof (float));
  }
}

DEFINE_CLONES (quick_gelu, (float *x, gsize n), (x, n))

void
naclip_ops_activation (float *x, gsize n, NaclipActivation act, guint n_threads)
{
  /* x: (n), in place */
  gsize n_chunks = (n + ACTIVATION_CHUNK - 1) / ACTIVATION_CHUNK;
  int nt = threads_for (n, n_threads);
  void (*quick_gelu) (float *, gsize)
      = use_avx2 () ? quick_gelu_avx2 : quick_gelu_baseline;
#pragma omp parallel for num_threads(nt) schedule(static)
  for (gsize c = 0; c < n_chunks; c++) {
    float *xc = x + c * ACTIVATION_CHUNK;
    gsize len = MIN (ACTIVATION_CHUNK, n - c * ACTIVATION_CHUNK);
    if (act == NACLIP_ACTIVATION_QUICK_GELU) {
      quick_gelu (xc, len);
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

/* ------------------------------------------------------------------ */
/* bf16                                                                */

/* f32 -> bf16, round to nearest even; NaN stays NaN (quiet). */
static inline guint16
to_bf16 (float f)
{
  guint32 u;
  memcpy (&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u)
    return (guint16)((u >> 16) | 0x40u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return (guint16)(u >> 16);
}

void
naclip_ops_to_bf16 (guint16 *out, gsize ldo, const float *x, gsize ldx,
    gsize n_rows, gsize n_cols, guint n_threads)
{
  /* x: (n_rows, n_cols), row stride ldx; out: row stride ldo */
  int nt = threads_for (n_rows * n_cols, n_threads);
#pragma omp parallel for num_threads(nt) schedule(static)
  for (gsize i = 0; i < n_rows; i++) {
    const float *s = x + i * ldx;
    guint16 *d = out + i * ldo;
    for (gsize j = 0; j < n_cols; j++)
      d[j] = to_bf16 (s[j]);
  }
}

void
naclip_ops_to_bf16_ref (guint16 *out, gsize ldo, const float *x, gsize ldx,
    gsize n_rows, gsize n_cols)
{
  for (gsize i = 0; i < n_rows; i++)
    for (gsize j = 0; j < n_cols; j++)
      out[i * ldo + j] = to_bf16 (x[i * ldx + j]);
}

void
naclip_ops_from_bf16 (float *out, const guint16 *x, gsize n)
{
  for (gsize i = 0; i < n; i++) {
    guint32 u = (guint32)x[i] << 16;
    memcpy (out + i, &u, 4);
  }
}
