/* test-model.c: loading good checkpoints in both key layouts and all three
 * stored dtypes, with the right architecture and the right values.
 *
 * tests/fixtures/make_checkpoint.py writes seeded random checkpoints that
 * hold the same weights in the HF and OpenAI layouts. A Python snippet
 * reads the HF F32 file and dumps chosen tensors in the canonical form the
 * loader must produce (linear weights [out, in], projections [E, D], q/k/v
 * split), rounded to each stored dtype; every load is compared with them
 * bit for bit. The full-size ViT-B/16-shaped checkpoint (about 600 MB) is
 * generated once in the build directory and loaded with and without the
 * NaN/Inf scan; the times are printed (meson option full-size-tests).
 */

#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include "naclip-private.h"
#include "pyhelper.h"

static char *root;

static const char setup_script[]
    = "import os, sys, json, shutil, struct\n"
      "sys.path.insert(0, '%s/tests/fixtures')\n"
      "import numpy as np\n"
      "import make_checkpoint as mc, safetensors_io as sio\n"
      "P = mc.PRESETS\n"
      "for layout in ('hf', 'openai'):\n"
      "    for dt in ('F32', 'F16', 'BF16'):\n"
      "        mc.ensure(f'tiny-{layout}-{dt}', P['tiny'], layout, dt, 3)\n"
      "mc.ensure('tiny128-noconfig', P['tiny128'], 'openai', 'F32', 4,\n"
      "          with_config=False)\n"
      "mc.ensure('tiny-gelu', dict(P['tiny'], act='gelu'), 'hf', 'F32', 5)\n"
      "mc.ensure('tiny-open-clip', dict(P['tiny'], act='gelu'), 'open_clip',\n"
      "          'F32', 5)\n"
      "mc.ensure('tiny-vocab1000', dict(P['tiny'], vocab=1000), 'hf', 'F32',\n"
      "          7)\n"
      "mc.ensure('tiny-vision', dict(P['tiny'], with_text=False, "
      "vision_heads=1,\n"
      "          text_heads=1), 'openai',\n"
      "          'F32', 6, with_config=False)\n"
      "os.makedirs('openai-gz', exist_ok=True)\n"
      "shutil.copy('tiny-openai-F32/model.safetensors', 'openai-gz/')\n"
      "shutil.copy(os.path.join(mc.shared_dir(), 'clip',\n"
      "            'bpe_simple_vocab_16e6.txt.gz'), 'openai-gz/')\n"
      "os.makedirs('lone', exist_ok=True)\n"
      "shutil.copy('tiny-vision/model.safetensors', "
      "'lone/vision.safetensors')\n"
      "t = sio.read('tiny-hf-F32/model.safetensors')\n"
      /* The same model with a header of length 2 mod 8: F32 data at an
       * address that is not a multiple of 4 (A27). */
      "os.makedirs('misaligned', exist_ok=True)\n"
      "head, _ = sio._header(list(t.items()), 'F32', None, False)\n"
      "text = head[8:] + b' ' * ((2 - len(head[8:])) %% 8)\n"
      "with open('misaligned/model.safetensors', 'wb') as f:\n"
      "    f.write(struct.pack('<Q', len(text)) + text)\n"
      "    for a in t.values(): f.write(np.ascontiguousarray(a).tobytes())\n"
      "for name in ('config.json', 'merges.txt'):\n"
      "    shutil.copy('tiny-hf-F32/' + name, 'misaligned/' + name)\n"
      "V = 'vision_model.encoder.layers.'\n"
      "T = 'text_model.encoder.layers.'\n"
      "want = {\n"
      " 'v_patch': 'vision_model.embeddings.patch_embedding.weight',\n"
      " 'v_class': 'vision_model.embeddings.class_embedding',\n"
      " 'v_pos': 'vision_model.embeddings.position_embedding.weight',\n"
      " 'v_ln_pre_b': 'vision_model.pre_layrnorm.bias',\n"
      " 'v_q1': V + '1.self_attn.q_proj.weight',\n"
      " 'v_k0b': V + '0.self_attn.k_proj.bias',\n"
      " 'v_v1': V + '1.self_attn.v_proj.weight',\n"
      " 'v_v1b': V + '1.self_attn.v_proj.bias',\n"
      " 'v_out0': V + '0.self_attn.out_proj.weight',\n"
      " 'v_ln1_1w': V + '1.layer_norm1.weight',\n"
      " 'v_ln2_0b': V + '0.layer_norm2.bias',\n"
      " 'v_fc1_1': V + '1.mlp.fc1.weight',\n"
      " 'v_fc2_0b': V + '0.mlp.fc2.bias',\n"
      " 'v_ln_post_w': 'vision_model.post_layernorm.weight',\n"
      " 'v_proj': 'visual_projection.weight',\n"
      " 't_tok': 'text_model.embeddings.token_embedding.weight',\n"
      " 't_pos': 'text_model.embeddings.position_embedding.weight',\n"
      " 't_q0': T + '0.self_attn.q_proj.weight',\n"
      " 't_k1b': T + '1.self_attn.k_proj.bias',\n"
      " 't_v1': T + '1.self_attn.v_proj.weight',\n"
      " 't_fc2_1': T + '1.mlp.fc2.weight',\n"
      " 't_ln_final_b': 'text_model.final_layer_norm.bias',\n"
      " 't_proj': 'text_projection.weight',\n"
      "}\n"
      "def rounded(a, dt):\n"
      "    if dt == 'F16': return a.astype(np.float16).astype(np.float32)\n"
      "    if dt == 'BF16': return sio.from_bf16_bytes(sio.to_bf16_bytes(a),\n"
      "                                               a.shape)\n"
      "    return a\n"
      "for dt in ('F32', 'F16', 'BF16'):\n"
      "    os.makedirs('want-' + dt, exist_ok=True)\n"
      "    for short, key in want.items():\n"
      "        np.save(f'want-{dt}/{short}.npy', rounded(t[key], dt))\n";

