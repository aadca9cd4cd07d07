#!/usr/bin/python3
"""Speed of naclipseg against the PyTorch reference, same checkpoint, one run.

    /usr/bin/python3 tests/bench/bench.py --build BUILD_DIR [--repeat N]
        [--threads 2] [--workdir DIR] [--skip-torch] [--skip-torch-bf16]
        [--skip-element]

Generates the ViT-B/16-shaped seeded random checkpoint
(tests/fixtures/make_checkpoint.py --preset b16, cached in the work dir,
default BUILD_DIR/bench), then times, each as the median of --repeat runs
after one warm-up:

  vision 224x224     encoder forward of one 224x224 image
  whole 336x448      encoder forward of a 336x448 image (21 x 28 patches)
  slide 336x448      six 224 crops, stride 112, encoded as one batch
  text 21x80         21 class names in the 80 ImageNet templates (the
                     reference trims each batch to its last end token)
  PAMR 336x448x21    10 steps, dilations 8 and 16
  element 640x480    frames per second of
                     videotestsrc ! naclipseg (short side 224, whole image,
                     PAMR 10 steps (8, 16) at processing size, 5 classes,
                     overlay) ! fakesink, from two runs of different lengths
                     (start-up and text encoding cancel out)

PyTorch runs tests/reference/naclip_ref.py in fp32 (OMP_WAIT_POLICY=PASSIVE,
without which it is 2-3x slower here) and in bf16 autocast (layer norms in
fp32, as clip/model.py's LayerNorm), on torch.set_num_threads(--threads),
each precision in its own process. naclip runs "naclip bench" (stage
medians; the encoder stage for the vision rows). The table gives ms (fps
for the element) and the ratio of the best PyTorch time to the best naclip
time (> 1: naclip is faster).

This is a measurement, not a test: it never fails on a slow result.
"""

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
PYTHON = "/usr/bin/python3"

WORKLOADS = ("vision 224x224", "whole 336x448", "slide 336x448",
             "text 21x80", "PAMR 336x448x21")
N_CLASSES = 21


# ---------------------------------------------------------------------------
# The PyTorch side (runs in a child process: --torch-worker PRECISION)


def torch_worker(args):
    import torch

    sys.path.insert(0, os.path.join(TOP, "tests", "reference"))
    import naclip_ref as ref

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = ref.Model(args.model)
    bf16 = args.torch_worker == "bf16"
    results = {}
    if bf16:
        # As clip/model.py's LayerNorm (which NACLIP runs) does: normalise in
        # fp32, return the input's type. Under CPU autocast the reduced last
        # block hands ln_post a bf16 input, which PyTorch 1.13's
        # F.layer_norm refuses with the fp32 weights ("expected scalar type
        # BFloat16 but found Float").
        fp32_layer_norm = ref.layer_norm

        def layer_norm(x, wb, eps):
            return fp32_layer_norm(x.float(), wb, eps).to(x.dtype)

        ref.layer_norm = layer_norm

    def timed(name, fn):
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16,
                                             enabled=bf16):
            fn()  # warm-up
            times = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                fn()
                times.append((time.perf_counter() - t0) * 1000.0)
        results[name] = statistics.median(times)

    def encoder(batch, h, w):
        x = torch.randn(batch, 3, h, w)
        return lambda: ref.encode_image(model, x)

    timed("vision 224x224", encoder(1, 224, 224))
    timed("whole 336x448", encoder(1, 336, 448))
    timed("slide 336x448", encoder(6, 224, 224))
    names = [f"class {i + 1}" for i in range(N_CLASSES)]
    templates = ref.read_templates("imagenet80")
    text_repeat = args.repeat
    args.repeat = max(1, min(args.repeat, 3))  # 7 s a run in fp32
    timed("text 21x80", lambda: ref.embed_queries(model, names, templates))
    args.repeat = text_repeat
    if not bf16:  # PAMR is fp32 in both
        image = torch.randn(3, 336, 448)
        mask = torch.randn(N_CLASSES, 336, 448)
        timed("PAMR 336x448x21", lambda: ref.pamr(image, mask, 10, [8, 16]))
    json.dump(results, sys.stdout)


def run_torch(args, precision):
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = str(args.threads)
    if precision == "fp32":
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    else:
        env.pop("OMP_WAIT_POLICY", None)
    cmd = [PYTHON, os.path.abspath(__file__), "--torch-worker", precision,
           "--model", args.model, "--repeat", str(args.repeat),
           "--threads", str(args.threads)]
    out = subprocess.run(cmd, env=env, check=True, capture_output=True,
                         text=True).stdout
    return json.loads(out)


# ---------------------------------------------------------------------------
# The naclip side


def naclip_bench(args, precision, *extra):
    env = dict(os.environ)
    env.pop("OMP_NUM_THREADS", None)  # the library takes --threads per call
    cmd = [os.path.join(args.build, "src", "tool", "naclip"), "bench",
           "--model", args.model, "--precision", precision,
           "--threads", str(args.threads), "--repeat", str(args.repeat),
           "--classes", str(N_CLASSES)] + list(extra)
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        print(f"# naclip bench {' '.join(extra)} ({precision}) failed: "
              f"{p.stderr.strip()}", file=sys.stderr)
        return None
    values = {}
    for line in p.stdout.splitlines():
        m = re.match(r"^(\w+) ([0-9.]+)$", line)
        if m:
            values[m.group(1)] = float(m.group(2))
    return values


