#!/usr/bin/python3
"""Speed of naclipseg against PyTorch and ONNX Runtime on the same machine,
same checkpoints, one run.

    /usr/bin/python3 tests/bench/bench.py --build BUILD_DIR [--repeat 10]
        [--threads 2] [--frames 60] [--workdir DIR] [--skip-torch]
        [--skip-torch-bf16] [--skip-ort] [--skip-element]

A measurement, not a test: it never fails on a slow result. Beyond the
suite's packages it needs python3-onnx, nodejs and npm
(tests/install-deps.sh python3-onnx nodejs npm) and the npm registry.

Checkpoints (seeded random weights, so the timings are the
architecture's), made once in the work dir (default BUILD_DIR/bench) by
tests/fixtures/make_checkpoint.py: B/16 (--preset b16, the shape of
openai/clip-vit-base-patch16) and B/32 (--preset b16 --patch 32).

Rows, each the median of --repeat runs after one warm-up, ms:
  224x224            encoder forward of one 224x224 image
  whole 336x448      encoder forward of a 336x448 image
  slide 336x448      its six 224 crops (stride 112) encoded as one batch
  text 21x80         (B/16) 21 class names in the 80 ImageNet templates
  text 21x80 cold    (B/16) naclip's first text run, PyTorch's median
  PAMR 336x448x21    (B/16) 10 steps, dilations 8 and 16
The encoder rows end with the fastest peer's time over the best naclip
time (> 1: naclip is faster). Then the element, frames per second of
    videotestsrc ! video/x-raw,width=640,height=480 ! naclipseg
    inference-size=224 output-size=processing (299x224) slide-crop=0
    pamr-steps=10 pamr-dilations=8,16 classes=a,b,c,d,e output=overlay
    async=sync ! fakesink
in this process (GStreamer's Python bindings), --frames frames after the
first WARM_UP, checking that it segmented every frame; and its time a
frame over naclip's encoder at 299x224; and
the matrix products alone, `naclip bench --gemm` (ViT-B/16's linear
shapes at 197 and 1182 rows), summed over the encoder's linear layers
(12 qkv and out, 11 fc1 and fc2: NACLIP's last block has no MLP) against
the encoder at those sizes.

The peers:
  PyTorch     tests/reference/naclip_ref.py, each precision in its own
              process on torch.set_num_threads(--threads): fp32 with
              OMP_WAIT_POLICY=PASSIVE (2-3x faster than active on a shared
              machine), bf16 under torch.autocast("cpu", torch.bfloat16)
              with the layer norms in fp32 as OpenAI's CLIP LayerNorm
              (fastest with the default policy).
  ONNX Runtime
              onnxruntime-node ort_peer.VERSION (1.23.2), installed
              by this script into WORKDIR/onnxruntime-node with
                  npm install --ignore-scripts \\
                      --prefix WORKDIR/onnxruntime-node \\
                      onnxruntime-node@VERSION
              (its install script only fetches GPU libraries; the CPU build
              is inside the package), running the reference's encode_image
              exported with torch.onnx.export (opset 17) for each row's
              input shape, fp32 and quantised dynamically as ONNX Runtime's
              quantize_dynamic does (ort_peer.quantize_dynamic: MatMul
              weights in s8, activations in u8 per tensor; attention's
              products and the patch convolution stay fp32); timed by
              tests/bench/ort_bench.js around session.run, CPU execution
              provider, intraOpNumThreads = --threads. Before it is timed,
              each model's output is checked against the reference's
              features of the same input (fp32: every component within
              ort_peer.FP32_MAX_ABS; int8: every feature's cosine at least
              ort_peer.INT8_MIN_COSINE); one that fails is not timed.
  naclip      `naclip bench` (stage medians; its encoder stage) at every
              precision `naclip info` lists, with --threads.
The header says what each ran: versions, threads, providers, the
products' kernels ONNX Runtime ran and the checks' results.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

import gi

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
PYTHON = "/usr/bin/python3"
sys.path.insert(0, HERE)
import ort_peer  # noqa: E402
from machine import cpu_name  # noqa: E402

MODELS = {"B/16": ("b16", ["--preset", "b16"]),
          "B/32": ("b32", ["--preset", "b16", "--patch", "32"])}
# Encoder rows: name -> (batch, height, width, naclip bench options).
ENCODERS = {
    "224x224": (1, 224, 224, ["--size", "224x224", "--pamr-steps", "0"]),
    "whole 336x448": (1, 336, 448, ["--size", "448x336", "--pamr-steps", "0"]),
    "slide 336x448": (6, 224, 224, ["--size", "448x336", "--mode", "slide",
                                    "--pamr-steps", "0"]),
}
N_CLASSES = 21
ELEMENT_SIZE = "299x224"  # 640x480 at inference-size 224
WARM_UP = 5  # element frames before the timed ones
PEERS = ("torch fp32", "torch bf16", "ORT fp32", "ORT int8")


# ---------------------------------------------------------------------------
# PyTorch (runs in a child process: --torch-worker PRECISION)


def torch_worker(args):
    import torch

    sys.path.insert(0, os.path.join(TOP, "tests", "reference"))
    import naclip_ref as ref

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = ref.Model(args.model)
    bf16 = args.torch_worker == "bf16"
    results = {"_ran": f"PyTorch {torch.__version__}, "
               f"{torch.get_num_threads()} threads, OMP_WAIT_POLICY="
               f"{os.environ.get('OMP_WAIT_POLICY', 'default')}"}
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
        mkldnn = "on" if torch.backends.mkldnn.is_available() else "off"
        results["_ran"] += f", autocast bf16, oneDNN {mkldnn}"

    def timed(name, fn, repeat=args.repeat):
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16,
                                             enabled=bf16):
            fn()  # warm-up
            times = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                fn()
                times.append((time.perf_counter() - t0) * 1000.0)
        results[name] = statistics.median(times)

    for name, (batch, h, w, _) in ENCODERS.items():
        x = torch.randn(batch, 3, h, w)
        timed(name, lambda: ref.encode_image(model, x))
    if args.text_pamr:
        names = [f"class {i + 1}" for i in range(N_CLASSES)]
        templates = ref.read_templates("imagenet80")
        timed("text 21x80", lambda: ref.embed_queries(model, names, templates),
              repeat=max(1, min(args.repeat, 3)))  # 7 s a run in fp32
        if not bf16:  # PAMR is fp32 in both
            image = torch.randn(3, 336, 448)
            mask = torch.randn(N_CLASSES, 336, 448)
            timed("PAMR 336x448x21",
                  lambda: ref.pamr(image, mask, 10, [8, 16]))
    json.dump(results, sys.stdout)


def run_torch(args, model, precision, text_pamr):
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    if precision == "fp32":
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    else:
        env.pop("OMP_WAIT_POLICY", None)
    cmd = [PYTHON, os.path.abspath(__file__), "--torch-worker", precision,
           "--model", model, "--repeat", str(args.repeat),
           "--threads", str(args.threads)]
    if text_pamr:
        cmd.append("--text-pamr")
    out = subprocess.run(cmd, env=env, check=True, capture_output=True,
                         text=True).stdout
    return json.loads(out)


# ---------------------------------------------------------------------------
# ONNX Runtime


def run_ort(args, model, modules):
    """{row: {"fp32": result, "int8": result}} (ort_peer.measure), the
    models exported afresh into WORKDIR/onnx."""
    out = {}
    os.makedirs(os.path.join(args.workdir, "onnx"), exist_ok=True)
    for name, (batch, h, w, _) in ENCODERS.items():
        prefix = os.path.join(args.workdir, "onnx", os.path.basename(model)
                              + "-" + name.split()[0])
        subprocess.run([PYTHON, os.path.join(HERE, "ort_peer.py"), "export",
                        model, prefix, str(batch), str(h), str(w)], check=True)
        out[name] = ort_peer.measure(modules, prefix, (batch, 3, h, w),
                                     args.threads, args.repeat)
    return out


# ---------------------------------------------------------------------------
# naclip


def naclip_bench(args, *options):
    """{"name": value} of `naclip bench`'s lines, "_ran" its first comment
    line; None if it failed."""
    cmd = [os.path.join(args.build, "src", "tool", "naclip"), "bench",
           "--threads", str(args.threads), "--repeat", str(args.repeat)]
    p = subprocess.run(cmd + list(options), capture_output=True, text=True)
    if p.returncode != 0:
        print(f"# naclip bench {' '.join(options)} failed: "
              f"{p.stderr.strip()}", file=sys.stderr)
        return None
    values = {"_ran": p.stdout.split("\n", 1)[0].lstrip("# ")}
    for line in p.stdout.splitlines():
        m = re.match(r"^(\w+) ([0-9.]+)$", line)
        if m:
            values[m.group(1)] = float(m.group(2))
    return values


def run_naclip(args, model, precision, text_pamr):
    common = ["--model", model, "--precision", precision,
              "--classes", str(N_CLASSES)]
    out = {}
    for name, (_, _, _, options) in ENCODERS.items():
        r = naclip_bench(args, *common, *options)
        if r:
            out[name] = r["encoder"]
            out["_ran"] = r["_ran"]
    if text_pamr:
        r = naclip_bench(args, *common, "--size", "448x336", "--text")
        if r:
            out["text 21x80"] = r["text"]
            out["text 21x80 cold"] = r["text_cold"]
            out["PAMR 336x448x21"] = r["pamr"]
    r = naclip_bench(args, *common, "--size", ELEMENT_SIZE,
                     "--pamr-steps", "0")
    if r:
        out["encoder " + ELEMENT_SIZE] = r["encoder"]
    return out


def element_fps(args, model, precision):
    """Frames per second out of the element after its first WARM_UP frames
    (the model loaded, the class names encoded); None if it failed or did
    not segment every frame."""
    pipeline = Gst.parse_launch(
        f"videotestsrc num-buffers={WARM_UP + args.frames} "
        "! video/x-raw,width=640,height=480 "
        f"! naclipseg name=seg model-file={model} classes=a,b,c,d,e "
        "async=sync inference-size=224 output-size=processing slide-crop=0 "
        "pamr-steps=10 pamr-dilations=8,16 output=overlay "
        f"precision={precision} threads={args.threads} ! fakesink")
    seg = pipeline.get_by_name("seg")
    times = []

    def frame_out(pad, info):
        times.append(time.perf_counter())
        return Gst.PadProbeReturn.OK

    seg.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, frame_out)
    pipeline.set_state(Gst.State.PLAYING)
    msg = pipeline.get_bus().timed_pop_filtered(
        Gst.CLOCK_TIME_NONE, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    processed = seg.get_property("frames-processed")
    pipeline.set_state(Gst.State.NULL)
    if msg.type == Gst.MessageType.ERROR:
        print(f"# element {precision} failed: {msg.parse_error()[0].message}",
              file=sys.stderr)
        return None
    if processed != len(times) or len(times) != WARM_UP + args.frames:
        print(f"# element {precision}: {len(times)} frames out, {processed} "
              f"segmented", file=sys.stderr)
        return None
    return args.frames / (times[-1] - times[WARM_UP - 1])


def gemm(args):
    """{(backend, op, rows): ms} of `naclip bench --gemm`."""
    naclip = os.path.join(args.build, "src", "tool", "naclip")
    out = subprocess.run([naclip, "bench", "--gemm", "--threads",
                          str(args.threads), "--repeat", str(args.repeat)],
                         check=True, capture_output=True, text=True).stdout
    times = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) == 7 and not line.startswith("#"):
            times[(f[0], f[1], int(f[2]))] = float(f[5])
    return times


# ---------------------------------------------------------------------------
# The table


def naclip_info(args):
    out = subprocess.run([os.path.join(args.build, "src", "tool", "naclip"),
                          "info"], check=True, capture_output=True,
                         text=True).stdout
    info = dict(line.split(": ", 1) for line in out.splitlines()
                if ": " in line)
    return info


def fmt(v):
    return "-" if v is None else f"{v:.1f}"


def row(cells):
    print("| " + " | ".join(cells) + " |")


def header(cols):
    row(cols)
    print("|" + "---|" * len(cols))


def kernels(counts):
    """The products' kernels ORT ran: "Gemm 69, MatMul 13, ..." (provider
    named when it is not the CPU's)."""
    picked = []
    for key, n in counts.items():
        provider, op = key.split(" ", 1)
        if re.search("MatMul|Gemm|Conv|Quantize", op):
            name = op if provider == "CPUExecutionProvider" else key
            picked.append(f"{name} {n}")
    return ", ".join(picked)


