"""``kmc`` as pngquant, cwebp and ImageMagick users expect it (issue 12).

Every test here runs the real ``kmc`` executable of this environment in a
subprocess: its standard input and output, exit status and standard error
are what the user sees.
"""

from __future__ import annotations

import io
import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import kmcodec

from .conftest import palette_image
from .hostile_helpers import child_env, leftovers

_SCRIPT = Path(sys.executable).with_name("kmc")
KMC = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "kmcodec"]


def kmc(*args, cwd, stdin=None, stdout=subprocess.PIPE, timeout=120) -> subprocess.CompletedProcess:
    """``kmc ARGS`` in ``cwd``; ``stdin`` is bytes or a file; stdout and stderr as bytes."""
    given = {"input": stdin} if isinstance(stdin, bytes) else {"stdin": stdin}
    return subprocess.run([*KMC, *map(str, args)], cwd=cwd, env=child_env(), stdout=stdout,
                          stderr=subprocess.PIPE, timeout=timeout, **given)


def err_lines(proc) -> list[str]:
    return proc.stderr.decode().splitlines()


def png_bytes(rgb: np.ndarray, **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG", **options)
    return buffer.getvalue()


@pytest.fixture
def work(tmp_path):
    """photo.png (noise-free, 40 colours), photo.kmc (K = 8) and a.png (RGB noise)."""
    (tmp_path / "photo.png").write_bytes(png_bytes(palette_image(24, 32, 40)))
    kmcodec.write(tmp_path / "photo.kmc", tmp_path / "photo.png", k=8)
    rng = np.random.default_rng(5)
    (tmp_path / "a.png").write_bytes(png_bytes(rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)))
    return tmp_path


# --------------------------------------------------------------------------
# Never destroy the original by default


def test_decode_default_name_is_never_the_original(work):
    before = (work / "photo.png").read_bytes()
    proc = kmc("decode", "photo.kmc", cwd=work)
    assert proc.returncode == 0 and proc.stdout == b""
    assert err_lines(proc) == [("photo.kmc.png: 32x24, palette PNG, "
                               f"{(work / 'photo.kmc.png').stat().st_size:,} bytes")]
    assert np.array_equal(np.asarray(Image.open(work / "photo.kmc.png").convert("RGB")),
                          kmcodec.read(work / "photo.kmc"))
    # -f replaces the decoded file, never photo.png.
    assert kmc("decode", "photo.kmc", "-f", cwd=work).returncode == 0
    assert (work / "photo.png").read_bytes() == before


def test_decode_default_name_with_format_and_out_dir(work):
    assert kmc("decode", "photo.kmc", "--format", "webp", cwd=work).returncode == 0
    assert Image.open(work / "photo.kmc.webp").format == "WEBP"
    (work / "in").mkdir()
    os.replace(work / "photo.kmc", work / "in" / "photo.kmc")
    assert kmc("decode", "in", "--out-dir", "out", "--format", "tif", cwd=work).returncode == 0
    assert sorted(p.name for p in (work / "out").iterdir()) == ["photo.kmc.tif"]


def test_file_exists_says_what_force_would_replace(work):
    (work / "photo.kmc.png").write_bytes(b"x" * 1234)
    proc = kmc("decode", "photo.kmc", cwd=work)
    assert proc.returncode == 1
    [line] = err_lines(proc)
    assert line.startswith("kmc: error: photo.kmc.png: file exists (1,234 bytes, modified ")
    assert line.endswith("); -f would replace it")
    assert (work / "photo.kmc.png").read_bytes() == b"x" * 1234


def test_batch_file_exists_summary(work):
    folder = _mkdir(work / "d")
    for name in ("a.kmc", "photo.kmc"):
        kmcodec.write(folder / name, work / "photo.png", k=4)
    (work / "d" / "a.kmc.png").write_bytes(b"old")
    (work / "d" / "photo.kmc.png").write_bytes(b"old")
    proc = kmc("decode", "d", "-j", "1", cwd=work)
    assert proc.returncode == 1
    lines = err_lines(proc)
    assert [line.split(": file exists")[0] for line in lines if "file exists" in line] == [
        "kmc: error: d/a.kmc.png", "kmc: error: d/photo.kmc.png"]
    assert lines[-1] == "kmc: 2 outputs exist; -f would replace them"


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


