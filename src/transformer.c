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
 * Scratch layout (room in floats, M = n_seq * n_tokens, D = width):
 *   attention: ln (M D) | q (M D) | k (M D) | v (M D) | ctx (M D) | scores
 *              (S, G, n_tokens, n_tokens) | bf16 weights (half as many
 *              floats; f32 weights are the scores, softmaxed in place)
 *   MLP:       ln (M D) | hidden (M mlp_width)
 * where the scores of S sequences and G of their heads are computed at
 * once (naclip_transformer_attention_groups()): one batched product for
 * those heads and sequences instead of one small product per head, within
 * a bound on the scores (4 MiB: at 336x448, 589 tokens, three heads of a
 * sequence at a time rather than twelve, which keeps a context's scratch,
 * and so the memory a second element costs, small).
 *
 * The products go through the caller's NaclipMatmul (its precision and
 * threads); the activation is fused into fc1 and the residual additions
 * into the output projection and fc2 (NaclipMatmulPost). Everything that
 * only feeds a product (ln, q, k, v, the attention weights, ctx, hidden)
 * is written in the handle's activation type: bf16 for a bf16 handle, so
 * that no product rounds its input in a pass of its own (bf16 uses half
 * of each region). The residual stream x and the scores stay f32; the
 * softmax writes bf16 weights as dense rows of their own (oneDNN runs the
 * weights x v product on brgemm then, on gemm:jit with a row stride of
 * twice the width: 0.14 instead of 0.32 ms a ViT-B/16 block at 224 on a
 * Zen 5).
 */

#include "config.h"

#include <math.h>
#include <string.h>

#include "naclip-private.h"

/* Score floats one batched attention product may use (4 MiB). */
#define SCORES_CHUNK_FLOATS ((gsize)1 << 20)

void
naclip_transformer_attention_groups (
    gsize n_seq, gsize n_tokens, guint n_heads, gsize *seqs, guint *heads)
{
  gsize per_head = naclip_size_mul_sat (n_tokens, n_tokens);
  gsize per_seq = naclip_size_mul_sat (n_heads, per_head);
  if (per_seq <= SCORES_CHUNK_FLOATS) {
    *heads = n_heads;
    *seqs = CLAMP (
        per_seq > 0 ? SCORES_CHUNK_FLOATS / per_seq : n_seq, 1, MAX (n_seq, 1));
  } else {
    *seqs = 1;
    *heads = (guint)CLAMP (SCORES_CHUNK_FLOATS / per_head, 1, n_heads);
  }
}

gsize
naclip_transformer_scratch_size (
    const NaclipTowerInfo *info, gsize n_seq, gsize n_tokens)
{
  gsize rows = naclip_size_mul_sat (n_seq, n_tokens);
  gsize md = naclip_size_mul_sat (rows, info->width);
  gsize seqs;
  guint heads;
  naclip_transformer_attention_groups (
      n_seq, n_tokens, info->n_heads, &seqs, &heads);
  gsize scores = naclip_size_mul_sat (seqs,
      naclip_size_mul_sat (heads, naclip_size_mul_sat (n_tokens, n_tokens)));
  gsize attention = naclip_size_add_sat (naclip_size_mul_sat (5, md),
      naclip_size_add_sat (scores, scores / 2 + 1));
  gsize mlp = naclip_size_mul_sat (
      rows, naclip_size_add_sat (info->width, info->mlp_width));
  return MIN (MAX (attention, mlp), G_MAXSIZE / sizeof (float));
}

void
naclip_transformer_scores (NaclipMatmul *mm, float *scores, const void *q,
    const void *k, gsize n_seq, gsize n_tokens, guint n_heads, guint head_dim,
    guint width)
{
  /* q, k: (n_seq, n_tokens, width) of type t, n_heads heads of head_dim
   * from the first column; scores: (n_seq, n_heads, n_tokens, n_tokens)
   * f32 */
  NaclipDtype t = naclip_matmul_get_act_type (mm);
  gsize n = n_tokens;
  NaclipGemmLayout qk = {
    .n_outer = n_seq,
    .n_inner = n_heads,
    .outer_a = n * width,
    .inner_a = head_dim,
    .lda = width,
    .outer_b = n * width,
    .inner_b = head_dim,
    .ldb = width,
    .outer_c = n_heads * n * n,
    .inner_c = n * n,
    .ldc = n,
    .type_a = t,
    .type_b = t,
    .type_c = NACLIP_DTYPE_F32,
  };
  naclip_matmul_gemm (mm, &qk, TRUE, n, n, head_dim,
      1.0f / sqrtf ((float)head_dim), q, k, 0.0f, scores);
}

void
naclip_transformer_attend (NaclipMatmul *mm, void *ctx, const void *weights,
    const void *v, gsize n_seq, gsize n_tokens, guint n_heads, guint head_dim,
    guint width)
{
  /* weights: (n_seq, n_heads, n_tokens, n_tokens) of type t, dense; v,
   * ctx: (n_seq, n_tokens, width) of type t, n_heads heads from the first
   * column */
  NaclipDtype t = naclip_matmul_get_act_type (mm);
  gsize n = n_tokens;
  NaclipGemmLayout pv = {
    .n_outer = n_seq,
    .n_inner = n_heads,
    .outer_a = n_heads * n * n,
    .inner_a = n * n,
    .lda = n,
    .outer_b = n * width,
    .inner_b = head_dim,
    .ldb = width,
    .outer_c = n * width,
    .inner_c = head_dim,
    .ldc = width,
    .type_a = t,
    .type_b = t,
    .type_c = t,
  };
  naclip_matmul_gemm (
      mm, &pv, FALSE, n, head_dim, n, 1.0f, weights, v, 0.0f, ctx);
}

