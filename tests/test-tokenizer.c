/* test-tokenizer.c: CLIP's BPE tokenizer against golden ids, the merges
 * file rules of bad-input rows C and the prompt faults of bad-input rows E.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Golden cases: tests/data/tokenizer_cases.json (copied from the shared
 * golden file, produced offline with OpenAI's simple_tokenizer and ftfy).
 * Every case must match id for id, except the cases listed in
 * mojibake_cases: ftfy's mojibake repair is a documented divergence.
 * The merges come from $NACLIP_SHARED/clip/bpe_simple_vocab_16e6.txt.gz;
 * without it the tests are skipped.
 */

#include <string.h>
#include <time.h>

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "naclip-private.h"

#define BIG_CONTEXT 1024

/* Texts whose reference ids come from ftfy's mojibake repair. */
static const char *const mojibake_cases[] = {
  "mojibake \xc3\x83\xc2\xa9t\xc3\x83\xc2\xa9",
};

static NaclipTokenizer *shared_tok;

/* CPU time of the calling thread, us: time bounds hold on a loaded
 * machine. */
static gint64
thread_cpu_us (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts);
  return (gint64)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
static GBytes *shared_merges; /* the gzipped file */

static char *
merges_path (void)
{
  const char *shared = g_getenv ("NACLIP_SHARED");
  if (shared == NULL)
    return NULL;
  return g_build_filename (
      shared, "clip", "bpe_simple_vocab_16e6.txt.gz", NULL);
}

static gboolean
need_tokenizer (void)
{
  if (shared_tok == NULL) {
    g_test_skip ("NACLIP_SHARED/clip/bpe_simple_vocab_16e6.txt.gz missing");
    return FALSE;
  }
  return TRUE;
}

/* The merges as plain text (what a Hugging Face merges.txt holds). */
static char *
plain_merges (gsize *len)
{
  g_autoptr (GZlibDecompressor) dec
      = g_zlib_decompressor_new (G_ZLIB_COMPRESSOR_FORMAT_GZIP);
  g_autoptr (GInputStream) mem
      = g_memory_input_stream_new_from_bytes (shared_merges);
  g_autoptr (GInputStream) in
      = g_converter_input_stream_new (mem, G_CONVERTER (dec));
  g_autoptr (GOutputStream) out = g_memory_output_stream_new_resizable ();
  g_assert_cmpint (g_output_stream_splice (out, in,
                       G_OUTPUT_STREAM_SPLICE_CLOSE_TARGET, NULL, NULL),
      >, 0);
  *len = g_memory_output_stream_get_data_size (G_MEMORY_OUTPUT_STREAM (out));
  return g_memory_output_stream_steal_data (G_MEMORY_OUTPUT_STREAM (out));
}

/* The first @n_lines lines of the plain merges (header included). */
static GString *
merges_head (guint n_lines)
{
  gsize len;
  g_autofree char *all = plain_merges (&len);
  GString *s = g_string_new (NULL);
  const char *p = all;
  for (guint i = 0; i < n_lines && *p; i++) {
    const char *nl = strchr (p, '\n');
    g_string_append_len (s, p, nl - p + 1);
    p = nl + 1;
  }
  return s;
}

static GArray *
encode_big (NaclipTokenizer *tok, const char *text, gssize len)
{
  GError *error = NULL;
  gint32 ids[BIG_CONTEXT];
  GArray *a = g_array_new (FALSE, FALSE, sizeof (gint32));
  gint eot = naclip_tokenizer_encode (
      tok, text, len, FALSE, ids, BIG_CONTEXT, &error);
  g_assert_no_error (error);
  g_array_append_vals (a, ids, eot + 1);
  return a;
}

static gboolean
is_mojibake_case (const char *text)
{
  for (guint i = 0; i < G_N_ELEMENTS (mojibake_cases); i++) {
    if (strcmp (text, mojibake_cases[i]) == 0)
      return TRUE;
  }
  return FALSE;
}

