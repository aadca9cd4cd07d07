#!/usr/bin/python3
"""A lower precision of `naclip segment` against its own fp32.

For every case of a group: the seeded random checkpoint and test image of
parity.py; one fp32 run gives the image's patch features, whose k-means
centroids become realistic-margin queries (tests/fixtures/queries.py says
why random queries measure noise instead). Then fp32 and the precision
under test (--precision) each segment the image with those queries and
with random ones, and the dumps are compared:

  features  cosine of each patch's feature (features.npy, unit rows)
  logits    max |fp32 - P| of the cosine logits before PAMR (logits.npy;
            cosines, so absolute) and after it (refined.npy)
  labels    share of pixels with the same label; asserted with the
            realistic queries, reported with the random ones together with
            the median top-1/top-2 margin of each set

Tolerances (TOLERANCES below) are per precision and checkpoint kind and
were set from measurements with room for other CPUs' kernels (the closing
notes of issue 11 give the figures). Exit status: 0 all cases within
tolerance, 1 a case outside or an error, 77 (meson SKIP) when this build
or CPU cannot run the precision: the reason is printed.

    precision.py --precision bf16|int8 --group tiny|b16 [--case NAME] [--keep]
    precision.py --list
"""

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import parity  # noqa: E402
import queries  # noqa: E402  (tests/fixtures, on parity's path)

SKIP = 77
N_CLASSES = 8  # k-means centroids, one class each, no background

# precision -> kind -> (min feature cosine, max |d logits|, max |d refined|,
# min label agreement with realistic queries). bf16 measured on a Xeon
# with AMX (issue 11): tiny features 0.99994, logits 6.9e-3, labels
# 98.8-99.9%; ViT-B/16 features 0.99998, logits 1.2e-3, labels 99.90%
# (whole) and 99.95% (slide). The ViT-B/16 label bar is the issue's; the
# tiny models' random weights give features closer together (smaller
# margins between centroids), hence their lower bar. int8 measured on the
# same Xeon at its own level (AMX, attention in bf16), capped at
# avx512_core_vnni (attention in fp32) and at avx2 (7-bit weights): tiny
# features 0.99957-0.99988, logits 5.4e-3-1.5e-2, labels 99.1-99.8%;
# ViT-B/16 features 0.99914 (avx2) to 0.99979, logits 3.4e-3-7.1e-3,
# labels 99.80-99.87% (whole) and 99.88-99.97% (slide); the label bar is
# the 98%.
TOLERANCES = {
    "bf16": {
        "tiny": dict(feature_cosine=0.9995, logits=2e-2, refined=2e-2,
                     labels=0.98),
        "full": dict(feature_cosine=0.9999, logits=5e-3, refined=5e-3,
                     labels=0.995),
    },
    "int8": {
        "tiny": dict(feature_cosine=0.999, logits=3e-2, refined=3e-2,
                     labels=0.98),
        "full": dict(feature_cosine=0.998, logits=1.5e-2, refined=1.5e-2,
                     labels=0.98),
    },
}


def pcase(name, **kw):
    classes = ",".join(f"class{i}" for i in range(N_CLASSES))
    return parity.case(name, classes=classes, background="", **kw)


GROUPS = {
    "tiny": [
        pcase("tiny-whole", image=(120, 160), inference_size=96),
        pcase("tiny-slide", image=(120, 160), inference_size=96,
              slide_crop=64, slide_stride=32),
        pcase("tiny-deep-whole", ckpt="tiny-deep", image=(100, 140),
              inference_size=96),
    ],
    "b16": [
        # 300x400 -> 336x448: 21x28 patches, whole image.
        pcase("b16-whole", ckpt="b16", image=(300, 400), inference_size=336),
        # 240x320 -> 224x299 in two overlapping windows of 224.
        pcase("b16-slide", ckpt="b16", image=(240, 320), inference_size=224,
              slide_crop=224, slide_stride=112),
    ],
}


def availability(binary, precision):
    """None if `naclip info` lists @precision as available, else why not."""
    out = subprocess.run([binary, "info"], capture_output=True, text=True,
                         timeout=60)
    if out.returncode != 0:
        raise RuntimeError(f"naclip info failed: {out.stderr.strip()}")
    m = re.search(r"^precisions: (.*)$", out.stdout, re.MULTILINE)
    if m is None:
        raise RuntimeError("naclip info printed no 'precisions:' line")
    if precision in m.group(1).split():
        return None
    m = re.search(rf"^precision {precision}: (.*)$", out.stdout, re.MULTILINE)
    return m.group(1) if m else "not listed by naclip info"


def segment(binary, c, model, image, q_path, precision, work, name):
    """Runs naclip segment; returns the dump directory."""
    args = parity.segment_args(c, model, work, None, q_path)
    dump = os.path.join(work, name)
    cmd = [binary, "segment", *args, "--threads", str(c["threads"]),
           "--precision", precision, image,
           "-o", os.path.join(work, name + ".png"), "--dump-dir", dump]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise RuntimeError(f"naclip segment exited with {proc.returncode}: "
                           f"{proc.stderr.strip()[-1500:]}\n  command: "
                           + shlex.join(cmd))
    return dump


