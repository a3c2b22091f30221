"""``python -m kmcodec``: the same as the ``kmc`` command."""

from .cli import run

run()
