"""`python -m voxprint ...`: the `voxprint` command (voxprint.cli)."""

import sys

from .cli import main

sys.exit(main())
