/* model-config.c: a checkpoint's config.json (the Hugging Face
 * CLIPConfig) or open_clip_config.json.
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
 * Reading (bad-input rows B): a regular file of at most MAX_CONFIG_BYTES, the
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
 * open_clip_config.json (open_clip's hub file: {"model_cfg": {embed_dim,
 * quick_gelu, vision_cfg, text_cfg}, ...}) is translated into that form
 * with open_clip's dataclass defaults (open_clip/model.py CLIPVisionCfg,
 * CLIPTextCfg): vision heads = width / head_width, text heads, MLP widths
 * = width * mlp_ratio, hidden_act from quick_gelu; the keys that make a
 * network other than CLIP's ViT (layer scale, attentional pooling, other
 * pool types, timm or Hugging Face towers) are refused, and messages name
 * the open_clip keys.
 * Sizes are integers of 1..NACLIP_MODEL_MAX_DIM. Without a config.json, or
 * without the optional keys: heads = width / 64 (CLIP's head size in every
 * ViT), quick_gelu (OpenAI CLIP and the Hugging Face default) and 1e-5.
 * Every failure names config.json and the key, and for a disagreement the
 * tensor and its shape: NACLIP_ERROR_IO or _FORMAT when reading,
 * NACLIP_ERROR_MODEL when checking.
 */

#include "config.h"

#include <math.h>
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
  /* The Hugging Face form; an open_clip file is translated into it. */
  JsonObject *root;   /* holds projection_dim */
  JsonObject *vision; /* vision_config */
  JsonObject *text;   /* text_config, or NULL */
  gboolean open_clip; /* read from an open_clip_config.json */
  GPtrArray *owned;   /* JsonObjects made by the translation */
};

void
naclip_model_config_free (NaclipModelConfig *cfg)
{
  if (cfg == NULL)
    return;
  g_free (cfg->path);
  g_clear_object (&cfg->parser);
  g_clear_pointer (&cfg->owned, g_ptr_array_unref);
  g_free (cfg);
}

/* The name of @section.@key (section NULL: top level) as the file spells
 * it: the Hugging Face key, or the open_clip key it was translated from.
 * Caller frees. */
static char *
key_name (const NaclipModelConfig *cfg, const char *section, const char *key)
{
  static const char *const open_clip_names[][2] = {
    { "projection_dim", "model_cfg.embed_dim" },
    { "vision_config.hidden_size", "model_cfg.vision_cfg.width" },
    { "vision_config.patch_size", "model_cfg.vision_cfg.patch_size" },
    { "vision_config.image_size", "model_cfg.vision_cfg.image_size" },
    { "vision_config.num_hidden_layers", "model_cfg.vision_cfg.layers" },
    { "vision_config.intermediate_size",
        "model_cfg.vision_cfg.mlp_ratio (x width)" },
    { "vision_config.num_attention_heads",
        "model_cfg.vision_cfg.head_width (width /)" },
    { "vision_config.hidden_act", "model_cfg.quick_gelu" },
    { "text_config.vocab_size", "model_cfg.text_cfg.vocab_size" },
    { "text_config.max_position_embeddings",
        "model_cfg.text_cfg.context_length" },
    { "text_config.hidden_size", "model_cfg.text_cfg.width" },
    { "text_config.num_hidden_layers", "model_cfg.text_cfg.layers" },
    { "text_config.intermediate_size",
        "model_cfg.text_cfg.mlp_ratio (x width)" },
    { "text_config.num_attention_heads", "model_cfg.text_cfg.heads" },
    { "text_config.hidden_act", "model_cfg.quick_gelu" },
  };
  char *full = section != NULL ? g_strdup_printf ("%s.%s", section, key)
                               : g_strdup (key);
  if (cfg == NULL || !cfg->open_clip)
    return full;
  for (guint i = 0; i < G_N_ELEMENTS (open_clip_names); i++) {
    if (g_str_equal (full, open_clip_names[i][0])) {
      g_free (full);
      return g_strdup (open_clip_names[i][1]);
    }
  }
  return full;
}

/* An integer member of an open_clip section, or @fallback when absent
 * (open_clip's dataclass default). -1 with an error naming the key when
 * it is not an integer. */
static gint64
open_clip_int (const NaclipModelConfig *cfg, JsonObject *obj,
    const char *section, const char *key, gint64 fallback, GError **error)
{
  JsonNode *node = json_object_get_member (obj, key);
  if (node == NULL)
    return fallback;
  if (!JSON_NODE_HOLDS_VALUE (node)
      || json_node_get_value_type (node) != G_TYPE_INT64) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_MODEL,
        "%s: model_cfg.%s.%s is not an integer%s", cfg->path, section, key,
        g_str_equal (key, "layers") ? " (a list of layers is a ResNet, not a "
                                      "ViT)"
        : g_str_equal (key, "image_size") ? " (non-square sizes are not "
                                            "supported)"
                                          : "");
    return -1;
  }
  return json_node_get_int (node);
}

