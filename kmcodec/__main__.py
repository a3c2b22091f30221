"""``python -m kmcodec``: the same as the ``kmc`` command."""

import sys

from .cli import main

sys.exit(main())
