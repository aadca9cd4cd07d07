/* fuzz-tokenizer.c: libFuzzer target for CLIP's tokenizer on arbitrary
 * bytes (bad-input rows E02-E10, E13, E14).
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The merges are OpenAI's bpe_simple_vocab_16e6.txt.gz from
 * $NACLIP_SHARED/clip (or the file NACLIP_MERGES names); without them the
 * target does nothing. The first input byte picks truncation (bit 0) and a
 * context length (bits 1-7: 2..77, else 77); the rest is the text, passed
 * with its length (embedded NULs included). A success must write SOT, ids
 * of the vocabulary (the special ids too: a prompt may spell them, E07),
 * EOT at the returned index and zeros after it; a failure must set
 * NACLIP_ERROR_TEXT. The text is then encoded again NUL-terminated
 * and must give the same answer up to the first NUL.
 */

#include <stdint.h>
#include <string.h>

#include "naclip-private.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static NaclipTokenizer *tok;
static gboolean initialised;

static void
init (void)
{
  const char *path = g_getenv ("NACLIP_MERGES");
  g_autofree char *gz_path = NULL;

  initialised = TRUE;
  if (path == NULL) {
    const char *shared = g_getenv ("NACLIP_SHARED");
    gz_path = g_build_filename (shared != NULL ? shared : NACLIP_SHARED_DIR,
        "clip", "bpe_simple_vocab_16e6.txt.gz", NULL);
    path = gz_path;
  }
  tok = naclip_tokenizer_load (path, NACLIP_CLIP_N_MERGES, NULL);
}

static gint
encode (
    const char *text, gssize len, gboolean truncate, guint context, gint32 *ids)
{
  GError *error = NULL;
  gint eot;

  memset (ids, 0x55, NACLIP_CONTEXT_LENGTH * sizeof *ids);
  eot = naclip_tokenizer_encode (
      tok, text, len, truncate, ids, context, &error);
  if (eot < 0) {
    g_assert (error != NULL && error->domain == NACLIP_ERROR
              && error->code == NACLIP_ERROR_TEXT);
    g_clear_error (&error);
    return -1;
  }
  g_assert (error == NULL);
  g_assert (eot >= 1 && (guint)eot < context);
  g_assert (ids[0] == NACLIP_TOKEN_SOT && ids[eot] == NACLIP_TOKEN_EOT);
  for (gint i = 1; i < eot; i++)
    g_assert (ids[i] >= 0 && ids[i] <= NACLIP_TOKEN_EOT);
  for (guint i = (guint)eot + 1; i < context; i++)
    g_assert (ids[i] == 0);
  return eot;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  gint32 a[NACLIP_CONTEXT_LENGTH], b[NACLIP_CONTEXT_LENGTH];
  g_autofree char *text = NULL;
  gboolean truncate;
  guint context;
  gint eot;

  if (!initialised)
    init ();
  if (tok == NULL || size == 0)
    return 0;
  truncate = data[0] & 1;
  context = data[0] >> 1;
  if (context < 2 || context > NACLIP_CONTEXT_LENGTH)
    context = NACLIP_CONTEXT_LENGTH;
  text = g_malloc (size);
  memcpy (text, data + 1, size - 1);
  text[size - 1] = '\0';
  eot = encode (text, (gssize)size - 1, truncate, context, a);
  /* The NUL-terminated form is the text up to its first NUL. */
  if (memchr (text, '\0', size - 1) == NULL) {
    g_assert (encode (text, -1, truncate, context, b) == eot);
    if (eot >= 0)
      g_assert (memcmp (a, b, context * sizeof *a) == 0);
  }
  return 0;
}
