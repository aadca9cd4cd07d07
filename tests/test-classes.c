/* test-classes.c: class lists and template sets (bad-input row E01, E04,
 * E08, E11) and the built-in data.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <string.h>

#include <glib/gstdio.h>

#include "naclip-private.h"

static void
expect_error (NaclipClasses *c, GError **error, gint code, const char *needle)
{
  /* @error is read here, after the call that produced @c has set it */
  g_assert_null (c);
  g_assert_error (*error, NACLIP_ERROR, code);
  if (strstr ((*error)->message, needle) == NULL)
    g_error (
        "message \"%s\" does not contain \"%s\"", (*error)->message, needle);
  g_clear_error (error);
}

static void
test_parse (void)
{
  GError *error = NULL;
  g_autoptr (NaclipClasses) c = naclip_classes_parse (
      " sky , road,person|man| woman ,,", "wall|floor", &error);

  g_assert_no_error (error);
  g_assert_cmpuint (naclip_classes_get_n_classes (c), ==, 3);
  g_assert_cmpuint (naclip_classes_get_n_queries (c), ==, 7);
  g_assert_cmpstr (naclip_classes_get_query (c, 0), ==, "wall");
  g_assert_cmpstr (naclip_classes_get_query (c, 1), ==, "floor");
  g_assert_cmpstr (naclip_classes_get_query (c, 2), ==, "sky");
  g_assert_cmpstr (naclip_classes_get_query (c, 6), ==, "woman");
  g_assert_cmpuint (naclip_classes_get_query_label (c, 0), ==, 0);
  g_assert_cmpuint (naclip_classes_get_query_label (c, 2), ==, 1);
  g_assert_cmpuint (naclip_classes_get_query_label (c, 3), ==, 2);
  g_assert_cmpuint (naclip_classes_get_query_label (c, 5), ==, 3);
  g_assert_cmpstr (naclip_classes_get_name (c, 0), ==, "background");
  g_assert_cmpstr (naclip_classes_get_name (c, 3), ==, "person");
  /* E08: format characters are plain text */
  {
    g_autoptr (NaclipClasses) f
        = naclip_classes_parse ("%s%n|{}, <b>", NULL, &error);
    g_assert_no_error (error);
    g_assert_cmpstr (naclip_classes_get_query (f, 1), ==, "{}");
  }
}

static void
test_parse_errors (void)
{
  GError *error = NULL;
  g_autofree char *big = NULL;
  g_autoptr (GString) many = g_string_new (NULL);

  expect_error (naclip_classes_parse (",,,", NULL, &error), &error,
      NACLIP_ERROR_INVALID_ARGUMENT, "empty");
  expect_error (naclip_classes_parse (" | ,  ", "sky", &error), &error,
      NACLIP_ERROR_INVALID_ARGUMENT, "empty");
  expect_error (naclip_classes_parse ("cat,dog,Cat", NULL, &error), &error,
      NACLIP_ERROR_INVALID_ARGUMENT, "duplicate name \"Cat\"");
  expect_error (naclip_classes_parse ("cat|kitten,kitten", NULL, &error),
      &error, NACLIP_ERROR_INVALID_ARGUMENT, "duplicate name \"kitten\"");
  expect_error (naclip_classes_parse ("cat", "sky|sky", &error), &error,
      NACLIP_ERROR_INVALID_ARGUMENT, "duplicate name \"sky\"");
  expect_error (naclip_classes_parse ("ca\xC3\x28t", NULL, &error), &error,
      NACLIP_ERROR_INVALID_ARGUMENT, "UTF-8");
  /* E04: 1 MiB list, 5 KiB name */
  big = g_malloc (1 << 20);
  memset (big, 'a', (1 << 20) - 1);
  big[(1 << 20) - 1] = '\0';
  expect_error (naclip_classes_parse (big, NULL, &error), &error,
      NACLIP_ERROR_INVALID_ARGUMENT, "KiB");
  big[5000] = '\0';
  expect_error (naclip_classes_parse (big, NULL, &error), &error,
      NACLIP_ERROR_INVALID_ARGUMENT, "5000 bytes");
  /* E11: 256 classes do not fit labels 1..255; 255 do */
  for (guint i = 0; i < 256; i++)
    g_string_append_printf (many, "%sc%u", i ? "," : "", i);
  expect_error (naclip_classes_parse (many->str, NULL, &error), &error,
      NACLIP_ERROR_INVALID_ARGUMENT, "more than the 255");
  *strrchr (many->str, ',') = '\0';
  {
    g_autoptr (NaclipClasses) c = naclip_classes_parse (many->str, NULL, NULL);
    g_assert_nonnull (c);
    g_assert_cmpuint (naclip_classes_get_n_classes (c), ==, 255);
  }
  /* one class is fine */
  {
    g_autoptr (NaclipClasses) c = naclip_classes_parse ("cat", NULL, NULL);
    g_assert_cmpuint (naclip_classes_get_n_classes (c), ==, 1);
  }
}

static char *
write_temp (const char *name, const char *contents)
{
  char *path = g_build_filename (g_get_tmp_dir (), name, NULL);
  g_assert_true (g_file_set_contents (path, contents, -1, NULL));
  return path;
}

