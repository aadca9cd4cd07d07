/* kernels.h: what the per-CPU-level kernels of ops.c and matmul-int8.c
 * share: 16-float vectors and the clones of a kernel body per level.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#ifndef NACLIP_KERNELS_H
#define NACLIP_KERNELS_H

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

#endif /* NACLIP_KERNELS_H */
