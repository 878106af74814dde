"""The decoding layer runs without torch and transformers: an ONNX export decodes and scores with numpy alone."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_decoding_package_loads_neither_torch_nor_transformers() -> None:
    code = (
        "import sys\n"
        "import bertner.decoding.calibration, bertner.decoding.entities, bertner.decoding.words\n"
        "import bertner.evaluation.calibration\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
