"""Load any model bertner can tag with, behind one interface: a run folder, an ONNX export, or an HF model.

- a bertner run folder (`labels.json`, written by `bertner train`): PyTorch, or onnxruntime with
  `backend="onnx"` (exported in memory, without the parity check that `bertner export` runs);
- an export folder (`export.json`, written by `bertner export`): onnxruntime;
- any HF token-classification model, a folder or a hub id whose config has `id2label` (for example one
  fine-tuned with HF's `run_ner.py`): PyTorch, its label names read as tags (inference/hf_labels.py).

A folder's calibration (layout.CALIBRATION_FILE, written by `bertner train` and `bertner calibrate`) comes with
the model: its entity probabilities are calibrated on every backend.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from bertner.config import Config, DataConfig, ModelConfig
from bertner.decoding.temperature import read_calibration
from bertner.errors import MissingExtraError, UserError
from bertner.inference.hf_labels import read_model_labels
from bertner.inference.model import HFScorer, InferenceModel
from bertner.layout import CALIBRATION_FILE, ENSEMBLE_MANIFEST, EXPORT_MANIFEST, HF_CONFIG, LABELS_FILENAME

logger = logging.getLogger(__name__)

BACKENDS = ("auto", "torch", "onnx")


def _load_hf(name: str) -> InferenceModel:
    from transformers import AutoConfig, AutoModelForTokenClassification

    from bertner.model.tokenizer import load_tokenizer

    try:
        hf_config = AutoConfig.from_pretrained(name, trust_remote_code=False)
    except (OSError, ValueError) as error:  # transformers: no such folder or hub id, or no config a class reads
        raise UserError(
            f"{name}: not a bertner run folder (no {LABELS_FILENAME}), not an export ({EXPORT_MANIFEST}), "
            f"and no HF model could be loaded from it: {error}"
        ) from error
    labels = read_model_labels(getattr(hf_config, "id2label", None) or {}, f"{name}/{HF_CONFIG}")
    # Weights only from safetensors: a pickled .bin could run code as it loads.
    try:
        model = AutoModelForTokenClassification.from_pretrained(name, use_safetensors=True, trust_remote_code=False)
    except (OSError, ValueError) as error:  # transformers: no safetensors weights, or a class it cannot build
        raise UserError(f"{name}: cannot load the model's weights (safetensors only): {error}") from error
    model.eval()
    # An HF model was trained on sentences alone, with no word-shape features or CRF of bertner's.
    config = Config(data=DataConfig(context=0), model=ModelConfig(encoder=name, case_features=False, crf=False))
    logger.info("HF token-classification model %s: %s labels, read as %s", name, len(labels.tags), labels.scheme.value)
    return InferenceModel(HFScorer(model), load_tokenizer(name), labels, config, "hf", name, "torch")


def _fp32_only(bf16: bool | str, what: str) -> None:
    """Refuse `--bf16 true` for a model that runs in fp32 only: an ONNX graph, an HF model."""
    if bf16 is True:
        raise UserError(f"{what} runs in fp32; --bf16 true applies to a run folder on PyTorch")


def load_inference_model(
    path: str | Path, backend: str = "auto", threads: int | None = None, bf16: bool | str = "auto"
) -> InferenceModel:
    """The model at `path` (a folder, or an HF hub id) on the backend asked for.

    Args:
        backend: `auto` (an export runs on onnxruntime, anything else on PyTorch), `torch` or `onnx`.
        threads: intra-op threads of the backend; None leaves the library's default.
        bf16: bf16 autocast of a run folder on PyTorch (true, false, or "auto": as the loading machine decides,
            precision.py bf16_at_load); an ONNX graph and an HF model run in fp32 and refuse true.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be at least 1, not {threads}")
    if backend == "onnx":
        _fp32_only(bf16, "--backend onnx: an ONNX graph")
    folder = Path(path)
    if (folder / ENSEMBLE_MANIFEST).is_file():
        raise UserError(
            f"{folder}: an ensemble folder ({ENSEMBLE_MANIFEST}), not one model, so it cannot be exported; export "
            "each member and make an ensemble of the exports (bertner ensemble EXPORT1 EXPORT2 ... --output DIR)"
        )
    if (folder / EXPORT_MANIFEST).is_file():
        _fp32_only(bf16, f"{folder}: an ONNX export")
        if backend == "torch":
            raise UserError(f"{folder}: an ONNX export runs on onnxruntime only; use --backend onnx or auto")
        from bertner.inference.onnx.runtime import load_export

        # onnxruntime alone: neither torch nor transformers is imported for an export
        return _calibrated(load_export(folder, threads), folder)
    _torch_threads(threads)
    if (folder / LABELS_FILENAME).is_file():
        from bertner.model.store import load_model

        model = InferenceModel.from_loaded(load_model(folder), str(folder), bf16)
    else:
        _fp32_only(bf16, f"{path}: an HF model")
        model = _load_hf(str(path))
    if backend != "onnx":
        return _calibrated(model, folder)
    from bertner.inference.onnx.graph import to_onnx

    return _calibrated(to_onnx(model, threads=threads), folder)


def _calibrated(model: InferenceModel, folder: Path) -> InferenceModel:
    """`model` with the calibration saved in its folder (layout.CALIBRATION_FILE), if there is one."""
    calibration = read_calibration(folder / CALIBRATION_FILE) if folder.is_dir() else None
    if calibration is None:
        return model
    logger.info("%s: entity scores calibrated with %s", folder, calibration.describe())
    return dataclasses.replace(model, calibration=calibration)


def _torch_threads(threads: int | None) -> None:
    """PyTorch's intra-op threads, before a PyTorch model loads; a missing torch names the extra to install."""
    try:
        import torch
    except ImportError as error:
        raise MissingExtraError(
            f"a run folder or an HF model runs on PyTorch: pip install 'bertner[train]' ({error}); an export "
            "(bertner export) runs without it"
        ) from error
    if threads is not None:
        torch.set_num_threads(threads)
