/* test-text.c: the text tower and the query embeddings against the
 * PyTorch reference (tests/reference/naclip_ref.py).
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Fixtures: seeded random "tiny" CLIP checkpoints (make_checkpoint.py) in
 * both key layouts, with GELU, and stored as F16, under
 * $NACLIP_BUILD_ROOT/tests/tmp-text. The reference runs once, in one Python
 * process, on the ids the C tokenizer produced (tower parity) and on class
 * names with its own tokenizer (end-to-end parity).
 *
 * Tolerance: 1e-4 absolute on unnormalised tower outputs and on normalised
 * query embeddings (fp32 both sides, pinned: the differences are summation
 * order; bf16 is tests/parity/precision.py's).
 */

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

#define ATOL 1e-4

static char *dir;

/* Names embedded on both sides; the last is long enough to need 3 pieces
 * of BPE and pushes some prompts towards 30 tokens. */
static const char classes_str[]
    = "cat,dog|puppy,person in shirt,tv monitor,"
      "pneumonoultramicroscopicsilicovolcanoconiosis";
static const char *const models[]
    = { "tiny-hf", "tiny-openai", "tiny-gelu", "tiny-f16" };

static const char setup_script[]
    = "import os, sys\n"
      "import numpy as np\n"
      "sys.path.insert(0, '%s/tests/fixtures')\n"
      "sys.path.insert(0, '%s/tests/reference')\n"
      "import make_checkpoint as mc\n"
      "import naclip_ref as ref\n"
      "P = mc.PRESETS\n"
      "mc.ensure('tiny-hf', P['tiny'], 'hf', 'F32', 21)\n"
      "mc.ensure('tiny-openai', P['tiny'], 'openai', 'F32', 21)\n"
      "mc.ensure('tiny-gelu', dict(P['tiny'], act='gelu'), 'hf', 'F32', 22)\n"
      "mc.ensure('tiny-f16', P['tiny'], 'hf', 'F16', 23)\n"
      "mc.ensure('tiny-vision', dict(P['tiny'], with_text=False), 'hf', "
      "'F32', 24)\n"
      "names, _, _ = ref.parse_classes('%s', None, '')\n"
      "for m in ('tiny-hf', 'tiny-openai', 'tiny-gelu', 'tiny-f16'):\n"
      "    model = ref.Model(m)\n"
      "    if os.path.exists(m + '-ids.npy'):\n"
      "        ids = np.load(m + '-ids.npy').astype(np.int64)\n"
      "        np.save(m + '-text.npy', ref.encode_text(model, ids).numpy())\n"
      "    for t in (('imagenet80', 'single') if m == 'tiny-hf' else "
      "('single',)):\n"
      "        q = ref.embed_queries(model, names, ref.read_templates(t))\n"
      "        np.save(f'{m}-{t}.npy', q.numpy())\n";

static void
run_reference (void)
{
  g_autofree char *script = g_strdup_printf (
      setup_script, NACLIP_SOURCE_ROOT, NACLIP_SOURCE_ROOT, classes_str);
  pyhelper_run (dir, script);
}

static NaclipModel *
load (const char *name)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  GError *error = NULL;
  NaclipModel *model = naclip_model_load (path, TRUE, &error);
  g_assert_no_error (error);
  return model;
}

/* Token ids of prompts of very different lengths (1 to 40 tokens), and of
 * the same prompt alone, to check that batching and trimming to the
 * longest end position do not change a prompt's result. */
static const char *const prompts[] = {
  "",
  "a photo of a cat.",
  "a bad photo of the pneumonoultramicroscopicsilicovolcanoconiosis.",
  ("itap of my tv monitor, which is very large and very old and very "
   "dusty and quite broken, sadly."),
  "dog",
};

static void
tokenize_prompts (NaclipModel *model, gint32 *ids, gint *eot)
{
  for (guint i = 0; i < G_N_ELEMENTS (prompts); i++) {
    GError *error = NULL;
    eot[i] = naclip_tokenizer_encode (model->tokenizer, prompts[i], -1, FALSE,
        ids + i * NACLIP_CONTEXT_LENGTH, NACLIP_CONTEXT_LENGTH, &error);
    g_assert_no_error (error);
  }
}

static void
write_ids (void)
{
  for (guint m = 0; m < G_N_ELEMENTS (models); m++) {
    g_autoptr (NaclipModel) model = load (models[m]);
    gint32 ids[G_N_ELEMENTS (prompts) * NACLIP_CONTEXT_LENGTH];
    gint eot[G_N_ELEMENTS (prompts)];
    gsize shape[2] = { G_N_ELEMENTS (prompts), NACLIP_CONTEXT_LENGTH };
    g_autofree char *name = g_strconcat (models[m], "-ids.npy", NULL);
    g_autofree char *path = g_build_filename (dir, name, NULL);
    GError *error = NULL;

    tokenize_prompts (model, ids, eot);
    g_assert_true (naclip_npy_write (path, shape, 2, TRUE, ids, &error));
    g_assert_no_error (error);
  }
}

