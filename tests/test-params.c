/* test-params.c: defaults, validation and names of NaclipParams. */

#include <math.h>

#include "naclip.h"

static void
test_defaults (void)
{
  NaclipParams p = naclip_params_default ();
  g_assert_true (naclip_params_validate (&p, NULL));
  g_assert_cmpuint (p.inference_size, ==, 336);
  g_assert_cmpuint (p.slide_stride, ==, 112);
  g_assert_cmpfloat (p.gaussian_std, ==, 5.0f);
  g_assert_cmpfloat (p.logit_scale, ==, 40.0f);
  g_assert_cmpuint (p.pamr_steps, ==, 10);
  g_assert_cmpuint (p.n_pamr_dilations, ==, 2);
  g_assert_cmpuint (p.pamr_dilations[0], ==, 8);
  g_assert_cmpuint (p.pamr_dilations[1], ==, 16);
}

static void
expect_invalid (const NaclipParams *p, const char *needle)
{
  GError *error = NULL;
  g_assert_false (naclip_params_validate (p, &error));
  g_assert_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT);
  if (strstr (error->message, needle) == NULL)
    g_error ("message \"%s\" does not name \"%s\"", error->message, needle);
  g_clear_error (&error);
}

static void
test_validate (void)
{
  NaclipParams p = naclip_params_default ();
  p.slide_stride = 0;
  expect_invalid (&p, "slide-stride 0");
  p = naclip_params_default ();
  p.gaussian_std = NAN;
  expect_invalid (&p, "gaussian-std");
  p.gaussian_std = 0.0f;
  expect_invalid (&p, "gaussian-std 0");
  p = naclip_params_default ();
  p.logit_scale = INFINITY;
  expect_invalid (&p, "logit-scale inf");
  p = naclip_params_default ();
  p.n_pamr_dilations = 0;
  expect_invalid (&p, "pamr-dilations");
  p.pamr_steps = 0;
  g_assert_true (naclip_params_validate (&p, NULL));
  p = naclip_params_default ();
  p.class_confidence_threshold = 1.5f;
  expect_invalid (&p, "class-confidence-threshold 1.5");
  p = naclip_params_default ();
  p.threads = 0;
  expect_invalid (&p, "threads 0");
}

static void
test_names (void)
{
  NaclipAttention a;
  NaclipArch arch;
  NaclipPrecision prec;
  const char *attn[] = { "naclip", "kk", "nonly", "csa", "vanilla" };
  for (guint i = 0; i < G_N_ELEMENTS (attn); i++) {
    g_assert_true (naclip_attention_from_string (attn[i], &a));
    g_assert_cmpstr (naclip_attention_to_string (a), ==, attn[i]);
  }
  g_assert_false (naclip_attention_from_string ("NACLIP", &a));
  g_assert_false (naclip_attention_from_string (NULL, &a));
  g_assert_true (naclip_arch_from_string ("vanilla", &arch));
  g_assert_cmpint (arch, ==, NACLIP_ARCH_VANILLA);
  g_assert_false (naclip_arch_from_string ("", &arch));
  g_assert_true (naclip_precision_from_string ("bf16", &prec));
  g_assert_cmpint (prec, ==, NACLIP_PRECISION_BF16);
  g_assert_true (naclip_precision_from_string ("int8", &prec));
  g_assert_cmpint (prec, ==, NACLIP_PRECISION_INT8);
  g_assert_cmpstr (naclip_precision_to_string (prec), ==, "int8");
  g_assert_false (naclip_precision_from_string ("INT8", &prec));
  g_assert_cmpstr (
      naclip_precision_to_string (NACLIP_PRECISION_AUTO), ==, "auto");
}

static void
test_dilations (void)
{
  guint d[NACLIP_MAX_PAMR_DILATIONS];
  guint n = 0;
  GError *error = NULL;
  g_assert_true (naclip_parse_dilations ("8,16", d, &n, NULL));
  g_assert_cmpuint (n, ==, 2);
  g_assert_cmpuint (d[0], ==, 8);
  g_assert_cmpuint (d[1], ==, 16);
  g_assert_true (naclip_parse_dilations (" 1 ", d, &n, NULL));
  g_assert_cmpuint (n, ==, 1);
  g_assert_false (naclip_parse_dilations ("", d, &n, &error));
  g_assert_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (naclip_parse_dilations ("8,0", d, &n, &error));
  g_assert_nonnull (strstr (error->message, "\"0\""));
  g_clear_error (&error);
  g_assert_false (naclip_parse_dilations ("8,x", d, &n, &error));
  g_clear_error (&error);
  g_assert_false (naclip_parse_dilations ("1,2,3,4,5,6,7,8,9", d, &n, &error));
  g_clear_error (&error);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/params/defaults", test_defaults);
  g_test_add_func ("/params/validate", test_validate);
  g_test_add_func ("/params/names", test_names);
  g_test_add_func ("/params/dilations", test_dilations);
  return g_test_run ();
}
