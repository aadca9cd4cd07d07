/* test-bad-inputs.c: one GTest per row of the bad-input catalogue
 * (tests/bad-inputs/README.md; sections
 * A, B, C, D01, E, F) that no other test names, as "/bad-inputs/<row>/...".
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Damaged files come from two generators, run under the build directory:
 * tests/fixtures/make_damaged.py (the loader's corpus) and
 * tests/bad-inputs/bad_inputs.py (the rows it lacks). Their manifests give,
 * per case, the NaclipError code and a message substring; every rule of
 * the manifests becomes one test here, which also checks what the corpus
 * test of test-safetensors.c does not: no file descriptor is left open, and
 * (outside sanitizers and valgrind, which need the address space) the
 * refusal fits in the address space in use plus twice the file size plus
 * 64 MiB (the catalogue's error policy: no allocation sized by a lying header).
 * Numeric rows (F02, F05, F06, F07, F09, E11) run tiny vision-only models
 * written by bad_inputs.py --models. tests/bad-inputs/README.md maps every
 * row to its test; "/bad-inputs/catalogue" checks that the map is complete.
 */

#include <math.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <fenv.h>
#include <sys/resource.h>
#include <sys/stat.h>
#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "naclip-private.h"
#include "pyhelper.h"

#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

static char *scratch;

/* Catalogue rows checked from the manifests, with a word for the path. */
typedef struct
{
  const char *row;
  const char *what;
} Row;

static const Row corpus_rows[] = {
  { "A01", "header-too-small" },
  { "A02", "empty-header" },
  { "A03", "header-too-large" },
  { "A04", "header-past-eof" },
  { "A05", "invalid-utf8" },
  { "A06", "not-json" },
  { "A07", "whitespace-padding-accepted" },
  { "A08", "nul-padding" },
  { "A09", "metadata-not-string" },
  { "A10", "nesting-too-deep" },
  { "A11", "duplicate-key" },
  { "A12", "bad-escapes" },
  { "A13", "unknown-dtype" },
  { "A14", "unusable-dtype" },
  { "A15", "sub-byte-misaligned" },
  { "A16", "shape-overflow" },
  { "A17", "bad-numbers" },
  { "A18", "data-offsets-not-pair" },
  { "A19", "end-before-begin" },
  { "A20", "size-mismatch" },
  { "A21", "overlap" },
  { "A22", "hole" },
  { "A23", "trailing-bytes" },
  { "A24", "file-too-short" },
  { "A25", "json-order-accepted" },
  { "A26", "empty-and-scalar-accepted" },
  { "A27", "misaligned-data-accepted" },
  { "A28", "unknown-field" },
  { "A29", "caps" },
  { "A30", "not-a-regular-file" },
  { "A32", "sharded-unsupported" },
  { "B01", "config-not-json" },
  { "B02", "missing-key" },
  { "B03", "wrong-type-or-range" },
  { "B04", "inconsistent" },
  { "B05", "config-vs-shapes" },
  { "B06", "missing-or-extra-tensor" },
  { "B07", "layer-count" },
  { "B08", "hidden-act" },
  { "B09", "eps-and-logit-scale" },
  { "B10", "config-strict-json" },
  { "C01", "merges-missing-or-empty" },
  { "C02", "merges-fewer-than-rows" },
  { "C09", "vocab-json-ignored" },
  { "D01", "pickle-refused" },
  { "F01", "non-finite-weights" },
};

/* ------------------------------------------------------------------ */
/* Helpers                                                             */

