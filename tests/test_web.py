"""The browser decoder (``web/``): its Node tests, agreement with the Python
decoder pixel for pixel and on hostile files, and the viewer page in a real
headless browser."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import os
import random
import shutil
import subprocess
import threading
import zlib
from pathlib import Path

import numpy as np
import pytest

import kmcodec
from kmcodec.errors import KmcError

from .hostile_helpers import photo_like

WEB = Path(__file__).resolve().parent.parent / "web"
VECTORS = Path(__file__).resolve().parent / "vectors"
NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="Node.js is not installed (.ci/run installs it)")


def _node(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    assert NODE is not None
    return subprocess.run([NODE, *args], capture_output=True, text=True, timeout=timeout, cwd=WEB.parent)


def _decoded_by_node(paths: list[Path]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for start in range(0, len(paths), 200):  # keep each command line short
        proc = _node(str(WEB / "test" / "decode-files.mjs"), *map(str, paths[start : start + 200]))
        assert proc.returncode == 0, proc.stderr
        for line in proc.stdout.splitlines():
            row = json.loads(line)
            out[row["file"]] = row
    return out


def _rgba_sha256(pixels: np.ndarray) -> str:
    if pixels.shape[2] == 3:
        pixels = np.concatenate([pixels, np.full((*pixels.shape[:2], 1), 255, np.uint8)], axis=2)
    return hashlib.sha256(np.ascontiguousarray(pixels).tobytes()).hexdigest()


@needs_node
def test_the_node_tests_pass():
    # Every frozen vector, 6,500 mutated files, every header check's message.
    tests = sorted(str(p) for p in (WEB / "test").glob("*.test.mjs"))
    proc = _node("--test", *tests)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "# fail 0" in proc.stdout


@needs_node
def test_the_classic_script_is_made_from_the_module():
    proc = _node(str(WEB / "make-classic.mjs"), "--check")
    assert proc.returncode == 0, proc.stderr


def _rgba_image(height: int, width: int, seed: int) -> np.ndarray:
    rgb = photo_like(height, width, seed)
    alpha = np.full((height, width, 1), 255, np.uint8)
    alpha[: height // 3] = 0
    alpha[height // 3 : height // 2] = np.linspace(0, 255, width, dtype=np.uint8)[None, :, None]
    return np.concatenate([rgb, alpha], axis=2)


@needs_node
def test_the_browser_decoder_gives_the_python_decoders_pixels(tmp_path):
    files = []
    for k in (2, 16, 255, 256, 300, 4096):
        for coder in ("packed", "entropy", "mix"):
            for kind, image in (("rgb", photo_like(61, 83, k)), ("rgba", _rgba_image(47, 59, k))):
                data = kmcodec.encode(image, k, coder=coder)
                files.append(tmp_path / f"{kind}-k{k}-{coder}.kmc")
                files[-1].write_bytes(data)
    # Many stripes, each with a fresh model: small ones (the model made fresh
    # from the pixels a stripe touched) and ones over 4,096 pixels (refilled).
    for name, image, k, rows in (("small-k300", photo_like(30, 40, 5), 300, 1),
                                 ("small-k40-rgba", _rgba_image(30, 40, 6), 40, 3),
                                 ("large-k300", photo_like(150, 100, 7), 300, 50),
                                 ("large-k12-rgba", _rgba_image(150, 100, 8), 12, 45)):
        q = kmcodec.quantize(image, k)
        files.append(tmp_path / f"{name}-rows{rows}-entropy.kmc")
        files[-1].write_bytes(_restriped(q, rows, "entropy"))
        for orientation in (0, 1):  # coder 2 coded as stored and transposed (spec 13)
            files.append(tmp_path / f"{name}-rows{rows}-mix-o{orientation}.kmc")
            files[-1].write_bytes(_restriped(q, rows, "mix", orientation))
    decoded = _decoded_by_node(files)
    assert len(decoded) == len(files)
    kinds = set()
    for path in files:
        row = decoded[str(path)]
        assert "error" not in row, row
        expected = kmcodec.decode(path.read_bytes())
        assert (row["height"], row["width"]) == expected.shape[:2]
        assert row["alpha"] == (expected.shape[2] == 4)
        assert row["sha256"] == _rgba_sha256(expected), path.name
        kinds.add((row["coder"], row["alpha"]))
    assert kinds == {(0, False), (0, True), (1, False), (1, True), (2, False), (2, True)}


def _restriped(q, rows: int, coder: str, orientation: int | None = None) -> bytes:
    """The file of ``q`` with coder 1 or 2 and ``rows`` rows a stripe (of the
    coded image: coder 2's transpose in ``orientation`` 1)."""
    from kmcodec import entropy, mix

    data = q.to_bytes(coder)
    if coder == "mix":  # its orientation byte first, then the stripes
        payload = mix.encode_payload(q.indices, q.palette, rows, orientation)
        assert payload[0] == orientation
    else:
        payload = entropy.encode_payload(q.indices, len(q.palette), q.palette, stripe_rows=rows)
    head = 1 if coder == "mix" else 0
    assert int.from_bytes(payload[head : head + 4], "little") == rows
    meta = kmcodec.info(data)  # version 3 when the palette is coded (spec section 14)
    start = meta.header_bytes + meta.palette_bytes
    body = data[:20] + len(payload).to_bytes(8, "little") + data[28:start] + payload
    return body + zlib.crc32(body).to_bytes(4, "little")


def _mutations(seed: int, count: int) -> list[bytes]:
    """Files made from the small vectors by flips, cuts, insertions and
    extreme header fields, each with its CRC-32 made right again so that the
    checks behind it are reached."""
    rng = random.Random(seed)
    sources = [p.read_bytes() for p in sorted(VECTORS.glob("*.kmc")) if p.stat().st_size < 20000]
    out = []
    for _ in range(count):
        data = bytearray(rng.choice(sources))
        kind = rng.randrange(4)
        if kind == 0:
            for _ in range(rng.randint(1, 6)):
                data[rng.randrange(len(data) - 4)] ^= 1 << rng.randrange(8)
        elif kind == 1:
            del data[rng.randrange(28, len(data)) :]
        elif kind == 2:
            at = rng.randrange(len(data))
            data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 12)))
        else:
            field = rng.choice([4, 5, 6, 7, 8, 12, 16, 20])
            size = 1 if field < 8 else 4
            value = rng.choice([0, 1, 2, 255, 65536, 65537, 2**31, 2**32 - 1]) % (256 if size == 1 else 2**32)
            data[field : field + size] = value.to_bytes(size, "little")
        body = bytes(data[:-4]) if len(data) >= 32 else bytes(data)
        out.append(body + zlib.crc32(body).to_bytes(4, "little") if len(data) >= 32 else body)
    return out


