/* cmd-bench.c: "naclip bench", timings of the pipeline and of its products.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 *   naclip bench --model M [--size WxH] [--mode whole|slide] [--classes N]
 *                [--repeat N] [--text] [segmentation options]
 *     segments a seeded random RGB image of WxH (default 448x336) with N
 *     random unit query embeddings (default 21) through
 *     naclip_context_segment(), labels at the processing size, and prints
 *     the median of each stage (naclip_context_get_timings()). The
 *     segmentation options are those of naclip segment (segment-options.c)
 *     with the paper's defaults, except --inference-size 0 (the image's
 *     size); --mode slide is --slide-crop 224. --text also times the text
 *     tower: the N classes in the templates (--templates; the 80 ImageNet
 *     ones by default), without the embedding cache ("text cold" is the
 *     first run, "text" the median). It ends with the resident and peak
 *     resident memory.
 *   naclip bench --model M --clip FILE --size WxH --reuse-threshold T
 *                [--reuse-refresh N] [--classes N] [segmentation options]
 *     token reuse on a clip: FILE holds frames of packed RGB, WxH each
 *     (tests/bench/reuse.py makes them). Two contexts segment every frame,
 *     one with the given reuse, one without (reuse-threshold 0), in
 *     alternating order, labels at the processing size; the queries are N
 *     (--classes) patch features of the first frame spread by farthest-point
 *     sampling, so that labels are regions of the image with the margins a
 *     real class list has (random queries leave margins below rounding).
 *     Prints one line per frame: "frame I full MS reuse MS agree A
 *     computed C refresh R": both encoder times, the share of pixels whose
 *     labels agree, the share of token rows the reuse computed, and
 *     whether it refreshed. One warm-up frame on each context first.
 *   naclip bench --element --model M [--size WxH] [--format F] [--classes N]
 *                [--repeat N] [segmentation options]
 *     runs the naclipseg element of this build on WxH frames of
 *     videotestsrc in format F (GStreamer's name; default RGB), overlay
 *     drawn, with N classes named "class 1".. (encoded by the text tower,
 *     through the embedding cache) and the same options (bench-element.c),
 *     and prints the medians of the library's stages, of the element's
 *     statistics and of its frame time, frame / encoder and the frames per
 *     second. The frame is what the element's output costs; the issue's
 *     configuration is --size 640x480 --inference-size 224 --classes 5.
 *   naclip bench --gemm [--precision P] [--threads N] [--repeat N]
 *     times the matrix products of a ViT-B/16 block (the four linear
 *     shapes at M = 197 tokens and M = 1182, six 224 crops batched) with
 *     every backend and precision available (naclip_matmul_benchmark():
 *     weights packed before timing; int8: quantisation of the activations
 *     included), and prints ms and GFLOP/s (medians).
 *   naclip bench --products --model M [--size WxH] [--precision P]
 *                [--threads N] [--repeat N]
 *     the image encoder against its own matrix products alone
 *     (naclip_encoder_benchmark(): one encoder pass of a whole image of
 *     WxH, default 224x224, its calls to the matrix products recorded, then
 *     --repeat times a pass and a replay of exactly those calls on buffers
 *     of their own, the inputs in the type the products read). Prints the
 *     median and minimum of each, their ratios, the same for the process's
 *     CPU time (both threads), and the replay's time per distinct product
 *     (w8: a weight quantised to int8).
 *
 * Medians of --repeat runs after one warm-up run, wall clock
 * (g_get_monotonic_time). Output is one line per measurement, "name value"
 * or columns separated by spaces, and "#" comments, so that tests/bench/
 * can parse it.
 */

#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if HAVE_GST
#include "bench-element.h"
#endif
#include "naclip-tool.h"
#include "precision-option.h"
#include "segment-options.h"

