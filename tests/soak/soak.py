#!/usr/bin/python3
"""Soak test of naclipseg (bad-input rows I01).

Runs
    videotestsrc is-live=true pattern=ball
      ! video/x-raw,width=640,height=480,framerate=30/1
      ! naclipseg (tiny random model, PROPS) ! fakesink
for DURATION seconds in this process, counting the buffers that enter and
leave the element (pad probes) and reading its frames-processed and
frames-skipped counters. Every INTERVAL seconds (60 by default) it samples
the process's resident set size, open file descriptors and threads. It
fails (exit status 1) if an error is posted, if no frame comes out, if
frames in and out differ by more than the frames in flight, if RSS grew by
more than 1 % between the first sample after the warm-up (the first
interval) and the end, or if the fd or thread count grew at all. The last
line of output is a JSON summary.

    soak.py [--duration S] [--interval S] [--build DIR] [--model DIR]
            [--props "name=value ..."]

PROPS defaults to "async=true": a live camera pipeline where the
streaming thread never waits for an inference (on 2 shared cores one
inference of the tiny model at the default settings takes longer than a
frame), so every frame passes and frames-processed counts the inferred
ones. Pass --props "" to run synchronously.

--build is the meson build directory (its gst/ holds the plugin;
default $NACLIP_BUILD_ROOT). Without --model a tiny checkpoint
(make_checkpoint.py preset "tiny") is generated under the build
directory. CI runs it for 300 s (tests/run-suite.sh); the one-hour figure
of I01 is `soak.py --duration 3600`.
"""

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--duration", type=float, default=300.0)
    p.add_argument("--interval", type=float,
                   help="seconds between samples (default: 60, or a "
                   "quarter of a shorter duration)")
    p.add_argument("--build", default=os.environ.get("NACLIP_BUILD_ROOT"))
    p.add_argument("--model")
    p.add_argument("--props", default="async=true")
    return p.parse_args()


def tiny_model(build):
    out = os.path.join(build, "fixtures", "soak-tiny")
    script = os.path.join(HERE, "..", "fixtures", "make_checkpoint.py")
    subprocess.run([sys.executable, script, out, "--preset", "tiny",
                    "--layout", "hf", "--seed", "1"], check=True,
                   stdout=subprocess.DEVNULL)
    return out


def sample():
    """(rss bytes, open fds, threads) of this process."""
    rss = threads = 0
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
    return rss, len(os.listdir("/proc/self/fd")), threads


def main():
    args = parse_args()
    if args.interval is None:
        args.interval = min(60.0, args.duration / 4)
    if args.build is None:
        print("soak.py: give --build or set NACLIP_BUILD_ROOT", file=sys.stderr)
        return 2
    os.environ["GST_PLUGIN_PATH_1_0"] = os.path.join(args.build, "gst")
    os.environ.setdefault("GST_REGISTRY_1_0",
                          os.path.join(args.build, "soak-registry.bin"))
    os.environ.setdefault("XDG_CACHE_HOME",
                          os.path.join(args.build, "soak-cache"))
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    model = args.model or tiny_model(args.build)

    import gi
    gi.require_version("Gst", "1.0")
    from gi.repository import Gst
    Gst.init(None)
    if Gst.ElementFactory.find("naclipseg") is None:
        print(f"soak.py: no naclipseg plugin in {args.build}/gst",
              file=sys.stderr)
        return 2

    pipeline = Gst.parse_launch(
        "videotestsrc is-live=true pattern=ball "
        "! video/x-raw,width=640,height=480,framerate=30/1 "
        f"! naclipseg name=seg model-file={model} "
        f"classes=sky,road,person,ball {args.props} "
        "! fakesink name=sink sync=true")
    seg = pipeline.get_by_name("seg")
    counts = {"in": 0, "out": 0}

    def counter(key):
        def probe(pad, info):
            counts[key] += 1
            return Gst.PadProbeReturn.OK
        return probe

    seg.get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER,
                                         counter("in"))
    seg.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER,
                                        counter("out"))
    bus = pipeline.get_bus()
    pipeline.set_state(Gst.State.PLAYING)

    samples = []
    errors = []
    start = time.monotonic()
    next_sample = start + args.interval
    end = start + args.duration
    while True:
        now = time.monotonic()
        timeout = max(0.0, min(next_sample, end) - now)
        msg = bus.timed_pop_filtered(int(timeout * Gst.SECOND),
                                     Gst.MessageType.ERROR
                                     | Gst.MessageType.EOS)
        if msg is not None:
            if msg.type == Gst.MessageType.ERROR:
                err, dbg = msg.parse_error()
                errors.append(f"{err.message} ({dbg})")
            else:
                errors.append("unexpected EOS")
            break
        now = time.monotonic()
        if now >= next_sample - 0.01:
            rss, fds, threads = sample()
            s = {"t": round(now - start, 1), "rss": rss, "fds": fds,
                 "threads": threads, "in": counts["in"],
                 "out": counts["out"]}
            samples.append(s)
            print(f"t={s['t']:7.1f}s rss={rss / 2**20:8.2f} MiB fds={fds} "
                  f"threads={threads} in={s['in']} out={s['out']}",
                  flush=True)
            next_sample += args.interval
        if now >= end - 0.01:
            break

    processed = seg.get_property("frames-processed")
    skipped = seg.get_property("frames-skipped")
    t0 = time.monotonic()
    pipeline.set_state(Gst.State.NULL)
    stop_ms = (time.monotonic() - t0) * 1e3

    failures = list(errors)
    if counts["out"] == 0:
        failures.append("no frame left the element")
    # Frames in flight at the moment of the stop: at most a few.
    if counts["in"] - counts["out"] > 5:
        failures.append(f"{counts['in']} frames in but {counts['out']} out")
    if len(samples) >= 2:
        first, last = samples[0], samples[-1]
        growth = (last["rss"] - first["rss"]) / first["rss"]
        if growth > 0.01:
            failures.append(f"RSS grew {growth * 100:.2f} % "
                            f"({first['rss']} -> {last['rss']} bytes)")
        if last["fds"] > first["fds"]:
            failures.append(f"fds grew {first['fds']} -> {last['fds']}")
        if last["threads"] > first["threads"]:
            failures.append(
                f"threads grew {first['threads']} -> {last['threads']}")
    else:
        growth = None
        failures.append("fewer than two samples: raise --duration or lower "
                        "--interval")

    summary = {
        "duration_s": round(time.monotonic() - start, 1),
        "frames_in": counts["in"], "frames_out": counts["out"],
        "frames_processed": processed, "frames_skipped": skipped,
        "rss_first": samples[0]["rss"] if samples else None,
        "rss_last": samples[-1]["rss"] if samples else None,
        "rss_growth_pct": None if growth is None else round(growth * 100, 3),
        "fds": [s["fds"] for s in samples],
        "threads": [s["threads"] for s in samples],
        "stop_ms": round(stop_ms, 1),
        "props": args.props,
        "failures": failures,
    }
    for f in failures:
        print("FAIL:", f)
    print(json.dumps(summary))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
