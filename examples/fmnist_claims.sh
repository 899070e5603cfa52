#!/usr/bin/env bash
# fmnist_claims.sh - reruns the claims tables of docs/fmnist.md (make fmnist-claims).
#
#   sampling  the shipped model, no guidance / IG / CFG / IG + CFG at make fmnist's
#             settings, N_SAMPLING samples (5000) from each of 3 noise seeds
#   sweep     IG weight x CFG scale x interval, jointly, N_SWEEP samples (1000),
#             3 noise seeds
#   training  lambda 0 against lambda 0.5 and "IG after half the budget against no
#             guidance after all of it": 2 training seeds per lambda, TRAIN_STEPS
#             steps (3000) each, one thread per run, two runs at a time; every
#             model scored with N_TRAIN samples (1000) from 3 noise seeds
#
# Each stage prints its progress and writes its tables to OUT (out/fmnist/claims):
# <stage>.md (mean +- sd over the seeds) and <stage>.tsv (one line per seed).
# STAGES="sampling sweep training" picks stages (and "curve" with CURVE=PATH, the
# training curve of a run kept with --keep-every); every size is an environment
# variable (the tests run this script at toy sizes).
set -euo pipefail
cd "$(dirname "$0")/.."

FM=${FM:-build/fmnist}
OUT=${OUT:-out/fmnist/claims}
MODEL=${MODEL:-data/fmnist_ig.safetensors}
DATA=${DATA:-data/fashion-mnist}
CLF=${CLF:-data/fmnist_classifier.safetensors}
STAGES=${STAGES:-sampling sweep training}
SEEDS=${SEEDS:-3}
STEPS=${STEPS:-10}                 # sampler steps (Heun)
IG_W=${IG_W:-3}                    # make fmnist's settings (Makefile FMNIST_GUIDE)
CFG_S=${CFG_S:-1.5}
INTERVAL=${INTERVAL:-0-1}
N_SAMPLING=${N_SAMPLING:-5000}
N_SWEEP=${N_SWEEP:-1000}
SWEEP_IG=${SWEEP_IG:-1,1.5,2,3}
SWEEP_CFG=${SWEEP_CFG:-1.25,1.5,2}
SWEEP_INTERVALS=${SWEEP_INTERVALS:-0-1,0.3-1}
N_TRAIN=${N_TRAIN:-1000}
TRAIN_STEPS=${TRAIN_STEPS:-3000}
TRAIN_SEEDS=${TRAIN_SEEDS:-1 2}
TRAIN_IG_W=${TRAIN_IG_W:-$IG_W}
MODEL_FLAGS=${MODEL_FLAGS:---patch 4 --width 192 --depth 6 --heads 4 --aux-depth 2 --batch 64 --ema 0.9995}

