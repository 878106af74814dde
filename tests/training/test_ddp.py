"""Data-parallel training (issue 13): `torchrun -m bertner train` with 2 gloo processes on the tiny model.

Oracles: for the samplers, the order one process draws, cut into the batches of one optimizer step; for the
loss normaliser, the gradient of one process on the global batch; for evaluation, the predictions of one
process on all sentences and a 1-process `bertner evaluate` of the saved model; for resume, the run that
was never stopped.

The real runs go through a small driver (torchrun runs it as its script) that records, per rank, the
training windows it drew, which rank locked, marked and saved the folder and wrote metrics.jsonl, each
rank's evaluation F1 and its optimizer's learning rates; and that can SIGKILL rank 0 at a chosen step.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import torch
from accelerate.data_loader import prepare_data_loader
from torch.utils.data import DataLoader, RandomSampler
from transformers.trainer_pt_utils import get_length_grouped_indices

from bertner.cli import main
from bertner.config import DataConfig, ModelConfig
from bertner.data.corpus import load_corpus
from bertner.data.encoding import EncodingPlan
from bertner.inference.predictor import Predictor
from bertner.model.build import build_tagger
from bertner.model.collate import Collator
from bertner.model.decode import predict_words
from bertner.model.store import IncompleteModelError, load_model
from bertner.training.checkpoints import last_whole_checkpoint
from bertner.training.distributed import Processes, shard, shard_windows
from bertner.training.lock import RunLock
from bertner.training.sampler import length_grouped_sampler, shuffled_group_indices
from bertner.training.trainer import encode_sentences, positions_per_batch
from tiny_models import TINY_DATA

# --- Sampler sharding, as Accelerate prepares the Trainer's data loader on each of N processes ---

SEED = 42


def _sampler(kind: str, lengths: list[int], global_batch: int) -> torch.utils.data.Sampler[int]:
    """The sampler the Trainer builds for `kind` (a fresh one per process, as each process builds its own)."""
    if kind == "random":
        return RandomSampler(range(len(lengths)))  # HF's; Accelerate makes it a SeedableRandomSampler
    return length_grouped_sampler(lengths, global_batch, SEED, shuffle_groups=kind == "shuffled-groups")


def _expected_order(kind: str, lengths: list[int], global_batch: int, epoch: int) -> list[int]:
    """What one process draws in `epoch`: the library's order from a generator seeded with seed + epoch."""
    generator = torch.Generator().manual_seed(SEED + epoch)
    if kind == "random":
        return torch.randperm(len(lengths), generator=generator).tolist()
    if kind == "length-groups":
        return list(get_length_grouped_indices(lengths, global_batch, generator=generator))
    return shuffled_group_indices(lengths, global_batch, generator)


def _rank_batches(kind: str, lengths: list[int], batch_size: int, processes: int, epochs: int) -> list[list[Any]]:
    """batches[rank][epoch]: the batches each process trains on, each process with its own sampler and its own
    (different) global random state, as after dropout has drawn from it."""
    batches = []
    for rank in range(processes):
        sampler = _sampler(kind, lengths, batch_size * processes)
        loader = DataLoader(list(range(len(lengths))), batch_size=batch_size, sampler=sampler, collate_fn=list)
        prepared = prepare_data_loader(
            loader, num_processes=processes, process_index=rank, use_seedable_sampler=True, data_seed=SEED
        )
        per_epoch = []
        for epoch in range(epochs):
            torch.manual_seed(1000 * rank + epoch)
            prepared.set_epoch(epoch)
            per_epoch.append(list(prepared))
        batches.append(per_epoch)
    return batches


