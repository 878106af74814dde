"""Names of a saved model folder's files that readers need without importing the model code (model/build.py
imports transformers' model classes, about 130 MB; an ONNX export is served without them)."""

from __future__ import annotations

LABELS_FILENAME = "labels.json"
"""The model's labels in id order, as a JSON list; written by model/build.py and by an export."""
