"""What the README and docs/results.md say about the default model agrees with the code (issue 20, defect 6).

HF's Auto classes load only a plain model (tests/model/test_build.py: the word-shape layout is refused), and the
default run has word-shape features and a CRF: the README must say so where it says what HF loads, and no page may
call word-shape features off by default while they are on.
"""

from __future__ import annotations

import re
from pathlib import Path

from bertner.config import ModelConfig

ROOT = Path(__file__).resolve().parents[1]


def _paragraphs(path: Path) -> list[str]:
    """Blank-line-separated paragraphs and list items, each on one line."""
    text = path.read_text(encoding="utf-8")
    pieces = re.split(r"\n\s*\n|\n(?=- )", text)
    return [" ".join(piece.split()) for piece in pieces if piece.strip()]


def test_the_readme_says_hf_does_not_load_the_default_run() -> None:
    assert ModelConfig().crf and ModelConfig().case_features  # the premise: the default run is not plain
    said = [p for p in _paragraphs(ROOT / "README.md") if "AutoModelForTokenClassification" in p]
    assert said, "the README no longer says what HF's Auto classes load"
    for paragraph in said:
        assert re.search(r"default run[^.]*does not", paragraph), paragraph


def test_no_page_calls_word_shape_features_off_by_default() -> None:
    """No sentence says word-shape features are off by default: none that names them, nor a "They ..." or
    "It ..." right after one that does."""
    assert ModelConfig().case_features
    shapes = re.compile(r"word-shape|case feature", re.IGNORECASE)
    for page in (ROOT / "README.md", ROOT / "docs" / "results.md"):
        for paragraph in _paragraphs(page):
            sentences = re.split(r"(?<=[.!?])\s+", paragraph)
            for before, sentence in zip(["", *sentences], sentences, strict=False):
                about_shapes = shapes.search(sentence) or (re.match(r"(They|It)\b", sentence) and shapes.search(before))
                if about_shapes:
                    assert not re.search(r"\b(are|is) off by default", sentence), f"{page.name}: {sentence}"
