/* model-bind.c: binding the tensors of a CLIP checkpoint to the ViT.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The tensors of the parsed safetensors file are bound to the CLIP ViT
 * architecture (OpenAI's clip/model.py: VisionTransformer and the text
 * Transformer) in one of its two key layouts, detected from the keys:
 * Hugging Face CLIPModel (vision_model.*, separate q/k/v projections,
 * [E, D] projections) or OpenAI / open_clip (visual.*, fused in_proj of
 * rows q;k;v, [D, E] projections).
 *
 * Hyper-parameters come from the tensor shapes (width from the patch
 * embedding, grid from the position table, layers from the key indices,
 * MLP width from fc1, heads = width / 64 as in every CLIP ViT); a
 * config.json, when present, must agree with them and supplies what shapes
 * cannot: heads, hidden_act and layer_norm_eps. model-config.c reads it
 * and makes both checks, from what bind_vision() and bind_text() found in
 * the shapes.
 *
 * Memory: F32 tensors are used in place in the mapping (the model is then
 * mostly page cache that the kernel may drop and re-read), except when
 * the data area is not 4-byte aligned (a header length that is not a
 * multiple of 8): those tensors are copied once to aligned buffers, as are
 * tensors holding subnormal values when the weights are scanned (they are
 * flushed to zero). F16 and BF16 tensors are widened once to F32.
 * OpenAI's projections are transposed once so that every NaclipLinear is
 * [out, in]. All such buffers live in model->owned. The OpenAI fused
 * in_proj is not copied: q, k and v point at its three row blocks.
 *
 * Policies (README.md "Model files"):
 *   - every tensor of the file must be bound, except an allowlist of
 *     buffers that carry no weights (position_ids; OpenAI's
 *     input_resolution, context_length, vocab_size), which are ignored
 *     with a debug message. Anything else (e.g. open_clip's layer-scale
 *     ls_1.gamma) is an error rather than a silently different network;
 *   - the CLIP tokenizer fixes the text context at 77, so the text tower
 *     must match it; the token-embedding rows give the vocabulary size
 *     (514 byte symbols and specials plus the merges: 49408 for CLIP, up
 *     to 65536, the 16-bit ids), and the tokenizer reads that many merges
 *     from the merges file.
 */

#include "config.h"

#include <math.h>
#include <string.h>

#include "naclip-private.h"

typedef struct
{
  const char *name; /* "hf" / "openai", as printed */
  const char *patch, *class_embedding, *position_embedding, *ln_pre;
  const char *vision_layers, *ln_post, *vision_proj;
  const char *token_embedding, *text_position, *text_layers, *ln_final;
  const char *text_proj;
  /* Prefixes (or names) that mark a text tower. */
  const char *text_markers[6];
  /* Block parts, relative to "<layers>N.". */
  const char *ln_1, *ln_2, *fc1, *fc2, *attn_out;
  const char *q, *k, *v;                     /* HF: separate projections */
  const char *in_proj_weight, *in_proj_bias; /* OpenAI: fused */
  /* Projections stored [D, E] (OpenAI) rather than [E, D] (HF). */
  gboolean proj_transposed;
} Layout;

static const Layout layout_hf = {
  .name = "hf",
  .patch = "vision_model.embeddings.patch_embedding.weight",
  .class_embedding = "vision_model.embeddings.class_embedding",
  .position_embedding = "vision_model.embeddings.position_embedding.weight",
  .ln_pre = "vision_model.pre_layrnorm",
  .vision_layers = "vision_model.encoder.layers.",
  .ln_post = "vision_model.post_layernorm",
  .vision_proj = "visual_projection.weight",
  .token_embedding = "text_model.embeddings.token_embedding.weight",
  .text_position = "text_model.embeddings.position_embedding.weight",
  .text_layers = "text_model.encoder.layers.",
  .ln_final = "text_model.final_layer_norm",
  .text_proj = "text_projection.weight",
  .text_markers = { "text_model.", "text_projection." },
  .ln_1 = "layer_norm1",
  .ln_2 = "layer_norm2",
  .fc1 = "mlp.fc1",
  .fc2 = "mlp.fc2",
  .attn_out = "self_attn.out_proj",
  .q = "self_attn.q_proj",
  .k = "self_attn.k_proj",
  .v = "self_attn.v_proj",
  .proj_transposed = FALSE,
};

