/* reuse.c: token reuse between the frames of a video.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The token gates of Eventful Transformers (Dutson, Li, Gupta, ICCV 2023,
 * arXiv 2308.13494), applied to blocks 0 .. L-2 of the vision tower;
 * NACLIP's last block is recomputed in full (vision.c), as are the patch
 * embedding before the blocks and the projection after them. For each of
 * those blocks l and each token i a NaclipReuse keeps, from the last frame
 * that computed token i in block l:
 *
 *   ref[l][i]   the block's input for the token (f32)
 *   out[l][i]   the block's output for it (f32)
 *   k[l][i], v[l][i]  its keys and values (the activation type)
 *
 * and on a new frame runs each block as
 *
 *   gate      select token i when ||x_i - ref_i|| >= threshold ||ref_i||
 *             (the relative L2 change of its input since it was last
 *             computed; threshold 0 selects every token), and always the
 *             class token of each image: one row, which every patch
 *             attends to
 *   gather    the selected rows, in order (so those of one image stay
 *             together); ref <- their input
 *   compute   LN1, q, k, v for those rows only; k, v into the cache; the
 *             attention of their queries against all keys and values of
 *             their image (the unselected ones from the cache); output
 *             projection and MLP for those rows only
 *   scatter   out <- their output; x <- out[l] (selected rows new, the
 *             others as last computed)
 *
 * An unselected token thus keeps its old output although its input moved
 * a little and the keys it attends to may have changed; its input is
 * compared with the one it was computed for, not with the last frame's,
 * so slow drift still crosses the threshold. A refresh selects every
 * token: the first frame, one whose geometry (images, tokens, model or
 * precision) differs from the cache's, one after naclip_reuse_reset() or
 * after a frame that did not finish, and every `refresh` frames. With
 * every token selected the block computes exactly what
 * naclip_transformer_block() does (the same products, row for row; tests
 * /vision/reuse/exact), and the caches then hold what the normal path
 * computes.
 *
 * Memory: four (L - 1, rows, width) arrays, 4 * 11 * 197 * 768 floats =
 * 27 MB for ViT-B/16 at 224 x 224, allocated when the geometry grows; the
 * block's work space is the vision scratch's (naclip_vision_encode()).
 */

#include "config.h"

#include <string.h>

#include "naclip-private.h"

struct _NaclipReuse
{
  float threshold; /* relative L2 change that selects a token */
  guint refresh;   /* frames between refreshes; 0: none */

  /* What the caches hold. */
  gboolean valid;      /* a frame finished since the last reset */
  gconstpointer owner; /* the tower */
  NaclipPrecision precision;
  gsize n_images, n_tokens;
  guint width, n_blocks; /* blocks cached: n_layers - 1 */
  guint since_refresh;   /* frames finished since the last refresh, which
                          * counts */

  float *ref, *out; /* (n_blocks, rows, width) f32 */
  float *k, *v;     /* (n_blocks, rows, width) of the activation type */
  gsize ref_cap, out_cap, k_cap, v_cap; /* floats */
  float *xs;                            /* (rows, width): the selected rows */
  gsize xs_cap;
  guint32 *rows;    /* (rows): the selected rows */
  gsize *image_end; /* (n_images): end of each image's run in rows */
  guint8 *selected; /* (rows): the gate's decision */
  gsize rows_cap, images_cap, selected_cap;

  /* This frame. */
  gboolean refreshing;
  guint64 n_rows, n_computed;
};

NaclipReuse *
naclip_reuse_new (void)
{
  return g_new0 (NaclipReuse, 1);
}

void
naclip_reuse_free (NaclipReuse *r)
{
  if (r == NULL)
    return;
  g_free (r->ref);
  g_free (r->out);
  g_free (r->k);
  g_free (r->v);
  g_free (r->xs);
  g_free (r->rows);
  g_free (r->image_end);
  g_free (r->selected);
  g_free (r);
}

void
naclip_reuse_set (NaclipReuse *r, float threshold, guint refresh)
{
  g_return_if_fail (r != NULL && threshold >= 0.0f);
  r->threshold = threshold;
  r->refresh = refresh;
}

void
naclip_reuse_reset (NaclipReuse *r)
{
  g_return_if_fail (r != NULL);
  r->valid = FALSE;
}

