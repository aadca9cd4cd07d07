/* bench-element.h: "naclip bench --element", the naclipseg element's frame
 * time against its stages.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#ifndef NACLIP_BENCH_ELEMENT_H
#define NACLIP_BENCH_ELEMENT_H

#include "naclip.h"

typedef struct
{
  const char *model;     /* model-file */
  const char *templates; /* NULL: the element's default */
  const char *format;    /* GStreamer video format name (RGB, BGRx, I420) */
  guint width, height;   /* frame size, px */
  guint n_classes;       /* classes "class 1", "class 2", ... */
  guint repeat;          /* timed frames */
  NaclipParams params;   /* the element's properties of the same names */
} NaclipBenchElement;

/* Runs WARM_UP + @o->repeat frames of videotestsrc through naclipseg
 * (sync mode, output=overlay, the properties of @o) and prints, one
 * "name value" line each, the medians of the timed frames: the stages of
 * the element's stage-times (ms), the frame time (ms, from the buffer
 * entering the element to its leaving it), frame / encoder and the frames
 * per second that frame time gives. Returns the exit status (1 with a
 * message on stderr when the pipeline fails). */
int naclip_bench_element (const NaclipBenchElement *o);

#endif /* NACLIP_BENCH_ELEMENT_H */
