"""`bertner predict --engine ray` on a local Ray cluster of 2 CPUs: the oracle is plain `bertner predict` run on
each file alone, whose output the Ray engine must reproduce byte for byte."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bertner.batch.corpus_files import corpus_files, pending
from bertner.batch.ray_engine import FileTagger, PredictorOptions, import_ray, ray_cluster, tag_corpus
from bertner.cli import main
from bertner.labels import LabelSet
from tiny_models import write_random_run

LABELS = LabelSet.from_types(["LOC", "MISC", "ORG", "PER"])
CHUNK = "5"  # texts per Predictor.predict call: small, so that files span several chunks


@pytest.fixture(scope="module")
def random_run(tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained tiny tagger with a CRF: its random scores tag many entities, with probabilities of every size."""
    return write_random_run(tiny_bert, tmp_path_factory.mktemp("random-run"), LABELS, crf=True, head_std=1.0)


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    import ray

    with pytest.MonkeyPatch.context() as patch:
        # Ray starts its workers 15 steps nicer than itself: on a busy machine the actors would wait behind the
        # plain predict they are compared with, and behind everything else.
        patch.setenv("RAY_worker_niceness", "0")
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
        yield
        ray.shutdown()


def _sentences(tiny_data: Path) -> list[str]:
    sentences, words = [], []
    for line in (tiny_data / "train.conll").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("-DOCSTART-"):
            words.append(line.split()[0])
        elif words:
            sentences.append(" ".join(words))
            words = []
    return sentences


