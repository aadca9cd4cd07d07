#!/usr/bin/python3
"""Two naclipseg elements in one pipeline share one loaded model. Prints
TAP.

Runs, each in a fresh process (this script with --run), on a ViT-B/16-
shaped random checkpoint (tests/fixtures/make_checkpoint.py --preset b16,
about 600 MB) and 640x480 frames, every other property at its default
but output=passthrough (two overlays of one buffer would copy it):
    videotestsrc num-buffers=3 ! tee name=t
      t. ! queue ! naclipseg classes="sky,road,car" ! fakesink
      t. ! queue ! [naclipseg classes="person,tree,building" !] fakesink
once with the second element and once without, and reads the resident
set size (VmRSS) of the process at EOS, both elements still holding their
model and context. The element shares a model between the elements that
use the same file (gstnaclipsegclient.c): the second element adds only
its own state (its segmentation context: the vision tower's scratch,
PAMR's and the label buffers, about 45 MB at the processing size of
640x480, 448x336), never a second copy of the weights (the F32 mapping,
about 600 MB, or the bf16 weights packed for oneDNN, a quarter less).
Checked: both elements segment every frame; the second adds less than a
quarter of the model's size (a second load would add at least that), and
less than 10 % of it (7.9 % measured in bf16: the attention scores are
computed a few heads at a time, transformer.c).
"""

import json
import os
import subprocess
import sys

SOURCE = os.environ["NACLIP_SOURCE_ROOT"]
BUILD = os.environ["NACLIP_BUILD_ROOT"]
sys.path.insert(0, os.path.join(SOURCE, "tests"))
from tap import check, done, note  # noqa: E402

CLASSES = ["sky,road,car", "person,tree,building"]
N_FRAMES = 3


def model_dir():
    out = os.path.join(BUILD, "fixtures", "element-b16")
    script = os.path.join(SOURCE, "tests", "fixtures", "make_checkpoint.py")
    subprocess.run([sys.executable, script, out, "--preset", "b16",
                    "--layout", "hf", "--seed", "1"], check=True,
                   stdout=subprocess.DEVNULL)
    return out


def run(model, n_elements):
    """In this process: the pipeline with @n_elements naclipseg; prints
    {"rss": bytes, "processed": [frames per element]} as JSON."""
    import gi
    gi.require_version("Gst", "1.0")
    from gi.repository import Gst
    Gst.init(None)
    branches = [f"t. ! queue ! naclipseg name=seg{i} model-file={model} "
                f"classes=\"{CLASSES[i]}\" output=passthrough ! fakesink"
                for i in range(n_elements)]
    branches += ["t. ! queue ! fakesink"] * (2 - n_elements)
    pipeline = Gst.parse_launch(
        f"videotestsrc num-buffers={N_FRAMES} pattern=ball ! "
        f"video/x-raw,width=640,height=480,framerate=30/1 ! tee name=t "
        + " ".join(branches))
    pipeline.set_state(Gst.State.PLAYING)
    msg = pipeline.get_bus().timed_pop_filtered(
        600 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    assert msg is not None and msg.type == Gst.MessageType.EOS, \
        msg and msg.parse_error()
    with open("/proc/self/status") as f:
        rss = next(int(line.split()[1]) * 1024 for line in f
                   if line.startswith("VmRSS:"))
    processed = [pipeline.get_by_name(f"seg{i}").get_property(
        "frames-processed") for i in range(n_elements)]
    pipeline.set_state(Gst.State.NULL)
    print(json.dumps({"rss": rss, "processed": processed}))


def measure(model, n_elements):
    r = subprocess.run([sys.executable, __file__, "--run", model,
                        str(n_elements)], capture_output=True, text=True,
                       timeout=900)
    if r.returncode != 0:
        check(False, f"the pipeline with {n_elements} element(s) runs",
              r.stderr)
        return None
    return json.loads(r.stdout.splitlines()[-1])


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--run":
        run(sys.argv[2], int(sys.argv[3]))
        return 0
    model = model_dir()
    size = os.path.getsize(os.path.join(model, "model.safetensors"))
    one, two = measure(model, 1), measure(model, 2)
    if one is None or two is None:
        return done()
    added = two["rss"] - one["rss"]
    note(f"model.safetensors {size / 2**20:.0f} MiB; RSS with one element "
         f"{one['rss'] / 2**20:.0f} MiB, with two {two['rss'] / 2**20:.0f} "
         f"MiB: the second adds {added / 2**20:.1f} MiB, "
         f"{100 * added / size:.1f} % of the model")
    check(one["processed"] == [N_FRAMES]
          and two["processed"] == [N_FRAMES, N_FRAMES],
          "each element segments every frame",
          f"{one['processed']} {two['processed']}")
    check(added < size / 4,
          "the second element shares the model: it adds less than a quarter "
          "of the model's size to the RSS (a second load would add more)")
    check(added < size / 10,
          f"the second element adds less than 10 % of the model's size "
          f"({100 * added / size:.1f} %)")
    return done()


if __name__ == "__main__":
    sys.exit(main())
