/* gstnaclipsegscheduler.c: when naclipseg segments a frame, on which
 * thread, and which result every frame carries.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 *   - Sync mode: the streaming thread segments a frame when one is due
 *     (no result yet, inference-interval reached, or the result expired)
 *     unless QoS says the frame is late; other frames reuse the latest
 *     result while it is not older than expire-results. The longest
 *     inference is the element's latency.
 *   - Async mode: the streaming thread copies each due frame into the
 *     staging buffer (replacing one the worker has not taken yet) and never
 *     waits; the worker, once free, takes the newest staged frame at once
 *     and leaves its other buffer to the streaming thread (two buffers
 *     rotate). Every frame carries the latest finished result while it is
 *     not older than expire-results or, when that is 0, than its bound L +
 *     max (L, G), wall clock: L the longest time from a frame's arrival to
 *     its result and G the longest gap between two frames, over the last
 *     RECENT of each. A result is replaced when the next one is done, at
 *     most one arrival-to-result time after it when the worker never
 *     waits (inference slower than the frames), one gap plus one when it
 *     waits for frames: so in a steady state no result is dropped and none
 *     is older than two inference times (or than an inference and a
 *     frame), and when inferences slow down frames pass without the stale
 *     result instead.
 *   - The mode: sync, async, or auto, decided once per start from whether
 *     upstream is live (the first LATENCY query answer, or a query the
 *     element makes before the first caps).
 *   - Class jobs: a class list changed while running is encoded by the
 *     worker; once ready it becomes the active list (class-set moves), and
 *     the stream is reset.
 *   - The per-stream reset (reset_stream_locked) drops the latest result
 *     and a queued frame on a class change, caps change, flush or stop, so
 *     that results of two class sets, caps or segments are never mixed.
 *
 * The worker runs at a lower priority (nice + WORKER_NICE) than the
 * streaming thread, so that frames keep their pace on a busy CPU.
 *
 * Lock domain: `lock` guards the fields so marked below, shared by the
 * streaming thread, the worker and property readers; it is taken after
 * the object lock, never before, and nothing is posted on the bus while it
 * is held. The worker (one per running element, started by start() and
 * joined by stop()) segments through the client, which it then owns (see
 * gstnaclipsegclient.c). Callers: the element (gstnaclipseg.c).
 */

#include "config.h"

#include "gstnaclipsegscheduler.h"

#include <errno.h>
#include <string.h>
#include <sys/resource.h>

#include "gstnaclipsegmessages.h"

#define GST_CAT_DEFAULT gst_naclip_seg_debug

/* Async results whose arrival-to-result times bound the age of results. */
#define RECENT 8
/* How much nicer than the element's other threads the worker runs. */
#define WORKER_NICE 10

struct _GstNaclipSegScheduler
{
  GstNaclipSeg *element;      /* the owner, borrowed */
  GstNaclipSegClient *client; /* the owner's, borrowed */

  /* lock */
  GMutex lock;
  GstNaclipSegAsyncMode mode; /* SYNC or ASYNC; AUTO until decided */
  GCond cond;                 /* work for the worker */
  GThread *worker;
  gboolean worker_stop;
  GstNaclipSegClassJob *class_job; /* waiting for the worker */
  NaclipQueries *queries;          /* the active class list */
  guint64 class_set;               /* its counter */
  GstNaclipSegPublished *latest;   /* the result frames reuse */
  guint flush_gen;                 /* stream generation, see reset */
  guint reuse_gen;        /* moves where frames stop following each other (caps,
                    * flush, discontinuity; not a class change): token
                    * reuse starts again */
  gboolean frame_pending; /* staging holds a frame for the worker */
  GstBuffer *staging;     /* async mode: a frame of staging_info, or free */
  GstBuffer *spare;  /* async mode: the other buffer, when not the worker's */
  guint staging_gen; /* caps generation of the two buffers */
  GstVideoInfo staging_info;
  GstNaclipSegTimes staging_times;
  gboolean worker_warned_small;
  GstClockTime latency;        /* longest sync inference, ns */
  GstClockTime recent[RECENT]; /* arrival-to-result times of async results */
  guint n_recent;              /* results so far (recent is a ring) */
  GstClockTime qos_earliest;   /* running time; from QoS events */
  GstNaclipSegCounts counts;

  /* Streaming thread only. */
  guint since_inference; /* frames since the last one segmented */
  gboolean warned_small;
  gint64 last_arrival;       /* us, 0 before the stream's first frame */
  GstClockTime gaps[RECENT]; /* ns between frame arrivals (a ring) */
  guint n_gaps;
};

