"""A loaded model behind one interface, whatever it was saved as: `InferenceModel`, and the scorer of an HF model.

Loading (inference/load.py) builds one from a run folder, an ONNX export (inference/onnx/runtime.py) or an
HF token-classification model. Nothing here imports torch until a PyTorch model is scored: an export is
tagged without it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from bertner.config import Config
from bertner.data.encoding import EncodingPlan, encode
from bertner.decoding.temperature import Calibration
from bertner.decoding.windows import WindowScorer, score_windows
from bertner.decoding.words import WordScores
from bertner.inference.hf_labels import ModelLabels
from bertner.labels import LabelSet, Scheme

if TYPE_CHECKING:
    # model/build.py imports transformers' model classes (~130 MB); an export is served without them.
    from bertner.model.build import LoadedModel


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
    calibration: Calibration | None = None
    """The temperature saved beside the model (inference/load.py reads it), applied to its entity probabilities."""

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
        return score_windows(self.scorer, windows, counts, self.tokenizer.pad_token_id, batch_size, progress)

    @classmethod
    def from_loaded(cls, model: LoadedModel, path: str = "", bf16: bool | str = "auto") -> InferenceModel:
        """A trained (or training) bertner model, scored with PyTorch; under bf16 autocast as `bf16` and the
        loading machine decide (precision.py, bf16_at_load: "auto" is fp32 where bf16 is not native)."""
        from bertner.model.decode import TaggerScorer
        from bertner.precision import bf16_at_load

        return cls(
            TaggerScorer(model.tagger, bf16_at_load(bf16, model.config.train.bf16, path or "the model")),
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
    def crf(self) -> None:
        return None

    def logits(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """(batch, seq_len, num_labels) float32 logits of a batch from `pad_windows`."""
        import torch  # only an HF model, loaded with torch, is scored here

        with torch.inference_mode():
            inputs = {name: torch.from_numpy(np.asarray(batch[name])) for name in ("input_ids", "attention_mask")}
            return self.model(**inputs).logits.float().cpu().numpy()
