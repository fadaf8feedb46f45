"""``python -m pf_exporter``: the same as the ``pf_exporter`` console script."""

import sys

from .cli import main

sys.exit(main())
