/* naclip.h: the public API of the naclip core library.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Training-free open-vocabulary semantic segmentation with NACLIP
 * (Hajimiri, Ben Ayed, Dolz, WACV 2025, arXiv 2404.08181) on CLIP ViT
 * checkpoints stored as safetensors. This header is the only one a program
 * needs; it depends on GLib only.
 *
 * Objects
 *   NaclipModel     weights and tokenizer of one checkpoint. Immutable after
 *                   naclip_model_load(); reference counted; may be shared by
 *                   any number of threads and contexts.
 *   NaclipTokenizer CLIP's byte-level BPE tokenizer: a model's, or one
 *                   loaded from a merges file. Thread-safe.
 *   NaclipClasses   a parsed class list: background names (label 0) and the
 *                   user's classes (labels 1..N), each with one or more
 *                   names (queries). Immutable.
 *   NaclipTemplates a prompt template set ("{}" is replaced by a name).
 *   NaclipQueries   query embeddings for a class list: [n_queries, embed_dim]
 *                   plus the label of each query. Immutable, reference
 *                   counted, safe to hand from the thread that computed it to
 *                   the thread that segments.
 *   NaclipSmoothing an average of class probabilities over the frames of
 *                   a stream. NOT thread-safe.
 *   NaclipContext   all mutable state of one segmentation stream (scratch
 *                   buffers, per-grid caches). One per thread; NOT
 *                   thread-safe. Buffers are sized on the first call for a
 *                   given input size and reused: a second call with the same
 *                   sizes allocates nothing.
 *
 * Images (NaclipImage)
 *   8-bit samples. Packed formats use plane 0 only; `stride[0]` is the
 *   distance in bytes between the first bytes of two consecutive rows and may
 *   exceed width * bytes-per-pixel. The channel order is the one in the
 *   format's name (NACLIP_PIXEL_BGRX: B, G, R, unused). I420 has three
 *   planes (Y full size, U and V subsampled 2x2, sizes rounded up), NV12 two
 *   (Y, interleaved UV); YUV is converted with the matrix and range given in
 *   the image (BT.601 limited range by default), in float, each pixel with
 *   the chroma of its 2x2 block, clamped to 0..255. Alpha and padding
 *   bytes are ignored. Sides are at most NACLIP_MAX_SIDE_PX (16384) px.
 *
 * Label maps
 *   One guint8 per pixel, row stride in bytes given by the caller. 0 is the
 *   background: pixels of the background names, and pixels whose best class
 *   probability is below NaclipParams.class_confidence_threshold. The
 *   classes of the list are 1..N in their order. At most
 *   NACLIP_MAX_CLASSES classes.
 *
 * Failure contract
 *   Functions that can fail take a GError ** last and return FALSE or NULL
 *   with the error set in the NACLIP_ERROR domain; messages name the file,
 *   tensor, field or value at fault. Passing a NULL object or an impossible
 *   argument that is a programming error triggers g_return_val_if_fail.
 *   Nothing in the library calls exit() or abort() on bad data, prints to
 *   stdout/stderr (logging goes through g_debug/g_info, domain "naclip"), or
 *   changes process-global state (locale, signal handlers, floating-point
 *   environment, environment variables).
 *
 * Known divergences from the authors' reference
 *   - ftfy's mojibake repair is not reproduced (its deterministic fixes are).
 *   - Pre-processing resizes in float and does not round to uint8 (mmseg
 *     does), a difference of at most half a grey level.
 */

#ifndef NACLIP_H
#define NACLIP_H

#include <gio/gio.h>
#include <glib.h>

G_BEGIN_DECLS

#if defined(NACLIP_COMPILATION)
#define NACLIP_API __attribute__ ((visibility ("default")))
#else
#define NACLIP_API
#endif

/* Limits, checked where the values come in (naclip_params_validate(),
 * naclip_image_validate(), naclip_context_segment(), the class list and
 * template loaders): they bound the work and memory one input can cause
 * and keep size computations far from overflow. */

/* Most classes a list may hold: labels are guint8 and 0 is background. */
#define NACLIP_MAX_CLASSES 255
/* Most names (queries) a class list may hold, background names included. */
#define NACLIP_MAX_QUERIES 16384
/* Longest name in a class list, bytes. */
#define NACLIP_MAX_NAME_BYTES 4096
/* Longest class list (string, file or background list) and template file,
 * bytes. */
#define NACLIP_MAX_LIST_BYTES (256u << 10)
/* Most templates a template set may hold. */
#define NACLIP_MAX_TEMPLATES 4096
/* Longest side of an image and of a label map, and largest inference_size,
 * slide_crop, slide_stride and PAMR dilation, px. */
#define NACLIP_MAX_SIDE_PX 16384
/* Most PAMR iterations (pamr_steps). */
#define NACLIP_MAX_PAMR_STEPS 1000
/* Most pyramid dilations PAMR accepts. */
#define NACLIP_MAX_PAMR_DILATIONS 8
/* Largest gaussian_std, patches. */
#define NACLIP_MAX_GAUSSIAN_STD 10000.0f
/* Largest logit_scale. */
#define NACLIP_MAX_LOGIT_SCALE 10000.0f
/* Most worker threads (threads). */
#define NACLIP_MAX_THREADS 256
/* Largest reuse_threshold (a relative change). */
#define NACLIP_MAX_REUSE_THRESHOLD 1.0f

#define NACLIP_ERROR (naclip_error_quark ())

