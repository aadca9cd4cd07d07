/* matmul-dnnl.c: the oneDNN backend of matmul.c.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Built only with oneDNN (meson feature `dnnl`; matmul-nodnnl.c stands in
 * for it otherwise). matmul.c chooses the backend and calls the
 * functions of naclip-private.h's "matmul-dnnl.c" section; every oneDNN
 * call of the products is here:
 *   - the matmul primitive in bf16 x bf16 -> f32 or bf16 (AMX or
 *     AVX512-BF16) or f32, with a gemm's alpha, the activation or the
 *     residual fused as post-ops; and u8 x s8 -> s32 for matmul-int8.c
 *     (AMX-INT8, VNNI, or 16-bit kernels below), without scales or
 *     post-ops, which keep oneDNN 2.6 on its fast kernels;
 *   - the model's share (NaclipMatmulDnnlCache, thread-safe): the engine
 *     and the weights, reordered once into the layout the primitive asks
 *     for (format_tag_any; int8 weights quantised first), the F32 pages of
 *     the mapping given back once a weight is packed;
 *   - a handle's share (NaclipMatmulDnnl, one thread): the stream, the
 *     primitives cached per shape, the scratchpad (user mode) and the
 *     staging buffers into which F32 activations are rounded to bf16
 *     before a bf16 product (BF16 ones are read in place, strided).
 * matmul.c sets the calling thread's OpenMP thread count around each call;
 * oneDNN reads it, and the bf16 rounding (ops.c) gets it as @threads.
 *
 * oneDNN's C API changed in v3 (opaque memory descriptors, primitive
 * descriptors created directly, eltwise without scale); the few calls that
 * differ go through the md_* / pd_* helpers below, selected on
 * DNNL_VERSION_MAJOR.
 */

#include "config.h"

#include <oneapi/dnnl/dnnl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "naclip-private.h"

/* ------------------------------------------------------------------ */
/* oneDNN's C API, v2 and v3                                           */

#if DNNL_VERSION_MAJOR >= 3
typedef dnnl_memory_desc_t Md; /* opaque handle, destroyed by md_clear */
#define MD_PTR(md) (md)
#define MD_NULL NULL
#else
typedef dnnl_memory_desc_t Md; /* plain struct */
#define MD_PTR(md) (&(md))
#define MD_NULL ((Md){ 0 })
#endif

static gboolean
md_init (Md *md, int ndims, const dnnl_dims_t dims, dnnl_data_type_t dt,
    const dnnl_dims_t strides)
{
#if DNNL_VERSION_MAJOR >= 3
  if (strides != NULL)
    return dnnl_memory_desc_create_with_strides (md, ndims, dims, dt, strides)
           == dnnl_success;
  return dnnl_memory_desc_create_with_tag (
             md, ndims, dims, dt, dnnl_format_tag_any)
         == dnnl_success;
#else
  if (strides != NULL)
    return dnnl_memory_desc_init_by_strides (md, ndims, dims, dt, strides)
           == dnnl_success;
  return dnnl_memory_desc_init_by_tag (md, ndims, dims, dt, dnnl_format_tag_any)
         == dnnl_success;
#endif
}

static void
md_clear (Md *md)
{
#if DNNL_VERSION_MAJOR >= 3
  if (*md != NULL)
    dnnl_memory_desc_destroy (*md);
#endif
  *md = MD_NULL;
}

/* A copy of a descriptor a primitive descriptor owns. */
static gboolean
md_copy_from_pd (Md *md, const_dnnl_primitive_desc_t pd, dnnl_query_t what)
{
#if DNNL_VERSION_MAJOR >= 3
  return dnnl_memory_desc_clone (md, dnnl_primitive_desc_query_md (pd, what, 0))
         == dnnl_success;
#else
  const dnnl_memory_desc_t *q = dnnl_primitive_desc_query_md (pd, what, 0);
  if (q == NULL)
    return FALSE;
  *md = *q;
  return TRUE;
#endif
}

static gboolean
md_equal (const Md *x, const Md *y)
{
  return dnnl_memory_desc_equal (MD_PTR (*x), MD_PTR (*y)) != 0;
}

