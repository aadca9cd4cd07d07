/* test-segment.c: the per-frame pipeline of NaclipContext (src/segment.c).
 *
 * - window geometry against a signed-integer transcription of
 *   naclip.py's forward_slide, over a sweep of sizes incl. images
 *   smaller than one crop, plus hand-checked cases;
 * - bad inputs: each fails with NACLIP_ERROR_INVALID_ARGUMENT and a message
 *   naming the value;
 * - label logic: labels and probs recomputed from the "refined" dump
 *   (softmax with logit_scale, max over a class's queries, background
 *   row, threshold), with synonyms and background names;
 * - stage-by-stage parity of the library with the PyTorch reference
 *   (tests/reference/naclip_ref.py segment, given query embeddings) on a
 *   seeded tiny checkpoint: whole image and sliding windows, PAMR on;
 * - a second call of the same sizes allocates nothing: the context's
 *   allocation counter, and (without ASan) every malloc of the process.
 */

#define _GNU_SOURCE /* dladdr */

#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "naclip-private.h"
#include "pyhelper.h"

/* Parity tolerances (the tiny models of the suite, fp32 pinned): features and
 * logits 1e-4 absolute (the bar); probabilities likewise; label
 * maps must agree on at least 99.9% of the pixels. */
#define FEATURE_ATOL 1e-4
#define LOGIT_ATOL 1e-4
#define PROB_ATOL 1e-4
#define INPUT_ATOL 1e-5
#define LABEL_AGREEMENT 0.999

/* The paper's parameters, computed in fp32: every check of this file is
 * an fp32 check, whatever auto means on the CPU (bf16 against fp32 is
 * tests/parity/precision.py). */
static NaclipParams
fp32_params (void)
{
  NaclipParams p = naclip_params_default ();
  p.precision = NACLIP_PRECISION_FP32;
  return p;
}

/* ------------------------------------------------------------------ */
/* Counting every allocation of the process (not under ASan, which owns
 * malloc): glibc's allocator stays in charge through its __libc_ entry
 * points. OpenBLAS's threaded GEMM driver mallocs and frees its job table
 * inside every cblas_sgemm call; that is OpenBLAS's own business, so
 * allocations called from libopenblas are not counted. */

#if defined(__SANITIZE_ADDRESS__)
#define COUNT_MALLOC 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define COUNT_MALLOC 0
#endif
#endif
#ifndef COUNT_MALLOC
#define COUNT_MALLOC 1
#endif

#if COUNT_MALLOC
extern void *__libc_malloc (size_t size);
extern void *__libc_calloc (size_t n, size_t size);
extern void *__libc_realloc (void *p, size_t size);
extern void *__libc_memalign (size_t alignment, size_t size);

static gint n_mallocs;
static gint counting;

static void
count_malloc (const void *caller)
{
  Dl_info info;

  if (!g_atomic_int_get (&counting))
    return;
  if (dladdr (caller, &info) != 0 && info.dli_fname != NULL
      && strstr (info.dli_fname, "libopenblas") != NULL)
    return;
  g_atomic_int_inc (&n_mallocs);
}

void *
malloc (size_t size)
{
  count_malloc (__builtin_return_address (0));
  return __libc_malloc (size);
}

void *
calloc (size_t n, size_t size)
{
  count_malloc (__builtin_return_address (0));
  return __libc_calloc (n, size);
}

void *
realloc (void *p, size_t size)
{
  count_malloc (__builtin_return_address (0));
  return __libc_realloc (p, size);
}

int
posix_memalign (void **p, size_t alignment, size_t size)
{
  count_malloc (__builtin_return_address (0));
  *p = __libc_memalign (alignment, size);
  return *p != NULL ? 0 : ENOMEM;
}

void *
aligned_alloc (size_t alignment, size_t size)
{
  count_malloc (__builtin_return_address (0));
  return __libc_memalign (alignment, size);
}
#endif

/* ------------------------------------------------------------------ */
/* Window geometry */

/* forward_slide, transcribed with signed integers. */
static void
spec_window (int h, int w, int c, int s, int r, int q, int out[4])
{
  int y1 = r * s, x1 = q * s;
  int y2 = MIN (y1 + c, h), x2 = MIN (x1 + c, w);
  out[0] = MAX (y2 - c, 0);
  out[1] = MAX (x2 - c, 0);
  out[2] = y2;
  out[3] = x2;
}

