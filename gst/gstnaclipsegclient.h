/* gstnaclipsegclient.h: the inference client of naclipseg (see
 * gstnaclipsegclient.c).
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#ifndef GST_NACLIP_SEG_CLIENT_H
#define GST_NACLIP_SEG_CLIENT_H

#include <gst/video/video.h>

#include "gstnaclipseg.h"
#include "naclip.h"
#include "naclipmeta.h"

G_BEGIN_DECLS

/* The template set when none is given (property templates). */
#define GST_NACLIP_SEG_DEFAULT_TEMPLATES "imagenet80"
/* The download helper's default location, under $XDG_DATA_HOME. */
#define GST_NACLIP_SEG_DEFAULT_MODEL_SUBDIR                                    \
  "naclipseg/models/clip-vit-base-patch16"

/* The times of a frame: its PTS and duration, the running and stream time
 * of its PTS (NONE without a TIME segment or a PTS), and when it reached
 * the element. */
typedef struct
{
  GstClockTime pts;
  GstClockTime running_time;
  GstClockTime stream_time;
  GstClockTime duration;
  gint64 arrival; /* g_get_monotonic_time (), us */
} GstNaclipSegTimes;

/* One result and what is derived from it once. Immutable from creation;
 * reference counted (any thread): the latest result is shared by every
 * frame that reuses it. */
typedef struct
{
  GstNaclipSegResult *result;
  NaclipQueries *queries;  /* the class list it was computed with (ref) */
  NaclipLabelStats *stats; /* n_classes + 1, boxes in label-map px */
  GstNaclipSegTimes times; /* of the frame it was computed from */
  GstClockTime latency;    /* ns from that frame's arrival to the result */
  /* token reuse (reuse-threshold): the share of the vision tokens the
   * frame computed (1 without reuse) and whether it was a refresh */
  double reuse_computed;
  gboolean reuse_refreshed;
  NaclipTimings timings; /* the library's stages for it */
  double statistics_ms;  /* smoothing and statistics after the library */
} GstNaclipSegPublished;

GstNaclipSegPublished *gst_naclip_seg_published_ref (
    GstNaclipSegPublished *pub);
/* Accepts NULL. */
void gst_naclip_seg_published_unref (GstNaclipSegPublished *pub);

/* A class list to encode: a copy of the class properties, owned by whoever
 * holds the job (strings g_free'd by gst_naclip_seg_class_job_free()). */
typedef struct
{
  char *classes;
  char *classes_file;
  char *background;
  char *templates;
  guint threads;
  NaclipPrecision precision;
} GstNaclipSegClassJob;

/* Accepts NULL. */
void gst_naclip_seg_class_job_free (GstNaclipSegClassJob *job);
/* Checks what can be checked without the model (parsing and small file
 * reads): the templates of @job when @templates is TRUE, else its class
 * list, if it has one. Any thread. */
gboolean gst_naclip_seg_class_job_check (
    const GstNaclipSegClassJob *job, gboolean templates, GError **error);

/* The model path for the model-file property @model_file: itself when set,
 * else $NACLIP_MODEL, else gst_naclip_seg_default_model_path(). Caller
 * frees. */
char *gst_naclip_seg_resolve_model_path (const char *model_file);
/* Where naclip-download-model installs the model. Caller frees. */
char *gst_naclip_seg_default_model_path (void);

/* The model, the segmentation context and the cancellation of one element.
 * Lock domain: none of its own. Loaded and freed by the element's start()
 * and stop(); in between the model is read-only (any thread encodes
 * classes with it) and the context belongs to the one thread that
 * segments: the streaming thread in sync mode, the worker in async mode.
 * Cancellation is thread-safe. */
typedef struct _GstNaclipSegClient GstNaclipSegClient;

/* A client without a model; @element (borrowed) names it in the log. */
GstNaclipSegClient *gst_naclip_seg_client_new (GstElement *element);
/* Accepts NULL. */
void gst_naclip_seg_client_free (GstNaclipSegClient *client);

/* Takes the model at @path, shared with every element of the process that
 * runs with it, loading it when none does. FALSE with @error set on
 * failure (the naclip_model_load() errors). */
gboolean gst_naclip_seg_client_load_model (GstNaclipSegClient *client,
    const char *path, gboolean check_weights, GError **error);
/* Creates the segmentation context with @params for the loaded model.
 * FALSE with @error set on failure. */
gboolean gst_naclip_seg_client_new_context (
    GstNaclipSegClient *client, const NaclipParams *params, GError **error);
/* Frees the context and gives the model back. */
void gst_naclip_seg_client_close (GstNaclipSegClient *client);
/* The patch size of the loaded model, px. */
guint gst_naclip_seg_client_get_patch_size (const GstNaclipSegClient *client);

/* Encodes the class list of @job with the model (slow: seconds for a real
 * model, cached on disk). Any thread. Returns new queries or NULL with
 * @error set (NACLIP_ERROR_CANCELLED when the client stops). */
NaclipQueries *gst_naclip_seg_client_encode_classes (GstNaclipSegClient *client,
    const GstNaclipSegClassJob *job, GError **error);

/* Segments @frame with @queries and the properties of @snap (params,
 * output-size, temporal-smoothing), labels and measures the result; the
 * smoothing average restarts when @class_set or the flush generation @gen
 * changes, token reuse when @reuse_gen does. Returns a new result carrying @times, NULL with *too_small set
 * (and no error) when the frame is smaller than one patch at its
 * processing size, or NULL with @error set. The thread that segments. */
GstNaclipSegPublished *gst_naclip_seg_client_segment (
    GstNaclipSegClient *client, const GstVideoFrame *frame,
    const GstNaclipSegSnapshot *snap, NaclipQueries *queries, guint64 class_set,
    guint gen, guint reuse_gen, const GstNaclipSegTimes *times,
    gboolean *too_small, GError **error);

/* Makes a segmentation running in another thread return soon with
 * NACLIP_ERROR_CANCELLED (a flush). Any thread. */
void gst_naclip_seg_client_cancel (GstNaclipSegClient *client);
/* TRUE: cancels what runs (segmentation and class encoding) and refuses
 * to start any until called with FALSE. Any thread. */
void gst_naclip_seg_client_set_stopping (
    GstNaclipSegClient *client, gboolean stopping);

G_END_DECLS

#endif /* GST_NACLIP_SEG_CLIENT_H */