static void
setup (void)
{
  g_autofree char *script = NULL;

  root = pyhelper_scratch_dir ("model");
  script = g_strdup_printf (setup_script, NACLIP_SOURCE_ROOT);
  pyhelper_run (root, script);
}

static NaclipModel *
load (const char *rel, gboolean check_weights)
{
  g_autofree char *path = g_build_filename (root, rel, NULL);
  GError *error = NULL;
  NaclipModel *model = naclip_model_load (path, check_weights, &error);

  if (model == NULL)
    g_error ("%s: %s", path, error->message);
  return model;
}

/* The tensor the loader bound for canonical name @name, and its size. */
static const float *
bound_tensor (const NaclipModel *m, const char *name, gsize *n)
{
  const NaclipVisionTower *v = &m->vision;
  const NaclipTextTower *t = &m->text;
  gsize dv = v->info.width, mv = v->info.mlp_width;
  gsize dt = t->info.width, mt = t->info.mlp_width;
  gsize e = m->info.embed_dim, p = v->patch_size, g = v->grid_size;

  struct
  {
    const char *name;
    const float *data;
    gsize n;
  } table[] = {
    { "v_patch", v->patch_weight, dv * 3 * p * p },
    { "v_class", v->class_embedding, dv },
    { "v_pos", v->position_embedding, (g * g + 1) * dv },
    { "v_ln_pre_b", v->ln_pre.bias, dv },
    { "v_q1", v->blocks[1].q.weight, dv * dv },
    { "v_k0b", v->blocks[0].k.bias, dv },
    { "v_v1", v->blocks[1].v.weight, dv * dv },
    { "v_v1b", v->blocks[1].v.bias, dv },
    { "v_out0", v->blocks[0].out.weight, dv * dv },
    { "v_ln1_1w", v->blocks[1].ln_1.weight, dv },
    { "v_ln2_0b", v->blocks[0].ln_2.bias, dv },
    { "v_fc1_1", v->blocks[1].fc1.weight, mv * dv },
    { "v_fc2_0b", v->blocks[0].fc2.bias, dv },
    { "v_ln_post_w", v->ln_post.weight, dv },
    { "v_proj", v->proj.weight, e * dv },
    { "t_tok", t->token_embedding, (gsize)t->vocab_size * dt },
    { "t_pos", t->position_embedding, (gsize)t->context_length * dt },
    { "t_q0", t->blocks[0].q.weight, dt * dt },
    { "t_k1b", t->blocks[1].k.bias, dt },
    { "t_v1", t->blocks[1].v.weight, dt * dt },
    { "t_fc2_1", t->blocks[1].fc2.weight, dt * mt },
    { "t_ln_final_b", t->ln_final.bias, dt },
    { "t_proj", t->proj.weight, e * dt },
  };

  for (guint i = 0; i < G_N_ELEMENTS (table); i++) {
    if (strcmp (table[i].name, name) == 0) {
      *n = table[i].n;
      return table[i].data;
    }
  }
  g_error ("no tensor %s", name);
}

