#!/usr/bin/python3
"""The example application data/naclip-coverage.py, run as a user would,
on the colour model and live SMPTE bars (videotestsrc is-live=true
pattern=smpte, 320x240 at 10 fps). Prints TAP.

In videotestsrc's SMPTE frame (see test_colour.py) yellow, green and red
appear only in their bars: columns i*320//7 .. (i+1)*320//7 for i = 1, 3,
5, over the top 2/3 of the rows, so each covers about 46/320 * 2/3 =
0.096 of the picture. The application must print a line a second, each
with the frames of that second, and give these three classes that
coverage within 0.02.
"""

import json
import os
import subprocess
import sys

SOURCE = os.environ["NACLIP_SOURCE_ROOT"]
BUILD = os.environ["NACLIP_BUILD_ROOT"]
sys.path.insert(0, os.path.join(SOURCE, "tests"))
from tap import check, done, note  # noqa: E402

CLASSES = "white,yellow,cyan,green,magenta,red,blue,black"
W, H = 320, 240
SECONDS = 4


def bar_coverage(i):
    return (((i + 1) * W // 7 - i * W // 7) / W) * (2 * H // 3) / H


def main():
    model = os.path.join(BUILD, "fixtures", "colour-model")
    subprocess.run([os.path.join(BUILD, "src", "tool", "naclip"),
                    "make-colour-model", model], check=True,
                   stdout=subprocess.DEVNULL)
    r = subprocess.run(
        [sys.executable, os.path.join(SOURCE, "data", "naclip-coverage.py"),
         "--source", f"videotestsrc is-live=true pattern=smpte ! "
         f"video/x-raw,width={W},height={H},framerate=10/1",
         "--seconds", str(SECONDS), "--json", f"model-file={model}",
         f"classes={CLASSES}"],
        capture_output=True, text=True, timeout=300)
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    for line in lines:
        note(json.dumps(line))
    check(r.returncode == 0 and len(lines) >= SECONDS - 1,
          f"it runs and prints a line a second ({len(lines)} lines)",
          r.stderr)
    if not lines:
        return done()
    times = [line["t"] for line in lines]
    steps = [b - a for a, b in zip(times, times[1:])]
    check(all(0.8 <= s <= 1.5 for s in steps),
          "the lines are about a second apart", str(times))
    full = [line for line in lines if line["frames"] >= 5]
    check(len(full) >= SECONDS - 2,
          "each full second counts the frames that carried a result (10 fps)",
          str([line["frames"] for line in lines]))
    last = lines[-2] if len(lines) > 1 else lines[-1]
    want = {c: bar_coverage(CLASSES.split(",").index(c)) for c in
            ("yellow", "green", "red")}
    got = {c: last["coverage"].get(c) for c in want}
    check(all(g is not None and abs(g - want[c]) <= 0.02
              for c, g in got.items()),
          "yellow, green and red cover their bars: "
          + ", ".join(f"{c} {got[c]} (bar {want[c]:.3f})" for c in want))
    return done()


if __name__ == "__main__":
    sys.exit(main())
