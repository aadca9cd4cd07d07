/* test-cpu.c: the CPU level, its cap (NACLIP_MAX_CPU_ISA) and what follows
 * from it: the precision auto resolves to, bf16's refusal, oneDNN's ISA.
 *
 * The cap is read once per process, so each capped case runs this program
 * again with the variable set and NACLIP_TEST_CAP naming the level
 * expected, which makes it run /cpu/child only. The kernels at each level are checked by the ops
 * suite, which meson also runs capped at sse41 ("ops-sse41"). */

#include "config.h"

#include <string.h>

#if HAVE_DNNL
#include <oneapi/dnnl/dnnl.h>
#endif

#include "naclip-private.h"

static const char *self;

static void
test_names (void)
{
  for (NaclipCpuIsa isa = NACLIP_CPU_ISA_BASELINE;
       isa <= NACLIP_CPU_ISA_AVX512_CORE_AMX; isa++) {
    NaclipCpuIsa parsed;
    const char *name = naclip_cpu_isa_to_string (isa);
    g_assert_true (naclip_cpu_isa_from_string (name, &parsed));
    g_assert_cmpint (parsed, ==, isa);
    g_autofree char *upper = g_ascii_strup (name, -1);
    g_assert_true (naclip_cpu_isa_from_string (upper, &parsed));
    g_assert_cmpint (parsed, ==, isa);
  }
  const struct
  {
    const char *name;
    NaclipCpuIsa isa;
  } aliases[] = {
    { "ALL", NACLIP_CPU_ISA_AVX512_CORE_AMX },
    { "avx", NACLIP_CPU_ISA_BASELINE },
    { "AVX2_VNNI", NACLIP_CPU_ISA_AVX2 },
  };
  for (guint i = 0; i < G_N_ELEMENTS (aliases); i++) {
    NaclipCpuIsa parsed;
    g_assert_true (naclip_cpu_isa_from_string (aliases[i].name, &parsed));
    g_assert_cmpint (parsed, ==, aliases[i].isa);
  }
  NaclipCpuIsa parsed = NACLIP_CPU_ISA_AVX2;
  g_assert_false (naclip_cpu_isa_from_string ("avx3", &parsed));
  g_assert_false (naclip_cpu_isa_from_string ("", &parsed));
  g_assert_cmpint (parsed, ==, NACLIP_CPU_ISA_AVX2);
}

/* What must hold at the level the process runs at, capped or not. */
static void
check_level (NaclipCpuIsa isa)
{
  NaclipPrecision p;
  GError *error = NULL;
  gboolean bf16 = naclip_precision_resolve (NACLIP_PRECISION_BF16, &p, &error);

  if (isa < NACLIP_CPU_ISA_AVX512_CORE_BF16) {
    g_assert_false (bf16);
    g_assert_error (error, NACLIP_ERROR, NACLIP_ERROR_UNSUPPORTED);
    g_test_message (
        "bf16 at %s: %s", naclip_cpu_isa_to_string (isa), error->message);
    g_clear_error (&error);
  } else if (!bf16) {
    /* a build without oneDNN */
    g_assert_error (error, NACLIP_ERROR, NACLIP_ERROR_UNSUPPORTED);
    g_clear_error (&error);
  }
  /* int8: oneDNN has VNNI or AMX kernels from avx512_core_vnni up; below,
   * its 16-bit kernels may or may not be there */
  gboolean int8 = naclip_precision_resolve (NACLIP_PRECISION_INT8, &p, &error);
  if (int8) {
    g_assert_true (HAVE_DNNL);
    g_assert_cmpint (p, ==, NACLIP_PRECISION_INT8);
  } else {
    g_assert_true (!HAVE_DNNL || isa < NACLIP_CPU_ISA_AVX512_CORE_VNNI);
    g_assert_error (error, NACLIP_ERROR, NACLIP_ERROR_UNSUPPORTED);
    g_test_message (
        "int8 at %s: %s", naclip_cpu_isa_to_string (isa), error->message);
    g_clear_error (&error);
  }
  g_assert_true (naclip_precision_resolve (NACLIP_PRECISION_AUTO, &p, NULL));
  g_assert_cmpint (p, ==, bf16 ? NACLIP_PRECISION_BF16 : NACLIP_PRECISION_FP32);
  g_autofree char *desc = naclip_precision_describe ();
  g_assert_true (g_str_has_prefix (desc, naclip_precision_to_string (p)));
  g_assert_nonnull (strstr (desc, naclip_cpu_isa_to_string (isa)));
#if HAVE_DNNL
  /* oneDNN runs at most at the library's level (its values are masks of
   * features: a cap is a subset). */
  const dnnl_cpu_isa_t masks[] = {
    dnnl_cpu_isa_sse41,
    dnnl_cpu_isa_avx2,
    dnnl_cpu_isa_avx512_core,
    dnnl_cpu_isa_avx512_core_vnni,
    dnnl_cpu_isa_avx512_core_bf16,
    dnnl_cpu_isa_avx512_core_amx,
  };
  unsigned int effective = dnnl_get_effective_cpu_isa ();
  g_assert_cmphex (effective & ~(unsigned int)masks[isa], ==, 0);
#endif
}

