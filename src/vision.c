/* vision.c: the CLIP ViT image tower with NACLIP's last block.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The authors' clip/model.py VisionTransformer (forward,
 * interpolate_pos_encoding, custom_attn, gaussian_window,
 * get_attention_addition) and naclip.py forward_feature
 * (tests/reference/naclip_ref.py encode_image()). Per encoded image:
 *
 *   patch embedding (conv1 as a GEMM over unfolded P x P patches)
 *   class token, positional embedding (interpolated per grid, cached)
 *   ln_pre
 *   blocks 0 .. L-2: the standard residual block (transformer.c), or
 *     with token reuse the same block for the tokens that changed since
 *     the last frame (reuse.c)
 *   naclip_final_block (): the NACLIP changes, all in one place
 *   ln_post on every token, projection to E, class token dropped
 *   L2 normalisation of each patch vector
 *
 * Layout: pixels are planar (n_images, 3, height, width); tokens are rows
 * (n_images, n_tokens, width) with the class token first and patches in
 * row-major grid order (index = row * grid_w + col). A batch of images
 * (the windows of a sliding-window pass) is encoded together, so every
 * linear layer is one GEMM over all their tokens and the weights stream
 * through the cache once per batch. At precision int8 every linear layer
 * of the blocks is quantised; the patch embedding and the projection stay
 * at the float precision (naclip_matmul_linear_float).
 *
 * The Gaussian neighbourhood bias Omega ((N+1)^2 values) is never
 * materialised: Omega[(i,j)][(k,l)] = W[k - i + h - 1][l - j + w - 1] for the
 * (2h - 1) x (2w - 1) Gaussian window W (authors' gaussian_window + the
 * 'same' convolution of get_attention_addition, which reads the window
 * mirrored; W is symmetric), and row 0 / column 0 (class token) are zero.
 * So a row of Omega is h contiguous runs of w window values, which is how
 * it is added to the logits. The window and the interpolated positional
 * table are cached per grid in the scratch, each in a 4-entry LRU.
 */

#include "config.h"

#include <float.h>
#include <math.h>
#include <string.h>

#include "naclip-private.h"

/* Grids remembered by each per-grid cache. */
#define CACHE_SLOTS 4
/* eps of the final L2 normalisation (the reference divides by the norm;
 * this only keeps all-zero features finite, bad-input row F04). */
#define FEATURE_NORM_EPS 1e-12f

typedef struct
{
  gconstpointer owner; /* positional table the entry derives from, or NULL */
  guint grid_h, grid_w;
  float sigma;   /* gaussian_std (windows only) */
  float *data;   /* (n_tokens, width) table or (2h-1, 2w-1) window */
  guint64 stamp; /* last use; 0 = empty slot */
} GridCacheEntry;

struct _NaclipVisionScratch
{
  float *x;       /* (n_images * n_tokens, width): the residual stream */
  float *patches; /* (n_patches, 3 * P * P): one image unfolded */
  float *work;    /* block scratch, see work_floats () */
  gsize x_cap, patches_cap, work_cap; /* allocated floats */
  GridCacheEntry positions[CACHE_SLOTS];
  GridCacheEntry windows[CACHE_SLOTS];
  guint64 clock;
};

NaclipVisionScratch *
naclip_vision_scratch_new (void)
{
  return g_new0 (NaclipVisionScratch, 1);
}

void
naclip_vision_scratch_free (NaclipVisionScratch *s)
{
  if (s == NULL)
    return;
  g_free (s->x);
  g_free (s->patches);
  g_free (s->work);
  for (guint i = 0; i < CACHE_SLOTS; i++) {
    g_free (s->positions[i].data);
    g_free (s->windows[i].data);
  }
  g_free (s);
}

/* ------------------------------------------------------------------ */
/* Buffers and caches                                                  */

/* Grows *buf to hold @n floats (contents not kept), or sets @error. */
static gboolean
ensure_floats (
    float **buf, gsize *cap, gsize n, const char *what, GError **error)
{
  if (naclip_buffer_grow ((gpointer *)buf, cap, n, sizeof (float)))
    return TRUE;
  g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_NO_MEMORY,
      "vision encoder: cannot allocate %s (%" G_GSIZE_FORMAT " floats)", what,
      n);
  return FALSE;
}