static double
cpu_time (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static gboolean
under_sanitizer (void)
{
#if defined(__SANITIZE_ADDRESS__)
  return TRUE;
#else
  return RUNNING_ON_VALGRIND != 0;
#endif
}

static guint
count_fds (void)
{
  g_autoptr (GDir) dir = g_dir_open ("/proc/self/fd", 0, NULL);
  guint n = 0;

  g_assert_nonnull (dir);
  while (g_dir_read_name (dir) != NULL)
    n++;
  return n;
}

/* VmSize of this process, bytes. */
static guint64
vm_size (void)
{
  g_autofree char *status = NULL;
  const char *line;

  g_assert_true (
      g_file_get_contents ("/proc/self/status", &status, NULL, NULL));
  line = strstr (status, "VmSize:");
  g_assert_nonnull (line);
  return g_ascii_strtoull (line + 7, NULL, 10) * 1024;
}

static NaclipError
code_from_name (const char *name)
{
  static const char *const names[] = { "IO", "FORMAT", "UNSUPPORTED", "MODEL" };

  for (guint i = 0; i < G_N_ELEMENTS (names); i++) {
    if (strcmp (name, names[i]) == 0)
      return (NaclipError)i + NACLIP_ERROR_IO;
  }
  g_error ("unknown code %s in a manifest", name);
}

/* The cases of every manifest, each with "dir" added. */
static GPtrArray *all_cases;
static GPtrArray *parsers;

static void
load_manifest (const char *dir)
{
  g_autofree char *path = g_build_filename (dir, "manifest.json", NULL);
  JsonParser *parser = json_parser_new ();
  GError *error = NULL;
  JsonArray *cases;

  json_parser_load_from_file (parser, path, &error);
  g_assert_no_error (error);
  cases = json_node_get_array (json_parser_get_root (parser));
  for (guint i = 0; i < json_array_get_length (cases); i++) {
    JsonObject *c = json_array_get_object_element (cases, i);
    json_object_set_string_member (c, "dir", dir);
    g_ptr_array_add (all_cases, c);
  }
  g_ptr_array_add (parsers, parser);
}

static void
generate (void)
{
  g_autofree char *script = g_strdup_printf (
      "import subprocess, sys\n"
      "sys.path.insert(0, '%s/tests/fixtures')\n"
      "import make_damaged\n"
      "make_damaged.corpus('damaged')\n"
      "for args in (['extra'], ['--models', 'models']):\n"
      "    subprocess.run([sys.executable,\n"
      "        '%s/tests/bad-inputs/bad_inputs.py'] + args, check=True)\n",
      NACLIP_SOURCE_ROOT, NACLIP_SOURCE_ROOT);

  scratch = pyhelper_scratch_dir ("bad-inputs");
  pyhelper_run (scratch, script);
  all_cases = g_ptr_array_new ();
  parsers = g_ptr_array_new_with_free_func (g_object_unref);
  for (guint i = 0; i < 2; i++) {
    g_autofree char *dir
        = g_build_filename (scratch, i == 0 ? "damaged" : "extra", NULL);
    load_manifest (dir);
  }
}

static void
check_parser_accepts (const char *path, const char *id)
{
  g_autoptr (GMappedFile) file = NULL;
  NaclipSafetensors *st;
  GError *error = NULL;

  file = g_mapped_file_new (path, FALSE, &error);
  g_assert_no_error (error);
  st = naclip_safetensors_parse (
      (const guint8 *)g_mapped_file_get_contents (file),
      g_mapped_file_get_length (file), path, &error);
  if (st == NULL)
    g_error ("%s must parse: %s", id, error->message);
  g_assert_cmpuint (st->n_tensors, >, 0);
  naclip_safetensors_free (st);
}

/* Loads case @c, which must fail as its manifest says. */
static void
check_refused (JsonObject *c, const char *path, double time_limit)
{
  const char *id = json_object_get_string_member (c, "id");
  const char *needle = json_object_get_string_member (c, "message");
  NaclipError code = code_from_name (json_object_get_string_member (c, "code"));
  GError *error = NULL;
  NaclipModel *model;
  GStatBuf sb;
  struct rlimit old_limit, limit;
  gboolean limited = FALSE;
  guint fds = count_fds ();
  double start, seconds;

  /* Bound the address space: a refusal may not allocate what a header
   * claims. Sanitizers and valgrind reserve huge shadow mappings. */
  if (!under_sanitizer () && g_stat (path, &sb) == 0 && S_ISREG (sb.st_mode)
      && (guint64)sb.st_size < (1u << 30)) {
    g_assert_cmpint (getrlimit (RLIMIT_AS, &old_limit), ==, 0);
    limit = old_limit;
    limit.rlim_cur = vm_size () + 2 * (guint64)sb.st_size + (64u << 20);
    if (old_limit.rlim_cur == RLIM_INFINITY
        || limit.rlim_cur < old_limit.rlim_cur)
      limited = setrlimit (RLIMIT_AS, &limit) == 0;
  }
  start = cpu_time ();
  model = naclip_model_load (path, TRUE, &error);
  seconds = cpu_time () - start;
  if (limited)
    g_assert_cmpint (setrlimit (RLIMIT_AS, &old_limit), ==, 0);

  if (model != NULL)
    g_error ("%s (%s) loaded but must fail with \"%s\"", id, path, needle);
  g_test_message ("%s (%.3f s): %s", id, seconds, error->message);
  if (!g_error_matches (error, NACLIP_ERROR, code))
    g_error ("%s: wrong error %s/%d (expected %s): %s", id,
        g_quark_to_string (error->domain), error->code,
        json_object_get_string_member (c, "code"), error->message);
  if (strstr (error->message, needle) == NULL)
    g_error ("%s: message \"%s\" does not contain \"%s\"", id, error->message,
        needle);
  if (seconds > time_limit)
    g_error ("%s took %.2f s of CPU (limit %.1f s)", id, seconds, time_limit);
  g_assert_cmpuint (count_fds (), ==, fds);
  g_clear_error (&error);
}

/* Every manifest case of the row given as @data. */
static void
test_corpus_row (gconstpointer data)
{
  const char *row = data;
  const char *slowdown = g_getenv ("NACLIP_TEST_SLOWDOWN");
  double time_limit = slowdown != NULL ? g_ascii_strtod (slowdown, NULL) : 1.0;
  guint n = 0;

#if defined(__SANITIZE_ADDRESS__)
  time_limit *= 10.0;
#endif
  for (guint i = 0; i < all_cases->len; i++) {
    JsonObject *c = all_cases->pdata[i];
    const char *rel = json_object_get_string_member (c, "path");
    const char *id = json_object_get_string_member (c, "id");
    g_autofree char *path = NULL;

    if (strcmp (json_object_get_string_member (c, "rule"), row) != 0)
      continue;
    path = g_path_is_absolute (rel)
               ? g_strdup (rel)
               : g_build_filename (
                   json_object_get_string_member (c, "dir"), rel, NULL);
    n++;
    if (!json_object_get_boolean_member_with_default (c, "accept", FALSE)) {
      check_refused (c, path, time_limit);
    } else if (g_strcmp0 (json_object_get_string_member_with_default (
                              c, "level", "parser"),
                   "model")
               == 0) {
      GError *error = NULL;
      NaclipModel *model = naclip_model_load (path, TRUE, &error);
      if (model == NULL)
        g_error ("%s must load: %s", id, error->message);
      naclip_model_unref (model);
    } else {
      check_parser_accepts (path, id);
    }
  }
  g_test_message ("%s: %u cases", row, n);
  g_assert_cmpuint (n, >, 0);
}

/* ------------------------------------------------------------------ */
/* A30: an unreadable file                                             */

static void
test_unreadable (void)
{
  g_autofree char *path
      = g_build_filename (scratch, "unreadable.safetensors", NULL);
  GError *error = NULL;

  g_assert_true (
      g_file_set_contents (path, "\x08\0\0\0\0\0\0\0{}      ", 16, NULL));
  g_assert_cmpint (g_chmod (path, 0), ==, 0);
  if (geteuid () == 0) {
    g_test_skip ("root reads files of mode 000 (no EACCES to test)");
    return;
  }
  g_assert_null (naclip_model_load (path, TRUE, &error));
  g_assert_error (error, NACLIP_ERROR, NACLIP_ERROR_IO);
  g_assert_nonnull (strstr (error->message, path));
  g_clear_error (&error);
}

/* ------------------------------------------------------------------ */
/* Segmentation with the tiny vision-only models                       */

static NaclipModel *
load_model (const char *name, gboolean check_weights)
{
  g_autofree char *path = g_build_filename (scratch, "models", name, NULL);
  GError *error = NULL;
  NaclipModel *model = naclip_model_load (path, check_weights, &error);

  if (model == NULL)
    g_error ("%s: %s", path, error->message);
  return model;
}

/* Queries for @classes with seeded random unit rows of @dim floats. */
static NaclipQueries *
random_queries (const NaclipClasses *classes, guint dim, guint32 seed)
{
  guint n = naclip_classes_get_n_queries (classes);
  g_autofree float *e = g_new (float, (gsize)n *dim);
  g_autoptr (GRand) rand = g_rand_new_with_seed (seed);
  GError *error = NULL;
  NaclipQueries *q;

  for (gsize i = 0; i < (gsize)n * dim; i++)
    e[i] = (float)g_rand_double_range (rand, -1.0, 1.0);
  naclip_ops_l2_normalize_rows_ref (e, n, dim, 1e-12f);
  q = naclip_queries_new (classes, e, n, dim, &error);
  g_assert_no_error (error);
  return q;
}

static NaclipImage
rgb_image (const guint8 *rgb, guint w, guint h)
{
  NaclipImage image = { 0 };

  image.format = NACLIP_PIXEL_RGB;
  image.width = w;
  image.height = h;
  image.data[0] = rgb;
  image.stride[0] = (gsize)w * 3;
  return image;
}

static NaclipContext *
small_context (NaclipModel *model, guint pamr_steps)
{
  NaclipContext *ctx = naclip_context_new (model, NULL);
  NaclipParams p = naclip_params_default ();
  GError *error = NULL;

  p.inference_size = 0;
  p.pamr_steps = pamr_steps;
  p.threads = 1;
  p.precision = NACLIP_PRECISION_FP32;
  naclip_context_set_params (ctx, &p, &error);
  g_assert_no_error (error);
  return ctx;
}

/* Checks labels < n_labels and probabilities in [0, 1]. */
static void
check_outputs (
    const guint8 *labels, const float *probs, gsize n_pixels, guint n_labels)
{
  for (gsize i = 0; i < n_pixels; i++)
    g_assert_cmpuint (labels[i], <, n_labels);
  for (gsize i = 0; i < n_pixels * n_labels; i++) {
    if (!(isfinite (probs[i]) && probs[i] >= 0.0f && probs[i] <= 1.0f))
      g_error ("probability %" G_GSIZE_FORMAT " is %g", i, probs[i]);
  }
}

/* F05: saturated noise and checkerboards (black, white and constant
 * frames are /segment/constant-frames) give valid masks, with PAMR. */
static void
test_noise_frames (void)
{
  g_autoptr (NaclipModel) model = load_model ("vision", TRUE);
  g_autoptr (NaclipClasses) classes
      = naclip_classes_parse ("a,b,c", "sky", NULL);
  g_autoptr (NaclipQueries) q = random_queries (classes, 32, 5);
  g_autoptr (NaclipContext) ctx = small_context (model, 3);
  g_autoptr (GRand) rand = g_rand_new_with_seed (11);
  const guint w = 48, h = 37, n_labels = 4;
  g_autofree guint8 *rgb = g_new (guint8, w * h * 3);
  g_autofree guint8 *labels = g_new (guint8, w * h);
  g_autofree float *probs = g_new (float, n_labels *w *h);
  NaclipImage image = rgb_image (rgb, w, h);
  GError *error = NULL;

  for (guint pattern = 0; pattern < 3; pattern++) {
    for (guint y = 0; y < h; y++) {
      for (guint x = 0; x < w; x++) {
        for (guint ch = 0; ch < 3; ch++) {
          guint8 v;
          if (pattern == 0)
            v = g_rand_boolean (rand) ? 255 : 0;
          else if (pattern == 1)
            v = ((x + y) & 1) ? 255 : 0;
          else
            v = (((x / 8) + (y / 8)) & 1) ? 255 : 0;
          rgb[(y * w + x) * 3 + ch] = v;
        }
      }
    }
    g_assert_true (naclip_context_segment (
        ctx, q, &image, w, h, labels, w, probs, &error));
    g_assert_no_error (error);
    check_outputs (labels, probs, (gsize)w * h, n_labels);
  }
}

/* F07: non-finite query embeddings (so NaN/Inf logits) still give labels
 * in range and never trap; UBSan's float-cast-overflow and
 * float-divide-by-zero see the conversions in the sanitizer build. */
static void
test_non_finite_logits (void)
{
  const float specials[] = { NAN, INFINITY, -INFINITY, 1e38f };
  g_autoptr (NaclipModel) model = load_model ("vision", TRUE);
  g_autoptr (NaclipClasses) classes = naclip_classes_parse ("a,b", NULL, NULL);
  g_autoptr (NaclipContext) ctx = small_context (model, 2);
  const guint w = 40, h = 40, dim = 32, n_labels = 3;
  g_autofree guint8 *rgb = g_new (guint8, w * h * 3);
  g_autofree guint8 *labels = g_new (guint8, w * h);
  g_autofree float *probs = g_new (float, n_labels *w *h);
  NaclipImage image = rgb_image (rgb, w, h);

  for (gsize i = 0; i < (gsize)w * h * 3; i++)
    rgb[i] = (guint8)(i * 7);
  for (guint s = 0; s < G_N_ELEMENTS (specials); s++) {
    float e[2 * 32];
    g_autoptr (NaclipQueries) q = NULL;
    GError *error = NULL;

    for (guint i = 0; i < 2 * dim; i++)
      e[i] = (float)(i % 5) * 0.1f;
    e[3] = specials[s];
    e[dim + 7] = specials[s];
    q = naclip_queries_new (classes, e, 2, dim, &error);
    g_assert_no_error (error);
    memset (labels, 0xee, (gsize)w * h);
    g_assert_true (naclip_context_segment (
        ctx, q, &image, w, h, labels, w, probs, &error));
    g_assert_no_error (error);
    for (gsize i = 0; i < (gsize)w * h; i++)
      g_assert_cmpuint (labels[i], <, n_labels);
  }
}

/* E11: one class is defined (NACLIP's prob_thd semantics: every pixel is
 * the class unless the threshold says background); lists above the label
 * cap are refused at once. */
static void
test_class_counts (void)
{
  g_autoptr (NaclipModel) model = load_model ("vision", TRUE);
  g_autoptr (NaclipClasses) one
      = naclip_classes_parse ("cat|kitten", NULL, NULL);
  g_autoptr (NaclipQueries) q = random_queries (one, 32, 3);
  g_autoptr (NaclipContext) ctx = small_context (model, 0);
  g_autoptr (GString) many = g_string_new (NULL);
  const guint w = 32, h = 32;
  g_autofree guint8 *rgb = g_new0 (guint8, w * h * 3);
  g_autofree guint8 *labels = g_new (guint8, w * h);
  g_autofree float *probs = g_new (float, 2 * w * h);
  NaclipImage image = rgb_image (rgb, w, h);
  NaclipParams p = naclip_params_default ();
  GError *error = NULL;
  double start;

  g_assert_cmpuint (naclip_classes_get_n_classes (one), ==, 1);
  g_assert_cmpuint (naclip_classes_get_n_queries (one), ==, 2);
  g_assert_true (
      naclip_context_segment (ctx, q, &image, w, h, labels, w, probs, &error));
  g_assert_no_error (error);
  for (gsize i = 0; i < (gsize)w * h; i++)
    g_assert_cmpuint (labels[i], ==, 1);
  /* A threshold above every probability makes everything background. */
  p.inference_size = 0;
  p.pamr_steps = 0;
  p.threads = 1;
  p.precision = NACLIP_PRECISION_FP32;
  p.class_confidence_threshold = 1.0f;
  g_assert_true (naclip_context_set_params (ctx, &p, &error));
  g_assert_true (
      naclip_context_segment (ctx, q, &image, w, h, labels, w, probs, &error));
  for (gsize i = 0; i < (gsize)w * h; i++)
    g_assert_cmpuint (labels[i], ==, 0);

  for (guint i = 0; i < 10000; i++)
    g_string_append_printf (many, "%sclass %u", i ? "," : "", i);
  start = cpu_time ();
  g_assert_null (naclip_classes_parse (many->str, NULL, &error));
  g_assert_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT);
  g_test_message ("10000 classes refused in %.1f ms: %s",
      (cpu_time () - start) * 1e3, error->message);
  g_assert_cmpfloat (cpu_time () - start, <, 0.5);
  g_clear_error (&error);
  g_assert_null (naclip_classes_parse ("", NULL, &error));
  g_assert_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
}