typedef enum
{
  /* A file could not be opened, read, mapped or written. */
  NACLIP_ERROR_IO,
  /* A file is malformed: safetensors container, JSON, merges, classes. */
  NACLIP_ERROR_FORMAT,
  /* A well-formed input the library does not support (pickle checkpoints,
   * sharded checkpoints, dtypes it cannot use). */
  NACLIP_ERROR_UNSUPPORTED,
  /* The tensors or config describe an impossible or inconsistent model. */
  NACLIP_ERROR_MODEL,
  /* A parameter, size or string given by the caller is out of range. */
  NACLIP_ERROR_INVALID_ARGUMENT,
  /* A text cannot be tokenized (invalid UTF-8, longer than the context). */
  NACLIP_ERROR_TEXT,
  /* A large allocation failed. */
  NACLIP_ERROR_NO_MEMORY,
  /* The call was cancelled (naclip_context_cancel(), a GCancellable). */
  NACLIP_ERROR_CANCELLED,
} NaclipError;

NACLIP_API GQuark naclip_error_quark (void);

/* ------------------------------------------------------------------ */
/* Models                                                              */

typedef struct _NaclipModel NaclipModel;

typedef enum
{
  NACLIP_KEY_LAYOUT_HF,     /* Hugging Face CLIPModel (vision_model.*) */
  NACLIP_KEY_LAYOUT_OPENAI, /* OpenAI / open_clip (visual.*) */
} NaclipKeyLayout;

typedef enum
{
  NACLIP_DTYPE_F32,
  NACLIP_DTYPE_F16,
  NACLIP_DTYPE_BF16,
} NaclipDtype;

typedef enum
{
  NACLIP_ACTIVATION_QUICK_GELU, /* x * sigmoid(1.702 x) */
  NACLIP_ACTIVATION_GELU,       /* exact erf GELU */
} NaclipActivation;

typedef struct
{
  guint width;     /* D: residual stream width */
  guint n_layers;  /* transformer blocks */
  guint n_heads;   /* attention heads; head_dim = width / n_heads */
  guint mlp_width; /* hidden size of the MLP */
  NaclipActivation activation;
  float layer_norm_eps; /* 1e-5 for CLIP */
  guint64 n_params;     /* parameters of this tower incl. its projection */
} NaclipTowerInfo;

typedef struct
{
  NaclipKeyLayout key_layout;
  NaclipDtype dtype; /* dtype of the stored weights (the most common) */
  guint embed_dim;   /* E: joint embedding size */
  NaclipTowerInfo vision;
  guint patch_size;     /* P, px */
  guint image_size;     /* pretrained input size, px (224) */
  guint grid_size;      /* pretrained grid g = image_size / patch_size */
  gboolean has_text;    /* FALSE for a vision-only checkpoint */
  NaclipTowerInfo text; /* zeroed when !has_text */
  guint context_length; /* text positions (77) */
  guint vocab_size;     /* token embedding rows (49408) */
  float logit_scale;    /* exp(stored logit_scale); 0 if absent */
  guint64 n_params;     /* all tensors of the checkpoint */
} NaclipModelInfo;

/* Loads a checkpoint. @path is a directory in the Hugging Face layout
 * (model.safetensors, config.json, merges.txt) or open_clip's
 * (open_clip_model.safetensors, open_clip_config.json, merges.txt), or a
 * .safetensors file with an optional config.json or open_clip_config.json
 * and a merges.txt beside it. F32 tensors are used
 * in place from a read-only mapping; F16 and BF16 are widened once. Every
 * tensor is validated (see README.md, "Model files"), and weights are
 * scanned for NaN/Inf unless @check_weights is FALSE; the scan also sets
 * subnormal weights to zero (in a copy of their tensor), which cannot
 * change a result and would slow Intel CPUs down 2.6x.
 * Returns a new model (free with naclip_model_unref()) or NULL with
 * NACLIP_ERROR_IO, _FORMAT, _UNSUPPORTED, _MODEL or _NO_MEMORY set. */
NACLIP_API NaclipModel *naclip_model_load (
    const char *path, gboolean check_weights, GError **error);

/* Adds a reference. Returns @model. */
NACLIP_API NaclipModel *naclip_model_ref (NaclipModel *model);

/* Drops a reference; the last one frees the model. Accepts NULL. */
NACLIP_API void naclip_model_unref (NaclipModel *model);

/* The architecture found at load. Borrowed until the model is freed. */
NACLIP_API const NaclipModelInfo *naclip_model_get_info (
    const NaclipModel *model);

/* The path the model was loaded from. Borrowed. */
NACLIP_API const char *naclip_model_get_path (const NaclipModel *model);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NaclipModel, naclip_model_unref)

/* ------------------------------------------------------------------ */
/* Parameters                                                          */

typedef enum
{
  NACLIP_ATTENTION_NACLIP,  /* k k^T / sqrt(d) + Gaussian (the paper) */
  NACLIP_ATTENTION_KK,      /* k k^T / sqrt(d) */
  NACLIP_ATTENTION_NONLY,   /* Gaussian only, scaled */
  NACLIP_ATTENTION_CSA,     /* SCLIP: softmax(q q^T) + softmax(k k^T) */
  NACLIP_ATTENTION_VANILLA, /* CLIP's q k^T */
} NaclipAttention;

typedef enum
{
  NACLIP_ARCH_REDUCED, /* last block: attention only, no residual, no MLP */
  NACLIP_ARCH_VANILLA, /* last block keeps its residuals and MLP */
} NaclipArch;

typedef enum
{
  NACLIP_PRECISION_AUTO, /* bf16 where the CPU and the build allow it */
  NACLIP_PRECISION_FP32,
  NACLIP_PRECISION_BF16,
  /* Linear layers as 8-bit integer products: weights quantised once per
   * output channel, activations per token; everything else at the
   * precision AUTO resolves to. Opt-in: AUTO never resolves to it. */
  NACLIP_PRECISION_INT8,
} NaclipPrecision;

