/* matmul.c: the backend seam for matrix products.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Every matrix product of the library goes through here, so that a backend
 * is chosen in one place:
 *   - OpenBLAS (always built, in this file): fp32, weights used in place
 *     from the read-only mapping (PyTorch Linear [out, in] row-major,
 *     CblasTrans).
 *   - oneDNN (meson feature `dnnl`): matmul-dnnl.c, bf16 or f32 with the
 *     weights packed once per model, and the integer products of int8,
 *     whose quantisation is matmul-int8.c's (an INT8 handle computes what
 *     it does not quantise at the precision AUTO resolves to, its float
 *     precision). Each hides behind one pointer in the model's
 *     NaclipMatmulCache and one in the caller's NaclipMatmul; in builds
 *     without oneDNN, matmul-nodnnl.c stands in for matmul-dnnl.c and the
 *     backend is refused. A oneDNN product that fails (an allocation) is
 *     computed with OpenBLAS instead.
 * Activations are F32 or BF16 for every handle (naclip-private.h,
 * NaclipDtype): oneDNN bf16 reads BF16 in place, the int8 quantisation
 * reads either, OpenBLAS gets them widened here.
 * The plain-C twins (*_ref, double accumulation) are for the tests.
 *
 * Threads: one runtime, OpenMP (libgomp). oneDNN is built on it, and the
 * build links OpenBLAS's OpenMP variant where installed (meson.build), so
 * every parallel region of the process shares libgomp's pool and nothing
 * spins against anything else. The thread count of a call is the handle's:
 * it is set on the calling thread with omp_set_num_threads() around the
 * call and restored after it (an OpenMP ICV of that thread only); OpenBLAS's
 * OpenMP variant and oneDNN both read omp_get_max_threads() per call.
 */

#include "config.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#include "naclip-private.h"

/* ------------------------------------------------------------------ */
/* Threads                                                             */

/* Sets the OpenMP thread count of the calling thread to @threads (0: keep)
 * and returns the previous one, for restore_threads(). */
static int
enter_threads (guint threads)
{
  int saved = omp_get_max_threads ();
  if (threads > 0 && saved != (int)threads)
    omp_set_num_threads ((int)threads);
  return saved;
}

static void
restore_threads (int saved)
{
  if (omp_get_max_threads () != saved)
    omp_set_num_threads (saved);
}

/* ------------------------------------------------------------------ */
/* Plain-C references                                                  */

static double
activate_ref (double v, NaclipMatmulPost post)
{
  switch (post) {
    case NACLIP_MATMUL_POST_QUICK_GELU:
      return v / (1.0 + exp (-1.702 * v));
    case NACLIP_MATMUL_POST_GELU:
      return 0.5 * v * (1.0 + erf (v / G_SQRT2));
    case NACLIP_MATMUL_POST_NONE:
    case NACLIP_MATMUL_POST_ACCUMULATE:
    default:
      return v;
  }
}

void
naclip_matmul_linear_ref (float *out, gsize ldo, const float *x, gsize ldx,
    const NaclipLinear *lin, gsize m, NaclipMatmulPost post)
{
  /* x: (m, n_in); weight: (n_out, n_in); out: (m, n_out) */
  for (gsize i = 0; i < m; i++) {
    for (guint o = 0; o < lin->n_out; o++) {
      double acc = lin->bias != NULL ? lin->bias[o] : 0.0;
      const float *w = lin->weight + (gsize)o * lin->n_in;
      for (guint j = 0; j < lin->n_in; j++)
        acc += (double)x[i * ldx + j] * w[j];
      if (post == NACLIP_MATMUL_POST_ACCUMULATE)
        out[i * ldo + o] += (float)acc;
      else
        out[i * ldo + o] = (float)activate_ref (acc, post);
    }
  }
}

