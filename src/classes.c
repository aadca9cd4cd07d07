/* classes.c: class lists and prompt template sets.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A class list (NaclipClasses) holds the queries in the order the query
 * embeddings use: the background names first (label 0), then every name
 * of class 1, 2, ... (the authors' get_cls_idx). A
 * class's display name is its first name.
 *
 * Sources:
 *   - strings: "sky,road,person|man|woman" (',' between classes, '|'
 *     between the names of a class), background "a|b" or "a,b";
 *   - files in the authors' format: one class per line, names separated
 *     by ", ". Additions of this project: a first line "background: a, b"
 *     gives the background names; empty lines and lines starting with '#'
 *     are ignored;
 *   - built-in lists compiled into the library (data/classes/NAME.txt,
 *     GResource /org/naclipseg/classes/NAME.txt): naclip_classes_load()
 *     takes NAME when no file of that path exists ("voc21", "context60",
 *     ...; see naclip_classes_builtin_names()).
 *
 * Rules (bad-input row E01, E04, E11): names are trimmed; empty names and
 * classes without names are dropped (g_info); duplicates (compared after
 * case folding, as the tokenizer lower-cases) are errors, except a name
 * that is both a background name and a class name; an empty list,
 * more than NACLIP_MAX_CLASSES classes, a name longer than
 * NACLIP_MAX_NAME_BYTES, a list longer than NACLIP_MAX_LIST_BYTES or more
 * than NACLIP_MAX_QUERIES names are errors (naclip.h).
 *
 * Template sets (NaclipTemplates): "imagenet80", "single" (built in,
 * /org/naclipseg/templates/NAME.txt) or a file; one template per line with
 * exactly one "{}", '#' comments and empty lines ignored.
 */

#include "config.h"

#include <string.h>

#include <gio/gio.h>

#include "naclip-private.h"
#include "naclip-resources.h"

#define RESOURCE_PREFIX "/org/naclipseg/"

struct _NaclipClasses
{
  GPtrArray *queries; /* char *, background names first */
  GArray *labels;     /* guint per query */
  guint n_classes;    /* labels 1..n_classes */
  guint *first_query; /* [n_classes + 1]: first query of each label */
};

struct _NaclipTemplates
{
  GPtrArray *templates; /* char *, each with one "{}" */
};

/* ------------------------------------------------------------------ */
/* Built-in data                                                        */

GBytes *
naclip_data_lookup (const char *kind, const char *name)
{
  g_autofree char *path = NULL;

  if (name == NULL || *name == '\0' || strchr (name, '/') != NULL)
    return NULL;
  path = g_strconcat (RESOURCE_PREFIX, kind, "/", name, ".txt", NULL);
  return g_resource_lookup_data (
      naclip_data_get_resource (), path, G_RESOURCE_LOOKUP_FLAGS_NONE, NULL);
}

char **
naclip_data_list (const char *kind)
{
  g_autofree char *path = g_strconcat (RESOURCE_PREFIX, kind, NULL);
  char **names = g_resource_enumerate_children (
      naclip_data_get_resource (), path, G_RESOURCE_LOOKUP_FLAGS_NONE, NULL);

  if (names == NULL)
    return g_new0 (char *, 1);
  for (guint i = 0; names[i] != NULL; i++) {
    char *dot = g_strrstr (names[i], ".txt");
    if (dot != NULL)
      *dot = '\0';
  }
  return names;
}

/* Reads @name_or_path: the file if it exists, else the built-in @kind
 * list of that name. @what receives a description for messages. */
static GBytes *
read_data (
    const char *kind, const char *name_or_path, char **what, GError **error)
{
  GBytes *bytes = NULL;
  GError *local = NULL;
  char *contents = NULL;
  gsize len = 0;

  if (!g_file_test (name_or_path, G_FILE_TEST_EXISTS)) {
    bytes = naclip_data_lookup (kind, name_or_path);
    if (bytes != NULL) {
      *what = g_strdup_printf ("built-in %s \"%s\"", kind, name_or_path);
      return bytes;
    }
  }
  if (!g_file_get_contents (name_or_path, &contents, &len, &local)) {
    g_auto (GStrv) names = naclip_data_list (kind);
    g_autofree char *list = g_strjoinv (", ", names);
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_IO,
        "%s (not a file, nor a built-in %s name: %s)", local->message, kind,
        list);
    g_error_free (local);
    return NULL;
  }
  *what = g_strdup (name_or_path);
  return g_bytes_new_take (contents, len);
}

/* ------------------------------------------------------------------ */
/* Class lists                                                          */