static const Layout layout_openai = {
  .name = "openai",
  .patch = "visual.conv1.weight",
  .class_embedding = "visual.class_embedding",
  .position_embedding = "visual.positional_embedding",
  .ln_pre = "visual.ln_pre",
  .vision_layers = "visual.transformer.resblocks.",
  .ln_post = "visual.ln_post",
  .vision_proj = "visual.proj",
  .token_embedding = "token_embedding.weight",
  .text_position = "positional_embedding",
  .text_layers = "transformer.resblocks.",
  .ln_final = "ln_final",
  .text_proj = "text_projection",
  .text_markers = { "token_embedding.", "positional_embedding", "transformer.",
      "ln_final.", "text_projection" },
  .ln_1 = "ln_1",
  .ln_2 = "ln_2",
  .fc1 = "mlp.c_fc",
  .fc2 = "mlp.c_proj",
  .attn_out = "attn.out_proj",
  .in_proj_weight = "attn.in_proj_weight",
  .in_proj_bias = "attn.in_proj_bias",
  .proj_transposed = TRUE,
};

/* Tensors that carry no weights and are ignored. */
static const char *const ignored_tensors[] = {
  "vision_model.embeddings.position_ids",
  "text_model.embeddings.position_ids",
  "input_resolution",
  "context_length",
  "vocab_size",
};

/* The state of one binding pass. The first error is kept in @error and
 * every later call returns at once. */
typedef struct
{
  NaclipModel *model;
  const NaclipSafetensors *st;
  const char *filename;
  const Layout *layout;
  gboolean check_weights;
  GHashTable *bound;         /* names of consumed tensors (borrowed) */
  guint64 *n_params;         /* counter of the tower being bound */
  guint64 dtype_elements[3]; /* bound elements per NaclipDtype */
  float *half_table; /* F16 bits -> float, 65536 entries, made on first use */
  GError *error;
} Binder;

static void G_GNUC_PRINTF (3, 4)
    bind_fail (Binder *b, NaclipError code, const char *format, ...)
{
  va_list args;
  g_autofree char *msg = NULL;

  if (b->error != NULL)
    return;
  va_start (args, format);
  msg = g_strdup_vprintf (format, args);
  va_end (args);
  b->error = g_error_new (NACLIP_ERROR, code, "%s: %s", b->filename, msg);
}

/* IEEE binary16 -> binary32, exact (subnormals, infinities, NaN). */
static float
half_to_float (guint16 h)
{
  guint32 sign = (guint32)(h & 0x8000) << 16;
  guint32 exponent = (h >> 10) & 0x1f;
  guint32 mantissa = h & 0x3ff;
  guint32 bits;
  float f;

  if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | (mantissa << 13);
  } else if (exponent != 0) {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  } else {
    /* Zero or subnormal: mantissa * 2^-24. */
    f = ldexpf ((float)mantissa, -24);
    return sign ? -f : f;
  }
  memcpy (&f, &bits, sizeof f);
  return f;
}

/* Whether the float with bits @u is NaN or infinite (exponent all ones). */
#define IS_NON_FINITE(u) (((u)&0x7f800000u) == 0x7f800000u)
/* Whether it is subnormal (exponent all zeros, mantissa not). */
#define IS_SUBNORMAL(u) (((u)&0x7f800000u) == 0 && ((u)&0x007fffffu) != 0)

/* Index of the first NaN or infinity in x (n), or -1; *subnormal is set
 * when x holds a subnormal value. Blocks of 4096 values are tested on the
 * bits with 8 independent accumulators, a form that runs at memory speed
 * at -O2 (about 2.5x the obvious loop); a block that has a non-finite
 * value is then searched. */
static gssize
scan_weights (const float *x, gsize n, gboolean *subnormal)
{
  const gsize block = 4096;
  guint32 tiny = 0;

  for (gsize start = 0; start < n; start += block) {
    gsize end = MIN (start + block, n);
    guint32 acc[8] = { 0 }, acc_tiny[8] = { 0 };
    guint32 bad = 0;
    gsize i = start;

    for (; i + 8 <= end; i += 8) {
      guint32 u[8];
      memcpy (u, x + i, sizeof u);
      for (int j = 0; j < 8; j++) {
        acc[j] |= IS_NON_FINITE (u[j]);
        acc_tiny[j] |= IS_SUBNORMAL (u[j]);
      }
    }
    for (int j = 0; j < 8; j++) {
      bad |= acc[j];
      tiny |= acc_tiny[j];
    }
    for (; i < end; i++) {
      guint32 u;
      memcpy (&u, x + i, sizeof u);
      bad |= IS_NON_FINITE (u);
      tiny |= IS_SUBNORMAL (u);
    }
    if (bad) {
      for (i = start; i < end; i++) {
        if (!isfinite (x[i]))
          return (gssize)i;
      }
    }
  }
  *subnormal = tiny != 0;
  return -1;
}