def measure_model(args, label, model, precisions, modules):
    """{column: {row: ms, "element": fps}} of one checkpoint, and the lines
    saying what each column ran."""
    text_pamr = label == "B/16"
    res, ran = {}, []
    torch_precisions = ("fp32", "bf16")
    if args.skip_torch:
        torch_precisions = ()
    elif args.skip_torch_bf16:
        torch_precisions = ("fp32",)
    for p in torch_precisions:
        res[f"torch {p}"] = run_torch(args, model, p, text_pamr)
        ran.append(f"torch {p} {label}: {res[f'torch {p}']['_ran']}")
    if modules:
        ort = run_ort(args, model, modules)
        for p in ("fp32", "int8"):
            res[f"ORT {p}"] = {w: ort[w][p]["ms"] for w in ort}
            first = ort["224x224"][p]
            ran.append(f"ORT {p} {label}: onnxruntime-node "
                       f"{first['version']}, providers {first['providers']}, "
                       f"intra-op "
                       f"{first['intra_op_threads']} threads, inter-op "
                       f"{first['inter_op_threads']}; products (224x224): "
                       f"{kernels(first['kernels'])}")
            ran.append(f"ORT {p} {label} against the reference: " + "; ".join(
                f"{w} {r[p]['check']}" + ("" if r[p]["ms"] else
                                          " (failed: not timed)")
                for w, r in ort.items()))
    for p in precisions:
        r = res[f"naclip {p}"] = run_naclip(args, model, p, text_pamr)
        if "_ran" in r:
            ran.append(f"naclip {p} {label}: {r['_ran']}")
        if not args.skip_element:
            r["element"] = element_fps(args, model, p)
    return res, ran