static void
test_tower (void)
{
  for (guint m = 0; m < G_N_ELEMENTS (models); m++) {
    g_autoptr (NaclipModel) model = load (models[m]);
    const guint n = G_N_ELEMENTS (prompts);
    guint dim = naclip_model_get_info (model)->embed_dim;
    gint32 ids[G_N_ELEMENTS (prompts) * NACLIP_CONTEXT_LENGTH];
    gint eot[G_N_ELEMENTS (prompts)];
    g_autofree float *got = g_new (float, n *dim);
    g_autofree float *alone = g_new (float, dim);
    g_autofree char *file = g_strconcat (models[m], "-text.npy", NULL);
    g_autofree float *want = pyhelper_read (dir, file, n * dim);
    GError *error = NULL;

    g_autoptr (NaclipMatmul) mm = fp32_handle (model, 2);
    g_autoptr (NaclipMatmul) mm1 = fp32_handle (model, 1);

    tokenize_prompts (model, ids, eot);
    g_assert_true (
        naclip_text_encode (model, mm, ids, eot, n, NULL, got, &error));
    g_assert_no_error (error);
    pyhelper_assert_close (file, got, want, n * dim, ATOL, 0.0);
    /* prompt 1 alone (computed to its own end) = prompt 1 in the batch */
    g_assert_true (naclip_text_encode (model, mm1, ids + NACLIP_CONTEXT_LENGTH,
        eot + 1, 1, NULL, alone, &error));
    pyhelper_assert_close ("alone", alone, got + dim, dim, 1e-5, 0.0);
  }
}