/* Runs every golden case; returns the number of mismatches outside the
 * documented divergences and the number of divergent cases seen. */
static guint
check_golden (NaclipTokenizer *tok, gboolean verbose, guint *n_divergent)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autofree char *path = g_build_filename (
      NACLIP_SOURCE_ROOT, "tests", "data", "tokenizer_cases.json", NULL);
  GError *error = NULL;
  JsonArray *cases;
  guint n_bad = 0;

  json_parser_load_from_file (parser, path, &error);
  g_assert_no_error (error);
  cases = json_node_get_array (json_parser_get_root (parser));
  g_assert_cmpuint (json_array_get_length (cases), >=, 70);
  *n_divergent = 0;
  for (guint i = 0; i < json_array_get_length (cases); i++) {
    JsonObject *c = json_array_get_object_element (cases, i);
    const char *text = json_object_get_string_member (c, "text");
    JsonArray *want = json_object_get_array_member (c, "ids");
    g_autoptr (GArray) got = encode_big (tok, text, -1);
    gboolean same = got->len == json_array_get_length (want);
    for (guint k = 0; same && k < got->len; k++)
      same = g_array_index (got, gint32, k)
             == json_array_get_int_element (want, k);
    if (is_mojibake_case (text)) {
      (*n_divergent)++;
      continue;
    }
    if (!same) {
      n_bad++;
      if (verbose) {
        GString *s = g_string_new (NULL);
        for (guint k = 0; k < got->len; k++)
          g_string_append_printf (s, " %d", g_array_index (got, gint32, k));
        g_test_message ("case %u \"%s\": got%s (%u ids), want %u ids", i, text,
            s->str, got->len, json_array_get_length (want));
        g_string_free (s, TRUE);
      }
    }
  }
  return n_bad;
}

static void
test_golden (void)
{
  guint n_divergent;
  if (!need_tokenizer ())
    return;
  g_assert_cmpuint (check_golden (shared_tok, TRUE, &n_divergent), ==, 0);
  g_assert_cmpuint (n_divergent, ==, G_N_ELEMENTS (mojibake_cases));
}

static gpointer
golden_thread (gpointer data)
{
  guint n_divergent, n_bad = 0;
  for (guint round = 0; round < 5; round++)
    n_bad += check_golden (data, FALSE, &n_divergent);
  return GUINT_TO_POINTER (n_bad);
}

/* The golden cases on 4 threads at once sharing one tokenizer (and its
 * cache), started from an empty cache. */
static void
test_threads (void)
{
  GThread *threads[4];
  g_autoptr (GError) error = NULL;
  g_autofree char *path = merges_path ();
  NaclipTokenizer *tok;

  if (!need_tokenizer ())
    return;
  tok = naclip_tokenizer_load (path, NACLIP_CLIP_N_MERGES, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    threads[i] = g_thread_new ("tok", golden_thread, tok);
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    g_assert_cmpuint (GPOINTER_TO_UINT (g_thread_join (threads[i])), ==, 0);
  naclip_tokenizer_free (tok);
}

/* A Hugging Face style merges.txt (plain text, "#version: 0.2"), with CRLF
 * line ends, a BOM, and no final newline, gives the same ids (C05). */
static void
test_plain_variants (void)
{
  g_autoptr (GString) plain = NULL;
  const char *text = "a photo of a pottedplant, isn't it?";
  g_autoptr (GArray) want = NULL;
  GError *error = NULL;

  if (!need_tokenizer ())
    return;
  want = encode_big (shared_tok, text, -1);
  plain = merges_head (48895);
  g_string_erase (plain, 0, strchr (plain->str, '\n') - plain->str);
  g_string_prepend (plain, "#version: 0.2");
  for (guint variant = 0; variant < 3; variant++) {
    g_autoptr (GString) s = g_string_new_len (plain->str, plain->len);
    NaclipTokenizer *tok;
    if (variant == 1)
      g_string_replace (s, "\n", "\r\n", 0);
    if (variant == 2) {
      g_string_prepend (s, "\xEF\xBB\xBF");
      g_string_truncate (s, s->len - 1);
    }
    tok = naclip_tokenizer_new_from_data ((const guint8 *)s->str, s->len,
        NACLIP_CLIP_N_MERGES, "merges.txt", &error);
    g_assert_no_error (error);
    {
      g_autoptr (GArray) got = encode_big (tok, text, -1);
      g_assert_cmpmem (got->data, got->len * 4, want->data, want->len * 4);
    }
    naclip_tokenizer_free (tok);
  }
}

static void
expect_merges_error (const GString *s, const char *needle)
{
  GError *error = NULL;
  NaclipTokenizer *tok = naclip_tokenizer_new_from_data ((const guint8 *)s->str,
      s->len, NACLIP_CLIP_N_MERGES, "merges.txt", &error);
  g_assert_null (tok);
  g_assert_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT);
  if (strstr (error->message, needle) == NULL)
    g_error ("message \"%s\" does not contain \"%s\"", error->message, needle);
  g_clear_error (&error);
}

