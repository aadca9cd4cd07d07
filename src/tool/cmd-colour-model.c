/* cmd-colour-model.c: "naclip make-colour-model DIR", a checkpoint that
 * knows colour names, built by construction.
 *
 * Copyright (C) 2026 The naclipseg authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * What it is: a tiny CLIP-shaped checkpoint in the Hugging Face layout
 * (model.safetensors in F32, config.json, merges.txt; under 1 MB) whose
 * weights are set by hand, not trained, so that NACLIP run through the
 * unchanged loader, text tower, vision tower, PAMR and element labels
 * regions by their colour names: red, green, blue, yellow, cyan, magenta,
 * orange, purple, pink, brown, white, black, grey and gray. It is for
 * trying the plugin without downloading CLIP, and for tests that check
 * meaning rather than only agreement with the reference.
 *
 * What it is not: CLIP, or a model of anything but colour. It knows the
 * fourteen colour words and no other: any other word embeds orthogonally
 * to every image feature (cosine 0), and a prompt with several colour
 * words means their mix. A patch is described by its mean colour alone
 * (no texture, shape or object), and a colour takes the name of the
 * prototype below whose lift is closest in angle: a convention, not a
 * model of human colour naming. Regions whose boundaries cross a patch
 * get the mean colour there (red next to blue looks purple) until PAMR
 * snaps the labels to the image's edges.
 *
 * Construction. Both towers keep their residual stream as [z, -z] (width
 * 2 * HALF), so that every LayerNorm (weight 1, bias 0) has mean 0 and is
 * exactly z / |z| * sqrt (HALF): a normalisation that keeps directions. A
 * colour is c = RGB / 255 - 0.5 and is represented by the direction of
 * its lift (c, LIFT); the cosine logits are cosines between lifts, equal
 * to 1 only for the same colour.
 *   vision  The patch embedding averages each channel over the patch,
 *           undoing CLIP's normalisation; the positional embedding adds
 *           the offsets of c and the lift constant, the same at every
 *           position, so that its bicubic interpolation to another grid
 *           (with the + 0.1 quirk) leaves it unchanged; the class token is
 *           a direction of its own. Block 0 is an identity (zero attention
 *           output and MLP). In the NACLIP last block (key-key attention
 *           plus the Gaussian bias, no residual, no MLP) the keys are the
 *           normalised lift times a gain, so that a patch attends to
 *           patches of its own colour (another colour loses KEY_SCALE *
 *           (1 - cos) in the logits), and values and output copy the
 *           stream. ln_post and the projection keep c and the lift.
 *   text    A colour word's token embedding is its prototype's (c, LIFT)
 *           plus a word flag; every other token holds an "unknown"
 *           channel; the end token is zero. One causal block with a
 *           constant query and the word flag as key: the end token gathers
 *           the colour words of the prompt (without any, it averages the
 *           prefix into the unknown direction); values and output copy c,
 *           the lift and unknown, residual and MLP add nothing. The
 *           projection keeps c, the lift and unknown: a colour word's
 *           feature is the direction of its prototype's lift, the feature
 *           of a patch of exactly that colour, whatever the template.
 *   merges  Each colour word becomes one token "word</w>" (merges found
 *           with the tokenizer itself: the first two pieces are merged
 *           until the word is one token), then, for every symbol that can
 *           stand to its left inside a longer word (the 256 byte symbols
 *           and the merge results without "</w>"), one merge that
 *           swallows the colour token, so that "embroidered" holds no
 *           "red". The vocabulary is 512 + merges + 2 tokens.
 * Every number is computed in double and stored as F32, in a fixed order:
 * every run writes the same bytes. Files are written atomically.
 */

#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <glib/gstdio.h>

#include "naclip-tool.h"

typedef struct
{
  const char *name;
  guint8 rgb[3]; /* the prototype, sRGB 0..255 */
} Colour;

static const Colour colours[] = {
  { "red", { 255, 0, 0 } },
  { "green", { 0, 255, 0 } },
  { "blue", { 0, 0, 255 } },
  { "yellow", { 255, 255, 0 } },
  { "cyan", { 0, 255, 255 } },
  { "magenta", { 255, 0, 255 } },
  { "orange", { 255, 128, 0 } },
  { "purple", { 128, 0, 128 } },
  { "pink", { 255, 160, 200 } },
  { "brown", { 140, 70, 20 } },
  { "white", { 255, 255, 255 } },
  { "black", { 0, 0, 0 } },
  { "grey", { 128, 128, 128 } },
  { "gray", { 128, 128, 128 } },
};

