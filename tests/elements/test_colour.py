#!/usr/bin/python3
"""What the element's labels mean, on the colour model. Prints TAP.

The colour model (`naclip make-colour-model`, built here with this build's
tool) knows colour names, so the right answer is known: the frames below
have regions of stated colours, and the element's labels, overlay and
metadata are checked against them, end to end through GStreamer
(appsrc ! naclipseg ! appsink, RGB, every property but the ones named at
its default):
  - videotestsrc's SMPTE bars (the layout stated below and checked against
    the frame first): per-class IoU >= 0.95 for the seven bars;
  - synonyms (grey|gray) give one label, background names label 0, the
    confidence threshold sends the pixels no class is sure of to 0;
  - classes changed while PLAYING give the new labels on the next inferred
    frame, once the element says the new list is active;
  - the overlay paints each class's colour, class-colors' or the palette's,
    over its own region, and agrees pixel for pixel with the GRAY8 labels
    (output=labels) and the metadata (ROI coverage) of the same frame.
"""

import os
import subprocess
import sys

import gi
import numpy as np

gi.require_version("Gst", "1.0")
gi.require_version("GstVideo", "1.0")
from gi.repository import Gst, GstVideo  # noqa: E402

SOURCE = os.environ["NACLIP_SOURCE_ROOT"]
BUILD = os.environ["NACLIP_BUILD_ROOT"]
sys.path.insert(0, os.path.join(SOURCE, "tests"))
sys.path.insert(0, os.path.join(SOURCE, "tests", "fixtures"))
import make_colour_image  # noqa: E402
from colour_layouts import (BANDS, MIN_IOU, ON_WHITE,  # noqa: E402
                            STRIPES_GREY, class_ious, fmt, iou)
from tap import check, done, note  # noqa: E402
from voc_colours import voc_colour  # noqa: E402

W, H = 640, 480

