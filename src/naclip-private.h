/* naclip-private.h: internal structures shared by the modules of src/.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Not installed. Each section belongs to one module (named in its heading);
 * non-static functions are naclip_<module>_*.
 */

#ifndef NACLIP_PRIVATE_H
#define NACLIP_PRIVATE_H

#include "naclip.h"

G_BEGIN_DECLS

/* Below this many arithmetic operations (about a millisecond of one core),
 * a per-frame loop (pre-processing, resizes, PAMR, labels) runs on the
 * calling thread: waking the other threads costs more than it saves (much
 * more on a loaded machine, where each wake-up waits for a time slice).
 * Callers compare their own estimate of a loop's operations with it. */
#define NACLIP_PARALLEL_MIN_OPS (1u << 22)
/* The same for a pass of a tower between two matrix products (ops.c's
 * kernels, the int8 quantisation and epilogue): the products keep every
 * thread busy, and OpenMP threads spin for a while after a region before
 * they sleep, so a region there costs a few microseconds (3.7 us for two
 * threads on the Zen 5), not a wake-up. 2^17 operations are about 30 us
 * of one core. */
#define NACLIP_PARALLEL_MIN_OPS_TOWER (1u << 17)

/* Size arithmetic for scratch sizing: saturates at G_MAXSIZE, so that a
 * huge request fails to allocate instead of wrapping to a small one. */
static inline gsize
naclip_size_mul_sat (gsize a, gsize b)
{
  gsize r;
  return g_size_checked_mul (&r, a, b) ? r : G_MAXSIZE;
}

static inline gsize
naclip_size_add_sat (gsize a, gsize b)
{
  gsize r;
  return g_size_checked_add (&r, a, b) ? r : G_MAXSIZE;
}

/* Makes *@buf hold at least @n elements of @elem_size bytes, for work
 * buffers that only grow: when *@capacity (elements) is smaller, frees
 * *@buf and allocates @n elements (the contents are not kept). FALSE when
 * n * elem_size overflows or the allocation fails; *@buf is then NULL and
 * *@capacity 0. *@buf is freed with g_free. */
static inline gboolean
naclip_buffer_grow (gpointer *buf, gsize *capacity, gsize n, gsize elem_size)
{
  if (n <= *capacity)
    return TRUE;
  g_clear_pointer (buf, g_free);
  *capacity = 0;
  *buf = g_try_malloc_n (n, elem_size);
  if (*buf == NULL)
    return FALSE;
  *capacity = n;
  return TRUE;
}

/* ------------------------------------------------------------------ */
/* safetensors.c: the container format                                 */

/* Caps that bound the work any file can cause. */
#define NACLIP_SAFETENSORS_MAX_HEADER (100u * 1000u * 1000u) /* bytes */
#define NACLIP_SAFETENSORS_MAX_TENSORS 65536
#define NACLIP_SAFETENSORS_MAX_RANK 8
#define NACLIP_JSON_MAX_DEPTH 64

typedef enum
{
  NACLIP_ST_F64,
  NACLIP_ST_F32,
  NACLIP_ST_F16,
  NACLIP_ST_BF16,
  NACLIP_ST_I64,
  NACLIP_ST_I32,
  NACLIP_ST_I16,
  NACLIP_ST_I8,
  NACLIP_ST_U64,
  NACLIP_ST_U32,
  NACLIP_ST_U16,
  NACLIP_ST_U8,
  NACLIP_ST_BOOL,
  NACLIP_ST_F8_E4M3,
  NACLIP_ST_F8_E5M2,
  NACLIP_ST_OTHER, /* a dtype safetensors knows that we never use */
} NaclipStDtype;

typedef struct
{
  char *name; /* tensor key, valid UTF-8 without NUL */
  NaclipStDtype dtype;
  const char *dtype_name; /* as written in the file (static string) */
  guint n_dims;
  guint64 shape[NACLIP_SAFETENSORS_MAX_RANK];
  guint64 n_elements; /* product of shape, overflow-checked */
  gsize begin, end;   /* byte offsets into the data area */
  const guint8 *data; /* begin of the bytes inside the buffer */
} NaclipTensor;

typedef struct
{
  NaclipTensor *tensors; /* sorted by begin offset */
  guint n_tensors;
  GHashTable *by_name;  /* name -> NaclipTensor * (borrowed) */
  GHashTable *metadata; /* __metadata__: string -> string, may be empty */
  const guint8 *data;   /* the data area (after the header) */
  gsize data_size;
} NaclipSafetensors;

/* Parses and validates a complete safetensors image held in @bytes
 * (@size bytes; usually a read-only mapping). @filename is used in error
 * messages only. Every rule of README.md "Model files" is checked: header
 * length, strict JSON (depth, duplicate keys, UTF-8), entry fields, dtypes,
 * shapes, offsets (no overlap, no hole, no trailing bytes). Tensors point
 * into @bytes, which must outlive the result.
 * Returns a new object (naclip_safetensors_free()) or NULL with
 * NACLIP_ERROR_FORMAT (or _UNSUPPORTED for an unusable dtype). */
NaclipSafetensors *naclip_safetensors_parse (
    const guint8 *bytes, gsize size, const char *filename, GError **error);
void naclip_safetensors_free (NaclipSafetensors *st);
const NaclipTensor *naclip_safetensors_find (
    const NaclipSafetensors *st, const char *name);
/* "[768, 3, 16, 16]", for messages. g_free. */
char *naclip_safetensors_format_shape (const guint64 *dims, guint n_dims);

/* Strict JSON checks that json-glib does not make: the RFC 8259 grammar
 * (no comments, hex, leading zeros, single quotes, trailing commas; only
 * space, tab, CR, LF as white space), nesting depth at most
 * NACLIP_JSON_MAX_DEPTH, no duplicate key within an object, valid UTF-8 and
 * escapes (no \u0000, no lone surrogate), integers within 64 signed bits,
 * and, if @max_members > 0, at most that many members in any object or
 * array. Iterative (no recursion), linear time. @what names the file in
 * messages. FALSE with NACLIP_ERROR_FORMAT naming the byte offset. */
gboolean naclip_json_check_strict (const char *text, gsize len,
    guint max_members, const char *what, GError **error);

/* ------------------------------------------------------------------ */
/* model.c: weights bound to the CLIP architecture                     */

/* Largest width, embedding size and config.json number a model may have
 * (MLP widths: 16 times it), a bound that keeps every size computation
 * exact. */
#define NACLIP_MODEL_MAX_DIM (1u << 20)

typedef struct
{
  const float *weight; /* (n_out, n_in) row-major, PyTorch [out, in] */
  const float *bias;   /* (n_out) or NULL */
  guint n_out, n_in;
} NaclipLinear;

typedef struct
{
  const float *weight; /* (width) */
  const float *bias;   /* (width) */
} NaclipNorm;

