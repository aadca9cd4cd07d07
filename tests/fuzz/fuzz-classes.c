/* fuzz-classes.c: libFuzzer target for the class-list parsers and the
 * template file parser (bad-input rows E01, E02, E04, E08, E11).
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The input is given three ways: up to its first NUL as the class string
 * of naclip_classes_parse() (with the bytes after that NUL, up to the
 * next, as the background names), and whole as the contents of a class
 * file (naclip_classes_load()) and of a template file
 * (naclip_templates_load()), through an anonymous memory file. A result
 * must hold 1..NACLIP_MAX_CLASSES classes whose queries are non-empty
 * UTF-8 and whose labels are in range; a template must contain "{}" once.
 */

#define _GNU_SOURCE
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "naclip-private.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static int memfd = -1;
static char *memfd_path;

static void
check_classes (NaclipClasses *c, GError *error)
{
  guint n_classes, n_queries;

  if (c == NULL) {
    g_assert (error != NULL && error->domain == NACLIP_ERROR);
    g_error_free (error);
    return;
  }
  g_assert (error == NULL);
  n_classes = naclip_classes_get_n_classes (c);
  n_queries = naclip_classes_get_n_queries (c);
  g_assert (n_classes >= 1 && n_classes <= NACLIP_MAX_CLASSES);
  g_assert (n_queries >= n_classes);
  for (guint q = 0; q < n_queries; q++) {
    const char *name = naclip_classes_get_query (c, q);
    g_assert (name[0] != '\0' && g_utf8_validate (name, -1, NULL));
    g_assert (naclip_classes_get_query_label (c, q) <= n_classes);
  }
  for (guint l = 0; l <= n_classes; l++)
    g_assert (naclip_classes_get_name (c, l) != NULL);
  naclip_classes_free (c);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *text = g_malloc (size + 2);
  const char *background = NULL;
  GError *error = NULL;
  NaclipClasses *c;
  NaclipTemplates *t;
  gsize first_nul;

  if (memfd < 0) {
    memfd = memfd_create ("fuzz-classes", MFD_CLOEXEC);
    g_assert (memfd >= 0);
    memfd_path = g_strdup_printf ("/proc/self/fd/%d", memfd);
  }
  memcpy (text, data, size);
  text[size] = text[size + 1] = '\0';
  first_nul = strlen (text);
  if (first_nul < size)
    background = text + first_nul + 1;
  c = naclip_classes_parse (text, background, &error);
  check_classes (c, error);
  error = NULL;

  g_assert (ftruncate (memfd, 0) == 0);
  g_assert (pwrite (memfd, data, size, 0) == (ssize_t)size);
  c = naclip_classes_load (memfd_path, NULL, &error);
  check_classes (c, error);
  error = NULL;

  t = naclip_templates_load (memfd_path, &error);
  if (t != NULL) {
    g_assert (naclip_templates_get_n (t) >= 1);
    for (guint i = 0; i < naclip_templates_get_n (t); i++) {
      const char *s = strstr (naclip_templates_get (t, i), "{}");
      g_autofree char *filled = naclip_templates_fill (t, i, "cat");
      g_assert (s != NULL && strstr (s + 2, "{}") == NULL);
      g_assert (strstr (filled, "cat") != NULL);
    }
    naclip_templates_free (t);
  } else {
    g_assert (error != NULL && error->domain == NACLIP_ERROR);
    g_clear_error (&error);
  }
  return 0;
}