typedef struct
{
  /* Short side of the processed image, px; 0 keeps the input size
   * (reference: Resize scale (2048, 336)). */
  guint inference_size;
  /* Sliding-window crop, px; 0 encodes the whole image at once
   * (reference: slide_crop). */
  guint slide_crop;
  /* Sliding-window stride, px (reference: slide_stride). */
  guint slide_stride;
  NaclipAttention attention;
  NaclipArch arch;
  /* Gaussian sigma of the neighbourhood bias, in patches
   * (reference: gaussian_std). */
  float gaussian_std;
  /* Softmax temperature applied to cosine logits (reference: logit_scale). */
  float logit_scale;
  /* PAMR iterations; 0 disables PAMR (reference: pamr_steps). */
  guint pamr_steps;
  /* PAMR dilations, px (reference: pamr_stride). */
  guint pamr_dilations[NACLIP_MAX_PAMR_DILATIONS];
  guint n_pamr_dilations;
  /* Pixels whose best class probability is below this get label 0
   * (reference: prob_thd). */
  float class_confidence_threshold;
  /* Worker threads for everything the library runs. */
  guint threads;
  NaclipPrecision precision;
  /* Token reuse between successive naclip_context_segment() calls on the
   * frames of one video (Eventful Transformers, Dutson et al., ICCV 2023):
   * 0 disables it. Above 0, each vision block but the last computes only
   * the tokens (patches) whose input or attention output moved by at
   * least this relative L2 distance since the call that last computed
   * them, and keeps what it computed then for the others; the class token
   * and the last block's attention are always computed (the patch
   * embedding and the last block's q, k, v only where their input changed
   * to the bit), and a frame in which more than half of the patches
   * changed runs the normal path. 0.2 kept 99 % of the labels of the full
   * forward for ViT-B/16 on a static camera (README, "Token reuse"); a
   * larger value skips more and drifts more. Reused features differ from
   * the normal path's. Memory: (6 (layers - 1) + 5) tokens width floats
   * and the unfolded patches (44 MB for ViT-B/16 at 224). */
  float reuse_threshold;
  /* With reuse: every this many calls, every token is computed (bounding
   * the drift); 0 = only after naclip_context_reset_reuse(), a new
   * processing size, precision or reuse_threshold, or a failed call. */
  guint reuse_refresh;
} NaclipParams;

/* The paper's settings: inference_size 336, whole image (slide_crop 0,
 * slide_stride 112), attention naclip, arch reduced, gaussian_std 5,
 * logit_scale 40, PAMR 10 steps with dilations (8, 16), threshold 0,
 * 2 threads, precision auto, no token reuse (reuse_threshold 0,
 * reuse_refresh 30). */
NACLIP_API NaclipParams naclip_params_default (void);

/* Checks every field; on failure sets NACLIP_ERROR_INVALID_ARGUMENT naming
 * the field and the value. */
NACLIP_API gboolean naclip_params_validate (
    const NaclipParams *params, GError **error);

/* Parses/prints the enum names used by the CLI and the element
 * ("naclip", "kk", "nonly", "csa", "vanilla"; "reduced", "vanilla";
 * "auto", "fp32", "bf16", "int8"). The parsers return FALSE for unknown
 * names. */
NACLIP_API gboolean naclip_attention_from_string (
    const char *s, NaclipAttention *out);
NACLIP_API const char *naclip_attention_to_string (NaclipAttention a);
NACLIP_API gboolean naclip_arch_from_string (const char *s, NaclipArch *out);
NACLIP_API const char *naclip_arch_to_string (NaclipArch a);
NACLIP_API gboolean naclip_precision_from_string (
    const char *s, NaclipPrecision *out);
NACLIP_API const char *naclip_precision_to_string (NaclipPrecision p);

/* CPU levels, in increasing order, named as oneDNN names them. The library
 * uses the CPU's level, capped by the environment variable
 * NACLIP_MAX_CPU_ISA (one of the names below, case-insensitive, or "all";
 * read once, at the first call that needs it; an unknown name is ignored
 * with a warning): the precision AUTO resolves to, the library's own
 * vectorised kernels and oneDNN (passed on with dnnl_set_max_cpu_isa(),
 * the one process-wide effect of the library, only when the variable caps
 * the CPU) all follow it, so that a capable CPU behaves as a lesser one.
 * OpenBLAS chooses its kernels when it is loaded: cap it with
 * OPENBLAS_CORETYPE (Haswell for avx2). */
typedef enum
{
  NACLIP_CPU_ISA_BASELINE,         /* "sse41": below AVX2, or not x86 */
  NACLIP_CPU_ISA_AVX2,             /* "avx2": AVX2 and FMA */
  NACLIP_CPU_ISA_AVX512_CORE,      /* "avx512_core": F, CD, BW, DQ, VL */
  NACLIP_CPU_ISA_AVX512_CORE_VNNI, /* "avx512_core_vnni" */
  NACLIP_CPU_ISA_AVX512_CORE_BF16, /* "avx512_core_bf16" */
  NACLIP_CPU_ISA_AVX512_CORE_AMX,  /* "avx512_core_amx": AMX BF16, INT8 */
} NaclipCpuIsa;

/* The level the library uses (the CPU's, capped); @detected, if not NULL,
 * receives the CPU's own. Thread-safe. */
NACLIP_API NaclipCpuIsa naclip_cpu_get_isa (NaclipCpuIsa *detected);
NACLIP_API const char *naclip_cpu_isa_to_string (NaclipCpuIsa isa);
/* Also accepts oneDNN's "all" (the highest level), "avx" (baseline) and
 * "avx2_vnni" (avx2). */
NACLIP_API gboolean naclip_cpu_isa_from_string (
    const char *s, NaclipCpuIsa *out);

/* The precision @requested runs at in this build on this CPU: AUTO becomes
 * BF16 when oneDNN is built, the level of naclip_cpu_get_isa() is at least
 * avx512_core_bf16 (cpuid, with the OS saving the state) and oneDNN has a
 * bf16 matmul for it, else FP32 (never INT8); FP32 stays FP32; BF16 stays
 * BF16 when available; INT8 stays INT8 when oneDNN is built and has an
 * int8 matmul other than its reference kernel at that level (AMX-INT8,
 * AVX512-VNNI, or below them kernels that add products in saturating 16
 * bits, for which weights use 7 bits). Otherwise FALSE with
 * NACLIP_ERROR_UNSUPPORTED saying what is missing. Thread-safe. */
