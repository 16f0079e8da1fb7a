"""`python -m services.cli`: the `sluice` command."""

import sys

from services.cli.main import main

sys.exit(main())
