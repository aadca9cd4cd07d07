#!/usr/bin/python3
"""The examples of data/ for annotating many videos, run here: GNU parallel
on this machine (data/annotate-parallel.sh), and the share of one worker
(data/annotate-shard.sh) as data/annotate-slurm.sh and the Kubernetes
manifest data/annotate-k8s-job.yaml run it, with the variables Slurm and
Kubernetes would set. Prints TAP.

    test-annotate-examples.py NACLIP MAKE_CHECKPOINT DATA_DIR

The videos are a small tree (two directories, one name with a space) and
a damaged file; the list holds their paths relative to the tree, as the
README makes it with find.
"""

import os
import re
import shutil
import subprocess
import sys

import numpy as np

from tap import check, done

NACLIP = os.path.abspath(sys.argv[1])
MAKE_CKPT, DATA = sys.argv[2], sys.argv[3]
BUILD = os.environ.get("NACLIP_BUILD_ROOT", os.getcwd())
WORK = os.path.join(BUILD, "tests", "annotate-examples")
VIDEOS = ["./d 2/b.avi", "./d 2/c.ogv", "./d1/a.ogv", "./d1/z-damaged.mp4"]


def env(**extra):
    # Caches and GStreamer's registry go under the build dir.
    variables = dict(os.environ, NACLIP=NACLIP,
                     XDG_CACHE_HOME=os.path.join(WORK, "cache"),
                     GST_REGISTRY_1_0=os.path.join(WORK, "registry.bin"))
    variables.update(extra)
    return variables


def run(args, cwd, **extra):
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True,
                          timeout=600, env=env(**extra))


def outputs(out, videos, suffixes=("-overlay.mp4", "-stats.jsonl")):
    """The output paths @videos should have under @out."""
    paths = []
    for v in videos:
        d, name = os.path.split(v)
        stem = os.path.splitext(name)[0]
        paths += [os.path.normpath(os.path.join(out, d, stem + s))
                  for s in suffixes]
    return sorted(paths)


def found(out):
    paths = []
    for d, dirs, files in os.walk(out):
        dirs[:] = [x for x in dirs if not x.endswith("-labels")]
        paths += [os.path.join(d, f) for f in files if f != "parallel.log"]
        paths += [os.path.join(d, x) for x in os.listdir(d)
                  if x.endswith("-labels")]
    return sorted(os.path.normpath(p) for p in paths)


