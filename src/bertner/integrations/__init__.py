"""bertner inside other NLP libraries: a spaCy pipeline component (spacy_component.py, the `spacy` extra)."""
