#!/usr/bin/env bash
# Sets everything up, then fine-tunes the default encoder (MiniLM-L6) on CoNLL-2003 with the tuned
# config, and scores valid and test with conlleval's rules.
#   bash scripts/main.sh [DATA_DIR] [RUN_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-../shared/data/conll2003}
run=${2:-runs/minilm-tuned}
bash scripts/setup.sh
. .venv/bin/activate
bertner train --data "$data" --output "$run" --config configs/minilm-tuned.toml
