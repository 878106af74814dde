"""`python -m bertner ...` (and `torchrun -m bertner ...`): the same command as `bertner ...`."""

from __future__ import annotations

import sys

from bertner.cli import main

if __name__ == "__main__":
    sys.exit(main())
