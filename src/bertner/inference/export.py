"""Export a model to ONNX, fused and optionally int8, and prove it scores what the PyTorch model scores.

The steps of `export_onnx`, all in a temporary folder beside the output, which is renamed into place only
when every step has passed (a failed export writes nothing):

1. The network (sub-token ids -> logits; a CRF stays outside, see inference/onnx_backend.py) is exported with
   torch.onnx's TorchScript exporter (`dynamo=False`), batch and sequence axes dynamic, and the graph is
   checked against PyTorch on a batch of another size and length than it was traced with. Why not the
   torch.export-based exporter (torch 2.13's default): both export correctly, but onnxruntime's transformer
   optimizer finds no attention to fuse in its graphs (measured on MiniLM-L6: 0 of 6 Attention nodes), and it
   takes 5x as long. The network is traced with HF's `eager` attention for the same reason: the SDPA path of
   transformers 5 hides the MatMul-Softmax-MatMul pattern that the fusion matches.
2. With `optimize=True` (`--optimize`): onnxruntime's transformer optimizer fuses attention, embedding +
   LayerNorm, skip + LayerNorm and bias + GELU (`model_type="bert"`, which covers the BERT-like encoders).
   Where it fails, fuses nothing, or changes the logits, the unfused graph is kept and the reason logged and
   written to the manifest. Off by default: onnxruntime applies its own graph optimizations when a session
   loads the graph (ORT_ENABLE_ALL), and on MiniLM-L6 (2-core AVX-512 CPU, onnxruntime 1.32, 2026-11-30) the
   fused graph ran slower than the unfused one: bare-model words/s 4,174 vs 4,298 in fp32 and 8,832 vs
   10,864 in int8; fusing all but attention (8,925-9,069 in int8) did not help either (docs/results.md).
3. With `quantize="int8"`: onnxruntime's dynamic quantization, int8 weights and per-batch uint8 activations.
4. The parity gate: the PyTorch model and the exported graph tag the check sentences (the valid split by
   default); when the export's entity F1 is more than `max_drop` points below PyTorch's, nothing is written.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import logging
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from bertner.config import save_config
from bertner.data.conll import Sentence
from bertner.data.features import NUM_SHAPES
from bertner.inference.evaluate import evaluate_sentences
from bertner.inference.loading import HFScorer, InferenceModel
from bertner.inference.onnx_backend import (
    FORMAT_VERSION,
    GRAPH_OUTPUT,
    OnnxScorer,
    crf_from_dict,
    crf_to_dict,
    import_onnxruntime,
)
from bertner.layout import CRF_FILE, EXPORT_MANIFEST, LABELS_FILENAME, ONNX_MODEL
from bertner.model.crf import CRF
from bertner.model.decode import TaggerScorer

logger = logging.getLogger(__name__)

QUANTIZATIONS = ("int8",)
OPSET = 17
"""The TorchScript exporter's most tested opset; onnxruntime's fusions and int8 kernels all cover it."""
_ATOL, _RTOL = 1e-4, 1e-3
"""How close a graph's logits must be to PyTorch's (fp32 and fused alike) at every real sub-token."""


@dataclass(frozen=True)
class GraphInfo:
    """What `write_graph` made: the graph's inputs, the fusion applied (or why none was), its size."""

    inputs: tuple[str, ...]
    optimized: bool
    fused: dict[str, int]
    optimization_note: str
    quantization: str | None
    fp32_bytes: int
    onnx_bytes: int
    seconds: float


@dataclass(frozen=True)
class ExportReport:
    """A finished export: where it is, what it holds, and the parity check's figures (F1 as fractions)."""

    output: Path
    source: str
    graph: GraphInfo
    torch_f1: float
    onnx_f1: float
    check: str
    sentences: int
    max_drop: float
    torch_seconds: float
    onnx_seconds: float

    @property
    def drop(self) -> float:
        """How many F1 points the export is below PyTorch (negative: above)."""
        return (self.torch_f1 - self.onnx_f1) * 100


