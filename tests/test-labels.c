/* test-labels.c: the label rule, the smoothing of probabilities over time
 * and the statistics of label maps (src/labels.c). Expected values are
 * worked out by hand in each test, except for the vector kernel of the
 * labels of a frame, compared with its plain-C twin. */

#include <math.h>
#include <string.h>

#include "naclip-private.h"

/* One pixel's probabilities, contiguous or strided. */
static void
test_pick_first_maximum (void)
{
  const float equal[] = { 0.2f, 0.4f, 0.4f, 0.0f };
  const float strided[] = { 0.1f, -1.0f, 0.7f, -1.0f, 0.2f, -1.0f };

  g_assert_cmpuint (naclip_probs_pick_label (equal, 4, 1, 0.0f), ==, 1);
  g_assert_cmpuint (naclip_probs_pick_label (strided, 3, 2, 0.0f), ==, 1);
  g_assert_cmpuint (naclip_probs_pick_label (equal, 1, 1, 0.0f), ==, 0);
}

/* Below the threshold: label 0; at it: kept. */
static void
test_pick_threshold (void)
{
  const float p[] = { 0.1f, 0.3f, 0.6f };

  g_assert_cmpuint (naclip_probs_pick_label (p, 3, 1, 0.6f), ==, 2);
  g_assert_cmpuint (naclip_probs_pick_label (p, 3, 1, 0.61f), ==, 0);
}

/* NaN never wins, wherever it stands, and a pixel without a number gets
 * 0 whatever the threshold. */
static void
test_pick_nan (void)
{
  const float bg_nan[] = { NAN, 0.2f, 0.5f };
  const float class_nan[] = { 0.3f, NAN, 0.2f };
  const float last_nan[] = { 0.1f, 0.2f, NAN };
  const float all_nan[] = { NAN, NAN, NAN };

  g_assert_cmpuint (naclip_probs_pick_label (bg_nan, 3, 1, 0.0f), ==, 2);
  g_assert_cmpuint (naclip_probs_pick_label (bg_nan, 3, 1, 0.6f), ==, 0);
  g_assert_cmpuint (naclip_probs_pick_label (class_nan, 3, 1, 0.0f), ==, 0);
  g_assert_cmpuint (naclip_probs_pick_label (last_nan, 3, 1, 0.0f), ==, 1);
  g_assert_cmpuint (naclip_probs_pick_label (all_nan, 3, 1, 0.0f), ==, 0);
  g_assert_cmpuint (naclip_probs_pick_label (all_nan, 3, 1, -1.0f), ==, 0);
}

/* A 3x2 map of 3 labels into rows of 5 bytes: each pixel's label, the
 * padding untouched. */
static void
test_to_labels (void)
{
  /* planes: background, class 1, class 2; pixels in row order */
  const float probs[3 * 6] = {
    0.5f, 0.1f, 0.2f, NAN, 0.3f, 0.3f,  /* background */
    0.2f, 0.8f, 0.2f, 0.4f, 0.3f, 0.1f, /* class 1 */
    0.3f, 0.1f, 0.6f, 0.5f, 0.3f, 0.1f, /* class 2 */
  };
  const guint8 want[2][5]
      = { { 0, 1, 2, 0xEE, 0xEE }, { 2, 0, 0, 0xEE, 0xEE } };
  const guint8 want_thd[2][5]
      = { { 0, 1, 2, 0xEE, 0xEE }, { 0, 0, 0, 0xEE, 0xEE } };
  guint8 labels[2][5];

  memset (labels, 0xEE, sizeof (labels));
  naclip_probs_to_labels (probs, 3, 3, 2, 0.0f, &labels[0][0], 5);
  g_assert_cmpmem (labels, sizeof (labels), want, sizeof (want));
  memset (labels, 0xEE, sizeof (labels));
  naclip_probs_to_labels (probs, 3, 3, 2, 0.55f, &labels[0][0], 5);
  g_assert_cmpmem (labels, sizeof (labels), want_thd, sizeof (want_thd));
}

/* The first update copies; the next blend in float; a reset, or other
 * sizes, start again. */