/* Sets the subnormal values of x (n) to zero (keeping their sign); returns
 * how many there were. */
static gsize
flush_subnormals (float *x, gsize n)
{
  gsize n_flushed = 0;
  for (gsize i = 0; i < n; i++) {
    guint32 u;
    memcpy (&u, &x[i], sizeof u);
    if (IS_SUBNORMAL (u)) {
      u &= 0x80000000u;
      memcpy (&x[i], &u, sizeof u);
      n_flushed++;
    }
  }
  return n_flushed;
}

/* A float buffer of @n elements owned by the model, or NULL (error set). */
static float *
alloc_owned (Binder *b, guint64 n, const char *name)
{
  gsize n_bytes;
  float *buf;

  if (n > G_MAXSIZE
      || !g_size_checked_mul (&n_bytes, (gsize)n, sizeof (float))) {
    bind_fail (b, NACLIP_ERROR_NO_MEMORY,
        "tensor '%s': %" G_GUINT64_FORMAT " floats do not fit in memory", name,
        n);
    return NULL;
  }
  buf = g_try_malloc (MAX (n_bytes, 1));
  if (buf == NULL) {
    bind_fail (b, NACLIP_ERROR_NO_MEMORY,
        "tensor '%s': cannot allocate %" G_GSIZE_FORMAT " bytes", name,
        n_bytes);
    return NULL;
  }
  g_ptr_array_add (b->model->owned, buf);
  return buf;
}

/* The tensor @name, or NULL with a "missing" error naming @what. */
static const NaclipTensor *
lookup (Binder *b, const char *name, const char *what)
{
  const NaclipTensor *t;

  if (b->error != NULL)
    return NULL;
  t = naclip_safetensors_find (b->st, name);
  if (t == NULL)
    bind_fail (b, NACLIP_ERROR_MODEL,
        "required tensor '%s' (%s) is missing (key layout %s)", name, what,
        b->layout->name);
  return t;
}

/* The shape of tensor @name, which must have rank @n_dims; NULL on error.
 * Used to derive dimensions before binding. */
static const guint64 *
shape_of (Binder *b, const char *name, guint n_dims, const char *what)
{
  const NaclipTensor *t = lookup (b, name, what);

  if (t == NULL)
    return NULL;
  if (t->n_dims != n_dims) {
    g_autofree char *s = naclip_safetensors_format_shape (t->shape, t->n_dims);
    bind_fail (b, NACLIP_ERROR_MODEL,
        "tensor '%s' (%s) has shape %s of rank %u, expected rank %u", name,
        what, s, t->n_dims, n_dims);
    return NULL;
  }
  return t->shape;
}

/* Binds tensor @name of shape @dims as float32, converting it if needed,
 * scanning it for NaN/Inf (and flushing its subnormals) if asked. NULL on
 * error. */