@needs_node
def test_hostile_files_get_the_same_verdict_from_both_decoders(tmp_path):
    files = []
    for i, data in enumerate(_mutations(7, 600)):
        files.append(tmp_path / f"m{i}.kmc")
        files[-1].write_bytes(data)
    decoded = _decoded_by_node(files)
    verdicts = {"refused": 0, "decoded": 0, "same message": 0}
    for path in files:
        row = decoded[str(path)]
        data = path.read_bytes()
        if "error" in row:
            with pytest.raises(KmcError) as refused:
                kmcodec.decode(data)
            verdicts["refused"] += 1
            # The payload and CRC checks word their messages alike, word for word.
            python = str(refused.value)
            if python.startswith(("entropy payload", "mix payload", "crc32", "the last payload byte", "index ")):
                assert row["error"] == python
                verdicts["same message"] += 1
            continue
        assert row["sha256"] == _rgba_sha256(kmcodec.decode(data)), path.name
        verdicts["decoded"] += 1
    assert verdicts["refused"] > 300 and verdicts["decoded"] > 20 and verdicts["same message"] > 50, verdicts


# --- the viewer, in a real browser -----------------------------------------------


def _chromium() -> str | None:
    return next((p for p in (shutil.which("chromium"), shutil.which("chromium-browser")) if p), None)


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install '.[test]')")
    executable = _chromium()
    if executable is None:
        pytest.skip("Chromium is not installed (.ci/run installs Debian's chromium)")
    with sync_api.sync_playwright() as p:
        # As root in a container Chromium needs --no-sandbox; the rest keeps it off the network.
        browser = p.chromium.launch(executable_path=executable, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def server():
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(WEB))
    handler.log_message = lambda *args: None  # type: ignore[method-assign]
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/index.html"
    httpd.shutdown()


def _canvas_pixels(page, nth: int) -> np.ndarray:
    data = page.evaluate(
        """(nth) => {
            const canvas = document.querySelectorAll("canvas")[nth];
            const ctx = canvas.getContext("2d");
            return {w: canvas.width, h: canvas.height,
                    px: Array.from(ctx.getImageData(0, 0, canvas.width, canvas.height).data)};
        }""",
        nth,
    )
    return np.array(data["px"], np.uint8).reshape(data["h"], data["w"], 4)


