/* pamr.c: pixel-adaptive mask refinement (PAMR).
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The authors' pamr.py (tests/reference/naclip_ref.py pamr(); from
 * Araslanov and Roth,
 * "Single-Stage Semantic Segmentation from Image Labels", CVPR 2020:
 * LocalAffinityAbs, LocalAffinityCopy, LocalStDev, PAMR.forward).
 *
 * Neighbourhood: for each dilation d (in the order given), the 8 offsets
 * (dy, dx) * d with (dy, dx) in (-1,-1) (-1,0) (-1,1) (0,-1) (0,1) (1,-1)
 * (1,0) (1,1), i.e. the 3x3 kernel without its centre, read with replicate
 * padding (coordinates clamped to the image, which is what F.pad
 * "replicate" followed by a dilated convolution reads). K = 8 * n_dil
 * neighbours per pixel.
 *
 * Affinity, computed once from the image (3, H, W):
 *   std_c   = unbiased std of the 9 * n_dil samples of channel c (the
 *             3x3 window of every dilation, centre included once per
 *             dilation), accumulated in double like PyTorch's CPU std;
 *   a_c,k   = -|x_c(p) - x_c(p + o_k)| / (1e-8 + 0.1 * std_c);
 *   a_k     = (a_0,k + a_1,k + a_2,k) / 3;  aff_k = softmax over k of a_k.
 * Each of the `steps` iterations, for every mask channel:
 *   mask'(p) = sum_k aff_k(p) * mask(p + o_k)   (the centre is not a term).
 *
 * Work memory: aff (K, H, W) then a second mask (C, H, W); iterations
 * ping-pong between the caller's mask and the second one. One iteration is
 * one pass over the rows: for a row, the K affinity rows stay in cache while
 * every channel is updated, so the affinity is read once per iteration.
 * Rows are split among threads (OpenMP).
 */

#include "config.h"

#include <math.h>
#include <string.h>

#include "naclip-private.h"

/* Offsets of the 8 neighbours of the 3x3 kernel, in pamr.py's order. */
static const int neighbour_dy[8] = { -1, -1, -1, 0, 0, 1, 1, 1 };
static const int neighbour_dx[8] = { -1, 0, 1, -1, 1, -1, 0, 1 };

#define MAX_NEIGHBOURS (8 * NACLIP_MAX_PAMR_DILATIONS)

/* Four floats (one SSE register on the x86-64 baseline): the column sums
 * of propagate_row() are written on these because GCC does not vectorise
 * a loop over columns whose body loops over neighbours. */
typedef float vec4 __attribute__ ((vector_size (16)));

gsize
naclip_pamr_work_size (
    guint n_channels, guint height, guint width, guint n_dilations)
{
  gsize plane, n;

  if (!g_size_checked_mul (&plane, height, width))
    return 0;
  if (!g_size_checked_mul (&n, plane, (gsize)8 * n_dilations + n_channels))
    return 0;
  return n;
}

static inline guint
clamp_coord (gint64 v, guint size)
{
  return v < 0 ? 0 : (v >= (gint64)size ? size - 1 : (guint)v);
}

/* aff (K, height, width) <- the softmax-normalised affinities of row y. */
static void
compute_affinity_row (const float *image, guint height, guint width,
    const guint *dilations, guint n_dilations, guint y, float *aff)
{
  gsize plane = (gsize)height * width;
  guint n_neigh = 8 * n_dilations;
  guint n_samples = 9 * n_dilations;

  for (guint x = 0; x < width; x++) {
    float a[MAX_NEIGHBOURS];
    float sum_c[MAX_NEIGHBOURS];
    gsize offset[MAX_NEIGHBOURS]; /* of each neighbour within a plane */
    float max_a, total;

    for (guint i = 0; i < n_dilations; i++) {
      gint64 d = dilations[i];
      for (guint k = 0; k < 8; k++) {
        guint yy = clamp_coord ((gint64)y + neighbour_dy[k] * d, height);
        guint xx = clamp_coord ((gint64)x + neighbour_dx[k] * d, width);
        offset[i * 8 + k] = (gsize)yy * width + xx;
      }
    }
    for (guint c = 0; c < 3; c++) {
      const float *img = image + c * plane;
      float centre = img[(gsize)y * width + x];
      float diff[MAX_NEIGHBOURS];
      double mean = n_dilations * (double)centre, ss = 0.0;
      float denom;

      for (guint k = 0; k < n_neigh; k++) {
        diff[k] = img[offset[k]];
        mean += diff[k];
      }
      mean /= n_samples;
      for (guint k = 0; k < n_neigh; k++) {
        double dv = diff[k] - mean;
        ss += dv * dv;
      }
      ss += n_dilations * ((centre - mean) * (centre - mean));
      denom = 1e-8f + 0.1f * (float)sqrt (ss / (n_samples - 1));
      for (guint k = 0; k < n_neigh; k++) {
        float v = -fabsf (centre - diff[k]) / denom;
        sum_c[k] = c == 0 ? v : sum_c[k] + v;
      }
    }
    max_a = -INFINITY;
    for (guint k = 0; k < n_neigh; k++) {
      a[k] = sum_c[k] / 3.0f;
      max_a = MAX (max_a, a[k]);
    }
    total = 0.0f;
    for (guint k = 0; k < n_neigh; k++) {
      a[k] = expf (a[k] - max_a);
      total += a[k];
    }
    for (guint k = 0; k < n_neigh; k++)
      aff[k * plane + (gsize)y * width + x] = a[k] / total;
  }
}