NACLIP_API gboolean naclip_precision_resolve (
    NaclipPrecision requested, NaclipPrecision *out, GError **error);

/* One line for humans: what AUTO resolves to and why (CPU level and cap,
 * oneDNN version, OpenBLAS threading and kernels). Caller frees. */
NACLIP_API char *naclip_precision_describe (void);

/* Parses "8,16" into @out (at most NACLIP_MAX_PAMR_DILATIONS values, each
 * 1..NACLIP_MAX_SIDE_PX). Returns FALSE with NACLIP_ERROR_INVALID_ARGUMENT
 * otherwise. */
NACLIP_API gboolean naclip_parse_dilations (const char *s,
    guint out[NACLIP_MAX_PAMR_DILATIONS], guint *n_out, GError **error);

/* ------------------------------------------------------------------ */
/* Tokenizer                                                           */

/* OpenAI's CLIP tokenizer (clip/simple_tokenizer.py): the text is cleaned
 * (ftfy's deterministic fixes, HTML entities, white space, Python's
 * str.lower()), split with CLIP's pattern and merged by byte-level BPE.
 * A vocabulary of n merges has n + NACLIP_VOCAB_BASE tokens: ids 0..255
 * are the 256 byte symbols, 256..511 the same with "</w>" (the end of a
 * word), then the merges in file order, then the start and end of text
 * (ids 512 + n and 513 + n). Ids are 16-bit: at most NACLIP_MAX_VOCAB
 * tokens. */
typedef struct _NaclipTokenizer NaclipTokenizer;

#define NACLIP_VOCAB_BASE 514
#define NACLIP_MAX_VOCAB 65536
/* CLIP's merges (a vocabulary of 49408 tokens) and its text context. */
#define NACLIP_CLIP_N_MERGES 48894
#define NACLIP_CONTEXT_LENGTH 77

/* Loads the first @n_merges merges (at most NACLIP_MAX_VOCAB -
 * NACLIP_VOCAB_BASE; later lines are ignored) from a Hugging Face
 * merges.txt or OpenAI's gzipped bpe_simple_vocab_16e6.txt.gz. The first
 * line must be a "#version" header; a BOM and CRLF are accepted; a
 * repeated pair takes the last rank. Returns a new tokenizer
 * (naclip_tokenizer_free()) or NULL with NACLIP_ERROR_IO, _FORMAT (naming
 * the line, or both counts when the file holds fewer merges) or
 * _NO_MEMORY. */
NACLIP_API NaclipTokenizer *naclip_tokenizer_load (
    const char *path, guint n_merges, GError **error);

/* The same from the @size bytes at @data (a merges file in memory, gzipped
 * or not; copied). @what names it in error messages. */
NACLIP_API NaclipTokenizer *naclip_tokenizer_new_from_data (const guint8 *data,
    gsize size, guint n_merges, const char *what, GError **error);

/* Frees @tok. Accepts NULL. */
NACLIP_API void naclip_tokenizer_free (NaclipTokenizer *tok);

/* The tokenizer of @model (it holds as many merges as the token embedding
 * has rows beyond NACLIP_VOCAB_BASE), or NULL for a vision-only model.
 * Borrowed until the model is freed. */
NACLIP_API NaclipTokenizer *naclip_model_get_tokenizer (NaclipModel *model);

/* Encodes @text (@len bytes of UTF-8, or -1 for NUL-terminated; at most
 * 256 KiB) into @ids: [start, tokens..., end, 0...], @context ids (>= 2;
 * NACLIP_CONTEXT_LENGTH for CLIP's text tower). Returns the index of the
 * end token, or -1 with NACLIP_ERROR_TEXT for invalid UTF-8 (naming the
 * byte offset), a text above 256 KiB, or more than @context - 2 tokens
 * unless @truncate (which keeps the first @context - 2 and the end token).
 * Thread-safe (merged pieces are cached, bounded, behind a lock). */
NACLIP_API gint naclip_tokenizer_encode (NaclipTokenizer *tok, const char *text,
    gssize len, gboolean truncate, gint32 *ids, guint context, GError **error);

/* The symbol of vocabulary id @id < 256 (GPT-2's byte-to-unicode table:
 * the printable bytes first, id 0 is "!") as NUL-terminated UTF-8 in @out;
 * id + 256 is the same symbol with "</w>". Merges files spell their pairs
 * with these symbols. */
NACLIP_API void naclip_tokenizer_byte_symbol (guint id, char out[8]);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NaclipTokenizer, naclip_tokenizer_free)

/* ------------------------------------------------------------------ */
/* Classes, templates and query embeddings                             */

typedef struct _NaclipClasses NaclipClasses;
typedef struct _NaclipTemplates NaclipTemplates;
typedef struct _NaclipQueries NaclipQueries;

/* Parses a class string: commas separate classes, '|' separates the names
 * of one class ("sky,road,person|man|woman"). @background, if not NULL,
 * lists the names whose pixels get label 0, separated by '|' or ','.
 * Leading and trailing white space of names is removed; empty items are
 * dropped (logged). Returns NULL with NACLIP_ERROR_INVALID_ARGUMENT for an
 * empty list, a duplicate name, invalid UTF-8, an embedded NUL, a string
 * above the size caps (NACLIP_MAX_LIST_BYTES, NACLIP_MAX_NAME_BYTES,
 * NACLIP_MAX_QUERIES names), or more than NACLIP_MAX_CLASSES classes. */
NACLIP_API NaclipClasses *naclip_classes_parse (
    const char *classes, const char *background, GError **error);

