/* kernels.h: what the per-CPU-level kernels of ops.c, matmul-int8.c, image.c,
 * pamr.c and labels.c share: 16-float vectors, the clones of a kernel body per
 * level and exp ().
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#ifndef NACLIP_KERNELS_H
#define NACLIP_KERNELS_H

#include <math.h>
#include <string.h>

#include "naclip-private.h"

/* Sixteen floats. GCC/clang vector extensions: ops.c's exp() is written on
 * these explicitly because, with the default -ftrapping-math, GCC will not
 * if-convert the clamps of a scalar version, so `omp simd` cannot vectorise
 * it. With AVX-512 one vector is one register; with AVX2 the compiler
 * splits it into two, on the x86-64 baseline into four SSE2 quarters.
 * Vectors never cross a function boundary (memory in, memory out): wide
 * vector arguments have a different ABI with and without AVX, which clang
 * rejects in the baseline clone. */
#define LANES 16
typedef float vec_f __attribute__ ((vector_size (4 * LANES)));
typedef gint32 vec_i __attribute__ ((vector_size (4 * LANES)));
typedef guint32 vec_u __attribute__ ((vector_size (4 * LANES)));
typedef guint16 vec_h __attribute__ ((vector_size (2 * LANES)));

/* The hot kernels are written once as always-inline bodies and compiled
 * per level: a baseline function and, on x86-64, one with AVX2 + FMA and
 * one with AVX-512 (F, BW, DQ, VL: oneDNN's avx512_core) + FMA; the bf16
 * rounding also has an AVX512-BF16 version (vcvtneps2bf16). The caller
 * picks one per call from naclip_cpu_get_isa(), so that
 * NACLIP_MAX_CPU_ISA reaches them (GCC's target_clones would ask the CPU
 * itself). An `omp parallel` region inside a body is outlined once, without
 * the clone's target: the caller splits the rows over threads and calls
 * the picked clone per row. */
#define KERNEL_BODY static inline __attribute__ ((always_inline))
#if defined(__x86_64__)
#define HAVE_X86_CLONES 1
#define TARGET_AVX2 __attribute__ ((target ("avx2,fma")))
#define TARGET_AVX512                                                          \
  __attribute__ ((target ("avx512f,avx512bw,avx512dq,avx512vl,fma")))
#define TARGET_AVX512_BF16                                                     \
  __attribute__ ((target ("avx512f,avx512bw,avx512dq,avx512vl,fma,"            \
                          "avx512bf16")))
/* The clones below AVX-512, for a kernel with a hand-written
 * name##_avx512. */
#define DEFINE_CLONES_BELOW_AVX512(ret, name, params, args)                    \
  static ret name##_baseline params                                            \
  {                                                                            \
    return name##_body args;                                                   \
  }                                                                            \
  TARGET_AVX2 static ret name##_avx2 params                                    \
  {                                                                            \
    return name##_body args;                                                   \
  }
#define DEFINE_CLONES(ret, name, params, args)                                 \
  DEFINE_CLONES_BELOW_AVX512 (ret, name, params, args)                         \
  TARGET_AVX512 static ret name##_avx512 params                                \
  {                                                                            \
    return name##_body args;                                                   \
  }
/* The clone of @name for @level. */
#define PICK(level, name)                                                      \
  ((level) >= LEVEL_AVX512    ? name##_avx512                                  \
      : (level) >= LEVEL_AVX2 ? name##_avx2                                    \
                              : name##_baseline)
#else
#define HAVE_X86_CLONES 0
#define DEFINE_CLONES(ret, name, params, args)                                 \
  static ret name##_baseline params                                            \
  {                                                                            \
    return name##_body args;                                                   \
  }
#define DEFINE_CLONES_BELOW_AVX512 DEFINE_CLONES
#define PICK(level, name) ((void)(level), name##_baseline)
#endif

/* The kernels' levels, from the capped CPU level. */
typedef enum
{
  LEVEL_BASELINE,
  LEVEL_AVX2,
  LEVEL_AVX512,
  LEVEL_AVX512_BF16,
} KernelLevel;

static inline KernelLevel
kernel_level (void)
{
  if (!HAVE_X86_CLONES)
    return LEVEL_BASELINE;
  NaclipCpuIsa isa = naclip_cpu_get_isa (NULL);
  if (isa >= NACLIP_CPU_ISA_AVX512_CORE_BF16)
    return LEVEL_AVX512_BF16;
  if (isa >= NACLIP_CPU_ISA_AVX512_CORE)
    return LEVEL_AVX512;
  if (isa >= NACLIP_CPU_ISA_AVX2)
    return LEVEL_AVX2;
  return LEVEL_BASELINE;
}

/* mask ? a : b, lane-wise (mask lanes are 0 or -1) */
#define SELECT(mask, a, b)                                                     \
  ((vec_f)(((mask) & (vec_i)(a)) | (~(mask) & (vec_i)(b))))

/* MAX (a, b) of <glib.h> lane-wise, NaN handling included: a > b ? a : b
 * (a NaN @b wins, a NaN @a loses). */
#define VMAX(a, b) SELECT ((a) > (b), a, b)

/* A vector at any float's address (scratch from g_malloc). */
typedef vec_f vec_fu __attribute__ ((aligned (4)));

/* Cephes expf constants: x = n ln2 + r with ln2 split in two parts. */
#define EXP_HI 88.0f
#define EXP_LO -87.3365478515625f /* ln (2^-126): smallest normal result */
#define LOG2E 1.44269504088896341f
#define LN2_HI 0.693359375f
#define LN2_LO -2.12194440e-4f
#define ROUND_MAGIC 12582912.0f /* 1.5 * 2^23: adding it rounds to integer */

/* x[0..LANES) <- exp (x - shift), Cephes expf lane-wise: within 2 ulp of
 * libm on [EXP_LO, EXP_HI]; 0 below, +Inf above. */
KERNEL_BODY void
exp_lanes (float *x, float shift)
{
  const vec_f zero = { 0.0f };
  const vec_f lo = zero + EXP_LO, hi = zero + EXP_HI;
  const vec_f inf = zero + INFINITY;
  vec_f v;
  memcpy (&v, x, sizeof v);
  v = v - shift;
  vec_f xc = SELECT (v < lo, lo, v);
  xc = SELECT (xc > hi, hi, xc);
  vec_f n = (xc * LOG2E + ROUND_MAGIC) - ROUND_MAGIC;
  vec_f r = xc - n * LN2_HI;
  r = r - n * LN2_LO;
  vec_f p = r * 1.9875691500e-4f + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  vec_i bits = (__builtin_convertvector(n, vec_i) + 127) << 23;
  vec_f y = p * (vec_f)bits;
  y = SELECT (v < lo, zero, y);
  y = SELECT (v > hi, inf, y);
  memcpy (x, &y, sizeof y);
}

#endif /* NACLIP_KERNELS_H */
