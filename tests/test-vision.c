/* test-vision.c: the vision tower against the PyTorch reference.
 *
 * Each case generates a seeded random checkpoint
 * (tests/fixtures/make_checkpoint.py, cached under the build dir) and a
 * seeded random normalised input, runs tests/reference/naclip_ref.py vision
 * on it, runs naclip_vision_encode () on the same input, and compares the
 * tokens after the last block (block.npy, image 0) and the normalised patch
 * features (features.npy, every image).
 *
 * Tolerances: tiny models within 1e-4 absolute; the ViT-B/16-shaped model
 * within 1e-3 relative to the largest magnitude of the array (block) and
 * 1e-4 absolute on the unit-norm features. */

#include <math.h>
#include <string.h>

#include "naclip-private.h"
#include "pyhelper.h"

/* An fp32 handle on @threads threads for @model (free it before the
 * model). */
static NaclipMatmul *
fp32_handle (NaclipModel *model, guint threads)
{
  NaclipMatmul *mm = naclip_matmul_new (naclip_model_get_matmul_cache (model),
      NACLIP_PRECISION_FP32, NACLIP_MATMUL_BACKEND_AUTO, threads, NULL);
  g_assert_nonnull (mm);
  return mm;
}

typedef struct
{
  const char *name;   /* checkpoint directory name */
  const char *preset; /* make_checkpoint.py --preset */
  const char *layout; /* hf | openai */
  const char *dtype;  /* F32 | F16 | BF16 */
  const char *extra;  /* further make_checkpoint.py options, or "" */
  guint seed;
  gboolean full_size; /* the suite's shared tests/checkpoints/<name> */
} Checkpoint;

typedef struct
{
  const Checkpoint *ckpt;
  guint height, width, n_images;
  NaclipAttention attention;
  NaclipArch arch;
  float gaussian_std;
  guint input_seed;
  double block_tol, feature_tol; /* see the file comment */
  gboolean block_relative;
} Case;

static const Checkpoint tiny_hf
    = { "tiny-hf-f32", "tiny", "hf", "F32", "", 1, FALSE };
static const Checkpoint tiny_openai
    = { "tiny-openai-f32", "tiny", "openai", "F32", "", 2, FALSE };
static const Checkpoint tiny32_openai_f16
    = { "tiny32-openai-f16", "tiny32", "openai", "F16", "", 3, FALSE };
static const Checkpoint deep_hf_bf16
    = { "deep-hf-bf16", "tiny-deep", "hf", "BF16", "", 4, FALSE };
static const Checkpoint wide_gelu = { "wide-gelu-hf", "tiny", "hf", "F32",
  "--vision-width 96 --vision-heads 3 --vision-mlp 160 --act gelu", 5, FALSE };
static const Checkpoint one_layer = { "one-layer-openai", "tiny128", "openai",
  "F32", "--vision-layers 1", 6, FALSE };
/* the ViT-B/16-shaped checkpoint test-model.c also uses */
static const Checkpoint b16 = { "b16-hf-F32", "b16", "hf", "F32", "", 0, TRUE };

static char *
checkpoint_path (const Checkpoint *c)
{
  if (c->full_size) {
    g_autofree char *dir = g_build_filename (
        g_getenv ("NACLIP_BUILD_ROOT"), "tests", "checkpoints", NULL);
    g_autofree char *script = g_strdup_printf (
        "import sys; sys.path.insert(0, '%s/tests/fixtures')\n"
        "import make_checkpoint as mc\n"
        "mc.ensure('%s', mc.PRESETS['%s'], '%s', '%s', %u)\n",
        g_getenv ("NACLIP_SOURCE_ROOT"), c->name, c->preset, c->layout,
        c->dtype, c->seed);
    g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
    pyhelper_run (dir, script);
    return g_build_filename (dir, c->name, NULL);
  }
  g_autofree char *dir = pyhelper_scratch_dir ("vision");
  char *path = g_build_filename (dir, c->name, NULL);
  g_autofree char *script = g_strdup_printf (
      "import subprocess, sys, shlex\n"
      "subprocess.check_call([sys.executable, '%s/tests/fixtures/"
      "make_checkpoint.py', '%s', '--preset', '%s', '--layout', '%s',"
      " '--dtype', '%s', '--seed', '%u', '--no-text'] + shlex.split('%s'))\n",
      g_getenv ("NACLIP_SOURCE_ROOT"), path, c->preset, c->layout, c->dtype,
      c->seed, c->extra);
  pyhelper_run (dir, script);
  return path;
}