static NaclipClasses *
classes_new (void)
{
  NaclipClasses *c = g_new0 (NaclipClasses, 1);
  c->queries = g_ptr_array_new_with_free_func (g_free);
  c->labels = g_array_new (FALSE, FALSE, sizeof (guint));
  return c;
}

void
naclip_classes_free (NaclipClasses *classes)
{
  if (classes == NULL)
    return;
  g_ptr_array_unref (classes->queries);
  g_array_unref (classes->labels);
  g_free (classes->first_query);
  g_free (classes);
}

/* Records @folded (owned by @seen afterwards) for @label. A name may be
 * both a background name and a class name (the authors' COCO-Object list
 * has "bed" in both; their tie goes to the background); any other repeat
 * is an error. */
static gboolean
check_duplicate (GHashTable *seen, char *folded, guint label, const char *name,
    const char *where, GError **error)
{
  guint other = GPOINTER_TO_UINT (g_hash_table_lookup (seen, folded));

  if (other != 0 && (other - 1 == label || (other - 1 != 0 && label != 0))) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
        "%s: duplicate name \"%s\" (already a name of %s %u)", where, name,
        other - 1 == 0 ? "the background, label" : "class", other - 1);
    return FALSE;
  }
  if (other == 0)
    g_hash_table_insert (seen, folded, GUINT_TO_POINTER (label + 1));
  else
    g_free (folded);
  return TRUE;
}

/* Adds the names of one class (@label; 0 = background) from @names,
 * @n_names strings, trimming them and dropping empty ones. Returns the
 * number of names added, or -1 with an error. @seen maps case-folded names
 * to their label + 1 (see check_duplicate()). */
static gint
add_names (NaclipClasses *c, char **names, guint label, GHashTable *seen,
    const char *where, GError **error)
{
  gint added = 0;

  for (guint i = 0; names[i] != NULL; i++) {
    char *name = g_strstrip (names[i]);
    char *folded;

    if (*name == '\0') {
      g_info ("%s: dropped an empty name", where);
      continue;
    }
    if (strlen (name) > NACLIP_MAX_NAME_BYTES) {
      g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
          "%s: a name of %" G_GSIZE_FORMAT " bytes is longer than %u bytes",
          where, strlen (name), NACLIP_MAX_NAME_BYTES);
      return -1;
    }
    if (!g_utf8_validate (name, -1, NULL)) {
      g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
          "%s: a name is not valid UTF-8", where);
      return -1;
    }
    if (c->queries->len >= NACLIP_MAX_QUERIES) {
      g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
          "%s: more than %u names", where, NACLIP_MAX_QUERIES);
      return -1;
    }
    folded = g_utf8_casefold (name, -1);
    if (!check_duplicate (seen, folded, label, name, where, error)) {
      g_free (folded);
      return -1;
    }
    g_ptr_array_add (c->queries, g_strdup (name));
    g_array_append_val (c->labels, label);
    added++;
  }
  return added;
}

/* Splits @s at any of @separators. */
static char **
split_any (const char *s, const char *separators)
{
  return g_strsplit_set (s, separators, -1);
}

static gboolean
add_background (
    NaclipClasses *c, const char *background, GHashTable *seen, GError **error)
{
  g_auto (GStrv) names = NULL;

  if (background == NULL)
    return TRUE;
  if (strlen (background) > NACLIP_MAX_LIST_BYTES) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
        "the background list has more than %u KiB",
        NACLIP_MAX_LIST_BYTES >> 10);
    return FALSE;
  }
  names = split_any (background, "|,");
  return add_names (c, names, 0, seen, "background", error) >= 0;
}

/* Sorts the queries by label (stable: background first) and indexes them;
 * checks the class count. */
static gboolean
finish (NaclipClasses *c, const char *what, GError **error)
{
  if (c->n_classes == 0) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
        "%s: the class list is empty", what);
    return FALSE;
  }
  if (c->n_classes > NACLIP_MAX_CLASSES) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
        "%s: %u classes, more than the %u a label map can hold", what,
        c->n_classes, NACLIP_MAX_CLASSES);
    return FALSE;
  }
  {
    /* background names may have been added after the classes */
    g_autoptr (GPtrArray) q = g_ptr_array_new_with_free_func (g_free);
    g_autoptr (GArray) l = g_array_new (FALSE, FALSE, sizeof (guint));
    for (guint pass = 0; pass < 2; pass++) {
      for (guint i = 0; i < c->queries->len; i++) {
        guint label = g_array_index (c->labels, guint, i);
        if ((label == 0) != (pass == 0))
          continue;
        g_ptr_array_add (q, g_strdup (c->queries->pdata[i]));
        g_array_append_val (l, label);
      }
    }
    g_ptr_array_unref (c->queries);
    g_array_unref (c->labels);
    c->queries = g_steal_pointer (&q);
    c->labels = g_steal_pointer (&l);
  }
  c->first_query = g_new0 (guint, c->n_classes + 1);
  for (guint i = c->queries->len; i-- > 0;)
    c->first_query[g_array_index (c->labels, guint, i)] = i;
  return TRUE;
}

