/* test-reuse.c: token reuse between frames (src/reuse.c).
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * /reuse/exact: with reuse on and threshold 0 every token goes through the
 * reuse path (gates, gather, row-wise products, attention over the cached
 * queries, keys and values, scatter) and the encoder's results equal the
 * normal path's, frame after frame, to 1e-6 (fp32, and bf16 where it
 * runs; a batch of two images like sliding windows, a grid that
 * interpolates the positions); only the patches whose pixels changed are
 * embedded again, and the last block computes q, k, v again only for the
 * tokens of the image that changed (a token of the other image enters it
 * the same to the bit, and keeps its cached q, k, v).
 * /reuse/static-frame: through the public API, a frame repeated with a
 * threshold above 0 computes only the class tokens and gives the same
 * labels and, to 1e-5, the same probabilities; a changed region computes
 * more; a reset, a periodic refresh, a new size and a new threshold
 * recompute everything.
 * Seeded tiny checkpoints (tests/fixtures/make_checkpoint.py).
 */

#include "config.h"

#include <math.h>
#include <string.h>

#include "naclip-private.h"
#include "pyhelper.h"

/* A tiny checkpoint of @preset made with make_checkpoint.py in the
 * scratch directory, loaded. */
static NaclipModel *
make_model (const char *preset, guint seed)
{
  g_autofree char *dir = pyhelper_scratch_dir ("reuse");
  g_autofree char *path = g_build_filename (dir, preset, NULL);
  g_autofree char *script = g_strdup_printf (
      "import subprocess, sys\n"
      "subprocess.check_call([sys.executable, '%s/tests/fixtures/"
      "make_checkpoint.py', '%s', '--preset', '%s', '--seed', '%u'])\n",
      g_getenv ("NACLIP_SOURCE_ROOT"), path, preset, seed);
  GError *error = NULL;

  pyhelper_run (dir, script);
  NaclipModel *model = naclip_model_load (path, TRUE, &error);
  g_assert_no_error (error);
  return model;
}

/* @n uniform values in [-2, 2) from @seed. */
static void
fill_random (float *x, gsize n, guint seed)
{
  GRand *rand = g_rand_new_with_seed (seed);
  for (gsize i = 0; i < n; i++)
    x[i] = (float)g_rand_double_range (rand, -2.0, 2.0);
  g_rand_free (rand);
}