def load(dump, stage):
    return np.load(os.path.join(dump, stage + ".npy"))


def run_case(c, precision, group_dir, binary):
    model, cfg = parity.checkpoint(c)
    image = parity.test_image(c)
    work = os.path.join(group_dir, c["name"])
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    dim = cfg["embed_dim"]
    random_q = queries.save(os.path.join(work, "random.npy"),
                            queries.random_queries(N_CLASSES, dim, 7))

    # The realistic queries come from the whole image at the case's
    # processing size, in fp32.
    whole = dict(c, options=dict(c["options"], slide_crop=0))
    probe = segment(binary, whole, model, image, random_q, "fp32", work,
                    "probe")
    features = load(probe, "features")
    real_q = queries.save(os.path.join(work, "realistic.npy"),
                          queries.realistic_queries(features, N_CLASSES, 0))

    dumps = {}
    for qname, q_path in (("realistic", real_q), ("random", random_q)):
        for p in ("fp32", precision):
            dumps[qname, p] = segment(binary, c, model, image, q_path, p,
                                      work, f"{qname}-{p}")

    ref, low = dumps["realistic", "fp32"], dumps["realistic", precision]
    f_ref, f_low = load(ref, "features"), load(low, "features")
    cosine = np.sum(f_ref.astype(np.float64) * f_low, axis=1)
    m = dict(feature_cosine=float(cosine.min()),
             feature_cosine_mean=float(cosine.mean()))
    for stage in ("logits", "refined"):
        m[stage] = float(np.abs(load(ref, stage).astype(np.float64)
                                - load(low, stage)).max())
    for qname in ("realistic", "random"):
        a = load(dumps[qname, "fp32"], "labels")
        b = load(dumps[qname, precision], "labels")
        m["labels_" + qname] = float(np.mean(a == b))
        m["margin_" + qname] = float(np.median(
            queries.margins(load(dumps[qname, "fp32"], "logits"))))
    m["labels"] = m["labels_realistic"]

    tol = TOLERANCES[precision][c["kind"]]
    failures = []
    if m["feature_cosine"] < tol["feature_cosine"]:
        failures.append(f"features: min cosine {m['feature_cosine']:.6f} < "
                        f"{tol['feature_cosine']}")
    for stage in ("logits", "refined"):
        if not m[stage] <= tol[stage]:
            failures.append(f"{stage}: max |fp32 - {precision}| = "
                            f"{m[stage]:.3g} > {tol[stage]:g}")
    if m["labels"] < tol["labels"]:
        failures.append(f"labels (realistic queries): {m['labels']:.4%} "
                        f"agree, need {tol['labels']:.1%}")
    report = (f"features cosine min {m['feature_cosine']:.6f} mean "
              f"{m['feature_cosine_mean']:.7f}; logits {m['logits']:.2e}, "
              f"refined {m['refined']:.2e}; labels realistic "
              f"{m['labels_realistic']:.4%} (median margin "
              f"{m['margin_realistic']:.3g}), random "
              f"{m['labels_random']:.4%} (median margin "
              f"{m['margin_random']:.3g})")
    return failures, report


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--precision", choices=sorted(TOLERANCES))
    ap.add_argument("--group", choices=sorted(GROUPS))
    ap.add_argument("--case", help="run only this case of the group")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--keep", action="store_true",
                    help="keep the dumps of passing cases")
    args = ap.parse_args(argv)
    if args.list:
        for g, cases in GROUPS.items():
            print(g + ": " + ", ".join(c["name"] for c in cases))
        return 0
    if not args.group or not args.precision:
        ap.error("--precision and --group are required")

    binary = parity.naclip_binary()
    if not os.access(binary, os.X_OK):
        print(f"precision: FAIL: the naclip tool is not built at {binary}")
        return 1
    why = availability(binary, args.precision)
    if why is not None:
        print(f"precision {args.precision}: SKIP: {why}")
        return SKIP
    cases = [c for c in GROUPS[args.group]
             if args.case is None or c["name"] == args.case]
    if not cases:
        ap.error(f"no case {args.case!r} in group {args.group}")
    group_dir = os.path.join(parity.build_root(), "tests", "precision",
                             f"{args.precision}-{args.group}")
    n_failed = 0
    for c in cases:
        try:
            failures, report = run_case(c, args.precision, group_dir, binary)
        except Exception as e:  # a crash of one case must not hide the others
            failures, report = [f"error: {type(e).__name__}: {e}"], ""
        if failures:
            n_failed += 1
            print(f"FAIL {c['name']} ({args.precision} vs fp32): {report}")
            for line in failures:
                print("  " + line)
        else:
            print(f"ok   {c['name']} ({args.precision} vs fp32): {report}")
            if not args.keep:
                shutil.rmtree(os.path.join(group_dir, c["name"]),
                              ignore_errors=True)
    print(f"precision {args.precision} {args.group}: "
          f"{len(cases) - n_failed} of {len(cases)} cases within tolerance")
    return 1 if n_failed else 0


if __name__ == "__main__":
    sys.exit(main())
