"""Every registered coder, through one set of tests.

A coder added to the registry (kmcodec.coder) is tested here the day it
is added: exact round trips over a sweep of K and shapes, every truncation
and every flipped byte of a file refused, hostile mutations refused with
kmcodec's errors only, and the surfaces that find coders through the
registry (``--coder`` by name and number, ``kmc info``, the Pillow plugin).
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import kmcodec
from kmcodec import coder as registry
from kmcodec.cli import main

from .conftest import palette_image
from .mutations import BYTE_MUTATIONS, mutate_bytes

CODERS = registry.coders()
NAMES = [c.name for c in CODERS]


def test_the_registry_holds_the_builtin_coders():
    assert [(c.id, c.name, c.compare_row) for c in CODERS] == [
        (0, "packed", "kmc"), (1, "entropy", "kmc-entropy"), (2, "mix", "kmc-mix")]
    for c in CODERS:
        assert registry.get_coder(c.name) is c
        assert registry.get_coder(c.id) is c
        assert registry.get_coder(str(c.id)) is c
    with pytest.raises(kmcodec.ParameterError, match=r"coder is 'lzw'; it must be one of 'packed' \(0\)"):
        registry.get_coder("lzw")
    with pytest.raises(kmcodec.ParameterError, match="coder is True"):
        registry.get_coder(True)


def test_a_clashing_coder_is_refused():
    class Again(type(CODERS[0])):  # type: ignore[misc]
        name = "again"

    with pytest.raises(ValueError, match="clashes with 'packed'"):
        registry.register(Again())


@pytest.fixture(params=NAMES)
def coder(request, entropy_compiled):
    return registry.get_coder(request.param)


@pytest.mark.parametrize("height, width, colors", [
    (1, 1, 1), (3, 7, 1), (1, 50, 2), (50, 1, 3), (9, 13, 16), (16, 16, 256), (20, 23, 300),
])
def test_round_trip(coder, height, width, colors):
    """Same palette, same indices, whatever the coder."""
    image = palette_image(height, width, colors, seed=colors)
    q = kmcodec.quantize(image, colors)
    data = q.to_bytes(coder.name)
    palette, indices = kmcodec.decode_palette(data)
    assert np.array_equal(palette, q.palette) and np.array_equal(indices, q.indices)
    assert np.array_equal(kmcodec.decode(data), image)
    meta = kmcodec.info(data)
    assert (meta.coder, meta.width, meta.height, meta.colors) == (coder.name, width, height, colors)
    assert meta.total_bytes == len(data)


@pytest.fixture
def small_file(coder) -> bytes:
    return kmcodec.quantize(palette_image(6, 9, 5, seed=3), 5).to_bytes(coder.name)


def test_every_truncation_is_a_format_error(small_file):
    for end in range(len(small_file)):
        with pytest.raises(kmcodec.FormatError):
            kmcodec.decode(small_file[:end])
        with pytest.raises(kmcodec.FormatError):
            kmcodec.info(small_file[:end])


def test_every_flipped_byte_is_refused(small_file):
    data = bytearray(small_file)
    for i in range(len(data)):
        data[i] ^= 0x10
        with pytest.raises(kmcodec.KmcError):
            kmcodec.decode(bytes(data))
        data[i] ^= 0x10


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutations_raise_only_kmc_errors(small_file, data):
    kind = data.draw(st.sampled_from(BYTE_MUTATIONS))
    mutated = bytes(mutate_bytes(data.draw, bytearray(small_file), kind, 16))
    calls = [kmcodec.decode, kmcodec.info]
    if mutated[:4] == b"KMCF":  # otherwise another format's business (Pillow's plugins)
        calls.append(lambda b: Image.open(io.BytesIO(b)).load())
    for call in calls:
        outcome = _outcome(call, mutated)
        assert outcome is None or isinstance(outcome, kmcodec.KmcError), repr(outcome)


def _outcome(call, data) -> Exception | None:
    """The exception ``call(data)`` raised, or None."""
    try:
        call(data)
    except Exception as exc:
        return exc
    return None


def test_cli_coder_by_name_and_number(coder, tmp_path, capsys):
    src = tmp_path / "in.png"
    Image.fromarray(palette_image(8, 8, 4)).save(src)
    by_name, by_number = tmp_path / "a.kmc", tmp_path / "b.kmc"
    assert main(["encode", str(src), "--coder", coder.name, "-o", str(by_name), "-q"]) == 0
    assert main(["encode", str(src), "--coder", str(coder.id), "-o", str(by_number), "-q"]) == 0
    assert by_name.read_bytes() == by_number.read_bytes()
    assert main(["info", str(by_name)]) == 0
    assert f"coder      {coder.name} " in capsys.readouterr().out


def test_cli_unknown_coder_is_a_usage_error(tmp_path, capsys):
    assert main(["encode", str(tmp_path / "x.png"), "--coder", "9"]) == 2
    assert "--coder is '9'; it must be one of 'packed' (0), 'entropy' (1)" in capsys.readouterr().err


def test_the_plugin_opens_every_coder(small_file, coder):
    with Image.open(io.BytesIO(small_file)) as im:
        assert im.info["coder"] == coder.name
        assert np.array_equal(np.asarray(im.convert("RGB")), kmcodec.decode(small_file))
