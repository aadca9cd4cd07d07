/* fuzz-safetensors.c: libFuzzer target for the safetensors parser and the
 * strict JSON gate (bad-input rows A33).
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Each input is parsed as a whole safetensors file and, separately, checked
 * as JSON text. Every tensor a successful parse returns has its first and
 * last bytes read, so that a parser which let a tensor reach outside the
 * input is caught by AddressSanitizer. Built with clang and
 * -fsanitize=fuzzer when the meson option "fuzzers" is on; replay.c runs the
 * same function over the seed corpus in every build.
 */

#include <stdint.h>

#include "naclip-private.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  GError *error = NULL;
  NaclipSafetensors *st;
  volatile guint8 sink = 0;

  st = naclip_safetensors_parse (data, size, "fuzz", &error);
  if (st != NULL) {
    for (guint i = 0; i < st->n_tensors; i++) {
      const NaclipTensor *t = &st->tensors[i];
      g_assert (t->begin <= t->end && t->end <= st->data_size);
      g_assert (naclip_safetensors_find (st, t->name) == t);
      if (t->end > t->begin)
        sink ^= t->data[0] ^ t->data[t->end - t->begin - 1];
    }
  } else {
    g_assert (error != NULL && error->domain == NACLIP_ERROR);
  }
  naclip_safetensors_free (st);
  g_clear_error (&error);

  if (!naclip_json_check_strict (
          (const char *)data, size, 65537, "fuzz", &error))
    g_assert (error != NULL);
  g_clear_error (&error);
  (void)sink;
  return 0;
}
