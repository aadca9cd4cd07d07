/* matmul-int8.c: the int8 linear layers of matmul.c.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Precision INT8 computes out = post(x . W^T + b) of a linear layer as an
 * integer product (dynamic quantisation, as ONNX Runtime's
 * MatMulInteger / DynamicQuantizeLinear pair, with per-token activations):
 *   - weights, once per model: symmetric per output channel,
 *     W[n][k] ~ s_w[n] * wq[n][k] with wq = round (W / s_w) in
 *     [-q_max, q_max], s_w[n] = max_k |W[n][k]| / q_max (round half away
 *     from zero). q_max is 127, or 63 below avx512_core_vnni: oneDNN's
 *     AVX2 and AVX-512 int8 kernels add pairs of u8 x s8 products in
 *     saturating 16 bits (vpmaddubsw), which 255 * 127 * 2 overflows and
 *     255 * 63 * 2 does not (ONNX Runtime's "reduce_range").
 *     matmul-dnnl.c packs wq into the layout oneDNN's primitive asks for;
 *     this file's model share (NaclipMatmulInt8Cache) keeps s_w and the
 *     sums over k of wq (the column sums of the (k, n) operand).
 *   - activations, per call and per row (token): asymmetric u8,
 *     x[m][k] ~ lo[m] + s_x[m] * xq[m][k] with lo = min_k x, s_x =
 *     (max_k x - lo) / 255 and xq = round ((x - lo) * 255 / (max - lo))
 *     (half up), read as F32 or BF16 (the handle's activation type,
 *     naclip-private.h: a BF16 row is quantised as its exact f32 widening).
 *     u8 is the operand every int8 kernel of oneDNN takes at full speed,
 *     down to AVX2.
 *     Layers of one input (a block's q, k and v) share its quantisation
 *     (naclip_matmul_int8_linears);
 *   - the product acc = xq . wq^T in s32 by oneDNN (no scales attribute:
 *     runtime scales make oneDNN 2.6 fall back to its slow gemm kernel);
 *   - one pass per row of the epilogue:
 *       out[m][n] = s_w[n] * (s_x[m] * acc[m][n] + lo[m] * colsum[n]) + b[n]
 *     (since sum_k (lo + s_x xq) s_w wq = s_w (s_x acc + lo colsum)),
 *     then the activation of the post-op on the row while it is in cache,
 *     or the residual added; a BF16 output is the row rounded.
 * Error: each x is off by at most s_x / 2 and each weight by s_w / 2, so
 * |out - exact| <= s_w/2 sum |x| + s_x/2 sum |W| + k s_x s_w / 4 (before
 * the activation, which is 1.13-Lipschitz); tests/test-matmul.c holds the
 * product to that bound against fp32, and to float rounding against
 * naclip_matmul_int8_linear_ref, the plain-C twin of the same arithmetic.
 * The quantisation and the epilogue are kernels per CPU level (kernels.h).
 * A row holding Inf or NaN gives NaN outputs, as its fp32 product would
 * give non-finite ones.
 */

#include "config.h"

#include <math.h>
#include <string.h>

#include "kernels.h"

/* Operations per value of a pass, to weigh it against
 * NACLIP_PARALLEL_MIN_OPS_TOWER as ops.c's kernels do (below it, the pass runs
 * on the calling thread): the quantisation (minimum, maximum, finiteness,
 * rounding) per input, the epilogue (dequantisation, bias) per output,
 * plus ops.c's estimates for an activation and a rounding to bf16. */
#define OPS_QUANTIZE 6
#define OPS_DEQUANTIZE 4
#define OPS_ACTIVATION 30
#define OPS_TO_BF16 2

/* Activations are quantised to 0..U8_MAX. */
#define U8_MAX 255.0f

int
naclip_matmul_int8_weight_max (void)
{
  return naclip_cpu_get_isa (NULL) >= NACLIP_CPU_ISA_AVX512_CORE_VNNI ? 127
                                                                      : 63;
}

/* w * inv rounded half away from zero; |w| * inv <= q_max (1 + 2^-23), so
 * the result is within [-q_max, q_max] without a clamp. */
static inline gint32
round_weight (float w, float inv)
{
  float v = w * inv;
  return (gint32)(v + copysignf (0.5f, v));
}

