#!/usr/bin/python3
"""Stage-by-stage parity of `naclip segment` with the PyTorch reference.

For every case of a group: generate (cached) the seeded random checkpoint
(or the colour model of `naclip make-colour-model`), a synthetic test image
(or coloured regions with a little noise, which keeps PAMR's local
statistics above rounding noise) and seeded random query embeddings; run
the C tool
`$NACLIP_BUILD_ROOT/src/tool/naclip segment ... --dump-dir C` and the
reference `tests/reference/naclip_ref.py segment ... --dump-dir REF` with
the same arguments (both use --queries, so vision parity does not depend on
the text encoder); compare every dumped stage.

Tolerances (TOLERANCES below; why each):
  - "tiny" models: input, block, features, logits and refined within 1e-4
    absolute; queries within 1e-5 (passed through, or from the text tower:
    unit vectors after two normalisations).
  - "full" (ViT-B/16- and B/32-shaped) models: block, features, logits and refined
    within 1e-3 *relative to the stage's largest magnitude*
    (max|c - r| <= 1e-3 * max|r|): float32 sums over 768..3072 terms in a
    different order drift further than on tiny models.
  - probs = softmax(40 * logits): a logit error e moves a probability by at
    most 40 * e / 2, so 2e-3 absolute for both kinds.
  - labels: at least 99.9% of pixels equal (argmax ties may flip).
On failure the first 5 mismatches and the max difference are printed.

Exit status: 0 all cases agree, 1 a mismatch or an error, 77 (meson SKIP)
only while the built `naclip` has no `segment` command yet. A missing
binary is a failure.

    parity.py --group NAME [--case NAME] [--keep]     run a group
    parity.py --list                                  groups and cases
"""

import argparse
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TESTS, "fixtures"))
sys.path.insert(0, os.path.join(TESTS, "reference"))
import make_checkpoint  # noqa: E402
import make_colour_image  # noqa: E402
import make_image  # noqa: E402

SKIP = 77
LABEL_AGREEMENT = 0.999

TOLERANCES = {
    "tiny": {"input": ("abs", 1e-4), "block": ("abs", 1e-4),
             "features": ("abs", 1e-4), "queries": ("abs", 1e-5),
             "logits": ("abs", 1e-4), "refined": ("abs", 1e-4),
             "probs": ("abs", 2e-3)},
    "full": {"input": ("abs", 1e-4), "block": ("rel", 1e-3),
             "features": ("rel", 1e-3), "queries": ("abs", 1e-5),
             "logits": ("rel", 1e-3), "refined": ("rel", 1e-3),
             "probs": ("abs", 2e-3)},
}
STAGES = ("input", "block", "features", "queries", "logits", "refined",
          "probs", "labels")


def case(name, ckpt="tiny", layout="hf", dtype="F32", config=True,
         ckpt_seed=0, overrides=None, image=(90, 120), image_seed=1,
         classes="cat,dog|puppy,sky", background="ground|floor", threads=2,
         text=None, regions=None, **options):
    """One comparison. options are segment's knobs (defaults: the paper's,
    with a small inference size that suits the tiny models). Query
    embeddings are given (random, seeded) unless `text` is set: then both
    sides run their own text tower, with text["templates"] ("imagenet80",
    "single" or a list of lines for a file) and, if text["classes_file"]
    is a list of lines, a class file in the authors' format instead of
    `classes`. ckpt "colour" is the colour model; `regions`, a layout of
    make_colour_image.py, replaces the random image."""
    opts = dict(inference_size=64, slide_crop=0, slide_stride=112,
                attention="naclip", arch="reduced", gaussian_std=5.0,
                pamr_steps=10, pamr_dilations="8,16",
                class_confidence_threshold=0.0, logit_scale=40.0,
                output_size="original")
    unknown = set(options) - set(opts)
    if unknown:
        raise ValueError(f"case {name}: unknown options {unknown}")
    opts.update(options)
    return dict(name=name, ckpt=ckpt, layout=layout, dtype=dtype,
                config=config, ckpt_seed=ckpt_seed, overrides=overrides or {},
                image=image, image_seed=image_seed, classes=classes,
                background=background, threads=threads, text=text,
                regions=regions, options=opts,
                kind="full" if ckpt in ("b16", "b32") else "tiny")