/* Compares the bound weights of @m with the dumps of @dtype, exactly. */
static void
check_values (const NaclipModel *m, const char *dtype)
{
  static const char *const names[] = { "v_patch", "v_class", "v_pos",
    "v_ln_pre_b", "v_q1", "v_k0b", "v_v1", "v_v1b", "v_out0", "v_ln1_1w",
    "v_ln2_0b", "v_fc1_1", "v_fc2_0b", "v_ln_post_w", "v_proj", "t_tok",
    "t_pos", "t_q0", "t_k1b", "t_v1", "t_fc2_1", "t_ln_final_b", "t_proj" };
  g_autofree char *dir = g_strdup_printf ("%s/want-%s", root, dtype);

  for (guint i = 0; i < G_N_ELEMENTS (names); i++) {
    g_autofree char *file = g_strconcat (names[i], ".npy", NULL);
    g_autofree char *what = g_strdup_printf ("%s (%s)", names[i], dtype);
    gsize n = 0;
    const float *got = bound_tensor (m, names[i], &n);
    g_autofree float *want = pyhelper_read (dir, file, n);

    g_assert_nonnull (got);
    g_assert_cmpuint ((guintptr)got % sizeof (float), ==, 0);
    pyhelper_assert_close (what, got, want, n, 0.0, 0.0);
  }
}

/* Parameters of a tower of @n_layers blocks of width @d and MLP @mlp. */
static guint64
block_params (guint64 n_layers, guint64 d, guint64 mlp)
{
  return n_layers * (4 * (d * d + d) + 4 * d + 2 * mlp * d + mlp + d);
}

/* Checks the info of a "tiny" preset model (make_checkpoint.PRESETS). */
static void
check_tiny_info (
    const NaclipModelInfo *info, NaclipKeyLayout layout, NaclipDtype dtype)
{
  guint64 vision = 64 * 3 * 16 * 16 + 64 + 17 * 64 + 2 * 64
                   + block_params (2, 64, 256) + 2 * 64 + 32 * 64;
  guint64 text
      = 49408 * 64 + 77 * 64 + block_params (2, 64, 256) + 2 * 64 + 32 * 64;
  /* HF files also hold the position_ids buffers (17 + 77 int64). */
  guint64 extra = layout == NACLIP_KEY_LAYOUT_HF ? 17 + 77 : 0;

  g_assert_cmpint (info->key_layout, ==, layout);
  g_assert_cmpint (info->dtype, ==, dtype);
  g_assert_cmpuint (info->embed_dim, ==, 32);
  g_assert_cmpuint (info->vision.width, ==, 64);
  g_assert_cmpuint (info->vision.n_layers, ==, 2);
  g_assert_cmpuint (info->vision.n_heads, ==, 2);
  g_assert_cmpuint (info->vision.mlp_width, ==, 256);
  g_assert_cmpint (info->vision.activation, ==, NACLIP_ACTIVATION_QUICK_GELU);
  g_assert_cmpfloat (info->vision.layer_norm_eps, ==, 1e-5f);
  g_assert_cmpuint (info->patch_size, ==, 16);
  g_assert_cmpuint (info->image_size, ==, 64);
  g_assert_cmpuint (info->grid_size, ==, 4);
  g_assert_true (info->has_text);
  g_assert_cmpuint (info->text.width, ==, 64);
  g_assert_cmpuint (info->text.n_layers, ==, 2);
  g_assert_cmpuint (info->text.n_heads, ==, 2);
  g_assert_cmpuint (info->text.mlp_width, ==, 256);
  g_assert_cmpuint (info->context_length, ==, 77);
  g_assert_cmpuint (info->vocab_size, ==, 49408);
  /* log(100) rounded to F16 or BF16 moves exp() of it by up to 1.2. */
  g_assert_cmpfloat_with_epsilon (
      info->logit_scale, 100.0f, dtype == NACLIP_DTYPE_F32 ? 1e-3f : 1.5f);
  g_assert_cmpuint (info->vision.n_params, ==, vision);
  g_assert_cmpuint (info->text.n_params, ==, text);
  g_assert_cmpuint (info->n_params, ==, vision + text + 1 + extra);
}