/* Floats of s->work for the blocks of @n_images images of @n_tokens:
 * what transformer.c needs, and for the last block ln, q, k, v, ctx
 * (5 * rows * width) plus the scores of one group of an image's heads
 * (naclip_transformer_attention_groups(); twice for csa) and their bf16
 * weights. */
static gsize
work_floats (const NaclipTowerInfo *info, gsize n_images, gsize n_tokens,
    NaclipAttention attention)
{
  gsize rows = naclip_size_mul_sat (n_images, n_tokens);
  gsize seqs;
  guint group;
  naclip_transformer_attention_groups (
      1, n_tokens, info->n_heads, &seqs, &group);
  gsize copies = attention == NACLIP_ATTENTION_CSA ? 2 : 1;
  gsize scores
      = naclip_size_mul_sat (group, naclip_size_mul_sat (n_tokens, n_tokens));
  gsize last = naclip_size_add_sat (
      naclip_size_mul_sat (5, naclip_size_mul_sat (rows, info->width)),
      naclip_size_add_sat (
          naclip_size_mul_sat (copies, scores), scores / 2 + 1));
  return MAX (naclip_transformer_scratch_size (info, n_images, n_tokens), last);
}

/* The entry of @cache for the key, or the slot to refill (least recently
 * used) with *found FALSE. */
static GridCacheEntry *
cache_lookup (GridCacheEntry *cache, guint64 *clock, gconstpointer owner,
    guint grid_h, guint grid_w, float sigma, gboolean *found)
{
  GridCacheEntry *victim = &cache[0];
  *found = FALSE;
  for (guint i = 0; i < CACHE_SLOTS; i++) {
    GridCacheEntry *e = &cache[i];
    if (e->stamp != 0 && e->owner == owner && e->grid_h == grid_h
        && e->grid_w == grid_w && e->sigma == sigma) {
      e->stamp = ++*clock;
      *found = TRUE;
      return e;
    }
    if (e->stamp < victim->stamp)
      victim = e;
  }
  return victim;
}

static float *
cache_refill (GridCacheEntry *e, guint64 *clock, gconstpointer owner,
    guint grid_h, guint grid_w, float sigma, gsize n_floats, const char *what,
    GError **error)
{
  float *data = n_floats <= G_MAXSIZE / sizeof (float)
                    ? g_try_malloc (n_floats * sizeof (float))
                    : NULL;
  if (data == NULL) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_NO_MEMORY,
        "vision encoder: cannot allocate the %s of a %ux%u grid", what, grid_h,
        grid_w);
    return NULL;
  }
  g_free (e->data);
  e->data = data;
  e->owner = owner;
  e->grid_h = grid_h;
  e->grid_w = grid_w;
  e->sigma = sigma;
  e->stamp = ++*clock;
  return data;
}

/* ------------------------------------------------------------------ */
/* Positional embedding                                                */

/* PyTorch's cubic convolution weights (A = -0.75) of the 4 taps around a
 * sample at fraction t past its floor (upsample_bicubic2d,
 * get_cubic_upsample_coefficients). */
static void
cubic_weights (float t, float w[4])
{
  const float a = -0.75f;
  float x1 = t + 1.0f, x2 = 1.0f - t, x3 = 2.0f - t;
  w[0] = ((a * x1 - 5.0f * a) * x1 + 8.0f * a) * x1 - 4.0f * a;
  w[1] = ((a + 2.0f) * t - (a + 3.0f)) * t * t + 1.0f;
  w[2] = ((a + 2.0f) * x2 - (a + 3.0f)) * x2 * x2 + 1.0f;
  w[3] = ((a * x3 - 5.0f * a) * x3 + 8.0f * a) * x3 - 4.0f * a;
}

/* Taps (clamped to [0, in_size)) and weights of output index @i when
 * F.interpolate(mode="bicubic", align_corners=False, scale_factor=sf,
 * recompute_scale_factor=False) resizes in_size samples. The kernel uses
 * 1/sf, not in_size/out_size, so the source coordinate is
 * (i + 0.5) * g / (h + 0.1) - 0.5 for the authors' sf = (h + 0.1) / g; that
 * is why the "+ 0.1" matters. Computed in float like PyTorch's CPU kernel;
 * the coordinate is not clamped at 0 (cubic), only the taps are. */
