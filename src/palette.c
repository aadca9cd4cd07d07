/* palette.c: the colours of label maps: the default palette, and the
 * colours users give classes by name.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The default is the PASCAL VOC colour map, the one VOC's ground-truth
 * PNGs and most segmentation tools use: the bits of the label are dealt
 * out in turn to R, G and B, from the most significant bit of each
 * channel downwards (label 0 black, 1 (128,0,0), 2 (0,128,0), 3
 * (128,128,0), ...). The mapping is a bijection on 0..2^24-1, so labels
 * below 2^24 get distinct colours; with VOC21's background-first list the
 * colours are VOC's own.
 *
 * Class colours (NaclipClassColors) are one syntax for the element's
 * class-colors property and the CLI's --class-colors:
 * "name:#RRGGBB,name:#RRGGBB". They are kept in a table keyed by the
 * case-folded name, the comparison class lists use for duplicates
 * (classes.c), so that a name matches a class whichever synonym or case
 * it is written in; the given order is kept to report the names that
 * match no class.
 */

#include "config.h"

#include <string.h>

#include "naclip-private.h"

struct _NaclipClassColors
{
  GHashTable *by_name; /* case-folded name -> colour 0xRRGGBB + 1 */
  GPtrArray *names;    /* the names as given, in order */
};

void
naclip_palette_color (guint label, guint8 rgb[3])
{
  guint r = 0, g = 0, b = 0;

  g_return_if_fail (rgb != NULL);

  for (guint bit = 0; bit < 8; bit++) {
    r |= ((label >> 0) & 1u) << (7 - bit);
    g |= ((label >> 1) & 1u) << (7 - bit);
    b |= ((label >> 2) & 1u) << (7 - bit);
    label >>= 3;
  }
  rgb[0] = (guint8)r;
  rgb[1] = (guint8)g;
  rgb[2] = (guint8)b;
}

void
naclip_class_colors_free (NaclipClassColors *colors)
{
  if (colors == NULL)
    return;
  g_hash_table_unref (colors->by_name);
  g_ptr_array_unref (colors->names);
  g_free (colors);
}

/* Reads "#RRGGBB" into *out (0xRRGGBB). */
static gboolean
parse_hex_colour (const char *s, guint32 *out)
{
  guint32 v = 0;

  if (s[0] != '#' || strlen (s) != 7)
    return FALSE;
  for (guint i = 1; i < 7; i++) {
    gint d = g_ascii_xdigit_value (s[i]);
    if (d < 0)
      return FALSE;
    v = (v << 4) | (guint32)d;
  }
  *out = v;
  return TRUE;
}

/* Adds one "name:#RRGGBB" item (@item is modified). */
static gboolean
add_item (NaclipClassColors *colors, char *item, GError **error)
{
  char *colon = strrchr (item, ':');
  char *name, *colour;
  g_autofree char *folded = NULL;
  guint32 rgb = 0;

  if (colon == NULL) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
        "class colour \"%s\": expected NAME:#RRGGBB", item);
    return FALSE;
  }
  *colon = '\0';
  name = g_strstrip (item);
  colour = g_strstrip (colon + 1);
  if (*name == '\0') {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
        "class colour \":%s\": the class name is empty", colour);
    return FALSE;
  }
  if (strlen (name) > NACLIP_MAX_NAME_BYTES) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
        "class colours: a name of %" G_GSIZE_FORMAT
        " bytes is longer than %u bytes",
        strlen (name), NACLIP_MAX_NAME_BYTES);
    return FALSE;
  }
  if (!parse_hex_colour (colour, &rgb)) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
        "class colour \"%s:%s\": \"%s\" is not a colour #RRGGBB", name, colour,
        colour);
    return FALSE;
  }
  if (colors->names->len >= NACLIP_MAX_QUERIES) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
        "class colours: more than %u names", NACLIP_MAX_QUERIES);
    return FALSE;
  }
  folded = g_utf8_casefold (name, -1);
  if (g_hash_table_contains (colors->by_name, folded)) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
        "class colour \"%s:%s\": \"%s\" has a colour already", name, colour,
        name);
    return FALSE;
  }
  g_hash_table_insert (
      colors->by_name, g_steal_pointer (&folded), GUINT_TO_POINTER (rgb + 1));
  g_ptr_array_add (colors->names, g_strdup (name));
  return TRUE;
}

