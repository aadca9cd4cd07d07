#!/usr/bin/python3
"""What the labels mean, end to end through the naclip tool, on the colour
model (naclip make-colour-model). Prints TAP.

    test-colour-model.py NACLIP

Random checkpoints prove that the C code computes what the reference
computes, but not that a class name reaches the right pixels. The colour
model knows colour names, so here the answer is known: images of
coloured regions are generated (tests/fixtures/make_colour_image.py) with
the colour of every region stated below, segmented with `naclip segment`
(every run pinned to --precision fp32), and the labels are checked
against the layout:
  - the model is written deterministically, small, atomically, and an
    I/O failure names the path;
  - its tokenizer spells each colour word as one token, and a colour
    word inside a longer word is no colour;
  - per-class IoU >= 0.95 for twelve colours tiled 3 x 4 and for the six
    saturated colours as ellipses on grey, whole image and sliding
    windows, PAMR on (the figures with PAMR off are printed, not checked:
    a patch across two regions has their mean colour);
  - synonyms (grey|gray) give one label, background names label 0 (the
    earlier spellings --background and --output-size original give the
    same labels as --background-classes and --output-size frame), the
    confidence threshold sends the pixels no class is sure of to 0;
  - the overlay paints each class's palette colour over its region, the
    colour label map is the palette;
  - PAMR raises the boundary IoU over no PAMR on curved boundaries;
  - naclip eval on a colour dataset (the folder layout) reports the mIoU
    recomputed here from its predictions, above 0.9.
"""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
from PIL import Image

NACLIP = sys.argv[1]
BUILD = os.environ.get("NACLIP_BUILD_ROOT", os.getcwd())
WORK = os.path.join(BUILD, "tests", "colour-model")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "fixtures"))
import make_colour_image  # noqa: E402
from colour_layouts import (BANDS, CURVES, GRID12, MIN_IOU,  # noqa: E402
                            ON_WHITE, SATURATED, SHAPES6, STRIPES_GREY,
                            TWELVE, class_ious, ellipse, fmt, iou,
                            label_of, rect)
from tap import check, done, note  # noqa: E402
from voc_colours import voc_colour  # noqa: E402

def run(args):
    # The embedding cache goes under the build dir, not the user's.
    env = dict(os.environ, XDG_CACHE_HOME=os.path.join(WORK, "cache"))
    return subprocess.run([NACLIP, *args], capture_output=True, text=True,
                          timeout=600, env=env)


def segment(model, layout, size, classes, name, extra=(), background=None,
            noise=0):
    """Renders @layout at @size, segments it; -> (regions, names, labels,
    dump dir, image path, rgb) or None after a failed check."""
    rgb, regions, names = make_colour_image.render(layout, *size, noise)
    image = make_colour_image.write_png(os.path.join(WORK, name + ".png"),
                                        rgb)
    dump = os.path.join(WORK, name + "-dump")
    args = ["segment", "--model", model, "--precision", "fp32",
            "--threads", "2", "--classes", classes]
    if background:
        args += ["--background-classes", background]
    r = run([*args, *extra, image, "-o",
             os.path.join(WORK, name + "-labels.png"), "--dump-dir", dump])
    if r.returncode != 0:
        check(False, f"{name}: naclip segment runs",
              f"status {r.returncode}\n{r.stderr}")
        return None
    return (regions, names, np.load(os.path.join(dump, "labels.npy")), dump,
            image, rgb)


def erode(mask, r):
    """Pixels whose (2r+1)^2 neighbourhood lies in @mask."""
    h, w = mask.shape
    pad = np.pad(mask, r, constant_values=False)
    out = np.ones_like(mask)
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            out &= pad[r + dy:r + dy + h, r + dx:r + dx + w]
    return out


