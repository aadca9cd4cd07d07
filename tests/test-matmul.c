/* test-matmul.c: every backend and precision of the matmul seam against the
 * plain-C references (naclip_matmul_*_ref) on seeded random data.
 *
 * Tolerances. fp32: |got - ref| <= 1e-5 * (1 + sum_j |x_j w_j| + |b|): the
 * f32 accumulation of k <= 80 terms errs by at most k * 2^-24 of that sum
 * (5e-6), the references accumulate in double. bf16: oneDNN rounds x and
 * w to bf16 (8 bits of mantissa) and accumulates in f32, so the test rounds
 * the inputs itself (nearest even) and holds the bf16 result to the fp32
 * tolerance against the reference of the rounded inputs: a wrong rounding
 * mode, layout or packing shows up as an error of about 2^-9 of the sum,
 * 400 times the tolerance. It also checks the unrounded reference within
 * 2^-7 of the sum (two operands each off by at most 2^-9, plus margin).
 * int8: the rows of x are quantised to u8 (x ~ lo + s_x q) and the weights
 * to s8 per output channel (w ~ s_w q, |q| <= q_max); the integer product
 * is exact, so against naclip_matmul_int8_linear_ref (the fp32 reference of
 * the quantised operands) only the float epilogue errs: the fp32 tolerance,
 * of a sum that also counts |lo| sum |w| (the epilogue adds lo * colsum).
 * Against the unquantised reference the error is at most
 * s_w/2 sum |x| + s_x/2 sum |w| + k s_x s_w / 4 (each operand off by half
 * a step), times 1.13 after GELU or QuickGELU (their largest slope), plus
 * the fp32 tolerance.
 * Every handle also takes and gives BF16 activations (typed calls; bf16
 * reads them strided in place, fp32 widens them, int8 quantises them as
 * their widening): a BF16 input is the test's own rounding, so the
 * reference of the rounded input holds; a BF16 output adds its own
 * rounding, 2^-9 of the value, held to 2^-8 of the sum.
 */

#include "config.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#include <glib/gstdio.h>

#include "naclip-private.h"

typedef struct
{
  const char *name;
  NaclipPrecision precision;
  NaclipMatmulBackend backend;
} Config;

static const Config configs[] = {
  { "openblas-fp32", NACLIP_PRECISION_FP32, NACLIP_MATMUL_BACKEND_OPENBLAS },
  { "onednn-fp32", NACLIP_PRECISION_FP32, NACLIP_MATMUL_BACKEND_DNNL },
  { "onednn-bf16", NACLIP_PRECISION_BF16, NACLIP_MATMUL_BACKEND_DNNL },
  { "onednn-int8", NACLIP_PRECISION_INT8, NACLIP_MATMUL_BACKEND_DNNL },
};

/* The handle for @cfg, or NULL after g_test_skip when this build or CPU
 * cannot run it. */
static NaclipMatmul *
new_handle (NaclipMatmulCache *cache, const Config *cfg, guint threads)
{
  GError *error = NULL;
  NaclipMatmul *mm = naclip_matmul_new (
      cache, cfg->precision, cfg->backend, threads, &error);
  if (mm == NULL) {
    g_assert_error (error, NACLIP_ERROR, NACLIP_ERROR_UNSUPPORTED);
    g_autofree char *msg
        = g_strdup_printf ("%s: %s", cfg->name, error->message);
    g_test_skip (msg);
    g_error_free (error);
  }
  return mm;
}

/* The precision of @cfg's products of activations: int8 leaves them at
 * the precision auto resolves to. */
static NaclipPrecision
float_precision (const Config *cfg)
{
  NaclipPrecision p = cfg->precision;
  if (p == NACLIP_PRECISION_INT8)
    g_assert_true (naclip_precision_resolve (NACLIP_PRECISION_AUTO, &p, NULL));
  return p;
}

static float
round_bf16 (float f)
{
  guint32 u;
  memcpy (&u, &f, 4);
  u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
  memcpy (&f, &u, 4);
  return f;
}

static void
fill (GRand *rand, float *x, gsize n)
{
  for (gsize i = 0; i < n; i++)
    x[i] = (float)g_rand_double_range (rand, -1.0, 1.0);
}

static float *
rounded_copy (const float *x, gsize n)
{
  float *r = g_new (float, n);
  for (gsize i = 0; i < n; i++)
    r[i] = round_bf16 (x[i]);
  return r;
}

/* @x (n) as bf16 bits. */
static guint16 *
bf16_copy (const float *x, gsize n)
{
  guint16 *r = g_new (guint16, n);
  naclip_ops_to_bf16_ref (r, n, x, n, 1, n);
  return r;
}

static float *
widened_copy (const guint16 *x, gsize n)
{
  float *r = g_new (float, n);
  naclip_ops_from_bf16 (r, x, n);
  return r;
}

static const char *
type_name (NaclipDtype t)
{
  return t == NACLIP_DTYPE_BF16 ? "bf16" : "f32";
}

/* Compares @got with @want (rows x cols, stride @ld) within
 * rel * scale[i, j] + rel, plus extra[i, j] if @extra is not NULL; prints
 * the first 5 mismatches and the max diff. */
static void
check_within (const char *what, const float *got, const float *want,
    const double *scale, const double *extra, gsize rows, gsize cols, gsize ld,
    double rel)
{
  double max_diff = 0.0;
  guint n_bad = 0;
  for (gsize i = 0; i < rows; i++) {
    for (gsize j = 0; j < cols; j++) {
      double d = fabs ((double)got[i * ld + j] - want[i * ld + j]);
      double tol = rel * (1.0 + scale[i * cols + j])
                   + (extra != NULL ? extra[i * cols + j] : 0.0);
      max_diff = MAX (max_diff, d);
      if (!(d <= tol)) {
        if (n_bad < 5) {
          g_printerr ("%s [%zu, %zu]: got %.8g want %.8g (tol %.3g)\n", what, i,
              j, got[i * ld + j], want[i * ld + j], tol);
        }
        n_bad++;
      }
    }
  }
  if (n_bad > 0) {
    g_printerr ("%s: %u mismatches, max diff %.3g\n", what, n_bad, max_diff);
    g_test_fail ();
  }
}