void
naclip_matmul_gemm_ref (const NaclipGemmLayout *l, gboolean trans_b, gsize m,
    gsize n, gsize k, float alpha, const float *a, const float *b, float beta,
    float *c)
{
  for (gsize bo = 0; bo < l->n_outer; bo++) {
    for (gsize bi = 0; bi < l->n_inner; bi++) {
      const float *pa = a + bo * l->outer_a + bi * l->inner_a;
      const float *pb = b + bo * l->outer_b + bi * l->inner_b;
      float *pc = c + bo * l->outer_c + bi * l->inner_c;
      for (gsize i = 0; i < m; i++) {
        for (gsize j = 0; j < n; j++) {
          double acc = 0.0;
          for (gsize p = 0; p < k; p++) {
            float bv = trans_b ? pb[j * l->ldb + p] : pb[p * l->ldb + j];
            acc += (double)pa[i * l->lda + p] * bv;
          }
          float *cv = pc + i * l->ldc + j;
          *cv = (float)(alpha * acc + (beta != 0.0f ? beta * *cv : 0.0));
        }
      }
    }
  }
}

/* ------------------------------------------------------------------ */
/* The model's cache                                                   */

struct _NaclipMatmulCache
{
  NaclipMatmulDnnlCache *dnnl; /* oneDNN's engine and packed weights */
  NaclipMatmulInt8Cache *int8; /* int8 weight scales, made on first use */
};

NaclipMatmulCache *
naclip_matmul_cache_new (const void *mapped, gsize mapped_size)
{
  NaclipMatmulCache *cache = g_new0 (NaclipMatmulCache, 1);
  cache->dnnl = naclip_matmul_dnnl_cache_new (mapped, mapped_size);
  return cache;
}

void
naclip_matmul_cache_free (NaclipMatmulCache *cache)
{
  if (cache == NULL)
    return;
  naclip_matmul_dnnl_cache_free (cache->dnnl);
  naclip_matmul_int8_cache_free (cache->int8);
  g_free (cache);
}

/* The int8 share of @cache, created by the first int8 handle (it reads the
 * CPU level, which only an int8 handle needs). */
static NaclipMatmulInt8Cache *
get_int8_cache (NaclipMatmulCache *cache)
{
  if (g_once_init_enter (&cache->int8))
    g_once_init_leave (&cache->int8, naclip_matmul_int8_cache_new ());
  return cache->int8;
}

static void
cache_free_notify (gpointer cache)
{
  naclip_matmul_cache_free (cache);
}

NaclipMatmulCache *
naclip_model_get_matmul_cache (const NaclipModel *model)
{
  /* The cache is the model's mutable state behind a const handle, like
   * its fingerprint: set once here, freed by naclip_model_unref(). */
  NaclipModel *m = (NaclipModel *)model;
  if (g_once_init_enter (&m->matmul_cache)) {
    NaclipMatmulCache *cache = m->mapping != NULL
                                   ? naclip_matmul_cache_new (
                                       g_mapped_file_get_contents (m->mapping),
                                       g_mapped_file_get_length (m->mapping))
                                   : naclip_matmul_cache_new (NULL, 0);
    m->matmul_cache_free = cache_free_notify;
    g_once_init_leave (&m->matmul_cache, cache);
  }
  return m->matmul_cache;
}

void
naclip_matmul_cache_get_stats (
    NaclipMatmulCache *cache, NaclipMatmulCacheStats *stats)
{
  naclip_matmul_dnnl_cache_get_stats (cache->dnnl, stats);
}

/* ------------------------------------------------------------------ */
/* Handles                                                             */

struct _NaclipMatmul
{
  NaclipPrecision precision; /* FP32, BF16 or INT8 */
  /* FP32 or BF16: the products INT8 does not quantise (of activations),
   * the precision itself otherwise */
  NaclipPrecision float_precision;
  NaclipMatmulBackend backend; /* OPENBLAS or DNNL */
  guint threads;
  NaclipMatmulDnnl *dnnl; /* the DNNL backend's state, else NULL */
  NaclipMatmulInt8 *int8; /* INT8's quantisation state, else NULL */
  float *wide;            /* BF16 operands widened for OpenBLAS */
  gsize wide_size;        /* floats */
  GArray *trace;          /* NaclipMatmulCall, borrowed; NULL: off */
};

