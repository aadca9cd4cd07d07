/* element-options.c: the properties of a GStreamer element as command-line
 * options of the same names (see element-options.h).
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Every option takes a value (--check-weights false). Strings are taken
 * as written; other types go through gst_value_deserialize(), the parser
 * of gst-launch-1.0 (enum nicks, true/false, numbers), and
 * g_param_value_validate(), the property's own range.
 */

#include "config.h"

#include <string.h>

#include "element-options.h"

typedef struct
{
  GParamSpec *pspec; /* borrowed from the element class */
  char *text;        /* as given */
  GValue value;      /* converted by naclip_element_options_resolve () */
} Setting;

struct _NaclipElementOptions
{
  GObjectClass *klass; /* a reference on the element class */
  GArray *entries;     /* GOptionEntry, NULL-terminated when grouped */
  GPtrArray *strings;  /* texts the entries point to */
  GHashTable *aliases; /* alias -> property name */
  GArray *settings;    /* Setting, in command-line order */
  GOptionGroup *group; /* handed to the caller's context */
};

static void
setting_clear (gpointer data)
{
  Setting *s = data;

  g_free (s->text);
  if (G_IS_VALUE (&s->value))
    g_value_unset (&s->value);
}

/* "a|b|c" for an enum, "MIN..MAX" for a number, else a type word. */
static char *
describe_values (const GParamSpec *pspec)
{
  GType type = G_PARAM_SPEC_VALUE_TYPE (pspec);

  if (G_IS_PARAM_SPEC_ENUM (pspec)) {
    GEnumClass *e = G_PARAM_SPEC_ENUM (pspec)->enum_class;
    GString *s = g_string_new (NULL);
    for (guint i = 0; i < e->n_values; i++)
      g_string_append_printf (
          s, "%s%s", i > 0 ? "|" : "", e->values[i].value_nick);
    return g_string_free (s, FALSE);
  }
  if (G_IS_PARAM_SPEC_UINT (pspec))
    return g_strdup_printf ("%u..%u", G_PARAM_SPEC_UINT (pspec)->minimum,
        G_PARAM_SPEC_UINT (pspec)->maximum);
  if (G_IS_PARAM_SPEC_INT (pspec))
    return g_strdup_printf ("%d..%d", G_PARAM_SPEC_INT (pspec)->minimum,
        G_PARAM_SPEC_INT (pspec)->maximum);
  if (G_IS_PARAM_SPEC_UINT64 (pspec))
    return g_strdup_printf ("%" G_GUINT64_FORMAT "..%" G_GUINT64_FORMAT,
        G_PARAM_SPEC_UINT64 (pspec)->minimum,
        G_PARAM_SPEC_UINT64 (pspec)->maximum);
  if (G_IS_PARAM_SPEC_FLOAT (pspec))
    return g_strdup_printf ("%g..%g", G_PARAM_SPEC_FLOAT (pspec)->minimum,
        G_PARAM_SPEC_FLOAT (pspec)->maximum);
  if (G_IS_PARAM_SPEC_DOUBLE (pspec))
    return g_strdup_printf ("%g..%g", G_PARAM_SPEC_DOUBLE (pspec)->minimum,
        G_PARAM_SPEC_DOUBLE (pspec)->maximum);
  if (type == G_TYPE_BOOLEAN)
    return g_strdup ("true|false");
  return g_strdup ("TEXT");
}

/* The blurb and the default, for --help. */
static char *
describe_option (GParamSpec *pspec)
{
  const GValue *def = g_param_spec_get_default_value (pspec);
  g_autofree char *text = NULL;

  if (G_VALUE_HOLDS_STRING (def))
    text = g_value_dup_string (def);
  else
    text = gst_value_serialize (def);
  if (text == NULL)
    return g_strdup (g_param_spec_get_blurb (pspec));
  return g_strdup_printf (
      "%s (default %s)", g_param_spec_get_blurb (pspec), text);
}

static gboolean
record_option (
    const char *option_name, const char *value, gpointer data, GError **error)
{
  NaclipElementOptions *o = data;
  const char *name = option_name;
  const char *property;

  (void)error;
  while (*name == '-')
    name++;
  property = g_hash_table_lookup (o->aliases, name);
  naclip_element_options_set (o, property != NULL ? property : name, value);
  return TRUE;
}

/* Adds an option taking over @description and @arg_description, listed
 * before the others when @first. */
static void
add_entry (NaclipElementOptions *o, const char *long_name, char *description,
    char *arg_description, gboolean first)
{
  GOptionEntry entry = { long_name, 0, 0, G_OPTION_ARG_CALLBACK,
    (gpointer)record_option, description, arg_description };

  g_ptr_array_add (o->strings, description);
  g_ptr_array_add (o->strings, arg_description);
  g_array_insert_val (o->entries, first ? 0 : o->entries->len, entry);
}