static void
check_close (const char *what, const float *got, const float *want,
    const double *scale, gsize rows, gsize cols, gsize ld, double rel)
{
  check_within (what, got, want, scale, NULL, rows, cols, ld, rel);
}

/* Checks the int8 product @got of @lin on x (m rows) against the int8
 * reference (into @want) and against fp32 (into @exact) within the bounds of
 * the file's comment, @rel the tolerance of the float epilogue (1e-5, or
 * 2^-8 for a BF16 @got). @want and @exact hold @got's initial values. */
static void
check_int8 (const char *what, const float *got, float *want, float *exact,
    const float *x, gsize ldx, const NaclipLinear *lin, gsize m, gsize ldo,
    NaclipMatmulPost post, double rel)
{
  gsize n = lin->n_out, k = lin->n_in;
  int q_max = naclip_matmul_int8_weight_max ();
  g_autofree double *scale = g_new (double, m *n);
  g_autofree double *fp32_scale = g_new (double, m *n);
  g_autofree double *bound = g_new (double, m *n);
  double slope
      = post == NACLIP_MATMUL_POST_GELU || post == NACLIP_MATMUL_POST_QUICK_GELU
            ? 1.13
            : 1.0;
  naclip_matmul_int8_linear_ref (want, ldo, x, ldx, lin, m, post, q_max);
  naclip_matmul_linear_ref (exact, ldo, x, ldx, lin, m, post);
  for (gsize i = 0; i < m; i++) {
    const float *xr = x + i * ldx;
    double lo = xr[0], hi = xr[0], sum_x = 0.0;
    for (gsize j = 0; j < k; j++) {
      lo = MIN (lo, xr[j]);
      hi = MAX (hi, xr[j]);
      sum_x += fabs (xr[j]);
    }
    double s_x = (hi - lo) / 255.0;
    for (gsize o = 0; o < n; o++) {
      const float *w = lin->weight + o * k;
      double sum_w = 0.0, sum_xw = 0.0, w_max = 0.0;
      for (gsize j = 0; j < k; j++) {
        sum_w += fabs (w[j]);
        sum_xw += fabs ((double)xr[j] * w[j]);
        w_max = MAX (w_max, fabs (w[j]));
      }
      double s_w = w_max / q_max, b = lin->bias ? fabs (lin->bias[o]) : 0.0;
      scale[i * n + o] = sum_xw + fabs (lo) * sum_w + b;
      fp32_scale[i * n + o] = sum_xw + b;
      bound[i * n + o]
          = slope * (s_w / 2 * sum_x + s_x / 2 * sum_w + k * s_x * s_w / 4);
    }
  }
  check_close (what, got, want, scale, m, n, ldo, rel);
  check_within (what, got, exact, fp32_scale, bound, m, n, ldo, rel);
}

typedef struct
{
  gsize m, n, k, ldx_pad, ldo_pad;
} LinearShape;

static const LinearShape linear_shapes[] = {
  { 1, 17, 3, 0, 0 },
  { 5, 33, 40, 3, 5 },
  { 7, 16, 16, 0, 1 },
  { 67, 80, 80, 16, 0 },
};

/* The cache knows weights by address: @keep holds every weight until the
 * cache is freed, as a model does. */
static void
run_linear_case (NaclipMatmul *mm, const Config *cfg, GRand *rand,
    GPtrArray *keep, const LinearShape *s, gboolean with_bias,
    NaclipMatmulPost post, NaclipDtype x_type, NaclipDtype out_type)
{
  gsize ldx = s->k + s->ldx_pad, ldo = s->n + s->ldo_pad;
  g_autofree float *x = g_new (float, s->m *ldx);
  float *w = g_new (float, s->n * s->k);
  /* not g_autofree: replaced by the widened output of a BF16 call */
  g_autofree float *b = g_new (float, s->n);
  float *got = g_new (float, s->m *ldo);
  g_autofree float *want = g_new (float, s->m *ldo);
  g_autofree float *exact = g_new (float, s->m *ldo);
  g_autofree double *scale = g_new0 (double, s->m * s->n);
  g_autofree float *xr = NULL, *wr = NULL;
  gboolean bf16 = cfg->precision == NACLIP_PRECISION_BF16;
  fill (rand, x, s->m * ldx);
  fill (rand, w, s->n * s->k);
  g_ptr_array_add (keep, w);
  fill (rand, b, s->n);
  fill (rand, got, s->m * ldo);
  memcpy (want, got, s->m * ldo * sizeof (float));
  memcpy (exact, got, s->m * ldo * sizeof (float));
  NaclipLinear lin = { w, with_bias ? b : NULL, (guint)s->n, (guint)s->k };
  for (gsize i = 0; i < s->m; i++) {
    for (gsize o = 0; o < s->n; o++) {
      double acc = with_bias ? fabs (b[o]) : 0.0;
      for (gsize j = 0; j < s->k; j++)
        acc += fabs ((double)x[i * ldx + j] * w[o * s->k + j]);
      scale[i * s->n + o] = acc;
    }
  }

  if (x_type == NACLIP_DTYPE_F32 && out_type == NACLIP_DTYPE_F32) {
    naclip_matmul_linear_post (mm, got, ldo, x, ldx, &lin, s->m, post);
  } else {
    /* the same call on bf16 copies; the output's padding is rounded too */
    g_autofree guint16 *xb = bf16_copy (x, s->m * ldx);
    g_autofree guint16 *ob = bf16_copy (got, s->m * ldo);
    gboolean bf16_out = out_type == NACLIP_DTYPE_BF16;
    naclip_matmul_linear_typed (mm, bf16_out ? (void *)ob : got, ldo, out_type,
        x_type == NACLIP_DTYPE_BF16 ? (const void *)xb : x, ldx, x_type, &lin,
        s->m, post);
    if (bf16_out) {
      g_free (got);
      got = widened_copy (ob, s->m * ldo);
      for (gsize i = 0; i < s->m * ldo; i++)
        exact[i] = round_bf16 (exact[i]);
    }
  }

  g_autofree char *what = g_strdup_printf (
      "%s linear %zux%zux%zu%s post %d %s -> %s", cfg->name, s->m, s->n, s->k,
      with_bias ? " bias" : "", post, type_name (x_type), type_name (out_type));
  /* the reference of the operands as the product sees them */
  double rel = out_type == NACLIP_DTYPE_BF16 ? 1.0 / 256 : 1e-5;
  xr = bf16 || x_type == NACLIP_DTYPE_BF16 ? rounded_copy (x, s->m * ldx)
                                           : g_memdup2 (x, s->m * ldx * 4);
  if (cfg->precision == NACLIP_PRECISION_INT8) {
    check_int8 (what, got, want, exact, xr, ldx, &lin, s->m, ldo, post, rel);
  } else {
    wr = bf16 ? rounded_copy (w, s->n * s->k) : g_memdup2 (w, s->n * s->k * 4);
    NaclipLinear lr = { wr, lin.bias, lin.n_out, lin.n_in };
    naclip_matmul_linear_ref (want, ldo, xr, ldx, &lr, s->m, post);
    check_close (what, got, want, scale, s->m, s->n, ldo, rel);
  }
  if (bf16) {
    memcpy (want, exact, s->m * ldo * sizeof (float));
    naclip_matmul_linear_ref (want, ldo, x, ldx, &lin, s->m, post);
    check_close (what, got, want, scale, s->m, s->n, ldo, 1.0 / 128);
  }
  /* the padding between rows is not touched */
  for (gsize i = 0; i < s->m; i++) {
    for (gsize j = s->n; j < ldo; j++)
      g_assert_cmpfloat (got[i * ldo + j], ==, exact[i * ldo + j]);
  }
  g_free (got);
}