def print_encoders(results, naclip_cols):
    header(["model", "row, ms", *PEERS, *naclip_cols,
            "fastest peer / best naclip"])
    for label, res in results.items():
        rows = list(ENCODERS)
        if label == "B/16":
            rows += ["text 21x80", "text 21x80 cold", "PAMR 336x448x21"]
        for w in rows:
            peer_w = "text 21x80" if w == "text 21x80 cold" else w
            peers = [res.get(c, {}).get(peer_w) for c in PEERS]
            ours = [res[c].get(w) for c in naclip_cols]
            ratio = "-"
            if w in ENCODERS and any(peers) and any(ours):
                tp, peer = min((t, c) for t, c in zip(peers, PEERS) if t)
                tn, best = min((t, c) for t, c in zip(ours, naclip_cols) if t)
                ratio = f"{tp / tn:.2f}x ({peer} / {best})"
            row([label, w, *map(fmt, peers), *map(fmt, ours), ratio])


def print_element(results, naclip_cols):
    header(["element 640x480 -> 299x224, PAMR 10, 5 classes, overlay",
            *naclip_cols])
    fps = {label: [res[c].get("element") for c in naclip_cols]
           for label, res in results.items()}
    for label, res in results.items():
        row([f"{label} fps", *map(fmt, fps[label])])
        cells = []
        for c, v in zip(naclip_cols, fps[label]):
            enc = res[c].get("encoder " + ELEMENT_SIZE)
            cells.append(f"{1000 / v:.0f} / {enc:.0f} = {1000 / v / enc:.2f}x"
                         if v and enc else "-")
        row([f"{label} ms a frame / encoder {ELEMENT_SIZE}", *cells])
    row(["B/32 fps / B/16 fps", *(f"{b32 / b16:.2f}x" if b16 and b32 else "-"
                                  for b16, b32 in zip(fps["B/16"],
                                                      fps["B/32"]))])