/* Loads a class file in the authors' format: one class per line, its names
 * separated by ", ". A first line starting with "background:" holds the
 * background names instead of a class. @background, if not NULL, adds
 * background names as in naclip_classes_parse(). */
NACLIP_API NaclipClasses *naclip_classes_load (
    const char *path, const char *background, GError **error);

NACLIP_API void naclip_classes_free (NaclipClasses *classes);
/* Classes of the list, background excluded: labels 1..n. */
NACLIP_API guint naclip_classes_get_n_classes (const NaclipClasses *classes);
/* The display name of @label: its first name, "background" for 0. */
NACLIP_API const char *naclip_classes_get_name (
    const NaclipClasses *classes, guint label);
/* Queries: background names first, then every name of class 1, 2, ... */
NACLIP_API guint naclip_classes_get_n_queries (const NaclipClasses *classes);
NACLIP_API const char *naclip_classes_get_query (
    const NaclipClasses *classes, guint query);
NACLIP_API guint naclip_classes_get_query_label (
    const NaclipClasses *classes, guint query);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NaclipClasses, naclip_classes_free)

/* Template sets: "imagenet80" (the 80 OpenAI ImageNet templates, the
 * default), "single" ("a photo of a {}."), or the path of a file with one
 * template per line, each containing "{}" once. */
NACLIP_API NaclipTemplates *naclip_templates_load (
    const char *name_or_path, GError **error);
NACLIP_API void naclip_templates_free (NaclipTemplates *templates);
NACLIP_API guint naclip_templates_get_n (const NaclipTemplates *templates);
NACLIP_API const char *naclip_templates_get (
    const NaclipTemplates *templates, guint i);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NaclipTemplates, naclip_templates_free)

typedef struct
{
  /* Directory of the embedding cache; NULL = $XDG_CACHE_HOME/naclipseg. */
  const char *cache_dir;
  gboolean use_cache;
  guint threads;
  NaclipPrecision precision;
  /* Truncate prompts longer than the context (end token kept last) instead
   * of failing. */
  gboolean truncate;
  /* NULL, or checked between batches of prompts and between blocks: once
   * cancelled, naclip_queries_encode() fails with NACLIP_ERROR_CANCELLED.
   * Borrowed for the call. */
  GCancellable *cancellable;
} NaclipEncodeOptions;

/* use_cache TRUE, default cache dir, 2 threads, precision auto, no
 * truncation, no cancellable. */
NACLIP_API NaclipEncodeOptions naclip_encode_options_default (void);

/* Embeds every query of @classes with the text tower: each name in every
 * template, L2-normalised, averaged, L2-normalised again (CLIP's
 * zero-shot prompt ensembling, as NACLIP uses it; naclip_ref.py
 * embed_queries()).
 * Thread-safe with respect to @model; may take a second, so call it off
 * any real-time thread. Returns new queries (naclip_queries_unref()) or
 * NULL with NACLIP_ERROR_TEXT, _MODEL (no text tower), _IO. */
NACLIP_API NaclipQueries *naclip_queries_encode (NaclipModel *model,
    const NaclipClasses *classes, const NaclipTemplates *templates,
    const NaclipEncodeOptions *options, GError **error);

/* Wraps given embeddings [n_queries, dim] (row-major; copied) for
 * @classes; n_queries must equal naclip_classes_get_n_queries(). Rows are
 * used as given (not re-normalised). */
NACLIP_API NaclipQueries *naclip_queries_new (const NaclipClasses *classes,
    const float *embeddings, guint n_queries, guint dim, GError **error);

NACLIP_API NaclipQueries *naclip_queries_ref (NaclipQueries *queries);
NACLIP_API void naclip_queries_unref (NaclipQueries *queries);
NACLIP_API guint naclip_queries_get_n (const NaclipQueries *queries);
NACLIP_API guint naclip_queries_get_dim (const NaclipQueries *queries);
/* [n, dim] row-major. Borrowed. */
NACLIP_API const float *naclip_queries_get_embeddings (
    const NaclipQueries *queries);
/* The class list the queries belong to. Borrowed. */
NACLIP_API const NaclipClasses *naclip_queries_get_classes (
    const NaclipQueries *queries);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NaclipQueries, naclip_queries_unref)

/* ------------------------------------------------------------------ */
/* Images and segmentation                                             */

typedef enum
{
  NACLIP_PIXEL_RGB,
  NACLIP_PIXEL_BGR,
  NACLIP_PIXEL_RGBA,
  NACLIP_PIXEL_BGRA,
  NACLIP_PIXEL_ARGB,
  NACLIP_PIXEL_ABGR,
  NACLIP_PIXEL_RGBX,
  NACLIP_PIXEL_BGRX,
  NACLIP_PIXEL_XRGB,
  NACLIP_PIXEL_XBGR,
  NACLIP_PIXEL_I420,
  NACLIP_PIXEL_NV12,
} NaclipPixelFormat;

typedef enum
{
  NACLIP_YUV_BT601_LIMITED,
  NACLIP_YUV_BT709_LIMITED,
  NACLIP_YUV_BT601_FULL,
  NACLIP_YUV_BT709_FULL,
} NaclipYuvMatrix;

typedef struct
{
  NaclipPixelFormat format;
  guint width;                /* px */
  guint height;               /* px */
  const guint8 *data[3];      /* planes; unused ones NULL */
  gsize stride[3];            /* bytes per row of each plane */
  NaclipYuvMatrix yuv_matrix; /* YUV formats only */
} NaclipImage;

/* CLIP's normalisation on the 0..255 scale (clip/clip.py's Normalize,
 * times 255): before the encoder, naclip_context_segment() maps each
 * channel value v of the resized image to (v - MEAN) / STD. */
#define NACLIP_MEAN_R 122.771f
#define NACLIP_MEAN_G 116.746f
#define NACLIP_MEAN_B 104.094f
#define NACLIP_STD_R 68.501f
#define NACLIP_STD_G 66.632f
#define NACLIP_STD_B 70.323f

