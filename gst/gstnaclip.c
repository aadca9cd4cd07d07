/* gstnaclip.c: the naclip plugin, which registers the naclipseg element.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * plugin_init only registers types: no model or file I/O happens until an
 * element starts, so registry scans and gst-inspect-1.0 work without a
 * model installed.
 */

#include "config.h"

#include "gstnaclipseg.h"

static gboolean
plugin_init (GstPlugin *plugin)
{
  return GST_ELEMENT_REGISTER (naclipseg, plugin);
}

/* GST_PLUGIN_DEFINE leaves the padding of GstPluginDesc to zero
 * initialisation, which -Wextra reports. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, naclip,
    "NACLIP open-vocabulary semantic segmentation", plugin_init,
    PACKAGE_VERSION, "LGPL", "naclipseg", "https://github.com/sinahmr/NACLIP")
