/* matmul-nodnnl.c: matmul-dnnl.c's stand-in in builds without oneDNN.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * meson compiles this file instead of matmul-dnnl.c when the `dnnl`
 * feature finds no oneDNN, so that matmul.c calls the same functions in
 * every build: the model's cache has no oneDNN share, a oneDNN handle is
 * refused, and the products are never asked for (matmul.c calls them on
 * oneDNN handles only). cpu.c calls the naclip_matmul_probe_dnnl_*()
 * functions only with oneDNN, so they have no stand-in.
 */

#include "config.h"

#include <string.h>

#include "naclip-private.h"

/* The stand-ins ignore their arguments. */
#pragma GCC diagnostic ignored "-Wunused-parameter"

NaclipMatmulDnnlCache *
naclip_matmul_dnnl_cache_new (const void *mapped, gsize mapped_size)
{
  return NULL;
}

void
naclip_matmul_dnnl_cache_free (NaclipMatmulDnnlCache *cache)
{
  g_assert (cache == NULL);
}

void
naclip_matmul_dnnl_cache_get_stats (
    NaclipMatmulDnnlCache *cache, NaclipMatmulCacheStats *stats)
{
  memset (stats, 0, sizeof *stats);
}

NaclipMatmulDnnl *
naclip_matmul_dnnl_new (
    NaclipMatmulDnnlCache *cache, NaclipPrecision precision, GError **error)
{
  g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_UNSUPPORTED,
      "matmul backend onednn: this build has no oneDNN");
  return NULL;
}

void
naclip_matmul_dnnl_free (NaclipMatmulDnnl *dnnl)
{
  g_assert (dnnl == NULL);
}

gboolean
naclip_matmul_dnnl_linear (NaclipMatmulDnnl *dnnl, guint threads, void *out,
    gsize ldo, NaclipDtype out_type, const void *x, gsize ldx,
    NaclipDtype x_type, const NaclipLinear *lin, gsize m, NaclipMatmulPost post)
{
  g_return_val_if_reached (FALSE);
}

gboolean
naclip_matmul_dnnl_gemm (NaclipMatmulDnnl *dnnl, guint threads,
    const NaclipGemmLayout *l, gboolean trans_b, gsize m, gsize n, gsize k,
    float alpha, const void *a, const void *b, float beta, void *c)
{
  g_return_val_if_reached (FALSE);
}

gboolean
naclip_matmul_dnnl_int8 (NaclipMatmulDnnl *dnnl, gint32 *acc, gsize ld_acc,
    const guint8 *xq, const NaclipLinear *lin, gsize m, int q_max)
{
  g_return_val_if_reached (FALSE);
}
