"""onnxruntime as a scoring backend: an exported network behind the `WindowScorer` seam (decoding/windows.py).

Only the network runs in onnxruntime: sub-token ids in, per-sub-token logits out. Windows, the reading of
one score per word, and decoding are the code every backend shares, so an export finds the entities the
run finds. A CRF head is not in the graph: its scores are saved beside it (`crf.json`) and read as the numpy
`LinearChain` (decoding/chain.py) that Viterbi and the marginals of every backend run on.

Loading and scoring an export imports neither torch nor transformers: the tokenizer is read from its
`tokenizer.json` with the `tokenizers` library (data/tokenizer_file.py), batches are numpy arrays.
onnxruntime is an optional extra (`pip install 'bertner[runtime]'`), imported only when a session is made.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bertner.config_files import read_saved_config
from bertner.data.tokenizer_file import load_file_tokenizer
from bertner.decoding.chain import LinearChain
from bertner.errors import MissingExtraError, UserError
from bertner.files import read_json
from bertner.inference.hf_labels import ModelLabels
from bertner.inference.model import InferenceModel
from bertner.labels import Scheme
from bertner.layout import CRF_FILE, EXPORT_MANIFEST, LABELS_FILENAME, ONNX_MODEL

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
"""The version of the export folder's layout, written to and checked against `export.json`."""
GRAPH_INPUTS = ("input_ids", "attention_mask", "shape_ids")
"""The inputs an exported graph may have, in this order; `shape_ids` only for a model with case features."""
GRAPH_OUTPUT = "logits"


def import_onnxruntime() -> Any:
    """The onnxruntime module, or an ImportError that names the extra to install."""
    try:
        import onnxruntime
    except ImportError as error:
        raise MissingExtraError(
            f"the ONNX backend needs onnxruntime: pip install 'bertner[runtime]' ({error})"
        ) from error
    return onnxruntime


def create_session(path: Path, threads: int | None = None) -> Any:
    """An onnxruntime CPU session on the graph at `path`, all graph optimizations on, its intra-op threads
    sleeping between parallel sections instead of spinning.

    Spinning threads hold their cores while Python tokenizes, pads and decodes between `run` calls and, in the
    server, while the event loop parses and answers requests. On 2 busy cores (issue 23) the int8 MiniLM-L6
    export's `predict` took 0.37 CPU s per 1,000 words spinning and 0.23 without, and the server under 32
    clients 0.47-0.53 against 0.25-0.27. The price: one sentence alone, in a quiet moment, took 1.69 ms bare
    instead of 1.11 (docs/results.md).

    Args:
        threads: intra-op threads; None leaves onnxruntime's default (one per physical core).
    """
    ort = import_onnxruntime()
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads is not None:
        options.intra_op_num_threads = threads
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own exception types for a damaged or foreign graph
        raise UserError(f"{path}: onnxruntime cannot load this graph: {error}") from error


