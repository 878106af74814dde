"""Test helpers shared by many modules: the tiny hand-written dataset and a tiny random BERT written to disk.

A plain module, not conftest.py: a test that imports from `conftest` gets whichever conftest.py pytest loaded
last (tests/, tests/cli/, tests/server/ ... each has one).
"""

from __future__ import annotations

import string
from pathlib import Path

import torch
from transformers import BertConfig, BertModel, BertTokenizerFast

from bertner.config import Config, ModelConfig, TrainConfig
from bertner.labels import LabelSet
from bertner.model.build import LoadedModel, build_tagger
from bertner.model.store import save_model

TINY_DATA = Path(__file__).parent / "data" / "tiny"
CONLL_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "conll2003"
PAPER_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "paper.toml"
"""The paper's setting (a linear head, no word-shape features, no CRF, fp32): `train --config PAPER_CONFIG` in the
tests that are about that plain model, since bertner's defaults add a CRF and word-shape features."""


def plain_model_config(encoder: Path | str, **overrides: object) -> ModelConfig:
    """The plain fine-tuned model on `encoder`: a linear head over sub-tokens, no word-shape features, no CRF."""
    return ModelConfig(**{"encoder": str(encoder), "case_features": False, "crf": False, **overrides})


def built_run_config(model_config: ModelConfig) -> Config:
    """The config saved with a run that a test builds rather than trains: fp32, as a trained run on a CPU without
    native bf16 records (the default, bf16 "auto", would make this machine's CPU decide how it is scored)."""
    return Config(model=model_config, train=TrainConfig(bf16=False))


def _vocabulary(whole_words: bool = True) -> list[str]:
    words = set()
    for path in TINY_DATA.glob("*.conll") if whole_words else ():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line and not line.startswith("-DOCSTART-"):
                words.add(line.split()[0].lower())
    letters = list(string.ascii_lowercase + string.digits)
    punctuation = list(string.punctuation)
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    return specials + sorted(words) + letters + [f"##{c}" for c in letters] + punctuation


def write_tiny_bert(folder: Path, max_positions: int = 512, whole_words: bool = True) -> Path:
    """A 2-layer, 32-wide BERT with random weights and a vocabulary that covers the tiny dataset; without
    `whole_words` the vocabulary has characters only, so its tokenizer splits every word into them."""
    folder.mkdir(parents=True, exist_ok=True)
    vocab = _vocabulary(whole_words)
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(vocab=str(folder / "vocab.txt"), do_lower_case=True)
    tokenizer.model_max_length = max_positions
    tokenizer.save_pretrained(folder)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=max_positions,
    )
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    return folder


def write_random_run(
    encoder: Path, folder: Path, labels: LabelSet, crf: bool = False, seed: int = 0, head_std: float = 3.0
) -> Path:
    """A saved, untrained run on the tiny `encoder` whose head (and CRF transitions) have large random scores, so
    that it predicts a mix of entities, and `seed` tells two runs apart. With the default `head_std` most words'
    softmax puts almost all its mass on one label; a smaller one gives spread-out probabilities."""
    model_config = plain_model_config(encoder, crf=crf)
    torch.manual_seed(seed)
    tagger, tokenizer = build_tagger(model_config, labels)
    with torch.no_grad():
        tagger.classifier.weight.normal_(std=head_std)
        if tagger.crf is not None:
            tagger.crf.transitions.normal_(std=2.0)
    save_model(LoadedModel(tagger.eval(), tokenizer, labels, built_run_config(model_config)), folder)
    return folder