/* width * mlp_ratio of an open_clip section (mlp_ratio defaults to 4), or
 * -1 with an error when it is not a whole number. */
static gint64
open_clip_mlp (const NaclipModelConfig *cfg, JsonObject *obj,
    const char *section, gint64 width, GError **error)
{
  JsonNode *node = json_object_get_member (obj, "mlp_ratio");
  double ratio = 4.0, mlp;
  if (node != NULL) {
    GType t = JSON_NODE_HOLDS_VALUE (node) ? json_node_get_value_type (node)
                                           : G_TYPE_INVALID;
    ratio = t == G_TYPE_DOUBLE || t == G_TYPE_INT64
                ? json_node_get_double (node)
                : -1.0;
  }
  mlp = ratio * (double)width;
  if (!(ratio > 0.0) || mlp != floor (mlp) || mlp > NACLIP_MODEL_MAX_DIM) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_MODEL,
        "%s: model_cfg.%s.mlp_ratio times the width %" G_GINT64_FORMAT
        " is not a whole MLP width",
        cfg->path, section, width);
    return -1;
  }
  return (gint64)mlp;
}

/* Refuses a member of an open_clip section that makes the network other
 * than CLIP's ViT when it is present with a value other than @plain (a
 * JSON value as text: "null", "false", "\"tok\""; NULL: any value is
 * refused). */
static gboolean
open_clip_plain (const NaclipModelConfig *cfg, JsonObject *obj,
    const char *section, const char *key, const char *plain, GError **error)
{
  JsonNode *node = json_object_get_member (obj, key);
  g_autofree char *text = NULL;
  if (node == NULL)
    return TRUE;
  text = json_to_string (node, FALSE);
  if (plain != NULL && g_str_equal (text, plain))
    return TRUE;
  g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_UNSUPPORTED,
      "%s: model_cfg.%s.%s is %s: not a CLIP ViT this library runs (it "
      "supports %s)",
      cfg->path, section, key, text, plain != NULL ? plain : "none");
  return FALSE;
}

/* Translates open_clip's model_cfg (open_clip/model.py: CLIPVisionCfg,
 * CLIPTextCfg and their defaults; heads = width / head_width for the
 * vision tower; QuickGELU when quick_gelu, else exact GELU) into the
 * Hugging Face form the checks read. */
