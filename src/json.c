/* json.c: the strict JSON gate in front of json-glib.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * json-glib 1.6 is lenient where a loader of untrusted files must not be:
 * it accepts comments, hexadecimal and leading-zero numbers, single-quoted
 * strings, "\u0000" and lone surrogates; it keeps the last of two duplicate
 * keys; it wraps integers beyond 64 bits silently; and its parser recurses,
 * so deep nesting exhausts the stack. Every JSON text the library reads
 * (safetensors headers, config.json) therefore goes through
 * naclip_json_check_strict () first, and json-glib only ever sees texts
 * that passed it.
 *
 * The checker is a single iterative pass over the bytes (RFC 8259 grammar)
 * with an explicit stack of at most NACLIP_JSON_MAX_DEPTH open containers.
 * Each open object keeps the set of its decoded keys, so "a" and "\u0061"
 * are the same key. Its cost is linear in the text, and its memory is the
 * keys of the open objects.
 */

#include "config.h"

#include <string.h>

#include "naclip-private.h"

/* Keys of an object are compared linearly up to this many, then moved to
 * a hash table: most objects (tensor entries) have three keys, and a
 * table for each would dominate the cost. */
#define SMALL_KEYS 8

typedef struct
{
  gboolean is_object;
  guint n_members;
  guint n_small;
  char *small[SMALL_KEYS]; /* the first keys while keys == NULL */
  GHashTable *keys;        /* all decoded keys, once there are many */
} Frame;

typedef struct
{
  const guint8 *text;
  gsize len;
  gsize pos;
  const char *what;
  guint max_members;
  GError **error;
} Scanner;

static gboolean G_GNUC_PRINTF (2, 3) fail (Scanner *s, const char *format, ...)
{
  va_list args;
  g_autofree char *msg = NULL;

  va_start (args, format);
  msg = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (s->error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
      "%s: invalid JSON at byte %" G_GSIZE_FORMAT ": %s", s->what, s->pos, msg);
  return FALSE;
}

static void
skip_whitespace (Scanner *s)
{
  while (s->pos < s->len) {
    guint8 c = s->text[s->pos];
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
      break;
    s->pos++;
  }
}

/* Describes the byte at the scanner position for a message. */
static char *
describe_byte (const Scanner *s)
{
  guint8 c;

  if (s->pos >= s->len)
    return g_strdup ("end of text");
  c = s->text[s->pos];
  if (c >= 0x21 && c < 0x7f)
    return g_strdup_printf ("character '%c'", c);
  return g_strdup_printf ("byte 0x%02x", c);
}

static gboolean
fail_unexpected (Scanner *s, const char *expected)
{
  g_autofree char *got = describe_byte (s);
  return fail (s, "unexpected %s, expected %s", got, expected);
}

