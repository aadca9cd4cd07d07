/* model-config.c: a checkpoint's config.json, the Hugging Face CLIPConfig.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * model.c derives a model's architecture from its tensor shapes; a
 * config.json beside the weights (the Hugging Face CLIPConfig form,
 * accepted for both key layouts) is optional, must agree with those
 * shapes, and supplies what shapes cannot say: the number of heads,
 * hidden_act and layer_norm_eps. This file reads it and makes both checks.
 *
 * Reading (BAD-INPUTS B): a regular file of at most MAX_CONFIG_BYTES, the
 * strict JSON gate of json.c (RFC 8259, depth, duplicate keys, UTF-8, at
 * most 4096 members per object or array), then json-glib; the root must be
 * an object holding a "vision_config" object and, optionally, a
 * "text_config" object.
 *
 * The keys and what they are checked against (the tensors model.c names
 * in NaclipVisionShape / NaclipTextShape):
 *   vision_config  hidden_size (required), patch_size (required),
 *                  image_size (required; a multiple of patch_size, equal to
 *                  grid * patch), num_hidden_layers (required),
 *                  intermediate_size (optional), num_attention_heads
 *                  (required; divides hidden_size)
 *   (top level)    projection_dim (required)
 *   text_config    required when the checkpoint has a text tower:
 *                  vocab_size and max_position_embeddings (required);
 *                  hidden_size, num_hidden_layers, intermediate_size,
 *                  num_attention_heads (optional)
 *   both           hidden_act ("quick_gelu" or "gelu"), layer_norm_eps
 *                  (a number in (0, 1)), both optional
 * Sizes are integers of 1..NACLIP_MODEL_MAX_DIM. Without a config.json, or
 * without the optional keys: heads = width / 64 (CLIP's head size in every
 * ViT), quick_gelu (OpenAI CLIP and the Hugging Face default) and 1e-5.
 * Every failure names config.json and the key, and for a disagreement the
 * tensor and its shape: NACLIP_ERROR_IO or _FORMAT when reading,
 * NACLIP_ERROR_MODEL when checking.
 */

#include "config.h"

#include <sys/stat.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "naclip-private.h"

/* CLIP's fixed head size, used when no config.json gives the head count. */
#define CLIP_HEAD_DIM 64
/* Largest config.json accepted. */
#define MAX_CONFIG_BYTES (16u * 1024u * 1024u)

struct _NaclipModelConfig
{
  char *path;
  JsonParser *parser;
  JsonObject *root;
  JsonObject *vision; /* vision_config */
  JsonObject *text;   /* text_config, or NULL */
};

void
naclip_model_config_free (NaclipModelConfig *cfg)
{
  if (cfg == NULL)
    return;
  g_free (cfg->path);
  g_clear_object (&cfg->parser);
  g_free (cfg);
}

/* Parses @contents (@len bytes) of @cfg->path into @cfg. */
static gboolean
parse_config (
    NaclipModelConfig *cfg, const char *contents, gsize len, GError **error)
{
  const char *path = cfg->path;
  GError *local_error = NULL;
  JsonNode *node;

  if (!naclip_json_check_strict (contents, len, 4096, path, error))
    return FALSE;
  cfg->parser = json_parser_new ();
  if (!json_parser_load_from_data (
          cfg->parser, contents, (gssize)len, &local_error)) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
        "%s: not valid JSON: %s", path, local_error->message);
    g_error_free (local_error);
    return FALSE;
  }
  node = json_parser_get_root (cfg->parser);
  if (!JSON_NODE_HOLDS_OBJECT (node)) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
        "%s: not a JSON object", path);
    return FALSE;
  }
  cfg->root = json_node_get_object (node);
  node = json_object_get_member (cfg->root, "vision_config");
  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node)) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
        "%s: no 'vision_config' object (the Hugging Face "
        "CLIPConfig form is expected)",
        path);
    return FALSE;
  }
  cfg->vision = json_node_get_object (node);
  node = json_object_get_member (cfg->root, "text_config");
  if (node != NULL) {
    if (!JSON_NODE_HOLDS_OBJECT (node)) {
      g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
          "%s: 'text_config' is not an object", path);
      return FALSE;
    }
    cfg->text = json_node_get_object (node);
  }
  return TRUE;
}