static void
test_linear (gconstpointer data)
{
  const Config *cfg = data;
  NaclipMatmulCache *cache = naclip_matmul_cache_new (NULL, 0);
  NaclipMatmul *mm = new_handle (cache, cfg, 2);
  if (mm != NULL) {
    GRand *rand = g_rand_new_with_seed (1234);
    GPtrArray *keep = g_ptr_array_new_with_free_func (g_free);
    g_assert_cmpint (naclip_matmul_get_backend (mm), ==, cfg->backend);
    g_assert_cmpint (naclip_matmul_get_precision (mm), ==, cfg->precision);
    /* every pair of types (a BF16 output not accumulated) */
    for (gsize s = 0; s < G_N_ELEMENTS (linear_shapes); s++) {
      for (int bias = 0; bias < 2; bias++) {
        for (int post = NACLIP_MATMUL_POST_NONE;
             post <= NACLIP_MATMUL_POST_ACCUMULATE; post++) {
          for (guint t = 0; t < 4; t++) {
            NaclipDtype xt = t & 1 ? NACLIP_DTYPE_BF16 : NACLIP_DTYPE_F32;
            NaclipDtype ot = t & 2 ? NACLIP_DTYPE_BF16 : NACLIP_DTYPE_F32;
            if (ot == NACLIP_DTYPE_BF16
                && post == NACLIP_MATMUL_POST_ACCUMULATE)
              continue;
            run_linear_case (mm, cfg, rand, keep, &linear_shapes[s], bias,
                (NaclipMatmulPost)post, xt, ot);
          }
        }
      }
    }
    g_rand_free (rand);
    naclip_matmul_free (mm);
    naclip_matmul_cache_free (cache);
    g_ptr_array_unref (keep);
    return;
  }
  naclip_matmul_cache_free (cache);
}

typedef struct
{
  gsize n_outer, n_inner, m, n, k;
  gboolean trans_b;
  float alpha, beta;
} GemmShape;

static const GemmShape gemm_shapes[] = {
  { 1, 1, 1, 17, 3, TRUE, 1.0f, 0.0f },
  { 1, 1, 9, 5, 33, FALSE, 0.125f, 1.0f },
  { 2, 3, 13, 13, 8, TRUE, 0.35355339f, 0.0f },
  { 3, 2, 13, 8, 13, FALSE, 1.0f, 1.0f },
};