static void
test_exact (gconstpointer data)
{
  NaclipPrecision precision = GPOINTER_TO_INT (data);
  if (!naclip_precision_resolve (precision, &precision, NULL)) {
    g_test_skip ("this CPU or build has no bf16 products");
    return;
  }
  NaclipModel *model = make_model ("tiny-deep", 7);
  const NaclipModelInfo *info = naclip_model_get_info (model);
  const guint n_images = 2, height = 80, width = 96;
  gsize n_patches = (height / 16) * (width / 16);
  gsize n_pixels = (gsize)n_images * 3 * height * width;
  gsize n_features = n_images * n_patches * info->embed_dim;
  gsize n_block = (n_patches + 1) * info->vision.width;
  NaclipParams params = naclip_params_default ();
  g_autofree float *pixels = g_new (float, n_pixels);
  g_autofree float *want = g_new (float, n_features);
  g_autofree float *got = g_new (float, n_features);
  g_autofree float *want_block = g_new (float, n_block);
  g_autofree float *got_block = g_new (float, n_block);
  NaclipVisionScratch *plain = naclip_vision_scratch_new ();
  NaclipVisionScratch *scratch = naclip_vision_scratch_new ();
  NaclipReuse *reuse = naclip_reuse_new ();
  NaclipMatmul *mm = naclip_matmul_new (naclip_model_get_matmul_cache (model),
      precision, NACLIP_MATMUL_BACKEND_AUTO, 2, NULL);
  GError *error = NULL;

  g_assert_nonnull (mm);
  naclip_reuse_set (reuse, 0.0f, 0, FALSE);
  fill_random (pixels, n_pixels, 11);
  for (guint frame = 0; frame < 3; frame++) {
    gboolean refreshed;
    guint64 n_rows, n_computed, n_patches_computed, n_final_computed;
    /* frame 1 changes 2 x 2 patches of image 1 */
    guint64 patches_want = frame == 1 ? 4 : n_images * n_patches;
    guint64 final_want = (frame == 1 ? 1 : n_images) * (n_patches + 1);

    if (frame == 1) {
      /* a 32 x 32 px region of image 1 changes, the rest stays */
      for (guint c = 0; c < 3; c++)
        for (guint y = 16; y < 48; y++)
          fill_random (pixels + ((gsize)(3 + c) * height + y) * width + 32, 32,
              100 + c * height + y);
    } else if (frame == 2) {
      fill_random (pixels, n_pixels, 12);
    }
    g_assert_true (naclip_vision_encode (model, plain, mm, NULL, &params,
        pixels, n_images, height, width, want, want_block, NULL, &error));
    g_assert_no_error (error);
    g_assert_true (naclip_vision_encode (model, scratch, mm, reuse, &params,
        pixels, n_images, height, width, got, got_block, NULL, &error));
    g_assert_no_error (error);
    /* the products are the same, row for row: fp32 and bf16 alike */
    pyhelper_assert_close ("features", got, want, n_features, 1e-6, 0.0);
    pyhelper_assert_close ("block", got_block, want_block, n_block, 1e-6, 1e-6);
    naclip_reuse_get_stats (reuse, &refreshed, &n_rows, &n_computed);
    naclip_reuse_get_exact_stats (
        reuse, &n_patches_computed, &n_final_computed);
    g_assert_cmpint (refreshed, ==, frame == 0);
    g_assert_cmpuint (
        n_rows, ==, (info->vision.n_layers - 1) * n_images * (n_patches + 1));
    g_assert_cmpuint (n_computed, ==, n_rows);
    g_assert_cmpuint (n_patches_computed, ==, patches_want);
    g_assert_cmpuint (n_final_computed, ==, final_want);
  }
  naclip_matmul_free (mm);
  naclip_reuse_free (reuse);
  naclip_vision_scratch_free (scratch);
  naclip_vision_scratch_free (plain);
  naclip_model_unref (model);
}

/* Queries: @n random unit rows of @dim, for the class list "a,b,c". */
static NaclipQueries *
make_queries (guint dim)
{
  g_autoptr (NaclipClasses) classes
      = naclip_classes_parse ("a,b,c", NULL, NULL);
  g_autofree float *emb = g_new (float, 3 * dim);
  GError *error = NULL;

  fill_random (emb, 3 * dim, 5);
  naclip_ops_l2_normalize_rows (emb, 3, dim, 1e-12f, 1);
  NaclipQueries *queries = naclip_queries_new (classes, emb, 3, dim, &error);
  g_assert_no_error (error);
  return queries;
}

/* Segments the @w x @h RGB @rgb with @ctx into @labels and @probs and
 * returns the reuse statistics of the call. */
static NaclipReuseStats
segment (NaclipContext *ctx, NaclipQueries *queries, const guint8 *rgb, guint w,
    guint h, guint8 *labels, float *probs)
{
  NaclipImage image = { .format = NACLIP_PIXEL_RGB,
    .width = w,
    .height = h,
    .data = { rgb },
    .stride = { 3 * (gsize)w } };
  NaclipReuseStats stats;
  GError *error = NULL;

  g_assert_true (naclip_context_segment (
      ctx, queries, &image, w, h, labels, w, probs, &error));
  g_assert_no_error (error);
  naclip_context_get_reuse_stats (ctx, &stats);
  g_assert_true (stats.active);
  return stats;
}