static void
test_windows (void)
{
  NaclipWindow win;
  guint checked = 0;

  /* 336 x 448 with 224 / 112: 2 rows x 3 columns. */
  g_assert_cmpuint (naclip_segment_n_windows (336, 448, 224, 112), ==, 6);
  naclip_segment_window (336, 448, 224, 112, 5, &win);
  g_assert_cmpuint (win.y1, ==, 112);
  g_assert_cmpuint (win.x1, ==, 224);
  g_assert_cmpuint (win.y2, ==, 336);
  g_assert_cmpuint (win.x2, ==, 448);
  /* 336 x 500: the last column is pushed back to end at the border. */
  g_assert_cmpuint (naclip_segment_n_windows (336, 500, 224, 112), ==, 8);
  naclip_segment_window (336, 500, 224, 112, 3, &win);
  g_assert_cmpuint (win.x1, ==, 276);
  g_assert_cmpuint (win.x2, ==, 500);
  /* Smaller than one crop: one window, the whole image. */
  g_assert_cmpuint (naclip_segment_n_windows (100, 150, 224, 112), ==, 1);
  naclip_segment_window (100, 150, 224, 112, 0, &win);
  g_assert_true (win.y1 == 0 && win.x1 == 0 && win.y2 == 100 && win.x2 == 150);
  /* Whole-image mode. */
  g_assert_cmpuint (naclip_segment_n_windows (37, 41, 0, 112), ==, 1);
  naclip_segment_window (37, 41, 0, 112, 0, &win);
  g_assert_true (win.y1 == 0 && win.x1 == 0 && win.y2 == 37 && win.x2 == 41);

  for (int h = 1; h <= 90; h += 7) {
    for (int w = 1; w <= 90; w += 11) {
      for (int c = 16; c <= 64; c += 24) {
        /* A stride above the crop leaves gaps; set_params refuses it. */
        for (int s = 1; s <= c; s += 13) {
          int rows = MAX (h - c + s - 1, 0) / s + 1;
          int cols = MAX (w - c + s - 1, 0) / s + 1;
          guint n = naclip_segment_n_windows (h, w, c, s);
          g_autofree guint *count = g_new0 (guint, h * w);
          g_assert_cmpuint (n, ==, (guint)(rows * cols));
          for (guint i = 0; i < n; i++) {
            int want[4];
            spec_window (h, w, c, s, (int)i / cols, (int)i % cols, want);
            naclip_segment_window (h, w, c, s, i, &win);
            if ((int)win.y1 != want[0] || (int)win.x1 != want[1]
                || (int)win.y2 != want[2] || (int)win.x2 != want[3])
              g_error ("window %u of %dx%d (crop %d, stride %d): got "
                       "(%u,%u)-(%u,%u), want (%d,%d)-(%d,%d)",
                  i, h, w, c, s, win.y1, win.x1, win.y2, win.x2, want[0],
                  want[1], want[2], want[3]);
            g_assert_cmpuint (win.y2 - win.y1, ==, (guint)MIN (c, h));
            g_assert_cmpuint (win.x2 - win.x1, ==, (guint)MIN (c, w));
            for (guint y = win.y1; y < win.y2; y++)
              for (guint x = win.x1; x < win.x2; x++)
                count[y * w + x]++;
            checked++;
          }
          for (int i = 0; i < h * w; i++)
            g_assert_cmpuint (count[i], >=, 1);
        }
      }
    }
  }
  g_test_message ("%u windows checked", checked);
}

/* ------------------------------------------------------------------ */
/* Fixtures */

typedef struct
{
  NaclipModel *model;
  NaclipClasses *classes;
  NaclipQueries *queries;
  guint embed_dim;
  char *model_dir;
} Fixture;

static Fixture fixture;

#define CLASSES "cat|kitten,dog,car"
#define BACKGROUND "sky|wall"

/* A seeded tiny checkpoint (patch 16, 64 px pretrained, embed 32) and
 * random unit query embeddings for CLASSES with BACKGROUND. */
static const Fixture *
get_fixture (void)
{
  g_autofree char *dir = NULL;
  g_autofree char *script = NULL;
  GError *error = NULL;
  GRand *rand;
  guint n_queries;
  float *emb;

  if (fixture.model != NULL)
    return &fixture;
  dir = pyhelper_scratch_dir ("segment");
  fixture.model_dir = g_build_filename (dir, "tiny", NULL);
  script = g_strdup_printf (
      "import subprocess, sys\n"
      "subprocess.run([sys.executable, '%s/tests/fixtures/make_checkpoint.py',"
      " '%s', '--preset', 'tiny', '--seed', '3'], check=True)\n",
      g_getenv ("NACLIP_SOURCE_ROOT"), fixture.model_dir);
  pyhelper_run (dir, script);
  fixture.model = naclip_model_load (fixture.model_dir, TRUE, &error);
  g_assert_no_error (error);
  fixture.embed_dim = naclip_model_get_info (fixture.model)->embed_dim;
  fixture.classes = naclip_classes_parse (CLASSES, BACKGROUND, &error);
  g_assert_no_error (error);
  n_queries = naclip_classes_get_n_queries (fixture.classes);
  g_assert_cmpuint (n_queries, ==, 6);
  rand = g_rand_new_with_seed (5);
  emb = g_new (float, n_queries *fixture.embed_dim);
  for (guint q = 0; q < n_queries; q++) {
    double norm = 0.0;
    float *row = emb + q * fixture.embed_dim;
    for (guint e = 0; e < fixture.embed_dim; e++) {
      row[e] = (float)g_rand_double_range (rand, -1.0, 1.0);
      norm += row[e] * row[e];
    }
    for (guint e = 0; e < fixture.embed_dim; e++)
      row[e] /= (float)sqrt (norm);
  }
  fixture.queries = naclip_queries_new (
      fixture.classes, emb, n_queries, fixture.embed_dim, &error);
  g_assert_no_error (error);
  g_free (emb);
  g_rand_free (rand);
  return &fixture;
}