/* A matmul primitive descriptor; @attr may be NULL. */
static dnnl_status_t
pd_create_matmul (dnnl_primitive_desc_t *pd, dnnl_engine_t engine,
    const Md *src, const Md *wei, const Md *bias, const Md *dst,
    const_dnnl_primitive_attr_t attr)
{
#if DNNL_VERSION_MAJOR >= 3
  return dnnl_matmul_primitive_desc_create (
      pd, engine, *src, *wei, bias != NULL ? *bias : NULL, *dst, attr);
#else
  dnnl_matmul_desc_t desc;
  dnnl_status_t st = dnnl_matmul_desc_init (&desc, src, wei, bias, dst);
  if (st != dnnl_success)
    return st;
  return dnnl_primitive_desc_create (pd, &desc, attr, engine, NULL);
#endif
}

static dnnl_status_t
post_ops_append_eltwise (dnnl_post_ops_t po, dnnl_alg_kind_t alg, float alpha)
{
#if DNNL_VERSION_MAJOR >= 3
  return dnnl_post_ops_append_eltwise (po, alg, alpha, 0.0f);
#else
  return dnnl_post_ops_append_eltwise (po, 1.0f, alg, alpha, 0.0f);
#endif
}

static dnnl_status_t
post_ops_append_sum (dnnl_post_ops_t po)
{
#if DNNL_VERSION_MAJOR >= 3
  return dnnl_post_ops_append_sum (po, 1.0f, 0, dnnl_data_type_undef);
#else
  return dnnl_post_ops_append_sum (po, 1.0f);
#endif
}

/* The implementation oneDNN picked, for the debug log. */
static const char *
pd_impl_name (const_dnnl_primitive_desc_t pd)
{
  const char *name = NULL;
  if (dnnl_primitive_desc_query (pd, dnnl_query_impl_info_str, 0, &name)
      != dnnl_success)
    return "?";
  return name;
}

/* TRUE if oneDNN creates a small (src_dt x wei_dt -> dst_dt) matmul with a
 * real (not reference) kernel; @what names it in the debug log. */
static gboolean
probe_matmul (dnnl_data_type_t src_dt, dnnl_data_type_t wei_dt,
    dnnl_data_type_t dst_dt, const char *what)
{
  dnnl_engine_t engine = NULL;
  dnnl_primitive_desc_t pd = NULL;
  Md src = MD_NULL, wei = MD_NULL, dst = MD_NULL;
  gboolean ok = FALSE;
  dnnl_dims_t sd = { 32, 64 }, wd = { 64, 48 }, dd = { 32, 48 };
  dnnl_dims_t ss = { 64, 1 }, ds = { 48, 1 };
  if (dnnl_engine_create (&engine, dnnl_cpu, 0) != dnnl_success)
    goto out;
  if (!md_init (&src, 2, sd, src_dt, ss) || !md_init (&wei, 2, wd, wei_dt, NULL)
      || !md_init (&dst, 2, dd, dst_dt, ds))
    goto out;
  if (pd_create_matmul (&pd, engine, &src, &wei, NULL, &dst, NULL)
      != dnnl_success)
    goto out;
  ok = strncmp (pd_impl_name (pd), "ref", 3) != 0;
  g_debug ("oneDNN %s matmul: %s", what, pd_impl_name (pd));
out:
  if (pd != NULL)
    dnnl_primitive_desc_destroy (pd);
  md_clear (&src);
  md_clear (&wei);
  md_clear (&dst);
  if (engine != NULL)
    dnnl_engine_destroy (engine);
  return ok;
}

gboolean
naclip_matmul_probe_dnnl_bf16 (void)
{
  return probe_matmul (dnnl_bf16, dnnl_bf16, dnnl_f32, "bf16");
}

gboolean
naclip_matmul_probe_dnnl_int8 (void)
{
  return probe_matmul (dnnl_u8, dnnl_s8, dnnl_s32, "int8");
}

/* ------------------------------------------------------------------ */
/* The model's share: engine and packed weights                        */

/* One packed copy of a weight, in the layout @md. */
typedef struct _Packed Packed;
struct _Packed
{
  Md md;
  void *data; /* g_malloc'd, 64-byte aligned view */
  void *alloc;
  gsize size;
  Packed *next; /* other layouts of the same weight */
};

struct _NaclipMatmulDnnlCache
{
  GMutex lock;
  const guint8 *mapped;
  gsize mapped_size;
  GHashTable *packed; /* const float *weight -> Packed * (list) */
  NaclipMatmulCacheStats stats;
  dnnl_engine_t engine; /* NULL until the first handle */
};

static void
packed_free (gpointer p)
{
  Packed *pk = p;
  while (pk != NULL) {
    Packed *next = pk->next;
    md_clear (&pk->md);
    g_free (pk->alloc);
    g_free (pk);
    pk = next;
  }
}

