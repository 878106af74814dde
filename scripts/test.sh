#!/usr/bin/env bash
# Sets everything up, then runs lint, the import-layer contract and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
ruff check src tests bench
ruff format --check src tests bench
lint-imports
python -m pytest tests -p no:cacheprovider
