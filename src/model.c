/* model.c: finding, mapping and loading a CLIP checkpoint; the model
 * object.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A model is a safetensors file (mapped read-only with GMappedFile and
 * parsed by safetensors.c), an optional Hugging Face config.json or
 * open_clip_config.json (read by model-config.c) and the BPE merges
 * (merges.txt, read by tokenizer.c). open_clip's hub files are named
 * open_clip_model.safetensors and open_clip_config.json.
 * This file finds them, maps the weights and hands them to model-bind.c,
 * which binds the tensors to the ViT.
 *
 * Policies (README.md "Model files"):
 *   - a text tower needs merges.txt (or OpenAI's
 *     bpe_simple_vocab_16e6.txt.gz) beside the weights (error naming it);
 *     a vision-only checkpoint needs none and has no tokenizer;
 *   - pickle checkpoints (zip or pickle magic) and sharded checkpoints are
 *     refused with NACLIP_ERROR_UNSUPPORTED; a pickle is identified from
 *     its first bytes only and never parsed;
 *   - the weights file must be a regular file: it is opened with
 *     O_NONBLOCK and checked with fstat before it is mapped, so FIFOs and
 *     devices fail at once;
 *   - a file truncated or rewritten while a model maps it is not
 *     supported (the process may receive SIGBUS), as with any mmap-based
 *     loader; copy the file aside if it may change.
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "naclip-private.h"

/* ------------------------------------------------------------------ */
/* Files                                                               */

/* Refuses pickle-based checkpoints from their first bytes. */
static gboolean
check_not_pickle (
    const guint8 *magic, gsize n, const char *path, GError **error)
{
  if (n >= 4 && memcmp (magic, "PK\x03\x04", 4) == 0) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_UNSUPPORTED,
        "%s is a zip archive (a PyTorch pickle checkpoint or TorchScript): "
        "pickle checkpoints are not supported because loading them can run "
        "code; use the model's .safetensors file (or convert it to "
        "safetensors)",
        path);
    return FALSE;
  }
  /* A pickle starts with PROTO (0x80, protocol 2..5). The 8-byte header
   * length of a safetensors file can start with the same two bytes (a
   * length of 0x0380 is common), but its JSON then starts at byte 8 with
   * '{' or white space, where a pickle has an opcode or frame bytes. */
  if (n >= 2 && magic[0] == 0x80 && magic[1] >= 2 && magic[1] <= 5
      && (n < 9 || !strchr ("{ \t\r\n", magic[8]) || magic[8] == 0)) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_UNSUPPORTED,
        "%s is a Python pickle (protocol %u; a legacy PyTorch checkpoint): "
        "pickle checkpoints are not supported because loading them can run "
        "code; use the model's .safetensors file (or convert it to "
        "safetensors)",
        path, magic[1]);
    return FALSE;
  }
  return TRUE;
}

/* Finds the weights, the config (config.json or open_clip_config.json)
 * and merges.txt of @path. */
