"""The codec API: round trips, determinism, quality, parameter checks."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import kmcodec
from kmcodec import container
from kmcodec.errors import ParameterError

from .conftest import palette_image


def mse(a: np.ndarray, b: np.ndarray) -> float:
    d = a.astype(np.float64) - b.astype(np.float64)
    return float(np.mean(d * d))


@pytest.mark.parametrize("colors, k", [(1, 1), (1, 16), (2, 2), (5, 8), (16, 16), (200, 256), (300, 300)])
def test_few_colours_are_lossless(colors, k):
    image = palette_image(20, 30, colors, seed=colors)
    data = kmcodec.encode(image, k=k)
    assert np.array_equal(kmcodec.decode(data), image)
    assert kmcodec.info(data).colors == colors


@pytest.mark.parametrize("bits", range(17))
def test_exact_size_for_every_bit_width(bits):
    # An image with exactly 2**bits colours (or 1) uses every bit of b.
    colors = 1 << bits
    height, width = (7, 11) if colors <= 77 else (int(np.ceil(colors / 250)), 250)
    image = palette_image(height, width, colors, seed=bits)
    data = kmcodec.encode(image, k=colors)
    n = height * width
    assert len(data) == 32 + 3 * colors + (n * bits + 7) // 8
    assert np.array_equal(kmcodec.decode(data), image)


def test_palette_is_used_sorted_and_unique(noise):
    q = kmcodec.quantize(noise, k=16, seed=3)
    keys = (q.palette.astype(np.int64) << [16, 8, 0]).sum(1)
    assert np.all(np.diff(keys) > 0)
    assert set(np.unique(q.indices)) == set(range(len(q.palette)))
    assert len(q.palette) == 16


def test_same_seed_same_bytes(noise):
    assert kmcodec.encode(noise, k=8, seed=7) == kmcodec.encode(noise, k=8, seed=7)
    assert kmcodec.encode(noise, k=8, seed=7, engine="sklearn") == kmcodec.encode(
        noise, k=8, seed=7, engine="sklearn"
    )


def test_seed_changes_the_result(noise):
    outputs = {kmcodec.encode(noise, k=8, seed=s) for s in range(4)}
    assert len(outputs) > 1


def test_repeated_pixels_cost_nothing(noise):
    # Clustering is weighted by colour counts: tiling the image doubles every
    # weight, which must not change the palette (the objective only scales).
    once = kmcodec.quantize(noise, k=8, seed=0)
    tiled = kmcodec.quantize(np.tile(noise, (2, 2, 1)), k=8, seed=0)
    assert np.array_equal(once.palette, tiled.palette)
    assert np.array_equal(np.tile(once.indices, (2, 2)), tiled.indices)


def test_more_restarts_never_hurt(noise):
    one = kmcodec.quantize(noise, k=6, seed=0, n_init=1)
    five = kmcodec.quantize(noise, k=6, seed=0, n_init=5)
    assert mse(five.to_rgb(), noise) <= mse(one.to_rgb(), noise)


@pytest.mark.parametrize("engine", ["kmeans", "sklearn"])
def test_engines_reduce_error_as_k_grows(engine, samples):
    image = np.asarray(Image.open(samples / "chelsea.png").convert("RGB"))[::4, ::4]
    errors = [mse(kmcodec.quantize(image, k=k, engine=engine).to_rgb(), image) for k in (2, 8, 32)]
    assert errors[0] > errors[1] > errors[2] > 0


@pytest.mark.parametrize("name, k", [("chelsea.png", 16), ("rocket.jpg", 16), ("coffee.png", 32)])
def test_quality_no_worse_than_scikit_learn(samples, name, k):
    """The tutorial recipe: KMeans(n_clusters=K) on every pixel, centres rounded."""
    from sklearn.cluster import KMeans

    image = np.asarray(Image.open(samples / name).convert("RGB"))
    if name == "coffee.png":
        image = image[::2, ::2]
    pixels = image.reshape(-1, 3).astype(np.float64)
    model = KMeans(n_clusters=k, random_state=0).fit(pixels)
    reference = np.clip(np.rint(model.cluster_centers_), 0, 255)[model.labels_]
    ours = kmcodec.decode(kmcodec.encode(image, k=k, seed=0)).reshape(-1, 3)
    assert mse(ours, pixels) <= mse(reference, pixels)


def test_decode_palette_matches_decode(noise):
    data = kmcodec.encode(noise, k=5)
    palette, indices = kmcodec.decode_palette(data)
    assert indices.shape == noise.shape[:2]
    assert np.array_equal(palette[indices], kmcodec.decode(data))


def test_decode_accepts_bytes_like(noise):
    data = kmcodec.encode(noise, k=4)
    for buffer in (data, bytearray(data), memoryview(data), np.frombuffer(data, np.uint8)):
        assert np.array_equal(kmcodec.decode(buffer), kmcodec.decode(data))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"k": 0}, "k is 0; it must be from 1 to 65536"),
        ({"k": 65537}, "k is 65537; it must be from 1 to 65536"),
        ({"k": 2.5}, "k is 2.5; it must be an integer"),
        ({"k": True}, "k is True; it must be an integer"),
        ({"k": "16"}, "k is '16'; it must be an integer"),
        ({"seed": -1}, "seed is -1"),
        ({"n_init": 0}, "n_init is 0; it must be >= 1"),
        ({"max_iter": 0}, "max_iter is 0"),
        ({"engine": "faiss"}, "engine is 'faiss'; it must be one of"),
        ({"tol": -1.0}, "tol is -1.0"),
    ],
)
def test_bad_parameters_are_named(noise, kwargs, message):
    with pytest.raises(ParameterError, match=message):
        kmcodec.encode(noise, **kwargs)


def test_numpy_integers_are_accepted(noise):
    assert kmcodec.encode(noise, k=np.int64(4), seed=np.uint8(1)) == kmcodec.encode(noise, k=4, seed=1)


def test_decode_rejects_paths_and_non_buffers(tmp_path):
    with pytest.raises(ParameterError, match="use kmcodec.read"):
        kmcodec.decode(str(tmp_path / "x.kmc"))
    with pytest.raises(ParameterError, match="data is a int"):
        kmcodec.decode(42)


def test_write_and_read(tmp_path, noise):
    path = tmp_path / "noise.kmc"
    meta = kmcodec.write(path, noise, k=4, seed=2)
    assert path.read_bytes() == kmcodec.encode(noise, k=4, seed=2)
    assert meta == kmcodec.info(path) == kmcodec.info(path.read_bytes())
    assert np.array_equal(kmcodec.read(path), kmcodec.decode(path.read_bytes()))


def test_write_never_clobbers_or_leaves_partial_files(tmp_path, noise):
    path = tmp_path / "noise.kmc"
    path.write_bytes(b"precious")
    with pytest.raises(FileExistsError):
        kmcodec.write(path, noise, k=4)
    assert path.read_bytes() == b"precious"
    kmcodec.write(path, noise, k=4, overwrite=True)
    assert kmcodec.info(path).colors == 4
    with pytest.raises(ParameterError):
        kmcodec.write(tmp_path / "bad.kmc", noise, k=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["noise.kmc"]


def test_large_k_on_many_colours():
    # More distinct colours than K, with K above the dense-distance range.
    image = np.random.default_rng(3).integers(0, 256, size=(40, 50, 3), dtype=np.uint8)
    q = kmcodec.quantize(image, k=300, seed=0)
    assert len(q.palette) <= 300 and q.indices.dtype == np.uint16
    data = q.to_bytes()
    assert len(data) == container.file_size(50, 40, len(q.palette))
    assert mse(kmcodec.decode(data), image) < mse(kmcodec.quantize(image, k=30).to_rgb(), image)