#define PATCH 16                      /* px */
#define GRID 14                       /* pretrained grid: image size 224 */
#define HALF 8                        /* channels of z */
#define WIDTH (2 * HALF)              /* both towers */
#define EMBED 5                       /* c (3), lift, unknown */
#define CONTEXT NACLIP_CONTEXT_LENGTH /* text positions */

/* Channels of z: the colour, the lift constant, a marker (the class token
 * in the vision tower, the colour-word flag in the text tower), and the
 * unknown-word channel (text). */
enum
{
  CH_R,
  CH_G,
  CH_B,
  CH_LIFT,
  CH_MARK,
  CH_UNKNOWN,
};
/* Embedding dimensions beyond c. */
enum
{
  EMBED_LIFT = 3,
  EMBED_UNKNOWN = 4,
};

/* The constant beside c: smaller gives wider angles between colours
 * (sharper probabilities), larger makes the angle closer to the distance
 * in RGB. */
#define LIFT 0.3
/* Scale of z, so that LayerNorm's epsilon (1e-5) is negligible. */
#define GAIN 10.0
/* Last-block logit between patches of the same colour (cosine 1). */
#define KEY_SCALE 200.0
/* Colour-word flag, relative to c, and the text block's query: the end
 * token's logit for a colour word is about 70, for other tokens 0. */
#define WORD_FLAG 4.0
#define WORD_QUERY 100.0

/* CLIP's normalisation on the 0..255 scale, undone by the patch
 * embedding. */
static const double mean_rgb[3]
    = { NACLIP_MEAN_R, NACLIP_MEAN_G, NACLIP_MEAN_B };
static const double std_rgb[3] = { NACLIP_STD_R, NACLIP_STD_G, NACLIP_STD_B };

/* ------------------------------------------------------------------ */
/* Merges                                                              */

typedef struct
{
  GPtrArray *left, *right, *result; /* symbols of each merge, in rank order */
} Merges;

static void
merges_add (Merges *m, const char *left, const char *right)
{
  g_ptr_array_add (m->left, g_strdup (left));
  g_ptr_array_add (m->right, g_strdup (right));
  g_ptr_array_add (m->result, g_strconcat (left, right, NULL));
}

/* merges.txt: the header line, then one "left right" line per merge. */
static GString *
merges_text (const Merges *m)
{
  GString *s = g_string_new ("#version: 0.2\n");

  for (guint i = 0; i < m->left->len; i++)
    g_string_append_printf (s, "%s %s\n", (const char *)m->left->pdata[i],
        (const char *)m->right->pdata[i]);
  return s;
}

/* The symbol of vocabulary id @id. g_free. */
static char *
symbol_of (const Merges *m, gint32 id)
{
  char s[8];

  if (id >= 512)
    return g_strdup (m->result->pdata[id - 512]);
  naclip_tokenizer_byte_symbol ((guint)id % 256, s);
  return id < 256 ? g_strdup (s) : g_strconcat (s, "</w>", NULL);
}

/* A tokenizer of the merges so far. */
static NaclipTokenizer *
merges_tokenizer (const Merges *m)
{
  g_autoptr (GString) text = merges_text (m);
  g_autoptr (GError) error = NULL;
  NaclipTokenizer *tok
      = naclip_tokenizer_new_from_data ((const guint8 *)text->str, text->len,
          m->left->len, "colour merges", &error);

  g_assert_no_error (error);
  return tok;
}

/* The ids of @text between its start and end tokens, in @ids; their
 * number. */
static guint
encode (NaclipTokenizer *tok, const char *text, gint32 ids[CONTEXT])
{
  gint eot = naclip_tokenizer_encode (tok, text, -1, FALSE, ids, CONTEXT, NULL);

  g_assert (eot >= 1);
  memmove (ids, ids + 1, (gsize)(eot - 1) * sizeof *ids);
  return (guint)eot - 1;
}

/* Builds the merges (see the top of the file) and the token id of each
 * colour word. */