NaclipMatmulDnnlCache *
naclip_matmul_dnnl_cache_new (const void *mapped, gsize mapped_size)
{
  NaclipMatmulDnnlCache *cache = g_new0 (NaclipMatmulDnnlCache, 1);
  g_mutex_init (&cache->lock);
  cache->mapped = mapped;
  cache->mapped_size = mapped != NULL ? mapped_size : 0;
  cache->packed = g_hash_table_new_full (NULL, NULL, NULL, packed_free);
  /* The engine is created lazily by the first oneDNN handle. */
  return cache;
}

void
naclip_matmul_dnnl_cache_free (NaclipMatmulDnnlCache *cache)
{
  if (cache == NULL)
    return;
  g_hash_table_destroy (cache->packed);
  if (cache->engine != NULL)
    dnnl_engine_destroy (cache->engine);
  g_mutex_clear (&cache->lock);
  g_free (cache);
}

void
naclip_matmul_dnnl_cache_get_stats (
    NaclipMatmulDnnlCache *cache, NaclipMatmulCacheStats *stats)
{
  g_mutex_lock (&cache->lock);
  *stats = cache->stats;
  g_mutex_unlock (&cache->lock);
}

/* ------------------------------------------------------------------ */
/* A handle's share: stream, primitives, staging, scratchpad           */

/* A primitive of a handle, cached by its shape. */
typedef struct
{
  guint kind; /* 0 linear, 1 gemm */
  NaclipPrecision precision;
  NaclipMatmulPost post;
  gboolean has_bias, trans_b;
  NaclipDtype dst_type;
  gsize m, n, k;
  gsize n_outer, n_inner;
  gsize ld_src, outer_src, inner_src;
  gsize ld_wei, outer_wei, inner_wei; /* gemm only (linear: packed) */
  gsize ld_dst, outer_dst, inner_dst;
  float alpha, beta;
} PrimKey;

typedef struct
{
  dnnl_primitive_t prim;
  Md wei_md; /* linear: the packed layout the primitive wants */
  dnnl_memory_t src, wei, bias, dst, scratch;
  gsize scratch_size;
} Prim;

static guint
prim_key_hash (gconstpointer p)
{
  const guint8 *b = p;
  guint32 h = 2166136261u;
  for (gsize i = 0; i < sizeof (PrimKey); i++)
    h = (h ^ b[i]) * 16777619u;
  return h;
}

static gboolean
prim_key_equal (gconstpointer x, gconstpointer y)
{
  return memcmp (x, y, sizeof (PrimKey)) == 0;
}

static void
prim_free (gpointer p)
{
  Prim *pr = p;
  if (pr->prim != NULL)
    dnnl_primitive_destroy (pr->prim);
  dnnl_memory_t mems[] = { pr->src, pr->wei, pr->bias, pr->dst, pr->scratch };
  for (gsize i = 0; i < G_N_ELEMENTS (mems); i++) {
    if (mems[i] != NULL)
      dnnl_memory_destroy (mems[i]);
  }
  md_clear (&pr->wei_md);
  g_free (pr);
}

struct _NaclipMatmulDnnl
{
  NaclipMatmulDnnlCache *cache;
  NaclipPrecision precision; /* FP32 or BF16 */
  dnnl_stream_t stream;
  GHashTable *prims;                /* PrimKey * -> Prim * */
  guint16 *stage_a, *stage_b;       /* bf16 staging of the activations */
  gsize stage_a_size, stage_b_size; /* elements */
  void *scratch;
  gsize scratch_size;
};

NaclipMatmulDnnl *
naclip_matmul_dnnl_new (
    NaclipMatmulDnnlCache *cache, NaclipPrecision precision, GError **error)
{
  NaclipMatmulDnnl *dnnl = g_new0 (NaclipMatmulDnnl, 1);
  dnnl->cache = cache;
  dnnl->precision = precision;
  g_mutex_lock (&cache->lock);
  dnnl_status_t st = dnnl_success;
  if (cache->engine == NULL)
    st = dnnl_engine_create (&cache->engine, dnnl_cpu, 0);
  g_mutex_unlock (&cache->lock);
  if (st == dnnl_success)
    st = dnnl_stream_create (
        &dnnl->stream, cache->engine, dnnl_stream_default_flags);
  if (st != dnnl_success) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_UNSUPPORTED,
        "oneDNN: cannot create a CPU engine and stream (status %d)", st);
    naclip_matmul_dnnl_free (dnnl);
    return NULL;
  }
  dnnl->prims = g_hash_table_new_full (
      prim_key_hash, prim_key_equal, g_free, prim_free);
  return dnnl;
}

