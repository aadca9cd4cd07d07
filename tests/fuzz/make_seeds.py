#!/usr/bin/python3
"""Writes the seed corpora of the fuzz targets other than safetensors
(whose seeds come from tests/fixtures/make_damaged.py --seeds):
tests/fuzz/corpus/{config,merges,tokenizer,classes,geometry}/. Each seed
is named after the bad-input row (tests/bad-inputs/README.md) it
exercises where there is one. Run from anywhere; the seeds are committed:

    tests/fuzz/make_seeds.py
"""

import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def write_all(target, seeds):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    for name in os.listdir(d):
        os.unlink(os.path.join(d, name))
    for name, data in seeds.items():
        if isinstance(data, str):
            data = data.encode("utf-8")
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


def config_seeds():
    vision = {"hidden_size": 64, "intermediate_size": 256,
              "num_attention_heads": 2, "num_hidden_layers": 2,
              "image_size": 64, "patch_size": 16, "num_channels": 3,
              "hidden_act": "quick_gelu", "layer_norm_eps": 1e-05}
    good = {"architectures": ["CLIPModel"], "projection_dim": 32,
            "vision_config": vision}

    def variant(**changes):
        v = dict(vision)
        for k, val in changes.items():
            if val is None:
                v.pop(k, None)
            else:
                v[k] = val
        return json.dumps(dict(good, vision_config=v))

    return {
        "good.json": json.dumps(good),
        "good-gelu.json": variant(hidden_act="gelu"),
        "good-minimal.json": json.dumps({"projection_dim": 32, "vision_config": {
            "hidden_size": 64, "patch_size": 16, "image_size": 64,
            "num_attention_heads": 1, "num_hidden_layers": 2}}),
        "B01-empty.json": "",
        "B01-array.json": "[]",
        "B01-notjson.json": "{vision_config}",
        "B02-no-heads.json": variant(num_attention_heads=None),
        "B02-no-projection.json": json.dumps({"vision_config": vision}),
        "B03-string.json": variant(hidden_size="64"),
        "B03-fraction.json": variant(hidden_size=64.5),
        "B03-huge.json": variant(hidden_size=2**40),
        "B03-negative.json": variant(num_hidden_layers=-2),
        "B04-heads.json": variant(num_attention_heads=3),
        "B04-patch.json": variant(image_size=72),
        "B05-width.json": variant(hidden_size=96),
        "B07-layers.json": variant(num_hidden_layers=1000000),
        "B08-act.json": variant(hidden_act="relu"),
        "B09-eps0.json": variant(layer_norm_eps=0),
        "B09-eps-inf.json": variant(layer_norm_eps="EPS").replace(
            '"EPS"', "1e400"),
        "B10-dup.json": '{"vision_config":{},"vision_config":{}}',
        "B10-deep.json": "[" * 200 + "]" * 200,
        "text-config.json": json.dumps(dict(good, text_config={
            "vocab_size": 49408, "max_position_embeddings": 77})),
        # open_clip_config.json's form (read from config.json too).
        "open-clip.json": json.dumps({"model_cfg": {
            "embed_dim": 32, "quick_gelu": True, "vision_cfg": {
                "image_size": 64, "layers": 2, "width": 64, "head_width": 32,
                "mlp_ratio": 4.0, "patch_size": 16}}}),
        "open-clip-ls.json": json.dumps({"model_cfg": {
            "embed_dim": 32, "vision_cfg": {
                "image_size": 64, "layers": [2, 2], "width": 64,
                "ls_init_value": 0.1}}}),
    }


def merges_seeds():
    header = "#version: 0.2\n"
    return {
        "C01-empty.txt": "",
        "C01-header.txt": header,
        "C02-short.txt": header + "i n\nt h\na n\nr e\n",
        "C04-fields.txt": header + "i n\nt\nh e x\n",
        "C04-tab.txt": header + "i\tn\n",
        "C05-crlf.txt": "\ufeff" + header.replace("\n", "\r\n") + "i n\r\n",
        "C06-utf8.txt": (header + "i \xc3(\n").encode("latin-1"),
        "C08-noheader.txt": "i n\nt h\n",
        "gzip-truncated.gz": b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03",
        # Splices into CLIP's merges: "#splice", a little-endian line
        # number, then the replacement line.
        "splice-C04.txt": b"#splice\x05\x00i\n",
        "splice-C06.txt": b"#splice\x10\x00i \xc3(",
        "splice-C07.txt": b"#splice\xfe\xbei n",
        "splice-C08.txt": b"#splice\x00\x00i n",
        "splice-valid.txt": b"#splice\x01\x00i n",
        "splice-empty.txt": b"#splice\x20\x00",
    }


