/* cpu.c: what the CPU, the build and the user allow, and the precisions
 * that follow.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The library runs on CPUs from AVX2-only to AMX. It classifies the CPU
 * once into one of the ordered levels of NaclipCpuIsa (cpuid, with XCR0
 * saying that the OS saves the vector and tile state), caps that level
 * with the environment variable NACLIP_MAX_CPU_ISA (oneDNN's names and
 * spirit: ONEDNN_MAX_CPU_ISA), and everything that depends on the CPU asks
 * here: the precision AUTO resolves to, the vectorised kernels of ops.c,
 * and oneDNN, to which a cap below the CPU is passed with
 * dnnl_set_max_cpu_isa() before the library's first primitive. That call
 * is the library's one process-wide effect, and only happens when the user
 * set the variable. OpenBLAS picks its kernels when it is loaded, before
 * any of this runs: OPENBLAS_CORETYPE (e.g. Haswell for AVX2) caps it, and
 * naclip_precision_describe() names the core it runs.
 */

#include "config.h"

#include <cblas.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#if HAVE_DNNL
#include <oneapi/dnnl/dnnl.h>
#endif

#include "naclip-private.h"

#define MAX_ISA_ENV "NACLIP_MAX_CPU_ISA"

/* Names of the levels (oneDNN's, lower case); "sse41" is the x86-64
 * baseline and stands for any CPU below AVX2. */
static const char *const isa_names[] = {
  [NACLIP_CPU_ISA_BASELINE] = "sse41",
  [NACLIP_CPU_ISA_AVX2] = "avx2",
  [NACLIP_CPU_ISA_AVX512_CORE] = "avx512_core",
  [NACLIP_CPU_ISA_AVX512_CORE_VNNI] = "avx512_core_vnni",
  [NACLIP_CPU_ISA_AVX512_CORE_BF16] = "avx512_core_bf16",
  [NACLIP_CPU_ISA_AVX512_CORE_AMX] = "avx512_core_amx",
};

const char *
naclip_cpu_isa_to_string (NaclipCpuIsa isa)
{
  g_return_val_if_fail (isa <= NACLIP_CPU_ISA_AVX512_CORE_AMX, NULL);
  return isa_names[isa];
}

gboolean
naclip_cpu_isa_from_string (const char *s, NaclipCpuIsa *out)
{
  g_return_val_if_fail (s != NULL && out != NULL, FALSE);
  for (guint i = 0; i < G_N_ELEMENTS (isa_names); i++) {
    if (g_ascii_strcasecmp (s, isa_names[i]) == 0) {
      *out = (NaclipCpuIsa)i;
      return TRUE;
    }
  }
  /* oneDNN's other names: "all" lifts the cap, AVX and AVX2-VNNI fall to
   * the level below them. */
  if (g_ascii_strcasecmp (s, "all") == 0) {
    *out = NACLIP_CPU_ISA_AVX512_CORE_AMX;
    return TRUE;
  }
  if (g_ascii_strcasecmp (s, "avx") == 0) {
    *out = NACLIP_CPU_ISA_BASELINE;
    return TRUE;
  }
  if (g_ascii_strcasecmp (s, "avx2_vnni") == 0) {
    *out = NACLIP_CPU_ISA_AVX2;
    return TRUE;
  }
  return FALSE;
}