static void
cubic_taps (guint i, guint in_size, double sf, guint taps[4], float w[4])
{
  float scale = (float)(1.0 / sf);
  float src = scale * ((float)i + 0.5f) - 0.5f;
  float fl = floorf (src);
  cubic_weights (src - fl, w);
  for (int t = 0; t < 4; t++) {
    long idx = (long)fl - 1 + t;
    taps[t] = (guint)CLAMP (idx, 0, (long)in_size - 1);
  }
}

/* out (1 + grid_h * grid_w, width): the class row of @table (1 + g*g,
 * width) and its patch part resized bicubically to grid_h x grid_w with
 * the authors' scale factors (grid + 0.1) / g. Like PyTorch, each output
 * is the y-weighted sum of 4 x-interpolated rows. */
static void
interpolate_positions (float *out, const float *table, guint g, guint width,
    guint grid_h, guint grid_w, guint n_threads)
{
  memcpy (out, table, width * sizeof (float));
  const float *src = table + width;
  gsize n_out = (gsize)grid_h * grid_w;
#pragma omp parallel for num_threads(n_threads) schedule(static)
  for (gsize p = 0; p < n_out; p++) {
    guint oy = (guint)(p / grid_w), ox = (guint)(p % grid_w);
    guint ty[4], tx[4];
    float wy[4], wx[4];
    cubic_taps (oy, g, (grid_h + 0.1) / g, ty, wy);
    cubic_taps (ox, g, (grid_w + 0.1) / g, tx, wx);
    float *o = out + (1 + p) * width;
    for (guint c = 0; c < width; c++) {
      float acc = 0.0f;
      for (int a = 0; a < 4; a++) {
        const float *row = src + (gsize)ty[a] * g * width + c;
        float r = 0.0f;
        for (int b = 0; b < 4; b++)
          r += row[tx[b] * width] * wx[b];
        acc += r * wy[a];
      }
      o[c] = acc;
    }
  }
}

/* The positional table for the grid: the pretrained one as is when the
 * grid has g*g patches (even if it is not g x g: the authors' quirk, since
 * their forward only interpolates when the token count differs), else the
 * interpolated one from the cache. Borrowed from @vt or @s. */
static const float *
get_positions (NaclipVisionScratch *s, const NaclipVisionTower *vt,
    guint grid_h, guint grid_w, guint n_threads, GError **error)
{
  guint g = vt->grid_size, width = vt->info.width;
  if ((gsize)grid_h * grid_w == (gsize)g * g)
    return vt->position_embedding;
  gboolean found;
  GridCacheEntry *e = cache_lookup (s->positions, &s->clock,
      vt->position_embedding, grid_h, grid_w, 0.0f, &found);
  if (found)
    return e->data;
  gsize n = naclip_size_mul_sat (
      naclip_size_add_sat ((gsize)grid_h * grid_w, 1), width);
  float *data = cache_refill (e, &s->clock, vt->position_embedding, grid_h,
      grid_w, 0.0f, n, "positional embedding", error);
  if (data == NULL)
    return NULL;
  interpolate_positions (
      data, vt->position_embedding, g, width, grid_h, grid_w, n_threads);
  return data;
}

/* ------------------------------------------------------------------ */
/* The Gaussian window                                                 */

/* W (2 grid_h - 1, 2 grid_w - 1): exp(-(dy^2 + dx^2) / (2 sigma^2)) for
 * offsets dy = r - (grid_h - 1), dx = c - (grid_w - 1), in patches. */
static const float *
get_window (NaclipVisionScratch *s, guint grid_h, guint grid_w, float sigma,
    GError **error)
{
  gboolean found;
  GridCacheEntry *e = cache_lookup (
      s->windows, &s->clock, NULL, grid_h, grid_w, sigma, &found);
  if (found)
    return e->data;
  gsize rows = 2 * (gsize)grid_h - 1, cols = 2 * (gsize)grid_w - 1;
  float *w = cache_refill (e, &s->clock, NULL, grid_h, grid_w, sigma,
      naclip_size_mul_sat (rows, cols), "Gaussian window", error);
  if (w == NULL)
    return NULL;
  double denom = 2.0 * (double)sigma * sigma;
  for (gsize r = 0; r < rows; r++) {
    double dy = (double)r - (grid_h - 1.0);
    for (gsize c = 0; c < cols; c++) {
      double dx = (double)c - (grid_w - 1.0);
      double value = exp (-(dy * dy + dx * dx) / denom);
      /* below FLT_MIN a weight cannot change a logit, and denormal operands
       * are slow (bad-input row F06): store 0 */
      w[r * cols + c] = value < FLT_MIN ? 0.0f : (float)value;
    }
  }
  return w;
}

