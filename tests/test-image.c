/* test-image.c: pre-processing and bilinear resampling (src/image.c).
 *
 * Parity with PyTorch's F.interpolate(mode="bilinear", align_corners=False)
 * and the normalisation of the authors' test pipeline, through a Python snippet run by
 * the test; every pixel format against the packed RGB result (bit-exact),
 * strides with padding, YUV against the textbook matrices, the mmseg
 * scaled-size rule and the geometry checks.
 */

#include <math.h>
#include <string.h>

#include "naclip-private.h"
#include "pyhelper.h"

/* Tolerances: the resize repeats PyTorch's float operations in the same
 * order, so only contraction differences could remain. */
#define RESIZE_ATOL 1e-6
#define RESIZE_RTOL 1e-6
/* YUV: textbook coefficients have 6 decimals, in 0..255 units. */
#define YUV_ATOL_255 2e-3

static float *
random_floats (GRand *rand, gsize n, double lo, double hi)
{
  float *v = g_new (float, n);
  for (gsize i = 0; i < n; i++)
    v[i] = (float)g_rand_double_range (rand, lo, hi);
  return v;
}

static void
test_resize_parity (void)
{
  static const guint sizes[][4] = {
    /* in_h, in_w, out_h, out_w */
    { 7, 9, 33, 20 },
    { 50, 37, 13, 29 },
    { 21, 28, 336, 448 },
    { 14, 14, 224, 224 },
    { 1, 1, 5, 4 },
    { 5, 1, 3, 7 },
    { 16, 16, 16, 16 },
    { 16, 20, 16, 9 },
    { 3, 3, 1, 1 },
  };
  g_autofree char *dir = pyhelper_scratch_dir ("image-resize");
  GRand *rand = g_rand_new_with_seed (1234);
  const guint n_channels = 3;
  GString *script = g_string_new ("import numpy as np, torch\n"
                                  "import torch.nn.functional as F\n");

  for (guint t = 0; t < G_N_ELEMENTS (sizes); t++) {
    gsize in_shape[3] = { n_channels, sizes[t][0], sizes[t][1] };
    g_autofree char *name = g_strdup_printf ("in%u.npy", t);
    g_autofree float *in = random_floats (
        rand, n_channels * sizes[t][0] * sizes[t][1], -3.0, 3.0);
    pyhelper_write (dir, name, in, in_shape, 3);
    g_string_append_printf (script,
        "x = torch.from_numpy(np.load('in%u.npy'))[None]\n"
        "y = F.interpolate(x, size=(%u, %u), mode='bilinear',"
        " align_corners=False)\n"
        "np.save('out%u.npy', y[0].numpy().astype(np.float32))\n",
        t, sizes[t][2], sizes[t][3], t);
  }
  pyhelper_run (dir, script->str);

  for (guint t = 0; t < G_N_ELEMENTS (sizes); t++) {
    g_autofree char *in_name = g_strdup_printf ("in%u.npy", t);
    g_autofree char *out_name = g_strdup_printf ("out%u.npy", t);
    g_autofree char *what = g_strdup_printf ("resize %ux%u -> %ux%u",
        sizes[t][0], sizes[t][1], sizes[t][2], sizes[t][3]);
    gsize n_in = n_channels * sizes[t][0] * sizes[t][1];
    gsize n_out = n_channels * sizes[t][2] * sizes[t][3];
    g_autofree float *in = pyhelper_read (dir, in_name, n_in);
    g_autofree float *want = pyhelper_read (dir, out_name, n_out);
    g_autofree float *got = g_new (float, n_out);
    naclip_image_resize_bilinear (in, n_channels, sizes[t][0], sizes[t][1], got,
        sizes[t][2], sizes[t][3], 2);
    pyhelper_assert_close (what, got, want, n_out, RESIZE_ATOL, RESIZE_RTOL);
  }
  g_string_free (script, TRUE);
  g_rand_free (rand);
}

/* A random RGB image (packed, stride = 3 * width). */
static guint8 *
random_rgb (GRand *rand, guint width, guint height)
{
  guint8 *rgb = g_new (guint8, (gsize)width * height * 3);
  for (gsize i = 0; i < (gsize)width * height * 3; i++)
    rgb[i] = (guint8)g_rand_int_range (rand, 0, 256);
  return rgb;
}

