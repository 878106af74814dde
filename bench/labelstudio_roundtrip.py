"""The Label Studio round trip, against a real Label Studio (issue 21.7): pre-annotate with `bertner serve`, export,
train bertner on the export. Prints how long each step took and what was checked, and writes it as JSON.

Run it through scripts/integration/labelstudio.sh, which makes the venv it needs: this script runs in a venv holding
label-studio and label-studio-sdk (they pin numpy and Django versions of their own) and drives bertner through its
CLI (`--bertner`, bertner's own venv). Nothing leaves the machine: Label Studio listens on 127.0.0.1 with SQLite in
a temporary folder, and everything that phones home is switched off (Sentry, the PyPI version check, analytics).

Steps:
 1. `bertner convert CONLL --to labelstudio`: the first `--documents` documents become tasks with gold annotations;
    a few more tasks without annotations hold astral characters (emoji, CJK extension B) and CRLF.
 2. Label Studio starts (a user and an API token made on the command line); `bertner serve --model` starts.
 3. Through the SDK: a project with an NER label config, the tasks imported, bertner connected as its ML backend
    (Label Studio calls /labelstudio/health and /setup), predictions retrieved for every task (one /predict call),
    and the unannotated tasks' predictions accepted as annotations (as an annotator would).
 4. Checks: one prediction per task, equal to what `POST /v1/ner` answers for the same text (offsets, labels,
    scores); every span's text is `text[start:end]` in code points.
 5. With --browser-python: Label Studio's labelling page, in Chromium, highlights exactly the predicted texts.
 6. The project exported as JSON, and `bertner train --data EXPORT --split 0.8,0.1,0.1` on it (short: --train-args).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

LABEL_CONFIG = """<View>
  <Labels name="label" toName="text">
    <Label value="PER"/><Label value="ORG"/><Label value="LOC"/><Label value="MISC"/>
  </Labels>
  <Text name="text" value="$text"/>
</View>"""

EMAIL = "bench@example.com"
RAW_TEXTS = [
    "🙂 Angela Merkel met Emmanuel Macron in Paris 𠀀 on Monday , officials in Berlin said .",
    "Shares of Google rose 3 % in New York 👩‍👩‍👧 trading after the European Commission ruled .\r\n"
    "Sundar Pichai welcomed the decision in London .",
    "𠀀𠀁 Tokyo 🙂 : Toyota Motor Corp said on Tuesday it would build a plant in Texas .",
]

QUIET = {
    # Nothing phones home: Sentry (backend and frontend), the PyPI version check, usage analytics.
    "SENTRY_DSN": "",
    "FRONTEND_SENTRY_DSN": "",
    "LATEST_VERSION_CHECK": "false",
    "COLLECT_ANALYTICS": "false",
    # A legacy token ("Token ..." header) made with --user-token; ML backends on loopback allowed.
    "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
    "ML_BLOCK_LOCAL_IP": "false",
    "SSRF_PROTECTION_ENABLED": "false",
    # Tagging a few hundred tasks on a busy CPU may take longer than the default 100 s.
    "ML_TIMEOUT_PREDICT": "1200",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get_json(url: str, timeout: float = 5.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as answer:  # noqa: S310 (loopback only)
        return json.loads(answer.read())


def _post_json(url: str, body: Any, timeout: float = 600.0) -> Any:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 (loopback only)
        return json.loads(answer.read())


def _wait_up(url: str, process: subprocess.Popen[bytes], what: str, limit_s: float) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode} before answering {url}")
        try:
            _get_json(url, timeout=2.0)
            return
        except OSError:
            time.sleep(1.0)
    raise RuntimeError(f"{what} did not answer {url} within {limit_s:.0f} s")


@contextmanager
def _process(command: list[str], log: Path, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """A child process with its output in `log`, terminated (then killed) on the way out."""
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class Steps:
    """Wall-clock seconds per step, printed as they finish."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        print(f"-- {name} ...", flush=True)
        yield
        self.seconds[name] = round(time.perf_counter() - start, 1)
        print(f"   {name}: {self.seconds[name]} s", flush=True)


