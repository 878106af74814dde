"""`bertner serve`: the HTTP server (FastAPI on uvicorn) with the web page."""

from __future__ import annotations

import argparse
from typing import Any

from bertner.cli.options import add_precision_option, bf16_option


def add_parser(commands: Any) -> None:
    from bertner.serving.settings import ServeSettings

    default = ServeSettings()
    p = commands.add_parser(
        "serve",
        help="serve a model over HTTP: POST /v1/ner, a web page at /, OpenAPI docs at /docs",
        description="A FastAPI app on uvicorn (pip install 'bertner[serve]'). Requests that arrive together are "
        "tagged in one batch. Limits answer 413 (body size, texts per request); a malformed request gets 422.",
    )
    p.add_argument(
        "--model", required=True, help="a run, export or ensemble folder, or an HF token-classification model"
    )
    p.add_argument("--host", default=default.host, help="address to listen on (default: loopback only)")
    p.add_argument("--port", type=int, default=default.port)
    p.add_argument("--workers", type=int, default=default.workers, help="processes, each with its own model")
    p.add_argument("--backend", choices=["auto", "torch", "onnx"], default=default.backend)
    p.add_argument("--threads", type=int, help="intra-op threads of the backend, per worker (default: the library's)")
    add_precision_option(p)
    p.add_argument("--max-body-bytes", type=int, default=default.max_body_bytes, help="a larger body gets 413")
    p.add_argument("--max-texts", type=int, default=default.max_texts, help="more texts in one request get 413")
    p.add_argument(
        "--batch-wait-ms",
        type=float,
        default=default.batch_wait_ms,
        help="how long a request waits for others to join its batch",
    )
    p.add_argument("--max-batch-texts", type=int, default=default.max_batch_texts, help="the most texts in a batch")
    p.add_argument("--batch-size", type=int, default=default.batch_size, help="windows per forward pass")
    p.add_argument("--access-log", action="store_true", help="log every request (off by default: it costs time)")
    studio = p.add_argument_group("Label Studio ML backend (connect Label Studio to http://HOST:PORT/labelstudio)")
    studio.add_argument(
        "--map",
        default=default.label_map,
        help="rename the model's types to the project's labels, e.g. PER=Person,ORG=Organization,MISC=O; a type "
        "with no label in the project is left out and counted (GET /labelstudio/stats)",
    )
    studio.add_argument(
        "--model-version",
        default=default.model_version,
        help="the predictions' model_version (default: the model folder's name); Label Studio skips tasks that "
        "already hold a prediction of this version",
    )


def run(args: argparse.Namespace) -> int:
    from bertner.serving.launch import serve
    from bertner.serving.settings import ServeSettings

    settings = ServeSettings(
        model=str(args.model),
        host=args.host,
        port=args.port,
        workers=args.workers,
        backend=args.backend,
        threads=args.threads,
        bf16=bf16_option(args.bf16),
        max_body_bytes=args.max_body_bytes,
        max_texts=args.max_texts,
        batch_wait_ms=args.batch_wait_ms,
        max_batch_texts=args.max_batch_texts,
        batch_size=args.batch_size,
        access_log=args.access_log,
        label_map=args.map,
        model_version=args.model_version,
    )
    serve(settings)
    return 0
