#!/usr/bin/python3
"""naclip-coverage: an example application of the naclipseg element
(Debian's python3-gst-1.0).

Runs
    SOURCE ! videoconvert ! naclipseg output=passthrough PROPERTY=VALUE...
      ! fakesink sync=true
and once a second prints how much of the picture each class covered: the
mean, over the frames of that second that carried a result, of the
coverage the element's metadata gives each class (GstVideoRegion-
OfInterestMeta, params "naclip-class"; a class absent from a frame counts
0 there). Classes appear from the first second they are seen in.

    naclip-coverage.py [--source DESC] [--seconds N] [--json]
                       [PROPERTY=VALUE ...]

    naclip-coverage.py model-file=$HOME/colour-model \\
        classes=white,yellow,cyan,green,magenta,red,blue,black \\
        --source "videotestsrc is-live=true pattern=smpte"

SOURCE is a gst-launch description that ends in raw video (default
"v4l2src", a camera); PROPERTY=VALUE are naclipseg properties (model-file,
classes, ...). --seconds stops after N seconds (else at the end of the
stream or Ctrl-C); --json prints one JSON object a second instead of a
line of text: {"t": seconds, "frames": n, "coverage": {class: fraction}}.
"""

import argparse
import json
import sys
import threading
import time

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstVideo", "1.0")
from gi.repository import GLib, Gst, GstVideo  # noqa: E402


class Coverage:
    """Sums of the coverage of each class over the frames of one second,
    filled by the streaming thread, read by the main loop."""

    def __init__(self):
        self.lock = threading.Lock()
        self.frames = 0
        self.sums = {}  # label -> [name, summed coverage]
        self.api = GstVideo.VideoRegionOfInterestMeta.get_info().api

    def add(self, buf):
        rois = [GstVideo.buffer_get_video_region_of_interest_meta_id(buf, i)
                for i in range(buf.get_n_meta(self.api))]
        if not rois:
            return
        with self.lock:
            self.frames += 1
            for roi in rois:
                s = roi.get_param("naclip-class")
                entry = self.sums.setdefault(s.get_uint("label")[1],
                                             [s.get_string("class-name"), 0.0])
                entry[1] += s.get_double("coverage")[1]

    def take(self):
        """(frames, {class: mean coverage}) of the second, then resets."""
        with self.lock:
            frames = self.frames
            means = {name: round(total / frames, 4) if frames else 0.0
                     for _, (name, total) in sorted(self.sums.items())}
            self.frames = 0
            for entry in self.sums.values():
                entry[1] = 0.0
        return frames, means


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--source", default="v4l2src")
    p.add_argument("--seconds", type=float)
    p.add_argument("--json", action="store_true")
    p.add_argument("props", nargs="*", metavar="PROPERTY=VALUE")
    args = p.parse_args()

    Gst.init(None)
    pipeline = Gst.parse_launch(
        f"{args.source} ! videoconvert ! naclipseg name=seg output=passthrough "
        f"! fakesink sync=true")
    seg = pipeline.get_by_name("seg")
    for prop in args.props:
        name, _, value = prop.partition("=")
        Gst.util_set_object_arg(seg, name, value)

    coverage = Coverage()

    def probe(pad, info):
        coverage.add(info.get_buffer())
        return Gst.PadProbeReturn.OK

    seg.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, probe)
    loop = GLib.MainLoop()
    status = [0]

    def report():
        frames, means = coverage.take()
        t = round(time.monotonic() - start, 1)
        if args.json:
            print(json.dumps({"t": t, "frames": frames, "coverage": means}),
                  flush=True)
        else:
            print(f"{t:6.1f} s {frames:4d} frames  " + "  ".join(
                f"{name} {100 * c:.1f}%" for name, c in means.items()),
                flush=True)
        if args.seconds is not None and t >= args.seconds:
            pipeline.send_event(Gst.Event.new_eos())
            return False
        return True

    def on_message(bus, msg):
        if msg.type == Gst.MessageType.ERROR:
            err, dbg = msg.parse_error()
            print(f"naclip-coverage: {err.message} ({dbg})", file=sys.stderr)
            status[0] = 1
            loop.quit()
        elif msg.type == Gst.MessageType.EOS:
            loop.quit()

    bus = pipeline.get_bus()
    bus.add_signal_watch()
    bus.connect("message", on_message)
    # The model loads and the classes are encoded while this returns.
    if pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
        status[0] = 1
    start = time.monotonic()
    GLib.timeout_add(1000, report)
    try:
        loop.run()
    except KeyboardInterrupt:
        pass
    pipeline.set_state(Gst.State.NULL)
    return status[0]


if __name__ == "__main__":
    sys.exit(main())