# videotestsrc pattern=smpte in RGB at 640x480, as it renders it (checked
# against the frame by test_smpte_layout):
#   rows 0..319 (the top 2/3): seven bars, bar i covering columns
#     i*640//7 .. (i+1)*640//7: white, yellow, cyan, green, magenta, red,
#     blue, each at full intensity (255 or 0 per channel);
#   rows 320..359: the castellations (blue, black, magenta, black, cyan,
#     black, white under the bars), rows 360..479: -I, white, +Q, black
#     and the PLUGE and noise; not scored.
BARS = ["white", "yellow", "cyan", "green", "magenta", "red", "blue"]
BAR_ROWS = 320
BAR_COLUMNS = [i * W // 7 for i in range(8)]
SMPTE_CLASSES = BARS + ["black"]
# What the demo gives the colour classes (data/demo.sh).
DEMO_COLOURS = {"white": "#ffffff", "yellow": "#ffff00", "cyan": "#00ffff",
                "green": "#00ff00", "magenta": "#ff00ff", "red": "#ff0000",
                "blue": "#0000ff", "black": "#000000"}

def colour_model():
    out = os.path.join(BUILD, "fixtures", "colour-model")
    subprocess.run([os.path.join(BUILD, "src", "tool", "naclip"),
                    "make-colour-model", out], check=True,
                   stdout=subprocess.DEVNULL)
    return out


def smpte_frame():
    """One 640x480 RGB frame of videotestsrc pattern=smpte."""
    pipeline = Gst.parse_launch(
        f"videotestsrc num-buffers=1 pattern=smpte ! "
        f"video/x-raw,format=RGB,width={W},height={H} ! appsink name=sink")
    pipeline.set_state(Gst.State.PLAYING)
    sample = pipeline.get_by_name("sink").emit("pull-sample")
    pipeline.set_state(Gst.State.NULL)
    return to_array(sample)


def to_array(sample):
    """The frame of @sample: [H, W, 3] for RGB, [H, W] for GRAY8."""
    s = sample.get_caps().get_structure(0)
    w, h = s.get_int("width")[1], s.get_int("height")[1]
    channels = 1 if s.get_string("format") == "GRAY8" else 3
    stride = (w * channels + 3) // 4 * 4
    buf = sample.get_buffer()
    ok, info = buf.map(Gst.MapFlags.READ)
    a = np.frombuffer(info.data, np.uint8).reshape(h, stride)
    a = a[:, :w * channels].reshape(h, w, channels).copy()
    buf.unmap(info)
    return a[:, :, 0] if channels == 1 else a


def read_rois(buf):
    api = GstVideo.VideoRegionOfInterestMeta.get_info().api
    rois = []
    for i in range(buf.get_n_meta(api)):
        meta = GstVideo.buffer_get_video_region_of_interest_meta_id(buf, i)
        s = meta.get_param("naclip-class")
        rois.append(dict(label=s.get_uint("label")[1],
                         name=s.get_string("class-name"),
                         coverage=s.get_double("coverage")[1],
                         class_set=s.get_uint64("class-set")[1]))
    return rois


class Element:
    """appsrc ! naclipseg PROPS ! appsink for RGB frames of one size."""

    def __init__(self, model, height, width, **props):
        desc = (f"appsrc name=src format=time caps=video/x-raw,format=RGB,"
                f"width={width},height={height},framerate=30/1 ! "
                f"naclipseg name=seg model-file={model} ! "
                f"appsink name=sink sync=false")
        self.pipeline = Gst.parse_launch(desc)
        self.seg = self.pipeline.get_by_name("seg")
        for name, value in props.items():
            Gst.util_set_object_arg(self.seg, name.replace("_", "-"),
                                    str(value))
        self.src = self.pipeline.get_by_name("src")
        self.sink = self.pipeline.get_by_name("sink")
        self.bus = self.pipeline.get_bus()
        self.n = 0
        self.pipeline.set_state(Gst.State.PLAYING)

    def push(self, rgb):
        """Pushes one frame; returns (output array, ROIs of its buffer)."""
        buf = Gst.Buffer.new_wrapped(rgb.tobytes())
        buf.pts = self.n * Gst.SECOND // 30
        buf.duration = Gst.SECOND // 30
        self.n += 1
        self.src.emit("push-buffer", buf)
        sample = self.sink.emit("try-pull-sample", 120 * Gst.SECOND)
        error = self.bus.pop_filtered(Gst.MessageType.ERROR)
        assert error is None, error.parse_error()
        assert sample is not None, "no frame out"
        return to_array(sample), read_rois(sample.get_buffer())

    def wait_classes_changed(self):
        """The class-set of the next naclipseg-classes-changed message."""
        while True:
            msg = self.bus.timed_pop_filtered(
                120 * Gst.SECOND,
                Gst.MessageType.ELEMENT | Gst.MessageType.WARNING)
            assert msg is not None, "the new classes never became active"
            assert msg.type == Gst.MessageType.ELEMENT, msg.parse_warning()
            s = msg.get_structure()
            if s.get_name() == "naclipseg-classes-changed":
                return s.get_uint64("class-set")[1]

    def close(self):
        self.pipeline.set_state(Gst.State.NULL)


def segment(model, rgb, **props):
    """The GRAY8 labels (frame size) and ROIs of @rgb."""
    e = Element(model, *rgb.shape[:2], output="labels", **props)
    try:
        return e.push(rgb)
    finally:
        e.close()


def bar_ious(labels, order):
    """Bar colour -> IoU, over the top 2/3, of its bar with the label its
    name has in @order."""
    top = labels[:BAR_ROWS]
    out = {}
    for i, colour in enumerate(BARS):
        bar = np.zeros_like(top, bool)
        bar[:, BAR_COLUMNS[i]:BAR_COLUMNS[i + 1]] = True
        out[colour] = iou(bar, top == order.index(colour) + 1)
    return out


# ------------------------------------------------------------------ tests
def test_smpte_layout(frame):
    want = {name: make_colour_image.COLOURS[name] for name in BARS}
    bad = [name for i, name in enumerate(BARS)
           if not (frame[:BAR_ROWS, BAR_COLUMNS[i]:BAR_COLUMNS[i + 1]]
                   == want[name]).all()]
    check(not bad and not (frame[BAR_ROWS] == frame[BAR_ROWS - 1]).all(),
          "videotestsrc's SMPTE frame has the seven bars stated here, over "
          "the top 2/3", f"bars that differ: {bad}")
    return not bad


def precisions():
    """The precisions this build runs on this CPU (`naclip info`)."""
    out = subprocess.run([os.path.join(BUILD, "src", "tool", "naclip"),
                          "info"], capture_output=True, text=True,
                         check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("precisions:"))
    return line.split()[1:]


def test_smpte_iou(model, frame):
    labels, rois = segment(model, frame, classes=",".join(SMPTE_CLASSES))
    ious = bar_ious(labels, SMPTE_CLASSES)
    note(f"SMPTE bars, IoU per bar: {fmt(ious)}")
    check(min(ious.values()) >= MIN_IOU,
          f"SMPTE bars: every bar's IoU >= {MIN_IOU} with its colour's label",
          fmt(ious))
    # The same at every other precision the CPU runs (the default, auto,
    # is one of them).
    for precision in precisions():
        got, _ = segment(model, frame, classes=",".join(SMPTE_CLASSES),
                         precision=precision)
        ious = bar_ious(got, SMPTE_CLASSES)
        check(min(ious.values()) >= MIN_IOU,
              f"SMPTE bars at precision={precision}: every bar's IoU >= "
              f"{MIN_IOU}", fmt(ious))
    names = {r["label"]: r["name"] for r in rois}
    check(all(names.get(i + 1) == c for i, c in enumerate(BARS)),
          "the metadata names each bar's label with its class", str(names))


def test_synonyms(model):
    rgb, regions, names = make_colour_image.render(STRIPES_GREY, 120, 180)
    labels, rois = {}, {}
    for classes in ("red,grey|gray,blue", "red,grey,blue", "red,gray,blue"):
        labels[classes], rois[classes] = segment(model, rgb, classes=classes)
    first = {r["label"]: r["name"]
             for r in rois["red,grey|gray,blue"]}.get(2)
    ious = class_ious(regions, names, labels["red,grey|gray,blue"],
                      "red,grey|gray,blue")
    check(set(np.unique(labels["red,grey|gray,blue"])) <= {1, 2, 3}
          and min(ious.values()) >= MIN_IOU and first == "grey",
          f"grey|gray is one class: the grey third gets label 2 (IoU >= "
          f"{MIN_IOU}), named by its first name", f"{fmt(ious)}, {first}")
    agree = np.mean(labels["red,grey,blue"] == labels["red,grey|gray,blue"])
    check(np.array_equal(labels["red,grey,blue"], labels["red,gray,blue"])
          and agree > 0.995,
          f"grey and gray name the same colour; with both, {agree:.2%} of "
          "the labels are those of either alone")


def test_background(model):
    rgb, regions, names = make_colour_image.render(ON_WHITE, 150, 200)
    labels, _ = segment(model, rgb, classes="red,green,blue",
                        background_classes="white")
    ious = class_ious(regions, names, labels, "red,green,blue",
                      background=("white",))
    check(min(ious.values()) >= MIN_IOU,
          "background-classes=white: white gets label 0, red, green, blue "
          f"1..3 (IoU >= {MIN_IOU})", fmt(ious))


def test_threshold(model):
    rgb, regions, names = make_colour_image.render(BANDS, 120, 300)
    low, _ = segment(model, rgb, classes="red,blue",
                     class_confidence_threshold=0.6)
    none, _ = segment(model, rgb, classes="red,blue")
    share = {c: float(np.mean(low[regions == names.index(c)] == k))
             for c, k in (("green", 0), ("red", 1), ("blue", 2))}
    check(min(share.values()) >= MIN_IOU,
          "class-confidence-threshold=0.6: green, as near to red as to "
          f"blue, gets label 0 ({share['green']:.2%} of its pixels); red "
          f"and blue keep theirs ({share['red']:.2%}, {share['blue']:.2%})")
    check(not (none == 0).any(),
          "threshold 0: no pixel gets label 0 (there are no background "
          "names)")


def test_classes_while_playing(model, frame):
    order = list(reversed(SMPTE_CLASSES))
    e = Element(model, H, W, output="labels",
                classes=",".join(SMPTE_CLASSES))
    try:
        before, _ = e.push(frame)
        e.seg.set_property("classes", ",".join(order))
        class_set = e.wait_classes_changed()
        after, rois_after = e.push(frame)
    finally:
        e.close()
    ious = bar_ious(after, order)
    check(min(bar_ious(before, SMPTE_CLASSES).values()) >= MIN_IOU
          and class_set == 2 and min(ious.values()) >= MIN_IOU
          and all(r["class_set"] == 2 for r in rois_after)
          and {r["label"]: r["name"] for r in rois_after}.get(1) == "black",
          "classes changed while PLAYING (reversed): once "
          "naclipseg-classes-changed says class set 2 is active, the next "
          f"frame has the new labels (IoU >= {MIN_IOU})",
          f"class set {class_set}, {fmt(ious)}")


def test_overlay(model, frame):
    """class-colors for white..magenta (the demo's), the palette for red
    and blue."""
    given = {c: DEMO_COLOURS[c] for c in BARS[:5]}
    spec = ",".join(f"{c}:{v}" for c, v in given.items())
    classes = ",".join(SMPTE_CLASSES)
    common = dict(classes=classes, output_size="frame")
    e = Element(model, H, W, alpha=1.0, class_colors=spec, **common)
    try:
        overlay, rois = e.push(frame)
    finally:
        e.close()
    labels, label_rois = segment(model, frame, **common)

    def colour_of(label):
        name = SMPTE_CLASSES[label - 1]
        if name in given:
            return tuple(int(given[name][i:i + 2], 16) for i in (1, 3, 5))
        return voc_colour(label)

    painted = {}
    for i, colour in enumerate(BARS):
        bar = np.zeros((BAR_ROWS, W), bool)
        bar[:, BAR_COLUMNS[i]:BAR_COLUMNS[i + 1]] = True
        painted[colour] = iou(
            bar, (overlay[:BAR_ROWS] == colour_of(i + 1)).all(axis=2))
    note(f"overlay, IoU of each class's colour with its bar: {fmt(painted)}")
    check(min(painted.values()) >= MIN_IOU,
          "the overlay paints each bar with its class's colour (class-colors "
          f"for white..magenta, the palette for red and blue), IoU >= "
          f"{MIN_IOU}", fmt(painted))

    want = frame.copy()
    for label in np.unique(labels):
        if label:
            want[labels == label] = colour_of(label)
    n_diff = int(np.sum((overlay != want).any(axis=2)))
    check(n_diff == 0,
          "the overlay is the class colour of the GRAY8 label (output=labels) "
          "at every labelled pixel and the frame elsewhere",
          f"{n_diff} pixels differ")
    counts = {int(k): int(n) for k, n in zip(*np.unique(labels,
                                                          return_counts=True))
              if k}
    bad = [r for r in rois
           if abs(r["coverage"] - counts.get(r["label"], 0) / (W * H)) > 1e-6
           or r["name"] != SMPTE_CLASSES[r["label"] - 1]]
    check(sorted(r["label"] for r in rois) == sorted(counts) and not bad
          and [r["coverage"] for r in rois]
          == [r["coverage"] for r in label_rois],
          "the metadata of the overlay frame names the labels present, with "
          "the GRAY8 map's pixel counts as coverage", str(bad))


def main():
    Gst.init(None)
    model = colour_model()
    frame = smpte_frame()
    if test_smpte_layout(frame):
        test_smpte_iou(model, frame)
        test_classes_while_playing(model, frame)
        test_overlay(model, frame)
    test_synonyms(model)
    test_background(model)
    test_threshold(model)
    return done()


if __name__ == "__main__":
    sys.exit(main())