static gboolean
translate_open_clip (
    NaclipModelConfig *cfg, JsonObject *model_cfg, GError **error)
{
  static const char *const vision_plain[][2] = {
    { "ls_init_value", "null" },
    { "attentional_pool", "false" },
    { "no_ln_pre", "false" },
    { "final_ln_after_pool", "false" },
    { "pool_type", "\"tok\"" },
    { "pos_embed_type", "\"learnable\"" },
    { "timm_model_name", "null" },
    { "act_kwargs", "null" },
    { "norm_kwargs", "null" },
  };
  static const char *const text_plain[][2] = {
    { "ls_init_value", "null" },
    { "embed_cls", "false" },
    { "no_causal_mask", "false" },
    { "final_ln_after_pool", "false" },
    { "pool_type", "\"argmax\"" },
    { "proj_bias", "false" },
    { "proj_type", "\"linear\"" },
    { "hf_model_name", "null" },
    { "act_kwargs", "null" },
    { "norm_kwargs", "null" },
  };
  JsonNode *node;
  JsonObject *vcfg, *tcfg;
  gboolean quick_gelu = FALSE;
  gint64 width, head_width, embed_dim, v;

  node = json_object_get_member (model_cfg, "vision_cfg");
  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node)) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
        "%s: no 'model_cfg.vision_cfg' object", cfg->path);
    return FALSE;
  }
  vcfg = json_node_get_object (node);
  node = json_object_get_member (model_cfg, "text_cfg");
  if (node != NULL && !JSON_NODE_HOLDS_OBJECT (node)) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_FORMAT,
        "%s: 'model_cfg.text_cfg' is not an object", cfg->path);
    return FALSE;
  }
  tcfg = node != NULL ? json_node_get_object (node) : NULL;
  node = json_object_get_member (model_cfg, "quick_gelu");
  if (node != NULL) {
    if (!JSON_NODE_HOLDS_VALUE (node)
        || json_node_get_value_type (node) != G_TYPE_BOOLEAN) {
      g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_MODEL,
          "%s: model_cfg.quick_gelu is not true or false", cfg->path);
      return FALSE;
    }
    quick_gelu = json_node_get_boolean (node);
  }
  for (guint i = 0; i < G_N_ELEMENTS (vision_plain); i++) {
    if (!open_clip_plain (cfg, vcfg, "vision_cfg", vision_plain[i][0],
            vision_plain[i][1], error))
      return FALSE;
  }
  for (guint i = 0; tcfg != NULL && i < G_N_ELEMENTS (text_plain); i++) {
    if (!open_clip_plain (
            cfg, tcfg, "text_cfg", text_plain[i][0], text_plain[i][1], error))
      return FALSE;
  }

  cfg->root = json_object_new ();
  cfg->vision = json_object_new ();
  g_ptr_array_add (cfg->owned, cfg->root);
  g_ptr_array_add (cfg->owned, cfg->vision);
  if ((embed_dim = open_clip_int (cfg, model_cfg, NULL, "embed_dim", -2, error))
      == -1)
    return FALSE;
  if (embed_dim == -2) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_MODEL,
        "%s: lacks the required key 'model_cfg.embed_dim'", cfg->path);
    return FALSE;
  }
  json_object_set_int_member (cfg->root, "projection_dim", embed_dim);
  if ((width = open_clip_int (cfg, vcfg, "vision_cfg", "width", 768, error)) < 0
      || (head_width
             = open_clip_int (cfg, vcfg, "vision_cfg", "head_width", 64, error))
             < 0)
    return FALSE;
  if (head_width < 1 || width < 1 || width % head_width != 0) {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_MODEL,
        "%s: model_cfg.vision_cfg.head_width %" G_GINT64_FORMAT
        " does not divide the width %" G_GINT64_FORMAT,
        cfg->path, head_width, width);
    return FALSE;
  }
  json_object_set_int_member (cfg->vision, "hidden_size", width);
  json_object_set_int_member (
      cfg->vision, "num_attention_heads", width / head_width);
  if ((v = open_clip_mlp (cfg, vcfg, "vision_cfg", width, error)) < 0)
    return FALSE;
  json_object_set_int_member (cfg->vision, "intermediate_size", v);
  {
    static const char *const keys[][2] = {
      { "patch_size", "patch_size" },
      { "image_size", "image_size" },
      { "layers", "num_hidden_layers" },
    };
    static const gint64 defaults[] = { 16, 224, 12 };
    for (guint i = 0; i < G_N_ELEMENTS (keys); i++) {
      if ((v = open_clip_int (
               cfg, vcfg, "vision_cfg", keys[i][0], defaults[i], error))
          < 0)
        return FALSE;
      json_object_set_int_member (cfg->vision, keys[i][1], v);
    }
  }
  json_object_set_string_member (
      cfg->vision, "hidden_act", quick_gelu ? "quick_gelu" : "gelu");
  if (tcfg == NULL)
    return TRUE;

  cfg->text = json_object_new ();
  g_ptr_array_add (cfg->owned, cfg->text);
  {
    static const char *const keys[][2] = {
      { "context_length", "max_position_embeddings" },
      { "vocab_size", "vocab_size" },
      { "width", "hidden_size" },
      { "heads", "num_attention_heads" },
      { "layers", "num_hidden_layers" },
    };
    static const gint64 defaults[] = { 77, 49408, 512, 8, 12 };
    for (guint i = 0; i < G_N_ELEMENTS (keys); i++) {
      if ((v = open_clip_int (
               cfg, tcfg, "text_cfg", keys[i][0], defaults[i], error))
          < 0)
        return FALSE;
      json_object_set_int_member (cfg->text, keys[i][1], v);
    }
  }
  if ((v = open_clip_mlp (cfg, tcfg, "text_cfg",
           json_object_get_int_member (cfg->text, "hidden_size"), error))
      < 0)
    return FALSE;
  json_object_set_int_member (cfg->text, "intermediate_size", v);
  json_object_set_string_member (
      cfg->text, "hidden_act", quick_gelu ? "quick_gelu" : "gelu");
  return TRUE;
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
  node = json_object_get_member (cfg->root, "model_cfg");
  if (node != NULL && JSON_NODE_HOLDS_OBJECT (node)
      && !json_object_has_member (cfg->root, "vision_config")) {
    cfg->open_clip = TRUE;
    return translate_open_clip (cfg, json_node_get_object (node), error);
  }
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
  cfg->owned
      = g_ptr_array_new_with_free_func ((GDestroyNotify)json_object_unref);
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
  g_autofree char *full = key_name (cfg, section, key);
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
  g_autofree char *name = key_name (cfg, section, key);
  if (t != NULL) {
    g_autofree char *s = naclip_safetensors_format_shape (t->shape, t->n_dims);
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_MODEL,
        "%s: %s is %u but tensor '%s' has shape %s (implies %u)", cfg->path,
        name, v, fact->source, s, fact->value);
  } else {
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_MODEL,
        "%s: %s is %u but the tensors ('%s*') imply %u", cfg->path, name, v,
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
    g_autofree char *name = key_name (cfg, section, "num_attention_heads");
    g_set_error (error, NACLIP_ERROR, NACLIP_ERROR_MODEL,
        "%s: %s %u does not divide the width %u (tensor '%s')",
        cfg != NULL ? cfg->path : weights_path, name, info->n_heads,
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
          "%s: no '%s' but the checkpoint has a text tower", cfg->path,
          cfg->open_clip ? "model_cfg.text_cfg" : "text_config");
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