static const float *
bind_tensor (Binder *b, const char *name, const guint64 *dims, guint n_dims)
{
  const NaclipTensor *t = lookup (b, name, "weight");
  float *buf = NULL;
  const float *x;
  gboolean same = TRUE, subnormal = FALSE;
  gssize bad;

  if (t == NULL)
    return NULL;
  if (t->dtype != NACLIP_ST_F32 && t->dtype != NACLIP_ST_F16
      && t->dtype != NACLIP_ST_BF16) {
    bind_fail (b, NACLIP_ERROR_UNSUPPORTED,
        "tensor '%s' has dtype %s; weights must be F32, F16 or BF16", name,
        t->dtype_name);
    return NULL;
  }
  if (t->n_dims != n_dims)
    same = FALSE;
  for (guint i = 0; same && i < n_dims; i++)
    same = t->shape[i] == dims[i];
  if (!same) {
    g_autofree char *got
        = naclip_safetensors_format_shape (t->shape, t->n_dims);
    g_autofree char *want = naclip_safetensors_format_shape (dims, n_dims);
    bind_fail (b, NACLIP_ERROR_MODEL, "tensor '%s' has shape %s, expected %s",
        name, got, want);
    return NULL;
  }

  if (t->dtype == NACLIP_ST_F32 && ((guintptr)t->data % sizeof (float)) == 0) {
    x = (const float *)t->data;
    b->dtype_elements[NACLIP_DTYPE_F32] += t->n_elements;
  } else {
    buf = alloc_owned (b, t->n_elements, name);
    if (buf == NULL)
      return NULL;
    if (t->dtype == NACLIP_ST_F32) {
      memcpy (buf, t->data, t->n_elements * sizeof (float));
      b->dtype_elements[NACLIP_DTYPE_F32] += t->n_elements;
    } else if (t->dtype == NACLIP_ST_F16) {
      /* A table lookup is about 10x faster than converting each value. */
      if (b->half_table == NULL) {
        b->half_table = g_new (float, 65536);
        for (guint h = 0; h < 65536; h++)
          b->half_table[h] = half_to_float ((guint16)h);
      }
      for (gsize i = 0; i < t->n_elements; i++)
        buf[i] = b->half_table[t->data[2 * i] | (t->data[2 * i + 1] << 8)];
      b->dtype_elements[NACLIP_DTYPE_F16] += t->n_elements;
    } else {
      for (gsize i = 0; i < t->n_elements; i++) {
        guint32 bits = ((guint32)t->data[2 * i] << 16)
                       | ((guint32)t->data[2 * i + 1] << 24);
        memcpy (&buf[i], &bits, sizeof (float));
      }
      b->dtype_elements[NACLIP_DTYPE_BF16] += t->n_elements;
    }
    x = buf;
  }

  if (b->check_weights
      && (bad = scan_weights (x, t->n_elements, &subnormal)) >= 0) {
    bind_fail (b, NACLIP_ERROR_MODEL,
        "tensor '%s' has a non-finite value (%g) at element %" G_GSSIZE_FORMAT
        "; weights must be finite",
        name, (double)x[bad], bad);
    return NULL;
  }
  if (subnormal) {
    /* Below FLT_MIN a weight cannot change a result, and subnormal
     * operands cost Intel CPUs a microcode assist per product (2.6x the
     * frame time, bad-input row F06): such a tensor is used flushed to 0. */
    if (buf == NULL) {
      buf = alloc_owned (b, t->n_elements, name);
      if (buf == NULL)
        return NULL;
      memcpy (buf, x, t->n_elements * sizeof (float));
      x = buf;
    }
    g_debug ("%s: tensor '%s': %" G_GSIZE_FORMAT " subnormal values set to 0",
        b->filename, name, flush_subnormals (buf, t->n_elements));
  }
  g_hash_table_add (b->bound, t->name);
  if (b->n_params != NULL)
    *b->n_params += t->n_elements;
  return x;
}

static const float *
bind1 (Binder *b, const char *name, guint64 d0)
{
  guint64 dims[1] = { d0 };
  return bind_tensor (b, name, dims, 1);
}

static const float *
bind2 (Binder *b, const char *name, guint64 d0, guint64 d1)
{
  guint64 dims[2] = { d0, d1 };
  return bind_tensor (b, name, dims, 2);
}

static NaclipNorm
bind_norm (Binder *b, const char *prefix, guint width)
{
  NaclipNorm norm;
  g_autofree char *w = g_strconcat (prefix, ".weight", NULL);
  g_autofree char *bias = g_strconcat (prefix, ".bias", NULL);

  norm.weight = bind1 (b, w, width);
  norm.bias = bind1 (b, bias, width);
  return norm;
}

static NaclipLinear
bind_linear (Binder *b, const char *prefix, guint n_out, guint n_in)
{
  NaclipLinear lin;
  g_autofree char *w = g_strconcat (prefix, ".weight", NULL);
  g_autofree char *bias = g_strconcat (prefix, ".bias", NULL);

  lin.weight = bind2 (b, w, n_out, n_in);
  lin.bias = bind1 (b, bias, n_out);
  lin.n_out = n_out;
  lin.n_in = n_in;
  return lin;
}

