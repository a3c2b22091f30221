"""The kmc command: outputs, exit codes, one-line errors, no partial files."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import kmcodec
from kmcodec.cli import main

from .conftest import palette_image


def digest(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def listing(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
def photo(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, size=(30, 40, 3), dtype=np.uint8)
    path = tmp_path / "photo.png"
    Image.fromarray(rgb).save(path)
    return path


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_encode_decode_info(tmp_path, photo, capsys):
    code, out, err = run(capsys, "encode", photo, "-k", 8, "--seed", 3)
    assert code == 0 and out == ""  # status lines go to stderr
    kmc = tmp_path / "photo.kmc"
    assert kmc.read_bytes() == kmcodec.encode(photo, k=8, seed=3)
    assert "photo.kmc: 40x30, 8 colours (3 bits/index)" in err and "PSNR" in err

    code, out, _ = run(capsys, "info", kmc, "--json")
    meta = json.loads(out)
    assert code == 0
    for key in ("width", "height", "colors", "bits_per_index", "header_bytes", "palette_bytes",
                "index_bytes", "total_bytes", "formula_bits"):
        assert key in meta
    assert meta["total_bytes"] == kmc.stat().st_size == 32 + 3 * 8 + (1200 * 3 + 7) // 8
    assert meta["formula_bits"] == 24 * 8 + 1200 * 3

    code, out, _ = run(capsys, "info", kmc)
    assert code == 0 and "24K + N*ceil(log2 K) = 3,792 bits" in out and "the file adds 32 bytes" in out

    code, out, _ = run(capsys, "decode", kmc)  # to photo.kmc.png: never the original photo.png
    assert code == 0
    decoded = Image.open(tmp_path / "photo.kmc.png")
    assert decoded.mode == "P"  # K <= 256: a palette PNG, the same RGB pixels
    assert np.array_equal(np.asarray(decoded.convert("RGB")), kmcodec.read(kmc))


def test_decode_format_follows_suffix(tmp_path, photo, capsys):
    kmc = tmp_path / "p.kmc"
    assert run(capsys, "encode", photo, "-o", kmc, "-k", 4)[0] == 0
    for suffix, fmt in [(".bmp", "BMP"), (".tif", "TIFF"), (".webp", "WEBP"), (".jpg", "JPEG")]:
        out = tmp_path / f"out{suffix}"
        assert run(capsys, "decode", kmc, "-o", out)[0] == 0
        assert Image.open(out).format == fmt


def test_refuses_to_overwrite_without_force(tmp_path, photo, capsys):
    out = tmp_path / "o.kmc"
    out.write_bytes(b"keep me")
    code, _, err = run(capsys, "encode", photo, "-o", out)
    assert code == 1 and "file exists" in err and "-f" in err
    assert out.read_bytes() == b"keep me"
    code, _, _ = run(capsys, "encode", photo, "-o", out, "-f", "-k", 2)
    assert code == 0 and kmcodec.info(out).colors == 2


def test_never_overwrites_its_input(tmp_path, capsys):
    kmc = tmp_path / "a.kmc"
    kmc.write_bytes(kmcodec.encode(palette_image(4, 4, 3), k=3))
    before = digest(kmc)
    code, _, _err = run(capsys, "decode", kmc, "-o", kmc, "-f")
    assert code == 2 or code == 1
    assert digest(kmc) == before


def test_input_is_never_modified(tmp_path, photo, capsys):
    before = digest(photo)
    run(capsys, "encode", photo, "-k", 4)
    run(capsys, "encode", photo, "-k", 4, "-f")
    code, _, err = run(capsys, "encode", photo, "-o", photo, "-f")
    assert code == 1 and "the output would replace the input" in err
    assert digest(photo) == before


@pytest.mark.parametrize(
    "argv, message",
    [
        (["encode", "{missing}"], "No such file"),
        (["encode", "{junkimg}"], "cannot read image"),
        (["decode", "{junk}"], "magic is"),
        (["decode", "{missing}"], "No such file"),
        (["info", "{junk}"], "magic is"),
        (["info", "{corrupt}"], "crc32"),
        (["decode", "{corrupt}"], "crc32"),
        (["encode", "{dir}", "-o", "{missing}"], "with several inputs or folders use --out-dir"),
    ],
)
def test_bad_input_one_line_exit_1_no_output(tmp_path, photo, capsys, argv, message):
    junk = tmp_path / "junk.kmc"
    junk.write_bytes(b"this is not an image at all")
    (tmp_path / "notimage.png").write_bytes(b"this is not an image either")
    corrupt = tmp_path / "corrupt.kmc"
    data = bytearray(kmcodec.encode(photo, k=4))
    data[40] ^= 1
    corrupt.write_bytes(bytes(data))
    (tmp_path / "sub").mkdir()
    names = {"missing": tmp_path / "nope.png", "junk": junk, "junkimg": tmp_path / "notimage.png",
             "corrupt": corrupt, "dir": tmp_path / "sub"}
    before = listing(tmp_path)
    code, out, err = run(capsys, *[a.format(**names) for a in argv])
    assert code == (2 if "--out-dir" in message else 1)
    assert err.count("\n") == 1 and err.startswith("kmc") and "error:" in err and message in err
    assert "Traceback" not in err and out == ""
    assert listing(tmp_path) == before


@pytest.mark.parametrize(
    "argv, message",
    [
        (["encode", "x.png", "-k", "0"], "-k is 0; it must be from 1 to 65536"),
        (["encode", "x.png", "-k", "65537"], "-k is 65537"),
        (["encode", "x.png", "-k", "many"], "-k is 'many'; it must be an integer"),
        (["encode", "x.png", "--seed", "-3"], "--seed is -3"),
        (["encode", "x.png", "--engine", "faiss"], "invalid choice"),
        (["frobnicate"], "invalid choice"),
        (["plot"], "required: KIND"),
        (["decode", "{kmc}", "-o", "out.xyz"], "output suffix '.xyz'"),
    ],
)
def test_usage_errors_exit_2(tmp_path, capsys, argv, message):
    kmc = tmp_path / "a.kmc"
    kmc.write_bytes(kmcodec.encode(palette_image(4, 4, 3), k=3))
    code, _, err = run(capsys, *[a.format(kmc=kmc) for a in argv])
    assert code == 2 and message in err


def test_alpha_is_kept_and_background_composites(tmp_path, capsys):
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = 128
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    code, _, err = run(capsys, "encode", tmp_path / "a.png", "-o", tmp_path / "a.kmc")
    assert code == 0 and "warning" not in err and "with alpha, MSE of premultiplied RGBA 0.00" in err
    assert kmcodec.decode((tmp_path / "a.kmc").read_bytes())[0, 0].tolist() == [200, 0, 0, 128]
    code, _, err = run(capsys, "encode", tmp_path / "a.png", "-o", tmp_path / "b.kmc", "--background", "#000")
    assert code == 0 and "warning" not in err and "with alpha" not in err
    assert kmcodec.info((tmp_path / "b.kmc").read_bytes()).version == 1
    assert kmcodec.decode((tmp_path / "b.kmc").read_bytes())[0, 0].tolist() == [100, 0, 0]  # (200*128 + 127) // 255


def test_quiet_prints_nothing(tmp_path, photo, capsys):
    assert run(capsys, "encode", photo, "-q") == (0, "", "")


def test_engine_sklearn_from_cli(tmp_path, photo, capsys):
    assert run(capsys, "encode", photo, "-k", 4, "--engine", "sklearn", "-o", tmp_path / "s.kmc")[0] == 0
    assert (tmp_path / "s.kmc").read_bytes() == kmcodec.encode(photo, k=4, engine="sklearn")


def test_python_dash_m_and_console_script(tmp_path, photo):
    out = tmp_path / "m.kmc"
    proc = subprocess.run([sys.executable, "-m", "kmcodec", "encode", str(photo), "-o", str(out), "-k", "4"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    proc = subprocess.run([sys.executable, "-m", "kmcodec", "info", str(tmp_path / "nope.kmc")],
                          capture_output=True, text=True)
    expected = f"kmc: error: {tmp_path / 'nope.kmc'}: No such file or directory"
    assert proc.returncode == 1 and proc.stderr.strip() == expected


def test_decode_and_info_do_not_import_heavy_packages(tmp_path, photo):
    kmc = tmp_path / "p.kmc"
    kmcodec.write(kmc, photo, k=4)
    code = (
        "import sys; from kmcodec.cli import main; "
        f"main(['info', {str(kmc)!r}]); main(['decode', {str(kmc)!r}, '-o', {str(tmp_path / 'o.png')!r}]); "
        "print(sorted(m for m in ('sklearn', 'scipy', 'matplotlib') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_pixel_limit_option(tmp_path, capsys, monkeypatch):
    from PIL import Image as PILImage

    monkeypatch.setattr(PILImage, "MAX_IMAGE_PIXELS", PILImage.MAX_IMAGE_PIXELS)
    path = tmp_path / "p.png"
    Image.fromarray(palette_image(20, 30, 4)).save(path)
    code, _, err = run(capsys, "encode", path, "--max-pixels", 100)
    assert code == 1 and "600 pixels" in err and "limit" in err and "--max-pixels" in err
    assert not (tmp_path / "p.kmc").exists()
    assert run(capsys, "encode", path, "--max-pixels", 600, "-q")[0] == 0
    assert run(capsys, "info", tmp_path / "p.kmc", "--max-pixels", 599)[0] == 1
    assert run(capsys, "decode", tmp_path / "p.kmc", "-o", tmp_path / "d.png", "--max-pixels", 0, "-q")[0] == 0


def test_the_first_entropy_decode_says_it_compiles_once(tmp_path):
    """With nothing compiled yet (an empty cache folder), ``kmc decode`` of an
    entropy file says so in one line before the wait; run again, it says
    nothing."""
    vectors = Path(__file__).resolve().parent / "vectors"
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    env["PYTHONPATH"] = str(vectors.parent.parent)
    out = tmp_path / "out.png"
    argv = [sys.executable, "-m", "kmcodec", "decode", str(vectors / "entropy-k16-coffee-48x40.kmc"),
            "-o", str(out), "-f", "-q"]
    with subprocess.Popen(argv, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True) as proc:
        assert proc.stderr is not None
        note = proc.stderr.readline()
        written_before = out.exists()
        rest = proc.stderr.read()
        assert proc.wait(timeout=600) == 0, note + rest
    assert note == "kmc: note: compiling the entropy decoder (10 to 20 s, once: the result is cached)\n"
    assert not written_before and rest == ""  # said before the work, and once
    again = subprocess.run(argv[:-1], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and again.stdout == ""
    assert again.stderr == f"{out}: 48x40, palette PNG, {out.stat().st_size:,} bytes\n"  # no note
    expected = np.asarray(Image.open(vectors / "entropy-k16-coffee-48x40.png").convert("RGB"))
    assert np.array_equal(np.asarray(Image.open(out).convert("RGB")), expected)


def test_the_first_encode_compiles_the_engine_once(tmp_path):
    """With an empty cache folder ``kmc encode`` says once that it compiles
    the k-means engine; run again, it loads every function from the cache
    and says nothing."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    src = tmp_path / "photo.png"
    rng = np.random.default_rng(4)
    Image.fromarray(np.clip(rng.normal(128, 60, (600, 500, 3)), 0, 255).astype(np.uint8)).save(src)
    argv = [sys.executable, "-m", "kmcodec", "encode", str(src), "-k", "8", "-o", str(tmp_path / "a.kmc"), "-q"]
    first = subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert first.returncode == 0, first.stderr
    assert first.stderr == "kmc: note: compiling the k-means engine (20 to 60 s, once: the result is cached)\n"
    argv[-2] = str(tmp_path / "b.kmc")
    again = subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0 and again.stderr == ""
    assert (tmp_path / "a.kmc").read_bytes() == (tmp_path / "b.kmc").read_bytes()


