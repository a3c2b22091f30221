"""Coverage-guided fuzzing of the .kmc decoder with atheris (long runs).

    pip install atheris
    python tests/fuzz/fuzz_decode.py tests/vectors -max_total_time=3600

The seed corpus is the frozen test vectors.  Any exception other than
kmcodec's own errors is a bug; so is a hang or a memory blow-up (run with
-rss_limit_mb, e.g. 2048, and -timeout).  The pixel limit is lowered so that
a valid but huge file is refused rather than decoded.
"""

from __future__ import annotations

import sys

from PIL import Image

import kmcodec

PIXEL_LIMIT = 4_000_000


def test_one_input(data: bytes) -> None:
    """The property: decoding any bytes returns pixels or raises KmcError."""
    try:
        pixels = kmcodec.decode(data)
    except kmcodec.KmcError:
        return
    meta = kmcodec.info(data)  # a file that decodes must also check out
    assert pixels.shape == (meta.height, meta.width, 4 if meta.alpha else 3)


def main() -> None:
    import atheris

    Image.MAX_IMAGE_PIXELS = PIXEL_LIMIT
    atheris.instrument_all()
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
