#!/bin/sh
# data/annotate-parallel.sh OUT_DIR [naclip annotate options...] < LIST
#
# naclip annotate over many videos on one machine with GNU parallel
# (Debian package parallel): LIST, on stdin, has one video path a line
# (from find, say); each video is one naclip job, NACLIP_JOBS of them at
# a time, and each job's element gets --threads NACLIP_THREADS so that the
# jobs together use the cores once instead of each spinning up a thread
# per core. Outputs of a video go to OUT_DIR/<its directory in LIST>/, so
# a tree of videos gives the same tree of outputs.
#
#   cd /archive && find . -name '*.mp4' | \
#     /path/to/data/annotate-parallel.sh /results --classes "person,car"
#
# OUT_DIR/parallel.log is GNU parallel's job log: one line per video with
# its exit status and time. Running the same command again with
# NACLIP_RESUME=1 runs only the videos that failed or never ran
# (parallel --resume-failed); --skip-existing is passed to naclip, so a
# video whose outputs are all there is not redone either.
#
# Environment: NACLIP (the naclip program; default: naclip on PATH),
# NACLIP_JOBS (default: half the cores, at least 1), NACLIP_THREADS
# (default: the cores divided by the jobs, at least 1), NACLIP_RESUME.
# Exit status: GNU parallel's, the number of failed videos (0: all done).
set -eu

if [ $# -lt 1 ]; then
  echo "usage: $0 OUT_DIR [naclip annotate options...] < LIST" >&2
  exit 2
fi
out=$1
shift
naclip=${NACLIP:-naclip}
cores=$(nproc)
jobs=${NACLIP_JOBS:-$((cores / 2))}
[ "$jobs" -ge 1 ] || jobs=1
threads=${NACLIP_THREADS:-$((cores / jobs))}
[ "$threads" -ge 1 ] || threads=1
resume=""
[ -z "${NACLIP_RESUME:-}" ] || resume=--resume-failed

mkdir -p "$out"
echo "annotate-parallel.sh: $jobs jobs of $threads threads on $cores cores" >&2
# OpenMP (OpenBLAS, oneDNN) and the element's library follow --threads;
# OMP_NUM_THREADS caps anything that reads it instead. Passive waiting
# keeps idle OpenMP threads from spinning on cores the other jobs use.
OMP_NUM_THREADS=$threads OMP_WAIT_POLICY=PASSIVE
export OMP_NUM_THREADS OMP_WAIT_POLICY
# {} is the video, {//} its directory; --quote passes the options as they
# are (class lists with spaces); --line-buffer passes each job's progress
# lines through as they come.
exec parallel --jobs "$jobs" --quote --line-buffer \
  --joblog "$out/parallel.log" $resume "$naclip" annotate --skip-existing --threads "$threads" "$@" \
  -o "$out/{//}" {}