# Coloured regions on white, with curved and straight edges.
COLOUR_SHAPES = ("white", [
    ("red", ("ellipse", .4, .3, .3, .22)),
    ("green", ("rect", .5, .45, .95, .8)),
    ("blue", ("ellipse", .3, .75, .22, .18)),
    ("grey", ("ellipse", .8, .15, .15, .12))])

# Groups run as separate meson tests (in parallel). Together they cover
# issue 3's proof: tiny checkpoints of several widths, depths, head counts,
# patch sizes 16 and 32, both key layouts, F16 (and BF16) storage, one
# ViT-B/16- and one ViT-B/32-shaped checkpoint; square and non-square
# images, images smaller than one crop, grids with and without positional interpolation (and the
# square-count quirk), whole and sliding modes, every attention strategy,
# PAMR (8,16), (1) and off, thresholds 0 and 0.1, synonyms, both output
# sizes.
GROUPS = {
    "tiny-layouts": [
        # 90x120 -> 64x85: grid 4x5, positional interpolation.
        case("hf-f32"),
        case("openai-f32", layout="openai"),
        case("openai-f16", layout="openai", dtype="F16"),
        case("hf-bf16", dtype="BF16", threads=1),
        # open_clip's files and config: 2 heads of 32 from head_width, GELU
        # from quick_gelu false.
        case("open-clip-gelu", layout="open_clip", overrides={"act": "gelu"}),
        # heads = width / 64 from shapes alone.
        case("openai-noconfig", ckpt="tiny128", layout="openai", config=False,
             inference_size=96),
        case("hf-noconfig", ckpt="tiny128", config=False, inference_size=96,
             image=(130, 97)),
    ],
    "tiny-shapes": [
        # 120x120 -> 64x64: grid 4x4 = pretrained, table used as is.
        case("square-nointerp", image=(120, 120)),
        # 32x128 at its own size: grid 2x8 has g*g patches: quirk.
        case("quirk-2x8", image=(32, 128), inference_size=0),
        # Pixels beyond the last whole patch are ignored.
        case("ragged-edges", image=(75, 101), inference_size=0),
        case("patch32", ckpt="tiny32", image=(200, 150), inference_size=128),
        case("patch32-square", ckpt="tiny32", image=(128, 128),
             inference_size=0),
        case("deep-4heads", ckpt="tiny-deep", image=(100, 100),
             inference_size=80),
        case("deep-nonsquare", ckpt="tiny-deep", image=(110, 170),
             inference_size=80, layout="openai"),
        case("gelu-wide", overrides={"act": "gelu", "vision_width": 96,
                                     "vision_heads": 3, "embed_dim": 24},
             image=(60, 90)),
        case("upscale-small", image=(40, 50), inference_size=64),
    ],
    "tiny-slide": [
        # 100x150 at its own size: 2x3 windows of 64, stride 40, last ones
        # shifted back inside the image.
        case("slide-64-40", image=(100, 150), inference_size=0, slide_crop=64,
             slide_stride=40),
        # Image smaller than one crop: one window, the whole image.
        case("slide-smaller-than-crop", image=(50, 60), inference_size=0,
             slide_crop=224, slide_stride=112),
        # Crop not a multiple of the patch, overlapping windows.
        case("slide-crop-70", image=(90, 120), inference_size=100,
             slide_crop=70, slide_stride=30, threads=1),
        case("slide-processing-size", image=(90, 120), inference_size=96,
             slide_crop=64, slide_stride=32, output_size="processing"),
        case("slide-patch32", ckpt="tiny32", image=(150, 200),
             inference_size=150, slide_crop=96, slide_stride=64),
    ],
    "tiny-attention": [
        case("kk", attention="kk"),
        case("nonly", attention="nonly"),
        case("csa-vanilla", attention="csa", arch="vanilla"),
        case("vanilla-vanilla", attention="vanilla", arch="vanilla"),
        case("vanilla-reduced", attention="vanilla"),
        case("naclip-vanilla", arch="vanilla"),
        case("naclip-std3", gaussian_std=3.0, ckpt="tiny-deep",
             image=(100, 140), inference_size=96),
        case("kk-vanilla-deep", attention="kk", arch="vanilla",
             ckpt="tiny-deep", image=(80, 80), inference_size=0),
    ],
    "tiny-labels": [
        case("pamr-1", pamr_dilations="1"),
        case("pamr-off", pamr_steps=0),
        case("pamr-3-steps-2-4-6", pamr_steps=3, pamr_dilations="2,4,6"),
        case("threshold-0.1", class_confidence_threshold=0.1),
        case("threshold-0.1-no-background", class_confidence_threshold=0.1,
             background=""),
        case("no-background", background="", classes="a|b|c,d,e|f"),
        case("logit-scale-100", logit_scale=100.0),
        case("processing-size", output_size="processing",
             image=(150, 110)),
        case("one-class", classes="thing", background="", pamr_steps=2),
    ],
    # The whole command, text side included: class strings and files,
    # templates, tokenizer, text tower and prompt ensembles.
    "tiny-text": [
        case("text-imagenet80", text={"templates": "imagenet80"}),
        case("text-single-openai-f16", layout="openai", dtype="F16",
             text={"templates": "single"}, classes="sky,road|street,person",
             background=""),
        case("text-files-deep", ckpt="tiny-deep", image=(100, 100),
             inference_size=80, background="wall|floor",
             text={"templates": ["a photo of the {}.", "{} in a café",
                                 "une photo naïve d'un {}!"],
                   "classes_file": ["aeroplane", "person, man, woman",
                                    "Café Terrace, 日本語のテキスト",
                                    "bicycle"]}),
    ],
    # The colour model (naclip make-colour-model): its own small vocabulary
    # through both tokenizers, a text tower that reads colour words, and
    # features that are mostly equal within a region.
    "colour": [
        case("colour-whole", ckpt="colour", image=(120, 160),
             inference_size=112, regions=COLOUR_SHAPES,
             classes="red,green|lime,blue,grey|gray", background="white|sky",
             text={"templates": "imagenet80"}),
        case("colour-slide", ckpt="colour", image=(120, 160),
             inference_size=150, slide_crop=96, slide_stride=48,
             regions=COLOUR_SHAPES, classes="red,green,blue,white,grey",
             background="", text={"templates": "single"}),
        case("colour-threshold", ckpt="colour", image=(100, 200),
             inference_size=100, regions=COLOUR_SHAPES,
             classes="red,blue", background="",
             class_confidence_threshold=0.6,
             text={"templates": "imagenet80"}),
    ],
    "b16": [
        # 224x224 at its size: grid 14x14 = pretrained.
        case("b16-224", ckpt="b16", image=(224, 224), inference_size=224,
             classes="a,b|b2,c", background="bg"),
        # 300x400 -> 336x448: grid 21x28 with interpolation, whole image.
        case("b16-336x448-whole", ckpt="b16", image=(300, 400),
             inference_size=336, classes="a,b|b2,c", background="bg",
             class_confidence_threshold=0.1),
    ],
    # ViT-B/32 (patch 32 at full width and depth, as patch32 and
    # slide-patch32 of tiny-shapes and tiny-slide are at tiny shape).
    "b32": [
        # 224x224 at its size: grid 7x7 = pretrained.
        case("b32-224", ckpt="b32", image=(224, 224), inference_size=224,
             classes="a,b|b2,c", background="bg"),
        # 480x640 -> 224x298: grid 7x9 with interpolation, whole image,
        # the element's configuration (PAMR at the processing size).
        case("b32-224x298-whole", ckpt="b32", image=(480, 640),
             inference_size=224, classes="a,b|b2,c,d,e", background="",
             output_size="processing"),
    ],
    "b16-slide": [
        # 240x320 -> 224x299 in 1x2 overlapping windows of 224 (14x14
        # grids), F16 storage.
        case("b16-224x299-slide", ckpt="b16", image=(240, 320),
             inference_size=224, slide_crop=224, slide_stride=112,
             classes="a,b|b2,c", background="bg", layout="openai",
             dtype="F16"),
    ],
}


