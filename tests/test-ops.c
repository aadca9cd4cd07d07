/* test-ops.c: the kernels of ops.c against their *_ref twins and closed
 * forms, and transformer.c's block against a naive loop implementation.
 *
 * Tolerances: optimised vs ref kernels within 2e-6 relative (+1e-7
 * absolute), 3e-6 for the activations, 1e-5 for layer norm (float vs
 * double accumulation); the block within 2e-5 absolute (+2e-6 relative)
 * of the naive double-precision version. */

#include <math.h>
#include <string.h>

#include "naclip-private.h"
#include "pyhelper.h"

static float *
random_floats (GRand *rand, gsize n, double lo, double hi)
{
  float *x = g_new (float, n);
  for (gsize i = 0; i < n; i++)
    x[i] = (float)g_rand_double_range (rand, lo, hi);
  return x;
}

/* @got (n bf16) is @want (n floats) rounded, give or take one bf16 ulp
 * (the typed kernels round their own f32 result, whose last bits may
 * differ from the f32 kernel's). */
static void
assert_bf16_close (const char *what, const guint16 *got, gsize ld_got,
    const float *want, gsize ld_want, gsize rows, gsize cols)
{
  guint16 *w = g_new (guint16, rows * cols);
  naclip_ops_to_bf16_ref (w, cols, want, ld_want, rows, cols);
  for (gsize r = 0; r < rows; r++) {
    for (gsize j = 0; j < cols; j++) {
      int d = (int)got[r * ld_got + j] - (int)w[r * cols + j];
      if (d < -1 || d > 1) {
        g_printerr ("%s [%zu, %zu]: got 0x%04x want 0x%04x\n", what, r, j,
            got[r * ld_got + j], w[r * cols + j]);
        g_test_fail ();
        goto out;
      }
    }
  }
out:
  g_free (w);
}

static void
test_layer_norm (void)
{
  GRand *rand = g_rand_new_with_seed (1);
  const guint widths[] = { 1, 7, 64, 768 };
  for (guint t = 0; t < G_N_ELEMENTS (widths); t++) {
    guint width = widths[t];
    /* 701 x 768 is enough work for two threads */
    gsize rows = width == 768 ? 701 : 301;
    float *x = random_floats (rand, rows * width, -3.0, 5.0);
    float *w = random_floats (rand, width, 0.5, 1.5);
    float *b = random_floats (rand, width, -1.0, 1.0);
    float *out = g_new (float, rows *width);
    float *ref = g_new (float, rows *width);
    NaclipNorm norm = { w, b };
    naclip_ops_layer_norm (out, x, &norm, rows, width, 1e-5f, 2);
    naclip_ops_layer_norm_ref (ref, x, &norm, rows, width, 1e-5f);
    pyhelper_assert_close (
        "layer_norm vs ref", out, ref, rows * width, 1e-5, 1e-5);
    /* bf16 is the f32 result rounded */
    guint16 *h = g_new (guint16, rows * width);
    naclip_ops_layer_norm_typed (
        h, NACLIP_DTYPE_BF16, x, &norm, rows, width, 1e-5f, 2);
    assert_bf16_close ("layer_norm bf16", h, width, out, width, rows, width);
    g_free (h);
    /* in place gives the same */
    naclip_ops_layer_norm (x, x, &norm, rows, width, 1e-5f, 2);
    pyhelper_assert_close (
        "layer_norm in place", x, out, rows * width, 0.0, 0.0);
    g_free (x);
    g_free (w);
    g_free (b);
    g_free (out);
    g_free (ref);
  }
  g_rand_free (rand);

  /* closed form: (1, 2, 3, 4) has mean 2.5, variance 1.25 */
  float x[4] = { 1, 2, 3, 4 }, w[4] = { 1, 1, 2, 1 }, b[4] = { 0, 0, 0, 1 };
  float out[4];
  NaclipNorm norm = { w, b };
  naclip_ops_layer_norm (out, x, &norm, 1, 4, 0.0f, 1);
  float s = 1.0f / sqrtf (1.25f);
  float expected[4] = { -1.5f * s, -0.5f * s, 2.0f * 0.5f * s, 1.5f * s + 1 };
  pyhelper_assert_close ("layer_norm closed form", out, expected, 4, 1e-6, 0.0);
}