static NaclipModel *
load_checkpoint (const Checkpoint *c, char **path_out)
{
  g_autofree char *path = checkpoint_path (c);
  GError *error = NULL;
  NaclipModel *model = naclip_model_load (path, TRUE, &error);
  if (model == NULL)
    g_error ("%s: %s", path, error->message);
  if (path_out != NULL)
    *path_out = g_strdup (path);
  return model;
}

static float *
random_images (guint seed, gsize n)
{
  GRand *rand = g_rand_new_with_seed (seed);
  float *x = g_new (float, n);
  for (gsize i = 0; i < n; i++)
    x[i] = (float)g_rand_double_range (rand, -2.0, 2.0);
  g_rand_free (rand);
  return x;
}

/* Largest |x| of n values. */
static double
max_abs (const float *x, gsize n)
{
  double m = 0.0;
  for (gsize i = 0; i < n; i++)
    m = fmax (m, fabs (x[i]));
  return m;
}

static void
run_case (const Case *c)
{
  g_autofree char *model_path = NULL;
  NaclipModel *model = load_checkpoint (c->ckpt, &model_path);
  const NaclipModelInfo *info = naclip_model_get_info (model);
  guint patch = info->patch_size, width = info->vision.width;
  gsize n_patches = (gsize)(c->height / patch) * (c->width / patch);
  gsize n_pixels = (gsize)c->n_images * 3 * c->height * c->width;
  gsize n_block = (n_patches + 1) * width;
  gsize n_features = c->n_images * n_patches * info->embed_dim;
  g_autofree char *tag
      = g_strdup_printf ("%s-%ux%ux%u-%s-%s", c->ckpt->name, c->n_images,
          c->height, c->width, naclip_attention_to_string (c->attention),
          naclip_arch_to_string (c->arch));
  g_autofree char *dir = pyhelper_scratch_dir (tag);
  g_autofree float *pixels = random_images (c->input_seed, n_pixels);
  gsize shape4[4] = { c->n_images, 3, c->height, c->width };
  GError *error = NULL;

  g_test_message ("case %s", tag);
  pyhelper_write (dir, "input.npy", pixels, shape4, 4);
  g_autofree char *script = g_strdup_printf (
      "import subprocess, sys\n"
      "subprocess.check_call([sys.executable, '%s/tests/reference/"
      "naclip_ref.py', 'vision', '--model', '%s', '--input', 'input.npy',"
      " '--attention', '%s', '--arch', '%s', '--gaussian-std', '%.9g',"
      " '--dump-dir', '.'])\n",
      g_getenv ("NACLIP_SOURCE_ROOT"), model_path,
      naclip_attention_to_string (c->attention),
      naclip_arch_to_string (c->arch), (double)c->gaussian_std);
  pyhelper_run (dir, script);
  /* the reference keeps the batch axis: block [B, N+1, D] */
  g_autofree float *want_block
      = pyhelper_read (dir, "block.npy", c->n_images * n_block);
  g_autofree float *want_features
      = pyhelper_read (dir, "features.npy", n_features);

  NaclipParams params = naclip_params_default ();
  params.attention = c->attention;
  params.arch = c->arch;
  params.gaussian_std = c->gaussian_std;
  NaclipVisionScratch *s = naclip_vision_scratch_new ();
  g_autofree float *block = g_new (float, n_block);
  g_autofree float *features = g_new (float, n_features);
  NaclipMatmul *mm = fp32_handle (model, params.threads);
  if (!naclip_vision_encode (model, s, mm, NULL, &params, pixels, c->n_images,
          c->height, c->width, features, block, NULL, &error))
    g_error ("%s: %s", tag, error->message);

  double block_tol = c->block_tol;
  if (c->block_relative)
    block_tol *= max_abs (want_block, n_block);
  pyhelper_assert_close ("block", block, want_block, n_block, block_tol, 0.0);
  pyhelper_assert_close (
      "features", features, want_features, n_features, c->feature_tol, 0.0);

  naclip_matmul_free (mm);
  naclip_vision_scratch_free (s);
  naclip_model_unref (model);
}