void
naclip_matmul_int8_quantize_weight (
    const NaclipLinear *lin, int q_max, gint8 *wq, float *scale, float *colsum)
{
  /* weight, wq: (n_out, n_in) row-major */
  gsize k = lin->n_in;
  for (guint n = 0; n < lin->n_out; n++) {
    const float *w = lin->weight + (gsize)n * k;
    float amax = 0.0f;
#pragma omp simd reduction(max : amax)
    for (gsize j = 0; j < k; j++)
      amax = MAX (amax, fabsf (w[j]));
    float inv = amax > 0.0f ? (float)q_max / amax : 0.0f;
    gint32 sum = 0;
    if (wq != NULL) {
      gint8 *row = wq + (gsize)n * k;
#pragma omp simd reduction(+ : sum)
      for (gsize j = 0; j < k; j++) {
        row[j] = (gint8)round_weight (w[j], inv);
        sum += row[j];
      }
    } else {
#pragma omp simd reduction(+ : sum)
      for (gsize j = 0; j < k; j++)
        sum += round_weight (w[j], inv);
    }
    if (scale != NULL)
      scale[n] = amax / (float)q_max;
    if (colsum != NULL)
      colsum[n] = (float)sum;
  }
}

/* ------------------------------------------------------------------ */
/* The model's share: scales and column sums                           */

typedef struct
{
  float *scale;  /* (n_out): s_w */
  float *colsum; /* (n_out): sum over k of wq, exact in a float */
} Int8Weight;

struct _NaclipMatmulInt8Cache
{
  GMutex lock;
  int q_max;
  GHashTable *weights; /* const float *weight -> Int8Weight * */
};

static void
int8_weight_free (gpointer p)
{
  Int8Weight *iw = p;
  g_free (iw->scale);
  g_free (iw->colsum);
  g_free (iw);
}

NaclipMatmulInt8Cache *
naclip_matmul_int8_cache_new (void)
{
  NaclipMatmulInt8Cache *cache = g_new0 (NaclipMatmulInt8Cache, 1);
  g_mutex_init (&cache->lock);
  cache->q_max = naclip_matmul_int8_weight_max ();
  cache->weights = g_hash_table_new_full (NULL, NULL, NULL, int8_weight_free);
  return cache;
}

void
naclip_matmul_int8_cache_free (NaclipMatmulInt8Cache *cache)
{
  if (cache == NULL)
    return;
  g_hash_table_destroy (cache->weights);
  g_mutex_clear (&cache->lock);
  g_free (cache);
}

/* The scales and column sums of lin->weight, computed on first use; NULL
 * if they cannot be allocated. */
static const Int8Weight *
get_weight (NaclipMatmulInt8Cache *cache, const NaclipLinear *lin)
{
  g_mutex_lock (&cache->lock);
  Int8Weight *iw = g_hash_table_lookup (cache->weights, lin->weight);
  if (iw == NULL) {
    iw = g_new0 (Int8Weight, 1);
    iw->scale = g_try_new (float, lin->n_out);
    iw->colsum = g_try_new (float, lin->n_out);
    if (iw->scale == NULL || iw->colsum == NULL) {
      int8_weight_free (iw);
      iw = NULL;
    } else {
      naclip_matmul_int8_quantize_weight (
          lin, cache->q_max, NULL, iw->scale, iw->colsum);
      g_hash_table_insert (cache->weights, (gpointer)lin->weight, iw);
    }
  }
  g_mutex_unlock (&cache->lock);
  return iw;
}

/* ------------------------------------------------------------------ */
/* A handle's share: the quantised activations and the accumulators    */

/* How a row of activations was quantised: x ~ lo + scale * xq. */
typedef struct
{
  float scale, lo;
} RowQuant;

struct _NaclipMatmulInt8
{
  NaclipMatmulInt8Cache *cache;
  guint8 *xq; /* (m, n_in) */
  gsize xq_size;
  RowQuant *rows; /* (m) */
  gsize rows_size;
  gint32 *acc; /* (m, n_out), for POST_ACCUMULATE */
  gsize acc_size;
};

NaclipMatmulInt8 *
naclip_matmul_int8_new (NaclipMatmulInt8Cache *cache)
{
  NaclipMatmulInt8 *h = g_new0 (NaclipMatmulInt8, 1);
  h->cache = cache;
  return h;
}

void
naclip_matmul_int8_free (NaclipMatmulInt8 *h)
{
  if (h == NULL)
    return;
  g_free (h->xq);
  g_free (h->rows);
  g_free (h->acc);
  g_free (h);
}

/* ------------------------------------------------------------------ */
/* Kernels, one clone per CPU level (kernels.h)                        */

/* Sixteen bytes, the quantised LANES values. */
typedef guint8 vec_b __attribute__ ((vector_size (LANES)));