static void
free_fixture (void)
{
  naclip_queries_unref (fixture.queries);
  naclip_classes_free (fixture.classes);
  naclip_model_unref (fixture.model);
  g_free (fixture.model_dir);
}

/* A packed RGB test image: two regions with a gradient and noise. */
static guint8 *
make_rgb (guint width, guint height, guint seed)
{
  GRand *rand = g_rand_new_with_seed (seed);
  guint8 *rgb = g_new (guint8, (gsize)width * height * 3);
  for (guint y = 0; y < height; y++) {
    for (guint x = 0; x < width; x++) {
      gboolean left = x * 5 < width * 2 + y;
      for (guint c = 0; c < 3; c++) {
        int base = left ? 40 + 60 * (int)c : 200 - 50 * (int)c;
        int v
            = base + (int)(y * 40 / height) + g_rand_int_range (rand, -20, 21);
        rgb[((gsize)y * width + x) * 3 + c] = (guint8)CLAMP (v, 0, 255);
      }
    }
  }
  g_rand_free (rand);
  return rgb;
}

static NaclipImage
rgb_image (const guint8 *rgb, guint width, guint height)
{
  NaclipImage image = { .format = NACLIP_PIXEL_RGB,
    .width = width,
    .height = height,
    .data = { rgb },
    .stride = { (gsize)width * 3 } };
  return image;
}

/* Dumps kept by name: a float (or gint32) copy and its shape. */
typedef struct
{
  gsize shape[3];
  guint n_dims;
  gsize n;
  float *data;
} Stage;

static void
free_stage (gpointer p)
{
  Stage *s = p;
  g_free (s->data);
  g_free (s);
}

static void
keep_stage (const char *name, const gsize *shape, guint n_dims,
    gboolean is_int32, const void *data, gpointer user_data)
{
  GHashTable *stages = user_data;
  Stage *s = g_new0 (Stage, 1);
  s->n_dims = n_dims;
  s->n = 1;
  for (guint i = 0; i < n_dims; i++) {
    s->shape[i] = shape[i];
    s->n *= shape[i];
  }
  s->data = g_new (float, s->n);
  if (is_int32) {
    for (gsize i = 0; i < s->n; i++)
      s->data[i] = (float)((const gint32 *)data)[i];
  } else {
    memcpy (s->data, data, s->n * sizeof (float));
  }
  g_hash_table_replace (stages, g_strdup (name), s);
}

static const Stage *
get_stage (GHashTable *stages, const char *name)
{
  const Stage *s = g_hash_table_lookup (stages, name);
  if (s == NULL)
    g_error ("stage %s was not dumped", name);
  return s;
}

/* ------------------------------------------------------------------ */
/* Bad inputs */

static void
expect_error (gboolean ok, GError *error, const char *needle)
{
  g_assert_false (ok);
  g_assert_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT);
  if (strstr (error->message, needle) == NULL)
    g_error ("message \"%s\" does not name \"%s\"", error->message, needle);
  g_test_message ("expected error: %s", error->message);
  g_error_free (error);
}