NaclipModelConfig *
naclip_model_config_load (const char *path, GError **error)
{
  NaclipModelConfig *cfg = NULL;
  g_autofree char *contents = NULL;
  gsize len = 0;
  GError *local_error = NULL;
  GStatBuf sb;

  g_return_val_if_fail (path != NULL, NULL);

  if (g_stat (path, &sb) != 0 || !S_ISREG (sb.st_mode)) {
    g_set_error (
        error, NACLIP_ERROR, NACLIP_ERROR_IO, "%s: not a regular file", path);
    return NULL;
  }
  if ((guint64)sb.st_size > MAX_CONFIG_BYTES) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
        "%s: %" G_GUINT64_FORMAT " bytes, above the limit "
        "of %u",
        path, (guint64)sb.st_size, MAX_CONFIG_BYTES);
    return NULL;
  }
  if (!g_file_get_contents (path, &contents, &len, &local_error)) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_IO, "%s: %s", path,
        local_error->message);
    g_error_free (local_error);
    return NULL;
  }
  cfg = g_new0 (NaclipModelConfig, 1);
  cfg->path = g_strdup (path);
  if (!parse_config (cfg, contents, len, error))
    g_clear_pointer (&cfg, naclip_model_config_free);
  return cfg;
}

/* Reads the positive integer @section.@key (section NULL = top level) of
 * @obj. Returns TRUE and sets *@found when present and valid; TRUE with
 * *@found FALSE when absent and not @required. */
static gboolean
config_uint (const NaclipModelConfig *cfg, const char *section, JsonObject *obj,
    const char *key, gboolean required, guint *out, gboolean *found,
    GError **error)
{
  JsonNode *node;
  g_autofree char *full = section != NULL
                              ? g_strdup_printf ("%s.%s", section, key)
                              : g_strdup (key);
  gint64 v;

  *found = FALSE;
  node = obj != NULL ? json_object_get_member (obj, key) : NULL;
  if (node == NULL) {
    if (required) {
      g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_MODEL,
          "%s: lacks the required key '%s'", cfg->path, full);
      return FALSE;
    }
    return TRUE;
  }
  if (!JSON_NODE_HOLDS_VALUE (node)
      || json_node_get_value_type (node) != G_TYPE_INT64) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_MODEL,
        "%s: '%s' is not an integer", cfg->path, full);
    return FALSE;
  }
  v = json_node_get_int (node);
  if (v < 1 || v > NACLIP_MODEL_MAX_DIM) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_MODEL,
        "%s: '%s' is %" G_GINT64_FORMAT ", outside 1..%u", cfg->path, full, v,
        NACLIP_MODEL_MAX_DIM);
    return FALSE;
  }
  *out = (guint)v;
  *found = TRUE;
  return TRUE;
}

/* Checks that config value @section.@key of @obj (if present) equals
 * @fact, which the tensors of @st imply. */
static gboolean
config_agree (const NaclipModelConfig *cfg, const NaclipSafetensors *st,
    const char *section, JsonObject *obj, const char *key, gboolean required,
    const NaclipShapeFact *fact, GError **error)
{
  guint v;
  gboolean found;
  const NaclipTensor *t;

  if (!config_uint (cfg, section, obj, key, required, &v, &found, error))
    return FALSE;
  if (!found || v == fact->value)
    return TRUE;
  t = naclip_safetensors_find (st, fact->source);
  if (t != NULL) {
    g_autofree char *s = naclip_safetensors_format_shape (t->shape, t->n_dims);
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_MODEL,
        "%s: %s%s%s is %u but tensor '%s' has shape %s "
        "(implies %u)",
        cfg->path, section != NULL ? section : "", section != NULL ? "." : "",
        key, v, fact->source, s, fact->value);
  } else {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_MODEL,
        "%s: %s%s%s is %u but the tensors ('%s*') imply %u", cfg->path,
        section != NULL ? section : "", section != NULL ? "." : "", key, v,
        fact->source, fact->value);
  }
  return FALSE;
}

/* Heads, activation and epsilon of a tower of width @width (from tensor
 * @width_tensor of @weights_path) from its config section @obj (@cfg and
 * @obj may be NULL). */
