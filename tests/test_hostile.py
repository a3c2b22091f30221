"""Adversarial tests: hostile inputs, hostile outputs, signals.

The promise under test (README, "Errors and exit codes" and "What is
guaranteed"):

* Bad input gets **one line** on stderr, ``kmc: error: FILE: ...``, naming the
  file, the field and the value; exit status 1 (2 for a usage error); never a
  traceback.
* Nothing is lost: no partial output, inputs never modified, no existing file
  replaced without ``-f``, no temporary file left on any exit path, signals
  included.
* The decoder never crashes, hangs or allocates beyond what the pixel count
  and the file size justify.
* Only ``kmcodec.KmcError`` subclasses escape the API (an existing output is
  an ``OutputExistsError``, a KmcError that is also a FileExistsError); a real
  I/O failure may stay an ``OSError`` with an ``errno``.

Each test's docstring states the rule it checks.  The sections follow the
hardening issue's items (item 1, the Numba cache, and item 9, resource
bombs, are covered elsewhere).  Tests that start real processes are in
classes named ``TestProcess...`` / ``TestSignals`` and marked ``posix``.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
import tracemalloc
from functools import cache
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import kmcodec
from kmcodec import batch
from kmcodec.errors import KmcError

from .mutations import BYTE_MUTATIONS, mutate_bytes
from .hostile_helpers import (
    EPS,
    HEADER,
    PDF,
    VECTORS,
    FifoReader,
    SubprocessSpy,
    alarm,
    alive,
    ascii_env,
    broken_second_frame,
    child_env,
    dds_unknown_flags,
    digest,
    digests,
    entropy_stub,
    error_line,
    fix_png_crcs,
    is_fifo,
    kill_by_pid,
    kmc_command,
    kmc_file,
    leftovers,
    lzw_tiff_with_bad_tag_count,
    noise,
    photo_like,
    png_bytes,
    png_with_garbage_exif,
    pretend_ghostscript,
    run,
    run_process,
    tree,
    usage_error,
    wait_for,
    with_crc,
)

posix = pytest.mark.skipif(os.name != "posix", reason="POSIX processes, signals and FIFOs")


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Work in a fresh folder, so that relative names appear in messages."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def spy(monkeypatch):
    """No external program may run (Ghostscript, netpbm, ...): every attempt
    is recorded and refused.  Ghostscript is made to look installed."""
    pretend_ghostscript(monkeypatch)
    return SubprocessSpy().install(monkeypatch)


def write_png(path, rgb) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path)
    return path


def small_kmc(path, seed=0, k=4) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(kmcodec.encode(noise(6, 7, seed), k=k))
    return path


# ==========================================================================
# Item 2: inputs that would run external programs; the input allow-list


def test_input_formats_allow_list_is_exposed():
    """``kmcodec.images.INPUT_FORMATS`` is a tuple of Pillow format names
    that includes the everyday formats and never EPS or PDF (which Pillow
    reads by running Ghostscript)."""
    from kmcodec import images

    formats = images.INPUT_FORMATS
    assert isinstance(formats, tuple) and all(isinstance(f, str) for f in formats)
    for everyday in ("PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP", "PPM"):
        assert everyday in formats
    assert "EPS" not in formats and "PDF" not in formats
    Image.init()
    unknown = [f for f in formats if f not in Image.OPEN]
    assert not unknown, f"INPUT_FORMATS names formats Pillow does not open: {unknown}"


def test_eps_named_png_is_refused_without_running_ghostscript(in_tmp, spy):
    """A PostScript file named photo.png is an InputError naming the file
    and the detected format (EPS); Ghostscript is never started."""
    Path("photo.png").write_bytes(EPS)
    with pytest.raises(kmcodec.InputError, match=r"photo\.png.*EPS|EPS.*photo\.png"):
        kmcodec.encode("photo.png")
    with pytest.raises(kmcodec.InputError, match="EPS"):
        kmcodec.quantize(Path("photo.png"))
    assert spy.calls == [], f"an external program was started: {spy.calls}"


def test_eps_named_png_cli_is_one_line(in_tmp, spy, capsys):
    """``kmc encode photo.png`` on PostScript: exit 1, one line
    ``kmc: error: photo.png: ...`` naming EPS, no output, nothing run."""
    Path("photo.png").write_bytes(EPS)
    code, _out, err = run(capsys, "encode", "photo.png")
    assert code == 1
    line = error_line(err)
    assert line.startswith("kmc: error: photo.png: "), line
    assert "EPS" in line
    assert tree(in_tmp) == ["photo.png"]
    assert spy.calls == []


def test_pdf_bytes_are_refused_without_running_anything(in_tmp, spy, capsys):
    """PDF bytes named scan.png: an InputError naming the file; nothing run."""
    Path("scan.png").write_bytes(PDF)
    with pytest.raises(kmcodec.InputError, match=r"scan\.png"):
        kmcodec.encode("scan.png")
    code, _, err = run(capsys, "encode", "scan.png")
    assert code == 1 and "scan.png" in error_line(err)
    assert tree(in_tmp) == ["scan.png"]
    assert spy.calls == []


@cache
def saved_sample(fmt: str) -> bytes | None:
    """A small valid file in Pillow format ``fmt``, or None if Pillow cannot
    write one here (no plugin handler, no codec)."""
    import warnings

    rgb = Image.fromarray(noise(12, 16, 7))
    for mode in ("RGB", "L", "P", "1", "RGBA"):
        buf = io.BytesIO()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                rgb.convert(mode).save(buf, format=fmt)
        except Exception:
            continue
        return buf.getvalue()
    return None


Image.init()
SAVE_FORMATS = sorted(Image.SAVE)


@pytest.mark.parametrize("fmt", SAVE_FORMATS)
def test_every_format_is_allowed_or_refused_by_name(fmt, in_tmp, spy, monkeypatch):
    """A valid file of any format Pillow writes, misnamed x.png: read if its
    detected format is in INPUT_FORMATS, else an InputError naming the file,
    and naming the format when Pillow knows it by its signature (IM and
    SPIDER have none: refusing them unparsed as "cannot identify" is right);
    never anything else, never an external program."""
    from kmcodec import images

    data = saved_sample(fmt)
    if data is None:
        pytest.skip(f"this Pillow cannot write {fmt}")
    Path("x.png").write_bytes(data)
    try:
        with Image.open("x.png") as im:
            detected, pixels = im.format, im.width * im.height
    except Exception:
        detected, pixels = None, 0
    if detected is not None and detected in images.INPUT_FORMATS:
        if pixels <= 10_000:
            assert kmcodec.encode("x.png", k=4)[:4] == b"KMCF"
        else:  # ICNS holds a 1024 x 1024 version: allowed, but slow to cluster
            monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)
            with pytest.raises(kmcodec.PixelLimitError):
                kmcodec.encode("x.png", k=4)
    else:
        with pytest.raises(kmcodec.InputError, match=r"x\.png") as caught:
            kmcodec.encode("x.png", k=4)
        if detected is not None and Image.OPEN[detected][1] is not None:
            assert detected in str(caught.value), caught.value
    assert spy.calls == []


# ==========================================================================
# Item 3: coder-1 files whose payload_bytes is absurd


FORGED_PAYLOADS = [2**40, 2**63, 2**64 - 1]


def forged(payload_bytes: int) -> bytes:
    return kmc_file(4, 4, 2, b"\0" * 8, coder=1, payload_bytes=payload_bytes)


@pytest.mark.parametrize("payload_bytes", FORGED_PAYLOADS)
@pytest.mark.parametrize("how", ["load", "verify"])
@pytest.mark.parametrize("source", ["path", "bytesio"])
def test_forged_payload_bytes_in_pillow_is_format_error(payload_bytes, how, source, tmp_path):
    """``Image.open(f).load()`` and ``.verify()`` of a 46-byte file declaring
    a payload of 2**40 or 2**63 bytes: FormatError, not MemoryError or
    OverflowError (the declared size is checked against the real one)."""
    data = forged(payload_bytes)
    path = tmp_path / "f.kmc"
    path.write_bytes(data)
    with pytest.raises(kmcodec.FormatError, match="payload|bytes"):
        with Image.open(path if source == "path" else io.BytesIO(data)) as im:
            getattr(im, how)()


@pytest.mark.parametrize("payload_bytes", FORGED_PAYLOADS)
def test_forged_payload_bytes_in_api_is_format_error(payload_bytes, tmp_path):
    """decode, decode_palette, info and read of the same file: FormatError."""
    data = forged(payload_bytes)
    path = tmp_path / "f.kmc"
    path.write_bytes(data)
    for call in (lambda: kmcodec.decode(data), lambda: kmcodec.decode_palette(data),
                 lambda: kmcodec.info(data), lambda: kmcodec.info(path),
                 lambda: kmcodec.read(path)):
        with pytest.raises(kmcodec.FormatError, match="payload|bytes"):
            call()


@pytest.mark.parametrize("payload_bytes", FORGED_PAYLOADS)
def test_forged_payload_bytes_cli(payload_bytes, in_tmp, capsys):
    """The same bytes as x.png (``kmc encode``), as f.kmc (``kmc decode``,
    ``kmc info``): exit 1, one line naming the file, no output."""
    data = forged(payload_bytes)
    Path("x.png").write_bytes(data)
    Path("f.kmc").write_bytes(data)
    before = tree(in_tmp)
    for argv, name in ((["encode", "x.png"], "x.png"), (["decode", "f.kmc"], "f.kmc"),
                       (["info", "f.kmc"], "f.kmc"), (["info", "f.kmc", "--json"], "f.kmc")):
        code, out, err = run(capsys, *argv)
        assert code == 1, (argv, out, err)
        assert name in error_line(err), (argv, err)
        assert tree(in_tmp) == before


# ==========================================================================
# Item 4: Pillow raising odd exceptions on hostile files


TIFF_BREAKS = {"compression": KeyError, "no-width": TypeError, "photometric": SyntaxError}


def test_png_with_garbage_exif_is_input_error(tmp_path):
    """A PNG whose eXIf chunk is garbage (Pillow's getexif() raises
    SyntaxError): InputError naming the file."""
    path = tmp_path / "b.png"
    path.write_bytes(png_with_garbage_exif())
    with Image.open(path) as im, pytest.raises(SyntaxError):  # the premise
        im.getexif()
    with pytest.raises(kmcodec.InputError, match=r"b\.png"):
        kmcodec.encode(path)
    with pytest.raises(kmcodec.InputError, match=r"b\.png"):
        kmcodec.quantize(str(path))


@pytest.mark.parametrize("kind", sorted(TIFF_BREAKS))
def test_broken_multiframe_tiff_is_input_error(kind, tmp_path):
    """A two-frame TIFF whose second frame is broken so that ``n_frames``
    raises KeyError, TypeError or SyntaxError: InputError naming the file."""
    path = tmp_path / "m.tif"
    path.write_bytes(broken_second_frame(kind))
    def count_frames():
        with Image.open(path) as im:
            im.load()
            return im.n_frames

    with pytest.raises(TIFF_BREAKS[kind]):  # the premise
        count_frames()
    with pytest.raises(kmcodec.InputError, match=r"m\.tif"):
        kmcodec.encode(path)


def test_dds_with_unknown_flags_is_input_error(tmp_path):
    """A DDS file with unknown pixel-format flags (Pillow raises
    NotImplementedError): InputError naming the file."""
    path = tmp_path / "t.dds"
    path.write_bytes(dds_unknown_flags())
    with pytest.raises(NotImplementedError):  # the premise
        Image.open(path)
    with pytest.raises(kmcodec.InputError, match=r"t\.dds"):
        kmcodec.encode(path)


ODD_FILES = {
    "b.png": png_with_garbage_exif,
    "m-compression.tif": lambda: broken_second_frame("compression"),
    "m-no-width.tif": lambda: broken_second_frame("no-width"),
    "m-photometric.tif": lambda: broken_second_frame("photometric"),
    "t.dds": dds_unknown_flags,
    "dds-as.png": dds_unknown_flags,
}


@pytest.mark.parametrize("name", sorted(ODD_FILES))
def test_pillow_oddities_cli_is_one_line(name, in_tmp, capsys):
    """``kmc encode`` on each of those files: exit 1, one line naming the
    file, no output, the input untouched."""
    Path(name).write_bytes(ODD_FILES[name]())
    before = digests(in_tmp)
    code, _, err = run(capsys, "encode", name)
    assert code == 1
    assert name in error_line(err)
    assert digests(in_tmp) == before


# ==========================================================================
# Item 5: images too wide for the output format


WIDE_LIMITS = [(".tga", "65535"), (".pcx", "65534"), (".gif", "65535"), (".sgi", "65535"),
               (".jpg", "65500"), (".webp", "16383")]


@pytest.fixture(scope="module")
def wide_kmc():
    """A valid 70000 x 1 and 1 x 70000 image, K = 2."""
    row = np.zeros((1, 70000, 3), np.uint8)
    row[0, ::2] = 255
    return {"wide": kmcodec.encode(row, k=2), "tall": kmcodec.encode(row.transpose(1, 0, 2).copy(), k=2)}


@pytest.mark.parametrize("shape", ["wide", "tall"])
@pytest.mark.parametrize("suffix, limit", WIDE_LIMITS)
def test_decode_beyond_a_formats_size_limit(suffix, limit, shape, wide_kmc, in_tmp, capsys):
    """``kmc decode x.kmc -o out.tga`` of a 70000-pixel-wide (or tall)
    image: exit 1 (not a usage error), one line naming the output and the
    format's limit (65535 for TGA, GIF, SGI; 65534 PCX; 65500 JPEG; 16383 WebP),
    no output file, no temporary file."""
    Path("x.kmc").write_bytes(wide_kmc[shape])
    out = "out" + suffix
    code, _, err = run(capsys, "decode", "x.kmc", "-o", out)
    assert code == 1, err
    line = error_line(err)
    assert limit in line, line
    assert out in line or "x.kmc" in line, line
    assert tree(in_tmp) == ["x.kmc"]


# ==========================================================================
# Item 6: --format that names no format


BAD_FORMATS = ["", ".", "a/b", "xyz"]


@pytest.mark.parametrize("fmt", BAD_FORMATS)
@pytest.mark.parametrize("layout", ["batch", "batch --out-dir", "folder --out-dir", "single"])
def test_decode_bad_format_is_usage_error_before_any_work(fmt, layout, in_tmp, capsys):
    """``kmc decode --format FMT`` with '', '.', 'a/b' (and 'xyz', which the
    README makes a usage error too), for one file or many: exit 2, a usage
    error, and no folder or file created."""
    small_kmc("d/a.kmc", 1)
    small_kmc("d/c.kmc", 2)
    argv = {"batch": ["d/a.kmc", "d/c.kmc"], "batch --out-dir": ["d/a.kmc", "d/c.kmc", "--out-dir", "out"],
            "folder --out-dir": ["d", "--out-dir", "out"], "single": ["d/a.kmc"]}[layout]
    before = tree(in_tmp)
    code, _, err = run(capsys, "decode", *argv, "--format", fmt)
    assert code == 2, err
    usage_error(err)
    assert tree(in_tmp) == before


# ==========================================================================
# Item 7: odd buffers and arguments, and a 50-byte file claiming 2**64 pixels


def strided_memoryview(data: bytes):
    buf = bytearray(2 * len(data))
    buf[::2] = data
    return memoryview(bytes(buf))[::2]


def strided_array(data: bytes):
    buf = np.zeros(2 * len(data), np.uint8)
    buf[::2] = np.frombuffer(data, np.uint8)
    return buf[::2]


def reversed_array(data: bytes):
    return np.frombuffer(data[::-1], np.uint8)[::-1]


def column_of_matrix(data: bytes):
    matrix = np.zeros((len(data), 3), np.uint8)
    matrix[:, 1] = np.frombuffer(data, np.uint8)
    return matrix[:, 1]


STRIDED = {"memoryview[::2]": strided_memoryview, "ndarray[::2]": strided_array,
           "ndarray[::-1]": reversed_array, "matrix column": column_of_matrix}


@pytest.mark.parametrize("vector", ["k5-11x7.kmc", "k300-37x23.kmc", "entropy-k5-noise-40x30-rows7.kmc"])
@pytest.mark.parametrize("make", sorted(STRIDED))
def test_non_contiguous_buffers_decode_correctly(make, vector):
    """decode, decode_palette and info accept a non-contiguous buffer (a
    strided memoryview or numpy array) holding a valid file, and give what
    the same bytes give (copying if needed); never a TypeError."""
    data = (VECTORS / vector).read_bytes()
    view = STRIDED[make](data)
    assert np.array_equal(kmcodec.decode(view), kmcodec.decode(data))
    palette, indices = kmcodec.decode_palette(view)
    expected_palette, expected_indices = kmcodec.decode_palette(data)
    assert np.array_equal(palette, expected_palette) and np.array_equal(indices, expected_indices)
    assert kmcodec.info(view) == kmcodec.info(data)


@pytest.mark.parametrize("make", sorted(STRIDED))
def test_non_contiguous_garbage_is_format_error(make):
    """The same buffers holding a corrupt file: FormatError, not TypeError."""
    data = bytearray((VECTORS / "k5-11x7.kmc").read_bytes())
    data[-1] ^= 0xFF
    view = STRIDED[make](bytes(data))
    with pytest.raises(kmcodec.FormatError, match="crc32"):
        kmcodec.decode(view)
    with pytest.raises(kmcodec.FormatError, match="crc32"):
        kmcodec.info(view)


@pytest.mark.parametrize("max_bytes", [-5, 100.5, 0, float("nan"), True, "100", None])
def test_k_for_bytes_rejects_bad_max_bytes(max_bytes):
    """k_for_bytes(10, 10, max_bytes) with a negative, fractional, zero,
    NaN, boolean, string or missing budget: ParameterError naming max_bytes."""
    with pytest.raises(kmcodec.ParameterError, match="max_bytes"):
        kmcodec.k_for_bytes(10, 10, max_bytes)


@pytest.mark.parametrize("width, height", [(0, 10), (-1, 10), (10.5, 10), (10, -3), (2**32, 1),
                                           ("10", 10), (True, 10)])
def test_k_for_bytes_rejects_bad_dimensions(width, height):
    """k_for_bytes with a width or height no .kmc file can have (not an
    integer from 1 to 2**32 - 1): ParameterError naming the argument (not a
    K computed for an impossible image)."""
    with pytest.raises(kmcodec.ParameterError, match="width|height"):
        kmcodec.k_for_bytes(width, height, 1000)


HUGE_SQUARE = kmc_file(2**32 - 1, 2**32 - 1, 2, entropy_stub(2**32 - 1))


@pytest.mark.parametrize("how", ["decode", "decode_palette", "info", "pillow load"])
def test_fifty_bytes_claiming_2_64_pixels_without_limit(how, monkeypatch):
    """With the pixel limit disabled (MAX_IMAGE_PIXELS = None), a 50-byte
    coder-1 file claiming width = height = 4294967295 is a PixelLimitError
    (not ValueError or MemoryError) saying the image is more than memory
    holds, at once and without allocating: tracemalloc peak under 4 MB,
    well under a second.  The file is well formed, so ``info`` (which does
    not decode) describes it, again without allocating.

    (No bound on pixels per coded byte exists to make it a FormatError:
    this carry-less arithmetic coder can code a run of likely decisions in
    no bytes at all once its range is small.)"""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    assert len(HUGE_SQUARE) == 50
    calls = {"decode": lambda: kmcodec.decode(HUGE_SQUARE),
             "decode_palette": lambda: kmcodec.decode_palette(HUGE_SQUARE),
             "info": lambda: kmcodec.info(HUGE_SQUARE),
             "pillow load": lambda: Image.open(io.BytesIO(HUGE_SQUARE)).load()}
    tracemalloc.start()
    start = time.perf_counter()
    try:
        if how == "info":
            assert calls[how]().width == 2**32 - 1
        else:
            with pytest.raises(kmcodec.PixelLimitError, match="memory"):
                calls[how]()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - start < 2
    assert peak < 4 << 20, f"{how} allocated {peak:,} bytes for a 50-byte file"


ALLOCATION_PROBE = textwrap.dedent("""
    import json, resource, struct, sys, time, zlib
    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, resource.getrlimit(resource.RLIMIT_AS)[1]))
    from PIL import Image
    import kmcodec
    Image.MAX_IMAGE_PIXELS = None

    def hwm():
        with open("/proc/self/status") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM")) * 1024

    out = {}
    for w, h in json.loads(sys.argv[1]):
        payload = struct.pack("<II", 2**32 - 1, 4) + bytes(4)
        body = struct.pack("<4sBBBBIIIQ", b"KMCF", 1, 1, 1, 0, w, h, 2, len(payload)) + bytes(6) + payload
        data = body + zlib.crc32(body).to_bytes(4, "little")
        # Resident memory (this process's own peak, VmHWM), not tracemalloc:
        # numpy reports a refused allocation to tracemalloc as if made.
        before = hwm()
        start = time.perf_counter()
        try:
            kmcodec.decode(data); what = "decoded"
        except BaseException as exc:
            what = type(exc).__name__ + (" (KmcError)" if isinstance(exc, kmcodec.KmcError) else "")
        grown = hwm() - before
        out[f"{w}x{h}"] = [what, grown, time.perf_counter() - start]
    print(json.dumps(out))