def print_products(products, b16, precisions):
    """The --gemm medians, summed over B/16's linear layers, against its
    encoder at 224x224 (197 rows) and slide (1182)."""
    # naclip's fp32 runs on OpenBLAS, bf16 and int8 on oneDNN.
    backends = {"fp32": "openblas-fp32", "bf16": "onednn-bf16",
                "int8": "onednn-int8"}
    ops = (("qkv", 2304, 768), ("out", 768, 768), ("fc1", 3072, 768),
           ("fc2", 768, 3072))
    header(["products alone (naclip bench --gemm), ms",
            *(f"{p} ({backends[p]})" for p in precisions)])
    for rows, w in ((197, "224x224"), (1182, "slide 336x448")):
        for op, n, k in ops:
            row([f"{op} {rows}x{n}x{k}",
                 *(fmt(products.get((backends[p], op, rows)))
                   for p in precisions)])
        sums, ratios = [], []
        for p in precisions:
            t = {op: products.get((backends[p], op, rows)) for op, _, _ in ops}
            total = (None if None in t.values() else
                     12 * (t["qkv"] + t["out"]) + 11 * (t["fc1"] + t["fc2"]))
            enc = b16[f"naclip {p}"].get(w)
            sums.append(total)
            ratios.append(f"{enc / total:.2f}x" if total and enc else "-")
        row([f"B/16 encoder's linear layers, {rows} rows", *map(fmt, sums)])
        row([f"B/16 encoder {w} / its products", *ratios])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", help="meson build directory")
    ap.add_argument("--workdir", help="checkpoints, ONNX models, "
                    "onnxruntime-node (default BUILD/bench)")
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--frames", type=int, default=60,
                    help="timed frames of the element")
    ap.add_argument("--skip-torch", action="store_true")
    ap.add_argument("--skip-torch-bf16", action="store_true",
                    help="no PyTorch bf16 autocast run (it is emulated, and "
                    "slower than fp32, on CPUs without bf16 instructions)")
    ap.add_argument("--skip-ort", action="store_true")
    ap.add_argument("--skip-element", action="store_true")
    ap.add_argument("--torch-worker", choices=("fp32", "bf16"),
                    help=argparse.SUPPRESS)
    ap.add_argument("--text-pamr", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.torch_worker:
        torch_worker(args)
        return
    if not args.build:
        ap.error("--build is required")
    args.build = os.path.abspath(args.build)
    args.workdir = os.path.abspath(args.workdir or
                                   os.path.join(args.build, "bench"))
    os.environ.pop("OMP_NUM_THREADS", None)  # naclip takes --threads per call
    Gst.init(None)
    Gst.Registry.get().scan_path(os.path.join(args.build, "gst"))
    load_start = os.getloadavg()

    info = naclip_info(args)
    precisions = info["precisions"].split()
    modules = None
    if not args.skip_ort:
        modules = ort_peer.install(os.path.join(args.workdir,
                                                "onnxruntime-node"))
    results, ran = {}, []
    for label, (tag, preset) in MODELS.items():
        model = os.path.join(args.workdir, tag)
        subprocess.run([PYTHON, os.path.join(TOP, "tests", "fixtures",
                                             "make_checkpoint.py"), model,
                        *preset], check=True)
        results[label], lines = measure_model(args, label, model, precisions,
                                              modules)
        ran += lines
    products = gemm(args)
    load_end = os.getloadavg()

    print(f"# {time.strftime('%Y-%m-%d')}, {cpu_name()} "
          f"({info['cpu isa used']}), {os.cpu_count()} cores, "
          f"{args.threads} threads, median of {args.repeat}; load average "
          f"{load_start[0]:.1f} at the start, {load_end[0]:.1f} at the end")
    for line in ran:
        print(f"# {line}")
    naclip_cols = [f"naclip {p}" for p in precisions]
    print_encoders(results, naclip_cols)
    if not args.skip_element:
        print()
        print_element(results, naclip_cols)
    print()
    print_products(products, results["B/16"], precisions)


if __name__ == "__main__":
    main()
