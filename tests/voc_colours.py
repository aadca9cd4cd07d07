"""The PASCAL VOC colour map for the Python tests of the naclip tool,
written from its definition (the bits of the label dealt out to R, G and B
from the top bit down) independently of src/palette.c.

    from voc_colours import voc_colour
    voc_colour(1)                               # (128, 0, 0)
"""


def voc_colour(k):
    r = g = b = 0
    for bit in range(8):
        r |= ((k >> 0) & 1) << (7 - bit)
        g |= ((k >> 1) & 1) << (7 - bit)
        b |= ((k >> 2) & 1) << (7 - bit)
        k >>= 3
    return (r, g, b)
