"""The k-means engine's parts against plain, obviously correct versions."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from kmcodec import EncodeOptions, clustering
from kmcodec.codec import expand


def naive_lloyd(x, w, centers, max_iter):
    """Textbook weighted Lloyd with the engine's stopping rule (tol = 0)."""
    labels = None
    for iteration in range(1, max_iter + 1):
        d = ((x[:, None, :] - centers[None, :, :]) ** 2).sum(2)
        new_labels = d.argmin(1)
        if labels is not None and np.array_equal(new_labels, labels):
            return centers, labels, iteration - 1
        labels = new_labels
        weight = np.bincount(labels, weights=w, minlength=len(centers))
        assert (weight > 0).all(), "pick data where no cluster empties"
        centers = np.stack([np.bincount(labels, weights=w * x[:, c], minlength=len(centers)) for c in range(3)], 1)
        centers /= weight[:, None]
    return centers, labels, max_iter


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("k", [2, 7, 40])
def test_bounded_lloyd_equals_textbook_lloyd(seed, k):
    rng = np.random.default_rng(seed)
    x = rng.normal(128, 40, size=(3000, 3)).clip(0, 255)
    w = rng.integers(1, 20, size=3000).astype(np.float64)
    start = x[rng.choice(3000, k, replace=False)] + 0.25
    ours, inertia, (labels, upper, lower), _ = clustering._lloyd(x, w, start, 200, 0.0)
    reference, _ref_labels, _ = naive_lloyd(x, w, start, 200)
    assert np.allclose(ours, reference, atol=1e-9)
    d = ((x[:, None, :] - ours[None, :, :]) ** 2).sum(2)
    assert np.array_equal(labels, d.argmin(1))
    exact = np.sqrt(d)
    assert np.all(upper >= exact[np.arange(3000), labels] - 1e-9)  # the bounds hold
    others = exact.copy()
    others[np.arange(3000), labels] = np.inf
    assert np.all(lower <= others.min(1) + 1e-9)
    assert inertia == pytest.approx(float(w @ d.min(1)), rel=1e-9)


@pytest.mark.parametrize("shape", [(1, 1), (1, 5), (7, 9), (600, 500)])
def test_keys_and_histogram(shape):
    # (600, 500) = 300,000 pixels takes the table path, the others np.unique.
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 40, size=(*shape, 3), dtype=np.uint8).reshape(-1, 3)
    keys = clustering._keys(pixels)
    p = pixels.astype(np.uint32)
    assert np.array_equal(keys, p[:, 0] | p[:, 1] << 8 | p[:, 2] << 16)
    colors, counts = clustering.color_histogram(pixels)
    expected, expected_counts = np.unique(pixels, axis=0, return_counts=True)
    order = np.lexsort(colors.T[::-1])
    assert np.array_equal(colors[order], expected) and np.array_equal(counts[order], expected_counts)


@pytest.mark.parametrize("shape, k", [((20, 30), 6), ((600, 500), 12)])
def test_error_and_indices_match_the_pixels(shape, k):
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, size=(shape[0] * shape[1], 3), dtype=np.uint8)
    q = clustering.quantize(pixels.reshape(*shape, 3), EncodeOptions(k=k, seed=0))
    indices = q.indices.reshape(-1)
    decoded = q.palette[indices].astype(np.int64)
    assert q.error == int(((decoded - pixels) ** 2).sum())
    # Every pixel got its nearest palette entry.
    d = ((pixels[:, None, :].astype(np.int64) - q.palette[None].astype(np.int64)) ** 2).sum(2)
    assert np.array_equal(d[np.arange(len(pixels)), indices], d.min(1))


def test_expand_is_palette_lookup():
    rng = np.random.default_rng(2)
    for k, dtype in [(1, np.uint8), (256, np.uint8), (5000, np.uint16)]:
        palette = rng.integers(0, 256, size=(k, 3), dtype=np.uint8)
        indices = rng.integers(0, k, size=(123, 77)).astype(dtype)
        out = expand(palette, indices)
        assert out.shape == (123, 77, 3) and out.dtype == np.uint8
        assert np.array_equal(out, palette[indices])