static void
test_file (void)
{
  GError *error = NULL;
  g_autofree char *path = write_temp ("naclip-test-classes.txt",
      "# comment\r\nbackground: sky, wall\r\naeroplane\r\n\r\n"
      "person, person in shirt\r\nbed\nsky\n");
  g_autoptr (NaclipClasses) c = naclip_classes_load (path, "floor", &error);

  g_assert_no_error (error);
  g_assert_cmpuint (naclip_classes_get_n_classes (c), ==, 4);
  g_assert_cmpuint (naclip_classes_get_n_queries (c), ==, 8);
  g_assert_cmpstr (naclip_classes_get_query (c, 2), ==, "floor");
  g_assert_cmpstr (naclip_classes_get_query (c, 5), ==, "person in shirt");
  g_assert_cmpuint (naclip_classes_get_query_label (c, 7), ==, 4);
  g_unlink (path);
  g_free (path);

  path = write_temp ("naclip-test-classes.txt", "cat\nbackground: sky\n");
  expect_error (naclip_classes_load (path, NULL, &error), &error,
      NACLIP_ERROR_FORMAT, "line 2");
  g_unlink (path);
  g_free (path);
  path = write_temp ("naclip-test-classes.txt", "cat\ndog\ncat\n");
  expect_error (naclip_classes_load (path, NULL, &error), &error,
      NACLIP_ERROR_INVALID_ARGUMENT, "line 3: duplicate name \"cat\"");
  g_unlink (path);
  expect_error (naclip_classes_load ("/nonexistent/x.txt", NULL, &error),
      &error, NACLIP_ERROR_IO, "voc21");
}

/* The eight benchmark lists and the default list are built in, with the
 * class counts of the datasets. */
static void
test_builtin (void)
{
  const struct
  {
    const char *name;
    guint n_classes;
    gboolean background;
  } lists[] = {
    { "voc20", 20, FALSE },
    { "voc21", 20, TRUE },
    { "context59", 59, FALSE },
    { "context60", 59, TRUE },
    { "coco-object", 80, TRUE },
    { "coco-stuff", 171, FALSE },
    { "cityscapes", 19, FALSE },
    { "ade20k", 150, FALSE },
    { "default", 20, TRUE },
  };
  g_auto (GStrv) names = naclip_data_list ("classes");

  g_assert_cmpuint (g_strv_length (names), ==, G_N_ELEMENTS (lists));
  for (guint i = 0; i < G_N_ELEMENTS (lists); i++) {
    GError *error = NULL;
    g_autoptr (NaclipClasses) c
        = naclip_classes_load (lists[i].name, NULL, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (naclip_classes_get_n_classes (c), ==, lists[i].n_classes);
    g_assert_cmpuint (
        naclip_classes_get_query_label (c, 0), ==, lists[i].background ? 0 : 1);
  }
  {
    g_autoptr (NaclipClasses) voc = naclip_classes_load ("voc21", NULL, NULL);
    g_assert_cmpstr (naclip_classes_get_name (voc, 1), ==, "aeroplane");
    g_assert_cmpstr (naclip_classes_get_name (voc, 15), ==, "person");
    g_assert_cmpstr (
        naclip_classes_get_name (voc, 20), ==, "television monitor");
  }
}

static void
test_templates (void)
{
  GError *error = NULL;
  g_autoptr (NaclipTemplates) single = naclip_templates_load ("single", &error);
  g_autoptr (NaclipTemplates) t80
      = naclip_templates_load ("imagenet80", &error);
  g_autofree char *filled = NULL;
  const char *shared = g_getenv ("NACLIP_SHARED");

  g_assert_no_error (error);
  g_assert_cmpuint (naclip_templates_get_n (single), ==, 1);
  g_assert_cmpstr (naclip_templates_get (single, 0), ==, "a photo of a {}.");
  g_assert_cmpuint (naclip_templates_get_n (t80), ==, 80);
  filled = naclip_templates_fill (t80, 0, "%s {}");
  g_assert_cmpstr (filled, ==, "a bad photo of a %s {}.");
  /* the built-in set is OpenAI's list, line for line */
  if (shared != NULL) {
    g_autofree char *path = g_build_filename (
        shared, "clip", "openai_imagenet_templates.txt", NULL);
    g_autofree char *contents = NULL;
    g_auto (GStrv) lines = NULL;
    guint n = 0;
    g_assert_true (g_file_get_contents (path, &contents, NULL, NULL));
    lines = g_strsplit (contents, "\n", -1);
    for (guint i = 0; lines[i] != NULL; i++) {
      if (*lines[i] == '\0')
        continue;
      g_assert_cmpstr (naclip_templates_get (t80, n), ==, lines[i]);
      n++;
    }
    g_assert_cmpuint (n, ==, 80);
  }
}

static void
test_template_errors (void)
{
  const char *bad[] = { "a photo of a cat.\n", "{} and {}\n", "# only\n\n" };
  GError *error = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_autofree char *path = write_temp ("naclip-test-templates.txt", bad[i]);
    NaclipTemplates *t = naclip_templates_load (path, &error);
    g_assert_null (t);
    g_assert_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT);
    g_clear_error (&error);
    g_unlink (path);
  }
  {
    g_autofree char *path = write_temp ("naclip-test-templates.txt",
        "# mine\r\nart of {}\r\n\r\n  a {} photo\n");
    g_autoptr (NaclipTemplates) t = naclip_templates_load (path, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (naclip_templates_get_n (t), ==, 2);
    g_assert_cmpstr (naclip_templates_get (t, 1), ==, "  a {} photo");
    g_unlink (path);
  }
  g_assert_null (naclip_templates_load ("nosuchset", &error));
  g_assert_error (error, NACLIP_ERROR, NACLIP_ERROR_IO);
  g_assert_nonnull (strstr (error->message, "imagenet80"));
  g_clear_error (&error);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/classes/parse", test_parse);
  g_test_add_func ("/classes/parse-errors", test_parse_errors);
  g_test_add_func ("/classes/file", test_file);
  g_test_add_func ("/classes/builtin", test_builtin);
  g_test_add_func ("/classes/templates", test_templates);
  g_test_add_func ("/classes/template-errors", test_template_errors);
  return g_test_run ();
}