void
naclip_matmul_dnnl_free (NaclipMatmulDnnl *dnnl)
{
  if (dnnl == NULL)
    return;
  if (dnnl->prims != NULL)
    g_hash_table_destroy (dnnl->prims);
  if (dnnl->stream != NULL)
    dnnl_stream_destroy (dnnl->stream);
  g_free (dnnl->stage_a);
  g_free (dnnl->stage_b);
  g_free (dnnl->scratch);
  g_free (dnnl);
}

/* ------------------------------------------------------------------ */
/* Execution                                                           */

/* Gives back the whole pages of [p, p + size) that lie in the mapping. */
static gsize
release_mapped (NaclipMatmulDnnlCache *cache, const void *p, gsize size)
{
  const guint8 *b = p, *e = b + size;
  if (cache->mapped == NULL || b < cache->mapped
      || e > cache->mapped + cache->mapped_size)
    return 0;
  gsize page = (gsize)sysconf (_SC_PAGESIZE);
  guintptr lo = ((guintptr)b + page - 1) & ~(guintptr)(page - 1);
  guintptr hi = (guintptr)e & ~(guintptr)(page - 1);
  if (hi <= lo)
    return 0;
  /* A read-only file mapping: the pages are re-read from the file if
   * anything touches them again, so this only drops residency. */
  if (madvise ((void *)lo, hi - lo, MADV_DONTNEED) != 0)
    return 0;
  return hi - lo;
}

/* The packed copy of lin->weight in layout @md, made on first use: from
 * the f32 weight itself when @q_max is 0, else from the weight quantised to
 * s8 in [-q_max, q_max] (naclip_matmul_int8_quantize_weight). */
static Packed *
get_packed (
    NaclipMatmulDnnl *dnnl, const NaclipLinear *lin, const Md *md, int q_max)
{
  NaclipMatmulDnnlCache *cache = dnnl->cache;
  Packed *found = NULL, *pk = NULL;
  dnnl_primitive_desc_t rpd = NULL;
  dnnl_primitive_t reorder = NULL;
  dnnl_memory_t from = NULL, to = NULL;
  Md user = MD_NULL;
  gint8 *quantized = NULL;
  const void *source = lin->weight;

  g_mutex_lock (&cache->lock);
  Packed *head = g_hash_table_lookup (cache->packed, lin->weight);
  for (Packed *p = head; p != NULL; p = p->next) {
    if (md_equal (&p->md, md)) {
      found = p;
      cache->stats.n_hits++;
      goto out;
    }
  }
  /* weights (k, n) are the PyTorch (n, k) row-major matrix: strides 1, k */
  dnnl_dims_t dims = { lin->n_in, lin->n_out };
  dnnl_dims_t strides = { 1, lin->n_in };
  if (q_max > 0) {
    quantized = g_try_malloc ((gsize)lin->n_out * lin->n_in);
    if (quantized == NULL)
      goto out;
    naclip_matmul_int8_quantize_weight (lin, q_max, quantized, NULL, NULL);
    source = quantized;
  }
  if (!md_init (&user, 2, dims, q_max > 0 ? dnnl_s8 : dnnl_f32, strides))
    goto out;
  pk = g_new0 (Packed, 1);
  pk->size = dnnl_memory_desc_get_size (MD_PTR (*md));
  pk->alloc = g_try_malloc (pk->size + 64);
  if (pk->alloc == NULL)
    goto out;
  pk->data = (void *)(((guintptr)pk->alloc + 63) & ~(guintptr)63);
  if (dnnl_memory_create (&from, MD_PTR (user), cache->engine, (void *)source)
          != dnnl_success
      || dnnl_memory_create (&to, MD_PTR (*md), cache->engine, pk->data)
             != dnnl_success
      || dnnl_reorder_primitive_desc_create (&rpd, MD_PTR (user), cache->engine,
             MD_PTR (*md), cache->engine, NULL)
             != dnnl_success
      || dnnl_primitive_create (&reorder, rpd) != dnnl_success)
    goto out;
  dnnl_exec_arg_t args[] = { { DNNL_ARG_FROM, from }, { DNNL_ARG_TO, to } };
  if (dnnl_primitive_execute (reorder, dnnl->stream, 2, args) != dnnl_success
      || dnnl_stream_wait (dnnl->stream) != dnnl_success)
    goto out;
#if DNNL_VERSION_MAJOR >= 3
  if (dnnl_memory_desc_clone (&pk->md, *md) != dnnl_success)
    goto out;
#else
  pk->md = *md;
#endif
  pk->next = head;
  g_hash_table_steal (cache->packed, lin->weight);
  g_hash_table_insert (cache->packed, (gpointer)lin->weight, pk);
  found = pk;
  pk = NULL;
  cache->stats.n_packed++;
  cache->stats.packed_bytes += found->size;
  /* The packed copy replaces the F32 weight for every oneDNN handle. */
  cache->stats.released_bytes += release_mapped (
      cache, lin->weight, (gsize)lin->n_out * lin->n_in * sizeof (float));
out:
  g_mutex_unlock (&cache->lock);
  if (reorder != NULL)
    dnnl_primitive_destroy (reorder);
  if (rpd != NULL)
    dnnl_primitive_desc_destroy (rpd);
  if (from != NULL)
    dnnl_memory_destroy (from);
  if (to != NULL)
    dnnl_memory_destroy (to);
  md_clear (&user);
  g_free (quantized);
  if (pk != NULL) {
    g_free (pk->alloc);
    g_free (pk);
  }
  return found;
}

