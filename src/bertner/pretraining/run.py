"""Continued masked-LM pretraining on the HF Trainer (AdamW, warmup and linear decay, bf16 autocast, progress,
checkpoints and resume are its), and the encoder folder it leaves.

The output folder holds, while training, only `checkpoints/` (the Trainer's, with `settings.json`); when training
ends, the encoder (config.json, model.safetensors, the tokenizer's files) and `pretrain.json` are written into a
staging folder beside it, the checkpoints are moved in, and the staging folder replaces the output folder in one
rename (files.replace_folder). So a folder with config.json is a finished encoder whose pretrain.json says how it
was made, and a run killed at any point leaves either the previous finished folder or none, plus the checkpoints
that `--resume` continues from.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from transformers import TrainerCallback, TrainingArguments

from bertner.errors import UserError
from bertner.files import replace_folder, write_text_atomic
from bertner.layout import CHECKPOINTS_DIR
from bertner.model.encoders import resolve_encoder
from bertner.model.tokenizer import load_tokenizer
from bertner.precision import resolve_bf16
from bertner.pretraining.examples import EpochToCollator, LogLastStep, MaskingCollator, WindowDataset, make_windows
from bertner.pretraining.loss import MaskedLMTrainer, single_head, sparse_loss_matches
from bertner.pretraining.model import load_masked_lm, save_encoder
from bertner.pretraining.record import (
    PRETRAIN_RECORD,
    SETTINGS_FILE,
    PretrainSettings,
    check_resumable,
    loss_curve,
    machine,
    run_plan,
    write_plan,
)
from bertner.pretraining.texts import read_texts

logger = logging.getLogger(__name__)

# What the Trainer writes into a checkpoint; trainer_state.json comes last (Trainer._save_checkpoint).
_CHECKPOINT_FILES = ("model.safetensors", "optimizer.pt", "scheduler.pt", "rng_state.pth", "trainer_state.json")


@dataclass(frozen=True)
class PretrainResult:
    output: Path
    steps: int
    final_loss: float | None
    seconds: float
    record: dict[str, Any]


def _check_output(output: Path) -> None:
    """Refuse a folder that holds files `pretrain` did not write: replacing it at the end would delete them."""
    if output.exists() and not output.is_dir():
        raise UserError(f"{output}: exists and is not a folder")
    if not output.is_dir() or not any(output.iterdir()):
        return
    if not ((output / PRETRAIN_RECORD).is_file() or (output / CHECKPOINTS_DIR / SETTINGS_FILE).is_file()):
        raise UserError(
            f"{output}: holds files that bertner pretrain did not write (no {PRETRAIN_RECORD} or "
            f"{CHECKPOINTS_DIR}/{SETTINGS_FILE}); the finished encoder replaces the whole folder, so give a new one"
        )


def _is_whole(checkpoint: Path) -> bool:
    if not all((checkpoint / name).is_file() for name in _CHECKPOINT_FILES):
        return False
    try:
        json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
        with safe_open(str(checkpoint / "model.safetensors"), framework="pt"):
            pass
    except (OSError, ValueError, SafetensorError):
        return False
    return True


def last_whole_checkpoint(checkpoints: Path) -> Path | None:
    """The newest checkpoint written whole; newer ones cut short by a kill are deleted, with a warning."""

    def step(path: Path) -> int:
        number = path.name.rpartition("-")[2]
        return int(number) if number.isdigit() else -1

    for checkpoint in sorted(checkpoints.glob("checkpoint-*"), key=step, reverse=True):
        if _is_whole(checkpoint):
            return checkpoint
        logger.warning("--resume: %s was not written whole (killed while saving it?); deleting it", checkpoint)
        shutil.rmtree(checkpoint)
    return None


def training_arguments(settings: PretrainSettings, checkpoints: Path, progress: bool) -> TrainingArguments:
    return TrainingArguments(
        output_dir=str(checkpoints),
        num_train_epochs=settings.epochs,
        max_steps=settings.max_steps if settings.max_steps is not None else -1,
        learning_rate=settings.lr,
        per_device_train_batch_size=settings.batch_size,
        weight_decay=settings.weight_decay,
        warmup_steps=settings.warmup_ratio,  # below 1: a fraction of the steps (transformers 5)
        lr_scheduler_type="linear",
        optim="adamw_torch_fused",
        seed=settings.seed,
        data_seed=settings.seed,
        bf16=bool(settings.bf16),
        use_cpu=not torch.cuda.is_available(),
        logging_strategy="steps",
        logging_steps=settings.logging_steps,
        save_strategy="steps",
        save_steps=settings.save_steps,
        save_total_limit=1,
        remove_unused_columns=False,
        report_to="none",
        disable_tqdm=not progress,
        dataloader_num_workers=0,
    )


def pretrain(
    settings: PretrainSettings,
    text_files: Sequence[Path],
    output: Path,
    resume: bool = False,
    progress: bool = True,
    encoder_cache: Path | None = None,
    trust_remote_code: bool = False,
    callbacks: Sequence[TrainerCallback] = (),
) -> PretrainResult:
    """Pretrain `settings.encoder` on `text_files` with masked-LM, and save the encoder into `output`.

    Every input is read and checked before anything is written. `callbacks` are added to the Trainer's.

    Raises:
        UserError: a bad input file or setting, an output folder that holds other files, or `resume` with
            settings or inputs other than the checkpoints'.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise UserError("bertner pretrain runs in one process; start it without torchrun or accelerate launch")
    _check_output(output)
    texts, inputs = read_texts(text_files, settings.format)
    path = resolve_encoder(settings.encoder, encoder_cache)
    tokenizer = load_tokenizer(path, trust_remote_code)
    if tokenizer.mask_token is None:
        raise UserError(f"{path}: the tokenizer has no mask token, which masked-LM pretraining needs")
    limit = tokenizer.model_max_length
    if settings.max_length > limit:
        raise UserError(f"--max-length {settings.max_length} is longer than the encoder takes ({limit} sub-tokens)")
    windows = make_windows(tokenizer, texts, settings.max_length, offsets=settings.masking == "word")
    if not windows:
        raise UserError(f"{', '.join(map(str, text_files))}: the texts hold nothing the tokenizer keeps")
    logger.info("%d texts in %d windows of at most %d sub-tokens", len(texts), len(windows), settings.max_length)
    setting, settings = settings.bf16, dataclasses.replace(settings, bf16=resolve_bf16(settings.bf16))
    logger.info("precision: %s (bf16 = %s)", "bf16 autocast" if settings.bf16 else "fp32", setting)
    plan = run_plan(settings, path, inputs)
    checkpoints = output / CHECKPOINTS_DIR
    checkpoint = None
    if resume:
        check_resumable(checkpoints, plan)
        checkpoint = last_whole_checkpoint(checkpoints)
        if checkpoint is None:
            logger.warning("--resume: no checkpoint in %s; pretraining from the start", checkpoints)
    else:
        shutil.rmtree(checkpoints, ignore_errors=True)
        write_plan(checkpoints, plan)

    torch.manual_seed(settings.seed)  # a fresh head's initial weights come from the seed
    masked_lm = load_masked_lm(path, trust_remote_code)
    collator = MaskingCollator(tokenizer, settings.masking, settings.mlm_probability, settings.seed)
    dataset = WindowDataset(windows)
    head = _sparse_head(masked_lm.model, tokenizer, dataset, settings.seed)
    trainer = MaskedLMTrainer(
        model=masked_lm.model,
        head=head,
        args=training_arguments(settings, checkpoints, progress),
        train_dataset=dataset,
        data_collator=collator,
        processing_class=tokenizer,
        callbacks=[EpochToCollator(collator), LogLastStep(), *callbacks],
    )
    started, clock = time.strftime("%Y-%m-%dT%H:%M:%S%z"), time.monotonic()
    trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint is not None else None)
    seconds = time.monotonic() - clock
    curve = loss_curve(trainer.state.log_history)
    record = {
        "source_encoder": {"name": settings.encoder, "path": path, "mlm_head": _head(masked_lm.fresh_head)},
        "inputs": plan["inputs"],
        "texts": len(texts),
        "windows": len(windows),
        "max_length": settings.max_length,
        "masking": collator.description(),
        "head_scores": "the chosen sub-tokens" if head is not None else "every sub-token",
        "settings": plan["settings"],
        "steps": trainer.state.global_step,
        "epochs": trainer.state.epoch,
        "loss": {"final": curve[-1]["loss"] if curve else None, "per_logging_step": curve},
        "time": {
            "started": started,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "seconds": round(seconds, 1),
            "resumed_from_step": _step_of(checkpoint),
        },
        "machine": machine(),
    }
    _write_output(masked_lm.model, tokenizer, record, output)
    final = record["loss"]["final"]
    return PretrainResult(output, trainer.state.global_step, final, seconds, record)


