#!/usr/bin/python3
"""ONNX Runtime as a peer of tests/bench/bench.py: the reference's vision
encoder, exported and quantised here, run by onnxruntime-node.

    ort_peer.py export MODEL_DIR PREFIX BATCH HEIGHT WIDTH

writes, for a [BATCH, 3, HEIGHT, WIDTH] input:
  PREFIX.onnx            tests/reference/naclip_ref.py's encode_image (NACLIP's
                         last block, reduced, Gaussian std 5; the output is the
                         normalised patch features [BATCH, N, E]) through
                         torch.onnx.export, opset 17
  PREFIX-int8.onnx       the same, quantised dynamically (quantize_dynamic)
  PREFIX.input.bin       a seeded random input, raw float32
  PREFIX.reference.npy   the reference's features of that input

bench.py runs it in a child process (it needs torch) and calls install()
and measure() in its own.

The grid of patches is fixed by the input's shape, and so are the
positional table and the Gaussian bias that depend on it. Tracing turns
the grid into tensors, which F.interpolate refuses as scale factors, so
the two are computed eagerly for the exported grid and enter the graph as
constants; the reference features are computed before, without that
substitution, and every run of the exported model is checked against them.
"""

import json
import os
import subprocess
import sys
import unittest.mock
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REFERENCE = os.path.join(os.path.dirname(HERE), "reference")
NODE_SCRIPT = os.path.join(HERE, "ort_bench.js")

VERSION = "1.23.2"  # onnxruntime-node
OPSET = 17
GAUSSIAN_STD = 5.0
# What a run of the exported model must give to be timed: fp32 within this
# of each reference feature component (features are unit vectors), int8
# at least this cosine with every reference feature.
FP32_MAX_ABS = 1e-4
INT8_MIN_COSINE = 0.99


# ---------------------------------------------------------------------------
# Export and quantisation (child process)


def export(model_dir, prefix, batch, height, width):
    import torch

    sys.path.insert(0, REFERENCE)
    import naclip_ref as ref

    torch.manual_seed(0)
    model = ref.Model(model_dir)
    image = torch.randn(batch, 3, height, width)
    with torch.no_grad():
        _, features, grid = ref.encode_image(model, image,
                                             gaussian_std=GAUSSIAN_STD)
    image.numpy().astype("<f4").tofile(prefix + ".input.bin")
    np.save(prefix + ".reference.npy", features.numpy())

    positions = ref.interpolate_positions(model.vision, *grid)
    omega = ref.gaussian_bias(*grid, GAUSSIAN_STD)

    class Encoder(torch.nn.Module):
        def forward(self, x):
            return ref.encode_image(model, x, gaussian_std=GAUSSIAN_STD)[1]

    with unittest.mock.patch.object(ref, "interpolate_positions",
                                    lambda vision, h, w: positions), \
            unittest.mock.patch.object(ref, "gaussian_bias",
                                       lambda h, w, std: omega), \
            warnings.catch_warnings():
        # The grid's checks in encode_image become constants: as intended.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(Encoder(), (image,), prefix + ".onnx",
                          opset_version=OPSET, input_names=["image"],
                          output_names=["features"])
    quantize_dynamic(prefix + ".onnx", prefix + "-int8.onnx")