static void
test_softmax (void)
{
  GRand *rand = g_rand_new_with_seed (2);
  const gsize cols[] = { 1, 3, 17, 197, 589 };
  for (guint t = 0; t < G_N_ELEMENTS (cols); t++) {
    gsize n = cols[t], ld = n + 3, rows = 250; /* 589: two threads */
    float *x = random_floats (rand, rows * ld, -30.0, 30.0);
    float *ref = g_memdup2 (x, rows * ld * sizeof (float));
    naclip_ops_softmax_rows (x, rows, n, ld, 2);
    naclip_ops_softmax_rows_ref (ref, rows, n, ld);
    /* padding columns untouched, values close */
    pyhelper_assert_close ("softmax vs ref", x, ref, rows * ld, 1e-9, 2e-6);
    for (gsize r = 0; r < rows; r++) {
      double sum = 0.0;
      for (gsize i = 0; i < n; i++)
        sum += x[r * ld + i];
      g_assert_cmpfloat_with_epsilon (sum, 1.0, 1e-5);
    }
    g_free (x);
    g_free (ref);
  }
  g_rand_free (rand);

  /* closed forms: (0, ln 2) -> (1/3, 2/3); a constant row is uniform;
   * -100 below the max underflows to (almost) 0 */
  float a[2] = { 0.0f, logf (2.0f) };
  naclip_ops_softmax_rows (a, 1, 2, 2, 1);
  float ea[2] = { 1.0f / 3, 2.0f / 3 };
  pyhelper_assert_close ("softmax (0, ln 2)", a, ea, 2, 1e-7, 0.0);
  float c[5] = { 7, 7, 7, 7, 7 };
  naclip_ops_softmax_rows (c, 1, 5, 5, 1);
  float ec[5] = { 0.2f, 0.2f, 0.2f, 0.2f, 0.2f };
  pyhelper_assert_close ("softmax constant", c, ec, 5, 1e-7, 0.0);
  float u[2] = { 0.0f, -100.0f };
  naclip_ops_softmax_rows (u, 1, 2, 2, 1);
  float eu[2] = { 1.0f, 0.0f };
  pyhelper_assert_close ("softmax underflow", u, eu, 2, 1e-30, 0.0);

  /* non-finite rows (bad-input row F03): no NaN */
  float inf_row[4] = { 1.0f, INFINITY, -INFINITY, INFINITY };
  float inf_ref[4];
  memcpy (inf_ref, inf_row, sizeof inf_row);
  naclip_ops_softmax_rows (inf_row, 1, 4, 4, 1);
  naclip_ops_softmax_rows_ref (inf_ref, 1, 4, 4);
  float e_inf[4] = { 0.0f, 0.5f, 0.0f, 0.5f };
  pyhelper_assert_close ("softmax +inf", inf_row, e_inf, 4, 0.0, 0.0);
  pyhelper_assert_close ("softmax_ref +inf", inf_ref, e_inf, 4, 0.0, 0.0);
  float ninf[3] = { -INFINITY, -INFINITY, -INFINITY };
  naclip_ops_softmax_rows (ninf, 1, 3, 3, 1);
  float e_ninf[3] = { 1.0f / 3, 1.0f / 3, 1.0f / 3 };
  pyhelper_assert_close ("softmax all -inf", ninf, e_ninf, 3, 0.0, 0.0);
}

