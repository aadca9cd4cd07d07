/* cache.c: the on-disk cache of query embeddings.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * One file per (model text weights, template set, query, options) under
 * $XDG_CACHE_HOME/naclipseg (or NaclipEncodeOptions.cache_dir), named by
 * the hex SHA-256 key of those inputs plus ".emb". File layout, native
 * (little-endian) byte order:
 *   "NACLIPQ1" | u32 dim | u32 0 | key (32 bytes) | dim floats |
 *   SHA-256 of everything before it (32 bytes)
 * A file of another size, magic, key or checksum (truncated, foreign,
 * corrupt) is ignored and rewritten. Writes go through
 * g_file_set_contents() (a temporary file renamed into place), so readers
 * never see half a file. The cache is best effort: failing to create the
 * directory or write a file only logs (g_info).
 *
 * Model fingerprint: the key must change whenever the text tower's numbers
 * change, and hashing ~250 MB of ViT-B/16 text weights with SHA-256 costs
 * about a second here. Instead each weight array the text tower uses (as
 * used: F16/BF16 after widening) is hashed with a 4-lane 64-bit
 * multiply-rotate hash (about 75 ms of CPU for the 250 MB of ViT-B/16's
 * text tower on this 2-core machine, measured with perf stat), and SHA-256
 * is taken over a version string, the tower's shape and settings, and the
 * per-array digests. It is computed once per model, lazily, under
 * g_once_init_enter(). The lane hash is not cryptographic: someone able to
 * forge a colliding checkpoint could equally write the cache files, which
 * live in the user's own directory.
 */

#include "config.h"

#include <errno.h>
#include <string.h>

#include <glib/gstdio.h>

#include "naclip-private.h"

#define CACHE_MAGIC "NACLIPQ1"
#define CACHE_HEADER (8 + 4 + 4 + 32)
/* Bump when anything that changes the embeddings changes (tokenizer,
 * ensembling, numerics). */
#define FINGERPRINT_VERSION "naclip-text-v1"

#define PRIME1 0x9E3779B185EBCA87ull
#define PRIME2 0xC2B2AE3D27D4EB4Full

static inline guint64
rotl64 (guint64 x, int r)
{
  return (x << r) | (x >> (64 - r));
}

/* 4-lane 64-bit hash of @n bytes, written as 32 bytes into @out. */
static void
lane_hash (const void *data, gsize n, guint8 out[32])
{
  const guint8 *p = data;
  guint64 lane[4] = { PRIME1, PRIME2, PRIME1 ^ 1, PRIME2 ^ 1 };
  gsize i = 0;

  for (; i + 32 <= n; i += 32) {
    for (int k = 0; k < 4; k++) {
      guint64 v;
      memcpy (&v, p + i + 8 * k, 8);
      lane[k] = rotl64 (lane[k] + v * PRIME2, 31) * PRIME1;
    }
  }
  for (; i < n; i++)
    lane[i & 3] = rotl64 (lane[i & 3] ^ (p[i] * PRIME1), 23) * PRIME2;
  for (int k = 0; k < 4; k++) {
    lane[k] ^= n;
    lane[k] ^= lane[k] >> 33;
    lane[k] *= PRIME2;
    lane[k] ^= lane[k] >> 29;
    memcpy (out + 8 * k, &lane[k], 8);
  }
}

static void
hash_floats (GChecksum *sum, const float *x, gsize n)
{
  guint8 digest[32];
  guint64 count = n;

  g_checksum_update (sum, (const guchar *)&count, sizeof count);
  if (x == NULL)
    return;
  lane_hash (x, n * sizeof (float), digest);
  g_checksum_update (sum, digest, sizeof digest);
}

static void
hash_linear (GChecksum *sum, const NaclipLinear *lin)
{
  hash_floats (sum, lin->weight, (gsize)lin->n_out * lin->n_in);
  hash_floats (sum, lin->bias, lin->bias ? lin->n_out : 0);
}

static void
hash_norm (GChecksum *sum, const NaclipNorm *norm, guint width)
{
  hash_floats (sum, norm->weight, width);
  hash_floats (sum, norm->bias, width);
}

static char *
compute_fingerprint (const NaclipModel *model)
{
  const NaclipTextTower *t = &model->text;
  const NaclipTowerInfo *info = &t->info;
  GChecksum *sum = g_checksum_new (G_CHECKSUM_SHA256);
  char *hex;
  g_autofree char *shape = g_strdup_printf (
      "%s width=%u layers=%u heads=%u mlp=%u act=%d eps=%a context=%u "
      "vocab=%u embed=%u",
      FINGERPRINT_VERSION, info->width, info->n_layers, info->n_heads,
      info->mlp_width, (int)info->activation, (double)info->layer_norm_eps,
      t->context_length, t->vocab_size, model->info.embed_dim);

  g_checksum_update (sum, (const guchar *)shape, strlen (shape) + 1);
  hash_floats (sum, t->token_embedding, (gsize)t->vocab_size * info->width);
  hash_floats (
      sum, t->position_embedding, (gsize)t->context_length * info->width);
  for (guint l = 0; l < info->n_layers; l++) {
    const NaclipBlock *b = &t->blocks[l];
    hash_norm (sum, &b->ln_1, info->width);
    hash_linear (sum, &b->q);
    hash_linear (sum, &b->k);
    hash_linear (sum, &b->v);
    hash_linear (sum, &b->out);
    hash_norm (sum, &b->ln_2, info->width);
    hash_linear (sum, &b->fc1);
    hash_linear (sum, &b->fc2);
  }
  hash_norm (sum, &t->ln_final, info->width);
  hash_linear (sum, &t->proj);
  hex = g_strdup (g_checksum_get_string (sum));
  g_checksum_free (sum);
  return hex;
}