def run_naclip(args, precision):
    out = {}
    r = naclip_bench(args, precision, "--size", "224x224", "--pamr-steps", "0")
    if r:
        out["vision 224x224"] = r["encoder"]
    r = naclip_bench(args, precision, "--size", "448x336", "--text")
    if r:
        out["whole 336x448"] = r["encoder"]
        out["PAMR 336x448x21"] = r["pamr"]
        out["text 21x80"] = r["text"]
        out["text 21x80 cold"] = r["text_cold"]
    r = naclip_bench(args, precision, "--size", "448x336", "--mode", "slide",
                     "--pamr-steps", "0")
    if r:
        out["slide 336x448"] = r["encoder"]
    return out


def element_fps(args, precision):
    """Frames per second of the element, from runs of n1 and n2 frames."""
    env = dict(os.environ)
    env["GST_PLUGIN_PATH"] = os.path.join(args.build, "gst")
    env.pop("OMP_NUM_THREADS", None)

    def run(n):
        cmd = ["gst-launch-1.0", "-q", "videotestsrc", f"num-buffers={n}",
               "!", "video/x-raw,width=640,height=480", "!", "naclipseg",
               f"model-file={args.model}", "classes=a,b,c,d,e",
               "inference-size=224", "slide-crop=0", "pamr-steps=10",
               "pamr-dilations=8,16", "output=overlay",
               f"precision={precision}", f"threads={args.threads}", "!",
               "fakesink"]
        t0 = time.perf_counter()
        p = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError(p.stderr.strip() or p.stdout.strip())
        return time.perf_counter() - t0

    n1, n2 = 10, 10 + args.frames
    try:
        t1, t2 = run(n1), run(n2)
    except (RuntimeError, FileNotFoundError) as e:
        print(f"# element ({precision}) failed: {e}", file=sys.stderr)
        return None
    return (n2 - n1) / max(t2 - t1, 1e-9)


# ---------------------------------------------------------------------------


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def fmt(v, unit="ms"):
    if v is None:
        return "-"
    return f"{v:.1f}" if unit == "ms" else f"{v:.1f} fps"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", help="meson build directory")
    ap.add_argument("--workdir", help="where the checkpoint goes")
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--frames", type=int, default=60,
                    help="extra frames of the longer element run")
    ap.add_argument("--skip-torch", action="store_true")
    ap.add_argument("--skip-torch-bf16", action="store_true",
                    help="no PyTorch bf16 autocast run (it is emulated, and "
                    "slower than fp32, on CPUs without bf16 instructions)")
    ap.add_argument("--skip-element", action="store_true")
    ap.add_argument("--torch-worker", choices=("fp32", "bf16"),
                    help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.torch_worker:
        torch_worker(args)
        return
    if not args.build:
        ap.error("--build is required")
    args.build = os.path.abspath(args.build)
    workdir = args.workdir or os.path.join(args.build, "bench")
    args.model = os.path.join(workdir, "b16")
    subprocess.run([PYTHON, os.path.join(TOP, "tests", "fixtures",
                                         "make_checkpoint.py"), args.model,
                    "--preset", "b16"], check=True)

    naclip = os.path.join(args.build, "src", "tool", "naclip")
    gemm = subprocess.run([naclip, "bench", "--gemm", "--repeat", "3"],
                          capture_output=True, text=True).stdout
    auto = re.search(r"# auto precision: (.*)", gemm)
    print(f"# {time.strftime('%Y-%m-%d')}, {cpu_name()}, "
          f"{os.cpu_count()} cores, {args.threads} threads, "
          f"median of {args.repeat}")
    print(f"# naclip precision auto = {auto.group(1) if auto else '?'}")
    bf16_ok = bool(auto) and auto.group(1).startswith("bf16")

    torch_res = {"fp32": {}, "bf16": {}}
    if not args.skip_torch:
        for p in ("fp32",) if args.skip_torch_bf16 else ("fp32", "bf16"):
            torch_res[p] = run_torch(args, p)
    naclip_res = {"fp32": run_naclip(args, "fp32"),
                  "bf16": run_naclip(args, "bf16") if bf16_ok else {}}
    fps = {"fp32": None, "bf16": None}
    if not args.skip_element:
        fps["fp32"] = element_fps(args, "fp32")
        if bf16_ok:
            fps["bf16"] = element_fps(args, "bf16")

    cols = ("workload", "torch fp32", "torch bf16", "naclip fp32",
            "naclip bf16", "ratio")
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for w in WORKLOADS + ("text 21x80 cold",):
        t = [torch_res["fp32"].get(w), torch_res["bf16"].get(w)]
        n = [naclip_res["fp32"].get(w), naclip_res["bf16"].get(w)]
        if w == "text 21x80 cold":
            t = [torch_res["fp32"].get("text 21x80"),
                 torch_res["bf16"].get("text 21x80")]
        best_t = min([v for v in t if v is not None], default=None)
        best_n = min([v for v in n if v is not None], default=None)
        ratio = f"{best_t / best_n:.2f}x" if best_t and best_n else "-"
        print(f"| {w} | {fmt(t[0])} | {fmt(t[1])} | {fmt(n[0])} | "
              f"{fmt(n[1])} | {ratio} |")
    print(f"| element 640x480 | - | - | {fmt(fps['fp32'], 'fps')} | "
          f"{fmt(fps['bf16'], 'fps')} | - |")


if __name__ == "__main__":
    main()