/* The CPU's own level. */
static NaclipCpuIsa
detect_isa (void)
{
#if defined(__x86_64__) || defined(__i386__)
  unsigned int eax, ebx, ecx, edx;
  /* Bits of cpuid leaves 1 and 7 (Intel SDM vol. 2A, CPUID), spelled
   * out: GCC's and clang's <cpuid.h> name the AMX bits differently. */
  if (!__get_cpuid_count (1, 0, &eax, &ebx, &ecx, &edx) || !(ecx & (1u << 27)))
    return NACLIP_CPU_ISA_BASELINE; /* no OSXSAVE */
  gboolean fma = (ecx >> 12) & 1;
  unsigned int xcr0_lo, xcr0_hi;
  __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
  gboolean os_avx = (xcr0_lo & 0x6) == 0x6;               /* SSE, AVX */
  gboolean os_avx512 = (xcr0_lo & 0xe6) == 0xe6;          /* + opmask, ZMM */
  gboolean os_amx = (xcr0_lo & (3u << 17)) == (3u << 17); /* XTILECFG/DATA */
  if (!__get_cpuid_count (7, 0, &eax, &ebx, &ecx, &edx))
    return NACLIP_CPU_ISA_BASELINE;
  unsigned int max_subleaf = eax;
  gboolean avx2 = (ebx >> 5) & 1;
  /* AVX512 F (16), DQ (17), CD (28), BW (30), VL (31) */
  const unsigned int core
      = (1u << 16) | (1u << 17) | (1u << 28) | (1u << 30) | (1u << 31);
  gboolean avx512_core = (ebx & core) == core;
  gboolean vnni = (ecx >> 11) & 1;
  /* AMX-BF16 (22), AMX-TILE (24), AMX-INT8 (25) */
  const unsigned int amx_bits = (1u << 22) | (1u << 24) | (1u << 25);
  gboolean amx = (edx & amx_bits) == amx_bits;
  gboolean bf16 = FALSE;
  if (max_subleaf >= 1 && __get_cpuid_count (7, 1, &eax, &ebx, &ecx, &edx))
    bf16 = (eax >> 5) & 1; /* AVX512_BF16 */

  if (!(avx2 && fma && os_avx))
    return NACLIP_CPU_ISA_BASELINE;
  if (!(avx512_core && os_avx512))
    return NACLIP_CPU_ISA_AVX2;
  if (!vnni)
    return NACLIP_CPU_ISA_AVX512_CORE;
  if (!bf16)
    return NACLIP_CPU_ISA_AVX512_CORE_VNNI;
  if (!(amx && os_amx))
    return NACLIP_CPU_ISA_AVX512_CORE_BF16;
  return NACLIP_CPU_ISA_AVX512_CORE_AMX;
#else
  return NACLIP_CPU_ISA_BASELINE;
#endif
}

typedef struct
{
  NaclipCpuIsa detected;  /* the CPU's level */
  NaclipCpuIsa effective; /* min (detected, cap) */
  gboolean capped;        /* NACLIP_MAX_CPU_ISA lowered the level */
  char *cap_value;        /* the variable as set, or NULL */
  gboolean cap_invalid;   /* ... but not a level's name (ignored) */
  gboolean dnnl_bf16;     /* oneDNN has a real bf16 matmul at this level */
  gboolean dnnl_int8;     /* ... and a real int8 (u8 x s8) one */
} Capabilities;

#if HAVE_DNNL
static const dnnl_cpu_isa_t dnnl_isas[] = {
  [NACLIP_CPU_ISA_BASELINE] = dnnl_cpu_isa_sse41,
  [NACLIP_CPU_ISA_AVX2] = dnnl_cpu_isa_avx2,
  [NACLIP_CPU_ISA_AVX512_CORE] = dnnl_cpu_isa_avx512_core,
  [NACLIP_CPU_ISA_AVX512_CORE_VNNI] = dnnl_cpu_isa_avx512_core_vnni,
  [NACLIP_CPU_ISA_AVX512_CORE_BF16] = dnnl_cpu_isa_avx512_core_bf16,
  [NACLIP_CPU_ISA_AVX512_CORE_AMX] = dnnl_cpu_isa_avx512_core_amx,
};

/* Caps oneDNN at @isa, or lower when ONEDNN_MAX_CPU_ISA asks for less
 * (oneDNN reads its variable only if nobody set the cap first). */
static void
cap_dnnl (NaclipCpuIsa isa)
{
  NaclipCpuIsa own;
  const char *env = g_getenv ("ONEDNN_MAX_CPU_ISA");
  if (env != NULL && naclip_cpu_isa_from_string (env, &own) && own < isa)
    isa = own;
  dnnl_status_t st = dnnl_set_max_cpu_isa (dnnl_isas[isa]);
  if (st != dnnl_success)
    g_info ("oneDNN: cannot cap the ISA at %s (status %d): oneDNN was used "
            "before the library",
        isa_names[isa], st);
}
#endif

