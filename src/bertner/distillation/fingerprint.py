"""What a cache of teacher outputs is valid for: a fingerprint of the teacher's files and one of the sentences.

The teacher's fingerprint is the sha256 of every file that defines the model, by path relative to its folder:
a run's weights, config, labels and tokenizer, an export's graph and manifest, an ensemble's manifest and each
member folder's files (a member is fingerprinted where the manifest says it is). What a run folder holds besides
the model (checkpoints, reports, metrics, logs, locks; NOT_MODEL_FILES) is left out, so evaluating the teacher
again does not invalidate its cache. Hashing reads every byte (about a second for mpnet-base's 438 MB here); it is
exact, where sizes and modification times would miss a file rewritten in place and flag a copied one. An HF hub
id is fingerprinted by its name alone (the hub's files are not local): a cache keeps it as long as the name.

The data's fingerprint is the sha256 of the sentences' words and documents, in order: what the teacher saw.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence, Set
from dataclasses import dataclass
from pathlib import Path

from bertner.errors import UserError
from bertner.inference.ensemble.folder import is_ensemble, read_ensemble_manifest
from bertner.layout import (
    ANNOTATIONS_REPORT,
    CHECKPOINTS_DIR,
    EPOCH_METRICS_FILE,
    EVAL_DIR,
    LOCK_FILENAME,
    MEMBERS_DIR,
    RUN_RECORD,
    SEARCH_CLAIM_FILE,
    TENSORBOARD_DIR,
    TRIAL_RECORD,
)

NOT_MODEL_FILES = frozenset(
    {
        CHECKPOINTS_DIR,
        TENSORBOARD_DIR,
        EVAL_DIR,
        EPOCH_METRICS_FILE,
        LOCK_FILENAME,
        RUN_RECORD,
        TRIAL_RECORD,
        SEARCH_CLAIM_FILE,
        ANNOTATIONS_REPORT,
    }
)
"""Names of files and folders of a model folder that do not change what the model computes."""

_CHUNK = 1 << 20


@dataclass(frozen=True)
class TeacherFingerprint:
    """The teacher's model files with their digests, and one digest over all of them."""

    files: tuple[tuple[str, str], ...]
    """(name, sha256) of every file, sorted; a name is `member/relative path` (member 0 for a single model)."""

    @property
    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.files).encode("utf-8")).hexdigest()

    def changes(self, before: TeacherFingerprint) -> list[str]:
        """The names of files added, removed or changed since `before`."""
        now, then = dict(self.files), dict(before.files)
        return sorted(name for name in now.keys() | then.keys() if now.get(name) != then.get(name))


def teacher_fingerprint(teacher: str | Path) -> TeacherFingerprint:
    """The fingerprint of the teacher at `teacher`: a run, export or ensemble folder, or an HF model (folder or id).

    Raises:
        UserError: a file of the teacher cannot be read.
    """
    folder = Path(teacher)
    if not folder.is_dir():
        return TeacherFingerprint(files=((f"hub/{teacher}", "name only"),))
    files: list[tuple[str, str]] = []
    if is_ensemble(folder):
        manifest = read_ensemble_manifest(folder)
        files += [(f"ensemble/{name}", digest) for name, digest in _folder_files(folder, skip={MEMBERS_DIR})]
        for number, member in enumerate(manifest.members):
            location = Path(manifest.location(folder, member))
            if location.is_dir():
                files += [(f"{number}/{name}", digest) for name, digest in _folder_files(location)]
            else:
                files.append((f"{number}/hub/{member.path}", "name only"))
    else:
        files = [(f"0/{name}", digest) for name, digest in _folder_files(folder)]
    return TeacherFingerprint(files=tuple(sorted(files)))


def data_fingerprint(words: Sequence[Sequence[str]], documents: Sequence[int] | None) -> str:
    """sha256 of the sentences' words and their documents (None: every sentence alone), in order."""
    text = json.dumps({"words": [list(sentence) for sentence in words], "documents": documents}, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _folder_files(folder: Path, skip: Set[str] = frozenset()) -> list[tuple[str, str]]:
    """(relative path, sha256) of the model files under `folder`, hidden files (temporary ones) and the top-level
    entries named in `skip` left out."""
    found = []
    for path in sorted(folder.rglob("*")):
        parts = path.relative_to(folder).parts
        hidden = any(part in NOT_MODEL_FILES or part.startswith(".") for part in parts) or parts[0] in skip
        if hidden or not path.is_file():
            continue
        found.append(("/".join(parts), _sha256(path)))
    return found


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as stream:
            while chunk := stream.read(_CHUNK):
                digest.update(chunk)
    except OSError as error:
        raise UserError(f"{path}: cannot read the teacher's file: {error.strerror}") from error
    return digest.hexdigest()
