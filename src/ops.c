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
 * products, on row-major f32 tensors. Layer norm and softmax can write
 * their result as bf16 directly (NaclipDtype), so that a bf16 product
 * reads it without a rounding pass of its own.
 * Matrix products are not here: they go through matmul.c.
 *
 * Each kernel splits its rows over @n_threads OpenMP threads (inputs of
 * less than NACLIP_PARALLEL_MIN_OPS_TOWER operations stay on the calling
 * thread). The hot kernels (layer
 * norm, softmax, QuickGELU, bf16 rounding) are written once on 16-float
 * vectors (GCC/clang vector extensions) and compiled per CPU level
 * (below); the exp-heavy ones (softmax, QuickGELU) also have a
 * hand-written AVX-512 version. exp() is Cephes' expf polynomial, within
 * 2 ulp of libm. Every
 * kernel has a plain serial *_ref twin using libm and double
 * accumulation; tests/test-ops.c compares the two on seeded random data,
 * at each level NACLIP_MAX_CPU_ISA selects.
 */

#include "config.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "kernels.h"

/* Operations per float of each kernel, to compare its work with
 * NACLIP_PARALLEL_MIN_OPS_TOWER (about 30 us of one core): below that, it
 * runs on the calling thread. The kernels run between matrix products,
 * which keep the threads awake. The threshold was NACLIP_PARALLEL_MIN_OPS
 * (a millisecond; a 197 x 768 layer norm ran on one thread) when waking a
 * sleeping thread cost 65 us (OMP_WAIT_POLICY=PASSIVE, Sapphire Rapids
 * VM); with the int8 passes also split, the B/16 int8 encoder at 224x224
 * took 39.7 ms instead of 43.6 on the Zen 5 (default policy), and 43.9
 * instead of 50.4 with OMP_WAIT_POLICY=PASSIVE (naclip bench --products,
 * three interleaved rounds each). */
#define OPS_LAYER_NORM 8
#define OPS_SOFTMAX 30 /* exp () is about 20 */
#define OPS_ACTIVATION 30
#define OPS_L2_NORMALIZE 3
#define OPS_ADD 1
#define OPS_TO_BF16 2

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

#if HAVE_X86_CLONES
/* exp_lanes() with AVX-512 intrinsics, for the exp-heavy kernels'
 * hand-written AVX-512 versions: the same reduction, polynomial and
 * limits, and the same results, with the power of two applied by
 * vscalefps; about 20 instructions for 16 floats where GCC makes about 30
 * of the vector-extension body, 17 when the caller knows that no input
 * exceeds EXP_HI (@bounded: the softmax's x - max <= 0). */
#define AVX512_INLINE                                                          \
  TARGET_AVX512 static inline __attribute__ ((always_inline))

AVX512_INLINE __m512
exp_avx512 (__m512 v, gboolean bounded)
{
  const __m512 lo = _mm512_set1_ps (EXP_LO), hi = _mm512_set1_ps (EXP_HI);
  const __m512 magic = _mm512_set1_ps (ROUND_MAGIC);
  /* max and min return their second operand for a NaN: it stays NaN */
  __m512 xc = _mm512_max_ps (lo, v);
  if (!bounded)
    xc = _mm512_min_ps (hi, xc);
  __m512 n = _mm512_sub_ps (
      _mm512_fmadd_ps (xc, _mm512_set1_ps (LOG2E), magic), magic);
  __m512 r = _mm512_fnmadd_ps (n, _mm512_set1_ps (LN2_HI), xc);
  r = _mm512_fnmadd_ps (n, _mm512_set1_ps (LN2_LO), r);
  __m512 p = _mm512_fmadd_ps (
      r, _mm512_set1_ps (1.9875691500e-4f), _mm512_set1_ps (1.3981999507e-3f));
  p = _mm512_fmadd_ps (p, r, _mm512_set1_ps (8.3334519073e-3f));
  p = _mm512_fmadd_ps (p, r, _mm512_set1_ps (4.1665795894e-2f));
  p = _mm512_fmadd_ps (p, r, _mm512_set1_ps (1.6666665459e-1f));
  p = _mm512_fmadd_ps (p, r, _mm512_set1_ps (5.0000001201e-1f));
  p = _mm512_fmadd_ps (_mm512_mul_ps (p, r), r, r);
  __m512 y = _mm512_scalef_ps (_mm512_add_ps (p, _mm512_set1_ps (1.0f)), n);
  y = _mm512_mask_mov_ps (
      y, _mm512_cmp_ps_mask (v, lo, _CMP_LT_OQ), _mm512_setzero_ps ());
  if (!bounded)
    y = _mm512_mask_mov_ps (
        y, _mm512_cmp_ps_mask (v, hi, _CMP_GT_OQ), _mm512_set1_ps (INFINITY));
  return y;
}

