"""Decoding per-word scores without torch: Viterbi, forward-backward marginals, entity probabilities and their
calibration, in numpy, so that an ONNX export tags and scores with numpy alone (issue 23)."""
