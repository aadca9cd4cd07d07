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
 * naclip_pamr() runs in one OpenMP team, each thread a block of rows.
 * Its work memory holds a copy of the image (3, H, W), two copies of a
 * group of CHANNEL_GROUP mask channels and the affinities (H, K, W) (a
 * row's K values together). The copies' rows carry the largest dilation's
 * replicate padding on either side, so that every column reads its
 * neighbours in place, 16 at a time (per CPU level, kernels.h), and start
 * on a cache line (plane_layout ()); rows past the edges are clamped. The
 * channels are refined a group at a time, the iterations ping-pong
 * between the two copies (each row padded again once computed), and the
 * last is copied back. A thread computes the affinities of a row and at
 * once the first iteration of that row, which needs no other row's
 * affinities (the other rows of the mask it reads are the input); each
 * further iteration is one pass over the rows, in which a row's K
 * affinity rows stay in cache while every channel is updated, and ends at
 * a barrier: one a step.
 * naclip_pamr_ref() is the plain serial twin (affinities (K, H, W), one
 * pixel at a time, libm's expf) the tests compare it with.
 */

#include "config.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#include "naclip-private.h"
#include "kernels.h"

/* Offsets of the 8 neighbours of the 3x3 kernel, in pamr.py's order. */
static const int neighbour_dy[8] = { -1, -1, -1, 0, 0, 1, 1, 1 };
static const int neighbour_dx[8] = { -1, 0, 1, -1, 1, -1, 0, 1 };

#define MAX_NEIGHBOURS (8 * NACLIP_MAX_PAMR_DILATIONS)
/* The largest dilation naclip_pamr () runs on vectors, px, and so the
 * widest padding its planes have; above it, it runs naclip_pamr_ref (). */
#define MAX_PAD 64

/* Half a frame vector, in float and in double: the affinities'
 * statistics are accumulated in double, a half at a time. */
typedef double vec8d __attribute__ ((vector_size (4 * LANES)));
typedef float vec8f __attribute__ ((vector_size (2 * LANES)));

/* The neighbourhood of one call. */
typedef struct
{
  guint n_dilations;
  guint n_neigh; /* K = 8 * n_dilations */
  guint margin;  /* the largest dilation, px */
  /* naclip_pamr ()'s planes (plane_layout ()): a row's column 0 lies
   * @left floats from its start, after replicate padding; @cols columns
   * are computed (the affinities' row stride); @stride floats a row */
  gsize left, cols, stride;
  gint64 dy[MAX_NEIGHBOURS], dx[MAX_NEIGHBOURS]; /* offsets, px */
} Neighbourhood;

static void
init_neighbourhood (
    Neighbourhood *nb, const guint *dilations, guint n_dilations)
{
  nb->n_dilations = n_dilations;
  nb->n_neigh = 8 * n_dilations;
  nb->margin = 0;
  for (guint i = 0; i < n_dilations; i++) {
    nb->margin = MAX (nb->margin, dilations[i]);
    for (guint k = 0; k < 8; k++) {
      nb->dy[i * 8 + k] = neighbour_dy[k] * (gint64)dilations[i];
      nb->dx[i * 8 + k] = neighbour_dx[k] * (gint64)dilations[i];
    }
  }
}

/* Columns computed per row: @width rounded up to two vectors (the
 * products take two at a time); the affinities' row stride. */
static gsize
padded_columns (guint width)
{
  return ((gsize)width + 2 * LANES - 1) / (2 * LANES) * (2 * LANES);
}

/* The layout of naclip_pamr ()'s planes for a largest dilation @margin:
 * each row holds @margin columns of replicate padding on either side of
 * the computed columns, so that every column reads its neighbours in
 * place, and starts on a cache line, as does its column 0 (with rows
 * that did not, unaligned vector loads made the same work about 25 %
 * slower: 94 against 72 ns a pixel for 10 steps over 5 channels at 299
 * and 304 columns, one thread, Zen 5). */
static void
plane_layout (Neighbourhood *nb, guint width, guint margin)
{
  nb->left = ((gsize)margin + LANES - 1) / LANES * LANES;
  nb->cols = padded_columns (width);
  nb->stride = (nb->left + nb->cols + margin + LANES - 1) / LANES * LANES;
}

/* Mask channels refined at a time: the copies of the mask hold this many
 * (a multiple of the four that sum_neighbours_c4 () takes), so that the
 * work memory does not grow with the number of classes. */
#define CHANNEL_GROUP 8

gsize
naclip_pamr_work_size (guint n_channels, guint height, guint width,
    const guint *dilations, guint n_dilations)
{
  Neighbourhood nb;
  gsize plane, aff, n;
  gsize group = MIN (n_channels, CHANNEL_GROUP);

  g_return_val_if_fail (dilations != NULL && n_dilations >= 1
                            && n_dilations <= NACLIP_MAX_PAMR_DILATIONS,
      0);
  init_neighbourhood (&nb, dilations, n_dilations);
  if (nb.margin > MAX_PAD) {
    /* naclip_pamr_ref () on a group of channels at a time */
    if (!g_size_checked_mul (&n, (gsize)height * width, nb.n_neigh + group))
      return 0;
    return n;
  }
  /* the image and two masks of a group of channels, padded planes; the
   * affinities; a cache line of slack */
  plane_layout (&nb, width, nb.margin);
  if (!g_size_checked_mul (&plane, height, nb.stride)
      || !g_size_checked_mul (&aff, (gsize)height * nb.cols, nb.n_neigh)
      || !g_size_checked_mul (&n, plane, 3 + 2 * group)
      || !g_size_checked_add (&n, n, aff) || n > G_MAXSIZE - LANES)
    return 0;
  return n + LANES;
}

static inline guint
clamp_coord (gint64 v, guint size)
{
  return v < 0 ? 0 : (v >= (gint64)size ? size - 1 : (guint)v);
}

/* a[0..K) <- the softmax-normalised affinities of pixel (x, y), as the
 * reference computes them. */
static void
affinity_pixel (const float *image, guint height, guint width,
    const Neighbourhood *nb, guint y, guint x, float *a)
{
  gsize plane = (gsize)height * width;
  guint n_neigh = nb->n_neigh;
  guint n_samples = 9 * nb->n_dilations;
  float sum_c[MAX_NEIGHBOURS];
  gsize offset[MAX_NEIGHBOURS]; /* of each neighbour within a plane */
  float max_a, total;

  for (guint k = 0; k < n_neigh; k++) {
    guint yy = clamp_coord ((gint64)y + nb->dy[k], height);
    guint xx = clamp_coord ((gint64)x + nb->dx[k], width);
    offset[k] = (gsize)yy * width + xx;
  }
  for (guint c = 0; c < 3; c++) {
    const float *img = image + c * plane;
    float centre = img[(gsize)y * width + x];
    float diff[MAX_NEIGHBOURS];
    double mean = nb->n_dilations * (double)centre, ss = 0.0;
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
    ss += nb->n_dilations * ((centre - mean) * (centre - mean));
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
    a[k] /= total;
}

/* The samples of LANES columns: per channel, the centre pixels and each
 * neighbour's, LANES contiguous floats each, in the padded image. */
typedef struct
{
  const float *centre[3];
  const float *neighbour[3][MAX_NEIGHBOURS];
} Samples;

/* a[k] <- the affinities of the LANES pixels of @sm: affinity_pixel () on
 * vectors, the exponential exp_lanes (). */
KERNEL_BODY void
affinity_lanes (const Neighbourhood *nb, const Samples *sm, vec_f *sum_c)
{
  const vec_f zero = { 0.0f };
  guint n_neigh = nb->n_neigh;
  double n_dil = nb->n_dilations, n_samples = 9.0 * nb->n_dilations;
  vec_f max_a, total, centre[3], denom[3];

  for (guint c = 0; c < 3; c++) {
    vec8f half[2];
    vec8d mean[2], ss[2];
    float sd[LANES];

    /* Each half is loaded from the samples as it is widened: through a
     * whole vector copied into halves, GCC goes by the stack. */
    memcpy (&centre[c], sm->centre[c], sizeof centre[c]);
    for (guint h = 0; h < 2; h++) {
      memcpy (&half[h], sm->centre[c] + h * LANES / 2, sizeof half[h]);
      mean[h] = __builtin_convertvector(half[h], vec8d) * n_dil;
    }
    for (guint k = 0; k < n_neigh; k++) {
      for (guint h = 0; h < 2; h++) {
        vec8f v;
        memcpy (&v, sm->neighbour[c][k] + h * LANES / 2, sizeof v);
        mean[h] += __builtin_convertvector(v, vec8d);
      }
    }
    for (guint h = 0; h < 2; h++) {
      mean[h] *= 1.0 / n_samples;
      ss[h] = (vec8d){ 0.0 };
    }
    for (guint k = 0; k < n_neigh; k++) {
      for (guint h = 0; h < 2; h++) {
        vec8f v;
        memcpy (&v, sm->neighbour[c][k] + h * LANES / 2, sizeof v);
        vec8d dv = __builtin_convertvector(v, vec8d) - mean[h];
        ss[h] += dv * dv;
      }
    }
    for (guint h = 0; h < 2; h++) {
      vec8d dc = __builtin_convertvector(half[h], vec8d) - mean[h];
      ss[h] += n_dil * (dc * dc);
      half[h]
          = __builtin_convertvector(ss[h] * (1.0 / (n_samples - 1.0)), vec8f);
    }
    /* The root in float of the variance rounded to float: within an ulp
     * of the reference's root in double, at a quarter of the cost. */
    memcpy (sd, half, sizeof sd);
#pragma omp simd
    for (guint i = 0; i < LANES; i++)
      sd[i] = sqrtf (sd[i]);
    memcpy (&denom[c], sd, sizeof denom[c]);
    /* Divisions by a vector are slow: multiply by its reciprocal (1 ulp
     * from the reference's quotient), here and below. */
    denom[c] = -1.0f / (1e-8f + 0.1f * denom[c]);
  }
  /* the channels' terms of a neighbour summed in registers, c = 0, 1, 2 */
  max_a = zero - INFINITY;
  for (guint k = 0; k < n_neigh; k++) {
    vec_f acc = zero;
    for (guint c = 0; c < 3; c++) {
      vec_f n, d;
      memcpy (&n, sm->neighbour[c][k], sizeof n);
      d = centre[c] - n;
      d = SELECT (d < 0.0f, -d, d);
      d = d * denom[c];
      acc = c == 0 ? d : acc + d;
    }
    sum_c[k] = acc * (1.0f / 3.0f);
    max_a = VMAX (max_a, sum_c[k]);
  }
  total = zero;
  for (guint k = 0; k < n_neigh; k++) {
    sum_c[k] -= max_a;
    exp_lanes ((float *)&sum_c[k], 0.0f);
    total += sum_c[k];
  }
  total = 1.0f / total;
  for (guint k = 0; k < n_neigh; k++)
    sum_c[k] *= total;
}

/* aff_row (K, nb->cols) <- the affinities of row y of the padded image
 * (3 planes), LANES columns at a time, each read in place. */
KERNEL_BODY void
affinity_row_body (const float *image, guint height, const Neighbourhood *nb,
    guint y, float *aff_row)
{
  gsize plane = height * nb->stride;
  gsize row_off[MAX_NEIGHBOURS];
  vec_f a[MAX_NEIGHBOURS];
  Samples sm;

  for (guint k = 0; k < nb->n_neigh; k++)
    row_off[k] = clamp_coord ((gint64)y + nb->dy[k], height) * nb->stride
                 + nb->left + nb->dx[k];
  for (gsize x = 0; x < nb->cols; x += LANES) {
    for (guint c = 0; c < 3; c++) {
      const float *img = image + c * plane;
      sm.centre[c] = img + y * nb->stride + nb->left + x;
      for (guint k = 0; k < nb->n_neigh; k++)
        sm.neighbour[c][k] = img + row_off[k] + x;
    }
    affinity_lanes (nb, &sm, a);
    for (guint k = 0; k < nb->n_neigh; k++)
      memcpy (aff_row + k * nb->cols + x, &a[k], sizeof a[k]);
  }
}

DEFINE_CLONES (void, affinity_row,
    (const float *image, guint height, const Neighbourhood *nb, guint y,
        float *aff_row),
    (image, height, nb, y, aff_row))

/* row[0..stride) <- the padded row: its @width values from column
 * nb->left on (copied from @src unless NULL: already there), the first
 * value before them, the last after them. */
static void
pad_row (float *row, const float *src, guint width, const Neighbourhood *nb)
{
  float *first = row + nb->left, lo, hi;

  if (src != NULL)
    memcpy (first, src, width * sizeof (float));
  /* in locals, so that the fills (which could alias them) vectorise */
  lo = first[0];
  hi = first[width - 1];
  for (gsize i = 0; i < nb->left; i++)
    row[i] = lo;
  for (gsize i = nb->left + width; i < nb->stride; i++)
    row[i] = hi;
}

/* out[0..LANES) <- for the LANES columns of one vector, the sum over k of
 * a[k][..] * s[k][..], the terms added in neighbour order from 0. */
KERNEL_BODY void
sum_neighbours (
    guint n_neigh, const float *const *a, const float *const *s, float *out)
{
  vec_f acc = { 0 };

  for (guint k = 0; k < n_neigh; k++) {
    vec_f av, sv;
    memcpy (&av, a[k], sizeof av);
    memcpy (&sv, s[k], sizeof sv);
    acc += av * sv;
  }
  memcpy (out, &acc, sizeof acc);
}

/* sum_neighbours () on four vectors of columns, four independent sums. */
KERNEL_BODY void
sum_neighbours4 (
    guint n_neigh, const float *const *a, const float *const *s, float *out)
{
  vec_f acc0 = { 0 }, acc1 = { 0 }, acc2 = { 0 }, acc3 = { 0 };

  for (guint k = 0; k < n_neigh; k++) {
    vec_f a0, a1, a2, a3, s0, s1, s2, s3;
    memcpy (&a0, a[k], sizeof a0);
    memcpy (&a1, a[k] + LANES, sizeof a1);
    memcpy (&a2, a[k] + 2 * LANES, sizeof a2);
    memcpy (&a3, a[k] + 3 * LANES, sizeof a3);
    memcpy (&s0, s[k], sizeof s0);
    memcpy (&s1, s[k] + LANES, sizeof s1);
    memcpy (&s2, s[k] + 2 * LANES, sizeof s2);
    memcpy (&s3, s[k] + 3 * LANES, sizeof s3);
    acc0 += a0 * s0;
    acc1 += a1 * s1;
    acc2 += a2 * s2;
    acc3 += a3 * s3;
  }
  memcpy (out, &acc0, sizeof acc0);
  memcpy (out + LANES, &acc1, sizeof acc1);
  memcpy (out + 2 * LANES, &acc2, sizeof acc2);
  memcpy (out + 3 * LANES, &acc3, sizeof acc3);
}

/* For two vectors of columns of four channels (planes @plane floats apart
 * from @src on), out[c][..] <- the sum over k of aff[k * stride + ..] *
 * src[c * plane + off[k] + ..], the terms added in neighbour order from
 * 0: eight independent sums, ten loads per eight multiply-adds. */
KERNEL_BODY void
sum_neighbours_c4 (guint n_neigh, const float *aff, gsize stride,
    const gint64 *off, const float *src, gsize plane, float *out)
{
  const vec_f zero = { 0.0f };
  vec_f acc[4][2]
      = { { zero, zero }, { zero, zero }, { zero, zero }, { zero, zero } };
#pragma GCC unroll 1
  for (guint k = 0; k < n_neigh; k++) {
    vec_f a0, a1;
    memcpy (&a0, aff + k * stride, sizeof a0);
    memcpy (&a1, aff + k * stride + LANES, sizeof a1);
#pragma GCC unroll 4
    for (guint c = 0; c < 4; c++) {
      const float *sp = src + c * plane + off[k];
      vec_f s0, s1;
      memcpy (&s0, sp, sizeof s0);
      memcpy (&s1, sp + LANES, sizeof s1);
      acc[c][0] += a0 * s0;
      acc[c][1] += a1 * s1;
    }
  }
#pragma GCC unroll 4
  for (guint c = 0; c < 4; c++)
    memcpy (out + c * plane, acc[c], sizeof acc[c]);
}

/* dst row y of every channel <- sum_k aff_k * src(neighbour k), the terms
 * added in neighbour order k = 0..K-1 from 0, then its padding.
 * src, dst: (n_channels, height) padded rows (nb->stride floats); aff_row:
 * (K, nb->cols), row y's. A column's sum stays in a register: K products
 * of K affinity rows and K shifted source rows read in place, two loads
 * per multiply-add and a store per output (row by row it would be three
 * loads and a store per multiply-add); four channels at a time where an
 * affinity load serves four products, the other channels four vectors of
 * columns at a time for independent sums. The columns past the width
 * are computed from the padding, then overwritten by it. */
KERNEL_BODY void
propagate_row_body (const float *src, float *dst, const float *aff_row,
    guint n_channels, guint height, guint width, const Neighbourhood *nb,
    guint y)
{
  gsize stride = nb->stride, plane = height * stride, cols = nb->cols;
  gsize row = y * stride + nb->left;
  guint n_neigh = nb->n_neigh, n4 = n_channels / 4 * 4;
  const float *a[MAX_NEIGHBOURS], *s[MAX_NEIGHBOURS];
  gint64 off[MAX_NEIGHBOURS]; /* neighbour k's column 0 in a plane */

  for (guint k = 0; k < n_neigh; k++)
    off[k] = (gint64)(clamp_coord ((gint64)y + nb->dy[k], height) * stride
                      + nb->left)
             + nb->dx[k];
  for (guint c = 0; c < n4; c += 4) {
    for (gsize x = 0; x < cols; x += 2 * LANES)
      sum_neighbours_c4 (n_neigh, aff_row + x, cols, off, src + c * plane + x,
          plane, dst + c * plane + row + x);
  }
  for (guint c = n4; c < n_channels; c++) {
    const float *sc = src + c * plane;
    float *o = dst + c * plane + row;
    gsize x = 0;
    for (; x + 4 * LANES <= cols; x += 4 * LANES) {
      for (guint k = 0; k < n_neigh; k++) {
        a[k] = aff_row + k * cols + x;
        s[k] = sc + off[k] + x;
      }
      sum_neighbours4 (n_neigh, a, s, o + x);
    }
    for (; x < cols; x += LANES) {
      for (guint k = 0; k < n_neigh; k++) {
        a[k] = aff_row + k * cols + x;
        s[k] = sc + off[k] + x;
      }
      sum_neighbours (n_neigh, a, s, o + x);
    }
  }
  for (guint c = 0; c < n_channels; c++)
    pad_row (dst + c * plane + y * stride, NULL, width, nb);
}

DEFINE_CLONES (void, propagate_row,
    (const float *src, float *dst, const float *aff_row, guint n_channels,
        guint height, guint width, const Neighbourhood *nb, guint y),
    (src, dst, aff_row, n_channels, height, width, nb, y))

gboolean
naclip_pamr (const float *image, float *mask, guint n_channels, guint height,
    guint width, guint steps, const guint *dilations, guint n_dilations,
    guint n_threads, float *work, const gint *cancel)
{
  /* the planes, each row on a cache line */
  float *image_p = (float *)(((guintptr)work + 63) & ~(guintptr)63);
  float *aff, *masks[2];
  gsize plane;
  KernelLevel level = kernel_level ();
  __typeof__ (affinity_row_baseline) *affinity_row = PICK (level, affinity_row);
  __typeof__ (propagate_row_baseline) *propagate_row
      = PICK (level, propagate_row);
  Neighbourhood nb;
  gsize aff_row_size;
  gboolean parallel;
  /* Whether the call was cancelled at the end of an even and an odd step:
   * thread 0 writes the flag of step s before the step's barrier, every
   * thread reads it after that barrier, and the same flag is written
   * again only after the next barrier, so all threads leave at the same
   * step (a single flag could change before a slow thread reads it, which
   * would then skip a barrier the others wait at). */
  gboolean stopped[2] = { FALSE, FALSE };

  g_return_val_if_fail (image != NULL && mask != NULL && work != NULL, FALSE);
  g_return_val_if_fail (
      n_dilations >= 1 && n_dilations <= NACLIP_MAX_PAMR_DILATIONS, FALSE);
  g_return_val_if_fail (dilations != NULL && height > 0 && width > 0, FALSE);

  if (steps == 0)
    return TRUE;
  if (cancel != NULL && g_atomic_int_get (cancel))
    return FALSE;
  init_neighbourhood (&nb, dilations, n_dilations);
  if (nb.margin > MAX_PAD) {
    /* Dilations the authors never use, whose padding would make the
     * planes' rows wide: the reference, a group of channels at a time,
     * within the work memory. */
    for (guint c0 = 0; c0 < n_channels; c0 += CHANNEL_GROUP) {
      if (!naclip_pamr_ref (image, mask + c0 * (gsize)height * width,
              MIN (CHANNEL_GROUP, n_channels - c0), height, width, steps,
              dilations, n_dilations, work, cancel))
        return FALSE;
    }
    return TRUE;
  }
  plane_layout (&nb, width, nb.margin);
  plane = height * nb.stride;
  masks[0] = image_p + 3 * plane;
  masks[1] = masks[0] + MIN (n_channels, CHANNEL_GROUP) * plane;
  aff = masks[1] + MIN (n_channels, CHANNEL_GROUP) * plane;
  aff_row_size = nb.n_neigh * nb.cols;
  /* About 30 operations per neighbour and pixel, then 2 per neighbour,
   * pixel and channel in each step. */
  parallel = plane * nb.n_neigh * (30 + 2 * (gsize)n_channels * steps)
             >= NACLIP_PARALLEL_MIN_OPS;

#pragma omp parallel num_threads(MAX(n_threads, 1u)) if (parallel)
  {
    guint n_team = (guint)omp_get_num_threads ();
    guint me = (guint)omp_get_thread_num ();
    gsize y0 = (gsize)height * me / n_team;
    gsize y1 = (gsize)height * (me + 1) / n_team;
    guint s = 0; /* steps run, over the groups: the flags' parity */

    for (gsize y = y0; y < y1; y++) {
      for (guint c = 0; c < 3; c++)
        pad_row (image_p + c * plane + y * nb.stride,
            image + (c * (gsize)height + y) * width, width, &nb);
    }
    for (guint c0 = 0; c0 < n_channels; c0 += CHANNEL_GROUP) {
      guint n_group = MIN (CHANNEL_GROUP, n_channels - c0);
      float *group = mask + c0 * (gsize)height * width;
      if (s > 0 && stopped[(s - 1) % 2])
        break;
      for (gsize y = y0; y < y1; y++) {
        for (guint c = 0; c < n_group; c++)
          pad_row (masks[0] + c * plane + y * nb.stride,
              group + (c * (gsize)height + y) * width, width, &nb);
      }
#pragma omp barrier
      for (guint step = 0; step < steps; step++, s++) {
        const float *src = masks[step % 2];
        float *dst = masks[(step + 1) % 2];
        if (s > 0 && stopped[(s - 1) % 2])
          break;
        for (gsize y = y0; y < y1; y++) {
          float *aff_row = aff + y * aff_row_size;
          if (c0 == 0 && step == 0)
            affinity_row (image_p, height, &nb, y, aff_row);
          propagate_row (src, dst, aff_row, n_group, height, width, &nb, y);
        }
        if (me == 0)
          stopped[s % 2] = cancel != NULL && g_atomic_int_get (cancel);
#pragma omp barrier
      }
      for (gsize y = y0; y < y1 && !stopped[0] && !stopped[1]; y++) {
        for (guint c = 0; c < n_group; c++)
          memcpy (group + (c * (gsize)height + y) * width,
              masks[steps % 2] + c * plane + y * nb.stride + nb.left,
              width * sizeof (float));
      }
    }
  }
  return !stopped[0] && !stopped[1];
}

gboolean
naclip_pamr_ref (const float *image, float *mask, guint n_channels,
    guint height, guint width, guint steps, const guint *dilations,
    guint n_dilations, float *work, const gint *cancel)
{
  gsize plane = (gsize)height * width;
  guint n_neigh = 8 * n_dilations;
  float *aff = work;
  float *other = work + (gsize)n_neigh * plane;
  float *src = mask, *dst = other;
  Neighbourhood nb;
  float a[MAX_NEIGHBOURS];

  g_return_val_if_fail (image != NULL && mask != NULL && work != NULL, FALSE);
  g_return_val_if_fail (
      n_dilations >= 1 && n_dilations <= NACLIP_MAX_PAMR_DILATIONS, FALSE);
  g_return_val_if_fail (dilations != NULL && height > 0 && width > 0, FALSE);

  init_neighbourhood (&nb, dilations, n_dilations);
  for (guint y = 0; y < height; y++) {
    for (guint x = 0; x < width; x++) {
      affinity_pixel (image, height, width, &nb, y, x, a);
      for (guint k = 0; k < n_neigh; k++)
        aff[k * plane + (gsize)y * width + x] = a[k];
    }
  }
  for (guint step = 0; step < steps; step++) {
    float *tmp;
    if (cancel != NULL && g_atomic_int_get (cancel))
      return FALSE;
    for (guint c = 0; c < n_channels; c++) {
      for (guint y = 0; y < height; y++) {
        for (guint x = 0; x < width; x++) {
          float acc = 0.0f;
          for (guint k = 0; k < n_neigh; k++) {
            guint yy = clamp_coord ((gint64)y + nb.dy[k], height);
            guint xx = clamp_coord ((gint64)x + nb.dx[k], width);
            acc += aff[k * plane + (gsize)y * width + x]
                   * src[c * plane + (gsize)yy * width + xx];
          }
          dst[c * plane + (gsize)y * width + x] = acc;
        }
      }
    }
    tmp = src;
    src = dst;
    dst = tmp;
  }
  if (src != mask)
    memcpy (mask, src, (gsize)n_channels * plane * sizeof (float));
  return TRUE;
}
