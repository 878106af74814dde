"""Save a trained Tagger into a run folder, and load it back, checked.

A model with the plain linear head (and no CRF or case features) is saved in the standard HF layout
(`config.json` with the label map, `model.safetensors`), so `AutoModelForTokenClassification.from_pretrained(run_dir)`
and `pipeline("ner", model=run_dir)` work on it. A model with extra parts (an MLP head, a CRF, case features)
cannot be expressed in that layout; it is saved as `encoder/config.json` + `tagger.safetensors`, which the HF
Auto classes refuse clearly (no `config.json`) rather than loading with random weights.
Both layouts carry the tokenizer and bertner's resolved config (`bertner.toml`, labels included), from
which `load_model` rebuilds the same head and CRF. Freezing and LoRA only shape training: LoRA adapters
are merged into the encoder's weights on save, so a saved model never needs peft.

Crash safety (issue 12): `save_model` first writes `incomplete.json` into the folder, writes every file into a
staging folder, renames them into place (labels.json first, so that readers that look for it find the marker
too), and deletes the marker last. Training writes the same marker when it starts. `load_model` refuses a folder
with the marker, saying what is missing and how to resume, and checks what it reads against itself: labels.json
against the weights' shapes and the config's label map, safetensors headers, bertner.toml's head against the
layout. Weights are read from safetensors only, and remote code runs only when the caller asks for it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import safetensors.torch
from safetensors import SafetensorError, safe_open
from torch import nn
from transformers import AutoConfig, AutoModelForTokenClassification

from bertner.config import Config
from bertner.config_files import read_saved_config, save_config
from bertner.errors import UserError
from bertner.labels import LabelSet, split_tag
from bertner.layout import (
    CHECKPOINTS_DIR,
    CONFIG_FILENAME,
    CUSTOM_ENCODER_DIR,
    CUSTOM_WEIGHTS,
    HF_CONFIG,
    HF_WEIGHTS,
    INCOMPLETE_MARKER,
    LABELS_FILENAME,
    TOKENIZER_CONFIG,
)
from bertner.model.build import LoadedModel, assemble, hf_classifier, token_model_kwargs
from bertner.model.lora import merged_copy
from bertner.model.tagger import Tagger
from bertner.model.tokenizer import load_tokenizer

logger = logging.getLogger(__name__)


class ModelFolderError(UserError):
    """A model folder that cannot be loaded; the message names the file and what is wrong with it."""


class IncompleteModelError(ModelFolderError):
    """A model folder whose training or save did not finish; the message says what is missing and how to resume."""


class NotAModelFolderError(ModelFolderError, FileNotFoundError):
    """A path that holds no bertner model at all (a FileNotFoundError too, as it was before it was a UserError)."""


def _is_plain(tagger: Tagger) -> bool:
    """Whether the tagger is an encoder and a linear head only, as an HF token-classification model is."""
    return isinstance(tagger.classifier, nn.Linear) and tagger.shape_embedding is None and tagger.crf is None


def _remove_other_layout(run_dir: Path, plain: bool) -> None:
    """Delete a model of the other layout saved earlier in `run_dir`, which would otherwise be loaded instead."""
    if plain:
        (run_dir / CUSTOM_WEIGHTS).unlink(missing_ok=True)
        shutil.rmtree(run_dir / CUSTOM_ENCODER_DIR, ignore_errors=True)
        return
    # Without config.json the HF Auto classes refuse the folder instead of loading the old plain weights.
    for pattern in (HF_CONFIG, "model*.safetensors", "model*.safetensors.index.json"):
        for path in run_dir.glob(pattern):
            path.unlink()


# --- The incomplete marker ---


def _fsync(path: Path) -> None:
    """Flush a file or folder to disk, so that a rename after it cannot be seen before its content."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    except OSError:  # some file systems cannot fsync a folder
        pass
    finally:
        os.close(descriptor)