/* Binds block @i of the tower whose layers start with @layers. */
static void
bind_block (Binder *b, const char *layers, guint i, const NaclipTowerInfo *info,
    NaclipBlock *block)
{
  const Layout *l = b->layout;
  guint d = info->width;
  g_autofree char *pre = g_strdup_printf ("%s%u.", layers, i);
  g_autofree char *ln_1 = g_strconcat (pre, l->ln_1, NULL);
  g_autofree char *ln_2 = g_strconcat (pre, l->ln_2, NULL);
  g_autofree char *fc1 = g_strconcat (pre, l->fc1, NULL);
  g_autofree char *fc2 = g_strconcat (pre, l->fc2, NULL);
  g_autofree char *out = g_strconcat (pre, l->attn_out, NULL);

  block->ln_1 = bind_norm (b, ln_1, d);
  if (l->in_proj_weight != NULL) {
    g_autofree char *w = g_strconcat (pre, l->in_proj_weight, NULL);
    g_autofree char *bias = g_strconcat (pre, l->in_proj_bias, NULL);
    const float *weight = bind2 (b, w, 3 * (guint64)d, d);
    const float *bias_v = bind1 (b, bias, 3 * (guint64)d);
    NaclipLinear *qkv[3] = { &block->q, &block->k, &block->v };
    if (weight != NULL && bias_v != NULL) {
      for (guint j = 0; j < 3; j++) {
        qkv[j]->weight = weight + (gsize)j * d * d;
        qkv[j]->bias = bias_v + (gsize)j * d;
        qkv[j]->n_out = d;
        qkv[j]->n_in = d;
      }
    }
  } else {
    g_autofree char *q = g_strconcat (pre, l->q, NULL);
    g_autofree char *k = g_strconcat (pre, l->k, NULL);
    g_autofree char *v = g_strconcat (pre, l->v, NULL);
    block->q = bind_linear (b, q, d, d);
    block->k = bind_linear (b, k, d, d);
    block->v = bind_linear (b, v, d, d);
  }
  block->out = bind_linear (b, out, d, d);
  block->ln_2 = bind_norm (b, ln_2, d);
  block->fc1 = bind_linear (b, fc1, info->mlp_width, d);
  block->fc2 = bind_linear (b, fc2, d, info->mlp_width);
}

/* Binds a projection as an [E, D] linear without bias. @name is stored
 * [E, D] (HF) or [D, E] (OpenAI, transposed here once). */
static NaclipLinear
bind_projection (Binder *b, const char *name, guint embed_dim, guint width)
{
  NaclipLinear lin = { NULL, NULL, embed_dim, width };

  if (!b->layout->proj_transposed) {
    lin.weight = bind2 (b, name, embed_dim, width);
  } else {
    const float *src = bind2 (b, name, width, embed_dim);
    float *dst;
    if (src == NULL)
      return lin;
    dst = alloc_owned (b, (guint64)embed_dim * width, name);
    if (dst == NULL)
      return lin;
    for (gsize e = 0; e < embed_dim; e++) {
      for (gsize i = 0; i < width; i++)
        dst[e * width + i] = src[i * embed_dim + e];
    }
    lin.weight = dst;
  }
  return lin;
}

/* Counts the layers "<prefix>N." of the file: indices must be canonical
 * decimal numbers forming 0..n-1 without gaps. */
static guint
count_layers (Binder *b, const char *prefix, const char *tower)
{
  g_autoptr (GHashTable) seen = g_hash_table_new (NULL, NULL);
  gsize prefix_len = strlen (prefix);
  guint64 max_index = 0;
  gboolean any = FALSE;

  for (guint i = 0; i < b->st->n_tensors; i++) {
    const char *name = b->st->tensors[i].name;
    const char *p;
    guint64 index = 0;
    gsize n_digits = 0;

    if (!g_str_has_prefix (name, prefix))
      continue;
    p = name + prefix_len;
    while (g_ascii_isdigit (p[n_digits]) && n_digits < 7) {
      index = index * 10 + (guint64)(p[n_digits] - '0');
      n_digits++;
    }
    if (n_digits == 0 || p[n_digits] != '.' || (p[0] == '0' && n_digits > 1)
        || index >= NACLIP_SAFETENSORS_MAX_TENSORS) {
      bind_fail (b, NACLIP_ERROR_MODEL,
          "tensor '%s' has no valid layer index after '%s'", name, prefix);
      return 0;
    }
    g_hash_table_add (seen, GUINT_TO_POINTER ((guint)index + 1));
    max_index = MAX (max_index, index);
    any = TRUE;
  }
  if (!any) {
    bind_fail (b, NACLIP_ERROR_MODEL,
        "the %s tower has no transformer layers (no tensor '%s0.*')", tower,
        prefix);
    return 0;
  }
  if (g_hash_table_size (seen) != max_index + 1) {
    guint missing = 0;
    while (g_hash_table_contains (seen, GUINT_TO_POINTER (missing + 1)))
      missing++;
    bind_fail (b, NACLIP_ERROR_MODEL,
        "layer indices of the %s tower have a gap: layer %u is missing but "
        "layer %" G_GUINT64_FORMAT " exists ('%s%u.*')",
        tower, missing, max_index, prefix, missing);
    return 0;
  }
  return (guint)max_index + 1;
}

/* ------------------------------------------------------------------ */
/* Towers                                                              */

/* Derives a tower's n_layers from its layers "<layers>N." and its
 * mlp_width from the rows of layer 0's fc1 ("<layers>0.<fc1>.weight").
 * Returns that tensor's name (g_free), or NULL with b->error set. */