/* Checks that @image's geometry is consistent (non-zero size, strides large
 * enough, planes present). */
NACLIP_API gboolean naclip_image_validate (
    const NaclipImage *image, GError **error);

typedef struct _NaclipContext NaclipContext;

/* Called by naclip_context_segment() for each stage when set: @name is the
 * stage ("input", "block", "features", "queries", "logits", "refined",
 * "probs", "labels"), @data is row-major with @n_dims dimensions @shape,
 * float32 except "labels" (gint32). Borrowed for the call only. */
typedef void (*NaclipDumpFunc) (const char *name, const gsize *shape,
    guint n_dims, gboolean is_int32, const void *data, gpointer user_data);

/* A context for @model (referenced). Returns NULL with _NO_MEMORY. */
NACLIP_API NaclipContext *naclip_context_new (
    NaclipModel *model, GError **error);
NACLIP_API void naclip_context_free (NaclipContext *ctx);

/* Sets the parameters for following calls (validated; the old ones are
 * kept on failure). Besides naclip_params_validate(), a slide_crop below
 * the model's patch size and a slide_stride above slide_crop (windows
 * would leave gaps) fail with NACLIP_ERROR_INVALID_ARGUMENT; a precision
 * this build or CPU cannot run (bf16 without AMX/AVX512-BF16 or oneDNN,
 * int8 without oneDNN) fails with NACLIP_ERROR_UNSUPPORTED. */
NACLIP_API gboolean naclip_context_set_params (
    NaclipContext *ctx, const NaclipParams *params, GError **error);
/* The precision the context computes at: params.precision resolved (FP32,
 * BF16 or INT8). */
NACLIP_API NaclipPrecision naclip_context_get_precision (
    const NaclipContext *ctx);
/* Makes the naclip_context_segment() running on @ctx in another thread (if
 * any) return FALSE with NACLIP_ERROR_CANCELLED soon: the flag is read
 * between transformer blocks and between PAMR iterations (at most one
 * block or iteration later, tens of ms for ViT-B/16). The flag is cleared
 * when the next naclip_context_segment() starts, so a cancel with no call
 * running has no effect. Thread-safe (the only context call that is). */
NACLIP_API void naclip_context_cancel (NaclipContext *ctx);
NACLIP_API void naclip_context_set_dump_func (
    NaclipContext *ctx, NaclipDumpFunc func, gpointer user_data);

/* Segments @image. The label map has @out_width x @out_height pixels (the
 * image size reproduces the paper; the processing size is cheaper for
 * video) and PAMR runs at that size. @labels: out_height rows of
 * @labels_stride bytes (bytes past out_width are not written). @probs, if
 * not NULL, receives the class probabilities [n_classes + 1, out_height,
 * out_width], contiguous: for each class the max over its queries of the
 * softmax over all queries (not renormalised); row 0 background, 0 where no
 * background names exist. All windows of a frame are encoded as one batch.
 * Returns FALSE with NACLIP_ERROR_INVALID_ARGUMENT (invalid image, image
 * smaller than one patch at its processing size, output size 0 or above
 * NACLIP_MAX_SIDE_PX, label stride below out_width, query dimension not the
 * model's), _NO_MEMORY or _CANCELLED (naclip_context_cancel()). */
NACLIP_API gboolean naclip_context_segment (NaclipContext *ctx,
    NaclipQueries *queries, const NaclipImage *image, guint out_width,
    guint out_height, guint8 *labels, gsize labels_stride, float *probs,
    GError **error);

/* Token reuse (NaclipParams.reuse_threshold): forgets what earlier calls
 * computed, so that the next call computes every token. Call it where
 * frames stop following each other: a seek, a flush, a discontinuity.
 * (A new processing size, window count or precision does it by itself;
 * a new class list needs nothing: reuse concerns image features only.)
 * Cheap: frees nothing. */
NACLIP_API void naclip_context_reset_reuse (NaclipContext *ctx);

/* What token reuse did in the last naclip_context_segment() call. */
typedef struct
{
  gboolean active;    /* reuse_threshold was above 0 */
  gboolean refreshed; /* every token was computed (a refresh) */
  /* Token rows of the vision blocks below the last (blocks x windows x
   * tokens) the normal path computes, and how many of them got the
   * block's output projection and MLP (3/4 of its work; the other rows
   * keep their earlier output); all of them in a refresh and in a frame
   * where more than half of the patches changed, which runs the normal
   * path. Both 0 when !active. */
  guint64 n_rows, n_computed;
} NaclipReuseStats;

NACLIP_API void naclip_context_get_reuse_stats (
    const NaclipContext *ctx, NaclipReuseStats *stats);

/* The size the image is processed at for the current params
 * (inference_size applied to @width x @height). */
NACLIP_API void naclip_context_get_processing_size (const NaclipContext *ctx,
    guint width, guint height, guint *out_width, guint *out_height);

/* Wall-clock time of each stage of the last naclip_context_segment() call
 * (all zero before the first), ms. The stages partition the call. */
typedef struct
{
  double preprocess_ms; /* conversion, resize, normalisation, windows */
  double encoder_ms;    /* the vision tower (all windows) */
  double logits_ms;     /* cosine logits, window merge, resize to output */
  double pamr_ms;       /* PAMR; 0 when pamr_steps is 0 */
  double labels_ms;     /* softmax, threshold, label map, probabilities */
  double total_ms;      /* the whole call */
} NaclipTimings;

NACLIP_API void naclip_context_get_timings (
    const NaclipContext *ctx, NaclipTimings *timings);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NaclipContext, naclip_context_free)

/* ------------------------------------------------------------------ */
/* Diagnostics                                                         */

/* The matrix-product backends. The library picks one per precision
 * (AUTO); naclip_matmul_benchmark() can time each. */
