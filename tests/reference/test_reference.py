#!/usr/bin/python3
"""Checks of the PyTorch reference itself (TAP), so that the truth the C
code is compared with is not just trusted.

Each check computes the same thing a second, independent way:
  - tokenizer: the golden ids of tests/data/tokenizer_cases.json (all but
    ftfy's mojibake repair, whose divergence is asserted so that a change
    is noticed);
  - vanilla attention and the text tower: torch.nn.MultiheadAttention;
  - the HF and OpenAI layouts of one seed: identical results;
  - Omega: the authors' construction (a Gaussian window correlated with
    one-hot grid maps), against the closed form;
  - positional interpolation: a scalar bicubic (A = -0.75, clamped) with
    the spec's source coordinate (i + 0.5) * g / (h + 0.1) - 0.5;
  - pre-processing: mmseg's size rule on known sizes, and a scalar bilinear
    resize with the spec's source coordinate;
  - sliding windows: the spec's window list on known sizes;
  - PAMR: the authors' formulation with 3x3 dilated convolution kernels;
  - labels: synonyms, background and threshold on a hand-made case.
"""

import json
import math
import os
import sys
import tempfile
import traceback

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "fixtures"))
import make_checkpoint  # noqa: E402
import naclip_ref as R  # noqa: E402
from tokenizer import Tokenizer  # noqa: E402

ATOL = 1e-5


def assert_close(name, got, want, atol=ATOL):
    got, want = torch.as_tensor(got).double(), torch.as_tensor(want).double()
    assert got.shape == want.shape, f"{name}: shape {tuple(got.shape)} vs {tuple(want.shape)}"
    err = (got - want).abs().max().item() if got.numel() else 0.0
    assert err <= atol, f"{name}: max diff {err:.3g} > {atol:g}"


def fixture_dir():
    root = os.environ.get("NACLIP_BUILD_ROOT")
    if root:
        return os.path.join(root, "tests", "fixtures", "checkpoints")
    return os.path.join(tempfile.gettempdir(), "naclip-ref-checkpoints")


def checkpoint(name, layout="hf", config=True, **overrides):
    cfg = dict(make_checkpoint.PRESETS[name], **overrides)
    tag = "-".join(f"{k}{v}" for k, v in sorted(overrides.items()))
    out = os.path.join(fixture_dir(), f"reftest-{name}-{layout}"
                       f"{'' if config else '-noconfig'}{'-' + tag if tag else ''}")
    make_checkpoint.ensure(out, cfg, layout, "F32", 7, config)
    return R.Model(out)


# ---------------------------------------------------------------------------


def check_tokenizer_goldens():
    path = os.path.join(os.path.dirname(HERE), "data", "tokenizer_cases.json")
    with open(path, encoding="utf-8") as f:
        cases = json.load(f)
    tok = Tokenizer(os.path.join(R.shared_dir(), "clip",
                                 "bpe_simple_vocab_16e6.txt.gz"))
    for c in cases:
        ids = [tok.sot] + tok.encode(c["text"]) + [tok.eot]
        if "Ã" in c["text"]:  # mojibake: ftfy repairs it, we do not
            assert ids != c["ids"], "mojibake now repaired: update the docs"
            continue
        assert ids == c["ids"], f"{c['text']!r}: {ids} != {c['ids']}"
    padded = tok.tokenize(["a photo of a cat."])
    assert padded.shape == (1, 77) and padded[0, 7] == tok.eot
    assert padded[0, 8:].sum() == 0
    try:
        tok.tokenize(["word " * 80])
        raise AssertionError("an over-long prompt was accepted")
    except ValueError:
        pass
    cut = tok.tokenize(["word " * 80], truncate=True)
    assert cut[0, 76] == tok.eot


def mha_from_block(blk, width, n_heads):
    mha = torch.nn.MultiheadAttention(width, n_heads, batch_first=True)
    mha.in_proj_weight.copy_(torch.cat([blk.q_w, blk.k_w, blk.v_w]))
    mha.in_proj_bias.copy_(torch.cat([blk.q_b, blk.k_b, blk.v_b]))
    mha.out_proj.weight.copy_(blk.out_w)
    mha.out_proj.bias.copy_(blk.out_b)
    return mha.eval()