# ------------------------------------------------------------------ tests
def test_make(model):
    again = os.path.join(WORK, "model-again")
    r1, r2 = run(["make-colour-model", model]), run(["make-colour-model",
                                                     again])
    if r1.returncode != 0 or r2.returncode != 0:
        check(False, "naclip make-colour-model runs", r1.stderr + r2.stderr)
        return False
    files = ["config.json", "merges.txt", "model.safetensors"]
    same = all(open(os.path.join(model, f), "rb").read()
               == open(os.path.join(again, f), "rb").read() for f in files)
    check(same, "two runs write the same bytes")
    listed = sorted(os.listdir(model))
    size = sum(os.path.getsize(os.path.join(model, f)) for f in files)
    check(listed == files and size < 1 << 20,
          f"the directory holds the three files, {size} bytes in all",
          str(listed))
    info = run(["info", model])
    with open(os.path.join(model, "merges.txt")) as f:
        n_merges = len(f.read().splitlines()) - 1
    check(info.returncode == 0
          and f"vocab size: {514 + n_merges}" in info.stdout
          and "context length: 77" in info.stdout,
          f"it loads with the checks on; {514 + n_merges} tokens: 512 byte "
          f"symbols, {n_merges} merges, 2 specials",
          info.stdout + info.stderr)

    # A file where the directory should be, and a directory where a file
    # should be: both fail, naming the path.
    blocker = os.path.join(WORK, "a-file")
    with open(blocker, "w") as f:
        f.write("x")
    r = run(["make-colour-model", os.path.join(blocker, "model")])
    check(r.returncode == 1 and os.path.join(blocker, "model") in r.stderr,
          "a directory that cannot be created is named", r.stderr)
    taken = os.path.join(WORK, "taken")
    os.makedirs(os.path.join(taken, "model.safetensors"))
    r = run(["make-colour-model", taken])
    check(r.returncode == 1
          and os.path.join(taken, "model.safetensors") in r.stderr,
          "a file that cannot be written is named", r.stderr)
    r = run(["make-colour-model"])
    check(r.returncode == 2, "no DIR is a usage error", r.stderr)
    return True


def test_tokens(model):
    words = list(make_colour_image.COLOURS)
    r = run(["tokenize", "--model", model, *words, "RED", "embroidered",
             "bored bluebell greenery", "a photo of a grey."])
    lines = [[int(t) for t in line.split()] for line in r.stdout.splitlines()]
    if r.returncode != 0 or len(lines) != len(words) + 4:
        check(False, "naclip tokenize --model runs", r.stdout + r.stderr)
        return
    ids = {w: line[1:-1] for w, line in zip(words, lines)}
    one = all(len(v) == 1 for v in ids.values())
    distinct = len({v[0] for v in ids.values()}) == len(words)
    check(one and distinct and lines[len(words)][1:-1] == ids["red"],
          "each colour word is one token of its own, in any case", str(ids))
    colour_ids = {v[0] for v in ids.values()}
    inside = set(lines[len(words) + 1] + lines[len(words) + 2])
    check(not inside & colour_ids and ids["grey"][0] in lines[-1],
          "a colour inside a longer word is no colour token ('embroidered', "
          "'bored', 'bluebell', 'greenery')", str(lines[-4:]))


def test_layout_iou(model):
    size = (251, 333)  # regions do not fall on the 16 px patch grid
    for layout, colours, what in ((GRID12, TWELVE, "twelve colours tiled"),
                                  (SHAPES6, SATURATED,
                                   "six saturated colours on grey")):
        classes = ",".join(colours)
        if layout is SHAPES6:
            classes += ",grey"
        for mode, extra in (("whole", []),
                            ("slide", ["--slide-crop", "224",
                                       "--slide-stride", "112"])):
            for pamr in ("on", "off"):
                more = [] if pamr == "on" else ["--pamr-steps", "0"]
                name = f"iou-{layout[0]}-{mode}-pamr-{pamr}"
                got = segment(model, layout, size, classes, name,
                              extra + more)
                if got is None:
                    continue
                ious = class_ious(*got[:3], classes)
                note(f"{what}, {mode}, PAMR {pamr}: {fmt(ious)}")
                if pamr == "on":
                    low = {c: v for c, v in ious.items()
                           if c in colours and not v >= MIN_IOU}
                    check(not low, f"{what}, {mode} image, PAMR on: every "
                          f"colour's IoU >= {MIN_IOU}", fmt(ious))


