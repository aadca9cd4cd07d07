/* tokenizer.c: CLIP's byte-level BPE tokenizer.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Reproduces OpenAI's clip/simple_tokenizer.py (NACLIP-SPEC 2) on top of
 * GLib's Unicode tables:
 *
 *   text -> ftfy fix_text (deterministic fixes only, see below)
 *        -> html.unescape twice -> strip, collapse white space -> lower()
 *        -> split with <|startoftext|>|<|endoftext|>|'s|'t|'re|'ve|'m|'ll|'d
 *           |\p{L}+|\p{N}|[^\s\p{L}\p{N}]+ (case-insensitive)
 *        -> bytes of each piece -> GPT-2 byte symbols, "</w>" on the last
 *        -> merges by rank -> ids
 *
 * Text is processed as UCS-4 (gunichar) arrays. Piece symbols are vocabulary
 * ids; the merge table is an open-addressing hash from the pair
 * (left << 16 | right) to (rank, merged id).
 *
 * Merges file (BAD-INPUTS C): Hugging Face merges.txt or OpenAI's gzipped
 * bpe_simple_vocab_16e6.txt.gz (detected by the gzip magic, inflated with
 * GZlibDecompressor, at most MAX_MERGES_BYTES). The caller says how many
 * merges the vocabulary holds: the model's token-embedding rows minus the
 * 512 byte symbols and the 2 specials (48894 for CLIP), whose ids follow
 * the merges (CLIP: 49406, 49407). Choices:
 *   C03 lines after the first n_merges merges are ignored without being
 *       read, as the reference's slice does (OpenAI's file holds more than
 *       CLIP's 48894).
 *   C05 a UTF-8 BOM and CR before LF are stripped; a missing final newline
 *       is accepted.
 *   C07 a duplicate merge pair takes the last rank, as the reference's dict.
 *   C08 the first line must contain "#version" (HF: "#version: 0.2";
 *       OpenAI: "\"bpe_simple_vocab_16e6.txt#version: 0.2"). A file without
 *       it is an error: the reference would silently drop its first merge.
 *   Each of the n_merges lines must be two non-empty symbols separated by one
 *   space, valid UTF-8, and each symbol must be a byte symbol or the result
 *   of some merge; errors name the line.
 *
 * Known divergences (documented in naclip.h and README):
 *   - ftfy's mojibake repair (fix_encoding: latin-1/cp1252 re-decoding,
 *     restore_byte_a0, replace_lossy_sequences, decode_inconsistent_utf8)
 *     is not reproduced. The other fixes of ftfy 6 are, in its order and
 *     repeated until nothing changes: unescape_html (skipped once a '<'
 *     was seen, as "auto" does), fix_c1_controls, fix_latin_ligatures,
 *     fix_character_width, uncurl_quotes, fix_line_breaks,
 *     remove_terminal_escapes, remove_control_chars, NFC.
 *   - HTML entities: numeric references exactly as Python's html.unescape;
 *     named ones from the HTML 4 set (252 names) plus &apos; and the 106
 *     legacy names that HTML5 accepts without ';' (with its longest-prefix
 *     rule). Other HTML5 names (&checkmark;, ...) are left as written.
 *   - Lower-casing is GLib's simple mapping plus what Python adds (checked
 *     over all code points against Python 3.11): U+0130 -> "i\u0307",
 *     final sigma, and the Nl/So ranges U+2160..216F and U+24B6..24CF.
 *     The Cased/Case_Ignorable
 *     properties of the final-sigma rule are approximated with GLib's
 *     general categories.
 *   - Texts longer than MAX_TEXT_BYTES (256 KiB) are refused, truncation
 *     or not: cleaning is linear but not free (BAD-INPUTS E04).
 *   - A piece longer than MAX_PIECE_BYTES is merged in chunks of that size
 *     (bounding BPE time, BAD-INPUTS E05). Such a piece gives more tokens
 *     than any context holds, so only truncated encodings can differ.
 *
 * Thread safety: a loaded tokenizer is immutable except for its BPE cache,
 * which is bounded (CACHE_MAX_ENTRIES pieces of at most CACHE_MAX_PIECE
 * bytes; it is emptied when full) and guarded by a mutex.
 */

#include "config.h"

#include <string.h>

#include <gio/gio.h>

#include "naclip-private.h"

#define MAX_MERGES_BYTES (64u << 20)
#define MAX_PIECE_BYTES 4096
#define MAX_TEXT_BYTES (256u << 10)
#define CACHE_MAX_ENTRIES 16384
#define CACHE_MAX_PIECE 64
#define NO_RANK G_MAXUINT32
#define EMPTY_KEY G_MAXUINT32
/* > 2 * the most merges (NACLIP_MAX_VOCAB - NACLIP_VOCAB_BASE), power of
 * two */
#define PAIR_TABLE_SIZE (1u << 17)

typedef struct
{
  guint32 key;    /* left << 16 | right, EMPTY_KEY if unused */
  guint32 rank;   /* line of the merge, 0-based */
  guint32 merged; /* id of the merged symbol */
} PairSlot;

typedef struct
{
  guint n;
  guint16 ids[];
} CachedPiece;

struct _NaclipTokenizer
{
  guint16 byte_sym[256];     /* id of byte b inside a word */
  guint16 byte_sym_end[256]; /* id of byte b + "</w>" (last of a word) */
  PairSlot *pairs;           /* PAIR_TABLE_SIZE slots */
  guint n_merges;            /* merges read from the file */
  guint16 sot, eot;          /* 512 + n_merges, 513 + n_merges */
  GMutex cache_lock;
  GHashTable *cache; /* piece bytes -> CachedPiece */
};

/* ------------------------------------------------------------------ */
/* The GPT-2 byte-to-unicode table                                      */

/* Fills @chars[b] with the character byte b stands for and @order[b] with
 * its position in the vocabulary (the printable bytes first). */