typedef enum
{
  NACLIP_MATMUL_BACKEND_AUTO,     /* fp32: OpenBLAS; bf16: oneDNN */
  NACLIP_MATMUL_BACKEND_OPENBLAS, /* fp32 only */
  NACLIP_MATMUL_BACKEND_DNNL,     /* fp32 or bf16; builds with oneDNN */
} NaclipMatmulBackend;

/* Times the product the encoders spend their time in, a linear layer
 * out (m, n) = x (m, k) . w^T + bias with w stored (n, k), on seeded
 * random data through @backend at @precision (AUTO resolved as
 * naclip_precision_resolve() does) on @threads threads (0: the calling
 * thread's OpenMP default), as the towers run it: one untimed call, which
 * packs the weight and creates the kernel, then @n_runs timed calls whose
 * wall-clock times, ms, are stored in @times_ms. Allocates the operands
 * (4 * (m k + n k + m n) bytes) for the call. FALSE with
 * NACLIP_ERROR_UNSUPPORTED when this build or CPU cannot run the backend
 * at the precision (the message says why), or _NO_MEMORY. */
NACLIP_API gboolean naclip_matmul_benchmark (NaclipMatmulBackend backend,
    NaclipPrecision precision, guint threads, guint m, guint n, guint k,
    guint n_runs, double *times_ms, GError **error);

/* One kind of matrix product of an image-encoder pass, as
 * naclip_encoder_benchmark() times it: a linear layer out = x . w^T (+
 * bias, post-op) or a batched product of activations C = A . B (or
 * A . B^T), its activations f32 or bf16. */
typedef struct
{
  gboolean is_gemm;       /* a product of activations, else a linear layer */
  gboolean trans_b;       /* is_gemm: A . B^T */
  gboolean quantized;     /* linear: quantised (precision int8) */
  const char *post;       /* linear: "none", "quick_gelu", "gelu" or "residual"
                       * (added to out); NULL for a gemm */
  gsize m, n, k;          /* out or C (m, n), a sum over k */
  gsize n_outer, n_inner; /* the batch (1, 1 for a linear) */
  NaclipDtype type_a, type_b, type_c; /* x or A, B (gemm), out or C */
  guint count;                        /* calls of this kind per pass */
  double *ms; /* (n_runs) wall-clock time of their replay in each run */
} NaclipProductTiming;

/* What naclip_encoder_benchmark() measured; n_runs values per array. */
typedef struct
{
  NaclipPrecision precision; /* resolved */
  guint grid_w, grid_h;      /* patches of the image */
  guint n_calls;             /* product calls per pass */
  double gflop;              /* of those calls */
  guint n_runs;
  double *encoder_ms, *products_ms; /* wall clock of each run */
  /* CPU time of the process (all threads) of each run: the work done,
   * which waiting for a core on a shared machine disturbs less */
  double *encoder_cpu_ms, *products_cpu_ms;
  NaclipProductTiming *products; /* in the order of their first call */
  guint n_products;
} NaclipEncoderBenchmark;

/* Times the image encoder of @model against its own matrix products
 * alone, on a seeded random image of @width x @height (whole, no
 * windows), at @precision on @threads threads (0: the calling thread's
 * OpenMP default): records the calls one encoder pass makes to the matrix
 * products, then alternates, @n_runs times, an encoder pass and a replay
 * of exactly those calls (same shapes, strides, weights, post-ops and
 * types) on buffers of their own, with the inputs already in the type
 * the products read (rounding activations to bf16 is the encoder's work,
 * not the products'). The first, untimed pass packs the weights and
 * creates the kernels. Fills @result (release it with
 * naclip_encoder_benchmark_clear()). FALSE with NACLIP_ERROR_UNSUPPORTED
 * when the precision cannot run here, or the errors of the encoder. */
NACLIP_API gboolean naclip_encoder_benchmark (const NaclipModel *model,
    NaclipPrecision precision, guint threads, guint width, guint height,
    guint n_runs, NaclipEncoderBenchmark *result, GError **error);
/* Frees what @result holds and zeroes it. */
NACLIP_API void naclip_encoder_benchmark_clear (NaclipEncoderBenchmark *result);

/* ------------------------------------------------------------------ */
/* NumPy files                                                         */

/* .npy files of format version 1.0, little-endian, C order: the stage
 * dumps (a NaclipDumpFunc can hand its arguments to naclip_npy_write()),
 * query embeddings, test data. */
#define NACLIP_NPY_MAX_DIMS 8

/* Writes @data, float32 or, when @is_int32, int32, of @n_dims (at most
 * NACLIP_NPY_MAX_DIMS) dimensions @shape to @path (replaced atomically;
 * the data starts at a multiple of 64 bytes). FALSE with
 * NACLIP_ERROR_INVALID_ARGUMENT (the size overflows), _NO_MEMORY or
 * _IO. */
NACLIP_API gboolean naclip_npy_write (const char *path, const gsize *shape,
    guint n_dims, gboolean is_int32, const void *data, GError **error);

/* Reads a float32 ('<f4', C order) array from @path: returns its data
 * (caller frees with g_free()) and fills @shape (room for
 * NACLIP_NPY_MAX_DIMS) and @n_dims. NULL with NACLIP_ERROR_IO, _FORMAT
 * (not version 1.0, another dtype, Fortran order, a shape that does not
 * match the data) or _NO_MEMORY. */
NACLIP_API float *naclip_npy_read_f32 (
    const char *path, gsize *shape, guint *n_dims, GError **error);

/* ------------------------------------------------------------------ */
/* Label colours                                                       */

/* The default colour of @label in drawn label maps: the PASCAL VOC colour
 * map (0 black, 1 dark red, 2 dark green, ...; the bits of the label dealt
 * to R, G, B from the top bit down). Distinct for all labels below 2^24.
 * Writes R, G, B to @rgb. */