/* The lanes of the last @n % 16 floats of a row of @n. */
static inline __mmask16
tail_mask (gsize n)
{
  return (__mmask16)((1u << (n % 16)) - 1);
}
#endif

/* The threads for @n_floats of a kernel of @ops_per_float. */
static inline int
threads_for (gsize n_floats, guint ops_per_float, guint n_threads)
{
  gboolean small = naclip_size_mul_sat (n_floats, ops_per_float)
                   < NACLIP_PARALLEL_MIN_OPS_TOWER;
  return small || n_threads < 1 ? 1 : (int)n_threads;
}

/* ------------------------------------------------------------------ */
/* bf16 rounding                                                       */

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

/* dst[0..LANES) <- bf16 (scale * src[0..LANES)), to_bf16() lane-wise. */
KERNEL_BODY void
bf16_lanes (guint16 *dst, const float *src, float scale)
{
  vec_f v;
  memcpy (&v, src, sizeof v);
  vec_u u = (vec_u)(v * scale);
  vec_u rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
  vec_i is_nan = (vec_i)(u & 0x7fffffffu) > 0x7f800000;
  vec_u bits
      = (vec_u)SELECT (is_nan, (vec_f)((u >> 16) | 0x40u), (vec_f)rounded);
  vec_h h = __builtin_convertvector(bits, vec_h);
  memcpy (dst, &h, sizeof h);
}

/* dst (n) <- bf16 (scale * src (n)). @dst may be @src's own memory
 * (dst == (guint16 *) src): element i is written after elements 0..i of
 * src are read. */
KERNEL_BODY void
bf16_row_body (guint16 *dst, const float *src, gsize n, float scale)
{
  gsize i = 0;
  for (; i + LANES <= n; i += LANES)
    bf16_lanes (dst + i, src + i, scale);
  if (i < n) {
    float tail[LANES] = { 0.0f };
    guint16 out[LANES];
    memcpy (tail, src + i, (n - i) * sizeof (float));
    bf16_lanes (out, tail, scale);
    memcpy (dst + i, out, (n - i) * sizeof (guint16));
  }
}

DEFINE_CLONES (void, bf16_row,
    (guint16 * dst, const float *src, gsize n, float scale),
    (dst, src, n, scale))

#if HAVE_X86_CLONES
/* The same with vcvtneps2bf16, which rounds to nearest even and quiets NaN
 * as to_bf16() does, but reads a denormal float (below 2^-126 in
 * magnitude) as 0: such an input gives a signed zero instead of a bf16
 * denormal. */
TARGET_AVX512_BF16 static void
bf16_row_avx512_bf16 (guint16 *dst, const float *src, gsize n, float scale)
{
  __m512 s = _mm512_set1_ps (scale);
  gsize i = 0;
  for (; i + 16 <= n; i += 16) {
    __m256bh h
        = _mm512_cvtneps_pbh (_mm512_mul_ps (_mm512_loadu_ps (src + i), s));
    _mm256_storeu_si256 ((__m256i *)(dst + i), (__m256i)h);
  }
  if (i < n) {
    __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
    __m256bh h = _mm512_cvtneps_pbh (
        _mm512_mul_ps (_mm512_maskz_loadu_ps (m, src + i), s));
    _mm256_mask_storeu_epi16 (dst + i, m, (__m256i)h);
  }
}
#endif

static NaclipBf16RowFunc
pick_bf16_row (KernelLevel level)
{
#if HAVE_X86_CLONES
  if (level >= LEVEL_AVX512_BF16)
    return bf16_row_avx512_bf16;
#endif
  return PICK (level, bf16_row);
}

NaclipBf16RowFunc
naclip_ops_bf16_row_func (void)
{
  return pick_bf16_row (kernel_level ());
}

/* ------------------------------------------------------------------ */
/* LayerNorm                                                           */

/* Floats of a bf16 layer-norm row computed at once before rounding. */
#define LN_CHUNK 256

/* The sum of x[i] (@squares FALSE) or of (x[i] - @shift)^2 over @n
 * floats, on four vector accumulators (one would make the loop wait on
 * its latency). */
