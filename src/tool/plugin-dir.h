/* plugin-dir.h: which naclipseg plugin the naclip tool runs.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * naclip annotate builds GStreamer pipelines around the naclipseg element
 * and must get the plugin built with it, not another naclipseg that
 * GStreamer's registry may know (an older installed copy):
 *   1. $NACLIP_PLUGIN_DIR, when set;
 *   2. the build tree's gst/ directory, when the running program is the
 *      build tree's naclip (compared through /proc/self/exe);
 *   3. the installed plugin directory, libdir/gstreamer-1.0.
 * That directory is put first on GStreamer's plugin path
 * ($GST_PLUGIN_PATH_1_0 when set, else $GST_PLUGIN_PATH): GStreamer takes
 * a plugin from the first directory that holds its file name.
 */

#ifndef NACLIP_PLUGIN_DIR_H
#define NACLIP_PLUGIN_DIR_H

#include "naclip.h"

/* Chooses the directory as above and puts it first on the plugin path.
 * Call before gst_init(). Returns the directory; caller frees. */
char *naclip_plugin_dir_setup (void);

/* After gst_init(): FALSE with NACLIP_ERROR_IO, naming @dir and what was
 * found instead, when the naclipseg element is missing or comes from a
 * plugin outside @dir. */
gboolean naclip_plugin_dir_check (const char *dir, GError **error);

#endif /* NACLIP_PLUGIN_DIR_H */