def quantize_dynamic(src, dst):
    """ONNX Runtime's quantize_dynamic(op_types_to_quantize=["MatMul"]) with
    its defaults, written with onnx.helper (python3-onnx 1.12 ships no
    quantiser): every MatMul whose second input is a constant 2-D weight
    becomes DynamicQuantizeLinear (u8 activations, scale and zero point of
    the whole tensor, computed at run time) -> MatMulInteger with the
    weight in s8 (symmetric, one scale for the tensor: max |w| / 127) ->
    Cast to float -> Mul by the product of the two scales: the nodes ORT's
    quantiser emits, which its graph optimiser fuses into
    DynamicQuantizeMatMul and MatMulIntegerToFloat. Products of two
    activations (attention's) are left in fp32, as quantize_dynamic's
    MatMulConstBOnly does, and so is the patch convolution."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(src)
    graph = model.graph
    # torch.onnx.export leaves the weights in Constant nodes: make them
    # initializers, where a quantiser looks for weights.
    nodes = []
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute[0].name == "value":
            tensor = onnx.TensorProto()
            tensor.CopyFrom(node.attribute[0].t)
            tensor.name = node.output[0]
            graph.initializer.append(tensor)
        else:
            nodes.append(node)
    weights = {t.name: t for t in graph.initializer}

    quantised = []
    for node in nodes:
        weight = (weights.get(node.input[1]) if node.op_type == "MatMul"
                  else None)
        if weight is None or len(weight.dims) != 2:
            quantised.append(node)
            continue
        w = numpy_helper.to_array(weight)
        scale = np.float32(np.abs(w).max() / 127.0)
        w_name, y = weight.name, node.output[0]
        graph.initializer.extend([
            numpy_helper.from_array(
                np.clip(np.round(w / scale), -127, 127).astype(np.int8),
                w_name + "_quantized"),
            numpy_helper.from_array(np.array(scale), w_name + "_scale"),
            numpy_helper.from_array(np.array(0, np.int8),
                                    w_name + "_zero_point"),
        ])
        quantised += [
            helper.make_node("DynamicQuantizeLinear", [node.input[0]],
                             [y + "_x", y + "_x_scale", y + "_x_zero_point"]),
            helper.make_node("MatMulInteger",
                             [y + "_x", w_name + "_quantized",
                              y + "_x_zero_point", w_name + "_zero_point"],
                             [y + "_int32"]),
            helper.make_node("Cast", [y + "_int32"], [y + "_float"],
                             to=onnx.TensorProto.FLOAT),
            helper.make_node("Mul", [y + "_x_scale", w_name + "_scale"],
                             [y + "_scale"]),
            helper.make_node("Mul", [y + "_float", y + "_scale"], [y]),
        ]
    del graph.node[:]
    graph.node.extend(quantised)
    used = {name for node in graph.node for name in node.input}
    kept = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    onnx.checker.check_model(model)
    onnx.save(model, dst)


# ---------------------------------------------------------------------------
# Running it (bench.py's process)


def install(cache):
    """onnxruntime-node VERSION from the npm registry into cache (once), with
    --ignore-scripts: its install script only fetches GPU libraries, the
    CPU build is inside the package. Returns the node_modules directory."""
    modules = os.path.join(cache, "node_modules")
    package = os.path.join(modules, "onnxruntime-node", "package.json")
    if os.path.exists(package):
        with open(package) as f:
            if json.load(f)["version"] == VERSION:
                return modules
    subprocess.run(["npm", "install", "--ignore-scripts", "--no-audit",
                    "--no-fund", "--prefix", cache, "--cache",
                    os.path.join(cache, "npm-cache"),
                    f"onnxruntime-node@{VERSION}"],
                   check=True, capture_output=True, text=True)
    return modules


def run_node(modules, model, prefix, shape, threads, repeat, output=None):
    env = dict(os.environ, NODE_PATH=modules)
    cmd = ["node", NODE_SCRIPT, model, prefix + ".input.bin",
           ",".join(map(str, shape)), str(threads), str(repeat)]
    if output:
        cmd.append(output)
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{os.path.basename(model)}: {p.stderr.strip()}")
    return json.loads(p.stdout)


def measure(modules, prefix, shape, threads, repeat):
    """{"fp32": result, "int8": result}: each result has "check" (what the
    model's features gave against the reference's), "kernels" (what ORT
    ran), "ms" (the median of repeat runs, None if the check failed) and
    the session's settings."""
    reference = np.load(prefix + ".reference.npy")
    results = {}
    for precision, model in (("fp32", prefix + ".onnx"),
                             ("int8", prefix + "-int8.onnx")):
        output = f"{prefix}-{precision}.output.bin"
        r = run_node(modules, model, prefix, shape, threads, 0, output)
        features = np.fromfile(output, "<f4")
        if tuple(r["shape"]) != reference.shape:
            r["check"] = (f"shape {r['shape']}, reference "
                          f"{list(reference.shape)}")
            ok = False
        else:
            features = features.reshape(reference.shape)
            max_abs = float(np.abs(features - reference).max())
            min_cos = float((features * reference).sum(-1).min())
            r["check"] = (f"max |diff| {max_abs:.1e}, min cosine "
                          f"{min_cos:.5f}")
            ok = (max_abs <= FP32_MAX_ABS if precision == "fp32"
                  else min_cos >= INT8_MIN_COSINE)
        r["ms"] = None
        if ok:
            times = run_node(modules, model, prefix, shape, threads,
                             repeat)["times_ms"]
            r["ms"] = float(np.median(times))
        results[precision] = r
    return results


if __name__ == "__main__":
    if len(sys.argv) != 7 or sys.argv[1] != "export":
        sys.exit(__doc__.split("\n\n")[1])
    export(sys.argv[2], sys.argv[3], *map(int, sys.argv[4:7]))
