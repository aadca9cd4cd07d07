/* fuzz-config.c: libFuzzer target for config.json binding (bad-input rows
 * B01-B10).
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * On the first call the target writes a valid vision-only checkpoint in
 * the Hugging Face layout (make_checkpoint.py's "tiny" preset shapes:
 * width 64, 2 layers, MLP 256, patch 16, image 64, embedding 32; all
 * weights zero) into a fresh temporary directory. Each input becomes that
 * directory's config.json and the model is loaded: it must either load
 * with an architecture matching the tensors or fail with a NACLIP_ERROR.
 * The directory is removed at exit.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib/gstdio.h>

#include "naclip-private.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define WIDTH 64
#define MLP 256
#define PATCH 16
#define GRID 4
#define EMBED 32
#define LAYERS 2

static char *model_dir;
static char *config_path;

typedef struct
{
  GString *header;
  gsize offset;
} Writer;

static void
add_tensor (Writer *w, const char *name, const guint64 *shape, guint n_dims)
{
  guint64 n = 1;

  g_string_append_printf (w->header, "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[",
      w->header->len > 1 ? "," : "", name);
  for (guint i = 0; i < n_dims; i++) {
    g_string_append_printf (
        w->header, "%s%" G_GUINT64_FORMAT, i ? "," : "", shape[i]);
    n *= shape[i];
  }
  g_string_append_printf (w->header,
      "],\"data_offsets\":[%" G_GSIZE_FORMAT ",%" G_GSIZE_FORMAT "]}",
      w->offset, w->offset + (gsize)n * 4);
  w->offset += (gsize)n * 4;
}

static void
add_1d (Writer *w, const char *name, guint64 d0)
{
  add_tensor (w, name, &d0, 1);
}

static void
add_2d (Writer *w, const char *name, guint64 d0, guint64 d1)
{
  const guint64 shape[2] = { d0, d1 };
  add_tensor (w, name, shape, 2);
}

static void
write_checkpoint (const char *path)
{
  static const char *const projs[]
      = { "q_proj", "k_proj", "v_proj", "out_proj" };
  const guint64 patch_shape[4] = { WIDTH, 3, PATCH, PATCH };
  Writer w = { g_string_new ("{"), 0 };
  g_autofree guint8 *zeros = NULL;
  guint8 length[8];
  FILE *f;

  add_tensor (
      &w, "vision_model.embeddings.patch_embedding.weight", patch_shape, 4);
  add_1d (&w, "vision_model.embeddings.class_embedding", WIDTH);
  add_2d (&w, "vision_model.embeddings.position_embedding.weight",
      GRID * GRID + 1, WIDTH);
  add_1d (&w, "vision_model.pre_layrnorm.weight", WIDTH);
  add_1d (&w, "vision_model.pre_layrnorm.bias", WIDTH);
  for (guint i = 0; i < LAYERS; i++) {
    g_autofree char *pre
        = g_strdup_printf ("vision_model.encoder.layers.%u.", i);
    for (guint p = 0; p < G_N_ELEMENTS (projs); p++) {
      g_autofree char *wn
          = g_strdup_printf ("%sself_attn.%s.weight", pre, projs[p]);
      g_autofree char *bn
          = g_strdup_printf ("%sself_attn.%s.bias", pre, projs[p]);
      add_2d (&w, wn, WIDTH, WIDTH);
      add_1d (&w, bn, WIDTH);
    }
    for (guint n = 1; n <= 2; n++) {
      g_autofree char *wn = g_strdup_printf ("%slayer_norm%u.weight", pre, n);
      g_autofree char *bn = g_strdup_printf ("%slayer_norm%u.bias", pre, n);
      add_1d (&w, wn, WIDTH);
      add_1d (&w, bn, WIDTH);
    }
    {
      g_autofree char *w1 = g_strdup_printf ("%smlp.fc1.weight", pre);
      g_autofree char *b1 = g_strdup_printf ("%smlp.fc1.bias", pre);
      g_autofree char *w2 = g_strdup_printf ("%smlp.fc2.weight", pre);
      g_autofree char *b2 = g_strdup_printf ("%smlp.fc2.bias", pre);
      add_2d (&w, w1, MLP, WIDTH);
      add_1d (&w, b1, MLP);
      add_2d (&w, w2, WIDTH, MLP);
      add_1d (&w, b2, WIDTH);
    }
  }
  add_1d (&w, "vision_model.post_layernorm.weight", WIDTH);
  add_1d (&w, "vision_model.post_layernorm.bias", WIDTH);
  add_2d (&w, "visual_projection.weight", EMBED, WIDTH);
  g_string_append_c (w.header, '}');
  while (w.header->len % 8 != 0)
    g_string_append_c (w.header, ' ');
  for (int i = 0; i < 8; i++)
    length[i] = (guint8)((guint64)w.header->len >> (8 * i));
  zeros = g_malloc0 (w.offset);
  f = fopen (path, "wb");
  g_assert (f != NULL);
  g_assert (fwrite (length, 1, 8, f) == 8);
  g_assert (fwrite (w.header->str, 1, w.header->len, f) == w.header->len);
  g_assert (fwrite (zeros, 1, w.offset, f) == w.offset);
  g_assert (fclose (f) == 0);
  g_string_free (w.header, TRUE);
}

static void
remove_model_dir (void)
{
  g_autofree char *weights
      = g_build_filename (model_dir, "model.safetensors", NULL);

  g_unlink (config_path);
  g_unlink (weights);
  g_rmdir (model_dir);
}

static void
init (void)
{
  g_autofree char *weights = NULL;

  model_dir = g_dir_make_tmp ("fuzz-config-XXXXXX", NULL);
  g_assert (model_dir != NULL);
  weights = g_build_filename (model_dir, "model.safetensors", NULL);
  config_path = g_build_filename (model_dir, "config.json", NULL);
  write_checkpoint (weights);
  atexit (remove_model_dir);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  GError *error = NULL;
  NaclipModel *model;

  if (model_dir == NULL)
    init ();
  /* Written in place, without GLib's rename and fsync. */
  g_assert (g_file_set_contents_full (config_path, (const char *)data,
      (gssize)size, G_FILE_SET_CONTENTS_NONE, 0644, NULL));
  model = naclip_model_load (model_dir, FALSE, &error);
  if (model != NULL) {
    const NaclipModelInfo *info = naclip_model_get_info (model);
    g_assert (info->vision.width == WIDTH);
    g_assert (info->vision.n_layers == LAYERS);
    g_assert (info->vision.n_heads >= 1 && WIDTH % info->vision.n_heads == 0);
    g_assert (info->patch_size == PATCH && info->grid_size == GRID);
    g_assert (info->embed_dim == EMBED);
    g_assert (info->vision.layer_norm_eps > 0.0f
              && info->vision.layer_norm_eps < 1.0f);
    naclip_model_unref (model);
  } else {
    g_assert (error != NULL && error->domain == NACLIP_ERROR);
    g_clear_error (&error);
  }
  return 0;
}
