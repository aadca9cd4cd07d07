/* gstnaclipsegproperties.h: the properties of naclipseg (see
 * gstnaclipsegproperties.c).
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#ifndef GST_NACLIP_SEG_PROPERTIES_H
#define GST_NACLIP_SEG_PROPERTIES_H

#include <gst/gst.h>

#include "gstnaclipseg.h"
#include "gstnaclipsegclient.h"
#include "naclip.h"

G_BEGIN_DECLS

enum
{
  PROP_0,
  PROP_MODEL_FILE,
  PROP_CHECK_WEIGHTS,
  PROP_CLASSES,
  PROP_CLASSES_FILE,
  PROP_BACKGROUND_CLASSES,
  PROP_TEMPLATES,
  PROP_CLASS_CONFIDENCE_THRESHOLD,
  PROP_INFERENCE_SIZE,
  PROP_SLIDE_CROP,
  PROP_SLIDE_STRIDE,
  PROP_ATTENTION,
  PROP_ARCH,
  PROP_GAUSSIAN_STD,
  PROP_LOGIT_SCALE,
  PROP_PAMR_STEPS,
  PROP_PAMR_DILATIONS,
  PROP_THREADS,
  PROP_PRECISION,
  PROP_REUSE_THRESHOLD,
  PROP_REUSE_REFRESH,
  PROP_OUTPUT,
  PROP_OUTPUT_SIZE,
  PROP_ALPHA,
  PROP_SELECTED_CLASSES,
  PROP_CLASS_COLORS,
  PROP_INFERENCE_INTERVAL,
  PROP_EXPIRE_RESULTS,
  PROP_ASYNC,
  PROP_TEMPORAL_SMOOTHING,
  PROP_POST_MESSAGES,
  /* Read-only statistics, kept by the scheduler. */
  PROP_FRAMES_PROCESSED,
  PROP_FRAMES_REUSED,
  PROP_FRAMES_SKIPPED,
  PROP_FRAMES_TOO_SMALL,
  PROP_CLASS_SET,
};

/* The values of the writable properties. Lock: the element's object lock,
 * for every field. */
typedef struct
{
  char *model_file;
  gboolean check_weights;
  char *classes;
  char *classes_file;
  char *background_classes;
  char *templates;
  char *selected_classes;
  char *class_colors;   /* checked by naclip_class_colors_parse() */
  char *pamr_dilations; /* as given; params holds the parsed list */
  NaclipParams params;  /* the library's parameters, validated */
  GstNaclipSegOutput output;
  GstNaclipSegOutputSize output_size;
  double alpha; /* 0..1 */
  guint inference_interval;
  GstClockTime expire_results; /* ns; 0 = never */
  GstNaclipSegAsyncMode async;
  double temporal_smoothing; /* 0..0.99 */
  gboolean post_messages;
} GstNaclipSegSettings;

/* What a property change asks of the element besides storing the value. */
typedef enum
{
  GST_NACLIP_SEG_CHANGED_VALUE = 0,
  /* The class list or its templates: encode them again. */
  GST_NACLIP_SEG_CHANGED_CLASSES = 1 << 0,
  /* output to or from labels: renegotiate. */
  GST_NACLIP_SEG_CHANGED_CAPS = 1 << 1,
} GstNaclipSegChange;

/* Installs every property of the element on @gobject_class, with its
 * docs. */
void gst_naclip_seg_properties_install (GObjectClass *gobject_class);

/* The defaults (the library's for its parameters). */
void gst_naclip_seg_settings_init (GstNaclipSegSettings *s);
/* Frees the strings of @s. */
void gst_naclip_seg_settings_clear (GstNaclipSegSettings *s);

/* set_property for the writable properties of @element, whose settings are
 * @s: takes the object lock, checks the value (parsing and small file
 * reads only, never encoding) and stores it, or refuses it with a warning
 * on the bus naming the value and keeps the old one. Returns what else
 * the change needs. Call without the object lock. */
GstNaclipSegChange gst_naclip_seg_settings_set (GstElement *element,
    GstNaclipSegSettings *s, guint prop_id, const GValue *value,
    GParamSpec *pspec);
/* get_property for the writable properties: takes the object lock and
 * fills @value. Returns FALSE for any other @prop_id. */
gboolean gst_naclip_seg_settings_get (GstElement *element,
    const GstNaclipSegSettings *s, guint prop_id, GValue *value);

/* A copy of the class properties to encode. Object lock held. */
GstNaclipSegClassJob *gst_naclip_seg_settings_class_job (
    const GstNaclipSegSettings *s);
/* Fills @snap (strings duplicated). Object lock held. */
void gst_naclip_seg_settings_snapshot (
    const GstNaclipSegSettings *s, GstNaclipSegSnapshot *snap);

G_END_DECLS

#endif /* GST_NACLIP_SEG_PROPERTIES_H */
