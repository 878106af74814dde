"""The experiment file: variants in every override syntax, grids, seeds, and errors that name the variant."""

from __future__ import annotations

from pathlib import Path

import pytest

from bertner.config_files import load_config
from bertner.experiments.spec import describe, load_experiment

BASE = """
[model]
encoder = "minilm-l6"
[train]
epochs = 2
seed = 7
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "experiment.toml"
    path.write_text(BASE + text, encoding="utf-8")
    return path


def test_variants_in_each_override_syntax(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
[experiment]
data = "data/conll"
output = "runs/ablation"
seeds = [1, 2]

[[variants]]
name = "linear"

[[variants]]
name = "mlp-tanh"
"model.head" = "mlp"
model.head_activation = "tanh"

[[variants]]
name = "crf"
model = { crf = true }
train = { lr = 1e-4 }
""",
    )
    experiment = load_experiment(path)
    assert (experiment.data, experiment.output, experiment.seeds) == ("data/conll", Path("runs/ablation"), (1, 2))
    assert experiment.evaluate_test
    base = load_config(None, {"model": {"encoder": "minilm-l6"}, "train": {"epochs": 2, "seed": 7}})
    linear, mlp, crf = experiment.variants
    assert (linear.name, linear.overrides, linear.config) == ("linear", {}, base)
    assert mlp.overrides == {"model.head": "mlp", "model.head_activation": "tanh"}
    assert (mlp.config.model.head, mlp.config.model.head_activation, mlp.config.train.epochs) == ("mlp", "tanh", 2)
    assert crf.config.model.crf and crf.config.train.lr == 1e-4
    assert describe(mlp.overrides) == "model.head=mlp, model.head_activation=tanh"
    runs = experiment.runs()
    assert [(r.variant, r.seed) for r in runs] == [(v, s) for v in ("linear", "mlp-tanh", "crf") for s in (1, 2)]
    assert runs[3].run_dir == Path("runs/ablation/mlp-tanh/seed-2")
    assert runs[3].config.train.seed == 2 and runs[3].config.model.head == "mlp"


def test_a_variant_may_run_with_its_own_seeds(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
[experiment]
data = "d"
output = "o"
seeds = [42]

[[variants]]
name = "linear"
seeds = [42, 43, 44]

[[variants]]
name = "crf"
"model.crf" = true
""",
    )
    experiment = load_experiment(path)
    linear, crf = experiment.variants
    assert linear.overrides == {}  # seeds is not a config override
    assert (experiment.seeds_of(linear), experiment.seeds_of(crf)) == ((42, 43, 44), (42,))
    runs = [(r.variant, r.seed, r.config.train.seed, r.run_dir) for r in experiment.runs()]
    assert runs == [
        ("linear", 42, 42, Path("o/linear/seed-42")),
        ("linear", 43, 43, Path("o/linear/seed-43")),
        ("linear", 44, 44, Path("o/linear/seed-44")),
        ("crf", 42, 42, Path("o/crf/seed-42")),
    ]


def test_a_grid_is_crossed_with_the_variants_and_named_by_its_values(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
[experiment]
data = "d"
output = "o"
num_seeds = 3

[[variants]]
name = "mlp"
"model.head" = "mlp"

[grid]
"train.lr" = [1e-5, 3e-5]
train.batch_size = [16, 32]
""",
    )
    experiment = load_experiment(path)
    assert experiment.seeds == (7, 8, 9)  # train.seed, train.seed + 1, ...
    names = [v.name for v in experiment.variants]
    assert names == [
        "mlp,lr=1e-05,batch_size=16",
        "mlp,lr=1e-05,batch_size=32",
        "mlp,lr=3e-05,batch_size=16",
        "mlp,lr=3e-05,batch_size=32",
    ]
    last = experiment.variants[-1]
    assert (last.config.model.head, last.config.train.lr, last.config.train.batch_size) == ("mlp", 3e-5, 32)


