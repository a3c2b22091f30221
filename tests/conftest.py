"""Shared fixtures: bundled samples and small synthetic images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


@pytest.fixture
def samples() -> Path:
    return SAMPLES


def palette_image(height: int, width: int, colors: int, seed: int = 0) -> np.ndarray:
    """An (H, W, 3) uint8 image with exactly ``colors`` distinct colours.

    Every colour appears at least once (requires height * width >= colors).
    """
    rng = np.random.default_rng(seed)
    keys = rng.choice(1 << 24, size=colors, replace=False)
    table = np.stack([(keys >> 16) & 255, (keys >> 8) & 255, keys & 255], 1).astype(np.uint8)
    idx = np.concatenate([np.arange(colors), rng.integers(0, colors, height * width - colors)])
    rng.shuffle(idx)
    return table[idx].reshape(height, width, 3)


@pytest.fixture(scope="session")
def entropy_compiled() -> None:
    """Coder 1's loops compiled (or loaded from the cache) for both index
    types, so that tests timing a decode do not time the compiler."""
    import kmcodec

    for colors in (16, 300):
        data = kmcodec.encode(palette_image(20, 20, colors), k=colors, coder="entropy")
        kmcodec.decode(data)


@pytest.fixture
def noise() -> np.ndarray:
    """A 24 x 32 image of random colours (768 distinct almost surely)."""
    return np.random.default_rng(1).integers(0, 256, size=(24, 32, 3), dtype=np.uint8)
