#!/usr/bin/python3
"""Token reuse between frames against the full forward, on generated clips.

    /usr/bin/python3 tests/bench/reuse.py --build BUILD_DIR
        [--models b16,b32] [--precisions fp32,bf16,int8] [--threshold 0.1]
        [--refresh 30] [--frames 40] [--threads 2] [--workdir DIR]
        [--wait-policy passive|default]

Generates, with numpy, three 224x224 clips of --frames frames and the
ViT-B/16- and B/32-shaped seeded random checkpoints
(tests/fixtures/make_checkpoint.py --preset b16, with --patch 32 for B/32,
as bench.py makes them; cached in the work dir, default BUILD_DIR/bench):

  static  a static camera: a textured background (smooth noise of three
          scales, stripes, a few fixed shapes) and two textured objects
          crossing it, 60x60 px and a 50x70 px ellipse (about 13 % of the
          frame together), 3 px a frame; the background's pixels are the
          same from frame to frame, as rendered or decoded video has them
  noisy   the same with a camera's sensor noise: Gaussian, sigma 2 levels
          of 255, drawn anew for every pixel of every frame, so that no
          patch is the same to the bit as in the frame before
  pan     the same scene under a camera that pans 2 px a frame: every
          patch changes, so reuse must fall back to the full cost

and runs "naclip bench --clip" on each (whole image at 224, no PAMR,
8 region queries from the first frame's features; the full forward and
the reuse context alternate frame by frame in one process, so that load
changes hit both alike). The table gives per model, precision and clip:
the median encoder time per frame of the full forward and of reuse, their
ratio (speed-up; for pan, reuse / full is the fallback overhead), the
ratio of the totals (refresh frames included), the mean and lowest share
of pixels whose labels agree with the full forward, and the mean share of
token rows reuse computed. The machine's load average is printed before
and after: figures taken on a loaded machine are noisy. --wait-policy
passive (the default) runs naclip with OMP_WAIT_POLICY=PASSIVE, so that a
shared core costs less than with spinning threads; on a quiet machine,
"default" leaves libgomp's own policy (threads spin a while before they
sleep), which is what a program that sets nothing gets: the dozen or
more OpenMP regions of a reused block then wake no sleeping thread, and the
small products of reuse gain more from that than the full forward.

This is a measurement, not a test: it never fails on a slow result.
"""

import argparse
import os
import statistics
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from machine import cpu_name  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
PYTHON = "/usr/bin/python3"
SIDE = 224
PATCH = {"b16": 16, "b32": 32}


def smooth_noise(rng, h, w, scale):
    """Noise low-passed to features of about `scale` px, in [0, 1]."""
    f = np.fft.rfft2(rng.standard_normal((h, w)))
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    f *= np.exp(-(fy ** 2 + fx ** 2) * (scale ** 2) * 2.0)
    x = np.fft.irfft2(f, s=(h, w))
    return (x - x.min()) / (x.max() - x.min() + 1e-12)


def texture(rng, h, w, palette):
    """An RGB texture of h x w: three noise scales mapped through colours."""
    t = (0.5 * smooth_noise(rng, h, w, 40) + 0.3 * smooth_noise(rng, h, w, 12)
         + 0.2 * smooth_noise(rng, h, w, 3))
    t = (t - t.min()) / (t.max() - t.min() + 1e-12)
    lo, hi = np.array(palette[0], float), np.array(palette[1], float)
    return lo + t[..., None] * (hi - lo)