static char *
bind_depth_and_mlp (Binder *b, const char *layers, const char *fc1_suffix,
    const char *tower, NaclipTowerInfo *info)
{
  g_autofree char *fc1 = NULL;
  const guint64 *s;

  info->n_layers = count_layers (b, layers, tower);
  if (b->error != NULL)
    return NULL;
  fc1 = g_strdup_printf ("%s0.%s.weight", layers, fc1_suffix);
  if ((s = shape_of (b, fc1, 2, "MLP fc1")) == NULL)
    return NULL;
  if (s[0] == 0 || s[0] > 16 * (guint64)NACLIP_MODEL_MAX_DIM) {
    bind_fail (b, NACLIP_ERROR_MODEL,
        "tensor '%s' has %" G_GUINT64_FORMAT " rows, an impossible MLP width",
        fc1, s[0]);
    return NULL;
  }
  info->mlp_width = (guint)s[0];
  return g_steal_pointer (&fc1);
}

static void
bind_vision (Binder *b, const NaclipModelConfig *cfg)
{
  const Layout *l = b->layout;
  NaclipVisionTower *vt = &b->model->vision;
  NaclipTowerInfo *info = &vt->info;
  const guint64 *s;
  guint64 n_pos, g;
  g_autofree char *fc1 = NULL;

  if ((s = shape_of (b, l->patch, 4, "patch embedding")) == NULL)
    return;
  if (s[0] == 0 || s[0] > NACLIP_MODEL_MAX_DIM || s[1] != 3 || s[2] != s[3]
      || s[2] == 0 || s[2] > 1024) {
    g_autofree char *str = naclip_safetensors_format_shape (s, 4);
    bind_fail (b, NACLIP_ERROR_MODEL,
        "tensor '%s' has shape %s; expected [width, 3, P, P] with a width "
        "of 1..%u and a patch size P of 1..1024",
        l->patch, str, NACLIP_MODEL_MAX_DIM);
    return;
  }
  info->width = (guint)s[0];
  vt->patch_size = (guint)s[2];
  if ((s = shape_of (b, l->position_embedding, 2, "position embedding"))
      == NULL)
    return;
  n_pos = s[0];
  g = 0;
  if (n_pos >= 2) {
    g = (guint64)sqrt ((double)(n_pos - 1));
    while (g * g > n_pos - 1)
      g--;
    while ((g + 1) * (g + 1) <= n_pos - 1)
      g++;
  }
  if (n_pos < 2 || g * g + 1 != n_pos || g > 4096) {
    bind_fail (b, NACLIP_ERROR_MODEL,
        "tensor '%s' has %" G_GUINT64_FORMAT " rows; expected g*g + 1 for a "
        "square pretrained grid of g x g patches plus the class token",
        l->position_embedding, n_pos);
    return;
  }
  vt->grid_size = (guint)g;
  vt->image_size = vt->grid_size * vt->patch_size;
  fc1 = bind_depth_and_mlp (b, l->vision_layers, l->fc1, "vision", info);
  if (fc1 == NULL)
    return;
  if ((s = shape_of (b, l->vision_proj, 2, "vision projection")) == NULL)
    return;
  if ((l->proj_transposed ? s[0] : s[1]) != info->width
      || (l->proj_transposed ? s[1] : s[0]) == 0
      || (l->proj_transposed ? s[1] : s[0]) > NACLIP_MODEL_MAX_DIM) {
    g_autofree char *str = naclip_safetensors_format_shape (s, 2);
    bind_fail (b, NACLIP_ERROR_MODEL,
        "tensor '%s' has shape %s; expected %s with width %u and an "
        "embedding size of 1..%u",
        l->vision_proj, str, l->proj_transposed ? "[width, E]" : "[E, width]",
        info->width, NACLIP_MODEL_MAX_DIM);
    return;
  }
  b->model->info.embed_dim = (guint)(l->proj_transposed ? s[1] : s[0]);

  const NaclipVisionShape shape = {
    .width = { info->width, l->patch },
    .patch_size = { vt->patch_size, l->patch },
    .image_size = { vt->image_size, l->position_embedding },
    .n_layers = { info->n_layers, l->vision_layers },
    .mlp_width = { info->mlp_width, fc1 },
    .embed_dim = { b->model->info.embed_dim, l->vision_proj },
  };
  if (!naclip_model_config_vision (
          cfg, b->st, b->filename, &shape, info, &b->error))
    return;
  vt->head_dim = info->width / info->n_heads;

  b->n_params = &info->n_params;
  {
    guint64 dims[4] = { info->width, 3, vt->patch_size, vt->patch_size };
    vt->patch_weight = bind_tensor (b, l->patch, dims, 4);
  }
  vt->class_embedding = bind1 (b, l->class_embedding, info->width);
  vt->position_embedding = bind2 (b, l->position_embedding, n_pos, info->width);
  vt->ln_pre = bind_norm (b, l->ln_pre, info->width);
  if (b->error != NULL)
    return;
  vt->blocks = g_new0 (NaclipBlock, info->n_layers);
  for (guint i = 0; i < info->n_layers && b->error == NULL; i++)
    bind_block (b, l->vision_layers, i, info, &vt->blocks[i]);
  vt->ln_post = bind_norm (b, l->ln_post, info->width);
  vt->proj = bind_projection (
      b, l->vision_proj, b->model->info.embed_dim, info->width);
  b->n_params = NULL;
}

