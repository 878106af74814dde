"""The error-analysis report of one prediction set: its document model (document.py), what it says
(content.py) and how its files are written (write.py, `write_report`)."""