static void
test_tiny (gconstpointer data)
{
  const char *name = data;
  g_autoptr (NaclipModel) model = load (name, TRUE);
  const NaclipModelInfo *info = naclip_model_get_info (model);
  NaclipDtype dtype = g_str_has_suffix (name, "BF16")
                          ? NACLIP_DTYPE_BF16
                          : (g_str_has_suffix (name, "F16") ? NACLIP_DTYPE_F16
                                                            : NACLIP_DTYPE_F32);

  check_tiny_info (info,
      strstr (name, "openai") != NULL ? NACLIP_KEY_LAYOUT_OPENAI
                                      : NACLIP_KEY_LAYOUT_HF,
      dtype);
  g_assert_nonnull (model->tokenizer);
  check_values (model, strrchr (name, '-') + 1);
  /* The OpenAI in_proj is not copied: q, k, v are its row blocks. */
  if (strstr (name, "openai") != NULL) {
    const NaclipBlock *b = &model->vision.blocks[0];
    g_assert_true (b->k.weight == b->q.weight + 64 * 64);
    g_assert_true (b->v.bias == b->q.bias + 2 * 64);
  }
  /* F32 weights are used in place from the mapping. */
  if (dtype == NACLIP_DTYPE_F32) {
    const char *map = g_mapped_file_get_contents (model->mapping);
    const char *w = (const char *)model->vision.blocks[1].fc1.weight;
    g_assert_true (
        w > map && w < map + g_mapped_file_get_length (model->mapping));
  }
}

static void
test_misaligned (void)
{
  g_autoptr (NaclipModel) model = load ("misaligned", TRUE);

  g_assert_cmpuint ((guintptr)model->st->data % 4, !=, 0);
  check_tiny_info (
      naclip_model_get_info (model), NACLIP_KEY_LAYOUT_HF, NACLIP_DTYPE_F32);
  check_values (model, "F32");
}

/* Without config.json: heads = width / 64, quick_gelu, eps 1e-5. */
static void
test_no_config (void)
{
  g_autoptr (NaclipModel) model = load ("tiny128-noconfig", TRUE);
  const NaclipModelInfo *info = naclip_model_get_info (model);

  g_assert_cmpint (info->key_layout, ==, NACLIP_KEY_LAYOUT_OPENAI);
  g_assert_cmpuint (info->vision.width, ==, 128);
  g_assert_cmpuint (info->vision.n_heads, ==, 2);
  g_assert_cmpuint (info->text.n_heads, ==, 2);
  g_assert_cmpuint (info->image_size, ==, 96);
  g_assert_cmpuint (info->grid_size, ==, 6);
  g_assert_cmpuint (info->embed_dim, ==, 64);
  g_assert_cmpint (info->vision.activation, ==, NACLIP_ACTIVATION_QUICK_GELU);
  g_assert_cmpint (info->text.activation, ==, NACLIP_ACTIVATION_QUICK_GELU);
  g_assert_cmpfloat (info->text.layer_norm_eps, ==, 1e-5f);
}