def checkerboard_png(path: Path) -> int:
    """A 64 x 64 two-colour checkerboard: a tiny PNG, a 550-byte packed .kmc."""
    board = (np.indices((64, 64)).sum(0) % 2 * 255).astype(np.uint8)
    path.write_bytes(png_bytes(np.dstack([board] * 3), optimize=True))
    return path.stat().st_size


def test_larger_than_input_warns(work):
    size_in = checkerboard_png(work / "board.png")
    proc = kmc("encode", "board.png", "-k", "2", cwd=work)
    assert proc.returncode == 0
    size = (work / "board.kmc").stat().st_size
    assert size == 32 + 6 + 64 * 64 // 8 > size_in
    assert (f"kmc: warning: board.kmc: the .kmc file is larger than the input board.png"
            f" ({size:,} bytes against {size_in:,})") in err_lines(proc)


def test_skip_if_larger_writes_nothing_and_exits_98(work):
    size_in = checkerboard_png(work / "board.png")
    proc = kmc("encode", "board.png", "-k", "2", "--skip-if-larger", cwd=work)
    assert proc.returncode == 98
    assert err_lines(proc) == [(f"kmc: board.png: skipped: board.kmc would be 550 bytes, larger than"
                               f" the input ({size_in:,} bytes); nothing written")]
    assert not (work / "board.kmc").exists() and not leftovers(work)
    # A file that is smaller is written as usual, exit 0.
    assert kmc("encode", "a.png", "-k", "2", "--skip-if-larger", cwd=work).returncode == 0


def test_skip_if_larger_in_a_batch(work):
    checkerboard_png(_mkdir(work / "d") / "board.png")
    os.replace(work / "a.png", work / "d" / "a.png")
    proc = kmc("encode", "d", "-k", "2", "--skip-if-larger", "-j", "1", cwd=work)
    assert proc.returncode == 98
    lines = err_lines(proc)
    assert lines[0].startswith("kmc: d/board.png: skipped: d/board.kmc would be 550 bytes")
    assert lines[-1].startswith("2 files: 1 done, 1 skipped (larger than the input), 0 failed;")
    assert sorted(p.name for p in (work / "d").iterdir()) == ["a.kmc", "a.png", "board.png"]


def test_target_psnr_that_needs_every_colour_warns_when_larger(work):
    """The issue's case in small: --target-psnr 99 on noise reaches only
    lossless, and a lossless palette of noise is larger than its PNG."""
    noise = np.random.default_rng(0).integers(0, 256, (12, 12, 3), dtype=np.uint8)
    (work / "n.png").write_bytes(png_bytes(noise))
    proc = kmc("encode", "n.png", "--target-psnr", "99", cwd=work)
    assert proc.returncode == 0
    assert kmcodec.info(work / "n.kmc").colors == 144
    assert any(line.startswith("kmc: warning: n.kmc: the .kmc file is larger than the input n.png")
               for line in err_lines(proc))


# --------------------------------------------------------------------------
# Pipes and conventions


def test_encode_stdin_to_stdout(work):
    data = (work / "a.png").read_bytes()
    proc = kmc("encode", "-", "-o", "-", "-k", "4", cwd=work, stdin=data)
    assert proc.returncode == 0
    assert proc.stdout == kmcodec.encode(work / "a.png", k=4)  # stdout carries only the file
    [line] = err_lines(proc)
    assert line.startswith("<stdout>: 30x20, 4 colours (2 bits/index)")
    assert not (work / "-").exists()
    # Input - and no -o: the output goes to standard output too.
    again = kmc("encode", "-", "-k", "4", "-q", cwd=work, stdin=data)
    assert again.returncode == 0 and again.stdout == proc.stdout and again.stderr == b""