static gboolean
resolve_paths (
    NaclipModel *model, char **config_path, char **merges_path, GError **error)
{
  const char *path = model->path;
  g_autofree char *dir = NULL;
  GStatBuf sb;

  if (g_stat (path, &sb) != 0) {
    int errsv = errno;
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_IO, "%s: %s", path,
        g_strerror (errsv));
    return FALSE;
  }
  if (S_ISDIR (sb.st_mode)) {
    static const char *const pickles[] = { "pytorch_model.bin", "model.pt",
      "model.pth", "open_clip_pytorch_model.bin" };
    dir = g_strdup (path);
    model->weights_path = g_build_filename (dir, "model.safetensors", NULL);
    if (!g_file_test (model->weights_path, G_FILE_TEST_EXISTS)) {
      g_autofree char *open_clip
          = g_build_filename (dir, "open_clip_model.safetensors", NULL);
      if (g_file_test (open_clip, G_FILE_TEST_EXISTS)) {
        g_free (model->weights_path);
        model->weights_path = g_steal_pointer (&open_clip);
      }
    }
    if (!g_file_test (model->weights_path, G_FILE_TEST_EXISTS)) {
      g_autofree char *index
          = g_build_filename (dir, "model.safetensors.index.json", NULL);
      if (g_file_test (index, G_FILE_TEST_EXISTS)) {
        g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_UNSUPPORTED,
            "%s: sharded checkpoints are not supported (found "
            "model.safetensors.index.json); merge the shards into one "
            "model.safetensors",
            path);
        return FALSE;
      }
      for (guint i = 0; i < G_N_ELEMENTS (pickles); i++) {
        g_autofree char *p = g_build_filename (dir, pickles[i], NULL);
        if (g_file_test (p, G_FILE_TEST_EXISTS)) {
          g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_UNSUPPORTED,
              "%s: the directory holds only %s, a pickle checkpoint; pickle "
              "checkpoints are not supported, use or convert to "
              "model.safetensors",
              path, pickles[i]);
          return FALSE;
        }
      }
      g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_IO,
          "%s: directory without a model: no model.safetensors in it", path);
      return FALSE;
    }
  } else {
    if (g_str_has_suffix (path, ".index.json")) {
      g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_UNSUPPORTED,
          "%s: sharded checkpoints are not supported; merge the shards into "
          "one .safetensors file",
          path);
      return FALSE;
    }
    dir = g_path_get_dirname (path);
    model->weights_path = g_strdup (path);
  }
  /* The Hugging Face config.json goes with model.safetensors, open_clip's
   * own with open_clip_model.safetensors; either is taken when the other
   * is absent. */
  g_autofree char *base = g_path_get_basename (model->weights_path);
  gboolean open_clip = g_str_equal (base, "open_clip_model.safetensors");
  const char *const names[]
      = { open_clip ? "open_clip_config.json" : "config.json",
          open_clip ? "config.json" : "open_clip_config.json" };
  for (guint i = 0; i < G_N_ELEMENTS (names) && *config_path == NULL; i++) {
    *config_path = g_build_filename (dir, names[i], NULL);
    if (!g_file_test (*config_path, G_FILE_TEST_EXISTS))
      g_clear_pointer (config_path, g_free);
  }
  *merges_path = g_build_filename (dir, "merges.txt", NULL);
  /* OpenAI's own name for the same merges, gzipped (a converted OpenAI
   * checkpoint may come with it instead). */
  if (!g_file_test (*merges_path, G_FILE_TEST_EXISTS)) {
    g_autofree char *gz
        = g_build_filename (dir, "bpe_simple_vocab_16e6.txt.gz", NULL);
    if (g_file_test (gz, G_FILE_TEST_EXISTS)) {
      g_free (*merges_path);
      *merges_path = g_steal_pointer (&gz);
    }
  }
  return TRUE;
}

/* Opens and maps the weights file, refusing non-regular files and
 * pickles. For files shorter than the 8-byte length the first bytes are
 * returned in @small instead of a mapping. */
static gboolean
map_weights (
    NaclipModel *model, guint8 small[8], gsize *small_len, GError **error)
{
  const char *path = model->weights_path;
  struct stat sb;
  guint8 magic[9];
  gssize n;
  GError *local_error = NULL;
  gboolean ok = FALSE;
  int fd;

  fd = g_open (path, O_RDONLY | O_NONBLOCK | O_CLOEXEC, 0);
  if (fd < 0) {
    int errsv = errno;
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_IO, "%s: %s", path,
        g_strerror (errsv));
    return FALSE;
  }
  if (fstat (fd, &sb) != 0 || !S_ISREG (sb.st_mode)) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_IO,
        "%s: not a regular file (a model must be a file or a directory)", path);
    goto out;
  }
  do
    n = pread (fd, magic, sizeof magic, 0);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    int errsv = errno;
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_IO, "%s: %s", path,
        g_strerror (errsv));
    goto out;
  }
  if (!check_not_pickle (magic, (gsize)n, path, error))
    goto out;
  if (sb.st_size < 8) {
    memcpy (small, magic, MIN ((gsize)n, 8));
    *small_len = (gsize)n;
    ok = TRUE;
    goto out;
  }
  model->mapping = g_mapped_file_new_from_fd (fd, FALSE, &local_error);
  if (model->mapping == NULL) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_IO, "%s: cannot map: %s",
        path, local_error->message);
    g_error_free (local_error);
    goto out;
  }
  ok = TRUE;

