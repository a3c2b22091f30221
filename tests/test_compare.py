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
from kmcodec import metrics
from kmcodec.metrics import psnr
from kmcodec.cli import main
from kmcodec.compare_report import format_summary
from kmcodec.rivals import LOSSY

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


def by(rows, method, k, against=None):
    return next(r for r in rows if r.method == method and r.k == k and (against is None or r.against == against))


def _has(module):
    try:
        __import__(module)
    except ImportError:
        return False
    return True


JXL = _has("pillow_jxl")
AVIF = LOSSY["avif"].missing() is None


def test_methods_present(rows):
    methods = {(r.method, r.k) for r in rows}
    assert ("png", None) in methods
    lossy = ["jpeg", "webp"] + (["jxl"] if JXL else []) + (["avif"] if AVIF else [])
    for k in (4, 16):
        for m in ("kmc", "kmc-entropy", "kmc-mix", "kmc-perceptual", "png8", "gif", "webp-lossless",
                  *[f"{c}@psnr" for c in lossy]):
            assert (m, k) in methods
        if JXL:
            assert ("jxl-lossless", k) in methods
        for c in lossy:
            # One equal-size row against each kmc file; equal quality against
            # each set of pixels (the coders share theirs, the dithered file not).
            assert {r.against for r in rows if r.method == f"{c}@size" and r.k == k} == {
                "kmc", "kmc-entropy", "kmc-mix", "kmc-perceptual"}
            assert [r.against for r in rows if r.method == f"{c}@psnr" and r.k == k] == ["kmc", "kmc-perceptual"]


def test_kmc_row_is_the_real_file(rows, photo):
    for k in (4, 16):
        data = kmcodec.encode(photo, k=k, seed=0)
        row = by(rows, "kmc", k)
        assert row.bytes == len(data)

        meta = kmcodec.info(data)
        assert row.extra["formula_bits"] == meta.formula_bits
        assert row.bpp == pytest.approx(8 * len(data) / (meta.width * meta.height))


@pytest.mark.parametrize("coder", ["entropy", "mix"])
def test_kmc_coded_rows_are_the_real_files(rows, photo, coder):
    for k in (4, 16):
        data = kmcodec.encode(photo, k=k, seed=0, coder=coder)
        row, packed = by(rows, f"kmc-{coder}", k), by(rows, "kmc", k)
        assert row.bytes == len(data) < packed.bytes
        assert (row.psnr, row.ssim) == (packed.psnr, packed.ssim)
        assert row.extra["ratio_packed"] == pytest.approx(len(data) / packed.bytes)


def test_kmc_perceptual_row_is_the_real_dithered_file_with_its_own_matches(rows, photo):
    original = np.asarray(Image.open(photo).convert("RGB"))
    for k in (4, 16):
        data = kmcodec.encode(photo, k=k, seed=0, perceptual=True, coder="entropy")
        row = by(rows, "kmc-perceptual", k)
        assert row.bytes == len(data) and row.note == "--perceptual --coder entropy"
        assert row.psnr == pytest.approx(psnr(kmcodec.decode(data), original), rel=1e-12)
        assert row.psnr != by(rows, "kmc", k).psnr  # its own pixels
        matched = by(rows, "jpeg@psnr", k, "kmc-perceptual")
        assert matched.psnr >= row.psnr
        assert by(rows, "jpeg@size", k, "kmc-perceptual").bytes <= row.bytes or by(
            rows, "jpeg@size", k, "kmc-perceptual").note
    summary = format_summary(rows)
    lines = [line.split() for line in summary.splitlines()]
    header = next(line for line in lines if line[:2] == ["K", "file"])
    for k in (4, 16):
        got = next(line for line in lines if line[:2] == [str(k), "kmc-perceptual"])
        ratio = by(rows, "kmc-perceptual", k).bytes / by(rows, "jpeg@psnr", k, "kmc-perceptual").bytes
        assert got[header.index("jpeg")] == f"{ratio:.2f}"
        assert got[header.index("png8")] == "-"  # png8 stores the undithered pixels


def test_dithered_rows_can_be_left_out(photo):
    rows = cmp.compare([photo], ks=(4,), codecs=["jpeg"], dithered=False, want_ssim=False)
    assert not any("kmc-perceptual" in (r.method, r.against) for r in rows)


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