static void
bind_text (Binder *b, const NaclipModelConfig *cfg)
{
  const Layout *l = b->layout;
  NaclipTextTower *tt = &b->model->text;
  NaclipTowerInfo *info = &tt->info;
  const guint64 *s;
  g_autofree char *fc1 = NULL;
  guint64 embed_dim;

  if ((s = shape_of (b, l->token_embedding, 2, "token embedding")) == NULL)
    return;
  if (s[1] == 0 || s[1] > NACLIP_MODEL_MAX_DIM) {
    bind_fail (b, NACLIP_ERROR_MODEL,
        "tensor '%s' has an impossible width %" G_GUINT64_FORMAT,
        l->token_embedding, s[1]);
    return;
  }
  info->width = (guint)s[1];
  if (s[0] < NACLIP_VOCAB_BASE || s[0] > NACLIP_MAX_VOCAB) {
    bind_fail (b, NACLIP_ERROR_MODEL,
        "tensor '%s' has %" G_GUINT64_FORMAT " rows; the tokenizer needs a "
        "vocabulary of %d to %d (the 512 byte symbols, the merges and 2 "
        "specials; CLIP's is 49408)",
        l->token_embedding, s[0], NACLIP_VOCAB_BASE, NACLIP_MAX_VOCAB);
    return;
  }
  tt->vocab_size = (guint)s[0];
  if ((s = shape_of (b, l->text_position, 2, "text position embedding"))
      == NULL)
    return;
  if (s[0] != NACLIP_CONTEXT_LENGTH) {
    bind_fail (b, NACLIP_ERROR_MODEL,
        "tensor '%s' has %" G_GUINT64_FORMAT " rows; CLIP's tokenizer uses a "
        "context of %d",
        l->text_position, s[0], NACLIP_CONTEXT_LENGTH);
    return;
  }
  tt->context_length = NACLIP_CONTEXT_LENGTH;
  fc1 = bind_depth_and_mlp (b, l->text_layers, l->fc1, "text", info);
  if (fc1 == NULL)
    return;
  if ((s = shape_of (b, l->text_proj, 2, "text projection")) == NULL)
    return;
  embed_dim = l->proj_transposed ? s[1] : s[0];
  if (embed_dim != b->model->info.embed_dim) {
    g_autofree char *str = naclip_safetensors_format_shape (s, 2);
    bind_fail (b, NACLIP_ERROR_MODEL,
        "tensor '%s' has shape %s: embedding size %" G_GUINT64_FORMAT
        " differs from the vision projection's %u",
        l->text_proj, str, embed_dim, b->model->info.embed_dim);
    return;
  }

  const NaclipTextShape shape = {
    .width = { info->width, l->token_embedding },
    .vocab_size = { tt->vocab_size, l->token_embedding },
    .context_length = { tt->context_length, l->text_position },
    .n_layers = { info->n_layers, l->text_layers },
    .mlp_width = { info->mlp_width, fc1 },
  };
  if (!naclip_model_config_text (
          cfg, b->st, b->filename, &shape, info, &b->error))
    return;
  tt->head_dim = info->width / info->n_heads;

  b->n_params = &info->n_params;
  tt->token_embedding
      = bind2 (b, l->token_embedding, tt->vocab_size, info->width);
  tt->position_embedding
      = bind2 (b, l->text_position, tt->context_length, info->width);
  if (b->error != NULL)
    return;
  tt->blocks = g_new0 (NaclipBlock, info->n_layers);
  for (guint i = 0; i < info->n_layers && b->error == NULL; i++)
    bind_block (b, l->text_layers, i, info, &tt->blocks[i]);
  tt->ln_final = bind_norm (b, l->ln_final, info->width);
  tt->proj = bind_projection (
      b, l->text_proj, b->model->info.embed_dim, info->width);
  b->n_params = NULL;
}

