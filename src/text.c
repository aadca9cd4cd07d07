/* text.c: the CLIP text tower and prompt ensembling.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * OpenAI clip/model.py encode_text and NACLIP's
 * zeroshot-classifier loop): for each query name, every template is
 * filled and tokenized to [SOT, ..., EOT, 0...]; prompts run through token
 * embedding + positional embedding, the L causal pre-LN blocks
 * (transformer.c), ln_final at the prompt's EOT position and the
 * projection. Because the mask is causal, positions after a prompt's EOT
 * never influence it, so a batch is computed only up to its longest EOT
 * position (n_tokens = max eot + 1). The prompts of all names that are not
 * cached are sorted by length and batched with their equals, so no token
 * row is padding (VOC21's 56 names x 80 templates: 39216 token rows
 * instead of 55120 with one padded batch per name, and 344960 untrimmed). Each prompt vector is L2-normalised, the vectors of a
 * name are averaged, and the mean is normalised.
 *
 * Layout: x (n_seq, n_tokens, width) row-major. The products run through
 * a NaclipMatmul made per naclip_queries_encode() call (only when some
 * query is not cached) at NaclipEncodeOptions.precision and .threads (in
 * int8, the projection stays at the float precision, as in vision.c).
 * NaclipEncodeOptions.cancellable is checked between batches and between
 * blocks (a batch of 4096 token rows of ViT-B/16's text tower is seconds
 * of work on 2 cores, a block a fraction of that).
 *
 * Cached embeddings (cache.c) are looked up per query before anything is
 * computed; the model fingerprint is only computed when the cache is on.
 */

#include "config.h"

#include <string.h>

#include "naclip-private.h"

/* F04: a zero vector stays zero instead of becoming NaN. */
#define NORM_EPS 1e-12f
/* Token rows per text tower call (bounds its activations: about 60 MB at
 * width 512), and names tokenized at once (bounds the ids). */
#define MAX_BATCH_ROWS 4096
#define NAMES_PER_CHUNK 64

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
naclip_text_encode (const NaclipModel *model, NaclipMatmul *mm,
    const gint32 *ids, const gint *eot, gsize n_seq, GCancellable *cancellable,
    float *out, GError **error)
{
  const NaclipTextTower *t = &model->text;
  const NaclipTowerInfo *info = &t->info;
  guint width = info->width, context = t->context_length;
  gsize n_tokens = 0, n_x, n_scratch;
  float *x = NULL, *scratch = NULL, *pooled = NULL;
  gboolean ok = FALSE;

  g_return_val_if_fail (model != NULL && ids != NULL && eot != NULL, FALSE);
  g_return_val_if_fail (out != NULL && n_seq > 0 && mm != NULL, FALSE);
  guint n_threads = MAX (naclip_matmul_get_threads (mm), 1u);

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
  for (guint l = 0; l < info->n_layers; l++) {
    if (g_cancellable_is_cancelled (cancellable)) {
      g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_CANCELLED,
          "text encoder: cancelled before block %u of %u", l, info->n_layers);
      goto out;
    }
    naclip_transformer_block (
        mm, &t->blocks[l], info, x, n_seq, n_tokens, TRUE, scratch);
  }
  /* ln_final is per row: apply it to the EOT rows only */
  for (gsize s = 0; s < n_seq; s++)
    memcpy (pooled + s * width, x + (s * n_tokens + (gsize)eot[s]) * width,
        width * sizeof (float));
  naclip_ops_layer_norm (pooled, pooled, &t->ln_final, n_seq, width,
      info->layer_norm_eps, n_threads);
  naclip_matmul_linear_float (mm, out, model->info.embed_dim, NACLIP_DTYPE_F32,
      pooled, width, NACLIP_DTYPE_F32, &t->proj, n_seq,
      NACLIP_MATMUL_POST_NONE);
  ok = TRUE;

out:
  g_free (x);
  g_free (scratch);
  g_free (pooled);
  return ok;
}

typedef struct
{
  guint index; /* prompt: name * n_templates + template */
  gint eot;
} Prompt;

static int
compare_prompts (const void *a, const void *b)
{
  const Prompt *pa = a, *pb = b;
  if (pa->eot != pb->eot)
    return pa->eot < pb->eot ? -1 : 1;
  return pa->index < pb->index ? -1 : (pa->index > pb->index);
}

/* Embeds @n_names names (naclip_ref.py embed_queries()) into out
 * (n_names, embed_dim).
 * All prompts of all names are tokenized, sorted by end position and run
 * in batches of equal length (at most MAX_BATCH_ROWS token rows), so no
 * row is padding; then each name's prompt vectors are normalised,
 * averaged and normalised. */