mkdir -p "$OUT"
say() { printf '[fmnist-claims %s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }
common=(--data "$DATA" --clf "$CLF" --steps "$STEPS" --seeds "$SEEDS")

for stage in $STAGES; do
  case $stage in
  sampling)
    say "sampling: $MODEL, 4 methods x $SEEDS seeds x $N_SAMPLING samples"
    "$FM" sweep --model "$MODEL" "${common[@]}" --n "$N_SAMPLING" --ig-weights "1,$IG_W" \
      --cfg-scales "$CFG_S" --intervals "$INTERVAL" --joint --tsv "$OUT/sampling.tsv" | tee "$OUT/sampling.md"
    ;;
  sweep)
    say "sweep: IG {$SWEEP_IG} x CFG {$SWEEP_CFG} x intervals {$SWEEP_INTERVALS}, $SEEDS seeds x $N_SWEEP samples"
    "$FM" sweep --model "$MODEL" "${common[@]}" --n "$N_SWEEP" --ig-weights "$SWEEP_IG" \
      --cfg-scales "$SWEEP_CFG" --intervals "$SWEEP_INTERVALS" --joint --tsv "$OUT/sweep.tsv" | tee "$OUT/sweep.md"
    ;;
  training)
    half=$((TRAIN_STEPS / 2))
    runs=()
    for lam in 0 0.5; do for s in $TRAIN_SEEDS; do runs+=("$lam:$s"); done; done
    say "training: ${#runs[@]} runs of $TRAIN_STEPS steps (lambda:seed ${runs[*]}), two at a time, one thread each"
    i=0
    while [ $i -lt ${#runs[@]} ]; do
      pids=()
      for r in "${runs[@]:$i:2}"; do
        lam=${r%%:*}; s=${r##*:}; d="$OUT/train_l${lam}_s$s"
        mkdir -p "$d"
        if [ -f "$d/final.safetensors" ]; then say "  lambda $lam seed $s: already trained"; continue; fi
        say "  lambda $lam seed $s: training -> $d/log.txt"
        OMP_NUM_THREADS=1 "$FM" train $MODEL_FLAGS --lambda "$lam" --seed "$s" --data "$DATA" \
          --steps "$TRAIN_STEPS" --every "$half" --keep-every "$half" --log-every "$half" \
          --ckpt "$d/train.safetensors" --out "$d/final.safetensors" > "$d/log.txt" 2>&1 &
        pids+=($!)
      done
      for p in "${pids[@]}"; do wait "$p"; done
      i=$((i + 2))
    done
    : > "$OUT/training.tsv"
    for r in "${runs[@]}"; do
      lam=${r%%:*}; s=${r##*:}; d="$OUT/train_l${lam}_s$s"
      "$FM" export --ckpt "$d/train.safetensors.step$half" --out "$d/half.safetensors" > /dev/null
      say "  lambda $lam seed $s: scoring the final model (no guidance) and the half-budget one (no guidance, IG $TRAIN_IG_W)"
      "$FM" sweep --model "$d/final.safetensors" "${common[@]}" --n "$N_TRAIN" --ig-weights 1 --cfg-scales 1 \
        --intervals 0-1 --tsv "$d/final.tsv" > /dev/null
      w=1; [ "$lam" = 0 ] || w="1,$TRAIN_IG_W"    # lambda 0 trains no aux head: no IG for it
      "$FM" sweep --model "$d/half.safetensors" "${common[@]}" --n "$N_TRAIN" --ig-weights "$w" \
        --cfg-scales 1 --intervals 0-1 --tsv "$d/half.tsv" > /dev/null
      tail -n +2 "$d/final.tsv" | sed "s/^/lambda $lam\t$TRAIN_STEPS\t$s\t/" >> "$OUT/training.tsv"
      tail -n +2 "$d/half.tsv" | sed "s/^/lambda $lam\t$half\t$s\t/" >> "$OUT/training.tsv"
    done
    # mean +- sd over every (training seed, noise seed) pair, and each training seed's mean
    awk -F'\t' '
      { k = $1 " | " $2 " steps | " $4 (($4 == "ig") ? " w " $5 : ""); n[k]++; fd[k, n[k]] = $11; acc[k, n[k]] = $12
        pr[k, n[k]] = $13; rc[k, n[k]] = $14; sfd[k, $3] += $11; sn[k, $3]++; seeds[k] = seeds[k] " " $3
        if (!(k in order)) { order[k] = ++nk; keys[nk] = k } }
      function ms(a, k, m, f,   i, s, v) { s = 0; for (i = 1; i <= m; i++) s += a[k, i]; s /= m; v = 0
        for (i = 1; i <= m; i++) v += (a[k, i] - s) ^ 2; return sprintf(f " +- " f, s, m > 1 ? sqrt(v / (m - 1)) : 0) }
      END { print "| model, steps, sampler | FD | class acc | precision | recall | FD per training seed |"
            print "|---|---:|---:|---:|---:|---|"
            for (j = 1; j <= nk; j++) { k = keys[j]; per = ""; split(seeds[k], ss, " "); delete seen
              for (q in ss) if (!(ss[q] in seen)) { seen[ss[q]] = 1; per = per sprintf(" seed %s: %.2f", ss[q], sfd[k, ss[q]] / sn[k, ss[q]]) }
              printf "| %s | %s | %s | %s | %s |%s |\n", k, ms(fd, k, n[k], "%.2f"), ms(acc, k, n[k], "%.3f"), ms(pr, k, n[k], "%.3f"), ms(rc, k, n[k], "%.3f"), per } }
    ' "$OUT/training.tsv" | tee "$OUT/training.md"
    ;;
  curve)
    # the training curve of a run kept with --keep-every: CURVE=out/fmnist/train.safetensors
    # scores each CURVE.stepN's EMA weights, N_CURVE samples (1000) of noise seed 1
    say "curve: $(ls "$CURVE".step* | wc -l) checkpoints of $CURVE, no guidance and IG $IG_W, ${N_CURVE:-1000} samples"
    echo "| step | FD, no guidance | class acc | FD, IG w $IG_W | class acc |" > "$OUT/curve.md"
    echo "|---:|---:|---:|---:|---:|" >> "$OUT/curve.md"
    for c in $(ls "$CURVE".step* | awk -F'.step' '{print $NF, $0}' | sort -n | cut -d' ' -f2-); do
      st=${c##*.step}
      "$FM" export --ckpt "$c" --out "$OUT/curve_model.safetensors" > /dev/null
      "$FM" sweep --model "$OUT/curve_model.safetensors" --data "$DATA" --clf "$CLF" --steps "$STEPS" --seeds 1 \
        --n "${N_CURVE:-1000}" --ig-weights "1,$IG_W" --cfg-scales 1 --intervals 0-1 --tsv "$OUT/curve_$st.tsv" > /dev/null
      awk -F'\t' -v st="$st" 'NR == 2 { a = $8; b = $9 } NR == 3 { printf "| %s | %.2f | %.1f%% | %.2f | %.1f%% |\n", st, a, 100 * b, $8, 100 * $9 }' \
        "$OUT/curve_$st.tsv" | tee -a "$OUT/curve.md"
    done
    rm -f "$OUT/curve_model.safetensors"
    ;;
  *) echo "fmnist_claims.sh: unknown stage '$stage' (sampling, sweep, training, curve)" >&2; exit 2 ;;
  esac
done
say "done: tables in $OUT/*.md"