typedef struct
{
  NaclipNorm ln_1;  /* ln_1 / layer_norm1 */
  NaclipLinear q;   /* attn.in_proj rows [0, D) / self_attn.q_proj */
  NaclipLinear k;   /* attn.in_proj rows [D, 2D) / self_attn.k_proj */
  NaclipLinear v;   /* attn.in_proj rows [2D, 3D) / self_attn.v_proj */
  NaclipLinear out; /* attn.out_proj / self_attn.out_proj */
  NaclipNorm ln_2;  /* ln_2 / layer_norm2 */
  NaclipLinear fc1; /* mlp.c_fc / mlp.fc1, (mlp_width, D) */
  NaclipLinear fc2; /* mlp.c_proj / mlp.fc2, (D, mlp_width) */
} NaclipBlock;

typedef struct
{
  NaclipTowerInfo info;
  guint head_dim;
  guint patch_size, image_size, grid_size;
  const float *patch_weight;       /* conv1 / patch_embedding, (D, 3, P, P) */
  const float *class_embedding;    /* (D) */
  const float *position_embedding; /* (g*g + 1, D) */
  NaclipNorm ln_pre;               /* ln_pre / pre_layrnorm */
  NaclipBlock *blocks;             /* n_layers */
  NaclipNorm ln_post;              /* ln_post / post_layernorm */
  NaclipLinear proj; /* (E, D): visual_projection.weight, or visual.proj^T */
} NaclipVisionTower;

typedef struct
{
  NaclipTowerInfo info;
  guint head_dim;
  guint context_length, vocab_size;
  const float *token_embedding;    /* (vocab, D) */
  const float *position_embedding; /* (context, D) */
  NaclipBlock *blocks;
  NaclipNorm ln_final; /* ln_final / final_layer_norm */
  NaclipLinear proj;   /* (E, D): text_projection.weight, or its ^T */
} NaclipTextTower;

/* matmul.c (below) */
typedef struct _NaclipMatmulCache NaclipMatmulCache;
typedef struct _NaclipMatmul NaclipMatmul;

struct _NaclipModel
{
  gint ref_count;
  char *path;           /* as given to naclip_model_load */
  char *weights_path;   /* the .safetensors file */
  GMappedFile *mapping; /* read-only mapping of weights_path */
  NaclipSafetensors *st;
  NaclipModelInfo info;
  NaclipVisionTower vision;
  NaclipTextTower text;       /* valid when info.has_text */
  NaclipTokenizer *tokenizer; /* NULL when there is no merges file */
  GPtrArray *owned;           /* buffers converted or transposed at load */
  /* cache.c: hex SHA-256 fingerprint of the text tower, computed on first
   * use (g_once_init_enter); NULL until then; model.c frees it. */
  char *text_fingerprint;
  /* matmul.c: the weights packed for oneDNN, created on first use by
   * naclip_model_get_matmul_cache() (g_once_init_enter), freed with the
   * model through matmul_cache_free (a pointer, so that model.c does not
   * link matmul.c: the config fuzzer builds it alone). */
  NaclipMatmulCache *matmul_cache;
  GDestroyNotify matmul_cache_free;
};

/* ------------------------------------------------------------------ */
/* model-config.c: config.json, the Hugging Face CLIPConfig            */

typedef struct _NaclipModelConfig NaclipModelConfig;

/* A number the tensors imply, and where it comes from for the messages: a
 * tensor name, or the key prefix of a tower's layers ("...layers."). */
typedef struct
{
  guint value;
  const char *source;
} NaclipShapeFact;

/* What the tensors of the vision tower say. */
typedef struct
{
  NaclipShapeFact width;      /* the patch embedding's rows */
  NaclipShapeFact patch_size; /* its kernel size */
  NaclipShapeFact image_size; /* pretrained grid (position table) x patch */
  NaclipShapeFact n_layers;   /* the layer keys */
  NaclipShapeFact mlp_width;  /* layer 0's fc1 rows */
  NaclipShapeFact embed_dim;  /* the projection */
} NaclipVisionShape;

/* What the tensors of the text tower say. */
typedef struct
{
  NaclipShapeFact width;          /* the token embedding's columns */
  NaclipShapeFact vocab_size;     /* its rows */
  NaclipShapeFact context_length; /* the position table's rows */
  NaclipShapeFact n_layers;       /* the layer keys */
  NaclipShapeFact mlp_width;      /* layer 0's fc1 rows */
} NaclipTextShape;

/* Reads config.json at @path (which exists): a regular file of at most
 * 16 MiB, strict JSON (naclip_json_check_strict()), an object with a
 * "vision_config" object and optionally a "text_config" object. Returns it
 * (naclip_model_config_free()) or NULL with NACLIP_ERROR_IO or _FORMAT
 * naming the file. */
NaclipModelConfig *naclip_model_config_load (const char *path, GError **error);
void naclip_model_config_free (NaclipModelConfig *cfg);
/* Checks that vision_config and projection_dim of @cfg (NULL: no
 * config.json, nothing to check) agree with @shape, read from the tensors
 * of @st, and sets info->n_heads (num_attention_heads, else width / 64),
 * ->activation (hidden_act, else quick_gelu) and ->layer_norm_eps (else
 * 1e-5). FALSE with NACLIP_ERROR_MODEL naming config.json (or
 * @weights_path, when it is the tensors that cannot give a head count),
 * the key and the tensor. */
gboolean naclip_model_config_vision (const NaclipModelConfig *cfg,
    const NaclipSafetensors *st, const char *weights_path,
    const NaclipVisionShape *shape, NaclipTowerInfo *info, GError **error);
/* The same for text_config, which a config.json must have when the
 * checkpoint has a text tower. */
gboolean naclip_model_config_text (const NaclipModelConfig *cfg,
    const NaclipSafetensors *st, const char *weights_path,
    const NaclipTextShape *shape, NaclipTowerInfo *info, GError **error);

/* ------------------------------------------------------------------ */
/* model-bind.c: the tensors bound to the ViT                          */

/* Binds every tensor of model->st (parsed, the mapping of
 * model->weights_path) into @model: the key layout, both towers (their
 * hyper-parameters checked against @cfg, NULL without config.json), the
 * logit scale and model->info; F16/BF16 widened, weights scanned for
 * NaN/Inf and flushed of subnormals if @check_weights. FALSE with
 * NACLIP_ERROR_MODEL, _UNSUPPORTED or _NO_MEMORY naming the file and the
 * tensor. */
gboolean naclip_model_bind (NaclipModel *model, const NaclipModelConfig *cfg,
    gboolean check_weights, GError **error);

/* ------------------------------------------------------------------ */
/* tokenizer.c: CLIP's byte-level BPE                                  */

/* The public calls are in naclip.h. */

/* CLIP's start and end of text. */
#define NACLIP_TOKEN_SOT 49406
#define NACLIP_TOKEN_EOT 49407

/* Pieces held by the BPE cache (bounded; for tests). */
guint naclip_tokenizer_cache_size (NaclipTokenizer *tok);

/* ------------------------------------------------------------------ */
/* text-clean.c: the cleaning before CLIP's split                      */

