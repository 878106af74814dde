#!/usr/bin/env bash
# bench/hf_parity.py for several recipes and seeds, JOBS runs at a time, then the table.
#
#   bash bench/hf_parity_sweep.sh RESULTS.jsonl [options for every run, e.g. --limit-train 2000 --epochs 2]
#
# Environment: SEEDS (default "42 43 44"), RECIPES (default "hf bertner bertner-random"; also
# bertner-case, bertner-batch-loss), JOBS (default 1; runs in separate processes can share one GPU). Each run's log goes to
# RESULTS.logs/NAME-SEED.log. On 2 CPU cores a full-corpus run takes 14-25 min, so the default sweep
# takes hours there.
set -euo pipefail
results=${1:?usage: bash bench/hf_parity_sweep.sh RESULTS.jsonl [run options]}
shift
options=("$@")
here=$(cd "$(dirname "$0")" && pwd)
logs="$results.logs"
mkdir -p "$logs"

recipe_args() {
  case $1 in
    hf) echo "--recipe hf" ;;
    bertner) echo "--recipe bertner" ;;
    bertner-random) echo "--recipe bertner --config $here/../configs/paper-random-batches.toml" ;;
    bertner-case) echo "--recipe bertner --config $here/../configs/paper-case-features.toml" ;;
    bertner-batch-loss) echo "--recipe bertner --config $here/../configs/paper-batch-loss.toml" ;;
    *) echo "unknown recipe $1; known: hf bertner bertner-random bertner-case bertner-batch-loss" >&2; return 2 ;;
  esac
}

for name in ${RECIPES:-hf bertner bertner-random}; do recipe_args "$name" >/dev/null; done
running=0
for name in ${RECIPES:-hf bertner bertner-random}; do
  for seed in ${SEEDS:-42 43 44}; do
    # shellcheck disable=SC2046  # the recipe's arguments are separate words
    python3 "$here/hf_parity.py" run $(recipe_args "$name") --name "$name" --seed "$seed" --results "$results" \
      "${options[@]}" >"$logs/$name-$seed.log" 2>&1 || echo "FAILED: $name seed $seed ($logs/$name-$seed.log)" >&2 &
    running=$((running + 1))
    if ((running >= ${JOBS:-1})); then
      wait -n || true
      running=$((running - 1))
    fi
  done
done
wait
python3 "$here/hf_parity.py" summary "$results"