def test_encode_file_to_stdout_and_decode_stdin_to_stdout(work):
    encoded = kmc("encode", "a.png", "-o", "-", "-k", "4", "--coder", "entropy", cwd=work)
    assert encoded.returncode == 0 and kmcodec.info(encoded.stdout).coder == "entropy"
    decoded = kmc("decode", "-", cwd=work, stdin=encoded.stdout)
    assert decoded.returncode == 0
    image = Image.open(io.BytesIO(decoded.stdout))
    assert image.format == "PNG"
    assert np.array_equal(np.asarray(image.convert("RGB")), kmcodec.decode(encoded.stdout))
    assert err_lines(decoded)[0].startswith("<stdout>: 30x20, palette PNG")


def test_decode_to_stdout_with_format(work):
    proc = kmc("decode", "photo.kmc", "-o", "-", "--format", "bmp", cwd=work)
    assert proc.returncode == 0 and Image.open(io.BytesIO(proc.stdout)).format == "BMP"
    assert sorted(p.name for p in work.iterdir()) == ["a.png", "photo.kmc", "photo.png"]


def test_decode_stdin_from_a_redirected_file(work):
    with open(work / "photo.kmc", "rb") as fh:
        proc = kmc("decode", "-", "-o", "out.png", cwd=work, stdin=fh)
    assert proc.returncode == 0
    assert np.array_equal(np.asarray(Image.open(work / "out.png").convert("RGB")),
                          kmcodec.read(work / "photo.kmc"))


def test_failure_on_stdin_writes_nothing_to_stdout(work):
    bad = (work / "photo.kmc").read_bytes()[:-3]
    proc = kmc("decode", "-", "-o", "-", cwd=work, stdin=bad)
    assert proc.returncode == 1 and proc.stdout == b""
    [line] = err_lines(proc)
    assert line.startswith("kmc: error: <stdin>: file is ")
    proc = kmc("encode", "-", cwd=work, stdin=b"not an image")
    assert proc.returncode == 1 and proc.stdout == b""
    assert err_lines(proc)[0].startswith("kmc: error: <stdin>: cannot read image")


def test_binary_output_is_not_written_to_a_terminal(work):
    main_fd, child_fd = pty.openpty()
    try:
        proc = kmc("decode", "photo.kmc", "-o", "-", cwd=work, stdout=child_fd)
    finally:
        os.close(child_fd)
        os.close(main_fd)
    assert proc.returncode == 1
    assert err_lines(proc) == [("kmc: error: <stdout>: is a terminal; redirect the output (> FILE),"
                               " or use -o FILE")]


def test_stdin_only_alone(work):
    proc = kmc("encode", "-", "a.png", cwd=work, stdin=b"")
    assert proc.returncode == 2
    assert err_lines(proc)[-1] == "kmc encode: error: - (standard input) is one file: give it alone"
    proc = kmc("encode", "-", "--out-dir", "o", cwd=work, stdin=b"")
    assert proc.returncode == 2 and not (work / "o").exists()
    assert err_lines(proc)[-1] == "kmc encode: error: - (standard input) has no name to write under --out-dir; use -o"


