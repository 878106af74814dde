"""The names of the files in a run, export and ensemble folder: every reader and writer imports them from here.

Kept free of imports so that any layer (an ONNX export served without torch included) can name a file
without loading the code that writes it.
"""

from __future__ import annotations

# --- a run folder (written by `bertner train`) -------------------------------------------------------------
CONFIG_FILENAME = "bertner.toml"
"""The run's config as trained (config.save_config); a resumed run is checked against it."""
LABELS_FILENAME = "labels.json"
"""The model's labels in id order, as a JSON list; written by model/store.py and by an export."""
CUSTOM_WEIGHTS = "tagger.safetensors"
"""A bertner tagger's weights (head, CRF, word-shape embedding) when it is not saved in the HF layout."""
CUSTOM_ENCODER_DIR = "encoder"
"""The encoder's own HF folder inside a run saved in bertner's layout."""
HF_WEIGHTS = "model.safetensors"
HF_CONFIG = "config.json"
"""An HF model's config; a token-classification model's holds `id2label`."""
TOKENIZER_CONFIG = "tokenizer_config.json"
INCOMPLETE_MARKER = "incomplete.json"
"""Present while a model folder is being trained into or saved; a folder holding it is refused by the loader."""
CHECKPOINTS_DIR = "checkpoints"
"""The Trainer's checkpoints inside a run folder, from which `bertner train --resume` continues."""
EPOCH_METRICS_FILE = "metrics.jsonl"
"""One JSON line per finished epoch (training/callbacks.py), read by compare, the report and the server."""
LOCK_FILENAME = "bertner.lock"
"""The PID lock of the process writing into a run folder (training/lock.py)."""
TENSORBOARD_DIR = "tensorboard"
"""The Trainer's TensorBoard logs inside a run folder."""
EVAL_DIR = "eval"
"""`eval/{valid,test}/`: the report folders that `bertner train` and `bertner evaluate` write."""
SPLIT_METRICS = "metrics.json"
"""A report folder's scores; written last, so a report folder holding it is complete."""
ANNOTATIONS_REPORT = "annotations.json"
"""What reading annotation exports did: per file its format, offset unit, counts, every span changed or dropped,
and how one file was split (data/annotations/report.py); written by `bertner train` and `bertner evaluate`."""
RUN_RECORD = "run.json"
"""An experiment run's record (time, size, memory), written right after training."""
TRIAL_RECORD = "trial.json"
"""A search trial's record inside its run folder."""
SEARCH_CLAIM_FILE = "search.json"
"""A search folder's claim: which study and budget it belongs to."""

# --- an ONNX export (written by `bertner export`) -----------------------------------------------------------
EXPORT_MANIFEST = "export.json"
"""An ONNX export: format version, source, quantization and the parity check's figures."""
ONNX_MODEL = "model.onnx"
"""The exported network: input_ids, attention_mask [, shape_ids] -> logits (batch, seq_len, num_labels)."""
CRF_FILE = "crf.json"
"""A CRF head's transition scores and constraints, for Viterbi outside the ONNX graph."""

# --- an ensemble folder (written by `bertner ensemble`) -----------------------------------------------------
ENSEMBLE_MANIFEST = "ensemble.json"
"""An ensemble folder: its members, whether they were copied into it, their labels."""
MEMBERS_DIR = "members"
"""Copies of the members inside an ensemble folder made with `--copy`."""

# --- beside any model: a run, an export or an ensemble folder ---------------------------------------------------
CALIBRATION_FILE = "calibration.json"
"""The fitted temperature that makes entity scores probabilities (decoding/temperature.py); absent: T = 1."""
