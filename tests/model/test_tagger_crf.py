"""A CRF in the Tagger: it reads each owned word's first sub-token, its loss is the CRF's over words under both
alignments, and predict_words decodes whole sentences with Viterbi, legal IOB2 however many windows a sentence spans."""

from __future__ import annotations

import pytest
import torch

from bertner.config import DataConfig, ModelConfig
from bertner.data.alignment import IGNORE, first_subtokens
from bertner.data.encoding import EncodingPlan, encode
from bertner.labels import LabelSet, Scheme, first_illegal
from bertner.model.build import build_tagger
from bertner.model.collate import Collator
from bertner.model.decode import predict_words
from bertner.model.tagger import Tagger, gather_words
from tiny_models import write_tiny_bert

LABELS = LabelSet.from_types(["LOC", "MISC", "ORG", "PER"])
DATA = DataConfig(max_length=16, window_overlap=4)
WORDS = ("Maria", "Okafor", "flew", "to", "Lisbon", "on", "Tuesday", ".")
TAGS = ("B-PER", "I-PER", "O", "O", "B-LOC", "O", "O", "O")


@pytest.fixture(scope="module")
def crf_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Tagger, EncodingPlan]:
    """A CRF tagger on an encoder of at most 24 positions, so that long sentences must be windowed."""
    folder = write_tiny_bert(tmp_path_factory.mktemp("short-bert"), max_positions=24)
    torch.manual_seed(0)
    tagger, tokenizer = build_tagger(ModelConfig(encoder=str(folder), crf=True), LABELS)
    with torch.no_grad():
        # A larger random head, so that the argmax alone would often be illegal IOB2.
        tagger.classifier.weight.normal_(std=3.0)
    return tagger.eval(), EncodingPlan.for_config(DATA, tokenizer, LABELS)


def _plan(plan: EncodingPlan, alignment: str) -> EncodingPlan:
    return EncodingPlan(plan.tokenizer, plan.max_length, plan.overlap, alignment, tuple(LABELS.inside_of()))


def test_gather_words_packs_each_rows_word_starts_to_the_left() -> None:
    values = torch.tensor([[10, 11, 12, 13], [20, 21, 22, 23]])
    starts = torch.tensor([[False, True, False, True], [True, True, True, False]])
    packed, mask = gather_words(values, starts, fill=-1)
    assert packed.tolist() == [[11, 13, -1], [20, 21, 22]]
    assert mask.tolist() == [[True, True, False], [True, True, True]]
    scores = torch.arange(16.0).reshape(2, 4, 2)  # (batch, seq_len, num_tags)
    packed_scores, _ = gather_words(scores, starts)
    assert packed_scores[0].tolist() == [[2.0, 3.0], [6.0, 7.0], [0.0, 0.0]]


def test_the_crf_loss_is_the_crf_likelihood_at_owned_word_starts_under_both_alignments(
    crf_model: tuple[Tagger, EncodingPlan],
) -> None:
    tagger, plan = crf_model
    assert tagger.crf is not None
    sentences = [list(WORDS), [WORDS[i % len(WORDS)] for i in range(20)]]  # the second spans several windows
    tags = [list(TAGS), [TAGS[i % len(TAGS)] for i in range(20)]]
    ids = [[LABELS.label2id[t] for t in row] for row in tags]
    losses = {}
    for alignment in ("first", "all"):
        windows = encode(_plan(plan, alignment), sentences, ids)
        batch = Collator(plan.tokenizer.pad_token_id)([w.features() for w in windows])
        with torch.no_grad():
            output = tagger(**batch)
        # The oracle: each window's owned words read straight from the windows, scored by the CRF.
        emissions, gold = [], []
        for row, window in enumerate(windows):
            starts = [(p, window.word_ids[p]) for p in first_subtokens(window.word_ids)]
            owned = [(p, w) for p, w in starts if w is not None and window.own_start <= w < window.own_end]
            emissions.append(output.logits[row, [p for p, _ in owned]])
            gold.append(torch.tensor([ids[window.sentence][w] for _, w in owned]))
        padded = torch.nn.utils.rnn.pad_sequence(emissions, batch_first=True)
        tags_tensor = torch.nn.utils.rnn.pad_sequence(gold, batch_first=True)
        mask = torch.nn.utils.rnn.pad_sequence([torch.ones(len(g), dtype=torch.bool) for g in gold], batch_first=True)
        with torch.no_grad():
            expected = tagger.crf(padded, tags_tensor, mask, reduction="token_mean")
        torch.testing.assert_close(output.loss, expected)
        losses[alignment] = output.loss
    assert len(windows) > len(sentences)
    torch.testing.assert_close(losses["first"], losses["all"])