/* Cleans @text (@len bytes of valid UTF-8, checked by the caller) as
 * clip/simple_tokenizer.py does before splitting: ftfy's deterministic
 * fixes, html.unescape twice, white space stripped and collapsed to single
 * spaces, Python's str.lower(). Returns the result as UCS-4 (g_free), its
 * length in *@n_chars. Linear in @len; never fails. */
gunichar *naclip_text_clean (const char *text, gsize len, gsize *n_chars);
/* Unicode White_Space, the \s of the split pattern (Python's regex). */
gboolean naclip_text_is_white_space (gunichar c);

/* ------------------------------------------------------------------ */
/* classes.c: class lists, template sets, built-in data                */

/* The built-in data file /org/naclipseg/@kind/@name.txt ("classes" or
 * "templates"), or NULL. */
GBytes *naclip_data_lookup (const char *kind, const char *name);
/* Names of the built-in @kind files (without ".txt"). g_strfreev. */
char **naclip_data_list (const char *kind);
/* A deep copy. */
NaclipClasses *naclip_classes_copy (const NaclipClasses *classes);
/* Template @i with "{}" replaced by @name. g_free. */
char *naclip_templates_fill (
    const NaclipTemplates *templates, guint i, const char *name);

/* ------------------------------------------------------------------ */
/* text.c: the text tower                                              */

/* Runs the text tower on @n_seq token sequences @ids (n_seq, context of
 * the model), whose end tokens are at @eot (n_seq), computing positions
 * 0..max(eot) only: out (n_seq, embed_dim) = ln_final(x[eot]) . proj^T,
 * not normalised, products through @mm (its precision and threads).
 * @cancellable (may be NULL) is checked between blocks. FALSE with
 * NACLIP_ERROR_CANCELLED, NACLIP_ERROR_MODEL (no text tower),
 * _INVALID_ARGUMENT (a token id out of range, eot beyond the context) or
 * _NO_MEMORY. */
gboolean naclip_text_encode (const NaclipModel *model, NaclipMatmul *mm,
    const gint32 *ids, const gint *eot, gsize n_seq, GCancellable *cancellable,
    float *out, GError **error);

/* ------------------------------------------------------------------ */
/* cache.c: the on-disk embedding cache                                */

/* Hex fingerprint of the model's text weights (computed once). Borrowed
 * until the model is freed. */
const char *naclip_cache_model_fingerprint (NaclipModel *model);
/* Hex key of one query embedding computed at @precision (resolved: FP32,
 * BF16 or INT8, whose embeddings differ). g_free. */
char *naclip_cache_key (const char *model_fingerprint,
    const NaclipTemplates *templates, const char *query, gboolean truncate,
    NaclipPrecision precision);
/* @cache_dir, or $XDG_CACHE_HOME/naclipseg when NULL. g_free. */
char *naclip_cache_dir (const char *cache_dir);
/* Reads the entry of @key into @out (dim floats); FALSE when missing,
 * truncated, foreign or corrupt. */
gboolean naclip_cache_read (
    const char *dir, const char *key, guint dim, float *out);
/* Writes the entry atomically; failures are only logged. */
void naclip_cache_write (
    const char *dir, const char *key, guint dim, const float *embedding);

/* ------------------------------------------------------------------ */
/* matmul.c: the backend seam for matrix products (OpenBLAS and oneDNN */
/* are called only there, in matmul-dnnl.c and in cpu.c)               */

/* The handle API. Precision and threads travel in a NaclipMatmul that a
 * context owns (one per thread, not thread-safe: it holds the primitives
 * cached per shape, the bf16 staging buffers, the int8 activations and
 * the oneDNN scratchpad). Weights packed for oneDNN (bf16, s8, or f32 in
 * its blocked layout) and the int8 weight scales live in a
 * NaclipMatmulCache that the model owns: thread-safe, each weight packed
 * once, on first use, and shared by every handle of the model. An INT8
 * handle quantises the linear layers (naclip_matmul_linear_post,
 * naclip_matmul_linear_typed) and computes the products of activations
 * (naclip_matmul_gemm) and the layers it is told to keep
 * (naclip_matmul_linear_float) at the precision AUTO resolves to, its
 * float precision. */

/* What is applied to the product before it is stored. */
typedef enum
{
  NACLIP_MATMUL_POST_NONE,       /* out = product (+ bias) */
  NACLIP_MATMUL_POST_QUICK_GELU, /* out = act(product + bias) */
  NACLIP_MATMUL_POST_GELU,       /* out = act(product + bias), erf GELU */
  NACLIP_MATMUL_POST_ACCUMULATE, /* out += product + bias (a residual) */
} NaclipMatmulPost;

typedef struct
{
  guint n_packed;       /* weights packed so far */
  guint64 n_hits;       /* lookups that found a packed weight */
  gsize packed_bytes;   /* bytes held by packed weights */
  gsize released_bytes; /* bytes of the mapping given back (madvise) */
} NaclipMatmulCacheStats;

/* A cache for the weights of one model. Packed weights that come from the
 * read-only file mapping [@mapped, @mapped + @mapped_size) get their F32
 * pages released with madvise(MADV_DONTNEED) once packed to bf16 (they
 * fault back in from the file if an fp32 path reads them again); pass
 * NULL, 0 to never release anything. Never fails. */
NaclipMatmulCache *naclip_matmul_cache_new (
    const void *mapped, gsize mapped_size);
void naclip_matmul_cache_free (NaclipMatmulCache *cache);
/* The cache of @model (its weight mapping released as described above),
 * created on the first call. Thread-safe; owned by the model. */
NaclipMatmulCache *naclip_model_get_matmul_cache (const NaclipModel *model);
void naclip_matmul_cache_get_stats (
    NaclipMatmulCache *cache, NaclipMatmulCacheStats *stats);

/* A handle computing at @precision (AUTO resolved with
 * naclip_precision_resolve()) on @threads OpenMP threads (0: the calling
 * thread's default) through @backend, packing weights into @cache (not
 * NULL; must outlive the handle). NULL with NACLIP_ERROR_UNSUPPORTED when
 * the precision or backend is not available in this build or on this CPU. */
NaclipMatmul *naclip_matmul_new (NaclipMatmulCache *cache,
    NaclipPrecision precision, NaclipMatmulBackend backend, guint threads,
    GError **error);
void naclip_matmul_free (NaclipMatmul *mm);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NaclipMatmul, naclip_matmul_free)
/* The resolved precision (FP32, BF16 or INT8) and backend (OPENBLAS or
 * DNNL). */
NaclipPrecision naclip_matmul_get_precision (const NaclipMatmul *mm);
NaclipMatmulBackend naclip_matmul_get_backend (const NaclipMatmul *mm);
guint naclip_matmul_get_threads (const NaclipMatmul *mm);
void naclip_matmul_set_threads (NaclipMatmul *mm, guint threads);

/* Activation operands are typed (NaclipDtype of naclip.h; an F32 element
 * is a float, a BF16 one a guint16, the high half of a float rounded to
 * nearest even), F32 or BF16 for every handle. A handle whose float
 * precision is bf16 (BF16, or INT8 where bf16 runs) gives BF16 inputs to
 * oneDNN as they are and rounds F32 ones in a staging pass first; one of
 * float precision fp32 widens BF16 inputs (exactly) and computes with
 * OpenBLAS; the int8 quantisation reads either; a BF16 result is the f32
 * one rounded. Producers that feed a product write the handle's
 * naclip_matmul_get_act_type(), which costs no pass. */