static void
build_merges (Merges *m, gint32 token[G_N_ELEMENTS (colours)])
{
  gint32 ids[CONTEXT];
  guint n_chain;
  NaclipTokenizer *tok;

  for (gsize c = 0; c < G_N_ELEMENTS (colours); c++) {
    for (;;) {
      guint n;
      tok = merges_tokenizer (m);
      n = encode (tok, colours[c].name, ids);
      naclip_tokenizer_free (tok);
      if (n == 1)
        break;
      {
        g_autofree char *a = symbol_of (m, ids[0]);
        g_autofree char *b = symbol_of (m, ids[1]);
        merges_add (m, a, b);
      }
    }
  }
  n_chain = m->left->len;
  tok = merges_tokenizer (m);
  for (gsize c = 0; c < G_N_ELEMENTS (colours); c++) {
    g_autofree char *word = NULL;
    encode (tok, colours[c].name, ids);
    word = symbol_of (m, ids[0]);
    for (guint id = 0; id < 256; id++) {
      g_autofree char *x = symbol_of (m, (gint32)id);
      merges_add (m, x, word);
    }
    for (guint i = 0; i < n_chain; i++) {
      const char *x = m->result->pdata[i];
      if (!g_str_has_suffix (x, "</w>"))
        merges_add (m, x, word);
    }
  }
  naclip_tokenizer_free (tok);

  /* Each word is its own token, which no letter before it leaves intact. */
  tok = merges_tokenizer (m);
  for (gsize c = 0; c < G_N_ELEMENTS (colours); c++) {
    guint n_ids = encode (tok, colours[c].name, ids);
    g_assert (n_ids == 1);
    token[c] = ids[0];
    for (char x = 'a'; x <= 'z'; x++) {
      g_autofree char *longer = g_strdup_printf ("%c%s", x, colours[c].name);
      guint n = encode (tok, longer, ids);
      for (guint i = 0; i < n; i++)
        g_assert (ids[i] != token[c]);
    }
  }
  naclip_tokenizer_free (tok);
}

/* ------------------------------------------------------------------ */
/* Tensors                                                             */

typedef struct
{
  char *name;
  guint n_dims;
  gsize shape[4];
  gsize n;
  float *data; /* zeroed at creation */
} Tensor;

static void
tensor_free (gpointer p)
{
  Tensor *t = p;

  g_free (t->name);
  g_free (t->data);
  g_free (t);
}

/* Appends a zeroed F32 tensor of @n_dims (0..4) dimensions. */
static float *
add_tensor (GPtrArray *list, const char *name, guint n_dims, gsize d0, gsize d1,
    gsize d2, gsize d3)
{
  Tensor *t = g_new0 (Tensor, 1);
  const gsize dims[4] = { d0, d1, d2, d3 };

  t->name = g_strdup (name);
  t->n_dims = n_dims;
  t->n = 1;
  for (guint i = 0; i < n_dims; i++) {
    t->shape[i] = dims[i];
    t->n *= dims[i];
  }
  t->data = g_new0 (float, t->n);
  g_ptr_array_add (list, t);
  return t->data;
}

static float *
add_vector (GPtrArray *list, const char *name, gsize n)
{
  return add_tensor (list, name, 1, n, 0, 0, 0);
}

static float *
add_matrix (GPtrArray *list, const char *name, gsize rows, gsize cols)
{
  return add_tensor (list, name, 2, rows, cols, 0, 0);
}

/* Writes z (HALF values) into the paired row @x (WIDTH values): [z, -z]. */
static void
set_pair (float *x, const double z[HALF])
{
  for (guint i = 0; i < HALF; i++) {
    x[i] = (float)z[i];
    x[HALF + i] = (float)-z[i];
  }
}

/* A LayerNorm of weight 1 and bias 0: on a paired stream, z / |z| *
 * sqrt (HALF). */
static void
add_norm (GPtrArray *list, const char *prefix)
{
  g_autofree char *w = g_strconcat (prefix, ".weight", NULL);
  g_autofree char *b = g_strconcat (prefix, ".bias", NULL);
  float *weight = add_vector (list, w, WIDTH);

  for (guint i = 0; i < WIDTH; i++)
    weight[i] = 1.0f;
  add_vector (list, b, WIDTH);
}

typedef struct
{
  float *q_weight, *q_bias, *k_weight, *v_weight, *out_weight;
} Block;

