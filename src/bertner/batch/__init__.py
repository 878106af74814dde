"""Corpus-scale tagging: a corpus's files (corpus_files.py), tagged-line output (tagged_lines.py), Ray Data
(ray_engine.py)."""