void
naclip_reuse_get_stats (const NaclipReuse *r, gboolean *refreshed,
    guint64 *n_rows, guint64 *n_computed)
{
  g_return_if_fail (r != NULL);
  *refreshed = r->refreshing;
  *n_rows = r->n_rows;
  *n_computed = r->n_computed;
}

/* Grows the caches and index arrays for @rows rows; FALSE with @error. */
static gboolean
ensure_caches (NaclipReuse *r, gsize rows, gsize n_images, guint width,
    guint n_blocks, GError **error)
{
  gsize n = naclip_size_mul_sat (
      naclip_size_mul_sat (rows, width), MAX (n_blocks, 1u));
  gboolean ok
      = naclip_buffer_grow ((gpointer *)&r->ref, &r->ref_cap, n, sizeof (float))
        && naclip_buffer_grow (
            (gpointer *)&r->out, &r->out_cap, n, sizeof (float))
        && naclip_buffer_grow ((gpointer *)&r->k, &r->k_cap, n, sizeof (float))
        && naclip_buffer_grow ((gpointer *)&r->v, &r->v_cap, n, sizeof (float))
        && naclip_buffer_grow ((gpointer *)&r->xs, &r->xs_cap,
            naclip_size_mul_sat (rows, width), sizeof (float))
        && naclip_buffer_grow (
            (gpointer *)&r->rows, &r->rows_cap, rows, sizeof (guint32))
        && naclip_buffer_grow (
            (gpointer *)&r->selected, &r->selected_cap, rows, 1)
        && naclip_buffer_grow ((gpointer *)&r->image_end, &r->images_cap,
            n_images, sizeof (gsize));

  if (!ok)
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_NO_MEMORY,
        "token reuse: cannot allocate the caches of %u blocks of "
        "%" G_GSIZE_FORMAT " tokens of width %u",
        n_blocks, rows, width);
  return ok;
}

gboolean
naclip_reuse_begin (NaclipReuse *r, gconstpointer owner,
    const NaclipTowerInfo *info, NaclipPrecision precision, gsize n_images,
    gsize n_tokens, GError **error)
{
  g_return_val_if_fail (r != NULL && info != NULL, FALSE);
  g_return_val_if_fail (n_images >= 1 && n_tokens >= 1, FALSE);

  guint n_blocks = info->n_layers - 1;
  gboolean same = r->valid && r->owner == owner && r->precision == precision
                  && r->n_images == n_images && r->n_tokens == n_tokens
                  && r->width == info->width && r->n_blocks == n_blocks;

  r->refreshing = !same || (r->refresh > 0 && r->since_refresh >= r->refresh);
  r->valid = FALSE;
  r->n_rows = 0;
  r->n_computed = 0;
  if (!ensure_caches (
          r, n_images * n_tokens, n_images, info->width, n_blocks, error))
    return FALSE;
  r->owner = owner;
  r->precision = precision;
  r->n_images = n_images;
  r->n_tokens = n_tokens;
  r->width = info->width;
  r->n_blocks = n_blocks;
  if (r->refreshing)
    r->since_refresh = 0;
  return TRUE;
}

void
naclip_reuse_end (NaclipReuse *r)
{
  g_return_if_fail (r != NULL);
  r->valid = TRUE;
  r->since_refresh++;
}

/* The gate of block @layer: fills r->rows with the selected rows of x
 * (n_images * n_tokens, width) in order and r->image_end with the end of
 * each image's run. Returns their count. */
static gsize
select_rows (NaclipReuse *r, const float *x, const float *ref, guint n_threads)
{
  gsize n_rows = r->n_images * r->n_tokens, width = r->width, m = 0;
  float t2 = r->threshold * r->threshold;
  gboolean parallel = n_rows * width * 4 >= NACLIP_PARALLEL_MIN_OPS;

#pragma omp parallel for num_threads(n_threads) if (parallel) schedule(static)
  for (gsize i = 0; i < n_rows; i++) {
    const float *a = x + i * width, *b = ref + i * width;
    float d2 = 0.0f, r2 = 0.0f;
#pragma omp simd reduction(+ : d2, r2)
    for (gsize c = 0; c < width; c++) {
      float d = a[c] - b[c];
      d2 += d * d;
      r2 += b[c] * b[c];
    }
    /* written so that a NaN change selects the token */
    r->selected[i] = r->refreshing || i % r->n_tokens == 0 || !(d2 < t2 * r2);
  }
  for (gsize i = 0; i < n_rows; i++) {
    if (r->selected[i])
      r->rows[m++] = (guint32)i;
    if ((i + 1) % r->n_tokens == 0)
      r->image_end[i / r->n_tokens] = m;
  }
  return m;
}