/* The tensors of layer @layer of @tower ("vision_model", "text_model"),
 * zero but for the LayerNorm weights; @block receives the attention
 * weights to set. With zero attention weights the block is an identity. */
static void
add_block (GPtrArray *list, const char *tower, guint layer, Block *block)
{
  static const char *const linears[] = { "self_attn.q_proj", "self_attn.k_proj",
    "self_attn.v_proj", "self_attn.out_proj", "mlp.fc1", "mlp.fc2" };
  float *weights[G_N_ELEMENTS (linears)], *q_bias = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (linears); i++) {
    g_autofree char *w = g_strdup_printf (
        "%s.encoder.layers.%u.%s.weight", tower, layer, linears[i]);
    g_autofree char *b = g_strdup_printf (
        "%s.encoder.layers.%u.%s.bias", tower, layer, linears[i]);
    float *bias;
    weights[i] = add_matrix (list, w, WIDTH, WIDTH);
    bias = add_vector (list, b, WIDTH);
    if (i == 0)
      q_bias = bias;
  }
  for (guint i = 1; i <= 2; i++) {
    g_autofree char *norm = g_strdup_printf (
        "%s.encoder.layers.%u.layer_norm%u", tower, layer, i);
    add_norm (list, norm);
  }
  block->q_weight = weights[0];
  block->q_bias = q_bias;
  block->k_weight = weights[1];
  block->v_weight = weights[2];
  block->out_weight = weights[3];
}

/* The identity on the paired stream, but for channel pairs @skip (-1:
 * none). */
static void
set_copy (float *w, gint skip)
{
  for (gint i = 0; i < WIDTH; i++) {
    if (i % HALF != skip)
      w[i * WIDTH + i] = 1.0f;
  }
}

static void
add_vision (GPtrArray *list)
{
  const gsize n_pos = GRID * GRID + 1;
  const double key_gain = sqrt (KEY_SCALE * sqrt (WIDTH) / HALF);
  double z[HALF] = { 0 };
  float *patch, *pos, *cls, *proj;
  Block block;

  cls = add_vector (list, "vision_model.embeddings.class_embedding", WIDTH);
  z[CH_MARK] = GAIN;
  set_pair (cls, z);

  patch = add_tensor (list, "vision_model.embeddings.patch_embedding.weight", 4,
      WIDTH, 3, PATCH, PATCH);
  for (guint c = 0; c < 3; c++) {
    /* sum over the patch of (p - mean) / std * std / 255 / P^2 */
    float w = (float)(std_rgb[c] / 255.0 / (PATCH * PATCH) * GAIN);
    for (guint k = 0; k < PATCH * PATCH; k++) {
      patch[(c * 3 + c) * PATCH * PATCH + k] = w;
      patch[((HALF + c) * 3 + c) * PATCH * PATCH + k] = -w;
    }
  }

  pos = add_matrix (
      list, "vision_model.embeddings.position_embedding.weight", n_pos, WIDTH);
  memset (z, 0, sizeof z);
  for (guint c = 0; c < 3; c++)
    z[c] = (mean_rgb[c] / 255.0 - 0.5) * GAIN;
  z[CH_LIFT] = LIFT * GAIN;
  for (gsize p = 1; p < n_pos; p++)
    set_pair (pos + p * WIDTH, z);

  add_norm (list, "vision_model.pre_layrnorm");
  add_block (list, "vision_model", 0, &block);
  add_block (list, "vision_model", 1, &block);
  for (guint i = CH_R; i <= CH_MARK; i++)
    block.k_weight[i * WIDTH + i] = (float)key_gain;
  set_copy (block.v_weight, -1);
  set_copy (block.out_weight, -1);
  add_norm (list, "vision_model.post_layernorm");

  proj = add_matrix (list, "visual_projection.weight", EMBED, WIDTH);
  for (guint e = 0; e <= EMBED_LIFT; e++)
    proj[e * WIDTH + e] = 1.0f;
}