@pytest.mark.parametrize("kind", ["random", "length-groups", "shuffled-groups"])
@pytest.mark.parametrize(("count", "batch_size", "processes"), [(96, 8, 2), (120, 4, 3), (64, 16, 2)])
def test_each_process_gets_its_share_of_the_global_batches_of_one_process(
    kind: str, count: int, batch_size: int, processes: int
) -> None:
    lengths = [(7 * i) % 53 + 1 for i in range(count)]
    global_batch = batch_size * processes
    batches = _rank_batches(kind, lengths, batch_size, processes, epochs=2)
    for epoch in range(2):
        order = _expected_order(kind, lengths, global_batch, epoch)
        steps = count // global_batch
        for rank in range(processes):
            assert batches[rank][epoch] == [
                order[step * global_batch + rank * batch_size : step * global_batch + (rank + 1) * batch_size]
                for step in range(steps)
            ]
        drawn = [index for rank in range(processes) for batch in batches[rank][epoch] for index in batch]
        assert sorted(drawn) == list(range(count))  # disjoint, and together the whole epoch
    assert batches[0][0] != batches[0][1]  # a new order each epoch


def test_a_length_group_is_the_global_batch_of_one_step() -> None:
    lengths = [(13 * i) % 97 + 1 for i in range(128)]
    batches = _rank_batches("shuffled-groups", lengths, 8, 2, epochs=1)
    one_process = list(_sampler("shuffled-groups", lengths, 16))  # 1 process, batch 16, the same seed and epoch
    for step, (first, second) in enumerate(zip(batches[0][0], batches[1][0], strict=True)):
        assert sorted(first + second) == sorted(one_process[step * 16 : (step + 1) * 16])


def test_a_last_partial_global_batch_is_evened_out_with_the_first_sentences() -> None:
    """Accelerate's `even_batches` (the Trainer's default): with 10 sentences and 2 x 4, the last step's 2
    sentences are topped up with the epoch's first ones, so every process runs the same number of steps."""
    batches = _rank_batches("random", [1] * 10, 4, 2, epochs=1)
    order = _expected_order("random", [1] * 10, 8, 0)
    drawn = [index for rank in range(2) for batch in batches[rank][0] for index in batch]
    assert len(batches[0][0]) == len(batches[1][0]) == 2
    assert sorted(drawn) == sorted(list(range(10)) + order[: 16 - 10])


# --- The loss normaliser: the same on every process, and DDP's averaged gradient is one process's ---


@pytest.mark.parametrize("crf", [False, True])
def test_averaged_per_process_gradients_equal_one_process_on_the_global_batch(
    tiny_bert: Path, tiny_data: Path, crf: bool
) -> None:
    corpus = load_corpus(str(tiny_data), DataConfig())
    torch.manual_seed(0)
    tagger, tokenizer = build_tagger(ModelConfig(encoder=str(tiny_bert), crf=crf), corpus.label_set)
    tagger.eval()  # no dropout: the gradients are then a function of the batch alone
    windows = encode_sentences(
        EncodingPlan.for_config(DataConfig(), tokenizer, corpus.label_set), corpus.train, corpus.label_set
    )
    collate = Collator(tokenizer.pad_token_id)

    def gradient(batch: Sequence[Any], normalizer: float) -> torch.Tensor:
        tagger.zero_grad()
        tagger(**collate([w.features() for w in batch]), loss_normalizer=normalizer).loss.backward()
        return torch.cat([p.grad.flatten() for p in tagger.parameters() if p.grad is not None])

    one = gradient(windows[:6], positions_per_batch(windows, 6, crf))
    per_process = positions_per_batch(windows, 3, crf, processes=2)
    averaged = (gradient(windows[:3], per_process) + gradient(windows[3:6], per_process)) / 2  # DDP's all-reduce
    torch.testing.assert_close(averaged, one)


# --- Evaluation: each process decodes its share of the sentences ---


@pytest.mark.parametrize(("count", "processes"), [(7, 2), (2, 3), (0, 2), (10, 4), (5, 1)])
def test_the_shards_cover_the_sentences_in_order(count: int, processes: int) -> None:
    shards = [shard(count, Processes(rank, processes)) for rank in range(processes)]
    assert [i for s in shards for i in s] == list(range(count))
    assert max(map(len, shards)) - min(map(len, shards)) <= 1