static int
hex_value (guint8 c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Reads the 4 hex digits of a \u escape at s->pos. */
static gboolean
read_hex4 (Scanner *s, gunichar *out)
{
  gunichar v = 0;

  if (s->len - s->pos < 4)
    return fail (s, "truncated \\u escape");
  for (int i = 0; i < 4; i++) {
    int h = hex_value (s->text[s->pos + i]);
    if (h < 0)
      return fail (s, "invalid \\u escape (not 4 hex digits)");
    v = v * 16 + (gunichar)h;
  }
  s->pos += 4;
  *out = v;
  return TRUE;
}

/* Decodes one strictly valid UTF-8 sequence (no overlong form, no
 * surrogate, at most U+10FFFF) at s->pos. */
static gboolean
read_utf8 (Scanner *s, gunichar *out)
{
  const guint8 *p = s->text + s->pos;
  gsize avail = s->len - s->pos;
  guint8 c = p[0];
  guint n;
  gunichar v, min;

  if (c < 0x80) {
    *out = c;
    s->pos++;
    return TRUE;
  }
  if (c >= 0xc2 && c <= 0xdf) {
    n = 1;
    v = c & 0x1f;
    min = 0x80;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 2;
    v = c & 0x0f;
    min = 0x800;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 3;
    v = c & 0x07;
    min = 0x10000;
  } else {
    return fail (s, "invalid UTF-8 (lead byte 0x%02x)", c);
  }
  if (avail <= n)
    return fail (s, "invalid UTF-8 (truncated sequence)");
  for (guint i = 1; i <= n; i++) {
    if ((p[i] & 0xc0) != 0x80)
      return fail (s, "invalid UTF-8 (bad continuation byte 0x%02x)", p[i]);
    v = (v << 6) | (p[i] & 0x3f);
  }
  if (v < min)
    return fail (s, "invalid UTF-8 (overlong encoding)");
  if (v >= 0xd800 && v <= 0xdfff)
    return fail (s, "invalid UTF-8 (encoded surrogate U+%04X)", v);
  if (v > 0x10ffff)
    return fail (s, "invalid UTF-8 (beyond U+10FFFF)");
  s->pos += n + 1;
  *out = v;
  return TRUE;
}

/* Scans a string whose opening quote is at s->pos. If @out is not NULL
 * the decoded UTF-8 is appended to it. */
static gboolean
scan_string (Scanner *s, GString *out)
{
  s->pos++;
  for (;;) {
    guint8 c;
    gunichar u;

    if (s->pos >= s->len)
      return fail (s, "unterminated string");
    c = s->text[s->pos];
    if (c == '"') {
      s->pos++;
      return TRUE;
    }
    if (c < 0x20)
      return fail (s, "control character 0x%02x in a string", c);
    if (c != '\\') {
      if (!read_utf8 (s, &u))
        return FALSE;
      if (out != NULL)
        g_string_append_unichar (out, u);
      continue;
    }
    if (s->pos + 1 >= s->len)
      return fail (s, "truncated escape");
    c = s->text[s->pos + 1];
    switch (c) {
      case '"':
      case '\\':
      case '/':
        u = c;
        break;
      case 'b':
        u = '\b';
        break;
      case 'f':
        u = '\f';
        break;
      case 'n':
        u = '\n';
        break;
      case 'r':
        u = '\r';
        break;
      case 't':
        u = '\t';
        break;
      case 'u':
        break;
      default:
        if (c >= 0x21 && c < 0x7f)
          return fail (s, "invalid escape '\\%c'", c);
        return fail (s, "invalid escape (backslash then byte 0x%02x)", c);
    }
    s->pos += 2;
    if (c == 'u') {
      if (!read_hex4 (s, &u))
        return FALSE;
      if (u == 0)
        return fail (s, "\\u0000 is not allowed in a string");
      if (u >= 0xdc00 && u <= 0xdfff)
        return fail (s, "lone low surrogate \\u%04x", u);
      if (u >= 0xd800 && u <= 0xdbff) {
        gunichar lo;
        if (s->len - s->pos < 2 || s->text[s->pos] != '\\'
            || s->text[s->pos + 1] != 'u')
          return fail (s, "lone high surrogate \\u%04x", u);
        s->pos += 2;
        if (!read_hex4 (s, &lo))
          return FALSE;
        if (lo < 0xdc00 || lo > 0xdfff)
          return fail (
              s, "high surrogate \\u%04x not followed by a low one", u);
        u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
      }
    }
    if (out != NULL)
      g_string_append_unichar (out, u);
  }
}

/* Scans a number (RFC 8259 grammar). Integers (no fraction, no exponent)
 * must fit in 64 signed bits: json-glib would wrap them silently. */
static gboolean
scan_number (Scanner *s)
{
  gsize start = s->pos;
  gboolean is_integer = TRUE;
  guint64 magnitude = 0;
  gboolean overflow = FALSE;

  if (s->text[s->pos] == '-')
    s->pos++;
  if (s->pos >= s->len || !g_ascii_isdigit (s->text[s->pos]))
    return fail (s, "invalid number (no digit after '-')");
  if (s->text[s->pos] == '0') {
    s->pos++;
    if (s->pos < s->len && g_ascii_isdigit (s->text[s->pos]))
      return fail (s, "invalid number (leading zero)");
  } else {
    while (s->pos < s->len && g_ascii_isdigit (s->text[s->pos])) {
      guint d = s->text[s->pos] - '0';
      if (magnitude > ((guint64)G_MAXINT64 - d) / 10)
        overflow = TRUE;
      else
        magnitude = magnitude * 10 + d;
      s->pos++;
    }
  }
  if (s->pos < s->len && s->text[s->pos] == '.') {
    is_integer = FALSE;
    s->pos++;
    if (s->pos >= s->len || !g_ascii_isdigit (s->text[s->pos]))
      return fail (s, "invalid number (no digit after '.')");
    while (s->pos < s->len && g_ascii_isdigit (s->text[s->pos]))
      s->pos++;
  }
  if (s->pos < s->len && (s->text[s->pos] == 'e' || s->text[s->pos] == 'E')) {
    is_integer = FALSE;
    s->pos++;
    if (s->pos < s->len && (s->text[s->pos] == '+' || s->text[s->pos] == '-'))
      s->pos++;
    if (s->pos >= s->len || !g_ascii_isdigit (s->text[s->pos]))
      return fail (s, "invalid number (no digit in the exponent)");
    while (s->pos < s->len && g_ascii_isdigit (s->text[s->pos]))
      s->pos++;
  }
  if (is_integer && overflow) {
    gsize end = s->pos;
    s->pos = start;
    return fail (s, "integer %.*s is outside the 64-bit range",
        (int)MIN (end - start, 40), s->text + start);
  }
  return TRUE;
}

static gboolean
scan_literal (Scanner *s)
{
  static const char *const literals[] = { "true", "false", "null" };

  for (guint i = 0; i < G_N_ELEMENTS (literals); i++) {
    gsize n = strlen (literals[i]);
    if (s->len - s->pos >= n
        && memcmp (s->text + s->pos, literals[i], n) == 0) {
      s->pos += n;
      return TRUE;
    }
  }
  return fail_unexpected (s, "a value");
}

/* Counts a new member of the innermost container against the cap. */
static gboolean
count_member (Scanner *s, Frame *frame)
{
  if (s->max_members > 0 && frame->n_members >= s->max_members)
    return fail (s, "more than %u members in one %s", s->max_members,
        frame->is_object ? "object" : "array");
  frame->n_members++;
  return TRUE;
}

static void
frame_clear (Frame *frame)
{
  for (guint i = 0; i < frame->n_small; i++)
    g_free (frame->small[i]);
  frame->n_small = 0;
  g_clear_pointer (&frame->keys, g_hash_table_unref);
}

static gboolean
frame_has_key (const Frame *frame, const char *key)
{
  if (frame->keys != NULL)
    return g_hash_table_contains (frame->keys, key);
  for (guint i = 0; i < frame->n_small; i++) {
    if (strcmp (frame->small[i], key) == 0)
      return TRUE;
  }
  return FALSE;
}

static void
frame_add_key (Frame *frame, const char *key)
{
  if (frame->keys == NULL && frame->n_small < SMALL_KEYS) {
    frame->small[frame->n_small++] = g_strdup (key);
    return;
  }
  if (frame->keys == NULL) {
    frame->keys = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
    for (guint i = 0; i < frame->n_small; i++)
      g_hash_table_add (frame->keys, frame->small[i]);
    frame->n_small = 0;
  }
  g_hash_table_add (frame->keys, g_strdup (key));
}

/* Scans "key" : at s->pos (whitespace skipped) and records the key.
 * @key is scratch space. */
static gboolean
scan_key (Scanner *s, Frame *frame, GString *key)
{
  gsize key_pos = s->pos;

  if (s->pos >= s->len || s->text[s->pos] != '"')
    return fail_unexpected (s, "a string key");
  if (!count_member (s, frame))
    return FALSE;
  g_string_truncate (key, 0);
  if (!scan_string (s, key))
    return FALSE;
  if (frame_has_key (frame, key->str)) {
    s->pos = key_pos;
    return fail (s, "duplicate key '%s'", key->str);
  }
  frame_add_key (frame, key->str);
  skip_whitespace (s);
  if (s->pos >= s->len || s->text[s->pos] != ':')
    return fail_unexpected (s, "':' after a key");
  s->pos++;
  return TRUE;
}

gboolean
naclip_json_check_strict (const char *text, gsize len, guint max_members,
    const char *what, GError **error)
{
  Frame stack[NACLIP_JSON_MAX_DEPTH];
  guint depth = 0;
  Scanner s = { (const guint8 *)text, len, 0, what, max_members, error };
  g_autoptr (GString) key = g_string_new (NULL);
  gboolean ok = FALSE;

  g_return_val_if_fail (text != NULL || len == 0, FALSE);
  g_return_val_if_fail (what != NULL, FALSE);

  skip_whitespace (&s);
  if (s.pos >= s.len) {
    fail (&s, "empty text (no JSON value)");
    goto out;
  }

  /* Loop invariant: s.pos is where a value starts (whitespace skipped). */
  for (;;) {
    guint8 c;

    if (s.pos >= s.len) {
      fail_unexpected (&s, "a value");
      goto out;
    }
    c = s.text[s.pos];
    if (c == '{' || c == '[') {
      if (depth == NACLIP_JSON_MAX_DEPTH) {
        fail (&s, "nesting too deep (more than %d levels)",
            NACLIP_JSON_MAX_DEPTH);
        goto out;
      }
      stack[depth].is_object = c == '{';
      stack[depth].n_members = 0;
      stack[depth].n_small = 0;
      stack[depth].keys = NULL;
      depth++;
      s.pos++;
      skip_whitespace (&s);
      if (s.pos < s.len && s.text[s.pos] == (c == '{' ? '}' : ']')) {
        s.pos++;
        depth--;
      } else if (c == '{') {
        if (!scan_key (&s, &stack[depth - 1], key))
          goto out;
        skip_whitespace (&s);
        continue;
      } else {
        if (!count_member (&s, &stack[depth - 1]))
          goto out;
        continue;
      }
    } else if (c == '"') {
      if (!scan_string (&s, NULL))
        goto out;
    } else if (c == '-' || g_ascii_isdigit (c)) {
      if (!scan_number (&s))
        goto out;
    } else if (!scan_literal (&s)) {
      goto out;
    }

    /* A value ended: close containers until one needs another member. */
    for (;;) {
      Frame *top;

      skip_whitespace (&s);
      if (depth == 0) {
        if (s.pos < s.len) {
          fail_unexpected (&s, "nothing after the JSON value");
          goto out;
        }
        ok = TRUE;
        goto out;
      }
      top = &stack[depth - 1];
      if (s.pos >= s.len) {
        fail_unexpected (&s, top->is_object ? "',' or '}'" : "',' or ']'");
        goto out;
      }
      c = s.text[s.pos];
      if (c == ',') {
        s.pos++;
        skip_whitespace (&s);
        if (top->is_object) {
          if (!scan_key (&s, top, key))
            goto out;
        } else if (!count_member (&s, top)) {
          goto out;
        }
        skip_whitespace (&s);
        break;
      }
      if (c != (top->is_object ? '}' : ']')) {
        fail_unexpected (&s, top->is_object ? "',' or '}'" : "',' or ']'");
        goto out;
      }
      s.pos++;
      frame_clear (top);
      depth--;
    }
  }

out:
  while (depth > 0)
    frame_clear (&stack[--depth]);
  return ok;
}