GstNaclipSegScheduler *
gst_naclip_seg_scheduler_new (GstNaclipSeg *element, GstNaclipSegClient *client)
{
  GstNaclipSegScheduler *sched = g_new0 (GstNaclipSegScheduler, 1);

  sched->element = element;
  sched->client = client;
  sched->qos_earliest = GST_CLOCK_TIME_NONE;
  g_mutex_init (&sched->lock);
  g_cond_init (&sched->cond);
  return sched;
}

void
gst_naclip_seg_scheduler_free (GstNaclipSegScheduler *sched)
{
  if (sched == NULL)
    return;
  g_mutex_clear (&sched->lock);
  g_cond_clear (&sched->cond);
  g_free (sched);
}

/* What a class change, a caps change, a flush and stop() drop: the latest
 * result, so that labels of two class sets, caps or segments are never
 * mixed, and a frame queued for the worker; a frame being segmented
 * belongs to the old generation and is not published. Call with the lock
 * held. */
static void
reset_stream_locked (GstNaclipSegScheduler *sched)
{
  sched->frame_pending = FALSE;
  sched->flush_gen++;
  g_clear_pointer (&sched->latest, gst_naclip_seg_published_unref);
}

static void
count (GstNaclipSegScheduler *sched, guint64 *counter)
{
  g_mutex_lock (&sched->lock);
  (*counter)++;
  g_mutex_unlock (&sched->lock);
}

static gboolean
is_expired (const GstNaclipSegPublished *pub, const GstNaclipSegSnapshot *snap,
    GstClockTime now)
{
  GstClockTime then = pub->times.running_time;

  return snap->expire_results > 0 && GST_CLOCK_TIME_IS_VALID (now)
         && GST_CLOCK_TIME_IS_VALID (then) && now > then
         && now - then > snap->expire_results;
}

/* The longest of the first @n (at most RECENT) values of @ring. */
static GstClockTime
longest_of (const GstClockTime *ring, guint n)
{
  GstClockTime longest = 0;

  for (guint i = 0; i < MIN (n, RECENT); i++)
    longest = MAX (longest, ring[i]);
  return longest;
}

/* Async mode without expire-results: TRUE when @pub, for a frame that
 * arrived at @arrival (us), is older than L + max (L, G) (see the top of
 * the file). Streaming thread, lock held. */
static gboolean
is_stale_locked (GstNaclipSegScheduler *sched, const GstNaclipSegPublished *pub,
    gint64 arrival)
{
  GstClockTime l = longest_of (sched->recent, sched->n_recent);
  GstClockTime g = longest_of (sched->gaps, sched->n_gaps);

  return sched->n_recent > 0
         && (GstClockTime)MAX (arrival - pub->times.arrival, 0) * 1000
                > l + MAX (l, g);
}

/* ------------------------------------------------------------------ */
/* The worker thread                                                   */

static void
run_class_job (GstNaclipSegScheduler *sched, GstNaclipSegClassJob *job)
{
  GError *error = NULL;
  NaclipQueries *queries
      = gst_naclip_seg_client_encode_classes (sched->client, job, &error);
  guint64 class_set;

  if (queries == NULL
      && g_error_matches (error, NACLIP_ERROR, NACLIP_ERROR_CANCELLED)) {
    GST_DEBUG_OBJECT (
        sched->element, "class encoding cancelled: %s", error->message);
    g_clear_error (&error);
    return;
  }
  if (queries == NULL) {
    g_autofree char *text = g_strdup_printf (
        "Could not use the new classes (%s); keeping the previous ones",
        error->message);
    gst_naclip_seg_post_error (
        GST_ELEMENT (sched->element), GST_MESSAGE_WARNING, error, text);
    g_clear_error (&error);
    return;
  }
  g_mutex_lock (&sched->lock);
  naclip_queries_unref (sched->queries);
  sched->queries = naclip_queries_ref (queries);
  class_set = ++sched->class_set;
  reset_stream_locked (sched);
  g_mutex_unlock (&sched->lock);
  GST_INFO_OBJECT (
      sched->element, "class set %" G_GUINT64_FORMAT " active", class_set);
  gst_naclip_seg_post_classes_changed (
      GST_ELEMENT (sched->element), queries, class_set);
  naclip_queries_unref (queries);
}