def _sparse_head(model: Any, tokenizer: Any, dataset: WindowDataset, seed: int) -> Any:
    """The model's MLM head if the loss can be taken with it on the chosen sub-tokens only (pretraining/loss.py),
    checked against the model's own loss on a first batch; else None (the model's own loss)."""
    head = single_head(model)
    # A probe masked by its own seeded collator: the global RNG, which training uses, is left as it was.
    probe = MaskingCollator(tokenizer, "token", 0.5, seed)([dataset[i] for i in range(min(8, len(dataset)))])
    if head is not None and sparse_loss_matches(model, head, probe):
        logger.info("masked-LM loss: the head scores the chosen sub-tokens only")
        return head
    logger.info("masked-LM loss: the model's own (its head scores every sub-token)")
    return None


def _head(fresh: Sequence[str]) -> dict[str, Any]:
    return {"fresh": bool(fresh), "initialised": list(fresh)}


def _step_of(checkpoint: Path | None) -> int | None:
    return int(checkpoint.name.rpartition("-")[2]) if checkpoint is not None else None


def _write_output(model: Any, tokenizer: Any, record: dict[str, Any], output: Path) -> None:
    """The encoder, tokenizer and record into a staging folder beside `output`, with the checkpoints moved in,
    which then replaces `output` whole."""
    output.parent.mkdir(parents=True, exist_ok=True)
    # mkdir, not mkdtemp: the folder that becomes `output` gets the umask's permissions, not 0700.
    staging = output.parent / f".{output.name}.staging-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        save_encoder(model, tokenizer, staging)
        write_text_atomic(staging / PRETRAIN_RECORD, json.dumps(record, indent=2) + "\n")
        checkpoints = output / CHECKPOINTS_DIR
        checkpoints.rename(staging / CHECKPOINTS_DIR)
        try:
            replace_folder(staging, output)
        except BaseException:
            (staging / CHECKPOINTS_DIR).rename(checkpoints)
            raise
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    logger.info("encoder saved into %s (bertner train --encoder %s)", output, output)