@pytest.mark.parametrize("k, expected", [(2, 6), (32, 6), (33, 2), (128, 2), (129, 1), (65536, 1)])
def test_auto_restarts(k, expected, monkeypatch):
    seen = []
    def fake_kmeans(x, w, k, seed, n_init, *args, **kwargs):
        seen.append(n_init)
        return x[:k], np.zeros(len(x), np.intp), 0

    monkeypatch.setattr(clustering, "_kmeans", fake_kmeans)
    pixels = np.random.default_rng(0).integers(0, 256, size=(k + 5, 3), dtype=np.uint8)
    pixels[:, 0] = np.arange(k + 5) % 256  # more distinct colours than k
    pixels[:, 1] = np.arange(k + 5) // 256
    clustering.quantize(pixels[None], EncodeOptions(k=k))
    assert seen == [expected]


def test_preloading_loads_every_compiled_function_with_the_types_the_engine_uses():
    # kmc encode loads the engine while it reads the image: a type missed
    # here would be loaded (or compiled) later, on the critical path.
    from kmcodec import _kmeans_jit

    clustering._load_engine()
    kernels = {name: getattr(_kmeans_jit, name) for name in _kmeans_jit.__all__}
    assert {name for name, f in kernels.items() if not f.signatures} == set()
    before = {name: len(f.signatures) for name, f in kernels.items()}
    image = np.random.default_rng(3).integers(0, 256, (600, 500, 3), dtype=np.uint8)
    clustering.quantize(image, EncodeOptions(k=40))
    clustering.quantize(image, EncodeOptions(k=300))  # uint16 indices
    image.flags.writeable = False  # as from Pillow
    clustering.quantize(image, EncodeOptions(k=40))
    clustering.quantize(image, EncodeOptions(k=300))
    assert {name: len(f.signatures) for name, f in kernels.items()} == before


def test_frozen_colours_leave_lloyd_exactly_textbook(monkeypatch):
    # Well separated blobs: most colours sit far inside their cluster and
    # are frozen after the first step, while the centres still creep.
    from kmcodec import _kmeans_jit

    rng = np.random.default_rng(5)
    blobs = rng.uniform(30, 220, size=(12, 3))
    x = (blobs[rng.integers(0, 12, 20000)] + rng.normal(0, 9, (20000, 3))).clip(0, 255)
    w = rng.integers(1, 5, size=20000).astype(np.float64)
    start = blobs + rng.normal(0, 6, blobs.shape)
    subsets = []
    real = _kmeans_jit.cluster_sums
    monkeypatch.setattr(_kmeans_jit, "cluster_sums", lambda *a: subsets.append(len(a[-1])) or real(*a))
    ours, _, (labels, _, _), _ = clustering._lloyd(x, w, start, 300, 0.0)
    reference, ref_labels, _ = naive_lloyd(x, w, start, 300)
    assert min(subsets) < len(x) // 2  # the frozen path ran
    assert np.array_equal(labels, ref_labels)
    assert np.allclose(ours, reference, atol=1e-9)


def test_same_bytes_on_one_thread_and_on_two():
    # The loops' pieces depend on the number of colours only, not on the
    # threads that run them.
    code = (
        "import hashlib, numpy as np, kmcodec\n"
        "rng = np.random.default_rng(8)\n"
        "img = np.clip(rng.normal(120, 50, (700, 600, 3)), 0, 255).astype(np.uint8)\n"
        "print(hashlib.sha256(kmcodec.encode(img, k=64)).hexdigest())\n"
    )
    digests = set()
    for threads in ("1", "2"):
        env = {**os.environ, "NUMBA_NUM_THREADS": threads}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        digests.add(out.stdout.strip())
    assert len(digests) == 1 and len(next(iter(digests))) == 64


def test_a_tie_goes_to_the_lower_index_as_in_textbook_lloyd():
    # After one step the point at 2 is exactly as far from both centres (3
    # and 1): argmin takes centre 0.  Bounds that kept the point's current
    # centre on a tie took centre 1 and ended elsewhere.
    x = np.array([[0.0, 0, 0], [2, 0, 0], [3, 0, 0]])
    w = np.ones(3)
    start = np.array([[3.0, 0, 0], [2, 0, 0]])
    ours, _, (labels, _, _), _ = clustering._lloyd(x, w, start, 50, 0.0)
    reference, ref_labels, _ = naive_lloyd(x, w, start, 50)
    assert np.array_equal(labels, ref_labels)
    assert np.allclose(ours, reference)