NaclipElementOptions *
naclip_element_options_new (
    const char *factory, const char *const *excluded, GError **error)
{
  g_autoptr (GstElementFactory) found = gst_element_factory_find (factory);
  g_autoptr (GstPluginFeature) loaded = NULL;
  NaclipElementOptions *o;
  GParamSpec **pspecs;
  GType type = 0;
  guint n = 0;

  if (found != NULL)
    loaded = gst_plugin_feature_load (GST_PLUGIN_FEATURE (found));
  if (loaded != NULL)
    type = gst_element_factory_get_element_type (GST_ELEMENT_FACTORY (loaded));
  if (type == 0) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_IO,
        "the %s element cannot be loaded", factory);
    return NULL;
  }
  o = g_new0 (NaclipElementOptions, 1);
  o->klass = g_type_class_ref (type);
  o->entries = g_array_new (TRUE, TRUE, sizeof (GOptionEntry));
  o->strings = g_ptr_array_new_with_free_func (g_free);
  o->aliases = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  o->settings = g_array_new (FALSE, TRUE, sizeof (Setting));
  g_array_set_clear_func (o->settings, setting_clear);

  pspecs = g_object_class_list_properties (o->klass, &n);
  for (guint i = 0; i < n; i++) {
    GParamSpec *p = pspecs[i];
    if (p->owner_type != type || !(p->flags & G_PARAM_WRITABLE)
        || (excluded != NULL
            && g_strv_contains ((const char *const *)excluded, p->name)))
      continue;
    add_entry (o, p->name, describe_option (p), describe_values (p), FALSE);
  }
  g_free (pspecs);
  return o;
}

void
naclip_element_options_free (NaclipElementOptions *o)
{
  if (o == NULL)
    return;
  g_array_unref (o->settings);
  g_hash_table_unref (o->aliases);
  g_array_unref (o->entries);
  g_ptr_array_unref (o->strings);
  g_type_class_unref (o->klass);
  g_free (o);
}

void
naclip_element_options_add_alias (NaclipElementOptions *o, const char *alias,
    const char *property, const char *description)
{
  GParamSpec *pspec;
  char *name;

  g_return_if_fail (o != NULL && o->group == NULL);
  pspec = g_object_class_find_property (o->klass, property);
  g_return_if_fail (pspec != NULL);
  name = g_strdup (alias);
  g_hash_table_insert (o->aliases, name, (gpointer)pspec->name);
  add_entry (o, name, g_strdup (description), describe_values (pspec), TRUE);
}

GOptionGroup *
naclip_element_options_group (
    NaclipElementOptions *o, const GOptionEntry *entries)
{
  g_return_val_if_fail (o != NULL && o->group == NULL, NULL);
  o->group = g_option_group_new (NULL, NULL, NULL, o, NULL);
  g_option_group_add_entries (o->group, entries);
  g_option_group_add_entries (o->group, (GOptionEntry *)o->entries->data);
  return o->group;
}

void
naclip_element_options_set (
    NaclipElementOptions *o, const char *name, const char *value)
{
  Setting s = { 0 };

  g_return_if_fail (o != NULL && name != NULL && value != NULL);
  s.pspec = g_object_class_find_property (o->klass, name);
  g_return_if_fail (s.pspec != NULL);
  s.text = g_strdup (value);
  g_array_append_val (o->settings, s);
}

gboolean
naclip_element_options_resolve (NaclipElementOptions *o, GError **error)
{
  for (guint i = 0; i < o->settings->len; i++) {
    Setting *s = &g_array_index (o->settings, Setting, i);
    GType type = G_PARAM_SPEC_VALUE_TYPE (s->pspec);
    gboolean ok;

    if (G_IS_VALUE (&s->value))
      continue;
    g_value_init (&s->value, type);
    if (type == G_TYPE_STRING) {
      g_value_set_string (&s->value, s->text);
      ok = TRUE;
    } else {
      ok = gst_value_deserialize (&s->value, s->text)
           && !g_param_value_validate (s->pspec, &s->value);
    }
    if (!ok) {
      g_autofree char *values = describe_values (s->pspec);
      g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_INVALID_ARGUMENT,
          "--%s '%s': expected %s", s->pspec->name, s->text, values);
      return FALSE;
    }
  }
  return TRUE;
}

const GValue *
naclip_element_options_lookup (const NaclipElementOptions *o, const char *name)
{
  for (guint i = o->settings->len; i > 0; i--) {
    const Setting *s = &g_array_index (o->settings, Setting, i - 1);
    if (strcmp (s->pspec->name, name) == 0 && G_IS_VALUE (&s->value))
      return &s->value;
  }
  return NULL;
}

void
naclip_element_options_apply (
    const NaclipElementOptions *o, GstElement *element)
{
  for (guint i = 0; i < o->settings->len; i++) {
    const Setting *s = &g_array_index (o->settings, Setting, i);
    if (G_IS_VALUE (&s->value))
      g_object_set_property (G_OBJECT (element), s->pspec->name, &s->value);
  }
}