#define TINY_TOL 1e-4, 1e-4, FALSE

/* Every attention strategy and arch on the tiny models, with and without
 * positional interpolation. */
static const Case cases[] = {
  /* pretrained 4 x 4 grid: no interpolation */
  { &tiny_hf, 64, 64, 1, NACLIP_ATTENTION_NACLIP, NACLIP_ARCH_REDUCED, 5.0f, 11,
      TINY_TOL },
  /* 5 x 3 grid (pixels beyond it ignored): interpolation, other layout */
  { &tiny_openai, 87, 50, 1, NACLIP_ATTENTION_NACLIP, NACLIP_ARCH_REDUCED, 5.0f,
      12, TINY_TOL },
  /* 2 x 8 = g*g patches: the table is used as is (authors' quirk) */
  { &tiny_hf, 32, 128, 1, NACLIP_ATTENTION_NACLIP, NACLIP_ARCH_REDUCED, 2.0f,
      13, TINY_TOL },
  /* a 2 x 40 grid: the far Gaussian weights underflow float (stored 0) */
  { &tiny_hf, 32, 640, 1, NACLIP_ATTENTION_NACLIP, NACLIP_ARCH_REDUCED, 2.0f,
      23, TINY_TOL },
  /* patch 32, F16 storage, 3 x 6 grid */
  { &tiny32_openai_f16, 100, 200, 1, NACLIP_ATTENTION_KK, NACLIP_ARCH_REDUCED,
      5.0f, 14, TINY_TOL },
  /* 3 layers, 4 heads of 16, BF16 storage, upsampled 7 x 6 grid */
  { &deep_hf_bf16, 112, 96, 1, NACLIP_ATTENTION_NONLY, NACLIP_ARCH_REDUCED,
      5.0f, 15, TINY_TOL },
  { &deep_hf_bf16, 80, 80, 1, NACLIP_ATTENTION_CSA, NACLIP_ARCH_VANILLA, 5.0f,
      16, TINY_TOL },
  { &deep_hf_bf16, 64, 96, 1, NACLIP_ATTENTION_NACLIP, NACLIP_ARCH_VANILLA,
      1.5f, 17, TINY_TOL },
  /* width 96, 3 heads of 32, erf GELU */
  { &wide_gelu, 48, 80, 1, NACLIP_ATTENTION_VANILLA, NACLIP_ARCH_VANILLA, 5.0f,
      18, TINY_TOL },
  { &wide_gelu, 64, 64, 1, NACLIP_ATTENTION_VANILLA, NACLIP_ARCH_REDUCED, 5.0f,
      19, TINY_TOL },
  /* one layer: the first block is the last one */
  { &one_layer, 96, 112, 1, NACLIP_ATTENTION_NACLIP, NACLIP_ARCH_REDUCED, 5.0f,
      20, TINY_TOL },
  /* a batch of three (sliding windows) */
  { &deep_hf_bf16, 80, 96, 3, NACLIP_ATTENTION_NONLY, NACLIP_ARCH_REDUCED, 3.0f,
      21, TINY_TOL },
  { &tiny_openai, 64, 80, 3, NACLIP_ATTENTION_NACLIP, NACLIP_ARCH_VANILLA, 5.0f,
      22, TINY_TOL },
};

static void
test_tiny (gconstpointer data)
{
  run_case (data);
}