KERNEL_BODY float
sum_lanes_body (const float *x, gsize n, float shift, gboolean squares)
{
  const vec_f zero = { 0.0f };
  vec_f a0 = zero, a1 = zero, a2 = zero, a3 = zero;
  gsize i = 0;
  for (; i + 4 * LANES <= n; i += 4 * LANES) {
    vec_f v[4];
    memcpy (v, x + i, sizeof v);
    for (int j = 0; j < 4; j++) {
      v[j] -= shift;
      v[j] = squares ? v[j] * v[j] : v[j];
    }
    a0 += v[0];
    a1 += v[1];
    a2 += v[2];
    a3 += v[3];
  }
  for (; i + LANES <= n; i += LANES) {
    vec_f v;
    memcpy (&v, x + i, sizeof v);
    v -= shift;
    a0 += squares ? v * v : v;
  }
  a0 += a1 + a2 + a3;
  float sum = 0.0f;
  for (int lane = 0; lane < LANES; lane++)
    sum += a0[lane];
  for (; i < n; i++) {
    float d = x[i] - shift;
    sum += squares ? d * d : d;
  }
  return sum;
}

/* out (width) <- LN (x): as f32 when @bf16_row is NULL, else rounded
 * through it. */
KERNEL_BODY void
layer_norm_row_body (void *out, const float *x, const float *w, const float *b,
    guint width, float eps, NaclipBf16RowFunc bf16_row)
{
  float mean = sum_lanes_body (x, width, 0.0f, FALSE) / (float)width;
  float sq = sum_lanes_body (x, width, mean, TRUE);
  float rstd = 1.0f / sqrtf (sq / (float)width + eps);
  float chunk[LN_CHUNK];
  for (guint c = 0; c < width; c += LN_CHUNK) {
    guint len = MIN (LN_CHUNK, width - c);
    float *o = bf16_row != NULL ? chunk : (float *)out + c;
    guint i = 0;
    for (; i + LANES <= len; i += LANES) {
      vec_f v, vw, vb;
      memcpy (&v, x + c + i, sizeof v);
      memcpy (&vw, w + c + i, sizeof vw);
      memcpy (&vb, b + c + i, sizeof vb);
      v = (v - mean) * rstd * vw + vb;
      memcpy (o + i, &v, sizeof v);
    }
    for (; i < len; i++)
      o[i] = (x[c + i] - mean) * rstd * w[c + i] + b[c + i];
    if (bf16_row != NULL)
      bf16_row ((guint16 *)out + c, chunk, len, 1.0f);
  }
}

DEFINE_CLONES (void, layer_norm_row,
    (void *out, const float *x, const float *w, const float *b, guint width,
        float eps, NaclipBf16RowFunc bf16_row),
    (out, x, w, b, width, eps, bf16_row))

void
naclip_ops_layer_norm_typed (void *out, NaclipDtype out_type, const float *x,
    const NaclipNorm *norm, gsize n_rows, guint width, float eps,
    guint n_threads)
{
  /* x: (n_rows, width) f32; out: (n_rows, width) of out_type; norm:
   * (width) */
  g_return_if_fail (
      out_type == NACLIP_DTYPE_F32 || out_type == NACLIP_DTYPE_BF16);
  KernelLevel level = kernel_level ();
  void (*row) (void *, const float *, const float *, const float *, guint,
      float, NaclipBf16RowFunc)
      = PICK (level, layer_norm_row);
  NaclipBf16RowFunc bf16_row
      = out_type == NACLIP_DTYPE_BF16 ? pick_bf16_row (level) : NULL;
  gsize row_bytes = (gsize)width * naclip_dtype_size (out_type);
  int nt = threads_for (n_rows * width, OPS_LAYER_NORM, n_threads);
#pragma omp parallel for num_threads(nt) schedule(static)
  for (gsize r = 0; r < n_rows; r++)
    row ((guint8 *)out + r * row_bytes, x + r * width, norm->weight, norm->bias,
        width, eps, bf16_row);
}

void
naclip_ops_layer_norm (float *out, const float *x, const NaclipNorm *norm,
    gsize n_rows, guint width, float eps, guint n_threads)
{
  naclip_ops_layer_norm_typed (
      out, NACLIP_DTYPE_F32, x, norm, n_rows, width, eps, n_threads);
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

/* row (n) <- exp (row - max (row)); returns 1 / their sum, the factor that
 * normalises them. Rows whose max is not finite get their limit
 * (softmax_row_nonfinite) and the factor 1. */
KERNEL_BODY float
softmax_exp_row_body (float *row, gsize n)
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
    return 1.0f;
  }
  vec_f acc = zero;
  gsize i = 0;
  for (; i + LANES <= n; i += LANES) {
    exp_lanes (row + i, max);
    vec_f v;
    memcpy (&v, row + i, sizeof v);
    acc += v;
  }
  float sum = 0.0f;
  if (i < n) {
    float tail[LANES] = { 0.0f };
    memcpy (tail, row + i, (n - i) * sizeof (float));
    exp_lanes (tail, max);
    memcpy (row + i, tail, (n - i) * sizeof (float));
    for (gsize j = 0; j < n - i; j++)
      sum += tail[j];
  }
  for (int lane = 0; lane < LANES; lane++)
    sum += acc[lane];
  return 1.0f / sum;
}

