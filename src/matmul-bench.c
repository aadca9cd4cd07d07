/* matmul-bench.c: timing the matrix products, for diagnostics.
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
 * naclip_encoder_benchmark() (naclip bench --products) sets the image
 * encoder against its own products: it records the calls of one pass
 * (naclip_matmul_set_trace()) and replays them alone, on buffers whose
 * values are ordinary numbers read as f32 or as bf16.
 */

#include "config.h"

#include <string.h>
#include <time.h>

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

/* ------------------------------------------------------------------ */
/* The image encoder against its own products                          */

/* CPU time of the process (all its threads), ms. */
static double
cpu_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double
wall_ms (void)
{
  return (double)g_get_monotonic_time () / 1000.0;
}

/* Bytes a strided operand spans: @n_outer x @n_inner matrices of @rows x
 * @cols elements of @type. */
static gsize
operand_bytes (gsize n_outer, gsize outer, gsize n_inner, gsize inner,
    gsize rows, gsize ld, gsize cols, NaclipDtype type)
{
  gsize last
      = (n_outer - 1) * outer + (n_inner - 1) * inner + (rows - 1) * ld + cols;
  return last * naclip_dtype_size (type);
}

/* The bytes of A (or x), B and C (or out) @call reads and writes. */
static void
call_bytes (const NaclipMatmulCall *call, gsize bytes[3])
{
  const NaclipGemmLayout *l = &call->layout;
  gsize b_rows = call->trans_b ? call->n : call->k;
  gsize b_cols = call->trans_b ? call->k : call->n;
  bytes[0] = operand_bytes (l->n_outer, l->outer_a, l->n_inner, l->inner_a,
      call->m, l->lda, call->k, l->type_a);
  bytes[1] = call->is_gemm ? operand_bytes (l->n_outer, l->outer_b, l->n_inner,
                 l->inner_b, b_rows, l->ldb, b_cols, l->type_b)
                           : 0;
  bytes[2] = operand_bytes (l->n_outer, l->outer_c, l->n_inner, l->inner_c,
      call->m, l->ldc, call->n, l->type_c);
  if (!call->is_gemm)
    bytes[2] *= call->n_lins; /* one output after the other */
}

static void
replay_call (NaclipMatmul *mm, const NaclipMatmulCall *call, void *const buf[3])
{
  const NaclipGemmLayout *l = &call->layout;
  if (call->is_gemm)
    naclip_matmul_gemm (mm, l, call->trans_b, call->m, call->n, call->k,
        call->alpha, buf[0], buf[1], call->beta, buf[2]);
  else if (call->quantize) {
    const NaclipLinear *lins[NACLIP_MATMUL_MAX_LINS];
    void *outs[NACLIP_MATMUL_MAX_LINS];
    gsize out_bytes = call->m * l->ldc * naclip_dtype_size (l->type_c);
    for (guint j = 0; j < call->n_lins; j++) {
      lins[j] = &call->lins[j];
      outs[j] = (guint8 *)buf[2] + j * out_bytes;
    }
    naclip_matmul_linears_typed (mm, call->n_lins, lins, outs, l->ldc,
        l->type_c, buf[0], l->lda, l->type_a, call->m, call->post);
  } else {
    naclip_matmul_linear_float (mm, buf[2], l->ldc, l->type_c, buf[0], l->lda,
        l->type_a, &call->lins[0], call->m, call->post);
  }
}

/* Fills @n bytes with 32-bit words whose halves are both bf16 numbers of
 * magnitude 2^-4..1 (and the word a float of the same size): operands read
 * as f32 or as bf16 hold ordinary numbers (no denormal, no NaN). */
static void
fill_operand (GRand *rand, guint8 *buf, gsize n)
{
  for (gsize i = 0; i + 4 <= n; i += 4) {
    guint32 hi = 0x3d80u + (guint32)g_rand_int_range (rand, 0, 0x200);
    guint32 lo = 0x3d80u + (guint32)g_rand_int_range (rand, 0, 0x200);
    guint32 sign = g_rand_boolean (rand) ? 0x80008000u : 0;
    guint32 word = ((hi << 16) | lo) ^ sign;
    memcpy (buf + i, &word, 4);
  }
}