static void
test_activation (void)
{
  GRand *rand = g_rand_new_with_seed (3);
  gsize n = 150001; /* enough work for two threads */
  const NaclipActivation acts[]
      = { NACLIP_ACTIVATION_QUICK_GELU, NACLIP_ACTIVATION_GELU };
  for (guint t = 0; t < G_N_ELEMENTS (acts); t++) {
    float *x = random_floats (rand, n, -60.0, 60.0);
    float *ref = g_memdup2 (x, n * sizeof (float));
    naclip_ops_activation (x, n, acts[t], 2);
    naclip_ops_activation_ref (ref, n, acts[t]);
    /* absolute 1e-7: the erfc argument is rounded to float in the kernel,
     * which moves tiny negative-side values by a few ppm */
    pyhelper_assert_close ("activation vs ref", x, ref, n, 1e-7, 3e-6);
    g_free (x);
    g_free (ref);
  }
  g_rand_free (rand);

  float q[4] = { 0.0f, 1.0f, -1.0f, 30.0f };
  naclip_ops_activation (q, 4, NACLIP_ACTIVATION_QUICK_GELU, 1);
  float s = 1.0f / (1.0f + expf (-1.702f));
  float eq[4] = { 0.0f, s, -(1.0f - s), 30.0f };
  pyhelper_assert_close ("quick_gelu closed form", q, eq, 4, 1e-7, 1e-6);
  float g[3] = { 0.0f, 1.0f, -1.0f };
  naclip_ops_activation (g, 3, NACLIP_ACTIVATION_GELU, 1);
  float eg[3] = { 0.0f, 0.841344746f, -0.158655254f };
  pyhelper_assert_close ("gelu closed form", g, eg, 3, 1e-7, 1e-6);
}

static void
test_l2_normalize (void)
{
  GRand *rand = g_rand_new_with_seed (4);
  gsize rows = 2801; /* enough work for two threads */
  guint dim = 512;
  float *x = random_floats (rand, rows * dim, -2.0, 2.0);
  float *ref = g_memdup2 (x, rows * dim * sizeof (float));
  naclip_ops_l2_normalize_rows (x, rows, dim, 1e-12f, 2);
  naclip_ops_l2_normalize_rows_ref (ref, rows, dim, 1e-12f);
  pyhelper_assert_close ("l2_normalize vs ref", x, ref, rows * dim, 1e-7, 1e-6);
  g_free (x);
  g_free (ref);
  g_rand_free (rand);

  /* (3, 4) -> (0.6, 0.8); a zero row stays zero (bad-input row F04) */
  float v[4] = { 3.0f, 4.0f, 0.0f, 0.0f };
  naclip_ops_l2_normalize_rows (v, 2, 2, 1e-12f, 1);
  float ev[4] = { 0.6f, 0.8f, 0.0f, 0.0f };
  pyhelper_assert_close ("l2_normalize closed form", v, ev, 4, 1e-7, 0.0);
}

static void
test_add (void)
{
  GRand *rand = g_rand_new_with_seed (5);
  gsize n = 4194305; /* enough work for two threads */
  float *x = random_floats (rand, n, -1.0, 1.0);
  float *y = random_floats (rand, n, -1.0, 1.0);
  float *ref = g_memdup2 (x, n * sizeof (float));
  naclip_ops_add (x, y, n, 2);
  naclip_ops_add_ref (ref, y, n);
  pyhelper_assert_close ("add vs ref", x, ref, n, 0.0, 0.0);
  g_assert_cmpfloat (x[0], !=, ref[0] - y[0]);
  g_free (x);
  g_free (y);
  g_free (ref);
  g_rand_free (rand);
}

/* f32 -> bf16 equals its reference bit for bit, on random values, ties,
 * infinities, NaN and denormals, and bf16 -> f32 is exact. */
