"""``python -m pf_exporter.ctl``."""

import sys

from . import main

sys.exit(main())