/* scores (n_mats, n_tokens, n_tokens) += factor * Omega, each matrix: for
 * the patch row p = (i, j), columns 1 + k * grid_w + l get factor *
 * W[k - i + grid_h - 1][l - j + grid_w - 1]; the class token's row and
 * column get nothing. */
static void
add_neighbourhood_bias (float *scores, gsize n_mats, const float *window,
    guint grid_h, guint grid_w, float factor, guint n_threads)
{
  gsize n_patches = (gsize)grid_h * grid_w, n_tokens = n_patches + 1;
  gsize cols = 2 * (gsize)grid_w - 1;
  gboolean parallel
      = n_mats * n_patches * n_patches * 2 >= NACLIP_PARALLEL_MIN_OPS;
#pragma omp parallel for num_threads(n_threads) if (parallel) schedule(static)
  for (gsize t = 0; t < n_mats * n_patches; t++) {
    gsize p = t % n_patches, i = p / grid_w, j = p % grid_w;
    float *row = scores + (t / n_patches * n_tokens + 1 + p) * n_tokens + 1;
    for (gsize k = 0; k < grid_h; k++) {
      const float *w = window + (k + grid_h - 1 - i) * cols + (grid_w - 1 - j);
      float *dst = row + k * grid_w;
#pragma omp simd
      for (gsize l = 0; l < grid_w; l++)
        dst[l] += factor * w[l];
    }
  }
}

/* ------------------------------------------------------------------ */
/* Forward steps                                                       */

/* patches (grid_h * grid_w, 3 * P * P), column (c * P + y) * P + x: the
 * P x P patches of one planar image (3, height, width), in the order of
 * conv1's weight (width, 3, P, P). */
static void
unfold_patches (float *patches, const float *image, guint height, guint width,
    guint patch, guint grid_h, guint grid_w, guint n_threads)
{
  gsize n_patches = (gsize)grid_h * grid_w, plane = (gsize)height * width;
  gsize row_len = 3 * (gsize)patch * patch;
  gboolean parallel = n_patches * row_len >= NACLIP_PARALLEL_MIN_OPS;
#pragma omp parallel for num_threads(n_threads) if (parallel) schedule(static)
  for (gsize p = 0; p < n_patches; p++) {
    gsize gy = p / grid_w, gx = p % grid_w;
    float *dst = patches + p * row_len;
    for (guint c = 0; c < 3; c++)
      for (guint y = 0; y < patch; y++)
        memcpy (dst + ((gsize)c * patch + y) * patch,
            image + c * plane + (gy * patch + y) * width + gx * patch,
            patch * sizeof (float));
  }
}

/* x (n_tokens, width) of one image: row 0 = class_embedding + pos[0],
 * rows 1.. (already the patch embeddings) += pos[1..]. */
static void
add_class_and_positions (float *x, const float *class_embedding,
    const float *positions, gsize n_tokens, guint width, guint n_threads)
{
  for (guint c = 0; c < width; c++)
    x[c] = class_embedding[c] + positions[c];
  naclip_ops_add (
      x + width, positions + width, (n_tokens - 1) * width, n_threads);
}

/* Element @i of @x, an array of @type, as a float. */
static float
load_float (const void *x, gsize i, NaclipDtype type)
{
  float f;
  if (type == NACLIP_DTYPE_F32)
    return ((const float *)x)[i];
  naclip_ops_from_bf16 (&f, (const guint16 *)x + i, 1);
  return f;
}

/* The mean over heads and token pairs of |q_i| |k_j| / sqrt(head_dim) for
 * one image (authors' 'nonly': einsum of the norms, .mean ()). q, k:
 * (n_tokens, width) rows of that image, of @type. */
static float
mean_qk_norm_product (const void *q, const void *k, NaclipDtype type,
    gsize n_tokens, guint n_heads, guint head_dim)
{
  gsize width = (gsize)n_heads * head_dim;
  double total = 0.0;
  for (guint h = 0; h < n_heads; h++) {
    double sum_q = 0.0, sum_k = 0.0;
    for (gsize t = 0; t < n_tokens; t++) {
      double sq = 0.0, sk = 0.0;
      for (guint c = 0; c < head_dim; c++) {
        float qv = load_float (q, t * width + h * head_dim + c, type);
        float kv = load_float (k, t * width + h * head_dim + c, type);
        sq += (double)qv * qv;
        sk += (double)kv * kv;
      }
      sum_q += sqrt (sq);
      sum_k += sqrt (sk);
    }
    total += sum_q * sum_k;
  }
  double mean = total / ((double)n_heads * n_tokens * n_tokens);
  return (float)(mean / sqrt ((double)head_dim));
}

