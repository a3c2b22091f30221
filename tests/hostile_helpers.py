"""Builders and checkers for tests/test_hostile.py.

Everything here makes hostile inputs (forged .kmc files, PNGs with a broken
eXIf chunk, broken multi-frame TIFFs, DDS files with unknown flags, EPS),
runs the command line (in this process or as a real process), and checks
the promises of the README: one error line, no traceback, no partial or
temporary file, inputs untouched.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import re
import signal
import stat
import struct
import subprocess
import sys
import threading
import time
import zlib
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image

from kmcodec.cli import main

HEADER = struct.Struct("<4sBBBBIIIQ")
REPO = Path(__file__).resolve().parent.parent
VECTORS = REPO / "tests" / "vectors"


# --------------------------------------------------------------------------
# running the command line


def run(capsys, *argv) -> tuple[int, str, str]:
    """``kmc ARGV`` in this process: (exit status, stdout, stderr)."""
    code = main([os.fspath(a) if isinstance(a, os.PathLike) else a for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a child ``python -m kmcodec``: this one, plus the
    repository on the path, one BLAS thread, and ``extra``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    env.setdefault("OMP_NUM_THREADS", "1")
    env.update(extra)
    return env


def ascii_env() -> dict[str, str]:
    """A strict ASCII terminal: C locale, no UTF-8 mode, no locale
    coercion, stdout and stderr that raise on anything outside ASCII."""
    env = child_env()
    for name in ("LANG", "LANGUAGE", "LC_CTYPE", "LC_MESSAGES", "PYTHONUTF8"):
        env.pop(name, None)
    env.update(LC_ALL="C", PYTHONUTF8="0", PYTHONCOERCECLOCALE="0",
               PYTHONIOENCODING="ascii:strict")
    return env


def kmc_command(*args) -> list:
    """argv of ``python -m kmcodec ARGS`` (bytes arguments are kept as bytes)."""
    return [sys.executable, "-m", "kmcodec", *args]


def run_process(*args, cwd=None, env=None, timeout=120, **kw) -> subprocess.CompletedProcess:
    """``python -m kmcodec ARGS`` as a real process; stdout/stderr as bytes."""
    return subprocess.run(kmc_command(*args), cwd=cwd, env=env or child_env(),
                          capture_output=True, timeout=timeout, **kw)


# --------------------------------------------------------------------------
# checking what the command line printed


BATCH_SUMMARY = re.compile(r"\d+ files?: \d+ done, ")


def error_line(err: str) -> str:
    """The single ``kmc: error:`` line of ``err``; fails unless the rule holds.

    The rule: no traceback; exactly one line starting ``kmc: error:``; every
    other line is a ``kmc: warning:`` or a ``kmc: note:`` (the notice that
    the entropy coder is being compiled, on a first run), or a batch's
    closing summary ("3 files: 2 done, 1 failed; ..."), so nothing else
    leaks to stderr.
    """
    assert "Traceback" not in err, f"a traceback on stderr:\n{err}"
    lines = [line for line in err.splitlines() if line.strip() and not BATCH_SUMMARY.match(line)]
    errors = [line for line in lines if line.startswith("kmc: error:")]
    assert len(errors) == 1, f"expected exactly one 'kmc: error:' line, got:\n{err}"
    stray = [line for line in lines if not line.startswith(("kmc: error:", "kmc: warning:", "kmc: note:"))]
    assert not stray, f"stderr has lines that are neither the error nor warnings nor notes:\n{err}"
    return errors[0]


def usage_error(err: str) -> str:
    """The usage error (exit status 2): an ``error:`` line, no traceback."""
    assert "Traceback" not in err, f"a traceback on stderr:\n{err}"
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1, f"expected one error line, got:\n{err}"
    return lines[0]


# --------------------------------------------------------------------------
# the file system


def tree(root) -> list[str]:
    """Every file and folder below ``root`` (hidden ones too), relative, sorted."""
    root = Path(root)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def leftovers(root) -> list[str]:
    """Temporary files below ``root``: hidden names or names ending ``.tmp``."""
    return [p for p in tree(root)
            if Path(p).name.startswith(".") or p.endswith(".tmp") or ".tmp." in Path(p).name]


def digest(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def digests(root) -> dict[str, str]:
    root = Path(root)
    return {str(p.relative_to(root)): digest(p) for p in root.rglob("*") if p.is_file()}


# --------------------------------------------------------------------------
# images


def noise(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(height, width, 3), dtype=np.uint8)


def photo_like(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Smooth colour waves plus noise: many distinct colours, like a photograph."""
    rng = np.random.default_rng(seed)
    y = np.arange(height, dtype=np.float32)[:, None]
    x = np.arange(width, dtype=np.float32)[None, :]
    channels = []
    for _ in range(3):
        fx, fy, phase = rng.uniform(0.002, 0.02), rng.uniform(0.002, 0.02), rng.uniform(0, 6)
        channels.append(128 + 90 * np.sin(x * fx + phase) * np.cos(y * fy))
    img = np.stack(channels, axis=2) + rng.integers(-24, 25, (height, width, 3), dtype=np.int16)
    return np.clip(img, 0, 255).astype(np.uint8)