@pytest.fixture
def corpus(tiny_data: Path, tmp_path: Path) -> Path:
    """Text files (one with odd line breaks inside lines, and an empty one), and JSONL with ids of every kind."""
    sentences = _sentences(tiny_data)
    root = tmp_path / "corpus"
    (root / "news").mkdir(parents=True)
    (root / "a.txt").write_text("\n".join(sentences) + "\n", encoding="utf-8")
    odd = [f"{s}\x0b{s}" for s in sentences[:4]] + ["", "  ", "Quill\u2028hired Anika"]
    (root / "news" / "b.txt").write_bytes("\r\n".join(odd).encode("utf-8"))
    ids: list[object] = ["doc-1", 2, None, {"shard": 3}, 4.5]
    records = [{"id": i, "text": s} if i is not None else {"text": s} for i, s in zip(ids, sentences, strict=False)]
    (root / "c.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    (root / "empty.txt").write_bytes(b"")
    return root


def _plain_outputs(model: Path, corpus: Path, out: Path, *flags: str) -> dict[str, bytes]:
    """The oracle: plain `bertner predict` on each file alone."""
    expected = {}
    for file in corpus_files(str(corpus), out):
        plain = file.output.with_name(file.output.name + ".plain")
        argv = ["-q", "predict", "--model", str(model), "--input", str(file.source), "--output", str(plain)]
        assert main([*argv, "--chunk-size", CHUNK, "--threads", "1", *flags]) == 0
        expected[str(file.output.relative_to(out))] = plain.read_bytes()
        plain.unlink()
    return expected


def _outputs(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_the_ray_engine_writes_what_plain_predict_writes_and_a_rerun_redoes_only_missing_files(
    local_ray: None, random_run: Path, corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    argv = ["-q", "predict", "--engine", "ray", "--model", str(random_run), "--input", str(corpus)]
    assert main([*argv, "--output", str(out), "--actors", "2", "--chunk-size", CHUNK]) == 0
    assert "tagged 4 files (" in capsys.readouterr().out
    expected = _plain_outputs(random_run, corpus, out)
    assert sorted(expected) == ["a.jsonl", "c.jsonl", "empty.jsonl", "news/b.jsonl"]
    assert _outputs(out) == expected
    lines = [json.loads(line) for line in expected["a.jsonl"].decode().splitlines()]
    assert sum(len(line["entities"]) for line in lines) > 0, "the oracle is only worth as much as what it tags"
    ids = [json.loads(line).get("id", "absent") for line in expected["c.jsonl"].decode().splitlines()]
    assert ids == ["doc-1", 2, "absent", {"shard": 3}, 4.5]

    (out / "news" / "b.jsonl").unlink()
    before = {name: os.stat(out / name) for name in ["a.jsonl", "c.jsonl", "empty.jsonl"]}
    options = PredictorOptions(str(random_run), chunk_size=int(CHUNK))
    done = list(tag_corpus(pending(corpus_files(str(corpus), out)), options, actors=1, progress=False))
    assert [(d.source, d.output, d.texts) for d in done] == [
        (str(corpus / "news" / "b.txt"), str(out / "news" / "b.jsonl"), 7)
    ]
    assert _outputs(out) == expected
    for name, stat in before.items():
        assert (os.stat(out / name).st_ino, os.stat(out / name).st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns)

    assert main([*argv, "--output", str(out)]) == 0
    assert "nothing to tag: all 4 files have their output" in capsys.readouterr().out
    assert _outputs(out) == expected


def test_the_onnx_backend_runs_in_the_actors_as_in_plain_predict(
    local_ray: None, random_run: Path, corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    for name in ["empty.txt", "news/b.txt"]:  # two files are enough here: each plain run exports the model anew
        (corpus / name).unlink()
    argv = ["-q", "predict", "--engine", "ray", "--model", str(random_run), "--input", str(corpus), "--output"]
    assert main([*argv, str(out), "--actors", "1", "--chunk-size", CHUNK, "--backend", "onnx"]) == 0
    assert "tagged 2 files (" in capsys.readouterr().out
    assert _outputs(out) == _plain_outputs(random_run, corpus, out, "--backend", "onnx")


def test_a_bad_line_fails_the_run_as_a_user_error_naming_it_and_leaves_no_output_for_its_file(
    local_ray: None, random_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus, out = tmp_path / "corpus", tmp_path / "out"
    corpus.mkdir()
    (corpus / "bad.jsonl").write_text('{"text": "Lisbon"}\n{"txt": "oops"}\n', encoding="utf-8")
    argv = ["-q", "predict", "--engine", "ray", "--model", str(random_run), "--input", str(corpus)]
    assert main([*argv, "--output", str(out)]) == 2  # and without --actors: Ray's autoscaling pool
    expected = f'bertner predict: error: {corpus / "bad.jsonl"}:2: the object has no "text" field'
    assert expected in capsys.readouterr().err
    assert not out.exists() or list(out.iterdir()) == []


def test_a_model_that_cannot_be_loaded_fails_the_actors_first_file_with_the_loaders_error(tmp_path: Path) -> None:
    # Raised in a call, an error comes back from Ray as itself (the bad-line test above); in a constructor it
    # would come back as the actor's death with the cause as text.
    tagger = FileTagger(PredictorOptions(str(tmp_path / "no-model")), {})
    with pytest.raises(ValueError, match=f"{tmp_path / 'no-model'}: not a bertner run folder"):
        tagger({"path": [str(tmp_path / "a.txt")], "bytes": [b"Lisbon\n"]})


def test_engine_options_without_the_ray_engine_are_refused(
    random_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["-q", "predict", "--model", str(random_run), "--text", "Lisbon", "--actors", "2"]) == 2
    assert "--actors go with --engine ray" in capsys.readouterr().err
    assert main(["-q", "predict", "--engine", "ray", "--model", str(random_run), "--text", "Lisbon"]) == 2
    assert "--engine ray needs --input" in capsys.readouterr().err


def test_without_ray_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ImportError, match=r"pip install 'bertner\[ray\]'"):
        import_ray()
    with pytest.raises(ImportError, match=r"bertner\[ray\]"), ray_cluster():
        pass


def test_a_program_connected_to_ray_keeps_its_connection_and_is_told_when_an_address_is_not_joined(
    local_ray: None, caplog: pytest.LogCaptureFixture
) -> None:
    import ray

    context = ray.get_runtime_context()
    with ray_cluster("127.0.0.1:1"):
        assert ray.get_runtime_context().get_node_id() == context.get_node_id()
    assert ray.is_initialized()
    assert "already connected to Ray, so not joining 127.0.0.1:1" in caplog.text
