"""Hyperparameter search: Optuna proposes settings (space.py), trials train (run.py) in a shared study
(study.py), and the trials are summarised (results.py) in tables, a plot (plot.py) and the best config."""
