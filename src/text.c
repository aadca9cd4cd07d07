/* text.c: the CLIP text tower and prompt ensembling.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * NACLIP-SPEC 2 (OpenAI clip/model.py encode_text, NACLIP's
 * zeroshot-classifier loop): for each query name, every template is
 * filled, tokenized to [SOT, ..., EOT, 0...], and the batch of all its
 * prompts runs through token embedding + positional embedding, the L
 * causal pre-LN blocks (transformer.c), ln_final at each prompt's EOT
 * position and the projection. Because the mask is causal, positions after
 * a prompt's EOT never influence it, so the batch is computed only up to
 * the longest EOT position (n_tokens = max eot + 1). Each prompt vector is
 * L2-normalised, the vectors are averaged, and the mean is normalised.
 *
 * Layout: x (n_seq, n_tokens, width) row-major. Computation is fp32 through
 * naclip_matmul_linear(); NaclipEncodeOptions.precision is accepted but the
 * text tower always runs in fp32 (it runs when the classes change, not per
 * frame).
 *
 * Cached embeddings (cache.c) are looked up per query before anything is
 * computed; the model fingerprint is only computed when the cache is on.
 */

#include "config.h"

#include <string.h>

#include "naclip-private.h"

/* F04: a zero vector stays zero instead of becoming NaN. */
#define NORM_EPS 1e-12f

struct _NaclipQueries
{
  gint ref_count;
  NaclipClasses *classes; /* owned copy */
  float *embeddings;      /* (n, dim) */
  guint n, dim;
};

NaclipEncodeOptions
naclip_encode_options_default (void)
{
  NaclipEncodeOptions o = {
    .cache_dir = NULL,
    .use_cache = TRUE,
    .threads = 2,
    .precision = NACLIP_PRECISION_AUTO,
    .truncate = FALSE,
  };
  return o;
}

gboolean
naclip_text_encode (const NaclipModel *model, const gint32 *ids,
    const gint *eot, gsize n_seq, guint n_threads, float *out, GError **error)
{
  const NaclipTextTower *t = &model->text;
  const NaclipTowerInfo *info = &t->info;
  guint width = info->width, context = t->context_length;
  gsize n_tokens = 0, n_x, n_scratch;
  float *x = NULL, *scratch = NULL, *pooled = NULL;
  gboolean ok = FALSE;

  g_return_val_if_fail (model != NULL && ids != NULL && eot != NULL, FALSE);
  g_return_val_if_fail (out != NULL && n_seq > 0, FALSE);

  if (!model->info.has_text) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_MODEL,
        "%s has no text tower", model->path);
    return FALSE;
  }
  for (gsize s = 0; s < n_seq; s++) {
    if (eot[s] < 0 || (guint)eot[s] >= context) {
      g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
          "sequence %" G_GSIZE_FORMAT ": end position %d is outside the "
          "context of %u",
          s, eot[s], context);
      return FALSE;
    }
    n_tokens = MAX (n_tokens, (gsize)eot[s] + 1);
    for (gint k = 0; k <= eot[s]; k++) {
      gint32 id = ids[s * context + k];
      if (id < 0 || (guint)id >= t->vocab_size) {
        g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
            "sequence %" G_GSIZE_FORMAT ": token id %d at position %d is "
            "outside the vocabulary of %u",
            s, id, k, t->vocab_size);
        return FALSE;
      }
    }
  }

  n_x = n_seq * n_tokens * width;
  n_scratch = naclip_transformer_scratch_size (info, n_seq, n_tokens);
  x = g_try_new (float, n_x);
  scratch = g_try_new (float, n_scratch);
  pooled = g_try_new (float, n_seq *width);
  if (x == NULL || scratch == NULL || pooled == NULL) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_NO_MEMORY,
        "cannot allocate %" G_GSIZE_FORMAT
        " MiB for the text tower on %" G_GSIZE_FORMAT " prompts",
        (n_x + n_scratch) * sizeof (float) >> 20, n_seq);
    goto out;
  }

  /* x[s, k] = token_embedding[ids[s, k]] + position_embedding[k] */
  for (gsize s = 0; s < n_seq; s++) {
    for (gsize k = 0; k < n_tokens; k++) {
      const float *te
          = t->token_embedding + (gsize)ids[s * context + k] * width;
      const float *pe = t->position_embedding + k * width;
      float *row = x + (s * n_tokens + k) * width;
      for (guint c = 0; c < width; c++)
        row[c] = te[c] + pe[c];
    }
  }
  for (guint l = 0; l < info->n_layers; l++)
    naclip_transformer_block (
        &t->blocks[l], info, x, n_seq, n_tokens, TRUE, n_threads, scratch);
  /* ln_final is per row: apply it to the EOT rows only */
  for (gsize s = 0; s < n_seq; s++)
    memcpy (pooled + s * width, x + (s * n_tokens + (gsize)eot[s]) * width,
        width * sizeof (float));
  naclip_ops_layer_norm (pooled, pooled, &t->ln_final, n_seq, width,
      info->layer_norm_eps, n_threads);
  naclip_matmul_linear (
      out, model->info.embed_dim, pooled, width, &t->proj, n_seq);
  ok = TRUE;

out:
  g_free (x);
  g_free (scratch);
  g_free (pooled);
  return ok;
}

