"""`python -m ikepy` is the `ikepy` command."""

import sys

from ikepy.cli.main import main

sys.exit(main())