/* Creates the primitive of @key (src and weights in the precision's type,
 * dst of key->dst_type; in INT8, src u8, weights s8 and dst s32; dims and
 * strides as given, @wei_strides NULL for a packed weight (format any))
 * with memory objects bound to no data yet. */
static Prim *
create_prim (NaclipMatmulDnnl *dnnl, const PrimKey *key, int ndims,
    const dnnl_dims_t src_dims, const dnnl_dims_t src_strides,
    const dnnl_dims_t wei_dims, const dnnl_dims_t wei_strides,
    const dnnl_dims_t dst_dims, const dnnl_dims_t dst_strides)
{
  gboolean int8 = key->precision == NACLIP_PRECISION_INT8;
  dnnl_data_type_t in_dt
      = key->precision == NACLIP_PRECISION_BF16 ? dnnl_bf16 : dnnl_f32;
  dnnl_data_type_t out_dt
      = key->dst_type == NACLIP_DTYPE_BF16 ? dnnl_bf16 : dnnl_f32;
  dnnl_data_type_t src_dt = int8 ? dnnl_u8 : in_dt;
  dnnl_data_type_t wei_dt = int8 ? dnnl_s8 : in_dt;
  dnnl_data_type_t dst_dt = int8 ? dnnl_s32 : out_dt;
  Md src = MD_NULL, wei = MD_NULL, bias = MD_NULL, dst = MD_NULL, scr = MD_NULL;
  dnnl_primitive_attr_t attr = NULL;
  dnnl_post_ops_t po = NULL;
  dnnl_primitive_desc_t pd = NULL;
  Prim *pr = g_new0 (Prim, 1);
  gboolean ok = FALSE;
  dnnl_engine_t engine = dnnl->cache->engine;

  if (!md_init (&src, ndims, src_dims, src_dt, src_strides)
      || !md_init (&wei, ndims, wei_dims, wei_dt, wei_strides)
      || !md_init (&dst, ndims, dst_dims, dst_dt, dst_strides))
    goto out;
  if (key->has_bias) {
    dnnl_dims_t bd = { 1, key->n }, bs = { key->n, 1 };
    if (!md_init (&bias, 2, bd, dnnl_f32, bs))
      goto out;
  }
  if (dnnl_primitive_attr_create (&attr) != dnnl_success
      || dnnl_primitive_attr_set_scratchpad_mode (
             attr, dnnl_scratchpad_mode_user)
             != dnnl_success
      || dnnl_post_ops_create (&po) != dnnl_success)
    goto out;
  /* alpha first: c = alpha * product (+ c) */
  if (key->alpha != 1.0f
      && post_ops_append_eltwise (po, dnnl_eltwise_linear, key->alpha)
             != dnnl_success)
    goto out;
  if (key->post == NACLIP_MATMUL_POST_ACCUMULATE || key->beta != 0.0f) {
    if (post_ops_append_sum (po) != dnnl_success)
      goto out;
  } else if (key->post == NACLIP_MATMUL_POST_QUICK_GELU) {
    /* x * sigmoid(1.702 x) is oneDNN's swish with alpha 1.702 */
    if (post_ops_append_eltwise (po, dnnl_eltwise_swish, 1.702f)
        != dnnl_success)
      goto out;
  } else if (key->post == NACLIP_MATMUL_POST_GELU) {
    if (post_ops_append_eltwise (po, dnnl_eltwise_gelu_erf, 0.0f)
        != dnnl_success)
      goto out;
  }
  if (dnnl_primitive_attr_set_post_ops (attr, po) != dnnl_success)
    goto out;
  dnnl_status_t st = pd_create_matmul (
      &pd, engine, &src, &wei, key->has_bias ? &bias : NULL, &dst, attr);
  if (st != dnnl_success) {
    g_debug ("oneDNN matmul %zux%zux%zu: no implementation (status %d)", key->m,
        key->n, key->k, st);
    goto out;
  }
  g_debug ("oneDNN matmul %s -> %s %zux%zux%zu batch %zux%zu: %s",
      naclip_precision_to_string (key->precision),
      int8 ? "s32" : (out_dt == dnnl_bf16 ? "bf16" : "f32"), key->m, key->n,
      key->k, key->n_outer, key->n_inner, pd_impl_name (pd));
  if (!md_copy_from_pd (&pr->wei_md, pd, dnnl_query_weights_md)
      || !md_copy_from_pd (&scr, pd, dnnl_query_scratchpad_md))
    goto out;
  pr->scratch_size = dnnl_memory_desc_get_size (MD_PTR (scr));
  if (dnnl_primitive_create (&pr->prim, pd) != dnnl_success)
    goto out;
  if (dnnl_memory_create (&pr->src, MD_PTR (src), engine, DNNL_MEMORY_NONE)
          != dnnl_success
      || dnnl_memory_create (
             &pr->wei, MD_PTR (pr->wei_md), engine, DNNL_MEMORY_NONE)
             != dnnl_success
      || dnnl_memory_create (&pr->dst, MD_PTR (dst), engine, DNNL_MEMORY_NONE)
             != dnnl_success
      || dnnl_memory_create (
             &pr->scratch, MD_PTR (scr), engine, DNNL_MEMORY_NONE)
             != dnnl_success)
    goto out;
  if (key->has_bias
      && dnnl_memory_create (&pr->bias, MD_PTR (bias), engine, DNNL_MEMORY_NONE)
             != dnnl_success)
    goto out;
  ok = TRUE;
out:
  if (pd != NULL)
    dnnl_primitive_desc_destroy (pd);
  if (po != NULL)
    dnnl_post_ops_destroy (po);
  if (attr != NULL)
    dnnl_primitive_attr_destroy (attr);
  md_clear (&src);
  md_clear (&wei);
  md_clear (&bias);
  md_clear (&dst);
  md_clear (&scr);
  if (!ok) {
    prim_free (pr);
    pr = NULL;
  }
  return pr;
}

