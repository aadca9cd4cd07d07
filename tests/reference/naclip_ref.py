#!/usr/bin/python3
"""The PyTorch reference of NACLIP (Hajimiri, Ben Ayed, Dolz, WACV 2025,
arXiv 2404.08181).

This is the project's independent truth: it is written from the paper
and the project's specification of it (with the authors' code,
github.com/sinahmr/NACLIP, read to settle doubts), never from the C code,
and it favours plain, readable PyTorch (CPU, float32, no_grad) over
speed.

Commands (see --help of each):
  segment  IMAGE -> every stage as .npy in --dump-dir (the C tool's contract)
  embed    class names -> query embeddings [Q, E] (.npy)
  tokenize TEXT...   -> token ids, one line per text
  vision   a normalised image [3,H,W] or batch [B,3,H,W] -> block.npy, features.npy
  text     token ids [n, 77] -> text-tower embeddings [n, E] (not normalised)
  pamr     image [3,H,W] (or [1,3,H,W]) and mask [Q,H,W] -> refined mask

Dump files (little-endian .npy, float32 unless said): input [3,H,W] the
normalised pre-processed image; block [N+1,D] tokens of the first encoded
input (whole image or first window) after the last block, before ln_post,
class token first; features [N,E] its normalised projected patch features;
queries [Q,E]; logits [Q,h,w] at output size before PAMR; refined [Q,h,w]
after PAMR (a copy of logits when PAMR is off); probs [C+1,h,w] class
probabilities, row 0 background (zero without background names); labels
int32 [h,w].
"""

import argparse
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "fixtures"))
import safetensors_io  # noqa: E402
from tokenizer import N_SYMBOLS, Tokenizer  # noqa: E402

# Pre-processing: CLIP's mean and std on the 0..255 scale, RGB.
MEAN = (122.771, 116.746, 104.094)
STD = (68.501, 66.632, 70.323)
MAX_LONG_SIDE = 2048
SINGLE_TEMPLATE = "a photo of a {}."
ATTENTIONS = ("naclip", "kk", "nonly", "csa", "vanilla")
ARCHS = ("reduced", "vanilla")


def shared_dir():
    env = os.environ.get("NACLIP_SHARED")
    if env:
        return env
    return os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(HERE))),
                        "shared")


# ---------------------------------------------------------------------------
# Checkpoints


class Block:
    """One pre-LayerNorm transformer block; linear weights are [out, in]."""

    def __init__(self, t):
        self.__dict__.update(t)


class Tower:
    """width, n_heads, eps, act, blocks plus the tower's own tensors."""


def _hf_block(sd, prefix):
    g = lambda name: sd[prefix + name]  # noqa: E731
    return Block(dict(
        ln1_w=g("layer_norm1.weight"), ln1_b=g("layer_norm1.bias"),
        q_w=g("self_attn.q_proj.weight"), q_b=g("self_attn.q_proj.bias"),
        k_w=g("self_attn.k_proj.weight"), k_b=g("self_attn.k_proj.bias"),
        v_w=g("self_attn.v_proj.weight"), v_b=g("self_attn.v_proj.bias"),
        out_w=g("self_attn.out_proj.weight"), out_b=g("self_attn.out_proj.bias"),
        ln2_w=g("layer_norm2.weight"), ln2_b=g("layer_norm2.bias"),
        fc1_w=g("mlp.fc1.weight"), fc1_b=g("mlp.fc1.bias"),
        fc2_w=g("mlp.fc2.weight"), fc2_b=g("mlp.fc2.bias")))


def _openai_block(sd, prefix):
    g = lambda name: sd[prefix + name]  # noqa: E731
    q_w, k_w, v_w = g("attn.in_proj_weight").chunk(3, dim=0)
    q_b, k_b, v_b = g("attn.in_proj_bias").chunk(3, dim=0)
    return Block(dict(
        ln1_w=g("ln_1.weight"), ln1_b=g("ln_1.bias"),
        q_w=q_w, q_b=q_b, k_w=k_w, k_b=k_b, v_w=v_w, v_b=v_b,
        out_w=g("attn.out_proj.weight"), out_b=g("attn.out_proj.bias"),
        ln2_w=g("ln_2.weight"), ln2_b=g("ln_2.bias"),
        fc1_w=g("mlp.c_fc.weight"), fc1_b=g("mlp.c_fc.bias"),
        fc2_w=g("mlp.c_proj.weight"), fc2_b=g("mlp.c_proj.bias")))


