"""Streaming writers: the .kmc written piecewise, PNG written band by band."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

import kmcodec
import kmcodec.outputs
from kmcodec import container, pngstream


@pytest.mark.parametrize("colors", [1, 2, 5, 256, 300])
def test_container_write_equals_build(colors):
    rng = np.random.default_rng(colors)
    palette = rng.integers(0, 256, size=(colors, 3), dtype=np.uint8)
    indices = rng.integers(0, colors, size=(7, 9)).astype(np.uint8 if colors <= 256 else np.uint16)
    buf = io.BytesIO()
    size = container.write(buf, 9, 7, palette, indices)
    assert buf.getvalue() == container.build(9, 7, palette, indices.reshape(-1))
    assert size == len(buf.getvalue())


@pytest.mark.parametrize("colors, mode", [(3, "P"), (256, "P"), (1000, "RGB")])
def test_png_stream_decodes_to_the_same_pixels(colors, mode, monkeypatch):
    monkeypatch.setattr(pngstream, "_BAND", 50)  # several bands, a partial last one
    rng = np.random.default_rng(0)
    palette = np.unique(rng.integers(0, 256, size=(colors * 2, 3), dtype=np.uint8), axis=0)[:colors]
    indices = rng.integers(0, colors, size=(23, 17)).astype(np.uint8 if colors <= 256 else np.uint16)
    buf = io.BytesIO()
    pngstream.write_png(buf, palette, indices)
    im = Image.open(io.BytesIO(buf.getvalue()))
    im.load()
    assert im.mode == mode and im.size == (17, 23)
    assert np.array_equal(np.asarray(im.convert("RGB")), palette[indices])


def test_decode_command_streams_png(tmp_path):
    image = np.random.default_rng(4).integers(0, 256, size=(30, 40, 3), dtype=np.uint8)
    kmc = tmp_path / "x.kmc"
    kmcodec.write(kmc, image, k=300)
    with open(tmp_path / "x.png", "wb") as fh:
        width, height, how = kmcodec.outputs.write_image(kmc, fh, kmcodec.outputs.output_format("png"))
    assert (width, height, how) == (40, 30, "RGB PNG")
    assert np.array_equal(np.asarray(Image.open(tmp_path / "x.png").convert("RGB")), kmcodec.read(kmc))