static const char *
post_name (NaclipMatmulPost post)
{
  switch (post) {
    case NACLIP_MATMUL_POST_QUICK_GELU:
      return "quick_gelu";
    case NACLIP_MATMUL_POST_GELU:
      return "gelu";
    case NACLIP_MATMUL_POST_ACCUMULATE:
      return "residual";
    case NACLIP_MATMUL_POST_NONE:
    default:
      return "none";
  }
}

/* The kind of @call of a handle at @precision, as a row of the result
 * (no times yet). */
static NaclipProductTiming
product_of (const NaclipMatmulCall *call, NaclipPrecision precision)
{
  const NaclipGemmLayout *l = &call->layout;
  return (NaclipProductTiming){ .is_gemm = call->is_gemm,
    .trans_b = call->trans_b,
    .quantized
    = !call->is_gemm && call->quantize && precision == NACLIP_PRECISION_INT8,
    .post = call->is_gemm ? NULL : post_name (call->post),
    .m = call->m,
    .n = call->n,
    .k = call->k,
    .n_outer = l->n_outer,
    .n_inner = call->is_gemm ? l->n_inner : call->n_lins,
    .type_a = l->type_a,
    .type_b = call->is_gemm ? l->type_b : l->type_a,
    .type_c = l->type_c };
}

static gboolean
same_product (const NaclipProductTiming *a, const NaclipProductTiming *b)
{
  return a->is_gemm == b->is_gemm && a->trans_b == b->trans_b
         && a->quantized == b->quantized && a->post == b->post && a->m == b->m
         && a->n == b->n && a->k == b->k && a->n_outer == b->n_outer
         && a->n_inner == b->n_inner && a->type_a == b->type_a
         && a->type_b == b->type_b && a->type_c == b->type_c;
}