static gboolean
embed_names (NaclipModel *model, NaclipMatmul *mm,
    const NaclipTemplates *templates, const char *const *names, guint n_names,
    const NaclipEncodeOptions *options, float *out, GError **error)
{
  guint n_t = naclip_templates_get_n (templates);
  guint context = model->text.context_length, dim = model->info.embed_dim;
  gsize n_prompts = (gsize)n_names * n_t;
  g_autofree gint32 *ids = g_try_new (gint32, n_prompts * context);
  g_autofree Prompt *order = g_try_new (Prompt, n_prompts);
  g_autofree float *f = g_try_new (float, n_prompts *dim);
  g_autofree gint32 *batch_ids = NULL;
  g_autofree gint *batch_eot = NULL;
  g_autofree float *batch_out = NULL;
  gboolean truncated_name = FALSE; /* logged for the current name */

  if (ids == NULL || order == NULL || f == NULL) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_NO_MEMORY,
        "cannot allocate the prompts of %u names", n_names);
    return FALSE;
  }
  for (gsize p = 0; p < n_prompts; p++) {
    const char *name = names[p / n_t];
    guint t = (guint)(p % n_t);
    g_autofree char *prompt = naclip_templates_fill (templates, t, name);
    GError *local = NULL;
    gint eot = naclip_tokenizer_encode (model->tokenizer, prompt, -1, FALSE,
        ids + p * context, context, &local);
    if (eot < 0 && options->truncate) {
      /* names and templates are valid UTF-8 of bounded size: the prompt
       * is too long (bad-input row E06) */
      if (!truncated_name)
        g_info ("class name \"%s\" is truncated to %u tokens in template "
                "\"%s\" (and maybe others)",
            name, context, naclip_templates_get (templates, t));
      truncated_name = TRUE;
      g_clear_error (&local);
      eot = naclip_tokenizer_encode (model->tokenizer, prompt, -1, TRUE,
          ids + p * context, context, &local);
    }
    if (t + 1 == n_t)
      truncated_name = FALSE;
    if (eot < 0) {
      g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_TEXT,
          "class name \"%s\" in template \"%s\": %s", name,
          naclip_templates_get (templates, t), local->message);
      g_error_free (local);
      return FALSE;
    }
    order[p].index = (guint)p;
    order[p].eot = eot;
  }
  qsort (order, n_prompts, sizeof (Prompt), compare_prompts);

  batch_ids = g_new (gint32, MAX_BATCH_ROWS / 2 * context);
  batch_eot = g_new (gint, MAX_BATCH_ROWS / 2);
  batch_out = g_new (float, (gsize)MAX_BATCH_ROWS / 2 * dim);
  for (gsize first = 0; first < n_prompts;) {
    gint eot = order[first].eot;
    gsize n = 0;
    /* prompts of this length, at most MAX_BATCH_ROWS token rows; eot >= 1
     * so at most MAX_BATCH_ROWS / 2 prompts */
    gsize cap = (gsize)MAX_BATCH_ROWS / (gsize)(eot + 1);
    while (first + n < n_prompts && order[first + n].eot == eot && n < cap)
      n++;
    for (gsize i = 0; i < n; i++) {
      memcpy (batch_ids + i * context,
          ids + (gsize)order[first + i].index * context,
          context * sizeof (gint32));
      batch_eot[i] = eot;
    }
    if (!naclip_text_encode (model, mm, batch_ids, batch_eot, n,
            options->cancellable, batch_out, error))
      return FALSE;
    for (gsize i = 0; i < n; i++)
      memcpy (f + (gsize)order[first + i].index * dim, batch_out + i * dim,
          dim * sizeof (float));
    first += n;
  }

  naclip_ops_l2_normalize_rows (f, n_prompts, dim, NORM_EPS, options->threads);
  for (guint q = 0; q < n_names; q++) {
    float *row = out + (gsize)q * dim;
    memset (row, 0, dim * sizeof (float));
    for (guint t = 0; t < n_t; t++)
      for (guint c = 0; c < dim; c++)
        row[c] += f[((gsize)q * n_t + t) * dim + c];
    for (guint c = 0; c < dim; c++)
      row[c] /= (float)n_t;
  }
  naclip_ops_l2_normalize_rows (out, n_names, dim, NORM_EPS, 1);
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
  g_autofree guint *todo = NULL;
  g_autofree const char **todo_names = NULL;
  g_autofree float *todo_emb = NULL;
  g_autoptr (GPtrArray) keys = NULL;
  g_autoptr (NaclipMatmul) mm = NULL;
  const char *fingerprint = NULL;
  NaclipPrecision precision = NACLIP_PRECISION_FP32;
  float *emb = NULL;
  guint n, dim, n_todo = 0;

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
  /* cached queries first */
  keys = g_ptr_array_new_with_free_func (g_free);
  todo = g_new (guint, n);
  if (options->use_cache) {
    if (!naclip_precision_resolve (options->precision, &precision, error)) {
      g_free (emb);
      return NULL;
    }
    dir = naclip_cache_dir (options->cache_dir);
    fingerprint = naclip_cache_model_fingerprint (model);
  }
  for (guint i = 0; i < n; i++) {
    const char *name = naclip_classes_get_query (classes, i);
    char *key = NULL;
    if (options->use_cache) {
      key = naclip_cache_key (
          fingerprint, templates, name, options->truncate, precision);
      if (naclip_cache_read (dir, key, dim, emb + (gsize)i * dim)) {
        g_free (key);
        continue;
      }
    }
    g_ptr_array_add (keys, key);
    todo[n_todo++] = i;
  }
  /* the others in chunks of NAMES_PER_CHUNK names */
  if (n_todo > 0) {
    mm = naclip_matmul_new (naclip_model_get_matmul_cache (model),
        options->precision, NACLIP_MATMUL_BACKEND_AUTO, options->threads,
        error);
    if (mm == NULL) {
      g_free (emb);
      return NULL;
    }
  }
  todo_names = g_new (const char *, NAMES_PER_CHUNK);
  todo_emb = g_new (float, (gsize)NAMES_PER_CHUNK *dim);
  for (guint first = 0; first < n_todo; first += NAMES_PER_CHUNK) {
    guint m = MIN (NAMES_PER_CHUNK, n_todo - first);
    for (guint k = 0; k < m; k++)
      todo_names[k] = naclip_classes_get_query (classes, todo[first + k]);
    if (!embed_names (
            model, mm, templates, todo_names, m, options, todo_emb, error)) {
      g_free (emb);
      return NULL;
    }
    for (guint k = 0; k < m; k++) {
      float *row = emb + (gsize)todo[first + k] * dim;
      memcpy (row, todo_emb + (gsize)k * dim, dim * sizeof (float));
      if (options->use_cache)
        naclip_cache_write (dir, keys->pdata[first + k], dim, row);
    }
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