static void
test_level (void)
{
  NaclipCpuIsa detected, isa = naclip_cpu_get_isa (&detected);
  const char *cap = g_getenv ("NACLIP_MAX_CPU_ISA");
  NaclipCpuIsa cap_isa;

  g_test_message ("CPU %s, used %s", naclip_cpu_isa_to_string (detected),
      naclip_cpu_isa_to_string (isa));
  g_assert_cmpint (isa, <=, detected);
  if (cap != NULL && naclip_cpu_isa_from_string (cap, &cap_isa))
    g_assert_cmpint (isa, ==, MIN (cap_isa, detected));
  else
    g_assert_cmpint (isa, ==, detected);
  check_level (isa);
}

/* Each level at or below the CPU's, in a new process capped at it. */
static void
test_caps (void)
{
  NaclipCpuIsa detected;
  naclip_cpu_get_isa (&detected);

  for (NaclipCpuIsa cap = NACLIP_CPU_ISA_BASELINE; cap <= detected; cap++) {
    const char *name = naclip_cpu_isa_to_string (cap);
    g_auto (GStrv) env = g_get_environ ();
    env = g_environ_setenv (env, "NACLIP_MAX_CPU_ISA", name, TRUE);
    env = g_environ_setenv (env, "NACLIP_TEST_CAP", name, TRUE);
    env = g_environ_unsetenv (env, "ONEDNN_MAX_CPU_ISA");
    const char *argv[] = { self, NULL };
    g_autofree char *out = NULL, *err = NULL;
    int status = 0;
    GError *error = NULL;
    g_assert_true (g_spawn_sync (NULL, (char **)argv, env, G_SPAWN_DEFAULT,
        NULL, NULL, &out, &err, &status, &error));
    g_assert_no_error (error);
    if (!g_spawn_check_wait_status (status, NULL))
      g_error ("capped at %s: the child failed:\n%s%s", name, out, err);
    g_assert_nonnull (strstr (out, "ok 1 /cpu/child"));
  }
}

/* The child of test_caps(): the level is the cap. */
static void
test_child (void)
{
  const char *cap = g_getenv ("NACLIP_TEST_CAP");
  NaclipCpuIsa want;

  g_assert_true (naclip_cpu_isa_from_string (cap, &want));
  g_assert_cmpint (naclip_cpu_get_isa (NULL), ==, want);
  check_level (want);
}

int
main (int argc, char **argv)
{
  self = argv[0];
  g_test_init (&argc, &argv, NULL);
  if (g_getenv ("NACLIP_TEST_CAP") != NULL) {
    g_test_add_func ("/cpu/child", test_child);
    return g_test_run ();
  }
  g_test_add_func ("/cpu/names", test_names);
  g_test_add_func ("/cpu/level", test_level);
  g_test_add_func ("/cpu/caps", test_caps);
  return g_test_run ();
}