static void
bind_logit_scale (Binder *b)
{
  const NaclipTensor *t = naclip_safetensors_find (b->st, "logit_scale");
  const float *x;
  guint64 one = 1;
  gboolean check;
  float scale;

  if (t == NULL || b->error != NULL)
    return;
  /* A scalar, stored with shape [] or [1]; always checked for NaN/Inf,
   * below, with its own message. */
  check = b->check_weights;
  b->check_weights = FALSE;
  x = bind_tensor (b, "logit_scale", &one, t->n_dims == 0 ? 0 : 1);
  b->check_weights = check;
  if (x == NULL)
    return;
  scale = expf (x[0]);
  if (!isfinite (x[0]) || !isfinite (scale)) {
    bind_fail (b, NACLIP_ERROR_MODEL,
        "tensor 'logit_scale' is %g; exp() of it must be finite", (double)x[0]);
    return;
  }
  b->model->info.logit_scale = scale;
}

static gboolean
is_text_tensor (const Layout *l, const char *name)
{
  for (guint i = 0; i < G_N_ELEMENTS (l->text_markers); i++) {
    if (l->text_markers[i] != NULL
        && g_str_has_prefix (name, l->text_markers[i]))
      return TRUE;
  }
  return FALSE;
}

gboolean
naclip_model_bind (NaclipModel *model, const NaclipModelConfig *cfg,
    gboolean check_weights, GError **error)
{
  Binder b = { 0 };
  gboolean hf, openai, ok = FALSE;
  guint64 most = 0;

  b.model = model;
  b.st = model->st;
  b.filename = model->weights_path;
  b.check_weights = check_weights;
  b.bound = g_hash_table_new (g_str_hash, g_str_equal);

  hf = naclip_safetensors_find (b.st, layout_hf.patch) != NULL;
  openai = naclip_safetensors_find (b.st, layout_openai.patch) != NULL;
  if (hf == openai) {
    bind_fail (&b, NACLIP_ERROR_MODEL,
        hf ? "both '%s' and '%s' exist: mixed key layouts"
           : "not a CLIP ViT checkpoint: neither '%s' (Hugging Face layout) "
             "nor '%s' (OpenAI layout) exists",
        layout_hf.patch, layout_openai.patch);
    goto out;
  }
  b.layout = hf ? &layout_hf : &layout_openai;
  model->info.key_layout = hf ? NACLIP_KEY_LAYOUT_HF : NACLIP_KEY_LAYOUT_OPENAI;
  for (guint i = 0; i < b.st->n_tensors; i++) {
    model->info.n_params += b.st->tensors[i].n_elements;
    if (is_text_tensor (b.layout, b.st->tensors[i].name))
      model->info.has_text = TRUE;
  }

  bind_vision (&b, cfg);
  if (model->info.has_text)
    bind_text (&b, cfg);
  bind_logit_scale (&b);
  if (b.error != NULL)
    goto out;

  for (guint i = 0; i < b.st->n_tensors; i++) {
    const char *name = b.st->tensors[i].name;
    gboolean ignored = FALSE;
    if (g_hash_table_contains (b.bound, name))
      continue;
    for (guint j = 0; j < G_N_ELEMENTS (ignored_tensors); j++)
      ignored = ignored || strcmp (name, ignored_tensors[j]) == 0;
    if (!ignored) {
      bind_fail (&b, NACLIP_ERROR_MODEL,
          "unexpected tensor '%s': not part of a CLIP ViT in the %s key "
          "layout",
          name, b.layout->name);
      goto out;
    }
    g_debug ("%s: ignoring tensor '%s'", b.filename, name);
  }

  model->info.vision = model->vision.info;
  model->info.patch_size = model->vision.patch_size;
  model->info.image_size = model->vision.image_size;
  model->info.grid_size = model->vision.grid_size;
  if (model->info.has_text) {
    model->info.text = model->text.info;
    model->info.context_length = model->text.context_length;
    model->info.vocab_size = model->text.vocab_size;
  }
  model->info.dtype = NACLIP_DTYPE_F32;
  for (guint d = 0; d < G_N_ELEMENTS (b.dtype_elements); d++) {
    if (b.dtype_elements[d] > most) {
      most = b.dtype_elements[d];
      model->info.dtype = (NaclipDtype)d;
    }
  }
  ok = TRUE;

out:
  g_hash_table_unref (b.bound);
  g_free (b.half_table);
  if (!ok)
    g_propagate_error (error, b.error);
  return ok;
}
