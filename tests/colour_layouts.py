"""The layouts of coloured regions that the colour-model tests render
(tests/test-colour-model.py through the tool, tests/elements/test_colour.py
through the element), each region's colour stated, and how labels are
scored against them.

A layout is (background colour, [(colour, shape)]) with shapes in
fractions of the height and width, rendered by
fixtures/make_colour_image.py. Labels follow a class string as the
element and the tool take it: "red,grey|gray,blue" gives red 1, grey and
gray 2, blue 3.
"""

import numpy as np

TWELVE = ["red", "green", "blue", "yellow", "cyan", "magenta", "orange",
          "purple", "pink", "brown", "white", "black"]
SATURATED = ["red", "green", "blue", "yellow", "cyan", "magenta"]
MIN_IOU = 0.95


def rect(top, left, bottom, right):
    return ("rect", top, left, bottom, right)


def ellipse(cy, cx, ry, rx):
    return ("ellipse", cy, cx, ry, rx)


def tiles(rows, cols, colours):
    return [(c, rect(i // cols / rows, i % cols / cols,
                     (i // cols + 1) / rows, (i % cols + 1) / cols))
            for i, c in enumerate(colours)]


# The layouts, each region's colour stated: (background, [(colour, shape)])
# with shapes in fractions of the height and width (make_colour_image.py).
# Twelve colours tiled in 3 rows of 4: red green blue yellow / cyan magenta
# orange purple / pink brown white black.
GRID12 = ("white", tiles(3, 4, TWELVE))
# The six saturated colours as ellipses on grey: red, green, blue on top,
# yellow, cyan, magenta below.
SHAPES6 = ("grey", [
    ("red", ellipse(.27, .2, .2, .14)), ("green", ellipse(.27, .5, .2, .12)),
    ("blue", ellipse(.27, .8, .18, .15)),
    ("yellow", ellipse(.73, .2, .2, .15)),
    ("cyan", ellipse(.73, .5, .19, .12)),
    ("magenta", ellipse(.73, .8, .2, .14))])
# Vertical thirds: red | grey | blue.
STRIPES_GREY = ("red", tiles(1, 3, ["red", "grey", "blue"]))
# Vertical bands: red 20%, grey 15%, green 30%, grey 15%, blue 20%. With
# the classes red and blue, green and grey are as far from one as from the
# other; the grey bands keep the green one from the red and blue regions,
# whose neighbours get their labels from the patches across the edge (a
# patch across red and grey has a reddish mean) and PAMR (which spreads
# them within a colour).
BANDS = ("green", [("red", rect(0, 0, 1, .2)), ("grey", rect(0, .2, 1, .35)),
                   ("grey", rect(0, .65, 1, .8)),
                   ("blue", rect(0, .8, 1, 1))])
# A red, a green and a blue ellipse on white.
ON_WHITE = ("white", [("red", ellipse(.35, .25, .25, .18)),
                      ("green", ellipse(.65, .55, .28, .2)),
                      ("blue", ellipse(.3, .8, .2, .12))])
# Overlapping ellipses on yellow: curved boundaries everywhere.
CURVES = ("yellow", [("red", ellipse(.35, .3, .25, .2)),
                     ("blue", ellipse(.6, .7, .3, .22)),
                     ("green", ellipse(.75, .25, .18, .3)),
                     ("magenta", ellipse(.25, .75, .15, .12))])


def label_of(classes, colour):
    """Our label of @colour in a class string (0 if it is not a class)."""
    for k, group in enumerate(classes.split(","), start=1):
        if colour in group.split("|"):
            return k
    return 0


def iou(a, b):
    union = np.sum(a | b)
    return float(np.sum(a & b) / union) if union else float("nan")


def class_ious(regions, names, labels, classes, background=()):
    """colour -> IoU of its region with the label its name has (0 for a
    background name)."""
    out = {}
    for i, colour in enumerate(names):
        k = 0 if colour in background else label_of(classes, colour)
        out[colour] = iou(regions == i, labels == k)
    return out


def fmt(ious):
    return " ".join(f"{c} {v:.3f}" for c, v in ious.items())