/* The ensembled embedding of @name: out (embed_dim). */
static gboolean
embed_name (NaclipModel *model, const NaclipTemplates *templates,
    const char *name, const NaclipEncodeOptions *options, float *out,
    GError **error)
{
  guint n_t = naclip_templates_get_n (templates);
  guint context = model->text.context_length, dim = model->info.embed_dim;
  g_autofree gint32 *ids = g_new (gint32, (gsize)n_t * context);
  g_autofree gint *eot = g_new (gint, n_t);
  g_autofree float *f = g_new (float, (gsize)n_t *dim);

  for (guint i = 0; i < n_t; i++) {
    g_autofree char *prompt = naclip_templates_fill (templates, i, name);
    GError *local = NULL;
    eot[i] = naclip_tokenizer_encode (model->tokenizer, prompt, -1,
        options->truncate, ids + (gsize)i * context, context, &local);
    if (eot[i] < 0) {
      g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_TEXT,
          "class name \"%s\" in template \"%s\": %s", name,
          naclip_templates_get (templates, i), local->message);
      g_error_free (local);
      return FALSE;
    }
  }
  if (!naclip_text_encode (model, ids, eot, n_t, options->threads, f, error))
    return FALSE;
  naclip_ops_l2_normalize_rows (f, n_t, dim, NORM_EPS, options->threads);
  memset (out, 0, dim * sizeof (float));
  for (guint i = 0; i < n_t; i++)
    for (guint c = 0; c < dim; c++)
      out[c] += f[(gsize)i * dim + c];
  for (guint c = 0; c < dim; c++)
    out[c] /= (float)n_t;
  naclip_ops_l2_normalize_rows (out, 1, dim, NORM_EPS, 1);
  return TRUE;
}

NaclipQueries *
naclip_queries_encode (NaclipModel *model, const NaclipClasses *classes,
    const NaclipTemplates *templates, const NaclipEncodeOptions *options,
    GError **error)
{
  NaclipEncodeOptions defaults = naclip_encode_options_default ();
  NaclipQueries *q = NULL;
  g_autofree char *dir = NULL;
  const char *fingerprint = NULL;
  float *emb = NULL;
  guint n, dim;

  g_return_val_if_fail (model != NULL && classes != NULL, NULL);
  g_return_val_if_fail (templates != NULL, NULL);

  if (options == NULL)
    options = &defaults;
  if (!model->info.has_text || model->tokenizer == NULL) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_MODEL,
        "%s cannot embed text: %s", model->path,
        model->info.has_text ? "no merges file (merges.txt) was found"
                             : "the checkpoint has no text tower");
    return NULL;
  }
  n = naclip_classes_get_n_queries (classes);
  dim = model->info.embed_dim;
  emb = g_try_new (float, (gsize)n *dim);
  if (emb == NULL) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_NO_MEMORY,
        "cannot allocate %u query embeddings", n);
    return NULL;
  }
  if (options->use_cache) {
    dir = naclip_cache_dir (options->cache_dir);
    fingerprint = naclip_cache_model_fingerprint (model);
  }
  for (guint i = 0; i < n; i++) {
    const char *name = naclip_classes_get_query (classes, i);
    float *row = emb + (gsize)i * dim;
    g_autofree char *key = NULL;

    if (options->use_cache) {
      key = naclip_cache_key (fingerprint, templates, name, options->truncate);
      if (naclip_cache_read (dir, key, dim, row))
        continue;
    }
    if (!embed_name (model, templates, name, options, row, error)) {
      g_free (emb);
      return NULL;
    }
    if (options->use_cache)
      naclip_cache_write (dir, key, dim, row);
  }
  q = g_new0 (NaclipQueries, 1);
  q->ref_count = 1;
  q->classes = naclip_classes_copy (classes);
  q->embeddings = emb;
  q->n = n;
  q->dim = dim;
  return q;
}

NaclipQueries *
naclip_queries_new (const NaclipClasses *classes, const float *embeddings,
    guint n_queries, guint dim, GError **error)
{
  NaclipQueries *q;
  gsize n_floats;

  g_return_val_if_fail (classes != NULL && embeddings != NULL, NULL);

  if (n_queries != naclip_classes_get_n_queries (classes) || dim == 0
      || !g_size_checked_mul (&n_floats, n_queries, dim)) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
        "%u x %u embeddings do not fit a class list of %u queries", n_queries,
        dim, naclip_classes_get_n_queries (classes));
    return NULL;
  }
  q = g_new0 (NaclipQueries, 1);
  q->ref_count = 1;
  q->classes = naclip_classes_copy (classes);
  q->embeddings = g_memdup2 (embeddings, n_floats * sizeof (float));
  q->n = n_queries;
  q->dim = dim;
  return q;
}

NaclipQueries *
naclip_queries_ref (NaclipQueries *queries)
{
  g_return_val_if_fail (queries != NULL, NULL);
  g_atomic_int_inc (&queries->ref_count);
  return queries;
}

void
naclip_queries_unref (NaclipQueries *queries)
{
  if (queries == NULL || !g_atomic_int_dec_and_test (&queries->ref_count))
    return;
  naclip_classes_free (queries->classes);
  g_free (queries->embeddings);
  g_free (queries);
}

guint
naclip_queries_get_n (const NaclipQueries *queries)
{
  g_return_val_if_fail (queries != NULL, 0);
  return queries->n;
}

guint
naclip_queries_get_dim (const NaclipQueries *queries)
{
  g_return_val_if_fail (queries != NULL, 0);
  return queries->dim;
}

const float *
naclip_queries_get_embeddings (const NaclipQueries *queries)
{
  g_return_val_if_fail (queries != NULL, NULL);
  return queries->embeddings;
}

const NaclipClasses *
naclip_queries_get_classes (const NaclipQueries *queries)
{
  g_return_val_if_fail (queries != NULL, NULL);
  return queries->classes;
}
