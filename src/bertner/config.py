"""The one place where settings and their defaults live.

A :class:`Config` is built from defaults, then a TOML file, then command-line overrides, in that
order (:func:`load_config`). The resolved config is written into every run directory
(:func:`save_config`) so that a run can be reproduced and a saved model knows how it was made.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from bertner.distill_config import DistillConfig, distill_checks
from bertner.errors import UserError


@dataclass(frozen=True)
class DataConfig:
    """How CoNLL files are read and turned into encoder inputs."""

    tag_column: int = -1
    """Index of the tag column in each line; -1 is the last column."""
    scheme: str = "auto"
    """Tag scheme of the input files: auto, IOB1, IOB2 or BIOES. Converted to IOB2 internally."""
    alignment: str = "first"
    """Which sub-tokens carry a word's label: `first` (the paper's default) or `all` (B->I on continuations)."""
    max_length: int = 256
    """Most sub-tokens per encoder input, special tokens included. Longer sentences are windowed, never cut."""
    window_overlap: int = 32
    """Sub-tokens of context shared by two neighbouring windows of a long sentence."""
    context: int = 0
    """Document context (FLERT): each sentence is encoded with up to this many sub-tokens of the sentences
    before it and as many of those after it in the same document (never across `-DOCSTART-`), as room in
    `max_length` allows. Labels, loss and predictions stay on the sentence's own words. 0: sentences alone."""
    limit_train: int | None = None
    """Use only the first N training sentences (for quick runs)."""
    limit_eval: int | None = None
    """Use only the first N sentences of valid and test (for quick runs)."""
    format: str = "auto"
    """What the files of `--data` are: `auto` (a .json or .jsonl file is an annotation export whose format its keys
    tell, any other file CoNLL), `conll`, or an export format (ANNOTATION_FORMATS; data/annotations/)."""
    annotation: str = "ground_truth"
    """Which of several annotations of a Label Studio task is used: `ground_truth` (the one marked so, else the
    latest not cancelled), `latest` or `first` (not cancelled)."""
    offsets: str = "auto"
    """The unit of an export's offsets: `auto` (checked against the span texts, or word boundaries where there are
    none), `codepoints`, `utf16` (doccano) or `graphemes` (doccano's grapheme mode)."""
    words: str = "segment"
    """How an annotated text is split into words and sentences: `segment`, as `bertner predict` splits raw text, or
    `whitespace` (a sentence per line, whitespace between words: the inverse of `convert` from CoNLL)."""
    misaligned: str = "error"
    """A span that cuts through a word: `error`, or `expand` it to the words it touches, `contract` it to those it
    covers whole, `skip` it. Every span changed or dropped is listed in the run's annotations.json."""
    overlaps: str = "error"
    """Spans that share a word: `error`, or keep the `longest` or the `first`."""
    split: tuple[float, ...] = ()
    """Train, valid and test shares of a single `--data` file, dealt out by document (task); empty: `--data` is a
    folder with the three files."""
    split_seed: int = 0
    """Seed of the shuffle that `split` deals documents out with."""


@dataclass(frozen=True)
class ModelConfig:
    """What network is trained."""

    encoder: str = "minilm-l6"
    """A named offline encoder (minilm-l6), a hub id or a local folder."""
    case_features: bool = True
    """Add a learned word-shape embedding (lower, Title, UPPER, ...) to the input embeddings.
    Uncased encoders lose capitalisation, one of the strongest NER cues (docs/FIELD.md)."""
    classifier_dropout: float = 0.1
    """Dropout on the encoder's output before the head (and inside the MLP head)."""
    head: str = "linear"
    """`linear`: one linear layer over each sub-token (the paper's "softmax" head), saved in HF layout.
    `mlp`: linear -> activation -> dropout -> linear (the paper's ReLU and tanh heads)."""
    head_hidden: int = 256
    """Width of the MLP head's hidden layer; used with `head = "mlp"` only."""
    head_activation: str = "tanh"
    """The MLP head's activation: tanh, relu or gelu; used with `head = "mlp"` only."""
    crf: bool = True
    """Put a linear-chain CRF over words on top of the head: the loss is its negative log-likelihood, and
    prediction is Viterbi decoding constrained to legal IOB2 (model/crf.py)."""
    freeze_embeddings: bool = False
    """Keep the encoder's embedding layer at its pretrained weights (the case-feature embedding still trains)."""
    freeze_layers: int = 0
    """Keep the lowest N transformer layers at their pretrained weights."""
    lora: bool = False
    """Train low-rank adapters (peft) instead of the encoder's weights; the head, CRF and case features train
    fully. Needs `pip install 'bertner[lora]'`. The adapters are merged into the encoder when the model is saved."""
    lora_r: int = 8
    """Rank of each LoRA update."""
    lora_alpha: int = 16
    """LoRA scaling numerator: an update is scaled by lora_alpha / lora_r."""
    lora_dropout: float = 0.1
    """Dropout on the LoRA branch's input."""
    lora_targets: tuple[str, ...] = ()
    """Names of the linear layers that get adapters; empty: the architecture's query and value projections."""


