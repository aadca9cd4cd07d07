#!/usr/bin/python3
"""Long runs of naclipseg (bad-input rows I02, I03, I04).

    long_runs.py i02 [--count N]      caps renegotiations (default 10000)
    long_runs.py i03 [--count N]      model reloads (default 10000)
    long_runs.py i04 [--duration S] [--seeks K]
                                      recorded-file job (default 7200 s, 4)
    common: [--build DIR] [--model DIR]

i02: appsrc ! naclipseg ! fakesink; one RGBx frame is pushed per size, the
     size cycling through 20 sizes (aspect ratios 0.5 to 2.1), so every push
     is a caps renegotiation (counted from the CAPS events leaving the
     element). The per-grid caches of the vision tower are 4-entry LRUs
     (src/vision.c CACHE_SLOTS) and are not visible from outside: their bound
     shows as flat RSS while 20 sizes cycle through them.
i03: videotestsrc ! naclipseg ! fakesink cycled NULL -> PAUSED (start()
     loads the model, the sink prerolls one frame) -> NULL, N times. One
     element holds the model, so every cycle loads and frees it.
i04: makes a DURATION-second 160x120 30 fps Theora/Ogg clip with
     videotestsrc, then runs filesrc ! decodebin ! naclipseg ! theoraenc !
     oggmux ! filesink. K times, evenly spread, it makes a flushing
     accurate seek to the current position of the element's output, so
     every frame is still encoded once; the job must end in EOS. The output
     is decoded and counted: frames out of the file = frames out of the
     element = frames of the clip (no documented skip applies: the job is
     synchronous, nothing drops on QoS).

i02/i03 sample RSS, fds and threads (soak.py's sample()) after a warm-up
(the first 10 % of the cycles, at least 20) and at the end; they fail if
RSS grew by more than max(1 %, 5 MiB), the fd count differs or the
thread count grew (idle pool workers may exit).
The last line of output is a JSON summary; exit status 1 on a failure.
"""

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from soak import sample, tiny_model  # noqa: E402

Gst = None
# Light model settings: the rows test lifecycles, not inference.
SEG_PROPS = "classes=sky,ball inference-size=32 pamr-steps=0"
SIZES = [(64 + 16 * (i % 5) * 2, 48 + 8 * i) for i in range(20)]


def setup(args):
    global Gst
    if args.build is None:
        sys.exit("long_runs.py: give --build or set NACLIP_BUILD_ROOT")
    os.environ["GST_PLUGIN_PATH_1_0"] = os.path.join(args.build, "gst")
    os.environ.setdefault("GST_REGISTRY_1_0",
                          os.path.join(args.build, "soak-registry.bin"))
    os.environ.setdefault("XDG_CACHE_HOME",
                          os.path.join(args.build, "soak-cache"))
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    model = args.model or tiny_model(args.build)
    import gi
    gi.require_version("Gst", "1.0")
    from gi.repository import Gst as _Gst
    Gst = _Gst
    Gst.init(None)
    if Gst.ElementFactory.find("naclipseg") is None:
        sys.exit(f"long_runs.py: no naclipseg plugin in {args.build}/gst")
    return model


def growth_check(first, last, failures):
    grow = last[0] - first[0]
    if grow > max(0.01 * first[0], 5 * 2**20):
        failures.append(f"RSS grew {grow / 2**20:.2f} MiB "
                        f"({first[0]} -> {last[0]} bytes)")
    if last[1] != first[1]:
        failures.append(f"fds {first[1]} -> {last[1]}")
    # Idle pool workers may exit: fewer threads is no leak.
    if last[2] > first[2]:
        failures.append(f"threads grew {first[2]} -> {last[2]}")
    return round(grow / first[0] * 100, 3)