static void
test_preprocess_parity (void)
{
  static const guint cases[][3] = {
    /* width, height, short side */
    { 53, 37, 24 },
    { 40, 64, 80 },
    { 31, 31, 0 },
    { 500, 375, 336 },
  };
  g_autofree char *dir = pyhelper_scratch_dir ("image-preprocess");
  GRand *rand = g_rand_new_with_seed (99);
  GString *script = g_string_new (
      "import numpy as np, torch\n"
      "import torch.nn.functional as F\n"
      "mean = torch.tensor([122.771, 116.746, 104.094]).view(3, 1, 1)\n"
      "std = torch.tensor([68.501, 66.632, 70.323]).view(3, 1, 1)\n");
  guint out_w[G_N_ELEMENTS (cases)], out_h[G_N_ELEMENTS (cases)];
  float *got[G_N_ELEMENTS (cases)];

  for (guint t = 0; t < G_N_ELEMENTS (cases); t++) {
    guint w = cases[t][0], h = cases[t][1];
    g_autofree guint8 *rgb = random_rgb (rand, w, h);
    g_autofree float *as_float = g_new (float, (gsize)w *h * 3);
    gsize shape[3] = { h, w, 3 };
    g_autofree char *name = g_strdup_printf ("rgb%u.npy", t);
    NaclipImage image = { .format = NACLIP_PIXEL_RGB,
      .width = w,
      .height = h,
      .data = { rgb },
      .stride = { (gsize)w * 3 } };

    for (gsize i = 0; i < (gsize)w * h * 3; i++)
      as_float[i] = rgb[i];
    pyhelper_write (dir, name, as_float, shape, 3);
    naclip_image_scaled_size (w, h, cases[t][2], &out_w[t], &out_h[t]);
    got[t] = g_new (float, (gsize)3 * out_w[t] * out_h[t]);
    naclip_image_preprocess (&image, out_w[t], out_h[t], got[t], 2);
    g_string_append_printf (script,
        "x = torch.from_numpy(np.load('rgb%u.npy')).permute(2, 0, 1)[None]\n"
        "if (%u, %u) != tuple(x.shape[2:]):\n"
        "    x = F.interpolate(x, size=(%u, %u), mode='bilinear',"
        " align_corners=False)\n"
        "y = (x[0] - mean) / std\n"
        "np.save('pre%u.npy', y.numpy().astype(np.float32))\n",
        t, out_h[t], out_w[t], out_h[t], out_w[t], t);
  }
  pyhelper_run (dir, script->str);
  for (guint t = 0; t < G_N_ELEMENTS (cases); t++) {
    g_autofree char *name = g_strdup_printf ("pre%u.npy", t);
    g_autofree char *what = g_strdup_printf ("preprocess %ux%u -> %ux%u",
        cases[t][0], cases[t][1], out_w[t], out_h[t]);
    gsize n = (gsize)3 * out_w[t] * out_h[t];
    g_autofree float *want = pyhelper_read (dir, name, n);
    pyhelper_assert_close (what, got[t], want, n, 1e-5, 1e-5);
    g_free (got[t]);
  }
  g_string_free (script, TRUE);
  g_rand_free (rand);
}

typedef struct
{
  NaclipPixelFormat format;
  guint bpp;
  int order[4]; /* source channel (0 R, 1 G, 2 B, -1 filler) per byte */
} PackedCase;

static void
test_packed_formats (void)
{
  static const PackedCase cases[] = {
    { NACLIP_PIXEL_BGR, 3, { 2, 1, 0 } },
    { NACLIP_PIXEL_RGBA, 4, { 0, 1, 2, -1 } },
    { NACLIP_PIXEL_BGRA, 4, { 2, 1, 0, -1 } },
    { NACLIP_PIXEL_ARGB, 4, { -1, 0, 1, 2 } },
    { NACLIP_PIXEL_ABGR, 4, { -1, 2, 1, 0 } },
    { NACLIP_PIXEL_RGBX, 4, { 0, 1, 2, -1 } },
    { NACLIP_PIXEL_BGRX, 4, { 2, 1, 0, -1 } },
    { NACLIP_PIXEL_XRGB, 4, { -1, 0, 1, 2 } },
    { NACLIP_PIXEL_XBGR, 4, { -1, 2, 1, 0 } },
    { NACLIP_PIXEL_RGB, 3, { 0, 1, 2 } },
  };
  const guint w = 385, h = 29, ow = 96, oh = 17;
  GRand *rand = g_rand_new_with_seed (7);
  g_autofree guint8 *rgb = random_rgb (rand, w, h);
  NaclipImage ref = { .format = NACLIP_PIXEL_RGB,
    .width = w,
    .height = h,
    .data = { rgb },
    .stride = { (gsize)w * 3 } };
  g_autofree float *want = g_new (float, 3 * ow * oh);
  g_autofree float *got = g_new (float, 3 * ow * oh);

  naclip_image_preprocess (&ref, ow, oh, want, 1);
  for (guint t = 0; t < G_N_ELEMENTS (cases); t++) {
    /* Padded stride: 64 bytes more than the row. */
    gsize stride = (gsize)w * cases[t].bpp + 64;
    g_autofree guint8 *buf = g_new (guint8, stride * h);
    NaclipImage image = { .format = cases[t].format,
      .width = w,
      .height = h,
      .data = { buf },
      .stride = { stride } };
    for (gsize i = 0; i < stride * h; i++)
      buf[i] = (guint8)g_rand_int_range (rand, 0, 256);
    for (guint y = 0; y < h; y++) {
      for (guint x = 0; x < w; x++) {
        for (guint b = 0; b < cases[t].bpp; b++) {
          if (cases[t].order[b] >= 0)
            buf[y * stride + x * cases[t].bpp + b]
                = rgb[(y * w + x) * 3 + cases[t].order[b]];
        }
      }
    }
    g_assert_true (naclip_image_validate (&image, NULL));
    naclip_image_preprocess (&image, ow, oh, got, 2);
    g_assert_cmpmem (
        got, 3 * ow * oh * sizeof (float), want, 3 * ow * oh * sizeof (float));
  }
  g_rand_free (rand);
}