/* Bytes of one element of @type. */
static inline gsize
naclip_dtype_size (NaclipDtype type)
{
  return type == NACLIP_DTYPE_F32 ? 4 : 2;
}

/* Element @index of an array of @type at @base. */
static inline void *
naclip_dtype_at (const void *base, gsize index, NaclipDtype type)
{
  return (guint8 *)base + index * naclip_dtype_size (type);
}

/* BF16 when the handle's float precision is bf16, F32 otherwise. */
NaclipDtype naclip_matmul_get_act_type (const NaclipMatmul *mm);

/* out (m, lin->n_out) = post(x (m, lin->n_in) . lin->weight^T + lin->bias),
 * row strides @ldo, @ldx in floats. In bf16, x and the weight are rounded
 * to bf16 (nearest even) and the products accumulate in f32; in int8, x
 * and the weight are quantised (matmul-int8.c). The first call for a
 * weight packs it (cost of one pass over it); the first call for a shape
 * creates a primitive (about a millisecond). */
void naclip_matmul_linear_post (NaclipMatmul *mm, float *out, gsize ldo,
    const float *x, gsize ldx, const NaclipLinear *lin, gsize m,
    NaclipMatmulPost post);
/* The same with typed activations: @x of @x_type, @out of @out_type (see
 * NaclipDtype for what a handle takes), row strides @ldx, @ldo in
 * elements. A BF16 @out is rounded from the f32 result after the post-op;
 * NACLIP_MATMUL_POST_ACCUMULATE needs an F32 @out. */
void naclip_matmul_linear_typed (NaclipMatmul *mm, void *out, gsize ldo,
    NaclipDtype out_type, const void *x, gsize ldx, NaclipDtype x_type,
    const NaclipLinear *lin, gsize m, NaclipMatmulPost post);
/* Most linear layers naclip_matmul_linears_typed() takes at once. */
#define NACLIP_MATMUL_MAX_LINS 3
/* naclip_matmul_linear_typed() of @n_lins (1..NACLIP_MATMUL_MAX_LINS)
 * layers of the same input (same n_in), lins[j] into outs[j], all with
 * row stride @ldo, @out_type and @post: a block's q, k and v projections.
 * An INT8 handle quantises x once for all of them and dequantises them in
 * one pass. */
void naclip_matmul_linears_typed (NaclipMatmul *mm, guint n_lins,
    const NaclipLinear *const *lins, void *const *outs, gsize ldo,
    NaclipDtype out_type, const void *x, gsize ldx, NaclipDtype x_type, gsize m,
    NaclipMatmulPost post);
/* The same, never quantised: an INT8 handle computes it at its float
 * precision (bf16 or fp32). For the layers at either end of a tower (the
 * patch embedding, the projections), whose int8 error would reach every
 * later layer or the features directly, for about 1% of the products. */
void naclip_matmul_linear_float (NaclipMatmul *mm, void *out, gsize ldo,
    NaclipDtype out_type, const void *x, gsize ldx, NaclipDtype x_type,
    const NaclipLinear *lin, gsize m, NaclipMatmulPost post);

/* Strided batched product of activations (e.g. all heads of an attention
 * at once): for each (i, j) of batch (n_outer, n_inner)
 *   C_ij (m, n) = alpha * A_ij (m, k) . op(B_ij) + beta * C_ij
 * where X_ij starts at x + i * outer_x + j * inner_x, rows are @ld_x
 * elements of type_x apart, and op(B) = B^T for B stored (n, k) when
 * @trans_b, else B stored (k, n). @beta is 0 or 1, and 1 needs an F32 C.
 * The types are those a handle takes (NaclipDtype); a zeroed layout's are
 * F32. In bf16, BF16 operands are read in place, strided, and F32 ones
 * are rounded into a contiguous staging copy first; alpha scales the f32
 * product. */
typedef struct
{
  gsize n_outer, n_inner;             /* batch counts (1, 1 for one) */
  gsize outer_a, inner_a, lda;        /* strides of A, elements */
  gsize outer_b, inner_b, ldb;        /* strides of B, elements */
  gsize outer_c, inner_c, ldc;        /* strides of C, elements */
  NaclipDtype type_a, type_b, type_c; /* element types */
} NaclipGemmLayout;

void naclip_matmul_gemm (NaclipMatmul *mm, const NaclipGemmLayout *layout,
    gboolean trans_b, gsize m, gsize n, gsize k, float alpha, const void *a,
    const void *b, float beta, void *c);

/* One call of the seam, as naclip_matmul_set_trace() records it. */
typedef struct
{
  gboolean is_gemm;
  guint n_lins;                              /* linear: 1, or layers of one
                                               * input (linears_typed) */
  NaclipLinear lins[NACLIP_MATMUL_MAX_LINS]; /* linear: weights (borrowed) */
  NaclipMatmulPost post;                     /* linear */
  gboolean quantize;       /* linear: FALSE for naclip_matmul_linear_float */
  NaclipGemmLayout layout; /* gemm; linear: lda, type_a of x, ldc, type_c of
                            * out, batch 1 x 1 */
  gboolean trans_b;        /* gemm */
  gsize m, n, k;
  float alpha, beta; /* gemm */
} NaclipMatmulCall;

/* From now on, appends each call of @mm to @calls (a GArray of
 * NaclipMatmulCall, borrowed until the next call), or stops when @calls
 * is NULL. For naclip_encoder_benchmark(), which replays the products of
 * a pass to time them alone. */
void naclip_matmul_set_trace (NaclipMatmul *mm, GArray *calls);

/* Plain-C twins (double accumulation, serial) for the tests. */
void naclip_matmul_linear_ref (float *out, gsize ldo, const float *x, gsize ldx,
    const NaclipLinear *lin, gsize m, NaclipMatmulPost post);
void naclip_matmul_gemm_ref (const NaclipGemmLayout *layout, gboolean trans_b,
    gsize m, gsize n, gsize k, float alpha, const float *a, const float *b,
    float beta, float *c);

/* ------------------------------------------------------------------ */
/* matmul-dnnl.c: the oneDNN backend of matmul.c (built with oneDNN;   */
/* matmul-nodnnl.c stands in for it otherwise)                         */

/* The backend's share of a NaclipMatmulCache: the engine and the packed
 * weights (thread-safe); and of a NaclipMatmul: the stream, the primitives
 * cached per shape, the bf16 staging buffers and the scratchpad (one
 * thread). */
typedef struct _NaclipMatmulDnnlCache NaclipMatmulDnnlCache;
typedef struct _NaclipMatmulDnnl NaclipMatmulDnnl;

/* TRUE if oneDNN creates a small bf16 (bf16 x bf16 -> f32), resp. int8
 * (u8 x s8 -> s32), matmul with a real (not reference) kernel at its
 * current ISA cap. Only in builds with oneDNN; for cpu.c, once. */