@dataclass(frozen=True)
class TrainConfig:
    """How the network is trained. The defaults are bertner's best measured setting for MiniLM-L6 short of
    document context (with the [model] defaults: word-shape features and a CRF; docs/results.md); other named
    encoders adjust some of them (ENCODER_DEFAULTS). The paper's hyperparameters (lr 3e-5, weight decay 0.1, no
    warmup, no CRF or word-shape features) are configs/paper.toml."""

    epochs: int = 3
    lr: float = 1e-4
    batch_size: int = 16
    eval_batch_size: int = 64
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_grad_norm: float = 1.0
    seed: int = 42
    patience: int = 3
    """Stop when valid F1 has not improved for this many epochs."""
    group_by_length: bool = False
    """Batch sentences of similar length together (HF's length-grouped sampler) instead of at random. Little
    padding, but on CoNLL-2003 it cost F1 against random batches (docs/results.md); `packing` saves the
    padding of random batches instead. bertner's default until 2026-11-26."""
    shuffle_length_groups: bool = False
    """With `group_by_length`: visit the length-grouped batches in random order instead of HF's long-to-short
    sweep through each mega-batch of 50 batches (training/sampler.py). Padding is the same."""
    packing: bool = True
    """Run the encoder on packed rows in training: each batch's windows laid end to end in rows no longer than
    its longest, each window attending only to itself (model/packing.py). The same outputs as padding, for
    about half the compute with random batches; encoders packing does not support are run padded."""
    loss_normalization: str = "corpus"
    """`corpus`: a batch's loss is the sum over its labelled positions divided by the mean number per batch
    over the training set, so that every labelled word weighs the same whichever batch it lands in.
    `batch`: the mean over the batch's own labelled positions (HF's; bertner's default until 2026-11-26).
    With length-grouped batches, `batch` gives the words of short sentences more weight than random batches
    do: a batch of 16 two-word datelines counts as much as one of 16 forty-word sentences. Measured at the
    paper's hyperparameters, `corpus` gave +0.3 valid and test F1 over three seeds (docs/results.md)."""
    bf16: bool | Literal["auto"] = "auto"
    """Run forward and backward (and the run's evaluation) under bfloat16 autocast: true, false, or "auto":
    bf16 where the hardware has it natively (a CPU with the avx512_bf16 or amx_bf16 flags, a GPU that supports
    it), fp32 elsewhere (precision.py). A run's saved config records the decision, true or false."""
    lr_scheduler: str = "linear"
    crf_lr: float | None = 1e-3
    """Learning rate of the CRF's transition scores; None: `lr`. They start near zero, and at an encoder's
    learning rate (3e-5) Adam moves each by at most about lr per step, so BERT-CRF setups often use 1e-3 or more."""
    augment: tuple[str, ...] = ()
    """Training-data augmentation (Dai & Adel 2020; data/augment.py), made afresh each epoch and never written to
    disk: `mention` swaps entity mentions for other training mentions of the same type, `token` swaps words for
    other training words with the same tag. Empty: none."""
    augment_ratio: float = 1.0
    """Augmented sentences per training sentence that can be augmented, each epoch; 0.5 copies half of them."""
    augment_probability: float = 0.3
    """Chance that each mention (`mention`) or word (`token`) of a copy is replaced; every copy has at least one."""
    augment_seed: int | None = None
    """Seed of the augmentation; with the epoch it fixes every copy. None: `seed` (a run records the one used)."""


AUGMENT_METHODS = ("mention", "token")