def test_synonyms(model):
    size = (120, 180)
    runs = {}
    for classes in ("red,grey|gray,blue", "red,grey,blue", "red,gray,blue"):
        got = segment(model, STRIPES_GREY, size, classes,
                      "synonyms-" + classes.replace("|", "+"))
        if got is None:
            return
        runs[classes] = got
    regions, names, labels = runs["red,grey|gray,blue"][:3]
    ious = class_ious(regions, names, labels, "red,grey|gray,blue")
    check(set(np.unique(labels)) <= {1, 2, 3}
          and min(ious.values()) >= MIN_IOU,
          "grey|gray is one class: the grey third gets label 2, IoU >= "
          f"{MIN_IOU}", fmt(ious) + f"\nlabels {np.unique(labels)}")
    same = np.array_equal(runs["red,grey,blue"][2], runs["red,gray,blue"][2])
    agree = np.mean(runs["red,grey,blue"][2] == labels)
    check(same and agree > 0.995,
          f"grey and gray name the same colour; with both, {agree:.2%} of "
          "the labels are those of either alone")


def test_background(model):
    classes = "red,green,blue"
    got = segment(model, ON_WHITE, (150, 200), classes, "background",
                  extra=["--output-size", "frame"], background="white")
    if got is None:
        return
    regions, names, labels = got[:3]
    ious = class_ious(regions, names, labels, classes, background=("white",))
    check(min(ious.values()) >= MIN_IOU,
          "the background name white gets label 0, the classes 1..3 "
          f"(IoU >= {MIN_IOU})", fmt(ious))
    # The spellings before the element's: --background, --output-size
    # original.
    old = segment(model, ON_WHITE, (150, 200), classes, "background-old",
                  extra=["--background", "white", "--output-size",
                         "original"])
    if old is not None:
        check(np.array_equal(old[2], labels),
              "--background and --output-size original still mean "
              "--background-classes and --output-size frame")


def test_threshold(model):
    classes = "red,blue"
    size = (120, 300)
    low = segment(model, BANDS, size, classes, "threshold-0.6",
                  ["--class-confidence-threshold", "0.6"])
    none = segment(model, BANDS, size, classes, "threshold-0")
    if low is None or none is None:
        return
    regions, names, labels, dump = low[:4]
    probs = np.load(os.path.join(dump, "probs.npy"))
    best = probs[1:].max(axis=0)
    share = {c: float(np.mean(labels[regions == names.index(c)] == k))
             for c, k in (("green", 0), ("red", 1), ("blue", 2))}
    green_best = float(best[regions == names.index("green")].max())
    check(green_best < 0.6 and min(share.values()) >= MIN_IOU,
          "threshold 0.6: green, as near to red as to blue (best class "
          f"probability at most {green_best:.3f}), gets label 0 "
          f"({share['green']:.2%} of its pixels); red and blue keep theirs "
          f"({share['red']:.2%}, {share['blue']:.2%})")
    check(np.array_equal(labels == 0, best < 0.6),
          "label 0 is exactly where the best class probability is below 0.6")
    check(not (none[2] == 0).any(),
          "threshold 0: no pixel gets label 0 (there are no background names)")


