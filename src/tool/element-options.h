/* element-options.h: the properties of a GStreamer element as command-line
 * options of the same names.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * naclip annotate takes the naclipseg element's knobs as --<property>
 * VALUE. The options are made from the element's own property specs, so
 * their names, help texts, defaults and ranges are the element's and
 * cannot drift from them; the values are converted and range-checked as
 * GStreamer converts gst-launch-1.0 arguments.
 */

#ifndef NACLIP_ELEMENT_OPTIONS_H
#define NACLIP_ELEMENT_OPTIONS_H

#include <gst/gst.h>

#include "naclip.h"

typedef struct _NaclipElementOptions NaclipElementOptions;

/* One option per writable property that the element type of @factory
 * declares itself (not those of its base classes), except the names in the
 * NULL-terminated @excluded. NULL with NACLIP_ERROR_IO when no such
 * element is installed. Free with naclip_element_options_free(). */
NaclipElementOptions *naclip_element_options_new (
    const char *factory, const char *const *excluded, GError **error);

void naclip_element_options_free (NaclipElementOptions *options);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (
    NaclipElementOptions, naclip_element_options_free)

/* Adds --@alias VALUE, another name for the option of @property
 * (--model for --model-file). Before naclip_element_options_group(). */
void naclip_element_options_add_alias (NaclipElementOptions *options,
    const char *alias, const char *property, const char *description);

/* A group holding the caller's own @entries (NULL-terminated; listed
 * first in --help) and then the options, whose values are recorded as
 * they are parsed. Make it the main group of a GOptionContext, which then
 * owns it. Borrows @options, which must outlive the context. */
GOptionGroup *naclip_element_options_group (
    NaclipElementOptions *options, const GOptionEntry *entries);

/* Records VALUE for the property @name, as if given on the command line
 * (after the ones that were: it wins). */
void naclip_element_options_set (
    NaclipElementOptions *options, const char *name, const char *value);

/* Converts the recorded values to their properties' types. FALSE with
 * NACLIP_ERROR_INVALID_ARGUMENT naming the option, the value and what it
 * takes (a range, the enum nicks) for one that does not convert or is out
 * of range. */
gboolean naclip_element_options_resolve (
    NaclipElementOptions *options, GError **error);

/* The converted value recorded last for @name, or NULL. Borrowed until
 * @options is freed. */
const GValue *naclip_element_options_lookup (
    const NaclipElementOptions *options, const char *name);

/* Sets the converted values on @element, in the order given. */
void naclip_element_options_apply (
    const NaclipElementOptions *options, GstElement *element);

#endif /* NACLIP_ELEMENT_OPTIONS_H */