def errors_on(bus, failures):
    """Drains the bus (the element posts a message per inferred frame: left
    there they would grow RSS), recording the errors."""
    while True:
        msg = bus.pop()
        if msg is None:
            return
        if msg.type == Gst.MessageType.ERROR:
            err, dbg = msg.parse_error()
            failures.append(f"{err.message} ({dbg})")


def run_i02(args, model):
    pipeline = Gst.parse_launch(
        "appsrc name=src format=time block=true max-buffers=2 "
        f"! naclipseg name=seg model-file={model} {SEG_PROPS} "
        "! fakesink sync=false")
    src, seg = pipeline.get_by_name("src"), pipeline.get_by_name("seg")
    counts = {"caps": 0, "out": 0}

    def probe(pad, info):
        if info.type & Gst.PadProbeType.BUFFER:
            counts["out"] += 1
        elif info.get_event().type == Gst.EventType.CAPS:
            counts["caps"] += 1
        return Gst.PadProbeReturn.OK

    seg.get_static_pad("src").add_probe(
        Gst.PadProbeType.BUFFER | Gst.PadProbeType.EVENT_DOWNSTREAM, probe)
    bus = pipeline.get_bus()
    pipeline.set_state(Gst.State.PLAYING)
    frames = {}
    for w, h in SIZES:
        frames[(w, h)] = (Gst.Caps.from_string(
            f"video/x-raw,format=RGBx,width={w},height={h},framerate=0/1"),
            bytes([(w + h) & 0xff]) * (w * h * 4))
    failures = []
    warm = max(20, args.count // 10)
    first = None
    for i in range(args.count):
        caps, data = frames[SIZES[i % len(SIZES)]]
        src.set_property("caps", caps)
        buf = Gst.Buffer.new_wrapped(data)
        buf.pts = i * Gst.SECOND // 30
        if src.emit("push-buffer", buf) != Gst.FlowReturn.OK:
            failures.append(f"push {i} refused")
            break
        errors_on(bus, failures)
        if i + 1 == warm:
            time.sleep(0.2)
            first = sample()
            print(f"warm-up {warm}: rss={first[0] / 2**20:.2f} MiB "
                  f"fds={first[1]} threads={first[2]}", flush=True)
        if (i + 1) % max(1, args.count // 10) == 0:
            print(f"{i + 1} pushed, {counts['caps']} caps out, "
                  f"rss={sample()[0] / 2**20:.2f} MiB", flush=True)
    src.emit("end-of-stream")
    msg = bus.timed_pop_filtered(60 * Gst.SECOND,
                                 Gst.MessageType.EOS | Gst.MessageType.ERROR)
    if msg is None or msg.type != Gst.MessageType.EOS:
        failures.append("no EOS" if msg is None else
                        str(msg.parse_error()))
    last = sample()
    processed = seg.get_property("frames-processed")
    pipeline.set_state(Gst.State.NULL)
    if counts["caps"] != args.count:
        failures.append(f"{counts['caps']} caps events for {args.count} "
                        "renegotiations")
    if counts["out"] != args.count:
        failures.append(f"{counts['out']} frames out of {args.count}")
    pct = growth_check(first or last, last, failures)
    return failures, {"renegotiations": counts["caps"],
                      "frames_out": counts["out"],
                      "frames_processed": processed, "sizes": len(SIZES),
                      "rss_warm": (first or last)[0], "rss_last": last[0],
                      "rss_growth_pct": pct, "fds": [first[1], last[1]],
                      "threads": [first[2], last[2]]}


def run_i03(args, model):
    pipeline = Gst.parse_launch(
        "videotestsrc pattern=ball "
        "! video/x-raw,width=64,height=48,framerate=30/1 "
        f"! naclipseg name=seg model-file={model} {SEG_PROPS} "
        "! fakesink")
    bus = pipeline.get_bus()
    failures = []
    warm = max(20, args.count // 10)
    first = None
    t0 = time.monotonic()
    for i in range(args.count):
        pipeline.set_state(Gst.State.PAUSED)
        ret, state, _ = pipeline.get_state(30 * Gst.SECOND)
        if ret != Gst.StateChangeReturn.SUCCESS or state != Gst.State.PAUSED:
            errors_on(bus, failures)
            failures.append(f"cycle {i}: PAUSED not reached ({ret})")
            break
        pipeline.set_state(Gst.State.NULL)
        errors_on(bus, failures)
        if failures:
            break
        if i + 1 == warm:
            first = sample()
            print(f"warm-up {warm}: rss={first[0] / 2**20:.2f} MiB "
                  f"fds={first[1]} threads={first[2]}", flush=True)
        if (i + 1) % max(1, args.count // 10) == 0:
            print(f"{i + 1} reloads, rss={sample()[0] / 2**20:.2f} MiB",
                  flush=True)
    last = sample()
    first = first or last
    pct = growth_check(first, last, failures)
    return failures, {"reloads": i + 1,
                      "ms_per_cycle": round((time.monotonic() - t0) * 1e3
                                            / (i + 1), 1),
                      "rss_warm": first[0], "rss_last": last[0],
                      "rss_growth_pct": pct, "fds": [first[1], last[1]],
                      "threads": [first[2], last[2]]}


def wait_end(pipeline, timeout_s):
    msg = pipeline.get_bus().timed_pop_filtered(
        int(timeout_s * Gst.SECOND),
        Gst.MessageType.EOS | Gst.MessageType.ERROR)
    if msg is None:
        return "timeout"
    if msg.type == Gst.MessageType.ERROR:
        err, dbg = msg.parse_error()
        return f"{err.message} ({dbg})"
    return None


def count_frames(path):
    pipeline = Gst.parse_launch(
        f"filesrc location={path} ! decodebin ! fakesink name=sink "
        "signal-handoffs=true sync=false")
    n = [0]
    pipeline.get_by_name("sink").connect(
        "handoff", lambda *a: n.__setitem__(0, n[0] + 1))
    pipeline.set_state(Gst.State.PLAYING)
    err = wait_end(pipeline, 600)
    pipeline.set_state(Gst.State.NULL)
    return n[0], err


def run_i04(args, model):
    fps = 30
    n_clip = int(args.duration * fps)
    out_dir = os.path.join(args.build, "long-runs")
    os.makedirs(out_dir, exist_ok=True)
    clip = os.path.join(out_dir, "i04-in.ogg")
    result = os.path.join(out_dir, "i04-out.ogg")
    failures = []
    make = Gst.parse_launch(
        f"videotestsrc num-buffers={n_clip} pattern=ball "
        f"! video/x-raw,width=160,height=120,framerate={fps}/1 "
        f"! theoraenc ! oggmux ! filesink location={clip}")
    make.set_state(Gst.State.PLAYING)
    err = wait_end(make, 3 * args.duration + 60)
    make.set_state(Gst.State.NULL)
    if err:
        return [f"clip: {err}"], {}
    n_in, err = count_frames(clip)
    if err or n_in != n_clip:
        return [f"clip has {n_in} frames, not {n_clip} ({err})"], {}

    pipeline = Gst.parse_launch(
        f"filesrc location={clip} ! decodebin ! videoconvert "
        f"! naclipseg name=seg model-file={model} {SEG_PROPS} "
        "! videoconvert ! theoraenc ! oggmux "
        f"! filesink location={result}")
    seg = pipeline.get_by_name("seg")
    state = {"out": 0, "last_end": 0}

    def probe(pad, info):
        buf = info.get_buffer()
        state["out"] += 1
        state["last_end"] = buf.pts + buf.duration
        return Gst.PadProbeReturn.OK

    def keep_stream(pad, info):
        # oggmux cannot continue a stream across a flush: the flushes stop
        # at the element, and so do the segments after the first (which
        # is [0, none) at rate 1: running time = PTS, as it stays after
        # a seek to the current position): the encoder sees one
        # continuous stream.
        kind = info.get_event().type
        if kind in (Gst.EventType.FLUSH_START, Gst.EventType.FLUSH_STOP):
            state["flushes"] += 1
            return Gst.PadProbeReturn.DROP
        if kind == Gst.EventType.SEGMENT:
            # A dropped sticky event is offered again before each buffer.
            state["segments"].add(info.get_event().get_seqnum())
            if len(state["segments"]) > 1:
                return Gst.PadProbeReturn.DROP
        return Gst.PadProbeReturn.OK

    state["flushes"], state["segments"] = 0, set()
    seg.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, probe)
    seg.get_static_pad("src").add_probe(
        Gst.PadProbeType.EVENT_FLUSH | Gst.PadProbeType.EVENT_DOWNSTREAM,
        keep_stream)
    bus = pipeline.get_bus()
    t0 = time.monotonic()
    pipeline.set_state(Gst.State.PLAYING)
    marks = [n_clip * (k + 1) // (args.seeks + 1) for k in range(args.seeks)]
    seeks = []
    err = None
    while True:
        msg = bus.timed_pop_filtered(
            50 * Gst.MSECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
        if msg is not None:
            if msg.type == Gst.MessageType.ERROR:
                e, dbg = msg.parse_error()
                err = f"{e.message} ({dbg})"
            break
        if marks and state["out"] >= marks[0]:
            marks.pop(0)
            # Resume exactly after the last frame that left the element.
            pos = state["last_end"]
            # Sent from the element upstream: oggmux refuses seeks, so a
            # pipeline seek (which enters at the filesink) cannot pass.
            ok = seg.send_event(Gst.Event.new_seek(
                1.0, Gst.Format.TIME,
                Gst.SeekFlags.FLUSH | Gst.SeekFlags.ACCURATE,
                Gst.SeekType.SET, pos, Gst.SeekType.NONE, -1))
            seeks.append({"at_frame": state["out"],
                          "to_s": round(pos / Gst.SECOND, 3), "ok": ok})
            if not ok:
                failures.append(f"seek to {pos} refused")
        if time.monotonic() - t0 > 10 * args.duration + 120:
            err = "timeout"
            break
    processed = seg.get_property("frames-processed")
    skipped = seg.get_property("frames-skipped")
    pipeline.set_state(Gst.State.NULL)
    wall = time.monotonic() - t0
    if err:
        failures.append(err)
    n_out, err = count_frames(result)
    if err:
        failures.append(f"output: {err}")
    if len(seeks) != args.seeks:
        failures.append(f"{len(seeks)} seeks made of {args.seeks}")
    if not (n_out == state["out"] == n_in):
        failures.append(f"clip {n_in} frames, element out {state['out']}, "
                        f"file {n_out}")
    return failures, {"clip_frames": n_in, "element_out": state["out"],
                      "file_frames": n_out, "frames_processed": processed,
                      "frames_skipped": skipped, "seeks": seeks,
                      "flushes": state["flushes"],
                      "segments": len(state["segments"]),
                      "job_s": round(wall, 1)}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("row", choices=["i02", "i03", "i04"])
    p.add_argument("--count", type=int, default=10000)
    p.add_argument("--duration", type=float, default=7200.0)
    p.add_argument("--seeks", type=int, default=4)
    p.add_argument("--build", default=os.environ.get("NACLIP_BUILD_ROOT"))
    p.add_argument("--model")
    args = p.parse_args()
    model = setup(args)
    run = {"i02": run_i02, "i03": run_i03, "i04": run_i04}[args.row]
    t0 = time.monotonic()
    failures, summary = run(args, model)
    summary = {"row": args.row.upper(),
               "wall_s": round(time.monotonic() - t0, 1), **summary,
               "failures": failures}
    for f in failures:
        print("FAIL:", f)
    print(json.dumps(summary))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