NaclipMatmul *
naclip_matmul_new (NaclipMatmulCache *cache, NaclipPrecision precision,
    NaclipMatmulBackend backend, guint threads, GError **error)
{
  g_return_val_if_fail (cache != NULL, NULL);
  NaclipPrecision resolved;
  if (!naclip_precision_resolve (precision, &resolved, error))
    return NULL;
  if (backend == NACLIP_MATMUL_BACKEND_AUTO) {
    backend = resolved == NACLIP_PRECISION_FP32 ? NACLIP_MATMUL_BACKEND_OPENBLAS
                                                : NACLIP_MATMUL_BACKEND_DNNL;
  }
  if (backend == NACLIP_MATMUL_BACKEND_OPENBLAS
      && resolved != NACLIP_PRECISION_FP32) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_UNSUPPORTED,
        "matmul backend openblas: precision %s (only fp32)",
        naclip_precision_to_string (resolved));
    return NULL;
  }
  NaclipMatmul *mm = g_new0 (NaclipMatmul, 1);
  mm->precision = resolved;
  mm->float_precision = resolved;
  mm->backend = backend;
  mm->threads = threads;
  if (resolved == NACLIP_PRECISION_INT8) {
    /* what AUTO resolves to: bf16 where it can run */
    naclip_precision_resolve (
        NACLIP_PRECISION_AUTO, &mm->float_precision, NULL);
    mm->int8 = naclip_matmul_int8_new (get_int8_cache (cache));
  }
  if (backend == NACLIP_MATMUL_BACKEND_DNNL) {
    mm->dnnl = naclip_matmul_dnnl_new (cache->dnnl, mm->float_precision, error);
    if (mm->dnnl == NULL) {
      naclip_matmul_free (mm);
      return NULL;
    }
  }
  return mm;
}

void
naclip_matmul_free (NaclipMatmul *mm)
{
  if (mm == NULL)
    return;
  naclip_matmul_dnnl_free (mm->dnnl);
  naclip_matmul_int8_free (mm->int8);
  g_free (mm->wide);
  g_free (mm);
}

NaclipPrecision
naclip_matmul_get_precision (const NaclipMatmul *mm)
{
  return mm->precision;
}

NaclipMatmulBackend
naclip_matmul_get_backend (const NaclipMatmul *mm)
{
  return mm->backend;
}

NaclipDtype
naclip_matmul_get_act_type (const NaclipMatmul *mm)
{
  return mm->float_precision == NACLIP_PRECISION_BF16 ? NACLIP_DTYPE_BF16
                                                      : NACLIP_DTYPE_F32;
}

/* TRUE if @type is an activation type (see NaclipDtype). */
static gboolean
is_act_type (NaclipDtype type)
{
  return type == NACLIP_DTYPE_F32 || type == NACLIP_DTYPE_BF16;
}

guint
naclip_matmul_get_threads (const NaclipMatmul *mm)
{
  return mm->threads;
}

void
naclip_matmul_set_threads (NaclipMatmul *mm, guint threads)
{
  mm->threads = threads;
}

void
naclip_matmul_set_trace (NaclipMatmul *mm, GArray *calls)
{
  mm->trace = calls;
}

/* ------------------------------------------------------------------ */
/* OpenBLAS                                                            */