def test_a_crf_loss_needs_word_starts(crf_model: tuple[Tagger, EncodingPlan]) -> None:
    tagger, plan = crf_model
    [window] = encode(plan, [list(WORDS)], [[LABELS.label2id[t] for t in TAGS]])
    batch = Collator(plan.tokenizer.pad_token_id)([window.features()])
    del batch["word_starts"]
    with pytest.raises(ValueError, match="word_starts"):
        tagger(**batch)
    batch = Collator(plan.tokenizer.pad_token_id)([window.features()])
    batch["labels"][batch["word_starts"]] = IGNORE
    with pytest.raises(ValueError, match="no label"):
        tagger(**batch)


def test_each_word_is_a_word_start_in_exactly_one_window(crf_model: tuple[Tagger, EncodingPlan]) -> None:
    _, plan = crf_model
    windows = encode(plan, [[WORDS[i % len(WORDS)] for i in range(300)]])
    marked = [w.word_ids[p] for w in windows for p, start in enumerate(w.word_starts()) if start]
    assert len(windows) > 10
    assert sorted(marked) == list(range(300))  # type: ignore[type-var]


def test_predictions_are_the_viterbi_path_over_first_subtoken_scores(crf_model: tuple[Tagger, EncodingPlan]) -> None:
    tagger, plan = crf_model
    assert tagger.crf is not None
    words = ["Tomas", "Berg", "hired", "Anika", "Rao"]  # one window
    result = predict_words(tagger, encode(plan, [words]), [len(words)], plan.tokenizer.pad_token_id)

    # The oracle: the tokenizer, the model and the CRF called directly.
    encoded = plan.tokenizer(words, is_split_into_words=True, return_tensors="pt")
    with torch.no_grad():
        logits = tagger(encoded["input_ids"], encoded["attention_mask"]).logits[0]
    emissions = logits[first_subtokens(encoded.word_ids(0))]  # (words, num_tags)
    [path] = tagger.crf.decode(emissions.unsqueeze(0), torch.ones(1, len(words), dtype=torch.bool))
    assert list(result.label_ids[0]) == path
    chosen = emissions.softmax(-1)[torch.arange(len(words)), path]
    assert list(result.confidences[0]) == pytest.approx(chosen.tolist())


def test_a_long_sentence_gets_one_legal_prediction_per_word(crf_model: tuple[Tagger, EncodingPlan]) -> None:
    tagger, plan = crf_model
    sentence = [WORDS[i % len(WORDS)] for i in range(3000)]
    windows = encode(plan, [sentence, list(WORDS), []])
    assert max(len(w.input_ids) for w in windows) <= 16
    result = predict_words(tagger, windows, [3000, len(WORDS), 0], plan.tokenizer.pad_token_id, batch_size=32)
    assert [len(row) for row in result.label_ids] == [3000, len(WORDS), 0]
    for row in result.label_ids:
        assert first_illegal([LABELS.labels[i] for i in row], Scheme.IOB2) is None
    assert all(0.0 < p <= 1.0 for row in result.confidences for p in row)

    # Without the CRF the same scores give illegal sequences, so the constraints did the work.
    crf, tagger.crf = tagger.crf, None
    try:
        argmax = predict_words(tagger, windows, [3000, len(WORDS), 0], plan.tokenizer.pad_token_id, batch_size=32)
    finally:
        tagger.crf = crf
    assert first_illegal([LABELS.labels[i] for i in argmax.label_ids[0]], Scheme.IOB2) is not None
