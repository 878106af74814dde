"""Fine-tuning on the HF Trainer: AdamW, schedule, clipping, bf16 autocast, checkpoints and resume are its.

What bertner adds is evaluation at word level every epoch: valid sentences are windowed and decoded
exactly as `bertner evaluate` does, scored with conlleval's rules, and the best epoch by valid F1 is
kept, with early stopping.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import EarlyStoppingCallback, Trainer, TrainingArguments
from transformers.integrations import TensorBoardCallback

from bertner.config import Config, save_config
from bertner.data.conll import Sentence
from bertner.data.corpus import Corpus
from bertner.data.encoding import EncodingPlan, Window, encode
from bertner.evaluation.metrics import score
from bertner.labels import LabelSet
from bertner.model.build import LoadedModel, build_tagger, save_model
from bertner.model.collate import Collator
from bertner.model.decode import predict_words
from bertner.training.callbacks import METRICS_FILENAME, EpochMetricsWriter

logger = logging.getLogger(__name__)

CHECKPOINTS_DIR = "checkpoints"
TENSORBOARD_DIR = "tensorboard"


class WindowDataset(torch.utils.data.Dataset):
    """Training windows as the feature dicts the collator pads."""

    def __init__(self, windows: Sequence[Window]) -> None:
        self.windows = windows

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, index: int) -> dict[str, list[int]]:
        return self.windows[index].features()


@dataclass(frozen=True)
class EvalSet:
    """Sentences to score during training, already windowed."""

    sentences: Sequence[Sentence]
    windows: Sequence[Window]


def encode_sentences(plan: EncodingPlan, sentences: Sequence[Sentence], label_set: LabelSet) -> list[Window]:
    ids = label_set.label2id
    return encode(plan, [s.words for s in sentences], [[ids[t] for t in s.tags] for s in sentences])


class NerTrainer(Trainer):
    """A Trainer whose evaluation decodes whole sentences and scores entities with conlleval's rules."""

    def __init__(self, *args: Any, eval_set: EvalSet, label_set: LabelSet, bf16_eval: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.eval_set = eval_set
        self.label_set = label_set
        self.bf16_eval = bf16_eval

    def evaluate(
        self,
        eval_dataset: Any = None,
        ignore_keys: list[str] | None = None,
        metric_key_prefix: str = "eval",
    ) -> dict[str, float]:
        started = time.monotonic()
        predictions = predict_words(
            self.model,
            self.eval_set.windows,
            [len(s.words) for s in self.eval_set.sentences],
            self.processing_class.pad_token_id,
            self.args.per_device_eval_batch_size,
            self.bf16_eval,
        )
        labels = self.label_set.labels
        predicted = [[labels[i] for i in row] for row in predictions.label_ids]
        scores = score([s.tags for s in self.eval_set.sentences], predicted)
        metrics = {
            f"{metric_key_prefix}_precision": scores.overall.precision,
            f"{metric_key_prefix}_recall": scores.overall.recall,
            f"{metric_key_prefix}_f1": scores.overall.f1,
            f"{metric_key_prefix}_accuracy": scores.accuracy,
            f"{metric_key_prefix}_runtime": round(time.monotonic() - started, 2),
        }
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics


@dataclass(frozen=True)
class TrainResult:
    run_dir: Path
    best_valid_f1: float
    epochs_run: float
    train_seconds: float
    trainable_parameters: int


def training_arguments(config: Config, checkpoints: Path, progress: bool) -> TrainingArguments:
    train = config.train
    return TrainingArguments(
        output_dir=str(checkpoints),
        num_train_epochs=train.epochs,
        learning_rate=train.lr,
        per_device_train_batch_size=train.batch_size,
        per_device_eval_batch_size=train.eval_batch_size,
        weight_decay=train.weight_decay,
        warmup_steps=train.warmup_ratio,
        max_grad_norm=train.max_grad_norm,
        lr_scheduler_type=train.lr_scheduler,
        optim="adamw_torch",
        seed=train.seed,
        data_seed=train.seed,
        bf16=train.bf16,
        use_cpu=not torch.cuda.is_available(),
        train_sampling_strategy="group_by_length" if train.group_by_length else "random",
        eval_strategy="epoch",
        save_strategy="epoch",
        logging_strategy="epoch",
        save_total_limit=2,
        load_best_model_at_end=True,
        metric_for_best_model="f1",
        greater_is_better=True,
        remove_unused_columns=False,
        report_to="none",
        disable_tqdm=not progress,
        dataloader_num_workers=0,
    )


def train_model(
    config: Config, corpus: Corpus, run_dir: Path, resume: bool = False, progress: bool = True
) -> TrainResult:
    """Fine-tune on `corpus.train`, keep the best epoch by valid F1, and save it into `run_dir`."""
    from torch.utils.tensorboard import SummaryWriter

    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(config, run_dir)
    torch.manual_seed(config.train.seed)
    tagger, tokenizer = build_tagger(config.model, corpus.label_set)
    trainable = sum(p.numel() for p in tagger.parameters() if p.requires_grad)
    total = sum(p.numel() for p in tagger.parameters())
    logger.info("parameters: %d trainable of %d", trainable, total)
    plan = EncodingPlan.for_config(config.data, tokenizer, corpus.label_set)
    train_windows = encode_sentences(plan, corpus.train, corpus.label_set)
    eval_set = EvalSet(corpus.valid, encode_sentences(plan, corpus.valid, corpus.label_set))
    callbacks = [
        EpochMetricsWriter(run_dir / METRICS_FILENAME),
        EarlyStoppingCallback(early_stopping_patience=config.train.patience),
        TensorBoardCallback(tb_writer=SummaryWriter(log_dir=str(run_dir / TENSORBOARD_DIR))),
    ]
    trainer = NerTrainer(
        model=tagger,
        args=training_arguments(config, run_dir / CHECKPOINTS_DIR, progress),
        train_dataset=WindowDataset(train_windows),
        eval_dataset=WindowDataset(eval_set.windows),
        data_collator=Collator(tokenizer.pad_token_id),
        processing_class=tokenizer,
        callbacks=callbacks,
        eval_set=eval_set,
        label_set=corpus.label_set,
        bf16_eval=config.train.bf16,
    )
    started = time.monotonic()
    has_checkpoint = resume and any((run_dir / CHECKPOINTS_DIR).glob("checkpoint-*"))
    if resume and not has_checkpoint:
        logger.warning("--resume: no checkpoint in %s; training from the start", run_dir / CHECKPOINTS_DIR)
    trainer.train(resume_from_checkpoint=True if has_checkpoint else None)
    elapsed = time.monotonic() - started
    save_model(LoadedModel(tagger, tokenizer, corpus.label_set, config), run_dir)
    best = trainer.state.best_metric if trainer.state.best_metric is not None else float("nan")
    return TrainResult(run_dir, float(best), float(trainer.state.epoch or 0), elapsed, trainable)