class _LogitsGraph(nn.Module):
    """The network as the graph sees it: positional sub-token inputs -> logits (a Tagger's CRF stays out)."""

    def __init__(self, network: nn.Module, inputs: tuple[str, ...]) -> None:
        super().__init__()
        self.network = network
        self.inputs = inputs

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        return self.network(**dict(zip(self.inputs, tensors, strict=True))).logits


def _network(model: InferenceModel) -> tuple[nn.Module, Any, tuple[str, ...]]:
    """A CPU copy of the model's network with eager attention, its HF encoder, and the graph's inputs."""
    scorer = model.scorer
    if isinstance(scorer, TaggerScorer):
        network: nn.Module = scorer.tagger
        inputs: tuple[str, ...] = ("input_ids", "attention_mask")
        if scorer.tagger.shape_embedding is not None:
            inputs = (*inputs, "shape_ids")
    elif isinstance(scorer, HFScorer):
        network, inputs = scorer.model, ("input_ids", "attention_mask")
    else:
        raise ValueError(f"{model.path}: only a PyTorch model can be exported, not a {model.backend} one")
    network = copy.deepcopy(network).cpu().float().eval()
    encoder: Any = network.encoder if isinstance(scorer, TaggerScorer) else network
    try:
        encoder.set_attn_implementation("eager")
    except (AttributeError, ValueError) as error:
        logger.info("exporting with the encoder's own attention (eager not available: %s)", error)
    return network, encoder, inputs


def _inputs(names: tuple[str, ...], vocabulary: int, batch: int, length: int, seed: int) -> list[torch.Tensor]:
    """Random inputs for the graph, (batch, length) each; every other row padded from half its length, so
    that tracing takes the masked path and the checks cover padding."""
    generator = torch.Generator().manual_seed(seed)
    mask = torch.ones(batch, length, dtype=torch.long)
    mask[1::2, length // 2 + 1 :] = 0
    high = {"input_ids": vocabulary, "shape_ids": NUM_SHAPES}
    return [
        mask if name == "attention_mask" else torch.randint(0, high[name], (batch, length), generator=generator)
        for name in names
    ]


def _export_fp32(graph: _LogitsGraph, path: Path, sample: list[torch.Tensor]) -> None:
    axes = {name: {0: "batch", 1: "sequence"} for name in (*graph.inputs, GRAPH_OUTPUT)}
    with warnings.catch_warnings():
        # The TorchScript exporter's deprecation notice, and tracer warnings about HF's shape checks, which
        # the shape check after the export covers.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            graph,
            tuple(sample),
            str(path),
            input_names=list(graph.inputs),
            output_names=[GRAPH_OUTPUT],
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
        )


def _run(path: Path, names: tuple[str, ...], inputs: list[torch.Tensor]) -> np.ndarray:
    session = import_onnxruntime().InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (logits,) = session.run([GRAPH_OUTPUT], {name: t.numpy() for name, t in zip(names, inputs, strict=True)})
    return np.asarray(logits)


def _matches(expected: np.ndarray, actual: np.ndarray, mask: torch.Tensor) -> bool:
    real = mask.numpy().astype(bool)
    return expected.shape == actual.shape and bool(np.allclose(actual[real], expected[real], rtol=_RTOL, atol=_ATOL))


