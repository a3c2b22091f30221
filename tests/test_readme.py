"""The README runs: every ``python`` and ``console`` block, on small inputs.

Python blocks are executed as a script (``__name__ == "__main__"``) in a
folder holding the files they name; console blocks are ``$ ...`` lines run
by bash in that folder, with this environment's ``kmc`` first on the PATH,
as a user types them (pipes included).  Their exit status must be 0, or the
N of a closing ``# exit status N`` comment, and where the README shows
output, what they print on standard output and standard error together is
compared by :mod:`doctest`'s checker, so ``...`` stands for what varies.  A block that is not run must say why in an
HTML comment just above it, visible in the README's source; any other block
fails here, so nothing in the README goes untested by accident.
"""

from __future__ import annotations

import doctest
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import kmcodec

from .hostile_helpers import child_env

README = Path(__file__).resolve().parent.parent / "README.md"
SAMPLES = README.parent / "samples"
FENCE = re.compile(r"(?:<!-- not run: (?P<why>[^>]*?) -->\n)?```(?P<lang>\w*)\n(?P<body>.*?)^```",
                   re.S | re.M)


def _blocks():
    text = README.read_text()
    for match in FENCE.finditer(text):
        line = text.count("\n", 0, match.start("body"))
        yield pytest.param(match["lang"], match["body"], match["why"], id=f"line{line}-{match['lang'] or 'plain'}")


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """The files the README's examples name, small."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "samples").symlink_to(SAMPLES)
    cat = Image.open(SAMPLES / "chelsea.png").convert("RGB")
    small = cat.crop((150, 60, 214, 108))
    small.save("photo.png")
    small.save("photo.jpg", quality=95)
    for folder in ("photos", "photos/trip"):
        Path(folder).mkdir()
    for i, name in enumerate(("photos/a.png", "photos/b.jpg", "photos/trip/c.png")):
        Image.fromarray(np.roll(np.asarray(small), 7 * i, axis=1)).save(name)
    kmcodec.write("photo.kmc", small, k=16)
    small.save("a.jpg")
    small.save("b.png")
    small.save("c.tif")
    logo = small.convert("RGBA")
    logo.putalpha(Image.linear_gradient("L").resize(small.size))  # transparent to opaque
    logo.save("logo.png")
    return tmp_path


@pytest.mark.parametrize("lang, body, why", list(_blocks()))
def test_readme_block(lang, body, why, workdir, entropy_compiled):
    if why is not None:
        pytest.skip(f"not run: {why}")
    assert lang in ("python", "console"), (
        f"a ```{lang} block without a '<!-- not run: why -->' line above it")
    if lang == "python":
        exec(compile(body, str(README), "exec"), {"__name__": "__main__"})
        return
    checker = doctest.OutputChecker()
    env = child_env(PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    for command, expected in _console(body):
        assert command.startswith(("kmc ", "cat ")), command
        status = re.search(r"# exit status (\d+)$", command)
        proc = subprocess.run(["bash", "-o", "pipefail", "-c", command], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=300)
        assert proc.returncode == (int(status[1]) if status else 0), f"$ {command}\n{proc.stdout}"
        # A cold Numba cache adds a one-time "kmc: note: compiling ..." line
        # (documented; the README shows the steady state), so whether this file
        # runs alone or after tests that compiled the loops does not matter.
        output = "".join(line for line in proc.stdout.splitlines(keepends=True)
                         if not line.startswith("kmc: note: compiling "))
        if expected:
            assert checker.check_output(expected, output, doctest.ELLIPSIS), (
                f"$ {command}\nexpected:\n{expected}got:\n{proc.stdout}")


def _console(body: str) -> list[tuple[str, str]]:
    """(command, expected output) for each ``$ `` line of a console block."""
    sessions: list[tuple[str, str]] = []
    for line in body.splitlines(keepends=True):
        if line.startswith("$ "):
            sessions.append((line[2:].strip(), ""))
        else:
            command, expected = sessions[-1]
            sessions[-1] = (command, expected + line)
    return sessions


def test_every_block_is_found():
    blocks = list(_blocks())
    assert len(blocks) == README.read_text().count("\n```") // 2 + README.read_text().startswith("```")
    assert sum(1 for b in blocks if b.values[2] is None) >= 6  # most blocks run
