/* test-pamr.c: pixel-adaptive mask refinement (src/pamr.c).
 *
 * Parity with the PyTorch reference's `pamr` subcommand
 * (tests/reference/naclip_ref.py, the authors' pamr.py semantics) on
 * seeded random images and masks: dilations (8, 16) and (1), images
 * smaller than the dilations, several step counts and thread counts.
 */

#include <math.h>
#include <string.h>

#include "naclip-private.h"
#include "pyhelper.h"

/* Refined masks are averages of logits in [-1, 1]; the reference sums in
 * a different order and computes std with its own accumulation. */
#define PAMR_ATOL 1e-5
#define PAMR_RTOL 1e-4

typedef struct
{
  guint height, width, n_channels, steps, n_threads;
  const char *dilations;
} PamrCase;

/* The case's input image and mask, seeded; also written for the
 * reference as img<index>.npy and mask<index>.npy. */
static void
make_case (const char *dir, const PamrCase *c, guint index, GRand *rand,
    float *image, float *mask)
{
  gsize plane = (gsize)c->height * c->width;
  g_autofree char *img_name = g_strdup_printf ("img%u.npy", index);
  g_autofree char *mask_name = g_strdup_printf ("mask%u.npy", index);
  gsize img_shape[3] = { 3, c->height, c->width };
  gsize mask_shape[3] = { c->n_channels, c->height, c->width };

  /* A piecewise-smooth image with noise, so that affinities vary. */
  for (guint ch = 0; ch < 3; ch++) {
    for (guint y = 0; y < c->height; y++) {
      for (guint x = 0; x < c->width; x++) {
        float base = (x * 3 > c->width * (ch + 1)) ? 1.0f : -0.5f;
        image[ch * plane + y * c->width + x]
            = base + (float)g_rand_double_range (rand, -0.3, 0.3);
      }
    }
  }
  for (gsize i = 0; i < c->n_channels * plane; i++)
    mask[i] = (float)g_rand_double_range (rand, -1.0, 1.0);
  pyhelper_write (dir, img_name, image, img_shape, 3);
  pyhelper_write (dir, mask_name, mask, mask_shape, 3);
}

/* naclip_pamr_work_size () restated: with m the largest dilation, planes
 * of rows of roundup (m, 16) + roundup (width, 32) + m floats rounded up
 * to 16, three for the image and two per channel of a group of at most 8;
 * the affinities (8 per dilation, rows of roundup (width, 32)); 16 floats
 * of slack. Above m = 64 the reference's own memory for a group. */
static gsize
expected_work_size (guint n_channels, guint height, guint width,
    const guint *dilations, guint n_dilations)
{
  gsize m = 0, group = MIN (n_channels, 8);
  for (guint i = 0; i < n_dilations; i++)
    m = MAX (m, dilations[i]);
  if (m > 64)
    return (gsize)height * width * (8 * n_dilations + group);
  gsize left = (m + 15) / 16 * 16, cols = (width + 31) / 32 * 32;
  gsize stride = (left + cols + m + 15) / 16 * 16;
  return height * stride * (3 + 2 * group) + height * cols * 8 * n_dilations
         + 16;
}