def _jpeg(original, settings, quality=None):
    params = dict(settings)
    params["quality"] = quality if quality is not None else params["quality"]
    buf = io.BytesIO()
    Image.fromarray(original).save(buf, format="JPEG", **params)
    return buf.getvalue()


JPEG_LADDERS = [{"optimize": True, "subsampling": sub, "progressive": p}
                for sub in ("4:4:4", "4:2:0") for p in (False, True)]


def test_size_match_is_the_highest_quality_at_or_under_the_target(rows, photo):
    original = np.asarray(Image.open(photo).convert("RGB"))
    checked = 0
    for k in (4, 16):
        for against in ("kmc", "kmc-entropy"):
            target = by(rows, against, k).bytes
            row = by(rows, "jpeg@size", k, against)
            assert row.settings["quality"] == row.quality and row.settings["optimize"] is True
            assert row.settings["subsampling"] in ("4:4:4", "4:2:0")
            assert len(_jpeg(original, row.settings)) == row.bytes
            if row.note:
                assert row.note.startswith(("cannot reach", "cannot get down"))
                continue
            # Within one quality step: every quality above is over the target.
            assert row.bytes <= target
            assert all(len(_jpeg(original, row.settings, q)) > target for q in range(row.quality + 1, 101))
            # No other ladder has a better-scoring file at its own such quality.
            for ladder in JPEG_LADDERS:
                fits = [q for q in range(1, 101) if len(_jpeg(original, ladder, q)) <= target]
                if fits and any(len(_jpeg(original, ladder, q)) > target for q in range(1, 101)):
                    data = _jpeg(original, ladder, max(fits))
                    assert psnr(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")), original) <= row.psnr
            checked += 1
    assert checked >= 2


def test_size_match_that_cannot_reach_says_so_with_the_largest_size(photo):
    from kmcodec.matching import Trials, closest_size

    original = np.asarray(Image.open(photo).convert("RGB"))
    trials = Trials(LOSSY["jpeg"], original, lambda d: 0.0)
    match = closest_size(trials, 10**8)
    largest = max(len(_jpeg(original, ladder, q)) for ladder in JPEG_LADDERS for q in range(1, 101))
    assert not match.reached and len(trials.file(match.ladder, match.quality)[0]) == largest
    assert match.note == f"cannot reach 100,000,000 bytes: the largest file is {largest:,} bytes"
    match = closest_size(trials, 10)
    smallest = min(len(_jpeg(original, ladder, q)) for ladder in JPEG_LADDERS for q in range(1, 101))
    assert match.note == f"cannot get down to 10 bytes: the smallest file is {smallest:,} bytes"


def test_psnr_match_is_the_smallest_file_reaching_over_every_setting(rows, photo):
    original = np.asarray(Image.open(photo).convert("RGB"))

    def reached(data):
        return psnr(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")), original)

    for k in (4, 16):
        target = by(rows, "kmc", k).psnr
        row = by(rows, "jpeg@psnr", k, "kmc")
        assert row.psnr >= target and reached(_jpeg(original, row.settings)) == row.psnr
        for ladder in JPEG_LADDERS:
            for q in range(1, 101):
                data = _jpeg(original, ladder, q)
                if reached(data) >= target:
                    assert len(data) >= row.bytes


def test_jpeg_at_444_is_chosen_when_it_is_the_smallest_way_to_the_target(photo):
    from kmcodec.matching import Trials, smallest_reaching

    original = np.asarray(Image.open(photo).convert("RGB"))

    def score(decoded):
        return psnr(decoded, original)

    # Just below the best 4:2:0 can do: 4:2:0 needs its top qualities, 4:4:4 far fewer bytes.
    cap = max(score(np.asarray(Image.open(io.BytesIO(_jpeg(original, ladder, 100))).convert("RGB")))
              for ladder in JPEG_LADDERS if ladder["subsampling"] == "4:2:0")
    target = cap - 0.3
    trials = Trials(LOSSY["jpeg"], original, score)
    match = smallest_reaching(trials, target)
    settings = trials.settings(match)
    assert match.reached and settings["subsampling"] == "4:4:4"
    size = len(trials.file(match.ladder, match.quality)[0])
    smallest_420 = min(len(data) for ladder in JPEG_LADDERS if ladder["subsampling"] == "4:2:0"
                       for data in (_jpeg(original, ladder, q) for q in range(1, 101))
                       if score(np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))) >= target)
    assert size < smallest_420


