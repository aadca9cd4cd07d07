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
 * Its work memory holds a copy of the image (3, H, W), the affinities
 * (H, K, W) (a row's K values together) and two copies of a group of
 * CHANNEL_GROUP mask channels, every plane with its rows padded to whole
 * vectors so that each row starts on a cache line (plane_stride ()); the
 * channels are refined a group at a time, the iterations ping-pong
 * between the two copies, and the last is copied back. A thread
 * computes the affinities of a row and at once the first iteration of
 * that row, which needs no other row's affinities (the other rows of the
 * mask it reads are the input);
 * each further iteration is one pass over the rows, in which a row's K
 * affinity rows stay in cache while every channel is updated, and ends at
 * a barrier: one a step. Columns whose neighbours all lie inside the row
 * are computed 16 at a time (per CPU level, kernels.h); the few within
 * the largest dilation of an edge read clamped copies of the rows.
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
/* The rows a pixel's neighbours lie on: its own and two per dilation. */
#define MAX_SOURCE_ROWS (2 * NACLIP_MAX_PAMR_DILATIONS + 1)
/* The largest dilation naclip_pamr () runs on vectors, px; above it, it
 * runs naclip_pamr_ref (). */
#define MAX_PAD 64
/* Floats of a window: the columns of an edge's chunks and the largest
 * dilation on each side. The left chunks span at most MAX_PAD + LANES
 * columns, the right ones MAX_PAD + 2 * LANES, those of a row whose
 * interior holds no chunk 2 * MAX_PAD + 2 * LANES. */
#define WINDOW (4 * MAX_PAD + 2 * LANES)

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
  gsize stride;  /* row stride of naclip_pamr ()'s planes, floats */
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

/* The row stride of naclip_pamr ()'s planes: @width rounded up to whole
 * vectors, so that every row starts on a cache line (unaligned vector
 * loads made the same work about 25 % slower: 94 against 72 ns a pixel
 * for 10 steps over 5 channels at 299 and 304 columns, one thread, Zen
 * 4). */
static gsize
plane_stride (guint width)
{
  return ((gsize)width + LANES - 1) / LANES * LANES;
}

/* Mask channels refined at a time: the copies of the mask hold this many
 * (a multiple of the four that sum_neighbours_c4 () takes), so that the
 * work memory does not grow with the number of classes. */
#define CHANNEL_GROUP 8

gsize
naclip_pamr_work_size (
    guint n_channels, guint height, guint width, guint n_dilations)
{
  gsize plane, n;
  guint group = MIN (n_channels, CHANNEL_GROUP);

  /* the image, the affinities, two masks of a group of channels, a cache
   * line of slack */
  if (!g_size_checked_mul (&plane, height, plane_stride (width)))
    return 0;
  if (!g_size_checked_mul (
          &n, plane, 3 + (gsize)8 * n_dilations + 2 * (gsize)group))
    return 0;
  return n <= G_MAXSIZE - LANES ? n + LANES : 0;
}

static inline guint
clamp_coord (gint64 v, guint size)
{
  return v < 0 ? 0 : (v >= (gint64)size ? size - 1 : (guint)v);
}

/* The columns [lo, hi) of a row whose neighbours all lie inside it; empty
 * (lo == hi == width) when the row is narrower than two margins. */