# ---------------------------------------------------------------------------
# Fixtures


def build_root():
    root = os.environ.get("NACLIP_BUILD_ROOT")
    if not root:
        raise SystemExit("parity: NACLIP_BUILD_ROOT is not set (run through "
                         "meson test, or export it)")
    return root


def checkpoint(c):
    if c["ckpt"] == "colour":
        out = os.path.join(build_root(), "tests", "fixtures", "checkpoints",
                           "colour")
        subprocess.run([naclip_binary(), "make-colour-model", out],
                       check=True, capture_output=True, timeout=60)
        with open(os.path.join(out, "config.json")) as f:
            return out, {"embed_dim": json.load(f)["projection_dim"]}
    cfg = dict(make_checkpoint.PRESETS[c["ckpt"]])
    cfg.update(c["overrides"])
    key = json.dumps([cfg, c["layout"], c["dtype"], c["ckpt_seed"],
                      c["config"]], sort_keys=True)
    tag = hashlib.sha1(key.encode()).hexdigest()[:10]
    name = f"{c['ckpt']}-{c['layout']}-{c['dtype']}-{tag}"
    out = os.path.join(build_root(), "tests", "fixtures", "checkpoints", name)
    make_checkpoint.ensure(out, cfg, c["layout"], c["dtype"], c["ckpt_seed"],
                           c["config"])
    return out, cfg