static void
test_parity (void)
{
  static const PamrCase cases[] = {
    { 37, 45, 5, 10, 2, "8,16" },
    { 20, 30, 3, 2, 1, "1" },
    { 6, 5, 4, 10, 2, "8,16" },
    { 1, 7, 2, 3, 1, "8,16" },
    { 33, 17, 21, 1, 2, "2,5,9" },
    { 24, 24, 3, 0, 1, "8,16" },
    /* Large enough for the rows to be split among threads. */
    { 120, 160, 21, 2, 2, "8,16" },
  };
  g_autofree char *dir = pyhelper_scratch_dir ("pamr");
  g_autofree char *ref_dir = g_build_filename (
      g_getenv ("NACLIP_SOURCE_ROOT"), "tests", "reference", NULL);
  GRand *rand = g_rand_new_with_seed (2024);
  GString *script = g_string_new (NULL);
  float *images[G_N_ELEMENTS (cases)], *masks[G_N_ELEMENTS (cases)];

  /* One Python process runs the reference's `pamr` subcommand (its main)
   * for every case: torch is imported once. */
  g_string_append_printf (script,
      "import sys\nsys.path.insert(0, '%s')\nimport naclip_ref\n", ref_dir);
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    const PamrCase *c = &cases[i];
    gsize plane = (gsize)c->height * c->width;
    images[i] = g_new (float, 3 * plane);
    masks[i] = g_new (float, c->n_channels *plane);
    make_case (dir, c, i, rand, images[i], masks[i]);
    g_string_append_printf (script,
        "assert naclip_ref.main(['pamr', '--image', 'img%u.npy', '--mask',"
        " 'mask%u.npy', '--steps', '%u', '--dilations', '%s', '-o',"
        " 'out%u.npy']) == 0\n",
        i, i, c->steps, c->dilations, i);
  }
  pyhelper_run (dir, script->str);

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    const PamrCase *c = &cases[i];
    gsize n_mask = (gsize)c->n_channels * c->height * c->width;
    g_autofree char *out_name = g_strdup_printf ("out%u.npy", i);
    g_autofree float *want = pyhelper_read (dir, out_name, n_mask);
    g_autofree float *work = NULL;
    g_autofree char *what = NULL;
    guint dilations[NACLIP_MAX_PAMR_DILATIONS];
    guint n_dilations = 0;
    gsize work_size;

    g_assert_true (
        naclip_parse_dilations (c->dilations, dilations, &n_dilations, NULL));
    work_size = naclip_pamr_work_size (
        c->n_channels, c->height, c->width, dilations, n_dilations);
    g_assert_cmpuint (work_size, ==,
        expected_work_size (
            c->n_channels, c->height, c->width, dilations, n_dilations));
    work = g_new (float, work_size);
    g_assert_true (naclip_pamr (images[i], masks[i], c->n_channels, c->height,
        c->width, c->steps, dilations, n_dilations, c->n_threads, work, NULL));
    what = g_strdup_printf ("pamr %ux%u, %u channels, %u steps, dilations %s",
        c->height, c->width, c->n_channels, c->steps, c->dilations);
    pyhelper_assert_close (what, masks[i], want, n_mask, PAMR_ATOL, PAMR_RTOL);
    g_free (images[i]);
    g_free (masks[i]);
  }
  g_string_free (script, TRUE);
  g_rand_free (rand);
}

/* A constant image gives uniform affinities: one step averages the 8 * n
 * neighbours (replicate padding), which the test computes directly. */
static void
test_constant_image (void)
{
  const guint h = 9, w = 11, d = 2;
  gsize plane = h * w;
  g_autofree float *image = g_new (float, 3 * plane);
  g_autofree float *mask = g_new (float, plane);
  g_autofree float *want = g_new (float, plane);
  guint dil[1] = { d };
  g_autofree float *work
      = g_new (float, naclip_pamr_work_size (1, h, w, dil, 1));

  for (gsize i = 0; i < 3 * plane; i++)
    image[i] = 0.25f;
  for (gsize i = 0; i < plane; i++)
    mask[i] = (float)(i % 7) - 3.0f;
  for (guint y = 0; y < h; y++) {
    for (guint x = 0; x < w; x++) {
      double sum = 0.0;
      for (int dy = -1; dy <= 1; dy++) {
        for (int dx = -1; dx <= 1; dx++) {
          int yy = CLAMP ((int)y + dy * (int)d, 0, (int)h - 1);
          int xx = CLAMP ((int)x + dx * (int)d, 0, (int)w - 1);
          if (dy != 0 || dx != 0)
            sum += mask[yy * w + xx];
        }
      }
      want[y * w + x] = (float)(sum / 8.0);
    }
  }
  naclip_pamr (image, mask, 1, h, w, 1, dil, 1, 1, work, NULL);
  pyhelper_assert_close ("pamr constant image", mask, want, plane, 1e-6, 1e-6);
}

/* naclip_pamr() against its plain-C twin at the CPU level of this run (meson
 * runs the program again at sse41, the capped variant at avx2): seeded random
 * images and masks, images narrower and wider than the dilations, odd widths
 * (vector tails), one and two threads, odd and even step counts,
 * cancellation. */