def joblog(path):
    with open(path) as f:
        rows = [line.rstrip("\n").split("\t") for line in f][1:]
    return [(int(r[6]), r[8]) for r in rows]


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    tree = os.path.join(WORK, "videos")
    for d in ("d1", "d 2"):
        os.makedirs(os.path.join(tree, d))
    for path, (n, pattern, enc) in {
            "d1/a.ogv": (6, "ball", "theoraenc ! oggmux"),
            "d 2/c.ogv": (5, "snow", "theoraenc ! oggmux"),
            "d 2/b.avi": (4, "smpte", "jpegenc ! avimux")}.items():
        subprocess.run(["gst-launch-1.0", "-q", "videotestsrc",
                        f"num-buffers={n}", f"pattern={pattern}", "!",
                        "video/x-raw,width=64,height=48,framerate=10/1", "!",
                        *enc.split(), "!", "filesink",
                        f"location={os.path.join(tree, path)}"], check=True)
    with open(os.path.join(tree, "d1", "z-damaged.mp4"), "wb") as f:
        f.write(np.random.default_rng(5).bytes(10000))
    listing = os.path.join(WORK, "videos.txt")
    with open(listing, "w") as f:
        f.write("".join(v + "\n" for v in VIDEOS))
    ckpt = os.path.join(BUILD, "tests", "fixtures", "ckpt-tiny-eval")
    subprocess.run([sys.executable, MAKE_CKPT, ckpt, "--preset", "tiny"],
                   check=True)
    options = ["--model", ckpt, "--classes", "white ball,sky", "--templates",
               "single", "--inference-size", "64", "--pamr-steps", "2"]
    good = VIDEOS[:3]

    # GNU parallel on this machine.
    nproc = int(subprocess.run(["nproc"], capture_output=True,
                               text=True).stdout)
    threads = max(1, nproc // 2)
    out = os.path.join(WORK, "parallel")
    with open(listing) as stdin:
        r = subprocess.run(["sh", os.path.join(DATA, "annotate-parallel.sh"),
                            out, *options], cwd=tree, stdin=stdin,
                           capture_output=True, text=True, timeout=600,
                           env=env(NACLIP_JOBS="2"))
    log = joblog(os.path.join(out, "parallel.log")) \
        if os.path.exists(os.path.join(out, "parallel.log")) else []
    check(r.returncode == 1 and found(out) == outputs(out, good)
          and "z-damaged.mp4: cannot decode" in r.stderr,
          "annotate-parallel.sh: every video of the tree annotated into the "
          "same tree, the damaged one named, exit status 1",
          r.stderr + "\n".join(found(out)))
    check(sorted(status for status, _ in log) == [0, 0, 0, 1]
          and all(f"--threads {threads} " in cmd for _, cmd in log)
          and f"2 jobs of {threads} threads on {nproc} cores" in r.stderr,
          f"one job per video, 2 at a time, each with --threads {threads} "
          f"({nproc} cores / 2 jobs); the job log has their exit statuses",
          "\n".join(f"{s} {c}" for s, c in log) + r.stderr[:500])
    progress = [line for line in r.stderr.splitlines()
                if re.search(r" c\.ogv \(1/1\) \(.*frame.*, ETA ", line)]
    check(progress and progress[-1].startswith("5/5 "),
          "the jobs' progress lines pass through", r.stderr)
    with open(listing) as stdin:
        r = subprocess.run(["sh", os.path.join(DATA, "annotate-parallel.sh"),
                            out, *options], cwd=tree, stdin=stdin,
                           capture_output=True, text=True, timeout=600,
                           env=env(NACLIP_JOBS="2", NACLIP_RESUME="1"))
    log = joblog(os.path.join(out, "parallel.log"))
    check(r.returncode == 1 and len(log) == 5
          and "z-damaged.mp4" in log[-1][1],
          "NACLIP_RESUME=1 runs only the failed video again",
          "\n".join(f"{s} {c}" for s, c in log))

    # One worker's share, as Slurm array task 1 of 2 runs it.
    out = os.path.join(WORK, "slurm")
    r = run(["sh", os.path.join(DATA, "annotate-slurm.sh"), listing, out,
             *options], cwd=tree, SLURM_ARRAY_TASK_ID="1",
            SLURM_ARRAY_TASK_MIN="0", SLURM_ARRAY_TASK_COUNT="2",
            SLURM_CPUS_PER_TASK="1",
            NACLIP_SHARD=os.path.join(DATA, "annotate-shard.sh"))
    check(r.returncode == 1 and found(out) == outputs(out, [VIDEOS[1]])
          and "share 1 of 2: 2 videos" in r.stderr
          and "z-damaged.mp4: cannot decode" in r.stderr,
          "annotate-slurm.sh as array task 1 of 2: lines 2 and 4 of the "
          "list, the damaged one failing the task", r.stderr)
    r = run(["sh", os.path.join(DATA, "annotate-slurm.sh"), listing, out,
             *options], cwd=tree, SLURM_ARRAY_TASK_ID="0",
            SLURM_ARRAY_TASK_MIN="0", SLURM_ARRAY_TASK_COUNT="2",
            SLURM_CPUS_PER_TASK="1",
            NACLIP_SHARD=os.path.join(DATA, "annotate-shard.sh"))
    check(r.returncode == 0 and found(out) == outputs(out, good),
          "task 0 does the rest: the two tasks cover the list once",
          r.stderr)
    r = run(["sh", os.path.join(DATA, "annotate-slurm.sh"), listing, out,
             *options], cwd=tree, SLURM_ARRAY_TASK_ID="0",
            SLURM_ARRAY_TASK_MIN="0", SLURM_ARRAY_TASK_COUNT="2",
            SLURM_CPUS_PER_TASK="1",
            NACLIP_SHARD=os.path.join(DATA, "annotate-shard.sh"))
    check(r.returncode == 0 and r.stdout.count(": skipped, ") == 2,
          "a task run again skips the videos it finished", r.stdout)

    # The Kubernetes manifest: its pod command, with the variables it sets
    # and JOB_COMPLETION_INDEX, the paths moved here.
    try:
        import yaml
    except ImportError:
        check(False, "python3-yaml for the manifest (tests/install-deps.sh)")
        return done()
    with open(os.path.join(DATA, "annotate-k8s-job.yaml")) as f:
        job = yaml.safe_load(f)
    spec = job["spec"]
    pod = spec["template"]["spec"]
    container = pod["containers"][0]
    variables = {e["name"]: e["value"] for e in container["env"]}
    check(job["kind"] == "Job" and spec["completionMode"] == "Indexed"
          and int(variables["SHARDS"]) == spec["completions"]
          and variables["THREADS"]
          == container["resources"]["requests"]["cpu"]
          and pod["restartPolicy"] == "Never",
          "the manifest: an Indexed Job, SHARDS = completions, THREADS = "
          "the CPU request", str(spec))
    script = container["args"][0].replace(
        "/usr/local/share/naclipseg/annotate-shard.sh",
        os.path.join(DATA, "annotate-shard.sh"))
    out = os.path.join(WORK, "k8s")
    variables.update(LIST=listing, OUT=out, MODEL=ckpt, SHARDS="2",
                     JOB_COMPLETION_INDEX="0", THREADS="1",
                     XDG_CACHE_HOME=os.path.join(WORK, "cache"))
    r = run([*container["command"], script], cwd=tree, **variables)
    check(r.returncode == 0 and found(out) == outputs(
        out, [VIDEOS[0], VIDEOS[2]],
        ("-labels", "-overlay.mp4", "-stats.csv")),
          "the pod command of index 0 of 2: its share, with the manifest's "
          "outputs (labels png, stats csv)", r.stderr + str(found(out)))
    return done()


if __name__ == "__main__":
    sys.exit(main())