/* The attention weights of @n_heads heads of one image for the strategies
 * other than "vanilla", (n_heads, n_tokens, n_tokens) of the handle's
 * activation type, dense: f32 in @scores, bf16 in @weights. @scores2 is a
 * second buffer of the scores' size (csa). q, k: that image's
 * (n_tokens, width) rows from the group's first head. */
static void
neighbourhood_weights (NaclipMatmul *mm, float *scores, float *scores2,
    void *weights, const void *q, const void *k, gsize n_tokens, guint n_heads,
    guint head_dim, guint width, NaclipAttention attention, const float *window,
    float nonly_factor, guint grid_h, guint grid_w, guint n_threads)
{
  NaclipDtype t = naclip_matmul_get_act_type (mm);
  gsize n = n_tokens, n_rows = n_heads * n;
  switch (attention) {
    case NACLIP_ATTENTION_NACLIP:
      naclip_transformer_scores (
          mm, scores, k, k, 1, n, n_heads, head_dim, width);
      add_neighbourhood_bias (
          scores, n_heads, window, grid_h, grid_w, 1.0f, n_threads);
      naclip_ops_softmax_rows_typed (
          scores, n, t, weights, n, n_rows, n, FALSE, n_threads);
      break;
    case NACLIP_ATTENTION_KK:
      naclip_transformer_scores (
          mm, scores, k, k, 1, n, n_heads, head_dim, width);
      naclip_ops_softmax_rows_typed (
          scores, n, t, weights, n, n_rows, n, FALSE, n_threads);
      break;
    case NACLIP_ATTENTION_NONLY:
      memset (scores, 0, n_rows * n * sizeof (float));
      add_neighbourhood_bias (
          scores, n_heads, window, grid_h, grid_w, nonly_factor, n_threads);
      naclip_ops_softmax_rows_typed (
          scores, n, t, weights, n, n_rows, n, FALSE, n_threads);
      break;
    case NACLIP_ATTENTION_CSA:
      naclip_transformer_scores (
          mm, scores, q, q, 1, n, n_heads, head_dim, width);
      naclip_ops_softmax_rows (scores, n_rows, n, n, n_threads);
      naclip_transformer_scores (
          mm, scores2, k, k, 1, n, n_heads, head_dim, width);
      naclip_ops_softmax_rows (scores2, n_rows, n, n, n_threads);
      naclip_ops_add (scores, scores2, n_rows * n, n_threads);
      if (t == NACLIP_DTYPE_BF16)
        naclip_ops_to_bf16 (weights, n, scores, n, n_rows, n, n_threads);
      break;
    case NACLIP_ATTENTION_VANILLA:
    default:
      g_assert_not_reached ();
  }
}

/* The last block, changed by NACLIP (arXiv 2404.08181, authors'
 * custom_attn and the arch switch of VisionTransformer.forward):
 *   attention "naclip": softmax(k k^T / sqrt(d) + Omega) v (neighbourhood
 *     bias + key-key similarity); "kk", "nonly", "csa", "vanilla" are the
 *     authors' ablations;
 *   arch "reduced": x = Attn(LN1(x)) with no residual and no MLP (the
 *     third change); arch "vanilla" keeps both.
 * x: (n_images * n_tokens, width), in place. @window is the Gaussian
 * window of the grid (NULL unless naclip/nonly). q is not computed for
 * the strategies that do not use it (naclip, kk). With @reuse (NULL:
 * none), ln, q, k, v come from naclip_reuse_final_qkv(). ln, q, k, v,
 * ctx and the attention weights are of the handle's activation type, as
 * in transformer.c; the heads of an image go through one batched product
 * per group of naclip_transformer_attention_groups(). */