def mark_incomplete(run_dir: Path, stage: str) -> None:
    """Write the marker that makes `load_model` refuse `run_dir` until `mark_complete` removes it.

    `stage` says what was under way (`training`, `saving`), for the message of a refused load.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    record = {"stage": stage, "pid": os.getpid(), "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    handle, temporary = tempfile.mkstemp(prefix=f".{INCOMPLETE_MARKER}.", dir=run_dir)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(json.dumps(record) + "\n")
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, run_dir / INCOMPLETE_MARKER)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _fsync(run_dir)


def mark_complete(run_dir: Path) -> None:
    """Remove the incomplete marker: every file of the model is in place."""
    _fsync(run_dir)
    (run_dir / INCOMPLETE_MARKER).unlink(missing_ok=True)
    _fsync(run_dir)


def _write_model(model: LoadedModel, folder: Path) -> None:
    """Every file of the model into `folder` (an empty staging folder)."""
    tagger, label_set = model.tagger, model.label_set
    encoder: Any = merged_copy(tagger.encoder)
    encoder_config = encoder.config
    encoder_config.update(token_model_kwargs(label_set))
    token_model = AutoModelForTokenClassification.from_config(encoder_config) if _is_plain(tagger) else None
    target = hf_classifier(token_model) if token_model is not None else None
    if token_model is not None and target is not None:
        token_model.base_model.load_state_dict(encoder.state_dict())
        target.load_state_dict(tagger.classifier.state_dict())
        token_model.save_pretrained(folder)
    else:
        encoder_config.save_pretrained(folder / CUSTOM_ENCODER_DIR)
        state = {f"encoder.{k}": v for k, v in encoder.state_dict().items()}
        state.update({k: v for k, v in tagger.state_dict().items() if not k.startswith("encoder.")})
        safetensors.torch.save_file({k: v.contiguous() for k, v in state.items()}, str(folder / CUSTOM_WEIGHTS))
    model.tokenizer.save_pretrained(folder)
    (folder / LABELS_FILENAME).write_text(json.dumps(list(label_set.labels)) + "\n", encoding="utf-8")
    save_config(model.config, folder)


def _move_into_place(staging: Path, run_dir: Path) -> None:
    """Rename every file of `staging` to the same place under `run_dir`, labels.json first."""
    files = sorted((p for p in staging.rglob("*") if p.is_file()), key=lambda p: p.name != LABELS_FILENAME)
    for path in files:
        _fsync(path)
    for path in files:
        target = run_dir / path.relative_to(staging)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)


_STAGING_PREFIX = ".model-staging-"


def save_model(model: LoadedModel, run_dir: Path) -> None:
    """Save the model into `run_dir` (created if needed) so that a crash at any point leaves a folder that
    `load_model` refuses as incomplete, never one that loads a mix of two models."""
    mark_incomplete(run_dir, "saving")
    for leftover in run_dir.glob(f"{_STAGING_PREFIX}*"):  # from a save that was killed
        shutil.rmtree(leftover, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix=_STAGING_PREFIX, dir=run_dir))
    try:
        _write_model(model, staging)
        _remove_other_layout(run_dir, plain=(staging / HF_WEIGHTS).is_file())
        _move_into_place(staging, run_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    mark_complete(run_dir)


# --- Checks on a saved model ---


def _is_custom(run_dir: Path) -> bool:
    return (run_dir / CUSTOM_WEIGHTS).is_file() or (run_dir / CUSTOM_ENCODER_DIR).is_dir()


def missing_files(run_dir: Path) -> list[str]:
    """The files of a saved model that `run_dir` lacks, by their names inside it."""
    missing = [name for name in (LABELS_FILENAME, CONFIG_FILENAME, TOKENIZER_CONFIG) if not (run_dir / name).is_file()]
    if _is_custom(run_dir):
        weights = [CUSTOM_WEIGHTS, f"{CUSTOM_ENCODER_DIR}/{HF_CONFIG}"]
        missing += [name for name in weights if not (run_dir / name).is_file()]
    elif not (run_dir / HF_WEIGHTS).is_file() or not (run_dir / HF_CONFIG).is_file():
        missing += [f"the weights ({HF_WEIGHTS} and {HF_CONFIG}, or {CUSTOM_WEIGHTS} and {CUSTOM_ENCODER_DIR}/)"]
    return missing


def _resume_hint(run_dir: Path) -> str:
    checkpoints = sorted(
        (run_dir / CHECKPOINTS_DIR).glob("checkpoint-*"), key=lambda p: int(p.name.rpartition("-")[2] or 0)
    )
    if not checkpoints:
        return f"no checkpoint was saved yet; train again with: bertner train --output {run_dir} --data ..."
    return (
        f"its last checkpoint is {checkpoints[-1]}; finish it with: bertner train --resume --output {run_dir} "
        "--data ... (with the options of the interrupted run)"
    )


def check_complete(run_dir: Path) -> None:
    """Raise unless `run_dir` holds a whole saved model: say what is missing and how to resume.

    Raises:
        IncompleteModelError: the folder has the incomplete marker, or training left checkpoints but no model.
        NotAModelFolderError: the folder is not a model folder at all.
    """
    marker = run_dir / INCOMPLETE_MARKER
    missing = missing_files(run_dir)
    if marker.is_file():
        try:
            record = json.loads(marker.read_text(encoding="utf-8"))
            stage = f"{record['stage']} (pid {record['pid']}, since {record['since']})"
        except (OSError, ValueError, KeyError, TypeError):
            stage = "unknown (the marker is unreadable)"
        lacking = f"missing: {', '.join(missing)}" if missing else "its files may be a mix of two saves"
        raise IncompleteModelError(
            f"{run_dir}: the model is incomplete ({marker.name}: {stage} did not finish, or is still running); "
            f"{lacking}; {_resume_hint(run_dir)}"
        )
    if (run_dir / LABELS_FILENAME).is_file() and not missing:
        return
    if (run_dir / CHECKPOINTS_DIR).is_dir():
        raise IncompleteModelError(
            f"{run_dir}: training stopped before the model was saved (missing: {', '.join(missing)}); "
            f"{_resume_hint(run_dir)}"
        )
    if not (run_dir / LABELS_FILENAME).is_file():
        raise NotAModelFolderError(f"{run_dir}: not a bertner model folder (no {LABELS_FILENAME}); train one first")
    raise ModelFolderError(f"{run_dir}: not a whole model folder; missing: {', '.join(missing)}")


def read_labels(path: Path) -> LabelSet:
    """A labels.json: a JSON list of distinct IOB2 tags, `O` first."""
    try:
        labels = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelFolderError(f"{path}: cannot read the label list: {error}") from error
    if not isinstance(labels, list) or not labels or not all(isinstance(label, str) for label in labels):
        raise ModelFolderError(f"{path}: expected a JSON list of tags like ['O', 'B-PER', ...], found {labels!r:.80}")
    for label in labels:
        try:
            split_tag(label)
        except ValueError as error:
            raise ModelFolderError(f"{path}: {error}") from None
    if len(set(labels)) != len(labels) or labels[0] != "O":
        raise ModelFolderError(f"{path}: the tags must be distinct and start with 'O', found {labels!r:.120}")
    return LabelSet(tuple(labels))


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelFolderError(f"{path}: cannot read: {error}") from error
    if not isinstance(value, dict):
        raise ModelFolderError(f"{path}: expected a JSON object")
    return value


def _check_label_map(config_path: Path, label_set: LabelSet, labels_path: Path) -> None:
    """The label map the weights were saved with (config.json's id2label) must be labels.json's."""
    id2label = _read_json(config_path).get("id2label")
    if not isinstance(id2label, dict):
        raise ModelFolderError(f"{config_path}: no id2label label map")
    try:
        saved = [id2label[key] for key in sorted(id2label, key=int)]
    except (ValueError, TypeError) as error:
        raise ModelFolderError(f"{config_path}: id2label keys must be label ids: {error}") from None
    if saved != list(label_set.labels):
        raise ModelFolderError(
            f"{labels_path} lists {len(label_set)} labels {list(label_set.labels)!r:.120}, but the model was saved "
            f"with {len(saved)}: {saved!r:.120} ({config_path}); the head would not match its labels"
        )


def safetensors_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """The tensor names and shapes of a safetensors file, read from its header (checked against its size)."""
    try:
        with safe_open(str(path), framework="pt") as weights:
            return {name: tuple(weights.get_slice(name).get_shape()) for name in weights.keys()}  # noqa: SIM118
    except (SafetensorError, OSError) as error:
        raise ModelFolderError(f"{path}: not a valid safetensors file (truncated or damaged?): {error}") from error


def _check_shapes(module: nn.Module, path: Path, prefix: str = "") -> None:
    """The file must hold exactly the module's tensors, in its shapes."""
    found = safetensors_shapes(path)
    expected = {prefix + name: tuple(t.shape) for name, t in module.state_dict().items()}
    missing = sorted(set(expected) - set(found))
    if missing:
        raise ModelFolderError(f"{path}: missing {len(missing)} tensors the config needs, e.g. {missing[:3]}")
    unexpected = sorted(set(found) - set(expected)) if not prefix else []
    if unexpected:
        raise ModelFolderError(f"{path}: {len(unexpected)} tensors the config has no place for, e.g. {unexpected[:3]}")
    for name, shape in expected.items():
        if found[name] != shape:
            raise ModelFolderError(
                f"{path}: {name} has shape {list(found[name])}, but labels.json and {CONFIG_FILENAME} need "
                f"{list(shape)} (were labels.json or the config edited, or the weights replaced?)"
            )


def _load_custom(run_dir: Path, config: Config, label_set: LabelSet, trust_remote_code: bool) -> Tagger:
    encoder_dir = run_dir / CUSTOM_ENCODER_DIR
    _check_label_map(encoder_dir / HF_CONFIG, label_set, run_dir / LABELS_FILENAME)
    try:
        encoder_config = AutoConfig.from_pretrained(encoder_dir, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as error:  # transformers: a missing or unreadable config.json
        raise ModelFolderError(f"{encoder_dir}: cannot read the encoder's {HF_CONFIG}: {error}") from error
    tagger = assemble(
        AutoModelForTokenClassification.from_config(encoder_config, trust_remote_code=trust_remote_code),
        config.model,
        label_set,
    )
    _check_shapes(tagger, run_dir / CUSTOM_WEIGHTS)
    tagger.load_state_dict(safetensors.torch.load_file(str(run_dir / CUSTOM_WEIGHTS)))
    return tagger


def _load_plain(run_dir: Path, config: Config, label_set: LabelSet, trust_remote_code: bool) -> Tagger:
    model_config = config.model
    if model_config.head != "linear" or model_config.crf or model_config.case_features:
        raise ModelFolderError(
            f"{run_dir / CONFIG_FILENAME} names a model with extra parts (head {model_config.head!r}, crf "
            f"{model_config.crf}, case_features {model_config.case_features}), but the folder holds a plain "
            f"{HF_WEIGHTS}, which has none of them"
        )
    _check_label_map(run_dir / HF_CONFIG, label_set, run_dir / LABELS_FILENAME)
    safetensors_shapes(run_dir / HF_WEIGHTS)
    token_model, info = AutoModelForTokenClassification.from_pretrained(
        run_dir, use_safetensors=True, trust_remote_code=trust_remote_code, output_loading_info=True
    )
    problems = {kind: info.get(kind) for kind in ("missing_keys", "mismatched_keys") if info.get(kind)}
    if problems:
        raise ModelFolderError(f"{run_dir / HF_WEIGHTS}: does not match {HF_CONFIG}: {problems!r:.300}")
    tagger = assemble(token_model, model_config, label_set)
    if tagger.classifier is not hf_classifier(token_model):
        raise ModelFolderError(f"{run_dir / HF_WEIGHTS}: its classifier does not score the {len(label_set)} labels")
    return tagger


def load_model(run_dir: Path, trust_remote_code: bool = False) -> LoadedModel:
    """Load a run directory written by `save_model`, rebuilding the head and CRF its config names.

    Raises:
        IncompleteModelError: training or saving did not finish (what is missing, how to resume).
        ModelFolderError: a damaged or inconsistent file, named, with what is wrong.
        FileNotFoundError: not a model folder.
    """
    check_complete(run_dir)
    config = read_saved_config(run_dir)
    label_set = read_labels(run_dir / LABELS_FILENAME)
    if _is_custom(run_dir):
        tagger = _load_custom(run_dir, config, label_set, trust_remote_code)
    else:
        tagger = _load_plain(run_dir, config, label_set, trust_remote_code)
    tagger.eval()
    try:
        tokenizer = load_tokenizer(str(run_dir), trust_remote_code)
    except Exception as error:  # tokenizers raises bare Exceptions for a damaged tokenizer.json
        raise ModelFolderError(f"{run_dir}: cannot load the tokenizer ({TOKENIZER_CONFIG}, ...): {error}") from error
    return LoadedModel(tagger, tokenizer, label_set, config)