static void
build_byte_table (gunichar chars[256], guint order[256])
{
  guint pos = 0, extra = 0;

  for (guint b = 0; b < 256; b++) {
    if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE) {
      chars[b] = b;
      order[b] = pos++;
    }
  }
  for (guint b = 0; b < 256; b++) {
    if (!((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE)) {
      chars[b] = 256 + extra++;
      order[b] = pos++;
    }
  }
}

void
naclip_tokenizer_byte_symbol (guint id, char out[8])
{
  gunichar chars[256];
  guint order[256];
  guint b = 0;

  g_return_if_fail (id < 256);
  build_byte_table (chars, order);
  while (order[b] != id)
    b++;
  out[g_unichar_to_utf8 (chars[b], out)] = '\0';
}

/* ------------------------------------------------------------------ */
/* Loading the merges                                                   */

static guint32
hash_pair (guint32 key)
{
  key *= 2654435761u;
  return key >> 15;
}

static PairSlot *
find_pair_slot (PairSlot *pairs, guint32 key)
{
  guint32 i = hash_pair (key) & (PAIR_TABLE_SIZE - 1);

  while (pairs[i].key != EMPTY_KEY && pairs[i].key != key)
    i = (i + 1) & (PAIR_TABLE_SIZE - 1);
  return &pairs[i];
}

static char *
inflate_gzip (const guint8 *data, gsize size, const char *what, gsize *out_size,
    GError **error)
{
  g_autoptr (GZlibDecompressor) dec = NULL;
  GByteArray *out = g_byte_array_new ();
  guint8 buf[65536];
  gsize in_pos = 0;
  GError *local = NULL;

  dec = g_zlib_decompressor_new (G_ZLIB_COMPRESSOR_FORMAT_GZIP);
  for (;;) {
    gsize n_read = 0, n_written = 0;
    GConverterResult r = g_converter_convert (G_CONVERTER (dec), data + in_pos,
        size - in_pos, buf, sizeof buf, G_CONVERTER_INPUT_AT_END, &n_read,
        &n_written, &local);
    if (r == G_CONVERTER_ERROR) {
      g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
          "%s: gzip data is corrupt at byte %" G_GSIZE_FORMAT ": %s", what,
          in_pos, local->message);
      g_clear_error (&local);
      g_byte_array_free (out, TRUE);
      return NULL;
    }
    in_pos += n_read;
    if (out->len + n_written > MAX_MERGES_BYTES) {
      g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
          "%s: decompresses to more than %u MiB", what, MAX_MERGES_BYTES >> 20);
      g_byte_array_free (out, TRUE);
      return NULL;
    }
    g_byte_array_append (out, buf, n_written);
    if (r == G_CONVERTER_FINISHED)
      break;
  }
  *out_size = out->len;
  g_byte_array_append (out, (const guint8 *)"", 1);
  return (char *)g_byte_array_free (out, FALSE);
}

/* Checks that @sym is a run of byte characters, optionally ending in
 * "</w>". */
static gboolean
is_symbol_text (const char *sym, const gboolean is_byte_char[512])
{
  const char *end = sym + strlen (sym);

  if (end - sym > 4 && strcmp (end - 4, "</w>") == 0)
    end -= 4;
  if (end == sym)
    return FALSE;
  for (const char *p = sym; p < end; p = g_utf8_next_char (p)) {
    gunichar c = g_utf8_get_char (p);
    if (c >= 512 || !is_byte_char[c])
      return FALSE;
  }
  return TRUE;
}

static gboolean
parse_merges (NaclipTokenizer *tok, char *text, gsize size, const char *what,
    GError **error)
{
  gunichar chars[256];
  guint order[256];
  gboolean is_byte_char[512] = { FALSE };
  g_autoptr (GHashTable) vocab = NULL; /* symbol text -> id + 1 */
  g_autoptr (GPtrArray) left = g_ptr_array_new ();
  g_autoptr (GPtrArray) right = g_ptr_array_new ();
  char *p = text, *end = text + size;
  guint line_no = 0;

  if (size >= 3 && memcmp (p, "\xEF\xBB\xBF", 3) == 0)
    p += 3;
  vocab = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  build_byte_table (chars, order);
  for (guint b = 0; b < 256; b++) {
    char s[12];
    gint n = g_unichar_to_utf8 (chars[b], s);
    is_byte_char[chars[b]] = TRUE;
    s[n] = '\0';
    g_hash_table_insert (vocab, g_strdup (s), GUINT_TO_POINTER (order[b] + 1));
    g_hash_table_insert (vocab, g_strconcat (s, "</w>", NULL),
        GUINT_TO_POINTER (order[b] + 257));
  }

  /* Pass 1: split the lines in place, build the vocabulary (last id of a
   * string wins, as dict(zip(vocab, range(...)))). */
  while (line_no == 0 || left->len < tok->n_merges) {
    char *nl, *line, *space;
    gsize len;

    if (p >= end)
      break;
    line_no++;
    line = p;
    nl = memchr (p, '\n', end - p);
    len = nl ? (gsize)(nl - p) : (gsize)(end - p);
    p = nl ? nl + 1 : end;
    if (len > 0 && line[len - 1] == '\r')
      len--;
    line[len] = '\0';
    if (!g_utf8_validate_len (line, len, NULL)) {
      g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
          "%s: line %u is not valid UTF-8", what, line_no);
      return FALSE;
    }
    if (line_no == 1) {
      if (strstr (line, "#version") == NULL) {
        g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
            "%s: line 1 is not a \"#version\" header line (found \"%.40s\"); "
            "a merges file starts with one",
            what, line);
        return FALSE;
      }
      continue;
    }
    space = strchr (line, ' ');
    if (space == NULL || space == line || space[1] == '\0'
        || strchr (space + 1, ' ') != NULL || strchr (line, '\t') != NULL) {
      g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
          "%s: line %u: expected two symbols separated by one space, "
          "found \"%.40s\"",
          what, line_no, line);
      return FALSE;
    }
    *space = '\0';
    if (!is_symbol_text (line, is_byte_char)
        || !is_symbol_text (space + 1, is_byte_char)) {
      g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
          "%s: line %u: \"%s %s\" holds a character that is not a byte "
          "symbol",
          what, line_no, line, space + 1);
      return FALSE;
    }
    g_ptr_array_add (left, line);
    g_ptr_array_add (right, space + 1);
    g_hash_table_insert (vocab, g_strconcat (line, space + 1, NULL),
        GUINT_TO_POINTER (512 + left->len - 1 + 1));
  }
  if (line_no == 0) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
        "%s: the merges file is empty", what);
    return FALSE;
  }
  if (left->len < tok->n_merges) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
        "%s: expected %u merges to match vocab_size %u, found %u", what,
        tok->n_merges, tok->n_merges + NACLIP_VOCAB_BASE, left->len);
    return FALSE;
  }

  for (guint b = 0; b < 256; b++) {
    char s[16];
    gint n = g_unichar_to_utf8 (chars[b], s);
    s[n] = '\0';
    tok->byte_sym[b] = GPOINTER_TO_UINT (g_hash_table_lookup (vocab, s)) - 1;
    strcpy (s + n, "</w>");
    tok->byte_sym_end[b]
        = GPOINTER_TO_UINT (g_hash_table_lookup (vocab, s)) - 1;
  }

  /* Pass 2: the pair table (a duplicate pair takes the last rank). */
  for (guint i = 0; i < tok->n_merges; i++) {
    const char *a = left->pdata[i], *b = right->pdata[i];
    g_autofree char *ab = g_strconcat (a, b, NULL);
    guint ia = GPOINTER_TO_UINT (g_hash_table_lookup (vocab, a));
    guint ib = GPOINTER_TO_UINT (g_hash_table_lookup (vocab, b));
    guint im = GPOINTER_TO_UINT (g_hash_table_lookup (vocab, ab));
    PairSlot *slot;

    if (ia == 0 || ib == 0) {
      g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
          "%s: line %u: symbol \"%s\" is neither a byte nor the result of a "
          "merge",
          what, i + 2, ia == 0 ? a : b);
      return FALSE;
    }
    slot = find_pair_slot (tok->pairs, (ia - 1) << 16 | (ib - 1));
    slot->key = (ia - 1) << 16 | (ib - 1);
    slot->rank = i;
    slot->merged = im - 1;
  }
  return TRUE;
}