static void
test_bf16 (void)
{
  GRand *rand = g_rand_new_with_seed (6);
  /* 2.1 M floats: enough work for two threads */
  gsize rows = 2100, cols = 1003, ldx = cols + 5, ldo = cols + 3;
  float *x = random_floats (rand, rows * ldx, -1e3, 1e3);
  const float special[] = { 0.0f, -0.0f, INFINITY, -INFINITY, NAN, -NAN, 1e-40f,
    -1e-40f, 1.17549421e-38f, 3.4028235e38f, 1.00390625f, 1.01171875f,
    -1.00390625f, 65504.0f };
  for (gsize i = 0; i < G_N_ELEMENTS (special); i++)
    x[i * 7] = special[i];
  for (gsize i = 0; i < rows * ldx; i += 11) {
    /* a tie: the low 16 bits are exactly 0x8000 */
    guint32 u;
    memcpy (&u, &x[i], 4);
    u = (u & 0xffff0000u) | 0x8000u;
    memcpy (&x[i], &u, 4);
  }
  guint16 *got = g_new (guint16, rows * ldo);
  guint16 *want = g_new (guint16, rows * ldo);
  for (gsize i = 0; i < rows * ldo; i++)
    got[i] = want[i] = 0xabcd;
  naclip_ops_to_bf16 (got, ldo, x, ldx, rows, cols, 2);
  naclip_ops_to_bf16_ref (want, ldo, x, ldx, rows, cols);
  for (gsize r = 0; r < rows; r++) {
    for (gsize j = 0; j < ldo; j++) {
      guint16 g = got[r * ldo + j], w = want[r * ldo + j];
      /* AVX512-BF16 reads a denormal as 0 (naclip-private.h) */
      if (j < cols && g != w && fpclassify (x[r * ldx + j]) == FP_SUBNORMAL)
        g_assert_cmpuint (g & 0x7fff, ==, 0);
      else
        g_assert_cmpuint (g, ==, w);
    }
  }
  /* closed forms: nearest even, NaN quiet */
  g_assert_cmpuint (want[7 * 10], ==, 0x3f80); /* 1.00390625: tie, even */
  g_assert_cmpuint (want[7 * 11], ==, 0x3f82); /* 1.01171875: tie, up */
  g_assert_cmpuint (want[7 * 4] & 0x7fc0, ==, 0x7fc0);
  g_assert_cmpuint (want[7 * 2], ==, 0x7f80);
  float back[4];
  guint16 bits[4] = { 0x3f80, 0xc000, 0x7f80, 0x0001 };
  naclip_ops_from_bf16 (back, bits, 4);
  g_assert_cmpfloat (back[0], ==, 1.0f);
  g_assert_cmpfloat (back[1], ==, -2.0f);
  g_assert_cmpfloat (back[2], ==, INFINITY);
  g_assert_cmpfloat (back[3], ==, 9.18354962e-41f);
  g_free (x);
  g_free (got);
  g_free (want);
  g_rand_free (rand);
}

/* Softmax writing bf16 rounds what it would write as f32, in place over
 * the f32 rows as into dense rows of its own; the causal softmax is the
 * softmax of each row's prefix. */
static void
test_softmax_typed (void)
{
  GRand *rand = g_rand_new_with_seed (7);
  /* softmax: 3 square matrices of n, rows padded to ld */
  const gsize sizes[] = { 1, 5, 16, 197, 300 }; /* 300: two threads */
  for (guint t = 0; t < G_N_ELEMENTS (sizes); t++) {
    gsize n = sizes[t], ld = n + 3, n_rows = 3 * n;
    float *s = random_floats (rand, n_rows * ld, -20.0, 20.0);
    float *ref = g_memdup2 (s, n_rows * ld * sizeof (float));
    float *bf = g_memdup2 (s, n_rows * ld * sizeof (float));
    float *causal = g_memdup2 (s, n_rows * ld * sizeof (float));
    float *causal_bf = g_memdup2 (s, n_rows * ld * sizeof (float));
    float *dense_in = g_memdup2 (s, n_rows * ld * sizeof (float));
    guint16 *dense = g_new (guint16, n_rows * n);
    naclip_ops_softmax_rows_ref (ref, n_rows, n, ld);
    naclip_ops_softmax_rows_typed (
        bf, ld, NACLIP_DTYPE_BF16, bf, 2 * ld, n_rows, n, FALSE, 2);
    assert_bf16_close (
        "softmax bf16", (guint16 *)bf, 2 * ld, ref, ld, n_rows, n);
    naclip_ops_softmax_rows_typed (
        dense_in, ld, NACLIP_DTYPE_BF16, dense, n, n_rows, n, FALSE, 2);
    assert_bf16_close ("softmax bf16 dense", dense, n, ref, ld, n_rows, n);
    /* the causal reference: each row's prefix, zeros after it */
    for (gsize r = 0; r < n_rows; r++) {
      gsize valid = r % n + 1;
      naclip_ops_softmax_rows_ref (s + r * ld, 1, valid, ld);
      memset (s + r * ld + valid, 0, (n - valid) * sizeof (float));
    }
    naclip_ops_softmax_rows_typed (
        causal, ld, NACLIP_DTYPE_F32, causal, ld, n_rows, n, TRUE, 2);
    for (gsize r = 0; r < n_rows; r++)
      pyhelper_assert_close (
          "softmax causal", causal + r * ld, s + r * ld, n, 1e-9, 2e-6);
    naclip_ops_softmax_rows_typed (causal_bf, ld, NACLIP_DTYPE_BF16, causal_bf,
        2 * ld, n_rows, n, TRUE, 2);
    assert_bf16_close (
        "softmax causal bf16", (guint16 *)causal_bf, 2 * ld, s, ld, n_rows, n);
    g_free (s);
    g_free (ref);
    g_free (bf);
    g_free (causal);
    g_free (causal_bf);
    g_free (dense_in);
    g_free (dense);
  }
  g_rand_free (rand);
}