NaclipClassColors *
naclip_class_colors_parse (const char *spec, GError **error)
{
  NaclipClassColors *colors = NULL;
  g_auto (GStrv) items = NULL;

  g_return_val_if_fail (spec != NULL, NULL);

  if (strlen (spec) > NACLIP_MAX_LIST_BYTES) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
        "the class colours have %" G_GSIZE_FORMAT " bytes, more than %u KiB",
        strlen (spec), NACLIP_MAX_LIST_BYTES >> 10);
    return NULL;
  }
  if (!g_utf8_validate (spec, -1, NULL)) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
        "the class colours are not valid UTF-8");
    return NULL;
  }
  colors = g_new0 (NaclipClassColors, 1);
  colors->by_name
      = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  colors->names = g_ptr_array_new_with_free_func (g_free);
  items = g_strsplit (spec, ",", -1);
  for (guint i = 0; items[i] != NULL; i++) {
    if (*g_strstrip (items[i]) == '\0')
      continue;
    if (!add_item (colors, items[i], error)) {
      naclip_class_colors_free (colors);
      return NULL;
    }
  }
  return colors;
}

/* The colour @colors gives @name, 0xRRGGBB + 1, or 0. */
static guint32
find_colour (const NaclipClassColors *colors, const char *name)
{
  g_autofree char *folded = g_utf8_casefold (name, -1);

  return GPOINTER_TO_UINT (g_hash_table_lookup (colors->by_name, folded));
}

/* The colour of @label's first name that has one, 0xRRGGBB + 1, or 0. */
static guint32
label_colour (
    const NaclipClassColors *colors, const NaclipClasses *classes, guint label)
{
  guint n = naclip_classes_get_n_queries (classes);
  guint32 found = 0;

  for (guint q = 0; q < n && found == 0; q++) {
    if (naclip_classes_get_query_label (classes, q) == label)
      found = find_colour (colors, naclip_classes_get_query (classes, q));
  }
  return found;
}

void
naclip_class_colors_lookup (const NaclipClassColors *colors,
    const NaclipClasses *classes, guint label, guint8 rgb[3])
{
  guint32 found = 0;

  g_return_if_fail (classes != NULL && rgb != NULL);

  if (colors != NULL && label <= naclip_classes_get_n_classes (classes))
    found = label_colour (colors, classes, label);
  if (found == 0) {
    naclip_palette_color (label, rgb);
    return;
  }
  found--;
  rgb[0] = (guint8)(found >> 16);
  rgb[1] = (guint8)(found >> 8);
  rgb[2] = (guint8)found;
}

char **
naclip_class_colors_unmatched (
    const NaclipClassColors *colors, const NaclipClasses *classes)
{
  g_autoptr (GHashTable) known = NULL;
  GPtrArray *unmatched = NULL;
  guint n;

  g_return_val_if_fail (classes != NULL, NULL);

  if (colors == NULL)
    return NULL;
  known = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  n = naclip_classes_get_n_queries (classes);
  for (guint q = 0; q < n; q++)
    g_hash_table_add (
        known, g_utf8_casefold (naclip_classes_get_query (classes, q), -1));
  for (guint i = 0; i < colors->names->len; i++) {
    g_autofree char *folded = g_utf8_casefold (colors->names->pdata[i], -1);
    if (g_hash_table_contains (known, folded))
      continue;
    if (unmatched == NULL)
      unmatched = g_ptr_array_new ();
    g_ptr_array_add (unmatched, g_strdup (colors->names->pdata[i]));
  }
  if (unmatched == NULL)
    return NULL;
  g_ptr_array_add (unmatched, NULL);
  return (char **)g_ptr_array_free (unmatched, FALSE);
}
