#!/usr/bin/python3
"""What a Python application reads from naclipseg (Debian python3-gst-1.0).

GStreamer 1.22's Python bindings cannot iterate metas, so the element gives
each present class a GstVideoRegionOfInterestMeta with ids 0..k-1 and a
"naclip-class" params structure; the full mask comes from output=labels
through appsink. This test reads both from the same frames and checks they
agree: ROI coverage equals the pixel count of its label in the GRAY8 mask,
boxes enclose exactly the pixels of their label, and the class names are the
configured ones.
"""

import os
import subprocess
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstVideo", "1.0")
from gi.repository import Gst, GstVideo  # noqa: E402

CLASSES = ["sky", "road", "car"]
W, H = 96, 72


def model_dir():
    out = os.path.join(os.environ["NACLIP_BUILD_ROOT"], "fixtures",
                       "element-tiny")
    script = os.path.join(os.environ["NACLIP_SOURCE_ROOT"], "tests",
                          "fixtures", "make_checkpoint.py")
    subprocess.run([sys.executable, script, out, "--preset", "tiny",
                    "--layout", "hf", "--seed", "1"], check=True)
    return out


def run(model, output):
    desc = (f"videotestsrc num-buffers=3 pattern=smpte ! "
            f"video/x-raw,format=RGB,width={W},height={H},framerate=30/1 ! "
            f"naclipseg model-file={model} classes=\"{','.join(CLASSES)}\" "
            f"templates=single inference-size=32 pamr-steps=2 "
            f"output-size=frame output={output} ! "
            f"appsink name=sink sync=false")
    pipeline = Gst.parse_launch(desc)
    sink = pipeline.get_by_name("sink")
    pipeline.set_state(Gst.State.PLAYING)
    samples = []
    while True:
        sample = sink.emit("pull-sample")
        if sample is None:
            break
        samples.append(sample)
    msg = pipeline.get_bus().pop_filtered(Gst.MessageType.ERROR)
    pipeline.set_state(Gst.State.NULL)
    assert msg is None, msg.parse_error()
    assert len(samples) == 3, len(samples)
    return samples


def read_rois(buf):
    api = GstVideo.VideoRegionOfInterestMeta.get_info().api
    n = buf.get_n_meta(api)
    rois = []
    for i in range(n):
        meta = GstVideo.buffer_get_video_region_of_interest_meta_id(buf, i)
        assert meta is not None, f"ROI id {i} missing"
        s = meta.get_param("naclip-class")
        assert s is not None
        rois.append(dict(label=s.get_uint("label")[1],
                         name=s.get_string("class-name"),
                         coverage=s.get_double("coverage")[1],
                         confidence=s.get_double("confidence")[1],
                         class_set=s.get_uint64("class-set")[1],
                         box=(meta.x, meta.y, meta.w, meta.h)))
    return rois


def main():
    Gst.init(None)
    model = model_dir()
    masks = run(model, "labels")
    overlays = run(model, "passthrough")
    failures = 0
    for i, (ms, os_) in enumerate(zip(masks, overlays)):
        caps = ms.get_caps().get_structure(0)
        assert caps.get_string("format") == "GRAY8"
        buf = ms.get_buffer()
        ok, info = buf.map(Gst.MapFlags.READ)
        stride = (W + 3) // 4 * 4
        mask = [info.data[y * stride:y * stride + W] for y in range(H)]
        buf.unmap(info)
        rois = read_rois(buf)
        same = read_rois(os_.get_buffer())
        assert [r["coverage"] for r in rois] == \
            [r["coverage"] for r in same], "modes disagree"
        counts = {}
        for row in mask:
            for v in row:
                counts[v] = counts.get(v, 0) + 1
        present = sorted(v for v in counts if v != 0)
        assert [r["label"] for r in rois] == present, (rois, present)
        for r in rois:
            assert r["name"] == CLASSES[r["label"] - 1]
            assert r["class_set"] == 1
            assert 0.0 < r["confidence"] <= 1.0
            want = counts[r["label"]] / (W * H)
            if abs(r["coverage"] - want) > 1e-6:
                print(f"frame {i} {r['name']}: coverage {r['coverage']} "
                      f"!= mask {want}")
                failures += 1
            x, y, w, h = r["box"]
            xs = [x_ for y_ in range(H) for x_ in range(W)
                  if mask[y_][x_] == r["label"]]
            ys = [y_ for y_ in range(H) for x_ in range(W)
                  if mask[y_][x_] == r["label"]]
            if (x, y, x + w, y + h) != (min(xs), min(ys), max(xs) + 1,
                                        max(ys) + 1):
                print(f"frame {i} {r['name']}: box {r['box']} wrong")
                failures += 1
    print(f"{len(masks)} frames, {failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
