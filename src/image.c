/* image.c: pixel conversion, normalisation and bilinear resampling.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The pre-processing of the authors' evaluation (their configs/cfg_*.py
 * test pipeline; tests/reference/naclip_ref.py preprocess()) and the
 * bilinear resizes of the sliding windows and of PAMR (naclip.py
 * forward_slide, pamr.py). The evaluation protocol resizes with mmseg's
 * Resize(scale=(2048, 336), keep_ratio=True) and then normalises with
 * CLIP's mean and std on the 0..255 scale; the resize here follows
 * PyTorch's F.interpolate(mode="bilinear", align_corners=False) on the CPU
 * (aten/src/ATen/native/UpSample.h, compute_source_index_and_lambda):
 *   ratio = (float) in / out;  src = max (ratio * (dst + 0.5) - 0.5, 0)
 *   i0 = floor (src);  i1 = i0 + (i0 < in - 1);  l1 = src - i0;  l0 = 1 - l1
 *   out = (a00 * l0x + a01 * l1x) * l0y + (a10 * l0x + a11 * l1x) * l1y
 * with `src` in double (PyTorch's CPU accumulate type), the weights in
 * float, and an identity copy along an axis whose size does not change.
 * No anti-aliasing, also when shrinking, and no rounding to uint8 (mmseg
 * rounds; the divergence is documented in naclip.h).
 *
 * Planar float layout everywhere: (n_channels, height, width), row-major.
 * Output rows are split among OpenMP threads.
 * Packed input pixels are read through per-format byte offsets; YUV pixels
 * (I420, NV12) are converted to RGB in float (chroma taken from the 2x2
 * block the pixel lies in, i.e. nearest-neighbour chroma upsampling) and
 * clamped to 0..255 before resampling, as if the frame had first been
 * converted to RGB. Alpha and padding bytes are ignored.
 */

#include "config.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#include "naclip-private.h"
#include "kernels.h"

typedef struct
{
  guint bytes_per_pixel;
  guint offset[3]; /* byte offsets of R, G, B within a pixel */
} PackedLayout;

static const PackedLayout packed_layouts[] = {
  [NACLIP_PIXEL_RGB] = { 3, { 0, 1, 2 } },
  [NACLIP_PIXEL_BGR] = { 3, { 2, 1, 0 } },
  [NACLIP_PIXEL_RGBA] = { 4, { 0, 1, 2 } },
  [NACLIP_PIXEL_BGRA] = { 4, { 2, 1, 0 } },
  [NACLIP_PIXEL_ARGB] = { 4, { 1, 2, 3 } },
  [NACLIP_PIXEL_ABGR] = { 4, { 3, 2, 1 } },
  [NACLIP_PIXEL_RGBX] = { 4, { 0, 1, 2 } },
  [NACLIP_PIXEL_BGRX] = { 4, { 2, 1, 0 } },
  [NACLIP_PIXEL_XRGB] = { 4, { 1, 2, 3 } },
  [NACLIP_PIXEL_XBGR] = { 4, { 3, 2, 1 } },
};

static gboolean
is_yuv (NaclipPixelFormat format)
{
  return format == NACLIP_PIXEL_I420 || format == NACLIP_PIXEL_NV12;
}

static gboolean
check_plane (const NaclipImage *image, guint plane, gsize min_stride,
    const char *what, GError **error)
{
  if (image->data[plane] == NULL) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
        "image: plane %u (%s) is missing", plane, what);
    return FALSE;
  }
  if (image->stride[plane] < min_stride) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
        "image: stride of plane %u (%s) is %" G_GSIZE_FORMAT
        " bytes, expected at least %" G_GSIZE_FORMAT " for width %u",
        plane, what, image->stride[plane], min_stride, image->width);
    return FALSE;
  }
  return TRUE;
}

