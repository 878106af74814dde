"""An ensemble folder's manifest, and loading any model folder, an ensemble's included.

An ensemble folder holds `ensemble.json` (layout.py), written by `bertner ensemble`
(inference/ensemble/write.py), and, when its members were copied into it, `members/`:

    {"format": 1, "copied": false, "labels": ["O", "B-LOC", ...], "scheme": "IOB2",
     "members": [{"path": "/abs/runs/a", "source": "/abs/runs/a", "kind": "run"}, ...]}

A member's `path` is an absolute folder or an HF hub id when the members are referenced (`copied` false), and
relative to the ensemble folder when they were copied; `source` is where it was when the ensemble was made.
Members load as they do alone (`load_inference_model`), each with its own tokenizer and settings. The folder's
own `calibration.json` (layout.CALIBRATION_FILE, from `bertner calibrate`) calibrates the ensemble's entity
probabilities; the members' own calibrations are not used, since the ensemble's combined scores differ.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bertner.decoding.temperature import read_calibration
from bertner.errors import UserError
from bertner.files import read_json
from bertner.inference.ensemble.model import EnsembleModel
from bertner.inference.hf_labels import ModelLabels
from bertner.inference.load import load_inference_model
from bertner.inference.tagging import TaggingModel
from bertner.labels import Scheme
from bertner.layout import CALIBRATION_FILE, ENSEMBLE_MANIFEST

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1


@dataclass(frozen=True)
class MemberEntry:
    """One member as the manifest records it."""

    path: str
    """An absolute folder or an HF hub id (referenced), or a folder relative to the ensemble's (copied)."""
    source: str
    """Where the member was when the ensemble was made."""
    kind: str
    """`run`, `export` or `hf`."""


@dataclass(frozen=True)
class EnsembleManifest:
    """The contents of `ensemble.json`."""

    members: tuple[MemberEntry, ...]
    copied: bool
    labels: tuple[str, ...]
    scheme: str
    format: int = FORMAT_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def location(self, folder: Path, member: MemberEntry) -> str:
        """Where `member` is loaded from: inside `folder` when copied, else as recorded."""
        return str(folder / member.path) if self.copied else member.path

    @classmethod
    def from_dict(cls, value: Any, where: Path) -> EnsembleManifest:
        """The manifest in `value`; a missing or mistyped field is a UserError naming `where` and the field."""
        if not isinstance(value, dict):
            raise UserError(f"{where}: the ensemble manifest must be a JSON object")
        if value.get("format") != FORMAT_VERSION:
            raise UserError(f"{where}: format: {value.get('format')!r}; this bertner reads format {FORMAT_VERSION}")
        members, labels = value.get("members"), value.get("labels")
        if not isinstance(members, list) or not members:
            raise UserError(f"{where}: members: expected a non-empty list, got {members!r:.80}")
        entries = []
        for number, member in enumerate(members, 1):
            fields = ("path", "source", "kind")
            if not isinstance(member, dict) or not all(isinstance(member.get(name), str) for name in fields):
                raise UserError(f"{where}: members[{number - 1}]: expected {{'path', 'source', 'kind'}} strings")
            entries.append(MemberEntry(*(member[name] for name in fields)))
        if not isinstance(labels, list) or not labels or not all(isinstance(tag, str) for tag in labels):
            raise UserError(f"{where}: labels: expected a list of tags, got {labels!r:.80}")
        if not isinstance(value.get("copied"), bool):
            raise UserError(f"{where}: copied: expected true or false, got {value.get('copied')!r}")
        schemes = [scheme.value for scheme in Scheme]
        if value.get("scheme") not in schemes:
            raise UserError(f"{where}: scheme: expected one of {schemes}, got {value.get('scheme')!r}")
        return cls(tuple(entries), value["copied"], tuple(labels), value["scheme"])


def is_ensemble(path: str | Path) -> bool:
    return (Path(path) / ENSEMBLE_MANIFEST).is_file()


def read_ensemble_manifest(folder: Path) -> EnsembleManifest:
    path = folder / ENSEMBLE_MANIFEST
    return EnsembleManifest.from_dict(read_json(path, "the ensemble manifest"), path)


def _is_folder_path(manifest: EnsembleManifest, member: MemberEntry) -> bool:
    """Whether the member must be a local folder (copied, or recorded by absolute path) rather than a hub id."""
    return manifest.copied or Path(member.path).is_absolute()


def load_ensemble(
    folder: Path, backend: str = "auto", threads: int | None = None, bf16: bool | str = "auto"
) -> EnsembleModel:
    """The ensemble in `folder`, each member on `backend` (auto: an export on onnxruntime, others on PyTorch).

    Raises ValueError naming the manifest and the member that is missing, cannot be loaded, or whose labels
    are not the ensemble's.
    """
    manifest_path = folder / ENSEMBLE_MANIFEST
    manifest = read_ensemble_manifest(folder)
    members = []
    for number, member in enumerate(manifest.members, 1):
        location = manifest.location(folder, member)
        where = f"{manifest_path}: member {number} of {len(manifest.members)} ({location})"
        if _is_folder_path(manifest, member) and not Path(location).is_dir():
            hint = (
                ""
                if manifest.copied
                else "; members are referenced, not copied: put it back, or make the ensemble again"
            )
            raise UserError(f"{where} is missing: no such folder{hint}")
        try:
            members.append(load_inference_model(location, backend, threads, bf16))
        except UserError as error:  # an internal error is raised as it is, traceback and all
            raise UserError(f"{where}: {error}") from error
    labels = ModelLabels(manifest.labels, Scheme(manifest.scheme))
    calibration = read_calibration(folder / CALIBRATION_FILE)
    try:
        ensemble = EnsembleModel.of(members, str(folder), labels, calibration)
    except UserError as error:
        raise UserError(f"{manifest_path}: {error}") from error
    logger.info("ensemble %s: %s members (%s), %s labels", folder, len(members), ensemble.backend, len(labels.tags))
    return ensemble


def load_tagging_model(
    path: str | Path, backend: str = "auto", threads: int | None = None, bf16: bool | str = "auto"
) -> TaggingModel:
    """The model at `path`: an ensemble folder, or anything `load_inference_model` loads (a run folder, an
    export folder, an HF token-classification model folder or hub id)."""
    if is_ensemble(path):
        return load_ensemble(Path(path), backend, threads, bf16)
    return load_inference_model(path, backend, threads, bf16)