static void
test_bad_input (void)
{
  const Fixture *f = get_fixture ();
  g_autoptr (NaclipContext) ctx = naclip_context_new (f->model, NULL);
  NaclipParams p = fp32_params ();
  g_autofree guint8 *rgb = make_rgb (64, 48, 1);
  guint8 labels[64 * 48];
  NaclipImage image = rgb_image (rgb, 64, 48);
  GError *error = NULL;
  gboolean ok;

  p.inference_size = 0;
  p.pamr_steps = 0;
  g_assert_true (naclip_context_set_params (ctx, &p, NULL));

  /* An image smaller than one patch (16 px) at its processing size. */
  image = rgb_image (rgb, 15, 40);
  ok = naclip_context_segment (
      ctx, f->queries, &image, 15, 40, labels, 15, NULL, &error);
  expect_error (ok, error,
      "image 15x40 (processed at 15x40) is smaller "
      "than one patch (16 px)");
  error = NULL;
  /* A zero dimension. */
  image = rgb_image (rgb, 64, 0);
  ok = naclip_context_segment (
      ctx, f->queries, &image, 64, 48, labels, 64, NULL, &error);
  expect_error (ok, error, "size 64x0");
  error = NULL;
  image = rgb_image (rgb, 64, 48);
  /* An output size of 0. */
  ok = naclip_context_segment (
      ctx, f->queries, &image, 0, 48, labels, 64, NULL, &error);
  expect_error (ok, error, "output size 0x48");
  error = NULL;
  ok = naclip_context_segment (
      ctx, f->queries, &image, 64, 48, labels, 63, NULL, &error);
  expect_error (ok, error, "label stride 63");
  error = NULL;
  /* A stride of 0, a crop smaller than the patch, PAMR without dilations:
   * refused by set_params, the old parameters stay. */
  p.slide_crop = 32;
  p.slide_stride = 0;
  ok = naclip_context_set_params (ctx, &p, &error);
  expect_error (ok, error, "slide-stride 0");
  error = NULL;
  p.slide_stride = 16;
  p.slide_crop = 8;
  ok = naclip_context_set_params (ctx, &p, &error);
  expect_error (
      ok, error, "slide-crop 8 is smaller than the model's patch size (16 px)");
  error = NULL;
  p.slide_crop = 32;
  p.slide_stride = 33;
  ok = naclip_context_set_params (ctx, &p, &error);
  expect_error (ok, error, "slide-stride 33 is larger than slide-crop 32");
  error = NULL;
  p.slide_crop = 0;
  p.pamr_steps = 10;
  p.n_pamr_dilations = 0;
  ok = naclip_context_set_params (ctx, &p, &error);
  expect_error (ok, error, "pamr-dilations");
  error = NULL;
  /* The context still works with its old parameters. */
  g_assert_true (naclip_context_segment (
      ctx, f->queries, &image, 64, 48, labels, 64, NULL, &error));
  g_assert_no_error (error);
}

/* ------------------------------------------------------------------ */
/* Label logic */

/* Recomputes probs and labels from the refined logits and compares. */
static void
check_labels (GHashTable *stages, const guint8 *labels, gsize stride,
    const float *probs, float logit_scale, float threshold)
{
  const Stage *refined = get_stage (stages, "refined");
  const Stage *dumped_labels = get_stage (stages, "labels");
  const Stage *dumped_probs = get_stage (stages, "probs");
  guint n_queries = (guint)refined->shape[0];
  guint h = (guint)refined->shape[1], w = (guint)refined->shape[2];
  gsize plane = (gsize)h * w;
  guint n_labels = naclip_classes_get_n_classes (fixture.classes) + 1;
  guint n_bad = 0;

  g_assert_cmpuint (dumped_probs->shape[0], ==, n_labels);
  for (gsize p = 0; p < plane; p++) {
    double max_v = -INFINITY, sum = 0.0, best = -1.0;
    double cls[NACLIP_MAX_CLASSES + 1] = { 0 };
    guint label = 0;
    for (guint q = 0; q < n_queries; q++)
      max_v = MAX (max_v, refined->data[q * plane + p] * (double)logit_scale);
    for (guint q = 0; q < n_queries; q++)
      sum += exp (refined->data[q * plane + p] * (double)logit_scale - max_v);
    for (guint q = 0; q < n_queries; q++) {
      guint k = naclip_classes_get_query_label (fixture.classes, q);
      double prob
          = exp (refined->data[q * plane + p] * (double)logit_scale - max_v)
            / sum;
      cls[k] = MAX (cls[k], prob);
    }
    for (guint k = 0; k < n_labels; k++) {
      if (cls[k] > best) {
        best = cls[k];
        label = k;
      }
      g_assert_cmpfloat_with_epsilon (
          dumped_probs->data[k * plane + p], cls[k], 1e-5);
      if (probs != NULL)
        g_assert_cmpfloat (
            probs[k * plane + p], ==, dumped_probs->data[k * plane + p]);
    }
    if (best < threshold)
      label = 0;
    /* Ties within rounding may pick either class. */
    if (labels[(p / w) * stride + p % w] != label)
      n_bad++;
    g_assert_cmpfloat (
        dumped_labels->data[p], ==, (float)labels[(p / w) * stride + p % w]);
  }
  g_assert_cmpuint (n_bad, <=, plane / 1000);
}

