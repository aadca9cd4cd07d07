/* test-cache.c: the on-disk embedding cache (cache.c).
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Checks that entries are written and read back bit for bit, that a cached
 * entry is used instead of computing, that truncated, foreign and corrupt
 * entries are ignored and rewritten, that the key follows the model
 * weights, the template set, the query and truncation, that the cache can
 * be disabled, and that an unwritable cache directory does not fail the
 * encoding. Fixtures: seeded "tiny" checkpoints under
 * $NACLIP_BUILD_ROOT/tests/tmp-cache. Embeddings are computed in fp32 (the
 * precision is part of the key, /cache/key).
 */

#include <string.h>

#include <glib/gstdio.h>

#include "naclip-private.h"
#include "pyhelper.h"

static char *dir;

static NaclipModel *
load (const char *name)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  GError *error = NULL;
  NaclipModel *model = naclip_model_load (path, FALSE, &error);
  g_assert_no_error (error);
  return model;
}

static char *
fresh_cache_dir (const char *name)
{
  char *path = g_build_filename (dir, name, NULL);
  g_autoptr (GDir) d = g_dir_open (path, 0, NULL);
  const char *entry;

  while (d != NULL && (entry = g_dir_read_name (d)) != NULL) {
    g_autofree char *f = g_build_filename (path, entry, NULL);
    g_unlink (f);
  }
  return path;
}

static guint
count_entries (const char *path)
{
  g_autoptr (GDir) d = g_dir_open (path, 0, NULL);
  guint n = 0;
  const char *entry;
  while (d != NULL && (entry = g_dir_read_name (d)) != NULL)
    n += g_str_has_suffix (entry, ".emb");
  return n;
}

static NaclipQueries *
encode (NaclipModel *model, const char *classes_str, const char *templates,
    const char *cache_dir)
{
  g_autoptr (NaclipClasses) classes
      = naclip_classes_parse (classes_str, NULL, NULL);
  g_autoptr (NaclipTemplates) t = naclip_templates_load (templates, NULL);
  NaclipEncodeOptions options = naclip_encode_options_default ();
  GError *error = NULL;
  NaclipQueries *q;

  options.precision = NACLIP_PRECISION_FP32; /* the key of entry_file () */
  options.cache_dir = cache_dir;
  options.use_cache = cache_dir != NULL;
  q = naclip_queries_encode (model, classes, t, &options, &error);
  g_assert_no_error (error);
  return q;
}

static char *
entry_file (NaclipModel *model, const char *cache_dir, const char *templates,
    const char *query)
{
  g_autoptr (NaclipTemplates) t = naclip_templates_load (templates, NULL);
  g_autofree char *key
      = naclip_cache_key (naclip_cache_model_fingerprint (model), t, query,
          FALSE, NACLIP_PRECISION_FP32);
  g_autofree char *name = g_strconcat (key, ".emb", NULL);
  return g_build_filename (cache_dir, name, NULL);
}

/* Embeddings computed in batches of other compositions (other names,
 * fewer prompts) may differ in the last bits: BLAS blocks by batch size. */
#define BATCH_ATOL 1e-6f

static void
assert_close (NaclipQueries *a, NaclipQueries *b)
{
  gsize n = (gsize)naclip_queries_get_n (a) * naclip_queries_get_dim (a);
  const float *x = naclip_queries_get_embeddings (a);
  const float *y = naclip_queries_get_embeddings (b);

  g_assert_cmpuint (naclip_queries_get_n (a), ==, naclip_queries_get_n (b));
  for (gsize i = 0; i < n; i++)
    g_assert_cmpfloat_with_epsilon (x[i], y[i], BATCH_ATOL);
}

/* A cache hit returns the stored bits. */
static void
assert_same (NaclipQueries *a, NaclipQueries *b)
{
  g_assert_cmpuint (naclip_queries_get_n (a), ==, naclip_queries_get_n (b));
  g_assert_cmpmem (naclip_queries_get_embeddings (a),
      naclip_queries_get_n (a) * naclip_queries_get_dim (a) * sizeof (float),
      naclip_queries_get_embeddings (b),
      naclip_queries_get_n (b) * naclip_queries_get_dim (b) * sizeof (float));
}

static void
test_round_trip (void)
{
  g_autoptr (NaclipModel) model = load ("tiny-a");
  g_autofree char *cache = fresh_cache_dir ("c-round");
  g_autoptr (NaclipQueries) plain
      = encode (model, "cat,dog|puppy", "single", NULL);
  g_autoptr (NaclipQueries) cold
      = encode (model, "cat,dog|puppy", "single", cache);
  g_autoptr (NaclipQueries) warm = NULL;

  g_assert_cmpuint (count_entries (cache), ==, 3);
  assert_close (plain, cold);
  warm = encode (model, "cat,dog|puppy", "single", cache);
  assert_same (cold, warm);
  g_assert_cmpuint (count_entries (cache), ==, 3);
  /* a class change that reuses names adds only the new name */
  {
    g_autoptr (NaclipQueries) more
        = encode (model, "puppy,cat,bird", "single", cache);
    g_assert_cmpuint (naclip_queries_get_n (more), ==, 3);
    g_assert_cmpuint (count_entries (cache), ==, 4);
  }
}

