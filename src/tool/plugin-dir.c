/* plugin-dir.c: which naclipseg plugin the naclip tool runs (see
 * plugin-dir.h).
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The build defines NACLIP_TOOL_BUILD_PATH (this program in the build
 * tree), NACLIP_PLUGIN_BUILD_DIR (the build tree's gst/) and
 * NACLIP_PLUGIN_INSTALL_DIR (libdir/gstreamer-1.0). Paths are compared
 * after resolving links, so a build tree reached through a symbolic link
 * is still recognised.
 */

#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <gst/gst.h>

#include "plugin-dir.h"

/* @path with links resolved, or a copy of @path if it does not exist.
 * Caller frees. */
static char *
resolve (const char *path)
{
  char *real = realpath (path, NULL);
  char *copy;

  if (real == NULL)
    return g_strdup (path);
  copy = g_strdup (real);
  free (real);
  return copy;
}

static gboolean
running_from_build_tree (void)
{
  g_autofree char *self = g_file_read_link ("/proc/self/exe", NULL);
  g_autofree char *built = resolve (NACLIP_TOOL_BUILD_PATH);

  return self != NULL && strcmp (self, built) == 0;
}

char *
naclip_plugin_dir_setup (void)
{
  const char *env = g_getenv ("NACLIP_PLUGIN_DIR");
  const char *var = g_getenv ("GST_PLUGIN_PATH_1_0") != NULL
                        ? "GST_PLUGIN_PATH_1_0"
                        : "GST_PLUGIN_PATH";
  const char *old = g_getenv (var);
  g_autofree char *path = NULL;
  char *dir;

  if (env != NULL && env[0] != '\0')
    dir = g_strdup (env);
  else if (running_from_build_tree ())
    dir = g_strdup (NACLIP_PLUGIN_BUILD_DIR);
  else
    dir = g_strdup (NACLIP_PLUGIN_INSTALL_DIR);
  if (old != NULL && old[0] != '\0')
    path = g_strconcat (dir, G_SEARCHPATH_SEPARATOR_S, old, NULL);
  else
    path = g_strdup (dir);
  g_setenv (var, path, TRUE);
  return dir;
}

gboolean
naclip_plugin_dir_check (const char *dir, GError **error)
{
  g_autoptr (GstElementFactory) factory
      = gst_element_factory_find ("naclipseg");
  g_autoptr (GstPlugin) plugin = NULL;
  g_autofree char *parent = NULL;
  g_autofree char *found_dir = NULL;
  g_autofree char *want_dir = NULL;
  const char *file;

  if (factory == NULL) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_IO,
        "%s: no naclipseg plugin there (build naclipseg, install it, or set "
        "NACLIP_PLUGIN_DIR to the directory of libgstnaclip.so)",
        dir);
    return FALSE;
  }
  plugin = gst_plugin_feature_get_plugin (GST_PLUGIN_FEATURE (factory));
  file = plugin != NULL ? gst_plugin_get_filename (plugin) : NULL;
  if (file == NULL) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_IO,
        "%s: the naclipseg element was not loaded from a plugin file", dir);
    return FALSE;
  }
  parent = g_path_get_dirname (file);
  found_dir = resolve (parent);
  want_dir = resolve (dir);
  if (strcmp (found_dir, want_dir) != 0) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_IO,
        "%s: no naclipseg plugin there; GStreamer found another one, %s "
        "(set NACLIP_PLUGIN_DIR to the directory of this build's "
        "libgstnaclip.so)",
        dir, file);
    return FALSE;
  }
  return TRUE;
}