@contextlib.contextmanager
def _quiet_onnxruntime_tools() -> Iterator[None]:
    """Hold back the INFO lines onnxruntime's optimizer and quantizer log for every node they touch.

    The quantizer logs on the root logger, so the root level is raised while it runs; under -v (DEBUG)
    nothing is held back.
    """
    root = logging.getLogger()
    level = root.level
    if root.getEffectiveLevel() <= logging.DEBUG:
        yield
        return
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def _fuse(
    fp32: Path, fused: Path, encoder_config: Any, names: tuple[str, ...], check: tuple[np.ndarray, list[torch.Tensor]]
) -> dict[str, int]:
    """Fuse the graph at `fp32` into `fused`; the fused operators and their counts. Raises ValueError with
    the reason where fusion fails, finds nothing to fuse, or changes the logits."""
    from onnxruntime.transformers.optimizer import optimize_model

    heads = int(getattr(encoder_config, "num_attention_heads", 0) or 0)
    hidden = int(getattr(encoder_config, "hidden_size", 0) or 0)
    try:
        with _quiet_onnxruntime_tools():
            optimized = optimize_model(str(fp32), model_type="bert", num_heads=heads, hidden_size=hidden, opt_level=0)
            counts = {op: int(n) for op, n in optimized.get_fused_operator_statistics().items() if n}
            if counts:
                optimized.save_model_to_file(str(fused))
    except Exception as error:  # the optimizer raises whatever its pattern code raises on an unfamiliar graph
        raise ValueError(f"onnxruntime's transformer optimizer failed: {error}") from error
    if not counts:
        raise ValueError("onnxruntime's transformer optimizer found nothing to fuse in this encoder")
    expected, inputs = check
    if not _matches(expected, _run(fused, names, inputs), inputs[1]):
        raise ValueError(f"the fused graph ({counts}) does not give the unfused logits")
    return counts


INT8_SETTINGS: dict[str, Any] = {"weights": "QInt8", "per_channel": True, "op_types": ["MatMul", "Attention"]}
"""Dynamic int8 as `_quantize` applies it. Measured on MiniLM-L6 (CoNLL-2003 valid, an epoch-1 checkpoint at
85.93 F1, fused graph): onnxruntime's defaults (per-tensor scales, embeddings quantized too) 84.74; per-channel
85.59; per-channel with fp32 embeddings 85.83 (58 MB instead of 23 MB); `reduce_range` 76.77. Only the
per-channel, fp32-embedding setting stays within the parity gate's default 0.3 points."""


def _quantize(source: Path, target: Path) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # Only weight x activation MatMuls (quantize_dynamic's default MatMulConstBOnly) and fused attention;
    # the embedding tables (Gather, EmbedLayerNormalization) stay fp32. DefaultTensorType: shape inference
    # cannot type the outputs of the fused contrib operators.
    with _quiet_onnxruntime_tools():
        quantize_dynamic(
            str(source),
            str(target),
            weight_type=QuantType.QInt8,
            per_channel=INT8_SETTINGS["per_channel"],
            op_types_to_quantize=INT8_SETTINGS["op_types"],
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )


def write_graph(model: InferenceModel, path: Path, optimize: bool = False, quantize: str | None = None) -> GraphInfo:
    """Export the model's network to the ONNX graph `path` (input_ids, attention_mask [, shape_ids] ->
    logits), fused where `optimize` and where it applies, int8 with `quantize="int8"`. Its work files go
    beside `path` and are removed."""
    if quantize not in (None, *QUANTIZATIONS):
        raise ValueError(f"quantize must be one of {', '.join(QUANTIZATIONS)} or None, not {quantize!r}")
    import_onnxruntime()
    started = time.perf_counter()
    network, encoder, names = _network(model)
    graph = _LogitsGraph(network, names).eval()
    vocabulary = int(model.tokenizer.vocab_size)
    check = _inputs(names, vocabulary, 3, 13, seed=1)
    with torch.inference_mode():
        expected = graph(*check).float().numpy()
    fp32 = path.with_name(f"{path.stem}.fp32.onnx")
    work = [fp32, path.with_name(f"{path.stem}.fused.onnx")]
    try:
        _export_fp32(graph, fp32, _inputs(names, vocabulary, 2, 8, seed=0))
        if not _matches(expected, _run(fp32, names, check), check[1]):
            raise ValueError(f"{model.path}: the exported graph does not reproduce PyTorch's logits on other shapes")
        best, fused, note = fp32, {}, "not asked (--optimize): onnxruntime optimizes the graph as it loads it"
        if optimize:
            try:
                fused = _fuse(fp32, work[1], encoder.config, names, (expected, check))
                best, note = work[1], "onnxruntime transformer optimizer, model_type bert"
            except ValueError as error:
                note = f"skipped: {error}"
                logger.warning("kept the unfused graph: %s", error)
        fp32_bytes = best.stat().st_size
        if quantize is None:
            os.replace(best, path)
        else:
            _quantize(best, path)
    finally:
        for file in work:
            file.unlink(missing_ok=True)
    seconds = time.perf_counter() - started
    logger.info("ONNX graph of %.1f MB in %.1f s; fused %s", path.stat().st_size / 1e6, seconds, fused or "nothing")
    return GraphInfo(names, bool(fused), fused, note, quantize, fp32_bytes, path.stat().st_size, seconds)