static gboolean
run_prim (NaclipMatmulDnnl *dnnl, Prim *pr, const void *src, const void *wei,
    const float *bias, void *dst)
{
  if (!naclip_buffer_grow (
          &dnnl->scratch, &dnnl->scratch_size, pr->scratch_size, 1))
    return FALSE;
  dnnl_memory_set_data_handle (pr->src, (void *)src);
  dnnl_memory_set_data_handle (pr->wei, (void *)wei);
  dnnl_memory_set_data_handle (pr->dst, dst);
  dnnl_memory_set_data_handle (pr->scratch, dnnl->scratch);
  dnnl_exec_arg_t args[5] = {
    { DNNL_ARG_SRC, pr->src },
    { DNNL_ARG_WEIGHTS, pr->wei },
    { DNNL_ARG_DST, pr->dst },
    { DNNL_ARG_SCRATCHPAD, pr->scratch },
  };
  int n_args = 4;
  if (pr->bias != NULL) {
    dnnl_memory_set_data_handle (pr->bias, (void *)bias);
    args[n_args++] = (dnnl_exec_arg_t){ DNNL_ARG_BIAS, pr->bias };
  }
  return dnnl_primitive_execute (pr->prim, dnnl->stream, n_args, args)
             == dnnl_success
         && dnnl_stream_wait (dnnl->stream) == dnnl_success;
}

static Prim *
lookup_prim (NaclipMatmulDnnl *dnnl, const PrimKey *key)
{
  return g_hash_table_lookup (dnnl->prims, key);
}