NaclipTokenizer *
naclip_tokenizer_new_from_data (const guint8 *data, gsize size, guint n_merges,
    const char *what, GError **error)
{
  NaclipTokenizer *tok = NULL;
  char *text = NULL;
  gsize text_size = 0;

  g_return_val_if_fail (data != NULL || size == 0, NULL);
  g_return_val_if_fail (n_merges <= NACLIP_MAX_VOCAB - NACLIP_VOCAB_BASE, NULL);
  g_return_val_if_fail (what != NULL, NULL);

  if (size >= 2 && data[0] == 0x1F && data[1] == 0x8B) {
    text = inflate_gzip (data, size, what, &text_size, error);
    if (text == NULL)
      return NULL;
  } else {
    if (size > MAX_MERGES_BYTES) {
      g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
          "%s: %" G_GSIZE_FORMAT " bytes is too large for a merges file "
          "(at most %u MiB)",
          what, size, MAX_MERGES_BYTES >> 20);
      return NULL;
    }
    text = g_try_malloc (size + 1);
    if (text == NULL) {
      g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_NO_MEMORY,
          "%s: cannot allocate %" G_GSIZE_FORMAT " bytes for the merges", what,
          size + 1);
      return NULL;
    }
    if (size > 0)
      memcpy (text, data, size);
    text[size] = '\0';
    text_size = size;
  }

  tok = g_new0 (NaclipTokenizer, 1);
  tok->n_merges = n_merges;
  tok->sot = (guint16)(512 + n_merges);
  tok->eot = (guint16)(513 + n_merges);
  tok->pairs = g_try_new (PairSlot, PAIR_TABLE_SIZE);
  if (tok->pairs == NULL) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_NO_MEMORY,
        "%s: cannot allocate the merge table (%" G_GSIZE_FORMAT " bytes)", what,
        sizeof (PairSlot) * PAIR_TABLE_SIZE);
    g_free (tok);
    g_free (text);
    return NULL;
  }
  memset (tok->pairs, 0xFF, sizeof (PairSlot) * PAIR_TABLE_SIZE);
  g_mutex_init (&tok->cache_lock);
  tok->cache = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  if (!parse_merges (tok, text, text_size, what, error))
    g_clear_pointer (&tok, naclip_tokenizer_free);
  g_free (text);
  return tok;
}

NaclipTokenizer *
naclip_tokenizer_load (const char *path, guint n_merges, GError **error)
{
  g_autoptr (GMappedFile) file = NULL;
  GError *local = NULL;

  g_return_val_if_fail (path != NULL, NULL);

  file = g_mapped_file_new (path, FALSE, &local);
  if (file == NULL) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_IO,
        "cannot read merges file: %s", local->message);
    g_error_free (local);
    return NULL;
  }
  return naclip_tokenizer_new_from_data (
      (const guint8 *)g_mapped_file_get_contents (file),
      g_mapped_file_get_length (file), n_merges, path, error);
}

void
naclip_tokenizer_free (NaclipTokenizer *tok)
{
  if (tok == NULL)
    return;
  g_free (tok->pairs);
  g_hash_table_unref (tok->cache);
  g_mutex_clear (&tok->cache_lock);
  g_free (tok);
}

/* ------------------------------------------------------------------ */
/* Text cleaning on UCS-4 arrays                                        */

/* Windows-1252 for bytes 0x80..0x9F; undefined bytes stay C1 controls
 * (Python's html._invalid_charrefs, ftfy's sloppy-windows-1252). */
static const guint16 cp1252_c1[32] = { 0x20ac, 0x0081, 0x201a, 0x0192, 0x201e,
  0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008d,
  0x017d, 0x008f, 0x0090, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013,
  0x2014, 0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0x009d, 0x017e, 0x0178 };