def test_image(c):
    h, w = c["image"]
    if c["regions"] is not None:
        rgb, _, _ = make_colour_image.render(c["regions"], h, w, noise=6,
                                             seed=c["image_seed"])
        return make_colour_image.write_png(os.path.join(
            build_root(), "tests", "fixtures", "images",
            f"colour-{c['name']}-{h}x{w}.png"), rgb)
    path = os.path.join(build_root(), "tests", "fixtures", "images",
                        f"synthetic-{h}x{w}-s{c['image_seed']}.png")
    return make_image.make(path, h, w, c["image_seed"])


def n_queries(c):
    bg = len(c["background"].split("|")) if c["background"] else 0
    return bg + sum(len(g.split("|")) for g in c["classes"].split(","))


def write_lines(path, lines):
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join(line + "\n" for line in lines))
    return path


def queries(c, embed_dim, out_dir):
    rng = np.random.default_rng(1000 + embed_dim)
    q = rng.standard_normal((n_queries(c), embed_dim)).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    path = os.path.join(out_dir, "queries-in.npy")
    np.save(path, q.astype("<f4"))
    return path


def segment_args(c, model, work, embed_dim, queries_path=None):
    """The arguments both sides get (the image goes last); random queries
    of @embed_dim unless @queries_path is given."""
    o = c["options"]
    text = c["text"]
    args = ["--model", model]
    if text and text.get("classes_file"):
        args += ["--classes-file", write_lines(
            os.path.join(work, "classes.txt"), text["classes_file"])]
    else:
        args += ["--classes", c["classes"]]
    if c["background"]:
        args += ["--background", c["background"]]
    if text is None:
        args += ["--queries", queries_path or queries(c, embed_dim, work)]
    elif isinstance(text["templates"], list):
        args += ["--templates", write_lines(
            os.path.join(work, "templates.txt"), text["templates"])]
    else:
        args += ["--templates", text["templates"]]
    args += ["--inference-size", str(o["inference_size"]),
             "--slide-crop", str(o["slide_crop"]),
             "--slide-stride", str(o["slide_stride"]),
             "--attention", o["attention"], "--arch", o["arch"],
             "--gaussian-std", repr(o["gaussian_std"]),
             "--pamr-steps", str(o["pamr_steps"]),
             "--pamr-dilations", o["pamr_dilations"],
             "--class-confidence-threshold",
             repr(o["class_confidence_threshold"]),
             "--logit-scale", repr(o["logit_scale"]),
             "--output-size", o["output_size"]]
    return args


