"""What `bertner audit` writes into its output folder, every file made in memory first:

- `audit.jsonl`: one line per sentence, most likely mislabelled first: `{"rank", "score", "flagged", "where",
  "source", "line", "document", "sentence", "words", "given", "suggested", "suspects": [{"index", "word",
  "given", "suggested", "quality"}]}` (`sentence` is its index in the file, `quality` cleanlab's word score);
- `suggestions.conll`: the audited file with the model's tag for every word as one more column (a CoNLL file
  keeps its own lines and columns, `-DOCSTART-` lines get `O`; an annotation export becomes `word given
  suggested` lines). The suggestions are the model's whole decoded path, so the column is legal IOB2;
- `audit.html` and `audit.md`: the report's style (evaluation/report/document.py), the worst sentences first,
  each between its neighbours in the same document.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bertner.audit.rank import SentenceAudit
from bertner.audit.run import AuditResult
from bertner.data.conll import DOCSTART, Sentence, format_predictions
from bertner.evaluation.errors import mark_entities
from bertner.evaluation.report.document import (
    Block,
    Heading,
    Paragraph,
    Preformatted,
    Table,
    render_html,
    render_markdown,
)
from bertner.evaluation.spans import chunks
from bertner.files import write_text_atomic

AUDIT_FILE = "audit.jsonl"
SUGGESTIONS_FILE = "suggestions.conll"
HTML_FILE = "audit.html"
MARKDOWN_FILE = "audit.md"
_SEPARATOR = re.compile(r"[ \t]+")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class AuditFiles:
    audit: Path
    suggestions: Path
    html: Path
    markdown: Path


def audit_records(result: AuditResult) -> list[dict[str, Any]]:
    """The lines of `audit.jsonl`, in rank order."""
    records = []
    for rank, audit in enumerate(result.ranking, start=1):
        sentence = result.sentences[audit.sentence]
        records.append(
            {
                "rank": rank,
                "score": round(audit.score, 6),
                "flagged": audit.flagged,
                "where": sentence.where(),
                "source": sentence.source,
                "line": sentence.line,
                "document": sentence.document,
                "sentence": audit.sentence,
                "words": list(sentence.words),
                "given": list(sentence.tags),
                "suggested": list(audit.suggested),
                "suspects": [
                    {
                        "index": s.index,
                        "word": s.word,
                        "given": s.given,
                        "suggested": s.suggested,
                        "quality": round(s.quality, 6),
                    }
                    for s in audit.suspects
                ],
            }
        )
    return records


def conll_with_suggestions(result: AuditResult, original: str | None) -> str:
    """`suggestions.conll`: `original` (the CoNLL file's text, None for an annotation export) with one more column."""
    suggested = {audit.sentence: audit.suggested for audit in result.ranking}
    if original is None or not all(s.word_lines for s in result.sentences):
        return format_predictions(result.sentences, [suggested[i] for i in range(len(result.sentences))])
    by_line: dict[int, str] = {}
    for index, sentence in enumerate(result.sentences):
        for position, tag in enumerate(suggested[index]):
            by_line[sentence.line + position] = tag
    lines = []
    for number, line in enumerate(_LINE_BREAK.split(original), start=1):
        stripped = line.rstrip()
        separator = "\t" if "\t" in stripped else " "
        if number in by_line:
            lines.append(f"{stripped}{separator}{by_line[number]}")
        elif stripped and _SEPARATOR.split(stripped.strip())[0] == DOCSTART:
            lines.append(f"{stripped}{separator}O")
        else:
            lines.append(stripped)
    return "\n".join(lines).rstrip("\n") + "\n"


def _context(sentences: Sequence[Sentence], index: int, step: int) -> str | None:
    other = index + step
    if not 0 <= other < len(sentences):
        return None
    here, there = sentences[index], sentences[other]
    if (there.source, there.document) != (here.source, here.document):
        return None
    return mark_entities(there.words, chunks(there.tags))


def _entry(result: AuditResult, rank: int, audit: SentenceAudit) -> str:
    sentence = result.sentences[audit.sentence]
    lines = [f"#{rank}  score {audit.score:.4f}  {sentence.where()} (document {sentence.document})"]
    before = _context(result.sentences, audit.sentence, -1)
    after = _context(result.sentences, audit.sentence, 1)
    if before is not None:
        lines.append(f"  before:    {before}")
    lines.append(f"  given:     {mark_entities(sentence.words, chunks(sentence.tags))}")
    lines.append(f"  suggested: {mark_entities(sentence.words, chunks(audit.suggested))}")
    if after is not None:
        lines.append(f"  after:     {after}")
    for suspect in audit.suspects:
        change = f"{suspect.given} -> {suspect.suggested}" if suspect.given != suspect.suggested else suspect.given
        lines.append(
            f"  suspect:   {suspect.word!r} word {suspect.index + 1}: {change} (quality {suspect.quality:.3f})"
        )
    if not audit.suspects:
        word = audit.worst
        lines.append(f"  weakest:   {sentence.words[word]!r} word {word + 1}: {sentence.tags[word]} (not flagged)")
    return "\n".join(lines)


def audit_blocks(result: AuditResult, shown: int) -> list[Block]:
    """The page: a summary, a table of the `shown` worst sentences, and each of them in its context."""
    worst = result.ranking[:shown]
    source = (
        f"out-of-fold probabilities of {result.folds.count} fold models ({result.folds.unit}s dealt out, "
        f"seed {result.folds.seed})"
        if result.folds is not None
        else f"the model {result.model}"
    )
    blocks: list[Block] = [
        Heading("Annotation audit", 1),
        Paragraph(
            f"{result.data}: {len(result.sentences)} sentences ranked by cleanlab's token_classification "
            f"(token score {result.method}, sentence score = its worst word) on word marginals from {source}. "
            f"{result.flagged} sentences have words flagged by confident learning. Lower scores first."
        ),
        Heading(f"The {len(worst)} most likely mislabelled sentences"),
    ]
    rows = []
    for rank, audit in enumerate(worst, start=1):
        sentence = result.sentences[audit.sentence]
        suspects = ", ".join(f"{s.word}: {s.given} -> {s.suggested}" for s in audit.suspects) or "-"
        rows.append((str(rank), f"{audit.score:.4f}", sentence.where(), suspects))
    blocks.append(Table(("rank", "score", "where", "suspect words: given -> suggested"), tuple(rows)))
    blocks.append(Heading("In context"))
    blocks.append(Paragraph("Each sentence between its neighbours in the same document; entities marked [words]TYPE."))
    blocks += [Preformatted(_entry(result, rank, audit)) for rank, audit in enumerate(worst, start=1)]
    return blocks


def write_audit(result: AuditResult, output: Path, original_conll: str | None, shown: int = 100) -> AuditFiles:
    """Write the four files into `output` (each atomically, all made before the first is written)."""
    jsonl = "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in audit_records(result))
    conll = conll_with_suggestions(result, original_conll)
    blocks = audit_blocks(result, shown)
    html = render_html(blocks, {}, f"bertner audit: {result.data}")
    markdown = render_markdown(blocks)
    files = AuditFiles(output / AUDIT_FILE, output / SUGGESTIONS_FILE, output / HTML_FILE, output / MARKDOWN_FILE)
    for path, text in (
        (files.audit, jsonl),
        (files.suggestions, conll),
        (files.html, html),
        (files.markdown, markdown),
    ):
        write_text_atomic(path, text)
    return files