NACLIP_API void naclip_palette_color (guint label, guint8 rgb[3]);

/* Colours the user gives classes by name (the element's class-colors, the
 * CLI's --class-colors), the palette for the rest. Immutable; any thread. */
typedef struct _NaclipClassColors NaclipClassColors;

/* Parses @spec, items separated by ',', each a name, ':' and a colour
 * "#RRGGBB" (six hex digits, either case): "person:#ff0000,car:#00ff00".
 * White space around names and colours is ignored, empty items are
 * skipped (so "" gives no colours), and a name is split from its colour
 * at the last ':'. Names are compared as class lists compare them, after
 * case folding; a name given twice is an error. Returns a new set (free
 * with naclip_class_colors_free()) or NULL with
 * NACLIP_ERROR_INVALID_ARGUMENT naming the item at fault (no ':', an
 * empty name, a colour that is not #RRGGBB, a repeated name), or for
 * invalid UTF-8, a @spec above NACLIP_MAX_LIST_BYTES, a name above
 * NACLIP_MAX_NAME_BYTES or more than NACLIP_MAX_QUERIES items. */
NACLIP_API NaclipClassColors *naclip_class_colors_parse (
    const char *spec, GError **error);
/* Accepts NULL. */
NACLIP_API void naclip_class_colors_free (NaclipClassColors *colors);

/* The colour @label of @classes is drawn with: the colour @colors gives
 * the first of the label's names, in the order of the class list, that
 * has one (label 0: its background names), else naclip_palette_color
 * (@label). @colors may be NULL (the palette for every label); a @label
 * above the class count takes the palette. Writes R, G, B to @rgb. */
NACLIP_API void naclip_class_colors_lookup (const NaclipClassColors *colors,
    const NaclipClasses *classes, guint label, guint8 rgb[3]);

/* The names of @colors that match no label of @classes (see
 * naclip_class_colors_lookup()), in the order given, to warn about typos:
 * a NULL-terminated array (caller frees with g_strfreev()), or NULL when
 * every name matches or @colors is NULL. */
NACLIP_API char **naclip_class_colors_unmatched (
    const NaclipClassColors *colors, const NaclipClasses *classes);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NaclipClassColors, naclip_class_colors_free)

/* ------------------------------------------------------------------ */
/* Class probabilities: the label rule, smoothing over time, statistics */

/* Probabilities here are laid out as naclip_context_segment() writes them:
 * planar float [n_labels, height, width], contiguous, n_labels = classes
 * + 1 with row 0 the background; n_labels is at most NACLIP_MAX_CLASSES +
 * 1. Label maps are guint8, height rows of a stride in bytes. These calls
 * keep no pointer to the caller's buffers and are thread-safe except on
 * one NaclipSmoothing. */

/* The label rule of naclip_context_segment() for one pixel, whose n_labels
 * probabilities lie @stride floats apart from @probs on: the first label
 * of highest probability (torch.argmax's choice among equal maxima),
 * except that a NaN never wins; 0 when that probability is below
 * @threshold or no probability is a number. Returns the label. */
NACLIP_API guint naclip_probs_pick_label (
    const float *probs, guint n_labels, gsize stride, float threshold);

/* Writes the label of every pixel of @probs (naclip_probs_pick_label()
 * with @threshold) to @labels: @height rows of @labels_stride bytes, bytes
 * past @width untouched. */
NACLIP_API void naclip_probs_to_labels (const float *probs, guint n_labels,
    guint width, guint height, float threshold, guint8 *labels,
    gsize labels_stride);

/* An exponential moving average of the probabilities of successive frames
 * of one stream (the element's temporal-smoothing). Owns its average; NOT
 * thread-safe. */
typedef struct _NaclipSmoothing NaclipSmoothing;

/* A smoothing with no average yet. Free with naclip_smoothing_free(). */
NACLIP_API NaclipSmoothing *naclip_smoothing_new (void);
/* Accepts NULL. */
NACLIP_API void naclip_smoothing_free (NaclipSmoothing *smoothing);
/* Forgets the average (call it where frames stop following each other: a
 * new class list, a seek): the next update starts a new one. */
NACLIP_API void naclip_smoothing_reset (NaclipSmoothing *smoothing);
/* Adds the probabilities of the next frame: average = @weight * average +
 * (1 - @weight) * @probs, element by element, in float. The first update,
 * and one after a reset or with other sizes than the average's, starts the
 * average as a copy of @probs. @weight is the share of the past, 0..1. A
 * NaN, once in the average, stays there until a reset.
 * Returns the average (borrowed until the next call on @smoothing), to
 * pass to naclip_probs_to_labels(), or NULL with NACLIP_ERROR_NO_MEMORY
 * (the average is then forgotten). Allocates only when the size grows. */
NACLIP_API const float *naclip_smoothing_update (NaclipSmoothing *smoothing,
    const float *probs, guint n_labels, guint width, guint height, float weight,
    GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NaclipSmoothing, naclip_smoothing_free)

/* What a label map says about one label. */
typedef struct
{
  guint64 n_pixels;     /* pixels with the label */
  float coverage;       /* n_pixels / (width * height) */
  float confidence;     /* mean probability of the label over its pixels */
  guint x0, y0, x1, y1; /* bounding box, px; x1 and y1 exclusive */
} NaclipLabelStats;

/* Fills @stats[0..n_labels-1] from the label map @labels (@height rows of
 * @labels_stride bytes) and its probabilities @probs. An absent label has
 * all fields 0. A label above n_labels - 1 (never one of the library's)
 * counts as n_labels - 1. Sums in double. */
NACLIP_API void naclip_labels_compute_stats (const guint8 *labels,
    gsize labels_stride, guint width, guint height, const float *probs,
    guint n_labels, NaclipLabelStats *stats);

G_END_DECLS

#endif /* NACLIP_H */