static void
test_gelu (void)
{
  g_autoptr (NaclipModel) model = load ("tiny-gelu", TRUE);
  const NaclipModelInfo *info = naclip_model_get_info (model);

  g_assert_cmpint (info->vision.activation, ==, NACLIP_ACTIVATION_GELU);
  g_assert_cmpint (info->text.activation, ==, NACLIP_ACTIVATION_GELU);
}

/* open_clip's files: open_clip_model.safetensors (OpenAI keys) with
 * open_clip_config.json, whose head_width (32 here, not CLIP's 64) gives
 * the vision heads and whose quick_gelu (false) the activation. */
static void
test_open_clip (void)
{
  g_autoptr (NaclipModel) model = load ("tiny-open-clip", TRUE);
  const NaclipModelInfo *info = naclip_model_get_info (model);

  g_assert_true (g_str_has_suffix (
      model->weights_path, G_DIR_SEPARATOR_S "open_clip_model.safetensors"));
  g_assert_cmpint (info->key_layout, ==, NACLIP_KEY_LAYOUT_OPENAI);
  g_assert_cmpuint (info->vision.n_heads, ==, 2);
  g_assert_cmpuint (info->text.n_heads, ==, 2);
  g_assert_cmpuint (info->vision.mlp_width, ==, 256);
  g_assert_cmpint (info->vision.activation, ==, NACLIP_ACTIVATION_GELU);
  g_assert_cmpint (info->text.activation, ==, NACLIP_ACTIVATION_GELU);
  g_assert_cmpfloat (info->vision.layer_norm_eps, ==, 1e-5f);
}

/* A checkpoint without text tensors is a vision-only model, which needs no
 * merges.txt: here a lone file in a directory without one. */
static void
test_vision_only (void)
{
  g_autoptr (NaclipModel) model = load ("lone/vision.safetensors", TRUE);
  const NaclipModelInfo *info = naclip_model_get_info (model);

  g_assert_false (info->has_text);
  g_assert_null (model->tokenizer);
  g_assert_cmpuint (info->text.width, ==, 0);
  g_assert_cmpuint (info->vocab_size, ==, 0);
  g_assert_cmpfloat (info->logit_scale, ==, 0.0f);
  g_assert_cmpuint (info->vision.n_layers, ==, 2);
  g_assert_cmpuint (info->vision.n_heads, ==, 1);
  g_assert_cmpuint (info->n_params, ==, info->vision.n_params);
}

/* Without merges.txt, OpenAI's bpe_simple_vocab_16e6.txt.gz beside the
 * weights is used (and there is no config.json: heads from widths). */
static void
test_openai_gz (void)
{
  g_autoptr (NaclipModel) model = load ("openai-gz/model.safetensors", TRUE);
  g_autoptr (GError) error = NULL;
  gint32 ids[NACLIP_CONTEXT_LENGTH];

  g_assert_nonnull (model->tokenizer);
  g_assert_cmpint (naclip_tokenizer_encode (model->tokenizer, "a photo", -1,
                       FALSE, ids, NACLIP_CONTEXT_LENGTH, &error),
      ==, 3);
  g_assert_no_error (error);
  g_assert_cmpint (ids[0], ==, NACLIP_TOKEN_SOT);
  g_assert_cmpint (ids[3], ==, NACLIP_TOKEN_EOT);
  g_assert_cmpuint (model->info.text.n_heads, ==, 1);
}

/* The token-embedding rows give the vocabulary: 1000 rows read the first
 * 486 of CLIP's merges (the rest of the file is ignored) and put the start
 * and end of text at 998 and 999. */
