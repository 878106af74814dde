"""Annotation-tool exports in, annotation-tool imports out: Label Studio (JSON, JSON_MIN), doccano, Prodigy and the
generic `{"text", "spans"}` JSONL, read into IOB2 sentences with every changed or dropped span reported, and
written back (CoNLL, Label Studio tasks and predictions, doccano, spans JSONL). Pure Python: no torch.

records.py (the data), detect.py (the format), labelstudio.py, doccano.py, prodigy.py (one reader and writer per
tool), offsets.py (the offset unit), words.py (spans -> IOB2 on words), conll_text.py (CoNLL <-> texts), split.py
(one file -> train/valid/test), report.py, read.py (a file -> records -> texts -> sentences), write.py.
"""
