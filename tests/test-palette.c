/* test-palette.c: the default label colours (src/palette.c). */

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

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/palette/voc-colours", test_voc_colours);
  g_test_add_func ("/palette/distinct", test_distinct);
  return g_test_run ();
}
