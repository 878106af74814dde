"""The tokenizer read from tokenizer.json with the `tokenizers` library alone gives the windows HF's fast tokenizer
gives: the oracle is transformers' tokenizer loaded from the same folder, as bertner loaded it before exports ran
without transformers (model/tokenizer.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import transformers
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tokenizers import ByteLevelBPETokenizer, SentencePieceUnigramTokenizer

from bertner.config import DataConfig
from bertner.data.conll import read_conll
from bertner.data.encoding import EncodingPlan, encode, model_limit
from bertner.data.tokenizer_file import FileTokenizer, load_file_tokenizer
from bertner.errors import UserError
from bertner.labels import LabelSet
from bertner.model.tokenizer import load_tokenizer
from tiny_models import TINY_DATA, write_tiny_bert

LABELS = LabelSet.from_types(["LOC", "MISC", "ORG", "PER"])
# Words a tokenizer treats specially: accents and case, control and zero-width characters (dropped, so the word
# has no piece), CJK (split per character), a special token's text, digits and punctuation, emoji (bytes).
TRICKY = ["Zürich", "ÉCOLE", "naïve", "\x07", "\u200b", "中文字", "[SEP]", "<s>", "3.5", "U.S.", "don't", "🙂", "Ω"]


def _texts() -> list[str]:
    return [" ".join(s.words) for split in ("train", "dev", "test") for s in read_conll(TINY_DATA / f"{split}.conll")]


def _bert(folder: Path) -> Any:
    return transformers.AutoTokenizer.from_pretrained(write_tiny_bert(folder / "bert"))


def _roberta(folder: Path) -> Any:
    """Byte-level BPE as RoBERTa ships it, without a prefix space: load_tokenizer adds one."""
    trainer = ByteLevelBPETokenizer()
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    trainer.train_from_iterator(_texts(), vocab_size=400, min_frequency=1, special_tokens=specials, show_progress=False)
    model = json.loads(trainer.to_str())["model"]
    return transformers.RobertaTokenizer(vocab=model["vocab"], merges=[tuple(m) for m in model["merges"]])


def _unigram(folder: Path) -> Any:
    specials = {"pad_token": "<pad>", "unk_token": "<unk>", "cls_token": "[CLS]", "sep_token": "[SEP]"}
    trainer = SentencePieceUnigramTokenizer()
    trainer.train_from_iterator(
        _texts(), vocab_size=150, special_tokens=list(specials.values()), unk_token="<unk>", show_progress=False
    )
    vocab = [tuple(piece) for piece in json.loads(trainer.to_str())["model"]["vocab"]]
    return transformers.AlbertTokenizer(vocab=vocab, **specials)


FAMILIES: dict[str, Callable[[Path], Any]] = {"wordpiece": _bert, "byte-level-bpe": _roberta, "unigram": _unigram}


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def saved(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, FileTokenizer]:
    """HF's tokenizer as bertner loads it, and the FileTokenizer of the folder it saves (as a run or export does)."""
    folder = tmp_path_factory.mktemp(request.param)
    FAMILIES[request.param](folder).save_pretrained(folder / "encoder")
    hf = load_tokenizer(str(folder / "encoder"))
    hf.save_pretrained(folder / "export")
    return hf, load_file_tokenizer(folder / "export")


def _same_encoding(hf: Any, mine: FileTokenizer, sentences: list[list[str]], specials: bool) -> None:
    theirs = hf(sentences, is_split_into_words=True, add_special_tokens=specials)
    ours = mine(sentences, is_split_into_words=True, add_special_tokens=specials)
    assert ours["input_ids"] == theirs["input_ids"]
    for index in range(len(sentences)):
        assert ours.word_ids(index) == theirs.word_ids(index)


def test_special_ids_and_the_length_limit_are_hfs(saved: tuple[Any, FileTokenizer]) -> None:
    hf, mine = saved
    assert (mine.pad_token_id, mine.unk_token_id) == (hf.pad_token_id, hf.unk_token_id)
    assert model_limit(mine) == model_limit(hf)


def test_tricky_words_and_the_tiny_corpus_encode_as_with_hf(saved: tuple[Any, FileTokenizer]) -> None:
    hf, mine = saved
    corpus = [s.words for s in read_conll(TINY_DATA / "train.conll")]
    for specials in (False, True):
        _same_encoding(hf, mine, [*corpus, TRICKY, ["a"], []], specials)
    # The windows data/encoding.py cuts (specials probed, pieces, a word with no piece) are the same too.
    limits = {EncodingPlan.for_config(DataConfig(max_length=100_000), t, LABELS).max_length for t in saved}
    assert limits == {model_limit(hf)}
    windows = [encode(EncodingPlan.for_config(DataConfig(max_length=16), t, LABELS), [*corpus, TRICKY]) for t in saved]
    assert windows[0] == windows[1]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    sentences=st.lists(
        st.lists(st.text(st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=8), max_size=6),
        min_size=1,
        max_size=3,
    )
)
def test_any_words_encode_as_with_hf(saved: tuple[Any, FileTokenizer], sentences: list[list[str]]) -> None:
    hf, mine = saved
    _same_encoding(hf, mine, sentences, specials=True)


def test_a_missing_or_damaged_tokenizer_is_refused_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"tokenizer\.json: no such file"):
        load_file_tokenizer(tmp_path)
    (tmp_path / "tokenizer.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(UserError, match=r"tokenizer\.json: cannot load the tokenizer"):
        load_file_tokenizer(tmp_path)


def test_a_byte_level_bpe_without_a_prefix_space_is_refused(tmp_path: Path) -> None:
    """HF encodes pre-split words without a prefix space other than running text; load_tokenizer adds the space
    before a run is trained and saved, so only a hand-made folder can hold such a tokenizer."""
    _roberta(tmp_path).save_pretrained(tmp_path / "raw")
    with pytest.raises(UserError, match="encodes pre-split words differently from running text"):
        load_file_tokenizer(tmp_path / "raw")


def test_the_ids_of_a_batch_are_read_once(saved: tuple[Any, FileTokenizer]) -> None:
    """data/encoding.py reads `["input_ids"]` once per sentence: rebuilding every sentence's list on each read made
    tagging 1,000 sentences in one call quadratic (0.42 s of 1.45 s with MiniLM-L6's int8 export)."""
    _, mine = saved
    encodings = mine([["Maria", "flew"], ["to", "Lisbon"]], is_split_into_words=True, add_special_tokens=False)
    assert encodings["input_ids"] is encodings["input_ids"]
    assert encodings["input_ids"] == [encoding.ids for encoding in encodings.encodings]