/* Call with the lock held; segments the staging frame with it released. */
static void
run_frame_job (GstNaclipSegScheduler *sched)
{
  GstVideoFrame frame;
  GstNaclipSegSnapshot snap = { 0 };
  NaclipQueries *queries = naclip_queries_ref (sched->queries);
  guint64 class_set = sched->class_set;
  guint gen = sched->flush_gen, reuse_gen = sched->reuse_gen;
  GstNaclipSegTimes times = sched->staging_times;
  GstVideoInfo info = sched->staging_info;
  guint staging_gen = sched->staging_gen;
  GstBuffer *staging = g_steal_pointer (&sched->staging);
  GstNaclipSegPublished *pub = NULL;
  gboolean too_small = FALSE;
  GError *error = NULL;

  /* From here on the frame is ours: the streaming thread stages the next
   * frames in the other buffer, and set_info() may replace both without
   * waiting. */
  sched->staging = g_steal_pointer (&sched->spare);
  sched->frame_pending = FALSE;
  g_mutex_unlock (&sched->lock);

  gst_naclip_seg_snapshot_properties (sched->element, &snap);
  if (gst_video_frame_map (&frame, &info, staging, GST_MAP_READ)) {
    pub = gst_naclip_seg_client_segment (sched->client, &frame, &snap, queries,
        class_set, gen, reuse_gen, &times, &too_small, &error);
    gst_video_frame_unmap (&frame);
  }
  naclip_queries_unref (queries);

  if (pub == NULL && !too_small && error != NULL) {
    if (!g_error_matches (error, NACLIP_ERROR, NACLIP_ERROR_CANCELLED))
      gst_naclip_seg_post_error (GST_ELEMENT (sched->element),
          GST_MESSAGE_WARNING, error, "Segmentation failed");
    g_clear_error (&error);
  }

  g_mutex_lock (&sched->lock);
  if (pub != NULL)
    sched->counts.processed++;
  else if (too_small)
    sched->counts.too_small++;
  if (too_small && !sched->worker_warned_small) {
    sched->worker_warned_small = TRUE;
    g_mutex_unlock (&sched->lock);
    GST_ELEMENT_WARNING (sched->element, STREAM, FORMAT,
        ("Frames are smaller than one patch after scaling; they are not "
         "segmented"),
        (NULL));
    g_mutex_lock (&sched->lock);
  }
  if (pub != NULL && gen == sched->flush_gen && class_set == sched->class_set) {
    g_clear_pointer (&sched->latest, gst_naclip_seg_published_unref);
    sched->latest = gst_naclip_seg_published_ref (pub);
    sched->recent[sched->n_recent++ % RECENT] = pub->latency;
    if (snap.post_messages) {
      g_mutex_unlock (&sched->lock);
      gst_naclip_seg_post_result (GST_ELEMENT (sched->element), pub);
      g_mutex_lock (&sched->lock);
    }
  }
  gst_naclip_seg_published_unref (pub);
  gst_naclip_seg_snapshot_clear (&snap);
  /* The buffer goes back to the streaming thread, unless the caps changed. */
  if (staging_gen == sched->staging_gen && sched->spare == NULL)
    sched->spare = g_steal_pointer (&staging);
  gst_clear_buffer (&staging);
}

/* Lowers the priority of the calling thread (Linux keeps a nice value per
 * thread) and so of the OpenMP threads it starts, its inferences' team:
 * on a busy CPU the streaming thread, which carries the frames, goes
 * first and the inference waits; on an idle one nothing changes. */
static void
lower_priority (GstNaclipSegScheduler *sched)
{
  int now;

  errno = 0;
  now = getpriority (PRIO_PROCESS, 0);
  if (errno != 0
      || setpriority (PRIO_PROCESS, 0, MIN (now + WORKER_NICE, 19)) != 0)
    GST_DEBUG_OBJECT (
        sched->element, "worker priority unchanged: %s", g_strerror (errno));
}

static gpointer
worker_main (gpointer data)
{
  GstNaclipSegScheduler *sched = data;

  lower_priority (sched);
  g_mutex_lock (&sched->lock);
  while (!sched->worker_stop) {
    if (sched->class_job != NULL) {
      GstNaclipSegClassJob *job = g_steal_pointer (&sched->class_job);
      g_mutex_unlock (&sched->lock);
      run_class_job (sched, job);
      gst_naclip_seg_class_job_free (job);
      g_mutex_lock (&sched->lock);
    } else if (sched->frame_pending) {
      run_frame_job (sched);
    } else {
      g_cond_wait (&sched->cond, &sched->lock);
    }
  }
  g_mutex_unlock (&sched->lock);
  return NULL;
}