def test_jpeg_at_444_is_chosen_when_420_cannot_reach(tmp_path):
    # One-pixel stripes of saturated red and blue, which 4:2:0 chroma
    # averages away, on a faint brightness ramp so that K = 4 is not lossless.
    y, x = np.mgrid[0:48, 0:64]
    stripes = np.where((x % 2 == 0)[..., None], [220, 30, 40], [30, 60, 220])
    rgb = np.clip(stripes + (x + y)[..., None] // 16, 0, 255).astype(np.uint8)
    path = tmp_path / "stripes.png"
    Image.fromarray(rgb).save(path)
    rows = cmp.compare([path], ks=(4,), want_ssim=False, want_ssimulacra2=False, codecs=["jpeg"])
    target = by(rows, "kmc", 4).psnr
    row = by(rows, "jpeg@psnr", 4)
    assert row.settings["subsampling"] == "4:4:4" and row.psnr >= target and not row.note
    assert not any(r.note.startswith("never") for r in rows)
    best420 = psnr(np.asarray(Image.open(io.BytesIO(_jpeg(rgb, {"subsampling": "4:2:0"}, 100)))), rgb)
    assert best420 < target


def test_ssimulacra2_is_100_for_identical_images_and_lower_when_degraded(photo):
    original = np.asarray(Image.open(photo).convert("RGB"))
    assert metrics.ssimulacra2(original, original.copy()) == 100.0
    rng = np.random.default_rng(0)
    scores = []
    for sigma in (2, 8, 24):
        noisy = np.clip(original + rng.normal(0, sigma, original.shape), 0, 255).astype(np.uint8)
        scores.append(metrics.ssimulacra2(original, noisy))
    assert 100 > scores[0] > scores[1] > scores[2]
    blurred = np.asarray(Image.fromarray(original).resize((25, 17)).resize(original.shape[1::-1]))
    assert metrics.ssimulacra2(original, blurred) < 70
    assert math.isnan(metrics.ssimulacra2(original[:5, :5], original[:5, :5] // 2))


def test_every_row_has_ssimulacra2_and_matched_rows_say_what_they_matched(rows):
    for r in rows:
        d = r.to_dict()
        assert set(cmp.JSON_KEYS) <= set(d)
        assert isinstance(d["ssimulacra2"], float) and d["ssimulacra2"] <= 100
        if "@" in r.method:
            assert d["against"] in ("kmc", "kmc-entropy", "kmc-mix", "kmc-perceptual")
            assert d["settings"]["quality"] == r.quality
        else:
            assert d["against"] is None
    for k in (4, 16):  # the same pixels score the same
        kmc = by(rows, "kmc", k)
        assert by(rows, "png8", k).ssimulacra2 == by(rows, "kmc-entropy", k).ssimulacra2 == kmc.ssimulacra2 < 100


def test_metric_ssimulacra2_names_and_matches_its_rows(photo):
    rows = cmp.compare([photo], ks=(8,), want_ssim=False, metric="ssimulacra2", codecs=["jpeg"])
    target = by(rows, "kmc", 8).ssimulacra2
    row = by(rows, "jpeg@ssimulacra2", 8)
    assert row.against == "kmc" and row.ssimulacra2 >= target
    assert not any(r.method == "jpeg@psnr" for r in rows)
    with pytest.raises(ValueError, match="switched off"):
        cmp.compare([photo], ks=(8,), metric="ssimulacra2", want_ssimulacra2=False)
    with pytest.raises(ValueError, match="metric 'butteraugli' is none of psnr, ssim, ssimulacra2"):
        cmp.compare([photo], ks=(8,), metric="butteraugli")


def test_absent_codec_libraries_are_skipped_with_a_note(photo, monkeypatch, caplog):
    import sys

    from PIL import features

    monkeypatch.setitem(sys.modules, "pillow_jxl", None)  # import pillow_jxl now fails
    real_check = features.check
    monkeypatch.setattr(features, "check", lambda name: False if name == "avif" else real_check(name))
    with caplog.at_level("WARNING", logger="kmcodec"):
        rows = cmp.compare([photo], ks=(4,), want_ssim=False, want_ssimulacra2=False,
                           codecs=["png", "jpeg", "jxl", "avif"])
    methods = {r.method for r in rows}
    assert not any(m.startswith(("jxl", "avif")) for m in methods)
    assert {"jpeg@size", "jpeg@psnr", "png8"} <= methods
    notes = [rec.getMessage() for rec in caplog.records]
    assert any(n.startswith("JPEG XL rows skipped: pillow-jxl-plugin is not installed") for n in notes)
    assert any(n.startswith("AVIF rows skipped: this Pillow") for n in notes)


@pytest.mark.skipif(not JXL, reason="pillow-jxl-plugin is not installed")
def test_jxl_rows_are_real_files(rows, photo):
    from PIL import Image as PILImage

    original = np.asarray(Image.open(photo).convert("RGB"))
    lossless = by(rows, "jxl-lossless", 16)
    assert lossless.lossless == "quantized" and lossless.settings == {"lossless": True, "effort": 9}
    row = by(rows, "jxl@psnr", 16)
    buf = io.BytesIO()
    PILImage.fromarray(original).save(buf, format="JXL", quality=row.quality, effort=7)
    assert len(buf.getvalue()) == row.bytes


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
    for line, obj in zip(table, data):  # settings: a JSON object in a CSV cell
        assert (json.loads(line["settings"]) if line["settings"] else None) == obj["settings"]
        assert line["against"] == (obj["against"] or "")
    assert Image.open(p).format == "PNG" and p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Existing outputs are kept without -f.
    before = j.read_bytes()
    assert main(["compare", str(photo), "-k", "4", "--json", str(j)]) == 1
    assert j.read_bytes() == before


def test_cli_metric_and_codecs(tmp_path, photo, capsys):
    j = tmp_path / "r.json"
    assert main(["compare", str(photo), "-k", "4", "--codecs", "jpeg", "--metric", "ssim",
                 "--no-ssimulacra2", "--json", str(j)]) == 0
    out = capsys.readouterr().out
    assert "jpeg@ssim " in out and "webp" not in out.split("codecs:")[0]
    assert "at equal SSIM" in out and "codecs: Pillow" in out
    data = json.loads(j.read_text())
    assert {o["method"] for o in data} == {"png", "kmc", "kmc-entropy", "kmc-mix", "kmc-perceptual", "jpeg@size",
                                           "jpeg@ssim"}
    assert main(["compare", str(photo), "-k", "4", "--codecs", "jpeg", "--no-dithered", "--no-ssimulacra2",
                 "--json", str(j), "-f"]) == 0
    capsys.readouterr()
    assert {o["method"] for o in json.loads(j.read_text())} == {"png", "kmc", "kmc-entropy", "kmc-mix", "jpeg@size",
                                                               "jpeg@psnr"}
    assert all(o["ssimulacra2"] is None for o in data)
    assert main(["compare", str(photo), "--metric", "ssim", "--no-ssim"]) == 2
    assert "--metric ssim matches on the metric --no-ssim switches off" in capsys.readouterr().err
    assert main(["compare", str(photo), "--codecs", "jpeg,bmp"]) == 2
    assert "--codecs names 'bmp'; use some of png,gif,jpeg,webp,jxl,avif" in capsys.readouterr().err


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


def test_the_clock_names_a_codec_that_takes_over_half_the_time():
    clock = cmp._Clock()
    assert clock.note() is None
    clock.add("kmc", 9.0)  # kmc itself is never the one to leave out
    assert clock.slowest() is None and clock.note() is None
    clock.add("jpeg", 1.0)
    clock.add("webp-lossless", 10.0)
    assert clock.slowest() == ("webp-lossless", 10.0, 0.5) and clock.note() is None
    clock.add("webp-lossless", 1.0)
    assert clock.note() == "webp-lossless took 11.0 s, 52% of the run's time (--codecs leaves codecs out)"


def test_a_codec_that_dominates_the_run_time_is_named(photo, monkeypatch, caplog):
    import time

    from kmcodec.rivals import LOSSLESS

    gif = LOSSLESS["gif"]
    real = gif.encode

    def slow(*args):
        time.sleep(0.5)
        return real(*args)

    monkeypatch.setattr(gif, "encode", slow)
    # k-means takes the time it takes; quantise once, so that the run's time is the GIF's.
    done = {k: cmp.codec.quantize(np.asarray(Image.open(photo).convert("RGB")), k, 0) for k in (2, 4)}
    monkeypatch.setattr(cmp.codec, "quantize", lambda rgb, k, seed, **settings: done[k])
    kmcodec.decode(done[2].to_bytes("entropy"))  # and load the compiled entropy coder before the clock runs
    with caplog.at_level("WARNING", logger="kmcodec"):
        cmp.compare([photo], ks=(2, 4), want_ssim=False, want_ssimulacra2=False, codecs=["gif"], dithered=False)
    notes = [rec.getMessage() for rec in caplog.records]
    assert any(n.startswith("gif took ") and "of the run's time" in n for n in notes), notes


def test_no_metric_rows_where_the_metric_is_undefined(tmp_path):
    path = tmp_path / "small.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (3, 5, 3), dtype=np.uint8)).save(path)
    rows = cmp.compare([path], ks=(4,), want_ssim=False, metric="ssimulacra2", codecs=["jpeg"])
    assert {r.method for r in rows} == {"png", "kmc", "kmc-entropy", "kmc-mix", "kmc-perceptual", "jpeg@size"}
    why = "no @ssimulacra2 rows: SSIMULACRA2 is undefined on an image this small"
    assert by(rows, "kmc", 4).note == why
    assert by(rows, "kmc-perceptual", 4).note == f"--perceptual --coder entropy; {why}"
    assert math.isnan(by(rows, "kmc", 4).ssimulacra2) and by(rows, "kmc", 4).to_dict()["ssimulacra2"] is None


def test_a_codec_that_fails_on_an_image_is_left_out_with_a_note(photo, monkeypatch, caplog):
    from kmcodec.rivals import LOSSLESS

    def refuse(*args):
        raise ValueError("image exceeds this codec's limit of 16383 pixels")

    monkeypatch.setattr(LOSSY["webp"], "encode", refuse)
    monkeypatch.setattr(LOSSLESS["png8"], "encode", refuse)
    with caplog.at_level("WARNING", logger="kmcodec"):
        rows = cmp.compare([photo], ks=(4, 8), want_ssim=False, want_ssimulacra2=False,
                           codecs=["png", "webp", "jpeg"])
    methods = {r.method for r in rows}
    assert "jpeg@psnr" in methods and not any(m.startswith(("webp@", "png8")) for m in methods)
    notes = [rec.getMessage() for rec in caplog.records]
    assert notes.count("cat.png: webp rows left out: image exceeds this codec's limit of 16383 pixels") == 1
    assert notes.count("cat.png: png8 rows left out: image exceeds this codec's limit of 16383 pixels") == 1


@pytest.mark.skipif(not AVIF, reason="this Pillow cannot write AVIF")
def test_avif_bisection_with_a_window_finds_what_trying_every_setting_finds(photo):
    from kmcodec.matching import Trials, closest_size, smallest_reaching

    original = np.asarray(Image.open(photo).convert("RGB"))[:48, :64]
    avif = LOSSY["avif"]
    assert not avif.scan_all

    def score(decoded):
        return psnr(decoded, original)

    windowed = Trials(avif, original, score)
    everything = Trials(avif, original, score)
    everything.codec = type(avif)()
    everything.codec.scan_all = True  # type: ignore[misc]
    sizes = sorted({everything.size(0, q) for q in avif.qualities})
    assert sizes != sorted(sizes, reverse=True)  # not a flat ladder
    for target in sizes[::7]:
        assert closest_size(windowed, target) == closest_size(everything, target)
    for target in (25.0, 30.0, 33.0, 36.0, 40.0):
        assert smallest_reaching(windowed, target) == smallest_reaching(everything, target)
    one = Trials(avif, original, score)  # one search of each kind reads a fraction of the settings
    closest_size(one, sizes[len(sizes) // 2])
    smallest_reaching(one, 33.0)
    assert len(one.seen()) < len(everything.seen()) / 2