static void
test_smoothing (void)
{
  g_autoptr (NaclipSmoothing) s = naclip_smoothing_new ();
  const float a[4] = { 0.25f, 1.0f, 0.0f, 0.5f };
  const float b[4] = { 0.75f, 0.0f, 1.0f, NAN };
  const float *avg;
  float want[4];
  GError *error = NULL;

  avg = naclip_smoothing_update (s, a, 2, 2, 1, 0.9f, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (avg, sizeof (a), a, sizeof (a));

  for (guint i = 0; i < 4; i++)
    want[i] = 0.9f * a[i] + (1.0f - 0.9f) * b[i];
  avg = naclip_smoothing_update (s, b, 2, 2, 1, 0.9f, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < 3; i++)
    g_assert_cmpfloat (avg[i], ==, want[i]);
  g_assert_true (isnan (avg[3]));

  /* the same four floats as another shape: a new average */
  avg = naclip_smoothing_update (s, a, 1, 2, 2, 0.9f, &error);
  g_assert_cmpmem (avg, sizeof (a), a, sizeof (a));
  avg = naclip_smoothing_update (s, b, 1, 2, 2, 0.5f, &error);
  g_assert_cmpfloat (avg[0], ==, 0.5f);
  g_assert_cmpfloat (avg[1], ==, 0.5f);
  naclip_smoothing_reset (s);
  avg = naclip_smoothing_update (s, b, 1, 2, 2, 0.5f, &error);
  g_assert_cmpfloat (avg[0], ==, 0.75f);
  g_assert_cmpfloat (avg[2], ==, 1.0f);
  /* weight 0 follows the newest frame, but a NaN stays until a reset */
  avg = naclip_smoothing_update (s, a, 1, 2, 2, 0.0f, &error);
  g_assert_cmpmem (avg, 3 * sizeof (float), a, 3 * sizeof (float));
  g_assert_true (isnan (avg[3]));
  g_assert_no_error (error);
  naclip_smoothing_free (NULL);
}

/* Coverage, confidence and boxes of a 4x3 map in rows of 6 bytes. */
static void
test_stats (void)
{
  /* labels 0..3; a 5 counts as 3 (the last label) */
  const guint8 labels[3][6] = {
    { 0, 0, 1, 1, 0xEE, 0xEE },
    { 0, 1, 1, 0, 0xEE, 0xEE },
    { 0, 0, 0, 5, 0xEE, 0xEE },
  };
  float probs[4 * 12];
  NaclipLabelStats st[4];

  for (guint i = 0; i < G_N_ELEMENTS (probs); i++)
    probs[i] = (float)(i % 12) / 16.0f + (float)(i / 12);
  memset (st, 0x55, sizeof (st));
  naclip_labels_compute_stats (&labels[0][0], 6, 4, 3, probs, 4, st);

  /* background: pixels 0, 1, 4, 7, 8, 9, 10 of plane 0 */
  g_assert_cmpuint (st[0].n_pixels, ==, 7);
  g_assert_cmpfloat (st[0].coverage, ==, (float)(7.0 / 12.0));
  g_assert_cmpfloat (
      st[0].confidence, ==, (float)((0 + 1 + 4 + 7 + 8 + 9 + 10) / 16.0 / 7));
  g_assert_cmpuint (st[0].x0, ==, 0);
  g_assert_cmpuint (st[0].y0, ==, 0);
  g_assert_cmpuint (st[0].x1, ==, 4);
  g_assert_cmpuint (st[0].y1, ==, 3);
  /* class 1: pixels 2, 3, 5, 6 of plane 1 */
  g_assert_cmpuint (st[1].n_pixels, ==, 4);
  g_assert_cmpfloat (st[1].coverage, ==, (float)(4.0 / 12.0));
  g_assert_cmpfloat (
      st[1].confidence, ==, (float)(1.0 + (2 + 3 + 5 + 6) / 16.0 / 4));
  g_assert_cmpuint (st[1].x0, ==, 1);
  g_assert_cmpuint (st[1].y0, ==, 0);
  g_assert_cmpuint (st[1].x1, ==, 4);
  g_assert_cmpuint (st[1].y1, ==, 2);
  /* class 2 absent: all zero */
  g_assert_cmpuint (st[2].n_pixels, ==, 0);
  g_assert_cmpfloat (st[2].coverage, ==, 0.0f);
  g_assert_cmpfloat (st[2].confidence, ==, 0.0f);
  g_assert_cmpuint (st[2].x0 | st[2].y0 | st[2].x1 | st[2].y1, ==, 0);
  /* class 3 from the label 5 at (3, 2), pixel 11 of plane 3 */
  g_assert_cmpuint (st[3].n_pixels, ==, 1);
  g_assert_cmpfloat (st[3].confidence, ==, 3.0f + 11.0f / 16.0f);
  g_assert_cmpuint (st[3].x0, ==, 3);
  g_assert_cmpuint (st[3].y0, ==, 2);
  g_assert_cmpuint (st[3].x1, ==, 4);
  g_assert_cmpuint (st[3].y1, ==, 3);
}

/* A NaN probability makes its label's confidence NaN and nothing else. */
static void
test_stats_nan (void)
{
  const guint8 labels[2] = { 0, 1 };
  const float probs[4] = { 0.5f, 0.2f, 0.1f, NAN };
  NaclipLabelStats st[2];

  naclip_labels_compute_stats (labels, 2, 2, 1, probs, 2, st);
  g_assert_cmpfloat (st[0].confidence, ==, 0.5f);
  g_assert_true (isnan (st[1].confidence));
  g_assert_cmpfloat (st[1].coverage, ==, 0.5f);
}

/* naclip_labels_from_logits() against its plain-C twin at the CPU level of
 * this run (meson runs the program again at sse41, the capped variant at
 * avx2): seeded random logits, widths with and without a vector tail, labels
 * with several queries and without any, NaN logits, a threshold, with and
 * without the probabilities. Probabilities agree within rounding (another
 * exp); labels everywhere but where the twin's two best probabilities are
 * within 1e-5 of each other. */
static void
test_from_logits (void)
{
  static const struct
  {
    guint width, height, n_queries, n_labels;
    float threshold;
    gboolean with_probs;
  } cases[] = {
    { 299, 224, 5, 6, 0.0f, TRUE },
    { 16, 3, 1, 2, 0.0f, TRUE },
    { 37, 11, 9, 5, 0.3f, TRUE },
    { 50, 7, 21, 22, 0.0f, FALSE },
    { 5, 5, 3, 4, 0.5f, TRUE },
  };
  GRand *rand = g_rand_new_with_seed (11);

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    guint w = cases[i].width, h = cases[i].height;
    guint nq = cases[i].n_queries, nl = cases[i].n_labels;
    gsize plane = (gsize)w * h, stride = w + 3;
    g_autofree float *logits = g_new (float, nq *plane);
    g_autofree guint8 *ql = g_new (guint8, nq);
    g_autofree guint8 *labels = g_new0 (guint8, stride * h);
    g_autofree guint8 *want_labels = g_new0 (guint8, stride * h);
    g_autofree float *probs = g_new (float, nl *plane);
    g_autofree float *want_probs = g_new (float, nl *plane);
    g_autofree gint32 *i32 = g_new (gint32, plane);
    g_autofree gint32 *want_i32 = g_new (gint32, plane);
    g_autofree float *scratch
        = g_new (float, 2 * naclip_labels_scratch_size (nq, nl));
    NaclipLabelsJob job = { logits, nq, ql, nl, w, h, 40.0f, cases[i].threshold,
      labels, stride, cases[i].with_probs ? probs : NULL, i32, scratch };
    NaclipLabelsJob ref = job;
    guint n_close = 0;

    for (gsize j = 0; j < nq * plane; j++)
      logits[j] = (float)g_rand_double_range (rand, -0.3, 0.3);
    for (gsize j = 0; j < plane; j += 97)
      logits[(j % nq) * plane + j] = NAN;
    /* Label l gets query l % n_labels: the last labels may have none. */
    for (guint q = 0; q < nq; q++)
      ql[q] = (guint8)((q + (nl > nq ? 0 : 1)) % nl);
    ref.labels = want_labels;
    ref.probs = cases[i].with_probs ? want_probs : NULL;
    ref.labels_i32 = want_i32;
    naclip_labels_from_logits_ref (&ref);
    naclip_labels_from_logits (&job, 2);

    for (gsize p = 0; p < plane; p++) {
      guint y = p / w, x = p % w;
      guint8 got = labels[y * stride + x], want = want_labels[y * stride + x];
      g_assert_cmpint (i32[p], ==, got);
      if (got != want) {
        float a = want_probs[(gsize)got * plane + p];
        float b = want_probs[(gsize)want * plane + p];
        g_assert_true (cases[i].with_probs && fabsf (a - b) < 1e-5f);
        n_close++;
      }
      if (!cases[i].with_probs)
        continue;
      for (guint l = 0; l < nl; l++) {
        float g = probs[l * plane + p], r = want_probs[l * plane + p];
        g_assert_true ((isnan (g) && isnan (r)) || fabsf (g - r) <= 1e-6f);
      }
    }
    for (guint y = 0; y < h; y++)
      g_assert_cmpuint (labels[y * stride + w], ==, 0);
    g_assert_cmpuint (n_close, <=, plane / 1000);
  }
  g_rand_free (rand);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/labels/from-logits", test_from_logits);
  g_test_add_func ("/labels/pick/first-maximum", test_pick_first_maximum);
  g_test_add_func ("/labels/pick/threshold", test_pick_threshold);
  g_test_add_func ("/labels/pick/nan", test_pick_nan);
  g_test_add_func ("/labels/to-labels", test_to_labels);
  g_test_add_func ("/labels/smoothing", test_smoothing);
  g_test_add_func ("/labels/stats", test_stats);
  g_test_add_func ("/labels/stats-nan", test_stats_nan);
  return g_test_run ();
}
