"""Load any model bertner can tag with, behind one interface: a run folder, an ONNX export, or an HF model.

- a bertner run folder (`labels.json`, written by `bertner train`): PyTorch, or onnxruntime with
  `backend="onnx"` (exported in memory, without the parity check that `bertner export` runs);
- an export folder (`export.json`, written by `bertner export`): onnxruntime;
- any HF token-classification model, a folder or a hub id whose config has `id2label` (for example one
  fine-tuned with HF's `run_ner.py`): PyTorch, its label names read as tags (inference/hf_labels.py).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from bertner.config import Config, DataConfig, ModelConfig
from bertner.data.encoding import EncodingPlan, encode
from bertner.files import read_json
from bertner.inference.hf_labels import ModelLabels, read_model_labels
from bertner.labels import LabelSet, Scheme
from bertner.layout import ENSEMBLE_MANIFEST, EXPORT_MANIFEST, HF_CONFIG, LABELS_FILENAME
from bertner.model.crf import CRF
from bertner.model.decode import TaggerScorer, WindowScorer, WordScores, score_words
from bertner.model.precision import resolve_bf16
from bertner.model.tokenizer import load_tokenizer

if TYPE_CHECKING:
    # model/build.py imports transformers' model classes (~130 MB); an export is served without them.
    from bertner.model.build import LoadedModel

logger = logging.getLogger(__name__)

BACKENDS = ("auto", "torch", "onnx")


@dataclass(frozen=True)
class InferenceModel:
    """A model ready to tag words, whatever it was saved as.

    `labels` are the model's own tags in id order (IOB2 for bertner models); predictions are converted to
    IOB2 from `labels.scheme` after decoding. `kind` is `run`, `export` or `hf`; `path` is where it came from.
    """

    scorer: WindowScorer
    tokenizer: Any
    labels: ModelLabels
    config: Config
    kind: str
    path: str
    backend: str

    @property
    def label_set(self) -> LabelSet:
        return LabelSet(self.labels.tags)

    @property
    def types(self) -> tuple[str, ...]:
        return self.labels.types

    def word_scores(
        self,
        words: Sequence[Sequence[str]],
        batch_size: int = 64,
        progress: bool = False,
        documents: Sequence[int] | None = None,
    ) -> WordScores:
        """Each word's scores in this model's label order, encoded with its own tokenizer and data settings
        (windows, document context: `documents[s]` is sentence s's document, None: every sentence alone)."""
        plan = EncodingPlan.for_config(self.config.data, self.tokenizer, self.label_set)
        windows = encode(plan, words, documents=documents)
        counts = [len(w) for w in words]
        return score_words(self.scorer, windows, counts, self.tokenizer.pad_token_id, batch_size, progress)

    @classmethod
    def from_loaded(cls, model: LoadedModel, path: str = "") -> InferenceModel:
        """A trained (or training) bertner model, scored with PyTorch."""
        return cls(
            TaggerScorer(model.tagger, resolve_bf16(model.config.train.bf16)),
            model.tokenizer,
            ModelLabels(model.label_set.labels, Scheme.IOB2),
            model.config,
            "run",
            path,
            "torch",
        )


@dataclass(frozen=True)
class HFScorer:
    """An HF token-classification model as a WindowScorer: its own forward, its own head, no CRF."""

    model: Any

    @property
    def num_labels(self) -> int:
        return int(self.model.config.num_labels)

    @property
    def crf(self) -> CRF | None:
        return None

    @torch.inference_mode()
    def logits(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        output = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        return output.logits.float().cpu()


def _load_hf(name: str) -> InferenceModel:
    from transformers import AutoConfig, AutoModelForTokenClassification

    try:
        hf_config = AutoConfig.from_pretrained(name, trust_remote_code=False)
    except (OSError, ValueError) as error:
        raise ValueError(
            f"{name}: not a bertner run folder (no {LABELS_FILENAME}), not an export ({EXPORT_MANIFEST}), "
            f"and no HF model could be loaded from it: {error}"
        ) from error
    labels = read_model_labels(getattr(hf_config, "id2label", None) or {}, f"{name}/{HF_CONFIG}")
    # Weights only from safetensors: a pickled .bin could run code as it loads.
    model = AutoModelForTokenClassification.from_pretrained(name, use_safetensors=True, trust_remote_code=False).eval()
    # An HF model was trained on sentences alone, with no word-shape features or CRF of bertner's.
    config = Config(data=DataConfig(context=0), model=ModelConfig(encoder=name, case_features=False, crf=False))
    logger.info("HF token-classification model %s: %s labels, read as %s", name, len(labels.tags), labels.scheme.value)
    return InferenceModel(HFScorer(model), load_tokenizer(name), labels, config, "hf", name, "torch")


def load_inference_model(path: str | Path, backend: str = "auto", threads: int | None = None) -> InferenceModel:
    """The model at `path` (a folder, or an HF hub id) on the backend asked for.

    Args:
        backend: `auto` (an export runs on onnxruntime, anything else on PyTorch), `torch` or `onnx`.
        threads: intra-op threads of the backend; None leaves the library's default.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    if threads is not None:
        if threads < 1:
            raise ValueError(f"threads must be at least 1, not {threads}")
        torch.set_num_threads(threads)
    folder = Path(path)
    if (folder / ENSEMBLE_MANIFEST).is_file():
        raise ValueError(
            f"{folder}: an ensemble folder ({ENSEMBLE_MANIFEST}), not one model, so it cannot be exported; export "
            "each member and make an ensemble of the exports (bertner ensemble EXPORT1 EXPORT2 ... --output DIR)"
        )
    if (folder / EXPORT_MANIFEST).is_file():
        if backend == "torch":
            raise ValueError(f"{folder}: an ONNX export runs on onnxruntime only; use --backend onnx or auto")
        from bertner.inference.onnx_backend import load_export

        return load_export(folder, threads)
    if (folder / LABELS_FILENAME).is_file():
        from bertner.model.build import load_model

        model = InferenceModel.from_loaded(load_model(folder), str(folder))
    else:
        model = _load_hf(str(path))
    if backend != "onnx":
        return model
    from bertner.inference.export import to_onnx

    return to_onnx(model, threads=threads)


def read_manifest(folder: Path) -> dict[str, Any]:
    """An export folder's manifest; a damaged one is a ValueError naming the file."""
    path = folder / EXPORT_MANIFEST
    manifest = read_json(path, "the export manifest")
    if not isinstance(manifest, dict):
        raise ValueError(f"{path}: the export manifest must be a JSON object")
    return manifest