/* F02: F16 and BF16 special values (NaN payloads, +-Inf, subnormals,
 * the largest finite values, -0) widen bit for bit as numpy does; no
 * floating-point exception flag is raised. */
static void
test_half_specials (void)
{
  static const char *const dtypes[] = { "F16", "BF16" };

  for (guint d = 0; d < G_N_ELEMENTS (dtypes); d++) {
    g_autofree char *name = g_strconcat ("specials-", dtypes[d], NULL);
    g_autofree char *npy = g_strconcat (name, ".npy", NULL);
    g_autofree char *npy_path = g_build_filename (scratch, "models", npy, NULL);
    g_autoptr (NaclipModel) model = NULL;
    g_autofree guint32 *want = NULL;
    gsize shape[8];
    guint n_dims = 0;
    GError *error = NULL;
    const float *got;

    /* The .npy holds numpy's float32 results, NaN payloads included. */
    want = (guint32 *)naclip_npy_read_f32 (npy_path, shape, &n_dims, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (n_dims, ==, 1);
    feclearexcept (FE_ALL_EXCEPT);
    model = load_model (name, FALSE);
    g_assert_cmpint (fetestexcept (FE_INVALID | FE_DIVBYZERO), ==, 0);
    got = model->vision.blocks[0].fc1.weight;
    for (gsize i = 0; i < shape[0]; i++) {
      guint32 bits;
      memcpy (&bits, &got[i], 4);
      if (bits != want[i])
        g_error ("%s special %" G_GSIZE_FORMAT ": got 0x%08x, numpy 0x%08x",
            dtypes[d], i, bits, want[i]);
    }
  }
}

/* The x86 MXCSR (FTZ, DAZ, rounding, exception masks), or 0. */
static guint
read_csr (void)
{
#if defined(__x86_64__) || defined(__i386__)
  return _mm_getcsr () & ~0x3fu; /* without the sticky exception flags */
#else
  return 0;
#endif
}

/* Median CPU seconds of 5 segmentations. */
static double
time_segment (NaclipContext *ctx, NaclipQueries *q, const NaclipImage *image,
    guint8 *labels, float *probs)
{
  double t[5];

  for (guint r = 0; r < 5; r++) {
    struct timespec a, b;
    clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &a);
    g_assert_true (naclip_context_segment (ctx, q, image, image->width,
        image->height, labels, image->width, probs, NULL));
    clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &b);
    t[r] = (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
  }
  for (guint i = 0; i < 5; i++) {
    for (guint j = i + 1; j < 5; j++) {
      if (t[j] < t[i]) {
        double s = t[i];
        t[i] = t[j];
        t[j] = s;
      }
    }
  }
  return t[2];
}