static void
linear_openblas (NaclipMatmul *mm, float *out, gsize ldo, const float *x,
    gsize ldx, const NaclipLinear *lin, gsize m, NaclipMatmulPost post)
{
  /* x: (m, n_in); weight: (n_out, n_in); out: (m, n_out) */
  float beta = 0.0f;
  if (post == NACLIP_MATMUL_POST_ACCUMULATE) {
    beta = 1.0f;
    if (lin->bias != NULL) {
      for (gsize i = 0; i < m; i++) {
        float *o = out + i * ldo;
        for (guint j = 0; j < lin->n_out; j++)
          o[j] += lin->bias[j];
      }
    }
  } else if (lin->bias != NULL) {
    beta = 1.0f;
    for (gsize i = 0; i < m; i++)
      memcpy (out + i * ldo, lin->bias, lin->n_out * sizeof (float));
  }
  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)m,
      (blasint)lin->n_out, (blasint)lin->n_in, 1.0f, x, (blasint)ldx,
      lin->weight, (blasint)lin->n_in, beta, out, (blasint)ldo);
  if (post == NACLIP_MATMUL_POST_QUICK_GELU
      || post == NACLIP_MATMUL_POST_GELU) {
    NaclipActivation act = post == NACLIP_MATMUL_POST_GELU
                               ? NACLIP_ACTIVATION_GELU
                               : NACLIP_ACTIVATION_QUICK_GELU;
    if (ldo == lin->n_out) {
      naclip_ops_activation (out, m * ldo, act, mm->threads);
    } else {
      for (gsize i = 0; i < m; i++)
        naclip_ops_activation (out + i * ldo, lin->n_out, act, mm->threads);
    }
  }
}

static void
gemm_openblas (const NaclipGemmLayout *l, gboolean trans_b, gsize m, gsize n,
    gsize k, float alpha, const float *a, const float *b, float beta, float *c,
    guint threads)
{
  gsize n_batch = l->n_outer * l->n_inner;
  if (n_batch == 1) {
    cblas_sgemm (CblasRowMajor, CblasNoTrans,
        trans_b ? CblasTrans : CblasNoTrans, (blasint)m, (blasint)n, (blasint)k,
        alpha, a, (blasint)l->lda, b, (blasint)l->ldb, beta, c,
        (blasint)l->ldc);
    return;
  }
  /* One product per thread at a time: inside the parallel region the
   * OpenMP variant of OpenBLAS runs single-threaded. */
#pragma omp parallel for num_threads(threads > 0 ? threads : 1)                \
    schedule(dynamic)
  for (gsize t = 0; t < n_batch; t++) {
    gsize bo = t / l->n_inner, bi = t % l->n_inner;
    cblas_sgemm (CblasRowMajor, CblasNoTrans,
        trans_b ? CblasTrans : CblasNoTrans, (blasint)m, (blasint)n, (blasint)k,
        alpha, a + bo * l->outer_a + bi * l->inner_a, (blasint)l->lda,
        b + bo * l->outer_b + bi * l->inner_b, (blasint)l->ldb, beta,
        c + bo * l->outer_c + bi * l->inner_c, (blasint)l->ldc);
  }
}

/* ------------------------------------------------------------------ */
/* OpenBLAS with BF16 operands                                         */

/* OpenBLAS computes in f32 only: BF16 operands (of an fp32 handle, or of
 * a bf16 one whose oneDNN product failed) are widened into mm->wide
 * ([0, @n_in) for the inputs, then @n_out floats for a BF16 result, which
 * is rounded from them). FALSE if that cannot be allocated. */
static gboolean
grow_wide (NaclipMatmul *mm, gsize n_in, gsize n_out)
{
  return naclip_buffer_grow ((gpointer *)&mm->wide, &mm->wide_size,
      naclip_size_add_sat (n_in, n_out), sizeof (float));
}

/* dst (rows, cols), row stride @ldd, <- src (BF16) widened. */
static void
widen_rows (float *dst, gsize ldd, const guint16 *src, gsize lds, gsize rows,
    gsize cols)
{
  for (gsize i = 0; i < rows; i++)
    naclip_ops_from_bf16 (dst + i * ldd, src + i * lds, cols);
}

/* The product could not be computed (no memory): its output is NaN. */
static void
fail_rows (void *out, gsize ldo, NaclipDtype type, gsize rows, gsize cols)
{
  g_critical (
      "matmul %zux%zu: no memory to compute it; output set to NaN", rows, cols);
  for (gsize i = 0; i < rows; i++) {
    for (gsize j = 0; j < cols; j++) {
      if (type == NACLIP_DTYPE_F32)
        ((float *)out)[i * ldo + j] = NAN;
      else
        ((guint16 *)out)[i * ldo + j] = 0x7fc0u;
    }
  }
}