/* Replaces line @line_no (1-based) of @s by @text. */
static void
replace_line (GString *s, guint line_no, const char *text)
{
  gsize start = 0, end;
  for (guint i = 1; i < line_no; i++)
    start = strchr (s->str + start, '\n') - s->str + 1;
  end = strchr (s->str + start, '\n') - s->str;
  g_string_erase (s, start, end - start);
  g_string_insert (s, start, text);
}

/* bad-input row C01-C08. */
static void
test_bad_merges (void)
{
  g_autoptr (GString) good = NULL;
  GError *error = NULL;
  NaclipTokenizer *tok;

  if (!need_tokenizer ())
    return;
  good = merges_head (48895);
  {
    g_autoptr (GString) s = g_string_new ("");
    expect_merges_error (s, "empty"); /* C01 */
    g_string_assign (s, "#version: 0.2\n");
    expect_merges_error (s, "expected 48894 merges to match vocab_size 49408");
  }
  {
    g_autoptr (GString) s = merges_head (1000); /* C02 */
    expect_merges_error (s, "expected 48894 merges to match vocab_size 49408, "
                            "found 999");
  }
  {
    const char *bad_lines[] = { "i", "i n x", "", "i\tn", "i  n" };
    for (guint i = 0; i < G_N_ELEMENTS (bad_lines); i++) {
      g_autoptr (GString) s = g_string_new_len (good->str, good->len);
      replace_line (s, 500, bad_lines[i]); /* C04 */
      expect_merges_error (s, "line 500: expected two symbols");
    }
  }
  {
    g_autoptr (GString) s = g_string_new_len (good->str, good->len);
    replace_line (s, 77, "i \xC3\x28"); /* C06 */
    expect_merges_error (s, "line 77 is not valid UTF-8");
    g_string_assign (s, good->str);
    replace_line (s, 78, "i xyz\xe2\x82\xac"); /* not byte symbols */
    expect_merges_error (s, "line 78");
  }
  {
    g_autoptr (GString) s = g_string_new_len (good->str, good->len);
    g_string_erase (s, 0, strchr (s->str, '\n') - s->str + 1); /* C08 */
    expect_merges_error (s, "line 1 is not a \"#version\" header");
  }
  {
    /* C03: extra lines (even malformed ones) are ignored */
    g_autoptr (GString) s = g_string_new_len (good->str, good->len);
    g_string_append (s, "garbage line with many fields\n\n\n");
    tok = naclip_tokenizer_new_from_data ((const guint8 *)s->str, s->len,
        NACLIP_CLIP_N_MERGES, "merges.txt", &error);
    g_assert_no_error (error);
    naclip_tokenizer_free (tok);
  }
  {
    /* C07: a duplicate pair takes the last rank. Line 2 is "i n"; putting
     * it again as the last merge makes "in" the last merge to apply, so
     * "pin" (p i n) now merges "pi" first: different ids. */
    g_autoptr (GString) s = g_string_new_len (good->str, good->len);
    g_autoptr (GArray) a = encode_big (shared_tok, "pins", -1);
    g_autoptr (GArray) b = NULL;
    replace_line (s, 48895, "i n");
    tok = naclip_tokenizer_new_from_data ((const guint8 *)s->str, s->len,
        NACLIP_CLIP_N_MERGES, "merges.txt", &error);
    g_assert_no_error (error);
    b = encode_big (tok, "pins", -1);
    g_assert_false (
        a->len == b->len && memcmp (a->data, b->data, a->len * 4) == 0);
    naclip_tokenizer_free (tok);
  }
  {
    /* corrupt gzip */
    gsize len;
    const guint8 *gz = g_bytes_get_data (shared_merges, &len);
    g_autofree guint8 *copy = g_memdup2 (gz, len / 2);
    tok = naclip_tokenizer_new_from_data (
        copy, len / 2, NACLIP_CLIP_N_MERGES, "x.gz", &error);
    g_assert_null (tok);
    g_assert_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT);
    g_clear_error (&error);
  }
  tok = naclip_tokenizer_load (
      "/nonexistent/merges.txt", NACLIP_CLIP_N_MERGES, &error);
  g_assert_null (tok);
  g_assert_error (error, NACLIP_ERROR, NACLIP_ERROR_IO);
  g_clear_error (&error);
}