static void
test_small_vocabulary (void)
{
  g_autoptr (NaclipModel) model = load ("tiny-vocab1000", TRUE);
  g_autoptr (GError) error = NULL;
  gint32 ids[NACLIP_CONTEXT_LENGTH];
  gint eot;

  g_assert_cmpuint (model->info.vocab_size, ==, 1000);
  eot = naclip_tokenizer_encode (model->tokenizer, "a photograph of cats", -1,
      FALSE, ids, NACLIP_CONTEXT_LENGTH, &error);
  g_assert_no_error (error);
  g_assert_cmpint (eot, >, 4);
  g_assert_cmpint (ids[0], ==, 998);
  g_assert_cmpint (ids[eot], ==, 999);
  for (gint i = 1; i < eot; i++)
    g_assert_cmpint (ids[i], <, 998);
}

/* A .safetensors path uses the config.json and merges.txt beside it. */
static void
test_file_path (void)
{
  g_autofree char *path
      = g_build_filename (root, "tiny-hf-F16", "model.safetensors", NULL);
  GError *error = NULL;
  NaclipModel *model = naclip_model_load (path, FALSE, &error);

  g_assert_no_error (error);
  g_assert_cmpstr (naclip_model_get_path (model), ==, path);
  g_assert_true (g_str_has_suffix (model->weights_path, "model.safetensors"));
  g_assert_nonnull (model->tokenizer);
  check_tiny_info (
      naclip_model_get_info (model), NACLIP_KEY_LAYOUT_HF, NACLIP_DTYPE_F16);
  g_assert_true (naclip_model_ref (model) == model);
  naclip_model_unref (model);
  g_assert_cmpuint (model->info.vision.width, ==, 64);
  naclip_model_unref (model);
  naclip_model_unref (NULL);
}

/* Runs "naclip info ARGS..." from the build; returns its exit status. */
static int
run_info (const char *arg, char **out, char **err)
{
  g_autofree char *tool = g_build_filename (
      g_getenv ("NACLIP_BUILD_ROOT"), "src", "tool", "naclip", NULL);
  g_autofree char *path = g_build_filename (root, arg, NULL);
  const char *argv[] = { tool, "info", path, NULL };
  GError *error = NULL;
  int status = 0;

  if (!g_spawn_sync (NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL,
          out, err, &status, &error))
    g_error ("cannot run %s: %s", tool, error->message);
  return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

static void
expect_lines (const char *out, const char *const *lines)
{
  for (guint i = 0; lines[i] != NULL; i++) {
    g_autofree char *line = g_strconcat ("\n", lines[i], "\n", NULL);
    g_autofree char *padded = g_strconcat ("\n", out, NULL);
    if (strstr (padded, line) == NULL)
      g_error ("naclip info printed no line \"%s\":\n%s", lines[i], out);
  }
}

/* naclip info describes both layouts, one fact per line. */
static void
test_tool_info (void)
{
  static const char *const common[] = { "embed dim: 32", "towers: vision, text",
    "vision width: 64", "vision layers: 2", "vision heads: 2",
    "vision head dim: 32", "vision mlp width: 256",
    "vision activation: quick_gelu", "patch size: 16", "image size: 64",
    "pretrained grid: 4x4", "text width: 64", "text layers: 2", "text heads: 2",
    "text mlp width: 256", "context length: 77", "vocab size: 49408",
    "logit scale: 100", NULL };
  static const char *const hf[]
      = { "key layout: hf", "stored dtype: F32", "parameters: 3421855",
          "vision parameters: 152576", "text parameters: 3269184", NULL };
  static const char *const openai[] = { "key layout: openai",
    "stored dtype: BF16", "parameters: 3421761", NULL };
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;

  if (g_getenv ("NACLIP_BUILD_ROOT") == NULL) {
    g_test_skip ("NACLIP_BUILD_ROOT is not set");
    return;
  }
  g_assert_cmpint (run_info ("tiny-hf-F32", &out, &err), ==, 0);
  expect_lines (out, common);
  expect_lines (out, hf);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_info ("tiny-openai-BF16", &out, &err), ==, 0);
  expect_lines (out, openai);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_info ("tiny-vision", &out, &err), ==, 0);
  g_assert_nonnull (strstr (out, "towers: vision\n"));
  g_assert_null (strstr (out, "text width"));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_info ("no-such-model", &out, &err), ==, 1);
  g_assert_nonnull (strstr (err, "naclip info: "));
  g_assert_nonnull (strstr (err, "no-such-model"));
  g_assert_cmpstr (out, ==, "");
}