/* Textbook YUV -> RGB (ITU-R BT.601 / BT.709), independent of image.c. */
static void
yuv_to_rgb (NaclipYuvMatrix m, double y, double u, double v, double rgb[3])
{
  switch (m) {
    case NACLIP_YUV_BT601_LIMITED:
      y = 1.164383 * (y - 16);
      u -= 128;
      v -= 128;
      rgb[0] = y + 1.596027 * v;
      rgb[1] = y - 0.391762 * u - 0.812968 * v;
      rgb[2] = y + 2.017232 * u;
      break;
    case NACLIP_YUV_BT709_LIMITED:
      y = 1.164383 * (y - 16);
      u -= 128;
      v -= 128;
      rgb[0] = y + 1.792741 * v;
      rgb[1] = y - 0.213249 * u - 0.532909 * v;
      rgb[2] = y + 2.112402 * u;
      break;
    case NACLIP_YUV_BT601_FULL:
      u -= 128;
      v -= 128;
      rgb[0] = y + 1.402 * v;
      rgb[1] = y - 0.344136 * u - 0.714136 * v;
      rgb[2] = y + 1.772 * u;
      break;
    case NACLIP_YUV_BT709_FULL:
    default:
      u -= 128;
      v -= 128;
      rgb[0] = y + 1.5748 * v;
      rgb[1] = y - 0.187324 * u - 0.468124 * v;
      rgb[2] = y + 1.8556 * u;
      break;
  }
  for (int c = 0; c < 3; c++)
    rgb[c] = CLAMP (rgb[c], 0.0, 255.0);
}

static void
test_yuv_formats (void)
{
  static const float mean[3] = { 122.771f, 116.746f, 104.094f };
  static const float std[3] = { 68.501f, 66.632f, 70.323f };
  const guint w = 37, h = 23, cw = (w + 1) / 2, ch = (h + 1) / 2;
  GRand *rand = g_rand_new_with_seed (42);
  gsize ys = w + 5, us = cw + 3, uvs = 2 * cw + 7;
  g_autofree guint8 *yp = g_new (guint8, ys * h);
  g_autofree guint8 *up = g_new (guint8, us * ch);
  g_autofree guint8 *vp = g_new (guint8, us * ch);
  g_autofree guint8 *uvp = g_new (guint8, uvs * ch);
  g_autofree float *got = g_new (float, 3 * w * h);
  g_autofree float *want = g_new (float, 3 * w * h);

  for (gsize i = 0; i < ys * h; i++)
    yp[i] = (guint8)g_rand_int_range (rand, 0, 256);
  for (gsize i = 0; i < us * ch; i++) {
    up[i] = (guint8)g_rand_int_range (rand, 0, 256);
    vp[i] = (guint8)g_rand_int_range (rand, 0, 256);
  }
  for (guint y = 0; y < ch; y++) {
    for (guint x = 0; x < cw; x++) {
      uvp[y * uvs + 2 * x] = up[y * us + x];
      uvp[y * uvs + 2 * x + 1] = vp[y * us + x];
    }
  }
  for (int m = NACLIP_YUV_BT601_LIMITED; m <= NACLIP_YUV_BT709_FULL; m++) {
    NaclipImage i420 = { .format = NACLIP_PIXEL_I420,
      .width = w,
      .height = h,
      .data = { yp, up, vp },
      .stride = { ys, us, us },
      .yuv_matrix = (NaclipYuvMatrix)m };
    NaclipImage nv12 = { .format = NACLIP_PIXEL_NV12,
      .width = w,
      .height = h,
      .data = { yp, uvp },
      .stride = { ys, uvs },
      .yuv_matrix = (NaclipYuvMatrix)m };
    g_autofree char *what = g_strdup_printf ("I420 matrix %d", m);

    for (guint y = 0; y < h; y++) {
      for (guint x = 0; x < w; x++) {
        double rgb[3];
        yuv_to_rgb ((NaclipYuvMatrix)m, yp[y * ys + x],
            up[(y / 2) * us + x / 2], vp[(y / 2) * us + x / 2], rgb);
        for (int c = 0; c < 3; c++)
          want[c * w * h + y * w + x] = (float)((rgb[c] - mean[c]) / std[c]);
      }
    }
    g_assert_true (naclip_image_validate (&i420, NULL));
    naclip_image_preprocess (&i420, w, h, got, 1);
    pyhelper_assert_close (
        what, got, want, 3 * w * h, YUV_ATOL_255 / 66.0, 0.0);
    g_assert_true (naclip_image_validate (&nv12, NULL));
    {
      g_autofree float *got_nv12 = g_new (float, 3 * w * h);
      naclip_image_preprocess (&nv12, w, h, got_nv12, 2);
      g_assert_cmpmem (got_nv12, 3 * w * h * sizeof (float), got,
          3 * w * h * sizeof (float));
    }
  }
  g_rand_free (rand);
}