static void
insert_prim (NaclipMatmulDnnl *dnnl, const PrimKey *key, Prim *pr)
{
  g_hash_table_insert (dnnl->prims, g_memdup2 (key, sizeof (PrimKey)), pr);
}

/* The primitive of the linear layer @key describes (key->m rows of key->k
 * values, row strides key->ld_src and key->ld_dst, to key->n columns;
 * packed weights), created on first use. */
static Prim *
get_linear_prim (NaclipMatmulDnnl *dnnl, const PrimKey *key)
{
  Prim *pr = lookup_prim (dnnl, key);
  if (pr != NULL)
    return pr;
  dnnl_dims_t sd = { key->m, key->k }, ss = { key->ld_src, 1 };
  dnnl_dims_t wd = { key->k, key->n };
  dnnl_dims_t dd = { key->m, key->n }, ds = { key->ld_dst, 1 };
  pr = create_prim (dnnl, key, 2, sd, ss, wd, NULL, dd, ds);
  if (pr != NULL)
    insert_prim (dnnl, key, pr);
  return pr;
}

/* The bf16 staging buffer *@stage (of *@size elements) grown to @n
 * elements; FALSE if that fails. */
static gboolean
grow_stage (guint16 **stage, gsize *size, gsize n)
{
  return naclip_buffer_grow ((gpointer *)stage, size, n, sizeof (guint16));
}

gboolean
naclip_matmul_dnnl_linear (NaclipMatmulDnnl *dnnl, guint threads, void *out,
    gsize ldo, NaclipDtype out_type, const void *x, gsize ldx,
    NaclipDtype x_type, const NaclipLinear *lin, gsize m, NaclipMatmulPost post)
{
  /* bf16: an F32 x is rounded into stage_a (m, n_in) first */
  gboolean stage
      = dnnl->precision == NACLIP_PRECISION_BF16 && x_type == NACLIP_DTYPE_F32;
  PrimKey key;
  memset (&key, 0, sizeof key);
  key.kind = 0;
  key.precision = dnnl->precision;
  key.post = post;
  key.has_bias = lin->bias != NULL;
  key.dst_type = out_type;
  key.m = m;
  key.n = lin->n_out;
  key.k = lin->n_in;
  key.n_outer = key.n_inner = 1;
  key.ld_src = stage ? lin->n_in : ldx;
  key.ld_dst = ldo;
  key.alpha = 1.0f;
  Prim *pr = get_linear_prim (dnnl, &key);
  if (pr == NULL)
    return FALSE;
  Packed *pk = get_packed (dnnl, lin, &pr->wei_md, 0);
  if (pk == NULL)
    return FALSE;
  const void *src = x;
  if (stage) {
    if (!grow_stage (&dnnl->stage_a, &dnnl->stage_a_size, m * lin->n_in))
      return FALSE;
    naclip_ops_to_bf16 (
        dnnl->stage_a, lin->n_in, x, ldx, m, lin->n_in, threads);
    src = dnnl->stage_a;
  }
  return run_prim (dnnl, pr, src, pk->data, lin->bias, out);
}

/* The stride oneDNN gets for a batch dimension of @count matrices:
 * @stride, or when that does not matter (one matrix, or a contiguous
 * staging copy: @stride 0) @dense, the extent of what the dimensions
 * inside it span. oneDNN's fast kernels refuse a stride of 0, and a
 * stride inside that extent. */
static gsize
batch_stride (gsize count, gsize stride, gsize dense)
{
  return count > 1 && stride != 0 ? stride : dense;
}