static const Capabilities *
get_capabilities (void)
{
  static Capabilities caps;
  static gsize done = 0;
  if (g_once_init_enter (&done)) {
    caps.detected = detect_isa ();
    caps.effective = caps.detected;
    const char *env = g_getenv (MAX_ISA_ENV);
    if (env != NULL) {
      NaclipCpuIsa cap;
      caps.cap_value = g_strdup (env);
      if (!naclip_cpu_isa_from_string (env, &cap))
        caps.cap_invalid = TRUE;
      else if (cap < caps.detected)
        caps.effective = cap;
    }
    caps.capped = caps.effective < caps.detected;
    if (caps.cap_invalid)
      g_warning (MAX_ISA_ENV "=%s is not a level (sse41, avx2, avx512_core, "
                             "avx512_core_vnni, avx512_core_bf16, "
                             "avx512_core_amx, all): ignored",
          caps.cap_value);
#if HAVE_DNNL
    if (caps.capped)
      cap_dnnl (caps.effective);
    caps.dnnl_bf16 = caps.effective >= NACLIP_CPU_ISA_AVX512_CORE_BF16
                     && naclip_matmul_probe_dnnl_bf16 ();
    caps.dnnl_int8 = naclip_matmul_probe_dnnl_int8 ();
#endif
    g_once_init_leave (&done, 1);
  }
  return &caps;
}

NaclipCpuIsa
naclip_cpu_get_isa (NaclipCpuIsa *detected)
{
  const Capabilities *caps = get_capabilities ();
  if (detected != NULL)
    *detected = caps->detected;
  return caps->effective;
}

gboolean
naclip_precision_resolve (
    NaclipPrecision requested, NaclipPrecision *out, GError **error)
{
  g_return_val_if_fail (out != NULL, FALSE);
  const Capabilities *caps = get_capabilities ();
  gboolean available;
  switch (requested) {
    case NACLIP_PRECISION_AUTO:
      *out = caps->dnnl_bf16 ? NACLIP_PRECISION_BF16 : NACLIP_PRECISION_FP32;
      return TRUE;
    case NACLIP_PRECISION_FP32:
      *out = NACLIP_PRECISION_FP32;
      return TRUE;
    case NACLIP_PRECISION_BF16:
      available = caps->dnnl_bf16;
      break;
    case NACLIP_PRECISION_INT8:
      available = caps->dnnl_int8;
      break;
    default:
      g_return_val_if_reached (FALSE);
  }
  if (available) {
    *out = requested;
    return TRUE;
  }
  const char *name = naclip_precision_to_string (requested);
  if (!HAVE_DNNL) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_UNSUPPORTED,
        "precision %s: this build has no oneDNN (meson -Ddnnl=enabled)", name);
  } else if (requested == NACLIP_PRECISION_INT8) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_UNSUPPORTED,
        "precision int8: oneDNN has only its reference int8 matmul at CPU "
        "level %s",
        isa_names[caps->effective]);
  } else if (caps->effective < NACLIP_CPU_ISA_AVX512_CORE_BF16) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_UNSUPPORTED,
        "precision bf16: %s",
        caps->capped ? "the CPU is capped below avx512_core_bf16 by "
                       "NACLIP_MAX_CPU_ISA"
                     : "the CPU has neither AMX-BF16 nor AVX512-BF16");
  } else {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_UNSUPPORTED,
        "precision bf16: oneDNN has no bf16 matmul for this CPU "
        "(ONEDNN_MAX_CPU_ISA?)");
  }
  return FALSE;
}

char *
naclip_precision_describe (void)
{
  const Capabilities *caps = get_capabilities ();
  NaclipPrecision p;
  naclip_precision_resolve (NACLIP_PRECISION_AUTO, &p, NULL);
  GString *s = g_string_new (naclip_precision_to_string (p));
  g_string_append_printf (s, " (CPU: %s", isa_names[caps->effective]);
  if (caps->capped)
    g_string_append_printf (
        s, ", capped from %s by " MAX_ISA_ENV, isa_names[caps->detected]);
  else if (caps->cap_value != NULL)
    g_string_append_printf (s, ", " MAX_ISA_ENV "=%s %s", caps->cap_value,
        caps->cap_invalid ? "ignored" : "above the CPU");
#if HAVE_DNNL
  const dnnl_version_t *v = dnnl_version ();
  g_string_append_printf (s, "; oneDNN %d.%d.%d", v->major, v->minor, v->patch);
  if (caps->dnnl_bf16 || caps->dnnl_int8)
    g_string_append_printf (s, " with %s%s%s", caps->dnnl_bf16 ? "bf16" : "",
        caps->dnnl_bf16 && caps->dnnl_int8 ? ", " : "",
        caps->dnnl_int8 ? "int8" : "");
#else
  g_string_append (s, "; no oneDNN");
#endif
  int par = openblas_get_parallel ();
  g_string_append_printf (s, "; OpenBLAS %s, %s kernels)",
      par == 2   ? "OpenMP"
      : par == 1 ? "pthreads"
                 : "sequential",
      openblas_get_corename ());
  return g_string_free (s, FALSE);
}
