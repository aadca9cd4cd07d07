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
 *              (S, n_heads, n_tokens, n_tokens)
 *   MLP:       ln (M D) | hidden (M mlp_width)
 * where S sequences have their heads' scores computed at once (S =
 * attention_chunk()): one batched product for all heads and sequences of
 * a chunk instead of one small product per head.
 *
 * The products go through the caller's NaclipMatmul (its precision and
 * threads); the activation is fused into fc1 and the residual additions
 * into the output projection and fc2 (NaclipMatmulPost).
 */

#include "config.h"

#include <math.h>
#include <string.h>

#include "naclip-private.h"

/* Score floats one batched attention product may use (16 MiB): whole
 * sequences are batched up to it, at least one. */
#define SCORES_CHUNK_FLOATS ((gsize)4 << 20)

static gsize
attention_chunk (gsize n_seq, gsize n_tokens, guint n_heads)
{
  gsize per_seq
      = naclip_size_mul_sat (n_heads, naclip_size_mul_sat (n_tokens, n_tokens));
  gsize chunk = per_seq > 0 ? SCORES_CHUNK_FLOATS / per_seq : n_seq;
  return CLAMP (chunk, 1, MAX (n_seq, 1));
}

gsize
naclip_transformer_scratch_size (
    const NaclipTowerInfo *info, gsize n_seq, gsize n_tokens)
{
  gsize rows = naclip_size_mul_sat (n_seq, n_tokens);
  gsize md = naclip_size_mul_sat (rows, info->width);
  gsize chunk = attention_chunk (n_seq, n_tokens, info->n_heads);
  gsize scores = naclip_size_mul_sat (
      chunk, naclip_size_mul_sat (
                 info->n_heads, naclip_size_mul_sat (n_tokens, n_tokens)));
  gsize attention = naclip_size_add_sat (naclip_size_mul_sat (5, md), scores);
  gsize mlp = naclip_size_mul_sat (
      rows, naclip_size_add_sat (info->width, info->mlp_width));
  return MIN (MAX (attention, mlp), G_MAXSIZE / sizeof (float));
}

void
naclip_transformer_attention (NaclipMatmul *mm, float *ctx, const float *q,
    const float *k, const float *v, gsize n_seq, gsize n_tokens, guint n_heads,
    guint head_dim, gboolean causal, float *scores)
{
  /* q, k, v, ctx: (n_seq, n_tokens, n_heads * head_dim);
   * scores: (chunk, n_heads, n_tokens, n_tokens) */
  gsize width = (gsize)n_heads * head_dim, n = n_tokens;
  gsize nn = n * n, seq_stride = n * width;
  float scale = 1.0f / sqrtf ((float)head_dim);
  guint nt = MAX (naclip_matmul_get_threads (mm), 1u);
  gsize chunk = attention_chunk (n_seq, n_tokens, n_heads);

  for (gsize s0 = 0; s0 < n_seq; s0 += chunk) {
    gsize n_s = MIN (chunk, n_seq - s0);
    gsize base = s0 * seq_stride;
    /* scores[s, h] = scale * q[s, :, h] . k[s, :, h]^T */
    NaclipGemmLayout qk = {
      .n_outer = n_s,
      .n_inner = n_heads,
      .outer_a = seq_stride,
      .inner_a = head_dim,
      .lda = width,
      .outer_b = seq_stride,
      .inner_b = head_dim,
      .ldb = width,
      .outer_c = n_heads * nn,
      .inner_c = nn,
      .ldc = n,
    };
    naclip_matmul_gemm (
        mm, &qk, TRUE, n, n, head_dim, scale, q + base, k + base, 0.0f, scores);
    if (causal) {
      gsize n_mat = n_s * n_heads;
#pragma omp parallel for num_threads(nt) if (n_mat * nn >= 65536)              \
    schedule(static)
      for (gsize t = 0; t < n_mat * n; t++) {
        gsize i = t % n;
        float *row = scores + t * n;
        naclip_ops_softmax_rows (row, 1, i + 1, n, 1);
        memset (row + i + 1, 0, (n - i - 1) * sizeof (float));
      }
    } else {
      naclip_ops_softmax_rows (scores, n_s * n_heads * n, n, n, nt);
    }
    /* ctx[s, :, h] = scores[s, h] . v[s, :, h] */
    NaclipGemmLayout pv = {
      .n_outer = n_s,
      .n_inner = n_heads,
      .outer_a = n_heads * nn,
      .inner_a = nn,
      .lda = n,
      .outer_b = seq_stride,
      .inner_b = head_dim,
      .ldb = width,
      .outer_c = seq_stride,
      .inner_c = head_dim,
      .ldc = width,
    };
    naclip_matmul_gemm (mm, &pv, FALSE, n, head_dim, n, 1.0f, scores, v + base,
        0.0f, ctx + base);
  }
}

void
naclip_transformer_mlp (NaclipMatmul *mm, const NaclipBlock *block,
    const NaclipTowerInfo *info, float *x, gsize n_rows, float *scratch)
{
  /* x: (n_rows, width); hidden: (n_rows, mlp_width) */
  guint width = info->width, mlp_width = info->mlp_width;
  guint nt = MAX (naclip_matmul_get_threads (mm), 1u);
  float *ln = scratch;
  float *hidden = ln + n_rows * width;
  NaclipMatmulPost act = info->activation == NACLIP_ACTIVATION_GELU
                             ? NACLIP_MATMUL_POST_GELU
                             : NACLIP_MATMUL_POST_QUICK_GELU;

  naclip_ops_layer_norm (
      ln, x, &block->ln_2, n_rows, width, info->layer_norm_eps, nt);
  naclip_matmul_linear_post (
      mm, hidden, mlp_width, ln, width, &block->fc1, n_rows, act);
  naclip_matmul_linear_post (mm, x, width, hidden, mlp_width, &block->fc2,
      n_rows, NACLIP_MATMUL_POST_ACCUMULATE);
}

void
naclip_transformer_block (NaclipMatmul *mm, const NaclipBlock *block,
    const NaclipTowerInfo *info, float *x, gsize n_seq, gsize n_tokens,
    gboolean causal, float *scratch)
{
  /* x: (n_seq * n_tokens, width) */
  guint width = info->width;
  guint nt = MAX (naclip_matmul_get_threads (mm), 1u);
  gsize rows = n_seq * n_tokens, md = rows * width;
  float *ln = scratch;
  float *q = ln + md, *k = q + md, *v = k + md, *ctx = v + md;
  float *scores = ctx + md;

  naclip_ops_layer_norm (
      ln, x, &block->ln_1, rows, width, info->layer_norm_eps, nt);
  naclip_matmul_linear_post (
      mm, q, width, ln, width, &block->q, rows, NACLIP_MATMUL_POST_NONE);
  naclip_matmul_linear_post (
      mm, k, width, ln, width, &block->k, rows, NACLIP_MATMUL_POST_NONE);
  naclip_matmul_linear_post (
      mm, v, width, ln, width, &block->v, rows, NACLIP_MATMUL_POST_NONE);
  naclip_transformer_attention (mm, ctx, q, k, v, n_seq, n_tokens,
      info->n_heads, width / info->n_heads, causal, scores);
  naclip_matmul_linear_post (mm, x, width, ctx, width, &block->out, rows,
      NACLIP_MATMUL_POST_ACCUMULATE);
  naclip_transformer_mlp (mm, block, info, x, rows, scratch);
}
