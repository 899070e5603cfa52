#!/usr/bin/env bash
# shards.sh - sharded sampling with real processes, as a cluster would run it
# (make shards-check; CI runs it).  A small random SiT (build/ig-init) and the
# small random VAE decoder of tests/fixtures:
#   1. one process (--shard 0/1) against 3 processes at once (xargs -P 3): the
#      merged samples.npz must be the same bytes;
#   2. examples/imagenet_slurm.sh's command line, with the variables SLURM sets
#      for an array of 3 (sbatch itself is not here): the same bytes again;
#   3. numpy (if installed) reads arr_0 as uint8 (N, H, W, 3), also from an .npz
#      whose records carry ZIP64 fields (a merge built with ZIPW_BIG=1, as an
#      .npz past 4 GiB has them).
set -euo pipefail
cd "$(dirname "$0")/.."
B=${BUILD:-build}
t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
"$B/ig-init" --out "$t/tiny.safetensors" --noise 0.05 --seed 3 --classes 10 > /dev/null
flags=(--ckpt "$t/tiny.safetensors" --n 20 --batch 3 --steps 4 --seed 5 --labels balanced)
"$B/imagenet" sample "${flags[@]}" --dir "$t/one" --shard 0/1 2> "$t/one.log"
seq 0 2 | xargs -P 3 -I{} "$B/imagenet" sample "${flags[@]}" --dir "$t/three" --shard {}/3 2> "$t/three.log"
"$B/imagenet" merge --dir "$t/one" --out "$t/one.npz" --vae tests/fixtures/vae_ldm.safetensors 2> /dev/null
"$B/imagenet" merge --dir "$t/three" --out "$t/three.npz" --vae tests/fixtures/vae_ldm.safetensors 2> /dev/null
cmp "$t/one.npz" "$t/three.npz"
echo "ok   3 processes (xargs -P 3) and 1 give the same samples.npz ($(ls "$t/three" | wc -l) shards)"
for i in 0 1 2; do
  SLURM_ARRAY_TASK_ID=$i SLURM_ARRAY_TASK_COUNT=3 IG_BIN="$B/imagenet" N=20 SAMPLER_FLAGS="--batch 3 --steps 4 --seed 5" \
    examples/imagenet_slurm.sh "$t/tiny.safetensors" "$t/slurm" 2> /dev/null
done
"$B/imagenet" merge --dir "$t/slurm" --out "$t/slurm.npz" --vae tests/fixtures/vae_ldm.safetensors 2> /dev/null
cmp "$t/one.npz" "$t/slurm.npz"
echo "ok   examples/imagenet_slurm.sh as an array of 3 gives the same samples.npz"
if /usr/bin/python3 -c 'import numpy' 2> /dev/null; then
  cc -std=c99 -O1 -DZIPW_BIG=1 -o "$t/imagenet64" examples/imagenet.c -lm
  "$t/imagenet64" merge --dir "$t/one" --out "$t/zip64.npz" --vae tests/fixtures/vae_ldm.safetensors 2> /dev/null
  for f in one zip64; do
    /usr/bin/python3 -c "
import numpy as np, sys
a = np.load(sys.argv[1])['arr_0']
assert a.dtype == np.uint8 and a.shape == (20, 8, 8, 3) and a.std() > 0, (a.dtype, a.shape)
b = np.load(sys.argv[2])['arr_0']
assert (a == b).all()
print('ok   numpy reads', sys.argv[1].split('/')[-1], 'as arr_0', a.dtype, a.shape)" "$t/$f.npz" "$t/one.npz"
  done
else
  echo "skip numpy's reader: python3-numpy is not installed"
fi
echo "3 passed, 0 failed"
