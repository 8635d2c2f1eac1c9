"""``python -m tfnn``: the same as the ``tfnn`` command."""

import sys

from tfnn.cli import main

sys.exit(main())