/* F06: weights in the subnormal range cost at most twice the normal time
 * per frame (the load flushes them to zero: Intel CPUs take 2.6x without),
 * and the floating-point control state is the same before and after (the
 * library never sets FTZ/DAZ behind the caller's back). */
static void
test_denormal_weights (void)
{
  g_autoptr (NaclipModel) normal = load_model ("vision", TRUE);
  g_autoptr (NaclipModel) denormal = load_model ("denormal", TRUE);
  g_autoptr (NaclipClasses) classes = naclip_classes_parse ("a,b", NULL, NULL);
  g_autoptr (NaclipQueries) q = random_queries (classes, 32, 9);
  g_autoptr (NaclipContext) ctx_n = small_context (normal, 10);
  g_autoptr (NaclipContext) ctx_d = small_context (denormal, 10);
  const guint w = 96, h = 96;
  g_autofree guint8 *rgb = g_new (guint8, w * h * 3);
  g_autofree guint8 *labels = g_new (guint8, w * h);
  g_autofree float *probs = g_new (float, 3 * w * h);
  NaclipImage image = rgb_image (rgb, w, h);
  guint csr = read_csr ();
  fenv_t env_before, env_after;
  double t_normal, t_denormal;

  const NaclipLinear *fc1 = &denormal->vision.blocks[0].fc1;
  for (gsize i = 0; i < (gsize)fc1->n_out * fc1->n_in; i++)
    g_assert_cmpfloat (fabsf (fc1->weight[i]), ==, 0.0f);
  for (gsize i = 0; i < (gsize)w * h * 3; i++)
    rgb[i] = (guint8)((i * 37) >> 3);
  fegetenv (&env_before);
  t_normal = time_segment (ctx_n, q, &image, labels, probs);
  t_denormal = time_segment (ctx_d, q, &image, labels, probs);
  g_assert_cmphex (read_csr (), ==, csr);
  fegetenv (&env_after);
  g_assert_cmpint (fegetround (), ==, FE_TONEAREST);
  check_outputs (labels, probs, (gsize)w * h, 3);
  g_test_message ("per frame: normal %.2f ms, subnormal weights %.2f ms "
                  "(ratio %.2f)",
      t_normal * 1e3, t_denormal * 1e3, t_denormal / t_normal);
  if (!under_sanitizer ())
    g_assert_cmpfloat (t_denormal, <=, 2.0 * t_normal + 0.002);
}