def tokenizer_seeds():
    with open(os.path.join(HERE, "..", "data", "tokenizer_cases.json")) as f:
        cases = json.load(f)
    seeds = {}
    for i, c in enumerate(cases[:40]):
        seeds[f"golden-{i:02d}.txt"] = b"\x00" + c["text"].encode("utf-8")
    rows = {
        "E02-c3-28": b"\x00cat \xc3\x28",
        "E02-overlong": b"\x00\xc0\xaf",
        "E02-surrogate": b"\x00\xed\xa0\x80",
        "E02-above-max": b"\x00\xf4\x90\x80\x80",
        "E02-truncated": b"\x00abc\xe2\x82",
        "E03-controls": "\x00\x01\x1b[31mred\x7f\u0085\u2028\u200d\ufeff"
                        .encode("utf-8"),
        "E05-word": b"\x01" + b"a" * 3000,
        "E05-underscores": b"\x01" + b"_" * 2000,
        "E05-emoji": b"\x01" + "\U0001F431".encode("utf-8") * 500,
        "E06-long": b"\x00" + b"cat " * 100,
        "E06-truncate": b"\x01" + b"cat " * 100,
        "E07-specials": b"\x00a <|endoftext|> b <|startoftext|>",
        "E08-format": b"\x00%s%n%x%% {} <b>markup</b>",
        "E09-entities": b"\x00&amp;lt;cat&amp;gt; &#x41; &nbsp;",
        "E10-scripts": "\x00\u732b\u306e\u5199\u771f \u0642\u0637\u0629 "
                       "\U0001F468\u200d\U0001F469\u200d\U0001F467 "
                       "e\u0301 \u0130stanbul stra\u00dfe".encode("utf-8"),
        "E13-nul": b"\x00cat\x00dog",
        "context-5": b"\x0aa photo of a cat",
        "context-2": b"\x04x",
    }
    seeds.update({k + ".txt": v for k, v in rows.items()})
    return seeds


def classes_seeds():
    return {
        "list.txt": "sky,road,person|man|woman",
        "list-background.txt": b"cat,dog\x00sky|wall",
        "E01-empty-items.txt": ",,, ,|, cat ,",
        "E01-empty.txt": "",
        "E02-utf8.txt": b"cat,\xc3\x28",
        "E08-format.txt": "%s%n,{},<b>x</b>",
        "E11-duplicate.txt": "cat,dog,Cat",
        "E11-many.txt": ",".join(f"c{i}" for i in range(300)),
        "file.txt": "background: sky, wall\ncat, kitten\ndog\n\n# comment\n",
        "file-crlf.txt": "cat, kitten\r\ndog\r\n",
        "file-late-background.txt": "cat\nbackground: sky\n",
        "templates.txt": "a photo of a {}.\nitap of a {}.\n",
        "templates-bad.txt": "a photo of a {} {}.\nno hole\n",
    }


def geometry_seed(fmt, matrix, w, h, strides, short, dilation):
    b = bytes([fmt, matrix]) + struct.pack("<I", w)[:3] + \
        struct.pack("<I", h)[:3]
    for s in strides:
        b += struct.pack("<I", s)[:3]
    return b + struct.pack("<H", short) + bytes([dilation])


def geometry_seeds():
    # NaclipPixelFormat: RGB 0, BGR 1, RGBA 2, ..., XBGR 9, I420 10, NV12 11.
    return {
        "G01-rgb-64x48": geometry_seed(0, 0, 64, 48, (192, 0, 0), 336, 1),
        "G01-bgrx-1x1": geometry_seed(7, 0, 1, 1, (4, 0, 0), 336, 0),
        "G01-rgb-15x15": geometry_seed(0, 0, 15, 15, (45, 0, 0), 0, 2),
        "G01-i420-33x17": geometry_seed(10, 1, 33, 17, (33, 17, 17), 336, 1),
        "G01-nv12-385x289": geometry_seed(11, 2, 385, 289, (385, 386, 0),
                                          224, 3),
        "G02-rgb-385": geometry_seed(0, 0, 385, 7, (1156, 0, 0), 336, 1),
        "G03-padded": geometry_seed(8, 0, 20, 10, (80 + 64, 0, 0), 16, 1),
        "G04-short-stride": geometry_seed(0, 0, 64, 48, (191, 0, 0), 336, 1),
        "G04-short-chroma": geometry_seed(10, 0, 33, 17, (33, 16, 17), 336, 1),
        "G05-huge": geometry_seed(0, 0, 65535, 65535, (196605, 0, 0), 336, 1),
        "G05-max": geometry_seed(2, 3, 0xFFFFFF, 0xFFFFFF,
                                 (0xFFFFFF, 0, 0), 0xFFFF, 7),
        "G05-zero": geometry_seed(0, 0, 0, 0, (0, 0, 0), 336, 1),
        "bad-format": geometry_seed(12, 0, 4, 4, (12, 0, 0), 336, 1),
        "bad-matrix": geometry_seed(10, 4, 4, 4, (4, 2, 2), 336, 1),
        "tall": geometry_seed(0, 0, 3, 5000, (9, 0, 0), 336, 1),
    }


def main():
    write_all("config", config_seeds())
    write_all("merges", merges_seeds())
    write_all("tokenizer", tokenizer_seeds())
    write_all("classes", classes_seeds())
    write_all("geometry", geometry_seeds())


if __name__ == "__main__":
    main()