static int
compare_double (const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

double
naclip_bench_median (double *v, guint n)
{
  qsort (v, n, sizeof (double), compare_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* VmHWM (peak) or VmRSS of this process, MiB; -1 if unknown (not Linux). */
static double
rss_mib (const char *field)
{
  g_autofree char *status = NULL;
  if (!g_file_get_contents ("/proc/self/status", &status, NULL, NULL))
    return -1.0;
  const char *line = strstr (status, field);
  if (line == NULL)
    return -1.0;
  return g_ascii_strtod (line + strlen (field), NULL) / 1024.0;
}

static double
now_ms (void)
{
  return (double)g_get_monotonic_time () / 1000.0;
}

typedef struct
{
  const char *name;
  guint m, n, k;
} GemmShape;

static const GemmShape vit_b16_shapes[] = {
  { "qkv", 197, 2304, 768 },
  { "out", 197, 768, 768 },
  { "fc1", 197, 3072, 768 },
  { "fc2", 197, 768, 3072 },
  { "qkv", 1182, 2304, 768 },
  { "out", 1182, 768, 768 },
  { "fc1", 1182, 3072, 768 },
  { "fc2", 1182, 768, 3072 },
};

static int
bench_gemm (NaclipPrecision precision, guint threads, guint repeat)
{
  static const struct
  {
    const char *name;
    NaclipPrecision precision;
    NaclipMatmulBackend backend;
  } runs[] = {
    { "openblas-fp32", NACLIP_PRECISION_FP32, NACLIP_MATMUL_BACKEND_OPENBLAS },
    { "onednn-fp32", NACLIP_PRECISION_FP32, NACLIP_MATMUL_BACKEND_DNNL },
    { "onednn-bf16", NACLIP_PRECISION_BF16, NACLIP_MATMUL_BACKEND_DNNL },
    { "onednn-int8", NACLIP_PRECISION_INT8, NACLIP_MATMUL_BACKEND_DNNL },
  };
  g_autofree double *times = g_new (double, repeat);
  g_autofree char *desc = naclip_precision_describe ();

  printf ("# auto precision: %s\n", desc);
  printf ("# %-14s %-5s %5s %5s %5s %10s %10s\n", "backend", "op", "m", "n",
      "k", "ms", "GFLOP/s");
  for (gsize r = 0; r < G_N_ELEMENTS (runs); r++) {
    if (precision != NACLIP_PRECISION_AUTO && runs[r].precision != precision)
      continue;
    for (gsize s = 0; s < G_N_ELEMENTS (vit_b16_shapes); s++) {
      const GemmShape *sh = &vit_b16_shapes[s];
      g_autoptr (GError) error = NULL;
      if (!naclip_matmul_benchmark (runs[r].backend, runs[r].precision, threads,
              sh->m, sh->n, sh->k, repeat, times, &error)) {
        printf ("# %s: skipped (%s)\n", runs[r].name, error->message);
        break;
      }
      double ms = naclip_bench_median (times, repeat);
      double gflop = 2.0 * sh->m * sh->n * sh->k / 1e9;
      printf ("%-16s %-5s %5u %5u %5u %10.3f %10.1f\n", runs[r].name, sh->name,
          sh->m, sh->n, sh->k, ms, gflop / (ms / 1000.0));
      fflush (stdout);
    }
  }
  return 0;
}

typedef struct
{
  const char *model;
  const char *templates; /* of --text; NULL: imagenet80 */
  const char *clip;      /* --clip FILE, or NULL */
  guint width, height;
  gboolean text;
  NaclipParams params;
  guint repeat, n_classes;
} PipelineOptions;

static gboolean
bench_text (NaclipModel *model, const NaclipClasses *classes,
    const PipelineOptions *o, GError **error)
{
  g_autoptr (NaclipTemplates) templates = NULL;
  NaclipEncodeOptions eo = naclip_encode_options_default ();
  g_autofree double *times = g_new (double, o->repeat + 1);
  eo.use_cache = FALSE;
  eo.threads = o->params.threads;
  eo.precision = o->params.precision;
  templates = naclip_templates_load (
      o->templates != NULL ? o->templates : "imagenet80", error);
  if (templates == NULL)
    return FALSE;
  for (guint i = 0; i <= o->repeat; i++) {
    double t0 = now_ms ();
    NaclipQueries *q
        = naclip_queries_encode (model, classes, templates, &eo, error);
    times[i] = now_ms () - t0;
    if (q == NULL)
      return FALSE;
    naclip_queries_unref (q);
  }
  printf ("text_cold %.3f\n", times[0]);
  printf ("text %.3f\n", naclip_bench_median (times + 1, o->repeat));
  return TRUE;
}

static int
bench_pipeline (const PipelineOptions *o)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (NaclipModel) model = NULL;
  g_autoptr (NaclipClasses) classes = NULL;
  g_autoptr (NaclipQueries) queries = NULL;
  g_autoptr (NaclipContext) ctx = NULL;
  g_autoptr (GString) names = g_string_new (NULL);
  g_autofree guint8 *rgb = NULL;
  g_autofree guint8 *labels = NULL;
  g_autofree float *emb = NULL;
  g_autofree double *times = NULL;
  g_autofree char *desc = NULL;
  g_autofree char *precision = NULL;
  g_autofree char *windows = NULL;
  GRand *rand = g_rand_new_with_seed (7);
  NaclipImage image = { 0 };
  NaclipPrecision resolved;
  guint pw, ph;
  int status = 1;

  if (!naclip_precision_option_resolve (o->params.precision, &resolved, &error))
    goto out;
  desc = naclip_precision_describe ();
  precision = naclip_precision_option_describe (resolved, o->params.precision);
  printf ("# precision %s, %u threads; auto: %s\n", precision,
      o->params.threads, desc);
  double t0 = now_ms ();
  model = naclip_model_load (o->model, TRUE, &error);
  if (model == NULL)
    goto out;
  printf ("load %.3f\n", now_ms () - t0);

  for (guint c = 0; c < o->n_classes; c++)
    g_string_append_printf (names, "%sclass %u", c > 0 ? "," : "", c + 1);
  classes = naclip_classes_parse (names->str, NULL, &error);
  if (classes == NULL)
    goto out;
  if (o->text && !bench_text (model, classes, o, &error))
    goto out;

  guint dim = naclip_model_get_info (model)->embed_dim;
  emb = g_new (float, (gsize)o->n_classes *dim);
  for (guint q = 0; q < o->n_classes; q++) {
    double norm = 0.0;
    for (guint j = 0; j < dim; j++) {
      emb[q * dim + j] = (float)g_rand_double_range (rand, -1.0, 1.0);
      norm += (double)emb[q * dim + j] * emb[q * dim + j];
    }
    for (guint j = 0; j < dim; j++)
      emb[q * dim + j] /= (float)sqrt (norm);
  }
  queries = naclip_queries_new (classes, emb, o->n_classes, dim, &error);
  if (queries == NULL)
    goto out;

  ctx = naclip_context_new (model, &error);
  if (ctx == NULL || !naclip_context_set_params (ctx, &o->params, &error))
    goto out;

  rgb = g_new (guint8, (gsize)o->width * o->height * 3);
  for (gsize i = 0; i < (gsize)o->width * o->height * 3; i++)
    rgb[i] = (guint8)g_rand_int_range (rand, 0, 256);
  image.format = NACLIP_PIXEL_RGB;
  image.width = o->width;
  image.height = o->height;
  image.data[0] = rgb;
  image.stride[0] = (gsize)o->width * 3;
  naclip_context_get_processing_size (ctx, o->width, o->height, &pw, &ph);
  labels = g_new (guint8, (gsize)pw * ph);
  windows = o->params.slide_crop == 0
                ? g_strdup ("whole")
                : g_strdup_printf ("slide %u/%u", o->params.slide_crop,
                    o->params.slide_stride);
  printf ("# image %ux%u processed at %ux%u, %s, %u queries, PAMR %u steps\n",
      o->width, o->height, pw, ph, windows, o->n_classes, o->params.pamr_steps);

  static const char *stages[]
      = { "preprocess", "encoder", "logits", "pamr", "labels", "total" };
  times = g_new (double, (gsize)o->repeat *G_N_ELEMENTS (stages));
  for (guint i = 0; i <= o->repeat; i++) {
    NaclipTimings t;
    if (!naclip_context_segment (
            ctx, queries, &image, pw, ph, labels, pw, NULL, &error))
      goto out;
    if (i == 0)
      continue; /* warm-up: buffers, primitives, packed weights */
    naclip_context_get_timings (ctx, &t);
    double v[] = { t.preprocess_ms, t.encoder_ms, t.logits_ms, t.pamr_ms,
      t.labels_ms, t.total_ms };
    for (gsize s = 0; s < G_N_ELEMENTS (stages); s++)
      times[s * o->repeat + (i - 1)] = v[s];
  }
  for (gsize s = 0; s < G_N_ELEMENTS (stages); s++)
    printf ("%s %.3f\n", stages[s],
        naclip_bench_median (times + s * o->repeat, o->repeat));
  printf ("rss_mib %.1f\n", rss_mib ("VmRSS:"));
  printf ("peak_rss_mib %.1f\n", rss_mib ("VmHWM:"));
  status = 0;
out:
  if (error != NULL)
    fprintf (stderr, "naclip bench: %s\n", error->message);
  g_rand_free (rand);
  return status;
}

/* ------------------------------------------------------------------ */
/* Token reuse on a clip                                               */

typedef struct
{
  float *features; /* (n_patches, dim) of the first window */
  gsize n_patches;
  guint dim;
} FeatureDump;

static void
keep_features (const char *name, const gsize *shape, guint n_dims,
    gboolean is_int32, const void *data, gpointer user_data)
{
  FeatureDump *d = user_data;
  if (strcmp (name, "features") != 0 || n_dims != 2 || is_int32)
    return;
  g_free (d->features);
  d->features = g_memdup2 (data, shape[0] * shape[1] * sizeof (float));
  d->n_patches = shape[0];
  d->dim = (guint)shape[1];
}

/* emb (k, dim) <- k rows of the unit rows @f (n, dim) chosen by
 * farthest-point sampling (cosine), from row 0. */
static void
farthest_points (float *emb, guint k, const float *f, gsize n, guint dim)
{
  g_autofree float *best = g_new (float, n);
  gsize pick = 0;
  for (gsize i = 0; i < n; i++)
    best[i] = -2.0f;
  for (guint q = 0; q < k; q++) {
    memcpy (emb + (gsize)q * dim, f + pick * dim, dim * sizeof (float));
    gsize next = 0;
    for (gsize i = 0; i < n; i++) {
      float dot = 0.0f;
      for (guint j = 0; j < dim; j++)
        dot += f[i * dim + j] * f[pick * dim + j];
      best[i] = MAX (best[i], dot);
      if (best[i] < best[next])
        next = i;
    }
    pick = next;
  }
}

static int
bench_clip (const PipelineOptions *o)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (NaclipModel) model = NULL;
  g_autoptr (NaclipClasses) classes = NULL;
  g_autoptr (NaclipQueries) queries = NULL;
  g_autoptr (NaclipContext) full = NULL;
  g_autoptr (NaclipContext) reuse = NULL;
  g_autoptr (GString) names = g_string_new (NULL);
  g_autofree guint8 *frames = NULL;
  g_autofree guint8 *labels_full = NULL;
  g_autofree guint8 *labels_reuse = NULL;
  g_autofree float *emb = NULL;
  FeatureDump dump = { 0 };
  NaclipParams params = o->params;
  NaclipImage image = { 0 };
  gsize size = 0, frame_bytes = (gsize)o->width * o->height * 3;
  guint pw, ph;
  int status = 1;

  if (o->params.reuse_threshold <= 0.0f) {
    fprintf (stderr, "naclip bench: --clip needs --reuse-threshold > 0\n");
    return 2;
  }
  if (!g_file_get_contents (o->clip, (char **)&frames, &size, &error))
    goto out;
  if (size < frame_bytes || size % frame_bytes != 0) {
    fprintf (stderr,
        "naclip bench: %s holds %" G_GSIZE_FORMAT
        " bytes, not whole %ux%u RGB frames\n",
        o->clip, size, o->width, o->height);
    goto out;
  }
  gsize n_frames = size / frame_bytes;
  model = naclip_model_load (o->model, TRUE, &error);
  if (model == NULL)
    goto out;
  for (guint c = 0; c < o->n_classes; c++)
    g_string_append_printf (names, "%sregion %u", c > 0 ? "," : "", c + 1);
  classes = naclip_classes_parse (names->str, NULL, &error);
  full = naclip_context_new (model, &error);
  reuse = full != NULL ? naclip_context_new (model, &error) : NULL;
  if (classes == NULL || reuse == NULL
      || !naclip_context_set_params (reuse, &params, &error))
    goto out;
  params.reuse_threshold = 0.0f;
  if (!naclip_context_set_params (full, &params, &error))
    goto out;
  naclip_context_get_processing_size (full, o->width, o->height, &pw, &ph);
  labels_full = g_new (guint8, (gsize)pw * ph);
  labels_reuse = g_new (guint8, (gsize)pw * ph);
  image.format = NACLIP_PIXEL_RGB;
  image.width = o->width;
  image.height = o->height;
  image.stride[0] = frame_bytes / o->height;

  /* the queries: features of the first frame */
  guint dim = naclip_model_get_info (model)->embed_dim;
  emb = g_new0 (float, (gsize)o->n_classes *dim);
  queries = naclip_queries_new (classes, emb, o->n_classes, dim, &error);
  if (queries == NULL)
    goto out;
  image.data[0] = frames;
  naclip_context_set_dump_func (full, keep_features, &dump);
  if (!naclip_context_segment (
          full, queries, &image, pw, ph, labels_full, pw, NULL, &error))
    goto out;
  naclip_context_set_dump_func (full, NULL, NULL);
  if (dump.n_patches < o->n_classes) {
    fprintf (stderr,
        "naclip bench: %u classes for %" G_GSIZE_FORMAT " patches\n",
        o->n_classes, dump.n_patches);
    goto out;
  }
  farthest_points (emb, o->n_classes, dump.features, dump.n_patches, dim);
  naclip_queries_unref (queries);
  queries = naclip_queries_new (classes, emb, o->n_classes, dim, &error);
  if (queries == NULL
      || !naclip_context_segment (
          reuse, queries, &image, pw, ph, labels_reuse, pw, NULL, &error))
    goto out;
  naclip_context_reset_reuse (reuse);
  printf ("# clip %s: %" G_GSIZE_FORMAT
          " frames of %ux%u processed at %ux%u, %u region queries, "
          "reuse-threshold %g, reuse-refresh %u\n",
      o->clip, n_frames, o->width, o->height, pw, ph, o->n_classes,
      (double)o->params.reuse_threshold, o->params.reuse_refresh);
  for (gsize f = 0; f < n_frames; f++) {
    NaclipTimings t_full, t_reuse;
    NaclipReuseStats stats;
    image.data[0] = frames + f * frame_bytes;
    for (guint turn = 0; turn < 2; turn++) {
      gboolean use_reuse = (turn + f) % 2 == 1;
      if (!naclip_context_segment (use_reuse ? reuse : full, queries, &image,
              pw, ph, use_reuse ? labels_reuse : labels_full, pw, NULL, &error))
        goto out;
    }
    naclip_context_get_timings (full, &t_full);
    naclip_context_get_timings (reuse, &t_reuse);
    naclip_context_get_reuse_stats (reuse, &stats);
    gsize same = 0;
    for (gsize i = 0; i < (gsize)pw * ph; i++)
      same += labels_full[i] == labels_reuse[i];
    printf ("frame %" G_GSIZE_FORMAT
            " full %.3f reuse %.3f agree %.5f computed %.4f refresh %d\n",
        f, t_full.encoder_ms, t_reuse.encoder_ms, (double)same / pw / ph,
        (double)stats.n_computed / (double)MAX (stats.n_rows, 1),
        stats.refreshed);
    fflush (stdout);
  }
  status = 0;
out:
  if (error != NULL)
    fprintf (stderr, "naclip bench: %s\n", error->message);
  g_free (dump.features);
  return status;
}

/* ------------------------------------------------------------------ */
/* The encoder against its products alone                              */

static const char *
short_type (NaclipDtype t)
{
  return t == NACLIP_DTYPE_BF16 ? "bf16" : "f32";
}

static int
bench_products (const PipelineOptions *o)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (NaclipModel) model = NULL;
  g_autofree char *desc = naclip_precision_describe ();
  g_autofree char *precision = NULL;
  NaclipEncoderBenchmark b = { 0 };
  guint threads = o->params.threads;

  if (naclip_precision_option_resolve (o->params.precision, NULL, &error))
    model = naclip_model_load (o->model, FALSE, &error);
  if (model == NULL
      || !naclip_encoder_benchmark (model, o->params.precision, threads,
          o->width, o->height, o->repeat, &b, &error)) {
    fprintf (stderr, "naclip bench: %s\n", error->message);
    return 1;
  }
  precision
      = naclip_precision_option_describe (b.precision, o->params.precision);
  printf ("# precision %s, %u threads; auto: %s\n", precision, threads, desc);
  printf ("# encoder %ux%u (grid %ux%u), %u product calls, %.2f GFLOP; "
          "medians of %u\n",
      o->width, o->height, b.grid_w, b.grid_h, b.n_calls, b.gflop, o->repeat);
  printf ("# %-6s %5s %5s %5s %7s %-10s %-16s %5s %9s\n", "call", "m", "n", "k",
      "batch", "post", "types a.b->c", "count", "ms");
  for (guint p = 0; p < b.n_products; p++) {
    const NaclipProductTiming *pt = &b.products[p];
    g_autofree char *types = g_strdup_printf ("%s.%s->%s",
        short_type (pt->type_a),
        pt->is_gemm ? short_type (pt->type_b) : (pt->quantized ? "w8" : "w"),
        short_type (pt->type_c));
    printf ("# %-6s %5zu %5zu %5zu %3zux%-3zu %-10s %-16s %5u %9.3f\n",
        pt->is_gemm ? (pt->trans_b ? "gemmT" : "gemm") : "linear", pt->m, pt->n,
        pt->k, pt->n_outer, pt->n_inner, pt->is_gemm ? "-" : pt->post, types,
        pt->count, naclip_bench_median (pt->ms, o->repeat));
  }
  /* naclip_bench_median () sorts: [0] is then the minimum */
  double enc_med = naclip_bench_median (b.encoder_ms, o->repeat);
  double prod_med = naclip_bench_median (b.products_ms, o->repeat);
  printf ("encoder %.3f\n", enc_med);
  printf ("encoder_min %.3f\n", b.encoder_ms[0]);
  printf ("products %.3f\n", prod_med);
  printf ("products_min %.3f\n", b.products_ms[0]);
  printf ("ratio %.3f\n", enc_med / prod_med);
  printf ("ratio_min %.3f\n", b.encoder_ms[0] / b.products_ms[0]);
  /* CPU time of both threads: the work done, less sensitive to waiting
   * for a core on a shared machine (with OMP_WAIT_POLICY=PASSIVE, where a
   * waiting thread sleeps) */
  double enc_cpu_med = naclip_bench_median (b.encoder_cpu_ms, o->repeat);
  double prod_cpu_med = naclip_bench_median (b.products_cpu_ms, o->repeat);
  printf ("encoder_cpu %.3f\n", enc_cpu_med);
  printf ("products_cpu %.3f\n", prod_cpu_med);
  printf ("ratio_cpu %.3f\n", enc_cpu_med / prod_cpu_med);
  naclip_encoder_benchmark_clear (&b);
  return 0;
}