NaclipClasses *
naclip_classes_parse (
    const char *classes, const char *background, GError **error)
{
  NaclipClasses *c = NULL;
  g_autoptr (GHashTable) seen = NULL;
  g_auto (GStrv) groups = NULL;

  g_return_val_if_fail (classes != NULL, NULL);

  if (strlen (classes) > NACLIP_MAX_LIST_BYTES) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
        "the class list has %" G_GSIZE_FORMAT " bytes, more than %u KiB",
        strlen (classes), NACLIP_MAX_LIST_BYTES >> 10);
    return NULL;
  }
  if (!g_utf8_validate (classes, -1, NULL)
      || (background != NULL && !g_utf8_validate (background, -1, NULL))) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
        "the class list is not valid UTF-8");
    return NULL;
  }
  c = classes_new ();
  seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  if (!add_background (c, background, seen, error))
    goto fail;
  groups = g_strsplit (classes, ",", -1);
  for (guint i = 0; groups[i] != NULL; i++) {
    g_auto (GStrv) names = g_strsplit (groups[i], "|", -1);
    g_autofree char *where = g_strdup_printf ("class %u", i + 1);
    gint n = add_names (c, names, c->n_classes + 1, seen, where, error);
    if (n < 0)
      goto fail;
    if (n == 0) {
      g_info ("dropped class %u: it has no name", i + 1);
      continue;
    }
    c->n_classes++;
    if (c->n_classes > NACLIP_MAX_CLASSES)
      break;
  }
  if (!finish (c, "classes", error))
    goto fail;
  return c;

fail:
  naclip_classes_free (c);
  return NULL;
}

NaclipClasses *
naclip_classes_load (const char *path, const char *background, GError **error)
{
  NaclipClasses *c = NULL;
  g_autoptr (GHashTable) seen = NULL;
  g_autoptr (GBytes) bytes = NULL;
  g_autofree char *what = NULL;
  g_autofree char *text = NULL;
  g_auto (GStrv) lines = NULL;
  const char *data;
  gsize len;

  g_return_val_if_fail (path != NULL, NULL);

  bytes = read_data ("classes", path, &what, error);
  if (bytes == NULL)
    return NULL;
  data = g_bytes_get_data (bytes, &len);
  if (len > NACLIP_MAX_LIST_BYTES) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
        "%s: %" G_GSIZE_FORMAT " bytes, more than %u KiB for a class list",
        what, len, NACLIP_MAX_LIST_BYTES >> 10);
    return NULL;
  }
  {
    const char *bad = NULL;
    if (!g_utf8_validate_len (data, len, &bad)) {
      g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
          "%s: invalid UTF-8 (or NUL) at byte offset %" G_GSIZE_FORMAT, what,
          (gsize)(bad - data));
      return NULL;
    }
  }
  text = g_strndup (data, len);
  c = classes_new ();
  seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++) {
    char *line = lines[i];
    g_autofree char *where = g_strdup_printf ("%s line %u", what, i + 1);
    g_auto (GStrv) names = NULL;
    gint n;

    g_strchomp (line); /* also removes a CR */
    if (*line == '\0' || *line == '#')
      continue;
    if (g_str_has_prefix (line, "background:")) {
      if (c->n_classes > 0 || c->queries->len > 0) {
        g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
            "%s: only the first class line may be the background", where);
        goto fail;
      }
      names = g_strsplit (line + strlen ("background:"), ", ", -1);
      if (add_names (c, names, 0, seen, where, error) < 0)
        goto fail;
      continue;
    }
    names = g_strsplit (line, ", ", -1);
    n = add_names (c, names, c->n_classes + 1, seen, where, error);
    if (n < 0)
      goto fail;
    if (n > 0)
      c->n_classes++;
    if (c->n_classes > NACLIP_MAX_CLASSES)
      break;
  }
  if (!add_background (c, background, seen, error))
    goto fail;
  if (!finish (c, what, error))
    goto fail;
  return c;

fail:
  naclip_classes_free (c);
  return NULL;
}