gboolean naclip_matmul_probe_dnnl_bf16 (void);
gboolean naclip_matmul_probe_dnnl_int8 (void);

/* The share of naclip_matmul_cache_new() (same arguments); the engine is
 * created by the first handle. NULL without oneDNN; _free accepts NULL. */
NaclipMatmulDnnlCache *naclip_matmul_dnnl_cache_new (
    const void *mapped, gsize mapped_size);
void naclip_matmul_dnnl_cache_free (NaclipMatmulDnnlCache *cache);
/* The packing statistics (all zero without oneDNN). Thread-safe. */
void naclip_matmul_dnnl_cache_get_stats (
    NaclipMatmulDnnlCache *cache, NaclipMatmulCacheStats *stats);

/* The share of a handle computing at @precision (FP32 or BF16) with the
 * weights of @cache (which must outlive it). NULL with
 * NACLIP_ERROR_UNSUPPORTED when oneDNN has no CPU engine or stream, or the
 * build has no oneDNN. _free accepts NULL. */
NaclipMatmulDnnl *naclip_matmul_dnnl_new (
    NaclipMatmulDnnlCache *cache, NaclipPrecision precision, GError **error);
void naclip_matmul_dnnl_free (NaclipMatmulDnnl *dnnl);

/* naclip_matmul_linear_typed() and, in bf16 only and with k > 0,
 * naclip_matmul_gemm(), with the same arguments (types already checked by
 * matmul.c); @threads is the handle's count (0: the calling thread's),
 * already set as the calling thread's OpenMP count. FALSE when no
 * primitive can be made for the shape or an allocation fails: the caller
 * then computes the product with OpenBLAS. */
gboolean naclip_matmul_dnnl_linear (NaclipMatmulDnnl *dnnl, guint threads,
    void *out, gsize ldo, NaclipDtype out_type, const void *x, gsize ldx,
    NaclipDtype x_type, const NaclipLinear *lin, gsize m,
    NaclipMatmulPost post);
gboolean naclip_matmul_dnnl_gemm (NaclipMatmulDnnl *dnnl, guint threads,
    const NaclipGemmLayout *layout, gboolean trans_b, gsize m, gsize n, gsize k,
    float alpha, const void *a, const void *b, float beta, void *c);
/* The integer product of an int8 linear layer (matmul-int8.c):
 * acc (m, n_out) s32, row stride @ld_acc, = xq (m, n_in) u8 (contiguous)
 * . wq^T, where wq is lin->weight quantised with
 * naclip_matmul_int8_quantize_weight() (bound @q_max) and packed on first
 * use into the model's cache, whose mapping pages are then given back.
 * FALSE as naclip_matmul_dnnl_linear(). */
gboolean naclip_matmul_dnnl_int8 (NaclipMatmulDnnl *dnnl, gint32 *acc,
    gsize ld_acc, const guint8 *xq, const NaclipLinear *lin, gsize m,
    int q_max);

/* ------------------------------------------------------------------ */
/* matmul-int8.c: the int8 linear layers of matmul.c (quantisation,   */
/* epilogue, reference; the product is naclip_matmul_dnnl_int8)        */

/* Like matmul-dnnl.c's, a share of the model's NaclipMatmulCache (the
 * weights' scales and column sums; thread-safe) and of an INT8
 * NaclipMatmul (the quantised activations and accumulators; one thread). */
typedef struct _NaclipMatmulInt8Cache NaclipMatmulInt8Cache;
typedef struct _NaclipMatmulInt8 NaclipMatmulInt8;

/* The weight bound at the level of naclip_cpu_get_isa(): 127, or 63 below
 * avx512_core_vnni, whose kernels saturate 16-bit pair sums. */
int naclip_matmul_int8_weight_max (void);
/* Quantises lin->weight symmetrically per output channel to
 * [-q_max, q_max]: wq (n_out, n_in) = round (weight / scale) (half away
 * from zero), scale (n_out) = max |row| / q_max, colsum (n_out) = the sum
 * of each row of wq. Any output may be NULL. One pass over the weight. */
void naclip_matmul_int8_quantize_weight (
    const NaclipLinear *lin, int q_max, gint8 *wq, float *scale, float *colsum);

/* Never fails; _free accepts NULL. */
NaclipMatmulInt8Cache *naclip_matmul_int8_cache_new (void);
void naclip_matmul_int8_cache_free (NaclipMatmulInt8Cache *cache);
/* A handle's share, using @cache (which must outlive it). _free accepts
 * NULL. */
NaclipMatmulInt8 *naclip_matmul_int8_new (NaclipMatmulInt8Cache *cache);
void naclip_matmul_int8_free (NaclipMatmulInt8 *h);

/* naclip_matmul_linears_typed() in int8: the rows of x (F32 or BF16)
 * quantised to u8 once (per row: minimum and scale), each layer's product
 * by naclip_matmul_dnnl_int8() on @dnnl, all dequantised with their bias
 * and the post-op in one pass over the rows (see the file's comment for
 * the arithmetic and its error bound), a BF16 output rounded from it, on
 * @threads OpenMP threads. The first call for a weight computes its
 * scales (one pass over it). FALSE when a buffer cannot be allocated or
 * oneDNN fails: an output holding a residual (ACCUMULATE) is then
 * untouched, others may hold partial results. */
gboolean naclip_matmul_int8_linears (NaclipMatmulInt8 *h,
    NaclipMatmulDnnl *dnnl, guint threads, guint n_lins,
    const NaclipLinear *const *lins, void *const *outs, gsize ldo,
    NaclipDtype out_type, const void *x, gsize ldx, NaclipDtype x_type, gsize m,
    NaclipMatmulPost post);
/* The plain-C twin: naclip_matmul_linear_ref() of the operands as
 * quantised with bound @q_max (serial, double accumulation). */
void naclip_matmul_int8_linear_ref (float *out, gsize ldo, const float *x,
    gsize ldx, const NaclipLinear *lin, gsize m, NaclipMatmulPost post,
    int q_max);

/* ------------------------------------------------------------------ */
/* ops.c: kernels shared by both towers (each with a plain-C *_ref twin */
/* in ops.c, compared by tests/test-ops.c)                             */

/* The kernels are row-parallel with OpenMP on @n_threads threads (small
 * inputs run on the calling thread) and vectorised for the CPU level
 * naclip_cpu_get_isa() gives; the *_ref twins are serial plain C with
 * libm (expf, erff) and double accumulation. Each may run in place
 * (out == x). A BF16 result (NaclipDtype) is the f32 one rounded as
 * naclip_ops_to_bf16() does. */

/* out (n_rows, width) = (x - mean) / sqrt(var + eps) * norm->weight
 * + norm->bias per row (biased variance, like torch.nn.LayerNorm). */
void naclip_ops_layer_norm (float *out, const float *x, const NaclipNorm *norm,
    gsize n_rows, guint width, float eps, guint n_threads);
void naclip_ops_layer_norm_ref (float *out, const float *x,
    const NaclipNorm *norm, gsize n_rows, guint width, float eps);