static void
add_text (GPtrArray *list, guint n_vocab, const gint32 *token)
{
  float *emb, *proj;
  double z[HALF] = { 0 };
  Block block;

  emb = add_matrix (
      list, "text_model.embeddings.token_embedding.weight", n_vocab, WIDTH);
  z[CH_UNKNOWN] = GAIN;
  for (guint id = 0; id + 1 < n_vocab; id++)
    set_pair (emb + (gsize)id * WIDTH, z);
  for (gsize c = 0; c < G_N_ELEMENTS (colours); c++) {
    memset (z, 0, sizeof z);
    for (guint k = 0; k < 3; k++)
      z[k] = (colours[c].rgb[k] / 255.0 - 0.5) * GAIN;
    z[CH_LIFT] = LIFT * GAIN;
    z[CH_MARK] = WORD_FLAG * GAIN;
    set_pair (emb + (gsize)token[c] * WIDTH, z);
  }
  add_matrix (
      list, "text_model.embeddings.position_embedding.weight", CONTEXT, WIDTH);

  add_block (list, "text_model", 0, &block);
  block.q_bias[0] = (float)WORD_QUERY;
  block.k_weight[0 * WIDTH + CH_MARK] = 1.0f;
  set_copy (block.v_weight, CH_MARK);
  set_copy (block.out_weight, -1);
  add_norm (list, "text_model.final_layer_norm");

  proj = add_matrix (list, "text_projection.weight", EMBED, WIDTH);
  for (guint e = 0; e <= EMBED_LIFT; e++)
    proj[e * WIDTH + e] = 1.0f;
  proj[EMBED_UNKNOWN * WIDTH + CH_UNKNOWN] = 1.0f;

  /* exp (logit_scale) = 40, the scale NACLIP applies. */
  add_tensor (list, "logit_scale", 0, 0, 0, 0, 0)[0] = (float)log (40.0);
}

/* The safetensors file of @list: header (padded with spaces to a multiple
 * of 8 bytes) and the F32 data, little-endian, in list order. */
static GByteArray *
serialise (const GPtrArray *list)
{
  g_autoptr (GString) header
      = g_string_new ("{\"__metadata__\":{\"format\":\"pt\"}");
  GByteArray *out = g_byte_array_new ();
  gsize offset = 0;
  guint64 len_le;

  for (guint i = 0; i < list->len; i++) {
    const Tensor *t = list->pdata[i];
    g_string_append_printf (
        header, ",\"%s\":{\"dtype\":\"F32\",\"shape\":[", t->name);
    for (guint d = 0; d < t->n_dims; d++)
      g_string_append_printf (
          header, "%s%" G_GSIZE_FORMAT, d > 0 ? "," : "", t->shape[d]);
    g_string_append_printf (header,
        "],\"data_offsets\":[%" G_GSIZE_FORMAT ",%" G_GSIZE_FORMAT "]}", offset,
        offset + t->n * 4);
    offset += t->n * 4;
  }
  g_string_append_c (header, '}');
  while (header->len % 8 != 0)
    g_string_append_c (header, ' ');

  len_le = GUINT64_TO_LE ((guint64)header->len);
  g_byte_array_append (out, (const guint8 *)&len_le, 8);
  g_byte_array_append (out, (const guint8 *)header->str, (guint)header->len);
  for (guint i = 0; i < list->len; i++) {
    const Tensor *t = list->pdata[i];
    for (gsize k = 0; k < t->n; k++) {
      guint32 bits;
      memcpy (&bits, &t->data[k], 4);
      bits = GUINT32_TO_LE (bits);
      g_byte_array_append (out, (const guint8 *)&bits, 4);
    }
  }
  return out;
}

/* config.json in the Hugging Face CLIPConfig form. */
static GString *
config_text (guint n_vocab)
{
  GString *s = g_string_new (NULL);

  g_string_append_printf (s,
      "{\n"
      "  \"architectures\": [\"CLIPModel\"],\n"
      "  \"model_type\": \"clip\",\n"
      "  \"projection_dim\": %d,\n"
      "  \"torch_dtype\": \"float32\",\n"
      "  \"text_config\": {\n"
      "    \"model_type\": \"clip_text_model\",\n"
      "    \"hidden_size\": %d,\n"
      "    \"intermediate_size\": %d,\n"
      "    \"num_attention_heads\": 1,\n"
      "    \"num_hidden_layers\": 1,\n"
      "    \"max_position_embeddings\": %d,\n"
      "    \"vocab_size\": %u,\n"
      "    \"hidden_act\": \"quick_gelu\",\n"
      "    \"layer_norm_eps\": 1e-05,\n"
      "    \"projection_dim\": %d,\n"
      "    \"bos_token_id\": 0,\n"
      "    \"eos_token_id\": 2,\n"
      "    \"pad_token_id\": 1\n"
      "  },\n"
      "  \"vision_config\": {\n"
      "    \"model_type\": \"clip_vision_model\",\n"
      "    \"hidden_size\": %d,\n"
      "    \"intermediate_size\": %d,\n"
      "    \"num_attention_heads\": 1,\n"
      "    \"num_hidden_layers\": 2,\n"
      "    \"image_size\": %d,\n"
      "    \"patch_size\": %d,\n"
      "    \"num_channels\": 3,\n"
      "    \"hidden_act\": \"quick_gelu\",\n"
      "    \"layer_norm_eps\": 1e-05,\n"
      "    \"projection_dim\": %d\n"
      "  }\n"
      "}\n",
      EMBED, WIDTH, WIDTH, CONTEXT, n_vocab, EMBED, WIDTH, WIDTH, GRID * PATCH,
      PATCH, EMBED);
  return s;
}