static void
test_scaled_size (void)
{
  static const guint cases[][5] = {
    /* width, height, short side, expected width, height (mmcv
     * rescale_size with scale (2048, short side)) */
    { 500, 375, 336, 448, 336 },
    { 375, 500, 336, 336, 448 },
    { 2048, 1024, 336, 672, 336 },
    { 10000, 100, 336, 2048, 20 },
    { 10, 8, 336, 420, 336 },
    { 640, 480, 0, 640, 480 },
    { 2048, 1024, 560, 1120, 560 },
    { 333, 333, 336, 336, 336 },
    { 1, 100000, 336, 1, 2048 },
  };
  for (guint t = 0; t < G_N_ELEMENTS (cases); t++) {
    guint w = 0, h = 0;
    naclip_image_scaled_size (cases[t][0], cases[t][1], cases[t][2], &w, &h);
    if (w != cases[t][3] || h != cases[t][4])
      g_error ("scaled size of %ux%u at %u: got %ux%u, want %ux%u", cases[t][0],
          cases[t][1], cases[t][2], w, h, cases[t][3], cases[t][4]);
  }
}

static void
expect_invalid (const NaclipImage *image, const char *needle)
{
  GError *error = NULL;
  g_assert_false (naclip_image_validate (image, &error));
  g_assert_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT);
  if (strstr (error->message, needle) == NULL)
    g_error ("message \"%s\" does not name \"%s\"", error->message, needle);
  g_clear_error (&error);
}

static void
test_validate (void)
{
  guint8 buf[64 * 64 * 4] = { 0 };
  NaclipImage im = { .format = NACLIP_PIXEL_RGBA,
    .width = 16,
    .height = 16,
    .data = { buf },
    .stride = { 64 } };
  g_assert_true (naclip_image_validate (&im, NULL));
  im.width = 0;
  expect_invalid (&im, "size 0x16");
  im.width = 16;
  im.stride[0] = 63;
  expect_invalid (&im, "63 bytes, expected at least 64");
  im.stride[0] = 64;
  im.data[0] = NULL;
  expect_invalid (&im, "plane 0");
  im.data[0] = buf;
  im.format = (NaclipPixelFormat)99;
  expect_invalid (&im, "format 99");
  im.format = NACLIP_PIXEL_I420;
  im.width = 15;
  im.stride[0] = 15;
  expect_invalid (&im, "plane 1 (U) is missing");
  im.data[1] = buf;
  im.data[2] = buf;
  im.stride[1] = 8;
  im.stride[2] = 7;
  expect_invalid (&im, "plane 2 (V) is 7 bytes, expected at least 8");
  im.stride[2] = 8;
  g_assert_true (naclip_image_validate (&im, NULL));
  im.yuv_matrix = (NaclipYuvMatrix)7;
  expect_invalid (&im, "yuv_matrix 7");
  im.yuv_matrix = NACLIP_YUV_BT709_FULL;
  im.format = NACLIP_PIXEL_NV12;
  im.stride[1] = 15;
  expect_invalid (&im, "plane 1 (UV) is 15 bytes, expected at least 16");
  im.height = 20000;
  expect_invalid (&im, "size 15x20000");
}

