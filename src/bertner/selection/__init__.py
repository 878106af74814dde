"""Active learning (issue 22): the texts of an unlabelled pool that a model is least sure of, for annotators.

pool.py (reading the pool), uncertainty.py (the scores and their formulas), dedup.py (near-duplicates),
select.py (the steps end to end, with pre-annotations), write.py (Label Studio tasks and JSONL).
"""
