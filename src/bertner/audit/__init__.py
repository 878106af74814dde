"""The annotation audit (issue 22): sentences of a labelled file ranked by how likely their gold labels are wrong.

rank.py (cleanlab on word marginals), folds.py (out-of-fold probabilities for training data), run.py (the steps
end to end), write.py (audit.jsonl, suggestions.conll, audit.html).
"""