/* The same into @out of @out_type (F32 or BF16), rows of width elements.
 * In place only for F32. */
void naclip_ops_layer_norm_typed (void *out, NaclipDtype out_type,
    const float *x, const NaclipNorm *norm, gsize n_rows, guint width,
    float eps, guint n_threads);
/* In place, max-subtracted softmax of each row of x (n_rows, n_cols), row
 * stride @ld floats. exp() is a polynomial within 2 ulp of expf. Rows with
 * +Inf share the mass equally among their +Inf entries; rows that are all
 * -Inf become uniform (no NaN unless the row holds a NaN). */
void naclip_ops_softmax_rows (
    float *x, gsize n_rows, gsize n_cols, gsize ld, guint n_threads);
void naclip_ops_softmax_rows_ref (
    float *x, gsize n_rows, gsize n_cols, gsize ld);
/* The same with the result as @out_type: F32 in place (@out = @x, @ldo =
 * @ld); BF16 into @out, row stride @ldo elements, which may be @x itself
 * with @ldo = 2 @ld (each bf16 row over the first half of its own f32
 * row). A bf16 product reads dense rows (@ldo = @n_cols) through oneDNN's
 * brgemm, strided ones through its slower gemm:jit. With @causal, the
 * rows form blocks of n_cols (one square matrix each) and row i of a
 * block is the softmax of its first i + 1 entries, the others 0 (a causal
 * attention mask). */
void naclip_ops_softmax_rows_typed (float *x, gsize ld, NaclipDtype out_type,
    void *out, gsize ldo, gsize n_rows, gsize n_cols, gboolean causal,
    guint n_threads);
/* In place activation of n values: QuickGELU x * sigmoid(1.702 x), or the
 * exact erf GELU. */
void naclip_ops_activation (
    float *x, gsize n, NaclipActivation act, guint n_threads);
void naclip_ops_activation_ref (float *x, gsize n, NaclipActivation act);
/* The serial kernel naclip_ops_activation() runs on each share of its
 * values, for a caller that splits its rows over threads itself (an
 * OpenMP region per row costs microseconds, more than a row's work). */
typedef void (*NaclipActivationRowFunc) (float *x, gsize n);
NaclipActivationRowFunc naclip_ops_activation_row_func (NaclipActivation act);
/* In place x_i /= max(||x_i||, eps) for each row of x (n_rows, dim). */
void naclip_ops_l2_normalize_rows (
    float *x, gsize n_rows, guint dim, float eps, guint n_threads);
void naclip_ops_l2_normalize_rows_ref (
    float *x, gsize n_rows, guint dim, float eps);
/* x (n) += y (n). */
void naclip_ops_add (float *x, const float *y, gsize n, guint n_threads);
void naclip_ops_add_ref (float *x, const float *y, gsize n);
/* out (n_rows, n_cols) <- x (n_rows, n_cols) rounded to bf16 (nearest
 * even; NaN stays NaN, made quiet), row strides @ldo, @ldx in elements.
 * Where the CPU level has AVX512-BF16 (vcvtneps2bf16), a denormal float
 * (magnitude below 2^-126) becomes a signed 0 instead of the nearest bf16
 * denormal that _ref gives; every other value is rounded identically.
 * @out may be @x's own memory with @ldo = 2 @ldx: each bf16 row is then
 * written over the first half of its f32 row. */
void naclip_ops_to_bf16 (guint16 *out, gsize ldo, const float *x, gsize ldx,
    gsize n_rows, gsize n_cols, guint n_threads);
void naclip_ops_to_bf16_ref (guint16 *out, gsize ldo, const float *x, gsize ldx,
    gsize n_rows, gsize n_cols);
/* The serial kernel of naclip_ops_to_bf16() for one row: out (n) <- x (n)
 * * @scale rounded, for callers that split rows over threads themselves. */
typedef void (*NaclipBf16RowFunc) (
    guint16 *out, const float *x, gsize n, float scale);
NaclipBf16RowFunc naclip_ops_bf16_row_func (void);
/* out (n) <- x (n) widened to f32 (exact). Serial. */
void naclip_ops_from_bf16 (float *out, const guint16 *x, gsize n);

/* ------------------------------------------------------------------ */
/* transformer.c: the standard pre-LN residual block of both towers    */

/* Floats of scratch naclip_transformer_block() needs (saturates at
 * G_MAXSIZE / sizeof (float) instead of overflowing). */
gsize naclip_transformer_scratch_size (
    const NaclipTowerInfo *info, gsize n_seq, gsize n_tokens);
/* x (n_seq, n_tokens, width) <- x + Attn(LN1(x)); x <- x + MLP(LN2(x)),
 * with a causal mask (token i sees 0..i) when @causal; products through
 * @mm (its precision and threads). @scratch holds
 * naclip_transformer_scratch_size() floats. Cost: about
 * 2 * n_seq * n_tokens * (4 D^2 + 2 D mlp_width + 2 n_tokens D) flops. */
void naclip_transformer_block (NaclipMatmul *mm, const NaclipBlock *block,
    const NaclipTowerInfo *info, float *x, gsize n_seq, gsize n_tokens,
    gboolean causal, float *scratch);
/* How the attention of @n_seq sequences of @n_tokens and @n_heads heads is
 * batched: *@seqs sequences and *@heads of their heads at once (all heads
 * of as many sequences as fit in 4 MiB of scores, else some heads of one
 * sequence, at least one). Their scores take seqs * heads * n_tokens^2
 * floats, their attention weights in bf16 half as many after them. */
void naclip_transformer_attention_groups (
    gsize n_seq, gsize n_tokens, guint n_heads, gsize *seqs, guint *heads);
/* The attention core shared with vision.c's last block: for each sequence
 * and head, ctx_h = softmax(q_h k_h^T / sqrt(head_dim)) v_h (causal: token
 * i sees 0..i), the heads of the groups of
 * naclip_transformer_attention_groups() in one batched product each.
 * q, k, v, ctx: (n_seq, n_tokens, n_heads * head_dim) of the handle's
 * activation type (naclip_matmul_get_act_type()); @scores holds the
 * scores and the weights of one group (the part of
 * naclip_transformer_scratch_size() after 5 (n_seq * n_tokens * width)
 * floats). */
void naclip_transformer_attention (NaclipMatmul *mm, void *ctx, const void *q,
    const void *k, const void *v, gsize n_seq, gsize n_tokens, guint n_heads,
    guint head_dim, gboolean causal, float *scores);
/* Its steps, for vision.c's last block. scores (n_seq, n_heads, n_tokens,
 * n_tokens) f32 = q_h k_h^T / sqrt(head_dim) for each sequence and head
 * (q and k of the activation type, rows of @width elements whose first
 * n_heads * head_dim columns are the heads: pass q + h0 * head_dim for
 * heads h0...; q == k is fine). */
void naclip_transformer_scores (NaclipMatmul *mm, float *scores, const void *q,
    const void *k, gsize n_seq, gsize n_tokens, guint n_heads, guint head_dim,
    guint width);