# ---------------------------------------------------------------------------
# Comparison


def describe_index(shape, flat):
    return "[" + ",".join(str(i) for i in np.unravel_index(flat, shape)) + "]"


def compare_stage(stage, c_arr, r_arr, kind):
    """-> list of failure lines (empty if the stage agrees)."""
    if c_arr.shape != r_arr.shape:
        return [f"{stage}: shape {c_arr.shape} (C) vs {r_arr.shape} (reference)"]
    if stage == "labels":
        if c_arr.dtype != np.int32:
            return [f"labels: dtype {c_arr.dtype}, expected int32"]
        differ = np.flatnonzero(c_arr.ravel() != r_arr.ravel())
        agree = 1.0 - differ.size / max(c_arr.size, 1)
        if agree >= LABEL_AGREEMENT:
            return []
        lines = [f"labels: {agree * 100:.3f}% of {c_arr.size} pixels agree, "
                 f"need {LABEL_AGREEMENT * 100:.1f}%"]
        for i in differ[:5]:
            lines.append(f"  at {describe_index(c_arr.shape, i)}: C "
                         f"{c_arr.ravel()[i]}, reference {r_arr.ravel()[i]}")
        return lines
    if c_arr.dtype != np.float32:
        return [f"{stage}: dtype {c_arr.dtype}, expected float32"]
    mode, tol = TOLERANCES[kind][stage]
    diff = np.abs(c_arr.astype(np.float64) - r_arr.astype(np.float64))
    if not np.all(np.isfinite(c_arr)):
        bad = np.flatnonzero(~np.isfinite(c_arr.ravel()))
        return [f"{stage}: {bad.size} non-finite values, first at "
                f"{describe_index(c_arr.shape, bad[0])}"]
    scale = float(np.abs(r_arr).max()) if r_arr.size else 0.0
    limit = tol if mode == "abs" else tol * max(scale, 1e-30)
    worst = float(diff.max()) if diff.size else 0.0
    if worst <= limit:
        return []
    lines = [f"{stage}: max |C - reference| = {worst:.3g} > {limit:.3g} "
             f"({mode} tolerance {tol:g}"
             + (f" of max |reference| {scale:.3g})" if mode == "rel" else ")")]
    for i in np.flatnonzero(diff.ravel() > limit)[:5]:
        lines.append(f"  at {describe_index(c_arr.shape, i)}: C "
                     f"{c_arr.ravel()[i]:.7g}, reference {r_arr.ravel()[i]:.7g}")
    return lines


def compare(c_dir, r_dir, kind):
    failures = []
    report = []
    for stage in STAGES:
        r_path = os.path.join(r_dir, stage + ".npy")
        c_path = os.path.join(c_dir, stage + ".npy")
        r_arr = np.load(r_path)
        if not os.path.exists(c_path):
            failures.append(f"{stage}: the C tool wrote no {stage}.npy")
            continue
        try:
            c_arr = np.load(c_path)
        except ValueError as e:
            failures.append(f"{stage}: {c_path} is not a valid .npy: {e}")
            continue
        lines = compare_stage(stage, c_arr, r_arr, kind)
        failures += lines
        if lines or not c_arr.size:
            continue
        if stage == "labels":
            agree = np.mean(c_arr == r_arr) * 100
            report.append(f"labels {agree:.2f}% equal")
        else:
            worst = np.abs(c_arr.astype(np.float64) - r_arr).max()
            report.append(f"{stage} {worst:.1e}")
    return failures, report