NaclipClasses *
naclip_classes_copy (const NaclipClasses *classes)
{
  NaclipClasses *c = classes_new ();

  for (guint i = 0; i < classes->queries->len; i++)
    g_ptr_array_add (c->queries, g_strdup (classes->queries->pdata[i]));
  g_array_append_vals (c->labels, classes->labels->data, classes->labels->len);
  c->n_classes = classes->n_classes;
  c->first_query = g_memdup2 (
      classes->first_query, sizeof (guint) * (classes->n_classes + 1));
  return c;
}

guint
naclip_classes_get_n_classes (const NaclipClasses *classes)
{
  g_return_val_if_fail (classes != NULL, 0);
  return classes->n_classes;
}

const char *
naclip_classes_get_name (const NaclipClasses *classes, guint label)
{
  g_return_val_if_fail (classes != NULL, NULL);
  g_return_val_if_fail (label <= classes->n_classes, NULL);
  if (label == 0)
    return "background";
  return classes->queries->pdata[classes->first_query[label]];
}

guint
naclip_classes_get_n_queries (const NaclipClasses *classes)
{
  g_return_val_if_fail (classes != NULL, 0);
  return classes->queries->len;
}

const char *
naclip_classes_get_query (const NaclipClasses *classes, guint query)
{
  g_return_val_if_fail (classes != NULL, NULL);
  g_return_val_if_fail (query < classes->queries->len, NULL);
  return classes->queries->pdata[query];
}

guint
naclip_classes_get_query_label (const NaclipClasses *classes, guint query)
{
  g_return_val_if_fail (classes != NULL, 0);
  g_return_val_if_fail (query < classes->queries->len, 0);
  return g_array_index (classes->labels, guint, query);
}

/* ------------------------------------------------------------------ */
/* Templates                                                            */

NaclipTemplates *
naclip_templates_load (const char *name_or_path, GError **error)
{
  NaclipTemplates *t = NULL;
  g_autoptr (GBytes) bytes = NULL;
  g_autofree char *what = NULL;
  g_autofree char *text = NULL;
  g_auto (GStrv) lines = NULL;
  const char *data;
  gsize len;

  g_return_val_if_fail (name_or_path != NULL, NULL);

  bytes = read_data ("templates", name_or_path, &what, error);
  if (bytes == NULL)
    return NULL;
  data = g_bytes_get_data (bytes, &len);
  if (len > NACLIP_MAX_LIST_BYTES || !g_utf8_validate_len (data, len, NULL)) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
        "%s: not a template file (more than %u KiB, or not UTF-8 text)", what,
        NACLIP_MAX_LIST_BYTES >> 10);
    return NULL;
  }
  text = g_strndup (data, len);
  t = g_new0 (NaclipTemplates, 1);
  t->templates = g_ptr_array_new_with_free_func (g_free);
  lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++) {
    char *line = lines[i];
    const char *hole;

    if (g_str_has_suffix (line, "\r"))
      line[strlen (line) - 1] = '\0';
    {
      /* comments and blank lines */
      g_autofree char *trimmed = g_strstrip (g_strdup (line));
      if (*line == '#' || *trimmed == '\0')
        continue;
    }
    hole = strstr (line, "{}");
    if (hole == NULL || strstr (hole + 2, "{}") != NULL) {
      g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
          "%s line %u: a template must contain \"{}\" exactly once, "
          "found \"%.60s\"",
          what, i + 1, line);
      goto fail;
    }
    if (t->templates->len >= NACLIP_MAX_TEMPLATES) {
      g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
          "%s: more than %u templates", what, NACLIP_MAX_TEMPLATES);
      goto fail;
    }
    g_ptr_array_add (t->templates, g_strdup (line));
  }
  if (t->templates->len == 0) {
    g_set_error (
        error, NACLIP_ERROR, NACLIP_ERROR_FORMAT, "%s: no template", what);
    goto fail;
  }
  return t;

fail:
  naclip_templates_free (t);
  return NULL;
}

void
naclip_templates_free (NaclipTemplates *templates)
{
  if (templates == NULL)
    return;
  g_ptr_array_unref (templates->templates);
  g_free (templates);
}

guint
naclip_templates_get_n (const NaclipTemplates *templates)
{
  g_return_val_if_fail (templates != NULL, 0);
  return templates->templates->len;
}

const char *
naclip_templates_get (const NaclipTemplates *templates, guint i)
{
  g_return_val_if_fail (templates != NULL, NULL);
  g_return_val_if_fail (i < templates->templates->len, NULL);
  return templates->templates->pdata[i];
}

char *
naclip_templates_fill (
    const NaclipTemplates *templates, guint i, const char *name)
{
  const char *t = naclip_templates_get (templates, i);
  const char *hole = strstr (t, "{}");

  return g_strdup_printf ("%.*s%s%s", (int)(hole - t), t, name, hole + 2);
}
