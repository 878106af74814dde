#!/usr/bin/env bash
# Sets up .venv with everything bertner, its tests and its benchmarks need. Safe to run again.
# torch is installed first and pinned: 2.13.0 is a CPU wheel on local disk; any other spec makes pip
# download a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
python -m pip install --quiet torch==2.13.0
python -m pip install --quiet -e ".[dev,train,runtime,minilm,plots,lora,onnx,serve,search,ray,audit,spacy]"