/* F09: loading a model and segmenting leave FTZ/DAZ and the rest of the
 * floating-point environment as they were; nothing linked into the test
 * (e.g. crtfastmath.o from -ffast-math) set FTZ/DAZ at start-up. */
static guint startup_csr;

static void
test_fp_environment (void)
{
  g_autoptr (NaclipModel) model = NULL;
  g_autoptr (NaclipClasses) classes = naclip_classes_parse ("a", NULL, NULL);
  g_autoptr (NaclipQueries) q = NULL;
  g_autoptr (NaclipContext) ctx = NULL;
  guint8 rgb[32 * 32 * 3] = { 0 }, labels[32 * 32];
  NaclipImage image = rgb_image (rgb, 32, 32);
  guint csr;

#if defined(__x86_64__) || defined(__i386__)
  /* FTZ is bit 15, DAZ bit 6. */
  g_assert_cmphex (startup_csr & 0x8040u, ==, 0);
#endif
  csr = read_csr ();
  model = load_model ("vision", TRUE);
  g_assert_cmphex (read_csr (), ==, csr);
  q = random_queries (classes, 32, 1);
  ctx = small_context (model, 2);
  g_assert_true (
      naclip_context_segment (ctx, q, &image, 32, 32, labels, 32, NULL, NULL));
  g_assert_cmphex (read_csr (), ==, csr);
  g_assert_cmpint (fegetround (), ==, FE_TONEAREST);
}