def test_the_shards_predictions_in_rank_order_are_one_processs(tiny_bert: Path) -> None:
    corpus = load_corpus(str(TINY_DATA), DataConfig())
    sentences = [*corpus.train, *corpus.valid]
    torch.manual_seed(0)
    tagger, tokenizer = build_tagger(ModelConfig(encoder=str(tiny_bert)), corpus.label_set)
    with torch.no_grad():
        tagger.classifier.weight.normal_(std=3.0)  # a head that does not say O everywhere
    plan = EncodingPlan.for_config(DataConfig(max_length=8, window_overlap=2), tokenizer, corpus.label_set)
    windows = encode_sentences(plan, sentences, corpus.label_set)
    assert len(windows) > len(sentences)  # long sentences are windowed: shards must keep each one's windows
    counts = [len(s.words) for s in sentences]
    one = predict_words(tagger, windows, counts, tokenizer.pad_token_id).label_ids
    gathered = []
    for rank in range(3):
        own = shard(len(sentences), Processes(rank, 3))
        ids = predict_words(tagger, shard_windows(windows, own), counts[own.start : own.stop], tokenizer.pad_token_id)
        gathered += ids.label_ids
    assert gathered == list(one)


# --- Resume: a DDP checkpoint has one RNG file per rank ---


def test_a_checkpoint_with_one_rng_file_per_rank_is_whole(tmp_path: Path, tiny_bert: Path) -> None:
    checkpoints = tmp_path / "checkpoints"
    for step, rng_files in [(2, ["rng_state_0.pth", "rng_state_1.pth"]), (4, [])]:
        folder = checkpoints / f"checkpoint-{step}"
        folder.mkdir(parents=True)
        shutil.copy(tiny_bert / "model.safetensors", folder / "model.safetensors")
        for name in ["optimizer.pt", "scheduler.pt", *rng_files]:
            (folder / name).write_bytes(b"x")
        (folder / "trainer_state.json").write_text("{}", encoding="utf-8")
    assert last_whole_checkpoint(checkpoints) == checkpoints / "checkpoint-2"
    assert not (checkpoints / "checkpoint-4").exists()  # no RNG file at all: cut short, deleted


# --- Real 2-process runs under torchrun ---

