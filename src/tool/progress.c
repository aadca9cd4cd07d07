/* progress.c: a progress bar with rate and ETA, or plain lines when the
 * output is not a terminal (see progress.h).
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The rate is items finished over the wall time since the start (the first
 * item includes warm-up such as loading caches; that is what the user
 * waits for). The terminal width comes from TIOCGWINSZ, else $COLUMNS,
 * else 80.
 */

#include "config.h"

#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "progress.h"

struct _NaclipProgress
{
  FILE *out;
  guint total;
  char *unit;
  gboolean tty;
  gint64 start_us; /* g_get_monotonic_time () at creation */
  gboolean drawn;  /* a bar line is on screen */
  gint64 shown_us; /* time of the last report */
  guint shown;     /* items done at the last report */
};

/* naclip_progress_tick(): terminal redraws at most this often; plain
 * lines at every tenth of the total or this often. */
#define TICK_TERMINAL_US (G_USEC_PER_SEC / 4)
#define TICK_PLAIN_US (30 * G_USEC_PER_SEC)

NaclipProgress *
naclip_progress_new (FILE *out, guint total, const char *unit)
{
  NaclipProgress *p = g_new0 (NaclipProgress, 1);

  g_return_val_if_fail (out != NULL, NULL);
  p->out = out;
  p->total = total;
  p->unit = g_strdup (unit != NULL ? unit : "item");
  p->tty = isatty (fileno (out));
  p->start_us = g_get_monotonic_time ();
  return p;
}

void
naclip_progress_set_total (NaclipProgress *p, guint total)
{
  g_return_if_fail (p != NULL);
  p->total = total;
}

double
naclip_progress_elapsed (const NaclipProgress *p)
{
  g_return_val_if_fail (p != NULL, 0.0);
  return (double)(g_get_monotonic_time () - p->start_us) / 1e6;
}

static guint
terminal_columns (FILE *out)
{
  struct winsize ws;
  const char *env = g_getenv ("COLUMNS");

  if (ioctl (fileno (out), TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
    return ws.ws_col;
  if (env != NULL && g_ascii_strtoull (env, NULL, 10) >= 20)
    return (guint)MIN (g_ascii_strtoull (env, NULL, 10), 1000);
  return 80;
}

/* "m:ss" or "h:mm:ss"; "?" before the first item. */
static void
format_duration (char *buf, gsize size, double seconds)
{
  guint64 s;

  if (!(seconds >= 0.0) || seconds > 1e8) {
    g_strlcpy (buf, "?", size);
    return;
  }
  s = (guint64)(seconds + 0.5);
  if (s >= 3600)
    g_snprintf (buf, size, "%" G_GUINT64_FORMAT ":%02u:%02u", s / 3600,
        (guint)(s / 60 % 60), (guint)(s % 60));
  else
    g_snprintf (buf, size, "%u:%02u", (guint)(s / 60), (guint)(s % 60));
}

void
naclip_progress_update (NaclipProgress *p, guint done, const char *item)
{
  double elapsed, rate, eta;
  char eta_buf[32], rate_buf[48], total_buf[16];

  g_return_if_fail (p != NULL);
  p->shown_us = g_get_monotonic_time ();
  p->shown = done;
  elapsed = naclip_progress_elapsed (p);
  rate = elapsed > 0.0 ? done / elapsed : 0.0;
  eta = (done > 0 && rate > 0.0 && p->total > 0)
            ? (p->total - MIN (done, p->total)) / rate
            : -1.0;
  format_duration (eta_buf, sizeof eta_buf, eta);
  if (p->total > 0)
    g_snprintf (total_buf, sizeof total_buf, "%u", p->total);
  else
    g_strlcpy (total_buf, "?", sizeof total_buf);
  if (rate >= 1.0 || rate == 0.0)
    g_snprintf (rate_buf, sizeof rate_buf, "%.2f %s/s", rate, p->unit);
  else
    g_snprintf (rate_buf, sizeof rate_buf, "%.2f s/%s", 1.0 / rate, p->unit);

  if (!p->tty) {
    fprintf (p->out, "%u/%s %s (%s, ETA %s)\n", done, total_buf,
        item != NULL ? item : "", rate_buf, eta_buf);
    fflush (p->out);
    return;
  }

  {
    guint cols = terminal_columns (p->out);
    guint bar = 24, filled;
    g_autofree char *tail = g_strdup_printf (
        "%u/%s %s ETA %s ", done, total_buf, rate_buf, eta_buf);
    GString *line = g_string_new ("\r[");
    gsize room;

    filled = p->total > 0
                 ? (guint)((guint64)bar * MIN (done, p->total) / p->total)
                 : 0;
    for (guint i = 0; i < bar; i++)
      g_string_append_c (line, i < filled ? '#' : '.');
    g_string_append (line, "] ");
    g_string_append (line, tail);
    /* The item name fills what is left of the line, cut from the left. */
    room = cols > line->len ? cols - line->len : 0;
    if (item != NULL && room > 4) {
      gsize len = strlen (item);
      if (len <= room - 1)
        g_string_append (line, item);
      else {
        const char *cut = item + len - (room - 4);
        while ((*cut & 0xc0) == 0x80) /* UTF-8 continuation byte */
          cut++;
        g_string_append (line, "...");
        g_string_append (line, cut);
      }
    }
    g_string_append (line, "\033[K"); /* clear the rest of the line */
    fputs (line->str, p->out);
    fflush (p->out);
    g_string_free (line, TRUE);
    p->drawn = TRUE;
  }
}

void
naclip_progress_tick (NaclipProgress *p, guint done, const char *item)
{
  gint64 since;

  g_return_if_fail (p != NULL);
  if (p->total > 0 && done >= p->total)
    return; /* the caller reports the last item */
  since = g_get_monotonic_time () - p->shown_us;
  if (p->tty) {
    if (since < TICK_TERMINAL_US)
      return;
  } else if (done == p->shown
             || (since < TICK_PLAIN_US
                 && (p->total == 0
                     || (guint64)(done - p->shown) * 10 < p->total))) {
    return;
  }
  naclip_progress_update (p, done, item);
}

void
naclip_progress_free (NaclipProgress *p)
{
  if (p == NULL)
    return;
  if (p->tty && p->drawn) {
    fputc ('\n', p->out);
    fflush (p->out);
  }
  g_free (p->unit);
  g_free (p);
}