def test_a_batch_worker_prints_notes_as_kmc_lines(tmp_path):
    """A worker process has no ``kmc`` command around it: its initialiser
    makes the library's log messages ``kmc: note:`` lines all the same."""
    code = (
        "import logging, os\n"
        "from kmcodec import _signals\n"
        "_signals.worker_init(os.getppid())\n"
        "logging.getLogger('kmcodec.jitcache').warning('compiling something')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stderr == "kmc: note: compiling something\n"


def test_a_quick_exit_still_runs_exit_functions_and_flushes(tmp_path):
    """With Numba imported, ``kmc`` leaves by ``os._exit`` (the interpreter's
    teardown would cost more than a small decode): the exit functions have
    run, buffered output is out, and the status is the command's."""
    marker = tmp_path / "ran"
    code = (
        "import atexit, sys, numba\n"
        "from kmcodec import cli\n"
        f"atexit.register(lambda: open({str(marker)!r}, 'w').close())\n"
        "print('buffered', end='')\n"
        "cli._leave(3)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # stdout a buffered pipe
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert (proc.returncode, proc.stdout, proc.stderr) == (3, "buffered", "")
    assert marker.exists()


def test_an_entropy_decode_error_exits_1_with_one_line(tmp_path):
    """The quick exit keeps the status of a failure found by the compiled
    decoder (a stream one byte longer than its decoding reads)."""
    import struct
    import zlib

    data = (Path(__file__).resolve().parent / "vectors" / "entropy-k16-coffee-48x40.kmc").read_bytes()
    start, end = 28 + 3 * 16, len(data) - 4
    rows, length = struct.unpack_from("<II", data, start)  # one stripe
    payload = struct.pack("<II", rows, length + 1) + data[start + 8 : end] + b"\0"
    head = bytearray(data[:start])
    struct.pack_into("<Q", head, 20, len(payload))
    body = bytes(head) + payload
    (tmp_path / "long.kmc").write_bytes(body + zlib.crc32(body).to_bytes(4, "little"))
    proc = subprocess.run([sys.executable, "-m", "kmcodec", "decode", "long.kmc"], cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if not line.startswith("kmc: note:")]
    assert len(lines) == 1 and lines[0].startswith("kmc: error: long.kmc: "), proc.stderr
    assert f"stream is {length + 1} bytes but decoding it reads {length}" in lines[0]
    assert not (tmp_path / "long.kmc.png").exists()
