/* segment-options.h: the segmentation options of the naclip commands.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * naclip segment, eval and bench (and embed, for the text side) take the
 * same options from one table, spelled as the naclipseg element spells its
 * properties: --inference-size, --slide-crop, --slide-stride,
 * --attention, --arch, --gaussian-std, --pamr-steps, --pamr-dilations,
 * --class-confidence-threshold, --logit-scale, --threads, --precision,
 * --templates, --classes, --classes-file, --background-classes and
 * --output-size frame|processing. Earlier spellings still work, hidden
 * from --help: --background, --output-size original. A command picks the
 * groups it takes; what is not given keeps the command's own default (the
 * paper's settings, or a dataset's preset for eval).
 */

#ifndef NACLIP_SEGMENT_OPTIONS_H
#define NACLIP_SEGMENT_OPTIONS_H

#include "naclip.h"

/* The groups of the table. */
typedef enum
{
  /* The method's knobs: every NaclipParams field but those below. */
  NACLIP_SEGMENT_OPTIONS_METHOD = 1 << 0,
  /* --threads, --precision. */
  NACLIP_SEGMENT_OPTIONS_COMPUTE = 1 << 1,
  /* --templates. */
  NACLIP_SEGMENT_OPTIONS_TEMPLATES = 1 << 2,
  /* --classes LIST, --classes-file F. */
  NACLIP_SEGMENT_OPTIONS_CLASSES = 1 << 3,
  /* --background-classes (and --background). */
  NACLIP_SEGMENT_OPTIONS_BACKGROUND = 1 << 4,
  /* --output-size frame|processing (and original, for frame). */
  NACLIP_SEGMENT_OPTIONS_OUTPUT_SIZE = 1 << 5,
  /* --reuse-threshold, --reuse-refresh: for frames of one video. */
  NACLIP_SEGMENT_OPTIONS_REUSE = 1 << 6,
} NaclipSegmentOptionGroups;

/* The values as given on the command line: NACLIP_SEGMENT_OPTIONS_UNSET,
 * NaN or NULL for an option that was not. Fields of NaclipParams have its
 * names. */
typedef struct
{
  gint inference_size;
  gint slide_crop;
  gint slide_stride;
  char *attention;
  char *arch;
  double gaussian_std;
  double logit_scale;
  gint pamr_steps;
  char *pamr_dilations;
  double class_confidence_threshold;
  gint threads;
  char *precision;
  char *templates;
  char *classes;
  char *classes_file;
  char *background_classes;
  char *output_size;
  double reuse_threshold;
  gint reuse_refresh;
} NaclipSegmentOptions;

#define NACLIP_SEGMENT_OPTIONS_UNSET G_MININT

/* Every option unset. */
void naclip_segment_options_init (NaclipSegmentOptions *options);

/* Frees the strings; the options are then unset again. */
void naclip_segment_options_clear (NaclipSegmentOptions *options);

/* Adds the options of @groups to the main group of @context, after the
 * entries it has; their values are stored into @options, which must
 * outlive the parsing. */
void naclip_segment_options_add (NaclipSegmentOptions *options,
    GOptionContext *context, NaclipSegmentOptionGroups groups);

/* Overrides the fields of @params that were given (a negative count, an
 * unknown --attention, --arch or --precision word, bad --pamr-dilations)
 * and validates the result with naclip_params_validate(). FALSE with
 * NACLIP_ERROR_INVALID_ARGUMENT naming the option: a usage error. */
gboolean naclip_segment_options_apply (
    const NaclipSegmentOptions *options, NaclipParams *params, GError **error);

/* The label map size --output-size asks for: *@frame TRUE for frame (the
 * image's size; the old spelling original) and FALSE for processing (the
 * processing size); @default_frame when not given. FALSE with
 * NACLIP_ERROR_INVALID_ARGUMENT for another word. */
gboolean naclip_segment_options_output_frame (
    const NaclipSegmentOptions *options, gboolean default_frame,
    gboolean *frame, GError **error);

#endif /* NACLIP_SEGMENT_OPTIONS_H */