typedef struct
{
  const char *name;  /* without '&' and ';' */
  const char *value; /* UTF-8 */
  gboolean legacy;   /* also valid without ';' (HTML5) */
  const char *upper; /* ftfy's value for the all-caps name, or NULL */
} Entity;

/* HTML 4's named entities, &apos; and HTML5's legacy names, sorted by
 * name (strcmp). Generated from Python's html.entities. */
static const Entity entities[] = {
#include "html-entities.inc"
};

static int
compare_entity (const void *key, const void *elem)
{
  return strcmp (key, ((const Entity *)elem)->name);
}

static const Entity *
find_entity (const char *name)
{
  return bsearch (
      name, entities, G_N_ELEMENTS (entities), sizeof (Entity), compare_entity);
}

static void
append_utf8 (GArray *out, const char *s)
{
  for (; *s; s = g_utf8_next_char (s)) {
    gunichar c = g_utf8_get_char (s);
    g_array_append_val (out, c);
  }
}

static void
append_char (GArray *out, gunichar c)
{
  g_array_append_val (out, c);
}

#define AT(a, i) g_array_index ((a), gunichar, (i))

static gboolean
is_ascii_alnum (gunichar c)
{
  return c < 128 && g_ascii_isalnum (c);
}

/* Python's html.unescape for a numeric reference: the character, "" for
 * the invalid code points, U+FFFD for surrogates and out of range. */
static void
append_numeric_ref (GArray *out, guint64 num)
{
  if (num == 0) {
    append_char (out, 0xFFFD);
  } else if (num == 0x0D) {
    append_char (out, 0x0D);
  } else if (num >= 0x80 && num <= 0x9F) {
    append_char (out, cp1252_c1[num - 0x80]);
  } else if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF) {
    append_char (out, 0xFFFD);
  } else if ((num >= 0x01 && num <= 0x08) || num == 0x0B
             || (num >= 0x0E && num <= 0x1F) || (num >= 0x7F && num <= 0x9F)
             || (num >= 0xFDD0 && num <= 0xFDEF) || (num & 0xFFFE) == 0xFFFE) {
    /* removed */
  } else {
    append_char (out, (gunichar)num);
  }
}

/* Parses a numeric reference after "&#" at in[*pos]; on success appends the
 * character(s), moves *pos past the optional ';' and returns TRUE.
 * @need_semicolon: ftfy's form (&#...; only). */
static gboolean
parse_numeric_ref (
    const GArray *in, gsize *pos, gboolean need_semicolon, GArray *out)
{
  gsize i = *pos;
  guint64 num = 0;
  gboolean hex = FALSE;
  gsize n_digits = 0;

  if (i < in->len && (AT (in, i) == 'x' || AT (in, i) == 'X')) {
    hex = TRUE;
    i++;
  }
  while (
      i < in->len && AT (in, i) < 128
      && (hex ? g_ascii_isxdigit (AT (in, i)) : g_ascii_isdigit (AT (in, i)))) {
    gunichar c = AT (in, i);
    guint d = hex ? (guint)g_ascii_xdigit_value (c) : (guint)(c - '0');
    num = num * (hex ? 16 : 10) + d;
    if (num > 0x10FFFF)
      num = 0x110000; /* saturate: any larger value gives U+FFFD */
    n_digits++;
    i++;
  }
  if (n_digits == 0)
    return FALSE;
  if (i < in->len && AT (in, i) == ';')
    i++;
  else if (need_semicolon)
    return FALSE;
  append_numeric_ref (out, num);
  *pos = i;
  return TRUE;
}

/* Python's html.unescape (html/__init__.py), with the entity subset. */
static void
python_html_unescape (const GArray *in, GArray *out)
{
  gsize i = 0;

  while (i < in->len) {
    gunichar c = AT (in, i);
    gsize start, n;
    char name[33 * 6 + 2];
    gsize name_len = 0;
    gboolean semicolon = FALSE;
    const Entity *e;

    if (c != '&') {
      append_char (out, c);
      i++;
      continue;
    }
    i++;
    if (i < in->len && AT (in, i) == '#') {
      gsize j = i + 1;
      if (parse_numeric_ref (in, &j, FALSE, out)) {
        i = j;
        continue;
      }
      append_char (out, '&');
      continue;
    }
    start = i;
    while (i < in->len && i - start < 32) {
      gunichar d = AT (in, i);
      if (d == '\t' || d == '\n' || d == '\f' || d == ' ' || d == '<'
          || d == '&' || d == '#' || d == ';')
        break;
      name_len += g_unichar_to_utf8 (d, name + name_len);
      i++;
    }
    n = i - start;
    if (n == 0) {
      append_char (out, '&');
      continue;
    }
    if (i < in->len && AT (in, i) == ';') {
      semicolon = TRUE;
      i++;
    }
    name[name_len] = '\0';
    e = find_entity (name);
    if (e != NULL && (semicolon || e->legacy)) {
      append_utf8 (out, e->value);
      if (!semicolon)
        continue;
      continue;
    }
    /* The longest legacy name that is a prefix (of at least 2 chars). */
    {
      gsize k;
      for (k = (semicolon ? n : n - 1); k >= 2; k--) {
        char prefix[33];
        if (k > 32 || name_len < k)
          continue;
        /* legacy names are ASCII, so the prefix of k chars is k bytes */
        memcpy (prefix, name, k);
        prefix[k] = '\0';
        e = find_entity (prefix);
        if (e != NULL && e->legacy)
          break;
      }
      if (k >= 2) {
        append_utf8 (out, e->value);
        for (gsize j = start + k; j < i; j++)
          append_char (out, AT (in, j));
      } else {
        append_char (out, '&');
        for (gsize j = start; j < i; j++)
          append_char (out, AT (in, j));
      }
    }
  }
}

/* ftfy's unescape_html: &#?[0-9A-Za-z]{1,24}; only, named entities from
 * the table and their all-caps forms. */