static void
linear_openblas_typed (NaclipMatmul *mm, void *out, gsize ldo,
    NaclipDtype out_type, const void *x, gsize ldx, NaclipDtype x_type,
    const NaclipLinear *lin, gsize m, NaclipMatmulPost post)
{
  if (x_type == NACLIP_DTYPE_F32 && out_type == NACLIP_DTYPE_F32) {
    linear_openblas (mm, out, ldo, x, ldx, lin, m, post);
    return;
  }
  gsize n_x = x_type == NACLIP_DTYPE_F32 ? 0 : m * lin->n_in;
  gsize n_out = out_type == NACLIP_DTYPE_F32 ? 0 : m * lin->n_out;
  if (!grow_wide (mm, n_x, n_out)) {
    fail_rows (out, ldo, out_type, m, lin->n_out);
    return;
  }
  const float *wx = x;
  float *wout = out;
  if (n_x > 0) {
    widen_rows (mm->wide, lin->n_in, x, ldx, m, lin->n_in);
    wx = mm->wide;
    ldx = lin->n_in;
  }
  if (n_out > 0) {
    wout = mm->wide + n_x;
    linear_openblas (mm, wout, lin->n_out, wx, ldx, lin, m, post);
    naclip_ops_to_bf16 (out, ldo, wout, lin->n_out, m, lin->n_out, mm->threads);
  } else {
    linear_openblas (mm, wout, ldo, wx, ldx, lin, m, post);
  }
}

/* Each BF16 operand widened into a contiguous batch of its own. */
static void
gemm_openblas_typed (NaclipMatmul *mm, const NaclipGemmLayout *l,
    gboolean trans_b, gsize m, gsize n, gsize k, float alpha, const void *a,
    const void *b, float beta, void *c)
{
  gsize n_batch = l->n_outer * l->n_inner;
  gsize b_rows = trans_b ? n : k, b_cols = trans_b ? k : n;
  gsize n_a = l->type_a == NACLIP_DTYPE_F32 ? 0 : n_batch * m * k;
  gsize n_b = l->type_b == NACLIP_DTYPE_F32 ? 0 : n_batch * n * k;
  gsize n_c = l->type_c == NACLIP_DTYPE_F32 ? 0 : n_batch * m * n;
  NaclipGemmLayout w = *l;
  if (!grow_wide (mm, naclip_size_add_sat (n_a, n_b), n_c)) {
    for (gsize t = 0; t < n_batch; t++) {
      gsize at = t / l->n_inner * l->outer_c + t % l->n_inner * l->inner_c;
      fail_rows ((guint8 *)c + at * naclip_dtype_size (l->type_c), l->ldc,
          l->type_c, m, n);
    }
    return;
  }
  float *wa = mm->wide, *wb = wa + n_a, *wc = wb + n_b;
  for (gsize t = 0; t < n_batch; t++) {
    gsize bo = t / l->n_inner, bi = t % l->n_inner;
    if (n_a > 0)
      widen_rows (wa + t * m * k, k,
          (const guint16 *)a + bo * l->outer_a + bi * l->inner_a, l->lda, m, k);
    if (n_b > 0)
      widen_rows (wb + t * n * k, b_cols,
          (const guint16 *)b + bo * l->outer_b + bi * l->inner_b, l->ldb,
          b_rows, b_cols);
  }
  if (n_a > 0) {
    w.lda = k;
    w.inner_a = m * k;
    w.outer_a = l->n_inner * m * k;
    a = wa;
  }
  if (n_b > 0) {
    w.ldb = b_cols;
    w.inner_b = n * k;
    w.outer_b = l->n_inner * n * k;
    b = wb;
  }
  if (n_c == 0) {
    gemm_openblas (&w, trans_b, m, n, k, alpha, a, b, beta, c, mm->threads);
    return;
  }
  /* a BF16 C has beta 0 */
  w.ldc = n;
  w.inner_c = m * n;
  w.outer_c = l->n_inner * m * n;
  gemm_openblas (&w, trans_b, m, n, k, alpha, a, b, 0.0f, wc, mm->threads);
  for (gsize t = 0; t < n_batch; t++) {
    gsize bo = t / l->n_inner, bi = t % l->n_inner;
    naclip_ops_to_bf16 ((guint16 *)c + bo * l->outer_c + bi * l->inner_c,
        l->ldc, wc + t * m * n, n, m, n, mm->threads);
  }
}