/* ------------------------------------------------------------------ */
/* The block against a naive double-precision implementation           */

typedef struct
{
  NaclipBlock block;
  NaclipTowerInfo info;
  GPtrArray *owned;
} RandomBlock;

static const float *
random_param (RandomBlock *rb, GRand *rand, gsize n, double lo, double hi)
{
  float *p = random_floats (rand, n, lo, hi);
  g_ptr_array_add (rb->owned, p);
  return p;
}

static void
random_linear (
    RandomBlock *rb, GRand *rand, NaclipLinear *lin, guint n_out, guint n_in)
{
  double bound = 1.0 / sqrt (n_in);
  lin->weight = random_param (rb, rand, (gsize)n_out * n_in, -bound, bound);
  lin->bias = random_param (rb, rand, n_out, -0.1, 0.1);
  lin->n_out = n_out;
  lin->n_in = n_in;
}

static void
random_block_init (RandomBlock *rb, GRand *rand, guint width, guint n_heads,
    guint mlp_width, NaclipActivation act)
{
  memset (rb, 0, sizeof *rb);
  rb->owned = g_ptr_array_new_with_free_func (g_free);
  rb->info.width = width;
  rb->info.n_heads = n_heads;
  rb->info.mlp_width = mlp_width;
  rb->info.n_layers = 1;
  rb->info.activation = act;
  rb->info.layer_norm_eps = 1e-5f;
  NaclipBlock *b = &rb->block;
  b->ln_1.weight = random_param (rb, rand, width, 0.5, 1.5);
  b->ln_1.bias = random_param (rb, rand, width, -0.2, 0.2);
  b->ln_2.weight = random_param (rb, rand, width, 0.5, 1.5);
  b->ln_2.bias = random_param (rb, rand, width, -0.2, 0.2);
  random_linear (rb, rand, &b->q, width, width);
  random_linear (rb, rand, &b->k, width, width);
  random_linear (rb, rand, &b->v, width, width);
  random_linear (rb, rand, &b->out, width, width);
  random_linear (rb, rand, &b->fc1, mlp_width, width);
  random_linear (rb, rand, &b->fc2, width, mlp_width);
}

static void
naive_layer_norm (double *out, const double *x, const NaclipNorm *n, gsize rows,
    guint width, double eps)
{
  for (gsize r = 0; r < rows; r++) {
    double mean = 0, var = 0;
    for (guint i = 0; i < width; i++)
      mean += x[r * width + i] / width;
    for (guint i = 0; i < width; i++)
      var += pow (x[r * width + i] - mean, 2) / width;
    for (guint i = 0; i < width; i++)
      out[r * width + i]
          = (x[r * width + i] - mean) / sqrt (var + eps) * n->weight[i]
            + n->bias[i];
  }
}