gboolean
naclip_image_validate (const NaclipImage *image, GError **error)
{
  guint chroma_width;

  g_return_val_if_fail (image != NULL, FALSE);

  if ((guint)image->format > NACLIP_PIXEL_NV12) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
        "image: format %d is not a NaclipPixelFormat", (int)image->format);
    return FALSE;
  }
  if (image->width == 0 || image->height == 0
      || image->width > NACLIP_MAX_SIDE_PX
      || image->height > NACLIP_MAX_SIDE_PX) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
        "image: size %ux%u is out of range (1..%u on each side)", image->width,
        image->height, NACLIP_MAX_SIDE_PX);
    return FALSE;
  }
  if (!is_yuv (image->format)) {
    return check_plane (image, 0,
        (gsize)image->width * packed_layouts[image->format].bytes_per_pixel,
        "packed pixels", error);
  }
  if ((guint)image->yuv_matrix > NACLIP_YUV_BT709_FULL) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
        "image: yuv_matrix %d is not a NaclipYuvMatrix",
        (int)image->yuv_matrix);
    return FALSE;
  }
  chroma_width = (image->width + 1) / 2;
  if (!check_plane (image, 0, image->width, "Y", error))
    return FALSE;
  if (image->format == NACLIP_PIXEL_I420) {
    return check_plane (image, 1, chroma_width, "U", error)
           && check_plane (image, 2, chroma_width, "V", error);
  }
  return check_plane (image, 1, 2 * (gsize)chroma_width, "UV", error);
}

void
naclip_image_scaled_size (guint width, guint height, guint short_side,
    guint *out_width, guint *out_height)
{
  double long_cap, short_cap, scale;
  guint long_edge, short_edge;

  g_return_if_fail (out_width != NULL && out_height != NULL);

  if (short_side == 0 || width == 0 || height == 0) {
    *out_width = width;
    *out_height = height;
    return;
  }
  /* mmcv rescale_size: the scale (2048, short_side) is a pair of caps, the
   * larger for the long edge and the smaller for the short one. */
  long_cap = MAX (2048.0, (double)short_side);
  short_cap = MIN (2048.0, (double)short_side);
  long_edge = MAX (width, height);
  short_edge = MIN (width, height);
  scale = MIN (long_cap / long_edge, short_cap / short_edge);
  /* int (x * scale + 0.5) truncates; at least one pixel. */
  *out_width = MAX ((guint)(width * scale + 0.5), 1u);
  *out_height = MAX ((guint)(height * scale + 0.5), 1u);
}

/* One output coordinate of a linear resize along an axis (PyTorch rules,
 * see the top of the file). */
typedef struct
{
  guint i0, i1;
  float l0, l1;
} LinearTap;

static inline LinearTap
compute_tap (guint in_size, guint out_size, guint dst)
{
  LinearTap t;
  if (in_size == out_size) {
    t.i0 = t.i1 = dst;
    t.l0 = 1.0f;
    t.l1 = 0.0f;
  } else {
    float ratio = (float)in_size / (float)out_size;
    double src = (double)ratio * ((double)dst + 0.5) - 0.5;
    if (src < 0.0)
      src = 0.0;
    t.i0 = (guint)src;
    t.i1 = t.i0 + (t.i0 < in_size - 1 ? 1 : 0);
    t.l1 = (float)(src - t.i0);
    t.l0 = 1.0f - t.l1;
  }
  return t;
}

/* Output columns per tile of the fast resizes: the horizontal passes of a
 * tile's two source rows and its taps stay on the stack (about 16 KiB). */
#define TILE 256

/* The taps of the output columns [x0, x0 + n) of a resize from @in_w to
 * @out_w columns. */
static void
compute_column_taps (guint in_w, guint out_w, guint x0, guint n, guint *i0,
    guint *i1, float *l0, float *l1)
{
  for (guint x = 0; x < n; x++) {
    LinearTap t = compute_tap (in_w, out_w, x0 + x);
    i0[x] = t.i0;
    i1[x] = t.i1;
    l0[x] = t.l0;
    l1[x] = t.l1;
  }
}

/* The slot (0 or 1) of @slots (the source rows they hold, -1: none) that
 * holds source row @row; when none does, the one to fill, which is not
 * @keep (the slot the other tap needs, or -1), marked as @row's. *@fill
 * says whether it must be filled. */
static guint
slot_for (gint64 slots[2], guint row, gint keep, gboolean *fill)
{
  guint s;

  *fill = FALSE;
  if (slots[0] == row)
    return 0;
  if (slots[1] == row)
    return 1;
  s = keep == 0 ? 1 : 0;
  slots[s] = row;
  *fill = TRUE;
  return s;
}

/* out[0..n) <- a * la + b * lb, vectors then a scalar tail. */
KERNEL_BODY void
blend_rows (
    float *out, const float *a, const float *b, float la, float lb, guint n)
{
  guint x = 0;

  for (; x + LANES <= n; x += LANES) {
    vec_f va, vb;
    memcpy (&va, a + x, sizeof va);
    memcpy (&vb, b + x, sizeof vb);
    va = va * la + vb * lb;
    memcpy (out + x, &va, sizeof va);
  }
  for (; x < n; x++)
    out[x] = a[x] * la + b[x] * lb;
}