@dataclass(frozen=True)
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Every setting as TOML tables ({section: {key: value}}), None written as NONE (TOML has no null)."""
        return {
            section.name: {
                key: NONE if value is None else value
                for key, value in dataclasses.asdict(getattr(self, section.name)).items()
            }
            for section in fields(self)
        }


NONE = "none"
"""How a config file spells None, which TOML lacks: `crf_lr = "none"`. Read as None only for a key whose type
allows None (none of them is a string, so the spelling is never ambiguous); elsewhere it is a wrong value."""


ENCODER_DEFAULTS: dict[str, dict[str, dict[str, Any]]] = {
    # A base-size encoder (12 layers, 768 wide) at MiniLM-L6's 1e-4 diverges more easily; 5e-5 is the rate
    # mpnet-base was measured with (configs/mpnet-crf.toml, docs/results.md).
    "mpnet-base": {"train": {"lr": 5e-5}},
}
"""Defaults that differ by named encoder, under whatever a config file or the command line sets."""


@dataclass(frozen=True)
class SettingChange:
    """A setting whose value differs between a run's record and what is asked of it now."""

    key: str
    """`section.key`, e.g. `train.lr`."""
    recorded: Any
    requested: Any

    def __str__(self) -> str:
        return f"{self.key}: recorded {_shown(self.recorded)}, requested {_shown(self.requested)}"


def _shown(value: Any) -> str:
    """A setting's value as a config file spells it: true, none, 0.001, 'minilm-l6', ['mention']."""
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return NONE
    return repr(list(value)) if isinstance(value, tuple) else repr(value)


def config_changes(recorded: Config, requested: Config) -> tuple[SettingChange, ...]:
    """Every setting whose value differs between two configs, in the order config.py declares them."""
    return tuple(
        SettingChange(key=f"{section.name}.{key.name}", recorded=before, requested=after)
        for section in fields(Config)
        for key in fields(getattr(recorded, section.name))
        if (before := getattr(getattr(recorded, section.name), key.name))
        != (after := getattr(getattr(requested, section.name), key.name))
    )


RESUME_MAY_CHANGE = frozenset({"train.eval_batch_size"})
"""The settings a resumed run may be given other values of (`train --resume`). Every other setting of bertner.toml
changes what is trained or which epoch is kept (`train.epochs` included: the learning-rate schedule spans all
epochs), so a resume that changes it is refused and the record stays true. The batch size of the per-epoch
evaluation changes neither the weights nor the scores, only speed and memory, so a resume may lower it; the
record keeps the value the run started with. What bertner.toml does not hold may differ freely: where the data
and the encoder cache are, what is printed and reported (-q, --no-test, --examples, --bootstrap-*)."""


def validate(config: Config) -> None:
    """Reject settings that cannot work, naming the field."""
    checks = [
        (config.data.alignment in ("first", "all"), "data.alignment must be 'first' or 'all'"),
        (
            config.data.scheme in ("auto", "IOB1", "IOB2", "BIOES"),
            "data.scheme must be auto, IOB1, IOB2 or BIOES",
        ),
        (config.data.max_length >= 8, "data.max_length must be at least 8"),
        (
            0 <= config.data.window_overlap < config.data.max_length // 2,
            "data.window_overlap must be in [0, max_length / 2)",
        ),
        (config.data.context >= 0, "data.context must be at least 0"),
        *_annotation_checks(config.data),
        (config.train.epochs >= 1, "train.epochs must be at least 1"),
        (config.train.lr > 0, "train.lr must be positive"),
        (config.train.batch_size >= 1, "train.batch_size must be at least 1"),
        (config.train.patience >= 1, "train.patience must be at least 1"),
        # TrainingArguments.warmup_steps reads a value >= 1 as a number of steps, not a ratio.
        (0 <= config.train.warmup_ratio < 1, "train.warmup_ratio must be in [0, 1)"),
        (config.train.crf_lr is None or config.train.crf_lr > 0, "train.crf_lr must be positive"),
        (
            config.train.loss_normalization in LOSS_NORMALIZATIONS,
            f"train.loss_normalization must be {' or '.join(LOSS_NORMALIZATIONS)}, "
            f"not {config.train.loss_normalization!r}",
        ),
        *_model_checks(config.model),
        *_augment_checks(config.train),
        *distill_checks(config.distill),
    ]
    for ok, message in checks:
        if not ok:
            raise UserError(f"invalid config: {message}")


