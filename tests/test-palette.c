/* test-palette.c: label colours (src/palette.c): the default palette and
 * the colours given to classes by name. */

#include <string.h>

#include "naclip.h"

/* PASCAL VOC's own colours for a few of its labels. */
static void
test_voc_colours (void)
{
  static const guint8 want[][4] = {
    /* label, R, G, B */
    { 0, 0, 0, 0 }, { 1, 128, 0, 0 }, { 2, 0, 128, 0 }, { 3, 128, 128, 0 },
    { 4, 0, 0, 128 }, { 8, 64, 0, 0 }, { 15, 192, 128, 128 }, /* person */
    { 20, 0, 64, 128 },                                       /* tv/monitor */
  };
  for (guint i = 0; i < G_N_ELEMENTS (want); i++) {
    guint8 rgb[3];
    naclip_palette_color (want[i][0], rgb);
    if (rgb[0] != want[i][1] || rgb[1] != want[i][2] || rgb[2] != want[i][3])
      g_error ("label %u: got (%u,%u,%u), want (%u,%u,%u)", want[i][0], rgb[0],
          rgb[1], rgb[2], want[i][1], want[i][2], want[i][3]);
  }
}

/* Distinct colours for every label below 2^16 (the mapping is a bijection
 * on 24 bits; 2^16 keeps the test fast). */
static void
test_distinct (void)
{
  g_autofree guint8 *seen = g_new0 (guint8, 1u << 21);
  for (guint label = 0; label < (1u << 16); label++) {
    guint8 rgb[3];
    guint key;
    naclip_palette_color (label, rgb);
    key = ((guint)rgb[0] << 16) | ((guint)rgb[1] << 8) | rgb[2];
    g_assert_false (seen[key >> 3] & (1u << (key & 7)));
    seen[key >> 3] |= (guint8)(1u << (key & 7));
  }
}

static void
assert_rgb (const guint8 rgb[3], guint r, guint g, guint b)
{
  if (rgb[0] != r || rgb[1] != g || rgb[2] != b)
    g_error (
        "got (%u,%u,%u), want (%u,%u,%u)", rgb[0], rgb[1], rgb[2], r, g, b);
}

/* Given colours by any name of a class, in any case; the palette for the
 * rest, for labels past the list and without colours. */
static void
test_class_colors_lookup (void)
{
  GError *error = NULL;
  g_autoptr (NaclipClasses) classes
      = naclip_classes_parse ("person|man,grey|gray,car,sky", "wall", &error);
  g_autoptr (NaclipClassColors) colors = naclip_class_colors_parse (
      " MAN : #FF0000 ,, gray:#00ff80,sky:#0000Ff,wall:#101010,", &error);
  g_autoptr (NaclipClassColors) none = naclip_class_colors_parse ("", &error);
  guint8 rgb[3], want[3];

  g_assert_no_error (error);
  naclip_class_colors_lookup (colors, classes, 1, rgb);
  assert_rgb (rgb, 255, 0, 0);
  naclip_class_colors_lookup (colors, classes, 2, rgb);
  assert_rgb (rgb, 0, 255, 128);
  naclip_class_colors_lookup (colors, classes, 4, rgb);
  assert_rgb (rgb, 0, 0, 255);
  naclip_class_colors_lookup (colors, classes, 0, rgb);
  assert_rgb (rgb, 16, 16, 16);
  /* car (3) has no colour; 5 is past the list */
  for (guint label = 3; label <= 5; label += 2) {
    naclip_palette_color (label, want);
    naclip_class_colors_lookup (colors, classes, label, rgb);
    assert_rgb (rgb, want[0], want[1], want[2]);
  }
  for (guint label = 0; label <= 4; label++) {
    naclip_palette_color (label, want);
    naclip_class_colors_lookup (none, classes, label, rgb);
    assert_rgb (rgb, want[0], want[1], want[2]);
    naclip_class_colors_lookup (NULL, classes, label, rgb);
    assert_rgb (rgb, want[0], want[1], want[2]);
  }
  g_assert_null (naclip_class_colors_unmatched (colors, classes));
  g_assert_null (naclip_class_colors_unmatched (none, classes));
  g_assert_null (naclip_class_colors_unmatched (NULL, classes));
}