void
gst_naclip_seg_scheduler_queue_class_job (
    GstNaclipSegScheduler *sched, GstNaclipSegClassJob *job)
{
  g_mutex_lock (&sched->lock);
  if (sched->worker != NULL) {
    gst_naclip_seg_class_job_free (sched->class_job);
    sched->class_job = g_steal_pointer (&job);
    g_cond_broadcast (&sched->cond);
  }
  g_mutex_unlock (&sched->lock);
  gst_naclip_seg_class_job_free (job);
}

/* ------------------------------------------------------------------ */
/* States and events                                                   */

void
gst_naclip_seg_scheduler_prepare (
    GstNaclipSegScheduler *sched, GstNaclipSegAsyncMode mode)
{
  g_mutex_lock (&sched->lock);
  sched->mode = mode;
  sched->n_recent = 0;
  memset (&sched->counts, 0, sizeof (sched->counts));
  sched->qos_earliest = GST_CLOCK_TIME_NONE;
  g_mutex_unlock (&sched->lock);
}

static GstNaclipSegAsyncMode
get_mode (GstNaclipSegScheduler *sched)
{
  GstNaclipSegAsyncMode mode;

  g_mutex_lock (&sched->lock);
  mode = sched->mode;
  g_mutex_unlock (&sched->lock);
  return mode;
}

gboolean
gst_naclip_seg_scheduler_wants_liveness (GstNaclipSegScheduler *sched)
{
  return get_mode (sched) == GST_NACLIP_SEG_ASYNC_MODE_AUTO;
}

void
gst_naclip_seg_scheduler_set_live (GstNaclipSegScheduler *sched, gboolean live)
{
  gboolean decided = FALSE;

  g_mutex_lock (&sched->lock);
  if (sched->mode == GST_NACLIP_SEG_ASYNC_MODE_AUTO) {
    sched->mode = live ? GST_NACLIP_SEG_ASYNC_MODE_ASYNC
                       : GST_NACLIP_SEG_ASYNC_MODE_SYNC;
    decided = TRUE;
  }
  g_mutex_unlock (&sched->lock);
  if (decided)
    GST_INFO_OBJECT (sched->element, "async=auto: upstream is %slive, %s mode",
        live ? "" : "not ", live ? "async" : "sync");
}

void
gst_naclip_seg_scheduler_start (
    GstNaclipSegScheduler *sched, NaclipQueries *queries)
{
  g_mutex_lock (&sched->lock);
  sched->queries = queries;
  sched->class_set++;
  sched->worker_stop = FALSE;
  sched->worker_warned_small = FALSE;
  sched->latency = 0;
  sched->worker = g_thread_new ("naclipseg", worker_main, sched);
  g_mutex_unlock (&sched->lock);
}

void
gst_naclip_seg_scheduler_stop (GstNaclipSegScheduler *sched)
{
  GThread *worker;

  g_mutex_lock (&sched->lock);
  sched->worker_stop = TRUE;
  worker = g_steal_pointer (&sched->worker);
  g_cond_broadcast (&sched->cond);
  g_mutex_unlock (&sched->lock);
  if (worker != NULL)
    g_thread_join (worker);

  g_mutex_lock (&sched->lock);
  g_clear_pointer (&sched->class_job, gst_naclip_seg_class_job_free);
  g_clear_pointer (&sched->queries, naclip_queries_unref);
  reset_stream_locked (sched);
  gst_clear_buffer (&sched->staging);
  gst_clear_buffer (&sched->spare);
  g_mutex_unlock (&sched->lock);
}

void
gst_naclip_seg_scheduler_set_info (
    GstNaclipSegScheduler *sched, const GstVideoInfo *info)
{
  sched->since_inference = 0;
  sched->warned_small = FALSE;
  sched->last_arrival = 0;
  sched->n_gaps = 0;
  g_mutex_lock (&sched->lock);
  /* Nothing waits for the worker: it drops a buffer of the old caps. */
  reset_stream_locked (sched);
  sched->reuse_gen++;
  gst_clear_buffer (&sched->staging);
  gst_clear_buffer (&sched->spare);
  sched->staging_gen++;
  sched->staging_info = *info;
  if (sched->mode == GST_NACLIP_SEG_ASYNC_MODE_ASYNC) {
    sched->staging = gst_buffer_new_allocate (NULL, info->size, NULL);
    sched->spare = gst_buffer_new_allocate (NULL, info->size, NULL);
  }
  g_mutex_unlock (&sched->lock);
}