/* The ViT-B/16-shaped random checkpoint: architecture and load times. */
static void
test_full_size (void)
{
  const char *opt = g_getenv ("NACLIP_FULL_SIZE_TESTS");
  const char *build = g_getenv ("NACLIP_BUILD_ROOT");
  g_autofree char *dir = NULL;
  g_autofree char *script = NULL;
  const NaclipModelInfo *info;
  gint64 start;
  double t_check, t_nocheck;
  NaclipModel *model;
  GError *error = NULL;

  if (g_strcmp0 (opt, "1") != 0 || build == NULL) {
    g_test_skip ("full-size tests are off (meson option full-size-tests)");
    return;
  }
  dir = g_build_filename (build, "tests", "checkpoints", NULL);
  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  script = g_strdup_printf ("import sys; sys.path.insert(0, "
                            "'%s/tests/fixtures')\n"
                            "import make_checkpoint as mc\n"
                            "mc.ensure('b16-hf-F32', mc.PRESETS['b16'], 'hf', "
                            "'F32', 0)\n",
      NACLIP_SOURCE_ROOT);
  start = g_get_monotonic_time ();
  pyhelper_run (dir, script);
  g_test_message ("b16 checkpoint ready in %.1f s",
      (g_get_monotonic_time () - start) / 1e6);
  g_free (dir);
  dir = g_build_filename (build, "tests", "checkpoints", "b16-hf-F32", NULL);

  start = g_get_monotonic_time ();
  model = naclip_model_load (dir, FALSE, &error);
  t_nocheck = (g_get_monotonic_time () - start) / 1e6;
  g_assert_no_error (error);
  naclip_model_unref (model);
  start = g_get_monotonic_time ();
  model = naclip_model_load (dir, TRUE, &error);
  t_check = (g_get_monotonic_time () - start) / 1e6;
  g_assert_no_error (error);
  g_test_message ("b16 F32 load: %.3f s without the NaN/Inf scan, %.3f s "
                  "with it (page cache warm)",
      t_nocheck, t_check);

  info = naclip_model_get_info (model);
  g_assert_cmpuint (info->vision.width, ==, 768);
  g_assert_cmpuint (info->vision.n_layers, ==, 12);
  g_assert_cmpuint (info->vision.n_heads, ==, 12);
  g_assert_cmpuint (info->vision.mlp_width, ==, 3072);
  g_assert_cmpuint (info->patch_size, ==, 16);
  g_assert_cmpuint (info->image_size, ==, 224);
  g_assert_cmpuint (info->grid_size, ==, 14);
  g_assert_cmpuint (info->embed_dim, ==, 512);
  g_assert_cmpuint (info->text.width, ==, 512);
  g_assert_cmpuint (info->text.n_layers, ==, 12);
  g_assert_cmpuint (info->text.n_heads, ==, 8);
  g_assert_cmpuint (info->text.mlp_width, ==, 2048);
  /* openai/clip-vit-base-patch16 has 149,620,737 parameters. */
  g_assert_cmpuint (
      info->vision.n_params + info->text.n_params + 1, ==, 149620737);
  naclip_model_unref (model);
}

/* A31: the weights are mapped, so a model file truncated while it is
 * loaded is not supported: reading a weight then raises SIGBUS. This runs
 * in a subprocess and checks that documented behaviour. */
