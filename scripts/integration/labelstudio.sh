#!/usr/bin/env bash
# The Label Studio round trip against a real Label Studio (bench/labelstudio_roundtrip.py): pre-annotate tasks with
# `bertner serve`, export the project, train bertner on the export. Not part of the test suite: it installs Label
# Studio (once, into $LS_VENV, a venv of its own: it pins numpy and Django) and takes minutes.
#
#   scripts/integration/labelstudio.sh --model runs/mine --conll data/test.txt [--documents 20] [--json out.json]
#
# Arguments go to bench/labelstudio_roundtrip.py (--help lists them). Everything runs on 127.0.0.1, offline.
set -euo pipefail
cd "$(dirname "$0")/../.."
LS_VENV=${LS_VENV:-.venv-labelstudio}
if [ ! -x "$LS_VENV/bin/label-studio" ]; then
    python3 -m venv "$LS_VENV"
    "$LS_VENV/bin/python" -m pip install --quiet --upgrade pip
    # The versions bertner's extra `labelstudio` names (pyproject.toml); the resolver takes several minutes.
    "$LS_VENV/bin/python" -m pip install --quiet "label-studio==1.23.2" "label-studio-sdk==2.1.2"
fi
exec "$LS_VENV/bin/python" bench/labelstudio_roundtrip.py --bertner "$PWD/.venv/bin/bertner" "$@"
