"""The tutorials' k-means: random initial means and plain Lloyd (``init``, ``refine``)."""

from __future__ import annotations

import io

import numpy as np
import pytest

import kmcodec
from kmcodec import EncodeOptions, ParameterError, clustering
from kmcodec.cli import main


def _photo(samples, width=90, height=60) -> np.ndarray:
    from PIL import Image

    with Image.open(samples / "chelsea.png") as im:
        return np.asarray(im.convert("RGB").resize((width, height), Image.Resampling.BILINEAR))


def textbook_kmeans(pixels: np.ndarray, means: np.ndarray) -> np.ndarray:
    """The tutorials' loop over every pixel: assign each to its nearest mean,
    move each mean to its pixels' mean, repeat until no pixel changes."""
    x = pixels.reshape(-1, 3).astype(np.float64)
    means = means.astype(np.float64).copy()
    labels = None
    while True:
        new = ((x[:, None, :] - means[None, :, :]) ** 2).sum(2).argmin(1)
        if labels is not None and np.array_equal(new, labels):
            return means
        labels = new
        for j in range(len(means)):
            assert (labels == j).any(), "pick data where no cluster empties"
            means[j] = x[labels == j].mean(0)


@pytest.mark.parametrize("init", ["random", "kmeans++"])
@pytest.mark.parametrize("k", [2, 5, 16, 40])
@pytest.mark.parametrize("seed", [0, 7])
def test_plain_lloyd_reaches_the_palette_of_the_textbook_loop_from_the_same_means(samples, init, k, seed):
    rgb = _photo(samples)
    colors, counts = clustering.color_histogram(rgb.reshape(-1, 3))
    means = textbook_kmeans(rgb, clustering.seeds(colors, counts, k, seed, init))
    expected = np.unique(np.clip(np.rint(means), 0, 255).astype(np.uint8), axis=0)
    # refine="none" means one seeding and no tolerance: the loop above, exactly.
    q = kmcodec.quantize(rgb, k, seed, init=init, refine="none")
    assert np.array_equal(q.palette, expected)


def test_random_initial_means_are_distinct_colours_of_the_image(samples):
    rgb = _photo(samples)
    colors, counts = clustering.color_histogram(rgb.reshape(-1, 3))
    image_colours = {tuple(c) for c in colors.tolist()}
    for seed in range(20):
        means = clustering.seeds(colors, counts, 64, seed, "random")
        assert means.shape == (64, 3)
        picked = {tuple(int(v) for v in m) for m in means}
        assert len(picked) == 64
        assert picked <= image_colours


def test_random_initial_means_are_drawn_in_proportion_to_pixel_counts():
    # Three colours of 800, 150 and 50 pixels; one mean drawn 2000 times.
    colors = np.array([[10, 10, 10], [200, 0, 0], [0, 0, 200]], np.uint8)
    counts = np.array([800, 150, 50])
    drawn = [tuple(clustering.seeds(colors, counts, 1, seed, "random")[0]) for seed in range(2000)]
    shares = [drawn.count(tuple(float(v) for v in c)) / 2000 for c in colors]
    assert shares == pytest.approx([0.8, 0.15, 0.05], abs=0.03)
    # Two draws without replacement: never the same colour twice, and the
    # rare colours come in more often than their share alone (the first draw
    # takes the common one away).
    pairs = [clustering.seeds(colors, counts, 2, seed, "random") for seed in range(2000)]
    assert all(not np.array_equal(p[0], p[1]) for p in pairs)
    with_blue = sum(any(np.array_equal(m, colors[2]) for m in p) for p in pairs) / 2000
    # P(blue) = 0.05 + 0.8 * 50/200 + 0.15 * 50/850 = 0.2588
    assert with_blue == pytest.approx(0.2588, abs=0.03)


@pytest.mark.parametrize("refine", ["full", "none"])
def test_random_init_gives_the_same_bytes_for_the_same_seed_and_usually_other_palettes_for_others(samples,
                                                                                              refine):
    rgb = _photo(samples, 120, 80)
    first = kmcodec.encode(rgb, 8, 3, init="random", refine=refine, n_init=1)
    assert kmcodec.encode(rgb, 8, 3, init="random", refine=refine, n_init=1) == first
    palettes = {kmcodec.quantize(rgb, 8, seed, init="random", refine=refine, n_init=1).palette.tobytes()
                for seed in range(6)}
    assert len(palettes) >= 4