static void
run_labels_case (
    gboolean sliding, guint pamr_steps, float threshold, gboolean want_probs)
{
  const Fixture *f = get_fixture ();
  g_autoptr (NaclipContext) ctx = naclip_context_new (f->model, NULL);
  g_autoptr (GHashTable) stages
      = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, free_stage);
  NaclipParams p = fp32_params ();
  const guint w = 75, h = 53, ow = 61, oh = 40, stride = 67;
  g_autofree guint8 *rgb = make_rgb (w, h, 11);
  g_autofree guint8 *labels = g_new0 (guint8, stride * oh);
  g_autofree float *probs = NULL;
  NaclipImage image = rgb_image (rgb, w, h);
  GError *error = NULL;
  guint n_labels = naclip_classes_get_n_classes (f->classes) + 1;
  guint histogram[NACLIP_MAX_CLASSES + 1] = { 0 };

  p.inference_size = 48;
  p.slide_crop = sliding ? 32 : 0;
  p.slide_stride = 16;
  p.pamr_steps = pamr_steps;
  p.pamr_dilations[0] = 2;
  p.pamr_dilations[1] = 5;
  p.class_confidence_threshold = threshold;
  p.logit_scale = 40.0f;
  p.threads = 2;
  g_assert_true (naclip_context_set_params (ctx, &p, NULL));
  naclip_context_set_dump_func (ctx, keep_stage, stages);
  if (want_probs)
    probs = g_new (float, n_labels *ow *oh);
  g_assert_true (naclip_context_segment (
      ctx, f->queries, &image, ow, oh, labels, stride, probs, &error));
  g_assert_no_error (error);
  check_labels (stages, labels, stride, probs, p.logit_scale, threshold);
  for (guint y = 0; y < oh; y++)
    for (guint x = 0; x < ow; x++)
      histogram[labels[y * stride + x]]++;
  g_test_message ("labels: %u %u %u %u (threshold %g)", histogram[0],
      histogram[1], histogram[2], histogram[3], (double)threshold);
  /* Padding bytes of the label rows are left alone. */
  for (guint y = 0; y < oh; y++)
    for (guint x = ow; x < stride; x++)
      g_assert_cmpuint (labels[y * stride + x], ==, 0);
}

static void
test_labels (void)
{
  run_labels_case (FALSE, 0, 0.0f, TRUE);
  run_labels_case (TRUE, 3, 0.0f, FALSE);
  run_labels_case (FALSE, 2, 0.6f, TRUE);
}

/* Black, white and constant frames (bad-input row F05): the PAMR std is 0
 * everywhere, and all outputs must stay finite. */
static void
test_constant_frames (void)
{
  static const guint8 values[] = { 0, 255, 128 };
  const Fixture *f = get_fixture ();
  g_autoptr (NaclipContext) ctx = naclip_context_new (f->model, NULL);
  NaclipParams p = fp32_params ();
  const guint w = 40, h = 33;
  guint n_labels = naclip_classes_get_n_classes (f->classes) + 1;
  g_autofree guint8 *rgb = g_new (guint8, w * h * 3);
  g_autofree guint8 *labels = g_new (guint8, w * h);
  g_autofree float *probs = g_new (float, n_labels *w *h);
  NaclipImage image = rgb_image (rgb, w, h);

  p.inference_size = 0;
  g_assert_true (naclip_context_set_params (ctx, &p, NULL));
  for (guint v = 0; v < G_N_ELEMENTS (values); v++) {
    memset (rgb, values[v], w * h * 3);
    g_assert_true (naclip_context_segment (
        ctx, f->queries, &image, w, h, labels, w, probs, NULL));
    for (gsize i = 0; i < (gsize)n_labels * w * h; i++)
      g_assert_true (
          isfinite (probs[i]) && probs[i] >= 0.0f && probs[i] <= 1.0f);
    for (gsize i = 0; i < (gsize)w * h; i++)
      g_assert_cmpuint (labels[i], <, n_labels);
  }
}

/* One and two threads agree: the pixel stages split rows, never sums,
 * but OpenBLAS's products may round differently on 2 threads (measured:
 * 9e-7 on the probabilities, no label changed); the output is large
 * enough for every stage to use both threads. */