static void
ftfy_unescape_html (const GArray *in, GArray *out)
{
  gsize i = 0;

  while (i < in->len) {
    gsize j, start;
    char name[25];
    const Entity *e = NULL;
    const char *value = NULL;

    if (AT (in, i) != '&') {
      append_char (out, AT (in, i));
      i++;
      continue;
    }
    start = i + 1;
    j = start;
    if (j < in->len && AT (in, j) == '#')
      j++;
    while (j < in->len && j - start < 25 && is_ascii_alnum (AT (in, j)))
      j++;
    if (j >= in->len || AT (in, j) != ';' || j == start
        || (AT (in, start) == '#' && j == start + 1) || j - start > 25
        || (AT (in, start) != '#' && j - start > 24)) {
      append_char (out, '&');
      i++;
      continue;
    }
    if (AT (in, start) == '#') {
      gsize k = start + 1;
      GArray *tmp = g_array_new (FALSE, FALSE, sizeof (gunichar));
      /* html.unescape must consume the whole match, ';' included */
      if (parse_numeric_ref (in, &k, TRUE, tmp) && k == j + 1) {
        g_array_append_vals (out, tmp->data, tmp->len);
        i = j + 1;
      } else {
        append_char (out, '&');
        i++;
      }
      g_array_free (tmp, TRUE);
      continue;
    }
    for (gsize k = start; k < j; k++)
      name[k - start] = (char)AT (in, k);
    name[j - start] = '\0';
    e = find_entity (name);
    if (e != NULL) {
      value = e->value;
    } else {
      char *lower = g_ascii_strdown (name, -1);
      char *upper = g_ascii_strup (name, -1);
      if (strcmp (upper, name) == 0) {
        e = find_entity (lower);
        if (e != NULL)
          value = e->upper;
      }
      g_free (lower);
      g_free (upper);
    }
    if (value != NULL) {
      append_utf8 (out, value);
      i = j + 1;
    } else {
      append_char (out, '&');
      i++;
    }
  }
}

static void
ftfy_fix_c1_controls (GArray *text)
{
  for (gsize i = 0; i < text->len; i++) {
    if (AT (text, i) >= 0x80 && AT (text, i) <= 0x9F)
      AT (text, i) = cp1252_c1[AT (text, i) - 0x80];
  }
}

static void
ftfy_fix_latin_ligatures (const GArray *in, GArray *out)
{
  static const struct
  {
    gunichar c;
    const char *s;
  } ligatures[] = {
    { 0x0132, "IJ" },
    { 0x0133, "ij" },
    { 0x0149, "\xca\xbcn" },
    { 0x01C4, "D\xc5\xbd" },
    { 0x01C5, "D\xc5\xbe" },
    { 0x01C6, "d\xc5\xbe" },
    { 0x01C7, "LJ" },
    { 0x01C8, "Lj" },
    { 0x01C9, "lj" },
    { 0x01CA, "NJ" },
    { 0x01CB, "Nj" },
    { 0x01CC, "nj" },
    { 0x01F1, "DZ" },
    { 0x01F2, "Dz" },
    { 0x01F3, "dz" },
    { 0xFB00, "ff" },
    { 0xFB01, "fi" },
    { 0xFB02, "fl" },
    { 0xFB03, "ffi" },
    { 0xFB04, "ffl" },
    { 0xFB05, "\xc5\xbft" },
    { 0xFB06, "st" },
  };

  for (gsize i = 0; i < in->len; i++) {
    gunichar c = AT (in, i);
    gsize k;
    for (k = 0; k < G_N_ELEMENTS (ligatures); k++) {
      if (ligatures[k].c == c)
        break;
    }
    if (k < G_N_ELEMENTS (ligatures))
      append_utf8 (out, ligatures[k].s);
    else
      append_char (out, c);
  }
}

/* U+3000 -> ' ', U+FF01..U+FFEF -> their NFKC form. */
static void
ftfy_fix_character_width (const GArray *in, GArray *out)
{
  for (gsize i = 0; i < in->len; i++) {
    gunichar c = AT (in, i);
    if (c == 0x3000) {
      append_char (out, ' ');
    } else if (c >= 0xFF01 && c <= 0xFFEF) {
      char s[8];
      gint n = g_unichar_to_utf8 (c, s);
      char *nfkc = g_utf8_normalize (s, n, G_NORMALIZE_NFKC);
      append_utf8 (out, nfkc);
      g_free (nfkc);
    } else {
      append_char (out, c);
    }
  }
}

static void
ftfy_uncurl_quotes (GArray *text)
{
  for (gsize i = 0; i < text->len; i++) {
    gunichar c = AT (text, i);
    if (c == 0x02BC || (c >= 0x2018 && c <= 0x201B))
      AT (text, i) = '\'';
    else if (c >= 0x201C && c <= 0x201F)
      AT (text, i) = '"';
  }
}

static void
ftfy_fix_line_breaks (const GArray *in, GArray *out)
{
  for (gsize i = 0; i < in->len; i++) {
    gunichar c = AT (in, i);
    if (c == '\r' && i + 1 < in->len && AT (in, i + 1) == '\n')
      continue; /* the LF follows */
    if (c == '\r' || c == 0x2028 || c == 0x2029 || c == 0x85)
      c = '\n';
    append_char (out, c);
  }
}

/* Removes ESC '[' [0-9;]* [A-Za-z]. */
static void
ftfy_remove_terminal_escapes (const GArray *in, GArray *out)
{
  gsize i = 0;

  while (i < in->len) {
    if (AT (in, i) == 0x1B && i + 1 < in->len && AT (in, i + 1) == '[') {
      gsize j = i + 2;
      while (j < in->len && AT (in, j) < 128
             && (g_ascii_isdigit (AT (in, j)) || AT (in, j) == ';'))
        j++;
      if (j < in->len && AT (in, j) < 128 && g_ascii_isalpha (AT (in, j))) {
        i = j + 1;
        continue;
      }
    }
    append_char (out, AT (in, i));
    i++;
  }
}