/* ctx_h = weights_h v_h for each sequence and head, the weights (n_seq,
 * n_heads, n_tokens, n_tokens) of the activation type, dense (the f32
 * scores softmaxed in place, or bf16 rows of n_tokens); v and ctx as q in
 * naclip_transformer_scores(). */
void naclip_transformer_attend (NaclipMatmul *mm, void *ctx,
    const void *weights, const void *v, gsize n_seq, gsize n_tokens,
    guint n_heads, guint head_dim, guint width);
/* q, k, v (n_rows, width) = the block's projections of ln (n_rows, width),
 * all of the activation type; a NULL output is not computed. */
void naclip_transformer_qkv (NaclipMatmul *mm, const NaclipBlock *block,
    guint width, const void *ln, gsize n_rows, void *q, void *k, void *v);
/* x (n_rows, width) <- x + fc2(act(fc1(LN2(x)))), the activation fused
 * into fc1 and the residual into fc2; LN2's output and the hidden layer
 * are of the handle's activation type. @scratch holds
 * n_rows * (width + mlp_width) floats. */
void naclip_transformer_mlp (NaclipMatmul *mm, const NaclipBlock *block,
    const NaclipTowerInfo *info, float *x, gsize n_rows, float *scratch);

/* ------------------------------------------------------------------ */
/* reuse.c: token reuse between the frames of a video                  */

/* What the frames before computed, block by block and token by token,
 * and the gate that decides which tokens to compute again (see reuse.c).
 * One per stream; NOT thread-safe. */
typedef struct _NaclipReuse NaclipReuse;

/* A reuse state with threshold 0 (every token computed), no periodic
 * refresh, no fallback and nothing cached. Never fails; _free accepts
 * NULL. */
NaclipReuse *naclip_reuse_new (void);
void naclip_reuse_free (NaclipReuse *r);
/* The gates: a token is computed again when the relative L2 change of its
 * block input or of its attention output is at least @threshold (>= 0; 0
 * computes all), and every token every @refresh frames (0: only on a new
 * geometry or a reset). With @fallback, a frame in which the first block
 * would compute more than half of the tokens runs the normal path. */
void naclip_reuse_set (
    NaclipReuse *r, float threshold, guint refresh, gboolean fallback);
/* Forgets the caches: the next frame computes every token. Allocates and
 * frees nothing. */
void naclip_reuse_reset (NaclipReuse *r);
/* Starts a frame of @n_images images of @n_tokens tokens of the tower
 * @owner (@info, unfolded patches of @patch_len floats) computed at
 * @precision: decides whether it is a refresh and grows the caches
 * ((6 (n_layers - 1) + 5) n_images n_tokens width + n_images n_tokens
 * patch_len floats) and work (2 n_images n_tokens width + n_images
 * n_tokens patch_len). FALSE with
 * NACLIP_ERROR_NO_MEMORY. */
gboolean naclip_reuse_begin (NaclipReuse *r, gconstpointer owner,
    const NaclipTowerInfo *info, gsize patch_len, NaclipPrecision precision,
    gsize n_images, gsize n_tokens, GError **error);
/* The patch embedding (@conv1, at the float precision) of image @image of
 * the frame begun into @out ((n_tokens - 1, width) f32), from its unfolded
 * @patches ((n_tokens - 1, patch_len) f32): computed for the patches that
 * differ to the bit from those of the cache (every one when refreshing),
 * the cached embedding for the others. */
void naclip_reuse_patches (NaclipReuse *r, NaclipMatmul *mm,
    const NaclipLinear *conv1, gsize image, const float *patches, float *out);
/* Block @layer (< n_layers - 1) of the frame begun, with reuse, of x
 * (n_images * n_tokens, width) f32: returns the block's output, the
 * block of x for the rows the gates select and the cached output for the
 * others, which is either x itself (a frame that runs the normal blocks)
 * or the block's output cache, valid until the next call (pass it as the
 * next block's x); products through @mm. @work holds
 * naclip_transformer_scratch_size (info, n_images, n_tokens) floats. */
float *naclip_reuse_block (NaclipReuse *r, NaclipMatmul *mm,
    const NaclipBlock *block, const NaclipTowerInfo *info, guint layer,
    float *x, float *work);
/* Ends the frame begun: its caches become the reference of the next. A
 * frame begun and not ended (an error, a cancel) leaves no cache. */
void naclip_reuse_end (NaclipReuse *r);
/* The last block's layer norm and q (when @uses_q), k, v of x
 * (n_images * n_tokens, width) f32, the input of the last block of the
 * frame begun: computed for the rows that differ to the bit from those
 * its caches were computed from (every row when refreshing), kept for the
 * others. *q, *k, *v <- the caches (n_images * n_tokens, width) of the
 * activation type (*q NULL unless @uses_q), valid until the next call.
 * @work as for naclip_reuse_block(). */
void naclip_reuse_final_qkv (NaclipReuse *r, NaclipMatmul *mm,
    const NaclipBlock *block, const NaclipTowerInfo *info, const float *x,
    gboolean uses_q, float *work, const void **q, const void **k,
    const void **v);
/* The frame begun last: whether it was a refresh, and the token rows its
 * blocks 0 .. L-2 would compute without reuse and those that got the
 * output projection and MLP (a superset of those that got q, k, v). */
void naclip_reuse_get_stats (const NaclipReuse *r, gboolean *refreshed,
    guint64 *n_rows, guint64 *n_computed);
/* The frame begun last: the patches whose embedding was computed, and the
 * rows of the last block that got q, k, v (the others were the same to
 * the bit as before). */
void naclip_reuse_get_exact_stats (const NaclipReuse *r,
    guint64 *n_patches_computed, guint64 *n_final_computed);

/* ------------------------------------------------------------------ */
/* vision.c: the ViT with the NACLIP last block                        */

typedef struct _NaclipVisionScratch NaclipVisionScratch;

NaclipVisionScratch *naclip_vision_scratch_new (void);
void naclip_vision_scratch_free (NaclipVisionScratch *s);

/* Encodes @n_images normalised planar images (n_images, 3, height, width)
 * (pixels beyond grid * patch are ignored) into L2-normalised patch
 * features (n_images, grid_h * grid_w, embed_dim), row-major, patch index
 * = row * grid_w + col. If @block_out is not NULL it receives the tokens of
 * image 0 after the last block, class token first (n_tokens, width).
 * Positional embeddings and the Gaussian bias are cached in @s per grid;
 * activations are (re)allocated only when the shape grows.
 * Products run through @mm (its precision and threads). With @reuse (NULL:
 * none) blocks 0 .. L-2 compute only the tokens its gate selects
 * (reuse.c); the features then approximate the normal path's, and equal
 * them when every token is selected. @cancel (NULL:
 * never) is read atomically between blocks: non-zero stops the encoder
 * with NACLIP_ERROR_CANCELLED.
 * Fails with NACLIP_ERROR_INVALID_ARGUMENT if the image is smaller than one
 * patch, _NO_MEMORY if a buffer cannot be allocated. */
