#!/usr/bin/python3
"""End-to-end test of `naclip eval` on synthetic datasets (prints TAP).

    test-eval.py NACLIP MAKE_CHECKPOINT

For each of the eight benchmarks this builds a small dataset in its
standard layout under $NACLIP_BUILD_ROOT/tests/eval-data (a few images of
odd sizes, annotation PNGs with blocks of every label range, ignore pixels
and, for VOC, palette PNGs; annotations are written by this file's own PNG
encoder, which uses every PNG row filter), runs `naclip eval` with a tiny
seeded random checkpoint, and checks the printed `mIoU:` line and the JSON
report against an independent computation here: numpy confusion counts
over the written --predictions PNGs and the annotations read with Pillow,
with mmseg's reduce_zero_label and ignore index 255 and mIoU = nanmean of
the per-class IoUs.

The dataset facts used here (layouts, suffixes, reduce_zero_label, class
counts) are written down from mmseg and the authors' configs independently
of src/tool/eval-datasets.c.
"""

import json
import os
import shutil
import struct
import subprocess
import sys
import zlib

import numpy as np
from PIL import Image

from tap import check, done
from voc_colours import voc_colour

NACLIP, MAKE_CKPT = sys.argv[1], sys.argv[2]
BUILD = os.environ.get("NACLIP_BUILD_ROOT", os.getcwd())
WORK = os.path.join(BUILD, "tests", "eval-data")

# name: (img_dir, seg_dir, split, img_suffix, seg_suffix, reduce_zero_label,
#        n_eval_classes, largest file label, background in the class list)
DATASETS = {
    "voc21": ("JPEGImages", "SegmentationClass",
              "ImageSets/Segmentation/val.txt", ".jpg", ".png", False, 21, 20,
              True),
    "voc20": ("JPEGImages", "SegmentationClass",
              "ImageSets/Segmentation/val.txt", ".jpg", ".png", True, 20, 20,
              False),
    "context60": ("JPEGImages", "SegmentationClassContext",
                  "ImageSets/SegmentationContext/val.txt", ".jpg", ".png",
                  False, 60, 59, True),
    "context59": ("JPEGImages", "SegmentationClassContext",
                  "ImageSets/SegmentationContext/val.txt", ".jpg", ".png",
                  True, 59, 59, False),
    "coco-object": ("images/val2017", "annotations/val2017", None, ".jpg",
                    "_instanceTrainIds.png", False, 81, 80, True),
    "coco-stuff": ("images/val2017", "annotations/val2017", None, ".jpg",
                   "_labelTrainIds.png", False, 171, 170, False),
    "cityscapes": ("leftImg8bit/val", "gtFine/val", None, "_leftImg8bit.png",
                   "_gtFine_labelTrainIds.png", False, 19, 18, False),
    "ade20k": ("images/validation", "annotations/validation", None, ".jpg",
               ".png", True, 150, 150, False),
}

SIZES = [(40, 56), (48, 36), (37, 61)]  # (height, width), odd on purpose

# ---------------------------------------------------------------- PNG writer
def png_chunk(kind, data):
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def write_label_png(path, labels, palette=False):
    """8-bit grey or palette PNG; row y uses filter type y % 5."""
    h, w = labels.shape
    raw = bytearray()
    prev = [0] * w
    for y in range(h):
        row = [int(v) for v in labels[y]]
        ftype = y % 5
        out = []
        for x in range(w):
            a = row[x - 1] if x > 0 else 0
            b = prev[x]
            c = prev[x - 1] if x > 0 else 0
            pred = (0, a, b, (a + b) // 2, paeth(a, b, c))[ftype]
            out.append((row[x] - pred) & 0xff)
        raw.append(ftype)
        raw.extend(out)
        prev = row
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 3 if palette else 0, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)
    if palette:
        pal = b"".join(bytes(voc_colour(k)) for k in range(256))
        data += png_chunk(b"PLTE", pal)
    data += png_chunk(b"IDAT", zlib.compress(bytes(raw), 9))
    data += png_chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(data)


# ------------------------------------------------------------ dataset maker
def make_labels(rng, h, w, top, with_ignore=True):
    """Blocks of labels 0..top, plus a few ignore pixels."""
    labels = np.zeros((h, w), np.uint8)
    by, bx = 8, 8
    for y in range(0, h, by):
        for x in range(0, w, bx):
            labels[y:y + by, x:x + bx] = rng.integers(0, top + 1)
    if with_ignore:
        mask = rng.random((h, w)) < 0.05
        labels[mask] = 255
        labels[0, :] = 255  # a border like VOC's
    return labels


