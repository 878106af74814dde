"""bertner: named-entity recognition with BERT-family encoders.

`from bertner import Predictor` is the Python API for raw text (inference/predictor.py). It is imported
on first use, so `import bertner` stays free of torch and of side effects.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Predictor", "TextEntity"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from bertner.inference import predictor

        return getattr(predictor, name)
    raise AttributeError(f"module 'bertner' has no attribute {name!r}")