static void
naive_linear (double *out, const double *x, const NaclipLinear *lin, gsize rows)
{
  for (gsize r = 0; r < rows; r++)
    for (guint o = 0; o < lin->n_out; o++) {
      double s = lin->bias[o];
      for (guint i = 0; i < lin->n_in; i++)
        s += x[r * lin->n_in + i] * lin->weight[(gsize)o * lin->n_in + i];
      out[r * lin->n_out + o] = s;
    }
}

static void
naive_block (
    const RandomBlock *rb, double *x, gsize n_seq, gsize n_tok, gboolean causal)
{
  guint d = rb->info.width, nh = rb->info.n_heads, hd = d / nh;
  guint mw = rb->info.mlp_width;
  gsize rows = n_seq * n_tok;
  double *ln = g_new (double, rows *d), *q = g_new (double, rows *d);
  double *k = g_new (double, rows *d), *v = g_new (double, rows *d);
  double *ctx = g_new0 (double, rows *d), *o = g_new (double, rows *d);
  double *hid = g_new (double, rows *mw), *p = g_new (double, n_tok);

  naive_layer_norm (ln, x, &rb->block.ln_1, rows, d, 1e-5);
  naive_linear (q, ln, &rb->block.q, rows);
  naive_linear (k, ln, &rb->block.k, rows);
  naive_linear (v, ln, &rb->block.v, rows);
  for (gsize s = 0; s < n_seq; s++)
    for (guint h = 0; h < nh; h++)
      for (gsize i = 0; i < n_tok; i++) {
        gsize n_keys = causal ? i + 1 : n_tok;
        double max = -INFINITY, sum = 0;
        for (gsize j = 0; j < n_keys; j++) {
          double dot = 0;
          for (guint c = 0; c < hd; c++)
            dot += q[(s * n_tok + i) * d + h * hd + c]
                   * k[(s * n_tok + j) * d + h * hd + c];
          p[j] = dot / sqrt (hd);
          max = fmax (max, p[j]);
        }
        for (gsize j = 0; j < n_keys; j++)
          sum += (p[j] = exp (p[j] - max));
        for (gsize j = 0; j < n_keys; j++)
          for (guint c = 0; c < hd; c++)
            ctx[(s * n_tok + i) * d + h * hd + c]
                += p[j] / sum * v[(s * n_tok + j) * d + h * hd + c];
      }
  naive_linear (o, ctx, &rb->block.out, rows);
  for (gsize i = 0; i < rows * d; i++)
    x[i] += o[i];
  naive_layer_norm (ln, x, &rb->block.ln_2, rows, d, 1e-5);
  naive_linear (hid, ln, &rb->block.fc1, rows);
  for (gsize i = 0; i < rows * mw; i++)
    hid[i] = rb->info.activation == NACLIP_ACTIVATION_QUICK_GELU
                 ? hid[i] / (1 + exp (-1.702 * hid[i]))
                 : 0.5 * hid[i] * (1 + erf (hid[i] / sqrt (2)));
  naive_linear (o, hid, &rb->block.fc2, rows);
  for (gsize i = 0; i < rows * d; i++)
    x[i] += o[i];
  g_free (ln);
  g_free (q);
  g_free (k);
  g_free (v);
  g_free (ctx);
  g_free (o);
  g_free (hid);
  g_free (p);
}