/* dst[rows[j]] <- src[j] (@gather FALSE) or dst[j] <- src[rows[j]]
 * (@gather TRUE) for j < m, rows of @row_bytes. */
static void
move_rows (void *dst, const void *src, const guint32 *rows, gsize m,
    gsize row_bytes, gboolean gather)
{
  for (gsize j = 0; j < m; j++) {
    gsize d = gather ? j : rows[j], s = gather ? rows[j] : j;
    memcpy ((guint8 *)dst + d * row_bytes, (const guint8 *)src + s * row_bytes,
        row_bytes);
  }
}

void
naclip_reuse_block (NaclipReuse *r, NaclipMatmul *mm, const NaclipBlock *block,
    const NaclipTowerInfo *info, guint layer, float *x, float *work)
{
  /* x: (n_images * n_tokens, width) f32, the block's input, in place; the
   * selected rows xs (m, width) f32; ln, q, k, v, ctx (m, width) of type t
   * in @work, then the scores of one group of heads of one image
   * (naclip_transformer_attention_groups()) */
  NaclipDtype t = naclip_matmul_get_act_type (mm);
  guint width = info->width, n_heads = info->n_heads;
  guint head_dim = width / n_heads;
  guint nt = MAX (naclip_matmul_get_threads (mm), 1u);
  gsize n = r->n_tokens, n_rows = r->n_images * n, plane = n_rows * width;
  gsize row_f32 = width * sizeof (float), row_t = width * naclip_dtype_size (t);
  float *ref = r->ref + layer * plane, *out = r->out + layer * plane;
  void *kc = naclip_dtype_at (r->k, layer * plane, t);
  void *vc = naclip_dtype_at (r->v, layer * plane, t);
  gsize seqs;
  guint group;

  g_return_if_fail (layer < r->n_blocks);

  gsize m = select_rows (r, x, ref, nt);
  gsize md = m * width;
  float *ln = work, *q = ln + md, *k = q + md, *v = k + md, *ctx = v + md;
  float *scores = ctx + md;
  r->n_rows += n_rows;
  r->n_computed += m;

  move_rows (r->xs, x, r->rows, m, row_f32, TRUE);
  move_rows (ref, r->xs, r->rows, m, row_f32, FALSE);
  naclip_ops_layer_norm_typed (
      ln, t, r->xs, &block->ln_1, m, width, info->layer_norm_eps, nt);
  naclip_transformer_qkv (mm, block, width, ln, m, q, k, v);
  move_rows (kc, k, r->rows, m, row_t, FALSE);
  move_rows (vc, v, r->rows, m, row_t, FALSE);
  naclip_transformer_attention_groups (1, n, n_heads, &seqs, &group);
  for (gsize img = 0, a = 0; img < r->n_images; img++) {
    gsize b = r->image_end[img], base = img * n * width;
    for (guint h0 = 0; h0 < n_heads && b > a; h0 += group) {
      guint n_h = MIN (group, n_heads - h0);
      gsize head = (gsize)h0 * head_dim;
      naclip_transformer_scores (mm, scores,
          naclip_dtype_at (q, a * width + head, t),
          naclip_dtype_at (kc, base + head, t), 1, b - a, n, n_h, head_dim,
          width);
      naclip_ops_softmax_rows_typed (scores, t, n_h * (b - a), n, n, FALSE, nt);
      naclip_transformer_attend (mm, naclip_dtype_at (ctx, a * width + head, t),
          scores, naclip_dtype_at (vc, base + head, t), 1, b - a, n, n_h,
          head_dim, width);
    }
    a = b;
  }
  naclip_matmul_linear_typed (mm, r->xs, width, NACLIP_DTYPE_F32, ctx, width, t,
      &block->out, m, NACLIP_MATMUL_POST_ACCUMULATE);
  naclip_transformer_mlp (mm, block, info, r->xs, m, work);
  move_rows (out, r->xs, r->rows, m, row_f32, FALSE);
  memcpy (x, out, plane * sizeof (float));
}
