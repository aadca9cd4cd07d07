#!/usr/bin/python3
"""End to end: a recorded clip through naclipseg into a new file, and
the scheduling async=auto picks for live and recorded sources.

The suite makes its own clip (videotestsrc -> theoraenc -> oggmux; Theora
and Ogg are in gstreamer1.0-plugins-base), then runs
filesrc -> decodebin -> naclipseg -> theoraenc -> oggmux -> filesink with
async at its default (auto) and decodes the result: every frame must
survive (no QoS drop, no skip) and be segmented (frames-processed equals
frames). Then videotestsrc through the element into a synchronised
fakesink: live (is-live=true), auto must run async (no frame carries a
result computed from itself: every ROI says fresh=false) and pass every
frame; not live, sync (every frame carries its own result).
"""

import os
import subprocess
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstVideo", "1.0")
from gi.repository import Gst, GstVideo  # noqa: E402

N_FRAMES = 30


def model_dir():
    out = os.path.join(os.environ["NACLIP_BUILD_ROOT"], "fixtures",
                       "element-tiny")
    script = os.path.join(os.environ["NACLIP_SOURCE_ROOT"], "tests",
                          "fixtures", "make_checkpoint.py")
    subprocess.run([sys.executable, script, out, "--preset", "tiny",
                    "--layout", "hf", "--seed", "1"], check=True)
    return out


def play(desc):
    pipeline = Gst.parse_launch(desc)
    pipeline.set_state(Gst.State.PLAYING)
    msg = pipeline.get_bus().timed_pop_filtered(
        120 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    pipeline.set_state(Gst.State.NULL)
    assert msg is not None, f"timeout: {desc}"
    assert msg.type == Gst.MessageType.EOS, msg.parse_error()
    return pipeline


def count_frames(path):
    pipeline = Gst.parse_launch(
        f"filesrc location={path} ! decodebin ! fakesink name=sink "
        f"signal-handoffs=true sync=false")
    n = [0]
    pipeline.get_by_name("sink").connect(
        "handoff", lambda *a: n.__setitem__(0, n[0] + 1))
    pipeline.set_state(Gst.State.PLAYING)
    msg = pipeline.get_bus().timed_pop_filtered(
        120 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    pipeline.set_state(Gst.State.NULL)
    assert msg is not None and msg.type == Gst.MessageType.EOS
    return n[0]


def fresh_and_age(buf):
    """(fresh, age) of the ROIs of @buf (one per present class)."""
    api = GstVideo.VideoRegionOfInterestMeta.get_info().api
    params = [GstVideo.buffer_get_video_region_of_interest_meta_id(buf, i)
              .get_param("naclip-class") for i in range(buf.get_n_meta(api))]
    return [(p.get_boolean("fresh")[1], p.get_uint64("age")[1])
            for p in params]


def check_mode(model, live):
    """videotestsrc (live or not) through the element at async=auto; ->
    True when it ran as expected."""
    pipeline = Gst.parse_launch(
        f"videotestsrc is-live={str(live).lower()} num-buffers={N_FRAMES} "
        f"pattern=ball ! video/x-raw,format=RGB,width=160,height=120,"
        f"framerate=30/1 ! naclipseg name=seg model-file={model} "
        f"classes=\"ball,background\" templates=single inference-size=32 "
        f"pamr-steps=2 ! fakesink name=sink sync=true")
    frames = {"out": 0, "fresh": 0, "reused": 0}

    def probe(pad, info):
        rois = fresh_and_age(info.get_buffer())
        frames["out"] += 1
        # fresh: age 0; reused: the age of an earlier frame, 1/30 s apart
        frames["fresh"] += bool(rois) and all(f and a == 0 for f, a in rois)
        frames["reused"] += bool(rois) and all(
            not f and a >= Gst.SECOND // 30 for f, a in rois)
        return Gst.PadProbeReturn.OK

    seg = pipeline.get_by_name("seg")
    seg.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, probe)
    pipeline.set_state(Gst.State.PLAYING)
    msg = pipeline.get_bus().timed_pop_filtered(
        120 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    pipeline.set_state(Gst.State.NULL)
    assert msg is not None and msg.type == Gst.MessageType.EOS
    processed = seg.get_property("frames-processed")
    print(f"live={live}: out {frames['out']} frames, {frames['fresh']} with "
          f"their own result, {frames['reused']} with an earlier one, "
          f"segmented {processed}")
    if live:
        return (frames["out"] == N_FRAMES and frames["fresh"] == 0
                and frames["reused"] > 0)
    return frames["out"] == N_FRAMES == frames["fresh"] == processed


def main():
    Gst.init(None)
    out_dir = os.environ["NACLIP_TEST_OUT"]
    clip = os.path.join(out_dir, "e2e-in.ogg")
    result = os.path.join(out_dir, "e2e-out.ogg")
    model = model_dir()
    play(f"videotestsrc num-buffers={N_FRAMES} pattern=ball ! "
         f"video/x-raw,width=160,height=120,framerate=30/1 ! theoraenc ! "
         f"oggmux ! filesink location={clip}")
    assert count_frames(clip) == N_FRAMES
    pipeline = play(
        f"filesrc location={clip} ! decodebin ! videoconvert ! "
        f"naclipseg name=seg model-file={model} classes=\"ball,background\" "
        f"templates=single inference-size=32 pamr-steps=2 ! videoconvert ! "
        f"theoraenc ! oggmux ! filesink location={result}")
    seg = pipeline.get_by_name("seg")
    processed = seg.get_property("frames-processed")
    n = count_frames(result)
    print(f"in {N_FRAMES} frames, segmented {processed}, out {n} frames")
    ok = n == N_FRAMES and processed == N_FRAMES
    ok = check_mode(model, live=True) and ok
    ok = check_mode(model, live=False) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
