#!/usr/bin/env bash
# imagenet_slurm.sh - 50,000 IG samples for an FID as a SLURM job array.
#
#   sbatch --array=0-99 examples/imagenet_slurm.sh CKPT.safetensors OUTDIR [sample flags...]
#   # when every task has finished:
#   build/imagenet merge --dir OUTDIR --out samples.npz --vae VAE.safetensors
#
# Each array task runs shard $SLURM_ARRAY_TASK_ID of $SLURM_ARRAY_TASK_COUNT: a
# whole number of batches, written atomically to OUTDIR/shard-<start>-<end>.safetensors.
# A task that is killed and requeued (or rerun by hand) skips a shard already on
# disk, so resubmitting the same array finishes only what is missing.  The images
# do not depend on the split: any array size gives the same samples.npz.
# N, the labels and the sampler come from the environment (defaults: the paper's
# 50,000 images, 50 per class, the --paper settings of the checkpoint's kind);
# extra arguments go to 'imagenet sample' as they are.
#SBATCH --job-name=ig-sample
#SBATCH --cpus-per-task=8
#SBATCH --time=24:00:00
#SBATCH --output=ig-sample-%A_%a.log
set -euo pipefail
if [ $# -lt 2 ]; then echo "usage: sbatch --array=0-K-1 $0 CKPT.safetensors OUTDIR [sample flags...]" >&2; exit 2; fi
ckpt=$1; outdir=$2; shift 2
: "${SLURM_ARRAY_TASK_ID:?run this under sbatch --array (or set SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT)}"
: "${SLURM_ARRAY_TASK_COUNT:?run this under sbatch --array (or set SLURM_ARRAY_TASK_COUNT)}"
IG_BIN=${IG_BIN:-build/imagenet}
N=${N:-50000}
LABELS=${LABELS:-balanced}
SAMPLER_FLAGS=${SAMPLER_FLAGS:---paper}
export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-${OMP_NUM_THREADS:-1}} OMP_WAIT_POLICY=passive
# shellcheck disable=SC2086  # SAMPLER_FLAGS is a list of flags
exec "$IG_BIN" sample --ckpt "$ckpt" --dir "$outdir" --n "$N" --labels "$LABELS" \
  --shard "$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT" $SAMPLER_FLAGS "$@"