/* row (n) *= scale */
KERNEL_BODY void
scale_row_body (float *row, gsize n, float scale)
{
  gsize i = 0;
  for (; i + LANES <= n; i += LANES) {
    vec_f v;
    memcpy (&v, row + i, sizeof v);
    v *= scale;
    memcpy (row + i, &v, sizeof v);
  }
  for (; i < n; i++)
    row[i] *= scale;
}

/* Stores a softmax row whose first @n_valid entries hold exponentials
 * that @inv normalises: as f32 in place, or rounded through @bf16_row
 * into @out (which may be the row itself: element j of the bf16 row lies
 * within floats 0..j); the other entries become 0. */
KERNEL_BODY void
softmax_store_row_body (float *row, guint16 *out, gsize n, gsize n_valid,
    float inv, NaclipBf16RowFunc bf16_row)
{
  if (bf16_row == NULL) {
    if (inv != 1.0f)
      scale_row_body (row, n_valid, inv);
    memset (row + n_valid, 0, (n - n_valid) * sizeof (float));
  } else {
    bf16_row (out, row, n_valid, inv);
    memset (out + n_valid, 0, (n - n_valid) * sizeof (guint16));
  }
}

/* The softmax of the first @n_valid of the @n entries of row, as
 * naclip_ops_softmax_rows_typed() writes it; the others become 0. */
KERNEL_BODY void
softmax_row_body (float *row, guint16 *out, gsize n, gsize n_valid,
    NaclipBf16RowFunc bf16_row)
{
  float inv = softmax_exp_row_body (row, n_valid);
  softmax_store_row_body (row, out, n, n_valid, inv, bf16_row);
}

DEFINE_CLONES_BELOW_AVX512 (void, softmax_row,
    (float *row, guint16 *out, gsize n, gsize n_valid,
        NaclipBf16RowFunc bf16_row),
    (row, out, n, n_valid, bf16_row))

#if HAVE_X86_CLONES
/* softmax_row_body() with exp_avx512() and masked tails. */
TARGET_AVX512 static void
softmax_row_avx512 (float *row, guint16 *out, gsize n, gsize n_valid,
    NaclipBf16RowFunc bf16_row)
{
  gsize n_full = n_valid - n_valid % 16;
  __mmask16 tail = tail_mask (n_valid);
  __m512 lanes_max = _mm512_set1_ps (-INFINITY);
  /* max returns its second operand for a NaN: NaN lanes are skipped */
  for (gsize i = 0; i < n_full; i += 16)
    lanes_max = _mm512_max_ps (_mm512_loadu_ps (row + i), lanes_max);
  lanes_max = _mm512_max_ps (
      _mm512_mask_loadu_ps (lanes_max, tail, row + n_full), lanes_max);
  float max = _mm512_reduce_max_ps (lanes_max);
  float inv = 1.0f;
  if (!isfinite (max)) {
    softmax_row_nonfinite (row, n_valid, max);
  } else {
    __m512 shift = _mm512_set1_ps (max), acc = _mm512_setzero_ps ();
    for (gsize i = 0; i < n_full; i += 16) {
      __m512 y
          = exp_avx512 (_mm512_sub_ps (_mm512_loadu_ps (row + i), shift), TRUE);
      _mm512_storeu_ps (row + i, y);
      acc = _mm512_add_ps (acc, y);
    }
    __m512 y = exp_avx512 (
        _mm512_sub_ps (_mm512_maskz_loadu_ps (tail, row + n_full), shift),
        TRUE);
    _mm512_mask_storeu_ps (row + n_full, tail, y);
    acc = _mm512_mask_add_ps (acc, tail, acc, y);
    inv = 1.0f / _mm512_reduce_add_ps (acc);
  }
  softmax_store_row_body (row, out, n, n_valid, inv, bf16_row);
}
#endif