def test_overlay(model, class_colors=None):
    """The overlay and the colour label map paint each class's colour over
    its region: --class-colors' where given (a dict name -> (r, g, b)),
    the palette's for the rest."""
    classes = "red,green,blue"
    name = "overlay-own" if class_colors else "overlay"
    extra = ["--overlay", os.path.join(WORK, name + "-overlay.png"),
             "--alpha", "0.5"]
    if class_colors:
        extra += ["--class-colors", ",".join(
            f"{n}:#{r:02x}{g:02x}{b:02x}"
            for n, (r, g, b) in class_colors.items())]
    got = segment(model, ON_WHITE, (150, 200), classes, name, extra,
                  background="white")
    if got is None:
        return
    regions, names, labels, _, _, rgb = got
    over = np.array(Image.open(os.path.join(WORK, name + "-overlay.png"))
                    .convert("RGB")).astype(np.int64)
    colour_png = np.array(Image.open(os.path.join(WORK, name + "-labels.png"))
                          .convert("RGB")).astype(np.int64)
    h, w = labels.shape
    problems = []

    def paint_of(colour, k):
        return np.array((class_colors or {}).get(colour, voc_colour(k)))

    if over.shape[0] < h or over.shape[1] <= w:
        problems.append(f"overlay {over.shape}: no legend beside {h}x{w}")
    else:
        for colour in names:
            k = label_of(classes, colour)
            paint = paint_of(colour, k)
            inside = erode(regions == names.index(colour), 4)
            # label k >= 1: (1 - alpha) * image + alpha * colour, rounded;
            # label 0: the image as it is.
            want = np.floor(0.5 * rgb[inside] + 0.5 * paint + 0.5) if k \
                else rgb[inside]
            if not (over[:h, :w][inside] == want).all():
                problems.append(f"{colour} (label {k}): the overlay is not "
                                f"the image blended with {paint}")
            if not (colour_png[inside] == paint).all():
                problems.append(f"{colour}: the colour label map is not "
                                f"{paint}")
        legend = over[:, w:].reshape(-1, 3)
        for k, colour in enumerate(classes.split(","), 1):
            if not (legend == paint_of(colour, k)).all(axis=1).any():
                problems.append(f"no swatch of {colour}'s colour in the "
                                "legend")
    what = ("--class-colors' colours for red and blue, the palette's for "
            "green," if class_colors else
            "the palette colours of labels 1, 2, 3")
    check(not problems, f"the overlay paints red, green and blue with {what} "
          "over their regions, leaves the white background as it is, and "
          "has a swatch of each", "\n".join(problems))


def test_class_colors_refused(model):
    image = os.path.join(WORK, "overlay.png")
    r = run(["segment", "--model", model, "--classes", "red", "--precision",
             "fp32", "--class-colors", "red:#12345", image, "-o",
             os.path.join(WORK, "refused.png")])
    check(r.returncode == 2 and "--class-colors" in r.stderr
          and "red:#12345" in r.stderr,
          "--class-colors with a bad colour: exit 2 naming the item",
          f"status {r.returncode}\n{r.stderr}")


def boundary_iou(regions, names, labels, classes, width=3):
    """Mean over the regions of the IoU restricted to pixels within @width
    px of a boundary of the layout."""
    edge = np.zeros(regions.shape, bool)
    edge[:, 1:] |= regions[:, 1:] != regions[:, :-1]
    edge[:, :-1] |= regions[:, 1:] != regions[:, :-1]
    edge[1:] |= regions[1:] != regions[:-1]
    edge[:-1] |= regions[1:] != regions[:-1]
    band = ~erode(~edge, width)
    values = [iou((regions == i) & band,
                  (labels == label_of(classes, c)) & band)
              for i, c in enumerate(names)]
    return float(np.mean(values))


def test_pamr(model):
    classes = "yellow,red,blue,green,magenta"
    on = segment(model, CURVES, (251, 333), classes, "pamr-on")
    off = segment(model, CURVES, (251, 333), classes, "pamr-off",
                  ["--pamr-steps", "0"])
    if on is None or off is None:
        return
    b_on = boundary_iou(*on[:3], classes)
    b_off = boundary_iou(*off[:3], classes)
    check(b_on > b_off + 0.05,
          f"PAMR raises the boundary IoU on curved boundaries: {b_off:.3f} "
          f"without, {b_on:.3f} with")