""")


@posix
@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="measures with Linux's /proc")
def test_tiny_coder1_file_never_allocates_its_claimed_image():
    """Beyond the square: 50-byte coder-1 files claiming 4294967295 x 1,
    1 x 4294967295 or 2**20 x 2**20 pixels of K = 2 (no pixel limit), in a
    child under a 3-GB address-space cap: each is a PixelLimitError at once
    (more than the machine's memory, or than the cap lets it allocate),
    never a MemoryError, a hang or an exhausted machine."""
    sizes = [[2**32 - 1, 1], [1, 2**32 - 1], [2**20, 2**20]]
    try:
        proc = subprocess.run([sys.executable, "-c", ALLOCATION_PROBE, json.dumps(sizes)],
                              capture_output=True, text=True, timeout=30, env=child_env())
    except subprocess.TimeoutExpired:
        pytest.fail("decoding three 50-byte files took over 30 s")
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout)
    bad = {size: r for size, r in found.items()
           if r[0] != "PixelLimitError (KmcError)" or r[1] > 64 << 20 or r[2] > 2}
    assert not bad, f"[outcome, peak bytes, seconds] per claimed size: {bad}"


# ==========================================================================
# Item 8: file names the terminal cannot print


@posix
class TestProcessUnprintableNames:
    """``kmc`` with a strict ASCII stdout/stderr (C locale, no UTF-8 mode,
    PYTHONIOENCODING=ascii:strict) on names with a non-UTF-8 byte or
    non-ASCII UTF-8: names are printed backslash-escaped, never a
    UnicodeEncodeError."""

    NAMES: ClassVar[dict[str, bytes]] = {"latin-1 byte": b"caf\xe9", "utf-8": "café".encode()}

    @pytest.mark.parametrize("label", sorted(NAMES))
    def test_encode_succeeds_and_prints_an_escaped_name(self, label, tmp_path):
        """Exit 0, the output written under the same bytes, the report line
        in ASCII with the name escaped."""
        stem = self.NAMES[label]
        folder = os.fsencode(tmp_path)
        with open(os.path.join(folder, stem + b".png"), "wb") as fh:
            fh.write(png_bytes(noise(8, 9)))
        proc = run_process(b"encode", stem + b".png", b"-k", b"4", cwd=folder, env=ascii_env())
        assert b"Traceback" not in proc.stderr, proc.stderr.decode("ascii", "replace")
        assert proc.returncode == 0, proc.stderr
        assert os.path.exists(os.path.join(folder, stem + b".kmc"))
        assert proc.stdout == b""  # the status line goes to stderr
        out = proc.stderr.decode("ascii")  # pure ASCII, or this raises
        assert "caf" in out and "\\" in out and ".kmc" in out, out
        assert not leftovers(tmp_path)

    @pytest.mark.parametrize("label", sorted(NAMES))
    def test_error_names_the_file_escaped(self, label, tmp_path):
        """A non-image under such a name: exit 1, one ASCII error line with
        the name escaped, no output."""
        stem = self.NAMES[label]
        folder = os.fsencode(tmp_path)
        with open(os.path.join(folder, stem + b".png"), "wb") as fh:
            fh.write(b"this is not an image\n")
        proc = run_process(b"encode", stem + b".png", cwd=folder, env=ascii_env())
        assert proc.returncode == 1, proc.stderr
        err = proc.stderr.decode("ascii")
        line = error_line(err)
        assert "caf" in line and "\\" in line, line
        assert sorted(os.listdir(folder)) == [stem + b".png"]

    @pytest.mark.parametrize("label", sorted(NAMES))
    def test_batch_reports_escaped_names(self, label, tmp_path):
        """A folder holding a good and a bad file under such names: exit 1,
        the good one encoded, the bad one reported on one ASCII line."""
        stem = self.NAMES[label]
        folder = os.path.join(os.fsencode(tmp_path), b"d")
        os.mkdir(folder)
        with open(os.path.join(folder, stem + b"-good.png"), "wb") as fh:
            fh.write(png_bytes(noise(8, 9)))
        with open(os.path.join(folder, stem + b"-bad.png"), "wb") as fh:
            fh.write(b"this is not an image\n")
        proc = run_process(b"encode", b"d", b"-j", b"1", b"-k", b"4", cwd=os.fsencode(tmp_path),
                           env=ascii_env())
        assert proc.returncode == 1, proc.stderr
        line = error_line(proc.stderr.decode("ascii"))
        assert "-bad.png" in line and "\\" in line, line
        assert "2 files: 1 done, 1 failed" in proc.stderr.decode("ascii")
        assert os.path.exists(os.path.join(folder, stem + b"-good.kmc"))


# ==========================================================================
# Item 10: a batch goes on past a hostile file


@pytest.fixture
def abc_folder(in_tmp):
    """dir/a.png and dir/c.png are good; dir/b.png has a garbage eXIf chunk."""
    write_png("dir/a.png", noise(10, 12, 1))
    Path("dir/b.png").write_bytes(png_with_garbage_exif(2))
    write_png("dir/c.png", noise(10, 12, 3))
    return in_tmp


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_batch_one_hostile_file_the_rest_go_on(jobs, abc_folder, capsys):
    """``kmc encode dir -j N`` with b.png hostile: a and c encoded, exit 1,
    the summary "3 files: 2 done, 1 failed", b reported as one line
    ``kmc: error: dir/b.png: ...``, no b.kmc, no temporary file, inputs
    untouched."""
    before = digests(abc_folder / "dir")
    code, out, err = run(capsys, "encode", "dir", "-j", jobs, "-k", "4")
    assert code == 1, err
    assert out == "" and "3 files: 2 done, 1 failed" in err.splitlines()[-1], err
    assert error_line(err).startswith("kmc: error: dir/b.png: "), err
    assert tree(abc_folder) == ["dir", "dir/a.kmc", "dir/a.png", "dir/b.png", "dir/c.kmc", "dir/c.png"]
    for stem in ("a", "c"):
        assert kmcodec.read(f"dir/{stem}.kmc").shape == (10, 12, 3)
    assert {k: v for k, v in digests(abc_folder / "dir").items() if k.endswith(".png")} == before


@pytest.mark.parametrize("inputs", [["dir"], ["dir/a.png", "dir/b.png", "dir/c.png"]])
def test_encode_many_returns_a_failed_result_for_the_hostile_file(inputs, abc_folder):
    """``encode_many(..., jobs=1)``: no exception; results in input order,
    a and c ok, b failed with a one-line message; b.kmc not written."""
    results = batch.encode_many(inputs, k=4, jobs=1)
    assert [Path(r.input).name for r in results] == ["a.png", "b.png", "c.png"]
    assert [r.ok for r in results] == [True, False, True]
    assert results[1].error and "\n" not in results[1].error
    assert not Path("dir/b.kmc").exists()
    assert not leftovers(abc_folder)


# ==========================================================================
# Item 11: two inputs, one output


COLLISIONS = {
    # name: (files to make, argv, names the message must contain)
    "same stem in a folder": (["dir/a.png", "dir/a.bmp"], ["encode", "dir"],
                              ["dir/a.png", "dir/a.bmp", "dir/a.kmc"]),
    "two folders into --out-dir": (["x/pic.png", "y/pic.png"], ["encode", "x", "y", "--out-dir", "out"],
                                   ["x/pic.png", "y/pic.png", "out/pic.kmc"]),
    "two files into --out-dir": (["x/pic.png", "y/pic.png"],
                                 ["encode", "x/pic.png", "y/pic.png", "--out-dir", "o"],
                                 ["x/pic.png", "y/pic.png", "o/pic.kmc"]),
    "decode two files into --out-dir": (["x/a.kmc", "y/a.kmc"],
                                        ["decode", "x/a.kmc", "y/a.kmc", "--out-dir", "out"],
                                        ["x/a.kmc", "y/a.kmc", "out/a.kmc.png"]),
    "decode two folders into --out-dir": (["x/a.kmc", "y/a.kmc"],
                                          ["decode", "x", "y", "--out-dir", "out"],
                                          ["x/a.kmc", "y/a.kmc", "out/a.kmc.png"]),
}


def make_inputs(names) -> None:
    """Small valid inputs; the format follows each name's suffix."""
    for i, name in enumerate(names):
        if name.endswith(".kmc"):
            small_kmc(name, i)
        else:
            write_png(name, noise(6, 7, i))


@pytest.mark.parametrize("force", [False, True])
@pytest.mark.parametrize("case", sorted(COLLISIONS))
def test_colliding_outputs_are_a_usage_error_before_any_work(case, force, in_tmp, capsys):
    """Two inputs that would write the same output (a.png and a.bmp beside
    each other; two pic.png into one --out-dir; two a.kmc decoded into one
    --out-dir): exit 2 naming both inputs and the common output, before any
    work: no output, no folder created; with or without -f."""
    files, argv, names = COLLISIONS[case]
    make_inputs(files)
    before = tree(in_tmp)
    code, _, err = run(capsys, *argv, *(["-f"] if force else []))
    assert code == 2, err
    usage_error(err)
    for name in names:
        assert name in err, (name, err)
    assert tree(in_tmp) == before


def test_encode_many_collision_is_parameter_error(in_tmp):
    """``encode_many(["dir"])`` with dir/a.png and dir/a.bmp: a
    ParameterError naming both inputs and dir/a.kmc; nothing written."""
    make_inputs(["dir/a.png", "dir/a.bmp"])
    before = tree(in_tmp)
    with pytest.raises(kmcodec.ParameterError, match=r"a\.kmc") as caught:
        batch.encode_many(["dir"], k=4, jobs=1)
    assert "a.png" in str(caught.value) and "a.bmp" in str(caught.value)
    assert tree(in_tmp) == before


def test_decode_many_collision_is_parameter_error(in_tmp):
    """``decode_many([x/a.kmc, y/a.kmc], "out")``: ParameterError naming both;
    no out/ folder."""
    make_inputs(["x/a.kmc", "y/a.kmc"])
    with pytest.raises(kmcodec.ParameterError, match=r"x/a\.kmc.*y/a\.kmc|y/a\.kmc.*x/a\.kmc"):
        batch.decode_many(["x/a.kmc", "y/a.kmc"], "out", jobs=1)
    assert not Path("out").exists()


# ==========================================================================
# Item 12: decoding to .kmc


@pytest.mark.parametrize("force", [False, True])
def test_decode_to_kmc_says_copy_the_file(force, in_tmp, capsys):
    """``kmc decode a.kmc -o b.kmc``: exit 2, a usage error saying to copy
    the file instead (re-encoding would quantise again); no b.kmc."""
    small_kmc("a.kmc")
    code, _, err = run(capsys, "decode", "a.kmc", "-o", "b.kmc", *(["-f"] if force else []))
    assert code == 2, err
    assert re.search(r"\bcop(y|ies)\b|\bcp\b", usage_error(err)), err
    assert tree(in_tmp) == ["a.kmc"]


# ==========================================================================
# Item 13: -f onto a FIFO, onto a symbolic link


@posix
def test_force_onto_a_fifo_writes_into_it(in_tmp, capsys):
    """``kmc decode a.kmc -o fifo.png -f`` with a reader on the FIFO: the
    reader receives the whole PNG; the FIFO is still a FIFO; no temporary
    file."""
    small_kmc("a.kmc")
    os.mkfifo("fifo.png")
    reader = FifoReader("fifo.png")
    try:
        code, _, err = run(capsys, "decode", "a.kmc", "-o", "fifo.png", "-f")
    finally:
        data = reader.finish()
    assert code == 0, err
    assert is_fifo("fifo.png")
    with Image.open(io.BytesIO(data)) as im:
        assert im.format == "PNG"
        assert np.array_equal(np.asarray(im.convert("RGB")), kmcodec.read("a.kmc"))
    assert tree(in_tmp) == ["a.kmc", "fifo.png"]


@posix
def test_existing_fifo_without_force_is_refused(in_tmp, capsys):
    """Without -f an existing FIFO is an existing file: exit 1 "exists",
    nothing written into it, still a FIFO."""
    small_kmc("a.kmc")
    os.mkfifo("fifo.png")
    reader = FifoReader("fifo.png")
    try:
        code, _, err = run(capsys, "decode", "a.kmc", "-o", "fifo.png")
    finally:
        data = reader.finish(timeout=0.5)
    assert code == 1
    assert "exists" in error_line(err) and "fifo.png" in err
    assert data == b""
    assert is_fifo("fifo.png")


@posix
def test_force_onto_a_symlink_replaces_the_link_not_its_target(in_tmp, capsys):
    """``-f`` onto link.png -> target.png: link.png becomes a regular file
    with the new image; target.png is unchanged."""
    small_kmc("a.kmc")
    Path("target.png").write_bytes(b"the target's own bytes")
    os.symlink("target.png", "link.png")
    code, _, err = run(capsys, "decode", "a.kmc", "-o", "link.png", "-f")
    assert code == 0, err
    assert not os.path.islink("link.png") and stat.S_ISREG(os.lstat("link.png").st_mode)
    assert np.array_equal(np.asarray(Image.open("link.png").convert("RGB")), kmcodec.read("a.kmc"))
    assert Path("target.png").read_bytes() == b"the target's own bytes"
    assert not leftovers(in_tmp)


@posix
def test_symlink_without_force_is_refused(in_tmp, capsys):
    """Without -f a symbolic link (even a dangling one) is an existing
    output: exit 1, the link and its target untouched."""
    small_kmc("a.kmc")
    os.symlink("nowhere.png", "link.png")
    code, _, err = run(capsys, "decode", "a.kmc", "-o", "link.png")
    assert code == 1 and "exists" in error_line(err)
    assert os.readlink("link.png") == "nowhere.png" and not Path("nowhere.png").exists()


# ==========================================================================
# Item 14: signals


@pytest.fixture(scope="module")
def big_png(tmp_path_factory) -> Path:
    """A 2000 x 2000 photograph-like image: ~10 s to encode at K = 256."""
    path = tmp_path_factory.mktemp("big") / "big.png"
    Image.fromarray(photo_like(2000, 2000)).save(path, compress_level=1)
    return path


@posix
class TestSignals:
    """A signal stops kmc cleanly: exit 128 + signal number, no traceback,
    no output, no temporary file; for a batch, no worker left behind and no
    output appearing after the exit."""

    @pytest.mark.parametrize("signum, status", [(signal.SIGTERM, 143), (signal.SIGHUP, 129),
                                                (signal.SIGINT, 130)])
    def test_signal_during_encode(self, signum, status, big_png, tmp_path):
        """``kmc encode big.png -o out.kmc --coder entropy -k 256`` stopped by
        SIGTERM (143), SIGHUP (129) or SIGINT (130, the README's Ctrl-C)
        once it is writing: only the input is left, unchanged."""
        shutil.copy(big_png, tmp_path / "big.png")
        before = digest(tmp_path / "big.png")
        proc = subprocess.Popen(kmc_command("encode", "big.png", "-o", "out.kmc", "--coder", "entropy",
                                            "-k", "256"),
                                cwd=tmp_path, env=child_env(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            # The temporary output (.out.kmc.XXXX.tmp) appears once it works.
            started = wait_for(lambda: set(os.listdir(tmp_path)) - {"big.png"}, 20, proc)
            ended = proc.poll()
            assert started, f"kmc never started writing: {ended} {proc.stderr.read() if ended is not None else ''}"
            time.sleep(0.5)
            assert proc.poll() is None, "kmc finished before the signal: use a bigger image"
            proc.send_signal(signum)
            try:
                _, err = proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                pytest.fail(f"kmc was still running 10 s after signal {signum}")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        assert proc.returncode == status, (proc.returncode, err)
        assert "Traceback" not in err, err
        assert sorted(os.listdir(tmp_path)) == ["big.png"]
        assert digest(tmp_path / "big.png") == before

    def test_a_stop_during_compiled_code_waits_for_the_engines_next_step(self):
        """Inside ``deferred`` (the engine's calls into Numba) a stop is
        noted, not raised: raised inside Numba's dispatcher it crashed the
        process.  ``check`` and the end of the block raise it."""
        from kmcodec._signals import Stop, check, deferred, stop_signals

        reached = []

        def noted() -> None:
            with deferred():
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.05)  # the handler has run by now, and raised nothing
                reached.append("end of the block")

        def checked() -> None:
            with deferred():
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.05)
                check()
                reached.append("after check")

        with stop_signals():
            with pytest.raises(Stop, match="stopped by signal 15"):
                noted()
        with stop_signals():
            with pytest.raises(Stop, match="stopped by signal 15"):
                checked()
        assert reached == ["end of the block"]

    @pytest.mark.parametrize("signum, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
    def test_a_stop_python_cannot_raise_still_stops(self, signum, status, tmp_path):
        """A signal handled inside a callback from C (Numba's compiler makes
        them for seconds on a first encode) raises where Python can only
        print the exception and go on: the process still stops, at once,
        removes its temporary output and says so in one line."""
        script = textwrap.dedent(f"""
            import ctypes, os, sys
            from kmcodec._signals import stop_signals
            from kmcodec.atomicfile import atomic_output
            with stop_signals(), atomic_output("out.kmc") as fh:
                fh.write(b"half a file")
                @ctypes.CFUNCTYPE(None)
                def from_c():
                    os.kill(os.getpid(), {int(signum)})
                    for _ in range(10**6):  # the handler runs here, inside the callback
                        pass
                from_c()
                print("went on")
        """)
        proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=child_env(),
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == status, proc.stderr
        assert proc.stdout == ""
        what = "interrupted" if signum == signal.SIGINT else f"stopped by signal {int(signum)}"
        assert proc.stderr == f"kmc: {what}; no partial output left, inputs untouched\n"
        assert os.listdir(tmp_path) == []

    def test_sigterm_stops_a_batch_and_its_workers(self, big_png, tmp_path):
        """``kmc encode dir -j 2 --out-dir out`` on four big images, SIGTERM
        to the parent once the workers write: exit 143 within a few
        seconds; 3 s later no worker is alive, no output appeared after the
        exit, no temporary file under out/."""
        psutil = pytest.importorskip("psutil")
        folder = tmp_path / "dir"
        folder.mkdir()
        for i in range(4):
            shutil.copy(big_png, folder / f"p{i}.png")
        out = tmp_path / "out"
        proc = subprocess.Popen(kmc_command("encode", "dir", "-j", "2", "--out-dir", "out", "-k", "256"),
                                cwd=tmp_path, env=child_env(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        children = []
        try:
            started = wait_for(lambda: out.is_dir() and any(out.iterdir()), 30, proc)
            assert started, f"no worker started writing: {proc.poll()}"
            children = psutil.Process(proc.pid).children(recursive=True)
            assert children, "no worker processes"
            proc.send_signal(signal.SIGTERM)
            try:
                _, err = proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                pytest.fail("kmc was still running 10 s after SIGTERM")
            at_exit = tree(out)
            time.sleep(3)
            still = alive(children)
            after = tree(out)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
            kill_by_pid(alive(children))
        # Every rule is checked, so that one failure does not hide another.
        broken = []
        if proc.returncode != 143:
            broken.append(f"exit status {proc.returncode}, not 143")
        if "Traceback" in err:
            broken.append(f"a traceback on stderr:\n{err}")
        if still:
            broken.append(f"workers still running 3 s after the parent exited: {still}")
        if after != at_exit:
            broken.append(f"outputs appeared after the exit: {sorted(set(after) - set(at_exit))}")
        if leftovers(out):
            broken.append(f"temporary files left: {leftovers(out)}")
        if sorted(os.listdir(folder)) != [f"p{i}.png" for i in range(4)]:
            broken.append(f"the input folder changed: {sorted(os.listdir(folder))}")
        assert not broken, "\n".join(broken)


# ==========================================================================
# Item 15: long output names; errors name the user's path


@pytest.mark.parametrize("length", [250, 255])
def test_long_output_name(length, in_tmp, capsys):
    """An output name of 250 (or exactly NAME_MAX = 255) bytes works: the
    temporary name is kept within NAME_MAX; nothing else is left."""
    write_png("x.png", noise(6, 7))
    name = "a" * (length - 4) + ".kmc"
    code, _, err = run(capsys, "encode", "x.png", "-o", name, "-k", "4")
    assert code == 0, err
    assert tree(in_tmp) == sorted([name, "x.png"])
    assert kmcodec.read(name).shape == (6, 7, 3)


@pytest.mark.parametrize("command", ["encode", "decode"])
def test_output_error_names_the_users_path_not_a_temporary(command, in_tmp, capsys):
    """An output whose folder is a regular file (ENOTDIR): exit 1, one line
    naming notadir/out.*, never a hidden ``.NAME.XXXX.tmp`` name."""
    write_png("x.png", noise(6, 7))
    small_kmc("x.kmc")
    Path("notadir").write_bytes(b"a regular file")
    src, out = ("x.png", "notadir/out.kmc") if command == "encode" else ("x.kmc", "notadir/out.png")
    for force in ([], ["-f"]):
        code, _, err = run(capsys, command, src, "-o", out, *force)
        assert code == 1, err
        line = error_line(err)
        assert out in line, line
        assert ".tmp" not in line and "/." not in line, line
    assert tree(in_tmp) == ["notadir", "x.kmc", "x.png"]


@posix
@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores permissions")
def test_read_only_folder_error_names_the_users_path(in_tmp, capsys):
    """Output into a read-only folder: ``kmc: error: ro/out.kmc: Permission
    denied``, not the temporary name."""
    write_png("x.png", noise(6, 7))
    Path("ro").mkdir()
    os.chmod("ro", 0o555)
    try:
        code, _, err = run(capsys, "encode", "x.png", "-o", "ro/out.kmc")
    finally:
        os.chmod("ro", 0o755)
    assert code == 1
    line = error_line(err)
    assert "ro/out.kmc" in line and ".tmp" not in line, line


# ==========================================================================
# Beyond the list: the file is named; endless inputs are not slurped


@pytest.mark.parametrize("command", ["decode", "info"])
def test_decode_and_info_errors_name_the_file(command, in_tmp, capsys):
    """``kmc decode`` / ``kmc info`` of a corrupt file: the one error line
    names the file (README: "naming the file, the field and the value")."""
    data = bytearray((VECTORS / "k5-11x7.kmc").read_bytes())
    data[-1] ^= 1
    Path("bad.kmc").write_bytes(bytes(data))
    code, _, err = run(capsys, command, "bad.kmc")
    assert code == 1
    line = error_line(err)
    assert "bad.kmc" in line and "crc32" in line, line


ENDLESS_PROBE = textwrap.dedent("""
    import resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, resource.getrlimit(resource.RLIMIT_AS)[1]))
    import kmcodec
    from kmcodec.cli import main
    what = sys.argv[1]
    if what == "cli":
        code = main(["decode", "/dev/zero", "-o", sys.argv[2]])
    else:
        try:
            getattr(kmcodec, what)("/dev/zero")
            code = "returned"
        except BaseException as exc:
            code = type(exc).__name__ + (" (KmcError)" if isinstance(exc, kmcodec.KmcError) else "")
    # VmHWM, this process's own peak: ru_maxrss would carry over the peak of
    # the (large) test process that started it.
    with open("/proc/self/status") as fh:
        hwm = next(int(line.split()[1]) for line in fh if line.startswith("VmHWM"))
    print(code, hwm // 1024, file=sys.__stdout__)
""")


@posix
@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux's /dev/zero and /proc")
@pytest.mark.parametrize("what", ["cli", "read", "info"])
def test_an_endless_input_is_refused_after_its_header(what, tmp_path):
    """``kmc decode /dev/zero`` (and ``kmcodec.read``/``info`` of it): the
    magic is wrong after 4 bytes, so a FormatError (exit 1, one line) at
    once, not reading until memory runs out.  Run in a child capped at 2 GB
    of address space; its peak memory must stay under 512 MB."""
    proc = subprocess.run([sys.executable, "-c", ENDLESS_PROBE, what, str(tmp_path / "z.png")],
                          capture_output=True, text=True, timeout=60, env=child_env())
    assert proc.stdout.strip(), proc.stderr[-3000:]
    outcome, peak_mb = proc.stdout.split()[-2:] if what == "cli" else proc.stdout.rsplit(" ", 1)
    if what == "cli":
        assert outcome == "1", proc.stderr
        assert "/dev/zero" in error_line(proc.stderr)
    else:
        assert outcome == "FormatError (KmcError)", (proc.stdout, proc.stderr[-2000:])
    assert int(peak_mb) < 512, f"read {peak_mb} MB of an endless stream"
    assert not (tmp_path / "z.png").exists()


@posix
class TestProcessStderr:
    """What reaches the real file descriptor 2, not only ``sys.stderr``."""

    def test_libtiff_messages_do_not_leak_onto_stderr(self, tmp_path):
        """A TIFF that makes libtiff print ``TIFFFetchNormalTag: ...`` on fd 2:
        ``kmc encode`` still prints only ``kmc:`` lines (one error, or
        warnings), so the error stays one line."""
        (tmp_path / "bc.tif").write_bytes(lzw_tiff_with_bad_tag_count())
        proc = run_process("encode", "bc.tif", cwd=tmp_path, text=True)
        assert proc.returncode in (0, 1), proc.stderr
        if proc.returncode == 1:
            assert "bc.tif" in error_line(proc.stderr)
        else:
            assert all(line.startswith("kmc: warning:") for line in proc.stderr.splitlines() if line), proc.stderr


# ==========================================================================
# Fuzzing: only KmcError escapes


PIXEL_LIMIT = 4_000_000
KMC_SEEDS = [p.read_bytes() for p in sorted(VECTORS.glob("*.kmc")) if p.stat().st_size < 20_000]
FIELDS = ["magic", "version", "coder", "bits", "flags", "width", "height", "colors", "payload"]
FIELD_VALUES = {"version": [0, 1, 2, 3, 255], "coder": [0, 1, 2, 255], "bits": [0, 1, 8, 16, 17, 255],
                "flags": [0, 1, 128], "width": [0, 1, 2**16, 2**31, 2**32 - 1],
                "height": [0, 1, 2**16, 2**31, 2**32 - 1], "colors": [0, 1, 2, 256, 65536, 65537, 2**32 - 1],
                "payload": [0, 1, 4, 8, 2**31, 2**32, 2**40, 2**63, 2**64 - 1]}


@st.composite
def hostile_kmc(draw) -> bytes:
    """Random bytes, the magic plus random bytes, or a frozen vector
    mutated: bit flips, truncation, insertion, deletion, splicing, the
    coder swapped, extreme header fields (with the CRC recomputed or not),
    and corrupt entropy stripe tables behind a good CRC.  The vectors
    include version 3's (coded palettes), whose streams the flips and
    splices reach too."""
    kind = draw(st.sampled_from(["random", "magic", "flip", "truncate", "insert", "delete", "splice",
                                 "field", "field+crc", "coder swap", "stripe table"]))
    if kind == "random":
        return draw(st.binary(max_size=300))
    if kind == "magic":
        return b"KMCF" + draw(st.binary(max_size=300))
    data = bytearray(draw(st.sampled_from(KMC_SEEDS)))
    if kind in BYTE_MUTATIONS:
        data = mutate_bytes(draw, data, kind, 32)
    elif kind == "splice":
        other = draw(st.sampled_from(KMC_SEEDS))
        cut = draw(st.integers(0, min(len(data), len(other))))
        data = bytearray(with_crc(bytes(data[:cut]) + other[cut:-4]))
    else:
        values = dict(zip(FIELDS, HEADER.unpack_from(data)))
        if kind == "coder swap":
            values["coder"] ^= 1
        elif kind == "stripe table" and values["coder"] == 1:
            if values["version"] == 3:  # spec section 14.1: palette_bytes, then the coded palette
                start = HEADER.size + 4 + int.from_bytes(data[HEADER.size : HEADER.size + 4], "little")
            else:
                start = HEADER.size + (4 if values["version"] == 2 else 3) * values["colors"]
            i = draw(st.integers(start, min(start + 12, len(data) - 5)))
            data[i] = draw(st.integers(0, 255))
        else:
            name = draw(st.sampled_from(sorted(FIELD_VALUES)))
            values[name] = draw(st.one_of(st.sampled_from(FIELD_VALUES[name]),
                                          st.just(max(values[name] - 1, 0)), st.just(values[name] + 1)))
            values[name] = min(values[name], 255 if name in ("version", "coder", "bits", "flags")
                               else 2**64 - 1 if name == "payload" else 2**32 - 1)
        body = HEADER.pack(*(values[f] for f in FIELDS)) + bytes(data[HEADER.size : -4])
        data = bytearray(body + bytes(data[-4:]) if kind == "field" else with_crc(body))
    return bytes(data)


def only_kmc_errors(call):
    """Run ``call``: its result, or the KmcError it raised (whose message is
    one line).  Any other exception propagates and fails the test."""
    try:
        return call()
    except KmcError as exc:
        error = exc
    assert "\n" not in str(error), f"a multi-line message: {error!r}"
    return error


@pytest.fixture
def fuzz_limit(monkeypatch, entropy_compiled):
    """The fuzz's pixel limit; and the coder compiled first, so that the
    time limits below measure decoding, not a one-time compile."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", PIXEL_LIMIT)


@settings(max_examples=600, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=hostile_kmc())
def test_fuzz_kmc_bytes_only_kmc_errors(data, fuzz_limit):
    """Hostile .kmc bytes through decode, decode_palette, info and Pillow
    (open + load, open + verify): a result or a KmcError, nothing else, in
    bounded time and memory; a file that decodes also checks out, and
    Pillow gives the same pixels."""
    with alarm(30, "decoding hostile .kmc bytes"):
        tracemalloc.start()
        try:
            pixels = only_kmc_errors(lambda: kmcodec.decode(data))
            only_kmc_errors(lambda: kmcodec.decode_palette(data))
            meta = only_kmc_errors(lambda: kmcodec.info(data))

            def pillow(how):
                with Image.open(io.BytesIO(data), formats=["KMC"]) as im:
                    getattr(im, how)()
                    alpha = im.mode == "RGBA" or "transparency" in im.info
                    return np.asarray(im.convert("RGBA" if alpha else "RGB")) if how == "load" else None

            if data[:4] == b"KMCF":
                loaded = only_kmc_errors(lambda: pillow("load"))
                only_kmc_errors(lambda: pillow("verify"))
            else:
                with pytest.raises((Image.UnidentifiedImageError, KmcError)):
                    pillow("load")
                loaded = None
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peak <= 24 * PIXEL_LIMIT + 8 * len(data) + (4 << 20)
    if isinstance(pixels, np.ndarray):
        assert not isinstance(meta, Exception), f"decodes but info says {meta}"
        assert pixels.shape == (meta.height, meta.width, 4 if meta.alpha else 3)
        assert isinstance(loaded, np.ndarray) and np.array_equal(loaded, pixels)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=hostile_kmc())
def test_fuzz_kmc_cli_decode_and_info(data, fuzz_limit, tmp_path, capsys):
    """``kmc decode`` and ``kmc info`` of hostile bytes: exit 0, or exit 1
    with one error line naming the file and no output; never a temporary
    file; the input untouched."""
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    src = folder / "in.kmc"
    src.write_bytes(data)
    with alarm(60, "kmc decode of hostile bytes"):
        code, _, err = run(capsys, "decode", src, "-o", folder / "out.png", "-q")
        assert code in (0, 1), err
        if code == 1:
            assert "in.kmc" in error_line(err)
            assert not (folder / "out.png").exists()
        code2, _, err2 = run(capsys, "info", src)
        assert code2 in (0, 1), err2
        if code2 == 1:
            assert "in.kmc" in error_line(err2)
        if code == 0:
            assert code2 == 0, f"kmc info refuses a file kmc decode accepts: {err2}"
    assert src.read_bytes() == data
    assert not leftovers(folder)


# Hand-made openings of formats Pillow opens but cannot write: enough for
# Pillow to pick the plugin, so that mutations reach its parser.
_FITS = b"".join(c.ljust(80).encode() for c in [
    "SIMPLE  =                    T", "BITPIX  =                    8", "NAXIS   =                    2",
    "NAXIS1  =                    4", "NAXIS2  =                    4", "END"]).ljust(2880) + bytes(16)
OPEN_ONLY_SEEDS = {
    "FITS": _FITS,
    "FLI": bytes.fromhex("e8030000") + bytes.fromhex("12af") + bytes.fromhex("0100080008000800") + bytes(200),
    "PSD": b"8BPS\x00\x01" + bytes(6) + bytes.fromhex("0003 00000004 00000004 0008 0003") + bytes(64),
    "XPM": b'/* XPM */\nstatic char *x[] = {\n"2 2 1 1",\n"a c #ff0000",\n"aa",\n"aa"\n};\n',
    "SUN": bytes.fromhex("59a66a95 00000004 00000004 00000018 00000030 00000001 00000000 00000000") + bytes(64),
    "GBR": bytes.fromhex("0000001e 00000002 00000004 00000004 00000001 47494d50 00000000") + b"x\0" + bytes(16),
    "CUR": b"\0\0\2\0\1\0" + bytes.fromhex("04040000 0000 0000 28000000 16000000") + bytes(200),
    "FTEX": b"FTEX" + bytes(128),
    "XVTHUMB": b"P7 332\n#XVVERSION\n4 4 255\n" + bytes(16),
    "IM": b"Image type: RGB image\r\nName: x\r\nImage size (x*y): 4*4\r\n\x1a".ljust(512, b"\0") + bytes(48),
    "WMF": bytes.fromhex("d7cdc69a0000") + bytes(128),
    "DDS": dds_unknown_flags(),
    "EPS": EPS,
    "PDF": PDF,
    "MPEG": b"\x00\x00\x01\xb3" + bytes(64),
    "PCD": bytes(2048) + b"PCD_IPI" + bytes(64),
}


@cache
def image_corpus() -> list[tuple[str, str, bytes]]:
    """(format, suffix, bytes): a small valid file of every format Pillow
    writes here (a few PNG, GIF, TIFF variants too: palette, alpha,
    interlaced, multi-frame), and an opening of every format it only reads."""
    ext_of = {}
    for ext, fmt in Image.registered_extensions().items():
        ext_of.setdefault(fmt, ext)
    corpus = []
    for fmt in SAVE_FORMATS:
        data = saved_sample(fmt)
        if data is not None and len(data) < 100_000:
            corpus.append((fmt, ext_of.get(fmt, ".bin"), data))
    rgb = noise(12, 16, 3)
    extra = []
    for kwargs in ({"format": "PNG", "interlace": 1}, {"format": "PNG", "mode": "P"},
                   {"format": "PNG", "mode": "RGBA"}, {"format": "PNG", "mode": "I;16"},
                   {"format": "GIF", "frames": 3}, {"format": "TIFF", "frames": 3},
                   {"format": "TIFF", "compression": "tiff_lzw"}, {"format": "WEBP", "lossless": True}):
        kwargs = dict(kwargs)
        mode, frames = kwargs.pop("mode", "RGB"), kwargs.pop("frames", 1)
        im = Image.fromarray(rgb).convert(mode) if mode != "I;16" else Image.fromarray(
            rgb[:, :, 0].astype(np.uint16) * 257)
        buf = io.BytesIO()
        if frames > 1:
            more = [Image.fromarray(noise(12, 16, 4 + i)) for i in range(frames - 1)]
            im.save(buf, save_all=True, append_images=more, **kwargs)
        else:
            im.save(buf, **kwargs)
        extra.append((kwargs["format"], ext_of[kwargs["format"]], buf.getvalue()))
    extra.append(("PNG", ".png", png_with_garbage_exif()))
    for kind in ("compression", "no-width", "photometric"):
        extra.append(("TIFF", ".tif", broken_second_frame(kind)))
    for fmt, data in OPEN_ONLY_SEEDS.items():
        extra.append((fmt, ext_of.get(fmt, ".bin"), data))
    return corpus + extra


@st.composite
def hostile_image(draw) -> tuple[str, bytes]:
    """(file name, bytes): an image file of any format, mutated, under its
    own suffix or disguised as .png."""
    corpus = image_corpus()
    fmt, ext, data = corpus[draw(st.integers(0, len(corpus) - 1))]
    data = bytearray(data)
    kind = draw(st.sampled_from(["none", "flip", "truncate", "insert", "delete", "overwrite", "tail"]))
    if kind == "flip" and data:
        for _ in range(draw(st.integers(1, 10))):
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= 1 << draw(st.integers(0, 7))
    elif kind == "truncate":
        data = data[: draw(st.integers(0, max(len(data) - 1, 0)))]
    elif kind == "insert":
        i = draw(st.integers(0, len(data)))
        data[i:i] = draw(st.binary(min_size=1, max_size=64))
    elif kind == "delete" and data:
        i = draw(st.integers(0, len(data) - 1))
        del data[i : i + draw(st.integers(1, 64))]
    elif kind == "overwrite" and data:
        # Header fields live near the start: aim there most of the time.
        i = draw(st.integers(0, min(len(data) - 1, draw(st.sampled_from([64, 512, len(data) - 1])))))
        patch = draw(st.binary(min_size=1, max_size=8))
        data[i : i + len(patch)] = patch
    elif kind == "tail":
        data += draw(st.binary(min_size=1, max_size=256))
    if fmt == "PNG" and draw(st.booleans()):
        data = bytearray(fix_png_crcs(bytes(data)))  # let the mutation past the CRC checks
    # Never x.kmc: its output would be the input, a planning error that
    # encode_many reports by raising (as it does for colliding outputs).
    name = "x" + draw(st.sampled_from([".bin" if ext == ".kmc" else ext, ".png"]))
    return name, bytes(data)


@settings(max_examples=400, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                 HealthCheck.data_too_large])
@given(sample=hostile_image())
def test_fuzz_image_files_only_kmc_errors(sample, tmp_path, monkeypatch, spy):
    """Hostile image files of every format, mutated, through encode,
    quantize (a path) and ``encode_many([path], jobs=1)``: a result, a
    KmcError or an OSError with an errno; encode_many never raises and a
    failure is a one-line message with no output; no temporary file; the
    input untouched; no external program run; no hang."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 250_000)
    name, data = sample
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    path = folder / name
    path.write_bytes(data)

    def path_call(call):
        try:
            return only_kmc_errors(call)
        except OSError as exc:
            error = exc
        assert error.errno is not None, f"an OSError without errno escaped: {error!r}"
        return error

    with alarm(60, f"encoding hostile {name}"):
        encoded = path_call(lambda: kmcodec.encode(path, k=4, n_init=1))
        path_call(lambda: kmcodec.quantize(str(path), k=4, n_init=1))
        results = batch.encode_many([str(path)], k=4, n_init=1, jobs=1)
    assert len(results) == 1
    result = results[0]
    output = Path(result.output)
    if result.ok:
        assert kmcodec.read(output).ndim == 3
        assert isinstance(encoded, bytes), f"encode_many succeeded where encode raised {encoded!r}"
    else:
        assert result.error and "\n" not in result.error, result.error
        if output.resolve() != path.resolve():
            assert not output.exists()
    assert path.read_bytes() == data
    assert not leftovers(folder), leftovers(folder)
    assert spy.calls == [], f"an external program was started: {spy.calls}"
