"""kmc compare: every number is measured on real bytes, and says what it is."""

from __future__ import annotations

import csv
import io
import json
import math

import numpy as np
import pytest
from PIL import Image

import kmcodec
from kmcodec import compare as cmp
from kmcodec.cli import main

pytest.importorskip("skimage")
from skimage.metrics import structural_similarity

from .conftest import palette_image


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    path = tmp_path_factory.mktemp("cmp") / "cat.png"
    rgb = np.asarray(Image.open(cmp.__file__.replace("kmcodec/compare.py", "samples/chelsea.png")).convert("RGB"))
    Image.fromarray(rgb[::3, ::3].copy()).save(path)
    return path


@pytest.fixture(scope="module")
def rows(photo):
    return cmp.compare([photo], ks=(4, 16), seed=0)


def by(rows, method, k):
    return next(r for r in rows if r.method == method and r.k == k)


def test_methods_present(rows):
    methods = {(r.method, r.k) for r in rows}
    assert ("png", None) in methods
    for k in (4, 16):
        for m in ("kmc", "kmc-entropy", "png8", "gif", "webp-lossless", "jpeg@size", "webp@size",
                  "jpeg@psnr", "webp@psnr"):
            assert (m, k) in methods


def test_kmc_row_is_the_real_file(rows, photo):
    for k in (4, 16):
        data = kmcodec.encode(photo, k=k, seed=0)
        row = by(rows, "kmc", k)
        assert row.bytes == len(data)

        meta = kmcodec.info(data)
        assert row.extra["formula_bits"] == meta.formula_bits
        assert row.bpp == pytest.approx(8 * len(data) / (meta.width * meta.height))


def test_kmc_entropy_row_is_the_real_entropy_file(rows, photo):
    for k in (4, 16):
        data = kmcodec.encode(photo, k=k, seed=0, coder="entropy")
        row, packed = by(rows, "kmc-entropy", k), by(rows, "kmc", k)
        assert row.bytes == len(data) < packed.bytes
        assert (row.psnr, row.ssim) == (packed.psnr, packed.ssim)
        assert row.extra["ratio_packed"] == pytest.approx(len(data) / packed.bytes)


def test_psnr_and_ssim_match_independent_computation(rows, photo):
    original = np.asarray(Image.open(photo).convert("RGB")).astype(np.float64)
    decoded = kmcodec.decode(kmcodec.encode(photo, k=16, seed=0)).astype(np.float64)
    mse = np.mean((original - decoded) ** 2)
    row = by(rows, "kmc", 16)
    assert row.psnr == pytest.approx(10 * math.log10(255**2 / mse), rel=1e-9)
    expected = structural_similarity(original.astype(np.uint8), decoded.astype(np.uint8), channel_axis=2,
                                     data_range=255)
    assert row.ssim == pytest.approx(expected, rel=1e-9)


def test_lossless_rows_reproduce_their_pixels(rows):
    for k in (4, 16):
        kmc = by(rows, "kmc", k)
        for m in ("png8", "gif", "webp-lossless"):
            row = by(rows, m, k)
            assert row.lossless == "quantized"
            assert row.psnr == pytest.approx(kmc.psnr)  # the same pixels as the .kmc
    png = by(rows, "png", None)
    assert png.lossless == "original" and png.psnr is None and png.to_dict()["psnr"] is None


def test_size_match_is_within_the_search_tolerance(rows, photo):
    original = np.asarray(Image.open(photo).convert("RGB"))
    for k in (4, 16):
        target = by(rows, "kmc", k).bytes
        row = by(rows, "jpeg@size", k)
        sizes = {}
        for q in (row.quality - 1, row.quality, row.quality + 1):
            if 1 <= q <= 100:
                buf = io.BytesIO()
                Image.fromarray(original).save(buf, format="JPEG", quality=q, optimize=True)
                sizes[q] = len(buf.getvalue())
        assert sizes[row.quality] == row.bytes
        # No neighbouring quality is closer to the .kmc size.
        assert all(abs(s - target) >= abs(row.bytes - target) for s in sizes.values())