/* Element @j of @x, an array of @type (F32, or BF16 widened exactly). */
KERNEL_BODY float
load (const void *x, NaclipDtype type, gsize j)
{
  if (type == NACLIP_DTYPE_F32)
    return ((const float *)x)[j];
  guint32 u = (guint32)((const guint16 *)x)[j] << 16;
  float f;
  memcpy (&f, &u, 4);
  return f;
}

/* *v <- elements j .. j + LANES of @x, as load() reads them. */
KERNEL_BODY void
load_lanes (vec_f *v, const void *x, NaclipDtype type, gsize j)
{
  if (type == NACLIP_DTYPE_F32) {
    memcpy (v, (const float *)x + j, sizeof *v);
    return;
  }
  vec_h h;
  memcpy (&h, (const guint16 *)x + j, sizeof h);
  vec_u u = __builtin_convertvector(h, vec_u) << 16;
  memcpy (v, &u, sizeof *v);
}

/* GCC contracts a product and a sum of different statements into one
 * fused multiply-add, which rounds once where the reference rounds twice
 * and so moves a value that falls next to a rounding boundary to the
 * neighbouring integer: the quantisation is compiled without contraction
 * (clang contracts within one expression only, and the product and the
 * sum below are two). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
#endif

/* q (k) <- x (k) of @type quantised to u8, as *rq says: the rounding of
 * naclip_matmul_int8_linear_ref(), value for value. A row with Inf or
 * NaN gets NaN in *rq and q = 0. */
KERNEL_BODY void
quantize_row_body (
    guint8 *q, RowQuant *rq, const void *x, NaclipDtype type, gsize k)
{
  gsize k_vec = k - k % LANES;
  float lo = load (x, type, 0), hi = lo, finite = 0.0f;
  const vec_f zero = { 0.0f };
  vec_f lo_v = zero + lo, hi_v = lo_v, finite_v = zero, v;
  for (gsize j = 0; j < k_vec; j += LANES) {
    load_lanes (&v, x, type, j);
    lo_v = SELECT (v < lo_v, v, lo_v);
    hi_v = SELECT (v > hi_v, v, hi_v);
    finite_v += v - v; /* NaN for Inf and NaN */
  }
  for (int l = 0; l < LANES; l++) {
    lo = lo_v[l] < lo ? lo_v[l] : lo;
    hi = hi_v[l] > hi ? hi_v[l] : hi;
    finite += finite_v[l];
  }
  for (gsize j = k_vec; j < k; j++) {
    float s = load (x, type, j);
    lo = s < lo ? s : lo;
    hi = s > hi ? s : hi;
    finite += s - s;
  }
  float range = hi - lo;
  if (finite != 0.0f || !(range < INFINITY)) {
    rq->scale = rq->lo = NAN;
    memset (q, 0, k);
    return;
  }
  float inv = range > 0.0f ? U8_MAX / range : 0.0f;
  rq->scale = range / U8_MAX;
  rq->lo = lo;
  /* 0 <= (x - lo) * inv <= 255 (+ rounding): the conversion is in range */
  for (gsize j = 0; j < k_vec; j += LANES) {
    load_lanes (&v, x, type, j);
    vec_f t = (v - lo) * inv;
    t = t + 0.5f;
    vec_b b = __builtin_convertvector(__builtin_convertvector(t, vec_i), vec_b);
    memcpy (q + j, &b, sizeof b);
  }
  for (gsize j = k_vec; j < k; j++) {
    float t = (load (x, type, j) - lo) * inv;
    t = t + 0.5f;
    q[j] = (guint8)(gint32)t;
  }
}

KERNEL_BODY void
quantize_row_f32_body (guint8 *q, RowQuant *rq, const void *x, gsize k)
{
  quantize_row_body (q, rq, x, NACLIP_DTYPE_F32, k);
}

KERNEL_BODY void
quantize_row_bf16_body (guint8 *q, RowQuant *rq, const void *x, gsize k)
{
  quantize_row_body (q, rq, x, NACLIP_DTYPE_BF16, k);
}

DEFINE_CLONES (void, quantize_row_f32,
    (guint8 * q, RowQuant *rq, const void *x, gsize k), (q, rq, x, k))
DEFINE_CLONES (void, quantize_row_bf16,
    (guint8 * q, RowQuant *rq, const void *x, gsize k), (q, rq, x, k))

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

typedef void (*QuantizeRowFunc) (
    guint8 *q, RowQuant *rq, const void *x, gsize k);

/* o (n) <- s_w (s_x acc + lo colsum) + bias, or += with @accumulate; @acc
 * may be @o itself (each vector is read before it is written). */