void
naclip_ops_softmax_rows_typed (float *x, gsize ld, NaclipDtype out_type,
    void *out, gsize ldo, gsize n_rows, gsize n_cols, gboolean causal,
    guint n_threads)
{
  /* x: (n_rows, n_cols), row stride ld floats; f32 in place, bf16 into
   * out (row stride ldo elements) */
  g_return_if_fail (
      out_type == NACLIP_DTYPE_F32 || out_type == NACLIP_DTYPE_BF16);
  g_return_if_fail (out_type == NACLIP_DTYPE_BF16 || (out == x && ldo == ld));
  g_return_if_fail (
      out != x || ldo == (out_type == NACLIP_DTYPE_F32 ? 1 : 2) * ld);
  g_return_if_fail (!causal || n_cols > 0);
  KernelLevel level = kernel_level ();
  void (*row) (float *, guint16 *, gsize, gsize, NaclipBf16RowFunc)
      = PICK (level, softmax_row);
  NaclipBf16RowFunc bf16_row
      = out_type == NACLIP_DTYPE_BF16 ? pick_bf16_row (level) : NULL;
  int nt = threads_for (n_rows * n_cols, OPS_SOFTMAX, n_threads);
#pragma omp parallel for num_threads(nt) schedule(static)
  for (gsize r = 0; r < n_rows; r++)
    row (x + r * ld, (guint16 *)out + r * ldo, n_cols,
        causal ? r % n_cols + 1 : n_cols, bf16_row);
}

void
naclip_ops_softmax_rows (
    float *x, gsize n_rows, gsize n_cols, gsize ld, guint n_threads)
{
  naclip_ops_softmax_rows_typed (
      x, ld, NACLIP_DTYPE_F32, x, ld, n_rows, n_cols, FALSE, n_threads);
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

DEFINE_CLONES_BELOW_AVX512 (void, quick_gelu, (float *x, gsize n), (x, n))

#if HAVE_X86_CLONES
/* quick_gelu_body() with exp_avx512() and a masked tail. */
TARGET_AVX512 static void
quick_gelu_avx512 (float *x, gsize n)
{
  gsize n_full = n - n % 16;
  const __m512 one = _mm512_set1_ps (1.0f), k = _mm512_set1_ps (-1.702f);
  for (gsize i = 0; i < n_full; i += 16) {
    __m512 v = _mm512_loadu_ps (x + i);
    __m512 e = exp_avx512 (_mm512_mul_ps (v, k), FALSE);
    _mm512_storeu_ps (x + i, _mm512_div_ps (v, _mm512_add_ps (one, e)));
  }
  __mmask16 tail = tail_mask (n);
  __m512 v = _mm512_maskz_loadu_ps (tail, x + n_full);
  __m512 e = exp_avx512 (_mm512_mul_ps (v, k), FALSE);
  _mm512_mask_storeu_ps (
      x + n_full, tail, _mm512_div_ps (v, _mm512_add_ps (one, e)));
}
#endif

/* x (n) <- 0.5 x erfc (-x / sqrt 2), the exact GELU. */
static void
gelu (float *x, gsize n)
{
  for (gsize i = 0; i < n; i++)
    x[i] = 0.5f * x[i] * erfcf (-x[i] * (float)M_SQRT1_2);
}

NaclipActivationRowFunc
naclip_ops_activation_row_func (NaclipActivation act)
{
  return act == NACLIP_ACTIVATION_QUICK_GELU
             ? PICK (kernel_level (), quick_gelu)
             : gelu;
}

void
naclip_ops_activation (float *x, gsize n, NaclipActivation act, guint n_threads)
{
  /* x: (n), in place */
  gsize n_chunks = (n + ACTIVATION_CHUNK - 1) / ACTIVATION_CHUNK;
  int nt = threads_for (n, OPS_ACTIVATION, n_threads);
  NaclipActivationRowFunc activation = naclip_ops_activation_row_func (act);
#pragma omp parallel for num_threads(nt) schedule(static)
  for (gsize c = 0; c < n_chunks; c++) {
    gsize len = MIN (ACTIVATION_CHUNK, n - c * ACTIVATION_CHUNK);
    activation (x + c * ACTIVATION_CHUNK, len);
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
  int nt = threads_for (n_rows * dim, OPS_L2_NORMALIZE, n_threads);
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
  int nt = threads_for (n, OPS_ADD, n_threads);
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
/* Conversions                                                         */

void
naclip_ops_to_bf16 (guint16 *out, gsize ldo, const float *x, gsize ldx,
    gsize n_rows, gsize n_cols, guint n_threads)
{
  /* x: (n_rows, n_cols), row stride ldx; out: row stride ldo */
  NaclipBf16RowFunc bf16_row = pick_bf16_row (kernel_level ());
  int nt = threads_for (n_rows * n_cols, OPS_TO_BF16, n_threads);
#pragma omp parallel for num_threads(nt) schedule(static)
  for (gsize i = 0; i < n_rows; i++)
    bf16_row (out + i * ldo, x + i * ldx, n_cols, 1.0f);
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