static void
test_queries (void)
{
  GError *error = NULL;
  g_autoptr (NaclipClasses) classes
      = naclip_classes_parse (classes_str, NULL, &error);
  const char *sets[] = { "imagenet80", "single" };
  NaclipEncodeOptions options = naclip_encode_options_default ();

  g_assert_no_error (error);
  options.use_cache = FALSE;
  options.precision = NACLIP_PRECISION_FP32;
  for (guint m = 0; m < G_N_ELEMENTS (models); m++) {
    g_autoptr (NaclipModel) model = load (models[m]);
    /* the 80 templates on one model, the single one on all */
    for (guint s = (m == 0 ? 0 : 1); s < G_N_ELEMENTS (sets); s++) {
      g_autoptr (NaclipTemplates) t = naclip_templates_load (sets[s], &error);
      g_autoptr (NaclipQueries) q = NULL;
      g_autofree char *file = g_strdup_printf ("%s-%s.npy", models[m], sets[s]);
      guint n = naclip_classes_get_n_queries (classes);
      guint dim = naclip_model_get_info (model)->embed_dim;
      g_autofree float *want = pyhelper_read (dir, file, n * dim);

      q = naclip_queries_encode (model, classes, t, &options, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (naclip_queries_get_n (q), ==, n);
      g_assert_cmpuint (naclip_queries_get_dim (q), ==, dim);
      g_assert_cmpuint (
          naclip_classes_get_n_queries (naclip_queries_get_classes (q)), ==, n);
      pyhelper_assert_close (
          file, naclip_queries_get_embeddings (q), want, n * dim, ATOL, 0.0);
    }
  }
}

/* E06: a name too long for the longest template is an error naming it,
 * unless truncation is asked for. */
static void
test_too_long (void)
{
  g_autoptr (NaclipModel) model = load ("tiny-hf");
  g_autoptr (GString) name = g_string_new (NULL);
  g_autoptr (NaclipClasses) classes = NULL;
  g_autoptr (NaclipTemplates) t = naclip_templates_load ("imagenet80", NULL);
  NaclipEncodeOptions options = naclip_encode_options_default ();
  GError *error = NULL;
  NaclipQueries *q;

  for (guint i = 0; i < 70; i++)
    g_string_append (name, "red ");
  g_string_append (name, "cat");
  classes = naclip_classes_parse (name->str, NULL, &error);
  g_assert_no_error (error);
  options.use_cache = FALSE;
  options.precision = NACLIP_PRECISION_FP32;
  q = naclip_queries_encode (model, classes, t, &options, &error);
  g_assert_null (q);
  g_assert_error (error, NACLIP_ERROR, NACLIP_ERROR_TEXT);
  g_assert_nonnull (strstr (error->message, "red red"));
  g_assert_nonnull (strstr (error->message, "context of 77"));
  g_clear_error (&error);
  options.truncate = TRUE;
  q = naclip_queries_encode (model, classes, t, &options, &error);
  g_assert_no_error (error);
  naclip_queries_unref (q);
}

static void
test_no_text (void)
{
  g_autoptr (NaclipModel) model = load ("tiny-vision");
  g_autoptr (NaclipClasses) classes = naclip_classes_parse ("cat", NULL, NULL);
  g_autoptr (NaclipTemplates) t = naclip_templates_load ("single", NULL);
  GError *error = NULL;

  g_assert_null (naclip_queries_encode (model, classes, t, NULL, &error));
  g_assert_error (error, NACLIP_ERROR, NACLIP_ERROR_MODEL);
  g_clear_error (&error);
}

/* naclip_queries_new copies, checks the count, and refcounting works. */
/* A cancelled GCancellable stops the encoding with
 * NACLIP_ERROR_CANCELLED; a bf16 request where bf16 cannot run fails with
 * NACLIP_ERROR_UNSUPPORTED before any work. */
static void
test_queries_cancel (void)
{
  GError *error = NULL;
  g_autoptr (NaclipClasses) classes
      = naclip_classes_parse (classes_str, NULL, &error);
  g_autoptr (NaclipModel) model = load (models[0]);
  g_autoptr (NaclipTemplates) t = naclip_templates_load ("single", &error);
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  NaclipEncodeOptions options = naclip_encode_options_default ();
  NaclipPrecision resolved;

  g_assert_no_error (error);
  options.use_cache = FALSE;
  options.cancellable = cancellable;
  g_cancellable_cancel (cancellable);
  g_assert_null (naclip_queries_encode (model, classes, t, &options, &error));
  g_assert_error (error, NACLIP_ERROR, NACLIP_ERROR_CANCELLED);
  g_clear_error (&error);

  options.cancellable = NULL;
  options.precision = NACLIP_PRECISION_BF16;
  if (!naclip_precision_resolve (NACLIP_PRECISION_BF16, &resolved, NULL)) {
    g_assert_null (naclip_queries_encode (model, classes, t, &options, &error));
    g_assert_error (error, NACLIP_ERROR, NACLIP_ERROR_UNSUPPORTED);
    g_clear_error (&error);
  }
}

static void
test_queries_new (void)
{
  g_autoptr (NaclipClasses) classes
      = naclip_classes_parse ("a|b,c", NULL, NULL);
  float emb[6] = { 1, 0, 0, 1, 0.5f, 0.5f };
  GError *error = NULL;
  NaclipQueries *q;

  g_assert_null (naclip_queries_new (classes, emb, 2, 2, &error));
  g_assert_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  q = naclip_queries_new (classes, emb, 3, 2, &error);
  g_assert_no_error (error);
  emb[0] = 7;
  g_assert_cmpfloat (naclip_queries_get_embeddings (q)[0], ==, 1.0f);
  g_assert_true (naclip_queries_ref (q) == q);
  naclip_queries_unref (q);
  g_assert_cmpuint (naclip_queries_get_n (q), ==, 3);
  naclip_queries_unref (q);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  dir = pyhelper_scratch_dir ("text");
  g_test_add_func ("/text/queries-new", test_queries_new);
  if (g_getenv ("NACLIP_SHARED") != NULL) {
    /* checkpoints first (the ids need the C tokenizer of each), then the
     * reference on those ids */
    pyhelper_run (dir,
        "import sys\n"
        "sys.path.insert(0, '" NACLIP_SOURCE_ROOT "/tests/fixtures')\n"
        "import make_checkpoint as mc\n"
        "P = mc.PRESETS\n"
        "mc.ensure('tiny-hf', P['tiny'], 'hf', 'F32', 21)\n"
        "mc.ensure('tiny-openai', P['tiny'], 'openai', 'F32', "
        "21)\n"
        "mc.ensure('tiny-gelu', dict(P['tiny'], act='gelu'), "
        "'hf', 'F32', 22)\n"
        "mc.ensure('tiny-f16', P['tiny'], 'hf', 'F16', 23)\n");
    write_ids ();
    run_reference ();
    g_test_add_func ("/text/tower", test_tower);
    g_test_add_func ("/text/queries", test_queries);
    g_test_add_func ("/text/queries-cancel", test_queries_cancel);
    g_test_add_func ("/text/too-long", test_too_long);
    g_test_add_func ("/text/no-text", test_no_text);
  }
  return g_test_run ();
}
