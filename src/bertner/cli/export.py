"""`bertner export`: ONNX (optionally int8), written only if it scores what the PyTorch model scores."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bertner.cli.options import add_precision_option, bf16_option, positive_int
from bertner.errors import UserError


def add_parser(commands: Any) -> None:
    p = commands.add_parser(
        "export",
        help="export a model to ONNX (optionally int8) if it scores what the PyTorch model scores",
        description="Writes model.onnx, the tokenizer, labels, config (and a CRF's scores) to --output, after a "
        "parity check: the export's entity F1 on a labelled file "
        "may be at most --max-drop points below the PyTorch model's, or nothing is written.",
    )
    p.add_argument("--model", required=True, help="a run folder, or an HF token-classification model (folder or id)")
    p.add_argument("--output", required=True, type=Path, help="the export folder (new, empty, or an earlier export)")
    p.add_argument("--quantize", choices=["int8"], help="dynamic int8 quantization of the weights")
    p.add_argument("--check", type=Path, help="a labelled CoNLL file for the parity check (default: --data's valid)")
    p.add_argument("--data", type=Path, help="a CoNLL folder whose valid split is the parity check")
    p.add_argument("--max-drop", type=float, default=0.3, help="the most F1 points the export may lose (default 0.3)")
    add_precision_option(p)  # the PyTorch model's, in the parity check; the export itself is fp32
    p.add_argument(
        "--optimize",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="fuse attention, LayerNorm and GELU with onnxruntime's transformer optimizer (default: off; it was "
        "slower than onnxruntime's own load-time optimizations on MiniLM-L6, docs/results.md)",
    )
    p.add_argument(
        "--batch-size",
        type=positive_int,
        default=8,
        help="windows per forward pass in the parity check (predict's default: int8 scores depend on it)",
    )


def run(args: argparse.Namespace) -> int:
    from bertner.data.corpus import find_split, read_split
    from bertner.inference.load import load_inference_model
    from bertner.inference.onnx.export import export_onnx

    if args.check is None and args.data is None:
        raise UserError("the parity check needs labelled sentences: --data FOLDER (its valid split) or --check FILE")
    check = args.check if args.check is not None else args.data
    check = find_split(check, "valid") if check.is_dir() else check
    model = load_inference_model(args.model, backend="torch", bf16=bf16_option(args.bf16))
    sentences = read_split(check, "valid", model.config.data)
    report = export_onnx(
        model,
        args.output,
        sentences,
        quantize=args.quantize,
        max_drop=args.max_drop,
        optimize=args.optimize,
        check_name=str(check),
        batch_size=args.batch_size,
        progress=not args.quiet,
    )
    graph = report.graph
    print(
        f"parity on {check} ({report.sentences} sentences): PyTorch F1 {report.torch_f1 * 100:.2f}, "
        f"ONNX {graph.quantization or 'fp32'} F1 {report.onnx_f1 * 100:.2f} ({-report.drop:+.2f})"
    )
    fused = ", ".join(f"{op} {n}" for op, n in graph.fused.items()) if graph.optimized else graph.optimization_note
    print(f"wrote {report.output} ({graph.onnx_bytes / 1e6:.1f} MB; fused: {fused})")
    return 0
