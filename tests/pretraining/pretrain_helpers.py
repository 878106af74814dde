"""Tiny tokenizers and encoders for the pretraining tests, built offline: a WordPiece (BERT) one from tests/tiny_models
and an MPNet-style one (`<s> ... </s>`, `<pad>`, `<mask>`) whose vocabulary has letters only, so its tokenizer splits
every word into them."""

from __future__ import annotations

import random
import string
from pathlib import Path

import torch
from transformers import MPNetConfig, MPNetModel, MPNetTokenizer

from tiny_models import write_tiny_bert

MPNET_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]


def write_tiny_mpnet(folder: Path) -> Path:
    """A 2-layer, 32-wide MPNet with random weights, no MLM head, and a letters-only WordPiece vocabulary."""
    folder.mkdir(parents=True, exist_ok=True)
    letters = list(string.ascii_lowercase)
    vocab = MPNET_SPECIALS + letters + [f"##{c}" for c in letters]
    tokenizer = MPNetTokenizer(vocab={token: i for i, token in enumerate(vocab)}, unk_token="<unk>")
    tokenizer.model_max_length = 512
    tokenizer.save_pretrained(folder)
    config = MPNetConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=514,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
    )
    torch.manual_seed(0)
    MPNetModel(config).save_pretrained(folder)
    return folder


def write_letters_bert(folder: Path) -> Path:
    """The tiny BERT with a letters-only vocabulary: every word is several WordPiece sub-tokens."""
    return write_tiny_bert(folder, whole_words=False)


def random_words(rng: random.Random, count: int) -> list[str]:
    return ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(1, 6))) for _ in range(count)]