EPOCHS, TRAIN_SENTENCES = 4, 6  # batch 1 per process: 3 steps per epoch, every window drawn once
DRIVER = """
import json, os, signal, sys
from bertner.cli import main
from bertner.training import callbacks, lock, trainer

record_dir, kill_step = sys.argv[1], int(sys.argv[2])
rank = int(os.environ["RANK"])

def record(*event):
    with open(os.path.join(record_dir, f"rank{rank}.jsonl"), "a", encoding="utf-8") as stream:
        stream.write(json.dumps(event) + "\\n")

def recording(owner, name, make_event, after=False):
    original = getattr(owner, name)
    def wrapper(*args, **kwargs):
        if not after:
            record(*make_event(*args))
        result = original(*args, **kwargs)
        if after:
            record(*make_event(*args, result=result))
        return result
    setattr(owner, name, wrapper)

recording(trainer.WindowDataset, "__getitem__", lambda self, index: ("sample", index))
recording(trainer, "save_model", lambda *args: ("save_model",))
recording(trainer, "mark_incomplete", lambda *args: ("mark_incomplete",))
recording(lock.RunLock, "acquire", lambda *args: ("lock",))
recording(callbacks.EpochMetricsWriter, "on_evaluate", lambda *args, **kwargs: ("metrics",))
recording(trainer.NerTrainer, "evaluate", lambda *args, result: ("eval", result["eval_f1"]), after=True)
def learning_rates(*args, result):
    return ("lrs", sorted(group["lr"] for group in result.param_groups))

recording(trainer.NerTrainer, "create_optimizer", learning_rates, after=True)

step_of = trainer.NerTrainer.training_step
def training_step(self, *args, **kwargs):
    if rank == 0 and 0 < kill_step <= self.state.global_step:
        os.kill(os.getpid(), signal.SIGKILL)
    return step_of(self, *args, **kwargs)
trainer.NerTrainer.training_step = training_step
sys.exit(main(sys.argv[3:]))
"""


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny data with the training sentences as valid too, so that a few epochs give a non-zero F1."""
    folder = tmp_path_factory.mktemp("ddp-data")
    shutil.copy(TINY_DATA / "train.conll", folder / "train.conll")
    shutil.copy(TINY_DATA / "train.conll", folder / "dev.conll")
    shutil.copy(TINY_DATA / "test.conll", folder / "test.conll")
    return folder


def _torchrun(
    tmp_path: Path, run_dir: Path, tiny_bert: Path, data: Path, kill_step: int = 0, resume: bool = False
) -> tuple[subprocess.CompletedProcess[str], dict[int, list[list[Any]]]]:
    """`torchrun --standalone --nproc_per_node 2 driver.py ... bertner train ...`; its output and records."""
    records = tmp_path / f"records-{len(list(tmp_path.glob('records-*')))}"
    records.mkdir()
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER, encoding="utf-8")
    argv = ["-q", "train", "--data", str(data), "--output", str(run_dir), "--encoder", str(tiny_bert)]
    argv += ["--epochs", str(EPOCHS), "--batch-size", "1", "--limit-train", str(TRAIN_SENTENCES)]
    argv += ["--lr", "1e-2", "--crf", "--crf-lr", "5e-2", "--no-test", "--bootstrap-samples", "10"]
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    finished = subprocess.run(
        [*launcher, str(driver), str(records), str(kill_step), *argv, *(["--resume"] if resume else [])],
        capture_output=True,
        text=True,
        env=environment,
        timeout=600,
    )
    by_rank = {}
    for rank in range(2):
        path = records / f"rank{rank}.jsonl"
        by_rank[rank] = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return finished, by_rank


def _events(records: list[list[Any]], name: str) -> list[list[Any]]:
    return [event for event in records if event[0] == name]


def _epochs_drawn(records: dict[int, list[list[Any]]]) -> list[tuple[list[int], list[int]]]:
    """Per epoch, the windows rank 0 and rank 1 trained on (each draws TRAIN_SENTENCES / 2 per epoch)."""
    share = TRAIN_SENTENCES // 2
    samples = {rank: [event[1] for event in _events(records[rank], "sample")] for rank in records}
    assert len(samples[0]) == len(samples[1]) and len(samples[0]) % share == 0
    return [(samples[0][i : i + share], samples[1][i : i + share]) for i in range(0, len(samples[0]), share)]


def _metric_lines(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def ddp_run(
    tiny_bert: Path, data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, subprocess.CompletedProcess[str], dict[int, list[list[Any]]]]:
    work = tmp_path_factory.mktemp("ddp-run")
    run_dir = work / "run"
    finished, records = _torchrun(work, run_dir, tiny_bert, data_dir)
    assert finished.returncode == 0, finished.stderr[-4000:]
    return run_dir, finished, records


def test_rank_0_alone_writes_the_run_folder_and_prints(ddp_run: Any) -> None:
    run_dir, finished, records = ddp_run
    for event in ["lock", "mark_incomplete", "save_model", "metrics"]:
        assert _events(records[1], event) == [], event
    assert len(_events(records[0], "save_model")) == 1
    assert len(_events(records[0], "metrics")) == EPOCHS
    assert [line["epoch"] for line in _metric_lines(run_dir)] == [1.0, 2.0, 3.0, 4.0]  # metrics.jsonl once
    assert len(list((run_dir / "tensorboard").iterdir())) == 1
    assert finished.stdout.count("trained in") == 1 and finished.stdout.count("valid: precision") == 1
    assert not (run_dir / "incomplete.json").exists() and not (run_dir / "bertner.lock").exists()


def test_every_rank_gets_the_same_evaluation_and_the_crfs_learning_rate(ddp_run: Any) -> None:
    _, _, records = ddp_run
    f1 = [[event[1] for event in _events(records[rank], "eval")] for rank in (0, 1)]
    assert len(f1[0]) == EPOCHS and f1[0] == f1[1]
    assert max(f1[0]) > 0  # the runs learn something, so that the comparisons below compare something
    assert _events(records[0], "lrs") == _events(records[1], "lrs") == [["lrs", [0.01, 0.01, 0.05]]]


def test_the_ranks_train_on_disjoint_windows_that_cover_each_epoch(ddp_run: Any) -> None:
    _, _, records = ddp_run
    epochs = _epochs_drawn(records)
    assert len(epochs) == EPOCHS
    for first, second in epochs:
        assert sorted(first + second) == list(range(TRAIN_SENTENCES))
    assert epochs[0] != epochs[1]


def test_the_saved_model_loads_predicts_and_scores_as_the_run_said(
    ddp_run: Any, data_dir: Path, tmp_path: Path
) -> None:
    run_dir, _, _ = ddp_run
    text = "Maria Okafor flew to Lisbon ."
    entities = Predictor.load(run_dir).predict([text])
    assert len(entities) == 1 and all(text[e.start : e.end] == e.text for e in entities[0])
    stored = max(line["valid"]["f1"] for line in _metric_lines(run_dir))  # the kept epoch's F1, scored sharded
    output = tmp_path / "eval"
    argv = ["-q", "evaluate", "--model", str(run_dir), "--data", str(data_dir), "--split", "valid"]
    assert main([*argv, "--output", str(output), "--bootstrap-samples", "10"]) == 0
    evaluated = json.loads((output / "metrics.json").read_text(encoding="utf-8"))
    assert evaluated["overall"]["f1"] == pytest.approx(stored, abs=1e-12)


def test_a_run_killed_mid_epoch_resumes_to_the_uninterrupted_run(
    ddp_run: Any, tiny_bert: Path, data_dir: Path, tmp_path: Path
) -> None:
    reference, _, reference_records = ddp_run
    run_dir = tmp_path / "run"

    # Rank 0 is killed in epoch 2's second step; torchrun stops rank 1 and fails.
    killed, records = _torchrun(tmp_path, run_dir, tiny_bert, data_dir, kill_step=4)
    assert killed.returncode != 0
    with pytest.raises(IncompleteModelError):
        load_model(run_dir)
    assert [line["epoch"] for line in _metric_lines(run_dir)] == [1.0]
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["checkpoint-3"]

    # Resumed under torchrun: epochs 2 to 4 again, on the same disjoint shares as the uninterrupted run.
    resumed, records = _torchrun(tmp_path, run_dir, tiny_bert, data_dir, resume=True)
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    assert "taking over a stale lock" in resumed.stderr
    assert not (run_dir / "incomplete.json").exists() and not (run_dir / "bertner.lock").exists()
    assert [line["epoch"] for line in _metric_lines(run_dir)] == [1.0, 2.0, 3.0, 4.0]
    weights = load_model(run_dir).tagger.state_dict()
    expected = load_model(reference).tagger.state_dict()
    assert weights.keys() == expected.keys()
    for name, tensor in expected.items():
        torch.testing.assert_close(weights[name], tensor, rtol=0, atol=1e-6, msg=name)
    scores = ("precision", "recall", "f1", "accuracy")
    assert [[line["valid"][k] for k in scores] for line in _metric_lines(run_dir)] == [
        [line["valid"][k] for k in scores] for line in _metric_lines(reference)
    ]
    assert _epochs_drawn(records) == _epochs_drawn(reference_records)[1:]


def test_a_busy_folder_stops_every_rank(tiny_bert: Path, data_dir: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m"]
    argv = ["bertner", "-q", "train", "--data", str(data_dir), "--output", str(run_dir), "--encoder", str(tiny_bert)]
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    with RunLock(run_dir):  # another run is writing into the folder
        refused = subprocess.run([*launcher, *argv], capture_output=True, text=True, env=environment, timeout=300)
    assert refused.returncode != 0
    assert refused.stderr.count("another training run is writing into this folder") == 2  # rank 0's, and rank 1's
    assert not (run_dir / "incomplete.json").exists()


def test_train_help_says_how_to_run_on_several_processes_and_nodes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    needles = ["torchrun --standalone --nproc_per_node N -m bertner train", "accelerate launch", "--nnodes"]
    for needle in [*needles, "--rdzv-endpoint", "batch-size x processes"]:
        assert needle in text, needle