@dataclass(frozen=True)
class OnnxScorer:
    """An exported network in an onnxruntime session, as a WindowScorer.

    `inputs` are the graph's inputs (a subset of GRAPH_INPUTS); `crf` decodes whole sentences, or None.
    """

    session: Any
    num_labels: int
    inputs: tuple[str, ...]
    crf: LinearChain | None = None

    @classmethod
    def load(
        cls, path: Path, num_labels: int, crf: LinearChain | None = None, threads: int | None = None
    ) -> OnnxScorer:
        """The graph at `path`; raises UserError when its inputs or output are not an export's."""
        session = create_session(path, threads)
        inputs = tuple(node.name for node in session.get_inputs())
        outputs = [node.name for node in session.get_outputs()]
        if not {"input_ids", "attention_mask"} <= set(inputs) <= set(GRAPH_INPUTS) or outputs != [GRAPH_OUTPUT]:
            raise UserError(
                f"{path}: expected inputs input_ids, attention_mask [, shape_ids] and the output {GRAPH_OUTPUT}, "
                f"found inputs {', '.join(inputs)} and outputs {', '.join(outputs)}"
            )
        width = session.get_outputs()[0].shape[-1]
        if isinstance(width, int) and width != num_labels:
            raise UserError(f"{path}: the graph scores {width} labels, but the folder names {num_labels}")
        if crf is not None and crf.num_tags != num_labels:
            raise UserError(f"{path}: the CRF has {crf.num_tags} tags, but the folder names {num_labels} labels")
        return cls(session, num_labels, inputs, crf)

    def logits(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """(batch, seq_len, num_labels) float32 logits of a batch from `pad_windows` (int64 arrays)."""
        feed = {name: np.asarray(batch[name], dtype=np.int64) for name in self.inputs}
        (logits,) = self.session.run([GRAPH_OUTPUT], feed)
        return logits


def read_crf(path: Path) -> LinearChain:
    """The CRF an export saved beside its graph; a damaged file is a ValueError naming it."""
    return LinearChain.from_dict(read_json(path, "the CRF"), str(path))


def read_export_labels(folder: Path, manifest: dict[str, Any]) -> ModelLabels:
    """The export's tags in id order (labels.json) and the scheme they belong to (export.json)."""
    path = folder / LABELS_FILENAME
    tags = read_json(path, "the labels")
    if not isinstance(tags, list) or not tags or not all(isinstance(tag, str) for tag in tags):
        raise UserError(f"{path}: expected a list of tags, got {tags!r}")
    try:
        scheme = Scheme(manifest.get("scheme", Scheme.IOB2.value))
    except ValueError as error:  # Scheme's own: not one of its values
        raise UserError(f"{folder}: unknown label scheme in the manifest: {error}") from error
    return ModelLabels(tuple(tags), scheme)


def load_export(folder: Path, threads: int | None = None) -> InferenceModel:
    """The export folder written by `bertner export` (inference/onnx/export.py), scored with onnxruntime."""
    manifest = read_manifest(folder)
    version = manifest.get("format")
    if version != FORMAT_VERSION:
        raise UserError(f"{folder}: export format {version!r}; this bertner reads format {FORMAT_VERSION}")
    labels = read_export_labels(folder, manifest)
    crf = read_crf(folder / CRF_FILE) if _has_crf(folder, manifest) else None
    scorer = OnnxScorer.load(folder / ONNX_MODEL, len(labels.tags), crf, threads)
    logger.info(
        "ONNX export %s: %s, %s labels%s",
        folder,
        manifest.get("quantization") or "fp32",
        len(labels.tags),
        ", CRF" if crf is not None else "",
    )
    return InferenceModel(
        scorer, load_file_tokenizer(folder), labels, read_saved_config(folder), "export", str(folder), "onnx"
    )


def _has_crf(folder: Path, manifest: dict[str, Any]) -> bool:
    """Whether the export has a CRF, as its manifest says (`"crf": true`), refusing a folder whose crf.json
    disagrees: without the CRF's scores a CRF model would be decoded word by word, not as it was trained."""
    path, manifest_path = folder / CRF_FILE, folder / EXPORT_MANIFEST
    said = manifest.get("crf")
    if not isinstance(said, bool):
        raise UserError(f'{manifest_path}: "crf" must be true or false, not {said!r}')
    if said and not path.is_file():
        raise UserError(
            f"{path}: missing, but {manifest_path} says the model has a CRF; without its transition scores the "
            "export would tag word by word, not as the model was trained (export the model again)"
        )
    if not said and path.is_file():
        raise UserError(f"{path}: present, but {manifest_path} says the model has no CRF; which is right?")
    return said


def read_manifest(folder: Path) -> dict[str, Any]:
    """An export folder's manifest; a damaged one is a UserError naming the file."""
    path = folder / EXPORT_MANIFEST
    manifest = read_json(path, "the export manifest")
    if not isinstance(manifest, dict):
        raise UserError(f"{path}: the export manifest must be a JSON object")
    return manifest