KERNEL_BODY void
dequantize_row_body (float *o, const gint32 *acc, const RowQuant *rq,
    const Int8Weight *iw, const float *bias, gsize n, gboolean accumulate)
{
  const float *sw = iw->scale, *cs = iw->colsum;
  float sx = rq->scale, lo = rq->lo;
  gsize n_vec = n - n % LANES;
  for (gsize j = 0; j < n_vec; j += LANES) {
    vec_i a;
    vec_f w, c, r;
    memcpy (&a, acc + j, sizeof a);
    memcpy (&w, sw + j, sizeof w);
    memcpy (&c, cs + j, sizeof c);
    r = w * (sx * __builtin_convertvector(a, vec_f) + lo * c);
    if (accumulate) {
      vec_f prev;
      memcpy (&prev, o + j, sizeof prev);
      r += prev;
    }
    if (bias != NULL) {
      vec_f b;
      memcpy (&b, bias + j, sizeof b);
      r += b;
    }
    memcpy (o + j, &r, sizeof r);
  }
  for (gsize j = n_vec; j < n; j++) {
    float r = sw[j] * (sx * (float)acc[j] + lo * cs[j]);
    o[j] = (accumulate ? o[j] + r : r) + (bias != NULL ? bias[j] : 0.0f);
  }
}

DEFINE_CLONES (void, dequantize_row,
    (float *o, const gint32 *acc, const RowQuant *rq, const Int8Weight *iw,
        const float *bias, gsize n, gboolean accumulate),
    (o, acc, rq, iw, bias, n, accumulate))

/* The threads for @n_values of a pass of @ops_per_value. */
static int
threads_for (gsize n_values, guint ops_per_value, guint threads)
{
  gboolean small = naclip_size_mul_sat (n_values, ops_per_value)
                   < NACLIP_PARALLEL_MIN_OPS_TOWER;
  return small || threads < 1 ? 1 : (int)threads;
}

gboolean
naclip_matmul_int8_linears (NaclipMatmulInt8 *h, NaclipMatmulDnnl *dnnl,
    guint threads, guint n_lins, const NaclipLinear *const *lins,
    void *const *outs, gsize ldo, NaclipDtype out_type, const void *x,
    gsize ldx, NaclipDtype x_type, gsize m, NaclipMatmulPost post)
{
  /* x: (m, n_in), row stride ldx; outs[j]: (m, lins[j]->n_out), row stride
   * ldo */
  g_return_val_if_fail (n_lins >= 1 && n_lins <= NACLIP_MATMUL_MAX_LINS, FALSE);
  gsize k = lins[0]->n_in, n_total = 0;
  const Int8Weight *iws[NACLIP_MATMUL_MAX_LINS];
  gsize acc_at[NACLIP_MATMUL_MAX_LINS];
  for (guint j = 0; j < n_lins; j++) {
    g_return_val_if_fail (lins[j]->n_in == k, FALSE);
    iws[j] = get_weight (h->cache, lins[j]);
    if (iws[j] == NULL)
      return FALSE;
    acc_at[j] = n_total;
    n_total = naclip_size_add_sat (
        n_total, naclip_size_mul_sat (m, lins[j]->n_out));
  }
  gboolean accumulate = post == NACLIP_MATMUL_POST_ACCUMULATE;
  gboolean bf16_out = out_type == NACLIP_DTYPE_BF16;
  /* Unless out holds a residual or is BF16 (too narrow), the accumulators
   * go to out itself (as many bytes as its floats) and each is read just
   * before its float replaces it: a quarter less memory traffic than a
   * buffer of their own. A BF16 out gets each row dequantised in place in
   * that buffer, then rounded. */
  gboolean own_acc = accumulate || bf16_out;
  if (!naclip_buffer_grow (
          (gpointer *)&h->xq, &h->xq_size, naclip_size_mul_sat (m, k), 1)
      || !naclip_buffer_grow (
          (gpointer *)&h->rows, &h->rows_size, m, sizeof (RowQuant))
      || (own_acc
          && !naclip_buffer_grow (
              (gpointer *)&h->acc, &h->acc_size, n_total, sizeof (gint32))))
    return FALSE;

  /* the rows of x quantised once for all the layers */
  KernelLevel level = kernel_level ();
  QuantizeRowFunc quantize_row = x_type == NACLIP_DTYPE_BF16
                                     ? PICK (level, quantize_row_bf16)
                                     : PICK (level, quantize_row_f32);
  gsize x_row_bytes = ldx * naclip_dtype_size (x_type);
#pragma omp parallel for num_threads(threads_for(m *k, OPS_QUANTIZE, threads)) \
    schedule(static)
  for (gsize i = 0; i < m; i++)
    quantize_row (
        h->xq + i * k, &h->rows[i], (const guint8 *)x + i * x_row_bytes, k);

  gint32 *accs[NACLIP_MATMUL_MAX_LINS];
  gsize ld_accs[NACLIP_MATMUL_MAX_LINS];
  for (guint j = 0; j < n_lins; j++) {
    accs[j] = own_acc ? h->acc + acc_at[j] : (gint32 *)outs[j];
    ld_accs[j] = own_acc ? lins[j]->n_out : ldo;
    if (!naclip_matmul_dnnl_int8 (
            dnnl, accs[j], ld_accs[j], h->xq, lins[j], m, h->cache->q_max))
      return FALSE;
  }

  /* one epilogue pass over the rows of every layer; the row kernels are
   * called directly: an OpenMP region per row (as
   * naclip_ops_activation () would open) costs more than the row */
  NaclipActivationRowFunc activation = NULL;
  if (post == NACLIP_MATMUL_POST_QUICK_GELU)
    activation = naclip_ops_activation_row_func (NACLIP_ACTIVATION_QUICK_GELU);
  else if (post == NACLIP_MATMUL_POST_GELU)
    activation = naclip_ops_activation_row_func (NACLIP_ACTIVATION_GELU);
  NaclipBf16RowFunc bf16_row = bf16_out ? naclip_ops_bf16_row_func () : NULL;
  void (*dequantize) (float *, const gint32 *, const RowQuant *,
      const Int8Weight *, const float *, gsize, gboolean)
      = PICK (level, dequantize_row);
  guint ops = OPS_DEQUANTIZE + (activation != NULL ? OPS_ACTIVATION : 0)
              + (bf16_out ? OPS_TO_BF16 : 0);
  gsize n_rows = m * n_lins;
#pragma omp parallel for num_threads(threads_for(n_total, ops, threads))       \
    schedule(static)
  for (gsize r = 0; r < n_rows; r++) {
    gsize j = r / m, i = r % m, n = lins[j]->n_out;
    gint32 *a = accs[j] + i * ld_accs[j];
    float *o = bf16_out ? (float *)a : (float *)outs[j] + i * ldo;
    dequantize (o, a, &h->rows[i], iws[j], lins[j]->bias, n, accumulate);
    if (activation != NULL)
      activation (o, n);
    if (bf16_row != NULL)
      bf16_row ((guint16 *)outs[j] + i * ldo, o, n, 1.0f);
  }
  return TRUE;
}