/* ------------------------------------------------------------------ */
/* Entry points                                                        */

/* naclip_matmul_linears_typed(), quantised when @quantize and the handle
 * is INT8. */
static void
linears (NaclipMatmul *mm, guint n_lins, const NaclipLinear *const *lins,
    void *const *outs, gsize ldo, NaclipDtype out_type, const void *x,
    gsize ldx, NaclipDtype x_type, gsize m, NaclipMatmulPost post,
    gboolean quantize)
{
  g_return_if_fail (mm != NULL && x != NULL && lins != NULL && outs != NULL);
  g_return_if_fail (n_lins >= 1 && n_lins <= NACLIP_MATMUL_MAX_LINS);
  for (guint j = 0; j < n_lins; j++) {
    g_return_if_fail (outs[j] != NULL && lins[j] != NULL);
    g_return_if_fail (ldo >= lins[j]->n_out && lins[j]->n_in == lins[0]->n_in);
  }
  g_return_if_fail (ldx >= lins[0]->n_in);
  g_return_if_fail (is_act_type (out_type) && is_act_type (x_type));
  g_return_if_fail (
      post != NACLIP_MATMUL_POST_ACCUMULATE || out_type == NACLIP_DTYPE_F32);
  if (m == 0)
    return;
  if (mm->trace != NULL) {
    NaclipMatmulCall call = { .n_lins = n_lins,
      .post = post,
      .quantize = quantize,
      .layout = { .n_outer = 1,
          .n_inner = 1,
          .lda = ldx,
          .ldc = ldo,
          .type_a = x_type,
          .type_c = out_type },
      .m = m,
      .n = lins[0]->n_out,
      .k = lins[0]->n_in };
    for (guint j = 0; j < n_lins; j++)
      call.lins[j] = *lins[j];
    g_array_append_val (mm->trace, call);
  }
  /* oneDNN f32 reads no BF16: a handle of float precision fp32 widens
   * them for OpenBLAS */
  gboolean dnnl
      = mm->backend == NACLIP_MATMUL_BACKEND_DNNL
        && (mm->float_precision == NACLIP_PRECISION_BF16
            || (x_type == NACLIP_DTYPE_F32 && out_type == NACLIP_DTYPE_F32));
  gboolean int8 = mm->int8 != NULL && quantize;
  int saved = enter_threads (mm->threads);
  if (int8) {
    if (naclip_matmul_int8_linears (mm->int8, mm->dnnl, mm->threads, n_lins,
            lins, outs, ldo, out_type, x, ldx, x_type, m, post))
      goto out;
    g_warning ("oneDNN int8 matmul %zux%ux%u failed; computed with OpenBLAS", m,
        lins[0]->n_out, lins[0]->n_in);
  }
  for (guint j = 0; j < n_lins; j++) {
    const NaclipLinear *lin = lins[j];
    if (dnnl && !int8) {
      if (naclip_matmul_dnnl_linear (mm->dnnl, mm->threads, outs[j], ldo,
              out_type, x, ldx, x_type, lin, m, post))
        continue;
      /* Only an allocation can fail once the primitive exists; the product
       * is still owed, so it falls back to fp32. */
      g_warning ("oneDNN matmul %zux%ux%u failed; computed with OpenBLAS", m,
          lin->n_out, lin->n_in);
    }
    linear_openblas_typed (
        mm, outs[j], ldo, out_type, x, ldx, x_type, lin, m, post);
  }
out:
  restore_threads (saved);
}

