"""Write a model's network as an ONNX graph, fused and optionally int8, checked against PyTorch.

Steps 1-3 of an export (inference/onnx/export.py runs them, then its parity gate):

when every step has passed (a failed export writes nothing):

1. The network (sub-token ids -> logits; a CRF stays outside, see inference/onnx/runtime.py) is exported with
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
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import logging
import os
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from bertner.data.features import NUM_SHAPES
from bertner.decoding.chain import LinearChain
from bertner.decoding.windows import as_chain
from bertner.errors import UserError
from bertner.inference.model import HFScorer, InferenceModel
from bertner.inference.onnx.runtime import (
    GRAPH_OUTPUT,
    OnnxScorer,
    import_onnxruntime,
)
from bertner.layout import ONNX_MODEL
from bertner.model.decode import TaggerScorer

logger = logging.getLogger(__name__)

QUANTIZATIONS = ("int8",)
OPSET = 17
"""The TorchScript exporter's most tested opset; onnxruntime's fusions and int8 kernels all cover it."""
_ATOL, _RTOL = 1e-4, 1e-3
"""How close a graph's logits must be to PyTorch's (fp32 and fused alike) at every real sub-token."""


@dataclass(frozen=True, kw_only=True)
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
        raise UserError(f"{model.path}: only a PyTorch model can be exported, not a {model.backend} one")
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
        raise UserError(f"onnxruntime's transformer optimizer failed: {error}") from error
    if not counts:
        raise UserError("onnxruntime's transformer optimizer found nothing to fuse in this encoder")
    expected, inputs = check
    if not _matches(expected, _run(fused, names, inputs), inputs[1]):
        raise UserError(f"the fused graph ({counts}) does not give the unfused logits")
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
            raise UserError(f"{model.path}: the exported graph does not reproduce PyTorch's logits on other shapes")
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
    return GraphInfo(
        inputs=names,
        optimized=bool(fused),
        fused=fused,
        optimization_note=note,
        quantization=quantize,
        fp32_bytes=fp32_bytes,
        onnx_bytes=path.stat().st_size,
        seconds=seconds,
    )


def crf_copy(crf: Any) -> LinearChain | None:
    """The model's CRF (a torch CRF or a chain) as the export folder will hold it, through its JSON form, so
    that the gate checks what loads."""
    chain = as_chain(crf)
    return None if chain is None else LinearChain.from_dict(json.loads(json.dumps(chain.to_dict())), "the model's CRF")


def to_onnx(model: InferenceModel, threads: int | None = None) -> InferenceModel:
    """The model scored by onnxruntime: exported in a temporary folder, fp32, without the parity
    gate that `export_onnx` runs (for `--backend onnx` on a run folder or HF model)."""
    with tempfile.TemporaryDirectory(prefix="bertner-onnx-") as folder:
        path = Path(folder) / ONNX_MODEL
        write_graph(model, path)
        scorer = OnnxScorer.load(path, model.scorer.num_labels, crf_copy(model.scorer.crf), threads)
    return dataclasses.replace(model, scorer=scorer, backend="onnx")