/* ------------------------------------------------------------------ */
/* The coverage report lists every row                                 */

static void
test_catalogue (void)
{
  g_autofree char *catalogue_path = g_build_filename (
      g_getenv ("NACLIP_SHARED") != NULL ? g_getenv ("NACLIP_SHARED")
                                         : NACLIP_SOURCE_ROOT "/../shared",
      "BAD-INPUTS.md", NULL);
  g_autofree char *readme_path = g_build_filename (
      NACLIP_SOURCE_ROOT, "tests", "bad-inputs", "README.md", NULL);
  g_autofree char *catalogue = NULL, *readme = NULL;
  g_auto (GStrv) lines = NULL;
  g_autoptr (GRegex) row_re
      = g_regex_new ("^\\| ([A-I][0-9][0-9]) \\|", 0, 0, NULL);
  guint n_rows = 0;

  if (!g_file_get_contents (catalogue_path, &catalogue, NULL, NULL)) {
    g_test_skip ("shared/BAD-INPUTS.md is not available");
    return;
  }
  g_assert_true (g_file_get_contents (readme_path, &readme, NULL, NULL));
  lines = g_strsplit (catalogue, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++) {
    g_autoptr (GMatchInfo) m = NULL;
    g_autofree char *id = NULL;
    g_autofree char *needle = NULL;

    if (!g_regex_match (row_re, lines[i], 0, &m))
      continue;
    id = g_match_info_fetch (m, 1);
    n_rows++;
    needle = g_strdup_printf ("\n| %s |", id);
    if (strstr (readme, needle) == NULL)
      g_error ("row %s of BAD-INPUTS.md is missing from %s", id, readme_path);
  }
  g_test_message ("%u catalogue rows, all in the coverage report", n_rows);
  g_assert_cmpuint (n_rows, >=, 120);
}