gboolean naclip_vision_encode (const NaclipModel *model, NaclipVisionScratch *s,
    NaclipMatmul *mm, NaclipReuse *reuse, const NaclipParams *params,
    const float *pixels, guint n_images, guint height, guint width,
    float *features, float *block_out, const gint *cancel, GError **error);

/* ------------------------------------------------------------------ */
/* image.c: conversion, normalisation, resampling                      */

/* The size mmseg's Resize(scale=(2048, short), keep_ratio=True) gives. */
void naclip_image_scaled_size (guint width, guint height, guint short_side,
    guint *out_width, guint *out_height);

/* Converts @image (valid, see naclip_image_validate()) to RGB, resizes it
 * bilinearly (half-pixel centres, no anti-aliasing, in float) to
 * out_width x out_height and normalises it: out (3, out_height,
 * out_width). YUV is converted per pixel (chroma of its 2x2 block),
 * clamped to 0..255, before resampling. Runs on @n_threads threads. */
void naclip_image_preprocess (const NaclipImage *image, guint out_width,
    guint out_height, float *out, guint n_threads);

/* Bilinear resize of @n_channels planes (align_corners False, PyTorch
 * rules): in (n_channels, in_h, in_w) -> out (n_channels, out_h, out_w);
 * an axis whose size does not change is copied exactly. @in and @out must
 * not overlap. Runs on @n_threads threads. */
void naclip_image_resize_bilinear (const float *in, guint n_channels,
    guint in_h, guint in_w, float *out, guint out_h, guint out_w,
    guint n_threads);

/* ------------------------------------------------------------------ */
/* pamr.c: pixel-adaptive mask refinement                              */

/* Floats of work memory naclip_pamr() needs at these dilations: the
 * padded image, two padded copies of 8 mask channels and the affinities
 * (pamr.c), about (3 + 2 min (n_channels, 8)) * height * (width + 2 max
 * (dilations)) + 8 * n_dilations * height * width; 0 if that overflows a
 * gsize. */
gsize naclip_pamr_work_size (guint n_channels, guint height, guint width,
    const guint *dilations, guint n_dilations);
/* Refines @mask (n_channels, height, width) in place with @steps
 * iterations of the affinities of @image (3, height, width), at the
 * dilations given (1..NACLIP_MAX_PAMR_DILATIONS values, px; any size,
 * also larger than the image) (the authors' pamr.py). @work must hold
 * naclip_pamr_work_size() floats. Runs on @n_threads threads. Cost:
 * about 50 * K flops per pixel once, then 2 * K * n_channels flops and
 * (K + 2 * n_channels) floats of memory traffic per pixel and step
 * (K = 8 * n_dilations). @cancel (NULL: never) is read atomically before
 * each iteration: non-zero returns FALSE at once, @mask then holding an
 * unspecified mix of iterations; TRUE otherwise. */
gboolean naclip_pamr (const float *image, float *mask, guint n_channels,
    guint height, guint width, guint steps, const guint *dilations,
    guint n_dilations, guint n_threads, float *work, const gint *cancel);

/* ------------------------------------------------------------------ */
/* segment.c: the per-frame pipeline                                   */

/* One sliding window: rows [y1, y2), columns [x1, x2) of the processed
 * image, px. */
typedef struct
{
  guint y1, x1, y2, x2;
} NaclipWindow;

/* The number of windows naclip.py forward_slide uses on a @height x @width
 * image with @crop and @stride (px): rows * cols with
 * rows = max (height - crop + stride - 1, 0) // stride + 1. 1 when @crop
 * is 0 (whole image). */
guint naclip_segment_n_windows (
    guint height, guint width, guint crop, guint stride);
/* Window @index (row-major over rows, cols) of forward_slide: y1 = r *
 * stride, y2 = min (y1 + crop, height), y1 = max (y2 - crop, 0), same for
 * x. Every window is min (crop, height) x min (crop, width). */
void naclip_segment_window (guint height, guint width, guint crop, guint stride,
    guint index, NaclipWindow *window);
/* Work buffers (re)allocated by @ctx so far (tests: a second call of the
 * same sizes must not move it). */
guint64 naclip_context_get_n_allocations (const NaclipContext *ctx);

/* ------------------------------------------------------------------ */
/* The labels of a frame, the frame stages' plain-C twins           */

/* pamr.c: naclip_pamr()'s plain-C twin. The same result as naclip_pamr()
 * (within rounding: another exp and summation order), computed one pixel
 * at a time on the calling thread, for the tests. @work holds
 * (8 * n_dilations + n_channels) * height * width floats. */
gboolean naclip_pamr_ref (const float *image, float *mask, guint n_channels,
    guint height, guint width, guint steps, const guint *dilations,
    guint n_dilations, float *work, const gint *cancel);

/* labels.c: the probabilities and labels of a frame from its logits
 * (naclip.py postprocess_result), for naclip_context_segment(). */
typedef struct
{
  const float *logits;        /* (n_queries, height, width) */
  guint n_queries;            /* Q */
  const guint8 *query_labels; /* (Q): the label of each query */
  guint n_labels;             /* classes + 1, at most NACLIP_MAX_CLASSES + 1 */
  guint width, height;        /* px */
  float logit_scale;          /* softmax temperature */
  float threshold;            /* class_confidence_threshold */
  guint8 *labels;             /* (height, labels_stride bytes) out */
  gsize labels_stride;        /* bytes, >= width */
  float *probs;               /* (n_labels, height, width) out, or NULL */
  gint32 *labels_i32;         /* (height, width) out, or NULL */
  float *scratch; /* naclip_labels_scratch_size () floats per thread */
} NaclipLabelsJob;

/* Floats of scratch naclip_labels_from_logits() needs per thread. */
gsize naclip_labels_scratch_size (guint n_queries, guint n_labels);
/* For each pixel of @job: p_q = softmax over q of (logits * logit_scale);
 * the probability of a label is the max of p_q over its queries (0 for a
 * label without queries); the label is naclip_probs_pick_label()'s with
 * the threshold. Writes labels, and probs and labels_i32 when not NULL.
 * Rows are split among @n_threads threads, 16 pixels at a time per CPU
 * level (kernels.h). Cost: about 30 operations per pixel and
 * query. */
void naclip_labels_from_logits (const NaclipLabelsJob *job, guint n_threads);
/* The plain-C serial twin (libm's expf, one pixel at a time; @job's
 * scratch unused), for the tests. */
void naclip_labels_from_logits_ref (const NaclipLabelsJob *job);

/* image.c: the plain-C serial twins of naclip_image_resize_bilinear() and
 * naclip_image_preprocess(), one output pixel at a time (the fast ones
 * work on tiles of 16-float vectors per CPU level), for the tests. */
void naclip_image_resize_bilinear_ref (const float *in, guint n_channels,
    guint in_h, guint in_w, float *out, guint out_h, guint out_w);
void naclip_image_preprocess_ref (
    const NaclipImage *image, guint out_width, guint out_height, float *out);

G_END_DECLS

#endif /* NACLIP_PRIVATE_H */