static void
check_block (guint width, guint n_heads, guint mlp_width, NaclipActivation act,
    gsize n_seq, gsize n_tok, gboolean causal, guint seed)
{
  GRand *rand = g_rand_new_with_seed (seed);
  RandomBlock rb;
  random_block_init (&rb, rand, width, n_heads, mlp_width, act);
  gsize n = n_seq * n_tok * width;
  float *x = random_floats (rand, n, -2.0, 2.0);
  double *xd = g_new (double, n);
  float *expected = g_new (float, n);
  for (gsize i = 0; i < n; i++)
    xd[i] = x[i];
  gsize scratch_floats
      = naclip_transformer_scratch_size (&rb.info, n_seq, n_tok);
  /* poison the scratch: the block must not read what it did not write */
  float *scratch = g_new (float, scratch_floats);
  for (gsize i = 0; i < scratch_floats; i++)
    scratch[i] = NAN;

  NaclipMatmulCache *cache = naclip_matmul_cache_new (NULL, 0);
  NaclipMatmul *mm = naclip_matmul_new (
      cache, NACLIP_PRECISION_FP32, NACLIP_MATMUL_BACKEND_AUTO, 2, NULL);
  naclip_transformer_block (
      mm, &rb.block, &rb.info, x, n_seq, n_tok, causal, scratch);
  naclip_matmul_free (mm);
  naclip_matmul_cache_free (cache);
  naive_block (&rb, xd, n_seq, n_tok, causal);
  for (gsize i = 0; i < n; i++)
    expected[i] = (float)xd[i];
  pyhelper_assert_close (
      "transformer block vs naive", x, expected, n, 2e-5, 2e-6);

  g_free (x);
  g_free (xd);
  g_free (expected);
  g_free (scratch);
  g_ptr_array_unref (rb.owned);
  g_rand_free (rand);
}

static void
test_block (void)
{
  check_block (32, 4, 128, NACLIP_ACTIVATION_QUICK_GELU, 2, 17, FALSE, 10);
  check_block (48, 3, 96, NACLIP_ACTIVATION_GELU, 1, 5, FALSE, 11);
}

static void
test_block_causal (void)
{
  check_block (32, 2, 128, NACLIP_ACTIVATION_QUICK_GELU, 3, 9, TRUE, 12);
  check_block (64, 1, 64, NACLIP_ACTIVATION_QUICK_GELU, 1, 1, TRUE, 13);
}

/* With the causal mask, the first tokens of a sequence do not depend on
 * the tokens after them (the text tower relies on it to stop at the last
 * end token). */
static void
test_block_causal_prefix (void)
{
  GRand *rand = g_rand_new_with_seed (14);
  RandomBlock rb;
  random_block_init (&rb, rand, 32, 2, 64, NACLIP_ACTIVATION_QUICK_GELU);
  gsize n_tok = 12, n_prefix = 5, width = 32;
  float *x = random_floats (rand, n_tok * width, -2.0, 2.0);
  float *prefix = g_memdup2 (x, n_prefix * width * sizeof (float));
  float *scratch
      = g_new (float, naclip_transformer_scratch_size (&rb.info, 1, n_tok));
  NaclipMatmulCache *cache = naclip_matmul_cache_new (NULL, 0);
  NaclipMatmul *mm = naclip_matmul_new (
      cache, NACLIP_PRECISION_FP32, NACLIP_MATMUL_BACKEND_AUTO, 2, NULL);
  naclip_transformer_block (
      mm, &rb.block, &rb.info, x, 1, n_tok, TRUE, scratch);
  naclip_transformer_block (
      mm, &rb.block, &rb.info, prefix, 1, n_prefix, TRUE, scratch);
  naclip_matmul_free (mm);
  naclip_matmul_cache_free (cache);
  pyhelper_assert_close (
      "causal prefix", prefix, x, n_prefix * width, 1e-6, 1e-6);
  g_free (x);
  g_free (prefix);
  g_free (scratch);
  g_ptr_array_unref (rb.owned);
  g_rand_free (rand);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/ops/layer-norm", test_layer_norm);
  g_test_add_func ("/ops/softmax", test_softmax);
  g_test_add_func ("/ops/activation", test_activation);
  g_test_add_func ("/ops/l2-normalize", test_l2_normalize);
  g_test_add_func ("/ops/add", test_add);
  g_test_add_func ("/ops/bf16", test_bf16);
  g_test_add_func ("/ops/softmax-typed", test_softmax_typed);
  g_test_add_func ("/transformer/block", test_block);
  g_test_add_func ("/transformer/block-causal", test_block_causal);
  g_test_add_func (
      "/transformer/block-causal-prefix", test_block_causal_prefix);
  return g_test_run ();
}