def _crf_copy(crf: CRF | None) -> CRF | None:
    """The CRF as the export folder will hold it (through its JSON form), so the gate checks what loads."""
    return None if crf is None else crf_from_dict(crf_to_dict(crf), "the model's CRF")


def to_onnx(model: InferenceModel, threads: int | None = None) -> InferenceModel:
    """The model scored by onnxruntime: exported in a temporary folder, fp32, without the parity
    gate that `export_onnx` runs (for `--backend onnx` on a run folder or HF model)."""
    with tempfile.TemporaryDirectory(prefix="bertner-onnx-") as folder:
        path = Path(folder) / ONNX_MODEL
        write_graph(model, path)
        scorer = OnnxScorer.load(path, model.scorer.num_labels, _crf_copy(model.scorer.crf), threads)
    return dataclasses.replace(model, scorer=scorer, backend="onnx")


def check_output(output: Path) -> None:
    """Refuse an output that exists and is not an empty folder or an earlier export (which is replaced)."""
    if not output.exists():
        return
    if not output.is_dir():
        raise ValueError(f"{output}: exists and is not a folder")
    if any(output.iterdir()) and not (output / EXPORT_MANIFEST).is_file():
        raise ValueError(f"{output}: a folder that is neither empty nor an earlier export; refusing to write into it")


def _place(staging: Path, output: Path) -> None:
    """Rename the finished `staging` folder to `output`, replacing an earlier export there."""
    if not output.exists():
        staging.rename(output)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{output.name}.old-", dir=output.parent))
    old.rmdir()
    output.rename(old)
    try:
        staging.rename(output)
    except BaseException:
        old.rename(output)
        raise
    shutil.rmtree(old)


def _versions() -> dict[str, str]:
    import onnx
    import transformers

    return {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": import_onnxruntime().__version__,
    }


def _manifest(model: InferenceModel, report: ExportReport) -> dict[str, Any]:
    graph = report.graph
    return {
        "format": FORMAT_VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "source": {"path": model.path, "kind": model.kind, "encoder": model.config.model.encoder},
        "scheme": model.labels.scheme.value,
        "crf": model.scorer.crf is not None,
        "inputs": list(graph.inputs),
        "exporter": "torch.onnx TorchScript (dynamo=False), eager attention",
        "opset": OPSET,
        "optimized": graph.optimized,
        "fused_operators": graph.fused,
        "optimization": graph.optimization_note,
        "quantization": graph.quantization,
        "quantization_settings": INT8_SETTINGS if graph.quantization == "int8" else None,
        "bytes": graph.onnx_bytes,
        "parity": {
            "torch_f1": report.torch_f1,
            "onnx_f1": report.onnx_f1,
            "max_drop": report.max_drop,
            "check": report.check,
            "sentences": report.sentences,
        },
        "versions": _versions(),
    }