def test_a_grid_without_variants_and_command_line_paths(tmp_path: Path) -> None:
    path = _write(tmp_path, '[experiment]\ndata = "d"\noutput = "o"\n[grid]\n"train.weight_decay" = [0.0, 0.01]\n')
    experiment = load_experiment(path, data="other", output=tmp_path / "out")
    assert [v.name for v in experiment.variants] == ["weight_decay=0", "weight_decay=0.01"]
    assert (experiment.data, experiment.output, experiment.seeds) == ("other", tmp_path / "out", (7,))


def test_no_variants_means_the_base_config(tmp_path: Path) -> None:
    experiment = load_experiment(_write(tmp_path, '[experiment]\ndata = "d"\noutput = "o"\nevaluate_test = false\n'))
    assert [v.name for v in experiment.variants] == ["base"]
    assert not experiment.evaluate_test


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[variants]]\nname = "x"\n"model.head" = "mlp"\n', "needs an \\[experiment\\] table"),
        ('[experiment]\noutput = "o"\n', "data must name a CoNLL folder"),
        ('[experiment]\ndata = "d"\n', "output must name a folder"),
        ('[experiment]\ndata = "d"\noutput = "o"\nrepeats = 3\n', "unknown \\[experiment\\] keys \\['repeats'\\]"),
        ('[experiment]\ndata = "d"\noutput = "o"\nseeds = [1]\nnum_seeds = 2\n', "seeds or num_seeds, not both"),
        ('[experiment]\ndata = "d"\noutput = "o"\nseeds = [1, 1]\n', "seeds repeat"),
        ('[experiment]\ndata = "d"\noutput = "o"\nnum_seeds = 0\n', "num_seeds must be a positive integer"),
        (
            '[experiment]\ndata = "d"\noutput = "o"\n[[variants]]\nname = "v"\nseeds = [1, 1]\n',
            "variant 'v': seeds repeat",
        ),
        (
            '[experiment]\ndata = "d"\noutput = "o"\n[[variants]]\nname = "v"\nseeds = 3\n',
            "'v': seeds must be a non-empty",
        ),
        (
            '[experiment]\ndata = "d"\noutput = "o"\n[[variants]]\nname = "bad"\n"model.head" = "softmax"\n',
            "variant 'bad'.*model.head must be one of linear, mlp",
        ),
        (
            '[experiment]\ndata = "d"\noutput = "o"\n[[variants]]\nname = "typo"\n"model.haed" = "mlp"\n',
            "variant 'typo'.*unknown key 'haed'",
        ),
        ('[experiment]\ndata = "d"\noutput = "o"\n[[variants]]\n"model.crf" = true\n', "needs a name"),
        ('[experiment]\ndata = "d"\noutput = "o"\n[[variants]]\nname = "../up"\n', "'../up' must start with"),
        (
            '[experiment]\ndata = "d"\noutput = "o"\n[[variants]]\nname = "a"\n[[variants]]\nname = "a"\n',
            "repeated: a",
        ),
        (
            '[experiment]\ndata = "d"\noutput = "o"\n[[variants]]\nname = "s"\n"train.seed" = 3\n',
            "train.seed is set by",
        ),
        ('[experiment]\ndata = "d"\noutput = "o"\n[[variants]]\nname = "s"\nhead = "mlp"\n', "'head' is not a setting"),
        ('[experiment]\ndata = "d"\noutput = "o"\n[grid]\n"train.lr" = 0.1\n', "must be a non-empty list"),
    ],
)
def test_mistakes_are_reported_with_where_they_are(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_experiment(_write(tmp_path, text))


def test_an_unreadable_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read experiment file"):
        load_experiment(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[experiment\n", encoding="utf-8")
    with pytest.raises(ValueError, match="broken.toml: not valid TOML"):
        load_experiment(broken)


def test_the_shipped_ablation_file_is_valid() -> None:
    path = Path(__file__).resolve().parents[2] / "configs" / "ablation-minilm.toml"
    experiment = load_experiment(path)
    names = [v.name for v in experiment.variants]
    assert names == ["linear", "mlp-tanh", "mlp-relu", "freeze-emb-lower-half", "crf", "lora-r8", "lora-r16"]
    assert {v.config.model.encoder for v in experiment.variants} == {"minilm-l6"}
    assert len({v.config.train.epochs for v in experiment.variants}) == 1  # the same epoch budget for every variant
