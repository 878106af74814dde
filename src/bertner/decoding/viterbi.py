"""The best legal tag path of each sentence under a linear chain (Viterbi), in numpy.

The arithmetic is the torch CRF's (`CRF.decode`, model/crf.py), step for step and in the chain's precision
(float32 for a trained model), so both give the same paths: the same sums in the same order, and ties go to
the lowest tag id in both. Sentences are decoded `batch_size` at a time, longest first, so that a batch holds
almost no padding and the Python loop runs once per word position rather than once per word.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bertner.decoding.chain import LinearChain


def viterbi(chain: LinearChain, sentences: Sequence[np.ndarray], batch_size: int = 64) -> list[np.ndarray]:
    """The highest-scoring legal tag path of each sentence.

    Args:
        chain: the CRF's scores and constraints.
        sentences: one (words, num_tags) array of emissions per sentence; a sentence may have no words.
        batch_size: sentences decoded together.

    Returns:
        One (words,) int64 array of tag ids per sentence, in the order given.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    for index, emissions in enumerate(sentences):
        if emissions.ndim != 2 or emissions.shape[1] != chain.num_tags:
            raise ValueError(f"sentence {index}: emissions must be (words, {chain.num_tags}), got {emissions.shape}")
    paths: list[np.ndarray] = [np.zeros(0, dtype=np.int64)] * len(sentences)
    order = sorted(range(len(sentences)), key=lambda s: len(sentences[s]), reverse=True)
    for begin in range(0, len(order), batch_size):
        chunk = [s for s in order[begin : begin + batch_size] if len(sentences[s])]
        if not chunk:
            continue
        for sentence, path in zip(chunk, _viterbi_batch(chain, [sentences[s] for s in chunk]), strict=True):
            paths[sentence] = path
    return paths


def _viterbi_batch(chain: LinearChain, sentences: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Viterbi over sentences of at least one word each."""
    dtype = chain.transitions.dtype
    start, transitions = chain.constrained()
    lengths = np.array([len(emissions) for emissions in sentences])
    batch, seq_len = len(sentences), int(lengths.max())
    # (batch, seq_len, num_tags), zero-padded at the end as torch's pad_sequence does
    emissions = np.zeros((batch, seq_len, chain.num_tags), dtype=dtype)
    for row, scores in enumerate(sentences):
        emissions[row, : len(scores)] = scores
    # (batch, seq_len)
    mask = np.arange(seq_len)[None, :] < lengths[:, None]
    # (batch, num_tags): the best score of a path ending in each tag at the current word
    best = start + emissions[:, 0]
    # (seq_len - 1, batch, num_tags): the best previous tag of each tag at each later word
    pointers = np.zeros((max(seq_len - 1, 0), batch, chain.num_tags), dtype=np.int64)
    for t in range(1, seq_len):
        # (batch, from, to)
        step = best[:, :, None] + transitions[None, :, :]
        pointers[t - 1] = step.argmax(axis=1)
        best = np.where(mask[:, t, None], step.max(axis=1) + emissions[:, t], best)
    tags = (best + chain.end).argmax(axis=1)
    # (batch, seq_len): walk back from each sentence's own last word; padded positions are left as they are
    out = np.zeros((batch, seq_len), dtype=np.int64)
    rows = np.arange(batch)
    for t in range(seq_len - 1, -1, -1):
        real = t < lengths
        out[:, t] = tags
        if t:
            tags = np.where(real, pointers[t - 1, rows, tags], tags)
    return [out[row, :length] for row, length in enumerate(lengths.tolist())]