# ---------------------------------------------------------------------------
# Running


def naclip_binary():
    return os.path.join(build_root(), "src", "tool", "naclip")


def has_segment(binary):
    """False while the tool exists but has no segment command yet."""
    out = subprocess.run([binary, "--help"], capture_output=True, text=True,
                         timeout=60)
    return re.search(r"^\s+segment\s", out.stdout + out.stderr,
                     re.MULTILINE) is not None


def run_reference(args, dump_dir):
    import naclip_ref

    code = naclip_ref.main(["segment", *args, "--threads", "1",
                            "--dump-dir", dump_dir])
    if code != 0:
        raise RuntimeError(f"reference failed ({code}) on {' '.join(args)}")


def run_case(c, group_dir, binary):
    model, cfg = checkpoint(c)
    image = test_image(c)
    work = os.path.join(group_dir, c["name"])
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    args = segment_args(c, model, work, cfg["embed_dim"])
    r_dir, c_dir = os.path.join(work, "reference"), os.path.join(work, "c")

    t0 = time.monotonic()
    run_reference(args + [image], r_dir)
    t1 = time.monotonic()
    cmd = [binary, "segment", *args, "--threads", str(c["threads"]),
           "--precision", "fp32", image,
           "-o", os.path.join(work, "labels.png"), "--dump-dir", c_dir]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    t2 = time.monotonic()
    if proc.returncode != 0:
        return [f"naclip segment exited with {proc.returncode}",
                "  command: " + shlex.join(cmd),
                "  stderr: " + proc.stderr.strip()[-2000:]], ""
    failures, report = compare(c_dir, r_dir, c["kind"])
    if failures:
        failures.append("  command: " + shlex.join(cmd))
    timing = f"reference {t1 - t0:.1f} s, C {t2 - t1:.1f} s"
    return failures, "; ".join(report) + f" ({timing})"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--group", choices=sorted(GROUPS))
    ap.add_argument("--case", help="run only this case of the group")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--keep", action="store_true",
                    help="keep the dumps of passing cases")
    args = ap.parse_args(argv)
    if args.list:
        for g, cases in GROUPS.items():
            print(g + ": " + ", ".join(c["name"] for c in cases))
        return 0
    if not args.group:
        ap.error("--group is required")

    binary = naclip_binary()
    if not os.access(binary, os.X_OK):
        print(f"parity: FAIL: the naclip tool is not built at {binary}")
        return 1
    if not has_segment(binary):
        print(f"parity: SKIP: {binary} has no 'segment' command yet")
        return SKIP

    import torch

    torch.set_num_threads(1)
    cases = [c for c in GROUPS[args.group]
             if args.case is None or c["name"] == args.case]
    if not cases:
        ap.error(f"no case {args.case!r} in group {args.group}")
    group_dir = os.path.join(build_root(), "tests", "parity", args.group)
    n_failed = 0
    for c in cases:
        try:
            failures, report = run_case(c, group_dir, binary)
        except Exception as e:  # a crash of one case must not hide the others
            failures, report = [f"error: {type(e).__name__}: {e}"], ""
        if failures:
            n_failed += 1
            print(f"FAIL {c['name']}")
            for line in failures:
                print("  " + line)
        else:
            print(f"ok   {c['name']}: {report}")
            if not args.keep:
                shutil.rmtree(os.path.join(group_dir, c["name"]),
                              ignore_errors=True)
    print(f"parity {args.group}: {len(cases) - n_failed} of {len(cases)} "
          f"cases agree")
    return 1 if n_failed else 0


if __name__ == "__main__":
    sys.exit(main())
