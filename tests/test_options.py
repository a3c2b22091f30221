"""EncodeOptions: one validated object holds every encoder setting and default."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import kmcodec
from kmcodec import EncodeOptions
from kmcodec.cli import main

from .conftest import palette_image


def test_defaults_live_in_one_place():
    opts = EncodeOptions()
    assert (opts.k, opts.seed, opts.n_init, opts.engine, opts.max_iter, opts.tol, opts.coder) == (
        16, 0, "auto", "kmeans", 300, 1e-4, "packed")
    assert (opts.target_psnr, opts.max_bytes) == (None, None)


@pytest.mark.parametrize("k, expected", [(2, 6), (32, 6), (33, 2), (128, 2), (129, 1)])
def test_auto_seedings(k, expected):
    assert EncodeOptions(k=k).seedings == expected
    assert EncodeOptions(k=k, n_init=5).seedings == 5


@pytest.mark.parametrize("field, value, message", [
    ("k", 0, "k is 0; it must be from 1 to 65536"),
    ("k", 2.5, "k is 2.5; it must be an integer"),
    ("seed", -1, "seed is -1"),
    ("n_init", 0, "n_init is 0; it must be >= 1"),
    ("engine", "faiss", "engine is 'faiss'"),
    ("max_iter", True, "max_iter is True; it must be an integer"),
    ("tol", -1.0, "tol is -1.0; it must be a number >= 0"),
    ("coder", "zip", "coder is 'zip'"),
    ("target_psnr", 0, "target_psnr is 0; it must be a positive number of dB"),
    ("max_bytes", 0, "max_bytes is 0; it must be >= 1"),
])
def test_every_field_is_checked_when_made(field, value, message):
    with pytest.raises(kmcodec.ParameterError, match=message):
        EncodeOptions(**{field: value})
    with pytest.raises(kmcodec.ParameterError, match=message):
        EncodeOptions().replace(**{field: value})


def test_combinations_are_checked():
    assert EncodeOptions(coder="entropy", max_bytes=900).max_bytes == 900  # every coder: searched
    with pytest.raises(kmcodec.ParameterError, match="give target_psnr or max_bytes, not both"):
        EncodeOptions(target_psnr=30, max_bytes=900)


def test_normalised_and_frozen():
    opts = EncodeOptions(coder=1, tol=0)
    assert opts.coder == "entropy" and opts.tol == 0.0 and isinstance(opts.tol, float)
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.k = 3  # type: ignore[misc]


def test_the_api_takes_the_object_or_keywords_alike():
    image = palette_image(12, 10, 40)
    opts = EncodeOptions(k=8, seed=3, coder="entropy")
    assert kmcodec.encode(image, options=opts) == kmcodec.encode(image, 8, 3, coder="entropy")
    # Keywords given beside the object override its fields.
    assert kmcodec.encode(image, k=4, options=opts) == kmcodec.encode(image, options=opts.replace(k=4))
    with pytest.raises(kmcodec.ParameterError, match="option 'colours' is not an encoder option"):
        kmcodec.encode(image, colours=4)
    with pytest.raises(kmcodec.ParameterError, match="options is a dict"):
        kmcodec.encode(image, options={"k": 4})


def test_encode_chooses_k_by_size_from_the_options():
    image = palette_image(30, 30, 200)
    data = kmcodec.encode(image, options=EncodeOptions(max_bytes=700))
    assert len(data) <= 700 and kmcodec.info(data).colors == kmcodec.k_for_bytes(30, 30, 700)


def test_cli_flags_not_given_keep_the_defaults(tmp_path, capsys):
    from PIL import Image

    src = tmp_path / "in.png"
    Image.fromarray(palette_image(10, 10, 30)).save(src)
    assert main(["encode", str(src), "-o", str(tmp_path / "a.kmc"), "-q"]) == 0
    assert (tmp_path / "a.kmc").read_bytes() == kmcodec.encode(src, options=EncodeOptions())
    assert main(["encode", str(src), "--n-init", "0"]) == 2
    assert "--n-init is 0; it must be >= 1" in capsys.readouterr().err


def test_plugin_save_takes_the_options(tmp_path):
    from PIL import Image

    image = palette_image(10, 10, 30)
    path = tmp_path / "x.kmc"
    Image.fromarray(image).save(path, colors=5, seed=2, coder="entropy")
    expected = kmcodec.encode(image, options=EncodeOptions(k=5, seed=2, coder="entropy"))
    assert path.read_bytes() == expected
    assert np.array_equal(kmcodec.read(path), kmcodec.decode(expected))
