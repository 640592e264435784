"""`python -m tfsearch.cli ...`, the same as the `tfsearch` console script."""

import sys

from tfsearch.cli import main

sys.exit(main())
