/* text-clean.c: the text cleaning of CLIP's tokenizer.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * What OpenAI's clip/simple_tokenizer.py does to a prompt before it splits
 * it (tests/reference/tokenizer.py), on top of GLib's Unicode tables:
 *
 *   text -> ftfy fix_text (deterministic fixes only, see below)
 *        -> html.unescape twice -> strip, collapse white space -> lower()
 *
 * Text is processed as UCS-4 (gunichar) arrays: each step reads one GArray
 * and writes a new one (or fixes it in place when lengths cannot change).
 * tokenizer.c splits and merges the result.
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
 *     named ones from the HTML 4 set (252 names, html-entities.inc) plus
 *     &apos; and the 106 legacy names that HTML5 accepts without ';' (with
 *     its longest-prefix rule). Other HTML5 names (&checkmark;, ...) are
 *     left as written.
 *   - Lower-casing is GLib's simple mapping plus what Python adds (checked
 *     over all code points against Python 3.11): U+0130 -> "i\u0307",
 *     final sigma, and the Nl/So ranges U+2160..216F and U+24B6..24CF.
 *     The Cased/Case_Ignorable properties of the final-sigma rule are
 *     approximated with GLib's general categories.
 * The cost is linear in the text (the caller bounds its size).
 */

#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "naclip-private.h"

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

gboolean
naclip_text_is_white_space (gunichar c)
{
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0
         || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028
         || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/* Python's str.isspace(): White_Space plus U+001C..U+001F. */
static gboolean
is_python_space (gunichar c)
{
  return naclip_text_is_white_space (c) || (c >= 0x1C && c <= 0x1F);
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
    if (naclip_text_is_white_space (c)) {
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

gunichar *
naclip_text_clean (const char *text, gsize len, gsize *n_chars)
{
  glong n_in = 0;
  gunichar *ucs4 = g_utf8_to_ucs4_fast (text, (glong)len, &n_in);
  GArray *a = g_array_sized_new (FALSE, FALSE, sizeof (gunichar), n_in);
  GArray *fixed;

  g_array_append_vals (a, ucs4, n_in);
  g_free (ucs4);
  fixed = ftfy_fix_text (a);
  g_array_free (a, TRUE);
  apply (&fixed, python_html_unescape);
  apply (&fixed, python_html_unescape);
  apply (&fixed, clean_white_space);
  apply (&fixed, python_lower);
  *n_chars = fixed->len;
  return (gunichar *)g_array_free (fixed, FALSE);
}