/* The first name of a class that has a colour gives it. */
static void
test_class_colors_first_name (void)
{
  GError *error = NULL;
  g_autoptr (NaclipClasses) classes
      = naclip_classes_parse ("grey|gray", NULL, &error);
  g_autoptr (NaclipClassColors) colors
      = naclip_class_colors_parse ("gray:#000001,grey:#000002", &error);
  guint8 rgb[3];

  g_assert_no_error (error);
  naclip_class_colors_lookup (colors, classes, 1, rgb);
  assert_rgb (rgb, 0, 0, 2);
}

/* Names that match no class are reported in the order given. */
static void
test_class_colors_unmatched (void)
{
  GError *error = NULL;
  g_autoptr (NaclipClasses) classes
      = naclip_classes_parse ("person,car", NULL, &error);
  g_autoptr (NaclipClassColors) colors = naclip_class_colors_parse (
      "prson:#ff0000,car:#00ff00,Bus:#0000ff,background:#000000", &error);
  g_auto (GStrv) unmatched = NULL;

  g_assert_no_error (error);
  unmatched = naclip_class_colors_unmatched (colors, classes);
  g_assert_nonnull (unmatched);
  g_assert_cmpuint (g_strv_length (unmatched), ==, 3);
  g_assert_cmpstr (unmatched[0], ==, "prson");
  g_assert_cmpstr (unmatched[1], ==, "Bus");
  g_assert_cmpstr (unmatched[2], ==, "background");
}

/* Bad specifications are refused, the message naming the item. */
static void
test_class_colors_errors (void)
{
  static const char *const bad[][2] = {
    /* spec, a part of the message */
    { "person", "\"person\": expected NAME:#RRGGBB" },
    { "person:#ff000", "\"#ff000\" is not a colour" },
    { "person:#ff00000", "\"#ff00000\" is not a colour" },
    { "person:ff0000", "\"ff0000\" is not a colour" },
    { "person:#gg0000", "\"#gg0000\" is not a colour" },
    { "person:#ff0000,car:red", "\"car:red\"" },
    { " :#ff0000", "the class name is empty" },
    { "car:#ff0000,CAR:#00ff00", "\"CAR\" has a colour already" },
    { "ca\xC3\x28r:#ff0000", "UTF-8" },
  };
  g_autofree char *big = NULL;
  g_autofree char *long_name = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    GError *error = NULL;
    NaclipClassColors *colors = naclip_class_colors_parse (bad[i][0], &error);
    g_assert_null (colors);
    g_assert_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT);
    if (strstr (error->message, bad[i][1]) == NULL)
      g_error ("\"%s\": message \"%s\" lacks \"%s\"", bad[i][0], error->message,
          bad[i][1]);
    g_clear_error (&error);
  }
  {
    GError *error = NULL;
    big = g_strnfill (NACLIP_MAX_LIST_BYTES + 1, ',');
    g_assert_null (naclip_class_colors_parse (big, &error));
    g_assert_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT);
    g_clear_error (&error);
    long_name = g_strnfill (NACLIP_MAX_NAME_BYTES + 1, 'a');
    g_free (big);
    big = g_strconcat (long_name, ":#000000", NULL);
    g_assert_null (naclip_class_colors_parse (big, &error));
    g_assert_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT);
    g_clear_error (&error);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/palette/voc-colours", test_voc_colours);
  g_test_add_func ("/palette/distinct", test_distinct);
  g_test_add_func ("/palette/class-colors/lookup", test_class_colors_lookup);
  g_test_add_func (
      "/palette/class-colors/first-name", test_class_colors_first_name);
  g_test_add_func (
      "/palette/class-colors/unmatched", test_class_colors_unmatched);
  g_test_add_func ("/palette/class-colors/errors", test_class_colors_errors);
  return g_test_run ();
}
