"""Every supported encoder family trains, saves, loads and predicts with correct character offsets.

Each family gets a tiny random model and a tokenizer of its own kind, trained here on the tiny data with the
`tokenizers` library: WordPiece (BERT, DistilBERT, ELECTRA, MPNet), byte-level BPE without a prefix space as
RoBERTa ships it (load_tokenizer must add one), and SentencePiece-style Unigram (ALBERT, DeBERTa-v2).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
import transformers
from tokenizers import ByteLevelBPETokenizer, SentencePieceUnigramTokenizer

from bertner.config_files import load_config
from bertner.data.conll import read_conll
from bertner.data.corpus import load_corpus
from bertner.data.segment import segment
from bertner.inference.model import InferenceModel
from bertner.inference.predictor import Predictor
from bertner.model.build import build_tagger
from bertner.model.freezing import freeze, transformer_layers
from bertner.model.store import load_model
from bertner.training.trainer import train_model
from tiny_models import TINY_DATA, write_tiny_bert

MAX_LENGTH = 64
TINY = {"num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64, "hidden_size": 32}
TEXT = "Maria Okafor flew to Zürich's U.S. office, 3.5 km away."


def _texts() -> list[str]:
    return [" ".join(s.words) for split in ("train", "dev", "test") for s in read_conll(TINY_DATA / f"{split}.conll")]


def _wordpiece(folder: Path, cls: type, specials: dict[str, str]) -> Any:
    """A WordPiece tokenizer of class `cls` over the tiny BERT vocabulary, with the family's special tokens."""
    words = (write_tiny_bert(folder / "bert-vocab") / "vocab.txt").read_text(encoding="utf-8").split()
    vocab = list(dict.fromkeys([*specials.values(), *words[5:]]))  # the tiny BERT's five specials replaced
    return cls(vocab={token: i for i, token in enumerate(vocab)}, **specials)


def _unigram(cls: type, specials: dict[str, str]) -> Any:
    trainer = SentencePieceUnigramTokenizer()
    tokens = list(specials.values())
    trainer.train_from_iterator(
        _texts(), vocab_size=150, special_tokens=tokens, unk_token=specials["unk_token"], show_progress=False
    )
    vocab = [tuple(piece) for piece in json.loads(trainer.to_str())["model"]["vocab"]]
    return cls(vocab=vocab, **specials)


def _byte_level_bpe(cls: type) -> Any:
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    trainer = ByteLevelBPETokenizer()
    trainer.train_from_iterator(_texts(), vocab_size=400, min_frequency=1, special_tokens=specials, show_progress=False)
    model = json.loads(trainer.to_str())["model"]
    return cls(vocab=model["vocab"], merges=[tuple(merge) for merge in model["merges"]])


BERT_SPECIALS = {"pad_token": "[PAD]", "unk_token": "[UNK]", "cls_token": "[CLS]", "sep_token": "[SEP]"}
MPNET_SPECIALS = {"bos_token": "<s>", "pad_token": "<pad>", "eos_token": "</s>", "unk_token": "[UNK]"}
ALBERT_SPECIALS = {"pad_token": "<pad>", "unk_token": "<unk>", "cls_token": "[CLS]", "sep_token": "[SEP]"}


def _bert_family(config_cls: type, tokenizer_cls: type, **extra: Any) -> Callable[[Path], tuple[Any, Any]]:
    def make(folder: Path) -> tuple[Any, Any]:
        tokenizer = _wordpiece(folder, tokenizer_cls, {**BERT_SPECIALS, "mask_token": "[MASK]"})
        return tokenizer, config_cls(vocab_size=len(tokenizer), max_position_embeddings=MAX_LENGTH, **extra)

    return make


def _roberta(folder: Path) -> tuple[Any, Any]:
    tokenizer = _byte_level_bpe(transformers.RobertaTokenizer)
    # RoBERTa's positions start after the padding id, so it needs two more than the longest input.
    config = transformers.RobertaConfig(
        vocab_size=len(tokenizer), max_position_embeddings=MAX_LENGTH + 2, pad_token_id=1, **TINY
    )
    return tokenizer, config


def _mpnet(folder: Path) -> tuple[Any, Any]:
    tokenizer = _wordpiece(folder, transformers.MPNetTokenizer, {**MPNET_SPECIALS, "mask_token": "<mask>"})
    config = transformers.MPNetConfig(
        vocab_size=len(tokenizer), max_position_embeddings=MAX_LENGTH + 2, pad_token_id=tokenizer.pad_token_id, **TINY
    )
    return tokenizer, config


def _albert(folder: Path) -> tuple[Any, Any]:
    tokenizer = _unigram(transformers.AlbertTokenizer, {**ALBERT_SPECIALS, "mask_token": "[MASK]"})
    config = transformers.AlbertConfig(
        vocab_size=len(tokenizer), embedding_size=16, max_position_embeddings=MAX_LENGTH, pad_token_id=0, **TINY
    )
    return tokenizer, config