static void
naclip_final_block (NaclipMatmul *mm, NaclipReuse *reuse,
    const NaclipVisionTower *vt, const NaclipParams *params, float *x,
    gsize n_images, gsize n_tokens, guint grid_h, guint grid_w,
    const float *window, float *work)
{
  const NaclipBlock *blk = &vt->blocks[vt->info.n_layers - 1];
  const NaclipTowerInfo *info = &vt->info;
  NaclipDtype t = naclip_matmul_get_act_type (mm);
  guint width = info->width, n_heads = info->n_heads, nt = params->threads;
  guint head_dim = vt->head_dim;
  NaclipAttention attention = params->attention;
  gsize rows = n_images * n_tokens, md = rows * width;
  gsize n = n_tokens;
  float *ln = work, *ctx = ln + 4 * md;
  const void *q = ln + md, *k = ln + 2 * md, *v = ln + 3 * md;
  gsize seqs;
  guint group;
  naclip_transformer_attention_groups (1, n, n_heads, &seqs, &group);
  float *scores = ctx + md, *scores2 = scores + group * n * n;
  void *weights
      = t == NACLIP_DTYPE_F32
            ? (void *)scores
            : (void *)(scores2
                       + (attention == NACLIP_ATTENTION_CSA ? group * n * n
                                                            : 0));

  gboolean uses_q = attention != NACLIP_ATTENTION_NACLIP
                    && attention != NACLIP_ATTENTION_KK;
  if (reuse != NULL) {
    naclip_reuse_final_qkv (reuse, mm, blk, info, x, uses_q, work, &q, &k, &v);
  } else {
    naclip_ops_layer_norm_typed (
        ln, t, x, &blk->ln_1, rows, width, info->layer_norm_eps, nt);
    naclip_transformer_qkv (mm, blk, width, ln, rows, uses_q ? ln + md : NULL,
        ln + 2 * md, ln + 3 * md);
  }
  if (attention == NACLIP_ATTENTION_VANILLA) {
    naclip_transformer_attention (
        mm, ctx, q, k, v, n_images, n_tokens, n_heads, head_dim, FALSE, scores);
  } else {
    for (gsize img = 0; img < n_images; img++) {
      gsize base = img * n * width;
      const void *qi = naclip_dtype_at (q, base, t);
      const void *ki = naclip_dtype_at (k, base, t);
      float nonly_factor
          = attention == NACLIP_ATTENTION_NONLY
                ? mean_qk_norm_product (qi, ki, t, n, n_heads, head_dim)
                : 0.0f;
      for (guint h0 = 0; h0 < n_heads; h0 += group) {
        guint n_h = MIN (group, n_heads - h0);
        gsize head = (gsize)h0 * head_dim;
        neighbourhood_weights (mm, scores, scores2, weights,
            naclip_dtype_at (qi, head, t), naclip_dtype_at (ki, head, t), n,
            n_h, head_dim, width, attention, window, nonly_factor, grid_h,
            grid_w, nt);
        naclip_transformer_attend (mm, naclip_dtype_at (ctx, base + head, t),
            weights, naclip_dtype_at (v, base + head, t), 1, n, n_h, head_dim,
            width);
      }
    }
  }
  if (params->arch == NACLIP_ARCH_REDUCED) {
    naclip_matmul_linear_typed (mm, x, width, NACLIP_DTYPE_F32, ctx, width, t,
        &blk->out, rows, NACLIP_MATMUL_POST_NONE);
  } else {
    naclip_matmul_linear_typed (mm, x, width, NACLIP_DTYPE_F32, ctx, width, t,
        &blk->out, rows, NACLIP_MATMUL_POST_ACCUMULATE);
    naclip_transformer_mlp (mm, blk, info, x, rows, work);
  }
}