gboolean
naclip_matmul_dnnl_gemm (NaclipMatmulDnnl *dnnl, guint threads,
    const NaclipGemmLayout *l, gboolean trans_b, gsize m, gsize n, gsize k,
    float alpha, const void *a, const void *b, float beta, void *c)
{
  /* bf16: BF16 operands are read in place with their strides; an F32 A or
   * B is rounded into a contiguous (n_outer, n_inner, m, k) or
   * (n_outer, n_inner, k, n) (its ^T when trans_b) staging copy. */
  gboolean stage_a = l->type_a == NACLIP_DTYPE_F32;
  gboolean stage_b = l->type_b == NACLIP_DTYPE_F32;
  gsize b_rows = trans_b ? n : k, b_cols = trans_b ? k : n;
  PrimKey key;
  memset (&key, 0, sizeof key);
  key.kind = 1;
  key.precision = dnnl->precision;
  key.trans_b = trans_b;
  key.dst_type = l->type_c;
  key.m = m;
  key.n = n;
  key.k = k;
  key.n_outer = l->n_outer;
  key.n_inner = l->n_inner;
  key.ld_src = stage_a ? k : l->lda;
  key.inner_src = batch_stride (l->n_inner, stage_a ? 0 : l->inner_a, m * k);
  key.outer_src = batch_stride (l->n_outer, stage_a ? 0 : l->outer_a,
      MAX (l->n_inner * key.inner_src, m * key.ld_src));
  key.ld_wei = stage_b ? b_cols : l->ldb;
  key.inner_wei = batch_stride (l->n_inner, stage_b ? 0 : l->inner_b, n * k);
  key.outer_wei = batch_stride (l->n_outer, stage_b ? 0 : l->outer_b,
      MAX (l->n_inner * key.inner_wei, b_rows * key.ld_wei));
  key.ld_dst = l->ldc;
  key.inner_dst = batch_stride (l->n_inner, l->inner_c, m * l->ldc);
  key.outer_dst = batch_stride (
      l->n_outer, l->outer_c, MAX (l->n_inner * key.inner_dst, m * l->ldc));
  key.alpha = alpha;
  key.beta = beta;
  gsize n_batch = l->n_outer * l->n_inner;
  Prim *pr = lookup_prim (dnnl, &key);
  if (pr == NULL) {
    dnnl_dims_t sd = { l->n_outer, l->n_inner, m, k };
    dnnl_dims_t ss = { key.outer_src, key.inner_src, key.ld_src, 1 };
    dnnl_dims_t wd = { l->n_outer, l->n_inner, k, n };
    /* op(B) (k, n): B^T has row stride 1 and column stride ld */
    dnnl_dims_t ws_t = { key.outer_wei, key.inner_wei, 1, key.ld_wei };
    dnnl_dims_t ws_n = { key.outer_wei, key.inner_wei, key.ld_wei, 1 };
    dnnl_dims_t dd = { l->n_outer, l->n_inner, m, n };
    dnnl_dims_t ds = { key.outer_dst, key.inner_dst, l->ldc, 1 };
    pr = create_prim (dnnl, &key, 4, sd, ss, wd, trans_b ? ws_t : ws_n, dd, ds);
    if (pr == NULL)
      return FALSE;
    insert_prim (dnnl, &key, pr);
  }
  if ((stage_a
          && !grow_stage (&dnnl->stage_a, &dnnl->stage_a_size, n_batch * m * k))
      || (stage_b
          && !grow_stage (
              &dnnl->stage_b, &dnnl->stage_b_size, n_batch * n * k)))
    return FALSE;
  for (gsize t = 0; t < n_batch && (stage_a || stage_b); t++) {
    gsize bo = t / l->n_inner, bi = t % l->n_inner;
    if (stage_a)
      naclip_ops_to_bf16 (dnnl->stage_a + t * m * k, k,
          (const float *)a + bo * l->outer_a + bi * l->inner_a, l->lda, m, k,
          threads);
    if (stage_b)
      naclip_ops_to_bf16 (dnnl->stage_b + t * n * k, b_cols,
          (const float *)b + bo * l->outer_b + bi * l->inner_b, l->ldb, b_rows,
          b_cols, threads);
  }
  return run_prim (dnnl, pr, stage_a ? dnnl->stage_a : a,
      stage_b ? dnnl->stage_b : b, NULL, c);
}

gboolean
naclip_matmul_dnnl_int8 (NaclipMatmulDnnl *dnnl, gint32 *acc, gsize ld_acc,
    const guint8 *xq, const NaclipLinear *lin, gsize m, int q_max)
{
  /* xq: (m, n_in) u8, contiguous; acc: (m, n_out) s32, row stride ld_acc */
  PrimKey key;
  memset (&key, 0, sizeof key);
  key.kind = 0;
  key.precision = NACLIP_PRECISION_INT8;
  key.post = NACLIP_MATMUL_POST_NONE;
  key.m = m;
  key.n = lin->n_out;
  key.k = lin->n_in;
  key.n_outer = key.n_inner = 1;
  key.ld_src = lin->n_in;
  key.ld_dst = ld_acc;
  key.alpha = 1.0f;
  Prim *pr = get_linear_prim (dnnl, &key);
  if (pr == NULL)
    return FALSE;
  Packed *pk = get_packed (dnnl, lin, &pr->wei_md, q_max);
  if (pk == NULL)
    return FALSE;
  return run_prim (dnnl, pr, xq, pk->data, NULL, acc);
}