/* out[x] <- a[x] * la[x] + b[x] * lb[x] for x < n: the horizontal pass of
 * a row from its two gathered taps. */
KERNEL_BODY void
blend_columns (float *out, const float *a, const float *b, const float *la,
    const float *lb, guint n)
{
  guint x = 0;

  for (; x + LANES <= n; x += LANES) {
    vec_f va, vb, wa, wb;
    memcpy (&va, a + x, sizeof va);
    memcpy (&vb, b + x, sizeof vb);
    memcpy (&wa, la + x, sizeof wa);
    memcpy (&wb, lb + x, sizeof wb);
    va = va * wa + vb * wb;
    memcpy (out + x, &va, sizeof va);
  }
  for (; x < n; x++)
    out[x] = a[x] * la[x] + b[x] * lb[x];
}

/* Output rows [y0, y1) of every channel, a tile of columns at a time:
 * the horizontal pass of each source row a tile needs is computed once
 * and kept while the next output rows use it (two slots), then blended
 * vertically. The arithmetic of the reference, per pixel. */
KERNEL_BODY void
resize_rows_body (const float *in, guint n_channels, guint in_h, guint in_w,
    float *out, guint out_h, guint out_w, guint y0, guint y1)
{
  gsize in_plane = (gsize)in_h * in_w;
  gsize out_plane = (gsize)out_h * out_w;
  guint i0[TILE], i1[TILE];
  float l0[TILE], l1[TILE], g0[TILE], g1[TILE];
  float h[2][TILE];

  for (guint x0 = 0; x0 < out_w; x0 += TILE) {
    guint n = MIN (TILE, out_w - x0);
    compute_column_taps (in_w, out_w, x0, n, i0, i1, l0, l1);
    for (guint c = 0; c < n_channels; c++) {
      gint64 slots[2] = { -1, -1 };
      for (guint y = y0; y < y1; y++) {
        LinearTap ty = compute_tap (in_h, out_h, y);
        guint rows[2] = { ty.i0, ty.i1 }, s[2];
        for (guint r = 0; r < 2; r++) {
          gboolean fill;
          s[r] = slot_for (slots, rows[r], r == 0 ? -1 : (gint)s[0], &fill);
          if (!fill)
            continue;
          const float *src = in + c * in_plane + (gsize)rows[r] * in_w;
          for (guint x = 0; x < n; x++) {
            g0[x] = src[i0[x]];
            g1[x] = src[i1[x]];
          }
          blend_columns (h[s[r]], g0, g1, l0, l1, n);
        }
        blend_rows (out + c * out_plane + (gsize)y * out_w + x0, h[s[0]],
            h[s[1]], ty.l0, ty.l1, n);
      }
    }
  }
}

DEFINE_CLONES (void, resize_rows,
    (const float *in, guint n_channels, guint in_h, guint in_w, float *out,
        guint out_h, guint out_w, guint y0, guint y1),
    (in, n_channels, in_h, in_w, out, out_h, out_w, y0, y1))

/* Rows [*y0, *y1) of @n_rows for the calling thread of an OpenMP team:
 * contiguous blocks, in thread order. */
static void
thread_rows (guint n_rows, guint *y0, guint *y1)
{
  guint n = (guint)omp_get_num_threads (), t = (guint)omp_get_thread_num ();

  *y0 = (guint)((guint64)n_rows * t / n);
  *y1 = (guint)((guint64)n_rows * (t + 1) / n);
}

void
naclip_image_resize_bilinear (const float *in, guint n_channels, guint in_h,
    guint in_w, float *out, guint out_h, guint out_w, guint n_threads)
{
  gsize out_plane = (gsize)out_h * out_w;
  __typeof__ (resize_rows_baseline) *resize_rows
      = PICK (kernel_level (), resize_rows);
  /* About 10 operations per output value. */
  gboolean parallel = out_plane * n_channels * 10 >= NACLIP_PARALLEL_MIN_OPS;

  g_return_if_fail (in != NULL && out != NULL && in != out);
  g_return_if_fail (in_h > 0 && in_w > 0);

  if (in_h == out_h && in_w == out_w) {
    /* PyTorch copies along an axis whose size does not change. */
    memcpy (out, in, (gsize)in_h * in_w * n_channels * sizeof (float));
    return;
  }
  /* in: (n_channels, in_h, in_w); out: (n_channels, out_h, out_w) */
#pragma omp parallel num_threads(MAX(n_threads, 1u)) if (parallel)
  {
    guint y0, y1;
    thread_rows (out_h, &y0, &y1);
    resize_rows (in, n_channels, in_h, in_w, out, out_h, out_w, y0, y1);
  }
}

