#!/usr/bin/python3
"""Damaged models for the rows of the bad-input catalogue (README.md here)
that tests/fixtures/make_damaged.py does not write.

Writes OUT_DIR/<id>... and OUT_DIR/manifest.json in make_damaged.py's
manifest format ({"id", "rule", "path", "code", "message"}, or
"accept": true with "level": "model" for inputs that must load).
tests/bad-inputs/test-bad-inputs.c runs both manifests, one GTest per row.

    bad_inputs.py OUT_DIR            the damaged models and their manifest
    bad_inputs.py --models OUT_DIR   good models for the numeric rows (F02,
                                     F06, F07, F09, E11): vision-only tiny
                                     models, one with denormal weights, and
                                     F16/BF16 ones holding special values
                                     with their float32 values (numpy's
                                     converter, bits kept) in specials-*.npy
"""

import json
import os
import shutil
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fixtures"))
import make_checkpoint  # noqa: E402
import safetensors_io  # noqa: E402

TINY = dict(make_checkpoint.PRESETS["tiny"])
VISION = dict(TINY, with_text=False)


def raw_file(path, items):
    """items: [(name, dtype name, shape, bytes)] written as given, packed."""
    header, blobs, offset = {}, [], 0
    for name, dt, shape, blob in items:
        header[name] = {"dtype": dt, "shape": list(shape),
                        "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def f32_items(tensors):
    out = []
    for name, a in tensors:
        if a.dtype.kind == "f":
            out.append((name, "F32", a.shape, a.astype("<f4").tobytes()))
        else:
            out.append((name, "I64", a.shape, a.astype("<i8").tobytes()))
    return out


def cases(out):
    c = []
    hf = make_checkpoint.build(VISION, "hf", 1)
    cfg = make_checkpoint.config_json(VISION)
    del cfg["text_config"]

    def model(cid, items, config=cfg):
        d = os.path.join(out, cid)
        os.makedirs(d)
        raw_file(os.path.join(d, "model.safetensors"), items)
        if config is not None:
            with open(os.path.join(d, "config.json"), "w") as f:
                json.dump(config, f)
        return cid

    # A14: dtypes the parser knows but the model cannot use, on a weight.
    fc1 = "vision_model.encoder.layers.0.mlp.fc1.weight"
    for suffix, dt, bits in (("a", "F8_E4M3", 8), ("b", "F4", 4),
                             ("c", "C64", 64), ("d", "I64", 64)):
        items = []
        for name, dtn, shape, blob in f32_items(hf):
            if name == fc1:
                n = int(np.prod(shape))
                blob = b"\0" * (n * bits // 8)
                dtn = dt
            items.append((name, dtn, shape, blob))
        c.append({"id": "A14" + suffix, "path": model("A14" + suffix, items),
                  "code": "UNSUPPORTED",
                  "message": f"tensor '{fc1}' has dtype {dt}; weights must "
                  "be F32, F16 or BF16"})

    # A30: a character device that never ends.
    c.append({"id": "A30e", "path": "/dev/urandom", "code": "IO",
              "message": "not a regular file"})

    # B02: required keys of text_config.
    text_dir = make_checkpoint.ensure(os.path.join(out, "text-base"), TINY,
                                      "hf", "F16", 7)
    for suffix, key in (("g", "vocab_size"), ("h", "max_position_embeddings")):
        d = os.path.join(out, "B02" + suffix)
        os.makedirs(d)
        for name in ("model.safetensors", "merges.txt"):
            os.link(os.path.join(text_dir, name), os.path.join(d, name))
        tcfg = make_checkpoint.config_json(TINY)
        del tcfg["text_config"][key]
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(tcfg, f)
        c.append({"id": "B02" + suffix, "path": "B02" + suffix,
                  "code": "MODEL",
                  "message": f"lacks the required key 'text_config.{key}'"})

    # C09: vocab.json is never read (ids come from merges.txt, as in
    # clip/simple_tokenizer.py): a garbage vocab.json beside a good model
    # does not matter.
    d = os.path.join(out, "C09")
    os.makedirs(d)
    for name in ("model.safetensors", "merges.txt", "config.json"):
        os.link(os.path.join(text_dir, name), os.path.join(d, name))
    with open(os.path.join(d, "vocab.json"), "w") as f:
        f.write('{"!": 7, "!": 7, "<|endoftext|>": -1')
    c.append({"id": "C09", "path": "C09", "accept": True, "level": "model"})

    # D01: a 4 GiB sparse zip is refused from its magic alone, at once.
    with open(os.path.join(out, "D01e.pt"), "wb") as f:
        f.write(b"PK\x03\x04")
        f.truncate(4 << 30)
    c.append({"id": "D01e", "path": "D01e.pt", "code": "UNSUPPORTED",
              "message": "is a zip archive"})
    # ... and the legacy torch.save magic number after a protocol-2 header.
    with open(os.path.join(out, "D01f.bin"), "wb") as f:
        f.write(b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"
                + b"." * 100)
    c.append({"id": "D01f", "path": "D01f.bin", "code": "UNSUPPORTED",
              "message": "convert"})
    for case in c:
        case["rule"] = case["id"][:3]
    return c


# Special F16 / BF16 bit patterns: NaN payloads (quiet and signalling),
# +-Inf, subnormals, the largest finite values, signed zeros.
F16_SPECIALS = [0x7E00, 0x7C01, 0xFE55, 0x7C00, 0xFC00, 0x0001, 0x83FF,
                0x7BFF, 0xFBFF, 0x0000, 0x8000, 0x3C00, 0x0400, 0x03FF]
BF16_SPECIALS = [0x7FC0, 0x7F81, 0xFFA5, 0x7F80, 0xFF80, 0x0001, 0x807F,
                 0x7F7F, 0xFF7F, 0x0000, 0x8000, 0x3F80, 0x0080, 0x007F]


def models(out):
    os.makedirs(out, exist_ok=True)
    make_checkpoint.ensure(os.path.join(out, "vision"), VISION, "hf", "F32", 1)
    stamp = os.path.join(out, "stamp")
    if os.path.exists(stamp):
        return
    hf = make_checkpoint.build(VISION, "hf", 1)
    cfg = make_checkpoint.config_json(VISION)
    del cfg["text_config"]

    def write_dir(name, items):
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        raw_file(os.path.join(d, "model.safetensors"), items)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(cfg, f)

    # F06: every linear weight scaled into the subnormal range (~1e-41).
    def linear(n, a):
        return a.ndim == 2 and (n.endswith("proj.weight") or ".mlp." in n)

    den = [(n, a * np.float32(1e-40) if linear(n, a) else a) for n, a in hf]
    write_dir("denormal", f32_items(den))

    fc1 = "vision_model.encoder.layers.0.mlp.fc1.weight"
    for dt, specials in (("F16", F16_SPECIALS), ("BF16", BF16_SPECIALS)):
        items = []
        for name, a in hf:
            if a.dtype.kind != "f":
                items.append((name, "I64", a.shape, a.astype("<i8").tobytes()))
                continue
            if dt == "F16":
                bits = a.astype("<f2").view("<u2").copy()
            else:
                bits = np.frombuffer(safetensors_io.to_bf16_bytes(a),
                                     "<u2").reshape(a.shape).copy()
            if name == fc1:
                flat = bits.reshape(-1)
                flat[:len(specials)] = specials
                if dt == "F16":
                    want = flat[:len(specials)].view("<f2").astype("<f4")
                else:
                    want = (flat[:len(specials)].astype("<u4") << 16).view(
                        "<f4")
                np.save(os.path.join(out, f"specials-{dt}.npy"),
                        want.view("<f4"))
            items.append((name, dt, a.shape, bits.tobytes()))
        write_dir("specials-" + dt, items)
    with open(stamp, "w") as f:
        f.write("1")


def main(argv):
    if len(argv) == 3 and argv[1] == "--models":
        models(argv[2])
        return 0
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = argv[1]
    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(out)
    manifest = cases(out)
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
