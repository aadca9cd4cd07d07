#!/bin/sh
# data/annotate-shard.sh LIST INDEX COUNT OUT_DIR [naclip annotate options...]
#
# One worker's share of an archive for naclip annotate: the videos on
# lines INDEX+1, INDEX+1+COUNT, INDEX+1+2*COUNT, ... of LIST (one video
# path a line, relative to the current directory or absolute), so that
# COUNT workers run with INDEX = 0..COUNT-1, on whatever machines see the
# same files, annotate every video once. data/annotate-k8s-job.yaml (a
# Kubernetes indexed Job) and data/annotate-slurm.sh (a Slurm job array)
# run it.
#
# Outputs of a video go to OUT_DIR/<its directory in LIST>/, so a tree of
# videos gives the same tree of outputs. --skip-existing is passed: a
# worker started again (an evicted pod, a requeued task) redoes only the
# videos whose outputs are not all there; naclip writes an output under
# its final name only once it is complete.
#
# Environment: NACLIP, the naclip program (default: naclip on PATH).
# Exit status: 0 when every video of the share was annotated, 1 when one
# failed (naclip names it on stderr) and 2 on a usage error.
set -eu

if [ $# -lt 4 ]; then
  echo "usage: $0 LIST INDEX COUNT OUT_DIR [naclip annotate options...]" >&2
  exit 2
fi
list=$1 index=$2 count=$3 out=$4
shift 4
case "$index$count" in
  *[!0-9]*)
    echo "$0: INDEX and COUNT must be numbers" >&2
    exit 2 ;;
esac
if [ "$count" -lt 1 ] || [ "$index" -ge "$count" ]; then
  echo "$0: INDEX $index must be below COUNT $count" >&2
  exit 2
fi
naclip=${NACLIP:-naclip}

share=$(mktemp)
trap 'rm -f "$share"' EXIT
awk -v i="$index" -v n="$count" 'NF && (NR - 1) % n == i' "$list" >"$share"
echo "annotate-shard.sh: share $index of $count: $(wc -l <"$share") videos" >&2
status=0
while IFS= read -r video; do
  "$naclip" annotate --skip-existing "$@" -o "$out/$(dirname "$video")" \
    "$video" </dev/null || status=1
done <"$share"
exit "$status"