/* Writes @data to @dir/@name atomically (a temporary file renamed). */
static gboolean
write_file (const char *dir, const char *name, const void *data, gsize len,
    GError **error)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  GError *local = NULL;

  if (!g_file_set_contents_full (path, data, (gssize)len,
          G_FILE_SET_CONTENTS_CONSISTENT, 0644, &local)) {
    g_set_error (
        error, NACLIP_ERROR, NACLIP_ERROR_IO, "%s: %s", path, local->message);
    g_error_free (local);
    return FALSE;
  }
  printf ("wrote %s (%" G_GSIZE_FORMAT " bytes)\n", path, len);
  return TRUE;
}

int
naclip_cmd_make_colour_model (int argc, char **argv)
{
  g_auto (GStrv) args = NULL;
  GOptionEntry entries[] = {
    { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &args, NULL,
        "DIR" },
    { NULL, 0, 0, 0, NULL, NULL, NULL },
  };
  g_autoptr (GOptionContext) octx = g_option_context_new (NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) tensors = g_ptr_array_new_with_free_func (tensor_free);
  g_autoptr (GString) merges = NULL;
  g_autoptr (GString) config = NULL;
  g_autoptr (GByteArray) weights = NULL;
  gint32 token[G_N_ELEMENTS (colours)];
  Merges m;
  guint n_vocab;

  g_option_context_set_summary (octx,
      "Writes DIR/model.safetensors, config.json and merges.txt: a small\n"
      "model built by construction that labels regions by colour names\n"
      "(red, green, blue, yellow, cyan, magenta, orange, purple, pink, brown,\n"
      "white, black, grey, gray) and knows no other word. It is not CLIP;\n"
      "it is for trying the plugin offline and for tests.");
  g_option_context_add_main_entries (octx, entries, NULL);
  if (!g_option_context_parse (octx, &argc, &argv, &error)) {
    fprintf (stderr, "naclip make-colour-model: %s\n", error->message);
    return 2;
  }
  if (args == NULL || args[0] == NULL || args[1] != NULL) {
    fprintf (stderr, "naclip make-colour-model: expected one DIR (see "
                     "--help)\n");
    return 2;
  }
  if (g_mkdir_with_parents (args[0], 0755) != 0) {
    int errsv = errno;
    fprintf (stderr,
        "naclip make-colour-model: %s: cannot create the "
        "directory: %s\n",
        args[0], g_strerror (errsv));
    return 1;
  }

  m.left = g_ptr_array_new_with_free_func (g_free);
  m.right = g_ptr_array_new_with_free_func (g_free);
  m.result = g_ptr_array_new_with_free_func (g_free);
  build_merges (&m, token);
  n_vocab = NACLIP_VOCAB_BASE + m.left->len;
  merges = merges_text (&m);
  g_ptr_array_unref (m.left);
  g_ptr_array_unref (m.right);
  g_ptr_array_unref (m.result);

  add_vision (tensors);
  add_text (tensors, n_vocab, token);
  weights = serialise (tensors);
  config = config_text (n_vocab);

  if (!write_file (args[0], "merges.txt", merges->str, merges->len, &error)
      || !write_file (args[0], "config.json", config->str, config->len, &error)
      || !write_file (
          args[0], "model.safetensors", weights->data, weights->len, &error)) {
    fprintf (stderr, "naclip make-colour-model: %s\n", error->message);
    return 1;
  }
  return 0;
}
