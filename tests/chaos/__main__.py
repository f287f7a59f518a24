"""``python -m chaos`` (from tests/, as ``make chaos`` runs it): the fault suite."""

import sys

from .suite import main

sys.exit(main())
