/* gstnaclipsegenums.c: the GTypes of the naclipseg enumerations.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * One GEnumValue table per enumerated property. The element's own
 * enumerations (output, output-size, async) are in gstnaclipsegenums.h;
 * async also accepts "false" and "true", the spellings of the boolean it
 * was (listed after the modes, so that a value prints as its mode); attention,
 * arch and precision register the library's enums, whose nicks are the
 * library's names (naclip_*_to_string; the element tests check that they
 * round-trip). Each type is registered once, on first use, thread-safely;
 * class_init is the caller. No state, no locks.
 */

#include "config.h"

#include "gstnaclipsegenums.h"

#include "naclip.h"

#define DEFINE_ENUM_TYPE(func, type_name, values)                              \
  GType func (void)                                                            \
  {                                                                            \
    static GType type = 0;                                                     \
    if (g_once_init_enter (&type)) {                                           \
      GType t = g_enum_register_static (type_name, values);                    \
      g_once_init_leave (&type, t);                                            \
    }                                                                          \
    return type;                                                               \
  }

static const GEnumValue output_values[] = {
  { GST_NACLIP_SEG_OUTPUT_OVERLAY, "Class colours blended over the frame",
      "overlay" },
  { GST_NACLIP_SEG_OUTPUT_PASSTHROUGH, "Frames untouched, metadata only",
      "passthrough" },
  { GST_NACLIP_SEG_OUTPUT_LABELS,
      "GRAY8 frames of the same size, pixel = label", "labels" },
  { 0, NULL, NULL },
};
static const GEnumValue output_size_values[] = {
  { GST_NACLIP_SEG_OUTPUT_SIZE_PROCESSING,
      "Label map at the processing size (inference-size)", "processing" },
  { GST_NACLIP_SEG_OUTPUT_SIZE_FRAME,
      "Label map at the frame size (the paper's setting)", "frame" },
  { 0, NULL, NULL },
};
static const GEnumValue async_mode_values[] = {
  { GST_NACLIP_SEG_ASYNC_MODE_SYNC,
      "The streaming thread segments every due frame (files)", "sync" },
  { GST_NACLIP_SEG_ASYNC_MODE_ASYNC,
      "A worker segments the newest frame; frames never wait (cameras)",
      "async" },
  { GST_NACLIP_SEG_ASYNC_MODE_AUTO,
      "async when upstream is live (LATENCY query), else sync", "auto" },
  { GST_NACLIP_SEG_ASYNC_MODE_SYNC, "sync (the former boolean)", "false" },
  { GST_NACLIP_SEG_ASYNC_MODE_ASYNC, "async (the former boolean)", "true" },
  { 0, NULL, NULL },
};
static const GEnumValue attention_values[] = {
  { NACLIP_ATTENTION_NACLIP, "Key-key attention plus Gaussian (NACLIP)",
      "naclip" },
  { NACLIP_ATTENTION_KK, "Key-key attention", "kk" },
  { NACLIP_ATTENTION_NONLY, "Gaussian neighbourhood only", "nonly" },
  { NACLIP_ATTENTION_CSA, "SCLIP correlative self-attention", "csa" },
  { NACLIP_ATTENTION_VANILLA, "CLIP's query-key attention", "vanilla" },
  { 0, NULL, NULL },
};
static const GEnumValue arch_values[] = {
  { NACLIP_ARCH_REDUCED, "Last block without residual and MLP (NACLIP)",
      "reduced" },
  { NACLIP_ARCH_VANILLA, "Last block with residual and MLP", "vanilla" },
  { 0, NULL, NULL },
};
static const GEnumValue precision_values[] = {
  { NACLIP_PRECISION_AUTO, "bf16 where the CPU allows it, else fp32", "auto" },
  { NACLIP_PRECISION_FP32, "32-bit float", "fp32" },
  { NACLIP_PRECISION_BF16, "bfloat16 matrix products", "bf16" },
  { NACLIP_PRECISION_INT8, "8-bit integer linear layers (opt-in)", "int8" },
  { 0, NULL, NULL },
};

DEFINE_ENUM_TYPE (
    gst_naclip_seg_output_get_type, "GstNaclipSegOutput", output_values)
DEFINE_ENUM_TYPE (gst_naclip_seg_output_size_get_type, "GstNaclipSegOutputSize",
    output_size_values)
DEFINE_ENUM_TYPE (gst_naclip_seg_async_mode_get_type, "GstNaclipSegAsyncMode",
    async_mode_values)
DEFINE_ENUM_TYPE (gst_naclip_seg_attention_get_type, "GstNaclipSegAttention",
    attention_values)
DEFINE_ENUM_TYPE (gst_naclip_seg_arch_get_type, "GstNaclipSegArch", arch_values)
DEFINE_ENUM_TYPE (gst_naclip_seg_precision_get_type, "GstNaclipSegPrecision",
    precision_values)