/* A valid entry is used as is: plant one for "cat" holding a known vector. */
static void
test_entry_used (void)
{
  g_autoptr (NaclipModel) model = load ("tiny-a");
  g_autofree char *cache = fresh_cache_dir ("c-used");
  guint dim = naclip_model_get_info (model)->embed_dim;
  g_autofree float *planted = g_new0 (float, dim);
  g_autoptr (NaclipTemplates) t = naclip_templates_load ("single", NULL);
  g_autofree char *key
      = naclip_cache_key (naclip_cache_model_fingerprint (model), t, "cat",
          FALSE, NACLIP_PRECISION_FP32);
  g_autoptr (NaclipQueries) q = NULL;

  planted[3] = 1.0f;
  naclip_cache_write (cache, key, dim, planted);
  q = encode (model, "cat", "single", cache);
  g_assert_cmpmem (naclip_queries_get_embeddings (q), dim * sizeof (float),
      planted, dim * sizeof (float));
}

/* Truncated, foreign and corrupt entries are ignored and rewritten. */
static void
test_damaged (void)
{
  g_autoptr (NaclipModel) model = load ("tiny-a");
  g_autofree char *cache = fresh_cache_dir ("c-damaged");
  g_autoptr (NaclipQueries) good = encode (model, "cat,dog", "single", cache);
  g_autofree char *cat = entry_file (model, cache, "single", "cat");
  g_autofree char *dog = entry_file (model, cache, "single", "dog");
  g_autofree char *orig = NULL;
  gsize orig_len;

  g_assert_true (g_file_get_contents (cat, &orig, &orig_len, NULL));
  for (guint damage = 0; damage < 5; damage++) {
    g_autoptr (NaclipQueries) again = NULL;
    g_autofree char *now = NULL;
    gsize now_len;

    switch (damage) {
      case 0: /* truncated */
        g_assert_true (g_file_set_contents (cat, orig, orig_len / 2, NULL));
        break;
      case 1: /* empty */
        g_assert_true (g_file_set_contents (cat, "", 0, NULL));
        break;
      case 2: { /* foreign: the entry of another query */
        g_autofree char *other = NULL;
        gsize len;
        g_assert_true (g_file_get_contents (dog, &other, &len, NULL));
        g_assert_true (g_file_set_contents (cat, other, len, NULL));
        break;
      }
      case 3: { /* one flipped bit in the floats */
        g_autofree char *bad = g_memdup2 (orig, orig_len);
        bad[60] ^= 0x10;
        g_assert_true (g_file_set_contents (cat, bad, orig_len, NULL));
        break;
      }
      default: { /* garbage of the right size */
        g_autofree char *bad = g_malloc (orig_len);
        memset (bad, 0x5A, orig_len);
        g_assert_true (g_file_set_contents (cat, bad, orig_len, NULL));
        break;
      }
    }
    again = encode (model, "cat,dog", "single", cache);
    assert_close (good, again);
    /* rewritten: a valid entry of the same size again */
    g_assert_true (g_file_get_contents (cat, &now, &now_len, NULL));
    g_assert_cmpmem (now, 48, orig, 48);
    g_assert_cmpuint (now_len, ==, orig_len);
    {
      g_autoptr (NaclipQueries) third
          = encode (model, "cat,dog", "single", cache);
      assert_same (again, third);
    }
  }
}