static gboolean
is_ftfy_control (gunichar c)
{
  return c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F
         || (c >= 0x206A && c <= 0x206F) || c == 0xFEFF
         || (c >= 0xFFF9 && c <= 0xFFFC);
}

static void
ftfy_remove_control_chars (const GArray *in, GArray *out)
{
  for (gsize i = 0; i < in->len; i++) {
    if (!is_ftfy_control (AT (in, i)))
      append_char (out, AT (in, i));
  }
}

static void
normalize_nfc (const GArray *in, GArray *out)
{
  gboolean simple = TRUE;
  char *utf8, *nfc;

  /* Text below U+0300 holds no combining mark: it is already NFC. */
  for (gsize i = 0; i < in->len && simple; i++)
    simple = AT (in, i) < 0x300;
  if (simple) {
    g_array_append_vals (out, in->data, in->len);
    return;
  }
  utf8 = g_ucs4_to_utf8 ((const gunichar *)in->data, in->len, NULL, NULL, NULL);
  nfc = g_utf8_normalize (utf8, -1, G_NORMALIZE_NFC);
  append_utf8 (out, nfc);
  g_free (nfc);
  g_free (utf8);
}

typedef void (*TransformFunc) (const GArray *in, GArray *out);

/* Runs @func from *text into a new array that replaces *text. */
static void
apply (GArray **text, TransformFunc func)
{
  GArray *out
      = g_array_sized_new (FALSE, FALSE, sizeof (gunichar), (*text)->len + 8);
  func (*text, out);
  g_array_free (*text, TRUE);
  *text = out;
}

static gboolean
arrays_equal (const GArray *a, const GArray *b)
{
  return a->len == b->len
         && memcmp (a->data, b->data, a->len * sizeof (gunichar)) == 0;
}

/* ftfy.fix_and_explain on one segment: the fixes until nothing changes. */
static GArray *
ftfy_fix_segment (GArray *text, gboolean unescape)
{
  for (;;) {
    GArray *orig = g_array_copy (text);
    gboolean same;

    if (unescape)
      apply (&text, ftfy_unescape_html);
    ftfy_fix_c1_controls (text);
    apply (&text, ftfy_fix_latin_ligatures);
    apply (&text, ftfy_fix_character_width);
    ftfy_uncurl_quotes (text);
    apply (&text, ftfy_fix_line_breaks);
    apply (&text, ftfy_remove_terminal_escapes);
    apply (&text, ftfy_remove_control_chars);
    apply (&text, normalize_nfc);
    same = arrays_equal (orig, text);
    g_array_free (orig, TRUE);
    if (same)
      return text;
  }
}

/* ftfy.fix_text: segments end after each '\n'; HTML unescaping is off from
 * the first segment containing '<' on. */
static GArray *
ftfy_fix_text (const GArray *in)
{
  GArray *out = g_array_sized_new (FALSE, FALSE, sizeof (gunichar), in->len);
  gboolean unescape = TRUE;
  gsize pos = 0;

  while (pos < in->len) {
    gsize end = pos;
    GArray *seg;

    while (end < in->len && AT (in, end) != '\n')
      end++;
    if (end < in->len)
      end++;
    seg = g_array_sized_new (FALSE, FALSE, sizeof (gunichar), end - pos);
    g_array_append_vals (seg, &AT (in, pos), end - pos);
    for (gsize i = 0; i < seg->len && unescape; i++)
      unescape = AT (seg, i) != '<';
    seg = ftfy_fix_segment (seg, unescape);
    g_array_append_vals (out, seg->data, seg->len);
    g_array_free (seg, TRUE);
    pos = end;
  }
  return out;
}