def _count_layers(sd, prefix, suffix):
    n = 0
    while f"{prefix}{n}.{suffix}" in sd:
        n += 1
    return n


def _tower_config(config, key, width):
    """(n_heads, eps, act) from config.json's text/vision config, or the
    OpenAI convention (heads = width / 64, eps 1e-5, QuickGELU)."""
    c = (config or {}).get(key, {})
    n_heads = c.get("num_attention_heads", width // 64)
    if n_heads < 1 or width % n_heads:
        raise ValueError(f"{key}: width {width} is not divisible into "
                         f"{n_heads} heads")
    act = c.get("hidden_act", "quick_gelu")
    if act not in ("quick_gelu", "gelu"):
        raise ValueError(f"{key}: unsupported hidden_act {act!r}")
    return n_heads, c.get("layer_norm_eps", 1e-5), act


def _from_open_clip(m):
    """open_clip's model_cfg as the Hugging Face config keys read here
    (open_clip/model.py: vision heads = width / head_width, default 64;
    text heads default 8; QuickGELU only with quick_gelu)."""
    act = "quick_gelu" if m.get("quick_gelu", False) else "gelu"
    v, t = m.get("vision_cfg", {}), m.get("text_cfg", {})
    width = v.get("width", 768)
    return {
        "vision_config": {"num_attention_heads":
                          width // v.get("head_width", 64),
                          "hidden_act": act},
        "text_config": {"num_attention_heads": t.get("heads", 8),
                        "hidden_act": act},
    }


class Model:
    """A CLIP ViT checkpoint: .vision and (if present) .text towers."""

    def __init__(self, path):
        if os.path.isdir(path):
            self.dir, file = path, os.path.join(path, "model.safetensors")
            if not os.path.exists(file):
                file = os.path.join(path, "open_clip_model.safetensors")
        else:
            self.dir, file = os.path.dirname(path) or ".", path
        names = ["config.json", "open_clip_config.json"]
        if os.path.basename(file).startswith("open_clip_"):
            names.reverse()
        config = None
        for name in names:
            config_path = os.path.join(self.dir, name)
            if os.path.exists(config_path):
                with open(config_path) as f:
                    config = json.load(f)
                if "model_cfg" in config:
                    config = _from_open_clip(config["model_cfg"])
                break
        sd = {k: torch.from_numpy(np.ascontiguousarray(v)).float()
              for k, v in safetensors_io.read(file).items()}
        if "visual.conv1.weight" in sd:
            self._load_openai(sd, config)
        elif "vision_model.embeddings.patch_embedding.weight" in sd:
            self._load_hf(sd, config)
        else:
            raise ValueError(f"{file}: neither a Hugging Face nor an OpenAI "
                             f"CLIP checkpoint")

    def _vision_common(self, v, config):
        v.width = v.patch_w.shape[0]
        v.patch = v.patch_w.shape[-1]
        v.grid = math.isqrt(v.pos.shape[0] - 1)
        if v.grid * v.grid + 1 != v.pos.shape[0]:
            raise ValueError(f"vision positional embedding has "
                             f"{v.pos.shape[0]} rows, not g*g+1")
        v.n_heads, v.eps, v.act = _tower_config(config, "vision_config", v.width)

    def _load_hf(self, sd, config):
        v = Tower()
        v.patch_w = sd["vision_model.embeddings.patch_embedding.weight"]
        v.class_emb = sd["vision_model.embeddings.class_embedding"]
        v.pos = sd["vision_model.embeddings.position_embedding.weight"]
        v.ln_pre = (sd["vision_model.pre_layrnorm.weight"],
                    sd["vision_model.pre_layrnorm.bias"])
        n = _count_layers(sd, "vision_model.encoder.layers.",
                          "self_attn.q_proj.weight")
        v.blocks = [_hf_block(sd, f"vision_model.encoder.layers.{i}.")
                    for i in range(n)]
        v.ln_post = (sd["vision_model.post_layernorm.weight"],
                     sd["vision_model.post_layernorm.bias"])
        v.proj = sd["visual_projection.weight"].t().contiguous()
        self._vision_common(v, config)
        self.vision = v
        self.text = None
        if "text_model.embeddings.token_embedding.weight" in sd:
            t = Tower()
            t.tok = sd["text_model.embeddings.token_embedding.weight"]
            t.pos = sd["text_model.embeddings.position_embedding.weight"]
            n = _count_layers(sd, "text_model.encoder.layers.",
                              "self_attn.q_proj.weight")
            t.blocks = [_hf_block(sd, f"text_model.encoder.layers.{i}.")
                        for i in range(n)]
            t.ln_final = (sd["text_model.final_layer_norm.weight"],
                          sd["text_model.final_layer_norm.bias"])
            t.proj = sd["text_projection.weight"].t().contiguous()
            t.width = t.tok.shape[1]
            t.n_heads, t.eps, t.act = _tower_config(config, "text_config",
                                                    t.width)
            self.text = t

    def _load_openai(self, sd, config):
        v = Tower()
        v.patch_w = sd["visual.conv1.weight"]
        v.class_emb = sd["visual.class_embedding"]
        v.pos = sd["visual.positional_embedding"]
        v.ln_pre = (sd["visual.ln_pre.weight"], sd["visual.ln_pre.bias"])
        n = _count_layers(sd, "visual.transformer.resblocks.",
                          "attn.in_proj_weight")
        v.blocks = [_openai_block(sd, f"visual.transformer.resblocks.{i}.")
                    for i in range(n)]
        v.ln_post = (sd["visual.ln_post.weight"], sd["visual.ln_post.bias"])
        v.proj = sd["visual.proj"]
        self._vision_common(v, config)
        self.vision = v
        self.text = None
        if "token_embedding.weight" in sd:
            t = Tower()
            t.tok = sd["token_embedding.weight"]
            t.pos = sd["positional_embedding"]
            n = _count_layers(sd, "transformer.resblocks.",
                              "attn.in_proj_weight")
            t.blocks = [_openai_block(sd, f"transformer.resblocks.{i}.")
                        for i in range(n)]
            t.ln_final = (sd["ln_final.weight"], sd["ln_final.bias"])
            t.proj = sd["text_projection"]
            t.width = t.tok.shape[1]
            t.n_heads, t.eps, t.act = _tower_config(config, "text_config",
                                                    t.width)
            self.text = t

    def merges_path(self):
        """The model's merges.txt, else CLIP's file in the shared folder."""
        own = os.path.join(self.dir, "merges.txt")
        if os.path.exists(own):
            return own
        return os.path.join(shared_dir(), "clip", "bpe_simple_vocab_16e6.txt.gz")

    def tokenizer(self):
        """The tokenizer of the text tower: as many merges as its token
        embedding has rows beyond the 512 byte symbols and 2 specials."""
        if self.text is None:
            raise ValueError("the checkpoint has no text tower")
        return Tokenizer(self.merges_path(), self.text.tok.shape[0] - N_SYMBOLS)


# ---------------------------------------------------------------------------
# Transformer pieces shared by both towers


def activation(x, act):
    if act == "quick_gelu":
        return x * torch.sigmoid(1.702 * x)
    return F.gelu(x)


def layer_norm(x, wb, eps):
    return F.layer_norm(x, (x.shape[-1],), wb[0], wb[1], eps)


def split_heads(x, n_heads):
    """[B, T, D] -> [B, heads, T, head_dim]"""
    b, t, d = x.shape
    return x.view(b, t, n_heads, d // n_heads).transpose(1, 2)


def merge_heads(x):
    """[B, heads, T, head_dim] -> [B, T, D]"""
    b, h, t, d = x.shape
    return x.transpose(1, 2).reshape(b, t, h * d)


def qkv(x, blk, n_heads):
    q = split_heads(F.linear(x, blk.q_w, blk.q_b), n_heads)
    k = split_heads(F.linear(x, blk.k_w, blk.k_b), n_heads)
    v = split_heads(F.linear(x, blk.v_w, blk.v_b), n_heads)
    return q, k, v


def standard_attention(x, blk, n_heads, mask=None):
    """softmax(q k^T / sqrt(d) [+ mask]) v per head, output projection."""
    q, k, v = qkv(x, blk, n_heads)
    scale = q.shape[-1] ** -0.5
    weights = (q * scale) @ k.transpose(-1, -2)
    if mask is not None:
        weights = weights + mask
    out = merge_heads(torch.softmax(weights, dim=-1) @ v)
    return F.linear(out, blk.out_w, blk.out_b)


def mlp(x, blk, act):
    return F.linear(activation(F.linear(x, blk.fc1_w, blk.fc1_b), act),
                    blk.fc2_w, blk.fc2_b)


def residual_block(x, blk, tower, mask=None):
    x = x + standard_attention(layer_norm(x, (blk.ln1_w, blk.ln1_b), tower.eps),
                               blk, tower.n_heads, mask)
    return x + mlp(layer_norm(x, (blk.ln2_w, blk.ln2_b), tower.eps), blk,
                   tower.act)


# ---------------------------------------------------------------------------
# The text side


def encode_text(model, ids):
    """ids int64 [n, context] -> [n, E] projected end-token vectors (not
    normalised). Causal mask; positions past the last end token of the batch
    cannot influence the result and are not computed."""
    t = model.text
    if t is None:
        raise ValueError("the checkpoint has no text tower")
    ids = torch.as_tensor(ids, dtype=torch.int64)
    end = ids.argmax(dim=-1)
    n_ctx = int(end.max()) + 1
    x = t.tok[ids[:, :n_ctx]] + t.pos[:n_ctx]
    mask = torch.full((n_ctx, n_ctx), float("-inf")).triu(1)
    for blk in t.blocks:
        x = residual_block(x, blk, t, mask)
    x = layer_norm(x, t.ln_final, t.eps)
    return x[torch.arange(x.shape[0]), end] @ t.proj


def read_templates(spec):
    """"imagenet80" (the 80 OpenAI ImageNet templates), "single", or a file
    with one template containing "{}" per line."""
    if spec == "single":
        return [SINGLE_TEMPLATE]
    path = spec
    if spec == "imagenet80":
        path = os.path.join(shared_dir(), "clip", "openai_imagenet_templates.txt")
    with open(path, encoding="utf-8") as f:
        templates = [line.rstrip("\n") for line in f if line.strip()]
    bad = [t for t in templates if "{}" not in t]
    if not templates or bad:
        raise ValueError(f"{path}: every line must hold a template with {{}}")
    return templates


def embed_queries(model, names, templates):
    """One L2-normalised embedding per name: each filled template encoded and
    normalised, the mean of those, normalised again. [Q, E]."""
    tok = model.tokenizer()
    out = []
    for name in names:
        ids = tok.tokenize([t.replace("{}", name) for t in templates])
        f = encode_text(model, ids)
        f = f / f.norm(dim=-1, keepdim=True)
        f = f.mean(dim=0)
        out.append(f / f.norm())
    return torch.stack(out)


# ---------------------------------------------------------------------------
# The vision encoder with NACLIP's last block


def interpolate_positions(v, grid_h, grid_w):
    """The positional table for a grid_h x grid_w grid. The table is used as
    is whenever the patch count equals the pretrained g*g, even for a
    non-square grid (the authors' quirk); otherwise its patch part is
    resized bicubically with scale factors (h + 0.1) / g and (w + 0.1) / g,
    which is what sets the sampling positions, and the class row is kept."""
    g = v.grid
    if grid_h * grid_w == g * g:
        return v.pos
    table = v.pos[1:].reshape(1, g, g, v.width).permute(0, 3, 1, 2)
    table = F.interpolate(table, mode="bicubic", align_corners=False,
                          scale_factor=((grid_h + 0.1) / g, (grid_w + 0.1) / g),
                          recompute_scale_factor=False)
    assert table.shape[-2:] == (grid_h, grid_w), table.shape
    table = table.permute(0, 2, 3, 1).reshape(grid_h * grid_w, v.width)
    return torch.cat([v.pos[:1], table])


def gaussian_bias(grid_h, grid_w, std):
    """Omega, [N+1, N+1]: exp(-|p - q|^2 / (2 std^2)) between patches p and q
    in grid units; zero in the class token's row and column."""
    i, j = torch.meshgrid(torch.arange(grid_h, dtype=torch.float64),
                          torch.arange(grid_w, dtype=torch.float64),
                          indexing="ij")
    i, j = i.reshape(-1), j.reshape(-1)
    d2 = (i[:, None] - i[None, :]) ** 2 + (j[:, None] - j[None, :]) ** 2
    n = grid_h * grid_w
    omega = torch.zeros(n + 1, n + 1, dtype=torch.float64)
    omega[1:, 1:] = torch.exp(-d2 / (2.0 * std * std))
    return omega.float()


def final_attention(x, blk, n_heads, strategy, grid, gaussian_std):
    """The changed attention of the last block, on LN1(x) [B, N+1, D]."""
    q, k, v = qkv(x, blk, n_heads)
    scale = q.shape[-1] ** -0.5
    if strategy == "naclip":
        weights = (k @ k.transpose(-1, -2)) * scale
        weights = weights + gaussian_bias(*grid, gaussian_std)
        weights = torch.softmax(weights, dim=-1)
    elif strategy == "nonly":
        # Omega alone, scaled by the mean over heads and token pairs of
        # |q_i| |k_j| / sqrt(d), per encoded input.
        qn, kn = q.norm(dim=-1), k.norm(dim=-1)  # [B, heads, T]
        factor = (qn[..., :, None] * kn[..., None, :]).mean(dim=(1, 2, 3))
        factor = factor * scale
        omega = gaussian_bias(*grid, gaussian_std)
        weights = torch.softmax(omega[None, None] * factor[:, None, None, None],
                                dim=-1)
        weights = weights.expand(-1, n_heads, -1, -1)
    elif strategy == "csa":
        weights = (torch.softmax((q @ q.transpose(-1, -2)) * scale, dim=-1)
                   + torch.softmax((k @ k.transpose(-1, -2)) * scale, dim=-1))
    elif strategy == "kk":
        weights = torch.softmax((k * scale) @ k.transpose(-1, -2), dim=-1)
    elif strategy == "vanilla":
        weights = torch.softmax((q * scale) @ k.transpose(-1, -2), dim=-1)
    else:
        raise ValueError(f"unknown attention strategy {strategy!r}")
    out = merge_heads(weights @ v)
    return F.linear(out, blk.out_w, blk.out_b)


def encode_image(model, image, strategy="naclip", arch="reduced",
                 gaussian_std=5.0):
    """image [B, 3, H, W] normalised -> (block [B, N+1, D] after the last
    block, features [B, N, E] normalised patch features, (grid_h, grid_w))."""
    v = model.vision
    p = v.patch
    if strategy in ("naclip", "nonly") and not gaussian_std > 0:
        raise ValueError(f"gaussian-std must be > 0 for {strategy}, not "
                         f"{gaussian_std}")
    grid = (image.shape[-2] // p, image.shape[-1] // p)
    if grid[0] < 1 or grid[1] < 1:
        raise ValueError(f"image {tuple(image.shape[-2:])} is smaller than "
                         f"one {p}x{p} patch")
    image = image[..., :grid[0] * p, :grid[1] * p]
    x = F.conv2d(image, v.patch_w, stride=p)  # [B, D, h, w]
    x = x.flatten(2).transpose(1, 2)  # [B, N, D], row-major patches
    cls = v.class_emb.expand(x.shape[0], 1, -1)
    x = torch.cat([cls, x], dim=1) + interpolate_positions(v, *grid)
    x = layer_norm(x, v.ln_pre, v.eps)
    for blk in v.blocks[:-1]:
        x = residual_block(x, blk, v)
    blk = v.blocks[-1]
    attn = final_attention(layer_norm(x, (blk.ln1_w, blk.ln1_b), v.eps), blk,
                           v.n_heads, strategy, grid, gaussian_std)
    if arch == "reduced":
        x = attn
    elif arch == "vanilla":
        x = x + attn
        x = x + mlp(layer_norm(x, (blk.ln2_w, blk.ln2_b), v.eps), blk, v.act)
    else:
        raise ValueError(f"unknown arch {arch!r}")
    block = x
    f = layer_norm(x, v.ln_post, v.eps) @ v.proj
    f = f[:, 1:]
    return block, f / f.norm(dim=-1, keepdim=True), grid


# ---------------------------------------------------------------------------
# Pre-processing


def processing_size(height, width, short_side):
    """mmseg Resize(scale=(2048, short_side), keep_ratio=True)."""
    if short_side == 0:
        return height, width
    s = min(MAX_LONG_SIDE / max(height, width), short_side / min(height, width))
    return int(height * s + 0.5), int(width * s + 0.5)


def resize(x, size):
    """Bilinear, half-pixel centres, no anti-aliasing. x [C, H, W] or
    [B, C, H, W]."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    batched = x.dim() == 4
    y = F.interpolate(x if batched else x[None], size=tuple(size),
                      mode="bilinear", align_corners=False)
    return y if batched else y[0]


def preprocess(rgb, short_side):
    """uint8 [H, W, 3] RGB -> normalised float32 [3, H', W']."""
    x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float()
    x = resize(x, processing_size(rgb.shape[0], rgb.shape[1], short_side))
    mean = torch.tensor(MEAN).view(3, 1, 1)
    std = torch.tensor(STD).view(3, 1, 1)
    return (x - mean) / std


# ---------------------------------------------------------------------------
# Dense logits


def dense_logits(model, image, queries, opt, first):
    """Logits [Q, H, W] of one encoded input [3, H, W]; records its block and
    features in `first` if it is the first one encoded."""
    block, feats, grid = encode_image(model, image[None], opt.attention,
                                      opt.arch, opt.gaussian_std)
    if not first:
        first["block"], first["features"] = block[0], feats[0]
    logits = (feats[0] @ queries.t()).t().reshape(-1, *grid)
    return resize(logits, image.shape[-2:])


def window_origins(size, crop, stride):
    """Start of each window along one axis (naclip.py forward_slide)."""
    n = max(size - crop + stride - 1, 0) // stride + 1
    out = []
    for i in range(n):
        end = min(i * stride + crop, size)
        out.append((max(end - crop, 0), end))
    return out


def image_logits(model, image, queries, opt, first):
    """Whole-image or sliding-window logits [Q, H, W] at processing size."""
    if opt.slide_crop == 0:
        return dense_logits(model, image, queries, opt, first)
    _, height, width = image.shape
    total = torch.zeros(queries.shape[0], height, width)
    count = torch.zeros(1, height, width)
    for y1, y2 in window_origins(height, opt.slide_crop, opt.slide_stride):
        for x1, x2 in window_origins(width, opt.slide_crop, opt.slide_stride):
            total[:, y1:y2, x1:x2] += dense_logits(
                model, image[:, y1:y2, x1:x2], queries, opt, first)
            count[:, y1:y2, x1:x2] += 1
    if count.min() == 0:
        raise ValueError(f"slide-stride {opt.slide_stride} leaves pixels "
                         f"outside every {opt.slide_crop} px window")
    return total / count


# ---------------------------------------------------------------------------
# PAMR


def neighbours(x, d):
    """The 8 values at offsets {-d, 0, d}^2 minus the centre, replicate
    padding. x [C, H, W] -> [C, 8, H, W]."""
    _, h, w = x.shape
    pad = F.pad(x[None], [d, d, d, d], mode="replicate")[0]
    out = [pad[:, d + dy:d + dy + h, d + dx:d + dx + w]
           for dy in (-d, 0, d) for dx in (-d, 0, d) if (dy, dx) != (0, 0)]
    return torch.stack(out, dim=1)


def pamr(image, mask, steps, dilations):
    """image [3, H, W] (normalised), mask [Q, H, W] -> refined [Q, H, W]."""
    if not dilations:
        raise ValueError("PAMR needs at least one dilation")
    near = torch.cat([neighbours(image, d) for d in dilations], dim=1)
    # Local std per channel over every sampled value, the centre once per
    # dilation (unbiased).
    centre = image[:, None]
    samples = torch.cat([near] + [centre] * len(dilations), dim=1)
    std = samples.std(dim=1, unbiased=True, keepdim=True)
    affinity = -(centre - near).abs() / (1e-8 + 0.1 * std)
    affinity = torch.softmax(affinity.mean(dim=0), dim=0)  # [8*n_dil, H, W]
    for _ in range(steps):
        near_mask = torch.cat([neighbours(mask, d) for d in dilations], dim=1)
        mask = (near_mask * affinity[None]).sum(dim=1)
    return mask


# ---------------------------------------------------------------------------
# Labels


def label_map(logits, query_labels, n_classes, logit_scale, threshold):
    """logits [Q, h, w] -> (class probabilities [C+1, h, w], labels int32).
    A class's probability is the max over its queries'; row 0 is zero when
    no query has label 0."""
    probs = torch.softmax(logits * logit_scale, dim=0)
    classes = torch.zeros(n_classes + 1, *logits.shape[1:])
    for c in range(n_classes + 1):
        rows = [i for i, lab in enumerate(query_labels) if lab == c]
        if rows:
            classes[c] = probs[rows].max(dim=0).values
    best, labels = classes.max(dim=0).values, classes.argmax(dim=0)
    labels = torch.where(best < threshold, torch.zeros_like(labels), labels)
    return classes, labels.to(torch.int32)


# ---------------------------------------------------------------------------
# The whole pipeline


def parse_classes(classes, classes_file, background):
    """-> (names in query order, label of each query, number of classes).
    Strings: commas separate classes, "|" a class's names. Files: one class
    per line, names separated by ", " (the authors' format)."""
    if classes_file:
        with open(classes_file, encoding="utf-8") as f:
            groups = [line.rstrip("\n").split(", ") for line in f
                      if line.strip()]
    else:
        groups = [c.split("|") for c in classes.split(",")]
    groups = [[n.strip() for n in g] for g in groups]
    bg = [n.strip() for n in background.split("|")] if background else []
    if any(not n for g in groups for n in g) or any(not n for n in bg):
        raise ValueError("empty class name")
    names = list(bg)
    labels = [0] * len(bg)
    for c, group in enumerate(groups, start=1):
        names += group
        labels += [c] * len(group)
    return names, labels, len(groups)


def load_rgb(path):
    from PIL import Image

    with Image.open(path) as im:
        return np.array(im.convert("RGB"))


def segment(model, rgb, queries, query_labels, n_classes, opt):
    """Every stage of NACLIP on one uint8 RGB image; returns {name: array}."""
    out = {"queries": queries}
    image = preprocess(rgb, opt.inference_size)
    out["input"] = image
    first = {}
    logits = image_logits(model, image, queries, opt, first)
    out.update(first)
    if opt.output_size in ("frame", "original"):
        size = rgb.shape[:2]
    else:
        size = image.shape[-2:]
    logits = resize(logits, size)
    out["logits"] = logits
    if opt.pamr_steps > 0:
        refined = pamr(resize(image, size), logits, opt.pamr_steps,
                       opt.pamr_dilations)
    else:
        refined = logits
    out["refined"] = refined
    out["probs"], out["labels"] = label_map(
        refined, query_labels, n_classes, opt.logit_scale,
        opt.class_confidence_threshold)
    return out


def save(path, array):
    a = array.numpy() if isinstance(array, torch.Tensor) else np.asarray(array)
    dtype = "<i4" if a.dtype.kind in "iu" else "<f4"
    np.save(path, np.ascontiguousarray(a, dtype=dtype))


def dump(dump_dir, stages):
    os.makedirs(dump_dir, exist_ok=True)
    for name, array in stages.items():
        save(os.path.join(dump_dir, name + ".npy"), array)


# ---------------------------------------------------------------------------
# Command line


def dilations(s):
    try:
        out = [int(d) for d in s.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of integers: {s!r}")
    if not out or any(d < 1 for d in out):
        raise argparse.ArgumentTypeError(f"dilations must be >= 1: {s!r}")
    return out


def add_vision_options(ap):
    ap.add_argument("--attention", default="naclip", choices=ATTENTIONS)
    ap.add_argument("--arch", default="reduced", choices=ARCHS)
    ap.add_argument("--gaussian-std", type=float, default=5.0)


def add_class_options(ap):
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--classes", help='"a,b|b2,c": "," between classes, "|" '
                   "between a class's names")
    g.add_argument("--classes-file", help="one class per line, names "
                   'separated by ", "')
    ap.add_argument("--background-classes", "--background", dest="background",
                    default="", help='"x|y": label-0 names')
    ap.add_argument("--templates", default="imagenet80",
                    help="imagenet80, single or a file")


def cmd_segment(args):
    model = Model(args.model)
    names, labels, n_classes = parse_classes(args.classes, args.classes_file,
                                             args.background)
    if args.queries:
        queries = torch.from_numpy(np.load(args.queries)).float()
        if queries.dim() != 2 or queries.shape[0] != len(names):
            raise ValueError(f"{args.queries}: shape {tuple(queries.shape)}, "
                             f"expected [{len(names)}, E]")
    else:
        queries = embed_queries(model, names, read_templates(args.templates))
    if queries.shape[1] != model.vision.proj.shape[1]:
        raise ValueError(f"queries have {queries.shape[1]} dimensions, the "
                         f"model embeds in {model.vision.proj.shape[1]}")
    for name in ("inference_size", "slide_crop", "pamr_steps"):
        if getattr(args, name) < 0:
            raise ValueError(f"{name.replace('_', '-')} must be >= 0")
    if args.slide_stride < 1:
        raise ValueError("slide-stride must be >= 1")
    stages = segment(model, load_rgb(args.image), queries, labels, n_classes,
                     args)
    dump(args.dump_dir, stages)


def cmd_embed(args):
    model = Model(args.model)
    names, _, _ = parse_classes(args.classes, args.classes_file,
                                args.background)
    save(args.output, embed_queries(model, names, read_templates(args.templates)))


def cmd_tokenize(args):
    if args.merges:
        tok = Tokenizer(args.merges)
    elif args.model:
        tok = Model(args.model).tokenizer()
    else:
        tok = Tokenizer(os.path.join(shared_dir(), "clip",
                                     "bpe_simple_vocab_16e6.txt.gz"))
    for text in args.text:
        ids = [tok.sot] + tok.encode(text) + [tok.eot]
        print(" ".join(str(i) for i in ids))


def cmd_vision(args):
    model = Model(args.model)
    image = torch.from_numpy(np.load(args.input)).float()
    batched = image.dim() == 4
    block, feats, _ = encode_image(model, image if batched else image[None],
                                   args.attention, args.arch, args.gaussian_std)
    if not batched:
        block, feats = block[0], feats[0]
    dump(args.dump_dir, {"block": block, "features": feats})


def cmd_text(args):
    save(args.output, encode_text(Model(args.model), np.load(args.ids)))


def cmd_pamr(args):
    image = torch.from_numpy(np.load(args.image)).float()
    if image.dim() == 4:
        image = image[0]
    mask = torch.from_numpy(np.load(args.mask)).float()
    save(args.output, pamr(image, mask, args.steps, args.dilations))


def main(argv=None):
    ap = argparse.ArgumentParser(description="PyTorch reference of NACLIP")
    sub = ap.add_subparsers(dest="command", required=True)

    s = sub.add_parser("segment", help="segment an image, dump every stage")
    s.add_argument("--model", required=True)
    add_class_options(s)
    s.add_argument("--queries", help="query embeddings [Q, E] (.npy) instead "
                   "of the text encoder")
    s.add_argument("--inference-size", type=int, default=336,
                   help="short side, px (0 = no resize)")
    s.add_argument("--slide-crop", type=int, default=0, help="0 = whole image")
    s.add_argument("--slide-stride", type=int, default=112)
    add_vision_options(s)
    s.add_argument("--pamr-steps", type=int, default=10)
    s.add_argument("--pamr-dilations", type=dilations, default=[8, 16])
    s.add_argument("--class-confidence-threshold", type=float, default=0.0)
    s.add_argument("--logit-scale", type=float, default=40.0)
    s.add_argument("--output-size", default="frame",
                   choices=("frame", "processing", "original"),
                   help="original: frame's earlier name")
    s.add_argument("--threads", type=int, default=0,
                   help="torch threads (0 = torch's default)")
    s.add_argument("image")
    s.add_argument("--dump-dir", required=True)
    s.set_defaults(func=cmd_segment)

    s = sub.add_parser("embed", help="query embeddings of class names")
    s.add_argument("--model", required=True)
    add_class_options(s)
    s.add_argument("-o", "--output", required=True)
    s.set_defaults(func=cmd_embed)

    s = sub.add_parser("tokenize", help="print token ids")
    s.add_argument("--merges")
    s.add_argument("--model")
    s.add_argument("text", nargs="+")
    s.set_defaults(func=cmd_tokenize)

    s = sub.add_parser("vision", help="vision tower on a normalised image")
    s.add_argument("--model", required=True)
    s.add_argument("--input", required=True, help="[3,H,W] or [B,3,H,W] .npy")
    add_vision_options(s)
    s.add_argument("--dump-dir", required=True)
    s.set_defaults(func=cmd_vision)

    s = sub.add_parser("text", help="text tower on token ids")
    s.add_argument("--model", required=True)
    s.add_argument("--ids", required=True, help="int [n, 77] .npy")
    s.add_argument("-o", "--output", required=True)
    s.set_defaults(func=cmd_text)

    s = sub.add_parser("pamr", help="PAMR on a mask")
    s.add_argument("--image", required=True)
    s.add_argument("--mask", required=True)
    s.add_argument("--steps", type=int, default=10)
    s.add_argument("--dilations", type=dilations, default=[8, 16])
    s.add_argument("-o", "--output", required=True)
    s.set_defaults(func=cmd_pamr)

    args = ap.parse_args(argv)
    if getattr(args, "threads", 0):
        torch.set_num_threads(args.threads)
    try:
        with torch.no_grad():
            args.func(args)
    except (ValueError, OSError) as e:
        print(f"naclip_ref: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
