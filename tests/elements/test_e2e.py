#!/usr/bin/python3
"""End to end: a recorded clip through naclipseg into a new file.

The suite makes its own clip (videotestsrc -> theoraenc -> oggmux; Theora
and Ogg are in gstreamer1.0-plugins-base), then runs
filesrc -> decodebin -> naclipseg -> theoraenc -> oggmux -> filesink and
decodes the result: every frame must survive (no QoS drop, no skip).
"""

import os
import subprocess
import sys

import gi

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402

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
    return 0 if n == N_FRAMES and processed == N_FRAMES else 1


if __name__ == "__main__":
    sys.exit(main())