static void
test_gemm (gconstpointer data)
{
  const Config *cfg = data;
  NaclipMatmulCache *cache = naclip_matmul_cache_new (NULL, 0);
  NaclipMatmul *mm = new_handle (cache, cfg, 2);
  if (mm == NULL)
    goto out;
  GRand *rand = g_rand_new_with_seed (99);
  /* A and B of either type, C too when beta is 0 */
  for (gsize t = 0; t < G_N_ELEMENTS (gemm_shapes) * 8; t++) {
    const GemmShape *s = &gemm_shapes[t / 8];
    guint types = t % 8;
    /* heads side by side in a row, as in a (tokens, n_inner * k) buffer */
    NaclipGemmLayout l = { 0 };
    l.type_a = types & 1 ? NACLIP_DTYPE_BF16 : NACLIP_DTYPE_F32;
    l.type_b = types & 2 ? NACLIP_DTYPE_BF16 : NACLIP_DTYPE_F32;
    l.type_c = types & 4 ? NACLIP_DTYPE_BF16 : NACLIP_DTYPE_F32;
    if (l.type_c == NACLIP_DTYPE_BF16 && s->beta != 0.0f)
      continue;
    l.n_outer = s->n_outer;
    l.n_inner = s->n_inner;
    l.lda = s->n_inner * s->k + 2;
    l.inner_a = s->k;
    l.outer_a = s->m * l.lda;
    gsize b_rows = s->trans_b ? s->n : s->k, b_cols = s->trans_b ? s->k : s->n;
    l.ldb = s->n_inner * b_cols + 1;
    l.inner_b = b_cols;
    l.outer_b = b_rows * l.ldb;
    l.ldc = s->n_inner * s->n + 3;
    l.inner_c = s->n;
    l.outer_c = s->m * l.ldc;
    gsize na = s->n_outer * l.outer_a, nb = s->n_outer * l.outer_b;
    gsize nc = s->n_outer * l.outer_c;
    g_autofree float *a = g_new (float, na);
    g_autofree float *b = g_new (float, nb);
    float *got = g_new (float, nc);
    g_autofree float *want = g_new (float, nc);
    g_autofree float *ar = NULL, *br = NULL;
    g_autofree guint16 *ab = NULL, *bb = NULL, *cb = NULL;
    /* rows of the whole strided C with its scale: (n_outer * m, ldc) */
    g_autofree double *scale = g_new0 (double, s->n_outer * s->m * l.ldc);
    fill (rand, a, na);
    fill (rand, b, nb);
    fill (rand, got, nc);
    if (l.type_c == NACLIP_DTYPE_BF16) {
      for (gsize i = 0; i < nc; i++)
        got[i] = round_bf16 (got[i]);
    }
    memcpy (want, got, nc * sizeof (float));
    /* the operands as the product sees them; alpha scales their product */
    gboolean bf16 = float_precision (cfg) == NACLIP_PRECISION_BF16;
    ar = bf16 || l.type_a == NACLIP_DTYPE_BF16 ? rounded_copy (a, na)
                                               : g_memdup2 (a, na * 4);
    br = bf16 || l.type_b == NACLIP_DTYPE_BF16 ? rounded_copy (b, nb)
                                               : g_memdup2 (b, nb * 4);
    for (gsize bo = 0; bo < s->n_outer; bo++) {
      for (gsize bi = 0; bi < s->n_inner; bi++) {
        for (gsize i = 0; i < s->m; i++) {
          for (gsize j = 0; j < s->n; j++) {
            double acc = 0.0;
            for (gsize p = 0; p < s->k; p++) {
              float av = a[bo * l.outer_a + bi * l.inner_a + i * l.lda + p];
              gsize bidx = bo * l.outer_b + bi * l.inner_b
                           + (s->trans_b ? j * l.ldb + p : p * l.ldb + j);
              acc += fabs ((double)s->alpha * av * b[bidx]);
            }
            scale[(bo * s->m + i) * l.ldc + bi * l.inner_c + j] = acc;
          }
        }
      }
    }
    ab = bf16_copy (a, na);
    bb = bf16_copy (b, nb);
    cb = bf16_copy (got, nc);
    naclip_matmul_gemm (mm, &l, s->trans_b, s->m, s->n, s->k, s->alpha,
        l.type_a == NACLIP_DTYPE_BF16 ? (const void *)ab : a,
        l.type_b == NACLIP_DTYPE_BF16 ? (const void *)bb : b, s->beta,
        l.type_c == NACLIP_DTYPE_BF16 ? (void *)cb : got);
    if (l.type_c == NACLIP_DTYPE_BF16) {
      g_free (got);
      got = widened_copy (cb, nc);
    }
    NaclipGemmLayout lr = l;
    lr.type_a = lr.type_b = lr.type_c = NACLIP_DTYPE_F32;
    naclip_matmul_gemm_ref (
        &lr, s->trans_b, s->m, s->n, s->k, s->alpha, ar, br, s->beta, want);
    g_autofree char *what = g_strdup_printf (
        "%s gemm %zux%zu batch %zux%zu%s %s %s -> %s", cfg->name, s->m, s->n,
        s->n_outer, s->n_inner, s->trans_b ? " ^T" : "", type_name (l.type_a),
        type_name (l.type_b), type_name (l.type_c));
    check_close (what, got, want, scale, s->n_outer * s->m, l.ldc, l.ldc,
        l.type_c == NACLIP_DTYPE_BF16 ? 1.0 / 256 : 1e-5);
    /* padding columns (scale 0) are untouched */
    for (gsize i = 0; i < nc; i++) {
      if (scale[i] == 0.0)
        g_assert_cmpfloat (got[i], ==, want[i]);
    }
    g_free (got);
  }
  g_rand_free (rand);
out:
  naclip_matmul_free (mm);
  naclip_matmul_cache_free (cache);
}

/* A weight is packed once and then found, by every handle of the cache. */
static void
test_cache_reuse (void)
{
  const Config *cfg = &configs[1];
  NaclipMatmulCache *cache = naclip_matmul_cache_new (NULL, 0);
  NaclipMatmul *mm = new_handle (cache, cfg, 2);
  NaclipMatmul *mm2 = NULL;
  NaclipMatmulCacheStats st;
  if (mm == NULL) {
    naclip_matmul_cache_free (cache);
    return;
  }
  GRand *rand = g_rand_new_with_seed (5);
  gsize m = 10, n = 48, k = 32;
  g_autofree float *x = g_new (float, m *k);
  g_autofree float *w = g_new (float, n *k);
  g_autofree float *w2 = g_new (float, n *k);
  g_autofree float *out = g_new (float, m *n);
  fill (rand, x, m * k);
  fill (rand, w, n * k);
  fill (rand, w2, n * k);
  NaclipLinear lin = { w, NULL, (guint)n, (guint)k };
  NaclipLinear lin2 = { w2, NULL, (guint)n, (guint)k };
  naclip_matmul_linear_post (
      mm, out, n, x, k, &lin, m, NACLIP_MATMUL_POST_NONE);
  naclip_matmul_cache_get_stats (cache, &st);
  g_assert_cmpuint (st.n_packed, ==, 1);
  g_assert_cmpuint (st.n_hits, ==, 0);
  g_assert_cmpuint (st.packed_bytes, >=, n * k * sizeof (float));
  naclip_matmul_linear_post (
      mm, out, n, x, k, &lin, m, NACLIP_MATMUL_POST_NONE);
  mm2 = new_handle (cache, cfg, 1);
  naclip_matmul_linear_post (
      mm2, out, n, x, k, &lin, m, NACLIP_MATMUL_POST_NONE);
  naclip_matmul_cache_get_stats (cache, &st);
  g_assert_cmpuint (st.n_packed, ==, 1);
  g_assert_cmpuint (st.n_hits, ==, 2);
  naclip_matmul_linear_post (
      mm2, out, n, x, k, &lin2, m, NACLIP_MATMUL_POST_NONE);
  naclip_matmul_cache_get_stats (cache, &st);
  g_assert_cmpuint (st.n_packed, ==, 2);
  g_assert_cmpuint (st.released_bytes, ==, 0);
  g_rand_free (rand);
  naclip_matmul_free (mm2);
  naclip_matmul_free (mm);
  naclip_matmul_cache_free (cache);
}

