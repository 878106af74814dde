"""ONNX: exporting a model with a parity gate, and onnxruntime as a scoring backend."""