ANNOTATION_FORMATS = ("labelstudio", "labelstudio-min", "doccano", "prodigy", "spans")
"""The annotation-tool exports `--data` reads (data/annotations/detect.py)."""
DATA_FORMATS = ("auto", "conll", *ANNOTATION_FORMATS)
PICK_RULES = ("ground_truth", "latest", "first")
OFFSET_UNITS = ("codepoints", "utf16", "graphemes")
WORD_SEGMENTATIONS = ("segment", "whitespace")
MISALIGNED_POLICIES = ("error", "expand", "contract", "skip")
OVERLAP_POLICIES = ("error", "longest", "first")


def _annotation_checks(data: DataConfig) -> list[tuple[bool, str]]:
    choices = [
        ("format", data.format, DATA_FORMATS),
        ("annotation", data.annotation, PICK_RULES),
        ("offsets", data.offsets, ("auto", *OFFSET_UNITS)),
        ("words", data.words, WORD_SEGMENTATIONS),
        ("misaligned", data.misaligned, MISALIGNED_POLICIES),
        ("overlaps", data.overlaps, OVERLAP_POLICIES),
    ]
    checks = [
        (value in allowed, f"data.{name} must be one of {', '.join(allowed)}, not {value!r}")
        for name, value, allowed in choices
    ]
    split = data.split
    shares = len(split) == 3 and all(0 < share < float("inf") for share in split) and abs(sum(split) - 1) < 1e-6
    checks.append((not split or shares, f"data.split must be three positive shares adding up to 1, not {list(split)}"))
    checks.append((data.split_seed >= 0, f"data.split_seed must be at least 0, not {data.split_seed}"))
    return checks


LOSS_NORMALIZATIONS = ("batch", "corpus")
HEADS = ("linear", "mlp")
ACTIVATIONS = ("tanh", "relu", "gelu")


def _model_checks(model: ModelConfig) -> list[tuple[bool, str]]:
    return [
        (0 <= model.classifier_dropout < 1, "model.classifier_dropout must be in [0, 1)"),
        (model.head in HEADS, f"model.head must be one of {', '.join(HEADS)}, not {model.head!r}"),
        (model.head_hidden >= 1, "model.head_hidden must be at least 1"),
        (
            model.head_activation in ACTIVATIONS,
            f"model.head_activation must be one of {', '.join(ACTIVATIONS)}, not {model.head_activation!r}",
        ),
        (model.freeze_layers >= 0, "model.freeze_layers must be at least 0"),
        (model.lora_r >= 1, "model.lora_r must be at least 1"),
        (model.lora_alpha > 0, "model.lora_alpha must be positive"),
        (0 <= model.lora_dropout < 1, "model.lora_dropout must be in [0, 1)"),
        (all(model.lora_targets), "model.lora_targets must not hold empty names"),
        # LoRA already keeps every pretrained encoder weight fixed; freezing on top of it would mean nothing.
        (
            not (model.lora and (model.freeze_embeddings or model.freeze_layers)),
            "model.lora cannot be combined with freeze_embeddings or freeze_layers (LoRA freezes the whole encoder)",
        ),
    ]


def _augment_checks(train: TrainConfig) -> list[tuple[bool, str]]:
    unknown = [method for method in train.augment if method not in AUGMENT_METHODS]
    repeated = sorted({method for method in train.augment if train.augment.count(method) > 1})
    return [
        (
            not unknown,
            f"train.augment must hold {' and/or '.join(AUGMENT_METHODS)}, not {unknown[0] if unknown else ''!r}",
        ),
        (not repeated, f"train.augment names {repeated[0] if repeated else ''!r} twice"),
        # TOML can spell inf and nan; both comparisons are false for nan.
        (
            0 < train.augment_ratio < float("inf"),
            f"train.augment_ratio must be a positive number, not {train.augment_ratio}",
        ),
        (
            0 < train.augment_probability <= 1,
            f"train.augment_probability must be in (0, 1], not {train.augment_probability}",
        ),
        (
            train.augment_seed is None or train.augment_seed >= 0,
            f"train.augment_seed must be at least 0, not {train.augment_seed}",
        ),
    ]