out:
  close (fd);
  return ok;
}

NaclipModel *
naclip_model_load (const char *path, gboolean check_weights, GError **error)
{
  NaclipModel *model;
  NaclipModelConfig *cfg = NULL;
  g_autofree char *config_path = NULL;
  g_autofree char *merges_path = NULL;
  guint8 small[8];
  gsize small_len = 0;
  gboolean ok = FALSE;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  model = g_new0 (NaclipModel, 1);
  model->ref_count = 1;
  model->path = g_strdup (path);
  model->owned = g_ptr_array_new_with_free_func (g_free);

  if (!resolve_paths (model, &config_path, &merges_path, error))
    goto out;
  if (!map_weights (model, small, &small_len, error))
    goto out;
  if (model->mapping != NULL)
    model->st = naclip_safetensors_parse (
        (const guint8 *)g_mapped_file_get_contents (model->mapping),
        g_mapped_file_get_length (model->mapping), model->weights_path, error);
  else
    model->st = naclip_safetensors_parse (
        small, small_len, model->weights_path, error);
  if (model->st == NULL)
    goto out;
  if (config_path != NULL
      && (cfg = naclip_model_config_load (config_path, error)) == NULL)
    goto out;
  if (!naclip_model_bind (model, cfg, check_weights, error))
    goto out;
  if (model->info.has_text) {
    if (!g_file_test (merges_path, G_FILE_TEST_EXISTS)) {
      g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_IO,
          "%s: merges.txt is missing; the text tower of %s needs CLIP's BPE "
          "merges beside the weights (merges.txt or "
          "bpe_simple_vocab_16e6.txt.gz)",
          merges_path, model->weights_path);
      goto out;
    }
    /* The tokenizer opens the file blocking: refuse FIFOs and devices. */
    if (!g_file_test (merges_path, G_FILE_TEST_IS_REGULAR)) {
      g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_IO,
          "%s: the merges file is not a regular file", merges_path);
      goto out;
    }
    model->tokenizer = naclip_tokenizer_load (
        merges_path, model->text.vocab_size - NACLIP_VOCAB_BASE, error);
    if (model->tokenizer == NULL)
      goto out;
  }
  g_debug ("%s: loaded, layout %s, %" G_GUINT64_FORMAT " parameters", path,
      model->info.key_layout == NACLIP_KEY_LAYOUT_HF ? "hf" : "openai",
      model->info.n_params);
  ok = TRUE;

out:
  naclip_model_config_free (cfg);
  if (!ok)
    g_clear_pointer (&model, naclip_model_unref);
  return model;
}

NaclipModel *
naclip_model_ref (NaclipModel *model)
{
  g_return_val_if_fail (model != NULL, NULL);
  g_atomic_int_inc (&model->ref_count);
  return model;
}

void
naclip_model_unref (NaclipModel *model)
{
  if (model == NULL || !g_atomic_int_dec_and_test (&model->ref_count))
    return;
  g_clear_pointer (&model->tokenizer, naclip_tokenizer_free);
  if (model->matmul_cache != NULL)
    model->matmul_cache_free (model->matmul_cache);
  g_free (model->vision.blocks);
  g_free (model->text.blocks);
  g_clear_pointer (&model->owned, g_ptr_array_unref);
  g_clear_pointer (&model->st, naclip_safetensors_free);
  g_clear_pointer (&model->mapping, g_mapped_file_unref);
  g_free (model->text_fingerprint);
  g_free (model->weights_path);
  g_free (model->path);
  g_free (model);
}

const NaclipModelInfo *
naclip_model_get_info (const NaclipModel *model)
{
  g_return_val_if_fail (model != NULL, NULL);
  return &model->info;
}

const char *
naclip_model_get_path (const NaclipModel *model)
{
  g_return_val_if_fail (model != NULL, NULL);
  return model->path;
}

NaclipTokenizer *
naclip_model_get_tokenizer (NaclipModel *model)
{
  g_return_val_if_fail (model != NULL, NULL);
  return model->tokenizer;
}