def _write_folder(model: InferenceModel, staging: Path, report: ExportReport) -> None:
    """Everything but the graph: tokenizer, labels, config, CRF and the manifest (written last)."""
    # Plain writes: the whole folder is renamed into place only when complete.
    model.tokenizer.save_pretrained(staging)
    (staging / LABELS_FILENAME).write_text(json.dumps(list(model.labels.tags)) + "\n", encoding="utf-8")
    save_config(model.config, staging)
    if model.scorer.crf is not None:
        (staging / CRF_FILE).write_text(json.dumps(crf_to_dict(model.scorer.crf)) + "\n", encoding="utf-8")
    manifest = json.dumps(_manifest(model, report), indent=2) + "\n"
    (staging / EXPORT_MANIFEST).write_text(manifest, encoding="utf-8")


def _timed_f1(
    model: InferenceModel, sentences: Sequence[Sentence], batch_size: int, progress: bool
) -> tuple[float, float]:
    started = time.perf_counter()
    f1 = evaluate_sentences(model, sentences, batch_size, progress).scores.overall.f1
    return f1, time.perf_counter() - started


def export_onnx(
    model: InferenceModel,
    output: Path,
    check_sentences: Sequence[Sentence],
    quantize: str | None = None,
    max_drop: float = 0.3,
    optimize: bool = False,
    check_name: str = "",
    batch_size: int = 8,
    threads: int | None = None,
    progress: bool = False,
) -> ExportReport:
    """Export `model` to the folder `output` if the export's entity F1 on `check_sentences` is at most
    `max_drop` points below the PyTorch model's; otherwise raise ValueError with both figures and write nothing.

    Args:
        model: a PyTorch model (a bertner run or an HF token-classification model).
        output: the export folder; it must not exist, be empty, or hold an earlier export (replaced).
        check_sentences: labelled sentences for the parity gate, usually the valid split.
        quantize: None (fp32) or "int8" (dynamic quantization of the weights).
        max_drop: the most F1 points (0-100 scale) the export may lose.
        optimize: fuse with onnxruntime's transformer optimizer where it applies (slower on MiniLM-L6 here).
        check_name: where the check sentences came from, for the message and the manifest.
        threads: onnxruntime's intra-op threads for the check; None is its default.
        progress: show progress bars while the check sentences are tagged.
    """
    if max_drop < 0:
        raise ValueError(f"max_drop must be at least 0 F1 points, not {max_drop}")
    if not check_sentences:
        raise ValueError(f"no sentences to check the export on{f' in {check_name}' if check_name else ''}")
    check_output(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    # Not mkdtemp: its folder is private (0700), and the folder itself becomes the export.
    staging = output.parent / f".{output.name}.export-{os.getpid()}-{time.time_ns()}"
    staging.mkdir()
    try:
        graph = write_graph(model, staging / ONNX_MODEL, optimize, quantize)
        scorer = OnnxScorer.load(staging / ONNX_MODEL, model.scorer.num_labels, _crf_copy(model.scorer.crf), threads)
        exported = dataclasses.replace(model, scorer=scorer, kind="export", path=str(output), backend="onnx")
        torch_f1, torch_seconds = _timed_f1(model, check_sentences, batch_size, progress)
        onnx_f1, onnx_seconds = _timed_f1(exported, check_sentences, batch_size, progress)
        report = ExportReport(
            output,
            model.path,
            graph,
            torch_f1,
            onnx_f1,
            check_name,
            len(check_sentences),
            max_drop,
            torch_seconds,
            onnx_seconds,
        )
        logger.info("parity: PyTorch F1 %.2f, ONNX F1 %.2f", torch_f1 * 100, onnx_f1 * 100)
        # 1e-9: F1 differences of a few fractions are not exact in binary (0.9 - 0.897 > 0.003).
        if report.drop > max_drop + 1e-9:
            raise ValueError(
                f"parity check failed on {check_name or 'the check sentences'} ({len(check_sentences)} sentences): "
                f"ONNX{' ' + quantize if quantize else ''} F1 {onnx_f1 * 100:.2f} is {report.drop:.2f} points below "
                f"PyTorch's {torch_f1 * 100:.2f} (at most {max_drop} allowed); {output} not written"
            )
        _write_folder(model, staging, report)
        _place(staging, output)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return report