/* E02, E13: invalid UTF-8 and NUL name the byte offset. */
static void
test_invalid_utf8 (void)
{
  const struct
  {
    const char *text;
    gssize len;
    const char *offset;
  } cases[] = {
    { "ab\xC3\x28", 4, "offset 2 " },
    { "\xC0\xAF", 2, "offset 0 " },
    { "cat \xED\xA0\x80", 7, "offset 4 " },
    { "\xF4\x90\x80\x80", 4, "offset 0 " },
    { "dog\xE2\x82", 5, "offset 3 " },
    { "a\0b", 3, "offset 1 " },
  };
  gint32 ids[NACLIP_CONTEXT_LENGTH];

  if (!need_tokenizer ())
    return;
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    GError *error = NULL;
    g_assert_cmpint (
        naclip_tokenizer_encode (shared_tok, cases[i].text, cases[i].len, FALSE,
            ids, NACLIP_CONTEXT_LENGTH, &error),
        ==, -1);
    g_assert_error (error, NACLIP_ERROR, NACLIP_ERROR_TEXT);
    if (strstr (error->message, cases[i].offset) == NULL)
      g_error ("\"%s\" does not name %s", error->message, cases[i].offset);
    g_clear_error (&error);
  }
}

/* E06: too long is an error, or truncated with EOT in the last slot. */
static void
test_context (void)
{
  GError *error = NULL;
  gint32 ids[NACLIP_CONTEXT_LENGTH + 1];
  g_autoptr (GString) text = g_string_new (NULL);
  g_autoptr (GArray) full = NULL;

  if (!need_tokenizer ())
    return;
  for (guint i = 0; i < 40; i++)
    g_string_append (text, "red cat ");
  full = encode_big (shared_tok, text->str, -1);
  g_assert_cmpuint (full->len, ==, 82);
  ids[NACLIP_CONTEXT_LENGTH] = 12345; /* guard */
  g_assert_cmpint (naclip_tokenizer_encode (shared_tok, text->str, -1, FALSE,
                       ids, NACLIP_CONTEXT_LENGTH, &error),
      ==, -1);
  g_assert_error (error, NACLIP_ERROR, NACLIP_ERROR_TEXT);
  g_assert_nonnull (strstr (error->message, "longer than the context of 77"));
  g_clear_error (&error);
  g_assert_cmpint (naclip_tokenizer_encode (shared_tok, text->str, -1, TRUE,
                       ids, NACLIP_CONTEXT_LENGTH, &error),
      ==, 76);
  g_assert_no_error (error);
  g_assert_cmpmem (ids, 76 * 4, full->data, 76 * 4);
  g_assert_cmpint (ids[76], ==, NACLIP_TOKEN_EOT);
  g_assert_cmpint (ids[NACLIP_CONTEXT_LENGTH], ==, 12345);
  /* short text: padded with zeros */
  g_assert_cmpint (naclip_tokenizer_encode (shared_tok, "cat", -1, FALSE, ids,
                       NACLIP_CONTEXT_LENGTH, &error),
      ==, 2);
  g_assert_cmpint (ids[0], ==, NACLIP_TOKEN_SOT);
  g_assert_cmpint (ids[2], ==, NACLIP_TOKEN_EOT);
  for (guint i = 3; i < NACLIP_CONTEXT_LENGTH; i++)
    g_assert_cmpint (ids[i], ==, 0);
}