void
naclip_image_resize_bilinear_ref (const float *in, guint n_channels, guint in_h,
    guint in_w, float *out, guint out_h, guint out_w)
{
  gsize in_plane = (gsize)in_h * in_w;
  gsize out_plane = (gsize)out_h * out_w;

  g_return_if_fail (in != NULL && out != NULL && in != out);
  g_return_if_fail (in_h > 0 && in_w > 0);

  if (in_h == out_h && in_w == out_w) {
    memcpy (out, in, in_plane * n_channels * sizeof (float));
    return;
  }
  for (guint y = 0; y < out_h; y++) {
    LinearTap ty = compute_tap (in_h, out_h, y);
    for (guint x = 0; x < out_w; x++) {
      LinearTap tx = compute_tap (in_w, out_w, x);
      const float *r0 = in + (gsize)ty.i0 * in_w;
      const float *r1 = in + (gsize)ty.i1 * in_w;
      float *o = out + (gsize)y * out_w + x;
      for (guint c = 0; c < n_channels; c++) {
        gsize off = c * in_plane;
        float top = r0[off + tx.i0] * tx.l0 + r0[off + tx.i1] * tx.l1;
        float bottom = r1[off + tx.i0] * tx.l0 + r1[off + tx.i1] * tx.l1;
        o[c * out_plane] = top * ty.l0 + bottom * ty.l1;
      }
    }
  }
}

/* YUV -> RGB in float: r = y + cr_r * v; g = y + cb_g * u + cr_g * v;
 * b = y + cb_b * u, after y = (Y - y_offset) * y_scale and
 * u, v = (U/V - 128) * c_scale. */
typedef struct
{
  float y_offset, y_scale, c_scale;
  float cr_r, cb_g, cr_g, cb_b;
} YuvCoefficients;

static YuvCoefficients
get_yuv_coefficients (NaclipYuvMatrix matrix)
{
  YuvCoefficients c;
  gboolean bt709
      = matrix == NACLIP_YUV_BT709_LIMITED || matrix == NACLIP_YUV_BT709_FULL;
  gboolean full
      = matrix == NACLIP_YUV_BT601_FULL || matrix == NACLIP_YUV_BT709_FULL;
  /* Luma weights Kr, Kb of ITU-R BT.601 and BT.709; Kg = 1 - Kr - Kb. */
  double kr = bt709 ? 0.2126 : 0.299;
  double kb = bt709 ? 0.0722 : 0.114;
  double kg = 1.0 - kr - kb;

  c.y_offset = full ? 0.0f : 16.0f;
  c.y_scale = full ? 1.0f : (float)(255.0 / 219.0);
  c.c_scale = full ? 1.0f : (float)(255.0 / 224.0);
  c.cr_r = (float)(2.0 * (1.0 - kr));
  c.cb_g = (float)(-2.0 * kb * (1.0 - kb) / kg);
  c.cr_g = (float)(-2.0 * kr * (1.0 - kr) / kg);
  c.cb_b = (float)(2.0 * (1.0 - kb));
  return c;
}

static inline float
clamp_255 (float v)
{
  return v < 0.0f ? 0.0f : (v > 255.0f ? 255.0f : v);
}

typedef struct
{
  const NaclipImage *image;
  PackedLayout layout; /* packed formats */
  YuvCoefficients yuv; /* YUV formats */
  gboolean yuv_input;
} PixelReader;

/* rgb <- the pixel (x, y) of the image as floats on the 0..255 scale. */
static inline void
read_rgb (const PixelReader *r, guint x, guint y, float rgb[3])
{
  const NaclipImage *im = r->image;

  if (!r->yuv_input) {
    const guint8 *p = im->data[0] + (gsize)y * im->stride[0]
                      + (gsize)x * r->layout.bytes_per_pixel;
    rgb[0] = p[r->layout.offset[0]];
    rgb[1] = p[r->layout.offset[1]];
    rgb[2] = p[r->layout.offset[2]];
  } else {
    float yy, u, v;
    yy = im->data[0][(gsize)y * im->stride[0] + x];
    if (im->format == NACLIP_PIXEL_I420) {
      u = im->data[1][(gsize)(y / 2) * im->stride[1] + x / 2];
      v = im->data[2][(gsize)(y / 2) * im->stride[2] + x / 2];
    } else {
      const guint8 *uv
          = im->data[1] + (gsize)(y / 2) * im->stride[1] + (gsize)(x / 2) * 2;
      u = uv[0];
      v = uv[1];
    }
    yy = (yy - r->yuv.y_offset) * r->yuv.y_scale;
    u = (u - 128.0f) * r->yuv.c_scale;
    v = (v - 128.0f) * r->yuv.c_scale;
    rgb[0] = clamp_255 (yy + r->yuv.cr_r * v);
    rgb[1] = clamp_255 (yy + r->yuv.cb_g * u + r->yuv.cr_g * v);
    rgb[2] = clamp_255 (yy + r->yuv.cb_b * u);
  }
}

