"""Ensembles: several models that tag as one (model.py), their folder and manifest (folder.py), making one
(write.py)."""
