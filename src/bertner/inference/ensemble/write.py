"""Make an ensemble folder (`bertner ensemble`): check that every member loads and has the ensemble's labels,
then write `ensemble.json` (inference/ensemble/folder.py), and with `copy` the members' model files, in one step.

Nothing is written unless every member passed: the folder is staged beside the output and renamed into place.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bertner.errors import UserError
from bertner.files import replace_folder
from bertner.inference.ensemble.folder import EnsembleManifest, MemberEntry, is_ensemble
from bertner.inference.ensemble.model import EnsembleModel
from bertner.inference.load import load_inference_model
from bertner.layout import CUSTOM_ENCODER_DIR, ENSEMBLE_MANIFEST, MEMBERS_DIR

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class EnsembleWritten:
    """What `make_ensemble` wrote, and how the ensemble decodes."""

    output: Path
    manifest: EnsembleManifest
    backend: str
    viterbi: bool
    """Some member has a CRF, so the ensemble decodes whole sentences with Viterbi (inference/ensemble/model.py)."""


def check_output(output: Path) -> None:
    """Refuse an output that exists and is not an empty folder or an earlier ensemble (which is replaced)."""
    if not output.exists():
        return
    if not output.is_dir():
        raise UserError(f"{output}: exists and is not a folder")
    if any(output.iterdir()) and not is_ensemble(output):
        raise UserError(f"{output}: a folder that is neither empty nor an earlier ensemble; refusing to write into it")


def _check_sources(sources: Sequence[str], output: Path, copy: bool) -> None:
    if len(sources) < 2:
        raise UserError(f"an ensemble needs at least 2 members, got {len(sources)}")
    target = output.resolve()
    for source in sources:
        folder = Path(source)
        if is_ensemble(folder):
            raise UserError(f"{source}: an ensemble folder; members must be single models (name its members instead)")
        if folder.is_dir() and folder.resolve() in (target, *target.parents):
            raise UserError(f"{source}: a member cannot hold the ensemble's --output {output}")
        if copy and not folder.is_dir():
            raise UserError(f"{source}: not a local folder; --copy copies members' folders (save the model first)")


def _entries(sources: Sequence[str], kinds: Sequence[str], copy: bool) -> tuple[MemberEntry, ...]:
    entries = []
    for number, (source, kind) in enumerate(zip(sources, kinds, strict=True), 1):
        local = Path(source).is_dir()
        recorded = str(Path(source).resolve()) if local else source
        name = _UNSAFE.sub("-", Path(recorded).name) or "member"
        entries.append(MemberEntry(f"{MEMBERS_DIR}/{number}-{name}" if copy else recorded, recorded, kind))
    return tuple(entries)


def _copy_member(source: Path, target: Path) -> None:
    """The files a model loads from: the folder's own files and a custom layout's encoder/ (not checkpoints,
    TensorBoard logs or evaluation reports, which are records of training, not part of the model)."""
    target.mkdir(parents=True)
    for path in source.iterdir():
        if path.is_file():
            shutil.copy2(path, target / path.name)
        elif path.is_dir() and path.name == CUSTOM_ENCODER_DIR:
            shutil.copytree(path, target / path.name)


def make_ensemble(sources: Sequence[str], output: Path, copy: bool = False) -> EnsembleWritten:
    """Write an ensemble of the models at `sources` (run folders, export folders, HF models) to `output`.

    Every member is loaded first (as `auto` loads it: an export on onnxruntime, others on PyTorch), so that
    one that is missing, damaged, or whose labels are not the first member's is a ValueError naming it, and
    nothing is written. `output` must not exist, be empty, or hold an earlier ensemble (replaced). Without
    `copy` the manifest references the members by absolute path (they must stay where they are); with it their
    model files are copied into `output/members/`.
    """
    _check_sources(sources, output, copy)
    check_output(output)
    members = [load_inference_model(source) for source in sources]
    ensemble = EnsembleModel.of(members, str(output))
    manifest = EnsembleManifest(
        _entries(sources, [member.kind for member in members], copy),
        copy,
        ensemble.labels.tags,
        ensemble.labels.scheme.value,
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    # Not mkdtemp: its folder is private (0700), and the folder itself becomes the ensemble.
    staging = output.parent / f".{output.name}.ensemble-{os.getpid()}-{time.time_ns()}"
    staging.mkdir()
    try:
        if copy:
            for source, entry in zip(sources, manifest.members, strict=True):
                _copy_member(Path(source), staging / entry.path)
        text = json.dumps(manifest.to_dict(), indent=2) + "\n"
        (staging / ENSEMBLE_MANIFEST).write_text(text, encoding="utf-8")
        replace_folder(staging, output)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    viterbi = any(member.scorer.crf is not None for member in members)
    return EnsembleWritten(output, manifest, ensemble.backend, viterbi)