static void
test_threads_agree (void)
{
  const Fixture *f = get_fixture ();
  const guint w = 160, h = 120, ow = 320, oh = 240;
  guint n_labels = naclip_classes_get_n_classes (f->classes) + 1;
  g_autofree guint8 *rgb = make_rgb (w, h, 8);
  NaclipImage image = rgb_image (rgb, w, h);
  guint8 *labels[2];
  float *probs[2];

  for (guint t = 0; t < 2; t++) {
    g_autoptr (NaclipContext) ctx = naclip_context_new (f->model, NULL);
    NaclipParams p = fp32_params ();
    p.inference_size = 96;
    p.slide_crop = 64;
    p.slide_stride = 32;
    p.threads = t + 1;
    g_assert_true (naclip_context_set_params (ctx, &p, NULL));
    labels[t] = g_new (guint8, ow * oh);
    probs[t] = g_new (float, n_labels *ow *oh);
    g_assert_true (naclip_context_segment (
        ctx, f->queries, &image, ow, oh, labels[t], ow, probs[t], NULL));
  }
  gsize n_diff = 0;
  for (gsize i = 0; i < (gsize)ow * oh; i++)
    n_diff += labels[0][i] != labels[1][i];
  g_test_message ("labels differing: %zu", n_diff);
  g_assert_cmpuint (n_diff, <=, (gsize)ow * oh / 1000);
  pyhelper_assert_close ("probs, 2 threads vs 1", probs[1], probs[0],
      (gsize)n_labels * ow * oh, 1e-5, 0.0);
  for (guint t = 0; t < 2; t++) {
    g_free (labels[t]);
    g_free (probs[t]);
  }
}

/* ------------------------------------------------------------------ */
/* Parity with the PyTorch reference */

static void
compare_stage (GHashTable *stages, const char *dir, const char *name,
    double atol, const char *what)
{
  const Stage *s = get_stage (stages, name);
  g_autofree char *file = g_strconcat (name, ".npy", NULL);
  g_autofree char *path = g_build_filename (dir, file, NULL);
  g_autofree char *label = g_strdup_printf ("%s: %s", what, name);
  gsize shape[8];
  guint n_dims = 0;
  GError *error = NULL;
  g_autofree float *want = naclip_npy_read_f32 (path, shape, &n_dims, &error);

  g_assert_no_error (error);
  g_assert_cmpuint (n_dims, ==, s->n_dims);
  for (guint i = 0; i < n_dims; i++)
    g_assert_cmpuint (shape[i], ==, s->shape[i]);
  pyhelper_assert_close (label, s->data, want, s->n, atol, 0.0);
}

typedef struct
{
  const char *name;
  guint width, height, slide_crop, pamr_steps;
  const char *dilations;
  gboolean processing_size;
} ParityCase;

/* Writes the case's image and queries into dir/<name>/ and appends the
 * reference run (its `segment` subcommand, dumping into dir/<name>/ref) to
 * @script. */
static void
prepare_parity_case (const ParityCase *c, const char *dir, GString *script)
{
  const Fixture *f = get_fixture ();
  g_autofree char *case_dir = g_build_filename (dir, c->name, NULL);
  g_autofree guint8 *rgb = make_rgb (c->width, c->height, 23);
  g_autofree float *as_float = g_new (float, (gsize)c->width * c->height * 3);
  gsize img_shape[3] = { c->height, c->width, 3 };
  gsize q_shape[2] = { naclip_queries_get_n (f->queries),
    naclip_queries_get_dim (f->queries) };

  g_assert_cmpint (g_mkdir_with_parents (case_dir, 0755), ==, 0);
  for (gsize i = 0; i < (gsize)c->width * c->height * 3; i++)
    as_float[i] = rgb[i];
  pyhelper_write (case_dir, "image.npy", as_float, img_shape, 3);
  pyhelper_write (case_dir, "queries-in.npy",
      naclip_queries_get_embeddings (f->queries), q_shape, 2);
  g_string_append_printf (script,
      "os.chdir('%s')\n"
      "Image.fromarray(np.load('image.npy').astype(np.uint8)).save("
      "'image.png')\n"
      "assert naclip_ref.main(['segment', '--model', '%s',"
      " '--classes', '%s', '--background', '%s', '--queries',"
      " 'queries-in.npy', '--inference-size', '48', '--slide-crop', '%u',"
      " '--slide-stride', '16', '--pamr-steps', '%u', '--pamr-dilations',"
      " '%s', '--output-size', '%s', '--dump-dir', 'ref', 'image.png']) == 0\n",
      case_dir, f->model_dir, CLASSES, BACKGROUND, c->slide_crop, c->pamr_steps,
      c->dilations, c->processing_size ? "processing" : "original");
}

/* Runs the library on the case and compares every stage with the
 * reference's dumps. */