/* CLIP's normalisation (naclip.h): channel value v -> (v - mean) / std. */
static const float clip_mean[3]
    = { NACLIP_MEAN_R, NACLIP_MEAN_G, NACLIP_MEAN_B };
static const float clip_std[3] = { NACLIP_STD_R, NACLIP_STD_G, NACLIP_STD_B };

static PixelReader
make_reader (const NaclipImage *image)
{
  PixelReader reader = { 0 };

  reader.image = image;
  reader.yuv_input = is_yuv (image->format);
  if (reader.yuv_input)
    reader.yuv = get_yuv_coefficients (image->yuv_matrix);
  else
    reader.layout = packed_layouts[image->format];
  return reader;
}

/* out[c][0..n) <- the pixels of source row @y at the columns @xs[0..n),
 * as read_rgb () reads them: the samples are gathered, YUV is converted
 * and clamped on vectors. */
KERNEL_BODY void
gather_pixels (
    const PixelReader *r, guint y, const guint *xs, guint n, float out[3][TILE])
{
  const vec_f zero = { 0.0f };
  const NaclipImage *im = r->image;
  guint x = 0;

  if (!r->yuv_input) {
    const guint8 *row = im->data[0] + (gsize)y * im->stride[0];
    guint bpp = r->layout.bytes_per_pixel;
    for (guint i = 0; i < n; i++) {
      const guint8 *p = row + (gsize)xs[i] * bpp;
      out[0][i] = p[r->layout.offset[0]];
      out[1][i] = p[r->layout.offset[1]];
      out[2][i] = p[r->layout.offset[2]];
    }
    return;
  }
  {
    const guint8 *yrow = im->data[0] + (gsize)y * im->stride[0];
    const guint8 *c1 = im->data[1] + (gsize)(y / 2) * im->stride[1];
    const guint8 *c2 = im->format == NACLIP_PIXEL_I420
                           ? im->data[2] + (gsize)(y / 2) * im->stride[2]
                           : c1 + 1;
    gsize cstep = im->format == NACLIP_PIXEL_I420 ? 1 : 2;
    for (guint i = 0; i < n; i++) {
      out[0][i] = yrow[xs[i]];
      out[1][i] = c1[(gsize)(xs[i] / 2) * cstep];
      out[2][i] = c2[(gsize)(xs[i] / 2) * cstep];
    }
  }
  for (; x + LANES <= n; x += LANES) {
    const YuvCoefficients *k = &r->yuv;
    vec_f yy, u, v, c[3];
    memcpy (&yy, out[0] + x, sizeof yy);
    memcpy (&u, out[1] + x, sizeof u);
    memcpy (&v, out[2] + x, sizeof v);
    yy = (yy - k->y_offset) * k->y_scale;
    u = (u - 128.0f) * k->c_scale;
    v = (v - 128.0f) * k->c_scale;
    c[0] = yy + k->cr_r * v;
    c[1] = yy + k->cb_g * u + k->cr_g * v;
    c[2] = yy + k->cb_b * u;
    for (guint ch = 0; ch < 3; ch++) {
      c[ch] = SELECT (c[ch] < 0.0f, zero, c[ch]);
      c[ch] = SELECT (c[ch] > 255.0f, zero + 255.0f, c[ch]);
      memcpy (out[ch] + x, &c[ch], sizeof c[ch]);
    }
  }
  for (; x < n; x++) {
    float rgb[3];
    read_rgb (r, xs[x], y, rgb);
    for (guint ch = 0; ch < 3; ch++)
      out[ch][x] = rgb[ch];
  }
}

/* Output rows [y0, y1) of naclip_image_preprocess (), a tile of columns
 * at a time as resize_rows_body () does, the horizontal pass reading the
 * image's pixels. */