/* The fast resize against its plain-C twin at the CPU level of this run (meson
 * runs the program again at sse41, the capped variant at avx2): up and down,
 * an axis unchanged, widths across tiles and with vector tails, one and two
 * threads. */
static void
test_resize_against_ref (void)
{
  static const guint sizes[][5] = {
    /* in_h, in_w, out_h, out_w, threads */
    { 7, 9, 224, 299, 2 },
    { 224, 299, 480, 640, 2 },
    { 480, 640, 224, 299, 1 },
    { 14, 14, 224, 224, 1 },
    { 33, 600, 33, 257, 2 },
    { 20, 17, 41, 17, 2 },
    { 1, 1, 3, 5, 1 },
  };
  GRand *rand = g_rand_new_with_seed (5);

  for (guint t = 0; t < G_N_ELEMENTS (sizes); t++) {
    const guint n_channels = 3;
    gsize n_in = (gsize)n_channels * sizes[t][0] * sizes[t][1];
    gsize n_out = (gsize)n_channels * sizes[t][2] * sizes[t][3];
    g_autofree float *in = random_floats (rand, n_in, -3.0, 3.0);
    g_autofree float *got = g_new (float, n_out);
    g_autofree float *want = g_new (float, n_out);
    g_autofree char *what = g_strdup_printf (
        "resize %ux%u -> %ux%u against naclip_image_resize_bilinear_ref",
        sizes[t][0], sizes[t][1], sizes[t][2], sizes[t][3]);

    naclip_image_resize_bilinear_ref (in, n_channels, sizes[t][0], sizes[t][1],
        want, sizes[t][2], sizes[t][3]);
    naclip_image_resize_bilinear (in, n_channels, sizes[t][0], sizes[t][1], got,
        sizes[t][2], sizes[t][3], sizes[t][4]);
    pyhelper_assert_close (what, got, want, n_out, 1e-6, 1e-6);
  }
  g_rand_free (rand);
}

/* The fast pre-processing against its plain-C twin, every format (random
 * bytes, padded strides), down and up and at the image's size. */
static void
test_preprocess_against_ref (void)
{
  static const guint sizes[][4] = {
    /* width, height, out width, out height */
    { 640, 480, 299, 224 },
    { 101, 37, 300, 111 },
    { 57, 41, 57, 41 },
  };
  GRand *rand = g_rand_new_with_seed (6);

  for (guint t = 0; t < G_N_ELEMENTS (sizes); t++) {
    guint w = sizes[t][0], h = sizes[t][1];
    guint ow = sizes[t][2], oh = sizes[t][3];
    gsize n_out = (gsize)3 * ow * oh;
    /* Room for any format: 4 bytes a pixel and 16 of padding a row. */
    gsize stride = (gsize)w * 4 + 16;
    g_autofree guint8 *bytes = g_new (guint8, 2 * stride * h);
    g_autofree float *got = g_new (float, n_out);
    g_autofree float *want = g_new (float, n_out);

    for (gsize i = 0; i < 2 * stride * h; i++)
      bytes[i] = (guint8)g_rand_int_range (rand, 0, 256);
    for (int f = NACLIP_PIXEL_RGB; f <= NACLIP_PIXEL_NV12; f++) {
      NaclipImage image = { .format = (NaclipPixelFormat)f,
        .width = w,
        .height = h,
        .data = { bytes, bytes + stride * h, bytes + stride * h + w },
        .stride = { stride, stride, stride },
        .yuv_matrix = NACLIP_YUV_BT709_LIMITED };
      g_autofree char *what = g_strdup_printf ("preprocess format %d %ux%u -> "
                                               "%ux%u against the twin",
          f, w, h, ow, oh);
      g_assert_true (naclip_image_validate (&image, NULL));
      naclip_image_preprocess_ref (&image, ow, oh, want);
      naclip_image_preprocess (&image, ow, oh, got, 2);
      pyhelper_assert_close (what, got, want, n_out, 2e-6, 1e-6);
    }
  }
  g_rand_free (rand);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/image/resize-against-ref", test_resize_against_ref);
  g_test_add_func (
      "/image/preprocess-against-ref", test_preprocess_against_ref);
  g_test_add_func ("/image/resize-parity", test_resize_parity);
  g_test_add_func ("/image/preprocess-parity", test_preprocess_parity);
  g_test_add_func ("/image/packed-formats", test_packed_formats);
  g_test_add_func ("/image/yuv-formats", test_yuv_formats);
  g_test_add_func ("/image/scaled-size", test_scaled_size);
  g_test_add_func ("/image/validate", test_validate);
  return g_test_run ();
}
