/* fuzz-merges.c: libFuzzer target for the merges parser (bad-input rows
 * C01-C08).
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * An input starting with "#splice" is spliced into CLIP's real merges
 * (OpenAI's bpe_simple_vocab_16e6.txt.gz from $NACLIP_SHARED/clip, or
 * NACLIP_MERGES naming a merges file; without one, splice inputs are
 * parsed as they are): the two bytes after the tag pick the line where the
 * rest of the input replaces one line, so that the fuzzer reaches the
 * checks that only a full-size file gets to. Any other input is parsed
 * as a whole (plain text, or gzip when it starts with the gzip magic).
 * A tokenizer that loads must encode a few fixed texts into valid ids.
 */

#include <stdint.h>
#include <string.h>

#include <gio/gio.h>

#include "naclip-private.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static GBytes *real_merges; /* plain text, NULL if unavailable */
static gboolean initialised;

/* Reads the real merges as plain text (inflated here when gzipped). */
static void
init (void)
{
  const char *path = g_getenv ("NACLIP_MERGES");
  g_autofree char *gz_path = NULL;
  g_autofree char *contents = NULL;
  gsize len = 0;

  initialised = TRUE;
  if (path == NULL) {
    const char *shared = g_getenv ("NACLIP_SHARED");
    gz_path = g_build_filename (shared != NULL ? shared : NACLIP_SHARED_DIR,
        "clip", "bpe_simple_vocab_16e6.txt.gz", NULL);
    path = gz_path;
  }
  if (!g_file_get_contents (path, &contents, &len, NULL))
    return;
  if (len >= 2 && (guint8)contents[0] == 0x1f && (guint8)contents[1] == 0x8b) {
    g_autoptr (GConverter) dec
        = G_CONVERTER (g_zlib_decompressor_new (G_ZLIB_COMPRESSOR_FORMAT_GZIP));
    g_autoptr (GInputStream) raw
        = g_memory_input_stream_new_from_data (contents, (gssize)len, NULL);
    g_autoptr (GInputStream) in = g_converter_input_stream_new (raw, dec);
    g_autoptr (GOutputStream) out = g_memory_output_stream_new_resizable ();
    if (g_output_stream_splice (
            out, in, G_OUTPUT_STREAM_SPLICE_CLOSE_TARGET, NULL, NULL)
        < 0)
      return;
    real_merges
        = g_memory_output_stream_steal_as_bytes (G_MEMORY_OUTPUT_STREAM (out));
  } else {
    real_merges = g_bytes_new_take (g_steal_pointer (&contents), len);
  }
}

static void
check (const guint8 *data, gsize size)
{
  static const char *const texts[] = { "a photo of a cat.", "", "zzzz 12345",
    "\xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x90\xb1" };
  GError *error = NULL;
  NaclipTokenizer *tok = naclip_tokenizer_new_from_data (
      data, size, NACLIP_CLIP_N_MERGES, "fuzz", &error);

  if (tok == NULL) {
    g_assert (error != NULL && error->domain == NACLIP_ERROR);
    g_clear_error (&error);
    return;
  }
  for (guint i = 0; i < G_N_ELEMENTS (texts); i++) {
    gint32 ids[NACLIP_CONTEXT_LENGTH];
    gint eot = naclip_tokenizer_encode (
        tok, texts[i], -1, TRUE, ids, NACLIP_CONTEXT_LENGTH, &error);
    g_assert (eot > 0 && eot < NACLIP_CONTEXT_LENGTH);
    g_assert (ids[0] == NACLIP_TOKEN_SOT && ids[eot] == NACLIP_TOKEN_EOT);
    for (gint j = 1; j < eot; j++)
      g_assert (ids[j] >= 0 && ids[j] <= NACLIP_TOKEN_EOT);
  }
  naclip_tokenizer_free (tok);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static const char tag[] = "#splice";
  const gsize tag_len = sizeof tag - 1;

  if (!initialised)
    init ();
  if (real_merges != NULL && size >= tag_len + 2
      && memcmp (data, tag, tag_len) == 0) {
    gsize len;
    const char *text = g_bytes_get_data (real_merges, &len);
    guint line = data[tag_len] | (guint)data[tag_len + 1] << 8;
    const char *start = text, *end;
    g_autoptr (GByteArray) spliced = g_byte_array_new ();

    /* Lines are counted from 1; line 0 is the "#version" header. */
    for (guint i = 0; i < line % 48896 && start < text + len; i++) {
      const char *nl = memchr (start, '\n', text + len - start);
      start = nl != NULL ? nl + 1 : text + len;
    }
    end = memchr (start, '\n', text + len - start);
    if (end == NULL)
      end = text + len;
    g_byte_array_append (spliced, (const guint8 *)text, start - text);
    g_byte_array_append (
        spliced, data + tag_len + 2, (guint)(size - tag_len - 2));
    g_byte_array_append (spliced, (const guint8 *)end, text + len - end);
    check (spliced->data, spliced->len);
    return 0;
  }
  check (data, size);
  return 0;
}