def mha_block(x, blk, tower, mask=None):
    mha = mha_from_block(blk, x.shape[-1], tower.n_heads)
    h = F.layer_norm(x, (x.shape[-1],), blk.ln1_w, blk.ln1_b, tower.eps)
    x = x + mha(h, h, h, need_weights=False, attn_mask=mask)[0]
    h = F.layer_norm(x, (x.shape[-1],), blk.ln2_w, blk.ln2_b, tower.eps)
    h = F.linear(h, blk.fc1_w, blk.fc1_b)
    h = h * torch.sigmoid(1.702 * h) if tower.act == "quick_gelu" else F.gelu(h)
    return x + F.linear(h, blk.fc2_w, blk.fc2_b)


def check_vision_against_mha():
    """attention vanilla + arch vanilla is plain CLIP: every block through
    nn.MultiheadAttention, from an unfolded-patch GEMM embedding."""
    model = checkpoint("tiny-deep")
    v = model.vision
    torch.manual_seed(0)
    image = torch.randn(2, 3, 80, 80)
    block, feats, grid = R.encode_image(model, image, "vanilla", "vanilla")
    patches = F.unfold(image, v.patch, stride=v.patch).transpose(1, 2)
    x = patches @ v.patch_w.reshape(v.width, -1).t()
    x = torch.cat([v.class_emb.expand(2, 1, -1), x], 1) + v.pos
    x = F.layer_norm(x, (v.width,), *v.ln_pre, v.eps)
    for blk in v.blocks:
        x = mha_block(x, blk, v)
    assert_close("vanilla block", block, x)
    f = F.layer_norm(x, (v.width,), *v.ln_post, v.eps)[:, 1:] @ v.proj
    assert_close("vanilla features", feats, f / f.norm(dim=-1, keepdim=True))
    assert grid == (5, 5)


def check_text_against_mha():
    model = checkpoint("tiny-deep")
    t = model.text
    ids = np.zeros((3, 77), dtype=np.int64)
    ids[0, :4] = [49406, 320, 1125, 49407]
    ids[1, :2] = [49406, 49407]
    ids[2, :9] = [49406, 5, 6, 7, 8, 9, 10, 11, 49407]
    got = R.encode_text(model, ids)
    x = t.tok[torch.from_numpy(ids)] + t.pos
    mask = torch.full((77, 77), float("-inf")).triu(1)
    for blk in t.blocks:
        x = mha_block(x, blk, t, mask)
    x = F.layer_norm(x, (t.width,), *t.ln_final, t.eps)
    want = x[torch.arange(3), torch.from_numpy(ids).argmax(-1)] @ t.proj
    assert_close("text tower", got, want)


def check_layouts_agree():
    hf = checkpoint("tiny")
    oa = checkpoint("tiny", layout="openai")
    noconf = checkpoint("tiny128", layout="openai", config=False)
    assert noconf.vision.n_heads == 2 and noconf.text.n_heads == 2
    torch.manual_seed(1)
    image = torch.randn(1, 3, 70, 90)
    for strategy, arch in (("naclip", "reduced"), ("csa", "vanilla")):
        a = R.encode_image(hf, image, strategy, arch)
        b = R.encode_image(oa, image, strategy, arch)
        assert_close("layouts block", a[0], b[0], 0)
        assert_close("layouts features", a[1], b[1], 0)
    ids = Tokenizer(hf.merges_path()).tokenize(["a photo of a dog."])
    assert_close("layouts text", R.encode_text(hf, ids),
                 R.encode_text(oa, ids), 0)