static void
test_against_ref (void)
{
  static const PamrCase cases[] = {
    { 37, 45, 5, 10, 2, "8,16" },
    { 20, 30, 3, 3, 1, "1" },
    { 6, 5, 4, 2, 2, "8,16" },
    { 1, 70, 2, 3, 1, "8,16" },
    { 33, 117, 21, 1, 2, "2,5,9" },
    { 224, 299, 5, 10, 2, "8,16" },
    /* Large enough to be split over threads, in blocks of rows narrower
     * than the margin (two and three threads), odd step counts. */
    { 40, 700, 3, 5, 2, "8,16" },
    { 45, 500, 2, 4, 3, "8,16" },
    { 100, 400, 4, 7, 2, "3" },
    { 40, 301, 6, 4, 1, "1,2,3,4,5,6,7,8" },
    /* An interior narrower than a vector; the largest dilation the
     * vectors take; one above it (naclip_pamr_ref's own path). */
    { 9, 42, 4, 3, 2, "16" },
    { 50, 138, 3, 2, 2, "64,1" },
    { 20, 150, 2, 2, 1, "70,3" },
    /* More channels than naclip_pamr () refines at a time (8): groups
     * of 8 and a rest, on the vectors and on the reference's path. */
    { 45, 300, 13, 3, 2, "8,16" },
    { 30, 61, 21, 4, 3, "2,5,9" },
    { 20, 150, 11, 2, 1, "70,3" },
  };
  GRand *rand = g_rand_new_with_seed (77);

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    const PamrCase *c = &cases[i];
    gsize plane = (gsize)c->height * c->width;
    gsize n_mask = c->n_channels * plane;
    guint dilations[NACLIP_MAX_PAMR_DILATIONS];
    guint n_dilations = 0;
    g_autofree float *image = g_new (float, 3 * plane);
    g_autofree float *mask = g_new (float, n_mask);
    g_autofree float *want = NULL;
    g_autofree float *work = NULL;
    g_autofree float *ref_work = NULL;
    g_autofree char *what = NULL;
    gint cancel = 1;

    g_assert_true (
        naclip_parse_dilations (c->dilations, dilations, &n_dilations, NULL));
    work = g_new (float, naclip_pamr_work_size (c->n_channels, c->height,
                             c->width, dilations, n_dilations));
    ref_work = g_new (float, (8 * n_dilations + c->n_channels) * plane);
    for (gsize j = 0; j < 3 * plane; j++)
      image[j] = (float)g_rand_double_range (rand, -2.0, 2.0);
    for (gsize j = 0; j < n_mask; j++)
      mask[j] = (float)g_rand_double_range (rand, -1.0, 1.0);
    want = g_memdup2 (mask, n_mask * sizeof (float));
    g_assert_true (naclip_pamr_ref (image, want, c->n_channels, c->height,
        c->width, c->steps, dilations, n_dilations, ref_work, NULL));
    g_assert_true (naclip_pamr (image, mask, c->n_channels, c->height, c->width,
        c->steps, dilations, n_dilations, c->n_threads, work, NULL));
    what = g_strdup_printf ("pamr %ux%u, %u channels, %u steps, dilations "
                            "%s, %u threads, against naclip_pamr_ref",
        c->height, c->width, c->n_channels, c->steps, c->dilations,
        c->n_threads);
    pyhelper_assert_close (what, mask, want, n_mask, 1e-6, 1e-5);
    if (c->steps > 0) {
      g_assert_false (
          naclip_pamr (image, mask, c->n_channels, c->height, c->width,
              c->steps, dilations, n_dilations, c->n_threads, work, &cancel));
      g_assert_false (naclip_pamr_ref (image, want, c->n_channels, c->height,
          c->width, c->steps, dilations, n_dilations, ref_work, &cancel));
    }
  }
  g_rand_free (rand);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/pamr/parity", test_parity);
  g_test_add_func ("/pamr/constant-image", test_constant_image);
  g_test_add_func ("/pamr/against-ref", test_against_ref);
  return g_test_run ();
}