int
main (int argc, char **argv)
{
  g_autoptr (GHashTable) registered
      = g_hash_table_new (g_str_hash, g_str_equal);

  startup_csr = read_csr ();
  g_test_init (&argc, &argv, NULL);
  generate ();
  for (guint i = 0; i < G_N_ELEMENTS (corpus_rows); i++) {
    g_autofree char *path = g_strdup_printf (
        "/bad-inputs/%s/%s", corpus_rows[i].row, corpus_rows[i].what);
    g_test_add_data_func (path, corpus_rows[i].row, test_corpus_row);
    g_hash_table_add (registered, (gpointer)corpus_rows[i].row);
  }
  /* Rules of the manifests that are not catalogue rows (the loader's own
   * extra cases) run too. */
  for (guint i = 0; i < all_cases->len; i++) {
    const char *rule
        = json_object_get_string_member (all_cases->pdata[i], "rule");
    if (!g_hash_table_contains (registered, rule)) {
      g_autofree char *path = g_strdup_printf ("/bad-inputs/extra/%s", rule);
      g_test_add_data_func (path, rule, test_corpus_row);
      g_hash_table_add (registered, (gpointer)rule);
    }
  }
  g_test_add_func ("/bad-inputs/A30/unreadable", test_unreadable);
  g_test_add_func ("/bad-inputs/E11/one-class-and-caps", test_class_counts);
  g_test_add_func (
      "/bad-inputs/F02/half-specials-bit-exact", test_half_specials);
  g_test_add_func (
      "/bad-inputs/F05/noise-and-checkerboards", test_noise_frames);
  g_test_add_func ("/bad-inputs/F06/denormal-weights", test_denormal_weights);
  g_test_add_func ("/bad-inputs/F07/non-finite-logits", test_non_finite_logits);
  g_test_add_func ("/bad-inputs/F09/fp-environment", test_fp_environment);
  g_test_add_func ("/bad-inputs/catalogue", test_catalogue);
  return g_test_run ();
}