/* Weights read from a file mapping: once packed their pages are given back,
 * and the product is still right (the pages fault back in from the file
 * for the fp32 OpenBLAS handle). */
static void
test_release_mapping (gconstpointer data)
{
  const Config *cfg = data;
  g_autofree char *dir = g_dir_make_tmp ("naclip-matmul-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "w.bin", NULL);
  gsize m = 4, n = 256, k = 96; /* 96 KiB of weights: whole pages inside */
  g_autofree float *w = g_new (float, n *k);
  g_autofree float *x = g_new (float, m *k);
  g_autofree float *got = g_new (float, m *n);
  g_autofree float *want = g_new (float, m *n);
  g_autofree double *scale = g_new0 (double, m *n);
  GRand *rand = g_rand_new_with_seed (77);
  GError *error = NULL;
  NaclipMatmulCacheStats st;
  fill (rand, w, n * k);
  fill (rand, x, m * k);
  g_assert_true (g_file_set_contents (
      path, (const char *)w, (gssize)(n * k * sizeof (float)), &error));
  GMappedFile *mf = g_mapped_file_new (path, FALSE, &error);
  g_assert_no_error (error);
  const float *mw = (const float *)g_mapped_file_get_contents (mf);
  NaclipMatmulCache *cache
      = naclip_matmul_cache_new (mw, g_mapped_file_get_length (mf));
  NaclipMatmul *mm = new_handle (cache, cfg, 2);
  NaclipMatmul *ref = NULL;
  if (mm == NULL)
    goto out;
  NaclipLinear lin = { mw, NULL, (guint)n, (guint)k };
  naclip_matmul_linear_post (
      mm, got, n, x, k, &lin, m, NACLIP_MATMUL_POST_NONE);
  naclip_matmul_cache_get_stats (cache, &st);
  g_assert_cmpuint (st.released_bytes, >, 0);
  g_assert_cmpuint (st.released_bytes, <=, n * k * sizeof (float));
  ref = new_handle (cache, &configs[0], 2);
  naclip_matmul_linear_post (
      ref, want, n, x, k, &lin, m, NACLIP_MATMUL_POST_NONE);
  g_assert_cmpmem (mw, n * k * sizeof (float), w, n * k * sizeof (float));
  for (gsize i = 0; i < m * n; i++)
    scale[i] = 2.0 * k;
  check_close ("after release", got, want, scale, m, n, n,
      cfg->precision == NACLIP_PRECISION_FP32 ? 1e-5 : 1.0 / 128);
out:
  naclip_matmul_free (ref);
  naclip_matmul_free (mm);
  naclip_matmul_cache_free (cache);
  g_mapped_file_unref (mf);
  g_unlink (path);
  g_rmdir (dir);
  g_rand_free (rand);
}

/* The handle's thread count holds during a call and the caller's OpenMP
 * setting is restored after it; 1 and 2 threads give the same numbers. */
static void
test_threads (void)
{
  NaclipMatmulCache *cache = naclip_matmul_cache_new (NULL, 0);
  gsize m = 64, n = 96, k = 80;
  g_autofree float *x = g_new (float, m *k);
  g_autofree float *w = g_new (float, n *k);
  g_autofree float *o1 = g_new (float, m *n);
  g_autofree float *o2 = g_new (float, m *n);
  GRand *rand = g_rand_new_with_seed (3);
  fill (rand, x, m * k);
  fill (rand, w, n * k);
  NaclipLinear lin = { w, NULL, (guint)n, (guint)k };
  omp_set_num_threads (3);
  for (gsize c = 0; c < G_N_ELEMENTS (configs); c++) {
    if (configs[c].backend == NACLIP_MATMUL_BACKEND_DNNL && !HAVE_DNNL)
      continue;
    NaclipPrecision p;
    if (!naclip_precision_resolve (configs[c].precision, &p, NULL))
      continue;
    NaclipMatmul *one = new_handle (cache, &configs[c], 1);
    NaclipMatmul *two = new_handle (cache, &configs[c], 2);
    naclip_matmul_linear_post (
        one, o1, n, x, k, &lin, m, NACLIP_MATMUL_POST_NONE);
    g_assert_cmpint (omp_get_max_threads (), ==, 3);
    naclip_matmul_linear_post (
        two, o2, n, x, k, &lin, m, NACLIP_MATMUL_POST_NONE);
    g_assert_cmpint (omp_get_max_threads (), ==, 3);
    for (gsize i = 0; i < m * n; i++)
      g_assert_cmpfloat_with_epsilon (o1[i], o2[i], 1e-4);
    naclip_matmul_free (one);
    naclip_matmul_free (two);
  }
  omp_set_num_threads (2);
  g_rand_free (rand);
  naclip_matmul_cache_free (cache);
}

/* The int8 reference itself, in every build: within the quantisation
 * bound of fp32 on the shapes of the linear test. */
static void
test_int8_reference (void)
{
  GRand *rand = g_rand_new_with_seed (4321);
  for (gsize t = 0; t < G_N_ELEMENTS (linear_shapes); t++) {
    const LinearShape *s = &linear_shapes[t];
    for (int post = NACLIP_MATMUL_POST_NONE;
         post <= NACLIP_MATMUL_POST_ACCUMULATE; post++) {
      gsize ldx = s->k + s->ldx_pad, ldo = s->n + s->ldo_pad;
      g_autofree float *x = g_new (float, s->m *ldx);
      g_autofree float *w = g_new (float, s->n * s->k);
      g_autofree float *b = g_new (float, s->n);
      g_autofree float *got = g_new (float, s->m *ldo);
      g_autofree float *want = g_new (float, s->m *ldo);
      g_autofree float *exact = g_new (float, s->m *ldo);
      fill (rand, x, s->m * ldx);
      fill (rand, w, s->n * s->k);
      fill (rand, b, s->n);
      fill (rand, got, s->m * ldo);
      memcpy (want, got, s->m * ldo * sizeof (float));
      memcpy (exact, got, s->m * ldo * sizeof (float));
      NaclipLinear lin = { w, b, (guint)s->n, (guint)s->k };
      naclip_matmul_int8_linear_ref (got, ldo, x, ldx, &lin, s->m,
          (NaclipMatmulPost)post, naclip_matmul_int8_weight_max ());
      g_autofree char *what = g_strdup_printf (
          "int8 reference %zux%zux%zu post %d", s->m, s->n, s->k, post);
      check_int8 (what, got, want, exact, x, ldx, &lin, s->m, ldo,
          (NaclipMatmulPost)post, 1e-5);
    }
  }
  g_rand_free (rand);
}

/* Rows at the ends of the u8 range against weights at the ends of the s8
 * one: the pairs of products that a 16-bit kernel would saturate
 * (255 * 127 * 2 > 32767) come out exact, whatever the CPU level. */
static void
test_int8_saturation (void)
{
  const Config *cfg = &configs[3];
  NaclipMatmulCache *cache = naclip_matmul_cache_new (NULL, 0);
  NaclipMatmul *mm = new_handle (cache, cfg, 2);
  gsize m = 4, n = 32, k = 256;
  g_autofree float *x = g_new (float, m *k);
  g_autofree float *w = g_new (float, n *k);
  g_autofree float *got = g_new (float, m *n);
  g_autofree float *want = g_new (float, m *n);
  if (mm == NULL)
    goto out;
  /* x: 0 once, then 1 (q = 255); w: rows of +1 and of -1 (q = +-q_max) */
  for (gsize i = 0; i < m; i++)
    for (gsize j = 0; j < k; j++)
      x[i * k + j] = j == i ? 0.0f : 1.0f;
  for (gsize o = 0; o < n; o++)
    for (gsize j = 0; j < k; j++)
      w[o * k + j] = o % 2 ? -1.0f : 1.0f;
  NaclipLinear lin = { w, NULL, (guint)n, (guint)k };
  naclip_matmul_linear_post (
      mm, got, n, x, k, &lin, m, NACLIP_MATMUL_POST_NONE);
  naclip_matmul_linear_ref (want, n, x, k, &lin, m, NACLIP_MATMUL_POST_NONE);
  /* both operands are exact in int8 here */
  for (gsize i = 0; i < m * n; i++)
    g_assert_cmpfloat_with_epsilon (got[i], want[i], 1e-3);
out:
  naclip_matmul_free (mm);
  naclip_matmul_cache_free (cache);
}

/* The weight quantiser: symmetric per row, half away from zero, the bound
 * reached by each row's largest magnitude, zero rows kept zero. */
static void
test_int8_weights (void)
{
  const float w[3 * 4] = {
    0.5f, -1.0f, 0.25f, 0.0f, /* scale 1/127 */
    0.0f, 0.0f, 0.0f, 0.0f,   /* all zero */
    3.0f, 1.5f, -0.75f, 0.0f, /* 1.5 is half of 3: 63.5 -> 64 */
  };
  NaclipLinear lin = { w, NULL, 3, 4 };
  gint8 wq[12];
  float scale[3], colsum[3];
  naclip_matmul_int8_quantize_weight (&lin, 127, wq, scale, colsum);
  const gint8 want[12] = { 64, -127, 32, 0, 0, 0, 0, 0, 127, 64, -32, 0 };
  g_assert_cmpmem (wq, sizeof wq, want, sizeof want);
  g_assert_cmpfloat (scale[0], ==, 1.0f / 127);
  g_assert_cmpfloat (scale[1], ==, 0.0f);
  g_assert_cmpfloat (scale[2], ==, 3.0f / 127);
  g_assert_cmpfloat (colsum[0], ==, -31.0f);
  g_assert_cmpfloat (colsum[1], ==, 0.0f);
  g_assert_cmpfloat (colsum[2], ==, 159.0f);
  naclip_matmul_int8_quantize_weight (&lin, 63, wq, NULL, NULL);
  g_assert_cmpint (wq[1], ==, -63);
  g_assert_cmpint (wq[8], ==, 63);
}

/* A row holding Inf or NaN gives NaN (as fp32 gives a non-finite row);
 * the other rows are unaffected. */
static void
test_int8_non_finite (void)
{
  NaclipMatmulCache *cache = naclip_matmul_cache_new (NULL, 0);
  NaclipMatmul *mm = new_handle (cache, &configs[3], 2);
  gsize m = 3, n = 8, k = 16;
  float x[3 * 16], w[8 * 16], got[3 * 8], want[3 * 8];
  if (mm == NULL)
    goto out;
  GRand *rand = g_rand_new_with_seed (11);
  fill (rand, x, m * k);
  fill (rand, w, n * k);
  g_rand_free (rand);
  x[k + 3] = INFINITY;
  x[2 * k + 5] = NAN;
  NaclipLinear lin = { w, NULL, (guint)n, (guint)k };
  naclip_matmul_linear_post (
      mm, got, n, x, k, &lin, m, NACLIP_MATMUL_POST_NONE);
  naclip_matmul_int8_linear_ref (want, n, x, k, &lin, m,
      NACLIP_MATMUL_POST_NONE, naclip_matmul_int8_weight_max ());
  for (gsize o = 0; o < n; o++) {
    g_assert_cmpfloat_with_epsilon (got[o], want[o], 1e-4);
    for (gsize i = 1; i < m; i++) {
      g_assert_true (isnan (got[i * n + o]));
      g_assert_true (isnan (want[i * n + o]));
    }
  }
out:
  naclip_matmul_free (mm);
  naclip_matmul_cache_free (cache);
}

/* The activation types change only what is read and how the result is
 * stored: a BF16 x gives what its widening gives, bit for bit, and a BF16
 * output is the F32 one rounded. naclip_matmul_linear_float() is not
 * quantised: it gives what a handle of the float precision gives. */
static void
test_int8_types (void)
{
  NaclipMatmulCache *cache = naclip_matmul_cache_new (NULL, 0);
  NaclipMatmul *mm = new_handle (cache, &configs[3], 2);
  NaclipMatmul *fl = NULL;
  enum
  {
    M = 9,
    N = 24,
    K = 40
  };
  float x[M * K], w[N * K], b[N], got[M * N], want[M * N];
  guint16 xb[M * K], ob[M * N], wantb[M * N];
  if (mm == NULL)
    goto out;
  GRand *rand = g_rand_new_with_seed (21);
  fill (rand, x, M * K);
  fill (rand, w, N * K);
  fill (rand, b, N);
  g_rand_free (rand);
  naclip_ops_to_bf16_ref (xb, K, x, K, M, K);
  naclip_ops_from_bf16 (x, xb, M * K);
  NaclipLinear lin = { w, b, N, K };
  naclip_matmul_linear_typed (mm, got, N, NACLIP_DTYPE_F32, xb, K,
      NACLIP_DTYPE_BF16, &lin, M, NACLIP_MATMUL_POST_QUICK_GELU);
  naclip_matmul_linear_post (
      mm, want, N, x, K, &lin, M, NACLIP_MATMUL_POST_QUICK_GELU);
  g_assert_cmpmem (got, sizeof got, want, sizeof want);
  naclip_matmul_linear_typed (mm, ob, N, NACLIP_DTYPE_BF16, x, K,
      NACLIP_DTYPE_F32, &lin, M, NACLIP_MATMUL_POST_QUICK_GELU);
  naclip_ops_to_bf16_ref (wantb, N, want, N, M, N);
  g_assert_cmpmem (ob, sizeof ob, wantb, sizeof wantb);

  fl = naclip_matmul_new (cache, float_precision (&configs[3]),
      NACLIP_MATMUL_BACKEND_DNNL, 2, NULL);
  g_assert_nonnull (fl);
  naclip_matmul_linear_float (mm, got, N, NACLIP_DTYPE_F32, x, K,
      NACLIP_DTYPE_F32, &lin, M, NACLIP_MATMUL_POST_NONE);
  naclip_matmul_linear_post (
      fl, want, N, x, K, &lin, M, NACLIP_MATMUL_POST_NONE);
  g_assert_cmpmem (got, sizeof got, want, sizeof want);
out:
  naclip_matmul_free (fl);
  naclip_matmul_free (mm);
  naclip_matmul_cache_free (cache);
}

/* naclip_matmul_linears_typed() gives each layer exactly what
 * naclip_matmul_linear_typed() gives it alone (int8: the same quantised
 * rows, product and epilogue; the others: the same calls), for every post,
 * pair of types and layer count, with layers of different widths, one
 * without bias, on a shape small enough to run on one thread and one whose
 * epilogue is split over threads (its rows of all layers in one loop). */
static void
test_linears (gconstpointer data)
{
  const Config *cfg = data;
  NaclipMatmulCache *cache = naclip_matmul_cache_new (NULL, 0);
  NaclipMatmul *mm = new_handle (cache, cfg, 2);
  static const struct
  {
    gsize m, k, n[NACLIP_MATMUL_MAX_LINS];
  } shapes[] = { { 5, 24, { 7, 3, 8 } }, { 197, 64, { 200, 180, 200 } } };
  if (mm == NULL) {
    naclip_matmul_cache_free (cache);
    return;
  }
  GRand *rand = g_rand_new_with_seed (77);
  for (gsize s = 0; s < G_N_ELEMENTS (shapes); s++) {
    gsize m = shapes[s].m, k = shapes[s].k, ldo = 0;
    NaclipLinear lin[NACLIP_MATMUL_MAX_LINS];
    const NaclipLinear *lins[NACLIP_MATMUL_MAX_LINS];
    float *w[NACLIP_MATMUL_MAX_LINS], *b[NACLIP_MATMUL_MAX_LINS];
    for (guint j = 0; j < NACLIP_MATMUL_MAX_LINS; j++)
      ldo = MAX (ldo, shapes[s].n[j] + 3);
    float *x = g_new (float, m *k);
    fill (rand, x, m * k);
    guint16 *xb = g_new (guint16, m * k);
    naclip_ops_to_bf16_ref (xb, k, x, k, m, k);
    for (guint j = 0; j < NACLIP_MATMUL_MAX_LINS; j++) {
      gsize n = shapes[s].n[j];
      w[j] = g_new (float, n *k);
      b[j] = g_new (float, n);
      fill (rand, w[j], n * k);
      fill (rand, b[j], n);
      lin[j] = (NaclipLinear){ w[j], j == 1 ? NULL : b[j], (guint)n, (guint)k };
      lins[j] = &lin[j];
    }
    gsize out_size = m * ldo;
    float *got = g_new (float, NACLIP_MATMUL_MAX_LINS *out_size);
    float *want = g_new (float, NACLIP_MATMUL_MAX_LINS *out_size);
    for (int post = NACLIP_MATMUL_POST_NONE;
         post <= NACLIP_MATMUL_POST_ACCUMULATE; post++) {
      for (guint t = 0; t < 4; t++) {
        NaclipDtype xt = t & 1 ? NACLIP_DTYPE_BF16 : NACLIP_DTYPE_F32;
        NaclipDtype ot = t & 2 ? NACLIP_DTYPE_BF16 : NACLIP_DTYPE_F32;
        if (ot == NACLIP_DTYPE_BF16 && post == NACLIP_MATMUL_POST_ACCUMULATE)
          continue;
        const void *xin = xt == NACLIP_DTYPE_BF16 ? (const void *)xb : x;
        for (guint n_lins = 1; n_lins <= NACLIP_MATMUL_MAX_LINS; n_lins++) {
          void *outs[NACLIP_MATMUL_MAX_LINS];
          /* the same start (a residual, or what must be overwritten) */
          fill (rand, got, NACLIP_MATMUL_MAX_LINS * out_size);
          memcpy (want, got, NACLIP_MATMUL_MAX_LINS * out_size * sizeof *got);
          for (guint j = 0; j < n_lins; j++) {
            outs[j] = got + j * out_size;
            naclip_matmul_linear_typed (mm, want + j * out_size, ldo, ot, xin,
                k, xt, lins[j], m, (NaclipMatmulPost)post);
          }
          naclip_matmul_linears_typed (mm, n_lins, lins, outs, ldo, ot, xin, k,
              xt, m, (NaclipMatmulPost)post);
          g_assert_cmpmem (got, NACLIP_MATMUL_MAX_LINS * out_size * sizeof *got,
              want, NACLIP_MATMUL_MAX_LINS * out_size * sizeof *want);
        }
      }
    }
    for (guint j = 0; j < NACLIP_MATMUL_MAX_LINS; j++) {
      g_free (w[j]);
      g_free (b[j]);
    }
    g_free (got);
    g_free (want);
    g_free (xb);
    g_free (x);
  }
  g_rand_free (rand);
  naclip_matmul_free (mm);
  naclip_matmul_cache_free (cache);
}

static void
test_precision_resolve (void)
{
  NaclipPrecision p = NACLIP_PRECISION_AUTO, auto_p = NACLIP_PRECISION_AUTO;
  GError *error = NULL;
  g_assert_true (naclip_precision_resolve (NACLIP_PRECISION_FP32, &p, NULL));
  g_assert_cmpint (p, ==, NACLIP_PRECISION_FP32);
  g_assert_true (
      naclip_precision_resolve (NACLIP_PRECISION_AUTO, &auto_p, NULL));
  g_assert_cmpint (auto_p, !=, NACLIP_PRECISION_AUTO);
  gboolean bf16 = naclip_precision_resolve (NACLIP_PRECISION_BF16, &p, &error);
  /* AUTO is bf16 exactly when bf16 is available */
  g_assert_cmpint (bf16, ==, auto_p == NACLIP_PRECISION_BF16);
  if (bf16) {
    g_assert_no_error (error);
    g_assert_true (HAVE_DNNL);
  } else {
    g_assert_error (error, NACLIP_ERROR, NACLIP_ERROR_UNSUPPORTED);
    g_test_message ("bf16 unavailable: %s", error->message);
    g_clear_error (&error);
  }
  g_autofree char *desc = naclip_precision_describe ();
  g_test_message ("%s", desc);
  g_assert_true (g_str_has_prefix (desc, naclip_precision_to_string (auto_p)));
  /* int8 is opt-in: available with oneDNN, never what auto means */
  gboolean int8 = naclip_precision_resolve (NACLIP_PRECISION_INT8, &p, &error);
  if (int8) {
    g_assert_cmpint (p, ==, NACLIP_PRECISION_INT8);
    g_assert_true (HAVE_DNNL);
  } else {
    g_assert_error (error, NACLIP_ERROR, NACLIP_ERROR_UNSUPPORTED);
    g_test_message ("int8 unavailable: %s", error->message);
    g_clear_error (&error);
  }
  g_assert_cmpint (auto_p, !=, NACLIP_PRECISION_INT8);
  /* the OpenMP variant of OpenBLAS is the one loaded when it was built */
  if (HAVE_OPENBLAS_OPENMP)
    g_assert_cmpint (openblas_get_parallel (), ==, 2);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  for (gsize c = 0; c < G_N_ELEMENTS (configs); c++) {
    g_autofree char *p1
        = g_strdup_printf ("/matmul/linear/%s", configs[c].name);
    g_autofree char *p2 = g_strdup_printf ("/matmul/gemm/%s", configs[c].name);
    g_test_add_data_func (p1, &configs[c], test_linear);
    g_test_add_data_func (p2, &configs[c], test_gemm);
    g_autofree char *p3
        = g_strdup_printf ("/matmul/linears/%s", configs[c].name);
    g_test_add_data_func (p3, &configs[c], test_linears);
  }
  g_test_add_data_func (
      "/matmul/release/onednn-fp32", &configs[1], test_release_mapping);
  g_test_add_data_func (
      "/matmul/release/onednn-bf16", &configs[2], test_release_mapping);
  g_test_add_data_func (
      "/matmul/release/onednn-int8", &configs[3], test_release_mapping);
  g_test_add_func ("/matmul/int8/reference", test_int8_reference);
  g_test_add_func ("/matmul/int8/saturation", test_int8_saturation);
  g_test_add_func ("/matmul/int8/weights", test_int8_weights);
  g_test_add_func ("/matmul/int8/non-finite", test_int8_non_finite);
  g_test_add_func ("/matmul/int8/types", test_int8_types);
  g_test_add_func ("/matmul/cache-reuse", test_cache_reuse);
  g_test_add_func ("/matmul/threads", test_threads);
  g_test_add_func ("/matmul/precision-resolve", test_precision_resolve);
  return g_test_run ();
}