@pytest.mark.parametrize("where", ["file", "server"])
def test_the_viewer_draws_the_decoded_pixels_and_names_a_bad_file(browser, server, tmp_path, where):
    rgb = photo_like(48, 64, 3)
    opaque = tmp_path / "photo.kmc"
    opaque.write_bytes(kmcodec.encode(rgb, 16, coder="entropy"))
    bad = tmp_path / "bad.kmc"
    bad.write_bytes(opaque.read_bytes()[:-1] + b"\0")
    errors: list[str] = []
    page = browser.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto((WEB / "index.html").as_uri() if where == "file" else server)
    page.set_input_files("#pick", [str(opaque), str(bad)])
    page.wait_for_selector("section.card[data-state=error]")
    page.wait_for_selector("section.card[data-state=decoded]")
    drawn = _canvas_pixels(page, 0)
    expected = kmcodec.decode(opaque.read_bytes())
    assert drawn.shape == (48, 64, 4)
    assert np.array_equal(drawn[:, :, :3], expected) and (drawn[:, :, 3] == 255).all()
    message = page.inner_text("section.card[data-state=error] .error")
    assert message.startswith("bad.kmc: crc32 is 0x")
    facts = page.inner_text("section.card[data-state=decoded] table")
    assert "64 x 48" in facts and "1 (entropy)" in facts and "24K + N·ceil(log2 K)" in facts
    assert errors == []
    page.close()


def test_the_viewer_shows_transparency_and_zooms_with_crisp_pixels(browser, tmp_path):
    rgba = _rgba_image(30, 40, 1)
    path = tmp_path / "cutout.kmc"
    path.write_bytes(kmcodec.encode(rgba, 8))
    page = browser.new_page()
    page.goto((WEB / "index.html").as_uri())
    page.set_input_files("#pick", str(path))
    page.wait_for_selector("section.card[data-state=decoded]")
    expected = kmcodec.decode(path.read_bytes())
    assert expected.shape == (30, 40, 4)
    drawn = _canvas_pixels(page, 0).astype(int)
    alpha = expected[:, :, 3].astype(int)
    assert np.array_equal(drawn[:, :, 3], alpha)
    # A canvas keeps colour premultiplied by alpha: exact where opaque, and
    # within the rounding of a*c/255 and back where translucent.
    edge = (alpha > 0) & (alpha < 255)
    assert np.count_nonzero(edge) > 0 and np.count_nonzero(alpha == 0) and np.count_nonzero(alpha == 255)
    assert np.array_equal(drawn[alpha == 255], expected[alpha == 255])
    assert (drawn[alpha == 0] == 0).all()
    slack = np.ceil(255 / np.maximum(alpha, 1))[:, :, None]
    assert (np.abs(drawn[:, :, :3] - expected[:, :, :3].astype(int)) <= slack)[edge].all()
    page.click("text=1:1")
    for _ in range(3):
        page.click("button[title^='zoom in']")
    style = page.evaluate("""() => { const c = document.querySelector('canvas');
        return [c.style.width, getComputedStyle(c).imageRendering]; }""")
    assert style == ["160px", "pixelated"]
    page.close()


def test_the_viewer_names_an_image_too_wide_to_draw_and_reopens_a_file(browser, tmp_path):
    wide = tmp_path / "wide.kmc"
    wide.write_bytes(kmcodec.encode(np.zeros((2, 40000, 3), np.uint8), 2))
    page = browser.new_page()
    page.goto((WEB / "index.html").as_uri())
    page.set_input_files("#pick", str(wide))
    page.wait_for_selector("section.card[data-state=error]")
    message = page.inner_text("section.card[data-state=error] .error")
    assert message == ("wide.kmc: 40000 x 2 pixels is more than a page can draw (32767 a side);"
                       " kmc decode writes it as a PNG")
    page.set_input_files("#pick", str(wide))  # the same file again opens it again
    page.wait_for_function("document.querySelectorAll('section.card').length == 2")
    page.close()


def test_a_screenshot_of_the_viewer(browser, tmp_path):
    # `KMC_SCREENSHOT=web/viewer.png pytest -k screenshot` remakes the README's picture.
    samples = Path(__file__).resolve().parent.parent / "samples"
    path = tmp_path / "chelsea.kmc"
    path.write_bytes(kmcodec.encode(samples / "chelsea.png", 32, coder="entropy"))
    page = browser.new_page(viewport={"width": 1100, "height": 640})
    page.goto((WEB / "index.html").as_uri())
    page.set_input_files("#pick", str(path))
    page.wait_for_selector("section.card[data-state=decoded]")
    shot = Path(os.environ.get("KMC_SCREENSHOT", tmp_path / "viewer.png"))
    page.screenshot(path=str(shot), full_page=True)
    from PIL import Image

    with Image.open(shot) as im:
        assert im.size[0] == 1100 and im.size[1] >= 640
    page.close()