static void
test_truncated_after_load (void)
{
  if (g_test_subprocess ()) {
    g_autofree char *dir = g_build_filename (root, "truncated", NULL);
    g_autofree char *src
        = g_build_filename (root, "tiny-vision", "model.safetensors", NULL);
    g_autofree char *dst = g_build_filename (dir, "model.safetensors", NULL);
    g_autofree char *contents = NULL;
    gsize len = 0;
    volatile float sum = 0.0f;
    NaclipModel *model;
    const NaclipLinear *fc1;

    g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
    g_assert_true (g_file_get_contents (src, &contents, &len, NULL));
    g_assert_true (g_file_set_contents (dst, contents, len, NULL));
    model = naclip_model_load (dst, FALSE, NULL);
    g_assert_nonnull (model);
    g_assert_cmpint (truncate (dst, 0), ==, 0);
    fc1 = &model->vision.blocks[1].fc1;
    printf ("reading weights\n");
    fflush (stdout);
    for (guint i = 0; i < fc1->n_out * fc1->n_in; i++)
      sum += fc1->weight[i];
    printf ("survived, sum %g\n", (double)sum);
    naclip_model_unref (model);
    return;
  }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  /* Killed (by SIGBUS) while reading, after a successful load. */
  g_test_trap_assert_failed ();
  g_test_trap_assert_stdout ("*reading weights*");
  g_test_trap_assert_stdout_unmatched ("*survived*");
  g_test_trap_assert_stderr_unmatched ("*assert*");
}

/* The real openai/clip-vit-base-patch16, if NACLIP_TEST_MODEL names it. */
static void
test_real_model (void)
{
  const char *path = g_getenv ("NACLIP_TEST_MODEL");
  const NaclipModelInfo *info;
  GError *error = NULL;
  NaclipModel *model;

  if (path == NULL) {
    g_test_skip ("NACLIP_TEST_MODEL is not set");
    return;
  }
  model = naclip_model_load (path, TRUE, &error);
  g_assert_no_error (error);
  info = naclip_model_get_info (model);
  g_assert_true (info->has_text);
  g_assert_cmpuint (info->vision.width, ==, 768);
  g_assert_cmpuint (info->vision.n_layers, ==, 12);
  g_assert_cmpuint (info->vision.n_heads, ==, 12);
  g_assert_cmpuint (info->patch_size, ==, 16);
  g_assert_cmpuint (info->image_size, ==, 224);
  g_assert_cmpuint (info->embed_dim, ==, 512);
  g_assert_cmpuint (info->text.width, ==, 512);
  g_assert_cmpuint (info->context_length, ==, 77);
  g_assert_cmpuint (info->vocab_size, ==, 49408);
  g_assert_cmpint (info->vision.activation, ==, NACLIP_ACTIVATION_QUICK_GELU);
  /* CLIP's trained temperature is clamped at 100. */
  g_assert_cmpfloat_with_epsilon (info->logit_scale, 100.0f, 0.01f);
  naclip_model_unref (model);
}

int
main (int argc, char **argv)
{
  static const char *const tiny[] = { "tiny-hf-F32", "tiny-hf-F16",
    "tiny-hf-BF16", "tiny-openai-F32", "tiny-openai-F16", "tiny-openai-BF16" };
  int ret;

  g_test_init (&argc, &argv, NULL);
  setup ();
  for (guint i = 0; i < G_N_ELEMENTS (tiny); i++) {
    g_autofree char *path = g_strdup_printf ("/model/load/%s", tiny[i]);
    g_test_add_data_func (path, tiny[i], test_tiny);
  }
  g_test_add_func ("/model/load/misaligned", test_misaligned);
  g_test_add_func ("/model/load/no-config", test_no_config);
  g_test_add_func ("/model/load/gelu", test_gelu);
  g_test_add_func ("/model/load/open-clip", test_open_clip);
  g_test_add_func ("/model/load/vision-only", test_vision_only);
  g_test_add_func ("/model/load/file-path", test_file_path);
  g_test_add_func ("/model/load/openai-gz", test_openai_gz);
  g_test_add_func ("/model/load/small-vocabulary", test_small_vocabulary);
  g_test_add_func ("/model/tool-info", test_tool_info);
  g_test_add_func ("/model/truncated-after-load", test_truncated_after_load);
  g_test_add_func ("/model/full-size", test_full_size);
  g_test_add_func ("/model/real", test_real_model);
  ret = g_test_run ();
  g_free (root);
  return ret;
}