/* The ViT-B/16 shape: the 7 x 28 quirk grid (196 = 14 * 14 patches) and
 * an interpolated 21 x 28 grid (336 x 448, the paper's processing size). */
static void
test_b16 (void)
{
  if (g_strcmp0 (g_getenv ("NACLIP_FULL_SIZE_TESTS"), "1") != 0) {
    g_test_skip ("full-size tests are off (meson option full-size-tests)");
    return;
  }
  const Case quirk = { &b16, 112, 448, 1, NACLIP_ATTENTION_NACLIP,
    NACLIP_ARCH_REDUCED, 5.0f, 31, 1e-3, 1e-4, TRUE };
  const Case big = { &b16, 336, 448, 1, NACLIP_ATTENTION_NACLIP,
    NACLIP_ARCH_REDUCED, 5.0f, 32, 1e-3, 1e-4, TRUE };
  run_case (&quirk);
  run_case (&big);
}

/* Encoding more grids than the caches hold and coming back to the first
 * gives the same numbers; a second call with the same size is identical. */
static void
test_cache (void)
{
  NaclipModel *model = load_checkpoint (&tiny_hf, NULL);
  const NaclipModelInfo *info = naclip_model_get_info (model);
  NaclipParams params = naclip_params_default ();
  NaclipVisionScratch *s = naclip_vision_scratch_new ();
  const guint sizes[][2] = { { 80, 48 }, { 48, 80 }, { 96, 96 }, { 32, 112 },
    { 112, 32 }, { 16, 16 }, { 80, 48 } };
  const guint max_px = 112 * 112;
  g_autofree float *pixels = random_images (40, 3 * max_px);
  gsize max_features = (max_px / 256) * info->embed_dim;
  g_autofree float *first = g_new (float, max_features);
  g_autofree float *again = g_new (float, max_features);
  NaclipMatmul *mm = fp32_handle (model, 2);
  GError *error = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (sizes); i++) {
    float *out = i == 0 ? first : again;
    g_assert_true (naclip_vision_encode (model, s, mm, NULL, &params, pixels, 1,
        sizes[i][0], sizes[i][1], out, NULL, NULL, &error));
    g_assert_no_error (error);
  }
  gsize n = (80 / 16) * (48 / 16) * info->embed_dim;
  g_assert_cmpmem (first, n * sizeof (float), again, n * sizeof (float));
  naclip_matmul_free (mm);
  naclip_vision_scratch_free (s);
  naclip_model_unref (model);
}

/* An image smaller than one patch is an error naming the sizes. */
static void
test_too_small (void)
{
  NaclipModel *model = load_checkpoint (&tiny32_openai_f16, NULL);
  NaclipParams params = naclip_params_default ();
  NaclipVisionScratch *s = naclip_vision_scratch_new ();
  g_autofree float *pixels = g_new0 (float, 3 * 31 * 200);
  float features[64];
  GError *error = NULL;

  NaclipMatmul *mm = fp32_handle (model, 1);
  g_assert_false (naclip_vision_encode (model, s, mm, NULL, &params, pixels, 1,
      31, 200, features, NULL, NULL, &error));
  naclip_matmul_free (mm);
  g_assert_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "200x31"));
  g_assert_nonnull (strstr (error->message, "32x32"));
  g_clear_error (&error);
  naclip_vision_scratch_free (s);
  naclip_model_unref (model);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    const Case *c = &cases[i];
    g_autofree char *path = g_strdup_printf ("/vision/parity/%s/%ux%ux%u-%s-%s",
        c->ckpt->name, c->n_images, c->height, c->width,
        naclip_attention_to_string (c->attention),
        naclip_arch_to_string (c->arch));
    g_test_add_data_func (path, c, test_tiny);
  }
  g_test_add_func ("/vision/parity/b16", test_b16);
  g_test_add_func ("/vision/cache", test_cache);
  g_test_add_func ("/vision/too-small", test_too_small);
  return g_test_run ();
}
