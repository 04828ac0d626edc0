"""``python -m mqttsim``: the same command line as the ``mqttsim`` script."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
