"""Numbers in words, for messages and summaries."""

from __future__ import annotations

__all__ = ["plural", "one_line"]


def plural(n: int, word: str, spec: str = "") -> str:
    """``n`` formatted by ``spec``, then ``word``, plural unless n is 1.

    >>> plural(1, "colour"), plural(2, "file"), plural(1234, "byte", ",")
    ('1 colour', '2 files', '1,234 bytes')
    """
    return f"{n:{spec}} {word}{'' if n == 1 else 's'}"


def one_line(text: str) -> str:
    """``text`` as one printable line: control characters escaped.

    File names inside messages may hold anything; a newline or an escape
    sequence in one must not forge output lines or drive the terminal.

    >>> one_line("a\\nb\\x1b[2J")
    'a\\\\nb\\\\x1b[2J'
    """
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)