static void
check_parity_case (const ParityCase *c, const char *dir)
{
  const Fixture *f = get_fixture ();
  g_autofree char *ref_dir = g_build_filename (dir, c->name, "ref", NULL);
  g_autofree guint8 *rgb = make_rgb (c->width, c->height, 23);
  g_autoptr (NaclipContext) ctx = naclip_context_new (f->model, NULL);
  g_autoptr (GHashTable) stages
      = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, free_stage);
  NaclipParams p = fp32_params ();
  NaclipImage image = rgb_image (rgb, c->width, c->height);
  guint ow = c->width, oh = c->height;
  g_autofree guint8 *labels = NULL;
  GError *error = NULL;
  const Stage *want_labels;
  gsize n_same = 0;
  g_autofree char *label_path = NULL;
  g_autofree float *ref_labels = NULL;
  const char *name = c->name;

  p.inference_size = 48;
  p.slide_crop = c->slide_crop;
  p.slide_stride = 16;
  p.pamr_steps = c->pamr_steps;
  g_assert_true (naclip_parse_dilations (
      c->dilations, p.pamr_dilations, &p.n_pamr_dilations, NULL));
  g_assert_true (naclip_context_set_params (ctx, &p, NULL));
  naclip_context_set_dump_func (ctx, keep_stage, stages);
  if (c->processing_size)
    naclip_context_get_processing_size (ctx, c->width, c->height, &ow, &oh);
  labels = g_new (guint8, (gsize)ow * oh);
  g_assert_true (naclip_context_segment (
      ctx, f->queries, &image, ow, oh, labels, ow, NULL, &error));
  g_assert_no_error (error);

  compare_stage (stages, ref_dir, "input", INPUT_ATOL, name);
  compare_stage (stages, ref_dir, "features", FEATURE_ATOL, name);
  compare_stage (stages, ref_dir, "queries", 0.0, name);
  compare_stage (stages, ref_dir, "logits", LOGIT_ATOL, name);
  compare_stage (stages, ref_dir, "refined", LOGIT_ATOL, name);
  compare_stage (stages, ref_dir, "probs", PROB_ATOL, name);

  label_path = g_build_filename (ref_dir, "labels.npy", NULL);
  want_labels = get_stage (stages, "labels");
  /* labels.npy is int32 (npy format 1.0: 10-byte preamble, header). */
  {
    g_autoptr (GMappedFile) mf = g_mapped_file_new (label_path, FALSE, &error);
    const guint8 *bytes;
    gsize len, header;
    g_assert_no_error (error);
    bytes = (const guint8 *)g_mapped_file_get_contents (mf);
    len = g_mapped_file_get_length (mf);
    g_assert_cmpuint (len, >, 10);
    header = 10 + (bytes[8] | (bytes[9] << 8));
    g_assert_cmpuint (len - header, ==, want_labels->n * 4);
    ref_labels = g_new (float, want_labels->n);
    for (gsize i = 0; i < want_labels->n; i++) {
      gint32 v;
      memcpy (&v, bytes + header + 4 * i, 4);
      ref_labels[i] = (float)GINT32_FROM_LE (v);
    }
  }
  for (gsize i = 0; i < want_labels->n; i++)
    n_same += ref_labels[i] == want_labels->data[i];
  g_test_message ("%s: labels agree on %" G_GSIZE_FORMAT " of %" G_GSIZE_FORMAT
                  " pixels",
      name, n_same, want_labels->n);
  if ((double)n_same < LABEL_AGREEMENT * want_labels->n)
    g_error ("%s: labels agree on only %" G_GSIZE_FORMAT " of %" G_GSIZE_FORMAT
             " pixels",
        name, n_same, want_labels->n);
}

static void
test_parity (void)
{
  static const ParityCase cases[] = {
    { "whole", 75, 53, 0, 10, "8,16", FALSE },
    { "slide", 75, 53, 32, 10, "8,16", FALSE },
    { "slide-small", 40, 30, 64, 3, "1", FALSE },
    { "processing", 90, 70, 0, 5, "8,16", TRUE },
  };
  g_autofree char *dir = pyhelper_scratch_dir ("segment");
  g_autofree char *ref_dir = g_build_filename (
      g_getenv ("NACLIP_SOURCE_ROOT"), "tests", "reference", NULL);
  GString *script = g_string_new (NULL);

  /* One Python process runs the reference for every case. */
  g_string_append_printf (script,
      "import os, sys\nimport numpy as np\nfrom PIL import Image\n"
      "sys.path.insert(0, '%s')\nimport naclip_ref\n",
      ref_dir);
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    prepare_parity_case (&cases[i], dir, script);
  pyhelper_run (dir, script->str);
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    check_parity_case (&cases[i], dir);
  g_string_free (script, TRUE);
}

/* ------------------------------------------------------------------ */
/* No allocation on a second call */