/* The key follows the weights, the templates, the query, truncation. */
static void
test_keys (void)
{
  g_autoptr (NaclipModel) a = load ("tiny-a");
  g_autoptr (NaclipModel) a_openai = load ("tiny-a-openai");
  g_autoptr (NaclipModel) b = load ("tiny-b");
  g_autoptr (NaclipTemplates) single = naclip_templates_load ("single", NULL);
  g_autoptr (NaclipTemplates) t80 = naclip_templates_load ("imagenet80", NULL);
  const char *fa = naclip_cache_model_fingerprint (a);
  g_autofree char *k
      = naclip_cache_key (fa, single, "cat", FALSE, NACLIP_PRECISION_FP32);
  char *keys[8];

  /* computed once: the same pointer on the second call */
  g_assert_true (fa == naclip_cache_model_fingerprint (a));
  /* the same weights in the other key layout: the same fingerprint */
  g_assert_cmpstr (fa, ==, naclip_cache_model_fingerprint (a_openai));
  g_assert_cmpstr (fa, !=, naclip_cache_model_fingerprint (b));
  keys[0] = naclip_cache_key (naclip_cache_model_fingerprint (b), single, "cat",
      FALSE, NACLIP_PRECISION_FP32);
  keys[1] = naclip_cache_key (fa, t80, "cat", FALSE, NACLIP_PRECISION_FP32);
  keys[2] = naclip_cache_key (fa, single, "Cat", FALSE, NACLIP_PRECISION_FP32);
  keys[3] = naclip_cache_key (fa, single, "cat", TRUE, NACLIP_PRECISION_FP32);
  keys[4] = naclip_cache_key (fa, single, "cat ", FALSE, NACLIP_PRECISION_FP32);
  keys[5] = naclip_cache_key (fa, single, "cat", FALSE, NACLIP_PRECISION_BF16);
  keys[6] = naclip_cache_key (fa, single, "cat", FALSE, NACLIP_PRECISION_INT8);
  keys[7] = naclip_cache_key (fa, single, "cat", FALSE, NACLIP_PRECISION_FP32);
  for (guint i = 0; i < 7; i++)
    g_assert_cmpstr (keys[i], !=, k);
  g_assert_cmpstr (keys[5], !=, keys[6]);
  g_assert_cmpstr (keys[7], ==, k);
  for (guint i = 0; i < 8; i++)
    g_free (keys[i]);
}

static void
test_disabled_and_unwritable (void)
{
  g_autoptr (NaclipModel) model = load ("tiny-a");
  g_autofree char *cache = fresh_cache_dir ("c-off");
  g_autofree char *file = g_build_filename (dir, "c-file", NULL);
  g_autofree char *below = g_build_filename (file, "sub", NULL);
  g_autoptr (NaclipClasses) classes = naclip_classes_parse ("cat", NULL, NULL);
  g_autoptr (NaclipTemplates) t = naclip_templates_load ("single", NULL);
  NaclipEncodeOptions options = naclip_encode_options_default ();
  NaclipQueries *q;

  options.precision = NACLIP_PRECISION_FP32;
  options.cache_dir = cache;
  options.use_cache = FALSE;
  q = naclip_queries_encode (model, classes, t, &options, NULL);
  g_assert_nonnull (q);
  naclip_queries_unref (q);
  g_assert_cmpuint (count_entries (cache), ==, 0);
  /* the cache directory cannot be created (a file is in the way) */
  g_assert_true (g_file_set_contents (file, "x", 1, NULL));
  options.cache_dir = below;
  options.use_cache = TRUE;
  q = naclip_queries_encode (model, classes, t, &options, NULL);
  g_assert_nonnull (q);
  naclip_queries_unref (q);
}

static gpointer
encode_thread (gpointer data)
{
  NaclipModel *model = data;
  g_autofree char *cache = g_build_filename (dir, "c-threads", NULL);
  for (guint i = 0; i < 3; i++) {
    NaclipQueries *q = encode (model, "cat,dog,bird|sparrow", "single", cache);
    naclip_queries_unref (q);
  }
  return NULL;
}

/* Four threads share a model (one fingerprint computation) and a cache
 * directory. */
static void
test_threads (void)
{
  g_autoptr (NaclipModel) model = load ("tiny-b");
  g_autofree char *cache = fresh_cache_dir ("c-threads");
  GThread *threads[4];
  g_autoptr (NaclipQueries) plain = NULL;
  g_autoptr (NaclipQueries) cached = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    threads[i] = g_thread_new ("enc", encode_thread, model);
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    g_thread_join (threads[i]);
  g_assert_cmpuint (count_entries (cache), ==, 4);
  plain = encode (model, "cat,dog,bird|sparrow", "single", NULL);
  cached = encode (model, "cat,dog,bird|sparrow", "single", cache);
  assert_close (plain, cached);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  if (g_getenv ("NACLIP_SHARED") == NULL)
    return g_test_run (); /* the fixtures need CLIP's merges */
  dir = pyhelper_scratch_dir ("cache");
  pyhelper_run (dir,
      "import sys\n"
      "sys.path.insert(0, '" NACLIP_SOURCE_ROOT "/tests/fixtures')\n"
      "import make_checkpoint as mc\n"
      "P = mc.PRESETS\n"
      "mc.ensure('tiny-a', P['tiny'], 'hf', 'F32', 31)\n"
      "mc.ensure('tiny-a-openai', P['tiny'], 'openai', 'F32', "
      "31)\n"
      "mc.ensure('tiny-b', P['tiny'], 'hf', 'F32', 32)\n");
  g_test_add_func ("/cache/round-trip", test_round_trip);
  g_test_add_func ("/cache/entry-used", test_entry_used);
  g_test_add_func ("/cache/damaged", test_damaged);
  g_test_add_func ("/cache/keys", test_keys);
  g_test_add_func (
      "/cache/disabled-and-unwritable", test_disabled_and_unwritable);
  g_test_add_func ("/cache/threads", test_threads);
  return g_test_run ();
}
