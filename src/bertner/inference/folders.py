"""The names of the files that mark what a model folder holds; every reader and writer imports them from here."""

from __future__ import annotations

EXPORT_MANIFEST = "export.json"
"""An ONNX export (inference/export.py): format version, source, quantization and the parity check's figures."""
ONNX_MODEL = "model.onnx"
"""The exported network: input_ids, attention_mask [, shape_ids] -> logits (batch, seq_len, num_labels)."""
CRF_FILE = "crf.json"
"""A CRF head's transition scores and constraints, for Viterbi outside the ONNX graph."""
HF_CONFIG = "config.json"
"""An HF model's config; a token-classification model's holds `id2label`."""
ENSEMBLE_MANIFEST = "ensemble.json"
"""An ensemble folder (inference/ensemble_folder.py): its members, whether they were copied into it, their labels."""