/* dst row y of every channel <- sum_k aff_k * src(neighbour k), the terms
 * added in neighbour order k = 0..K-1 from 0.
 * src, dst: (n_channels, height, width); aff: (K, height, width).
 * Columns whose neighbours all lie inside the row (x in [lo, hi)) take
 * the sum in a register per column, K products from K affinity rows and
 * K shifted source rows: two loads per multiply-add and one store per
 * output, where accumulating row by row costs three loads and a store
 * per multiply-add. The few columns within the largest dilation of an
 * edge clamp each column. */
static void
propagate_row (const float *src, float *dst, const float *aff, guint n_channels,
    guint height, guint width, const guint *dilations, guint n_dilations,
    guint y)
{
  gsize plane = (gsize)height * width;
  guint n_neigh = 8 * n_dilations, margin = 0;
  gsize row_off[MAX_NEIGHBOURS];
  gint64 shift[MAX_NEIGHBOURS];
  const float *a[MAX_NEIGHBOURS];
  const float *sp[MAX_NEIGHBOURS];

  for (guint i = 0; i < n_dilations; i++) {
    guint d = dilations[i];
    margin = MAX (margin, d);
    for (guint k = 0; k < 8; k++) {
      guint j = i * 8 + k;
      guint yy = clamp_coord ((gint64)y + neighbour_dy[k] * (gint64)d, height);
      row_off[j] = (gsize)yy * width;
      shift[j] = neighbour_dx[k] * (gint64)d;
      a[j] = aff + j * plane + (gsize)y * width;
    }
  }
  /* without an interior, every column is an edge column */
  guint lo = width > 2 * margin ? margin : width;
  guint hi = width > 2 * margin ? width - margin : width;

  for (guint c = 0; c < n_channels; c++) {
    const float *sc = src + c * plane;
    float *o = dst + c * plane + (gsize)y * width;
    for (guint x = 0; x < width; x++) {
      if (x == lo)
        x = hi;
      if (x == width)
        break;
      float acc = 0.0f;
      for (guint k = 0; k < n_neigh; k++)
        acc += a[k][x]
               * sc[row_off[k] + clamp_coord ((gint64)x + shift[k], width)];
      o[x] = acc;
    }
    if (hi == lo)
      continue;
    for (guint k = 0; k < n_neigh; k++)
      sp[k] = sc + row_off[k] + shift[k];
    guint x = lo;
    for (; x + 8 <= hi; x += 8) {
      vec4 acc0 = { 0 }, acc1 = { 0 };
      for (guint k = 0; k < n_neigh; k++) {
        vec4 a0, a1, s0, s1;
        memcpy (&a0, a[k] + x, sizeof (vec4));
        memcpy (&a1, a[k] + x + 4, sizeof (vec4));
        memcpy (&s0, sp[k] + x, sizeof (vec4));
        memcpy (&s1, sp[k] + x + 4, sizeof (vec4));
        acc0 += a0 * s0;
        acc1 += a1 * s1;
      }
      memcpy (o + x, &acc0, sizeof (vec4));
      memcpy (o + x + 4, &acc1, sizeof (vec4));
    }
    for (; x < hi; x++) {
      float acc = 0.0f;
      for (guint k = 0; k < n_neigh; k++)
        acc += a[k][x] * sp[k][x];
      o[x] = acc;
    }
  }
}

gboolean
naclip_pamr (const float *image, float *mask, guint n_channels, guint height,
    guint width, guint steps, const guint *dilations, guint n_dilations,
    guint n_threads, float *work, const gint *cancel)
{
  gsize plane = (gsize)height * width;
  float *aff = work;
  float *other = work + (gsize)8 * n_dilations * plane;
  float *src = mask, *dst = other;
  gboolean parallel_affinity, parallel_steps;

  g_return_val_if_fail (image != NULL && mask != NULL && work != NULL, FALSE);
  g_return_val_if_fail (
      n_dilations >= 1 && n_dilations <= NACLIP_MAX_PAMR_DILATIONS, FALSE);
  g_return_val_if_fail (dilations != NULL && height > 0 && width > 0, FALSE);

  if (steps == 0)
    return TRUE;
  if (n_threads < 1)
    n_threads = 1;
  /* About 30 operations per neighbour and pixel, then 2 per neighbour,
   * pixel and channel in each step. */
  parallel_affinity = plane * 8 * n_dilations * 30 >= NACLIP_PARALLEL_MIN_OPS;
  parallel_steps
      = plane * 8 * n_dilations * 2 * n_channels >= NACLIP_PARALLEL_MIN_OPS;

#pragma omp parallel for num_threads(n_threads) if (parallel_affinity)
  for (guint y = 0; y < height; y++)
    compute_affinity_row (image, height, width, dilations, n_dilations, y, aff);

  for (guint step = 0; step < steps; step++) {
    float *tmp;
    if (cancel != NULL && g_atomic_int_get (cancel))
      return FALSE;
#pragma omp parallel for num_threads(n_threads) if (parallel_steps)
    for (guint y = 0; y < height; y++) {
      propagate_row (
          src, dst, aff, n_channels, height, width, dilations, n_dilations, y);
    }
    tmp = src;
    src = dst;
    dst = tmp;
  }
  if (src != mask)
    memcpy (mask, src, (gsize)n_channels * plane * sizeof (float));
  return TRUE;
}