void
gst_naclip_seg_scheduler_flush (GstNaclipSegScheduler *sched)
{
  g_mutex_lock (&sched->lock);
  sched->qos_earliest = GST_CLOCK_TIME_NONE;
  reset_stream_locked (sched);
  sched->reuse_gen++;
  g_mutex_unlock (&sched->lock);
  sched->since_inference = 0;
  sched->last_arrival = 0;
}

void
gst_naclip_seg_scheduler_qos (
    GstNaclipSegScheduler *sched, GstClockTime timestamp, GstClockTimeDiff diff)
{
  g_mutex_lock (&sched->lock);
  if (GST_CLOCK_TIME_IS_VALID (timestamp) && diff > 0)
    sched->qos_earliest = timestamp + (GstClockTime)diff;
  else
    sched->qos_earliest = GST_CLOCK_TIME_NONE;
  g_mutex_unlock (&sched->lock);
}

gboolean
gst_naclip_seg_scheduler_get_latency (
    GstNaclipSegScheduler *sched, GstClockTime *latency)
{
  g_mutex_lock (&sched->lock);
  *latency = sched->latency;
  g_mutex_unlock (&sched->lock);
  return get_mode (sched) == GST_NACLIP_SEG_ASYNC_MODE_SYNC;
}

guint64
gst_naclip_seg_scheduler_get_class_set (GstNaclipSegScheduler *sched)
{
  guint64 class_set;

  g_mutex_lock (&sched->lock);
  class_set = sched->class_set;
  g_mutex_unlock (&sched->lock);
  return class_set;
}

void
gst_naclip_seg_scheduler_get_counts (
    GstNaclipSegScheduler *sched, GstNaclipSegCounts *counts)
{
  g_mutex_lock (&sched->lock);
  *counts = sched->counts;
  g_mutex_unlock (&sched->lock);
}

/* ------------------------------------------------------------------ */
/* Per frame                                                           */

/* Synchronous mode: segments @frame here if due, else reuses. */
static GstFlowReturn
process_sync (GstNaclipSegScheduler *sched, GstVideoFrame *frame,
    const GstNaclipSegSnapshot *snap, const GstNaclipSegTimes *times,
    GstNaclipSegPublished **out, gboolean *fresh)
{
  GstClockTime now = times->running_time;
  GstClockTime qos_earliest;
  GstNaclipSegPublished *pub;
  NaclipQueries *queries;
  guint64 class_set;
  guint gen, reuse_gen;
  gboolean due, too_small = FALSE;
  GError *error = NULL;
  gint64 t0;

  g_mutex_lock (&sched->lock);
  pub = sched->latest ? gst_naclip_seg_published_ref (sched->latest) : NULL;
  queries = naclip_queries_ref (sched->queries);
  class_set = sched->class_set;
  gen = sched->flush_gen;
  reuse_gen = sched->reuse_gen;
  qos_earliest = sched->qos_earliest;
  g_mutex_unlock (&sched->lock);

  due = pub == NULL || sched->since_inference + 1 >= snap->inference_interval
        || is_expired (pub, snap, now);
  if (due && pub != NULL && GST_CLOCK_TIME_IS_VALID (now)
      && GST_CLOCK_TIME_IS_VALID (qos_earliest) && now <= qos_earliest) {
    GST_DEBUG_OBJECT (sched->element, "late frame: reusing the last result");
    count (sched, &sched->counts.skipped);
    due = FALSE;
  }
  if (!due) {
    sched->since_inference++;
    count (sched, &sched->counts.reused);
    naclip_queries_unref (queries);
    *out = is_expired (pub, snap, now) ? NULL : pub;
    if (*out == NULL)
      gst_naclip_seg_published_unref (pub);
    return GST_FLOW_OK;
  }
  gst_naclip_seg_published_unref (pub);

  t0 = g_get_monotonic_time ();
  pub = gst_naclip_seg_client_segment (sched->client, frame, snap, queries,
      class_set, gen, reuse_gen, times, &too_small, &error);
  naclip_queries_unref (queries);
  if (too_small) {
    count (sched, &sched->counts.too_small);
    if (!sched->warned_small) {
      sched->warned_small = TRUE;
      GST_ELEMENT_WARNING (sched->element, STREAM, FORMAT,
          ("Frames of %ux%u are smaller than one patch (%u px) after "
           "scaling; they pass without segmentation",
              GST_VIDEO_FRAME_WIDTH (frame), GST_VIDEO_FRAME_HEIGHT (frame),
              gst_naclip_seg_client_get_patch_size (sched->client)),
          (NULL));
    }
    return GST_FLOW_OK;
  }
  if (pub == NULL
      && g_error_matches (error, NACLIP_ERROR, NACLIP_ERROR_CANCELLED)) {
    /* stopping or flushing: the frame is dropped */
    GST_DEBUG_OBJECT (sched->element, "%s", error->message);
    g_clear_error (&error);
    return GST_FLOW_FLUSHING;
  }
  if (pub == NULL) {
    gst_naclip_seg_post_error (GST_ELEMENT (sched->element), GST_MESSAGE_ERROR,
        error, "Segmentation failed");
    g_clear_error (&error);
    return GST_FLOW_ERROR;
  }
  sched->since_inference = 0;

  g_mutex_lock (&sched->lock);
  {
    GstClockTime took = (GstClockTime)(g_get_monotonic_time () - t0) * 1000;
    gboolean grew = took > sched->latency + sched->latency / 4;
    if (took > sched->latency)
      sched->latency = took;
    sched->counts.processed++;
    if (gen == sched->flush_gen && class_set == sched->class_set) {
      g_clear_pointer (&sched->latest, gst_naclip_seg_published_unref);
      sched->latest = gst_naclip_seg_published_ref (pub);
    }
    g_mutex_unlock (&sched->lock);
    if (grew)
      gst_element_post_message (GST_ELEMENT (sched->element),
          gst_message_new_latency (GST_OBJECT (sched->element)));
  }
  if (snap->post_messages)
    gst_naclip_seg_post_result (GST_ELEMENT (sched->element), pub);
  *out = pub;
  *fresh = TRUE;
  return GST_FLOW_OK;
}