int
naclip_cmd_bench (int argc, char **argv)
{
  gboolean gemm = FALSE, text = FALSE, products = FALSE, element = FALSE;
  char *model = NULL, *size = NULL, *mode = NULL, *clip = NULL;
  char *format = NULL;
  gint repeat = 10, n_classes = 21;
  NaclipSegmentOptions so;
  GOptionEntry entries[] = {
    { "model", 0, 0, G_OPTION_ARG_FILENAME, &model,
        "Checkpoint (directory or .safetensors)", "M" },
    { "size", 0, 0, G_OPTION_ARG_STRING, &size, "Image size (default 448x336)",
        "WxH" },
    { "mode", 0, 0, G_OPTION_ARG_STRING, &mode,
        "whole (default) or slide (224 crops, stride 112)", "MODE" },
    { "classes", 0, 0, G_OPTION_ARG_INT, &n_classes,
        "Number of classes (default 21)", "N" },
    { "clip", 0, 0, G_OPTION_ARG_FILENAME, &clip,
        "Token reuse against the full forward on the frames of FILE (packed "
        "RGB of --size)",
        "FILE" },
    { "text", 0, 0, G_OPTION_ARG_NONE, &text,
        "Also time the text tower (classes x templates, no cache)", NULL },
    { "gemm", 0, 0, G_OPTION_ARG_NONE, &gemm,
        "Time the ViT-B/16 matrix products of each backend (of each one "
        "available with --precision auto)",
        NULL },
    { "products", 0, 0, G_OPTION_ARG_NONE, &products,
        "Time the image encoder against its matrix products alone", NULL },
#if HAVE_GST
    { "element", 0, 0, G_OPTION_ARG_NONE, &element,
        "Time the naclipseg element on videotestsrc frames of --size instead "
        "(frame time against its stages)",
        NULL },
    { "format", 0, 0, G_OPTION_ARG_STRING, &format,
        "With --element: the frames' format (RGB, BGRx, I420, NV12, ...; "
        "default RGB)",
        "F" },
#endif
    { "repeat", 0, 0, G_OPTION_ARG_INT, &repeat,
        "Timed runs after one warm-up (default 10)", "N" },
    { NULL, 0, 0, 0, NULL, NULL, NULL },
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("- timings");
  g_autoptr (GError) error = NULL;
  PipelineOptions o = { 0 };
  int status = 2;

  naclip_segment_options_init (&so);
  g_option_context_set_summary (context,
      "The segmentation options default to the paper's settings, but the\n"
      "image is processed at its own size (--inference-size 0).");
  g_option_context_add_main_entries (context, entries, NULL);
  naclip_segment_options_add (&so, context,
      NACLIP_SEGMENT_OPTIONS_TEMPLATES | NACLIP_SEGMENT_OPTIONS_METHOD
          | NACLIP_SEGMENT_OPTIONS_COMPUTE | NACLIP_SEGMENT_OPTIONS_REUSE);
  if (!g_option_context_parse (context, &argc, &argv, &error)) {
    fprintf (stderr, "naclip bench: %s\n", error->message);
    goto out;
  }
  if (repeat < 1 || repeat > 100000) {
    fprintf (stderr, "naclip bench: --repeat 1..100000\n");
    goto out;
  }
  if (mode != NULL && strcmp (mode, "whole") != 0
      && strcmp (mode, "slide") != 0) {
    fprintf (stderr, "naclip bench: --mode whole or slide, got '%s'\n", mode);
    goto out;
  }
  o.params = naclip_params_default ();
  o.params.inference_size = 0;
  if (mode != NULL && strcmp (mode, "slide") == 0)
    o.params.slide_crop = 224;
  if (!naclip_segment_options_apply (&so, &o.params, &error)) {
    fprintf (stderr, "naclip bench: %s\n", error->message);
    goto out;
  }
  if (gemm) {
    status = bench_gemm (o.params.precision, o.params.threads, (guint)repeat);
    goto out;
  }
  o.model = model;
  o.clip = clip;
  o.templates = so.templates;
  o.width = 448;
  o.height = 336;
  o.repeat = (guint)repeat;
  o.text = text;
  if (model == NULL) {
    fprintf (stderr, "naclip bench: give --model M (or --gemm)\n");
    goto out;
  }
  if (size != NULL
      && (sscanf (size, "%ux%u", &o.width, &o.height) != 2 || o.width < 1
          || o.height < 1 || o.width > NACLIP_MAX_SIDE_PX
          || o.height > NACLIP_MAX_SIDE_PX)) {
    fprintf (stderr, "naclip bench: --size WxH, got '%s'\n", size);
    goto out;
  }
  if (products) {
    if (size == NULL)
      o.width = o.height = 224;
    status = bench_products (&o);
    goto out;
  }
  if (n_classes < 1 || n_classes > NACLIP_MAX_CLASSES) {
    fprintf (stderr, "naclip bench: --classes 1..%d\n", NACLIP_MAX_CLASSES);
    goto out;
  }
  o.n_classes = (guint)n_classes;
  if (clip != NULL) {
    if (size == NULL) {
      fprintf (stderr, "naclip bench: --clip needs --size WxH\n");
      goto out;
    }
    status = bench_clip (&o);
    goto out;
  }
  if (element) {
#if HAVE_GST
    NaclipBenchElement e
        = { model, so.templates, format != NULL ? format : "RGB", o.width,
            o.height, o.n_classes, o.repeat, o.params };
    status = naclip_bench_element (&e);
#endif
    goto out;
  }
  status = bench_pipeline (&o);
out:
  naclip_segment_options_clear (&so);
  g_free (model);
  g_free (size);
  g_free (mode);
  g_free (clip);
  g_free (format);
  return status;
}
