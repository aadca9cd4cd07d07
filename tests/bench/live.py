#!/usr/bin/python3
"""How naclipseg keeps up with a live source at its default settings
(issue 15): a measurement, not a test.

Runs the one-liner of the element's documentation on a live source,
    videotestsrc is-live=true pattern=ball
      ! video/x-raw,width=WIDTH,height=HEIGHT,framerate=FPS/1 ! videoconvert
      ! naclipseg model-file=MODEL classes="sky,road,car" PROPS
      ! videoconvert
      ! fakesink sync=true qos=true max-lateness=20000000
for DURATION seconds after the first frame leaves the element (model load
and class encoding come before), in this process, every property but the
model and the classes at its default unless PROPS says otherwise. The
sink drops a frame later than 20 ms, as a video sink does. It counts:
  - frames into and out of the element (pad probes) and the output rate;
  - the frames the sink rendered and dropped (its stats) and the QoS
    messages posted, per element, with the frames each says it dropped;
  - results: the "naclipseg" messages (one per inferred frame), per
    second, and their arrival-to-result time (field latency);
  - the age of the result each output frame carries (ROI param age: the
    running time since the frame the result was computed from), median
    and worst, against twice the median and the worst arrival-to-result
    time; the frames that carry none;
  - what the pipeline's LATENCY query answers, the CPU, and the load
    average before and after.
The last line of output is a JSON summary.

    live.py --model DIR [--duration 60] [--width 640 --height 480 --fps 30]
            [--props "name=value ..."] [--build DIR]

Checkpoints of the shapes of ViT-B/16 and ViT-B/32 (random weights: the
timings are the architecture's):
    tests/fixtures/make_checkpoint.py B16 --preset b16
    tests/fixtures/make_checkpoint.py B32 --preset b16 --patch 32
"""

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from machine import cpu_name  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True)
    p.add_argument("--duration", type=float, default=60.0)
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=480)
    p.add_argument("--fps", type=int, default=30)
    p.add_argument("--classes", default="sky,road,car")
    p.add_argument("--props", default="")
    p.add_argument("--build", default=os.environ.get("NACLIP_BUILD_ROOT"))
    return p.parse_args()


def load_average():
    with open("/proc/loadavg") as f:
        return [float(v) for v in f.read().split()[:3]]


def ms(ns):
    return round(ns / 1e6, 1)


def main():
    args = parse_args()
    if args.build is None:
        print("live.py: give --build or set NACLIP_BUILD_ROOT",
              file=sys.stderr)
        return 2
    os.environ["GST_PLUGIN_PATH_1_0"] = os.path.join(args.build, "gst")
    os.environ.setdefault("GST_REGISTRY_1_0",
                          os.path.join(args.build, "live-registry.bin"))
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

    import gi
    gi.require_version("Gst", "1.0")
    gi.require_version("GstVideo", "1.0")
    from gi.repository import Gst, GstVideo
    Gst.init(None)

    desc = (f"videotestsrc is-live=true pattern=ball "
            f"! video/x-raw,width={args.width},height={args.height},"
            f"framerate={args.fps}/1 ! videoconvert "
            f"! naclipseg name=seg model-file={args.model} "
            f"classes=\"{args.classes}\" {args.props} ! videoconvert "
            f"! fakesink name=sink sync=true qos=true max-lateness=20000000")
    print(desc, flush=True)
    pipeline = Gst.parse_launch(desc)
    seg = pipeline.get_by_name("seg")
    sink = pipeline.get_by_name("sink")
    roi_api = GstVideo.VideoRegionOfInterestMeta.get_info().api
    state = {"in": 0, "out": 0, "first_out": None, "counting": False}
    ages = []
    without = [0]

    def count_in(pad, info):
        if state["counting"]:
            state["in"] += 1
        return Gst.PadProbeReturn.OK

    def count_out(pad, info):
        if state["first_out"] is None:
            state["first_out"] = time.monotonic()
            state["counting"] = True
            return Gst.PadProbeReturn.OK
        if not state["counting"]:
            return Gst.PadProbeReturn.OK
        state["out"] += 1
        buf = info.get_buffer()
        if buf.get_n_meta(roi_api) == 0:
            without[0] += 1
        else:
            meta = GstVideo.buffer_get_video_region_of_interest_meta_id(buf, 0)
            ages.append(meta.get_param("naclip-class").get_uint64("age")[1])
        return Gst.PadProbeReturn.OK

    seg.get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, count_in)
    seg.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, count_out)

    bus = pipeline.get_bus()
    load_before = load_average()
    start_wall = time.monotonic()
    pipeline.set_state(Gst.State.PLAYING)
    latencies, qos, errors = [], {}, []
    end = None
    while True:
        now = time.monotonic()
        if end is None and state["first_out"] is not None:
            end = state["first_out"] + args.duration
        if end is not None and now >= end:
            break
        if now - start_wall > args.duration + 600:
            errors.append("no frame out in 600 s")
            break
        msg = bus.timed_pop(int(0.1 * Gst.SECOND))
        if msg is None:
            continue
        if msg.type == Gst.MessageType.ERROR:
            err, dbg = msg.parse_error()
            errors.append(f"{err.message} ({dbg})")
            break
        if msg.type == Gst.MessageType.QOS and state["counting"]:
            # element -> [messages, frames it says it dropped]
            entry = qos.setdefault(msg.src.get_name(), [0, 0])
            entry[0] += 1
            entry[1] = msg.parse_qos_stats()[2]
        if (msg.type == Gst.MessageType.ELEMENT and state["counting"]
                and msg.get_structure().get_name() == "naclipseg"):
            latencies.append(msg.get_structure().get_uint64("latency")[1])
    state["counting"] = False
    elapsed = time.monotonic() - (state["first_out"] or start_wall)
    query = Gst.Query.new_latency()
    live, min_latency, _ = (pipeline.query(query) and query.parse_latency()
                            or (False, 0, 0))
    stats = sink.get_property("stats")
    mode = seg.get_property("async")
    pipeline.set_state(Gst.State.NULL)
    load_after = load_average()

    inference = statistics.median(latencies) if latencies else 0
    summary = {
        "model": args.model, "props": args.props, "cpu": cpu_name(),
        "load_before": load_before, "load_after": load_after,
        "async": mode.value_nick, "seconds": round(elapsed, 1),
        "frames_in": state["in"], "frames_out": state["out"],
        "fps_out": round(state["out"] / elapsed, 2) if elapsed else 0,
        "sink_rendered": stats.get_uint64("rendered")[1],
        "sink_dropped": stats.get_uint64("dropped")[1],
        "qos_messages": qos,  # element: [messages, frames it dropped]
        "results": len(latencies),
        "results_per_s": round(len(latencies) / elapsed, 2) if elapsed else 0,
        "inference_ms_median": ms(inference),
        "inference_ms_worst": ms(max(latencies, default=0)),
        "frames_without_result": without[0],
        "age_ms_median": ms(statistics.median(ages)) if ages else None,
        "age_ms_worst": ms(max(ages)) if ages else None,
        "age_worst_over_median_inference": (round(max(ages) / inference, 2)
                                            if ages and inference else None),
        "age_worst_over_worst_inference": (round(max(ages) / max(latencies), 2)
                                           if ages and latencies else None),
        "pipeline_latency_ms": ms(min_latency) if live else None,
        "errors": errors,
    }
    for key, value in summary.items():
        print(f"{key}: {value}")
    print(json.dumps(summary), flush=True)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