def test_eval(model):
    """A dataset in the folder layout: shapes of six colours on white,
    annotated 0 (white, the background name) and 1..6."""
    root = os.path.join(WORK, "dataset")
    for sub in ("images", "annotations"):
        os.makedirs(os.path.join(root, sub))
    rng = np.random.default_rng(13)
    names = []
    for i in range(4):
        shapes = []
        for colour in rng.permutation(SATURATED)[:4]:
            cy, cx = rng.uniform(.25, .75, 2)
            ry, rx = rng.uniform(.12, .25, 2)
            kind = ellipse if rng.random() < .5 else \
                (lambda y, x, a, b: rect(y - a, x - b, y + a, x + b))
            shapes.append((str(colour), kind(cy, cx, ry, rx)))
        rgb, regions, region_names = make_colour_image.render(
            ("white", shapes), 150 + 10 * i, 200 - 10 * i)
        lut = np.array([0 if c == "white" else SATURATED.index(c) + 1
                        for c in region_names], np.uint8)
        name = f"shapes-{i}"
        names.append(name)
        make_colour_image.write_png(
            os.path.join(root, "images", name + ".png"), rgb)
        Image.fromarray(lut[regions], "L").save(
            os.path.join(root, "annotations", name + ".png"))
    class_file = os.path.join(WORK, "colour-classes.txt")
    with open(class_file, "w") as f:
        f.write("background: white\n" + "\n".join(SATURATED) + "\n")
    pred_dir = os.path.join(WORK, "dataset-pred")
    report = os.path.join(WORK, "dataset.json")
    r = run(["eval", "--model", model, "--dataset", "folder", "--root", root,
             "--classes", class_file, "--precision", "fp32", "--no-cache",
             "--predictions", pred_dir, "--json", report])
    if r.returncode != 0:
        check(False, "naclip eval runs on the folder layout",
              f"status {r.returncode}\n{r.stdout}\n{r.stderr}")
        return
    n = len(SATURATED) + 1
    inter, area_pred, area_gt = np.zeros(n), np.zeros(n), np.zeros(n)
    for name in names:
        gt = np.array(Image.open(os.path.join(root, "annotations",
                                              name + ".png"))).astype(int)
        pred = np.array(Image.open(os.path.join(pred_dir, name + ".png"))
                        ).astype(int)
        inter += np.bincount(gt[gt == pred], minlength=n)[:n]
        area_pred += np.bincount(pred.ravel(), minlength=n)[:n]
        area_gt += np.bincount(gt.ravel(), minlength=n)[:n]
    with np.errstate(invalid="ignore"):
        miou = float(np.nanmean(inter / (area_pred + area_gt - inter)))
    printed = [float(line.split()[1]) for line in r.stdout.splitlines()
               if line.startswith("mIoU: ")]
    with open(report) as f:
        rep = json.load(f)
    check(len(printed) == 1 and abs(printed[0] - 100 * miou) < 0.0051
          and abs(rep["mIoU"] - miou) < 1e-12 and len(rep["classes"]) == n,
          f"naclip eval's mIoU is the one recomputed from its predictions "
          f"({100 * miou:.2f}%)", r.stdout)
    check(miou > 0.9, f"mIoU {100 * miou:.2f}% > 90% on the colour dataset",
          r.stdout)
    r = run(["eval", "--model", model, "--dataset", "folder", "--root",
             root])
    check(r.returncode == 1 and "needs a class list" in r.stderr,
          "the folder layout without --classes is an error", r.stderr)


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    model = os.path.join(WORK, "model")
    if test_make(model):
        test_tokens(model)
        test_layout_iou(model)
        test_synonyms(model)
        test_background(model)
        test_threshold(model)
        test_overlay(model)
        test_overlay(model, {"red": (200, 30, 30), "blue": (20, 40, 250)})
        test_class_colors_refused(model)
        test_pamr(model)
        test_eval(model)
    return done()


if __name__ == "__main__":
    sys.exit(main())
