#!/usr/bin/python3
"""`naclip segment` on several files and directories: output naming, the
colour label maps, the overlays (blend and legend) and the progress lines.
Prints TAP.

    test-segment-batch.py NACLIP MAKE_CHECKPOINT

The overlay is checked pixel by pixel against its definition computed here
with numpy from the PNG input and the labels the same command dumps for a
single image (--dump-dir): label 0 keeps the image, label k >= 1 becomes
(1 - alpha) * image + alpha * colour(k) rounded, colour(k) being the VOC
colour map; a white legend panel is appended on the right.
"""

import os
import shutil
import subprocess
import sys

import numpy as np
from PIL import Image

from tap import check, done
from voc_colours import voc_colour

NACLIP, MAKE_CKPT = sys.argv[1], sys.argv[2]
BUILD = os.environ.get("NACLIP_BUILD_ROOT", os.getcwd())
WORK = os.path.join(BUILD, "tests", "segment-batch")


def run(args):
    # The embedding cache goes under the build dir, not the user's.
    env = dict(os.environ, XDG_CACHE_HOME=os.path.join(WORK, "cache"))
    return subprocess.run([NACLIP, *args], capture_output=True, text=True,
                          timeout=600, env=env)


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    images = os.path.join(WORK, "images")
    os.makedirs(images)
    ckpt = os.path.join(BUILD, "tests", "fixtures", "ckpt-tiny-eval")
    subprocess.run([sys.executable, MAKE_CKPT, ckpt, "--preset", "tiny"],
                   check=True)
    rng = np.random.default_rng(7)
    names = ["b-second", "a-first", "c-third"]
    for i, name in enumerate(names):
        h, w = 40 + 8 * i, 56 - 4 * i
        img = rng.integers(0, 256, (h, w, 3)).astype(np.uint8)
        Image.fromarray(img).save(os.path.join(images, name + ".png"))
    with open(os.path.join(images, "notes.txt"), "w") as f:
        f.write("skipped\n")
    common = ["--model", ckpt, "--classes", "sky,road,person|man,car",
              "--templates", "single", "--inference-size", "64",
              "--pamr-steps", "2"]

    out = os.path.join(WORK, "out")
    r = run(["segment", *common, "-o", os.path.join(out, "labels"),
             "--overlay", os.path.join(out, "overlays"), images])
    labels = sorted(os.listdir(os.path.join(out, "labels"))) \
        if r.returncode == 0 else []
    overlays = sorted(os.listdir(os.path.join(out, "overlays"))) \
        if r.returncode == 0 else []
    check(r.returncode == 0
          and labels == [n + "-labels.png" for n in sorted(names)]
          and overlays == [n + "-overlay.png" for n in sorted(names)],
          "a directory: <name>-labels.png and <name>-overlay.png per image, "
          "other files skipped", r.stdout + r.stderr + str(labels))
    progress = [line for line in r.stderr.splitlines() if "/3 " in line]
    check(len(progress) == 3 and progress[0].startswith("1/3 ")
          and "a-first" in progress[0] and "ETA" in progress[0]
          and "3 images segmented" in r.stdout,
          "plain progress lines with rate and ETA when stderr is not a "
          "terminal, in sorted order", r.stderr + r.stdout)

    # One image, with its label dump: the reference for the batch outputs.
    single = os.path.join(images, "a-first.png")
    dump = os.path.join(WORK, "dump")
    one = os.path.join(WORK, "one-overlay.png")
    r = run(["segment", *common, "--dump-dir", dump, "--overlay", one,
             "--alpha", "0.5", single])
    if r.returncode != 0:
        check(False, "single image with --dump-dir and --overlay",
              r.stdout + r.stderr)
        return done()
    ours = np.load(os.path.join(dump, "labels.npy")).astype(np.int64)
    img = np.array(Image.open(single).convert("RGB")).astype(np.float64)
    h, w = ours.shape
    colours = np.array([voc_colour(k) for k in range(256)], np.float64)

    lab = np.array(Image.open(os.path.join(out, "labels",
                                           "a-first-labels.png"))
                   .convert("RGB"))
    check(lab.shape == (h, w, 3) and (lab == colours[ours]).all(),
          "batch colour label map = VOC colours of the single run's labels",
          f"{lab.shape} vs {(h, w, 3)}")

    expect = np.where(ours[..., None] == 0, img,
                      0.5 * img + 0.5 * colours[ours])
    expect = np.floor(expect + 0.5)
    for path, what in ((one, "single-image overlay"),
                       (os.path.join(out, "overlays",
                                     "a-first-overlay.png"),
                        "batch overlay")):
        ov = np.array(Image.open(path).convert("RGB")).astype(np.float64)
        left = ov[:h, :w]
        diff = np.abs(left - expect).max() if left.shape == expect.shape \
            else None
        legend = ov[:, w:]
        present = len(set(np.unique(ours).tolist()) - {0})
        check(diff is not None and diff <= 1.0 and ov.shape[1] > w + 20
              and (legend == 255).mean() > 0.5 and present > 0
              and (legend < 128).any(),
              f"{what}: blend of image and colours (max diff {diff}), "
              "white legend with text on the right", f"{ov.shape}")

    # Errors are usage errors (status 2) and name the culprit.
    r = run(["segment", *common, "--overlay", one, single,
             os.path.join(WORK, "missing.png")])
    check(r.returncode == 2 and "missing.png" in r.stderr,
          "a missing input is named", r.stderr)
    r = run(["segment", *common, "--dump-dir", dump, images])
    check(r.returncode == 2 and "--dump-dir" in r.stderr,
          "--dump-dir with several images is refused", r.stderr)
    r = run(["segment", *common, "--overlay", one, "--alpha", "1.5", single])
    check(r.returncode == 2 and "--alpha" in r.stderr,
          "--alpha outside 0..1 is refused", r.stderr)
    empty = os.path.join(WORK, "empty")
    os.makedirs(empty)
    r = run(["segment", *common, "--overlay", one, empty])
    check(r.returncode == 2 and "no image" in r.stderr,
          "a directory without images is refused", r.stderr)

    return done()


if __name__ == "__main__":
    sys.exit(main())
