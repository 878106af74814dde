"""Experiments: many training runs from one file (variants x seeds), resumed, and summarised in tables and a plot.

This package sits above training and inference (it trains, then scores each saved model on valid and test),
and below the CLI (`bertner experiment CONFIG.toml`).
"""
