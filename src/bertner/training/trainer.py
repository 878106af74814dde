"""Fine-tuning on the HF Trainer: AdamW, schedule, clipping, bf16 autocast, checkpoints and resume are its.

What bertner adds is evaluation at word level every epoch: valid sentences are windowed and decoded
exactly as `bertner evaluate` does, scored with conlleval's rules, and the best epoch by valid F1 is
kept, with early stopping.

A run survives being killed at any point (issue 12): the run folder is locked for one writer
(training/lock.py) and marked incomplete until the final model is saved (model/build.py), and `--resume`
continues from the last checkpoint that was written whole (the Trainer writes a checkpoint's files in
place, `trainer_state.json` last), deleting a newer one that a kill cut short.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

import torch
from accelerate.utils import extract_model_from_parallel
from transformers import EarlyStoppingCallback, Trainer, TrainingArguments
from transformers.integrations import TensorBoardCallback

from bertner.config import Config
from bertner.config_files import read_saved_config, save_config
from bertner.data.alignment import IGNORE
from bertner.data.conll import Sentence
from bertner.data.corpus import Corpus
from bertner.data.encoding import EncodingPlan, Window, encode
from bertner.evaluation.metrics import score
from bertner.files import write_text_atomic
from bertner.labels import LabelSet
from bertner.layout import ANNOTATIONS_REPORT, CHECKPOINTS_DIR, EPOCH_METRICS_FILE, LABELS_FILENAME, TENSORBOARD_DIR
from bertner.model.build import LoadedModel, build_tagger
from bertner.model.collate import Collator
from bertner.model.decode import TaggerScorer, predict_words
from bertner.model.freezing import count_parameters
from bertner.model.packing import packing_supported
from bertner.model.store import mark_incomplete, save_model
from bertner.model.tagger import Tagger
from bertner.precision import resolve_bf16, with_bf16_decided
from bertner.training.augmentation import AugmentEachEpoch, augmented_dataset, with_augment_seed
from bertner.training.callbacks import EpochHook, EpochHookCallback, EpochMetricsWriter
from bertner.training.checkpoints import last_whole_checkpoint
from bertner.training.distributed import (
    ONE_PROCESS,
    Processes,
    current_processes,
    folder_lock,
    from_main,
    gather_in_order,
    local_main_first,
    shard,
    shard_windows,
    wait_for_everyone,
)
from bertner.training.resume import check_resume
from bertner.training.sampler import length_grouped_sampler
from bertner.training.soft_targets import SoftCollator, SoftTargets, SoftTraining

logger = logging.getLogger(__name__)

__all__ = ["TrainResult", "train_model"]


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
    return encode(
        plan,
        [s.words for s in sentences],
        [[ids[t] for t in s.tags] for s in sentences],
        [s.document for s in sentences],
    )


class NerTrainer(Trainer):
    """A Trainer whose evaluation decodes whole sentences and scores entities with conlleval's rules."""

    def __init__(
        self,
        *args: Any,
        eval_set: EvalSet,
        label_set: LabelSet,
        bf16_eval: bool,
        crf_lr: float | None = None,
        loss_normalizer: float | None = None,
        shuffle_length_groups: bool = False,
        soft: SoftTraining | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.eval_set = eval_set
        self.label_set = label_set
        self.bf16_eval = bf16_eval
        self.crf_lr = crf_lr
        self.loss_normalizer = loss_normalizer
        self.shuffle_length_groups = shuffle_length_groups
        self.soft = soft

    def _get_train_sampler(self, train_dataset: Any = None) -> Any:
        """HF's random sampler, or length-grouped batches (in random order with `shuffle_length_groups`) drawn
        from the data seed and the epoch and grouped by the global batch, the same on every process
        (training/sampler.py). Accelerate gives each process its share of the batches."""
        if self.args.train_sampling_strategy != "group_by_length":
            return super()._get_train_sampler(train_dataset)
        dataset: Any = self.train_dataset if train_dataset is None else train_dataset
        lengths = [len(window.input_ids) for window in dataset.windows]
        args = self.args
        global_batch = args.train_batch_size * args.gradient_accumulation_steps * args.world_size
        return length_grouped_sampler(lengths, global_batch, args.data_seed or 0, self.shuffle_length_groups)

    def compute_loss(
        self, model: Any, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch: Any = None
    ) -> Any:
        """The Trainer's loss; in training with `loss_normalizer` set, the Tagger divides its summed loss by it.
        With soft targets in the batch, their loss combines with the gold one (training/soft_targets.py)."""
        if self.loss_normalizer is not None and model.training:
            inputs = {**inputs, "loss_normalizer": self.loss_normalizer}
        if self.soft is not None and "soft_targets" in inputs:
            loss, outputs = self.soft.loss_of(model, self.accelerator.unwrap_model(model), inputs)
            return (loss, outputs) if return_outputs else loss
        return super().compute_loss(model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch)

    def create_optimizer(self, model: Any = None) -> torch.optim.Optimizer:
        """The Trainer's AdamW, with the CRF's transition scores in their own group when `crf_lr` is set.

        The CRF group has its own learning rate and no weight decay: transition scores are not weights whose
        size needs limiting, and decay would pull the learned constraints of the tag scheme back towards 0.
        """
        opt_model: Any = self.model if model is None else model
        crf_names = {name for name, _ in opt_model.named_parameters() if name.startswith("crf.")}
        if self.optimizer is not None or self.crf_lr is None or not crf_names:
            return super().create_optimizer(model)
        decay = set(self.get_decay_parameter_names(opt_model))
        trainable = [(n, p) for n, p in opt_model.named_parameters() if p.requires_grad]
        groups = [
            {
                "params": [p for n, p in trainable if n not in crf_names and n in decay],
                "weight_decay": self.args.weight_decay,
            },
            {"params": [p for n, p in trainable if n not in crf_names and n not in decay], "weight_decay": 0.0},
            {"params": [p for n, p in trainable if n in crf_names], "weight_decay": 0.0, "lr": self.crf_lr},
        ]
        optimizer_cls, optimizer_kwargs = self.get_optimizer_cls_and_kwargs(self.args, opt_model)
        self.optimizer = optimizer_cls([g for g in groups if g["params"]], **optimizer_kwargs)
        return self.optimizer

    def evaluate(
        self,
        eval_dataset: Any = None,
        ignore_keys: list[str] | None = None,
        metric_key_prefix: str = "eval",
    ) -> dict[str, float]:
        started = time.monotonic()
        tokenizer: Any = self.processing_class
        # Data parallel: each process decodes its share of the sentences, and every process scores all of them.
        processes = Processes(self.args.process_index, self.args.world_size)
        own = shard(len(self.eval_set.sentences), processes)
        predictions = predict_words(
            TaggerScorer(cast(Tagger, self.model), self.bf16_eval),
            shard_windows(self.eval_set.windows, own),
            [len(s.words) for s in self.eval_set.sentences[own.start : own.stop]],
            tokenizer.pad_token_id,
            self.args.per_device_eval_batch_size,
        )
        labels = self.label_set.labels
        predicted = [[labels[i] for i in row] for row in gather_in_order(predictions.label_ids, processes)]
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


def positions_per_batch(
    windows: Sequence[Window], batch_size: int, crf: bool, processes: int = 1, unlabelled: int = 0
) -> float:
    """The mean number of positions a full training batch's loss is taken over: labelled sub-tokens, or with a
    CRF owned words. It is the divisor of `loss_normalization = "corpus"`, and makes that loss equal the
    batch-mean loss on a batch of average make-up.

    With data parallelism the batch is the global one, `batch_size` (per process) x `processes`, and each
    process divides its summed loss by that batch's count / `processes`: DDP averages the processes'
    gradients, so a step's gradient is the global batch's summed loss over its count, as in one process.
    `unlabelled`: windows without labels that batches also draw from (soft targets only).
    """
    if crf:
        total = sum(sum(window.word_starts()) for window in windows)
    else:
        total = sum(sum(1 for label in window.labels or () if label != IGNORE) for window in windows)
    count = len(windows) + unlabelled
    return total / max(count, 1) * min(batch_size * processes, count) / processes


@dataclass(frozen=True)
class TrainResult:
    run_dir: Path
    best_valid_f1: float
    epochs_run: float
    train_seconds: float
    trainable_parameters: int
    total_parameters: int


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
        # The fused AdamW kernel (CPU and CUDA): one pass over all parameters. The unfused "adamw_torch"
        # loops over them in Python on CPU and cost about as much as the backward pass per step there.
        optim="adamw_torch_fused",
        seed=train.seed,
        data_seed=train.seed,
        bf16=resolve_bf16(train.bf16),
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
    config: Config,
    corpus: Corpus,
    run_dir: Path,
    resume: bool = False,
    progress: bool = True,
    encoder_cache: Path | None = None,
    trust_remote_code: bool = False,
    on_epoch: EpochHook | None = None,
    soft_targets: SoftTargets | None = None,
) -> TrainResult:
    """Fine-tune on `corpus.train`, keep the best epoch by valid F1, and save it into `run_dir`.

    `encoder_cache` is where named encoders assembled on first use are kept (model/encoders.py).
    `trust_remote_code` lets an encoder run its own Python code (off unless the user asks).
    `on_epoch(epoch, valid_f1)` is called after each epoch's evaluation; an exception it raises stops training
    and propagates, with the lock released and the folder left marked incomplete (a search's pruner uses it).
    `soft_targets`: per-word target distributions to train on besides the gold labels (training/soft_targets.py).

    Under `torchrun` or `accelerate launch` every process calls this (training/distributed.py): rank 0 alone
    locks and writes `run_dir`, and every process returns once it has saved the model.

    Raises:
        RunFolderBusyError: another live process is training into `run_dir`.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    # "auto" becomes the decision for this machine, and the run's saved config records it.
    setting, config = config.train.bf16, with_bf16_decided(config)
    logger.info("precision: %s (train.bf16 = %s)", "bf16 autocast" if config.train.bf16 else "fp32", setting)
    processes = current_processes()
    with folder_lock(run_dir, processes):
        return _train(
            config,
            corpus,
            run_dir,
            resume,
            progress,
            encoder_cache,
            trust_remote_code,
            on_epoch,
            processes,
            soft_targets,
        )


def _mark_started(run_dir: Path, config: Config, label_set: LabelSet, keep_record: bool) -> None:
    """Mark the folder incomplete and write its config and labels, once nothing can fail before training.

    Until save_model finishes, load_model refuses the folder and says how to resume; labels.json is written
    now so that every reader that recognises a run folder by it (inference/load.py) gets that message.
    A run that fails earlier (an unknown encoder, say) leaves a model saved in the folder before untouched.
    `keep_record`: a resumed run keeps the record it has, which check_resume found to be what it runs.
    """
    mark_incomplete(run_dir, "training")
    if not keep_record:
        save_config(config, run_dir)
    if not (keep_record and (run_dir / LABELS_FILENAME).is_file()):
        write_text_atomic(run_dir / LABELS_FILENAME, json.dumps(list(label_set.labels)) + "\n")


def _train(
    config: Config,
    corpus: Corpus,
    run_dir: Path,
    resume: bool,
    progress: bool,
    encoder_cache: Path | None,
    trust_remote_code: bool,
    on_epoch: EpochHook | None = None,
    processes: Processes = ONE_PROCESS,
    soft_targets: SoftTargets | None = None,
) -> TrainResult:
    from torch.utils.tensorboard import SummaryWriter

    config = with_augment_seed(config)
    keep_record = resume and check_resume(run_dir, config, corpus.label_set)
    torch.manual_seed(config.train.seed)
    with local_main_first(processes):  # an encoder assembled on first use is assembled once per node
        tagger, tokenizer = build_tagger(config.model, corpus.label_set, encoder_cache, trust_remote_code)
    tagger.packing = config.train.packing and packing_supported(tagger.encoder.config)
    if config.train.packing and not tagger.packing:
        logger.info("packing: not supported for this encoder (model/packing.py); batches are padded")
    counts = count_parameters(tagger)
    logger.info(
        "parameters: %d trainable of %d (%.1f%%)", counts.trainable, counts.total, 100 * counts.trainable / counts.total
    )
    plan = EncodingPlan.for_config(config.data, tokenizer, corpus.label_set)
    train_windows = encode_sentences(plan, corpus.train, corpus.label_set)
    augmented = augmented_dataset(config, corpus.train, train_windows, plan, corpus.label_set)
    eval_set = EvalSet(corpus.valid, encode_sentences(plan, corpus.valid, corpus.label_set))
    soft = SoftTraining.build(soft_targets, plan, train_windows) if soft_targets is not None else None
    batch_size, corpus_wide = config.train.batch_size, config.train.loss_normalization == "corpus"
    if soft is not None and corpus_wide:  # the soft loss is taken over owned words, as a CRF's
        soft = replace(soft, normalizer=positions_per_batch(soft.dataset.windows, batch_size, True, processes.count))
    # Rank 0 alone writes metrics.jsonl and TensorBoard logs (training/distributed.py).
    writers = (
        [
            EpochMetricsWriter(run_dir / EPOCH_METRICS_FILE),
            TensorBoardCallback(tb_writer=SummaryWriter(log_dir=str(run_dir / TENSORBOARD_DIR))),
        ]
        if processes.is_main
        else []
    )
    callbacks = [
        *writers,
        EarlyStoppingCallback(early_stopping_patience=config.train.patience),
        *([EpochHookCallback(on_epoch)] if on_epoch is not None else []),
        *([AugmentEachEpoch(augmented)] if augmented is not None else []),
    ]
    trainer = NerTrainer(
        model=tagger,
        args=training_arguments(config, run_dir / CHECKPOINTS_DIR, progress),
        train_dataset=soft.dataset if soft else augmented if augmented is not None else WindowDataset(train_windows),
        eval_dataset=WindowDataset(eval_set.windows),
        data_collator=SoftCollator(Collator(tokenizer.pad_token_id)) if soft else Collator(tokenizer.pad_token_id),
        processing_class=tokenizer,
        callbacks=callbacks,
        eval_set=eval_set,
        label_set=corpus.label_set,
        bf16_eval=resolve_bf16(config.train.bf16),
        crf_lr=config.train.crf_lr,
        loss_normalizer=(
            positions_per_batch(
                train_windows, batch_size, config.model.crf, processes.count, soft.unlabelled_windows if soft else 0
            )
            if corpus_wide
            else None
        ),
        shuffle_length_groups=config.train.shuffle_length_groups,
        soft=soft,
    )
    if processes.is_main:
        _mark_started(run_dir, config, corpus.label_set, keep_record)
        if corpus.annotations is not None:  # what reading annotation exports changed or dropped (data/annotations/)
            write_text_atomic(run_dir / ANNOTATIONS_REPORT, corpus.annotations.to_json())
    started = time.monotonic()
    checkpoint = from_main(processes, lambda: last_whole_checkpoint(run_dir / CHECKPOINTS_DIR)) if resume else None
    if resume and checkpoint is None:
        logger.warning("--resume: no checkpoint in %s; training from the start", run_dir / CHECKPOINTS_DIR)
    trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint is not None else None)
    elapsed = time.monotonic() - started
    # Under bf16, Accelerate wraps the model's forward in autocast; unwrapped, the model in memory runs as a loaded
    # one does (fp32, and bf16 where its scorer asks for it, as evaluation does with the run's train.bf16).
    extract_model_from_parallel(tagger, keep_fp32_wrapper=False)
    if processes.is_main:
        # The saved model carries the run's record: a resumed run's, which may differ in RESUME_MAY_CHANGE only.
        record = read_saved_config(run_dir) if keep_record else config
        save_model(LoadedModel(tagger, tokenizer, corpus.label_set, record), run_dir)
    wait_for_everyone(processes)  # no rank returns (and loads the model) before it is saved
    best = trainer.state.best_metric if trainer.state.best_metric is not None else float("nan")
    return TrainResult(run_dir, float(best), float(trainer.state.epoch or 0), elapsed, counts.trainable, counts.total)
