"""HF's own token-classification recipe: the anchor that bertner's training is measured against.

It is the recipe of HF's `run_ner.py`: `AutoModelForTokenClassification`, the tokenizer with truncation,
labels on the first sub-token, `DataCollatorForTokenClassification`, random batches, the `Trainer`, the last
epoch kept. Sentences come from bertner's CoNLL reader so that both sides see the same words and tags, and
predictions are scored at word level with bertner's conlleval scorer.
"""

from __future__ import annotations

import platform
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import (
    AutoModelForTokenClassification,
    AutoTokenizer,
    DataCollatorForTokenClassification,
    Trainer,
    TrainingArguments,
)

from bertner.config import Config
from bertner.config_files import load_config
from bertner.data.conll import Sentence
from bertner.evaluation.metrics import score
from bertner.labels import LabelSet

PAPER_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "paper.toml"
"""bertner's side at the paper's setting, the one HF's recipe has (bertner's defaults are its best setting)."""


@dataclass(frozen=True)
class RecipeSettings:
    """The hyperparameters both sides share."""

    epochs: int = 3
    lr: float = 3e-5
    batch_size: int = 16
    weight_decay: float = 0.1
    seed: int = 42


@dataclass(frozen=True)
class RecipeResult:
    seconds: float
    """Wall time of `Trainer.train`, per-epoch valid evaluation included."""
    valid_f1_per_epoch: tuple[float, ...]
    test_f1: float | None
    """Entity F1 of the last epoch's model on the test sentences, if any were given."""

    @property
    def valid_f1(self) -> float:
        return self.valid_f1_per_epoch[-1]


def machine() -> str:
    """The GPU's name, or the processor and torch's thread count: where a bench's numbers come from."""
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


def bertner_config(
    config_file: Path | None, settings: RecipeSettings, encoder: str, limit_train: int | None, limit_eval: int | None
) -> Config:
    """bertner's side: its config file (or defaults) with the recipe's hyperparameters, and no early stop."""
    train = {**asdict(settings), "patience": settings.epochs}
    data = {"limit_train": limit_train, "limit_eval": limit_eval}
    return load_config(config_file, {"data": data, "model": {"encoder": encoder}, "train": train})


def _features(tokenizer, sentences: Sequence[Sentence], label_set: LabelSet) -> list[dict]:
    ids = label_set.label2id
    encoded = tokenizer([list(s.words) for s in sentences], is_split_into_words=True, truncation=True)
    features = []
    for index, sentence in enumerate(sentences):
        labels, previous = [], None
        for word in encoded.word_ids(index):
            labels.append(-100 if word is None or word == previous else ids[sentence.tags[word]])
            previous = word
        features.append(
            {
                "input_ids": encoded["input_ids"][index],
                "attention_mask": encoded["attention_mask"][index],
                "labels": labels,
            }
        )
    return features


def _word_tags(predictions: np.ndarray, features: list[dict], label_set: LabelSet) -> list[list[str]]:
    """Each word's tag, read at its first sub-token (where the label is not -100)."""
    tags = []
    for row, feature in zip(predictions, features, strict=True):
        tags.append([label_set.labels[p] for p, gold in zip(row, feature["labels"], strict=False) if gold != -100])
    return tags


def train_hf_recipe(
    encoder_path: str,
    train: Sequence[Sentence],
    valid: Sequence[Sentence],
    label_set: LabelSet,
    settings: RecipeSettings,
    test: Sequence[Sentence] = (),
) -> RecipeResult:
    """Train with HF's recipe, score valid after every epoch and, if given, test after the last."""
    tokenizer = AutoTokenizer.from_pretrained(encoder_path)
    torch.manual_seed(settings.seed)
    model = AutoModelForTokenClassification.from_pretrained(
        encoder_path, num_labels=len(label_set), id2label=label_set.id2label, label2id=label_set.label2id
    )
    train_features = _features(tokenizer, train, label_set)
    valid_features = _features(tokenizer, valid, label_set)
    valid_gold = [list(s.tags) for s in valid]
    history: list[float] = []

    def compute_metrics(prediction) -> dict[str, float]:
        predicted = _word_tags(prediction.predictions.argmax(-1), valid_features, label_set)
        history.append(score(valid_gold, predicted).overall.f1)
        return {"f1": history[-1]}

    with tempfile.TemporaryDirectory() as output:
        trainer = Trainer(
            model=model,
            args=TrainingArguments(
                output_dir=output,
                num_train_epochs=settings.epochs,
                learning_rate=settings.lr,
                per_device_train_batch_size=settings.batch_size,
                per_device_eval_batch_size=64,
                weight_decay=settings.weight_decay,
                seed=settings.seed,
                eval_strategy="epoch",
                save_strategy="no",
                logging_strategy="epoch",
                report_to="none",
                use_cpu=not torch.cuda.is_available(),
                disable_tqdm=True,
            ),
            train_dataset=train_features,
            eval_dataset=valid_features,
            data_collator=DataCollatorForTokenClassification(tokenizer),
            processing_class=tokenizer,
            compute_metrics=compute_metrics,
        )
        started = time.monotonic()
        trainer.train()
        elapsed = time.monotonic() - started
        test_f1 = None
        if test:
            test_features = _features(tokenizer, test, label_set)
            trainer.compute_metrics = None  # it scores against the valid sentences
            logits = trainer.predict(test_features).predictions
            predicted = _word_tags(logits.argmax(-1), test_features, label_set)
            test_f1 = score([list(s.tags) for s in test], predicted).overall.f1
    return RecipeResult(elapsed, tuple(history), test_f1)