/* E05, E04: huge words and texts take bounded time. */
static void
test_huge (void)
{
  const char *units[] = { "a", "_", "\xF0\x9F\x90\xB1", "ab" };
  const guint counts[] = { 100000, 50000, 10000, 100000 };
  gint32 ids[NACLIP_CONTEXT_LENGTH];

  if (!need_tokenizer ())
    return;
  for (guint i = 0; i < G_N_ELEMENTS (units); i++) {
    g_autoptr (GString) s = g_string_new (NULL);
    GError *error = NULL;
    gint64 t0;
    double ms;
    for (guint k = 0; k < counts[i]; k++)
      g_string_append (s, units[i]);
    t0 = thread_cpu_us ();
    g_assert_cmpint (naclip_tokenizer_encode (shared_tok, s->str, s->len, FALSE,
                         ids, NACLIP_CONTEXT_LENGTH, &error),
        ==, -1);
    g_clear_error (&error);
    g_assert_cmpint (naclip_tokenizer_encode (shared_tok, s->str, s->len, TRUE,
                         ids, NACLIP_CONTEXT_LENGTH, &error),
        ==, 76);
    g_assert_no_error (error);
    ms = (thread_cpu_us () - t0) / 1000.0;
    g_test_message ("%u x \"%s\" (%" G_GSIZE_FORMAT " bytes): %.1f ms CPU",
        counts[i], units[i], s->len, ms);
    /* cleaning is linear; BPE sees at most two 4 KiB chunks */
    g_assert_cmpfloat (ms, <, 500.0);
  }
}