def test_psnr_match_is_the_lowest_quality_reaching(rows, photo):
    original = np.asarray(Image.open(photo).convert("RGB")).astype(np.float64)
    for k in (4, 16):
        row = by(rows, "jpeg@psnr", k)
        assert row.psnr >= by(rows, "kmc", k).psnr
        if row.quality > 1:
            buf = io.BytesIO()
            Image.fromarray(original.astype(np.uint8)).save(buf, format="JPEG", quality=row.quality - 1, optimize=True)
            worse = np.asarray(Image.open(buf).convert("RGB")).astype(np.float64)
            assert 10 * math.log10(255**2 / np.mean((worse - original) ** 2)) < by(rows, "kmc", k).psnr


def test_elbow():
    # log2 K normalised: 0, .25, .5, .75, 1; PSNR normalised: 0, .774, .903,
    # .968, 1; the gaps above the chord are 0, .524, .403, .218, 0.
    assert cmp.elbow([2, 4, 8, 16, 32], [20, 32, 34, 35, 35.5]) == 4
    # Here the gaps are 0, .395, .403, .218, 0: K = 8, by a hair.
    assert cmp.elbow([2, 4, 8, 16, 32], [20, 30, 34, 35, 35.5]) == 8
    assert cmp.elbow([2, 4], [20, 30]) is None
    assert cmp.elbow([2, 4, 8], [20, 25, 30]) is None  # a straight line has no knee


def test_cli_outputs(tmp_path, photo, capsys):
    j, c, p = tmp_path / "r.json", tmp_path / "r.csv", tmp_path / "r.png"
    code = main(["compare", str(photo), "-k", "4,16", "--json", str(j), "--csv", str(c), "--plot", str(p)])
    out, _ = capsys.readouterr()
    assert code == 0 and "webp-lossless" in out and "*" in out
    data = json.loads(j.read_text())
    for obj in data:
        assert set(cmp.JSON_KEYS) <= set(obj)
    kmc16 = next(o for o in data if o["method"] == "kmc" and o["k"] == 16)
    assert kmc16["bytes"] == len(kmcodec.encode(photo, k=16, seed=0))
    table = list(csv.DictReader(c.open()))
    assert len(table) == len(data) and table[0]["method"] == data[0]["method"]
    assert Image.open(p).format == "PNG" and p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Existing outputs are kept without -f.
    before = j.read_bytes()
    assert main(["compare", str(photo), "-k", "4", "--json", str(j)]) == 1
    assert j.read_bytes() == before


def test_plot_commands(tmp_path, photo):
    png, gif = tmp_path / "c.png", tmp_path / "i.gif"
    assert main(["plot", "colors", str(photo), "-k", "6", "-o", str(png)]) == 0
    assert Image.open(png).format == "PNG"
    assert main(["plot", "iterations", str(photo), "-k", "4", "-o", str(gif)]) == 0
    im = Image.open(gif)
    assert im.format == "GIF" and im.n_frames >= 2


def test_target_psnr_and_max_bytes(tmp_path, photo, capsys):
    out = tmp_path / "t.kmc"
    assert main(["encode", str(photo), "--target-psnr", "30", "-o", str(out)]) == 0
    k = kmcodec.info(out).colors
    original = np.asarray(Image.open(photo).convert("RGB")).astype(np.float64)
    reached = lambda data: 10 * math.log10(255**2 / np.mean((kmcodec.decode(data) - original) ** 2))  # noqa: E731
    assert reached(out.read_bytes()) >= 30
    assert reached(kmcodec.encode(photo, k=k - 1, seed=0)) < 30  # the smallest such K
    assert main(["encode", str(photo), "--max-bytes", "20000", "-o", str(tmp_path / "m.kmc")]) == 0
    meta = kmcodec.info(tmp_path / "m.kmc")
    assert meta.total_bytes <= 20000
    w, h = meta.width, meta.height
    assert kmcodec.container.file_size(w, h, kmcodec.k_for_bytes(w, h, 20000) + 1) > 20000
    assert main(["encode", str(photo), "--max-bytes", "10", "-o", str(tmp_path / "x.kmc")]) == 1
    assert "smallest" in capsys.readouterr().err
    assert main(["encode", str(photo), "-k", "4", "--max-bytes", "100"]) == 2


def test_few_colour_graphic_is_lossless_and_png8_is_smaller(tmp_path):
    path = tmp_path / "flat.png"
    Image.fromarray(palette_image(40, 60, 5)).save(path)
    rows = cmp.compare([path], ks=(8,), seed=0, want_ssim=False)
    kmc = by(rows, "kmc", 8)
    assert kmc.lossless == "original" and kmc.psnr is None
    assert not any(r.method.endswith("@psnr") for r in rows)
