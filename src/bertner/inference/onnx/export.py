"""Export a model to ONNX, fused and optionally int8, and prove it scores what the PyTorch model scores.

The steps of `export_onnx`, all in a temporary folder beside the output, which is renamed into place only
when every step has passed (a failed export writes nothing): the graph is written (inference/onnx/graph.py:
the exporter, the optional fusion and int8 quantization, and why), then

4. The parity gate: the PyTorch model and the exported graph tag the check sentences (the valid split by
   default); when the export's entity F1 is more than `max_drop` points below PyTorch's, nothing is written.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from bertner.config_files import save_config
from bertner.data.conll import Sentence
from bertner.decoding.temperature import write_calibration
from bertner.errors import UserError
from bertner.files import replace_folder
from bertner.inference.evaluate import evaluate_sentences
from bertner.inference.model import InferenceModel
from bertner.inference.onnx.graph import INT8_SETTINGS, OPSET, GraphInfo, crf_copy, write_graph
from bertner.inference.onnx.runtime import FORMAT_VERSION, OnnxScorer, import_onnxruntime
from bertner.layout import CALIBRATION_FILE, CRF_FILE, EXPORT_MANIFEST, LABELS_FILENAME, ONNX_MODEL

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
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


def check_output(output: Path) -> None:
    """Refuse an output that exists and is not an empty folder or an earlier export (which is replaced)."""
    if not output.exists():
        return
    if not output.is_dir():
        raise UserError(f"{output}: exists and is not a folder")
    if any(output.iterdir()) and not (output / EXPORT_MANIFEST).is_file():
        raise UserError(f"{output}: a folder that is neither empty nor an earlier export; refusing to write into it")


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
    """Everything but the graph: tokenizer, labels, config, CRF, calibration and the manifest (written last)."""
    # Plain writes: the whole folder is renamed into place only when complete.
    model.tokenizer.save_pretrained(staging)
    (staging / LABELS_FILENAME).write_text(json.dumps(list(model.labels.tags)) + "\n", encoding="utf-8")
    save_config(model.config, staging)
    chain = crf_copy(model.scorer.crf)
    if chain is not None:
        (staging / CRF_FILE).write_text(json.dumps(chain.to_dict()) + "\n", encoding="utf-8")
    if model.calibration is not None:  # the run's temperature, fitted on its PyTorch scores (bertner calibrate refits)
        write_calibration(staging / CALIBRATION_FILE, model.calibration)
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
    `max_drop` points below the PyTorch model's; otherwise raise UserError with both figures and write nothing.

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
        raise UserError(f"max_drop must be at least 0 F1 points, not {max_drop}")
    if not check_sentences:
        raise UserError(f"no sentences to check the export on{f' in {check_name}' if check_name else ''}")
    check_output(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    # Not mkdtemp: its folder is private (0700), and the folder itself becomes the export.
    staging = output.parent / f".{output.name}.export-{os.getpid()}-{time.time_ns()}"
    staging.mkdir()
    try:
        graph = write_graph(model, staging / ONNX_MODEL, optimize, quantize)
        scorer = OnnxScorer.load(staging / ONNX_MODEL, model.scorer.num_labels, crf_copy(model.scorer.crf), threads)
        exported = dataclasses.replace(model, scorer=scorer, kind="export", path=str(output), backend="onnx")
        torch_f1, torch_seconds = _timed_f1(model, check_sentences, batch_size, progress)
        onnx_f1, onnx_seconds = _timed_f1(exported, check_sentences, batch_size, progress)
        report = ExportReport(
            output=output,
            source=model.path,
            graph=graph,
            torch_f1=torch_f1,
            onnx_f1=onnx_f1,
            check=check_name,
            sentences=len(check_sentences),
            max_drop=max_drop,
            torch_seconds=torch_seconds,
            onnx_seconds=onnx_seconds,
        )
        logger.info("parity: PyTorch F1 %.2f, ONNX F1 %.2f", torch_f1 * 100, onnx_f1 * 100)
        # 1e-9: F1 differences of a few fractions are not exact in binary (0.9 - 0.897 > 0.003).
        if report.drop > max_drop + 1e-9:
            raise UserError(
                f"parity check failed on {check_name or 'the check sentences'} ({len(check_sentences)} sentences): "
                f"ONNX{' ' + quantize if quantize else ''} F1 {onnx_f1 * 100:.2f} is {report.drop:.2f} points below "
                f"PyTorch's {torch_f1 * 100:.2f} (at most {max_drop} allowed); {output} not written"
            )
        _write_folder(model, staging, report)
        replace_folder(staging, output)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return report