def background(rng, h, w):
    bg = texture(rng, h, w, ((40, 70, 30), (170, 200, 120)))
    yy, xx = np.mgrid[0:h, 0:w]
    stripes = ((xx + yy) // 14) % 2 == 0
    road = (yy > h * 0.55) & (yy < h * 0.8)
    bg[road] = texture(rng, h, w, ((70, 70, 75), (130, 130, 140)))[road]
    bg[road & stripes & (np.abs(yy - h * 0.675) < 3)] = (230, 230, 210)
    for cy, cx, r, col in ((h * 0.25, w * 0.2, 22, (150, 60, 40)),
                           (h * 0.3, w * 0.7, 30, (60, 80, 160))):
        disk = (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
        bg[disk] = bg[disk] * 0.3 + np.array(col) * 0.7
    return bg


def objects(rng):
    """Two textured objects: (mask, rgb) of a square and an ellipse."""
    sq = np.ones((60, 60), bool)
    yy, xx = np.mgrid[0:70, 0:50]
    el = ((yy - 34.5) / 35.0) ** 2 + ((xx - 24.5) / 25.0) ** 2 < 1.0
    return [(sq, texture(rng, 60, 60, ((180, 20, 20), (255, 200, 60)))),
            (el, texture(rng, 70, 50, ((10, 30, 120), (120, 220, 255))))]


def paste(frame, mask, rgb, y, x):
    h, w = mask.shape
    y0, x0 = max(y, 0), max(x, 0)
    y1, x1 = min(y + h, frame.shape[0]), min(x + w, frame.shape[1])
    if y1 <= y0 or x1 <= x0:
        return
    m = mask[y0 - y:y1 - y, x0 - x:x1 - x]
    frame[y0:y1, x0:x1][m] = rgb[y0 - y:y1 - y, x0 - x:x1 - x][m]


def make_clip(path, n_frames, pan, noise):
    """Writes n_frames packed RGB frames of SIDE x SIDE to path, with
    Gaussian pixel noise of standard deviation noise."""
    rng = np.random.default_rng(3)
    noise_rng = np.random.default_rng(4)
    span = SIDE + 2 * n_frames + 8
    scene = background(rng, SIDE, span)
    objs = objects(rng)
    out = np.empty((n_frames, SIDE, SIDE, 3), np.uint8)
    for f in range(n_frames):
        frame = scene.copy()
        ox = 2 * f if pan else 0
        paste(frame, *objs[0], 20, ox + 10 + 3 * f)
        paste(frame, *objs[1], 120, ox + 170 - 3 * f)
        frame = frame[:, ox:ox + SIDE]
        if noise > 0:
            frame = frame + noise_rng.normal(0.0, noise, frame.shape)
        out[f] = np.clip(frame, 0, 255).astype(np.uint8)
    out.tofile(path)


def run(naclip, model, clip, precision, args):
    cmd = [naclip, "bench", "--model", model, "--clip", clip,
           "--size", f"{SIDE}x{SIDE}", "--inference-size", "0",
           "--pamr-steps", "0", "--classes", "8", "--threads",
           str(args.threads), "--precision", precision,
           "--reuse-threshold", str(args.threshold),
           "--reuse-refresh", str(args.refresh)]
    env = dict(os.environ)
    if args.wait_policy == "passive":
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    else:
        env.pop("OMP_WAIT_POLICY", None)
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if res.returncode != 0:
        return None, res.stderr.strip().splitlines()[-1:]
    rows = []
    for line in res.stdout.splitlines():
        p = line.split()
        if p and p[0] == "frame":
            rows.append(dict(full=float(p[3]), reuse=float(p[5]),
                             agree=float(p[7]), computed=float(p[9]),
                             refresh=int(p[11])))
    return rows, None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", required=True)
    ap.add_argument("--workdir")
    ap.add_argument("--models", default="b16,b32")
    ap.add_argument("--precisions", default="fp32,bf16,int8")
    ap.add_argument("--threshold", type=float, default=0.1)
    ap.add_argument("--refresh", type=int, default=30)
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--wait-policy", choices=("passive", "default"),
                    default="passive")
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    workdir = args.workdir or os.path.join(build, "bench")
    os.makedirs(workdir, exist_ok=True)
    naclip = os.path.join(build, "src", "tool", "naclip")

    clips = {}
    for name, pan, noise in (("static", False, 0.0), ("noisy", False, 2.0),
                             ("pan", True, 0.0)):
        clips[name] = os.path.join(workdir, f"clip-{name}.rgb")
        make_clip(clips[name], args.frames, pan, noise)
    models = {}
    for m in args.models.split(","):
        if m not in PATCH:
            ap.error(f"--models: {m} is not one of {', '.join(PATCH)}")
        models[m] = os.path.join(workdir, m)
        subprocess.run([PYTHON, os.path.join(TOP, "tests", "fixtures",
                                             "make_checkpoint.py"),
                        models[m], "--preset", "b16", "--patch",
                        str(PATCH[m])], check=True)

    print(f"# {cpu_name()}")
    print(f"# load average before: {os.getloadavg()[0]:.2f} "
          f"{os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}; "
          f"{os.cpu_count()} cores, {args.threads} threads; "
          f"{args.frames} frames of {SIDE}x{SIDE}, reuse-threshold "
          f"{args.threshold}, reuse-refresh {args.refresh}, "
          f"OMP wait policy {args.wait_policy}")
    print(f"# {'model':5} {'prec':5} {'clip':6} {'full ms':>8} "
          f"{'reuse ms':>8} {'speed-up':>8} {'totals':>7} {'agree':>7} "
          f"{'lowest':>7} {'computed':>8}")
    for m, path in models.items():
        for prec in args.precisions.split(","):
            for clip, cpath in clips.items():
                rows, err = run(naclip, path, cpath, prec, args)
                if rows is None:
                    print(f"# {m} {prec} {clip}: skipped ({' '.join(err)})")
                    continue
                full = statistics.median(r["full"] for r in rows)
                reuse = statistics.median(r["reuse"] for r in rows)
                totals = (sum(r["full"] for r in rows)
                          / sum(r["reuse"] for r in rows))
                agree = statistics.mean(r["agree"] for r in rows)
                lowest = min(r["agree"] for r in rows)
                computed = statistics.mean(r["computed"] for r in rows)
                print(f"  {m:5} {prec:5} {clip:6} {full:8.1f} {reuse:8.1f} "
                      f"{full / reuse:7.2f}x {totals:6.2f}x "
                      f"{100 * agree:6.2f}% {100 * lowest:6.2f}% "
                      f"{100 * computed:7.1f}%", flush=True)
    print(f"# load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
