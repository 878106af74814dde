"""`python -m bertner.cli ...`: the same as `bertner ...`."""

import sys

from bertner.cli.main import main

sys.exit(main())
