/* fuzz-geometry.c: libFuzzer target for frame geometry: image layouts,
 * the processing size and buffer sizes (bad-input rows G01-G05).
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The input describes a frame as the element hands it to the library
 * (format, yuv matrix, width, height, the stride of each plane, the
 * inference size, PAMR dilations). Planes are allocated with exactly
 * stride * rows bytes for the rows the format has, so that a geometry
 * naclip_image_validate() accepts but the pixel code reads beyond is an
 * AddressSanitizer report. For accepted frames of at most 2^22 bytes the
 * target runs naclip_image_scaled_size() (checked against its contract:
 * 1..max(2048, short) on each side, aspect kept within a pixel) and
 * naclip_image_preprocess() into a buffer of exactly 3 * w * h floats at a
 * small output size, and checks that naclip_pamr_work_size() either fits
 * or reports 0 on overflow.
 */

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "naclip-private.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* The level the frame kernels dispatch on, without src/cpu.c (which
 * brings the matrix-product backends in): the widest one the CPU runs, so
 * that the clones the machine uses are the ones fuzzed. */
NaclipCpuIsa
naclip_cpu_get_isa (NaclipCpuIsa *detected)
{
  NaclipCpuIsa isa = NACLIP_CPU_ISA_BASELINE;

#if defined(__x86_64__)
  if (__builtin_cpu_supports ("avx512f") && __builtin_cpu_supports ("avx512bw")
      && __builtin_cpu_supports ("avx512dq")
      && __builtin_cpu_supports ("avx512vl"))
    isa = NACLIP_CPU_ISA_AVX512_CORE;
  else if (__builtin_cpu_supports ("avx2") && __builtin_cpu_supports ("fma"))
    isa = NACLIP_CPU_ISA_AVX2;
#endif
  if (detected != NULL)
    *detected = isa;
  return isa;
}

typedef struct
{
  const uint8_t *p;
  size_t n;
} Reader;

static guint32
take (Reader *r, guint n_bytes)
{
  guint32 v = 0;

  for (guint i = 0; i < n_bytes; i++) {
    v |= (guint32)(r->n > 0 ? r->p[0] : 0) << (8 * i);
    if (r->n > 0) {
      r->p++;
      r->n--;
    }
  }
  return v;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  Reader r = { data, size };
  NaclipImage image = { 0 };
  guint8 *planes[3] = { NULL, NULL, NULL };
  guint rows[3];
  guint n_planes, short_side, out_w, out_h, dilation;
  gsize total = 0;
  gboolean yuv;
  GError *error = NULL;

  image.format = (NaclipPixelFormat)(take (&r, 1) % 13);
  image.yuv_matrix = (NaclipYuvMatrix)(take (&r, 1) % 5);
  image.width = take (&r, 3);
  image.height = take (&r, 3);
  for (guint i = 0; i < 3; i++)
    image.stride[i] = take (&r, 3);
  short_side = take (&r, 2);
  dilation = take (&r, 1);

  yuv = image.format == NACLIP_PIXEL_I420 || image.format == NACLIP_PIXEL_NV12;
  n_planes = image.format == NACLIP_PIXEL_I420 ? 3 : (yuv ? 2 : 1);
  rows[0] = image.height;
  rows[1] = rows[2] = (image.height + 1) / 2;
  for (guint i = 0; i < n_planes; i++) {
    gsize bytes;
    if (!g_size_checked_mul (&bytes, image.stride[i], rows[i]))
      return 0;
    total += bytes;
  }
  /* Describe planes without allocating when the frame would be large:
   * validation must not touch pixel memory. */
  if (total > (1u << 22)) {
    static const guint8 dummy = 0;
    for (guint i = 0; i < n_planes; i++)
      image.data[i] = &dummy;
    if (!naclip_image_validate (&image, &error))
      g_clear_error (&error);
    return 0;
  }
  for (guint i = 0; i < n_planes; i++) {
    gsize bytes = (gsize)image.stride[i] * rows[i];
    planes[i] = g_malloc (MAX (bytes, 1));
    memset (planes[i], 0x80 + i, bytes);
    image.data[i] = planes[i];
  }

  if (!naclip_image_validate (&image, &error)) {
    g_assert (error != NULL && error->code == NACLIP_ERROR_INVALID_ARGUMENT);
    g_clear_error (&error);
    goto out;
  }
  naclip_image_scaled_size (
      image.width, image.height, short_side, &out_w, &out_h);
  g_assert (out_w >= 1 && out_h >= 1);
  if (short_side == 0) {
    g_assert (out_w == image.width && out_h == image.height);
  } else {
    guint cap = MAX (2048u, short_side);
    double aspect_in = (double)image.width / image.height;
    double aspect_out = (double)out_w / out_h;
    g_assert (out_w <= cap + 1 && out_h <= cap + 1);
    /* Rounding moves each side by at most half a pixel (plus the
     * one-pixel floor). */
    g_assert (fabs (aspect_out - aspect_in)
                  <= aspect_in * (1.0 / out_h + 1.0 / out_w) + 1e-9
              || out_w == 1 || out_h == 1);
  }
  {
    guint pw = MIN (out_w, 24u), ph = MIN (out_h, 24u);
    g_autofree float *out = g_new (float, 3 * (gsize)pw * ph);
    guint dilations[NACLIP_MAX_PAMR_DILATIONS];
    guint n_dilations = dilation % NACLIP_MAX_PAMR_DILATIONS + 1;
    for (guint i = 0; i < n_dilations; i++)
      dilations[i] = 1 + dilation * (i + 1) % 100; /* some above 64 */
    gsize work
        = naclip_pamr_work_size (3, out_h, out_w, dilations, n_dilations);
    naclip_image_preprocess (&image, pw, ph, out, 1);
    for (gsize i = 0; i < 3 * (gsize)pw * ph; i++)
      g_assert (isfinite (out[i]));
    g_assert (work == 0 || work >= (gsize)out_w * out_h * 3);
  }

out:
  for (guint i = 0; i < 3; i++)
    g_free (planes[i]);
  return 0;
}