KERNEL_BODY void
preprocess_rows_body (const PixelReader *r, guint out_width, guint out_height,
    float *out, guint y0, guint y1)
{
  const NaclipImage *im = r->image;
  gsize plane = (gsize)out_width * out_height;
  guint i0[TILE], i1[TILE];
  float l0[TILE], l1[TILE];
  float p0[3][TILE], p1[3][TILE];
  float h[2][3][TILE];

  for (guint x0 = 0; x0 < out_width; x0 += TILE) {
    guint n = MIN (TILE, out_width - x0);
    gint64 slots[2] = { -1, -1 };
    compute_column_taps (im->width, out_width, x0, n, i0, i1, l0, l1);
    for (guint y = y0; y < y1; y++) {
      LinearTap ty = compute_tap (im->height, out_height, y);
      guint rows[2] = { ty.i0, ty.i1 }, s[2];
      for (guint k = 0; k < 2; k++) {
        gboolean fill;
        s[k] = slot_for (slots, rows[k], k == 0 ? -1 : (gint)s[0], &fill);
        if (!fill)
          continue;
        gather_pixels (r, rows[k], i0, n, p0);
        gather_pixels (r, rows[k], i1, n, p1);
        for (guint c = 0; c < 3; c++)
          blend_columns (h[s[k]][c], p0[c], p1[c], l0, l1, n);
      }
      for (guint c = 0; c < 3; c++) {
        float *o = out + c * plane + (gsize)y * out_width + x0;
        guint x = 0;
        blend_rows (o, h[s[0]][c], h[s[1]][c], ty.l0, ty.l1, n);
        for (; x + LANES <= n; x += LANES) {
          vec_f v;
          memcpy (&v, o + x, sizeof v);
          v = (v - clip_mean[c]) / clip_std[c];
          memcpy (o + x, &v, sizeof v);
        }
        for (; x < n; x++)
          o[x] = (o[x] - clip_mean[c]) / clip_std[c];
      }
    }
  }
}

DEFINE_CLONES (void, preprocess_rows,
    (const PixelReader *r, guint out_width, guint out_height, float *out,
        guint y0, guint y1),
    (r, out_width, out_height, out, y0, y1))

void
naclip_image_preprocess (const NaclipImage *image, guint out_width,
    guint out_height, float *out, guint n_threads)
{
  __typeof__ (preprocess_rows_baseline) *preprocess_rows
      = PICK (kernel_level (), preprocess_rows);
  PixelReader reader;
  /* About 40 operations per output pixel. */
  gboolean parallel
      = (gsize)out_width * out_height * 40 >= NACLIP_PARALLEL_MIN_OPS;

  g_return_if_fail (image != NULL && out != NULL);
  g_return_if_fail (naclip_image_validate (image, NULL));

  reader = make_reader (image);
  /* out: (3, out_height, out_width), (resized value - mean) / std */
#pragma omp parallel num_threads(MAX(n_threads, 1u)) if (parallel)
  {
    guint y0, y1;
    thread_rows (out_height, &y0, &y1);
    preprocess_rows (&reader, out_width, out_height, out, y0, y1);
  }
}

void
naclip_image_preprocess_ref (
    const NaclipImage *image, guint out_width, guint out_height, float *out)
{
  PixelReader reader;
  gsize plane = (gsize)out_width * out_height;

  g_return_if_fail (image != NULL && out != NULL);
  g_return_if_fail (naclip_image_validate (image, NULL));

  reader = make_reader (image);
  for (guint y = 0; y < out_height; y++) {
    LinearTap ty = compute_tap (image->height, out_height, y);
    for (guint x = 0; x < out_width; x++) {
      LinearTap tx = compute_tap (image->width, out_width, x);
      float p00[3], p01[3], p10[3], p11[3];
      float *o = out + (gsize)y * out_width + x;
      read_rgb (&reader, tx.i0, ty.i0, p00);
      read_rgb (&reader, tx.i1, ty.i0, p01);
      read_rgb (&reader, tx.i0, ty.i1, p10);
      read_rgb (&reader, tx.i1, ty.i1, p11);
      for (guint c = 0; c < 3; c++) {
        float top = p00[c] * tx.l0 + p01[c] * tx.l1;
        float bottom = p10[c] * tx.l0 + p11[c] * tx.l1;
        float v = top * ty.l0 + bottom * ty.l1;
        o[c * plane] = (v - clip_mean[c]) / clip_std[c];
      }
    }
  }
}
