"""`python -m bench.capacity`."""

import sys

from bench.capacity.cli import main

sys.exit(main())