def check_omega():
    """The authors build Omega by correlating a (2h-1) x (2w-1) Gaussian
    window with the one-hot map of each patch ('same' padding)."""
    for h, w, std in ((3, 4, 5.0), (5, 2, 1.5), (1, 1, 5.0)):
        c = 1.0 / (std * math.sqrt(2))
        ys = torch.linspace(-(h - 1) * c, (h - 1) * c, 2 * h - 1)
        xs = torch.linspace(-(w - 1) * c, (w - 1) * c, 2 * w - 1)
        window = torch.exp(-(ys[:, None] ** 2 + xs[None, :] ** 2))
        onehot = torch.eye(h * w).reshape(h * w, 1, h, w)
        maps = F.conv2d(onehot, window[None, None], padding="same")
        want = torch.zeros(h * w + 1, h * w + 1)
        want[1:, 1:] = maps.reshape(h * w, h * w)
        assert_close(f"omega {h}x{w} std {std}", R.gaussian_bias(h, w, std),
                     want, 1e-6)


def cubic(t, a=-0.75):
    t = abs(t)
    if t <= 1:
        return ((a + 2) * t - (a + 3)) * t * t + 1
    if t < 2:
        return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a
    return 0.0


def bicubic_1d(n_in, n_out, src_of):
    """[n_out, n_in] interpolation matrix, indices clamped at the border."""
    m = np.zeros((n_out, n_in))
    for i in range(n_out):
        s = src_of(i)
        f = math.floor(s)
        for k in range(-1, 3):
            m[i, min(max(f + k, 0), n_in - 1)] += cubic(s - (f + k))
    return m


def check_position_interpolation():
    model = checkpoint("tiny")
    v = model.vision
    g = v.grid
    table = v.pos[1:].reshape(g, g, -1).double().numpy()
    for h, w in ((5, 7), (2, 3), (9, 4)):
        my = bicubic_1d(g, h, lambda i: (i + 0.5) * g / (h + 0.1) - 0.5)
        mx = bicubic_1d(g, w, lambda i: (i + 0.5) * g / (w + 0.1) - 0.5)
        want = np.einsum("ya,xb,abd->yxd", my, mx, table).reshape(h * w, -1)
        got = R.interpolate_positions(v, h, w)
        assert_close(f"pos {h}x{w} class row", got[0], v.pos[0], 0)
        assert_close(f"pos {h}x{w}", got[1:], want, 2e-6)
    # g*g patches in a non-square grid: the table as is (authors' quirk).
    assert torch.equal(R.interpolate_positions(v, 2, 8), v.pos)
    assert torch.equal(R.interpolate_positions(v, g, g), v.pos)


def check_preprocessing():
    assert R.processing_size(375, 500, 336) == (336, 448)
    assert R.processing_size(500, 375, 336) == (448, 336)
    assert R.processing_size(100, 100, 336) == (336, 336)
    assert R.processing_size(100, 1000, 336) == (205, 2048)
    assert R.processing_size(1024, 2048, 560) == (560, 1120)
    assert R.processing_size(333, 777, 0) == (333, 777)
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (13, 29, 3), dtype=np.uint8)
    out_h, out_w = 8, 41

    def bilinear_matrix(n_in, n_out):
        m = np.zeros((n_out, n_in))
        for i in range(n_out):
            s = max((i + 0.5) * n_in / n_out - 0.5, 0.0)
            f = min(int(s), n_in - 1)
            f1 = min(f + 1, n_in - 1)
            m[i, f] += 1 - (s - f)
            m[i, f1] += s - f
        return m

    want = np.einsum("ya,xb,abc->cyx", bilinear_matrix(13, out_h),
                     bilinear_matrix(29, out_w), rgb.astype(np.float64))
    want = (want - np.array(R.MEAN)[:, None, None]) / np.array(R.STD)[:, None, None]
    x = torch.from_numpy(rgb).permute(2, 0, 1).float()
    got = (R.resize(x, (out_h, out_w)) - torch.tensor(R.MEAN).view(3, 1, 1)) \
        / torch.tensor(R.STD).view(3, 1, 1)
    assert_close("bilinear resize", got, want, 1e-5)
    assert R.preprocess(rgb, 0).shape == (3, 13, 29)