gboolean
naclip_encoder_benchmark (const NaclipModel *model, NaclipPrecision precision,
    guint threads, guint width, guint height, guint n_runs,
    NaclipEncoderBenchmark *result, GError **error)
{
  g_autoptr (NaclipMatmul) mm = NULL;
  g_autoptr (GArray) calls
      = g_array_new (FALSE, FALSE, sizeof (NaclipMatmulCall));
  g_autoptr (GArray) products
      = g_array_new (FALSE, TRUE, sizeof (NaclipProductTiming));
  g_autoptr (GRand) rand = g_rand_new_with_seed (11);
  g_autofree float *pixels = NULL, *features = NULL;
  g_autofree guint *product_index = NULL;
  void *buf[3] = { NULL, NULL, NULL };
  NaclipVisionScratch *scratch = NULL;
  NaclipParams params = naclip_params_default ();
  NaclipEncoderBenchmark r = { 0 };
  gboolean ok = FALSE;

  g_return_val_if_fail (model != NULL && result != NULL, FALSE);
  g_return_val_if_fail (width > 0 && height > 0 && n_runs > 0, FALSE);
  memset (result, 0, sizeof *result);

  mm = naclip_matmul_new (naclip_model_get_matmul_cache (model), precision,
      NACLIP_MATMUL_BACKEND_AUTO, threads, error);
  if (mm == NULL)
    return FALSE;
  scratch = naclip_vision_scratch_new ();
  params.threads = threads;
  const NaclipModelInfo *info = naclip_model_get_info (model);
  r.precision = naclip_matmul_get_precision (mm);
  r.grid_w = width / info->patch_size;
  r.grid_h = height / info->patch_size;
  r.n_runs = n_runs;
  gsize n_pixels = 3 * (gsize)width * height;
  pixels = g_new (float, n_pixels);
  features
      = g_new (float, (gsize)MAX (r.grid_w * r.grid_h, 1) * info->embed_dim);
  for (gsize i = 0; i < n_pixels; i++)
    pixels[i] = (float)g_rand_double_range (rand, -2.0, 2.0);

  /* the untimed pass packs the weights, creates the primitives and is
   * recorded */
  naclip_matmul_set_trace (mm, calls);
  gboolean encoded = naclip_vision_encode (model, scratch, mm, NULL, &params,
      pixels, 1, height, width, features, NULL, NULL, error);
  naclip_matmul_set_trace (mm, NULL);
  if (!encoded)
    goto out;

  gsize max_bytes[3] = { 0, 0, 0 };
  product_index = g_new (guint, calls->len);
  for (guint c = 0; c < calls->len; c++) {
    NaclipMatmulCall *call = &g_array_index (calls, NaclipMatmulCall, c);
    call->layout.type_a = naclip_matmul_get_act_type (mm);
    if (call->is_gemm)
      call->layout.type_b = naclip_matmul_get_act_type (mm);
    gsize bytes[3];
    call_bytes (call, bytes);
    for (int i = 0; i < 3; i++)
      max_bytes[i] = MAX (max_bytes[i], bytes[i]);
    r.gflop += 2.0 * call->m * call->n * call->k * call->layout.n_outer
               * (call->is_gemm ? call->layout.n_inner : call->n_lins) / 1e9;
    NaclipProductTiming pt = product_of (call, r.precision);
    guint p = 0;
    while (p < products->len
           && !same_product (
               &g_array_index (products, NaclipProductTiming, p), &pt))
      p++;
    if (p == products->len) {
      pt.ms = g_new0 (double, n_runs);
      g_array_append_val (products, pt);
    }
    g_array_index (products, NaclipProductTiming, p).count++;
    product_index[c] = p;
  }
  r.n_calls = calls->len;
  for (int i = 0; i < 3; i++) {
    buf[i] = g_malloc (MAX (max_bytes[i], 4));
    fill_operand (rand, buf[i], max_bytes[i]);
  }
  /* the replay's own primitives (its strides are the encoder's) */
  for (guint c = 0; c < calls->len; c++)
    replay_call (mm, &g_array_index (calls, NaclipMatmulCall, c), buf);

  r.encoder_ms = g_new (double, n_runs);
  r.products_ms = g_new (double, n_runs);
  r.encoder_cpu_ms = g_new (double, n_runs);
  r.products_cpu_ms = g_new (double, n_runs);
  for (guint run = 0; run < n_runs; run++) {
    double c0 = cpu_ms (), t0 = wall_ms ();
    if (!naclip_vision_encode (model, scratch, mm, NULL, &params, pixels, 1,
            height, width, features, NULL, NULL, error))
      goto out;
    double t1 = wall_ms (), c1 = cpu_ms ();
    for (guint c = 0; c < calls->len; c++) {
      double s0 = wall_ms ();
      replay_call (mm, &g_array_index (calls, NaclipMatmulCall, c), buf);
      g_array_index (products, NaclipProductTiming, product_index[c]).ms[run]
          += wall_ms () - s0;
    }
    r.encoder_ms[run] = t1 - t0;
    r.products_ms[run] = wall_ms () - t1;
    r.encoder_cpu_ms[run] = c1 - c0;
    r.products_cpu_ms[run] = cpu_ms () - c1;
  }
  ok = TRUE;

out:
  r.n_products = products->len;
  r.products = (NaclipProductTiming *)(void *)g_array_free (
      g_steal_pointer (&products), FALSE);
  if (ok)
    *result = r;
  else
    naclip_encoder_benchmark_clear (&r);
  for (int i = 0; i < 3; i++)
    g_free (buf[i]);
  naclip_vision_scratch_free (scratch);
  return ok;
}

void
naclip_encoder_benchmark_clear (NaclipEncoderBenchmark *result)
{
  g_return_if_fail (result != NULL);
  for (guint p = 0; p < result->n_products; p++)
    g_free (result->products[p].ms);
  g_free (result->products);
  g_free (result->encoder_ms);
  g_free (result->products_ms);
  g_free (result->encoder_cpu_ms);
  g_free (result->products_cpu_ms);
  memset (result, 0, sizeof *result);
}