def png_bytes(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG")
    return buf.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_with_chunk(png: bytes, kind: bytes, data: bytes) -> bytes:
    """``png`` with one more chunk (correct CRC) right after IHDR."""
    return png[:33] + png_chunk(kind, data) + png[33:]


def png_with_garbage_exif(seed: int = 0) -> bytes:
    """A valid 6x5 PNG whose eXIf chunk is not TIFF data: Pillow's
    ``getexif()`` raises SyntaxError ("not a TIFF file")."""
    return png_with_chunk(png_bytes(noise(5, 6, seed)), b"eXIf", b"garbage!garbage!")


def fix_png_crcs(data: bytes) -> bytes:
    """Recompute every chunk CRC of a (possibly mutated) PNG, as far as its
    chunk lengths make sense: mutations then reach the chunk parsers."""
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return data
    out = bytearray(data)
    pos = 8
    while pos + 12 <= len(out):
        (length,) = struct.unpack_from(">I", out, pos)
        end = pos + 8 + length
        if end + 4 > len(out):
            break
        struct.pack_into(">I", out, end, zlib.crc32(bytes(out[pos + 4 : end])))
        pos = end + 4
    return bytes(out)


def tiff_two_frames() -> bytes:
    frames = [Image.fromarray(np.full((4, 4, 3), 40 * i, np.uint8)) for i in range(2)]
    buf = io.BytesIO()
    frames[0].save(buf, "TIFF", save_all=True, append_images=frames[1:])
    return buf.getvalue()


def broken_second_frame(kind: str) -> bytes:
    """A two-frame TIFF whose first frame is fine and whose second IFD makes
    Pillow's ``n_frames`` raise:

    - "compression": Compression = 12345 -> KeyError
    - "no-width": the ImageWidth tag renamed -> TypeError ("Missing dimensions")
    - "photometric": PhotometricInterpretation = 77 -> SyntaxError ("unknown pixel mode")
    """
    data = bytearray(tiff_two_frames())
    first = struct.unpack_from("<I", data, 4)[0]
    count = struct.unpack_from("<H", data, first)[0]
    second = struct.unpack_from("<I", data, first + 2 + 12 * count)[0]
    count2 = struct.unpack_from("<H", data, second)[0]
    tag, value, rename = {"compression": (259, 12345, None), "no-width": (256, None, 0x7FFF),
                          "photometric": (262, 77, None)}[kind]
    for i in range(count2):
        pos = second + 2 + 12 * i
        found, kind_of_value = struct.unpack_from("<HH", data, pos)
        if found != tag:
            continue
        if rename is not None:
            struct.pack_into("<H", data, pos, rename)
        elif kind_of_value == 3:  # SHORT
            struct.pack_into("<HH", data, pos + 8, value, 0)
        else:
            struct.pack_into("<I", data, pos + 8, value)
        return bytes(data)
    raise AssertionError(f"tag {tag} not in the second IFD")


def dds_unknown_flags(pixel_format_flags: int = 0, fourcc: int = 0) -> bytes:
    """A DDS header Pillow identifies but cannot read: ``Image.open`` raises
    NotImplementedError ("Unknown pixel format flags 0")."""
    header = struct.pack("<3I", 0x1007, 4, 4) + struct.pack("<3I", 0, 0, 0) + bytes(44)
    header += struct.pack("<4I", 32, pixel_format_flags, fourcc, 0)
    header = header.ljust(120, b"\0")
    return b"DDS " + struct.pack("<I", 124) + header + bytes(64)


EPS = (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n%%EndComments\n"
       b"newpath 0 0 moveto 10 10 lineto stroke\nshowpage\n%%EOF\n")
PDF = (b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
       b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")


# --------------------------------------------------------------------------
# .kmc files


def kmc_file(width: int, height: int, colors: int, payload: bytes, *, coder: int = 1,
             payload_bytes: int | None = None, bits: int | None = None) -> bytes:
    """A .kmc file with a correct CRC and whatever header fields are given."""
    bits = (colors - 1).bit_length() if bits is None else bits
    declared = len(payload) if payload_bytes is None else payload_bytes
    body = HEADER.pack(b"KMCF", 1, coder, bits, 0, width, height, colors, declared)
    body += bytes(range(3 * colors)) if colors <= 85 else bytes(3 * colors)
    body += payload
    return body + zlib.crc32(body).to_bytes(4, "little")


def entropy_stub(height_rows: int = 0xFFFFFFFF, stream: bytes = b"\0\0\0\0") -> bytes:
    """A coder-1 payload: one stripe of ``height_rows`` rows and ``stream``."""
    return struct.pack("<II", height_rows, len(stream)) + stream


def with_crc(body: bytes) -> bytes:
    return body + zlib.crc32(body).to_bytes(4, "little")


# --------------------------------------------------------------------------
# external programs


class SubprocessSpy:
    """Replaces ``subprocess.Popen``, ``os.system`` and ``os.posix_spawn*``:
    every attempt to run a program is recorded and refused."""

    def __init__(self) -> None:
        self.calls: list[object] = []

    def _refuse(self, *args, **kwargs):
        self.calls.append(args[0] if args else kwargs)
        raise RuntimeError(f"test forbids running external programs: {args[:1]!r}")

    def install(self, monkeypatch) -> SubprocessSpy:
        monkeypatch.setattr(subprocess, "Popen", self._refuse)
        monkeypatch.setattr(os, "system", self._refuse)
        for name in ("posix_spawn", "posix_spawnp"):
            if hasattr(os, name):
                monkeypatch.setattr(os, name, self._refuse)
        return self


def pretend_ghostscript(monkeypatch) -> None:
    """Make Pillow believe Ghostscript is installed, so that loading an EPS
    would run it (the spy then sees the attempt)."""
    from PIL import EpsImagePlugin

    monkeypatch.setattr(EpsImagePlugin, "gs_binary", "gs", raising=False)


# --------------------------------------------------------------------------
# FIFOs


class FifoReader(threading.Thread):
    """Reads a FIFO to its end in a thread; ``finish()`` never hangs."""

    def __init__(self, path) -> None:
        super().__init__(daemon=True)
        self.path = os.fspath(path)
        self.data: bytes | None = None
        self.start()

    def run(self) -> None:
        with open(self.path, "rb") as fh:
            self.data = fh.read()

    def finish(self, timeout: float = 20) -> bytes:
        self.join(timeout)
        deadline = time.monotonic() + 10
        while self.is_alive() and time.monotonic() < deadline:
            # Nobody opened the FIFO for writing: open and close it ourselves
            # so that the reader sees the end (ENXIO until it has opened).
            try:
                os.close(os.open(self.path, os.O_WRONLY | os.O_NONBLOCK))
            except OSError as exc:
                if exc.errno != errno.ENXIO:  # ENXIO: the reader has not opened yet
                    raise
            self.join(0.1)
        assert not self.is_alive(), "the FIFO reader never finished"
        return self.data or b""


def is_fifo(path) -> bool:
    return stat.S_ISFIFO(os.lstat(path).st_mode)


# --------------------------------------------------------------------------
# processes and signals


def wait_for(predicate, timeout: float, proc: subprocess.Popen | None = None,
              interval: float = 0.05) -> bool:
    """Poll ``predicate`` until true; False on timeout or if ``proc`` ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        if proc is not None and proc.poll() is not None:
            return False
        time.sleep(interval)
    return predicate()


def alive(processes) -> list:
    """Those of ``processes`` (psutil.Process) still running (zombies are dead)."""
    import psutil

    living = []
    for p in processes:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                living.append(p)
        except psutil.NoSuchProcess:
            continue
    return living


def kill_by_pid(processes) -> None:
    """Clean up after a failed test: SIGKILL each process we started, by pid."""
    import psutil

    for p in processes:
        try:
            p.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            continue


@contextmanager
def alarm(seconds: float, what: str):
    """Fail (instead of hanging the suite) if the block runs over ``seconds``."""
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expired(signum, frame):
        raise AssertionError(f"{what}: still running after {seconds} s (a hang)")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def lzw_tiff_with_bad_tag_count() -> bytes:
    """An LZW TIFF whose PlanarConfiguration tag has count 2: Pillow hands
    the file to libtiff, which prints ``TIFFFetchNormalTag: Incorrect count
    for "PlanarConfiguration".`` on the process's file descriptor 2."""
    buf = io.BytesIO()
    Image.fromarray(noise(12, 16, 3)).save(buf, format="TIFF", compression="tiff_lzw")
    data = bytearray(buf.getvalue())
    ifd = struct.unpack_from("<I", data, 4)[0]
    for i in range(struct.unpack_from("<H", data, ifd)[0]):
        pos = ifd + 2 + 12 * i
        if struct.unpack_from("<H", data, pos)[0] == 284:
            struct.pack_into("<I", data, pos + 4, 2)
            return bytes(data)
    raise AssertionError("no PlanarConfiguration tag")


def crash_on_b(src: str, dst: str, overwrite: bool, how):
    """A batch task that kills its worker process for any file named b*:
    a worker dying under one file, as a crash or the OOM killer would."""
    from kmcodec.batch import Result

    if os.path.basename(src).startswith("b"):
        os._exit(9)
    return Result(src, dst, 1, 1, 0.0)