static void
test_no_realloc (void)
{
  const Fixture *f = get_fixture ();
  g_autoptr (NaclipContext) ctx = naclip_context_new (f->model, NULL);
  NaclipParams p = fp32_params ();
  const guint w = 80, h = 60;
  g_autofree guint8 *rgb = make_rgb (w, h, 3);
  g_autofree guint8 *labels = g_new (guint8, w * h);
  g_autofree float *probs = g_new (float, 4 * w * h);
  NaclipImage image = rgb_image (rgb, w, h);
  guint64 n_alloc;

  p.inference_size = 48;
  p.slide_crop = 32;
  p.slide_stride = 16;
  g_assert_true (naclip_context_set_params (ctx, &p, NULL));
  g_assert_true (naclip_context_segment (
      ctx, f->queries, &image, w, h, labels, w, probs, NULL));
  n_alloc = naclip_context_get_n_allocations (ctx);
  g_assert_cmpuint (n_alloc, >, 0);
#if COUNT_MALLOC
  g_atomic_int_set (&n_mallocs, 0);
  g_atomic_int_set (&counting, 1);
#endif
  g_assert_true (naclip_context_segment (
      ctx, f->queries, &image, w, h, labels, w, probs, NULL));
#if COUNT_MALLOC
  g_atomic_int_set (&counting, 0);
  g_test_message (
      "mallocs during the second call: %d", g_atomic_int_get (&n_mallocs));
  g_assert_cmpint (g_atomic_int_get (&n_mallocs), ==, 0);
#endif
  g_assert_cmpuint (naclip_context_get_n_allocations (ctx), ==, n_alloc);
  /* A smaller image with the same processing size (64x48) and a smaller
   * output fits the same buffers. */
  image = rgb_image (rgb, 72, 54);
  image.stride[0] = (gsize)w * 3;
  g_assert_true (naclip_context_segment (
      ctx, f->queries, &image, 70, 50, labels, 70, NULL, NULL));
  g_assert_cmpuint (naclip_context_get_n_allocations (ctx), ==, n_alloc);
}

typedef struct
{
  NaclipContext *ctx;
  const Fixture *f;
  const NaclipImage *image;
  guint8 *labels;
  guint w, h;
  GError *error;
  gboolean ok;
  gint started; /* atomic */
} SlowCall;

static gpointer
slow_call_main (gpointer data)
{
  SlowCall *c = data;
  g_atomic_int_set (&c->started, 1);
  c->ok = naclip_context_segment (c->ctx, c->f->queries, c->image, c->w, c->h,
      c->labels, c->w, NULL, &c->error);
  return NULL;
}

/* naclip_context_cancel() from another thread stops a slow call (1000
 * PAMR steps at 640x480, seconds of work) with NACLIP_ERROR_CANCELLED
 * within 500 ms (one PAMR step is milliseconds: 6 ms measured when quiet,
 * 140 ms seen with the 2 cores loaded 2x); the next call runs to the end
 * (the flag is cleared when a call starts). */
static void
test_cancel (void)
{
  const Fixture *f = get_fixture ();
  const guint w = 640, h = 480;
  g_autofree guint8 *rgb = make_rgb (w, h, 9);
  g_autofree guint8 *labels = g_new (guint8, w * h);
  NaclipImage image = rgb_image (rgb, w, h);
  g_autoptr (NaclipContext) ctx = naclip_context_new (f->model, NULL);
  NaclipParams p = fp32_params ();
  SlowCall c = { ctx, f, &image, labels, w, h, NULL, FALSE, 0 };

  p.inference_size = 64;
  p.pamr_steps = 1000;
  g_assert_true (naclip_context_set_params (ctx, &p, NULL));
  GThread *thread = g_thread_new ("slow", slow_call_main, &c);
  while (!g_atomic_int_get (&c.started))
    g_usleep (1000);
  g_usleep (300 * 1000);
  gint64 t0 = g_get_monotonic_time ();
  naclip_context_cancel (ctx);
  g_thread_join (thread);
  gint64 took = g_get_monotonic_time () - t0;
  g_test_message ("cancelled call returned after %.1f ms", took / 1000.0);
  g_assert_false (c.ok);
  g_assert_error (c.error, NACLIP_ERROR, NACLIP_ERROR_CANCELLED);
  g_assert_cmpint (took, <, 500 * 1000);
  g_clear_error (&c.error);

  /* a cancel with no call running is forgotten by the next call */
  naclip_context_cancel (ctx);
  p.pamr_steps = 2;
  g_assert_true (naclip_context_set_params (ctx, &p, NULL));
  g_assert_true (naclip_context_segment (
      ctx, f->queries, &image, w, h, labels, w, NULL, NULL));
}

int
main (int argc, char **argv)
{
  int status;

  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/segment/windows", test_windows);
  g_test_add_func ("/segment/bad-input", test_bad_input);
  g_test_add_func ("/segment/labels", test_labels);
  g_test_add_func ("/segment/constant-frames", test_constant_frames);
  g_test_add_func ("/segment/threads-agree", test_threads_agree);
  g_test_add_func ("/segment/parity", test_parity);
  g_test_add_func ("/segment/no-realloc", test_no_realloc);
  g_test_add_func ("/segment/cancel", test_cancel);
  status = g_test_run ();
  free_fixture ();
  return status;
}