/* One layer of linears(). */
static void
linear (NaclipMatmul *mm, void *out, gsize ldo, NaclipDtype out_type,
    const void *x, gsize ldx, NaclipDtype x_type, const NaclipLinear *lin,
    gsize m, NaclipMatmulPost post, gboolean quantize)
{
  linears (mm, 1, &lin, &out, ldo, out_type, x, ldx, x_type, m, post, quantize);
}

void
naclip_matmul_linear_post (NaclipMatmul *mm, float *out, gsize ldo,
    const float *x, gsize ldx, const NaclipLinear *lin, gsize m,
    NaclipMatmulPost post)
{
  linear (mm, out, ldo, NACLIP_DTYPE_F32, x, ldx, NACLIP_DTYPE_F32, lin, m,
      post, TRUE);
}

void
naclip_matmul_linear_typed (NaclipMatmul *mm, void *out, gsize ldo,
    NaclipDtype out_type, const void *x, gsize ldx, NaclipDtype x_type,
    const NaclipLinear *lin, gsize m, NaclipMatmulPost post)
{
  linear (mm, out, ldo, out_type, x, ldx, x_type, lin, m, post, TRUE);
}

void
naclip_matmul_linears_typed (NaclipMatmul *mm, guint n_lins,
    const NaclipLinear *const *lins, void *const *outs, gsize ldo,
    NaclipDtype out_type, const void *x, gsize ldx, NaclipDtype x_type, gsize m,
    NaclipMatmulPost post)
{
  linears (
      mm, n_lins, lins, outs, ldo, out_type, x, ldx, x_type, m, post, TRUE);
}

void
naclip_matmul_linear_float (NaclipMatmul *mm, void *out, gsize ldo,
    NaclipDtype out_type, const void *x, gsize ldx, NaclipDtype x_type,
    const NaclipLinear *lin, gsize m, NaclipMatmulPost post)
{
  linear (mm, out, ldo, out_type, x, ldx, x_type, lin, m, post, FALSE);
}

void
naclip_matmul_gemm (NaclipMatmul *mm, const NaclipGemmLayout *layout,
    gboolean trans_b, gsize m, gsize n, gsize k, float alpha, const void *a,
    const void *b, float beta, void *c)
{
  g_return_if_fail (mm != NULL && layout != NULL);
  g_return_if_fail (beta == 0.0f || beta == 1.0f);
  g_return_if_fail (layout->lda >= k && layout->ldc >= n);
  g_return_if_fail (layout->ldb >= (trans_b ? k : n));
  g_return_if_fail (is_act_type (layout->type_a) && is_act_type (layout->type_b)
                    && is_act_type (layout->type_c));
  g_return_if_fail (beta == 0.0f || layout->type_c == NACLIP_DTYPE_F32);
  if (m == 0 || n == 0 || layout->n_outer == 0 || layout->n_inner == 0)
    return;
  if (mm->trace != NULL) {
    NaclipMatmulCall call = { .is_gemm = TRUE,
      .layout = *layout,
      .trans_b = trans_b,
      .m = m,
      .n = n,
      .k = k,
      .alpha = alpha,
      .beta = beta };
    g_array_append_val (mm->trace, call);
  }
  int saved = enter_threads (mm->threads);
  /* fp32 products of activations stay on OpenBLAS: nothing to pack, and
   * a oneDNN f32 run would only copy the operands. */
  if (mm->backend == NACLIP_MATMUL_BACKEND_DNNL
      && mm->float_precision == NACLIP_PRECISION_BF16) {
    if (k > 0
        && naclip_matmul_dnnl_gemm (mm->dnnl, mm->threads, layout, trans_b, m,
            n, k, alpha, a, b, beta, c))
      goto out;
    if (k > 0)
      g_warning (
          "oneDNN matmul %zux%zux%zu failed; computed with OpenBLAS", m, n, k);
  }
  gemm_openblas_typed (mm, layout, trans_b, m, n, k, alpha, a, b, beta, c);
out:
  restore_threads (saved);
}