def test_the_textbook_run_is_worse_than_the_engine_and_restarts_help(samples):
    # What the benchmark shows, on one small case: the engine's pipeline finds
    # a lower error than one textbook run, and ten restarts do not hurt.
    rgb = _photo(samples, 120, 80)
    engine = kmcodec.quantize(rgb, 16, 0).error
    single = [kmcodec.quantize(rgb, 16, seed, init="random", refine="none", n_init=1).error for seed in range(5)]
    best_of_ten = kmcodec.quantize(rgb, 16, 0, init="random", refine="none", n_init=10).error
    assert engine < np.median(single)
    assert best_of_ten <= np.median(single)


def test_the_default_is_kmeans_plus_plus_with_the_whole_pipeline(samples):
    rgb = _photo(samples)
    assert (EncodeOptions().init, EncodeOptions().refine) == ("kmeans++", "full")
    assert kmcodec.encode(rgb, 12) == kmcodec.encode(rgb, 12, init="kmeans++", refine="full")
    assert kmcodec.encode(rgb, 12) != kmcodec.encode(rgb, 12, init="random")
    assert kmcodec.encode(rgb, 12) != kmcodec.encode(rgb, 12, refine="none")


def test_a_large_photograph_takes_the_grid_stage_with_random_seeds_too():
    # Past 16384 colours the pipeline clusters grid cells; random seeds are
    # still drawn among the image's colours and every stage runs.
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, size=(200, 200, 3), dtype=np.uint8)
    assert len(clustering.color_histogram(rgb.reshape(-1, 3))[0]) > 16384
    full = kmcodec.quantize(rgb, 16, 0, init="random")
    plain = kmcodec.quantize(rgb, 16, 0, init="random", refine="none")
    assert len(full.palette) == len(plain.palette) == 16
    assert full.error <= plain.error * 1.01
    assert not np.array_equal(full.palette, kmcodec.quantize(rgb, 16, 0).palette)


@pytest.mark.parametrize("field, value, rule", [
    ("init", "k-means++", "init is 'k-means\\+\\+'; it must be one of \\('kmeans\\+\\+', 'random'\\)"),
    ("refine", "lloyd", "refine is 'lloyd'; it must be one of \\('full', 'none'\\)"),
])
def test_unknown_init_or_refine_is_refused_naming_the_field(field, value, rule):
    with pytest.raises(ParameterError, match=rule):
        EncodeOptions(**{field: value})


def test_sklearn_engine_takes_the_random_init(samples):
    pytest.importorskip("sklearn")
    rgb = _photo(samples)
    q = kmcodec.quantize(rgb, 8, 0, engine="sklearn", init="random", n_init=1)
    assert len(q.palette) == 8
    assert q.error != kmcodec.quantize(rgb, 8, 0, engine="sklearn", n_init=1).error


def test_cli_encode_and_the_plugin_take_init_and_refine(samples, tmp_path, capsys):
    from PIL import Image

    src = tmp_path / "small.png"
    Image.fromarray(_photo(samples)).save(src)
    out = tmp_path / "small.kmc"
    assert main(["encode", str(src), "-k", "6", "--init", "random", "--refine", "none", "-o", str(out)]) == 0
    expected = kmcodec.encode(src, 6, init="random", refine="none")
    assert out.read_bytes() == expected
    buf = io.BytesIO()
    with Image.open(src) as im:
        im.save(buf, format="KMC", colors=6, init="random", refine="none")
    assert buf.getvalue() == expected
    capsys.readouterr()
    assert main(["encode", str(src), "--init", "forgy"]) == 2
    assert "--init: invalid choice: 'forgy'" in capsys.readouterr().err


def test_batch_takes_init_and_refine(samples, tmp_path):
    from PIL import Image

    from kmcodec import batch

    paths = []
    for i, size in enumerate([(60, 40), (90, 60)]):
        paths.append(tmp_path / f"p{i}.png")
        Image.fromarray(_photo(samples, *size)).save(paths[-1])
    options = EncodeOptions(k=5, init="random", refine="none")
    batch.encode_many([str(p) for p in paths], options=options, jobs=2)
    for p in paths:
        assert p.with_suffix(".kmc").read_bytes() == kmcodec.encode(p, options=options)


def test_plot_iterations_animates_the_textbook_run_to_where_the_encoder_ends(samples):
    pytest.importorskip("matplotlib")
    from PIL import Image

    from kmcodec import plots

    rgb = _photo(samples, 60, 40)
    colors, counts = clustering.color_histogram(rgb.reshape(-1, 3))
    start = clustering.seeds(colors, counts, 5, 2, "random")
    steps = [start, *clustering.lloyd_steps(colors, counts, start)]
    q = kmcodec.quantize(rgb, 5, 2, init="random", refine="none")
    assert np.array_equal(np.unique(np.clip(np.rint(steps[-1]), 0, 255).astype(np.uint8), axis=0), q.palette)
    assert len(steps) - 1 == q.iterations
    buf = io.BytesIO()
    frames = plots.iterations_animation(rgb, 5, buf, 2, max_frames=4, fmt="PNG", init="random")
    assert frames == min(4, len(steps))
    assert Image.open(buf).n_frames == frames


