/* transformer.c: the pre-LN residual attention block of both CLIP towers.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * OpenAI clip/model.py ResidualAttentionBlock (= Hugging Face
 * CLIPEncoderLayer): x = x + out_proj(MHA(ln_1(x))); x = x + c_proj(act(
 * c_fc(ln_2(x)))), with nn.MultiheadAttention's arithmetic: separate q, k,
 * v projections with biases, per head softmax(q k^T / sqrt(head_dim)) v,
 * heads concatenated, output projection. The text tower passes a causal
 * mask (token i attends to 0..i). vision.c reuses the attention core and
 * the MLP for its modified last block.
 *
 * Layout: tokens are rows, (n_seq, n_tokens, width) row-major; head h of a
 * token is columns [h * head_dim, (h + 1) * head_dim) of its q/k/v row.
 * Scratch layout (floats, M = n_seq * n_tokens, D = width):
 *   attention: ln (M D) | q (M D) | k (M D) | v (M D) | ctx (M D) | scores
 *              (n_tokens^2)
 *   MLP:       ln (M D) | hidden (M mlp_width)
 */

#include "config.h"

#include <math.h>
#include <string.h>

#include "naclip-private.h"

static gsize
mul_sat (gsize a, gsize b)
{
  gsize r;
  return g_size_checked_mul (&r, a, b) ? r : G_MAXSIZE;
}

static gsize
add_sat (gsize a, gsize b)
{
  gsize r;
  return g_size_checked_add (&r, a, b) ? r : G_MAXSIZE;
}

gsize
naclip_transformer_scratch_size (
    const NaclipTowerInfo *info, gsize n_seq, gsize n_tokens)
{
  gsize rows = mul_sat (n_seq, n_tokens);
  gsize md = mul_sat (rows, info->width);
  gsize attention = add_sat (mul_sat (5, md), mul_sat (n_tokens, n_tokens));
  gsize mlp = mul_sat (rows, add_sat (info->width, info->mlp_width));
  return MIN (MAX (attention, mlp), G_MAXSIZE / sizeof (float));
}

void
naclip_transformer_attention (float *ctx, const float *q, const float *k,
    const float *v, gsize n_seq, gsize n_tokens, guint n_heads, guint head_dim,
    gboolean causal, guint n_threads, float *scores)
{
  /* q, k, v, ctx: (n_seq, n_tokens, n_heads * head_dim);
   * scores: (n_tokens, n_tokens), one head at a time */
  gsize width = (gsize)n_heads * head_dim;
  float scale = 1.0f / sqrtf ((float)head_dim);

  for (gsize s = 0; s < n_seq; s++) {
    gsize base = s * n_tokens * width;
    for (guint h = 0; h < n_heads; h++) {
      gsize off = base + (gsize)h * head_dim;
      naclip_matmul_sgemm (TRUE, n_tokens, n_tokens, head_dim, scale, q + off,
          width, k + off, width, 0.0f, scores, n_tokens);
      if (causal) {
        for (gsize i = 0; i < n_tokens; i++) {
          naclip_ops_softmax_rows (
              scores + i * n_tokens, 1, i + 1, n_tokens, 1);
          memset (scores + i * n_tokens + i + 1, 0,
              (n_tokens - i - 1) * sizeof (float));
        }
      } else {
        naclip_ops_softmax_rows (
            scores, n_tokens, n_tokens, n_tokens, n_threads);
      }
      naclip_matmul_sgemm (FALSE, n_tokens, head_dim, n_tokens, 1.0f, scores,
          n_tokens, v + off, width, 0.0f, ctx + off, width);
    }
  }
}

void
naclip_transformer_mlp (const NaclipBlock *block, const NaclipTowerInfo *info,
    float *x, gsize n_rows, guint n_threads, float *scratch)
{
  /* x: (n_rows, width); hidden: (n_rows, mlp_width) */
  guint width = info->width, mlp_width = info->mlp_width;
  float *ln = scratch;
  float *hidden = ln + n_rows * width;

  naclip_ops_layer_norm (
      ln, x, &block->ln_2, n_rows, width, info->layer_norm_eps, n_threads);
  naclip_matmul_linear (hidden, mlp_width, ln, width, &block->fc1, n_rows);
  naclip_ops_activation (
      hidden, n_rows * mlp_width, info->activation, n_threads);
  naclip_matmul_linear (ln, width, hidden, mlp_width, &block->fc2, n_rows);
  naclip_ops_add (x, ln, n_rows * width, n_threads);
}

void
naclip_transformer_block (const NaclipBlock *block, const NaclipTowerInfo *info,
    float *x, gsize n_seq, gsize n_tokens, gboolean causal, guint n_threads,
    float *scratch)
{
  /* x: (n_seq * n_tokens, width) */
  guint width = info->width;
  gsize rows = n_seq * n_tokens, md = rows * width;
  float *ln = scratch;
  float *q = ln + md, *k = q + md, *v = k + md, *ctx = v + md;
  float *scores = ctx + md;

  naclip_ops_layer_norm (
      ln, x, &block->ln_1, rows, width, info->layer_norm_eps, n_threads);
  naclip_matmul_linear (q, width, ln, width, &block->q, rows);
  naclip_matmul_linear (k, width, ln, width, &block->k, rows);
  naclip_matmul_linear (v, width, ln, width, &block->v, rows);
  naclip_transformer_attention (ctx, q, k, v, n_seq, n_tokens, info->n_heads,
      width / info->n_heads, causal, n_threads, scores);
  naclip_matmul_linear (ln, width, ctx, width, &block->out, rows);
  naclip_ops_add (x, ln, md, n_threads);
  naclip_transformer_mlp (block, info, x, rows, n_threads, scratch);
}