/* Asynchronous mode: stages the frame for the worker when one is due
 * (replacing a staged frame the worker has not taken); never waits. */
static void
process_async (GstNaclipSegScheduler *sched, GstVideoFrame *frame,
    const GstNaclipSegSnapshot *snap, const GstNaclipSegTimes *times,
    GstNaclipSegPublished **out)
{
  GstNaclipSegPublished *pub;

  g_mutex_lock (&sched->lock);
  pub = sched->latest ? gst_naclip_seg_published_ref (sched->latest) : NULL;
  if (sched->staging != NULL
      && (pub == NULL
          || sched->since_inference + 1 >= snap->inference_interval)) {
    GstVideoFrame dst;
    if (gst_video_frame_map (
            &dst, &sched->staging_info, sched->staging, GST_MAP_WRITE)) {
      gst_video_frame_copy (&dst, frame);
      gst_video_frame_unmap (&dst);
      sched->staging_times = *times;
      sched->frame_pending = TRUE;
      sched->since_inference = 0;
      g_cond_broadcast (&sched->cond);
    }
  } else {
    sched->since_inference++;
  }
  if (pub != NULL
      && (snap->expire_results > 0
              ? is_expired (pub, snap, times->running_time)
              : is_stale_locked (sched, pub, times->arrival)))
    g_clear_pointer (&pub, gst_naclip_seg_published_unref);
  if (pub != NULL)
    sched->counts.reused++;
  g_mutex_unlock (&sched->lock);
  /* After the check: a stall upstream does not excuse its own age. */
  if (sched->last_arrival != 0)
    sched->gaps[sched->n_gaps++ % RECENT]
        = (GstClockTime)MAX (times->arrival - sched->last_arrival, 0) * 1000;
  sched->last_arrival = times->arrival;
  *out = pub;
}

GstFlowReturn
gst_naclip_seg_scheduler_process (GstNaclipSegScheduler *sched,
    GstVideoFrame *frame, const GstNaclipSegSnapshot *snap,
    const GstNaclipSegTimes *times, GstNaclipSegPublished **out,
    gboolean *fresh)
{
  *out = NULL;
  *fresh = FALSE;
  if (GST_BUFFER_IS_DISCONT (frame->buffer)) {
    g_mutex_lock (&sched->lock);
    sched->reuse_gen++;
    g_mutex_unlock (&sched->lock);
  }
  if (get_mode (sched) != GST_NACLIP_SEG_ASYNC_MODE_ASYNC)
    return process_sync (sched, frame, snap, times, out, fresh);
  process_async (sched, frame, snap, times, out);
  return GST_FLOW_OK;
}