static void
interior_columns (const Neighbourhood *nb, guint width, guint *lo, guint *hi)
{
  gboolean wide = width > 2 * nb->margin;

  *lo = wide ? nb->margin : width;
  *hi = wide ? width - nb->margin : width;
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

/* out[0..n) <- the first n lanes of @v (a whole vector in one store). */
KERNEL_BODY void
store_lanes (float *out, const vec_f *v, guint n)
{
  if (n == LANES)
    memcpy (out, v, sizeof *v);
  else
    memcpy (out, v, n * sizeof (float));
}

/* The samples of LANES columns from x on: per channel, the centre pixels
 * and each neighbour's, LANES contiguous floats each, in the image itself
 * (columns whose neighbours lie inside the row) or gathered, coordinates
 * clamped, into @buf (the columns near an edge and past the width). */
typedef struct
{
  const float *centre[3];
  const float *neighbour[3][MAX_NEIGHBOURS];
  float buf[3][MAX_NEIGHBOURS + 1][LANES];
} Samples;

/* The clamped column of lane i of the chunk from @x for each neighbour:
 * col[k][i]. */
static void
clamped_columns (const Neighbourhood *nb, guint width, guint x,
    guint col[MAX_NEIGHBOURS][LANES])
{
  for (guint k = 0; k < nb->n_neigh; k++) {
    for (guint i = 0; i < LANES; i++)
      col[k][i] = clamp_coord ((gint64)x + i + nb->dx[k], width);
  }
}

static void
point_samples (Samples *sm, const float *image, gsize plane, guint width,
    const Neighbourhood *nb, const gsize *row_off, guint y, guint x,
    gboolean inside, guint col[MAX_NEIGHBOURS][LANES])
{
  for (guint c = 0; c < 3; c++) {
    const float *img = image + c * plane;
    if (inside) {
      sm->centre[c] = img + y * nb->stride + x;
      for (guint k = 0; k < nb->n_neigh; k++)
        sm->neighbour[c][k] = img + row_off[k] + x + nb->dx[k];
      continue;
    }
    for (guint i = 0; i < LANES; i++)
      sm->buf[c][nb->n_neigh][i] = img[y * nb->stride + MIN (x + i, width - 1)];
    sm->centre[c] = sm->buf[c][nb->n_neigh];
    for (guint k = 0; k < nb->n_neigh; k++) {
      for (guint i = 0; i < LANES; i++)
        sm->buf[c][k][i] = img[row_off[k] + col[k][i]];
      sm->neighbour[c][k] = sm->buf[c][k];
    }
  }
}

/* a[k] <- the affinities of the LANES pixels of @sm: affinity_pixel () on
 * vectors, the exponential exp_lanes (). */
KERNEL_BODY void
affinity_lanes (const Neighbourhood *nb, const Samples *sm, vec_f *sum_c)
{
  const vec_f zero = { 0.0f };
  guint n_neigh = nb->n_neigh;
  double n_dil = nb->n_dilations, n_samples = 9.0 * nb->n_dilations;
  vec_f max_a, total;

  for (guint c = 0; c < 3; c++) {
    vec_f centre, n, denom;
    vec8f half[2];
    vec8d mean[2], ss[2];
    float sd[LANES];

    memcpy (&centre, sm->centre[c], sizeof centre);
    memcpy (half, &centre, sizeof half);
    for (guint h = 0; h < 2; h++)
      mean[h] = __builtin_convertvector(half[h], vec8d) * n_dil;
    for (guint k = 0; k < n_neigh; k++) {
      memcpy (half, sm->neighbour[c][k], sizeof half);
      for (guint h = 0; h < 2; h++)
        mean[h] += __builtin_convertvector(half[h], vec8d);
    }
    for (guint h = 0; h < 2; h++) {
      mean[h] *= 1.0 / n_samples;
      ss[h] = (vec8d){ 0.0 };
    }
    for (guint k = 0; k < n_neigh; k++) {
      memcpy (half, sm->neighbour[c][k], sizeof half);
      for (guint h = 0; h < 2; h++) {
        vec8d dv = __builtin_convertvector(half[h], vec8d) - mean[h];
        ss[h] += dv * dv;
      }
    }
    memcpy (half, &centre, sizeof half);
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
    memcpy (&denom, sd, sizeof denom);
    /* Divisions by a vector are slow: multiply by its reciprocal (1 ulp
     * from the reference's quotient), here and below. */
    denom = -1.0f / (1e-8f + 0.1f * denom);
    for (guint k = 0; k < n_neigh; k++) {
      vec_f d;
      memcpy (&n, sm->neighbour[c][k], sizeof n);
      d = centre - n;
      d = SELECT (d < 0.0f, -d, d);
      d = d * denom;
      sum_c[k] = c == 0 ? d : sum_c[k] + d;
    }
  }
  max_a = zero - INFINITY;
  for (guint k = 0; k < n_neigh; k++) {
    sum_c[k] *= 1.0f / 3.0f;
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

/* aff_row (K, width) <- the affinities of row y, LANES columns at a time:
 * inside the row from the image, near its edges from clamped copies. */
KERNEL_BODY void
affinity_row_body (const float *image, guint height, guint width,
    const Neighbourhood *nb, guint y, float *aff_row)
{
  gsize plane = height * nb->stride;
  gsize row_off[MAX_NEIGHBOURS];
  guint col[MAX_NEIGHBOURS][LANES];
  vec_f a[MAX_NEIGHBOURS];
  Samples sm;
  guint lo, hi;

  for (guint k = 0; k < nb->n_neigh; k++)
    row_off[k] = clamp_coord ((gint64)y + nb->dy[k], height) * nb->stride;
  interior_columns (nb, width, &lo, &hi);
  for (guint x = 0; x < width; x += LANES) {
    gboolean inside = x >= lo && x + LANES <= hi;
    guint n = MIN (LANES, width - x);
    if (!inside)
      clamped_columns (nb, width, x, col);
    point_samples (&sm, image, plane, width, nb, row_off, y, x, inside, col);
    affinity_lanes (nb, &sm, a);
    for (guint k = 0; k < nb->n_neigh; k++)
      store_lanes (aff_row + k * nb->stride + x, &a[k], n);
  }
}

DEFINE_CLONES (void, affinity_row,
    (const float *image, guint height, guint width, const Neighbourhood *nb,
        guint y, float *aff_row),
    (image, height, width, nb, y, aff_row))

/* The source rows the neighbours of a row read: each distinct row once. */
typedef struct
{
  guint n_rows;
  gsize row_off[MAX_SOURCE_ROWS];     /* offset of each within a plane */
  guint of_neighbour[MAX_NEIGHBOURS]; /* the source row neighbour k reads */
} SourceRows;

static void
find_source_rows (
    const Neighbourhood *nb, guint height, guint y, SourceRows *sr)
{
  sr->n_rows = 0;
  for (guint k = 0; k < nb->n_neigh; k++) {
    gsize off = clamp_coord ((gint64)y + nb->dy[k], height) * nb->stride;
    guint r = 0;
    while (r < sr->n_rows && sr->row_off[r] != off)
      r++;
    if (r == sr->n_rows)
      sr->row_off[sr->n_rows++] = off;
    sr->of_neighbour[k] = r;
  }
}

/* win[0..n) <- @row (of @width floats) from column @x0 on, columns clamped
 * to the row (replicate padding); may write win up to n rounded up to
 * LANES. */
KERNEL_BODY void
fill_window (float *win, const float *row, guint width, gint64 x0, guint n)
{
  const vec_f zero = { 0.0f };
  vec_f v;
  guint left = (guint)CLAMP (-x0, 0, (gint64)n);
  guint mid = (guint)CLAMP ((gint64)width - MAX (x0, 0), 0, (gint64)(n - left));
  const float *in = row + MAX (x0, 0);
  guint j;

  v = zero + row[0];
  for (j = 0; j < left; j += LANES)
    memcpy (win + j, &v, sizeof v);
  for (j = 0; j + LANES <= mid; j += LANES) {
    memcpy (&v, in + j, sizeof v);
    memcpy (win + left + j, &v, sizeof v);
  }
  for (; j < mid; j++)
    win[left + j] = in[j];
  v = zero + row[width - 1];
  for (j = left + mid; j < n; j += LANES)
    memcpy (win + j, &v, sizeof v);
}

/* out[0..n_out) <- for the LANES columns of one vector, the sum over k of
 * a[k][..] * s[k][..], the terms added in neighbour order from 0. */
KERNEL_BODY void
sum_neighbours (guint n_neigh, const float *const *a, const float *const *s,
    float *out, guint n_out)
{
  vec_f acc = { 0 };

  for (guint k = 0; k < n_neigh; k++) {
    vec_f av, sv;
    memcpy (&av, a[k], sizeof av);
    memcpy (&sv, s[k], sizeof sv);
    acc += av * sv;
  }
  store_lanes (out, &acc, n_out);
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
  vec_f acc[4][2];

  memset (acc, 0, sizeof acc);
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
 * added in neighbour order k = 0..K-1 from 0.
 * src, dst: (n_channels, height, width), rows nb->stride apart; aff_row:
 * (K, width), row y's, rows nb->stride apart.
 * A column's sum stays in a register: K products of K affinity rows and K
 * shifted source rows, two loads per multiply-add and a store per output
 * (row by row it would be three loads and a store per multiply-add), four
 * vectors of columns at a time for independent sums. Inside the row the
 * source rows are read in place; the chunks near the edges (and the last,
 * which may reach past the width and drops those lanes) read clamped
 * copies of the source rows, the windows, made once per row and channel.
 * The largest dilation is at most MAX_PAD. */
KERNEL_BODY void
propagate_row_body (const float *src, float *dst, const float *aff_row,
    guint n_channels, guint height, guint width, const Neighbourhood *nb,
    guint y)
{
  gsize stride = nb->stride, plane = height * stride;
  guint n_neigh = nb->n_neigh, pad = nb->margin, lo, hi, in0, in1, end;
  SourceRows sr;
  float win[2][MAX_SOURCE_ROWS][WINDOW];
  float aff_tail[MAX_NEIGHBOURS][LANES];
  const float *a[MAX_NEIGHBOURS], *s[MAX_NEIGHBOURS];
  gint64 off[MAX_NEIGHBOURS]; /* neighbour k's column 0 in a plane */
  guint n4, in4;

  find_source_rows (nb, height, y, &sr);
  interior_columns (nb, width, &lo, &hi);
  /* Chunks of LANES columns from 0: [in0, in1) read the rows in place,
   * [0, in0) the left windows, [in1, end) the right ones. */
  end = (width + LANES - 1) / LANES * LANES;
  in0 = MIN ((lo + LANES - 1) / LANES * LANES, end);
  in1 = hi > in0 ? in0 + (hi - in0) / LANES * LANES : in0;
  if (in1 == in0)
    in0 = in1 = 0;
  g_assert (in0 + 2 * pad <= WINDOW && end - in1 + 2 * pad <= WINDOW);
  /* The partial last chunk's affinities, padded. */
  if (end != width) {
    for (guint k = 0; k < n_neigh; k++) {
      for (guint i = 0; i < LANES; i++)
        aff_tail[k][i] = aff_row[k * stride + MIN (end - LANES + i, width - 1)];
    }
  }

  for (guint k = 0; k < n_neigh; k++)
    off[k] = (gint64)sr.row_off[sr.of_neighbour[k]] + nb->dx[k];
  /* The interior four channels at a time, where an affinity load serves
   * four products: [in0, in4) of the first n4 channels. */
  n4 = n_channels / 4 * 4;
  in4 = in0 + (in1 - in0) / (2 * LANES) * (2 * LANES);
  for (guint c = 0; c < n4; c += 4) {
    const float *sc = src + c * plane;
    float *o = dst + c * plane + y * stride;
    for (guint x = in0; x < in4; x += 2 * LANES)
      sum_neighbours_c4 (
          n_neigh, aff_row + x, stride, off, sc + x, plane, o + x);
  }

  for (guint c = 0; c < n_channels; c++) {
    const float *sc = src + c * plane;
    float *o = dst + c * plane + y * stride;
    guint x = c < n4 ? in4 : in0;

    for (guint r = 0; r < sr.n_rows; r++) {
      fill_window (
          win[0][r], sc + sr.row_off[r], width, -(gint64)pad, in0 + 2 * pad);
      fill_window (win[1][r], sc + sr.row_off[r], width, (gint64)in1 - pad,
          end - in1 + 2 * pad);
    }
    for (; x + 4 * LANES <= in1; x += 4 * LANES) {
      for (guint k = 0; k < n_neigh; k++) {
        a[k] = aff_row + k * stride + x;
        s[k] = sc + sr.row_off[sr.of_neighbour[k]] + x + nb->dx[k];
      }
      sum_neighbours4 (n_neigh, a, s, o + x);
    }
    for (; x < in1; x += LANES) {
      for (guint k = 0; k < n_neigh; k++) {
        a[k] = aff_row + k * stride + x;
        s[k] = sc + sr.row_off[sr.of_neighbour[k]] + x + nb->dx[k];
      }
      sum_neighbours (n_neigh, a, s, o + x, LANES);
    }
    for (x = 0; x < end; x += LANES) {
      guint side, start;
      if (x == in0)
        x = in1;
      if (x >= end)
        break;
      side = x < in0 ? 0 : 1;
      start = side == 0 ? 0 : in1;
      for (guint k = 0; k < n_neigh; k++) {
        a[k] = x + LANES <= width ? aff_row + k * stride + x : aff_tail[k];
        s[k] = win[side][sr.of_neighbour[k]] + (x - start) + pad + nb->dx[k];
      }
      sum_neighbours (n_neigh, a, s, o + x, MIN (LANES, width - x));
    }
  }
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
  gsize stride = plane_stride (width), plane = height * stride;
  /* the planes, each row on a cache line */
  float *image_p = (float *)(((guintptr)work + 63) & ~(guintptr)63);
  float *aff = image_p + 3 * plane;
  float *masks[2] = { aff + (gsize)8 * n_dilations * plane, NULL };
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
  nb.stride = stride;
  masks[1] = masks[0] + MIN (n_channels, CHANNEL_GROUP) * plane;
  if (nb.margin > MAX_PAD) {
    /* Dilations the authors never use: the windows would not fit. The
     * reference a group of channels at a time, within the work memory. */
    for (guint c0 = 0; c0 < n_channels; c0 += CHANNEL_GROUP) {
      if (!naclip_pamr_ref (image, mask + c0 * (gsize)height * width,
              MIN (CHANNEL_GROUP, n_channels - c0), height, width, steps,
              dilations, n_dilations, work, cancel))
        return FALSE;
    }
    return TRUE;
  }
  aff_row_size = nb.n_neigh * stride;
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
        memcpy (image_p + c * plane + y * stride,
            image + (c * (gsize)height + y) * width, width * sizeof (float));
    }
    for (guint c0 = 0; c0 < n_channels; c0 += CHANNEL_GROUP) {
      guint n_group = MIN (CHANNEL_GROUP, n_channels - c0);
      float *group = mask + c0 * (gsize)height * width;
      if (s > 0 && stopped[(s - 1) % 2])
        break;
      for (gsize y = y0; y < y1; y++) {
        for (guint c = 0; c < n_group; c++)
          memcpy (masks[0] + c * plane + y * stride,
              group + (c * (gsize)height + y) * width, width * sizeof (float));
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
            affinity_row (image_p, height, width, &nb, y, aff_row);
          propagate_row (src, dst, aff_row, n_group, height, width, &nb, y);
        }
        if (me == 0)
          stopped[s % 2] = cancel != NULL && g_atomic_int_get (cancel);
#pragma omp barrier
      }
      for (gsize y = y0; y < y1 && !stopped[0] && !stopped[1]; y++) {
        for (guint c = 0; c < n_group; c++)
          memcpy (group + (c * (gsize)height + y) * width,
              masks[steps % 2] + c * plane + y * stride,
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
