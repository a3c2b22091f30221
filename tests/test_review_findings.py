"""Cases a review of the hardening found, each a rule of its own.

They complement tests/test_hostile.py: links to pipes and devices as
outputs, a FIFO input, names with control characters, thread-pool batches
and the pixel limit, an image that is larger than its header said, a
folder holding formats kmcodec refuses, bad arguments to the public types.
"""

from __future__ import annotations

import io
import os
import struct
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import kmcodec
from kmcodec import batch
from kmcodec.atomicfile import remove_temporaries, temporary_name
from kmcodec.files import encoded_name
from kmcodec.quantized import Quantized

from .conftest import palette_image
from .hostile_helpers import error_line, run

posix = pytest.mark.skipif(os.name != "posix", reason="FIFOs and symbolic links")


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Image.fromarray(palette_image(8, 8, 4)).save("a.png")
    Path("a.kmc").write_bytes(kmcodec.encode(palette_image(8, 8, 4)))
    return tmp_path


def _read_fifo(path: Path, into: list) -> threading.Thread:
    def reader() -> None:
        with open(path, "rb") as fh:
            into.append(fh.read())

    thread = threading.Thread(target=reader)
    thread.start()
    return thread


@posix
def test_a_link_to_a_fifo_is_written_into_not_replaced(in_tmp, capsys):
    """``-o link -f`` where the link names a pipe (as /dev/stdout does):
    the data goes down the pipe and the link stays a link."""
    os.mkfifo("pipe")
    os.symlink("pipe", "link.kmc")
    got: list = []
    thread = _read_fifo(in_tmp / "pipe", got)
    code, _, err = run(capsys, "encode", "a.png", "-o", "link.kmc", "-f", "-q")
    thread.join(10)
    assert code == 0, err
    assert Path("link.kmc").is_symlink() and got == [kmcodec.encode(in_tmp / "a.png")]


@posix
def test_decode_into_a_fifo_without_a_suffix_takes_format(in_tmp, capsys):
    os.mkfifo("p")
    got: list = []
    thread = _read_fifo(in_tmp / "p", got)
    code, _, err = run(capsys, "decode", "a.kmc", "-o", "p", "--format", "png", "-f")
    thread.join(10)
    assert code == 0, err
    assert got and Image.open(io.BytesIO(got[0])).format == "PNG"
    code, _, err = run(capsys, "decode", "a.kmc", "-o", "noext")
    assert code == 2 and "has no suffix to name a format; add --format EXT" in err


@posix
def test_a_fifo_input_is_read_once_and_never_hangs(in_tmp, capsys):
    os.mkfifo("f.png")

    def writer() -> None:
        with open("f.png", "wb") as fh:
            fh.write(b"junk, not an image")

    thread = threading.Thread(target=writer)
    thread.start()
    code, _, err = run(capsys, "encode", "f.png", "-o", "f.kmc")
    thread.join(10)
    assert code == 1
    assert "f.png: cannot read image: its content is none of the formats" in error_line(err)


@posix
def test_control_characters_in_names_cannot_forge_lines(in_tmp, capsys):
    name = "bad.png\nkmc: all files encoded fine\x1b[31m"
    Path(name).write_bytes(b"not an image")
    code, _, err = run(capsys, "encode", name, "-o", "x.kmc")
    assert code == 1
    line = error_line(err)  # exactly one line, however the name reads
    assert "bad.png\\nkmc: all files encoded fine\\x1b[31m" in line


def test_a_thread_pool_batch_leaves_the_process_limit_alone(in_tmp):
    """``max_pixels`` applies to the batch's own tasks, never to the rest of
    the process (Dask's workers are threads, too)."""
    before = Image.MAX_IMAGE_PIXELS
    with ThreadPoolExecutor(3) as pool:
        results = batch.encode_many(["a.png"], "out", k=4, executor=pool, max_pixels=10)
    assert before == Image.MAX_IMAGE_PIXELS
    assert not results[0].ok and "above the limit of 10" in results[0].error


def _ico_hiding(png: bytes, declared: int = 16) -> bytes:
    """An ICO whose directory says ``declared`` pixels a side but whose
    image is the (larger) PNG ``png``."""
    head = struct.pack("<HHH", 0, 1, 1)
    entry = struct.pack("<BBBBHHII", declared, declared, 0, 0, 1, 32, len(png), 6 + 16)
    return head + entry + png


def test_an_image_larger_than_its_header_said_is_refused(in_tmp, monkeypatch):
    big = io.BytesIO()
    Image.new("L", (1200, 1200)).save(big, "PNG")
    Path("bomb.ico").write_bytes(_ico_hiding(big.getvalue()))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000_000)
    with pytest.raises(kmcodec.PixelLimitError, match="1440000 pixels, above the limit of 1000000"):
        kmcodec.encode("bomb.ico")


def test_a_folder_of_refused_formats_is_not_expanded(in_tmp):
    for name in ("doc.pdf", "fig.eps", "data.h5", "x.kmc"):
        Path("fold").mkdir(exist_ok=True)
        Path("fold", name).write_bytes(b"%!PS or anything")
    Image.fromarray(palette_image(8, 8, 4)).save("fold/a.png")
    pairs = batch.plan(["fold"], None, encoded_name, accept=batch._is_image_name)
    assert [Path(src).name for src, _ in pairs] == ["a.png"]


@pytest.mark.parametrize("palette, indices, message", [
    (np.zeros((2, 3), np.uint8), np.full((2, 2), 2, np.uint8), "indices hold 2; every index must be below K = 2"),
    (np.zeros((2, 5), np.uint8), np.zeros((2, 2), np.uint8), r"palette has shape \(2, 5\)"),
    (np.zeros((2, 3), np.uint8), np.zeros((2, 2), np.int64), "indices have shape"),
])
def test_quantized_checks_what_the_coders_trust(palette, indices, message):
    with pytest.raises(kmcodec.ParameterError, match=message):
        Quantized(palette, indices, 0, 0)


@pytest.mark.parametrize("call", [
    lambda: kmcodec.write(b"/tmp/x.kmc", np.zeros((2, 2, 3), np.uint8)),
    lambda: kmcodec.read(b"KMCF\x01"),
    lambda: kmcodec.read(0),
    lambda: kmcodec.info(Path("a\0b")),
])
def test_paths_are_paths(call):
    with pytest.raises(kmcodec.ParameterError, match="path"):
        call()


def test_temporaries_of_a_killed_writer_are_found_by_name_only(tmp_path):
    out = tmp_path / "x.kmc"
    mine = Path(temporary_name(str(out)))
    mine.write_bytes(b"half")
    other = tmp_path / ".x.kmc.notours.tmp"
    other.write_bytes(b"keep")
    assert remove_temporaries(out) == [str(mine)]
    assert other.exists() and not mine.exists()


def test_replacing_keeps_the_files_permissions(in_tmp, capsys):
    Path("a.kmc").chmod(0o600)
    assert run(capsys, "encode", "a.png", "-o", "a.kmc", "-f", "-q")[0] == 0
    assert Path("a.kmc").stat().st_mode & 0o777 == 0o600


def test_an_existing_folder_as_output_says_so(in_tmp, capsys):
    Path("d.kmc").mkdir()
    code, _, err = run(capsys, "encode", "a.png", "-o", "d.kmc")
    assert code == 1 and "d.kmc: is a directory" in error_line(err)