def make_image(rng, h, w, labels):
    """A photo-like image: a colour per label plus noise."""
    colours = rng.integers(0, 256, (256, 3))
    img = colours[labels].astype(np.float64)
    img += rng.normal(0, 20, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def build_dataset(name):
    (img_dir, seg_dir, split, img_suffix, seg_suffix, _reduce, _n, top,
     _bg) = DATASETS[name]
    root = os.path.join(WORK, name)
    rng = np.random.default_rng(sum(name.encode()))
    ids = []
    for i, (h, w) in enumerate(SIZES):
        if name == "cityscapes":
            ident = f"city{i % 2}/city{i % 2}_{i:06d}_000019"
        elif split is not None:
            ident = f"2008_{i:06d}"
        else:
            ident = f"{i:012d}"
        ids.append(ident)
        labels = make_labels(rng, h, w, top)
        img_path = os.path.join(root, img_dir, ident + img_suffix)
        seg_path = os.path.join(root, seg_dir, ident + seg_suffix)
        os.makedirs(os.path.dirname(img_path), exist_ok=True)
        os.makedirs(os.path.dirname(seg_path), exist_ok=True)
        im = Image.fromarray(make_image(rng, h, w, labels))
        if img_suffix.endswith(".png"):
            im.save(img_path)
        else:
            im.save(img_path, quality=95)
        write_label_png(seg_path, labels, palette=name.startswith("voc"))
    if split is not None:
        os.makedirs(os.path.dirname(os.path.join(root, split)), exist_ok=True)
        # Listed out of sorted order: the split file's order is kept.
        with open(os.path.join(root, split), "w") as f:
            f.write("\n".join(reversed(ids)) + "\n")
    else:
        # A file the listing must skip (wrong suffix).
        with open(os.path.join(root, img_dir, "README.txt"), "w") as f:
            f.write("not an image\n")
    return root, ids


# ------------------------------------------------------ independent metric
def reduce_zero(a):
    a = a.astype(np.int64)
    out = a - 1
    out[a == 0] = 255
    out[a == 255] = 255
    return out


def expected_metric(name, root, ids, pred_dir):
    (img_dir, seg_dir, _split, img_suffix, seg_suffix, reduce, n, top,
     bg) = DATASETS[name]
    inter = np.zeros(n)
    area_pred = np.zeros(n)
    area_label = np.zeros(n)
    problems = []
    for ident in ids:
        gt = np.array(Image.open(os.path.join(root, seg_dir,
                                              ident + seg_suffix)))
        stem = os.path.splitext(os.path.basename(ident + img_suffix))[0]
        pred_path = os.path.join(pred_dir, stem + ".png")
        if not os.path.exists(pred_path):
            problems.append(f"missing prediction {pred_path}")
            continue
        pred = np.array(Image.open(pred_path))
        if pred.shape != gt.shape:
            problems.append(f"{pred_path}: shape {pred.shape} != {gt.shape}")
            continue
        # Allowed values in the file numbering.
        allowed = set(range(top + 1)) if (bg or reduce) else \
            set(range(n)) | {255}
        bad = set(np.unique(pred).tolist()) - allowed
        if bad:
            problems.append(f"{pred_path}: values {sorted(bad)} outside "
                            "the dataset's numbering")
        gt = gt.astype(np.int64)
        pred = pred.astype(np.int64)
        if reduce:
            gt, pred = reduce_zero(gt), reduce_zero(pred)
        keep = gt != 255
        g, p = gt[keep], pred[keep]
        inter += np.bincount(g[(g == p) & (g < n)], minlength=n)[:n]
        area_pred += np.bincount(p[p < n], minlength=n)[:n]
        area_label += np.bincount(g[g < n], minlength=n)[:n]
    union = area_pred + area_label - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = inter / union
    return iou, np.nanmean(iou), inter, union, problems


# --------------------------------------------------------------------- main
def run(args, **kw):
    # The embedding cache of naclip segment goes under the build dir.
    env = dict(os.environ, XDG_CACHE_HOME=os.path.join(WORK, "cache"))
    return subprocess.run([NACLIP, *args], capture_output=True, text=True,
                          timeout=600, env=env, **kw)


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    ckpt = os.path.join(BUILD, "tests", "fixtures", "ckpt-tiny-eval")
    subprocess.run([sys.executable, MAKE_CKPT, ckpt, "--preset", "tiny"],
                   check=True)
    common = ["--model", ckpt, "--templates", "single", "--no-cache",
              "--threads", "2"]
    # The metric does not depend on the processing size: a short side of
    # 112 keeps the eight runs fast (the presets are checked below).
    fast = ["--inference-size", "112"]

    for name in DATASETS:
        root, ids = build_dataset(name)
        pred_dir = os.path.join(WORK, name + "-pred")
        report = os.path.join(WORK, name + ".json")
        for f in os.listdir(pred_dir) if os.path.isdir(pred_dir) else []:
            os.remove(os.path.join(pred_dir, f))
        r = run(["eval", *common, *fast, "--dataset", name, "--root", root,
                 "--predictions", pred_dir, "--json", report])
        if r.returncode != 0:
            check(False, f"{name}: naclip eval runs",
                  f"status {r.returncode}\n{r.stdout}\n{r.stderr}")
            continue
        printed = [line for line in r.stdout.splitlines()
                   if line.startswith("mIoU: ")]
        iou, miou, inter, union, problems = expected_metric(
            name, root, ids, pred_dir)
        check(not problems, f"{name}: one prediction per image, in the "
              "dataset's numbering", "\n".join(problems))
        ok = len(printed) == 1 and \
            abs(float(printed[0].split()[1]) - 100 * miou) < 0.0051
        check(ok, f"{name}: printed mIoU matches numpy "
              f"({100 * miou:.4f})", r.stdout)
        with open(report) as f:
            rep = json.load(f)
        got_iou = np.array([np.nan if c["iou"] is None else c["iou"]
                            for c in rep["classes"]])
        same_nan = (np.isnan(got_iou) == np.isnan(iou)).all()
        close = np.allclose(got_iou[~np.isnan(iou)], iou[~np.isnan(iou)],
                            rtol=0, atol=1e-12)
        areas = (np.array([c["intersect"] for c in rep["classes"]]) ==
                 inter).all() and \
            (np.array([c["union"] for c in rep["classes"]]) == union).all()
        check(len(rep["classes"]) == DATASETS[name][6] and same_nan and close
              and areas and abs(rep["mIoU"] - miou) < 1e-12
              and rep["images"] == len(ids),
              f"{name}: JSON per-class IoUs and areas match numpy",
              f"json {got_iou}\nnumpy {iou}")
        n_nan = int(np.isnan(iou).sum())
        check(f"classes in the mean: {DATASETS[name][6] - n_nan} of "
              f"{DATASETS[name][6]}" in r.stdout,
              f"{name}: states how many classes the mean covers", r.stdout)

    # Our labels -> the dataset's numbering, against `naclip segment`'s
    # label dump for the same image and settings: a list with background
    # (voc21: same numbers), a reduce_zero_label dataset (voc20: same
    # numbers in the file, 0 = background), a dataset without either
    # (cityscapes: k -> k - 1, and background -> 255; the threshold 0.3
    # makes this tiny model leave a part of the pixels to background).
    for name, slide, thd in (("voc21", "0", "0.1"), ("voc20", "0", "0"),
                             ("cityscapes", "224", "0.3")):
        root = os.path.join(WORK, name)
        pred_dir = os.path.join(WORK, name + "-map")
        dump = os.path.join(WORK, name + "-dump")
        _, _, split, img_suffix, _, reduce, _, _, bg = DATASETS[name]
        r = run(["eval", *common, *fast, "--dataset", name, "--root", root,
                 "--limit", "1", "--predictions", pred_dir,
                 "--class-confidence-threshold", thd])
        first = sorted(os.listdir(pred_dir))[0] if r.returncode == 0 else ""
        stem = os.path.splitext(first)[0]
        if split is not None:
            image = os.path.join(root, DATASETS[name][0], stem + img_suffix)
        else:
            image = os.path.join(root, DATASETS[name][0], "city0",
                                 stem + ".png")
        s = run(["segment", "--model", ckpt, "--classes-file", name,
                 "--templates", "single", "--threads", "2", *fast,
                 "--slide-crop", slide, "--slide-stride", "112",
                 "--class-confidence-threshold", thd, "--pamr-steps", "10",
                 "--dump-dir", dump, image])
        if r.returncode != 0 or s.returncode != 0:
            check(False, f"{name}: eval and segment run",
                  f"segment status {s.returncode}: {s.stderr}\n"
                  f"eval status {r.returncode}: {r.stderr}")
            continue
        ours = np.load(os.path.join(dump, "labels.npy")).astype(np.int64)
        pred = np.array(Image.open(os.path.join(pred_dir, first)))
        if bg or reduce:
            expect = ours
            mixed = True
        else:
            expect = np.where(ours == 0, 255, ours - 1)
            mixed = (ours == 0).any() and (ours > 0).any()
        check(ours.shape == pred.shape and (pred == expect).all() and mixed,
              f"{name}: predictions are our labels in the dataset's "
              f"numbering (background pixels: {int((ours == 0).sum())})",
              f"{ours.shape} {pred.shape}\n{np.unique(ours)}\n"
              f"{np.unique(pred)}")

    # --limit keeps the first images in the split file's order.
    root = os.path.join(WORK, "voc21")
    pred_dir = os.path.join(WORK, "voc21-limit")
    r = run(["eval", *common, *fast, "--dataset", "voc21", "--root", root,
             "--limit", "1", "--predictions", pred_dir])
    check(r.returncode == 0 and "1 images" in r.stdout
          and os.listdir(pred_dir) == ["2008_000002.png"],
          "--limit 1 evaluates the first image of val.txt",
          r.stdout + r.stderr + str(os.listdir(pred_dir)
                                    if os.path.isdir(pred_dir) else ""))

    # Knobs override the preset and show in the protocol line.
    r = run(["eval", *common, *fast, "--dataset", "voc21", "--root", root,
             "--limit", "1", "--pamr-steps", "0", "--slide-crop", "224",
             "--class-confidence-threshold", "0"])
    proto = [line for line in r.stdout.splitlines()
             if line.startswith("protocol:")]
    check(r.returncode == 0 and proto
          and "slide 224/112" in proto[0] and "PAMR off" in proto[0]
          and "threshold 0," in proto[0],
          "command-line knobs override the preset", r.stdout + r.stderr)
    r = run(["eval", *common, "--dataset", "cityscapes", "--root",
             os.path.join(WORK, "cityscapes"), "--limit", "1"])
    proto = [line for line in r.stdout.splitlines()
             if line.startswith("protocol:")]
    check(r.returncode == 0 and proto and "short side 560" in proto[0]
          and "slide 224/112" in proto[0] and "threshold 0," in proto[0],
          "the Cityscapes preset: short side 560, slide 224/112",
          r.stdout + r.stderr)

    # Errors: unknown dataset (usage, 2), missing layout, size mismatch (1).
    r = run(["eval", *common, "--dataset", "voc2012", "--root", root])
    check(r.returncode == 2 and "unknown dataset" in r.stderr,
          "an unknown dataset is a usage error", r.stderr)
    r = run(["eval", *common, "--dataset", "voc21", "--root", root,
             "--slide-crop", "-3"])
    check(r.returncode == 2 and "--slide-crop -3" in r.stderr,
          "a negative knob is a usage error", r.stderr)
    r = run(["eval", *common, "--dataset", "voc21", "--root", root,
             "--pamr-dilations", "8,x"])
    check(r.returncode == 2, "bad PAMR dilations are a usage error",
          r.stderr)
    r = run(["eval", *common, "--dataset", "ade20k", "--root", root])
    check(r.returncode == 1 and "images/validation" in r.stderr,
          "a root without the layout names the missing directory", r.stderr)
    bad = os.path.join(WORK, "voc21-bad")
    build_root = os.path.join(WORK, "voc21")
    shutil.copytree(build_root, bad)
    write_label_png(os.path.join(bad, "SegmentationClass", "2008_000002.png"),
                    np.zeros((5, 5), np.uint8), palette=True)
    r = run(["eval", *common, *fast, "--dataset", "voc21", "--root", bad])
    check(r.returncode == 1 and "2008_000002.png is 5x5" in r.stderr,
          "an annotation of the wrong size stops the run, naming both files",
          r.stderr)

    # Damaged annotations stop the run with a message naming the file.
    ann = os.path.join(bad, "SegmentationClass", "2008_000002.png")
    good = np.zeros((SIZES[2][0], SIZES[2][1]), np.uint8)
    write_label_png(ann, good, palette=True)
    blob = open(ann, "rb").read()
    cases = [
        ("truncated", blob[:60], "truncated"),
        ("CRC", blob[:-20] + bytes([blob[-20] ^ 1]) + blob[-19:], "CRC"),
        ("RGB", None, "colour type 2"),
    ]
    for what, data, message in cases:
        if data is None:
            Image.fromarray(np.zeros((SIZES[2][0], SIZES[2][1], 3),
                                     np.uint8)).save(ann)
        else:
            with open(ann, "wb") as f:
                f.write(data)
        r = run(["eval", *common, *fast, "--dataset", "voc21", "--root",
                 bad])
        check(r.returncode == 1 and message in r.stderr
              and "2008_000002.png" in r.stderr,
              f"a {what} annotation PNG is an error naming the file",
              r.stderr)

    return done()


if __name__ == "__main__":
    sys.exit(main())