static gboolean
config_tower (const NaclipModelConfig *cfg, const char *weights_path,
    const char *section, JsonObject *obj, const NaclipShapeFact *width,
    NaclipTowerInfo *info, GError **error)
{
  guint heads;
  gboolean found = FALSE;
  JsonNode *node;

  info->activation = NACLIP_ACTIVATION_QUICK_GELU;
  info->layer_norm_eps = 1e-5f;
  if (cfg != NULL
      && !config_uint (cfg, section, obj, "num_attention_heads",
          g_str_equal (section, "vision_config"), &heads, &found, error))
    return FALSE;
  if (found) {
    info->n_heads = heads;
  } else if (width->value % CLIP_HEAD_DIM == 0) {
    info->n_heads = width->value / CLIP_HEAD_DIM;
  } else {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_MODEL,
        "%s: the width %u of tensor '%s' is not a multiple of 64 (CLIP's "
        "head size) and no config.json gives %s.num_attention_heads",
        weights_path, width->value, width->source, section);
    return FALSE;
  }
  if (width->value % info->n_heads != 0) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_MODEL,
        "%s: %s.num_attention_heads %u does not divide the width %u "
        "(tensor '%s')",
        cfg != NULL ? cfg->path : weights_path, section, info->n_heads,
        width->value, width->source);
    return FALSE;
  }
  if (cfg == NULL || obj == NULL)
    return TRUE;

  node = json_object_get_member (obj, "hidden_act");
  if (node != NULL) {
    const char *act = NULL;
    if (JSON_NODE_HOLDS_VALUE (node)
        && json_node_get_value_type (node) == G_TYPE_STRING)
      act = json_node_get_string (node);
    if (g_strcmp0 (act, "quick_gelu") == 0) {
      info->activation = NACLIP_ACTIVATION_QUICK_GELU;
    } else if (g_strcmp0 (act, "gelu") == 0) {
      info->activation = NACLIP_ACTIVATION_GELU;
    } else {
      g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_MODEL,
          "%s: %s.hidden_act is %s%s%s; expected \"quick_gelu\" "
          "or \"gelu\"",
          cfg->path, section, act != NULL ? "\"" : "",
          act != NULL ? act : "not a string", act != NULL ? "\"" : "");
      return FALSE;
    }
  }
  node = json_object_get_member (obj, "layer_norm_eps");
  if (node != NULL) {
    double eps = -1.0;
    if (JSON_NODE_HOLDS_VALUE (node)
        && (json_node_get_value_type (node) == G_TYPE_DOUBLE
            || json_node_get_value_type (node) == G_TYPE_INT64))
      eps = json_node_get_double (node);
    if (!(eps > 0.0 && eps < 1.0)) {
      g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_MODEL,
          "%s: %s.layer_norm_eps must be a number in (0, 1)", cfg->path,
          section);
      return FALSE;
    }
    info->layer_norm_eps = (float)eps;
  }
  return TRUE;
}

gboolean
naclip_model_config_vision (const NaclipModelConfig *cfg,
    const NaclipSafetensors *st, const char *weights_path,
    const NaclipVisionShape *shape, NaclipTowerInfo *info, GError **error)
{
  const char *s = "vision_config";
  guint image_size;
  gboolean found;

  g_return_val_if_fail (st != NULL && shape != NULL && info != NULL, FALSE);

  if (cfg != NULL) {
    if (!config_agree (
            cfg, st, s, cfg->vision, "hidden_size", TRUE, &shape->width, error)
        || !config_agree (cfg, st, s, cfg->vision, "patch_size", TRUE,
            &shape->patch_size, error)
        || !config_uint (cfg, s, cfg->vision, "image_size", TRUE, &image_size,
            &found, error))
      return FALSE;
    if (found && image_size % shape->patch_size.value != 0) {
      g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_MODEL,
          "%s: vision_config.image_size %u is not a multiple of "
          "patch_size %u",
          cfg->path, image_size, shape->patch_size.value);
      return FALSE;
    }
    if (!config_agree (cfg, st, s, cfg->vision, "image_size", TRUE,
            &shape->image_size, error)
        || !config_agree (cfg, st, s, cfg->vision, "num_hidden_layers", TRUE,
            &shape->n_layers, error)
        || !config_agree (cfg, st, s, cfg->vision, "intermediate_size", FALSE,
            &shape->mlp_width, error)
        || !config_agree (cfg, st, NULL, cfg->root, "projection_dim", TRUE,
            &shape->embed_dim, error))
      return FALSE;
  }
  return config_tower (cfg, weights_path, s, cfg != NULL ? cfg->vision : NULL,
      &shape->width, info, error);
}

gboolean
naclip_model_config_text (const NaclipModelConfig *cfg,
    const NaclipSafetensors *st, const char *weights_path,
    const NaclipTextShape *shape, NaclipTowerInfo *info, GError **error)
{
  const char *s = "text_config";

  g_return_val_if_fail (st != NULL && shape != NULL && info != NULL, FALSE);

  if (cfg != NULL) {
    if (cfg->text == NULL) {
      g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_MODEL,
          "%s: no 'text_config' but the checkpoint has a "
          "text tower",
          cfg->path);
      return FALSE;
    }
    if (!config_agree (cfg, st, s, cfg->text, "vocab_size", TRUE,
            &shape->vocab_size, error)
        || !config_agree (cfg, st, s, cfg->text, "max_position_embeddings",
            TRUE, &shape->context_length, error)
        || !config_agree (
            cfg, st, s, cfg->text, "hidden_size", FALSE, &shape->width, error)
        || !config_agree (cfg, st, s, cfg->text, "num_hidden_layers", FALSE,
            &shape->n_layers, error)
        || !config_agree (cfg, st, s, cfg->text, "intermediate_size", FALSE,
            &shape->mlp_width, error))
      return FALSE;
  }
  return config_tower (cfg, weights_path, s, cfg != NULL ? cfg->text : NULL,
      &shape->width, info, error);
}
