/* tokenizer.c: CLIP's byte-level BPE tokenizer.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Reproduces OpenAI's clip/simple_tokenizer.py (and
 * tests/reference/tokenizer.py) on top of GLib's Unicode tables:
 *
 *   text -> cleaned (ftfy, html.unescape, white space, lower(): text-clean.c)
 *        -> split with <|startoftext|>|<|endoftext|>|'s|'t|'re|'ve|'m|'ll|'d
 *           |\p{L}+|\p{N}|[^\s\p{L}\p{N}]+ (case-insensitive)
 *        -> bytes of each piece -> GPT-2 byte symbols, "</w>" on the last
 *        -> merges by rank -> ids
 *
 * The cleaned text is a UCS-4 (gunichar) array. Piece symbols are
 * vocabulary ids; the merge table is an open-addressing hash from the pair
 * (left << 16 | right) to (rank, merged id).
 *
 * Merges file (bad-input rows C): Hugging Face merges.txt or OpenAI's gzipped
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
 * Known divergences (documented in naclip.h and README; those of the
 * cleaning are listed in text-clean.c):
 *   - Texts longer than MAX_TEXT_BYTES (256 KiB) are refused, truncation
 *     or not: cleaning is linear but not free (bad-input row E04).
 *   - A piece longer than MAX_PIECE_BYTES is merged in chunks of that size
 *     (bounding BPE time, bad-input row E05). Such a piece gives more tokens
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
match_literal (const gunichar *text, gsize len, gsize i, const char *lit)
{
  gsize n = strlen (lit);

  if (i + n > len)
    return 0;
  for (gsize k = 0; k < n; k++) {
    if (fold (text[i + k]) != (gunichar)lit[k])
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

gint
naclip_tokenizer_encode (NaclipTokenizer *tok, const char *text, gssize len,
    gboolean truncate, gint32 *ids, guint context, GError **error)
{
  const char *bad = NULL;
  gunichar *clean = NULL;
  gsize n_clean = 0;
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

  clean = naclip_text_clean (text, (gsize)len, &n_clean);
  out = g_array_new (FALSE, FALSE, sizeof (guint16));
  piece = g_string_new (NULL);
  limit = context - 2;
  /* The split pattern, one match per iteration; white space between matches
   * is skipped. Stops once the context is overfull. */
  while (i < n_clean && out->len <= limit) {
    gunichar c = clean[i];
    gsize n = 0;
    guint16 special = 0;

    if (naclip_text_is_white_space (c)) {
      i++;
      continue;
    }
    if ((n = match_literal (clean, n_clean, i, "<|startoftext|>")) > 0) {
      special = tok->sot;
    } else if ((n = match_literal (clean, n_clean, i, "<|endoftext|>")) > 0) {
      special = tok->eot;
    } else if ((n = match_literal (clean, n_clean, i, "'s")) > 0
               || (n = match_literal (clean, n_clean, i, "'t")) > 0
               || (n = match_literal (clean, n_clean, i, "'re")) > 0
               || (n = match_literal (clean, n_clean, i, "'ve")) > 0
               || (n = match_literal (clean, n_clean, i, "'m")) > 0
               || (n = match_literal (clean, n_clean, i, "'ll")) > 0
               || (n = match_literal (clean, n_clean, i, "'d")) > 0) {
    } else if (is_letter (c)) {
      while (i + n < n_clean && is_letter (clean[i + n]))
        n++;
    } else if (is_number (c)) {
      n = 1;
    } else {
      while (i + n < n_clean && !naclip_text_is_white_space (clean[i + n])
             && !is_letter (clean[i + n]) && !is_number (clean[i + n]))
        n++;
    }
    g_string_truncate (piece, 0);
    for (gsize k = 0; k < n; k++)
      g_string_append_unichar (piece, clean[i + k]);
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
  g_free (clean);
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