def test_compare_quantises_its_kmc_rows_with_the_options_init_and_refine(samples, tmp_path, capsys):
    from PIL import Image

    from kmcodec import compare

    src = tmp_path / "small.png"
    rgb = _photo(samples)
    Image.fromarray(rgb).save(src)
    options = EncodeOptions(init="random", refine="none")
    rows = compare.compare([src], ks=(6,), seed=4, codecs=["png"], want_ssim=False, want_ssimulacra2=False,
                           dithered=False, options=options)
    kmc = next(r for r in rows if r.method == "kmc")
    assert kmc.bytes == len(kmcodec.encode(rgb, 6, 4, options=options))
    assert kmc.psnr != next(r for r in compare.compare([src], ks=(6,), seed=4, codecs=["png"], want_ssim=False,
                                                       want_ssimulacra2=False, dithered=False)
                            if r.method == "kmc").psnr
    assert main(["compare", str(src), "-k", "6", "--codecs", "png", "--no-ssim", "--no-ssimulacra2",
                 "--no-dithered", "--init", "random", "--refine", "none", "--seed", "4",
                 "--json", str(tmp_path / "rows.json")]) == 0
    import json

    shown = next(r for r in json.loads((tmp_path / "rows.json").read_text()) if r["method"] == "kmc")
    assert shown["psnr"] == pytest.approx(kmc.psnr)
    assert shown["init"] == "random" and shown["refine"] == "none"
    # The perceptual rows take the clustering settings too.
    rows = compare.compare([src], ks=(6,), seed=4, codecs=["png"], want_ssim=False, want_ssimulacra2=False,
                           options=options)
    perceptual = next(r for r in rows if r.method == "kmc-perceptual")
    assert perceptual.bytes == len(kmcodec.encode(rgb, 6, 4, perceptual=True, coder="entropy", init="random",
                                                  refine="none"))


def test_kmc_plot_takes_init_and_colors_takes_refine(samples, tmp_path, capsys, monkeypatch):
    pytest.importorskip("matplotlib")
    from PIL import Image

    from kmcodec import plots

    src = tmp_path / "small.png"
    Image.fromarray(_photo(samples, 40, 30)).save(src)
    gif = tmp_path / "run.gif"
    assert main(["plot", "iterations", str(src), "-k", "4", "--init", "random", "-o", str(gif)]) == 0
    assert Image.open(gif).n_frames >= 2
    seen = {}
    real_colors, real_iterations = plots.colors_figure, plots.iterations_animation
    monkeypatch.setattr(plots, "colors_figure",
                        lambda rgb, q, *a, **kw: (seen.update(q=q), real_colors(rgb, q, *a, **kw)))
    monkeypatch.setattr(plots, "iterations_animation",
                        lambda *a, **kw: (seen.update(init=kw["init"]), real_iterations(*a, **kw))[1])
    assert main(["plot", "colors", str(src), "-k", "4", "--init", "random", "--refine", "none",
                 "-o", str(tmp_path / "c.png")]) == 0
    assert np.array_equal(seen["q"].palette, kmcodec.quantize(src, 4, init="random", refine="none").palette)
    assert main(["plot", "iterations", str(src), "-k", "4", "--init", "random", "-o", str(gif), "-f"]) == 0
    assert seen["init"] == "random"
    capsys.readouterr()
    assert main(["plot", "iterations", str(src), "--refine", "none", "-o", str(tmp_path / "r.gif")]) == 2
    assert "unrecognized arguments: --refine" in capsys.readouterr().err


@pytest.mark.parametrize("refine", ["full", "none"])
def test_images_with_transparency_take_random_init_and_keep_alpha_exact(refine):
    rng = np.random.default_rng(3)
    rgba = rng.integers(0, 256, size=(40, 50, 4), dtype=np.uint8)
    rgba[:10, :, 3] = 0
    rgba[10:30, :, 3] = 255
    q = kmcodec.quantize(rgba, 12, 0, init="random", refine=refine)
    decoded = q.palette[q.indices]
    assert decoded.shape == (40, 50, 4)
    assert (decoded[:10] == 0).all()
    assert (decoded[10:30, :, 3] == 255).all()
    assert kmcodec.encode(rgba, 12, 0, init="random", refine=refine) == kmcodec.encode(
        rgba, 12, 0, init="random", refine=refine)
    assert not np.array_equal(q.palette, kmcodec.quantize(rgba, 12, 0).palette)