def _deberta_v2(folder: Path) -> tuple[Any, Any]:
    tokenizer = _unigram(transformers.DebertaV2Tokenizer, {**BERT_SPECIALS, "mask_token": "[MASK]"})
    config = transformers.DebertaV2Config(
        vocab_size=len(tokenizer),
        max_position_embeddings=MAX_LENGTH,
        pad_token_id=tokenizer.pad_token_id,
        relative_attention=True,
        position_buckets=16,
        pos_att_type=["p2c", "c2p"],
        position_biased_input=False,
        norm_rel_ebd="layer_norm",
        share_att_key=True,
        **TINY,
    )
    return tokenizer, config


ARCHITECTURES: dict[str, Callable[[Path], tuple[Any, Any]]] = {
    "bert": _bert_family(transformers.BertConfig, transformers.BertTokenizer, **TINY),
    "roberta": _roberta,
    "distilbert": _bert_family(
        transformers.DistilBertConfig, transformers.DistilBertTokenizer, dim=32, n_layers=2, n_heads=2, hidden_dim=64
    ),
    "albert": _albert,
    "deberta-v2": _deberta_v2,
    "electra": _bert_family(transformers.ElectraConfig, transformers.ElectraTokenizer, embedding_size=16, **TINY),
    "mpnet": _mpnet,
}


def _write_encoder(name: str, folder: Path) -> Path:
    tokenizer, config = ARCHITECTURES[name](folder)
    tokenizer.model_max_length = MAX_LENGTH
    tokenizer.save_pretrained(folder)
    torch.manual_seed(0)
    transformers.AutoModel.from_config(config).save_pretrained(folder)
    return folder


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_each_architecture_trains_saves_loads_and_predicts_with_exact_offsets(
    name: str, tiny_data: Path, tmp_path: Path
) -> None:
    encoder = _write_encoder(name, tmp_path / "encoder")
    config = load_config(
        None,
        {
            "model": {"encoder": str(encoder), "crf": False, "case_features": False},  # the HF layout, checked below
            "train": {"epochs": 1, "lr": 1e-3, "batch_size": 4},
        },
    )
    corpus = load_corpus(str(tiny_data), config.data)
    run_dir = tmp_path / "run"
    result = train_model(config, corpus, run_dir, progress=False)
    assert result.epochs_run == 1.0

    model = load_model(run_dir)
    assert model.tagger.encoder.config.model_type == name
    words = [w.text for w in segment(TEXT)]
    encoded = model.tokenizer([words], is_split_into_words=True)
    assert set(encoded.word_ids(0)) - {None} == set(range(len(words)))  # no word lost by the tokenizer
    # Pre-split words are encoded as in running text (RoBERTa: with the prefix space it was pretrained with).
    split = model.tokenizer([["Maria", "flew", "to"]], is_split_into_words=True, add_special_tokens=False)
    assert split["input_ids"][0] == model.tokenizer("Maria flew to", add_special_tokens=False)["input_ids"]
    # The HF layout: the Auto class gives the same scores as bertner's tagger.
    hf_model = transformers.AutoModelForTokenClassification.from_pretrained(run_dir).eval()
    ids = torch.tensor(encoded["input_ids"])
    with torch.no_grad():
        torch.testing.assert_close(
            hf_model(input_ids=ids).logits, model.tagger(ids, torch.ones_like(ids)).logits, rtol=1e-4, atol=1e-5
        )
    with torch.no_grad():
        # Every word B-PER, so every word is an entity whose offsets can be checked.
        model.tagger.classifier.bias[model.label_set.label2id["B-PER"]] = 50.0
    [entities] = Predictor(InferenceModel.from_loaded(model)).predict([TEXT])
    assert [e.text for e in entities] == words
    assert all(e.text == TEXT[e.start : e.end] for e in entities)


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_each_architecture_has_freezable_layers_and_lora_defaults(name: str, tmp_path: Path) -> None:
    encoder = _write_encoder(name, tmp_path / "encoder")
    labels = load_corpus(str(TINY_DATA), load_config(None).data).label_set
    plain, _ = build_tagger(load_config(None, {"model": {"encoder": str(encoder)}}).model, labels)
    if name == "albert":
        with pytest.raises(ValueError, match="ALBERT reuses one set of layer weights"):
            freeze(plain.encoder, embeddings=False, layers=1)
    else:
        layers = transformer_layers(plain.encoder)
        assert len(layers) == 2
        freeze(plain.encoder, embeddings=False, layers=1)
        assert not any(p.requires_grad for p in layers[0].parameters())
        assert all(p.requires_grad for p in layers[1].parameters())
    freeze(plain.encoder, embeddings=True, layers=0)
    assert not any(p.requires_grad for p in plain.encoder.embeddings.parameters())
    assert plain.encoder.get_input_embeddings().weight.requires_grad is False
    lora, _ = build_tagger(load_config(None, {"model": {"encoder": str(encoder), "lora": True}}).model, labels)
    adapted = [n for n, p in lora.named_parameters() if p.requires_grad and n.startswith("encoder.")]
    assert adapted and all("lora_" in n for n in adapted)
    # One A and one B matrix per target per layer; ALBERT's shared layer has one set.
    assert len(adapted) == 2 * 2 * (1 if name == "albert" else 2)