static void
test_static_frame (void)
{
  NaclipModel *model = make_model ("tiny", 3);
  const NaclipModelInfo *info = naclip_model_get_info (model);
  g_autoptr (NaclipQueries) queries = make_queries (info->embed_dim);
  const guint w = 96, h = 80;
  gsize n_px = (gsize)w * h, n_probs = 4 * n_px;
  g_autofree guint8 *rgb = g_new (guint8, 3 * n_px);
  g_autofree guint8 *labels0 = g_new (guint8, n_px);
  g_autofree guint8 *labels = g_new (guint8, n_px);
  g_autofree float *probs0 = g_new (float, n_probs);
  g_autofree float *probs = g_new (float, n_probs);
  GRand *rand = g_rand_new_with_seed (9);
  GError *error = NULL;

  for (gsize i = 0; i < 3 * n_px; i++)
    rgb[i] = (guint8)g_rand_int_range (rand, 0, 256);
  g_rand_free (rand);
  /* whole image, then sliding windows of 64 px every 32 px (4 windows) */
  for (guint slide = 0; slide < 2; slide++) {
    NaclipContext *ctx = naclip_context_new (model, &error);
    NaclipParams params = naclip_params_default ();
    params.inference_size = 0;
    params.slide_crop = slide ? 64 : 0;
    params.slide_stride = 32;
    params.pamr_steps = 0;
    params.precision = NACLIP_PRECISION_FP32;
    params.reuse_threshold = 0.3f;
    params.reuse_refresh = 0;
    g_assert_true (naclip_context_set_params (ctx, &params, &error));
    g_assert_no_error (error);
    guint n_windows = naclip_segment_n_windows (
        h, w, params.slide_crop, params.slide_stride);
    guint64 class_rows = (guint64)(info->vision.n_layers - 1) * n_windows;

    NaclipReuseStats first = segment (ctx, queries, rgb, w, h, labels0, probs0);
    g_assert_true (first.refreshed);
    g_assert_cmpuint (first.n_computed, ==, first.n_rows);

    /* the same frame: only the class tokens, the same result */
    NaclipReuseStats again = segment (ctx, queries, rgb, w, h, labels, probs);
    g_assert_false (again.refreshed);
    g_assert_cmpuint (again.n_computed, ==, class_rows);
    g_assert_cmpmem (labels, n_px, labels0, n_px);
    pyhelper_assert_close ("probs", probs, probs0, n_probs, 1e-5, 0.0);

    /* a changed 32 x 32 px region: more, not all */
    for (guint y = 16; y < 48; y++)
      memset (
          rgb + ((gsize)y * w + 16) * 3, (guint8)(y * 7 + slide * 100), 32 * 3);
    NaclipReuseStats moved = segment (ctx, queries, rgb, w, h, labels, probs);
    g_assert_false (moved.refreshed);
    g_assert_cmpuint (moved.n_computed, >, class_rows);
    g_assert_cmpuint (moved.n_computed, <, moved.n_rows);

    /* a reset recomputes everything once */
    naclip_context_reset_reuse (ctx);
    g_assert_true (segment (ctx, queries, rgb, w, h, labels, probs).refreshed);
    g_assert_false (segment (ctx, queries, rgb, w, h, labels, probs).refreshed);

    /* every second call refreshes */
    params.reuse_refresh = 2;
    g_assert_true (naclip_context_set_params (ctx, &params, &error));
    g_assert_true (segment (ctx, queries, rgb, w, h, labels, probs).refreshed);
    g_assert_false (segment (ctx, queries, rgb, w, h, labels, probs).refreshed);
    g_assert_true (segment (ctx, queries, rgb, w, h, labels, probs).refreshed);

    /* a new size refreshes */
    params.reuse_refresh = 0;
    g_assert_true (naclip_context_set_params (ctx, &params, &error));
    g_assert_true (
        segment (ctx, queries, rgb, w, h - 16, labels, probs).refreshed);
    g_assert_false (
        segment (ctx, queries, rgb, w, h - 16, labels, probs).refreshed);

    /* a new threshold refreshes (gate 1 above block 0 relies on the
     * decisions of the frame before) */
    params.reuse_threshold = 0.25f;
    g_assert_true (naclip_context_set_params (ctx, &params, &error));
    g_assert_true (
        segment (ctx, queries, rgb, w, h - 16, labels, probs).refreshed);
    g_assert_false (
        segment (ctx, queries, rgb, w, h - 16, labels, probs).refreshed);
    naclip_context_free (ctx);
  }
  naclip_model_unref (model);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_data_func (
      "/reuse/exact/fp32", GINT_TO_POINTER (NACLIP_PRECISION_FP32), test_exact);
  g_test_add_data_func (
      "/reuse/exact/bf16", GINT_TO_POINTER (NACLIP_PRECISION_BF16), test_exact);
  g_test_add_func ("/reuse/static-frame", test_static_frame);
  return g_test_run ();
}
