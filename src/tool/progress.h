/* progress.h: progress reporting for commands that loop over many files.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * On a terminal: one line redrawn in place, "[#####.....] 12/500 2.3 img/s
 * ETA 3:29 name". Otherwise (a pipe, a log file): one plain line per item,
 * "12/500 name (2.3 img/s, ETA 3:29)". A total of 0 is unknown: "12/?",
 * no ETA.
 */

#ifndef NACLIP_PROGRESS_H
#define NACLIP_PROGRESS_H

#include <stdio.h>

#include <glib.h>

typedef struct _NaclipProgress NaclipProgress;

/* A progress report for @total items written to @out (usually stderr);
 * the bar is used when @out is a terminal. @unit names an item per second
 * ("img"). The clock starts now. Caller frees with naclip_progress_free(). */
NaclipProgress *naclip_progress_new (FILE *out, guint total, const char *unit);

/* Reports that @done items are finished, the last one named @item (may be
 * NULL). */
void naclip_progress_update (
    NaclipProgress *progress, guint done, const char *item);

/* Sets the total, for counts known only once the work has started (the
 * frames of a video). 0 is unknown. */
void naclip_progress_set_total (NaclipProgress *progress, guint total);

/* naclip_progress_update() when it is due, for callers that poll many
 * times per item or finish many items a second: on a terminal at most
 * every 0.25 s; otherwise when @done has grown by a tenth of the total
 * since the last line or 30 s have passed; never for the last item (@done
 * at the total), which the caller reports with naclip_progress_update(). */
void naclip_progress_tick (
    NaclipProgress *progress, guint done, const char *item);

/* Ends the bar's line (terminal only) and frees. Accepts NULL. */
void naclip_progress_free (NaclipProgress *progress);

/* Seconds since naclip_progress_new(). */
double naclip_progress_elapsed (const NaclipProgress *progress);

#endif /* NACLIP_PROGRESS_H */