/* ------------------------------------------------------------------ */
/* Plain-C reference                                                   */

void
naclip_matmul_int8_linear_ref (float *out, gsize ldo, const float *x, gsize ldx,
    const NaclipLinear *lin, gsize m, NaclipMatmulPost post, int q_max)
{
  /* The fp32 reference on the operands as quantised:
   * x^[i][j] = lo + s_x xq, W^[o][j] = s_w wq. */
  gsize n = lin->n_out, k = lin->n_in;
  gint8 *wq = g_new (gint8, n * k);
  float *sw = g_new (float, n);
  float *wd = g_new (float, n *k);
  float *xd = g_new (float, m *k);
  naclip_matmul_int8_quantize_weight (lin, q_max, wq, sw, NULL);
  for (gsize o = 0; o < n; o++) {
    for (gsize j = 0; j < k; j++)
      wd[o * k + j] = sw[o] * wq[o * k + j];
  }
  for (gsize i = 0; i < m; i++) {
    const float *xr = x + i * ldx;
    float lo = xr[0], hi = xr[0];
    gboolean finite = TRUE;
    for (gsize j = 0; j < k; j++) {
      lo = MIN (lo, xr[j]);
      hi = MAX (hi, xr[j]);
      finite = finite && isfinite (xr[j]);
    }
    float range = hi - lo;
    float inv = range > 0.0f ? U8_MAX / range : 0.0f;
    float sx = range / U8_MAX;
    for (gsize j = 0; j < k; j++) {
      if (!finite || !isfinite (range)) {
        xd[i * k + j] = NAN;
        continue;
      }
      guint8 q = (guint8)(gint32)((xr[j] - lo) * inv + 0.5f);
      xd[i * k + j] = lo + sx * q;
    }
  }
  NaclipLinear dequantized = { wd, lin->bias, lin->n_out, lin->n_in };
  naclip_matmul_linear_ref (out, ldo, xd, k, &dequantized, m, post);
  g_free (xd);
  g_free (wd);
  g_free (sw);
  g_free (wq);
}