/* E03, E07, E08, E09, E10: fixed behaviour of odd prompts. */
static void
test_odd_prompts (void)
{
  const struct
  {
    const char *a, *b; /* must encode the same */
  } same[] = {
    { "&amp;lt;cat&amp;gt;", "<cat>" }, /* E09 */
    { "&amp;amp;amp;cat", "&cat" },     /* ftfy loops */
    { "cat\xe2\x80\xa8"
      "dog",
        "cat dog" }, /* U+2028 */
    { "\xef\xbb\xbf"
      "cat",
        "cat" }, /* BOM removed */
    { "\x01"
      "cat\x7f",
        "cat" }, /* controls removed */
    { "cat\xc2\x85"
      "dog",
        "cat\xe2\x80\xa6"
        "dog" }, /* C1 as cp1252 */
    { "&ndash;&#8212;&#x2014;", "\xe2\x80\x93\xe2\x80\x94\xe2\x80\x94" },
    { "&ldquo;a&rdquo;", "\"a\"" },                 /* unescaped, uncurled */
    { "&ampcat &notit &#65", "&cat \xc2\xacit A" }, /* legacy prefixes */
    { "&EACUTE;", "\xc3\x89" },                     /* ftfy all-caps */
    { "&unknownentity;", "&unknownentity;" },
    { "\xce\xa3\xce\x91\xce\xa3", "\xcf\x83\xce\xb1\xcf\x82" }, /* sigma */
    { "\xef\xbd\xb1", "\xe3\x82\xa2" }, /* half-width katakana */
    { "\xe3\x80\x80"
      "cat",
        "cat" },                                         /* ideographic space */
    { "%s%n{}", "%s%n{}" }, { "e\xcc\x81", "\xc3\xa9" }, /* NFC */
  };

  if (!need_tokenizer ())
    return;
  for (guint i = 0; i < G_N_ELEMENTS (same); i++) {
    g_autoptr (GArray) a = encode_big (shared_tok, same[i].a, -1);
    g_autoptr (GArray) b = encode_big (shared_tok, same[i].b, -1);
    if (a->len != b->len || memcmp (a->data, b->data, a->len * 4) != 0)
      g_error ("\"%s\" and \"%s\" encode differently", same[i].a, same[i].b);
  }
  {
    /* Without ftfy's unescaping (a '<' was seen), the quotes that
     * html.unescape makes after ftfy stay curly. */
    g_autoptr (GArray) a = encode_big (shared_tok, "<b>&ldquo;a&rdquo;", -1);
    g_autoptr (GArray) b = encode_big (shared_tok, "<b>\"a\"", -1);
    g_assert_false (
        a->len == b->len && memcmp (a->data, b->data, a->len * 4) == 0);
  }
  {
    /* E07: the special token inside a prompt is the special id, as in the
     * reference; the end position is still the last EOT. */
    gint32 ids[NACLIP_CONTEXT_LENGTH];
    gint eot = naclip_tokenizer_encode (shared_tok, "a <|endoftext|> b", -1,
        FALSE, ids, NACLIP_CONTEXT_LENGTH, NULL);
    g_assert_cmpint (eot, ==, 4);
    g_assert_cmpint (ids[2], ==, NACLIP_TOKEN_EOT);
    g_assert_cmpint (ids[4], ==, NACLIP_TOKEN_EOT);
  }
}

/* E04: a text above the 256 KiB cap is refused at once, even with
 * truncation. */
static void
test_text_cap (void)
{
  gsize len = 1 << 20;
  g_autofree char *text = g_malloc (len);
  gint32 ids[NACLIP_CONTEXT_LENGTH];
  GError *error = NULL;
  gint64 t0;

  if (!need_tokenizer ())
    return;
  memset (text, 'a', len);
  t0 = thread_cpu_us ();
  g_assert_cmpint (naclip_tokenizer_encode (shared_tok, text, len, TRUE, ids,
                       NACLIP_CONTEXT_LENGTH, &error),
      ==, -1);
  g_assert_error (error, NACLIP_ERROR, NACLIP_ERROR_TEXT);
  g_assert_nonnull (strstr (error->message, "1048576 bytes"));
  g_clear_error (&error);
  g_assert_cmpint (thread_cpu_us () - t0, <, 10000);
}

/* E12: a changing stream of new words keeps the cache bounded. */
static void
test_cache_bounded (void)
{
  gint32 ids[NACLIP_CONTEXT_LENGTH];
  if (!need_tokenizer ())
    return;
  for (guint i = 0; i < 40000; i++) {
    char word[32];
    g_snprintf (word, sizeof word, "w%xq", i * 2654435761u);
    naclip_tokenizer_encode (
        shared_tok, word, -1, FALSE, ids, NACLIP_CONTEXT_LENGTH, NULL);
  }
  g_assert_cmpuint (naclip_tokenizer_cache_size (shared_tok), <=, 16384);
}

/* A vocabulary of its own: the caller's count of merges sets the ids of
 * the specials (512 + n, 513 + n); a file with more merges has the rest
 * ignored, one with fewer is an error naming both counts. */