void
naclip_transformer_attention (NaclipMatmul *mm, void *ctx, const void *q,
    const void *k, const void *v, gsize n_seq, gsize n_tokens, guint n_heads,
    guint head_dim, gboolean causal, float *scores)
{
  /* q, k, v, ctx: (n_seq, n_tokens, n_heads * head_dim) of type t;
   * scores: (seqs, heads, n_tokens, n_tokens) f32, then the weights of
   * type t: f32 in place, bf16 after them */
  NaclipDtype t = naclip_matmul_get_act_type (mm);
  guint width = n_heads * head_dim;
  gsize seq_stride = n_tokens * width;
  guint nt = MAX (naclip_matmul_get_threads (mm), 1u);
  gsize seqs;
  guint heads;

  naclip_transformer_attention_groups (n_seq, n_tokens, n_heads, &seqs, &heads);
  void *weights = t == NACLIP_DTYPE_F32
                      ? (void *)scores
                      : (void *)(scores + seqs * heads * n_tokens * n_tokens);
  for (gsize s0 = 0; s0 < n_seq; s0 += seqs) {
    gsize n_s = MIN (seqs, n_seq - s0);
    for (guint h0 = 0; h0 < n_heads; h0 += heads) {
      guint n_h = MIN (heads, n_heads - h0);
      gsize base = s0 * seq_stride + (gsize)h0 * head_dim;
      naclip_transformer_scores (mm, scores, naclip_dtype_at (q, base, t),
          naclip_dtype_at (k, base, t), n_s, n_tokens, n_h, head_dim, width);
      naclip_ops_softmax_rows_typed (scores, n_tokens, t, weights, n_tokens,
          n_s * n_h * n_tokens, n_tokens, causal, nt);
      naclip_transformer_attend (mm, naclip_dtype_at (ctx, base, t), weights,
          naclip_dtype_at (v, base, t), n_s, n_tokens, n_h, head_dim, width);
    }
  }
}

void
naclip_transformer_qkv (NaclipMatmul *mm, const NaclipBlock *block, guint width,
    const void *ln, gsize n_rows, void *q, void *k, void *v)
{
  /* ln, q, k, v: (n_rows, width) of type t */
  NaclipDtype t = naclip_matmul_get_act_type (mm);
  const NaclipLinear *all[] = { &block->q, &block->k, &block->v };
  void *all_outs[] = { q, k, v };
  const NaclipLinear *lins[3];
  void *outs[3];
  guint n = 0;
  for (guint i = 0; i < 3; i++) {
    if (all_outs[i] != NULL) {
      lins[n] = all[i];
      outs[n++] = all_outs[i];
    }
  }
  if (n > 0)
    naclip_matmul_linears_typed (mm, n, lins, outs, width, t, ln, width, t,
        n_rows, NACLIP_MATMUL_POST_NONE);
}

void
naclip_transformer_mlp (NaclipMatmul *mm, const NaclipBlock *block,
    const NaclipTowerInfo *info, float *x, gsize n_rows, float *scratch)
{
  /* x: (n_rows, width) f32; ln: (n_rows, width), hidden: (n_rows,
   * mlp_width), of type t */
  NaclipDtype t = naclip_matmul_get_act_type (mm);
  guint width = info->width, mlp_width = info->mlp_width;
  guint nt = MAX (naclip_matmul_get_threads (mm), 1u);
  float *ln = scratch;
  float *hidden = ln + n_rows * width;
  NaclipMatmulPost act = info->activation == NACLIP_ACTIVATION_GELU
                             ? NACLIP_MATMUL_POST_GELU
                             : NACLIP_MATMUL_POST_QUICK_GELU;

  naclip_ops_layer_norm_typed (
      ln, t, x, &block->ln_2, n_rows, width, info->layer_norm_eps, nt);
  naclip_matmul_linear_typed (
      mm, hidden, mlp_width, t, ln, width, t, &block->fc1, n_rows, act);
  naclip_matmul_linear_typed (mm, x, width, NACLIP_DTYPE_F32, hidden, mlp_width,
      t, &block->fc2, n_rows, NACLIP_MATMUL_POST_ACCUMULATE);
}

void
naclip_transformer_block (NaclipMatmul *mm, const NaclipBlock *block,
    const NaclipTowerInfo *info, float *x, gsize n_seq, gsize n_tokens,
    gboolean causal, float *scratch)
{
  /* x: (n_seq * n_tokens, width) f32; ln, q, k, v, ctx of type t */
  NaclipDtype t = naclip_matmul_get_act_type (mm);
  guint width = info->width;
  guint nt = MAX (naclip_matmul_get_threads (mm), 1u);
  gsize rows = n_seq * n_tokens, md = rows * width;
  float *ln = scratch;
  float *q = ln + md, *k = q + md, *v = k + md, *ctx = v + md;
  float *scores = ctx + md;

  naclip_ops_layer_norm_typed (
      ln, t, x, &block->ln_1, rows, width, info->layer_norm_eps, nt);
  naclip_transformer_qkv (mm, block, width, ln, rows, q, k, v);
  naclip_transformer_attention (mm, ctx, q, k, v, n_seq, n_tokens,
      info->n_heads, width / info->n_heads, causal, scores);
  naclip_matmul_linear_typed (mm, x, width, NACLIP_DTYPE_F32, ctx, width, t,
      &block->out, rows, NACLIP_MATMUL_POST_ACCUMULATE);
  naclip_transformer_mlp (mm, block, info, x, rows, scratch);
}