def check_windows():
    assert R.window_origins(336, 224, 112) == [(0, 224), (112, 336)]
    assert R.window_origins(448, 224, 112) == [(0, 224), (112, 336), (224, 448)]
    assert R.window_origins(100, 64, 40) == [(0, 64), (36, 100)]
    assert R.window_origins(150, 64, 40) == [(0, 64), (40, 104), (80, 144),
                                             (86, 150)]
    assert R.window_origins(50, 224, 112) == [(0, 50)]


def check_pamr():
    """The authors' PAMR: 3x3 kernels with dilation on replicate-padded
    maps (centre minus neighbour for the image, neighbour copies for the
    mask, all 9 taps for the std)."""
    rng = np.random.default_rng(5)
    image = torch.from_numpy(rng.standard_normal((3, 23, 31)).astype("f4"))
    mask = torch.from_numpy(rng.standard_normal((4, 23, 31)).astype("f4"))

    def taps(centre_weight):
        k = []
        for y in range(3):
            for x in range(3):
                if (y, x) == (1, 1) and centre_weight is not None:
                    continue
                w = torch.zeros(1, 3, 3)
                w[0, y, x] = 1
                if centre_weight is not None:
                    w[0, 1, 1] += centre_weight
                k.append(w)
        return torch.stack(k)

    def shifted(x, kernel, dilations):
        x = x[:, None]
        return torch.cat([F.conv2d(F.pad(x, [d] * 4, mode="replicate"), kernel,
                                   dilation=d) for d in dilations], 1)

    for dilations, steps in (([8, 16], 10), ([1], 3), ([2, 3, 5], 1)):
        diff = -taps(-1.0)  # centre - neighbour
        std = shifted(image, taps(None), dilations).std(1, keepdim=True)
        aff = -shifted(image, diff, dilations).abs() / (1e-8 + 0.1 * std)
        aff = torch.softmax(aff.mean(0), 0)
        m = mask
        for _ in range(steps):
            m = (shifted(m, taps(0.0), dilations) * aff).sum(1)
        assert_close(f"pamr {dilations} x{steps}",
                     R.pamr(image, mask, steps, dilations), m, 1e-5)


def check_labels():
    logits = torch.tensor([[0.30, 0.10, 0.0],   # background "bg"
                           [0.10, 0.30, 0.0],   # class 1, name a
                           [0.00, 0.29, 0.0],   # class 1, name a2
                           [0.00, 0.00, 0.0]])[:, None, :]  # class 2
    probs, labels = R.label_map(logits, [0, 1, 1, 2], 2, 40.0, 0.0)
    q = torch.softmax(logits * 40, 0)
    assert_close("class 1 = max of its names", probs[1], torch.maximum(q[1], q[2]))
    assert labels.tolist() == [[0, 1, 0]]
    _, labels = R.label_map(logits, [0, 1, 1, 2], 2, 40.0, 0.5)
    assert labels.tolist() == [[0, 1, 0]]
    probs, labels = R.label_map(logits[1:], [1, 1, 2], 2, 40.0, 0.0)
    assert probs[0].abs().max() == 0
    assert labels.tolist() == [[1, 1, 1]]
    names, qlabels, n = R.parse_classes("sky,person|man|woman", None, "bg|floor")
    assert names == ["bg", "floor", "sky", "person", "man", "woman"]
    assert qlabels == [0, 0, 1, 2, 2, 2] and n == 2


CHECKS = [check_tokenizer_goldens, check_vision_against_mha,
          check_text_against_mha, check_layouts_agree, check_omega,
          check_position_interpolation, check_preprocessing, check_windows,
          check_pamr, check_labels]


def main():
    torch.set_num_threads(1)
    print(f"1..{len(CHECKS)}")
    failed = 0
    for i, check in enumerate(CHECKS, 1):
        name = check.__name__[len("check_"):]
        try:
            with torch.no_grad():
                check()
            print(f"ok {i} {name}")
        except Exception:
            failed += 1
            print(f"not ok {i} {name}")
            for line in traceback.format_exc().splitlines():
                print("# " + line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
