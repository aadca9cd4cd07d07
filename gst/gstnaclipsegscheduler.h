/* gstnaclipsegscheduler.h: when naclipseg segments, and on which thread
 * (see gstnaclipsegscheduler.c).
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#ifndef GST_NACLIP_SEG_SCHEDULER_H
#define GST_NACLIP_SEG_SCHEDULER_H

#include <gst/video/video.h>

#include "gstnaclipseg.h"
#include "gstnaclipsegclient.h"

G_BEGIN_DECLS

/* The statistics properties. */
typedef struct
{
  guint64 processed; /* frames segmented */
  guint64 reused;    /* frames that carried an earlier result */
  guint64 skipped;   /* late frames (QoS) that reused a result */
  guint64 too_small; /* frames smaller than one patch after scaling */
} GstNaclipSegCounts;

/* The worker thread, the active class list, the latest result, the frame
 * handed to the worker, QoS and the statistics of one element. Its lock
 * orders after the object lock (it may be taken with the object lock held,
 * never the other way round); nothing is posted on the bus while it is
 * held. */
typedef struct _GstNaclipSegScheduler GstNaclipSegScheduler;

/* A stopped scheduler for @element, segmenting with @client (both
 * borrowed; the element owns all three). */
GstNaclipSegScheduler *gst_naclip_seg_scheduler_new (
    GstNaclipSeg *element, GstNaclipSegClient *client);
/* Accepts NULL. Call it stopped. */
void gst_naclip_seg_scheduler_free (GstNaclipSegScheduler *sched);

/* At the start of start(): the statistics to 0, no QoS, and the mode
 * until the next call (@mode AUTO: undecided until
 * gst_naclip_seg_scheduler_set_live()). */
void gst_naclip_seg_scheduler_prepare (
    GstNaclipSegScheduler *sched, GstNaclipSegAsyncMode mode);
/* TRUE while the mode is AUTO and undecided: the element then asks
 * upstream whether it is live before the first caps. Any thread. */
gboolean gst_naclip_seg_scheduler_wants_liveness (GstNaclipSegScheduler *sched);
/* Decides an AUTO mode, once per start: async when upstream is @live,
 * else sync; later calls change nothing. Any thread (the LATENCY query,
 * or the streaming thread before the first caps). */
void gst_naclip_seg_scheduler_set_live (
    GstNaclipSegScheduler *sched, gboolean live);
/* Makes @queries (taken) the class list and starts the worker. */
void gst_naclip_seg_scheduler_start (
    GstNaclipSegScheduler *sched, NaclipQueries *queries);
/* Joins the worker (a running inference is cancelled through the client
 * first, by the element's state change) and drops the class list, jobs,
 * results and frames. */
void gst_naclip_seg_scheduler_stop (GstNaclipSegScheduler *sched);

/* Hands @job (taken) to the worker, replacing one not started yet; freed
 * when the worker does not run. Any thread, object lock allowed. */
void gst_naclip_seg_scheduler_queue_class_job (
    GstNaclipSegScheduler *sched, GstNaclipSegClassJob *job);

/* New caps (streaming thread; the mode is decided by then): drops the
 * stream's results and frames; in async mode a buffer for one frame of
 * @info is allocated. */
void gst_naclip_seg_scheduler_set_info (
    GstNaclipSegScheduler *sched, const GstVideoInfo *info);
/* FLUSH_STOP (streaming thread): drops the stream's results and frames and
 * the QoS state. */
void gst_naclip_seg_scheduler_flush (GstNaclipSegScheduler *sched);
/* A QoS event: frames whose running time is at most @timestamp + @diff are
 * late (@diff <= 0 or an invalid @timestamp: none is). */
void gst_naclip_seg_scheduler_qos (GstNaclipSegScheduler *sched,
    GstClockTime timestamp, GstClockTimeDiff diff);

/* The result @frame (at @times, properties @snap) carries: segmented here
 * (sync mode, when due and not late), or the latest one while it is not
 * older than expire-results (in async mode without expire-results: than
 * the bound gstnaclipsegscheduler.c describes); in async mode a due frame
 * is staged for the worker and never waited for. *out receives a new
 * reference or
 * NULL, *fresh whether it was computed from this frame. Returns
 * GST_FLOW_FLUSHING when the segmentation was cancelled (the frame is
 * dropped) and GST_FLOW_ERROR, with an error posted, when it failed.
 * Streaming thread. */
GstFlowReturn gst_naclip_seg_scheduler_process (GstNaclipSegScheduler *sched,
    GstVideoFrame *frame, const GstNaclipSegSnapshot *snap,
    const GstNaclipSegTimes *times, GstNaclipSegPublished **out,
    gboolean *fresh);

/* In sync mode, TRUE with the longest inference so far in *latency (ns);
 * FALSE in async mode (frames are not held) and while undecided. */
gboolean gst_naclip_seg_scheduler_get_latency (
    GstNaclipSegScheduler *sched, GstClockTime *latency);
/* The counter of the active class list (property class-set). */
guint64 gst_naclip_seg_scheduler_get_class_set (GstNaclipSegScheduler *sched);
void gst_naclip_seg_scheduler_get_counts (
    GstNaclipSegScheduler *sched, GstNaclipSegCounts *counts);

G_END_DECLS

#endif /* GST_NACLIP_SEG_SCHEDULER_H */
