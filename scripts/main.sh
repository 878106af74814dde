#!/usr/bin/env bash
# Sets everything up, then fine-tunes the default encoder (MiniLM-L6) on CoNLL-2003 with bertner's
# defaults (its best measured single-model setting short of document context), and scores valid and test
# with conlleval's rules.
#   bash scripts/main.sh [DATA_DIR] [RUN_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-../shared/data/conll2003}
run=${2:-runs/minilm-default}
bash scripts/setup.sh
. .venv/bin/activate
bertner train --data "$data" --output "$run"