def _tasks(bertner: str, conll: Path, documents: int, work: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    converted = work / "converted.json"
    subprocess.run([bertner, "-q", "convert", str(conll), str(converted), "--to", "labelstudio"], check=True)
    gold = json.loads(converted.read_text("utf-8"))[:documents]
    raw = [{"data": {"text": text}} for text in RAW_TEXTS]
    return gold, raw


def _spans(result: list[dict[str, Any]]) -> list[tuple[int, int, str, float | None]]:
    return [(r["value"]["start"], r["value"]["end"], r["value"]["labels"][0], r.get("score")) for r in result]


def _check_offsets(tasks: list[dict[str, Any]]) -> int:
    """Every result's text is `text[start:end]` in code points; the number of spans checked. (A JSON export lists
    a task's predictions by id; they were checked through the API.)"""
    checked = 0
    for task in tasks:
        text = task["data"]["text"]
        for item in [r for a in task.get("annotations", []) for r in a["result"]]:
            value = item["value"]
            assert text[value["start"] : value["end"]] == value["text"], (task["id"], value)
            checked += 1
    return checked


def _browser_check(python: str, url: str, password: str, project: int, regions: dict[str, list[str]]) -> Any:
    """What bench/labelstudio_browser.py finds highlighted on each task's labelling page (tasks with regions)."""
    script = str(Path(__file__).with_name("labelstudio_browser.py"))
    command = [python, script, "--url", url, "--email", EMAIL, "--password", password, "--project", str(project)]
    expected = json.dumps({task: texts for task, texts in regions.items() if texts})
    shown = subprocess.run([*command, "--expected", expected], capture_output=True, text=True)
    lines = shown.stdout.strip().splitlines()
    return json.loads(lines[-1]) if lines else shown.stderr[-3000:]


def run(args: argparse.Namespace) -> dict[str, Any]:
    from label_studio_sdk.client import LabelStudio

    steps, facts = Steps(), {}
    work = Path(tempfile.mkdtemp(prefix="bertner-ls-"))
    token, password = secrets.token_hex(20), secrets.token_urlsafe(12)
    ls_port, serve_port = _free_port(), _free_port()
    ls_url, serve_url = f"http://127.0.0.1:{ls_port}", f"http://127.0.0.1:{serve_port}"
    env = {**os.environ, **QUIET, "LABEL_STUDIO_BASE_DATA_DIR": str(work / "label-studio")}
    label_studio = str(Path(sys.executable).parent / "label-studio")
    try:
        with steps.step("convert CoNLL to tasks"):
            gold, raw = _tasks(args.bertner, args.conll, args.documents, work)
        facts["tasks"] = {"with gold annotations": len(gold), "without (astral characters, CRLF)": len(raw)}
        ls_command = [label_studio, "start", "--no-browser", "--internal-host", "127.0.0.1", "--port", str(ls_port)]
        ls_command += ["--username", EMAIL, "--password", password, "--user-token", token]
        serve_command = [args.bertner, "serve", "--model", str(args.model), "--port", str(serve_port)]
        with (
            _process(ls_command, work / "label-studio.log", env) as studio,
            _process(serve_command, work / "serve.log", dict(os.environ)) as server,
        ):
            with steps.step("start Label Studio and bertner serve"):
                _wait_up(f"{ls_url}/health", studio, "Label Studio", 1800)
                _wait_up(f"{serve_url}/labelstudio/health", server, "bertner serve", 600)
            client = LabelStudio(base_url=ls_url, api_key=token)
            with steps.step("create the project, import tasks"):
                project = client.projects.create(title="bertner round trip", label_config=LABEL_CONFIG)
                client.projects.import_tasks(id=project.id, request=gold + raw)
                tasks = list(client.tasks.list(project=project.id))
            assert len(tasks) == len(gold) + len(raw), len(tasks)
            with steps.step("connect the ML backend (health, setup)"):
                backend = client.ml.create(
                    url=f"{serve_url}/labelstudio", project=project.id, title="bertner", is_interactive=False
                )
            facts["backend state"] = getattr(backend, "state", None)
            with steps.step("retrieve predictions for every task"):
                client.actions.create(id="retrieve_tasks_predictions", project=project.id, selected_items={"all": True})
                predictions = list(client.predictions.list(project=project.id))
            facts["predictions"] = len(predictions)
            assert len(predictions) == len(tasks), f"{len(predictions)} predictions for {len(tasks)} tasks"
            texts = {task.id: task.data["text"] for task in tasks}
            by_task = {p.task: p for p in predictions}
            ordered = sorted(texts)
            answers = _post_json(f"{serve_url}/v1/ner", {"texts": [texts[i] for i in ordered]})["results"]
            for task_id, answer in zip(ordered, answers, strict=True):
                expected = [(e["start"], e["end"], e["type"], e["score"]) for e in answer["entities"]]
                assert _spans(by_task[task_id].result) == expected, task_id
            facts["predictions equal POST /v1/ner"] = True
            facts["entities predicted"] = sum(len(p.result) for p in predictions)
            facts["model_version"] = predictions[0].model_version
            facts["backend stats"] = _get_json(f"{serve_url}/labelstudio/stats")
            raw_ids = [task_id for task_id, text in texts.items() if text in RAW_TEXTS]
            with steps.step("accept the predictions of the unannotated tasks"):
                client.actions.create(
                    id="predictions_to_annotations",
                    project=project.id,
                    selected_items={"all": False, "included": raw_ids},
                )
            if args.browser_python:
                regions = {str(i): [r["value"]["text"] for r in by_task[i].result] for i in raw_ids}
                with steps.step("Label Studio's page highlights the regions (Chromium)"):
                    shown = _browser_check(args.browser_python, ls_url, password, project.id, regions)
                facts["highlighted in the browser"] = shown
            with steps.step("export the project (JSON)"):
                export = work / "export.json"
                export.write_bytes(
                    b"".join(
                        client.projects.exports.download_sync(
                            id=project.id, export_type="JSON", download_all_tasks=True
                        )
                    )
                )
            exported = json.loads(export.read_text("utf-8"))
            facts["exported tasks"] = len(exported)
            facts["spans whose text is text[start:end] in code points"] = _check_offsets(exported)
            shutil.copy2(export, args.export)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    train = [args.bertner, "train", "--data", str(args.export), "--split", "0.8,0.1,0.1", "--output", str(args.output)]
    with steps.step("bertner train on the export"):
        trained = subprocess.run([*train, *args.train_args.split()], capture_output=True, text=True)
    facts["train exit code"] = trained.returncode
    facts["train stderr (last lines)"] = trained.stderr.strip().splitlines()[-12:]
    report = Path(args.output) / "annotations.json"
    if report.is_file():
        facts["annotations report"] = json.loads(report.read_text("utf-8"))
    metrics = Path(args.output) / "eval" / "test" / "metrics.json"
    if metrics.is_file():
        facts["test overall"] = json.loads(metrics.read_text("utf-8"))["overall"]
    return {"seconds": steps.seconds, "facts": facts, "command": " ".join(sys.argv)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, required=True, help="the model bertner serve pre-annotates with")
    p.add_argument("--conll", type=Path, required=True, help="a CoNLL file whose first documents become tasks")
    p.add_argument("--documents", type=int, default=20, help="documents of --conll imported as tasks")
    p.add_argument("--bertner", default="bertner", help="bertner's executable (in bertner's own venv)")
    p.add_argument("--export", type=Path, default=Path("runs/labelstudio-export.json"), help="where the export goes")
    p.add_argument("--output", type=Path, default=Path("runs/labelstudio-roundtrip"), help="the trained run")
    p.add_argument(
        "--train-args",
        default="--epochs 1 --limit-train 100 --limit-eval 50",
        help="more arguments for bertner train (default: a short run)",
    )
    p.add_argument(
        "--browser-python",
        help="a Python with Playwright (bertner's venv): check in Chromium which characters Label Studio's labelling "
        "page highlights for the accepted predictions (bench/labelstudio_browser.py)",
    )
    p.add_argument("--json", type=Path, help="also write the timings and checks here")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (Label Studio's data, logs)")
    args = p.parse_args()
    result = run(args)
    text = json.dumps(result, indent=1, ensure_ascii=False)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0 if result["facts"]["train exit code"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
