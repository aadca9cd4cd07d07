#!/bin/sh
# data/annotate-slurm.sh LIST OUT_DIR [naclip annotate options...]
#
# naclip annotate over an archive with a Slurm job array: array task i runs
# data/annotate-shard.sh on share i of the array's size of the videos
# listed in LIST, with --threads set to the task's CPUs. Submit it from the
# directory the paths in LIST are relative to, on a file system every node
# sees:
#   cd /archive/videos && find . -name '*.mp4' > ../videos.txt
#   sbatch --array=0-15%4 /path/to/data/annotate-slurm.sh ../videos.txt \
#     /archive/annotated --model /archive/models/clip-vit-base-patch16 \
#     --classes "person,car,bicycle,road,tree,sky,building"
# (16 shares, 4 running at a time; the #SBATCH lines below are defaults
# that the command line overrides). A task that fails, or is requeued, can
# be run again (sbatch --array=5 ...): it skips the videos it finished.
#
# sbatch runs a copy of this script, so annotate-shard.sh is found through
# NACLIP_SHARD, else next to the installed naclip
# (PREFIX/share/naclipseg/annotate-shard.sh).
#
#SBATCH --job-name=naclip-annotate
#SBATCH --array=0-15%4
#SBATCH --cpus-per-task=4
#SBATCH --mem=4G
#SBATCH --time=24:00:00
#SBATCH --output=naclip-annotate-%A_%a.log
set -eu

if [ $# -lt 2 ]; then
  echo "usage: sbatch [--array=0-N] $0 LIST OUT_DIR [naclip annotate options...]" >&2
  exit 2
fi
list=$1 out=$2
shift 2
naclip=${NACLIP:-naclip}
shard=${NACLIP_SHARD:-"$(dirname "$(command -v "$naclip")")/../share/naclipseg/annotate-shard.sh"}
task=${SLURM_ARRAY_TASK_ID:?not in a Slurm job array (sbatch --array)}
index=$((task - ${SLURM_ARRAY_TASK_MIN:-0}))
count=$SLURM_ARRAY_TASK_COUNT
threads=${SLURM_CPUS_PER_TASK:-1}

OMP_NUM_THREADS=$threads OMP_WAIT_POLICY=PASSIVE
export OMP_NUM_THREADS OMP_WAIT_POLICY
exec "$shard" "$list" "$index" "$count" "$out" --threads "$threads" "$@"