const char *
naclip_cache_model_fingerprint (NaclipModel *model)
{
  g_return_val_if_fail (model != NULL && model->info.has_text, NULL);

  if (g_once_init_enter (&model->text_fingerprint)) {
    gint64 t0 = g_get_monotonic_time ();
    char *hex = compute_fingerprint (model);
    g_debug ("text fingerprint %s in %.1f ms", hex,
        (g_get_monotonic_time () - t0) / 1000.0);
    g_once_init_leave (&model->text_fingerprint, hex);
  }
  return (const char *)model->text_fingerprint;
}

char *
naclip_cache_key (const char *model_fingerprint,
    const NaclipTemplates *templates, const char *query, gboolean truncate,
    NaclipPrecision precision)
{
  GChecksum *sum = g_checksum_new (G_CHECKSUM_SHA256);
  guint32 n = naclip_templates_get_n (templates);
  char *hex;

  g_checksum_update (
      sum, (const guchar *)model_fingerprint, strlen (model_fingerprint) + 1);
  g_checksum_update (sum, (const guchar *)&n, sizeof n);
  for (guint i = 0; i < n; i++) {
    const char *t = naclip_templates_get (templates, i);
    g_checksum_update (sum, (const guchar *)t, strlen (t) + 1);
  }
  g_checksum_update (sum, (const guchar *)query, strlen (query) + 1);
  g_checksum_update (sum, (const guchar *)(truncate ? "T" : "F"), 1);
  g_return_val_if_fail (precision != NACLIP_PRECISION_AUTO, NULL);
  g_checksum_update (sum,
      (const guchar *)(precision == NACLIP_PRECISION_BF16   ? "B"
                       : precision == NACLIP_PRECISION_INT8 ? "I"
                                                            : "F"),
      1);
  hex = g_strdup (g_checksum_get_string (sum));
  g_checksum_free (sum);
  return hex;
}

char *
naclip_cache_dir (const char *cache_dir)
{
  if (cache_dir != NULL)
    return g_strdup (cache_dir);
  return g_build_filename (g_get_user_cache_dir (), "naclipseg", NULL);
}

static char *
entry_path (const char *dir, const char *key)
{
  g_autofree char *name = g_strconcat (key, ".emb", NULL);
  return g_build_filename (dir, name, NULL);
}

static void
key_bytes (const char *key, guint8 out[32])
{
  for (guint i = 0; i < 32; i++)
    out[i] = (guint8)(g_ascii_xdigit_value (key[2 * i]) << 4
                      | g_ascii_xdigit_value (key[2 * i + 1]));
}

static void
sha256 (const guint8 *data, gsize n, guint8 out[32])
{
  GChecksum *sum = g_checksum_new (G_CHECKSUM_SHA256);
  gsize len = 32;
  g_checksum_update (sum, data, n);
  g_checksum_get_digest (sum, out, &len);
  g_checksum_free (sum);
}

gboolean
naclip_cache_read (const char *dir, const char *key, guint dim, float *out)
{
  g_autofree char *path = entry_path (dir, key);
  g_autofree char *contents = NULL;
  gsize len = 0, want = CACHE_HEADER + (gsize)dim * sizeof (float) + 32;
  guint8 kb[32], check[32];
  guint32 file_dim = 0;

  if (!g_file_get_contents (path, &contents, &len, NULL))
    return FALSE;
  key_bytes (key, kb);
  if (len == want) /* || below stops before reading a short file */
    memcpy (&file_dim, contents + 8, 4);
  if (len != want || memcmp (contents, CACHE_MAGIC, 8) != 0 || file_dim != dim
      || memcmp (contents + 16, kb, 32) != 0) {
    g_info ("%s: not a cache entry for this query; it will be rewritten", path);
    return FALSE;
  }
  sha256 ((const guint8 *)contents, want - 32, check);
  if (memcmp (contents + want - 32, check, 32) != 0) {
    g_info ("%s: checksum mismatch; it will be rewritten", path);
    return FALSE;
  }
  memcpy (out, contents + CACHE_HEADER, (gsize)dim * sizeof (float));
  return TRUE;
}

void
naclip_cache_write (
    const char *dir, const char *key, guint dim, const float *embedding)
{
  g_autofree char *path = entry_path (dir, key);
  gsize size = CACHE_HEADER + (gsize)dim * sizeof (float) + 32;
  g_autofree guint8 *buf = g_malloc0 (size);
  guint32 d = dim;
  GError *error = NULL;

  if (g_mkdir_with_parents (dir, 0700) != 0) {
    g_info (
        "cannot create the cache directory %s: %s", dir, g_strerror (errno));
    return;
  }
  memcpy (buf, CACHE_MAGIC, 8);
  memcpy (buf + 8, &d, 4);
  key_bytes (key, buf + 16);
  memcpy (buf + CACHE_HEADER, embedding, (gsize)dim * sizeof (float));
  sha256 (buf, size - 32, buf + size - 32);
  if (!g_file_set_contents (path, (const char *)buf, size, &error)) {
    g_info ("cannot write the cache entry: %s", error->message);
    g_error_free (error);
  }
}