def broken_pipe(*args, cwd) -> subprocess.CompletedProcess:
    """``kmc ARGS | (reader that exits at once)``: the exit status and stderr."""
    process = subprocess.Popen([*KMC, *map(str, args)], cwd=cwd, env=child_env(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None
    process.stdout.close()  # the reader is gone before kmc writes
    _, err = process.communicate(timeout=120)
    return subprocess.CompletedProcess(args, process.returncode, b"", err)


@pytest.mark.parametrize("args", [
    ["info", "photo.kmc", "photo.kmc", "photo.kmc"],
    ["info", "--json", "photo.kmc"],
    ["decode", "photo.kmc", "-o", "-"],
    ["encode", "a.png", "-o", "-", "-k", "2"],
])
def test_broken_pipe_ends_quietly_with_141(work, args):
    proc = broken_pipe(*args, cwd=work)
    assert (proc.returncode, proc.stderr) == (141, b"")
    assert not leftovers(work)


def test_broken_pipe_in_compare(work):
    pytest.importorskip("skimage")
    proc = broken_pipe("compare", "a.png", "-k", "2", "--no-ssim", "--no-ssimulacra2", cwd=work)
    # Notes made before the table (the codec that took most of the time, say)
    # may stand on stderr; nothing about the pipe does.
    assert proc.returncode == 141
    assert all(line.startswith(b"kmc: note: ") for line in proc.stderr.splitlines()), proc.stderr


def test_no_arguments_prints_the_help(work):
    proc = kmc(cwd=work)
    assert proc.returncode == 0 and proc.stderr == b""
    text = proc.stdout.decode()
    assert text.startswith("usage: kmc ")
    for command in ("encode", "decode", "info", "compare", "plot"):
        assert f"    {command} " in text


def test_info_takes_many_files(work):
    kmcodec.write(work / "b.kmc", work / "a.png", k=1)
    proc = kmc("info", "photo.kmc", "b.kmc", cwd=work)
    assert proc.returncode == 0 and proc.stderr == b""
    text = proc.stdout.decode()
    assert text.startswith("photo.kmc\n") and "\n\nb.kmc\n" in text
    assert "  palette    1 colour, 0 bits per index" in text  # English for one
    one = json.loads(kmc("info", "--json", "b.kmc", cwd=work).stdout)
    assert isinstance(one, dict) and one["file"] == "b.kmc" and one["colors"] == 1
    many = json.loads(kmc("info", "--json", "photo.kmc", "b.kmc", cwd=work).stdout)
    assert [m["file"] for m in many] == ["photo.kmc", "b.kmc"] and many[1] == one


def test_info_goes_on_after_a_bad_file(work):
    (work / "bad.kmc").write_bytes(b"KMCF" + bytes(40))
    proc = kmc("info", "--json", "bad.kmc", "photo.kmc", cwd=work)
    assert proc.returncode == 1
    entries = json.loads(proc.stdout)
    assert entries[0]["file"] == "bad.kmc" and entries[0]["error"].startswith("bad.kmc: ")
    assert entries[1]["colors"] == 8
    [line] = err_lines(proc)
    assert line == f"kmc: error: {entries[0]['error']}"


def test_info_on_a_folder(work):
    proc = kmc("info", ".", cwd=work)
    assert proc.returncode == 1
    assert err_lines(proc) == ["kmc: error: .: is a folder, not a .kmc file; try ./*.kmc"]
    _mkdir(work / "d")
    assert err_lines(kmc("info", "d/", cwd=work)) == ["kmc: error: d/: is a folder, not a .kmc file; try d/*.kmc"]


def test_info_json_of_one_bad_file_is_its_error_object(work):
    proc = kmc("info", "--json", "nope.kmc", cwd=work)
    assert proc.returncode == 1
    assert json.loads(proc.stdout) == {"file": "nope.kmc", "error": "nope.kmc: No such file or directory"}


def test_encoding_a_folder_again_leaves_its_decoded_files_alone(work):
    folder = _mkdir(work / "d")
    os.replace(work / "a.png", folder / "a.png")
    for argv in (["encode", "d", "-k", "2"], ["decode", "d"], ["encode", "d", "-k", "2", "-f"]):
        proc = kmc(*argv, "-j", "1", cwd=work)
        assert proc.returncode == 0, proc.stderr
    assert err_lines(proc)[-1].startswith("1 file: 1 done")
    assert sorted(p.name for p in folder.iterdir()) == ["a.kmc", "a.kmc.png", "a.png"]


def test_parameter_names_are_the_flags(work):
    proc = kmc("encode", "a.png", "--max-bytes", "10", cwd=work)
    assert proc.returncode == 1
    [line] = err_lines(proc)
    assert line.startswith("kmc: error: a.png: --max-bytes is 10; the smallest 30x20 file")


def test_english_plurals(work):
    proc = kmc("encode", "a.png", "-k", "1", cwd=work)
    assert "a.kmc: 30x20, 1 colour (0 bits/index), 35 bytes" in proc.stderr.decode()
    _mkdir(work / "d")
    os.replace(work / "a.png", work / "d" / "a.png")
    proc = kmc("encode", "d", "-k", "1", "-j", "1", cwd=work)
    assert err_lines(proc)[-1].startswith("1 file: 1 done, 0 failed; ")


@pytest.mark.parametrize("args, usage", [
    (["encode", "a.png", "--bogus"], "usage: kmc encode "),
    (["info", "--colors", "3", "photo.kmc"], "usage: kmc info "),
    (["plot", "colors", "a.png", "-o", "x.png", "--bogus"], "usage: kmc plot colors "),
])
def test_unknown_option_shows_the_sub_command_usage(work, args, usage):
    proc = kmc(*args, cwd=work)
    assert proc.returncode == 2
    text = proc.stderr.decode()
    assert text.startswith(usage) and "error: unrecognized arguments: " in text


# --------------------------------------------------------------------------
# Output formats and quality


def test_webp_is_lossless_by_default_and_lossy_with_quality(work):
    decoded = kmcodec.read(work / "photo.kmc")
    assert kmc("decode", "photo.kmc", "-o", "l.webp", cwd=work).returncode == 0
    assert np.array_equal(np.asarray(Image.open(work / "l.webp").convert("RGB")), decoded)
    proc = kmc("decode", "photo.kmc", "-o", "q.webp", "--quality", "30", cwd=work)
    assert proc.returncode == 0 and "RGB WEBP (lossy, quality 30)" in proc.stderr.decode()
    assert not np.array_equal(np.asarray(Image.open(work / "q.webp").convert("RGB")), decoded)


def test_jpeg_quality(work):
    assert kmc("decode", "photo.kmc", "-o", "d.jpg", cwd=work).returncode == 0
    assert kmc("decode", "photo.kmc", "-o", "q.jpg", "--quality", "20", cwd=work).returncode == 0
    assert (work / "q.jpg").stat().st_size < (work / "d.jpg").stat().st_size
    assert Image.open(work / "d.jpg").format == "JPEG"


@pytest.mark.parametrize("args, message", [
    (["-o", "x.png", "--quality", "80"], "--quality is 80 but PNG is always lossless"),
    (["--quality", "101"], "--quality is 101; it must be from 0 to 100"),
    (["--format", "tga", "--quality", "5"], "--quality is 5 but TGA is always lossless"),
])
def test_quality_where_it_does_not_apply_is_a_usage_error(work, args, message):
    proc = kmc("decode", "photo.kmc", *args, cwd=work)
    assert proc.returncode == 2 and message in proc.stderr.decode()
    assert sorted(p.name for p in work.iterdir()) == ["a.png", "photo.kmc", "photo.png"]


def test_bad_format_in_a_batch_is_a_usage_error_before_any_folder(work):
    _mkdir(work / "d")
    os.replace(work / "photo.kmc", work / "d" / "photo.kmc")
    proc = kmc("decode", "d", "--out-dir", "out", "--format", "xyz", cwd=work)
    assert proc.returncode == 2 and "output format 'xyz' names no format" in proc.stderr.decode()
    assert not (work / "out").exists()


# --------------------------------------------------------------------------
# Plots follow the output's suffix


@pytest.fixture
def small_photo(work):
    pytest.importorskip("matplotlib")
    Image.open(work / "a.png").resize((12, 8)).save(work / "s.png")
    return work


def test_plot_colors_follows_the_suffix(small_photo):
    for name, fmt in (("c.jpg", "JPEG"), ("c.png", "PNG")):
        proc = kmc("plot", "colors", "s.png", "-k", "2", "-o", name, cwd=small_photo)
        assert proc.returncode == 0 and proc.stdout == b"", proc.stderr
        assert Image.open(small_photo / name).format == fmt
    proc = kmc("plot", "colors", "s.png", "-k", "2", "-o", "c.svg", cwd=small_photo)
    assert proc.returncode == 0 and (small_photo / "c.svg").read_bytes().lstrip().startswith(b"<?xml")


def test_plot_iterations_writes_an_animation_of_the_suffix(small_photo):
    proc = kmc("plot", "iterations", "s.png", "-k", "2", "-o", "i.png", cwd=small_photo)
    assert proc.returncode == 0, proc.stderr
    frames = Image.open(small_photo / "i.png")
    assert frames.format == "PNG" and frames.n_frames > 1  # an APNG, not a GIF named .png
    assert err_lines(proc) == [f"i.png: {frames.n_frames} frames"]


@pytest.mark.parametrize("kind, name, accepted", [
    ("iterations", "i.jpg", ".gif, .png, .apng, .webp"),
    ("colors", "c.xyz", ".png"),
])
def test_plot_with_an_unknown_suffix_is_a_usage_error(small_photo, kind, name, accepted):
    proc = kmc("plot", kind, "s.png", "-o", name, cwd=small_photo)
    assert proc.returncode == 2
    assert "names no" in proc.stderr.decode() and accepted in proc.stderr.decode()
    assert not (small_photo / name).exists()


# --------------------------------------------------------------------------
# Errors and warnings


def test_errors_name_the_file(work):
    (work / "t.kmc").write_bytes((work / "photo.kmc").read_bytes()[:40])
    for command in ("decode", "info"):
        proc = kmc(command, "t.kmc", cwd=work)
        assert proc.returncode == 1
        [line] = err_lines(proc)
        assert line.startswith("kmc: error: t.kmc: file is 40 bytes but the header declares ")


def test_pixel_limit_message_is_ours(work):
    proc = kmc("encode", "a.png", "--max-pixels", "100", cwd=work)
    assert proc.returncode == 1
    assert err_lines(proc) == [("kmc: error: a.png: the image has 600 pixels, above the limit of 100"
                               " (PIL.Image.MAX_IMAGE_PIXELS); --max-pixels N raises the limit")]


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_warnings_in_a_batch_name_the_file(work, jobs):
    folder = _mkdir(work / "d")
    rgba = np.full((6, 7, 4), 255, np.uint8)
    Image.fromarray(rgba, "RGBA").save(folder / "opaque.png")  # alpha, but all opaque: no warning
    rgba[0, 0, 3] = 9
    Image.fromarray(rgba, "RGBA").save(folder / "see-through.png")  # alpha is kept: no warning
    frames = [Image.new("RGB", (5, 4), colour) for colour in ("red", "blue")]
    frames[0].save(folder / "anim.gif", save_all=True, append_images=frames[1:])
    proc = kmc("encode", "d", "-k", "2", "-j", jobs, cwd=work)
    assert proc.returncode == 0
    lines = err_lines(proc)
    assert lines[:-1] == ["kmc: warning: d/anim.gif: input has 2 frames; only frame 0 is encoded"]
    assert lines[-1].startswith("3 files: 3 done, 0 failed")


def test_sklearn_missing_is_one_line_naming_the_extra(work):
    code = ("import sys; sys.modules['sklearn'] = None; from kmcodec.cli import main;"
            " sys.exit(main(['encode', 'a.png', '--engine', 'sklearn']))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=work, env=child_env(), capture_output=True)
    assert proc.returncode == 1
    assert err_lines(proc) == [("kmc: error: --engine is 'sklearn' but scikit-learn is not installed:"
                               ' pip install "kmcodec[sklearn]"')]
    assert not (work / "a.kmc").exists()


def test_encoding_does_not_import_sklearn(work):
    code = ("import sys, kmcodec; kmcodec.encode('a.png', k=4, coder='entropy');"
            " sys.exit('sklearn' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], cwd=work, env=child_env()).returncode == 0


# --------------------------------------------------------------------------
# --max-bytes with every coder


@pytest.mark.parametrize("coder", ["packed", "entropy"])
def test_max_bytes_fits_with_every_coder(work, coder):
    budget = 400
    proc = kmc("encode", "a.png", "--max-bytes", budget, "--coder", coder, cwd=work)
    assert proc.returncode == 0, proc.stderr
    data = (work / "a.kmc").read_bytes()
    assert len(data) <= budget and kmcodec.info(data).coder == coder
    assert data == kmcodec.encode(work / "a.png", max_bytes=budget, coder=coder)


def test_git_ignores_the_quick_start_outputs():
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        pytest.skip("not a git checkout")
    names = ["chelsea.kmc", "chelsea.kmc.png", "tests/vectors/entropy-k1-9x4.kmc"]
    proc = subprocess.run(["git", "check-ignore", *names], cwd=root, capture_output=True, text=True)
    assert proc.stdout.split() == names[:2]