static void
test_small_vocabulary (void)
{
  static const char merges[]
      = "#version: 0.2\nr e\nre d</w>\nb l\nbl u\nblu e</w>\n";
  const guint8 *data = (const guint8 *)merges;
  gint32 ids[NACLIP_CONTEXT_LENGTH];
  GError *error = NULL;
  NaclipTokenizer *tok;

  tok = naclip_tokenizer_new_from_data (
      data, sizeof merges - 1, 5, "merges.txt", &error);
  g_assert_no_error (error);
  g_assert_cmpint (naclip_tokenizer_encode (tok, "Red blue reds", -1, FALSE,
                       ids, NACLIP_CONTEXT_LENGTH, &error),
      ==, 6);
  g_assert_no_error (error);
  /* red</w> is merge 1, blue</w> merge 4; "reds" stays re, d, s</w>. */
  g_assert_cmpint (ids[0], ==, 517);
  g_assert_cmpint (ids[1], ==, 513);
  g_assert_cmpint (ids[2], ==, 516);
  g_assert_cmpint (ids[3], ==, 512);
  g_assert_cmpint (ids[4], ==, 67);
  g_assert_cmpint (ids[5], ==, 256 + 82);
  g_assert_cmpint (ids[6], ==, 518);
  naclip_tokenizer_free (tok);

  tok = naclip_tokenizer_new_from_data (
      data, sizeof merges - 1, 2, "merges.txt", &error);
  g_assert_no_error (error);
  g_assert_cmpint (naclip_tokenizer_encode (tok, "blue", -1, FALSE, ids,
                       NACLIP_CONTEXT_LENGTH, &error),
      ==, 5);
  g_assert_cmpint (ids[0], ==, 514);
  g_assert_cmpint (ids[5], ==, 515);
  naclip_tokenizer_free (tok);

  tok = naclip_tokenizer_new_from_data (
      data, sizeof merges - 1, 6, "merges.txt", &error);
  g_assert_null (tok);
  g_assert_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT);
  g_assert_cmpstr (error->message, ==,
      "merges.txt: expected 6 merges to match vocab_size 520, found 5");
  g_clear_error (&error);
}

int
main (int argc, char **argv)
{
  g_autofree char *path = NULL;
  int ret;

  g_test_init (&argc, &argv, NULL);
  path = merges_path ();
  if (path != NULL && g_file_test (path, G_FILE_TEST_EXISTS)) {
    GError *error = NULL;
    gchar *contents;
    gsize len;
    shared_tok = naclip_tokenizer_load (path, NACLIP_CLIP_N_MERGES, &error);
    g_assert_no_error (error);
    g_assert_true (g_file_get_contents (path, &contents, &len, NULL));
    shared_merges = g_bytes_new_take (contents, len);
  }
  g_test_add_func ("/tokenizer/golden", test_golden);
  g_test_add_func ("/tokenizer/threads", test_threads);
  g_test_add_func ("/tokenizer/plain-variants", test_plain_variants);
  g_test_add_func ("/tokenizer/bad-merges", test_bad_merges);
  g_test_add_func ("/tokenizer/invalid-utf8", test_invalid_utf8);
  g_test_add_func ("/tokenizer/context", test_context);
  g_test_add_func ("/tokenizer/huge", test_huge);
  g_test_add_func ("/tokenizer/odd-prompts", test_odd_prompts);
  g_test_add_func ("/tokenizer/text-cap", test_text_cap);
  g_test_add_func ("/tokenizer/cache-bounded", test_cache_bounded);
  g_test_add_func ("/tokenizer/small-vocabulary", test_small_vocabulary);
  ret = g_test_run ();
  naclip_tokenizer_free (shared_tok);
  if (shared_merges != NULL)
    g_bytes_unref (shared_merges);
  return ret;
}
