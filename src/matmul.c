/* matmul.c: the backend seam for matrix products.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Every matrix product of the library goes through here, so that a backend
 * (OpenBLAS fp32 now; oneDNN bf16/f32 where built) can be chosen in one
 * place. Weights are PyTorch Linear [out, in] row-major, used in place
 * (CblasTrans on the weight).
 */

#include "config.h"

#include <cblas.h>
#include <string.h>

#include "naclip-private.h"

void
naclip_matmul_linear (float *out, gsize ldo, const float *x, gsize ldx,
    const NaclipLinear *lin, gsize m)
{
  /* x: (m, n_in); weight: (n_out, n_in); out: (m, n_out) */
  if (lin->bias != NULL) {
    for (gsize i = 0; i < m; i++)
      memcpy (out + i * ldo, lin->bias, lin->n_out * sizeof (float));
  }
  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)m,
      (blasint)lin->n_out, (blasint)lin->n_in, 1.0f, x, (blasint)ldx,
      lin->weight, (blasint)lin->n_in, lin->bias != NULL ? 1.0f : 0.0f, out,
      (blasint)ldo);
}

void
naclip_matmul_sgemm (gboolean trans_b, gsize m, gsize n, gsize k, float alpha,
    const float *a, gsize lda, const float *b, gsize ldb, float beta, float *c,
    gsize ldc)
{
  cblas_sgemm (CblasRowMajor, CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
      (blasint)m, (blasint)n, (blasint)k, alpha, a, (blasint)lda, b,
      (blasint)ldb, beta, c, (blasint)ldc);
}