gboolean
naclip_vision_encode (const NaclipModel *model, NaclipVisionScratch *s,
    NaclipMatmul *mm, NaclipReuse *reuse, const NaclipParams *params,
    const float *pixels, guint n_images, guint height, guint width,
    float *features, float *block_out, const gint *cancel, GError **error)
{
  g_return_val_if_fail (model != NULL && s != NULL && params != NULL, FALSE);
  g_return_val_if_fail (mm != NULL, FALSE);
  g_return_val_if_fail (pixels != NULL && features != NULL, FALSE);
  g_return_val_if_fail (n_images >= 1 && params->threads >= 1, FALSE);

  const NaclipVisionTower *vt = &model->vision;
  const NaclipTowerInfo *info = &vt->info;
  guint patch = vt->patch_size, dim = info->width, nt = params->threads;
  guint embed_dim = vt->proj.n_out;
  guint grid_h = height / patch, grid_w = width / patch;
  const float *positions = NULL, *window = NULL;

  if (grid_h == 0 || grid_w == 0) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
        "image of %ux%u px is smaller than one %ux%u patch", width, height,
        patch, patch);
    return FALSE;
  }
  gsize n_patches = (gsize)grid_h * grid_w, n_tokens = n_patches + 1;
  gsize rows = naclip_size_mul_sat (n_images, n_tokens);
  gsize patch_len = 3 * (gsize)patch * patch;
  if (!ensure_floats (
          &s->x, &s->x_cap, naclip_size_mul_sat (rows, dim), "tokens", error)
      || !ensure_floats (&s->patches, &s->patches_cap,
          naclip_size_mul_sat (n_patches, patch_len), "patches", error)
      || !ensure_floats (&s->work, &s->work_cap,
          work_floats (info, n_images, n_tokens, params->attention),
          "block scratch", error))
    return FALSE;
  positions = get_positions (s, vt, grid_h, grid_w, nt, error);
  if (positions == NULL)
    return FALSE;
  if (params->attention == NACLIP_ATTENTION_NACLIP
      || params->attention == NACLIP_ATTENTION_NONLY) {
    window = get_window (s, grid_h, grid_w, params->gaussian_std, error);
    if (window == NULL)
      return FALSE;
  }

  if (reuse != NULL
      && !naclip_reuse_begin (reuse, vt, info, patch_len,
          naclip_matmul_get_precision (mm), n_images, n_tokens, error))
    return FALSE;

  NaclipLinear conv1 = { vt->patch_weight, NULL, dim, (guint)patch_len };
  gsize plane = 3 * (gsize)height * width;
  float *x = s->x, *ln = s->work;
  for (guint img = 0; img < n_images; img++) {
    float *xi = x + img * n_tokens * dim;
    unfold_patches (s->patches, pixels + img * plane, height, width, patch,
        grid_h, grid_w, nt);
    if (reuse != NULL)
      naclip_reuse_patches (reuse, mm, &conv1, img, s->patches, xi + dim);
    else
      naclip_matmul_linear_float (mm, xi + dim, dim, NACLIP_DTYPE_F32,
          s->patches, patch_len, NACLIP_DTYPE_F32, &conv1, n_patches,
          NACLIP_MATMUL_POST_NONE);
    add_class_and_positions (
        xi, vt->class_embedding, positions, n_tokens, dim, nt);
  }
  naclip_ops_layer_norm (
      x, x, &vt->ln_pre, rows, dim, info->layer_norm_eps, nt);
  /* with reuse, a block's output is its cache (naclip_reuse_block) */
  float *y = x;
  for (guint l = 0; l + 1 < info->n_layers; l++) {
    if (cancel != NULL && g_atomic_int_get (cancel)) {
      g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_CANCELLED,
          "vision encoder: cancelled before block %u of %u", l, info->n_layers);
      return FALSE;
    }
    if (reuse != NULL)
      y = naclip_reuse_block (reuse, mm, &vt->blocks[l], info, l, y, s->work);
    else
      naclip_transformer_block (
          mm, &vt->blocks[l], info, x, n_images, n_tokens, FALSE, s->work);
  }
  if (y != x)
    memcpy (x, y, naclip_size_mul_sat (rows, dim) * sizeof (float));
  naclip_final_block (mm, reuse, vt, params, x, n_images, n_tokens, grid_h,
      grid_w, window, s->work);
  if (block_out != NULL)
    memcpy (block_out, x, n_tokens * dim * sizeof (float));
  NaclipDtype t = naclip_matmul_get_act_type (mm);
  naclip_ops_layer_norm_typed (
      ln, t, x, &vt->ln_post, rows, dim, info->layer_norm_eps, nt);
  for (guint img = 0; img < n_images; img++)
    naclip_matmul_linear_float (mm, features + img * n_patches * embed_dim,
        embed_dim, NACLIP_DTYPE_F32,
        naclip_dtype_at (ln, (img * n_tokens + 1) * dim, t), dim, t, &vt->proj,
        n_patches, NACLIP_MATMUL_POST_NONE);
  naclip_ops_l2_normalize_rows (
      features, n_images * n_patches, embed_dim, FEATURE_NORM_EPS, nt);
  if (reuse != NULL)
    naclip_reuse_end (reuse);
  return TRUE;
}
