#!/usr/bin/python3
"""--precision on the naclip commands that compute: embed, segment, eval and
bench. Prints TAP.

    test-tool-precision.py NACLIP MAKE_CHECKPOINT

Each command must run with --precision fp32 and name what it ran at with
the requested precision ("fp32 (requested fp32)": embed and segment in one
stderr line, eval in its protocol line and JSON report, bench and bench
--products in their "#" header), refuse an unknown value as a usage error
(status 2) naming it, and with --precision bf16 either run at bf16 or
fail (status 1) with the
library's NACLIP_ERROR_UNSUPPORTED message ("precision bf16: ...") naming
--precision, whichever `naclip info` says auto resolves to here: bf16 on a
CPU with AMX or AVX512-BF16 and a oneDNN build, fp32 elsewhere. Without
--precision, auto runs at that same precision. --precision int8 runs and
names int8 where `naclip info` lists it (a oneDNN build), and fails like
bf16 elsewhere.
"""

import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
from PIL import Image

from tap import check, done

NACLIP, MAKE_CKPT = sys.argv[1], sys.argv[2]
BUILD = os.environ.get("NACLIP_BUILD_ROOT", os.getcwd())
WORK = os.path.join(BUILD, "tests", "tool-precision")


def run(args):
    # The embedding cache goes under the build dir, not the user's.
    env = dict(os.environ, XDG_CACHE_HOME=os.path.join(WORK, "cache"))
    return subprocess.run([NACLIP, *args], capture_output=True, text=True,
                          timeout=600, env=env)


def make_voc21(root, image):
    """A one-image dataset in the voc21 layout."""
    for d in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        os.makedirs(os.path.join(root, d))
    Image.fromarray(image).save(os.path.join(root, "JPEGImages", "a.jpg"))
    labels = np.zeros(image.shape[:2], np.uint8)
    labels[:, image.shape[1] // 2:] = 15
    Image.fromarray(labels).save(
        os.path.join(root, "SegmentationClass", "a.png"))
    with open(os.path.join(root, "ImageSets", "Segmentation", "val.txt"),
              "w") as f:
        f.write("a\n")


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    ckpt = os.path.join(BUILD, "tests", "fixtures", "ckpt-tiny-eval")
    subprocess.run([sys.executable, MAKE_CKPT, ckpt, "--preset", "tiny"],
                   check=True)
    image = np.random.default_rng(3).integers(0, 256, (40, 56, 3)) \
        .astype(np.uint8)
    png = os.path.join(WORK, "image.png")
    Image.fromarray(image).save(png)
    voc = os.path.join(WORK, "voc21")
    make_voc21(voc, image)

    info = run(["info", ckpt])
    m = re.search(r"^precision auto: (fp32|bf16) ", info.stdout, re.M)
    if info.returncode != 0 or not m:
        check(False, "naclip info says what auto resolves to",
              info.stdout + info.stderr)
        return done()
    auto = m.group(1)
    print(f"# auto resolves to {auto} here")
    m = re.search(r"^precisions: (.*)$", info.stdout, re.M)
    int8 = bool(m) and "int8" in m.group(1).split()
    print(f"# int8 {'runs' if int8 else 'cannot run'} here")

    fast = ["--templates", "single", "--threads", "2"]
    image_knobs = ["--inference-size", "64", "--pamr-steps", "2"]
    commands = {
        "embed": lambda p, tag: run(
            ["embed", "--model", ckpt, "--classes", "sky,road|street",
             "--background", "wall", "--no-cache", *fast,
             "-o", os.path.join(WORK, f"queries-{tag}.npy"), *p]),
        "segment": lambda p, tag: run(
            ["segment", "--model", ckpt, "--classes", "sky,road|street",
             *fast, *image_knobs, "-o", os.path.join(WORK, f"{tag}.png"),
             png, *p]),
        "eval": lambda p, tag: run(
            ["eval", "--model", ckpt, "--dataset", "voc21", "--root", voc,
             "--no-cache", *fast, *image_knobs,
             "--json", os.path.join(WORK, f"eval-{tag}.json"), *p]),
        "bench": lambda p, tag: run(
            ["bench", "--model", ckpt, "--size", "64x48", "--classes", "3",
             "--pamr-steps", "2", "--repeat", "1", "--threads", "2", *p]),
        "bench --products": lambda p, tag: run(
            ["bench", "--products", "--model", ckpt, "--size", "64x48",
             "--repeat", "1", "--threads", "2", *p]),
    }

    def named(cmd, r, resolved, requested):
        """Whether @cmd's output names the precision it ran at."""
        words = f"{resolved} (requested {requested})"
        if cmd in ("embed", "segment"):
            return f"naclip {cmd}: precision: {words}" in r.stderr.splitlines()
        if cmd.startswith("bench"):
            return f"# precision {words}, " in r.stdout
        proto = [line for line in r.stdout.splitlines()
                 if line.startswith("protocol:")]
        with open(os.path.join(WORK, f"eval-{requested}.json")) as f:
            params = json.load(f)["params"]
        return len(proto) == 1 and proto[0].endswith(f"precision {words}") \
            and params["precision"] == resolved \
            and params["requested_precision"] == requested

    for cmd, go in commands.items():
        r = go(["--precision", "fp32"], "fp32")
        check(r.returncode == 0 and named(cmd, r, "fp32", "fp32"),
              f"{cmd} --precision fp32 runs and names fp32",
              r.stdout + r.stderr)

        r = go([], "auto")
        check(r.returncode == 0 and named(cmd, r, auto, "auto"),
              f"{cmd} without --precision runs at auto's {auto}",
              r.stdout + r.stderr)

        r = go(["--precision", "fp16"], "fp16")
        check(r.returncode == 2 and "--precision 'fp16'" in r.stderr
              and "auto, fp32, bf16, int8" in r.stderr,
              f"{cmd} --precision fp16 is a usage error naming the value",
              r.stdout + r.stderr)

        for p, runs in (("bf16", auto == "bf16"), ("int8", int8)):
            r = go(["--precision", p], p)
            if runs:
                check(r.returncode == 0 and named(cmd, r, p, p),
                      f"{cmd} --precision {p} runs and names {p}",
                      r.stdout + r.stderr)
            else:
                lines = r.stderr.splitlines()
                check(r.returncode == 1 and len(lines) == 1
                      and lines[0].startswith(
                          f"naclip {cmd.split()[0]}: --precision {p} ")
                      and f"precision {p}: " in lines[0],
                      f"{cmd} --precision {p} fails naming --precision and "
                      f"why {p} cannot run", r.stdout + r.stderr)

    # Scripts read segment's stdout: the precision line stays off it.
    r = commands["segment"](["--precision", "fp32"], "stdout")
    out = r.stdout.splitlines()
    check(r.returncode == 0 and len(out) == 2
          and out[0].startswith(png + ": 56x40 -> 56x40 labels")
          and out[1].startswith("time: "),
          "segment's stdout is unchanged", r.stdout)

    return done()


if __name__ == "__main__":
    sys.exit(main())