/* Unicode White_Space (the \s of Python's regex module). */
static gboolean
is_white_space (gunichar c)
{
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0
         || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028
         || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/* Python's str.isspace(): White_Space plus U+001C..U+001F. */
static gboolean
is_python_space (gunichar c)
{
  return is_white_space (c) || (c >= 0x1C && c <= 0x1F);
}

/* text.strip(), then regex.sub(r'\s+', ' ', text).strip(). */
static void
clean_white_space (const GArray *in, GArray *out)
{
  gsize begin = 0, end = in->len;
  gboolean pending = FALSE;

  while (begin < end && is_python_space (AT (in, begin)))
    begin++;
  while (end > begin && is_python_space (AT (in, end - 1)))
    end--;
  for (gsize i = begin; i < end; i++) {
    gunichar c = AT (in, i);
    if (is_white_space (c)) {
      pending = TRUE;
      continue;
    }
    if (pending && out->len > 0)
      append_char (out, ' ');
    pending = FALSE;
    append_char (out, c);
  }
  /* strip() after the substitution: only 0x1C..0x1F can remain at the
   * ends, as separators are collapsed to inner spaces */
  while (out->len > 0 && is_python_space (AT (out, out->len - 1)))
    g_array_set_size (out, out->len - 1);
  if (out->len > 0 && is_python_space (AT (out, 0))) {
    gsize k = 0;
    while (k < out->len && is_python_space (AT (out, k)))
      k++;
    g_array_remove_range (out, 0, k);
  }
}

static gboolean
is_cased (gunichar c)
{
  return g_unichar_isupper (c) || g_unichar_islower (c)
         || g_unichar_istitle (c);
}

static gboolean
is_case_ignorable (gunichar c)
{
  switch (g_unichar_type (c)) {
    case G_UNICODE_NON_SPACING_MARK:
    case G_UNICODE_ENCLOSING_MARK:
    case G_UNICODE_FORMAT:
    case G_UNICODE_MODIFIER_LETTER:
    case G_UNICODE_MODIFIER_SYMBOL:
      return TRUE;
    default:
      /* Word_Break MidLetter, MidNumLet, Single_Quote */
      return c == '\'' || c == '.' || c == ':' || c == 0xB7 || c == 0x0387
             || c == 0x055F || c == 0x05F4 || c == 0x2018 || c == 0x2019
             || c == 0x2024 || c == 0x2027 || c == 0xFE13 || c == 0xFE52
             || c == 0xFE55 || c == 0xFF07 || c == 0xFF0E || c == 0xFF1A;
  }
}

/* Python's str.lower(). */
static void
python_lower (const GArray *in, GArray *out)
{
  for (gsize i = 0; i < in->len; i++) {
    gunichar c = AT (in, i);
    if (c == 0x0130) {
      append_char (out, 'i');
      append_char (out, 0x0307);
    } else if (c == 0x03A3) {
      gboolean final = FALSE;
      gsize j = i;
      while (j > 0 && is_case_ignorable (AT (in, j - 1)))
        j--;
      if (j > 0 && is_cased (AT (in, j - 1))) {
        gsize k = i + 1;
        while (k < in->len && is_case_ignorable (AT (in, k)))
          k++;
        final = k == in->len || !is_cased (AT (in, k));
      }
      append_char (out, final ? 0x03C2 : 0x03C3);
    } else if (c >= 0x2160 && c <= 0x216F) {
      /* Roman numerals (Nl) and circled letters (So) have lowercase
       * mappings that GLib applies to letters only */
      append_char (out, c + 0x10);
    } else if (c >= 0x24B6 && c <= 0x24CF) {
      append_char (out, c + 26);
    } else {
      append_char (out, g_unichar_tolower (c));
    }
  }
}

/* ------------------------------------------------------------------ */
/* Splitting and BPE                                                    */

static gboolean
is_letter (gunichar c)
{
  switch (g_unichar_type (c)) {
    case G_UNICODE_UPPERCASE_LETTER:
    case G_UNICODE_LOWERCASE_LETTER:
    case G_UNICODE_TITLECASE_LETTER:
    case G_UNICODE_MODIFIER_LETTER:
    case G_UNICODE_OTHER_LETTER:
      return TRUE;
    default:
      return FALSE;
  }
}

static gboolean
is_number (gunichar c)
{
  switch (g_unichar_type (c)) {
    case G_UNICODE_DECIMAL_NUMBER:
    case G_UNICODE_LETTER_NUMBER:
    case G_UNICODE_OTHER_NUMBER:
      return TRUE;
    default:
      return FALSE;
  }
}

/* The regex is case-insensitive (simple case folding): the only character
 * besides ASCII that folds onto a letter of the literals is U+017F (s). */
static gunichar
fold (gunichar c)
{
  if (c == 0x017F)
    return 's';
  return c < 128 ? (gunichar)g_ascii_tolower (c) : c;
}

/* Length of literal @lit (ASCII) at text[i], 0 if it does not match. */
static gsize
match_literal (const GArray *text, gsize i, const char *lit)
{
  gsize n = strlen (lit);

  if (i + n > text->len)
    return 0;
  for (gsize k = 0; k < n; k++) {
    if (fold (AT (text, i + k)) != (gunichar)lit[k])
      return 0;
  }
  return n;
}

/* Merges @sym (@n ids) by rank; returns the new count. @rank is scratch of
 * @n entries. */
static gsize
bpe (const NaclipTokenizer *tok, guint16 *sym, guint32 *rank, gsize n)
{
  for (gsize i = 0; i + 1 < n; i++) {
    const PairSlot *s
        = find_pair_slot (tok->pairs, (guint32)sym[i] << 16 | sym[i + 1]);
    rank[i] = s->key == EMPTY_KEY ? NO_RANK : s->rank;
  }
  while (n > 1) {
    guint32 best = NO_RANK;
    guint16 a = 0, b = 0, merged = 0;
    gsize out = 0, i = 0;
    gboolean prev_merged = FALSE;

    for (gsize k = 0; k + 1 < n; k++)
      best = MIN (best, rank[k]);
    if (best == NO_RANK)
      break;
    for (gsize k = 0; k + 1 < n; k++) {
      if (rank[k] == best) {
        a = sym[k];
        b = sym[k + 1];
        merged = find_pair_slot (tok->pairs, (guint32)a << 16 | b)->merged;
        break;
      }
    }
    /* Merge every occurrence of (a, b), left to right, in place. rank[out]
     * of an untouched pair is carried over; pairs next to a merged symbol
     * are looked up again. */
    while (i < n) {
      gboolean is_merge = i + 1 < n && sym[i] == a && sym[i + 1] == b;
      guint16 s = is_merge ? merged : sym[i];
      guint32 r_next = (!is_merge && i + 1 < n) ? rank[i] : NO_RANK;

      if (out > 0 && (is_merge || prev_merged)) {
        const PairSlot *slot
            = find_pair_slot (tok->pairs, (guint32)sym[out - 1] << 16 | s);
        rank[out - 1] = slot->key == EMPTY_KEY ? NO_RANK : slot->rank;
      }
      sym[out] = s;
      rank[out] = r_next;
      prev_merged = is_merge;
      out++;
      i += is_merge ? 2 : 1;
    }
    n = out;
  }
  return n;
}

/* Appends the ids of one piece (UTF-8 @bytes, @n bytes) to @ids. */
static void
encode_piece (NaclipTokenizer *tok, const char *bytes, gsize n, GArray *ids)
{
  CachedPiece *hit = NULL;
  guint16 *sym;
  guint32 *rank;
  gsize done = 0;

  if (n <= CACHE_MAX_PIECE) {
    g_mutex_lock (&tok->cache_lock);
    hit = g_hash_table_lookup (tok->cache, bytes);
    if (hit != NULL)
      g_array_append_vals (ids, hit->ids, hit->n);
    g_mutex_unlock (&tok->cache_lock);
    if (hit != NULL)
      return;
  }

  sym = g_new (guint16, MIN (n, MAX_PIECE_BYTES));
  rank = g_new (guint32, MIN (n, MAX_PIECE_BYTES));
  while (done < n) {
    gsize len = n - done, m;
    if (len > MAX_PIECE_BYTES) {
      /* cut before a UTF-8 continuation byte sequence */
      len = MAX_PIECE_BYTES;
      while (len > 1 && ((guint8)bytes[done + len] & 0xC0) == 0x80)
        len--;
    }
    for (gsize k = 0; k < len; k++) {
      guint8 byte = (guint8)bytes[done + k];
      sym[k]
          = (done + k + 1 == n) ? tok->byte_sym_end[byte] : tok->byte_sym[byte];
    }
    m = bpe (tok, sym, rank, len);
    g_array_append_vals (ids, sym, m);
    if (n <= CACHE_MAX_PIECE) {
      CachedPiece *entry
          = g_malloc (sizeof (CachedPiece) + m * sizeof (guint16));
      entry->n = m;
      memcpy (entry->ids, sym, m * sizeof (guint16));
      g_mutex_lock (&tok->cache_lock);
      if (g_hash_table_size (tok->cache) >= CACHE_MAX_ENTRIES)
        g_hash_table_remove_all (tok->cache);
      g_hash_table_replace (tok->cache, g_strndup (bytes, n), entry);
      g_mutex_unlock (&tok->cache_lock);
    }
    done += len;
  }
  g_free (sym);
  g_free (rank);
}

/* Cleans @text (valid UTF-8) into the lower-cased UCS-4 string the
 * splitter sees. */
static GArray *
clean_text (const char *text, gsize len)
{
  glong n_chars = 0;
  gunichar *ucs4 = g_utf8_to_ucs4_fast (text, len, &n_chars);
  GArray *a = g_array_sized_new (FALSE, FALSE, sizeof (gunichar), n_chars);
  GArray *fixed;

  g_array_append_vals (a, ucs4, n_chars);
  g_free (ucs4);
  fixed = ftfy_fix_text (a);
  g_array_free (a, TRUE);
  apply (&fixed, python_html_unescape);
  apply (&fixed, python_html_unescape);
  apply (&fixed, clean_white_space);
  apply (&fixed, python_lower);
  return fixed;
}

gint
naclip_tokenizer_encode (NaclipTokenizer *tok, const char *text, gssize len,
    gboolean truncate, gint32 *ids, guint context, GError **error)
{
  const char *bad = NULL;
  GArray *clean = NULL;
  GArray *out = NULL;
  GString *piece = NULL;
  gsize i = 0, limit;
  gint result = -1;

  g_return_val_if_fail (tok != NULL && text != NULL && ids != NULL, -1);
  g_return_val_if_fail (context >= 2, -1);

  if (len < 0)
    len = (gssize)strlen (text);
  if ((gsize)len > MAX_TEXT_BYTES) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_TEXT,
        "the text has %" G_GSIZE_FORMAT " bytes, more than the %u KiB a "
        "prompt may have",
        (gsize)len, MAX_TEXT_BYTES >> 10);
    return -1;
  }
  if (!g_utf8_validate_len (text, (gsize)len, &bad)) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_TEXT,
        "invalid UTF-8 (or NUL) at byte offset %" G_GSIZE_FORMAT " of the text",
        (gsize)(bad - text));
    return -1;
  }

  clean = clean_text (text, (gsize)len);
  out = g_array_new (FALSE, FALSE, sizeof (guint16));
  piece = g_string_new (NULL);
  limit = context - 2;
  /* The split pattern, one match per iteration; white space between matches
   * is skipped. Stops once the context is overfull. */
  while (i < clean->len && out->len <= limit) {
    gunichar c = AT (clean, i);
    gsize n = 0;
    guint16 special = 0;

    if (is_white_space (c)) {
      i++;
      continue;
    }
    if ((n = match_literal (clean, i, "<|startoftext|>")) > 0) {
      special = tok->sot;
    } else if ((n = match_literal (clean, i, "<|endoftext|>")) > 0) {
      special = tok->eot;
    } else if ((n = match_literal (clean, i, "'s")) > 0
               || (n = match_literal (clean, i, "'t")) > 0
               || (n = match_literal (clean, i, "'re")) > 0
               || (n = match_literal (clean, i, "'ve")) > 0
               || (n = match_literal (clean, i, "'m")) > 0
               || (n = match_literal (clean, i, "'ll")) > 0
               || (n = match_literal (clean, i, "'d")) > 0) {
    } else if (is_letter (c)) {
      while (i + n < clean->len && is_letter (AT (clean, i + n)))
        n++;
    } else if (is_number (c)) {
      n = 1;
    } else {
      while (i + n < clean->len && !is_white_space (AT (clean, i + n))
             && !is_letter (AT (clean, i + n))
             && !is_number (AT (clean, i + n)))
        n++;
    }
    g_string_truncate (piece, 0);
    for (gsize k = 0; k < n; k++)
      g_string_append_unichar (piece, AT (clean, i + k));
    /* The special tokens map to their ids only when spelled exactly (the
     * reference finds them in its BPE cache); a folded spelling such as
     * U+017F is an ordinary piece. */
    if (special != 0
        && strcmp (piece->str,
               special == tok->sot ? "<|startoftext|>" : "<|endoftext|>")
               == 0)
      g_array_append_val (out, special);
    else
      encode_piece (tok, piece->str, piece->len, out);
    i += n;
  }

  if (out->len > limit && !truncate) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_TEXT,
        "the text is longer than the context of %u tokens (more than "
        "%" G_GSIZE_FORMAT " tokens between the start and end tokens)",
        context, limit);
    goto out;
  }
  ids[0] = tok->sot;
  for (gsize k = 0; k < MIN (out->len, limit); k++)
    ids[k + 1] = g_array_index (out, guint16, k);
  result = (gint)MIN (out->len, limit) + 1;
  ids[result] = tok->eot;
  for (guint k = (guint)result + 1; k < context; k++)
    ids[k] = 0;

out:
  g_string_free (piece, TRUE);
  g_array_free (out, TRUE);
  g_array_free (clean, TRUE);
  return result;
}

guint
naclip_tokenizer_cache_size (NaclipTokenizer *tok)
{
  guint n;

  g_return_val_if_fail (tok != NULL, 0);
  g_mutex_lock (&tok->cache_lock);
  n = g_hash_table_size (tok->cache);
  g_mutex_unlock (&tok->cache_lock);
  return n;
}
