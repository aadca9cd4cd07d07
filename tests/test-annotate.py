#!/usr/bin/python3
"""`naclip annotate` on generated clips: every frame in every output, the
statistics against the label maps, a damaged file in the batch, the
progress lines on a pipe, lossless label videos, resuming and usage errors.
Prints TAP.

    test-annotate.py NACLIP MAKE_CHECKPOINT

The clips come from videotestsrc through Debian's -base and -good encoders
(Theora in Ogg, Motion JPEG in AVI); the model is the suite's tiny random
checkpoint, so the labels mean nothing, but they are the labels the
element computed and every output must agree with them. With
--output-size frame the label map is the frame's size, so a label PNG is
the element's label map itself: the statistics rows are checked against it
pixel for pixel (classes present, coverage, bounding box). Frames are
counted in the MP4 and MOV outputs by demuxing them (qtdemux): one sample
per frame; a sample of the label MOV is a PNG file.
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
WORK = os.path.join(BUILD, "tests", "annotate")
CLIPS = {"a": (12, 96, 64, "10/1", "ball", "theoraenc ! oggmux", ".ogv"),
         "b": (9, 80, 60, "15/1", "smpte", "jpegenc ! avimux", ".avi")}


def run(args, **kw):
    # Caches and GStreamer's registry go under the build dir.
    env = dict(os.environ, XDG_CACHE_HOME=os.path.join(WORK, "cache"),
               GST_REGISTRY_1_0=os.path.join(WORK, "registry.bin"))
    return subprocess.run([NACLIP, *args], capture_output=True, text=True,
                          timeout=600, env=env, **kw)


def gst(desc):
    subprocess.run(["gst-launch-1.0", "-q", *desc.split()], check=True,
                   timeout=120)


def demux_samples(path, out_dir):
    """Writes every sample of the QuickTime/MP4 file @path to @out_dir,
    one file each; returns their paths in order."""
    os.makedirs(out_dir, exist_ok=True)
    gst(f"filesrc location={path} ! qtdemux ! multifilesink "
        f"location={out_dir}/%06d")
    return [os.path.join(out_dir, n) for n in sorted(os.listdir(out_dir))]


def label_frames(directory):
    names = sorted(os.listdir(directory))
    return names, [np.array(Image.open(os.path.join(directory, n)))
                   for n in names]


def read_csv(path):
    with open(path) as f:
        lines = f.read().splitlines()
    header = lines[0].split(",")
    return header, [dict(zip(header, line.split(","))) for line in lines[1:]]


def expected_rows(frames):
    """(frame, label) -> (coverage, [x, y, w, h]) from the label maps."""
    rows = {}
    for i, lab in enumerate(frames):
        for k in sorted(set(np.unique(lab).tolist()) - {0}):
            ys, xs = np.nonzero(lab == k)
            rows[(i, k)] = ((lab == k).mean(),
                            [xs.min(), ys.min(), xs.max() - xs.min() + 1,
                             ys.max() - ys.min() + 1])
    return rows


def compare_rows(rows, frames):
    """Problems of statistics @rows (dicts of numbers) against the label
    maps @frames, [] when they agree."""
    want = expected_rows(frames)
    got = {(r["frame"], r["label"]): r for r in rows}
    problems = []
    if len(rows) != len(want) or set(got) != set(want):
        problems.append(f"{len(rows)} rows for {len(want)} (frame, class) "
                        f"pairs: {sorted(set(got) ^ set(want))[:5]}")
    for key in sorted(set(got) & set(want)):
        coverage, box = want[key]
        r = got[key]
        if abs(r["coverage"] - coverage) > 2e-6 or r["box"] != box:
            problems.append(f"{key}: coverage {r['coverage']} box {r['box']}"
                            f", label map: {coverage:.6f} {box}")
    return problems


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    videos = os.path.join(WORK, "videos")
    os.makedirs(videos)
    ckpt = os.path.join(BUILD, "tests", "fixtures", "ckpt-tiny-eval")
    subprocess.run([sys.executable, MAKE_CKPT, ckpt, "--preset", "tiny"],
                   check=True)
    for name, (n, w, h, fps, pattern, enc, ext) in CLIPS.items():
        gst(f"videotestsrc num-buffers={n} pattern={pattern} ! "
            f"video/x-raw,width={w},height={h},framerate={fps} ! {enc} ! "
            f"filesink location={videos}/{name}{ext}")
    with open(os.path.join(videos, "c-damaged.mp4"), "wb") as f:
        f.write(np.random.default_rng(3).bytes(20000))
    with open(os.path.join(videos, "notes.txt"), "w") as f:
        f.write("not a video\n")
    common = ["--model", ckpt, "--classes", "ball,background|black,sky",
              "--templates", "single", "--inference-size", "64",
              "--pamr-steps", "2", "--precision", "fp32",
              "--output-size", "frame"]

    # The batch: two clips and a damaged file, every output.
    out = os.path.join(WORK, "out")
    r = run(["annotate", *common, "--labels", "png", "--stats", "csv",
             "-o", out, videos])
    listing = sorted(os.listdir(out)) if os.path.isdir(out) else []
    check(r.returncode == 1
          and "c-damaged.mp4: cannot decode" in r.stderr
          and "2 of 3 videos annotated (1 failed, 0 skipped)" in r.stdout,
          "a damaged file is named on stderr, the batch goes on, exit 1",
          r.stdout + r.stderr)
    check(listing == ["a-labels", "a-overlay.mp4", "a-stats.csv",
                      "b-labels", "b-overlay.mp4", "b-stats.csv"],
          "outputs of the decodable clips under their final names; nothing "
          "of the damaged one, no .part left", str(listing))
    check("naclip annotate: precision: fp32 (requested fp32)" in r.stderr,
          "the precision is named", r.stderr)

    # Progress on a pipe: plain lines with rate and ETA, no terminal codes.
    plain = re.compile(r"^(\d+)/(\d+) a\.ogv \(1/3\) \([0-9.]+ (frame/s|"
                       r"s/frame), ETA [0-9:?]+\)$")
    lines = [m for m in map(plain.match, r.stderr.splitlines()) if m]
    check(lines and lines[-1].group(1) == lines[-1].group(2) == "12"
          and "\r" not in r.stderr and "\033" not in r.stderr,
          "progress on a pipe: plain lines 'N/12 a.ogv (1/3) (rate, ETA)' "
          "ending at 12/12", r.stderr)

    labels = {}
    for name, (n, w, h, *_rest) in CLIPS.items():
        names, frames = label_frames(os.path.join(out, f"{name}-labels"))
        labels[name] = frames
        samples = demux_samples(os.path.join(out, f"{name}-overlay.mp4"),
                                os.path.join(WORK, f"demux-{name}"))
        check(len(samples) == n and len(frames) == n
              and names == [f"{i:06d}.png" for i in range(n)]
              and all(f.shape == (h, w) and f.dtype == np.uint8
                      for f in frames)
              and max(int(f.max()) for f in frames) <= 3,
              f"{name}: {n} frames in, {n} in the overlay MP4, {n} label "
              f"PNGs of {w}x{h} with labels 0..3",
              f"overlay {len(samples)}, labels {len(frames)}")
        header, rows = read_csv(os.path.join(out, f"{name}-stats.csv"))
        parsed = [{"frame": int(row["frame"]), "label": int(row["label"]),
                   "coverage": float(row["coverage"]),
                   "box": [int(row[k]) for k in ("x", "y", "width",
                                                 "height")]}
                  for row in rows]
        problems = compare_rows(parsed, frames)
        times = [float(row["time"]) for row in rows]
        fps_n, fps_d = map(int, CLIPS[name][3].split("/"))
        check(header == ["frame", "time", "label", "class", "coverage",
                         "confidence", "x", "y", "width", "height", "fresh"]
              and not problems
              and all(abs(t - int(row["frame"]) * fps_d / fps_n) < 1e-3
                      for t, row in zip(times, rows))
              and all(row["fresh"] == "true" for row in rows),
              f"{name}: CSV rows = frames x classes present, coverage and "
              "boxes as in the label maps, times from the frame rate, every "
              "frame segmented", "\n".join(problems))

    # The lossless label video and JSON Lines, the same numbers.
    out2 = os.path.join(WORK, "out2")
    a = os.path.join(videos, "a.ogv")
    r = run(["annotate", *common, "--overlay", "none", "--labels", "mov",
             "--stats", "jsonl", "-o", out2, a])
    listing = sorted(os.listdir(out2)) if os.path.isdir(out2) else []
    check(r.returncode == 0 and listing == ["a-labels.mov", "a-stats.jsonl"],
          "--overlay none --labels mov --stats jsonl", r.stderr + str(listing))
    if r.returncode == 0:
        samples = demux_samples(os.path.join(out2, "a-labels.mov"),
                                os.path.join(WORK, "demux-mov"))
        frames = [np.array(Image.open(s)) for s in samples]
        same = len(frames) == len(labels["a"]) and all(
            f.shape == g.shape and (f == g).all()
            for f, g in zip(frames, labels["a"]))
        check(same, "the label MOV holds 12 grayscale PNG frames equal to "
              "the PNG sequence", f"{len(frames)} frames")
        with open(os.path.join(out2, "a-stats.jsonl")) as f:
            rows = [json.loads(line) for line in f]
        problems = compare_rows(rows, labels["a"])
        check(not problems and all(set(row) == {
            "frame", "time", "label", "class", "coverage", "confidence",
            "box", "fresh"} for row in rows)
              and {row["class"] for row in rows} <= {"ball", "background",
                                                     "sky"},
              "JSON Lines rows agree with the label maps", "\n".join(problems))

    # Resuming: outputs that exist are skipped.
    r = run(["annotate", *common, "--labels", "png", "--stats", "csv",
             "--skip-existing", "-o", out, a])
    check(r.returncode == 0 and "skipped" in r.stdout
          and "0 of 1 videos annotated (0 failed, 1 skipped)" in r.stdout,
          "--skip-existing skips a finished video", r.stdout + r.stderr)
    # Annotating again replaces the outputs, label directory included.
    r = run(["annotate", *common, "--labels", "png", "--stats", "csv",
             "-o", out, a])
    check(r.returncode == 0
          and len(os.listdir(os.path.join(out, "a-labels"))) == 12
          and not [n for n in os.listdir(out) if ".part" in n],
          "a second run replaces the outputs", r.stdout + r.stderr)

    # Errors: usage (2) naming the option or file; a bad model (1).
    for args, status, words, what in (
            (["--attention", "foo"], 2, "--attention 'foo'",
             "an unknown enum value"),
            (["--threads", "0"], 2, "--threads '0'", "an out-of-range number"),
            (["--pamr-dilations", "8,x"], 2, "--pamr-dilations",
             "a value the element refuses"),
            (["--model", os.path.join(WORK, "no-model")], 1, "no-model",
             "a missing model"),
            (["-o", videos], 2, "also an input directory",
             "the output directory among the inputs")):
        r = run(["annotate", *common, "-o", os.path.join(WORK, "err"), *args,
                 videos])
        check(r.returncode == status and words in r.stderr
              and not os.path.exists(os.path.join(WORK, "err")),
              f"{what}: status {status}, named, nothing written", r.stderr)
    r = run(["annotate", "--model", ckpt, "-o", os.path.join(WORK, "err"),
             a])
    check(r.returncode == 2 and "--classes" in r.stderr,
          "no classes: usage error", r.stderr)
    return done()


if __name__ == "__main__":
    sys.exit(main())
